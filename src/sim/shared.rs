//! What every host of the world and the run loop share: the clock, the fakes, the trace, the
//! world's random draws, the facts the oracle reads besides the fakes, and the dispatcher's
//! fault knobs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::dbhost::DbShared;
use super::faults::Service;
use super::input::RunInput;
use super::timers::TimerBook;
use super::trace::{TraceKind, TraceLog};
use crate::app::api::TableSchema;
use crate::fakes::clerk::Clerk;
use crate::fakes::stripe::Stripe;
use crate::oracle::from_fakes::{note_actor_facts, view_from_fakes};
use crate::oracle::{DeliveryView, IdempotentResponseView, WorldView};
use crate::rng::SimRng;
use crate::setup::Prepared;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::time::{Clock, SimTime};

/// The clock every host reads: simulated elapsed time plus any time-jump fault.
#[derive(Debug, Clone)]
pub(super) struct WorldClock {
    pub(super) offset_ms: Arc<AtomicU64>,
    /// Simulated time as the run loop last saw it, for what happens outside any host (faults).
    pub(super) run_loop_ms: Arc<AtomicU64>,
}

impl WorldClock {
    /// Simulated time and time-jump time passed since `since` (a [`WorldClock::schedule_mark`]).
    pub(super) fn passed_since(&self, since: (Duration, u64)) -> (Duration, Duration) {
        let (elapsed_then, offset_then_ms) = since;
        let (elapsed_now, offset_now_ms) = self.schedule_mark();
        (
            elapsed_now.saturating_sub(elapsed_then),
            Duration::from_millis(offset_now_ms.saturating_sub(offset_then_ms)),
        )
    }

    /// Simulated elapsed time and the time-jump offset now, to measure a schedule from.
    pub(super) fn schedule_mark(&self) -> (Duration, u64) {
        (self.elapsed(), self.offset_ms.load(Ordering::SeqCst))
    }

    /// Simulated time since the start: the current host's, or the run loop's between steps.
    pub(super) fn elapsed(&self) -> Duration {
        turmoil::sim_elapsed()
            .unwrap_or_else(|| Duration::from_millis(self.run_loop_ms.load(Ordering::SeqCst)))
    }
}

impl Clock for WorldClock {
    fn now(&self) -> SimTime {
        let elapsed = self.elapsed();
        SimTime::from_epoch_offset(elapsed) + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// Dispatcher knobs set by webhook faults.
#[derive(Debug, Clone, Default)]
pub(super) struct WebhookKnobs {
    pub(super) duplicate: BTreeMap<Service, u32>,
    pub(super) delay: BTreeMap<Service, (u32, u64)>,
    pub(super) reorder: BTreeMap<Service, u32>,
}

/// A service error or lost response waiting for the `nth` call it is bound to.
#[derive(Debug, Clone)]
pub(super) struct CallBound {
    /// The fault, with its trigger.
    pub(super) fault: super::faults::TimedFault,
    /// Matching calls seen so far.
    pub(super) seen: u32,
}

/// A request a service took: (service host, method, path).
pub type Arrival = (&'static str, String, String);

/// Most arrivals kept per run; later ones are not recorded (a `call` trigger past them never fires).
pub const ARRIVALS_MAX: usize = 100_000;

/// State shared by every host and the run loop.
pub struct WorldShared {
    pub(super) stripe: Arc<Mutex<Stripe>>,
    pub(super) clerk: Arc<Mutex<Clerk>>,
    pub(super) db: DbShared,
    pub(super) trace: TraceLog,
    pub(super) clock: WorldClock,
    pub(super) rng: Mutex<SimRng>,
    pub(super) prepared: Prepared,
    pub(super) deliveries: Mutex<BTreeMap<(Service, String), DeliveryView>>,
    pub(super) idempotent: Mutex<Vec<IdempotentResponseView>>,
    pub(super) knobs: Mutex<WebhookKnobs>,
    pub(super) browsers_active: AtomicUsize,
    pub(super) deliveries_active: AtomicUsize,
    pub(super) sessions: Mutex<BTreeMap<usize, String>>,
    /// Browser steps that have finished: (actor, step index).
    pub(super) steps_done: Mutex<BTreeSet<(usize, usize)>>,
    /// Why this run did not play what its input says (a step skipped, deliveries dropped):
    /// such a run proves nothing, so a seed that has no violation is inconclusive.
    pub(super) incomplete: Mutex<Vec<String>>,
    /// Requests the services took, in order (service, method, path), for `call` triggers: not
    /// in the trace, which records a request where it is sent.
    pub(super) arrivals: Mutex<Vec<Arrival>>,
    /// Whether to record arrivals (only a run with a triggered fault watches them).
    pub(super) record_arrivals: bool,
    /// Service errors and lost responses bound to a `call`: armed by the call's own arrival,
    /// so they hit that very request.
    pub(super) call_bound: Mutex<Vec<CallBound>>,
    /// Whether `call_bound` holds anything (a request then skips its lock).
    pub(super) has_call_bound: bool,
    /// Users whose signup callback some replica began to handle.
    pub(super) signups_handled: Mutex<BTreeSet<String>>,
    /// Moves whenever `deliveries` or `signups_handled` change: they feed the oracle's view,
    /// so a change to them must re-check the `Always` invariants (a custom one may read them).
    pub(super) facts_version: AtomicU64,
    pub(super) replicas: u32,
    /// Browser calls answered with a 2xx, for the outcome invariants.
    pub(super) answered: Mutex<Vec<crate::oracle::AnsweredCall>>,
    /// What the app declared its tables mean.
    pub(super) tables: crate::vocabulary::TableMeanings,
    /// Planned faults not yet applied plus restarts and heals not yet due (the run loop
    /// keeps it current): the reconcile cron waits for it to reach 0 before it retries.
    pub(super) faults_unsettled: AtomicUsize,
    /// Faults applied, healed or restarted so far (the run loop and chaos count them).
    pub(super) fault_events: AtomicU64,
    /// Partitions not yet healed plus crashed hosts not yet restarted (the run loop keeps it).
    pub(super) fault_windows_open: AtomicUsize,
    /// Every live timer of every host (see [`super::timers`]).
    pub(super) timers: Arc<TimerBook>,
    /// Rung by the run loop when the dispatcher has something to look at.
    pub(super) dispatch_bell: tokio::sync::Notify,
}

impl WorldShared {
    pub(super) fn now(&self) -> SimTime {
        self.clock.now()
    }

    pub(super) fn push(&self, host: &str, kind: TraceKind) {
        self.trace.push(self.now(), host, kind);
    }

    pub(super) fn draw(&self, lo: u64, hi: u64) -> u64 {
        self.rng.lock().range_inclusive(lo, hi)
    }

    pub(super) fn pick_replica(&self) -> String {
        format!("app-{}", self.draw(1, u64::from(self.replicas.max(1))))
    }
}

/// What faults are doing at one instant, to tell whether any was in effect in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FaultMark {
    events: u64,
    windows_open: usize,
    service_hits_left: u64,
}

impl FaultMark {
    /// Whether a fault was in effect at either mark or happened between them.
    pub(super) fn touched_since(self, start: FaultMark) -> bool {
        start.windows_open > 0 || self.windows_open > 0 || self != start
    }
}

/// Most reasons one run keeps for being incomplete (the first ones; the count is not kept).
pub(super) const INCOMPLETE_NOTES_MAX: usize = 16;

impl WorldShared {
    /// Records why the run did not play all its input says (the first
    /// [`INCOMPLETE_NOTES_MAX`] reasons), in the trace and for the verdict.
    pub(super) fn note_incomplete(&self, host: &str, text: String) {
        self.push(host, TraceKind::Note { text: text.clone() });
        let mut incomplete = self.incomplete.lock();
        if incomplete.len() < INCOMPLETE_NOTES_MAX {
            incomplete.push(text);
        }
    }

    /// What faults are doing now (see [`FaultMark`]).
    pub(super) fn fault_mark(&self) -> FaultMark {
        let stripe_left: u64 = self
            .stripe
            .lock()
            .faults_mut()
            .rules()
            .map(|rule| u64::from(rule.remaining))
            .sum();
        let clerk_left: u64 = self
            .clerk
            .lock()
            .faults_mut()
            .rules()
            .iter()
            .map(|rule| u64::from(rule.remaining))
            .sum();
        FaultMark {
            events: self.fault_events.load(Ordering::SeqCst),
            windows_open: self.fault_windows_open.load(Ordering::SeqCst),
            service_hits_left: stripe_left + clerk_left,
        }
    }

    /// The oracle's view of the world now: the fakes' state and what the run knows besides.
    pub(super) fn view(&self, input: &RunInput, schema: &[TableSchema]) -> WorldView {
        let mut view = view_from_fakes(
            &self.prepared.users,
            &self.stripe.lock(),
            &self.clerk.lock(),
            &self.db.db.lock(),
            schema,
        );
        view.deliveries = self.deliveries.lock().values().cloned().collect();
        view.idempotent_responses = self.idempotent.lock().clone();
        view.answered = self.answered.lock().clone();
        view.tables = self.tables.clone();
        view.lossy_network = input.loss > 0.0
            || input
                .faults
                .iter()
                .any(|timed| matches!(timed.fault, crate::sim::faults::Fault::Loss { rate } if rate > 0.0));
        note_actor_facts(&mut view, &self.prepared.users, input.actor_steps());
        // A signup that never reached an app (every attempt hit a crashed replica) is a user who
        // did not sign up: nothing could know of them.
        let handled = self.signups_handled.lock();
        view.signed_up.retain(|user_id| handled.contains(user_id));
        drop(handled);
        view
    }
}

impl WorldShared {
    /// Records that `service` took `request` (for `call` triggers).
    pub(super) fn arrived(&self, service: &'static str, request: &crate::http::HttpRequest) {
        self.arm_call_bound(service, request);
        if !self.record_arrivals {
            return;
        }
        let mut arrivals = self.arrivals.lock();
        if arrivals.len() < ARRIVALS_MAX {
            arrivals.push((service, request.method.as_str().to_string(), request.path.clone()));
        }
    }
}

impl WorldShared {
    /// Arms the service faults bound to the call `request` is (before the service begins it, so
    /// the fault hits it). A call-bound service fault counts every sender's calls.
    fn arm_call_bound(&self, service: &str, request: &crate::http::HttpRequest) {
        if !self.has_call_bound {
            return;
        }
        let now_ms = self.clock.run_loop_ms.load(Ordering::SeqCst);
        let method = request.method.as_str();
        let reached: Vec<super::faults::TimedFault> = {
            let mut bound = self.call_bound.lock();
            let mut reached = Vec::new();
            for entry in bound.iter_mut() {
                let Some(trigger) = &entry.fault.trigger else {
                    continue;
                };
                if entry.seen >= trigger.nth
                    || entry.fault.at_ms > now_ms
                    || !trigger.on.is_call_to(service, method, &request.path)
                {
                    continue;
                }
                entry.seen += 1;
                if entry.seen == trigger.nth {
                    reached.push(entry.fault.clone());
                }
            }
            reached
        };
        for fault in reached {
            if let Some(trigger) = &fault.trigger {
                self.push(
                    "chaos",
                    TraceKind::Note {
                        text: format!("trigger `{trigger}` reached at {service}"),
                    },
                );
            }
            super::chaos::arm_service_fault(self, &fault.fault);
        }
    }
}
