//! The crash sweep: for one flow, crash the replica at each of its steps in turn, restart it,
//! let client retries, webhook redeliveries and `reconcile` run, and check every invariant.
//!
//! A fault-free run of the flow on a single replica (`app-1`, fixed latency) gives the times
//! at which that replica does something: takes a call, sends a request, gets an answer, runs
//! a statement. Each such time `t` (and `t + 1`, to land between a request and its answer)
//! becomes its own run with `app-1` crashing at `t` and restarting 200 ms later. Runs are
//! deterministic, so a crash at `t` hits exactly the step the fault-free run had at `t`.

use std::collections::BTreeSet;

use super::input::{ResolvedActor, ResolvedStep, RunInput};
use super::{run_input, token};
use crate::sim::faults::{Fault, TimedFault};
use crate::sim::trace::TraceKind;
use crate::sim::world::RunOutcome;
use crate::time::EPOCH_UNIX_MS;
use crate::vocabulary::Flow;

/// The flows the sweep covers, each as the browser steps that drive it.
pub const SWEPT_FLOWS: &[&str] = Flow::NAMES.split_at(Flow::BROWSER.len()).0;

/// The replica that crashes (the only one).
pub const CRASHED_HOST: &str = "app-1";
/// How long the crashed replica stays down.
pub const RESTART_AFTER_MS: u64 = 200;
/// Most crash points swept per flow.
pub const CRASH_POINTS_MAX: usize = 200;

/// One crash point that broke an invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct CrashFailure {
    /// Simulated ms of the crash.
    pub at_ms: u64,
    /// The violations, one line each.
    pub violations: Vec<String>,
    /// Replay token of the failing run.
    pub token: String,
}

/// What sweeping one flow found.
#[derive(Debug, Clone, PartialEq)]
pub struct CrashSweep {
    /// The flow.
    pub flow: String,
    /// The strategy.
    pub strategy: String,
    /// Crash points run.
    pub points: usize,
    /// The ones that failed.
    pub failures: Vec<CrashFailure>,
}

fn step(flow: Flow, at_ms: u64) -> ResolvedStep {
    ResolvedStep {
        flow,
        at_ms,
        replica: None,
        coupon: (flow == Flow::ApplyCoupon).then(|| crate::setup::COUPON_ID.to_string()),
        plan: matches!(flow, Flow::CreateTeamOrg | Flow::ClerkSubscription).then(|| "team".to_string()),
        attempts: 3,
        timeout_ms: 3_000,
    }
}

/// The fault-free input that plays `flow` once for user 1 (with what it needs first: a
/// checkout session before `pay`).
pub fn flow_input(strategy: &str, flow: &str) -> RunInput {
    // A name the sweep does not know plays no step (the baseline then has nothing to sweep).
    let steps = match Flow::from_name(flow) {
        Some(Flow::Pay) => vec![step(Flow::Checkout, 0), step(Flow::Pay, 400)],
        Some(other) => vec![step(other, 0)],
        None => Vec::new(),
    };
    RunInput {
        scenario: format!("crash_sweep.{flow}"),
        strategy: strategy.to_string(),
        seed: 0,
        users: 1,
        replicas: 1,
        latency_ms: (5, 5),
        loss: 0.0,
        actors: vec![ResolvedActor { user: 0, steps }],
        faults: Vec::new(),
    }
}

/// Sweeps a crash of `app-1` over every step the catalogue's `strategy` takes in `flow`.
pub fn crash_sweep(strategy: &str, flow: &str) -> Result<CrashSweep, String> {
    crash_sweep_with(flow_input(strategy, flow), run_input)
}

/// Sweeps a crash of `app-1` over every step of the fault-free run `base`, running each input
/// with `run` (any strategy, any invariants).
pub fn crash_sweep_with(
    base: RunInput,
    run: impl Fn(&RunInput) -> Result<RunOutcome, String>,
) -> Result<CrashSweep, String> {
    let strategy = base.strategy.clone();
    let flow = base
        .scenario
        .strip_prefix("crash_sweep.")
        .unwrap_or(&base.scenario)
        .to_string();
    let clean = run(&base)?;
    if let Some(v) = clean.violations().first() {
        return Err(format!(
            "{strategy} breaks {} in {flow} without any crash; the sweep needs a passing baseline",
            v.invariant
        ));
    }
    let mut times = BTreeSet::new();
    for event in &clean.trace.events {
        let on_replica = event.host == CRASHED_HOST
            || matches!(&event.kind, TraceKind::DbStatement { .. } if event.render().contains(&format!("[{CRASHED_HOST}]")));
        if !on_replica {
            continue;
        }
        let at_ms = event.at.unix_ms().saturating_sub(EPOCH_UNIX_MS);
        times.insert(at_ms);
        times.insert(at_ms + 1);
    }
    let mut sweep = CrashSweep {
        flow,
        strategy,
        points: 0,
        failures: Vec::new(),
    };
    for at_ms in times.into_iter().take(CRASH_POINTS_MAX) {
        let mut input = base.clone();
        input.faults.push(TimedFault::at(
            at_ms,
            Fault::Crash {
                host: CRASHED_HOST.to_string(),
                restart_after_ms: RESTART_AFTER_MS,
            },
        ));
        sweep.points += 1;
        let outcome = run(&input)?;
        let violations = outcome.violations();
        if !violations.is_empty() {
            sweep.failures.push(CrashFailure {
                at_ms,
                violations: violations.iter().map(|v| v.to_string()).collect(),
                token: token::mint(&input, outcome.trace_hash),
            });
        }
    }
    Ok(sweep)
}
