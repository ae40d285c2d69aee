//! Scenarios in Rust: a builder equivalent to the TOML format, for tests that define their
//! race next to the code under test.
//!
//! Every TOML key has a builder method with the same name and the same default (see
//! `docs/scenarios.md`); [`ScenarioBuilder::try_build`] applies the same range checks as
//! the file parser. Flows and fault kinds are enums, so a typo does not compile.
//!
//! ```
//! use racehound::prelude::*;
//!
//! let scenario = Scenario::builder("mine.coupon_race")
//!     .replicas(2)
//!     .latency_ms(1, 50)
//!     .actor(1, [
//!         Step::new(Flow::Checkout),
//!         Step::new(Flow::ApplyCoupon).coupon("SAVE20").at_ms(0, 400),
//!     ])
//!     .fault_rate(FaultKind::LostResponse, 0.1)
//!     .seeds(100)
//!     .build();
//! assert_eq!(scenario.actors[0].steps.len(), 2);
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use super::{
    load::LoadError, parse, Actor, PlannedFault, Scenario, ScenarioError, Step, ACTORS_MAX, FLOWS, SEEDS_MAX,
    STEPS_MAX, USERS_MAX,
};

use crate::trigger::Trigger;
pub use crate::vocabulary::{FaultKind, Flow};

impl Step {
    /// A step of `flow` starting at 0 ms, sent through the load balancer, with no retry.
    pub fn new(flow: Flow) -> Self {
        Self {
            flow,
            at_ms: (0, 0),
            replica: None,
            coupon: None,
            plan: None,
            attempts: 1,
            timeout_ms: 10_000,
        }
    }

    /// Starts anywhere in `[min, max]` ms after the actor starts, drawn per seed (`at_ms = [min, max]`).
    pub fn at_ms(mut self, min: u64, max: u64) -> Self {
        self.at_ms = (min, max);
        self
    }

    /// Starts exactly `ms` after the actor starts (`at_ms = ms`).
    pub fn at(self, ms: u64) -> Self {
        self.at_ms(ms, ms)
    }

    /// Sends the step to this replica, 1-based (`replica = n`).
    pub fn replica(mut self, replica: u32) -> Self {
        self.replica = Some(replica.saturating_sub(1));
        self
    }

    /// The coupon typed (`coupon = "…"`; `SAVE20` exists in every world).
    pub fn coupon(mut self, coupon: impl Into<String>) -> Self {
        self.coupon = Some(coupon.into());
        self
    }

    /// The plan slug (`plan = "…"`).
    pub fn plan(mut self, plan: impl Into<String>) -> Self {
        self.plan = Some(plan.into());
        self
    }

    /// Client retries on timeout (`retry = { attempts, timeout_ms }`).
    pub fn retry(mut self, attempts: u32, timeout_ms: u64) -> Self {
        self.attempts = attempts;
        self.timeout_ms = timeout_ms.max(1);
        self
    }
}

impl PlannedFault {
    /// A fault of `kind` at `at_ms` with the kind's default target (`[[faults.plan]]`).
    pub fn new(kind: FaultKind, at_ms: u64) -> Self {
        Self {
            at_ms,
            kind,
            host: None,
            restart_after_ms: None,
            peer: None,
            heal_after_ms: None,
            count: None,
            on: None,
        }
    }

    /// The same fault bound to an event instead of a time (`on = "…"`, `nth`, …): it happens
    /// when `trigger` fires, on the replica whose event fired it unless a `host` is given.
    pub fn on(mut self, trigger: Trigger) -> Self {
        self.on = Some(trigger);
        self
    }

    /// The host it hits, e.g. `app-1` or `stripe` (`host = "…"`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// For `crash`: restart after this many ms (`restart_after_ms`).
    pub fn restart_after_ms(mut self, ms: u64) -> Self {
        self.restart_after_ms = Some(ms);
        self
    }

    /// For `partition`: the other side (`peer = "…"`).
    pub fn peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = Some(peer.into());
        self
    }

    /// For `partition` (and `webhook_delay`): heal / release after this many ms (`heal_after_ms`).
    pub fn heal_after_ms(mut self, ms: u64) -> Self {
        self.heal_after_ms = Some(ms);
        self
    }

    /// For service errors and webhook faults: how many requests or events (`count`).
    pub fn count(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }
}

/// Builds a [`Scenario`] in Rust; start with [`Scenario::builder`].
#[derive(Debug, Clone, PartialEq)]
#[must_use = "call .build() to get the scenario"]
pub struct ScenarioBuilder {
    scenario: Scenario,
    user_numbers: Vec<u32>,
}

impl Scenario {
    /// A builder for a scenario named `name`, with the TOML format's defaults: 1 user,
    /// 2 replicas, 1–50 ms latency, no loss, no faults, 200 seeds, shrinking on.
    pub fn builder(name: impl Into<String>) -> ScenarioBuilder {
        ScenarioBuilder {
            scenario: Scenario {
                name: name.into(),
                description: String::new(),
                seed_document: None,
                users: 1,
                replicas: 2,
                latency_ms: (1, 50),
                loss: 0.0,
                actors: Vec::new(),
                fault_rates: BTreeMap::new(),
                fault_plan: Vec::new(),
                seeds: 200,
                shrink: true,
                shrink_runs_max: 300,
                strategies: Vec::new(),
                expect: BTreeMap::new(),
                witnesses: Vec::new(),
                witness_min_seeds: super::WITNESS_MIN_SEEDS_DEFAULT,
                seeds_max: None,
            },
            user_numbers: Vec::new(),
        }
    }

    /// Parses scenario TOML (`name` is used in error messages); the `strategies` it lists
    /// must be catalogue ids or `extra_strategy_ids` (your own strategies' ids).
    pub fn from_toml(
        name: &str,
        text: &str,
        extra_strategy_ids: &[&str],
    ) -> Result<Self, Box<ScenarioError>> {
        let mut ids: Vec<&str> = crate::app::strategies::registry::ids();
        ids.extend_from_slice(extra_strategy_ids);
        parse(name, text, &ids)
    }

    /// Reads and validates one scenario file, as [`Scenario::from_toml`] does.
    pub fn load(path: impl AsRef<Path>, extra_strategy_ids: &[&str]) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| LoadError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_toml(&path.display().to_string(), &text, extra_strategy_ids).map_err(LoadError::Invalid)
    }
}

impl ScenarioBuilder {
    /// What race this plays out (`description`).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.scenario.description = text.into();
        self
    }

    /// Users that exist at the start, 1–1000 (`users`); user *n* has tenant *n*.
    pub fn users(mut self, users: u32) -> Self {
        self.scenario.users = users;
        self
    }

    /// Stateless app replicas sharing the database, 1–16 (`[world] replicas`).
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.scenario.replicas = replicas;
        self
    }

    /// Message latency drawn from `[min, max]` ms, min ≥ 1 (`[world] latency_ms`).
    pub fn latency_ms(mut self, min: u64, max: u64) -> Self {
        self.scenario.latency_ms = (min, max);
        self
    }

    /// Probability a message is lost, in [0, 1) (`[world] loss`).
    pub fn loss(mut self, loss: f64) -> Self {
        self.scenario.loss = loss;
        self
    }

    /// A browser tab of user `user` (1-based) doing `steps`, which may overlap (`[[actors]]`).
    pub fn actor(mut self, user: u32, steps: impl IntoIterator<Item = Step>) -> Self {
        self.user_numbers.push(user);
        self.scenario.actors.push(Actor {
            user: user.saturating_sub(1),
            steps: steps.into_iter().collect(),
        });
        self
    }

    /// Each run gets one fault of `kind` at a seeded time with this probability (`[faults.rates]`).
    pub fn fault_rate(mut self, kind: FaultKind, probability: f64) -> Self {
        self.scenario.fault_rates.insert(kind, probability);
        self
    }

    /// An explicit fault in every run (`[[faults.plan]]`).
    pub fn fault(mut self, fault: PlannedFault) -> Self {
        self.scenario.fault_plan.push(fault);
        self
    }

    /// Seeds tried per strategy, 1–100000 (`[explore] seeds`).
    pub fn seeds(mut self, seeds: u32) -> Self {
        self.scenario.seeds = seeds;
        self
    }

    /// Whether to shrink the first failure (`[explore] shrink`).
    pub fn shrink(mut self, shrink: bool) -> Self {
        self.scenario.shrink = shrink;
        self
    }

    /// The shrinker's run budget (`[explore] shrink_runs_max`).
    pub fn shrink_runs_max(mut self, runs: u32) -> Self {
        self.scenario.shrink_runs_max = runs;
        self
    }

    /// Names a race witness this scenario exists for (`witnesses = [...]`): a built-in name
    /// from `racehound::oracle::witness` (add your own with `Explorer::sometimes`).
    pub fn witness(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if !self.scenario.witnesses.contains(&name) {
            self.scenario.witnesses.push(name);
        }
        self
    }

    /// Seeds that must reach each witness for a pass to count, K (`[explore] witness_min_seeds`).
    pub fn witness_min_seeds(mut self, seeds: u32) -> Self {
        self.scenario.witness_min_seeds = seeds;
        self
    }

    /// Most seeds exploration may run to reach the witnesses (`[explore] seeds_max`; default
    /// 4 × the seed budget).
    pub fn seeds_max(mut self, seeds: u32) -> Self {
        self.scenario.seeds_max = Some(seeds);
        self
    }

    /// The scenario, or what is wrong with it (the file parser's range checks).
    pub fn try_build(self) -> Result<Scenario, String> {
        let s = &self.scenario;
        let name_ok = !s.name.is_empty()
            && s.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !name_ok {
            return Err(format!(
                "scenario name `{}` must be non-empty and use only letters, digits, `_`, `-` and `.`",
                s.name
            ));
        }
        if s.users == 0 || s.users > USERS_MAX {
            return Err(format!(
                "users must be between 1 and {USERS_MAX}, not {}",
                s.users
            ));
        }
        if !(1..=16).contains(&s.replicas) {
            return Err(format!("replicas must be between 1 and 16, not {}", s.replicas));
        }
        let (lo, hi) = s.latency_ms;
        if lo == 0 || lo > hi {
            return Err(format!(
                "latency_ms must be a range [min, max] with 1 ≤ min ≤ max, not [{lo}, {hi}]"
            ));
        }
        if !(0.0..1.0).contains(&s.loss) {
            return Err(format!("loss must be in [0.0, 1.0), not {}", s.loss));
        }
        if s.actors.is_empty() {
            return Err(
                "a scenario needs at least one actor (hint: .actor(1, [Step::new(Flow::Checkout)]))".into(),
            );
        }
        if s.actors.len() > ACTORS_MAX {
            return Err(format!("at most {ACTORS_MAX} actors"));
        }
        for (actor, user) in s.actors.iter().zip(&self.user_numbers) {
            if *user == 0 || *user > s.users {
                return Err(format!(
                    "actor user {user} does not exist (users are numbered 1..={}; raise .users())",
                    s.users
                ));
            }
            if actor.steps.is_empty() || actor.steps.len() > STEPS_MAX {
                return Err(format!("an actor needs 1 to {STEPS_MAX} steps (user {user})"));
            }
            for step in &actor.steps {
                debug_assert!(FLOWS.contains(&step.flow.as_str()));
                if let Some(replica) = step.replica {
                    if replica >= s.replicas {
                        return Err(format!(
                            "replica {} does not exist (replicas are numbered 1..={})",
                            replica + 1,
                            s.replicas
                        ));
                    }
                }
                if step.attempts == 0 || step.attempts > 10 {
                    return Err(format!(
                        "retry attempts must be between 1 and 10, not {}",
                        step.attempts
                    ));
                }
                if step.at_ms.0 > step.at_ms.1 {
                    return Err(format!(
                        "at_ms: the range [{}, {}] is backwards",
                        step.at_ms.0, step.at_ms.1
                    ));
                }
            }
        }
        for (kind, rate) in &s.fault_rates {
            if !(0.0..=1.0).contains(rate) {
                return Err(format!("fault rate for {kind} must be in [0.0, 1.0], not {rate}"));
            }
        }
        if s.seeds == 0 || s.seeds > SEEDS_MAX {
            return Err(format!(
                "seeds must be between 1 and {SEEDS_MAX}, not {}",
                s.seeds
            ));
        }
        for name in &s.witnesses {
            if let Err(unknown) = crate::oracle::witness::witness(name) {
                return Err(unknown.to_string());
            }
        }
        if s.witness_min_seeds == 0 || s.witness_min_seeds > SEEDS_MAX {
            return Err(format!(
                "witness_min_seeds must be between 1 and {SEEDS_MAX}, not {}",
                s.witness_min_seeds
            ));
        }
        if let Some(max) = s.seeds_max {
            if max < s.seeds || max > SEEDS_MAX {
                return Err(format!(
                    "seeds_max must be between seeds ({}) and {SEEDS_MAX}, not {max}",
                    s.seeds
                ));
            }
        }
        Ok(self.scenario)
    }

    /// The scenario; panics with the reason if it is invalid (use [`Self::try_build`] to handle it).
    #[track_caller]
    pub fn build(self) -> Scenario {
        match self.try_build() {
            Ok(scenario) => scenario,
            Err(why) => panic!("invalid racehound scenario: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::FAULT_KINDS;

    #[test]
    fn enums_match_the_file_format_names() {
        let flows: Vec<&str> = Flow::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(flows, FLOWS);
        let kinds: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(kinds, FAULT_KINDS);
    }

    #[test]
    fn the_builder_and_the_file_give_the_same_scenario() {
        let text = r#"
name = "mine.race"
description = "d"
users = 2
strategies = ["reference"]
[world]
replicas = 3
latency_ms = [2, 40]
loss = 0.01
[[actors]]
user = 2
steps = [
  { flow = "checkout", retry = { attempts = 3, timeout_ms = 3000 } },
  { flow = "apply_coupon", at_ms = [0, 400], coupon = "SAVE20", replica = 2 },
]
[faults.rates]
crash = 0.5
[[faults.plan]]
at_ms = 100
kind = "partition"
host = "app-1"
peer = "postgres"
heal_after_ms = 300
[explore]
seeds = 50
shrink_runs_max = 100
"#;
        let mut from_file = Scenario::from_toml("t.toml", text, &[]).expect("valid");
        from_file.strategies.clear();
        let built = Scenario::builder("mine.race")
            .description("d")
            .users(2)
            .replicas(3)
            .latency_ms(2, 40)
            .loss(0.01)
            .actor(
                2,
                [
                    Step::new(Flow::Checkout).retry(3, 3000),
                    Step::new(Flow::ApplyCoupon)
                        .at_ms(0, 400)
                        .coupon("SAVE20")
                        .replica(2),
                ],
            )
            .fault_rate(FaultKind::Crash, 0.5)
            .fault(
                PlannedFault::new(FaultKind::Partition, 100)
                    .host("app-1")
                    .peer("postgres")
                    .heal_after_ms(300),
            )
            .seeds(50)
            .shrink_runs_max(100)
            .build();
        assert_eq!(built, from_file);
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let base = || Scenario::builder("s").actor(1, [Step::new(Flow::Checkout)]);
        assert!(base().try_build().is_ok());
        let err = Scenario::builder("s").try_build().unwrap_err();
        assert!(err.contains("at least one actor"), "{err}");
        let err = base()
            .actor(3, [Step::new(Flow::Checkout)])
            .try_build()
            .unwrap_err();
        assert!(err.contains("user 3 does not exist"), "{err}");
        let err = base().latency_ms(0, 5).try_build().unwrap_err();
        assert!(err.contains("latency_ms"), "{err}");
        let err = base()
            .actor(1, [Step::new(Flow::Pay).replica(5)])
            .try_build()
            .unwrap_err();
        assert!(err.contains("replica 5"), "{err}");
        let err = base().seeds(0).try_build().unwrap_err();
        assert!(err.contains("seeds"), "{err}");
        let err = Scenario::builder("bad name!")
            .actor(1, [Step::new(Flow::Checkout)])
            .try_build()
            .unwrap_err();
        assert!(err.contains("scenario name"), "{err}");
    }

    #[test]
    fn files_may_name_your_own_strategies() {
        let text = "name = \"s\"\ndescription = \"d\"\nstrategies = [\"acme.checkout\"]\n[[actors]]\nuser = 1\nsteps = [{ flow = \"checkout\" }]\n";
        let err = Scenario::from_toml("s.toml", text, &[]).unwrap_err();
        assert!(err.message.contains("acme.checkout"), "{}", err.message);
        let ok = Scenario::from_toml("s.toml", text, &["acme.checkout"]).expect("valid");
        assert_eq!(ok.strategies, ["acme.checkout"]);
    }
}
