//! `maple`: runs tree scripts (`maple script FILE|-`). The script format is described in the
//! `maple_cli` crate docs and by `maple script --help`.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    maple_cli::cli::main_with_args(std::env::args_os())
}
