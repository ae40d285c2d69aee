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

/// One step with its start time fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedStep {
    /// The flow (see [`crate::scenario::FLOWS`]).
    pub flow: String,
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
                flow: step.flow.as_str(),
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
                    flow: step.flow.clone(),
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
    let mut planned: Vec<PlannedFault> = scenario.fault_plan.clone();
    for (kind, rate) in &scenario.fault_rates {
        if !faults_rng.chance(*rate) {
            continue;
        }
        planned.push(random_fault(kind, horizon_ms, scenario.replicas, &mut faults_rng));
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

fn random_fault(kind: &str, horizon_ms: u64, replicas: u32, rng: &mut SimRng) -> PlannedFault {
    let at_ms = rng.range_inclusive(0, horizon_ms);
    let app = format!("app-{}", rng.range_inclusive(1, u64::from(replicas.max(1))));
    let mut fault = PlannedFault {
        at_ms,
        kind: kind.to_string(),
        host: None,
        restart_after_ms: None,
        peer: None,
        heal_after_ms: None,
        count: None,
    };
    match kind {
        "crash" => {
            fault.host = Some(app);
            fault.restart_after_ms = Some(rng.range_inclusive(10, 500));
        }
        "partition" => {
            fault.host = Some(app);
            fault.peer = Some(["postgres", "stripe", "clerk"][rng.index(3)].to_string());
            fault.heal_after_ms = Some(rng.range_inclusive(50, 2_000));
        }
        "db_connection_drop" => fault.host = Some(app),
        "lost_response" => {
            fault.host = Some(if rng.chance(0.5) { "stripe" } else { "clerk" }.to_string());
            fault.count = Some(1);
        }
        "stripe_5xx" | "stripe_429" | "clerk_5xx" | "clerk_429" => {
            fault.count = Some(rng.range_inclusive(1, 3) as u32);
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
    let fault = match planned.kind.as_str() {
        "crash" => Fault::Crash {
            host,
            restart_after_ms: planned.restart_after_ms.unwrap_or(200),
        },
        "partition" => Fault::Partition {
            a: host,
            b: planned.peer.clone().unwrap_or_else(|| "postgres".to_string()),
            heal_after_ms: planned.heal_after_ms.unwrap_or(500),
        },
        "stripe_5xx" => Fault::ServiceError {
            service: Service::Stripe,
            status: 500,
            count,
            path_prefix: String::new(),
        },
        "stripe_429" => Fault::ServiceError {
            service: Service::Stripe,
            status: 429,
            count,
            path_prefix: String::new(),
        },
        "clerk_5xx" => Fault::ServiceError {
            service: Service::Clerk,
            status: 500,
            count,
            path_prefix: String::new(),
        },
        "clerk_429" => Fault::ServiceError {
            service: Service::Clerk,
            status: 429,
            count,
            path_prefix: String::new(),
        },
        "lost_response" => Fault::DropResponse {
            service,
            count,
            path_prefix: String::new(),
        },
        "db_connection_drop" => Fault::DbConnectionDrop { host },
        "webhook_duplicate" => Fault::WebhookDuplicate { service, count },
        "webhook_reorder" => Fault::WebhookReorder { service, count },
        "webhook_delay" => Fault::WebhookDelay {
            service,
            count,
            delay_ms: planned.heal_after_ms.unwrap_or(2_000),
        },
        "webhook_early" => Fault::WebhookBeforeResponse { service, count },
        _ => Fault::TimeJump { hours: 25 },
    };
    TimedFault {
        at_ms: planned.at_ms,
        fault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
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
}
