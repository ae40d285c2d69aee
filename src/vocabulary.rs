//! The words every layer shares: the flows a scenario plays, the fault kinds it injects, and
//! the services that emit webhooks. One enum each, from the scenario file through the builder,
//! the run input and the world to the oracle and the replay token (serialised by name, as the
//! strings they replace were, so tokens made before still decode). Also the "did you mean"
//! helpers every layer's name lookups share ([`closest`], [`edit_distance`]).

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What a scenario step does (the TOML `flow` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Flow {
    /// `signup`: the auth callback after Clerk created the user.
    Signup,
    /// `checkout`: start checkout for the world's price.
    Checkout,
    /// `apply_coupon`: re-create the Checkout Session with a coupon.
    ApplyCoupon,
    /// `pay`: complete the user's open Checkout Session (Stripe sends the webhooks).
    Pay,
    /// `create_team_org`: the create-team-org endpoint.
    CreateTeamOrg,
    /// `clerk_subscription`: Clerk Billing creates a subscription (a Clerk webhook).
    ClerkSubscription,
    /// `reconcile`: the periodic repair sweep, on demand.
    Reconcile,
}

impl Flow {
    /// Every flow, in [`Flow::NAMES`] order.
    pub const ALL: [Flow; 7] = [
        Flow::Signup,
        Flow::Checkout,
        Flow::ApplyCoupon,
        Flow::Pay,
        Flow::CreateTeamOrg,
        Flow::ClerkSubscription,
        Flow::Reconcile,
    ];

    /// The names a scenario file uses, in declaration order.
    pub const NAMES: [&'static str; 7] = [
        "signup",
        "checkout",
        "apply_coupon",
        "pay",
        "create_team_org",
        "clerk_subscription",
        "reconcile",
    ];

    /// The flows a user's browser drives (every flow but the cron's `reconcile`).
    pub const BROWSER: [Flow; 6] = [
        Flow::Signup,
        Flow::Checkout,
        Flow::ApplyCoupon,
        Flow::Pay,
        Flow::CreateTeamOrg,
        Flow::ClerkSubscription,
    ];

    /// The name a scenario file uses.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The flow a scenario file names, if any.
    pub fn from_name(name: &str) -> Option<Flow> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fault kind (the TOML `[faults.rates]` keys and `[[faults.plan]] kind`).
///
/// Ordered by name, so a map keyed by kind iterates as it did when keyed by the name (the
/// random faults of a seed are drawn in that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultKind {
    /// `crash`: an app replica crashes and restarts.
    Crash,
    /// `partition`: a replica loses its link to PostgreSQL, Stripe or Clerk for a while.
    Partition,
    /// `stripe_5xx`: Stripe answers 500.
    #[serde(rename = "stripe_5xx")]
    Stripe5xx,
    /// `stripe_429`: Stripe rate-limits.
    #[serde(rename = "stripe_429")]
    Stripe429,
    /// `clerk_5xx`: Clerk answers 500.
    #[serde(rename = "clerk_5xx")]
    Clerk5xx,
    /// `clerk_429`: Clerk rate-limits.
    #[serde(rename = "clerk_429")]
    Clerk429,
    /// `lost_response`: the request happened, its response is lost.
    LostResponse,
    /// `db_connection_drop`: a replica's database connections are killed.
    DbConnectionDrop,
    /// `webhook_duplicate`: a webhook is delivered twice.
    WebhookDuplicate,
    /// `webhook_reorder`: webhooks arrive out of order.
    WebhookReorder,
    /// `webhook_delay`: a webhook is held back.
    WebhookDelay,
    /// `webhook_early`: a webhook arrives before the API response that caused it.
    WebhookEarly,
    /// `time_jump_25h`: the services' clocks jump 25 hours (idempotency keys expire).
    #[serde(rename = "time_jump_25h")]
    TimeJump25h,
}

impl FaultKind {
    /// Every fault kind, in [`FaultKind::NAMES`] order.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Crash,
        FaultKind::Partition,
        FaultKind::Stripe5xx,
        FaultKind::Stripe429,
        FaultKind::Clerk5xx,
        FaultKind::Clerk429,
        FaultKind::LostResponse,
        FaultKind::DbConnectionDrop,
        FaultKind::WebhookDuplicate,
        FaultKind::WebhookReorder,
        FaultKind::WebhookDelay,
        FaultKind::WebhookEarly,
        FaultKind::TimeJump25h,
    ];

    /// The names a scenario file uses, in declaration order.
    pub const NAMES: [&'static str; 13] = [
        "crash",
        "partition",
        "stripe_5xx",
        "stripe_429",
        "clerk_5xx",
        "clerk_429",
        "lost_response",
        "db_connection_drop",
        "webhook_duplicate",
        "webhook_reorder",
        "webhook_delay",
        "webhook_early",
        "time_jump_25h",
    ];

    /// The name a scenario file uses.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The fault kind a scenario file names, if any.
    pub fn from_name(name: &str) -> Option<FaultKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl PartialOrd for FaultKind {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FaultKind {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A third-party service: the host it runs on, the sender of its webhooks, a fault's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Service {
    /// The fake Stripe.
    Stripe,
    /// The fake Clerk (and its Svix dispatcher).
    Clerk,
}

impl Service {
    /// `stripe` or `clerk`: the host name.
    pub fn host(self) -> &'static str {
        match self {
            Service::Stripe => "stripe",
            Service::Clerk => "clerk",
        }
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b_chars: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b_chars.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b_chars.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b_chars.len()]
}

/// The closest of `options` to `word`, if it is close enough to be a plausible typo.
pub fn closest<'a>(word: &str, options: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    options
        .into_iter()
        .map(|option| (edit_distance(word, option), option))
        .filter(|(distance, option)| *distance <= (option.len() / 3).max(2))
        .min()
        .map(|(_, option)| option)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serialise_as_the_file_names() {
        for flow in Flow::ALL {
            assert_eq!(Flow::from_name(flow.as_str()), Some(flow));
            assert_eq!(serde_json::to_string(&flow).expect("json"), format!("\"{flow}\""));
        }
        for kind in FaultKind::ALL {
            assert_eq!(FaultKind::from_name(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_string(&kind).expect("json"), format!("\"{kind}\""));
        }
        assert_eq!(Flow::from_name("checkuot"), None);
        assert_eq!(serde_json::to_string(&Service::Clerk).expect("json"), "\"Clerk\"");
    }

    #[test]
    fn fault_kinds_are_ordered_by_name() {
        let mut by_order = FaultKind::ALL.to_vec();
        by_order.sort();
        let mut by_name = FaultKind::NAMES.to_vec();
        by_name.sort();
        assert_eq!(by_order.iter().map(|k| k.as_str()).collect::<Vec<_>>(), by_name);
    }
}

/// What an app's tables mean to the oracle: where it keeps each link the outcome invariants
/// read. An app declares it (`AppLogic::tables`); the oracle never guesses from column names,
/// and an invariant whose part is not declared is shown as not applicable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableMeanings {
    /// Where a user's Stripe customer id is stored.
    #[serde(default)]
    pub customer: Option<ColumnLink>,
    /// Where a user's team org id is stored (one row per user and plan).
    #[serde(default)]
    pub team_org: Option<ColumnLink>,
    /// Where processed webhook event ids are recorded, per service.
    #[serde(default)]
    pub processed_events: Vec<EventLog>,
    /// Where a subscription's status is stored.
    #[serde(default)]
    pub subscription_status: Option<StatusColumns>,
    /// Rows claimed before an external call, whose external id must not stay NULL.
    #[serde(default)]
    pub claims: Vec<ClaimColumns>,
    /// Where a signed-up user's profile row is kept.
    #[serde(default)]
    pub profile: Option<ProfileTable>,
    /// Effects applied once per key: at most one row per value of the key column.
    #[serde(default)]
    pub effects: Vec<EffectKey>,
}

impl TableMeanings {
    /// Declares nothing (every outcome invariant not applicable).
    pub fn new() -> Self {
        Self::default()
    }

    /// A user's Stripe customer id: in `table`, the row whose `user_column` is the user id.
    pub fn customer(mut self, table: &str, user_column: &str, id_column: &str) -> Self {
        self.customer = Some(ColumnLink::new(table, user_column, id_column));
        self
    }

    /// A user's team org id: in `table`, the rows whose `user_column` is the user id.
    pub fn team_org(mut self, table: &str, user_column: &str, id_column: &str) -> Self {
        self.team_org = Some(ColumnLink::new(table, user_column, id_column));
        self
    }

    /// `service`'s processed event ids: one row per event in `table`, the id in `id_column`.
    pub fn processed_events(mut self, service: Service, table: &str, id_column: &str) -> Self {
        self.processed_events.push(EventLog {
            service,
            table: table.to_string(),
            id_column: id_column.to_string(),
        });
        self
    }

    /// Subscriptions: in `table`, the Stripe id in `id_column`, its status in `status_column`.
    pub fn subscription_status(mut self, table: &str, id_column: &str, status_column: &str) -> Self {
        self.subscription_status = Some(StatusColumns {
            table: table.to_string(),
            id_column: id_column.to_string(),
            status_column: status_column.to_string(),
        });
        self
    }

    /// Rows of `table` are claims: `id_column` holds the external id once created.
    pub fn claim(mut self, table: &str, id_column: &str) -> Self {
        self.claims.push(ClaimColumns {
            table: table.to_string(),
            id_column: id_column.to_string(),
        });
        self
    }

    /// A signed-up user's profile: the row of `table` whose `user_column` is the user id.
    pub fn profile(mut self, table: &str, user_column: &str) -> Self {
        self.profile = Some(ProfileTable {
            table: table.to_string(),
            user_column: user_column.to_string(),
        });
        self
    }

    /// An effect applied once per key: two rows of `table` with one `key_column` value mean
    /// the effect was applied twice.
    pub fn effect(mut self, table: &str, key_column: &str) -> Self {
        self.effects.push(EffectKey {
            table: table.to_string(),
            key_column: key_column.to_string(),
        });
        self
    }
}

/// A column holding an external id for a user: `table.id_column` where `user_column` = user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnLink {
    /// Table name.
    pub table: String,
    /// Column holding the user id.
    pub user_column: String,
    /// Column holding the external id.
    pub id_column: String,
}

impl ColumnLink {
    /// `table.id_column`, keyed by `user_column`.
    pub fn new(table: &str, user_column: &str, id_column: &str) -> Self {
        Self {
            table: table.to_string(),
            user_column: user_column.to_string(),
            id_column: id_column.to_string(),
        }
    }
}

/// Where a service's processed event ids are recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLog {
    /// The service whose events these are.
    pub service: Service,
    /// Table name.
    pub table: String,
    /// Column holding the event id (Stripe `evt_…`, Svix `msg_…`).
    pub id_column: String,
}

/// Where a subscription's status is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusColumns {
    /// Table name.
    pub table: String,
    /// Column holding the Stripe subscription id.
    pub id_column: String,
    /// Column holding the status.
    pub status_column: String,
}

/// A table of claim rows and the column their external id lands in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimColumns {
    /// Table name.
    pub table: String,
    /// Column holding the external id (NULL while the claim is unresolved).
    pub id_column: String,
}

/// The table holding one profile row per signed-up user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileTable {
    /// Table name.
    pub table: String,
    /// Column holding the user id.
    pub user_column: String,
}

/// A table whose rows are an effect applied once per key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectKey {
    /// Table name.
    pub table: String,
    /// Column holding the key (a subscription id, an event id, …).
    pub key_column: String,
}
