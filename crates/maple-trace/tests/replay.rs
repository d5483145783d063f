//! Replays: small traces with known outcomes.

use maple_trace::replay::{Engine, ReplayOptions, Report, replay};

fn run(text: &str, engine: Engine) -> Report {
    let trace = maple_trace::parse(text.as_bytes()).unwrap();
    replay(
        &trace,
        &ReplayOptions {
            check: true,
            engine,
        },
        &mut |_, _| {},
    )
    .unwrap()
}

#[test]
fn an_mmap_that_matches() {
    let text = "#mapletrace 1\nN 1 t1 demo\n\
        S 1 1\nv 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
        m 1 t1 0 2000 rw- pa - 0 7f0000000000\n\
        S 1 2\nv 7f0000000000 7f0000002000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
        v 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
        X 1\n";
    for engine in [Engine::Maple, Engine::BTree] {
        let report = run(text, engine);
        assert!(report.all_match(), "{report}");
        assert_eq!(report.steps, 3);
    }
}
