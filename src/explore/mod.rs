//! Exploration: seed sweeps, shrinking, replay tokens and the determinism check.
//!
//! [`explore`] turns (scenario, strategy) into a [`verdict::Verdict`]: it sweeps seeds until
//! a run breaks an invariant, shrinks that run's [`input::RunInput`] to the smallest one that
//! still breaks the same invariant, and prints it as a replay token (the crate root's
//! `replay` and `replay_catalogue` run a token again); [`check_determinism`] runs a seed twice
//! and compares trace hashes. [`select::select`] picks the pairs to explore, and
//! [`error::InputError`] is what goes wrong with the input to all of these.

pub mod crash_sweep;
pub mod error;
pub mod golden;
pub mod input;
pub mod select;
pub mod shrink;
pub mod sweep;
pub mod token;
pub mod verdict;

use crate::app::api::AppLogic;
use crate::app::strategies::registry;
use crate::oracle::witness::{witness, Witness};
use crate::oracle::{builtin_invariants, Invariant};
use crate::scenario::{Scenario, SEEDS_MAX_FACTOR_DEFAULT};
use crate::sim::world::{run, run_checked, run_with, RunOutcome, Stepping};
use crate::sync::Arc;
use input::{input_size, resolve, shrink_candidates, RunInput};
use sweep::{sweep, RunReport, SweepConfig};
use verdict::{Failure, Found, Verdict, WitnessTally};

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
    /// Seeds each witness must be reached in for a pass, K (`None`: as the scenario says).
    pub witness_min_seeds: Option<u32>,
    /// Most seeds to run to reach the witnesses (`None`: the scenario's `seeds_max` unless
    /// `seeds` overrides its budget, else 4 × the budget).
    pub seeds_max: Option<u32>,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        Self {
            seeds: None,
            base_seed: 0,
            jobs: 1,
            shrink: None,
            witness_min_seeds: None,
            seeds_max: None,
        }
    }
}

impl ExploreOptions {
    /// The seed budget for `scenario`, K, and the cap on seeds run to reach the witnesses.
    fn budgets(&self, scenario: &Scenario) -> (u32, u32, u32) {
        let budget = self.seeds.unwrap_or(scenario.seeds).max(1);
        let min_seeds = self.witness_min_seeds.unwrap_or(scenario.witness_min_seeds);
        let file_cap = if self.seeds.is_none() {
            scenario.seeds_max
        } else {
            None
        };
        let cap = self
            .seeds_max
            .or(file_cap)
            .unwrap_or(budget.saturating_mul(SEEDS_MAX_FACTOR_DEFAULT))
            .max(budget);
        (budget, min_seeds, cap)
    }
}

/// The witnesses `scenario` names, from the built-in catalogue. A name the catalogue lacks
/// (possible only in a `Scenario` built by hand: files and the builder refuse it) becomes a
/// witness no run reaches, so the pass shows as inconclusive instead of silently passing.
pub fn scenario_witnesses(scenario: &Scenario) -> Vec<Witness> {
    scenario
        .witnesses
        .iter()
        .map(|name| {
            witness(name)
                .unwrap_or_else(|unknown| Witness::sometimes(name.clone(), unknown.to_string(), |_| false))
        })
        .collect()
}

/// Runs one input with the strategy it names.
pub fn run_input(input: &RunInput) -> Result<RunOutcome, String> {
    let strategy = registry::by_id(&input.strategy).ok_or_else(|| unknown_strategy(&input.strategy))?;
    Ok(run(input, Arc::new(strategy)))
}

/// Runs one input with the strategy it names, advancing time as `stepping` says.
pub fn run_input_stepping(input: &RunInput, stepping: Stepping) -> Result<RunOutcome, String> {
    let strategy = registry::by_id(&input.strategy).ok_or_else(|| unknown_strategy(&input.strategy))?;
    Ok(run_with(
        input,
        Arc::new(strategy),
        &builtin_invariants(),
        stepping,
    ))
}

/// The error for a strategy id this build's catalogue does not have.
pub fn unknown_strategy(id: &str) -> String {
    format!(
        "unknown strategy `{id}`: it is not in racehound's catalogue (hint: if `{id}` is your own \
         `AppLogic`, replay the token where its code is, e.g. `racehound::replay(token, YourStrategy)` \
         in a test; `racehound list` shows the catalogue)"
    )
}

/// What the sweep needs to know of an outcome.
pub fn report_of(outcome: &RunOutcome) -> RunReport {
    RunReport {
        violations: outcome.violations(),
        trace_hash: outcome.trace_hash,
        trace_len: outcome.trace.events.len(),
        sim_error: outcome.sim_error.clone(),
        witnesses: Vec::new(),
        incomplete: outcome.incomplete.first().cloned(),
    }
}

/// What [`explore_app`] found: the verdict, and for a failure the shrunk run and its outcome.
#[derive(Debug, Clone)]
pub struct Explored {
    /// The verdict.
    pub verdict: Verdict,
    /// The shrunk failing input and what it produced (`None` when every seed passed).
    pub counterexample: Option<(RunInput, RunOutcome)>,
}

/// Explores one (scenario, catalogue strategy) pair; `on_run` is called after each run (progress).
pub fn explore(
    scenario: &Scenario,
    strategy: &str,
    options: ExploreOptions,
    on_run: impl Fn() + Sync,
) -> Verdict {
    match registry::by_id(strategy) {
        Some(app) => explore_app(scenario, Arc::new(app), &builtin_invariants(), options, on_run).verdict,
        None => {
            let input = resolve(scenario, strategy, options.base_seed);
            Verdict {
                scenario: scenario.name.clone(),
                strategy: strategy.to_string(),
                found: Found::Fail(Box::new(Failure {
                    seed: options.base_seed,
                    seeds_tried: 1,
                    invariant: "sim_error".to_string(),
                    message: unknown_strategy(strategy),
                    token: token::encode(&token::TokenContents::new(input.clone(), None)),
                    trace_len_original: 0,
                    trace_len_shrunk: 0,
                    input_size_original: input_size(&input),
                    input_size_shrunk: input_size(&input),
                    shrink_runs: 0,
                })),
                expected: scenario.expect.get(strategy).cloned(),
                witnesses: Vec::new(),
                witness_seeds: 0,
                witness_min_seeds: scenario.witness_min_seeds,
                seeds_budget: u64::from(options.seeds.unwrap_or(scenario.seeds)),
                not_applicable: Vec::new(),
                incomplete_seeds: 0,
                first_incomplete: None,
            }
        }
    }
}

/// Explores one (scenario, strategy) pair for any [`AppLogic`], checking `invariants` and
/// counting the scenario's witnesses: sweeps seeds until one fails, shrinks it, and keeps
/// the shrunk run's outcome.
pub fn explore_app<A: AppLogic>(
    scenario: &Scenario,
    app: Arc<A>,
    invariants: &[Invariant],
    options: ExploreOptions,
    on_run: impl Fn() + Sync,
) -> Explored {
    let witnesses = scenario_witnesses(scenario);
    explore_app_with(scenario, app, invariants, &witnesses, options, on_run)
}

/// [`explore_app`] counting exactly `witnesses` (the scenario's and any of your own).
///
/// The sweep runs the seed budget; when it passes but some witness was reached in fewer than
/// K seeds, it goes on in rounds of a quarter of the budget, up to the cap, until every
/// witness was reached K times (rounds end where they end whatever the threads, so the
/// verdict does not depend on them). A pass still short of K is [`Found::Inconclusive`]; a
/// violation, in the budget or past it, is a failure whatever the witnesses say.
pub fn explore_app_with<A: AppLogic>(
    scenario: &Scenario,
    app: Arc<A>,
    invariants: &[Invariant],
    witnesses: &[Witness],
    options: ExploreOptions,
    on_run: impl Fn() + Sync,
) -> Explored {
    let strategy = app.id().to_string();
    let run_one = |input: &RunInput| run_checked(input, app.clone(), invariants);
    let report_one = |input: &RunInput| {
        let outcome = run_one(input);
        let mut report = report_of(&outcome);
        report.witnesses = witnesses
            .iter()
            .map(|w| w.reached(&outcome.trace).is_some())
            .collect();
        report
    };
    let (seeds, min_seeds, cap) = options.budgets(scenario);
    tracing::debug!(scenario = %scenario.name, strategy = %strategy, seeds, base_seed = options.base_seed, "explore");
    let mut counts = vec![0u64; witnesses.len()];
    let mut incomplete_seeds: u64 = 0;
    let mut first_incomplete: Option<(u64, String)> = None;
    let mut seeds_run: u64 = 0;
    let mut chunk = seeds;
    let result = loop {
        let result = sweep(
            SweepConfig {
                base_seed: options.base_seed.wrapping_add(seeds_run),
                seeds: chunk,
                jobs: options.jobs,
            },
            |seed| resolve(scenario, &strategy, seed),
            report_one,
            &on_run,
        );
        for (count, more) in counts.iter_mut().zip(&result.witness_counts) {
            *count += more;
        }
        incomplete_seeds += result.incomplete_seeds;
        if first_incomplete.is_none() {
            first_incomplete.clone_from(&result.first_incomplete);
        }
        if result.first_failure.is_some() {
            break result;
        }
        seeds_run += u64::from(chunk);
        let short = counts.iter().any(|c| *c < u64::from(min_seeds));
        if !short || seeds_run >= u64::from(cap) {
            break result;
        }
        chunk = seeds.div_ceil(4).max(1).min(cap - seeds_run as u32);
        tracing::debug!(seeds_run, chunk, "witnesses short: exploring further");
    };
    let tallies: Vec<WitnessTally> = witnesses
        .iter()
        .zip(&counts)
        .map(|(w, reached)| WitnessTally {
            name: w.name.clone(),
            reached: *reached,
        })
        .collect();
    let short = counts.iter().any(|c| *c < u64::from(min_seeds));
    let (found, counterexample) = match result.first_failure {
        None if short || incomplete_seeds > 0 => (Found::Inconclusive { seeds: seeds_run }, None),
        None => (Found::Pass { seeds: seeds_run }, None),
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
            let (shrunk, shrink_runs) = if shrink {
                let shrunk = shrink::shrink(
                    input.clone(),
                    scenario.shrink_runs_max as usize,
                    shrink_candidates,
                    |c| report_of(&run_one(c)).failure_name().as_deref() == Some(invariant.as_str()),
                );
                tracing::debug!(
                    runs = shrunk.runs,
                    from = input_size(&input),
                    to = input_size(&shrunk.value),
                    "shrunk"
                );
                (shrunk.value, shrunk.runs)
            } else {
                (input.clone(), 0)
            };
            let outcome = run_one(&shrunk);
            let failure = Failure {
                seed,
                seeds_tried: seed.wrapping_sub(options.base_seed) + 1,
                invariant,
                message,
                token: token::mint(&shrunk, outcome.trace_hash),
                trace_len_original: report.trace_len,
                trace_len_shrunk: outcome.trace.events.len(),
                input_size_original: input_size(&input),
                input_size_shrunk: input_size(&shrunk),
                shrink_runs,
            };
            (Found::Fail(Box::new(failure)), Some((shrunk, outcome)))
        }
    };
    let witness_seeds = match &found {
        Found::Pass { seeds } | Found::Inconclusive { seeds } => *seeds,
        Found::Fail(f) => f.seeds_tried,
    };
    let verdict = Verdict {
        scenario: scenario.name.clone(),
        expected: scenario.expect.get(&strategy).cloned(),
        strategy,
        found,
        witnesses: tallies,
        witness_seeds,
        witness_min_seeds: min_seeds,
        seeds_budget: u64::from(seeds),
        not_applicable: not_applicable_of(app.as_ref(), invariants),
        incomplete_seeds,
        first_incomplete: first_incomplete.map(|(seed, why)| format!("seed {seed}: {why}")),
    };
    tracing::info!(
        scenario = %verdict.scenario,
        strategy = %verdict.strategy,
        found = verdict.word(),
        as_expected = verdict.as_expected(),
        "verdict"
    );
    Explored {
        verdict,
        counterexample,
    }
}

/// The checked invariants that cannot fire for `app` because it declares nothing they read.
fn not_applicable_of<A: crate::app::api::AppLogic>(app: &A, invariants: &[Invariant]) -> Vec<String> {
    let view = crate::oracle::WorldView {
        tables: app.tables(),
        ..Default::default()
    };
    crate::oracle::not_applicable(&view)
        .into_iter()
        .filter(|name| invariants.iter().any(|i| i.name == *name))
        .map(str::to_string)
        .collect()
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
