//! Seed sweeps: run seeds until the first failure, on every core, with a deterministic answer.
//!
//! Seeds are handed out in order from a shared counter. A worker that finds a failure at
//! index `k` lowers the shared "best" bound to `k`; workers keep running indices below the
//! bound and skip those above it. The reported failure is the one with the smallest index, so
//! the answer does not depend on the number of threads or on their timing.

use crate::oracle::Violation;
use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering};

/// What one run produced, as far as the sweep cares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunReport {
    /// Invariants broken (empty when the run passed).
    pub violations: Vec<Violation>,
    /// Stable hash of the trace.
    pub trace_hash: u64,
    /// Number of trace events.
    pub trace_len: usize,
    /// The simulation itself failed (step limit, panic in a host): also a failure.
    pub sim_error: Option<String>,
    /// Whether the run reached each witness being counted (in the sweep's witness order).
    #[serde(default)]
    pub witnesses: Vec<bool>,
    /// Why the run did not play all its input says (the first reason), if it did not.
    #[serde(default)]
    pub incomplete: Option<String>,
}

impl RunReport {
    /// Whether the run failed.
    pub fn failed(&self) -> bool {
        !self.violations.is_empty() || self.sim_error.is_some()
    }

    /// The first broken invariant's name, or `sim_error`.
    pub fn failure_name(&self) -> Option<String> {
        if let Some(v) = self.violations.first() {
            return Some(v.invariant.clone());
        }
        self.sim_error.as_ref().map(|_| "sim_error".to_string())
    }
}

/// How to sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepConfig {
    /// First seed.
    pub base_seed: u64,
    /// Seeds to try.
    pub seeds: u32,
    /// Worker threads (≥ 1).
    pub jobs: usize,
}

/// The outcome of a sweep.
#[derive(Debug, Clone)]
pub struct SweepResult<I> {
    /// Runs made.
    pub runs: u64,
    /// The failing run with the smallest seed, if any: (seed, input, report).
    pub first_failure: Option<(u64, I, RunReport)>,
    /// Per witness, the seeds that reached it: every seed on a pass, the seeds up to and
    /// including the first failing one on a failure (the same whatever the threads).
    pub witness_counts: Vec<u64>,
    /// Passing seeds whose run was incomplete (counted over the same seeds as the witnesses).
    pub incomplete_seeds: u64,
    /// The smallest such seed and its reason.
    pub first_incomplete: Option<(u64, String)>,
}

/// Sweeps seeds `base_seed..base_seed + seeds`: `make_input(seed)` builds a run's input,
/// `run(&input)` executes it, `on_run()` is called after each run (for progress bars).
pub fn sweep<I: Send>(
    config: SweepConfig,
    make_input: impl Fn(u64) -> I + Sync,
    run: impl Fn(&I) -> RunReport + Sync,
    on_run: impl Fn() + Sync,
) -> SweepResult<I> {
    let next_index = AtomicU64::new(0);
    let best_index = AtomicU64::new(u64::MAX);
    let runs = AtomicUsize::new(0);
    let failures: Mutex<Vec<(u64, I, RunReport)>> = Mutex::new(Vec::new());
    let reached: Mutex<Vec<(u64, Vec<bool>)>> = Mutex::new(Vec::new());
    let incomplete: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let total = u64::from(config.seeds);
    let worker = || loop {
        let index = next_index.fetch_add(1, Ordering::SeqCst);
        if index >= total || index > best_index.load(Ordering::SeqCst) {
            break;
        }
        let seed = config.base_seed.wrapping_add(index);
        let input = make_input(seed);
        let report = run(&input);
        runs.fetch_add(1, Ordering::SeqCst);
        on_run();
        if report.witnesses.iter().any(|r| *r) {
            reached.lock().push((index, report.witnesses.clone()));
        }
        if report.failed() {
            best_index.fetch_min(index, Ordering::SeqCst);
            failures.lock().push((index, input, report));
        } else if let Some(why) = &report.incomplete {
            incomplete.lock().push((index, why.clone()));
        }
    };
    let jobs = config.jobs.clamp(1, 256);
    if jobs == 1 {
        worker();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(worker);
            }
        });
    }
    let mut found = failures.into_inner();
    found.sort_by_key(|(index, _, _)| *index);
    // Seeds above the first failure may or may not have run (threads race to them): count
    // the ones at or below it only, which every thread count runs.
    let last_counted = found.first().map_or(u64::MAX, |(index, _, _)| *index);
    let mut witness_counts: Vec<u64> = Vec::new();
    for (index, bits) in reached.into_inner() {
        if index > last_counted {
            continue;
        }
        if witness_counts.len() < bits.len() {
            witness_counts.resize(bits.len(), 0);
        }
        for (count, bit) in witness_counts.iter_mut().zip(bits) {
            *count += u64::from(bit);
        }
    }
    let mut incomplete: Vec<(u64, String)> = incomplete
        .into_inner()
        .into_iter()
        .filter(|(index, _)| *index <= last_counted)
        .collect();
    incomplete.sort_by_key(|(index, _)| *index);
    let incomplete_seeds = incomplete.len() as u64;
    let first_incomplete = incomplete
        .into_iter()
        .next()
        .map(|(index, why)| (config.base_seed.wrapping_add(index), why));
    let first_failure = found
        .into_iter()
        .next()
        .map(|(index, input, report)| (config.base_seed.wrapping_add(index), input, report));
    SweepResult {
        runs: runs.load(Ordering::SeqCst) as u64,
        first_failure,
        witness_counts,
        incomplete_seeds,
        first_incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(fail: bool) -> RunReport {
        let violations = if fail {
            vec![Violation {
                invariant: "x".into(),
                objects: vec![],
                message: String::new(),
            }]
        } else {
            vec![]
        };
        RunReport {
            incomplete: None,
            violations,
            trace_hash: 0,
            trace_len: 0,
            sim_error: None,
            witnesses: Vec::new(),
        }
    }

    #[test]
    fn first_failure_is_the_smallest_seed_whatever_the_threads() {
        for jobs in [1, 2, 4] {
            let result = sweep(
                SweepConfig {
                    base_seed: 100,
                    seeds: 50,
                    jobs,
                },
                |seed| seed,
                |seed| report(*seed % 7 == 3),
                || {},
            );
            let (seed, input, _) = result.first_failure.expect("fails");
            assert_eq!((seed, input), (101, 101), "jobs = {jobs}"); // 101 % 7 == 3
        }
    }

    #[test]
    fn witness_counts_stop_at_the_first_failure_whatever_the_threads() {
        for jobs in [1, 2, 4] {
            let result = sweep(
                SweepConfig {
                    base_seed: 0,
                    seeds: 40,
                    jobs,
                },
                |seed| seed,
                |seed| RunReport {
                    witnesses: vec![*seed % 2 == 0, *seed % 5 == 0],
                    ..report(*seed == 20)
                },
                || {},
            );
            // Seeds 0..=20: eleven even ones, five multiples of five.
            assert_eq!(result.witness_counts, vec![11, 5], "jobs = {jobs}");
        }
    }

    #[test]
    fn a_passing_sweep_runs_every_seed() {
        let result = sweep(
            SweepConfig {
                base_seed: 0,
                seeds: 30,
                jobs: 2,
            },
            |s| s,
            |_| report(false),
            || {},
        );
        assert_eq!(result.runs, 30);
        assert!(result.first_failure.is_none());
    }
}
