//! Time to first counterexample: for every buggy strategy, how many seeds and how much wall
//! time exploration needs to find its bug, next to how long a plain stress test of the same
//! logic ([`super::stress`]) takes to see it, if it sees it at all.

use std::time::{Duration, Instant};

use super::stress::{stress, unsupported_reason, StressOutcome};
use crate::app::strategies::registry::{by_id, catalogue};
use crate::explore::verdict::Found;
use crate::explore::{explore, ExploreOptions};
use crate::scenario::{Expected, Scenario};

/// Distance between two base seeds of the measurement (so sweeps do not overlap).
pub const BASE_SEED_STRIDE: u64 = 1_000_003;
/// Seeds one measurement may try before it counts as "not found".
pub const TTFC_SEEDS_MAX: u32 = 2_000;

/// One buggy strategy's measurement.
#[derive(Debug, Clone)]
pub struct TtfcRow {
    /// Strategy id.
    pub strategy: String,
    /// The scenario both sides ran (the first by name expected to fail, fault-free if any).
    pub scenario: String,
    /// Per base seed: seeds tried until the first failure (`None`: not found) and wall secs.
    pub runs: Vec<(Option<u64>, f64)>,
    /// The scenario the stress test ran, and what it saw (or why it could not run).
    pub stress: Result<(String, StressOutcome), String>,
}

impl TtfcRow {
    /// Median seeds tried over the runs that found the bug.
    pub fn median_seeds(&self) -> Option<u64> {
        let mut seeds: Vec<u64> = self.runs.iter().filter_map(|r| r.0).collect();
        seeds.sort_unstable();
        seeds.get(seeds.len() / 2).copied()
    }

    /// Median wall seconds over the runs that found the bug.
    pub fn median_secs(&self) -> Option<f64> {
        let mut secs: Vec<f64> = self.runs.iter().filter(|r| r.0.is_some()).map(|r| r.1).collect();
        secs.sort_by(f64::total_cmp);
        secs.get(secs.len() / 2).copied()
    }
}

fn expected_to_fail(scenario: &Scenario, strategy: &str) -> bool {
    matches!(scenario.expect.get(strategy), Some(Expected::Fail { .. }))
}

/// Measures every buggy strategy of the catalogue that some scenario expects to fail.
pub fn measure(
    scenarios: &[Scenario],
    base_seeds: u32,
    stress_secs: f64,
    on_row: impl Fn(&TtfcRow),
) -> Vec<TtfcRow> {
    let mut sorted: Vec<&Scenario> = scenarios.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rows = Vec::new();
    for info in catalogue() {
        let failing: Vec<&Scenario> = sorted
            .iter()
            .copied()
            .filter(|s| expected_to_fail(s, info.id))
            .collect();
        // Both sides run the same scenario when they can: the first fault-free one expected
        // to fail (a stress test cannot inject faults), else the first one expected to fail.
        let stress_scenario = failing.iter().find(|s| unsupported_reason(s).is_none()).copied();
        let (Some(first), Some(app)) = (stress_scenario.or(failing.first().copied()), by_id(info.id)) else {
            continue;
        };
        let runs = (0..u64::from(base_seeds.max(1)))
            .map(|b| {
                let options = ExploreOptions {
                    seeds: Some(first.seeds.max(TTFC_SEEDS_MAX)),
                    base_seed: b * BASE_SEED_STRIDE,
                    jobs: 1,
                    shrink: Some(false),
                    ..ExploreOptions::default()
                };
                let start = Instant::now();
                let verdict = explore(first, info.id, options, || {});
                let secs = start.elapsed().as_secs_f64();
                let tried = match verdict.found {
                    Found::Fail(failure) if failure.invariant != "sim_error" => Some(failure.seeds_tried),
                    _ => None,
                };
                (tried, secs)
            })
            .collect();
        let stress_result = match stress_scenario {
            None => Err(unsupported_reason(first).unwrap_or("no scenario").to_string()),
            Some(s) => {
                stress(s, app, Duration::from_secs_f64(stress_secs), true).map(|o| (s.name.clone(), o))
            }
        };
        let row = TtfcRow {
            strategy: info.id.to_string(),
            scenario: first.name.clone(),
            runs,
            stress: stress_result,
        };
        on_row(&row);
        rows.push(row);
    }
    rows
}

/// The rows as a Markdown table, with the speed-up of exploration over the stress test.
pub fn table(rows: &[TtfcRow], base_seeds: u32, stress_secs: f64) -> String {
    let mut out = format!(
        "| strategy | scenario | found (of {base_seeds} base seeds) | median seeds | median time | stress test (≤ {stress_secs:.0} s, real sleeps) | stress time to first failure | exploration vs stress |\n|---|---|---:|---:|---:|---|---:|---:|\n"
    );
    for row in rows {
        let found = row.runs.iter().filter(|r| r.0.is_some()).count();
        let seeds = row.median_seeds().map_or("-".to_string(), |s| s.to_string());
        let secs = row.median_secs();
        let time = secs.map_or("-".to_string(), |s| format!("{:.3} s", s));
        let (stress_cell, stress_time, ratio) = match (&row.stress, secs) {
            (Err(why), _) => (format!("n/a: {why}"), "-".to_string(), "-".to_string()),
            (Ok((name, o)), secs) => {
                let cell = format!("{name}: {} runs", o.runs);
                match (o.first_failure_secs, secs) {
                    (Some(t), Some(s)) if s > 0.0 => (cell, format!("{t:.2} s"), format!("{:.0}×", t / s)),
                    (Some(t), _) => (cell, format!("{t:.2} s"), "-".to_string()),
                    (None, Some(s)) if s > 0.0 => (
                        cell,
                        format!("not seen in {:.1} s", o.elapsed_secs),
                        format!("> {:.0}×", o.elapsed_secs / s),
                    ),
                    (None, _) => (
                        cell,
                        format!("not seen in {:.1} s", o.elapsed_secs),
                        "-".to_string(),
                    ),
                }
            }
        };
        out.push_str(&format!(
            "| `{}` | {} | {found} | {seeds} | {time} | {stress_cell} | {stress_time} | {ratio} |\n",
            row.strategy, row.scenario
        ));
    }
    out
}
