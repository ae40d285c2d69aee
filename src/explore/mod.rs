//! Exploration: seed sweeps, shrinking, replay tokens and the determinism check.
//!
//! [`explore`] turns (scenario, strategy) into a [`verdict::Verdict`]: it sweeps seeds until
//! a run breaks an invariant, shrinks that run's [`input::RunInput`] to the smallest one that
//! still breaks the same invariant, and prints it as a replay token. [`replay`] runs a token
//! again; [`check_determinism`] runs a seed twice and compares trace hashes.

pub mod input;
pub mod shrink;
pub mod sweep;
pub mod token;
pub mod verdict;

use crate::app::strategies::registry;
use crate::scenario::Scenario;
use crate::sim::world::{run, RunOutcome};
use crate::sync::Arc;
use input::{input_size, resolve, shrink_candidates, RunInput};
use sweep::{sweep, RunReport, SweepConfig};
use verdict::{Failure, Found, Verdict};

/// How to explore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExploreOptions {
    /// Seeds to try (`None`: the scenario's budget).
    pub seeds: Option<u32>,
    /// The first seed.
    pub base_seed: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Shrink the first failure (`None`: as the scenario says).
    pub shrink: Option<bool>,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        Self {
            seeds: None,
            base_seed: 0,
            jobs: 1,
            shrink: None,
        }
    }
}

/// Runs one input with the strategy it names.
pub fn run_input(input: &RunInput) -> Result<RunOutcome, String> {
    let strategy = registry::by_id(&input.strategy).ok_or_else(|| {
        format!(
            "unknown strategy `{}` (hint: `racehound list` shows the strategies this build knows)",
            input.strategy
        )
    })?;
    Ok(run(input, Arc::new(strategy)))
}

/// What the sweep needs to know of an outcome.
pub fn report_of(outcome: &RunOutcome) -> RunReport {
    RunReport {
        violations: outcome.violations(),
        trace_hash: outcome.trace_hash,
        trace_len: outcome.trace.events.len(),
        sim_error: outcome.sim_error.clone(),
    }
}

fn run_report(input: &RunInput) -> RunReport {
    match run_input(input) {
        Ok(outcome) => {
            let report = report_of(&outcome);
            tracing::trace!(
                scenario = %input.scenario,
                strategy = %input.strategy,
                seed = input.seed,
                trace_hash = report.trace_hash,
                failure = ?report.failure_name(),
                "run"
            );
            report
        }
        Err(why) => RunReport {
            violations: vec![],
            trace_hash: 0,
            trace_len: 0,
            sim_error: Some(why),
        },
    }
}

/// Explores one (scenario, strategy) pair; `on_run` is called after each run (progress).
pub fn explore(
    scenario: &Scenario,
    strategy: &str,
    options: ExploreOptions,
    on_run: impl Fn() + Sync,
) -> Verdict {
    let seeds = options.seeds.unwrap_or(scenario.seeds);
    tracing::debug!(scenario = %scenario.name, strategy = %strategy, seeds, base_seed = options.base_seed, "explore");
    let result = sweep(
        SweepConfig {
            base_seed: options.base_seed,
            seeds,
            jobs: options.jobs,
        },
        |seed| resolve(scenario, strategy, seed),
        run_report,
        &on_run,
    );
    let found = match result.first_failure {
        None => Found::Pass { seeds: result.runs },
        Some((seed, input, report)) => {
            let invariant = report.failure_name().unwrap_or_default();
            let message = report
                .violations
                .first()
                .map(|v| v.to_string())
                .or(report.sim_error.clone())
                .unwrap_or_default();
            tracing::debug!(seed, invariant = %invariant, "first failing seed");
            let shrink = options.shrink.unwrap_or(scenario.shrink);
            let (shrunk, shrink_runs, shrunk_len) = if shrink {
                let shrunk = shrink::shrink(
                    input.clone(),
                    scenario.shrink_runs_max as usize,
                    shrink_candidates,
                    |c| run_report(c).failure_name().as_deref() == Some(invariant.as_str()),
                );
                let len = run_report(&shrunk.value).trace_len;
                tracing::debug!(
                    runs = shrunk.runs,
                    from = input_size(&input),
                    to = input_size(&shrunk.value),
                    "shrunk"
                );
                (shrunk.value, shrunk.runs, len)
            } else {
                (input.clone(), 0, report.trace_len)
            };
            Found::Fail(Box::new(Failure {
                seed,
                seeds_tried: seed.wrapping_sub(options.base_seed) + 1,
                invariant,
                message,
                token: token::encode(&shrunk),
                trace_len_original: report.trace_len,
                trace_len_shrunk: shrunk_len,
                input_size_original: input_size(&input),
                input_size_shrunk: input_size(&shrunk),
                shrink_runs,
            }))
        }
    };
    let verdict = Verdict {
        scenario: scenario.name.clone(),
        strategy: strategy.to_string(),
        found,
        expected: scenario.expect.get(strategy).cloned(),
    };
    tracing::info!(
        scenario = %verdict.scenario,
        strategy = %verdict.strategy,
        found = verdict.word(),
        as_expected = verdict.as_expected(),
        "verdict"
    );
    verdict
}

/// Decodes a replay token and runs it again.
pub fn replay(token: &str) -> Result<(RunInput, RunOutcome), String> {
    let input: RunInput = token::decode(token).map_err(|e| e.to_string())?;
    let outcome = run_input(&input)?;
    Ok((input, outcome))
}

/// Runs `input` twice; `Err` names both hashes when they differ.
pub fn check_determinism(input: &RunInput) -> Result<u64, String> {
    let first = run_input(input)?;
    let second = run_input(input)?;
    if first.trace_hash == second.trace_hash {
        Ok(first.trace_hash)
    } else {
        Err(format!(
            "seed {} of {} / {} is not deterministic: trace hashes {:016x} and {:016x}",
            input.seed, input.scenario, input.strategy, first.trace_hash, second.trace_hash
        ))
    }
}
