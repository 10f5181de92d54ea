//! Runs each benchmark scenario beside its baseline in one process and prints one line per
//! scenario:
//!
//! ```text
//! SCENARIO ours=<items/s> baseline=<items/s> ratio=<ours/baseline> goal=<min>
//! ```
//!
//! `--quick` shrinks the sizes so that the whole run takes about a minute. Further arguments
//! select scenarios by name.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Duration;

use dps_benches::{runtime, time_allocate};

/// A measured scenario.
struct Measured {
    ours: f64,
    baseline: f64,
}

struct Scenario {
    name: &'static str,
    goal: f64,
    run: fn(bool) -> Option<Measured>,
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// The best of `runs` timings: the least disturbed by the rest of the machine.
fn best(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

/// Per-device allocation rate at 100k devices over the rate at 10k: the cost of a batch
/// grows linearly when the ratio stays near 1.
fn allocate_scaling(quick: bool) -> Option<Measured> {
    let (small, large) = if quick {
        (5_000, 50_000)
    } else {
        (10_000, 100_000)
    };
    let rt = runtime();
    let baseline = rate(small, best(3, || time_allocate(&rt, small)));
    let ours = rate(large, best(2, || time_allocate(&rt, large)));
    Some(Measured { ours, baseline })
}

const SCENARIOS: &[Scenario] = &[Scenario {
    name: "allocate_scaling",
    goal: 0.9,
    run: allocate_scaling,
}];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let selected: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    for s in SCENARIOS {
        if !selected.is_empty() && !selected.iter().any(|n| *n == s.name) {
            continue;
        }
        match (s.run)(quick) {
            Some(m) => println!(
                "{} ours={:.0} baseline={:.0} ratio={:.2} goal={}",
                s.name,
                m.ours,
                m.baseline,
                m.ours / m.baseline,
                s.goal
            ),
            None => println!("{} skipped", s.name),
        }
    }
}
