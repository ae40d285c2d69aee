//! The scenario file format (TOML), as written by people: every field, with its span.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A value that is either one number or an inclusive `[min, max]` range drawn per seed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RangeMs {
    /// Exactly this many milliseconds.
    Exact(u64),
    /// Anywhere in `[min, max]`, chosen by the seed.
    Between([u64; 2]),
}

impl RangeMs {
    /// `(min, max)`.
    pub fn bounds(&self) -> (u64, u64) {
        match self {
            RangeMs::Exact(ms) => (*ms, *ms),
            RangeMs::Between([lo, hi]) => (*lo, *hi),
        }
    }
}

impl Default for RangeMs {
    fn default() -> Self {
        RangeMs::Exact(0)
    }
}

/// `[world]`: the simulated network and replicas.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldSection {
    /// App replicas (stateless, sharing the database); at least 1.
    #[serde(default = "default_replicas")]
    pub replicas: Spanned<u32>,
    /// Message latency range in ms.
    #[serde(default = "default_latency")]
    pub latency_ms: Spanned<RangeMs>,
    /// Probability that a message is lost, 0.0 ≤ loss < 1.0.
    #[serde(default = "default_loss")]
    pub loss: Spanned<f64>,
}

fn default_replicas() -> Spanned<u32> {
    Spanned::new(0..0, 2)
}

fn default_loss() -> Spanned<f64> {
    Spanned::new(0..0, 0.0)
}

fn default_at_ms() -> Spanned<RangeMs> {
    Spanned::new(0..0, RangeMs::Exact(0))
}

fn default_latency() -> Spanned<RangeMs> {
    Spanned::new(0..0, RangeMs::Between([1, 50]))
}

impl Default for WorldSection {
    fn default() -> Self {
        Self {
            replicas: default_replicas(),
            latency_ms: default_latency(),
            loss: Spanned::new(0..0, 0.0),
        }
    }
}

/// A browser's retry behaviour for one step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    /// Total attempts (1 = no retry).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Client timeout per attempt.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_attempts() -> u32 {
    1
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl Default for RetrySection {
    fn default() -> Self {
        Self {
            attempts: default_attempts(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

/// `[[actors.steps]]`: one thing a browser (or Clerk Billing) does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSection {
    /// The flow: `signup`, `checkout`, `apply_coupon`, `pay`, `create_team_org`,
    /// `clerk_subscription`, `reconcile`.
    pub flow: Spanned<String>,
    /// When the step starts, in ms after the actor starts (one value or a range).
    #[serde(default = "default_at_ms")]
    pub at_ms: Spanned<RangeMs>,
    /// The replica to send it to (1-based); by default the load balancer picks one.
    #[serde(default)]
    pub replica: Option<Spanned<u32>>,
    /// Coupon typed (for `checkout` / `apply_coupon`).
    #[serde(default)]
    pub coupon: Option<String>,
    /// Plan slug (for `create_team_org` / `clerk_subscription`).
    #[serde(default)]
    pub plan: Option<String>,
    /// Client retry behaviour.
    #[serde(default)]
    pub retry: RetrySection,
}

/// `[[actors]]`: one browser tab of one user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorSection {
    /// Which user (1-based, ≤ `users`).
    pub user: Spanned<u32>,
    /// What it does, in start order (steps may overlap).
    pub steps: Spanned<Vec<StepSection>>,
}

/// `[[faults.plan]]`: one explicit fault, at a time or bound to an event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedFaultSection {
    /// When, in ms after the start (with `on`: when its trigger starts counting); default 0.
    #[serde(default)]
    pub at_ms: u64,
    /// The event it is bound to, e.g. `call stripe POST /v1/customers` (see [`crate::trigger`]).
    #[serde(default)]
    pub on: Option<Spanned<String>>,
    /// With `on`: which occurrence, 1-based (default 1).
    #[serde(default)]
    pub nth: Option<Spanned<u32>>,
    /// With `on`: count only this app replica's events.
    #[serde(default)]
    pub on_host: Option<Spanned<String>>,
    /// With `on`: the event that closes the window, on the replica that opened it.
    #[serde(default)]
    pub before: Option<Spanned<String>>,
    /// The fault kind (see [`FAULT_KINDS`](super::FAULT_KINDS)).
    pub kind: Spanned<String>,
    /// The host it hits (e.g. `app-1`, `stripe`), where the kind needs one.
    #[serde(default)]
    pub host: Option<String>,
    /// For `crash`: restart after this many ms.
    #[serde(default)]
    pub restart_after_ms: Option<u64>,
    /// For `partition`: the other side.
    #[serde(default)]
    pub peer: Option<String>,
    /// For `partition`: heal after this many ms.
    #[serde(default)]
    pub heal_after_ms: Option<u64>,
    /// For service errors: how many requests fail.
    #[serde(default)]
    pub count: Option<u32>,
}

/// `[faults]`: random fault kinds with a per-run probability, and explicit faults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsSection {
    /// Kind → probability (0.0–1.0) that a run gets one fault of that kind at a seeded time.
    #[serde(default)]
    pub rates: BTreeMap<String, Spanned<f64>>,
    /// Explicit faults, in addition to the random ones.
    #[serde(default)]
    pub plan: Vec<PlannedFaultSection>,
}

/// `[explore]`: the search budget.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExploreSection {
    /// Seeds to try per strategy.
    #[serde(default = "default_seeds")]
    pub seeds: Spanned<u32>,
    /// Shrink the first failure.
    #[serde(default = "default_true")]
    pub shrink: bool,
    /// Most runs the shrinker may make.
    #[serde(default = "default_shrink_runs")]
    pub shrink_runs_max: u32,
    /// Seeds that must reach each witness for a pass to count (K).
    #[serde(default = "default_witness_min_seeds")]
    pub witness_min_seeds: Spanned<u32>,
    /// Most seeds exploration may run to reach the witnesses (default: 4 × `seeds`).
    #[serde(default)]
    pub seeds_max: Option<Spanned<u32>>,
}

fn default_witness_min_seeds() -> Spanned<u32> {
    Spanned::new(0..0, super::WITNESS_MIN_SEEDS_DEFAULT)
}

fn default_seeds() -> Spanned<u32> {
    Spanned::new(0..0, 200)
}

fn default_true() -> bool {
    true
}

fn default_shrink_runs() -> u32 {
    300
}

impl Default for ExploreSection {
    fn default() -> Self {
        Self {
            seeds: default_seeds(),
            shrink: true,
            shrink_runs_max: default_shrink_runs(),
            witness_min_seeds: default_witness_min_seeds(),
            seeds_max: None,
        }
    }
}

/// What a strategy is expected to do in this scenario.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ExpectSection {
    /// `"pass"` or `"fail"`.
    Short(String),
    /// `{ verdict = "fail", invariant = "…", reason = "…" }`.
    Full {
        /// `pass` or `fail`.
        verdict: String,
        /// The invariant expected to break (for `fail`).
        #[serde(default)]
        invariant: Option<String>,
        /// Why, in one sentence (shown in the verdict table).
        #[serde(default)]
        reason: Option<String>,
    },
}

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Unique name (used in test names and tokens).
    pub name: Spanned<String>,
    /// What race this plays out.
    pub description: String,
    /// The seed document it comes from (`000`–`004`), if any.
    #[serde(default)]
    pub seed_document: Option<String>,
    /// Users that exist at the start.
    #[serde(default = "default_users")]
    pub users: Spanned<u32>,
    /// The simulated network.
    #[serde(default)]
    pub world: WorldSection,
    /// Browser tabs and what they do.
    pub actors: Spanned<Vec<ActorSection>>,
    /// Faults.
    #[serde(default)]
    pub faults: FaultsSection,
    /// Exploration budget.
    #[serde(default)]
    pub explore: ExploreSection,
    /// Strategy ids or globs (`checkout.*`, `all`).
    pub strategies: Spanned<Vec<Spanned<String>>>,
    /// Expected verdict per strategy id.
    #[serde(default)]
    pub expect: BTreeMap<Spanned<String>, ExpectSection>,
    /// The race witnesses the scenario exists for (`oracle::witness` names).
    #[serde(default = "default_witnesses")]
    pub witnesses: Spanned<Vec<Spanned<String>>>,
}

fn default_witnesses() -> Spanned<Vec<Spanned<String>>> {
    Spanned::new(0..0, Vec::new())
}

fn default_users() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
