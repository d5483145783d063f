//! Helpers shared by the command-line tests.

use std::process::Output;

/// Output bytes as text.
pub(crate) fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("output is UTF-8")
}

/// Asserts a successful run with empty stderr and returns stdout.
pub(crate) fn success(output: &Output) -> &str {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        text(&output.stderr)
    );
    assert_eq!(text(&output.stderr), "");
    text(&output.stdout)
}
