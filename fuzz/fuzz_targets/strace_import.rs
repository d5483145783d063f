//! The strace importer on arbitrary bytes: it never panics, and what it imports writes to text
//! that parses back to the same trace.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(trace) = maple_trace::strace::import(data) else {
        return;
    };
    let text = trace.to_string();
    let again = maple_trace::parse(text.as_bytes()).expect("imported traces parse");
    assert_eq!(again, trace, "round trip changed the trace");
});
