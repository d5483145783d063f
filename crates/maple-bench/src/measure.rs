//! Timing: every peer of a workload runs in the same process, in rounds that rotate which peer
//! goes first, so that a burst of load on the machine hits every peer; the table gives each
//! peer's median time per operation and the ratio of our median to that peer's (below 1: ours
//! is faster), so that every ratio can be checked against the medians beside it.
//!
//! Every sample carries a check value (counts, sums of values or of gap starts) that must be
//! equal for all peers and all rounds; any difference ends the program with an error.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The CPU time this thread has used: unlike the wall clock, it leaves out the time other
/// work on a shared machine held the core. One system call, so it times regions of many
/// operations (samples of milliseconds), not single ones.
pub fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// One timed run of one peer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// CPU time of this thread spent in the timed operations only (wall time for the
    /// allocation batches, see [`crate::gap`]).
    pub elapsed: Duration,
    /// Number of operations timed.
    pub ops: u64,
    /// What the operations returned, folded into numbers to compare between peers.
    pub check: (u64, u64),
}

impl Sample {
    /// Nanoseconds per operation.
    pub fn ns_per_op(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e9 / self.ops.max(1) as f64
    }
}

/// A peer taking part in a workload: its name and a function that takes one sample.
pub struct Contender<'a> {
    /// The peer's name.
    pub name: &'static str,
    /// Takes one sample; setup it does before starting its clock is not timed.
    pub sample: Box<dyn FnMut() -> Sample + 'a>,
}

impl std::fmt::Debug for Contender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contender")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<'a> Contender<'a> {
    /// A contender named `name` sampled by `sample`.
    pub fn new(name: &'static str, sample: impl FnMut() -> Sample + 'a) -> Self {
        Self {
            name,
            sample: Box::new(sample),
        }
    }
}

/// One peer's result in one workload cell.
#[derive(Clone, Debug, Serialize)]
pub struct PeerTiming {
    /// The peer.
    pub peer: &'static str,
    /// Median nanoseconds per operation.
    pub ns_per_op: f64,
    /// Our median time per operation over this peer's (below 1: ours is faster). 1 for ours.
    pub ratio: f64,
    /// Nanoseconds per operation of every round.
    pub samples_ns: Vec<f64>,
}

/// One workload at one size, every peer.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// The group of workloads (`point`, `gap`, `churn`, `replay`).
    pub group: &'static str,
    /// The workload, for example `load_hit`.
    pub workload: String,
    /// The size: entries, live entries for churn, or the capture's operations for a replay.
    pub n: u64,
    /// Operations timed per sample.
    pub ops_per_sample: u64,
    /// Ours first, then the peers.
    pub peers: Vec<PeerTiming>,
}

impl Cell {
    /// The result of peer `name`.
    pub fn peer(&self, name: &str) -> Option<&PeerTiming> {
        self.peers.iter().find(|p| p.peer == name)
    }
}

/// The median of `xs`; 0 for an empty list.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        f64::midpoint(xs[mid - 1], xs[mid])
    }
}

/// Reports results that differ between peers (or from the answer the inputs imply) and ends
/// the program: a benchmark whose peers do different work measures nothing.
pub fn mismatch(what: &str, detail: &str) -> ! {
    eprintln!("error: RESULT MISMATCH in {what}: {detail}; the peers disagree, aborting");
    std::process::exit(1)
}

/// Runs `rounds` rounds of every contender (the first is ours), rotating which goes first,
/// checks that every sample's check equals `expected` (or, without one, the first sample's),
/// and returns the cell.
pub fn compare(
    group: &'static str,
    workload: &str,
    n: u64,
    rounds: usize,
    expected: Option<(u64, u64)>,
    contenders: &mut [Contender<'_>],
) -> Cell {
    let k = contenders.len();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(rounds); k];
    let mut want = expected;
    for round in 0..rounds.max(1) {
        for step in 0..k {
            let i = (round + step) % k;
            let s = (contenders[i].sample)();
            let want = *want.get_or_insert(s.check);
            if s.check != want {
                mismatch(
                    &format!("{workload} n={n}"),
                    &format!(
                        "{} returned {:?}, {} expected",
                        contenders[i].name,
                        s.check,
                        format_args!("{want:?}")
                    ),
                );
            }
            samples[i].push(s);
        }
    }
    let ops_per_sample = samples[0].first().map_or(0, |s| s.ops);
    let ours = median(&samples[0].iter().map(Sample::ns_per_op).collect::<Vec<_>>());
    let peers = contenders
        .iter()
        .zip(&samples)
        .map(|(c, s)| {
            let ns: Vec<f64> = s.iter().map(Sample::ns_per_op).collect();
            let ns_per_op = median(&ns);
            PeerTiming {
                peer: c.name,
                ns_per_op,
                ratio: ours / ns_per_op,
                samples_ns: ns,
            }
        })
        .collect();
    Cell {
        group,
        workload: workload.to_owned(),
        n,
        ops_per_sample,
        peers,
    }
}

/// Runs `pass` (which performs `ops` operations and returns its check) until `time` has
/// passed on the wall clock, at least once; every pass must return the same check. The
/// sample's time is the CPU time of the passes.
pub fn repeat_for(time: Duration, ops: u64, mut pass: impl FnMut() -> (u64, u64)) -> Sample {
    let start = Instant::now();
    let cpu = cpu_now();
    let mut passes = 0u64;
    let mut check = None;
    loop {
        let c = black_box(pass());
        if *check.get_or_insert(c) != c {
            mismatch("repeated pass", &format!("{c:?} after {check:?}"));
        }
        passes += 1;
        if start.elapsed() >= time {
            break;
        }
    }
    Sample {
        elapsed: cpu_now().saturating_sub(cpu),
        ops: ops * passes,
        check: check.unwrap_or_default(),
    }
}

/// Like [`repeat_for`] for passes that time only part of their work: `pass` returns the
/// time it spent in its timed part and its check.
pub fn repeat_timed_for(
    time: Duration,
    ops: u64,
    mut pass: impl FnMut() -> (Duration, (u64, u64)),
) -> Sample {
    let start = Instant::now();
    let mut passes = 0u64;
    let mut elapsed = Duration::ZERO;
    let mut check = None;
    loop {
        let (t, c) = pass();
        if *check.get_or_insert(c) != c {
            mismatch("repeated pass", &format!("{c:?} after {check:?}"));
        }
        elapsed += t;
        passes += 1;
        if start.elapsed() >= time {
            break;
        }
    }
    Sample {
        elapsed,
        ops: ops * passes,
        check: check.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_moves_with_work() {
        let start = cpu_now();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(cpu_now() > start, "{x}");
    }

    #[test]
    fn median_of_odd_and_even_lists() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn compare_rotates_and_gives_the_ratio_of_the_medians() {
        let fast = Contender::new("ours", || Sample {
            elapsed: Duration::from_millis(1),
            ops: 10,
            check: (1, 2),
        });
        let slow = Contender::new("peer", || Sample {
            elapsed: Duration::from_millis(3),
            ops: 10,
            check: (1, 2),
        });
        let cell = compare("point", "w", 5, 3, Some((1, 2)), &mut [fast, slow]);
        assert_eq!(cell.peers[0].ratio, 1.0);
        assert!((cell.peers[1].ratio - 1.0 / 3.0).abs() < 1e-9);
        let medians = cell.peers[0].ns_per_op / cell.peers[1].ns_per_op;
        assert!((cell.peers[1].ratio - medians).abs() < 1e-12);
        assert_eq!(cell.peers[1].samples_ns.len(), 3);
    }
}
