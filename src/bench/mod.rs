//! Benchmarks: simulations per second against a bare-turmoil baseline measured in the same
//! run, sweep scaling over threads, the peak memory of a long sweep, and ([`ttfc`]) the time
//! to the first counterexample beside a plain stress test ([`stress`]).
//!
//! This is the one module that reads the wall clock (`std::time::Instant`): it measures how
//! fast simulations run, and nothing it measures feeds back into a simulation. The stress
//! test sleeps for real and is not reproducible, by design: it is what racehound replaces.

pub mod baseline;
pub mod stress;
pub mod ttfc;

use std::time::Instant;

use crate::explore::input::resolve;
use crate::explore::run_input;
use crate::explore::sweep::{sweep, SweepConfig};
use crate::scenario::{parse, Scenario};
use crate::sim::trace::TraceKind;

/// The race every figure is measured on: seed 004's checkout ∥ apply_coupon.
pub const BENCH_SCENARIO: &str = r#"
name = "bench.coupon_race"
description = "checkout and apply_coupon race for one user, two replicas"
strategies = ["checkout.naive", "reference"]
[world]
replicas = 2
latency_ms = [1, 50]
[[actors]]
user = 1
steps = [{ flow = "checkout" }, { flow = "apply_coupon", at_ms = [0, 100], coupon = "SAVE20" }]
"#;

/// The benchmark scenario, parsed.
pub fn bench_scenario() -> Scenario {
    match parse(
        "bench.toml",
        BENCH_SCENARIO,
        &crate::app::strategies::registry::ids(),
    ) {
        Ok(s) => s,
        Err(e) => panic!("the built-in benchmark scenario is invalid: {e}"),
    }
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Rounds the rate measurements are split into (fewer if there are fewer simulations).
pub const BENCH_ROUNDS: u32 = 10;

/// One round's wall-clock times and run counts.
struct Round {
    sims: f64,
    baseline_secs: f64,
    harness_secs: f64,
    one_secs: f64,
    one_runs: f64,
    two_secs: f64,
    two_runs: f64,
    baseline_two_secs: f64,
}

/// The median of `values` (the mean of the middle two for an even count); 0 if empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// "median (min–max)" with `decimals` decimals.
fn spread(values: &[f64], decimals: usize) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() < 2 {
        return format!("{:.decimals$}", median(values));
    }
    format!(
        "{:.decimals$} ({min:.decimals$}–{max:.decimals$})",
        median(values)
    )
}

/// Runs every measurement and returns a Markdown table.
pub fn run_benchmarks(sims: u32, sweep_seeds: u32) -> String {
    let scenario = bench_scenario();
    let sims = sims.max(1);
    // Round trips one harness simulation makes (requests + DB statements), for the baseline.
    let probe = run_input(&resolve(&scenario, "checkout.naive", 0)).map(|o| {
        o.trace
            .events
            .iter()
            .filter(|e| matches!(e.kind, TraceKind::Request { .. } | TraceKind::DbStatement { .. }))
            .count()
    });
    let round_trips = probe.unwrap_or(20).max(2);
    let exchanges_per_client = u32::try_from(round_trips.div_ceil(2)).unwrap_or(u32::MAX);

    // The four rate measurements run interleaved, round by round, on the same seeds: this
    // machine's speed drifts by up to 2× within a minute (other tenants), so a ratio of two
    // measurements taken a minute apart says little. Each figure is the median over rounds.
    let rounds = BENCH_ROUNDS.min(sims);
    let (mut baseline_steps, mut baseline_host_runs) = (0u64, 0u64);
    let (mut harness_steps, mut harness_host_runs) = (0u64, 0u64);
    let mut failures = 0u32;
    let mut per_round = Vec::new();
    let run_reference = |input: &crate::explore::input::RunInput| {
        run_input(input)
            .map(|o| crate::explore::report_of(&o))
            .unwrap_or_else(|e| crate::explore::sweep::RunReport {
                violations: vec![],
                trace_hash: 0,
                trace_len: 0,
                sim_error: Some(e),
                witnesses: Vec::new(),
                incomplete: None,
            })
    };
    for round in 0..rounds {
        let first = u64::from(sims / rounds * round + (sims % rounds).min(round));
        let count = sims / rounds + u32::from(round < sims % rounds);
        let seeds = first..first + u64::from(count);

        let baseline_config = |seed| baseline::BaselineConfig {
            seed,
            latency_ms_min: 1,
            latency_ms_max: 50,
            tick_ms: 1,
            exchanges_per_client,
        };
        let start = Instant::now();
        for seed in seeds.clone() {
            if let Ok(outcome) = baseline::run_baseline(baseline_config(seed)) {
                baseline_steps += outcome.steps;
                baseline_host_runs += outcome.host_runs;
            }
        }
        let baseline_secs = start.elapsed().as_secs_f64();

        let start = Instant::now();
        for seed in seeds.clone() {
            if let Ok(outcome) = run_input(&resolve(&scenario, "checkout.naive", seed)) {
                harness_steps += outcome.steps;
                harness_host_runs += outcome.host_runs;
                if !outcome.violations().is_empty() {
                    failures += 1;
                }
            }
        }
        let harness_secs = start.elapsed().as_secs_f64();

        let sweep_secs = |jobs: usize| {
            let start = Instant::now();
            let result = sweep(
                SweepConfig {
                    base_seed: first,
                    seeds: count,
                    jobs,
                },
                |seed| resolve(&scenario, "reference", seed),
                run_reference,
                || {},
            );
            (start.elapsed().as_secs_f64(), result.runs)
        };
        let (one_secs, one_runs) = sweep_secs(1);
        let (two_secs, two_runs) = sweep_secs(2);
        // The same baseline seeds on two threads: how well this machine runs two
        // simulations at once at all (shared caches, other tenants), next to the sweep's figure.
        let next_seed = crate::sync::AtomicU64::new(first);
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| loop {
                    let seed = next_seed.fetch_add(1, crate::sync::Ordering::SeqCst);
                    if seed >= seeds.end {
                        break;
                    }
                    let _ = baseline::run_baseline(baseline_config(seed));
                });
            }
        });
        let baseline_two_secs = start.elapsed().as_secs_f64();
        eprintln!("bench: round {} of {rounds} done", round + 1);
        per_round.push(Round {
            sims: f64::from(count),
            baseline_secs,
            harness_secs,
            one_secs,
            one_runs: one_runs as f64,
            two_secs,
            two_runs: two_runs as f64,
            baseline_two_secs,
        });
    }

    let rss_before = rss_mb();
    let rss_at_tenth = crate::sync::Mutex::new(None);
    let done = crate::sync::AtomicU64::new(0);
    let start = Instant::now();
    let long = sweep(
        SweepConfig {
            base_seed: 1_000_000,
            seeds: sweep_seeds,
            jobs: 2,
        },
        |seed| resolve(&scenario, "reference", seed),
        run_reference,
        || {
            let n = done.fetch_add(1, crate::sync::Ordering::SeqCst) + 1;
            if n == u64::from(sweep_seeds / 10).max(1) {
                *rss_at_tenth.lock() = rss_mb();
            }
        },
    );
    let long_secs = start.elapsed().as_secs_f64();
    let rss_at_tenth = rss_at_tenth.into_inner();
    let fmt_mb = |v: Option<f64>| v.map_or("n/a".to_string(), |mb| format!("{mb:.0} MB"));

    // A ratio, 0 when the denominator is (a round too short to time).
    let ratio = |n: f64, d: f64| if d > 0.0 { n / d } else { 0.0 };
    let rates = |f: &dyn Fn(&Round) -> f64| -> Vec<f64> { per_round.iter().map(f).collect() };
    let baseline_rates = rates(&|r| ratio(r.sims, r.baseline_secs));
    let harness_rates = rates(&|r| ratio(r.sims, r.harness_secs));
    let overheads = rates(&|r| ratio(r.harness_secs, r.baseline_secs));
    let one_rates = rates(&|r| ratio(r.one_runs, r.one_secs));
    let two_rates = rates(&|r| ratio(r.two_runs, r.two_secs));
    let speedups = rates(&|r| ratio(r.one_secs, r.two_secs));
    let baseline_speedups = rates(&|r| ratio(r.baseline_secs, r.baseline_two_secs));
    let mut out = String::new();
    out.push_str(&format!(
        "Checkout ∥ apply_coupon race, latency 1–50 ms, tick 1 ms, {sims} simulations each in \
         {rounds} interleaved rounds (each figure: the median round, then the range over rounds), \
         {round_trips} round trips per simulation ({exchanges_per_client} per baseline client).\n\n"
    ));
    out.push_str("| measurement | value |\n|---|---|\n");
    out.push_str(&format!(
        "| bare turmoil baseline, 1 thread | {} sims/s |\n",
        spread(&baseline_rates, 0)
    ));
    out.push_str(&format!(
        "| racehound harness (`checkout.naive`), 1 thread | {} sims/s ({failures} of {sims} found the race) |\n",
        spread(&harness_rates, 0)
    ));
    out.push_str(&format!(
        "| harness overhead vs baseline | {}× the baseline's time per simulation |\n",
        spread(&overheads, 2)
    ));
    let per_sim = |n: u64| n as f64 / f64::from(sims);
    out.push_str(&format!(
        "| turmoil steps per simulation (baseline, harness) | {:.0}, {:.0} (the harness jumps over idle time) |\n",
        per_sim(baseline_steps),
        per_sim(harness_steps)
    ));
    out.push_str(&format!(
        "| host runs per simulation (baseline, harness) | {:.0}, {:.0} (the harness skips idle hosts) |\n",
        per_sim(baseline_host_runs),
        per_sim(harness_host_runs)
    ));
    out.push_str(&format!(
        "| sweep (`reference`), 1 thread | {} sims/s |\n",
        spread(&one_rates, 0)
    ));
    out.push_str(&format!(
        "| sweep (`reference`), 2 threads | {} sims/s ({}× one thread) |\n",
        spread(&two_rates, 0),
        spread(&speedups, 2)
    ));
    out.push_str(&format!(
        "| bare turmoil baseline, 2 threads | {}× one thread (this machine's own two-thread scaling) |\n",
        spread(&baseline_speedups, 2)
    ));
    out.push_str(&format!(
        "| {sweep_seeds}-seed sweep, 2 threads | {:.0} sims/s; RSS {} before, {} after 10%, {} at the end; peak {} |\n",
        ratio(long.runs as f64, long_secs),
        fmt_mb(rss_before),
        fmt_mb(rss_at_tenth),
        fmt_mb(rss_mb()),
        fmt_mb(peak_rss_mb()),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn a_tiny_bench_prints_every_row() {
        let table = run_benchmarks(4, 4);
        for row in [
            "| bare turmoil baseline, 1 thread |",
            "| racehound harness (`checkout.naive`), 1 thread |",
            "| harness overhead vs baseline |",
            "| sweep (`reference`), 2 threads |",
            "| bare turmoil baseline, 2 threads |",
            "| 4-seed sweep, 2 threads |",
        ] {
            assert!(table.contains(row), "missing {row} in:\n{table}");
        }
        assert!(
            table.contains("4 simulations each in 4 interleaved rounds"),
            "{table}"
        );
        assert!(table.contains(" of 4 found the race"), "{table}");
    }

    #[test]
    fn spread_shows_median_and_range() {
        assert_eq!(spread(&[3.0, 1.0, 2.0], 0), "2 (1–3)");
        assert_eq!(spread(&[1.234], 2), "1.23");
    }
}
