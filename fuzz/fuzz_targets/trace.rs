//! The trace parser, writer and replay on arbitrary bytes: parsing never panics, whatever it
//! parses writes back to text that parses to the same trace, and replaying it (with checking,
//! on both engines) returns a report or an error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use maple_trace::replay::{Engine, ReplayOptions, replay};

fuzz_target!(|data: &[u8]| {
    let Ok(trace) = maple_trace::parse(data) else {
        return;
    };
    let text = trace.to_string();
    let again = maple_trace::parse(text.as_bytes()).expect("written traces parse");
    assert_eq!(again, trace, "round trip changed the trace");
    for engine in [Engine::Maple, Engine::BTree] {
        let _ = replay(&trace, &ReplayOptions { check: true, engine }, &mut |_, _| {});
    }
});
