//! A run's complete, explicit input: what a replay token carries and what the shrinker edits.
//!
//! [`resolve`] turns a scenario and a seed into a [`RunInput`]: step times drawn from their
//! ranges and random faults drawn from their rates, all with the seed. From then on nothing
//! is drawn again: the run is a function of the `RunInput` alone (the seed also seeds the
//! network's latencies and the services' processing times inside the world).

use serde::{Deserialize, Serialize};

use super::faults::{Fault, Service, TimedFault};
use crate::oracle::from_fakes::ActorStep;
use crate::rng::SimRng;
use crate::scenario::{PlannedFault, Scenario};
use crate::trigger::{Trigger, TriggerEvent};
use crate::vocabulary::{FaultKind, Flow};

/// One step with its start time fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedStep {
    /// What the step does.
    pub flow: Flow,
    /// Start, in ms after the run starts.
    pub at_ms: u64,
    /// 0-based replica, or `None` for the load balancer.
    pub replica: Option<u32>,
    /// Coupon typed.
    pub coupon: Option<String>,
    /// Plan slug.
    pub plan: Option<String>,
    /// Attempts (1 = no retry).
    pub attempts: u32,
    /// Client timeout per attempt.
    pub timeout_ms: u64,
}

/// One actor with its steps resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedActor {
    /// 0-based user index.
    pub user: u32,
    /// Steps.
    pub steps: Vec<ResolvedStep>,
}

/// Everything one run derives from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInput {
    /// Scenario name.
    pub scenario: String,
    /// Strategy id.
    pub strategy: String,
    /// The seed (network latencies, processing times, load balancing inside the world).
    pub seed: u64,
    /// Users at the start.
    pub users: u32,
    /// App replicas.
    pub replicas: u32,
    /// Latency range.
    pub latency_ms: (u64, u64),
    /// Message loss.
    pub loss: f64,
    /// Actors.
    pub actors: Vec<ResolvedActor>,
    /// Faults (explicit and drawn from rates), in time order.
    pub faults: Vec<TimedFault>,
}

impl RunInput {
    /// Every step of every actor, in order, as the oracle reads them.
    pub fn actor_steps(&self) -> impl Iterator<Item = ActorStep<'_>> {
        self.actors.iter().flat_map(|actor| {
            actor.steps.iter().map(move |step| ActorStep {
                user: actor.user,
                flow: step.flow,
                plan: step.plan.as_deref(),
            })
        })
    }
}

/// The latest time a random fault may be planned at, after the last step starts.
pub const FAULT_HORIZON_AFTER_LAST_STEP_MS: u64 = 1_000;

/// Draws a run's input from a scenario and a seed.
pub fn resolve(scenario: &Scenario, strategy: &str, seed: u64) -> RunInput {
    let mut timing = SimRng::new(seed, "timing");
    let actors: Vec<ResolvedActor> = scenario
        .actors
        .iter()
        .map(|actor| ResolvedActor {
            user: actor.user,
            steps: actor
                .steps
                .iter()
                .map(|step| ResolvedStep {
                    flow: step.flow,
                    at_ms: timing.range_inclusive(step.at_ms.0, step.at_ms.1),
                    replica: step.replica,
                    coupon: step.coupon.clone(),
                    plan: step.plan.clone(),
                    attempts: step.attempts,
                    timeout_ms: step.timeout_ms,
                })
                .collect(),
        })
        .collect();
    let last_step_ms = actors
        .iter()
        .flat_map(|a| a.steps.iter().map(|s| s.at_ms))
        .max()
        .unwrap_or(0);
    let horizon_ms = last_step_ms + FAULT_HORIZON_AFTER_LAST_STEP_MS;
    let mut faults_rng = SimRng::new(seed, "faults");
    let mut triggers_rng = SimRng::new(seed, "triggers");
    let flows: Vec<Flow> = actors
        .iter()
        .flat_map(|a| a.steps.iter().map(|s| s.flow))
        .collect();
    let swarm = swarm_subset(scenario, seed);
    let mut planned: Vec<PlannedFault> = scenario.fault_plan.clone();
    for (kind, rate) in &scenario.fault_rates {
        if !swarm.contains(kind) || !faults_rng.chance(*rate) {
            continue;
        }
        let mut draws = SeededDraws {
            rng: &mut faults_rng,
            horizon_ms,
        };
        let mut fault = random_fault(*kind, scenario.replicas, &mut draws);
        if triggers_rng.chance(EVENT_BOUND_CHANCE) {
            if let Some(trigger) = random_trigger(&fault, &flows, &mut triggers_rng) {
                fault.at_ms = 0;
                if matches!(
                    kind,
                    FaultKind::Crash | FaultKind::Partition | FaultKind::DbConnectionDrop
                ) {
                    fault.host = None;
                }
                fault.on = Some(trigger);
            }
        }
        planned.push(fault);
    }
    let mut faults: Vec<TimedFault> = planned.iter().map(to_timed).collect();
    faults.sort_by_key(|f| f.at_ms);
    RunInput {
        scenario: scenario.name.clone(),
        strategy: strategy.to_string(),
        seed,
        users: scenario.users,
        replicas: scenario.replicas,
        latency_ms: scenario.latency_ms,
        loss: scenario.loss,
        actors,
        faults,
    }
}

/// The chance that a fault drawn from a rate is bound to an event instead of a time.
pub const EVENT_BOUND_CHANCE: f64 = 0.5;
/// The chance that each of a scenario's random fault kinds is enabled in a seed (swarm testing).
pub const SWARM_KIND_CHANCE: f64 = 0.5;
/// Most occurrences a random trigger counts to, for calls, answers and webhooks.
pub const RANDOM_TRIGGER_NTH_MAX: u64 = 2;
/// Most occurrences a random trigger counts to, for DB statements.
pub const RANDOM_TRIGGER_STATEMENTS_MAX: u64 = 10;

/// The chance that a seed keeps all of a scenario's random fault kinds (no swarm subset), so
/// races that need two kinds together stay as likely as without swarm testing in half the seeds.
pub const SWARM_ALL_KINDS_CHANCE: f64 = 0.5;

/// The fault kinds a seed may draw (swarm testing): with two or more kinds of non-zero rate,
/// half the seeds keep them all ([`SWARM_ALL_KINDS_CHANCE`]) and the others enable each with
/// [`SWARM_KIND_CHANCE`] (at least one), so some seeds run with kinds that would otherwise
/// mask each other left out; with fewer kinds, all of them.
pub fn swarm_subset(scenario: &Scenario, seed: u64) -> Vec<FaultKind> {
    let kinds: Vec<FaultKind> = scenario
        .fault_rates
        .iter()
        .filter(|(_, rate)| **rate > 0.0)
        .map(|(kind, _)| *kind)
        .collect();
    if kinds.len() < 2 {
        return kinds;
    }
    let mut rng = SimRng::new(seed, "swarm");
    if rng.chance(SWARM_ALL_KINDS_CHANCE) {
        return kinds;
    }
    let subset: Vec<FaultKind> = kinds
        .iter()
        .copied()
        .filter(|_| rng.chance(SWARM_KIND_CHANCE))
        .collect();
    if subset.is_empty() {
        return vec![kinds[rng.index(kinds.len())]];
    }
    subset
}

/// An event-bound trigger for `fault`, drawn among the events `flows` produce (no pre-run):
/// a service error hits a call to its service, a lost response a `POST`; any other fault, with
/// even odds, the call or answer of an external create, or a webhook taken or DB statement.
/// `None` when the flows produce none it may use.
pub fn random_trigger(fault: &PlannedFault, flows: &[Flow], rng: &mut SimRng) -> Option<Trigger> {
    let mut calls: Vec<(Service, &str)> = Vec::new();
    let mut webhooks: Vec<(Service, &str)> = Vec::new();
    for flow in flows {
        for call in crate::trigger::calls_of(*flow) {
            if !calls.contains(call) {
                calls.push(*call);
            }
        }
        for event in crate::trigger::webhook_events_of(*flow) {
            if !webhooks.contains(event) {
                webhooks.push(*event);
            }
        }
    }
    let only = match fault.kind {
        FaultKind::Stripe5xx | FaultKind::Stripe429 => Some(Service::Stripe),
        FaultKind::Clerk5xx | FaultKind::Clerk429 => Some(Service::Clerk),
        FaultKind::LostResponse => Some(if fault.host.as_deref() == Some("clerk") {
            Service::Clerk
        } else {
            Service::Stripe
        }),
        _ => None,
    };
    let post = |service: Service, path: &str| TriggerEvent::Call {
        service,
        method: Some("POST".to_string()),
        path_prefix: path.to_string(),
    };
    // Two pools: the windows around an external create (its call and its answer), where most
    // races live, and everything else; each gets half the draws when both have candidates.
    let mut candidates: Vec<(TriggerEvent, u64)> = Vec::new();
    let mut others: Vec<(TriggerEvent, u64)> = Vec::new();
    for (service, path) in &calls {
        if only.is_some_and(|s| s != *service) {
            continue;
        }
        candidates.push((post(*service, path), RANDOM_TRIGGER_NTH_MAX));
        if only.is_none() {
            candidates.push((
                TriggerEvent::Answer {
                    service: *service,
                    method: Some("POST".to_string()),
                    path_prefix: path.to_string(),
                },
                RANDOM_TRIGGER_NTH_MAX,
            ));
        }
    }
    if only.is_none() {
        for (service, event_type) in &webhooks {
            others.push((
                TriggerEvent::Webhook {
                    service: *service,
                    event_type: event_type.to_string(),
                },
                RANDOM_TRIGGER_NTH_MAX,
            ));
        }
        others.push((
            TriggerEvent::Statement { sql: String::new() },
            RANDOM_TRIGGER_STATEMENTS_MAX,
        ));
    }
    if candidates.is_empty() || (!others.is_empty() && rng.chance(0.5)) {
        candidates = others;
    }
    if candidates.is_empty() {
        return None;
    }
    let (on, nth_max) = candidates.swap_remove(rng.index(candidates.len()));
    Some(Trigger::first(on).nth(rng.range_inclusive(1, nth_max) as u32))
}

/// How long a crashed replica stays down, in ms (a random crash's range).
pub const CRASH_RESTART_MS: (u64, u64) = (10, 500);
/// How long a random partition lasts, in ms.
pub const PARTITION_HEAL_MS: (u64, u64) = (50, 2_000);
/// The peers a random partition cuts an app replica from.
pub const PARTITION_PEERS: [&str; 3] = ["postgres", "stripe", "clerk"];
/// Most requests or events a random service fault hits.
pub const FAULT_COUNT_MAX: u32 = 3;
/// How late a random webhook delay makes deliveries, in ms.
pub const WEBHOOK_DELAY_MS: (u64, u64) = (100, 5_000);

/// Where [`random_fault`]'s parameters come from: exploration's seeded stream ([`resolve`])
/// or a fuzzer's bytes (`racehound::fuzz`'s `reference_schedule`).
///
/// [`random_fault`] asks for the time, then the replica, then what the kind needs, in that
/// order; a source decides how each is drawn, and may keep a default by answering `None`.
pub trait FaultDraws {
    /// When the fault happens, in ms after the run starts.
    fn at_ms(&mut self) -> u64;
    /// The app replica a fault may target, in `1..=replicas` (`replicas` at least 1).
    fn replica(&mut self, replicas: u32) -> u32;
    /// A crash's restart delay, within `range` (inclusive).
    fn restart_after_ms(&mut self, range: (u64, u64)) -> u64;
    /// A partition's peer, an index below `peers`.
    fn peer(&mut self, peers: usize) -> usize;
    /// A partition's duration, within `range` (inclusive).
    fn heal_after_ms(&mut self, range: (u64, u64)) -> u64;
    /// The service a `lost_response` or webhook fault hits; `None` leaves it unset (Stripe).
    fn service(&mut self, kind: FaultKind) -> Option<Service>;
    /// How many requests or events a service or webhook fault hits, in `1..=max`; `None`
    /// leaves it unset (1).
    fn count(&mut self, kind: FaultKind, max: u32) -> Option<u32>;
    /// A webhook delay, within `range`; `None` leaves it unset (2 s).
    fn webhook_delay_ms(&mut self, range: (u64, u64)) -> Option<u64>;
}

/// Exploration's draws: a seeded stream, times up to a horizon. Of the service and count it
/// draws only a `lost_response`'s service and a service error's count, and no webhook delay:
/// what it always drew, so a seed keeps its fault plan.
struct SeededDraws<'a> {
    rng: &'a mut SimRng,
    horizon_ms: u64,
}

impl FaultDraws for SeededDraws<'_> {
    fn at_ms(&mut self) -> u64 {
        self.rng.range_inclusive(0, self.horizon_ms)
    }

    fn replica(&mut self, replicas: u32) -> u32 {
        self.rng.range_inclusive(1, u64::from(replicas.max(1))) as u32
    }

    fn restart_after_ms(&mut self, (lo, hi): (u64, u64)) -> u64 {
        self.rng.range_inclusive(lo, hi)
    }

    fn peer(&mut self, peers: usize) -> usize {
        self.rng.index(peers)
    }

    fn heal_after_ms(&mut self, (lo, hi): (u64, u64)) -> u64 {
        self.rng.range_inclusive(lo, hi)
    }

    fn service(&mut self, kind: FaultKind) -> Option<Service> {
        (kind == FaultKind::LostResponse).then(|| {
            if self.rng.chance(0.5) {
                Service::Stripe
            } else {
                Service::Clerk
            }
        })
    }

    fn count(&mut self, kind: FaultKind, max: u32) -> Option<u32> {
        match kind {
            FaultKind::Stripe5xx | FaultKind::Stripe429 | FaultKind::Clerk5xx | FaultKind::Clerk429 => {
                Some(self.rng.range_inclusive(1, u64::from(max)) as u32)
            }
            FaultKind::LostResponse => Some(1),
            _ => None,
        }
    }

    fn webhook_delay_ms(&mut self, _range: (u64, u64)) -> Option<u64> {
        None
    }
}

/// A fault of `kind` (one of [`crate::scenario::FAULT_KINDS`]) with its parameters drawn from
/// `draws`: the one random-fault generator, for exploration and fuzzing alike. A crash,
/// partition or DB connection drop hits an app replica (`app-1`…`app-<replicas>`); a service
/// error has a count; a lost response or webhook fault a service and a count, a webhook
/// delay also its delay; a time jump has no parameter.
pub fn random_fault(kind: FaultKind, replicas: u32, draws: &mut impl FaultDraws) -> PlannedFault {
    let at_ms = draws.at_ms();
    let app = format!("app-{}", draws.replica(replicas.max(1)));
    let mut fault = PlannedFault::new(kind, at_ms);
    match kind {
        FaultKind::Crash => {
            fault.host = Some(app);
            fault.restart_after_ms = Some(draws.restart_after_ms(CRASH_RESTART_MS));
        }
        FaultKind::Partition => {
            fault.host = Some(app);
            let peer = draws.peer(PARTITION_PEERS.len());
            fault.peer = PARTITION_PEERS.get(peer).map(|p| p.to_string());
            fault.heal_after_ms = Some(draws.heal_after_ms(PARTITION_HEAL_MS));
        }
        FaultKind::DbConnectionDrop => fault.host = Some(app),
        FaultKind::Stripe5xx | FaultKind::Stripe429 | FaultKind::Clerk5xx | FaultKind::Clerk429 => {
            fault.count = draws.count(kind, FAULT_COUNT_MAX);
        }
        FaultKind::LostResponse
        | FaultKind::WebhookDuplicate
        | FaultKind::WebhookReorder
        | FaultKind::WebhookEarly
        | FaultKind::WebhookDelay => {
            fault.host = draws.service(kind).map(|s| s.host().to_string());
            fault.count = draws.count(kind, FAULT_COUNT_MAX);
            if kind == FaultKind::WebhookDelay {
                fault.heal_after_ms = draws.webhook_delay_ms(WEBHOOK_DELAY_MS);
            }
        }
        _ => {}
    }
    fault
}

/// The world's fault for a scenario's planned fault.
pub fn to_timed(planned: &PlannedFault) -> TimedFault {
    let count = planned.count.unwrap_or(1);
    let host = planned.host.clone().unwrap_or_else(|| "app-1".to_string());
    let service = if host == "clerk" {
        Service::Clerk
    } else {
        Service::Stripe
    };
    let fault = match planned.kind {
        FaultKind::Crash => Fault::Crash {
            host,
            restart_after_ms: planned.restart_after_ms.unwrap_or(200),
        },
        FaultKind::Partition => Fault::Partition {
            a: host,
            b: planned.peer.clone().unwrap_or_else(|| "postgres".to_string()),
            heal_after_ms: planned.heal_after_ms.unwrap_or(500),
        },
        FaultKind::Stripe5xx => Fault::ServiceError {
            service: Service::Stripe,
            status: 500,
            count,
            path_prefix: String::new(),
        },
        FaultKind::Stripe429 => Fault::ServiceError {
            service: Service::Stripe,
            status: 429,
            count,
            path_prefix: String::new(),
        },
        FaultKind::Clerk5xx => Fault::ServiceError {
            service: Service::Clerk,
            status: 500,
            count,
            path_prefix: String::new(),
        },
        FaultKind::Clerk429 => Fault::ServiceError {
            service: Service::Clerk,
            status: 429,
            count,
            path_prefix: String::new(),
        },
        FaultKind::LostResponse => Fault::DropResponse {
            service,
            count,
            path_prefix: String::new(),
        },
        FaultKind::DbConnectionDrop => Fault::DbConnectionDrop { host },
        FaultKind::WebhookDuplicate => Fault::WebhookDuplicate { service, count },
        FaultKind::WebhookReorder => Fault::WebhookReorder { service, count },
        FaultKind::WebhookDelay => Fault::WebhookDelay {
            service,
            count,
            delay_ms: planned.heal_after_ms.unwrap_or(2_000),
        },
        FaultKind::WebhookEarly => Fault::WebhookBeforeResponse { service, count },
        FaultKind::TimeJump25h => Fault::TimeJump { hours: 25 },
    };
    let trigger = planned.on.clone().map(|mut trigger| {
        trigger.hits_that_replica |= planned.host.is_none()
            && matches!(
                planned.kind,
                FaultKind::Crash | FaultKind::Partition | FaultKind::DbConnectionDrop
            );
        trigger
    });
    // A service fault bound to a call hits that call: its path is the fault's.
    let fault = match (fault, &trigger) {
        (
            Fault::ServiceError {
                service,
                status,
                count,
                path_prefix,
            },
            Some(Trigger {
                on:
                    TriggerEvent::Call {
                        service: called,
                        path_prefix: path,
                        ..
                    },
                ..
            }),
        ) if path_prefix.is_empty() && *called == service => Fault::ServiceError {
            service,
            status,
            count,
            path_prefix: path.clone(),
        },
        (
            Fault::DropResponse {
                count, path_prefix, ..
            },
            Some(Trigger {
                on:
                    TriggerEvent::Call {
                        service: called,
                        path_prefix: path,
                        ..
                    },
                ..
            }),
        ) if path_prefix.is_empty() && planned.host.is_none() => Fault::DropResponse {
            service: *called,
            count,
            path_prefix: path.clone(),
        },
        (fault, _) => fault,
    };
    TimedFault {
        at_ms: planned.at_ms,
        fault,
        trigger,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A checkout and a coupon re-request, with a crash planned in every run (shared with
    /// the shrinker's tests).
    pub(crate) fn scenario() -> Scenario {
        let text = r#"
name = "t"
description = "d"
strategies = ["reference"]
[[actors]]
user = 1
steps = [{ flow = "checkout" }, { flow = "apply_coupon", at_ms = [0, 400], coupon = "SAVE20" }]
[faults.rates]
crash = 1.0
lost_response = 0.0
"#;
        crate::scenario::parse("t.toml", text, &["reference"]).expect("valid")
    }

    #[test]
    fn resolve_is_a_function_of_the_seed() {
        let s = scenario();
        assert_eq!(resolve(&s, "reference", 9), resolve(&s, "reference", 9));
        let differ = (0..20).any(|seed| resolve(&s, "reference", seed) != resolve(&s, "reference", seed + 1));
        assert!(differ);
        let input = resolve(&s, "reference", 3);
        assert_eq!(input.faults.len(), 1, "rate 1.0 always plans one, rate 0.0 never");
        assert!(matches!(input.faults[0].fault, Fault::Crash { .. }));
        assert!(input.actors[0].steps[1].at_ms <= 400);
    }

    fn three_kinds() -> Scenario {
        let text = r#"
name = "t3"
description = "d"
strategies = ["reference"]
[[actors]]
user = 1
steps = [{ flow = "checkout" }, { flow = "pay", at_ms = 400 }]
[faults.rates]
crash = 1.0
lost_response = 1.0
stripe_5xx = 1.0
"#;
        crate::scenario::parse("t3.toml", text, &["reference"]).expect("valid")
    }

    #[test]
    fn swarm_subsets_leave_kinds_out_in_some_seeds_and_keep_all_in_others() {
        let s = three_kinds();
        let sizes: Vec<usize> = (0..200).map(|seed| swarm_subset(&s, seed).len()).collect();
        assert!(sizes.iter().all(|n| (1..=3).contains(n)));
        let all = sizes.iter().filter(|n| **n == 3).count();
        let one = sizes.iter().filter(|n| **n == 1).count();
        assert!(
            (80..=150).contains(&all),
            "about 5/8 keep every kind: {all} of 200"
        );
        assert!(one >= 20, "some seeds run one kind alone: {one} of 200");
        assert_eq!(swarm_subset(&s, 7), swarm_subset(&s, 7));
        // Rates of 1.0: a seed's faults are exactly its subset.
        for seed in 0..50 {
            assert_eq!(
                resolve(&s, "reference", seed).faults.len(),
                swarm_subset(&s, seed).len()
            );
        }
        // One kind: never left out.
        assert!((0..50).all(|seed| swarm_subset(&scenario(), seed) == vec![FaultKind::Crash]));
    }

    #[test]
    fn random_event_bound_faults_name_events_the_scenario_produces() {
        let s = three_kinds();
        let flows = [Flow::Checkout, Flow::Pay];
        let (mut bound, mut timed) = (0, 0);
        for seed in 0..300 {
            let input = resolve(&s, "reference", seed);
            assert_eq!(
                crate::sim::faults::FaultPlan::new(input.faults.clone()).validate(2),
                Ok(())
            );
            for fault in &input.faults {
                let Some(trigger) = &fault.trigger else {
                    timed += 1;
                    continue;
                };
                bound += 1;
                let text = trigger.on.to_string();
                assert_eq!(text.parse::<TriggerEvent>().as_ref(), Ok(&trigger.on), "{text}");
                assert_eq!(
                    crate::trigger::unreachable_in(&trigger.on, &flows),
                    None,
                    "{text}"
                );
                match &fault.fault {
                    Fault::ServiceError { path_prefix, .. } | Fault::DropResponse { path_prefix, .. } => {
                        assert!(text.starts_with("call stripe POST "), "{text}");
                        assert!(
                            text.ends_with(path_prefix.as_str()),
                            "the call's path is the fault's: {text}"
                        );
                    }
                    Fault::Crash { .. } => assert!(trigger.hits_that_replica, "{text}"),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert!(bound > 100 && timed > 100, "{bound} event-bound, {timed} timed");
    }

    #[test]
    fn seeded_random_faults_are_valid_and_keep_webhook_defaults() {
        let mut rng = SimRng::new(1, "faults");
        for kind in FaultKind::ALL {
            let mut draws = SeededDraws {
                rng: &mut rng,
                horizon_ms: 1_000,
            };
            let planned = random_fault(kind, 2, &mut draws);
            assert!(planned.at_ms <= 1_000, "{planned:?}");
            let timed = to_timed(&planned);
            let plan = crate::sim::faults::FaultPlan::new(vec![timed]);
            assert_eq!(plan.validate(2), Ok(()), "{kind}: {planned:?}");
            if kind.as_str().starts_with("webhook_") {
                assert_eq!((planned.host, planned.count), (None, None), "{kind}");
            }
        }
    }
}
