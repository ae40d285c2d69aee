//! A fault plan: a list of timed fault events (random ones are drawn by
//! [`crate::sim::input::random_fault`]).
//!
//! Every element is self-contained (a partition carries its own heal time, a crash its own
//! restart delay), so removing any element still gives a valid plan: the shrinker may drop
//! faults one by one. Times are milliseconds of simulated time after the run starts.

use serde::{Deserialize, Serialize};

/// Most faults one plan may hold.
pub const MAX_FAULTS: usize = 1_000;

pub use crate::trigger::Trigger;
pub use crate::vocabulary::Service;

/// One kind of fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Fault {
    /// Message latency becomes `[min_ms, max_ms]` from now on (turmoil can only change the
    /// maximum after the build; `min_ms` is recorded but the build-time minimum stays).
    Latency {
        /// New minimum (informational).
        min_ms: u64,
        /// New maximum.
        max_ms: u64,
    },
    /// Each message is lost with this probability from now on (TCP connections break).
    Loss {
        /// Probability in `[0, 1]`.
        rate: f64,
    },
    /// Hosts `a` and `b` cannot talk until healed `heal_after_ms` later.
    Partition {
        /// One side.
        a: String,
        /// The other side.
        b: String,
        /// When to heal, after the partition starts.
        heal_after_ms: u64,
    },
    /// A host crashes (process memory lost; in-flight requests fail) and restarts later.
    Crash {
        /// The host, e.g. `app-1`.
        host: String,
        /// Restart delay.
        restart_after_ms: u64,
    },
    /// The next `count` requests to the service (path prefix, empty = any) fail with `status`
    /// (500 or 429), without effect.
    ServiceError {
        /// Which service.
        service: Service,
        /// 500 or 429.
        status: u16,
        /// How many requests.
        count: u32,
        /// Path prefix to match, e.g. `/v1/customers`; empty matches any.
        path_prefix: String,
    },
    /// The next `count` requests execute and commit, then their responses are dropped.
    DropResponse {
        /// Which service.
        service: Service,
        /// How many requests.
        count: u32,
        /// Path prefix to match; empty matches any.
        path_prefix: String,
    },
    /// Every DB connection of `host` is killed (open transactions rolled back).
    DbConnectionDrop {
        /// The app replica, e.g. `app-1`.
        host: String,
    },
    /// The next `count` events of the service are delivered twice (independent deliveries).
    WebhookDuplicate {
        /// Which service.
        service: Service,
        /// How many events.
        count: u32,
    },
    /// The next `count` events are held until a later event of the service was sent first
    /// (or for at most [`REORDER_HOLD_MAX_MS`]).
    WebhookReorder {
        /// Which service.
        service: Service,
        /// How many events.
        count: u32,
    },
    /// The next `count` events start delivery `delay_ms` late.
    WebhookDelay {
        /// Which service.
        service: Service,
        /// How many events.
        count: u32,
        /// Extra delay.
        delay_ms: u64,
    },
    /// The next `count` API requests that emit events hold their response until the first
    /// delivery attempt of those events ended: the webhook arrives before the call returns.
    WebhookBeforeResponse {
        /// Which service.
        service: Service,
        /// How many requests.
        count: u32,
    },
    /// The services' clocks jump forward (idempotency keys and sessions expire).
    TimeJump {
        /// How far.
        hours: u64,
    },
}

impl Fault {
    /// The scenario file's name for this fault's kind (`crash`, `stripe_5xx`, …; `latency` and
    /// `loss` for the network settings, which have no fault kind).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Fault::Crash { .. } => "crash",
            Fault::Partition { .. } => "partition",
            Fault::ServiceError {
                service: Service::Stripe,
                status: 500,
                ..
            } => "stripe_5xx",
            Fault::ServiceError {
                service: Service::Stripe,
                ..
            } => "stripe_429",
            Fault::ServiceError { status: 500, .. } => "clerk_5xx",
            Fault::ServiceError { .. } => "clerk_429",
            Fault::DropResponse { .. } => "lost_response",
            Fault::DbConnectionDrop { .. } => "db_connection_drop",
            Fault::WebhookDuplicate { .. } => "webhook_duplicate",
            Fault::WebhookReorder { .. } => "webhook_reorder",
            Fault::WebhookDelay { .. } => "webhook_delay",
            Fault::WebhookBeforeResponse { .. } => "webhook_early",
            Fault::TimeJump { .. } => "time_jump_25h",
            Fault::Latency { .. } => "latency",
            Fault::Loss { .. } => "loss",
        }
    }
}

/// Longest a reordered event is held waiting for a later one, in ms.
pub const REORDER_HOLD_MAX_MS: u64 = 5_000;

/// A fault at a time, or bound to an event (then `at_ms` is when its trigger starts counting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedFault {
    /// Simulated ms after the run starts.
    pub at_ms: u64,
    /// What happens.
    pub fault: Fault,
    /// The event that sets it off, if it is bound to one ([`crate::trigger`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

impl TimedFault {
    /// `fault` at `at_ms` ms after the start.
    pub fn at(at_ms: u64, fault: Fault) -> Self {
        Self {
            at_ms,
            fault,
            trigger: None,
        }
    }

    /// `fault` when `trigger` fires.
    pub fn on(trigger: Trigger, fault: Fault) -> Self {
        Self {
            at_ms: 0,
            fault,
            trigger: Some(trigger),
        }
    }

    /// The fault as it applies when its trigger fired on `replica`: a crash, partition or
    /// DB connection drop marked to hit "that replica" is aimed at it.
    pub fn aimed_at(&self, replica: &str) -> Fault {
        let mut fault = self.fault.clone();
        if self.trigger.as_ref().is_some_and(|t| t.hits_that_replica) {
            match &mut fault {
                Fault::Crash { host, .. } | Fault::DbConnectionDrop { host } => *host = replica.to_string(),
                Fault::Partition { a, .. } => *a = replica.to_string(),
                _ => {}
            }
        }
        fault
    }
}

/// The faults of one run, in any order (applied in time order, ties in list order).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// The faults.
    pub faults: Vec<TimedFault>,
}

impl FaultPlan {
    /// An empty plan.
    pub fn none() -> Self {
        Self::default()
    }

    /// A plan of the given faults.
    pub fn new(faults: Vec<TimedFault>) -> Self {
        Self { faults }
    }

    /// The faults sorted by time (stable: ties keep list order).
    pub fn sorted(&self) -> Vec<TimedFault> {
        let mut faults = self.faults.clone();
        faults.sort_by_key(|f| f.at_ms);
        faults
    }

    /// The plans with one fault removed each: the shrinker's candidates.
    pub fn shrink_candidates(&self) -> Vec<FaultPlan> {
        (0..self.faults.len())
            .map(|skip| FaultPlan {
                faults: self
                    .faults
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, f)| f.clone())
                    .collect(),
            })
            .collect()
    }

    /// Checks bounds: at most [`MAX_FAULTS`], rates in `[0, 1]`, statuses 500/429, known hosts.
    pub fn validate(&self, replicas: usize) -> Result<(), String> {
        if self.faults.len() > MAX_FAULTS {
            return Err(format!(
                "fault plan has {} faults, more than {MAX_FAULTS} (hint: split the scenario)",
                self.faults.len()
            ));
        }
        let known = |host: &str| {
            matches!(host, "stripe" | "clerk" | "postgres" | "stripe-webhooks" | "svix")
                || host
                    .strip_prefix("app-")
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| (1..=replicas).contains(&n))
        };
        for timed in &self.faults {
            if let Some(host) = timed.trigger.as_ref().and_then(|t| t.host.as_ref()) {
                if !host.starts_with("app-") || !known(host) {
                    return Err(format!(
                        "a trigger counts the events of {host}, which is not an app replica (hint: app-1..app-{replicas})"
                    ));
                }
            }
            if timed
                .trigger
                .as_ref()
                .is_some_and(|t| t.nth == 0 || t.nth > crate::trigger::TRIGGER_NTH_MAX)
            {
                return Err(format!(
                    "a trigger's nth must be between 1 and {}",
                    crate::trigger::TRIGGER_NTH_MAX
                ));
            }
            match &timed.fault {
                Fault::Loss { rate } if !(0.0..=1.0).contains(rate) => {
                    return Err(format!("loss rate {rate} is not in [0, 1]"));
                }
                Fault::Latency { min_ms, max_ms } if max_ms < min_ms => {
                    return Err(format!("latency max {max_ms} ms < min {min_ms} ms"));
                }
                Fault::Partition { a, b, .. } if !known(a) || !known(b) => {
                    return Err(format!(
                        "partition between unknown hosts {a} / {b} (hint: hosts are stripe, clerk, postgres, app-1..app-{replicas})"
                    ));
                }
                Fault::Crash { host, .. } | Fault::DbConnectionDrop { host }
                    if !host.starts_with("app-") || !known(host) =>
                {
                    return Err(format!(
                        "fault targets {host}, which is not an app replica (hint: app-1..app-{replicas})"
                    ));
                }
                Fault::ServiceError { status, .. } if *status != 500 && *status != 429 => {
                    return Err(format!("service error status {status} (hint: use 500 or 429)"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Latency { min_ms, max_ms } => write!(f, "latency {min_ms}..{max_ms} ms"),
            Fault::Loss { rate } => write!(f, "message loss {rate}"),
            Fault::Partition { a, b, heal_after_ms } => {
                write!(f, "partition {a} <-> {b} for {heal_after_ms} ms")
            }
            Fault::Crash {
                host,
                restart_after_ms,
            } => write!(f, "crash {host}, restart after {restart_after_ms} ms"),
            Fault::ServiceError {
                service,
                status,
                count,
                path_prefix,
            } => write!(
                f,
                "{} {status} on next {count} requests {path_prefix}",
                service.host()
            ),
            Fault::DropResponse {
                service,
                count,
                path_prefix,
            } => write!(
                f,
                "{} commits then drops next {count} responses {path_prefix}",
                service.host()
            ),
            Fault::DbConnectionDrop { host } => write!(f, "kill DB connections of {host}"),
            Fault::WebhookDuplicate { service, count } => {
                write!(f, "{} webhooks: duplicate next {count}", service.host())
            }
            Fault::WebhookReorder { service, count } => {
                write!(f, "{} webhooks: reorder next {count}", service.host())
            }
            Fault::WebhookDelay {
                service,
                count,
                delay_ms,
            } => write!(
                f,
                "{} webhooks: delay next {count} by {delay_ms} ms",
                service.host()
            ),
            Fault::WebhookBeforeResponse { service, count } => write!(
                f,
                "{} webhooks: next {count} delivered before the API response",
                service.host()
            ),
            Fault::TimeJump { hours } => write!(f, "service clocks jump {hours} h forward"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_candidates_drop_one_fault_each_and_stay_valid() {
        let a = FaultPlan::new(vec![
            TimedFault {
                at_ms: 10,
                fault: Fault::Crash {
                    host: "app-2".into(),
                    restart_after_ms: 100,
                },
                trigger: None,
            },
            TimedFault {
                at_ms: 5,
                fault: Fault::Partition {
                    a: "app-1".into(),
                    b: "postgres".into(),
                    heal_after_ms: 50,
                },
                trigger: None,
            },
            TimedFault {
                at_ms: 5,
                fault: Fault::WebhookDelay {
                    service: Service::Clerk,
                    count: 2,
                    delay_ms: 100,
                },
                trigger: None,
            },
        ]);
        assert!(a.validate(2).is_ok());
        assert_eq!(
            a.sorted().iter().map(|f| f.at_ms).collect::<Vec<_>>(),
            vec![5, 5, 10]
        );
        for candidate in a.shrink_candidates() {
            assert_eq!(candidate.faults.len() + 1, a.faults.len());
            assert!(candidate.validate(2).is_ok());
        }
        let json = serde_json::to_string(&a).unwrap_or_default();
        let back: FaultPlan = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, a);
    }

    #[test]
    fn validate_rejects_unknown_hosts() {
        let plan = FaultPlan::new(vec![TimedFault {
            at_ms: 0,
            fault: Fault::Crash {
                host: "app-9".into(),
                restart_after_ms: 1,
            },
            trigger: None,
        }]);
        let err = plan.validate(2).err().unwrap_or_default();
        assert!(err.contains("hint"), "{err}");
    }
}
