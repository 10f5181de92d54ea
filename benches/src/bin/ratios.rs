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

use dps_benches::{Measured, rate, runtime, time_allocate};

struct Scenario {
    name: &'static str,
    goal: f64,
    run: fn(bool) -> Option<Measured>,
}

/// Per-device allocation rate at 100k devices over the rate at 10k: the cost of a batch
/// grows linearly when the ratio stays near 1. The two sizes alternate, and each keeps its
/// best run, so that a busy moment of the machine slows both alike.
fn allocate_scaling(quick: bool) -> Option<Measured> {
    let (small, large, rounds) = if quick {
        (5_000, 50_000, 10)
    } else {
        (10_000, 100_000, 10)
    };
    let rt = runtime();
    let mut baseline = std::time::Duration::MAX;
    let mut ours = std::time::Duration::MAX;
    // As many runs of each size: a best of more runs would favour that size.
    for _ in 0..rounds {
        baseline = baseline.min(time_allocate(&rt, small));
        ours = ours.min(time_allocate(&rt, large));
    }
    Some(Measured {
        ours: rate(large, ours),
        baseline: rate(small, baseline),
    })
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "allocate_scaling",
        goal: 0.9,
        run: allocate_scaling,
    },
    Scenario {
        name: "csv_parse",
        goal: 0.35,
        run: dps_benches::csv::csv_parse,
    },
    Scenario {
        name: "qr_zip",
        goal: 3.0,
        run: dps_benches::qr::qr_zip,
    },
    Scenario {
        name: "qr_zip_parallel",
        goal: 1.6,
        run: dps_benches::qr::qr_zip_parallel,
    },
    Scenario {
        name: "sqlite_import",
        goal: 0.4,
        run: dps_benches::sqlite::sqlite_import,
    },
    Scenario {
        name: "sqlite_lookup",
        goal: 0.3,
        run: dps_benches::sqlite::sqlite_lookup,
    },
    Scenario {
        name: "sqlite_allocate",
        goal: 0.4,
        run: dps_benches::allocate::sqlite_allocate,
    },
    Scenario {
        name: "postgres_allocate",
        goal: 0.4,
        run: dps_benches::allocate::postgres_allocate,
    },
    Scenario {
        name: "postgres_import",
        goal: 0.5,
        run: dps_benches::postgres::postgres_import,
    },
    Scenario {
        name: "postgres_concurrent_commits",
        goal: 0.5,
        run: dps_benches::postgres::postgres_concurrent_commits,
    },
    Scenario {
        name: "http_bootstrap",
        goal: 0.5,
        run: dps_benches::http::http_bootstrap,
    },
    Scenario {
        name: "http_list",
        goal: 0.5,
        run: dps_benches::http::http_list,
    },
    Scenario {
        name: "http_export",
        goal: 0.7,
        run: dps_benches::http::http_export,
    },
    Scenario {
        name: "webhook_allocate",
        goal: 0.5,
        run: dps_benches::webhook::webhook_allocate,
    },
];

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
            None => println!("{} skipped (see stderr)", s.name),
        }
    }
}
