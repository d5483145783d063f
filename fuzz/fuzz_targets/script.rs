//! The `maple script` parser and runner on arbitrary bytes: it must never panic, whatever the
//! input; malformed lines are errors, not crashes.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = maple_cli::script::run(data, &mut out);
});
