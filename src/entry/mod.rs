//! The entry points, re-exported at the crate root: explore your own [`AppLogic`] in a
//! scenario, get a [`Report`], turn it into a test failure, and replay a token.
//!
//! This is a thin layer over [`crate::explore`] (sweep, shrink, tokens) and
//! [`crate::report`] (the `explain` page, Mermaid). The CLI is a client of it too: `racehound
//! replay` and `racehound explain` are [`replay_catalogue`] and [`Counterexample::explain`].

use crate::app::api::AppLogic;
use crate::app::strategies::registry;
use crate::explore::crash_sweep::{self, CrashSweep};
pub use crate::explore::error::ReplayError;
use crate::explore::input::{resolve, RunInput};
use crate::explore::token::{self, ReplayWarning, TokenContents};
use crate::explore::verdict::{Failure, Found, Verdict};
use crate::explore::{explore_app_with, scenario_witnesses, ExploreOptions};
use crate::oracle::{builtin_invariants, Invariant, Violation, Witness};
use crate::scenario::Scenario;
use crate::sim::trace::Trace;
use crate::sim::world::{run_checked, RunOutcome};
use crate::sync::Arc;

/// The environment variable that overrides the number of seeds (like `PROPTEST_CASES`).
pub const SEEDS_ENV: &str = "RACEHOUND_SEEDS";

/// How to explore: seeds, threads, shrinking, and the invariants checked.
///
/// `Explorer::new()` checks the built-in invariants with the scenario's budget on one thread;
/// add your own with [`Explorer::invariant`].
#[derive(Debug, Clone)]
#[must_use]
pub struct Explorer {
    options: ExploreOptions,
    invariants: Vec<Invariant>,
    witnesses: Vec<Witness>,
}

impl Default for Explorer {
    fn default() -> Self {
        Self::new()
    }
}

impl Explorer {
    /// The defaults: the scenario's seeds (or `RACEHOUND_SEEDS`), seed 0 first, one thread,
    /// shrinking as the scenario says, every built-in invariant.
    pub fn new() -> Self {
        Self {
            options: ExploreOptions::default(),
            invariants: builtin_invariants(),
            witnesses: Vec::new(),
        }
    }

    /// Tries this many seeds instead of the scenario's budget.
    pub fn seeds(mut self, seeds: u32) -> Self {
        self.options.seeds = Some(seeds);
        self
    }

    /// Starts the sweep at this seed.
    pub fn base_seed(mut self, seed: u64) -> Self {
        self.options.base_seed = seed;
        self
    }

    /// Runs seeds on this many threads (the verdict does not depend on it).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.options.jobs = jobs.max(1);
        self
    }

    /// Shrinks the first failure (or not), whatever the scenario says.
    pub fn shrink(mut self, shrink: bool) -> Self {
        self.options.shrink = Some(shrink);
        self
    }

    /// Also checks `invariant` (see [`Invariant::always`] and [`Invariant::at_quiescence`]).
    pub fn invariant(mut self, invariant: Invariant) -> Self {
        self.invariants.push(invariant);
        self
    }

    /// Also counts your own race witness: `reached` says whether a run's trace shows the
    /// situation your scenario exists for. Like the witnesses a scenario names, a pass whose
    /// runs reached it in fewer than K seeds is inconclusive (see [`Explorer::witness_min_seeds`]).
    ///
    /// ```
    /// use racehound::prelude::*;
    ///
    /// let explorer = Explorer::new().sometimes("a_replica_crashed", |trace: &Trace| {
    ///     trace.events.iter().any(|e| e.kind == TraceKind::Crash)
    /// });
    /// assert_eq!(explorer.witnesses()[0].name, "a_replica_crashed");
    /// ```
    pub fn sometimes(
        self,
        name: impl Into<String>,
        reached: impl Fn(&crate::sim::trace::Trace) -> bool + Send + Sync + 'static,
    ) -> Self {
        let name = name.into();
        let description = format!("your own witness `{name}`");
        self.witness(Witness::sometimes(name, description, reached))
    }

    /// Also counts `witness` (a [`Witness`] with its own description and the trace events it
    /// points at); [`Explorer::sometimes`] is the short form.
    pub fn witness(mut self, witness: Witness) -> Self {
        self.witnesses.push(witness);
        self
    }

    /// The witnesses this explorer counts besides the ones a scenario names.
    pub fn witnesses(&self) -> &[Witness] {
        &self.witnesses
    }

    /// Each witness must be reached in this many seeds for a pass (K), whatever the scenario says.
    pub fn witness_min_seeds(mut self, seeds: u32) -> Self {
        self.options.witness_min_seeds = Some(seeds.max(1));
        self
    }

    /// Runs at most this many seeds to reach the witnesses, whatever the scenario says.
    pub fn seeds_max(mut self, seeds: u32) -> Self {
        self.options.seeds_max = Some(seeds.max(1));
        self
    }

    /// Checks only the invariants added with [`Explorer::invariant`], none of the built-in ones.
    pub fn without_builtin_invariants(mut self) -> Self {
        let builtin: Vec<&str> = builtin_invariants().iter().map(|i| i.name).collect();
        self.invariants.retain(|i| !builtin.contains(&i.name));
        self
    }

    /// The invariants this explorer checks, built-in ones first.
    pub fn invariants(&self) -> &[Invariant] {
        &self.invariants
    }

    fn effective_options(&self) -> ExploreOptions {
        let mut options = self.options;
        if options.seeds.is_none() {
            options.seeds = std::env::var(SEEDS_ENV).ok().and_then(|v| v.trim().parse().ok());
        }
        options
    }

    /// Explores `scenario` with `app`: sweeps seeds until an invariant breaks, shrinks that
    /// run and reports it with its replay token, trace and diagram.
    pub fn explore<A: AppLogic>(&self, scenario: &Scenario, app: A) -> Report {
        // Wall-clock time is reported, never part of what a run sees or the verdict.
        let started = std::time::Instant::now();
        let mut witnesses = scenario_witnesses(scenario);
        witnesses.extend(self.witnesses.iter().cloned());
        let explored = explore_app_with(
            scenario,
            Arc::new(app),
            &self.invariants,
            &witnesses,
            self.effective_options(),
            || {},
        );
        Report {
            verdict: explored.verdict,
            counterexample: explored
                .counterexample
                .map(|(input, outcome)| Counterexample::new(input, outcome).marking(&witnesses)),
            elapsed: started.elapsed(),
        }
    }

    /// Plays exactly one seed of `scenario` with `app` (no sweep, no shrinking) and returns
    /// the run: its input, token, trace and the violations of this explorer's invariants.
    ///
    /// The same seed draws the same input as in [`Explorer::explore`], so this reruns "seed
    /// 17 of that sweep" while you debug it.
    pub fn run_seed<A: AppLogic>(&self, scenario: &Scenario, app: A, seed: u64) -> Counterexample {
        let input = resolve(scenario, app.id(), seed);
        let outcome = run_checked(&input, Arc::new(app), &self.invariants);
        let mut witnesses = scenario_witnesses(scenario);
        witnesses.extend(self.witnesses.iter().cloned());
        Counterexample::new(input, outcome).marking(&witnesses)
    }

    /// The crash sweep for `app`: plays `flow` once for one user on one replica, then once
    /// per step that run took with `app-1` crashed at that step and restarted 200 ms later,
    /// and checks this explorer's invariants in every run.
    ///
    /// `flow` is one of [`CRASH_SWEEP_FLOWS`] (`signup`, `checkout`, `apply_coupon`, `pay`,
    /// `create_team_org`, `clerk_subscription`). An error means the sweep could not run: an
    /// unknown flow, or a failure without any crash.
    pub fn crash_sweep<A: AppLogic>(&self, app: A, flow: &str) -> Result<CrashSweep, String> {
        if !CRASH_SWEEP_FLOWS.contains(&flow) {
            return Err(format!(
                "unknown flow `{flow}` for the crash sweep (hint: one of {})",
                CRASH_SWEEP_FLOWS.join(", ")
            ));
        }
        let app = Arc::new(app);
        let base = crash_sweep::flow_input(app.id(), flow);
        crash_sweep::crash_sweep_with(base, |input| {
            Ok(run_checked(input, app.clone(), &self.invariants))
        })
    }

    /// Decodes `token` and runs it again with `app`, checking this explorer's invariants.
    ///
    /// A run that differs from the one the token was made from (other world rules, another
    /// trace) says so in [`Counterexample::warnings`].
    pub fn replay<A: AppLogic>(&self, token: &str, app: A) -> Result<Counterexample, ReplayError> {
        let contents = token::read(token).map_err(ReplayError::Token)?;
        if contents.input.strategy != app.id() {
            return Err(ReplayError::OtherStrategy {
                token_strategy: contents.input.strategy,
                given: app.id().to_string(),
            });
        }
        Ok(self.replay_contents(contents, Arc::new(app)))
    }

    /// Decodes `token` and runs it again with the catalogue strategy it names (what `racehound
    /// replay` and `racehound explain` do), checking this explorer's invariants; differences
    /// from the token's run are in [`Counterexample::warnings`], as for [`Explorer::replay`].
    pub fn replay_catalogue(&self, token: &str) -> Result<Counterexample, ReplayError> {
        let contents = token::read(token).map_err(ReplayError::Token)?;
        let app = registry::by_id(&contents.input.strategy).ok_or_else(|| ReplayError::UnknownStrategy {
            strategy: contents.input.strategy.clone(),
        })?;
        Ok(self.replay_contents(contents, Arc::new(app)))
    }

    fn replay_contents<A: AppLogic>(&self, contents: TokenContents, app: Arc<A>) -> Counterexample {
        let outcome = run_checked(&contents.input, app, &self.invariants);
        let warnings = contents.differences(outcome.trace_hash);
        for warning in &warnings {
            tracing::warn!(%warning, "replay differs from the token's run");
        }
        Counterexample {
            warnings,
            ..Counterexample::new(contents.input, outcome)
        }
        .marking(&self.witnesses)
    }
}

/// Explores `scenario` with `app` under the defaults ([`Explorer::new`]).
pub fn explore<A: AppLogic>(scenario: &Scenario, app: A) -> Report {
    Explorer::new().explore(scenario, app)
}

/// Explores and panics with a readable failure (token, trace, diagram) unless every seed passes.
#[track_caller]
pub fn check<A: AppLogic>(scenario: &Scenario, app: A) {
    explore(scenario, app).assert_pass();
}

/// Reruns a replay token with `app` (the strategy it was found with), checking the built-in
/// invariants; use [`Explorer::replay`] to check your own too. A run that differs from the
/// token's (other world rules, another trace) says so in [`Counterexample::warnings`].
pub fn replay<A: AppLogic>(token: &str, app: A) -> Result<Counterexample, ReplayError> {
    Explorer::new().replay(token, app)
}

/// Reruns a replay token of one of racehound's own strategies (the catalogue, the reference)
/// with the built-in invariants, as `racehound replay` does; [`replay`] takes your strategy.
/// Differences from the token's run are in [`Counterexample::warnings`].
pub fn replay_catalogue(token: &str) -> Result<Counterexample, ReplayError> {
    Explorer::new().replay_catalogue(token)
}

/// One run played out: its input, trace, and what the oracle said.
#[derive(Debug, Clone)]
pub struct Counterexample {
    /// The run's complete input (shrunk, when it comes from exploration).
    pub input: RunInput,
    /// Its replay token.
    pub token: String,
    /// Every event of the run.
    pub trace: Trace,
    /// The trace's hash (what `racehound replay` and `check-determinism` print).
    pub trace_hash: u64,
    /// The broken invariants, first occurrence of each.
    pub violations: Vec<Violation>,
    /// The simulation itself failed (step limit, a panic in a host).
    pub sim_error: Option<String>,
    /// What replaying a token found different from the run the token was made from: other
    /// world rules, another trace (empty when nothing differs, and for runs not replayed).
    pub warnings: Vec<ReplayWarning>,
    /// The witnesses besides the built-in ones (the explorer's own, [`Explorer::sometimes`])
    /// this run reached, each with the trace steps its predicate names: `explain` marks them.
    pub own_witnesses_reached: std::collections::BTreeMap<String, Vec<usize>>,
}

impl Counterexample {
    fn new(input: RunInput, outcome: RunOutcome) -> Self {
        Self {
            token: token::mint(&input, outcome.trace_hash),
            violations: outcome.violations(),
            warnings: Vec::new(),
            own_witnesses_reached: std::collections::BTreeMap::new(),
            sim_error: outcome.sim_error,
            trace_hash: outcome.trace_hash,
            trace: outcome.trace,
            input,
        }
    }

    /// Notes which of `witnesses` that are not built-in this run reached, for `explain`.
    fn marking(mut self, witnesses: &[Witness]) -> Self {
        let builtin = crate::oracle::witness::WITNESS_NAMES;
        for witness in witnesses.iter().filter(|w| !builtin.contains(&w.name.as_str())) {
            if let Some(steps) = witness.reached(&self.trace) {
                self.own_witnesses_reached.insert(witness.name.clone(), steps);
            }
        }
        self
    }

    /// Whether this run broke the invariant named `name`.
    pub fn breaks(&self, name: &str) -> bool {
        self.violations.iter().any(|v| v.invariant == name)
    }

    /// The trace, one event per line.
    pub fn trace_text(&self) -> String {
        self.trace.render_text()
    }

    /// The trace as a Mermaid sequence diagram (the first [`crate::report::EXPLAIN_EVENTS_MAX`]
    /// events).
    pub fn mermaid(&self) -> String {
        crate::report::mermaid::render(&self.trace, crate::report::EXPLAIN_EVENTS_MAX)
    }

    /// What `racehound explain` prints: the faults, the steps and the sequence diagram, as
    /// Markdown, with the steps where a witness (built-in, or one of
    /// [`Counterexample::own_witnesses_reached`]) was reached and an invariant broke marked.
    pub fn explain(&self) -> String {
        crate::report::explain_with(
            &self.input,
            &self.trace,
            &self.violations,
            self.sim_error.as_deref(),
            &self.own_witnesses_reached,
        )
    }
}

/// The flows [`Explorer::crash_sweep`] can sweep.
pub const CRASH_SWEEP_FLOWS: &[&str] = crash_sweep::SWEPT_FLOWS;

/// What exploring one (scenario, strategy) pair found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The verdict (what the CLI's table shows), with the replay token on failure.
    pub verdict: Verdict,
    /// The shrunk failing run, when a seed failed.
    pub counterexample: Option<Counterexample>,
    /// Wall-clock time the exploration took, shrinking included (for progress and budgets;
    /// nothing in a run or its verdict depends on it).
    pub elapsed: std::time::Duration,
}

impl Report {
    /// Whether every seed passed and every witness was reached in enough seeds (an
    /// inconclusive pass is not a pass).
    pub fn passed(&self) -> bool {
        matches!(self.verdict.found, Found::Pass { .. })
    }

    /// Whether every seed passed but some witness was reached in fewer than K seeds.
    pub fn inconclusive(&self) -> bool {
        matches!(self.verdict.found, Found::Inconclusive { .. })
    }

    /// The failure (seed, invariant, message, token, shrink figures), if one was found.
    pub fn failure(&self) -> Option<&Failure> {
        match &self.verdict.found {
            Found::Fail(f) => Some(f),
            Found::Pass { .. } | Found::Inconclusive { .. } => None,
        }
    }

    /// The replay token of the shrunk failing run.
    pub fn token(&self) -> Option<&str> {
        self.failure().map(|f| f.token.as_str())
    }

    /// Panics with a readable failure message unless every seed passed and every witness
    /// was reached in enough seeds.
    #[track_caller]
    pub fn assert_pass(&self) {
        if !self.passed() {
            panic!("{self}");
        }
    }

    /// Panics unless a seed broke `invariant`; returns the shrunk counterexample.
    #[track_caller]
    pub fn assert_fails(&self, invariant: &str) -> &Counterexample {
        match (self.failure(), &self.counterexample) {
            (Some(f), Some(c)) if f.invariant == invariant || c.breaks(invariant) => c,
            (Some(f), _) => panic!(
                "racehound: expected {} to break `{invariant}` in {}, but it broke `{}` instead\n\n{self}",
                self.verdict.strategy, self.verdict.scenario, f.invariant
            ),
            (None, _) => panic!(
                "racehound: expected {} to break `{invariant}` in {}, but all {} seeds passed{}",
                self.verdict.strategy,
                self.verdict.scenario,
                self.seeds_tried(),
                match self.verdict.witness_sentence() {
                    w if w.is_empty() => String::new(),
                    w => format!(" ({w})"),
                }
            ),
        }
    }

    /// Seeds run in the sweep: all of them on a pass, up to the first failing one on a
    /// failure (shrinking runs not counted).
    pub fn seeds_tried(&self) -> u64 {
        match &self.verdict.found {
            Found::Pass { seeds } | Found::Inconclusive { seeds } => *seeds,
            Found::Fail(f) => f.seeds_tried,
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = &self.verdict;
        let Some(failure) = self.failure() else {
            write!(
                f,
                "racehound: {} × {}: {} ({} seeds)",
                v.scenario,
                v.strategy,
                v.word(),
                self.seeds_tried()
            )?;
            let witnesses = v.witness_sentence();
            if !witnesses.is_empty() {
                write!(f, "\n  {witnesses}")?;
            }
            if self.inconclusive() {
                let short: Vec<&str> = v.short_witnesses().iter().map(|w| w.name.as_str()).collect();
                write!(
                    f,
                    "\n  inconclusive: no seed broke an invariant, but {} reached in fewer than {} seeds, \
                     so the race may not have happened (hint: more seeds, `seeds_max`, or a scenario \
                     that aims at the race)",
                    short.join(", "),
                    v.witness_min_seeds
                )?;
            }
            if !v.not_applicable.is_empty() {
                write!(
                    f,
                    "\n  not applicable (the app declares no tables for them, see AppLogic::tables): {}",
                    v.not_applicable.join(", ")
                )?;
            }
            return Ok(());
        };
        writeln!(
            f,
            "racehound: {} × {}: {}",
            v.scenario, v.strategy, failure.message
        )?;
        writeln!(
            f,
            "  found at seed {} ({} seeds tried); shrunk from {} to {} steps and faults, {} → {} trace events, in {} runs",
            failure.seed,
            failure.seeds_tried,
            failure.input_size_original,
            failure.input_size_shrunk,
            failure.trace_len_original,
            failure.trace_len_shrunk,
            failure.shrink_runs
        )?;
        writeln!(f, "  replay token: {}", failure.token)?;
        writeln!(f, "  explain:      racehound explain {}", failure.token)?;
        if crate::app::strategies::registry::by_id(&v.strategy).is_none() {
            writeln!(
                f,
                "                (`{}` is not in racehound's catalogue, so the CLI cannot run it: the \
                 explanation is below, and `racehound::replay(token, <your strategy>)` reruns it in a test)",
                v.strategy
            )?;
        }
        if let Some(c) = &self.counterexample {
            writeln!(f, "\n{}", c.explain().trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
