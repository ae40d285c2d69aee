//! The turmoil world: build the hosts, play a [`RunInput`], apply its faults, run to
//! quiescence, and hand back the trace and the oracle's view.
//!
//! Hosts: `stripe`, `clerk` (the fakes over HTTP), `postgres` (the model over a framed
//! protocol), `app-1`…`app-N` (the app logic, stateless replicas), one browser client per
//! actor, and `webhooks`, the dispatcher that delivers Stripe and Clerk (Svix) events
//! at-least-once and in no guaranteed order, then runs `reconcile` once the world is quiet.
//!
//! **Time.** turmoil advances simulated time in 1 ms ticks. Webhook retry schedules span days
//! (Stripe: up to 3 days; Svix: about 27 hours), so the dispatcher waits
//! `delay / RETRY_TIME_COMPRESSION` instead of `delay`: the order and count of attempts are
//! the real ones, the gaps between them are shrunk 10,000× (Svix's 10 h become 3.6 s of
//! simulated time). The services' clocks are not compressed; a `time_jump_25h` fault moves
//! them forward by 25 hours at once (idempotency keys expire, sessions too). Stripe's 3-day
//! give-up is measured on the real scale: waits uncompressed, attempts and jumps as they pass.
//!
//! Faults are applied by the run loop between turmoil steps, at their planned time: crashes
//! and restarts (`Sim::crash` / `Sim::bounce`), partitions, latency and loss, the fakes'
//! fault knobs, killed DB connections, and the dispatcher's duplicate / delay / reorder /
//! early-delivery knobs.
//!
//! The world is spread over one file per concept: `sim::shared` (the clock and what every
//! host shares), `sim::services` (Stripe and Clerk hosts), [`super::apps`] and
//! [`super::env`] (the app replicas and what they see), [`super::actors`] (the browsers),
//! [`super::dispatch`] (webhooks and reconcile), `sim::chaos` (faults); this file holds the
//! run loop.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::actors::browser_step;
use super::apps::app_handler;
use super::chaos::{apply_fault, Pending};
use super::dbhost::{serve_db, DbShared};
use super::dispatch::dispatcher;
use super::env::new_env;
use super::faults::{Fault, TimedFault};
use super::input::RunInput;
use super::net::serve;
use super::services::{clerk_handler, stripe_handler};
use super::shared::{Arrival, CallBound};
use super::shared::{WebhookKnobs, WorldClock, WorldShared};
use super::timers::TimerBook;
use super::trace::{Trace, TraceKind, TraceLog};
use crate::app::api::AppLogic;
use crate::oracle::{builtin_invariants, check, Invariant, Phase, Violation, WorldView};
use crate::rng::SimRng;
use crate::setup::prepare;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::time::SimTime;
use crate::trigger::{Seen, TraceMemory, Trigger, TriggerState, TriggerWatch};
use crate::vocabulary::Flow;

/// The HTTP port every host serves on.
pub const HTTP_PORT: u16 = 80;
/// Webhook retry gaps are divided by this (see the module docs).
pub const RETRY_TIME_COMPRESSION: u32 = 10_000;
/// Processing time of one Stripe or Clerk request, in ms (drawn per request).
pub const SERVICE_PROCESSING_MS: (u64, u64) = (1, 20);
/// The app's timeout for one call to Stripe or Clerk.
pub const SERVICE_TIMEOUT: Duration = Duration::from_secs(10);
/// The dispatcher's timeout for one webhook delivery.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Simulated time with nothing active and nothing new after which the world is quiescent.
pub const QUIET_MS: u64 = 20;
/// Simulated time after which a run that is not quiescent is an error.
pub const SIMULATION_LIMIT: Duration = Duration::from_secs(3_600);
/// Most turmoil steps one run may take.
pub const STEPS_MAX: u64 = 5_000_000;
/// Most webhook deliveries (events × endpoints) one run may start.
pub const DELIVERIES_MAX: usize = 10_000;
/// The shift a `time_jump_25h` fault applies to the services' clocks.
pub const TIME_JUMP: Duration = Duration::from_secs(25 * 3600);

/// What one run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Every request, response, event, statement, fault.
    pub trace: Trace,
    /// Stable hash of the trace.
    pub trace_hash: u64,
    /// The world at the end (after reconcile).
    pub view: WorldView,
    /// Violations of `Always` invariants seen during the run (first time each), with when.
    pub always_violations: Vec<(SimTime, Violation)>,
    /// Violations at quiescence (all invariants).
    pub quiescence_violations: Vec<Violation>,
    /// The simulation failed (step limit, not quiescent, setup).
    pub sim_error: Option<String>,
    /// turmoil steps the run took (a jump over idle time is one step).
    pub steps: u64,
    /// Why the run did not play all its input says (a pay step with no session to pay, a
    /// delivery dropped past [`DELIVERIES_MAX`]); empty for a complete run. A run without
    /// violations that is incomplete proves nothing: its seed is inconclusive.
    pub incomplete: Vec<String>,
    /// Times a host's software ran in a step (idle hosts are skipped).
    pub host_runs: u64,
}

impl RunOutcome {
    /// Every violation found, during the run or at the end, deduplicated by invariant.
    pub fn violations(&self) -> Vec<Violation> {
        let mut all: Vec<Violation> = self.always_violations.iter().map(|(_, v)| v.clone()).collect();
        for v in &self.quiescence_violations {
            if !all.iter().any(|a| a.invariant == v.invariant) {
                all.push(v.clone());
            }
        }
        all
    }
}

/// What the dispatcher watches; a change rings its bell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DispatchFingerprint {
    stripe_events: usize,
    clerk_events: u64,
    browsers_active: usize,
    deliveries_active: usize,
}

/// What changes when the world changes, cheap enough to read after every turmoil step; a
/// change re-checks the `Always` invariants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WorldFingerprint {
    stripe_changes: (usize, usize),
    clerk_changes: (u64, usize, usize),
    db_committed_version: u64,
    idempotent_responses: usize,
    facts_version: u64,
}

/// Both fingerprints, read under one lock of each fake.
fn fingerprints(shared: &WorldShared) -> (WorldFingerprint, DispatchFingerprint) {
    let stripe_changes = shared.stripe.lock().change_counts();
    let clerk_changes = shared.clerk.lock().change_counts();
    let db_committed_version = shared.db.db.lock().committed_version();
    let idempotent_responses = shared.idempotent.lock().len();
    let dispatch = DispatchFingerprint {
        stripe_events: stripe_changes.0,
        clerk_events: clerk_changes.0,
        browsers_active: shared.browsers_active.load(Ordering::SeqCst),
        deliveries_active: shared.deliveries_active.load(Ordering::SeqCst),
    };
    let facts_version = shared.facts_version.load(Ordering::SeqCst);
    (
        WorldFingerprint {
            stripe_changes,
            clerk_changes,
            db_committed_version,
            idempotent_responses,
            facts_version,
        },
        dispatch,
    )
}

/// Plays one run to quiescence, checking the built-in invariants.
pub fn run<A: AppLogic>(input: &RunInput, app: Arc<A>) -> RunOutcome {
    run_checked(input, app, &builtin_invariants())
}

/// Plays one run to quiescence, checking `invariants` (each in its phase).
pub fn run_checked<A: AppLogic>(input: &RunInput, app: Arc<A>, invariants: &[Invariant]) -> RunOutcome {
    run_with(input, app, invariants, Stepping::JumpIdle)
}

/// How the run loop advances simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stepping {
    /// 1 ms steps, but one long step over time in which nothing is due (the default).
    JumpIdle,
    /// 1 ms steps throughout (to check that jumping changes nothing).
    EveryTick,
}

/// The one-tick step every run takes unless it jumps.
const TICK: Duration = Duration::from_millis(1);

/// The step that reaches the tick before the next due thing, if that is more than one tick.
///
/// A message due at `t` is handed to its host at the start of the tick that ends at or after
/// `t`, so the jump stops one tick short of it; a timer due at `t` fires inside the tick that
/// ends at `t`, so the jump may end there. `other_due` are the run loop's own dates (the next
/// fault, restart or heal) and the simulation limit.
fn idle_jump(
    sim: &turmoil::Sim<'_>,
    timers: &TimerBook,
    other_due: impl Iterator<Item = Duration>,
) -> Option<Duration> {
    let now = sim.elapsed();
    let ms = |d: Duration| d.as_millis() as u64;
    let mut target_ms: Option<u64> = None;
    let mut due = |at_ms: u64| target_ms = Some(target_ms.map_or(at_ms, |t| t.min(at_ms)));
    if let Some(delay) = sim.next_delivery_in() {
        let at = now + delay;
        let at_ms_ceil = ms(at) + u64::from(at.subsec_nanos() % 1_000_000 != 0);
        due(at_ms_ceil.saturating_sub(1));
    }
    if let Some(at) = timers.earliest() {
        due(ms(at));
    }
    for at in other_due {
        due(ms(at));
    }
    let jump_ms = target_ms?.checked_sub(ms(now))?;
    (jump_ms >= 2).then(|| Duration::from_millis(jump_ms))
}

/// Plays one run to quiescence with the given stepping, checking `invariants`.
pub fn run_with<A: AppLogic>(
    input: &RunInput,
    app: Arc<A>,
    invariants: &[Invariant],
    stepping: Stepping,
) -> RunOutcome {
    let failed = |why: String| RunOutcome {
        trace: Trace::default(),
        trace_hash: 0,
        view: WorldView::default(),
        always_violations: Vec::new(),
        quiescence_violations: Vec::new(),
        sim_error: Some(why),
        steps: 0,
        host_runs: 0,
        incomplete: Vec::new(),
    };
    let prepared = match prepare(input.seed, app.as_ref(), input.users, SimTime::EPOCH) {
        Ok(p) => p,
        Err(e) => return failed(e.to_string()),
    };
    let schema = app.schema();
    let timers = TimerBook::new();
    let clock = WorldClock {
        offset_ms: Arc::new(AtomicU64::new(0)),
        run_loop_ms: Arc::new(AtomicU64::new(0)),
    };
    let shared = Arc::new(WorldShared {
        stripe: Arc::new(Mutex::new(prepared.stripe.clone())),
        clerk: Arc::new(Mutex::new(prepared.clerk.clone())),
        db: DbShared {
            db: Arc::new(Mutex::new(prepared.db.clone())),
            owners: Arc::new(Mutex::new(Vec::new())),
            timers: timers.clone(),
            clock: Arc::new(clock.clone()),
            resets: Arc::new(Mutex::new(BTreeMap::new())),
        },
        trace: TraceLog::default(),
        clock,
        rng: Mutex::new(SimRng::new(input.seed, "world")),
        prepared,
        deliveries: Mutex::new(BTreeMap::new()),
        idempotent: Mutex::new(Vec::new()),
        knobs: Mutex::new(WebhookKnobs::default()),
        faults_unsettled: AtomicUsize::new(input.faults.len()),
        fault_events: AtomicU64::new(0),
        fault_windows_open: AtomicUsize::new(0),
        answered: Mutex::new(Vec::new()),
        tables: app.tables(),
        browsers_active: AtomicUsize::new(input.actors.iter().map(|a| a.steps.len()).sum()),
        deliveries_active: AtomicUsize::new(0),
        sessions: Mutex::new(BTreeMap::new()),
        steps_done: Mutex::new(BTreeSet::new()),
        incomplete: Mutex::new(Vec::new()),
        arrivals: Mutex::new(Vec::new()),
        has_call_bound: input.faults.iter().any(is_call_bound_service_fault),
        record_arrivals: input.faults.iter().any(|f| {
            !is_call_bound_service_fault(f) && f.trigger.as_ref().is_some_and(Trigger::watches_calls)
        }),
        call_bound: Mutex::new(
            input
                .faults
                .iter()
                .filter(|f| is_call_bound_service_fault(f))
                .map(|f| CallBound {
                    fault: f.clone(),
                    seen: 0,
                })
                .collect(),
        ),
        signups_handled: Mutex::new(std::collections::BTreeSet::new()),
        facts_version: AtomicU64::new(0),
        replicas: input.replicas,
        timers,
        dispatch_bell: tokio::sync::Notify::new(),
    });

    let mut sim = turmoil::Builder::new()
        .rng_seed(input.seed)
        .epoch(std::time::UNIX_EPOCH + Duration::from_millis(SimTime::EPOCH.unix_ms()))
        .min_message_latency(Duration::from_millis(input.latency_ms.0))
        .max_message_latency(Duration::from_millis(input.latency_ms.1.max(input.latency_ms.0)))
        .fail_rate(input.loss)
        .tick_duration(TICK)
        .simulation_duration(SIMULATION_LIMIT)
        .build();

    {
        let s = shared.clone();
        sim.host("stripe", move || {
            let s = s.clone();
            async move { serve(HTTP_PORT, move |r| stripe_handler(s.clone(), r)).await }
        });
        let s = shared.clone();
        sim.host("clerk", move || {
            let s = s.clone();
            async move { serve(HTTP_PORT, move |r| clerk_handler(s.clone(), r)).await }
        });
        let s = shared.clone();
        sim.host("postgres", move || {
            let s = s.clone();
            async move { serve_db(s.db.clone(), s.trace.clone()).await }
        });
    }
    for replica in 1..=input.replicas.max(1) {
        let name = format!("app-{replica}");
        let s = shared.clone();
        let app = app.clone();
        let host_name = name.clone();
        let incarnations = AtomicU64::new(0);
        sim.host(name.as_str(), move || {
            let incarnation = incarnations.fetch_add(1, Ordering::Relaxed);
            let env = Arc::new(new_env(&s, &host_name, incarnation));
            let app = app.clone();
            async move { serve(HTTP_PORT, move |r| app_handler(app.clone(), env.clone(), r)).await }
        });
    }
    for (index, actor) in input.actors.iter().enumerate() {
        let Some(user) = shared.prepared.users.get(actor.user as usize) else {
            return failed(format!(
                "actor {index} names user {} of {}",
                actor.user + 1,
                input.users
            ));
        };
        let user_id = user.user_id.clone();
        let steps = actor.steps.clone();
        let s = shared.clone();
        let name = format!("browser-{}", index + 1);
        let client_name = name.clone();
        sim.client(client_name.as_str(), async move {
            let mut handles = Vec::new();
            // A pay step waits for the actor's earlier checkout / apply_coupon steps (a person
            // pays on the page the checkout opened), so it is never skipped for being early.
            let session_steps: Vec<(usize, u64)> = steps
                .iter()
                .enumerate()
                .filter(|(_, step)| matches!(step.flow, Flow::Checkout | Flow::ApplyCoupon))
                .map(|(n, step)| (n, step.at_ms))
                .collect();
            for (n, step) in steps.into_iter().enumerate() {
                let s = s.clone();
                let user_id = user_id.clone();
                let step_name = format!("{name}.{}", n + 1);
                let waits_for: Vec<usize> = if step.flow == Flow::Pay {
                    session_steps
                        .iter()
                        .filter(|(_, at_ms)| *at_ms <= step.at_ms)
                        .map(|(earlier, _)| *earlier)
                        .collect()
                } else {
                    Vec::new()
                };
                handles.push(tokio::task::spawn_local(async move {
                    browser_step(s.clone(), index, user_id, step, step_name, &waits_for).await;
                    s.steps_done.lock().insert((index, n));
                    s.browsers_active.fetch_sub(1, Ordering::SeqCst);
                }));
            }
            for handle in handles {
                let _ = handle.await;
            }
            Ok(())
        });
    }
    {
        let s = shared.clone();
        sim.client("webhooks", async move {
            dispatcher(s).await;
            Ok(())
        });
    }

    let host_addrs: Vec<(String, std::net::IpAddr)> = {
        let mut names = vec!["stripe".to_string(), "clerk".to_string(), "postgres".to_string()];
        names.extend((1..=input.replicas.max(1)).map(|r| format!("app-{r}")));
        names.extend((1..=input.actors.len()).map(|i| format!("browser-{i}")));
        names.push("webhooks".to_string());
        names
            .into_iter()
            .map(|name| {
                let addr = sim.lookup(name.as_str());
                (name, addr)
            })
            .collect()
    };
    let (mut faults, bound): (Vec<TimedFault>, Vec<TimedFault>) =
        input.faults.iter().cloned().partition(|f| f.trigger.is_none());
    faults.sort_by_key(|f| f.at_ms);
    let mut next_fault = 0usize;
    let mut watches: Vec<(TimedFault, TriggerWatch)> = bound
        .into_iter()
        .filter(|f| !is_call_bound_service_fault(f))
        .filter_map(|f| f.trigger.clone().map(|t| (f, TriggerWatch::new(t))))
        .collect();
    let mut trace_memory = TraceMemory::default();
    let mut trace_scanned = 0usize;
    let mut arrivals_scanned = 0usize;
    let mut pending: Vec<(u64, Pending)> = Vec::new();
    let mut always_violations: Vec<(SimTime, Violation)> = Vec::new();
    let (mut fingerprint, mut dispatch_seen) = fingerprints(&shared);
    let mut sim_error = None;
    let mut steps = 0u64;
    loop {
        let elapsed_ms = sim.elapsed().as_millis() as u64;
        shared.clock.run_loop_ms.store(elapsed_ms, Ordering::SeqCst);
        while next_fault < faults.len() && faults[next_fault].at_ms <= elapsed_ms {
            let fault = faults[next_fault].clone();
            apply_fault(&mut sim, &shared, &fault.fault, fault.at_ms, &mut pending);
            next_fault += 1;
        }
        if watches.iter().any(|(_, watch)| !watch.is_done()) {
            // The trace first (a request is sent before it can arrive), then the arrivals.
            trace_scanned = shared.trace.for_each_from(trace_scanned, |event| {
                trace_memory.observe(event);
                for (fault, watch) in watches.iter_mut() {
                    if fault.at_ms <= elapsed_ms {
                        watch.feed(Seen::Trace(event), &trace_memory);
                    }
                }
            });
            let arrivals: Vec<Arrival> = {
                let all = shared.arrivals.lock();
                all.get(arrivals_scanned..).unwrap_or_default().to_vec()
            };
            arrivals_scanned += arrivals.len();
            for (service, method, path) in &arrivals {
                let sender = trace_memory.arrived(service, method, path).unwrap_or_default();
                let seen = Seen::Arrival {
                    sender: &sender,
                    service,
                    method,
                    path,
                };
                for (fault, watch) in watches.iter_mut() {
                    if fault.at_ms <= elapsed_ms {
                        watch.feed(seen, &trace_memory);
                    }
                }
            }
            for (fault, watch) in watches.iter_mut() {
                match watch.settle() {
                    TriggerState::Waiting => {}
                    TriggerState::Fired { replica } => {
                        shared.push(
                            "chaos",
                            TraceKind::Note {
                                text: format!("trigger `{}` reached on {replica}", watch.trigger()),
                            },
                        );
                        let aimed = fault.aimed_at(&replica);
                        apply_fault(&mut sim, &shared, &aimed, elapsed_ms, &mut pending);
                        // The next step was sized and its idle hosts chosen before this fault:
                        // make it a plain tick with every host running, as a timed fault's is.
                        sim.set_tick_duration(TICK);
                        sim.set_idle_hosts(Vec::new());
                    }
                    TriggerState::Missed => shared.push(
                        "chaos",
                        TraceKind::Note {
                            text: format!(
                                "trigger `{}`: its window closed within one step; fault not applied",
                                watch.trigger()
                            ),
                        },
                    ),
                }
            }
        }
        pending.sort_by_key(|(at, _)| *at);
        while pending.first().is_some_and(|(at, _)| *at <= elapsed_ms) {
            let (_, action) = pending.remove(0);
            shared.fault_events.fetch_add(1, Ordering::SeqCst);
            match action {
                Pending::Restart(host) => {
                    sim.bounce(host.as_str());
                    shared.push(&host, TraceKind::Restart);
                }
                Pending::Heal(a, b) => {
                    sim.repair(a.as_str(), b.as_str());
                    shared.push(
                        "chaos",
                        TraceKind::Fault {
                            description: format!("healed {a} <-> {b}"),
                        },
                    );
                    // What crossed the partition is lost for good (no retransmission): the
                    // database connections across it are reset (see `reset_connections_of`).
                    let db_peer = match (a.as_str(), b.as_str()) {
                        ("postgres", peer) | (peer, "postgres") => Some(peer.to_string()),
                        _ => None,
                    };
                    if let Some(peer) = db_peer {
                        let reset = shared.db.reset_connections_of(&peer);
                        if reset > 0 {
                            shared.push(
                                "chaos",
                                TraceKind::Fault {
                                    description: format!(
                                        "reset {reset} database connection(s) of {peer} that crossed the partition"
                                    ),
                                },
                            );
                        }
                    }
                }
            }
        }
        shared
            .faults_unsettled
            .store(faults.len() - next_fault + pending.len(), Ordering::SeqCst);
        shared.fault_windows_open.store(pending.len(), Ordering::SeqCst);
        steps += 1;
        if steps > STEPS_MAX {
            sim_error = Some(format!(
                "no quiescence after {STEPS_MAX} steps (hint: a retry loop without a limit?)"
            ));
            break;
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                sim_error = Some(format!("simulation failed at {:?}: {e}", sim.elapsed()));
                break;
            }
        }
        // The dispatcher sleeps until something it watches changes; once rung it runs in the
        // next step, so that step is a plain tick.
        let (now_fingerprint, dispatch_now) = fingerprints(&shared);
        let rang = dispatch_now != dispatch_seen;
        if rang {
            dispatch_seen = dispatch_now;
            shared.dispatch_bell.notify_one();
        }
        // A host woken outside the network (a connect accepted) runs in the next step.
        let woken = sim.has_woken_hosts();
        let jump = match stepping {
            Stepping::JumpIdle if !rang && !woken => {
                let other_due = std::iter::once(SIMULATION_LIMIT)
                    .chain(faults.get(next_fault).map(|f| Duration::from_millis(f.at_ms)))
                    .chain(pending.iter().map(|(at, _)| Duration::from_millis(*at)));
                idle_jump(&sim, &shared.timers, other_due)
            }
            _ => None,
        };
        let tick = jump.unwrap_or(TICK);
        sim.set_tick_duration(tick);
        if stepping == Stepping::JumpIdle {
            // Hosts with no timer due in the next step (and, for the dispatcher, not just
            // rung) need not run in it unless a message reaches them.
            let step_end = sim.elapsed() + tick + TICK;
            if let Some(due) = shared.timers.hosts_due_before(step_end) {
                let idle: Vec<std::net::IpAddr> = host_addrs
                    .iter()
                    .filter(|(name, addr)| !(due.contains(addr) || (rang && name == "webhooks")))
                    .map(|(_, addr)| *addr)
                    .collect();
                sim.set_idle_hosts(idle);
            }
        }
        if now_fingerprint != fingerprint {
            fingerprint = now_fingerprint;
            let view = shared.view(input, &schema);
            for violation in check(invariants, &view, Phase::Always) {
                if !always_violations
                    .iter()
                    .any(|(_, v)| v.invariant == violation.invariant)
                {
                    shared
                        .clock
                        .run_loop_ms
                        .store(sim.elapsed().as_millis() as u64, Ordering::SeqCst);
                    let at = shared.now();
                    shared.trace.push(
                        at,
                        "oracle",
                        TraceKind::Note {
                            text: format!("VIOLATION {violation}"),
                        },
                    );
                    always_violations.push((at, violation));
                }
            }
        }
    }
    let host_runs = sim.host_runs();
    drop(sim);
    let view = shared.view(input, &schema);
    let quiescence_violations = if sim_error.is_none() {
        check(invariants, &view, Phase::Quiescence)
    } else {
        Vec::new()
    };
    let trace = shared.trace.snapshot();
    let trace_hash = trace.trace_hash();
    let incomplete = shared.incomplete.lock().clone();
    RunOutcome {
        trace,
        trace_hash,
        view,
        always_violations,
        quiescence_violations,
        sim_error,
        steps,
        host_runs,
        incomplete,
    }
}

/// A service error or lost response bound to a `call`: armed by the call's arrival at the
/// service (in `WorldShared::arm_call_bound`), not by the run loop, so it hits that call.
fn is_call_bound_service_fault(fault: &TimedFault) -> bool {
    matches!(
        fault.fault,
        Fault::ServiceError { .. } | Fault::DropResponse { .. }
    ) && matches!(
        fault.trigger.as_ref().map(|t| &t.on),
        Some(crate::trigger::TriggerEvent::Call { .. })
    )
}
