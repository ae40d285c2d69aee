//! A plain stress test, for comparison with exploration: the same app logic against the same
//! in-process fakes on a multi-threaded tokio runtime, with *real* sleeps and jitter instead
//! of a simulated network, run over and over for a fixed wall-clock time.
//!
//! This is how such races are usually hunted: start the requests at the scenario's times
//! (drawn per run), let real thread scheduling and random latency interleave them, check the
//! oracle at the end. It models no faults (no crash, no lost response), so a race that needs
//! one is out of its reach. Webhooks are delivered in process, at least once, with real
//! retries. The actors' calls and the webhooks' draining and signing are the world's own
//! (`sim::actors`, `sim::dispatch`). Nothing here is reproducible, by design; it only feeds `racehound bench --ttfc`.

use std::time::{Duration, Instant};

use crate::app::api::{AppCall, AppLogic, UserSpec};
use crate::app::clients::HttpTransport;
use crate::inproc::{InProcEnv, RealLatency, Shared, StripeTransport};
use crate::oracle::builtin_invariants;
use crate::oracle::from_fakes::{note_actor_facts, view_from_snapshots};
use crate::oracle::{check, DeliveryView, Phase, Violation};
use crate::rng::SimRng;
use crate::scenario::Scenario;
use crate::setup::prepare;
use crate::sim::actors::{browser_call, pay_request, subscribe_in_clerk_billing};
use crate::sim::apps::app_call_of;
use crate::sim::dispatch::{
    drain_clerk_events, drain_stripe_events, oracle_service, webhook_request, EmittedEvent,
};
use crate::sim::input::{resolve, ResolvedStep, RunInput};
use crate::sync::{Arc, Mutex};
use crate::time::{Clock, ManualClock, SimTime};
use crate::vocabulary::Flow;

/// Real latency at every interleaving point of a stress run (a Stripe call, a DB statement).
pub const STRESS_LATENCY_MS: (u64, u64) = (5, 100);
/// Cap on one real `Env::sleep` (the apps' back-offs).
pub const STRESS_SLEEP_MS_MAX: u64 = 200;
/// Delivery attempts per webhook event in a stress run.
pub const STRESS_DELIVERY_ATTEMPTS_MAX: u32 = 4;
/// Real wait between two delivery attempts.
pub const STRESS_REDELIVERY_MS: u64 = 50;
/// Longest a single stress run may take before it is abandoned as hung.
pub const STRESS_RUN_MS_MAX: u64 = 30_000;

/// What a fixed-time stress test saw.
#[derive(Debug, Clone, PartialEq)]
pub struct StressOutcome {
    /// Runs completed.
    pub runs: u64,
    /// Runs in which an invariant broke.
    pub failing_runs: u64,
    /// Wall time until the first failing run ended, if any.
    pub first_failure_secs: Option<f64>,
    /// The invariant of the first failure.
    pub first_invariant: Option<String>,
    /// Wall time spent in all.
    pub elapsed_secs: f64,
}

/// Why a scenario cannot be stress-tested.
pub fn unsupported_reason(scenario: &Scenario) -> Option<&'static str> {
    (!scenario.fault_plan.is_empty() || !scenario.fault_rates.is_empty())
        .then_some("needs faults, which a plain stress test cannot inject")
}

/// Stress-tests `app` on `scenario` for `budget` of wall time (stops at the first failure
/// when `stop_at_first` is set).
pub fn stress<A: AppLogic + Clone + 'static>(
    scenario: &Scenario,
    app: A,
    budget: Duration,
    stop_at_first: bool,
) -> Result<StressOutcome, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    let start = Instant::now();
    let mut outcome = StressOutcome {
        runs: 0,
        failing_runs: 0,
        first_failure_secs: None,
        first_invariant: None,
        elapsed_secs: 0.0,
    };
    let mut run_index = 0u64;
    while start.elapsed() < budget {
        let input = resolve(scenario, app.id(), run_index);
        let violations = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(STRESS_RUN_MS_MAX),
                stress_run(&input, app.clone(), run_index),
            )
            .await
            .map_err(|_| format!("a stress run took longer than {STRESS_RUN_MS_MAX} ms"))?
        })?;
        run_index += 1;
        outcome.runs += 1;
        if let Some(first) = violations.first() {
            outcome.failing_runs += 1;
            if outcome.first_failure_secs.is_none() {
                outcome.first_failure_secs = Some(start.elapsed().as_secs_f64());
                outcome.first_invariant = Some(first.invariant.clone());
            }
            if stop_at_first {
                break;
            }
        }
    }
    outcome.elapsed_secs = start.elapsed().as_secs_f64();
    Ok(outcome)
}

/// The state one stress run shares between its tasks.
struct Run<A> {
    app: A,
    shared: Shared,
    envs: Vec<InProcEnv>,
    users: Vec<UserSpec>,
    price_id: String,
    stripe_secret: String,
    clerk_secret: String,
    rng: Mutex<SimRng>,
    sessions: Mutex<Vec<Option<String>>>,
    deliveries: Mutex<Vec<DeliveryView>>,
}

impl<A: AppLogic> Run<A> {
    fn env(&self, replica: Option<u32>) -> &InProcEnv {
        let index = match replica {
            Some(r) => r as usize,
            None => self.rng.lock().index(self.envs.len()),
        };
        &self.envs[index.min(self.envs.len() - 1)]
    }

    async fn play(&self, actor: usize, user_id: &str, step: &ResolvedStep) {
        tokio::time::sleep(Duration::from_millis(step.at_ms)).await;
        match step.flow {
            Flow::Pay => {
                let session = self.sessions.lock().get(actor).cloned().flatten();
                if let Some(session) = session {
                    let _ = StripeTransport::new(&self.shared)
                        .send(pay_request(&session))
                        .await;
                }
            }
            Flow::ClerkSubscription => {
                let plan = step.plan.clone().unwrap_or_else(|| "team".to_string());
                let now = self.shared.clock.now();
                let _ = subscribe_in_clerk_billing(&mut self.shared.clerk.lock(), now, user_id, &plan);
            }
            _ => {
                let Some(call) = browser_call(step, user_id, &self.price_id) else {
                    return;
                };
                for _attempt in 1..=step.attempts.max(1) {
                    let reply = self.app.handle(self.env(step.replica), call.clone()).await;
                    if let Some(session) = reply.body.get("session_id").and_then(|s| s.as_str()) {
                        if let Some(slot) = self.sessions.lock().get_mut(actor) {
                            *slot = Some(session.to_string());
                        }
                    }
                    if reply.status < 500 {
                        break;
                    }
                }
            }
        }
    }

    /// Delivers one event until a 2xx or the attempts run out; records the delivery.
    async fn deliver(&self, event: EmittedEvent) {
        let mut view = DeliveryView {
            service: oracle_service(event.service),
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            attempts: 0,
            delivered: false,
            given_up: false,
            attempts_without_faults: 0,
        };
        for _attempt in 0..STRESS_DELIVERY_ATTEMPTS_MAX {
            view.attempts += 1;
            let now_secs = self.shared.clock.now().unix_secs();
            let secrets = (self.stripe_secret.as_str(), self.clerk_secret.as_str());
            let request = webhook_request(event.service, secrets, &event.event_id, now_secs, &event.payload);
            let call = app_call_of(&request).map_err(|e| format!("the world's own webhook request: {e}"));
            let status = match call {
                Ok(call) => self.app.handle(self.env(None), call).await.status,
                Err(_) => 500,
            };
            if (200..300).contains(&status) {
                view.delivered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(STRESS_REDELIVERY_MS)).await;
        }
        view.given_up = !view.delivered;
        // The stress test injects no faults.
        view.attempts_without_faults = view.attempts;
        self.deliveries.lock().push(view);
    }

    /// Deliveries of the events emitted since the last call (one per endpoint that wants each).
    fn new_deliveries(&self) -> Vec<EmittedEvent> {
        let stripe_events = drain_stripe_events(&mut self.shared.stripe.lock());
        let clerk_events = drain_clerk_events(&mut self.shared.clerk.lock());
        stripe_events
            .into_iter()
            .chain(clerk_events)
            .flat_map(|event| std::iter::repeat_n(event.clone(), event.endpoints))
            .collect()
    }
}

/// One stress run: plays the input's actors with real timing, delivers webhooks, runs
/// `reconcile` once everything is quiet, and returns what the oracle says.
async fn stress_run<A: AppLogic + Clone + 'static>(
    input: &RunInput,
    app: A,
    run_index: u64,
) -> Result<Vec<Violation>, String> {
    let prepared = prepare(input.seed, &app, input.users, SimTime::EPOCH).map_err(|e| e.to_string())?;
    let clock = Arc::new(ManualClock::new(SimTime::EPOCH));
    let latency = RealLatency::new(
        STRESS_LATENCY_MS.0,
        STRESS_LATENCY_MS.1,
        STRESS_SLEEP_MS_MAX,
        run_index,
    );
    let shared = Shared::with_real_latency(&prepared, clock, latency);
    let envs = (1..=input.replicas.max(1))
        .map(|r| InProcEnv::new(&shared, &prepared, &format!("app-{r}")))
        .collect();
    let schema = app.schema();
    let run = std::sync::Arc::new(Run {
        app,
        shared,
        envs,
        users: prepared.users.clone(),
        price_id: prepared.price_id.clone(),
        stripe_secret: prepared.stripe_webhook_secret.clone(),
        clerk_secret: prepared.clerk_webhook_secret.clone(),
        rng: Mutex::new(SimRng::new(run_index, "stress")),
        sessions: Mutex::new(vec![None; input.actors.len()]),
        deliveries: Mutex::new(Vec::new()),
    });
    let mut browsers = tokio::task::JoinSet::new();
    for (actor_index, actor) in input.actors.iter().enumerate() {
        let Some(user) = run.users.get(actor.user as usize) else {
            continue;
        };
        for step in actor.steps.clone() {
            let run = run.clone();
            let user_id = user.user_id.clone();
            browsers.spawn(async move { run.play(actor_index, &user_id, &step).await });
        }
    }
    let mut deliveries = tokio::task::JoinSet::new();
    let mut reconciled = false;
    // Quiet = no browser task, no delivery in flight and no new event for a few polls.
    let mut quiet_polls = 0u32;
    loop {
        while browsers.try_join_next().is_some() {}
        while deliveries.try_join_next().is_some() {}
        let events = run.new_deliveries();
        let busy = !events.is_empty() || !browsers.is_empty() || !deliveries.is_empty();
        for event in events {
            let run = run.clone();
            deliveries.spawn(async move { run.deliver(event).await });
        }
        quiet_polls = if busy { 0 } else { quiet_polls + 1 };
        if quiet_polls >= 5 {
            if reconciled {
                break;
            }
            reconciled = true;
            quiet_polls = 0;
            let _ = run.app.handle(run.env(Some(0)), AppCall::Reconcile).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut view = view_from_snapshots(
        &run.users,
        &run.shared.stripe.lock().snapshot(),
        &run.shared.clerk.lock().snapshot(),
        &run.shared.db.lock().snapshot(),
        &schema,
    );
    view.deliveries = run.deliveries.lock().clone();
    note_actor_facts(&mut view, &run.users, input.actor_steps());
    Ok(check(&builtin_invariants(), &view, Phase::Quiescence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::strategies::registry::by_id;

    fn scenario(text: &str) -> Scenario {
        crate::scenario::parse("t.toml", text, &crate::app::strategies::registry::ids())
            .expect("valid scenario")
    }

    const SIMULTANEOUS_CLICKS: &str = r#"
name = "t.simultaneous"
description = "two checkouts at the same instant"
strategies = ["checkout.naive", "reference"]
[[actors]]
user = 1
steps = [{ flow = "checkout" }, { flow = "checkout" }]
"#;

    #[test]
    fn stress_sees_a_race_that_needs_no_luck() {
        let s = scenario(SIMULTANEOUS_CLICKS);
        let app = by_id("checkout.naive").expect("strategy");
        let outcome = stress(&s, app, Duration::from_secs(20), true).expect("stress runs");
        assert!(
            outcome.first_failure_secs.is_some(),
            "two checkouts at the same instant never raced in {} stress runs",
            outcome.runs
        );
        assert_eq!(outcome.first_invariant.as_deref(), Some("no_duplicate_customers"));
    }

    #[test]
    fn stress_passes_the_reference() {
        let s = scenario(SIMULTANEOUS_CLICKS);
        let app = by_id("reference").expect("strategy");
        let outcome = stress(&s, app, Duration::from_secs(3), false).expect("stress runs");
        assert!(outcome.runs > 0);
        assert_eq!(outcome.failing_runs, 0, "{outcome:?}");
    }
}
