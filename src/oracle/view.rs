//! The runtime-neutral snapshot the invariants read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::app::api::{Row, UserSpec};

/// A Stripe customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerView {
    /// `cus_…`
    pub id: String,
    /// Email, if set.
    pub email: Option<String>,
    /// String metadata.
    pub metadata: BTreeMap<String, String>,
    /// Deleted customers are not live.
    pub deleted: bool,
}

/// A Stripe subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionView {
    /// `sub_…`
    pub id: String,
    /// Owning customer.
    pub customer: String,
    /// Status.
    pub status: String,
}

/// A Stripe Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSessionView {
    /// `cs_…`
    pub id: String,
    /// The customer it charges, if any.
    pub customer: Option<String>,
    /// `open`, `complete` or `expired`.
    pub status: String,
}

/// A browser call the app answered with a 2xx: the work the app said was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnsweredCall {
    /// The user the call was for.
    pub user_id: String,
    /// The flow.
    pub flow: crate::vocabulary::Flow,
    /// The plan asked for, if any.
    pub plan: Option<String>,
    /// The Checkout Session id the answer named, if any.
    pub session_id: Option<String>,
}

/// A Clerk organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgView {
    /// `org_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Slug.
    pub slug: Option<String>,
    /// The creating user.
    pub created_by: Option<String>,
    /// `public_metadata` (team orgs carry `plan`).
    pub public_metadata: serde_json::Value,
}

pub use crate::vocabulary::Service;

/// What happened to one webhook event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// Sender.
    pub service: Service,
    /// Event id (`evt_…` or `svix-id`).
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// Delivery attempts made.
    pub attempts: u32,
    /// Whether some attempt got a 2xx.
    pub delivered: bool,
    /// Whether the sender gave up (retry schedule exhausted).
    pub given_up: bool,
    /// The most attempts one delivery of the event made with no fault in effect (no partition
    /// or crash window open, no fault applied or injected error spent while it ran): what the
    /// app alone needed. `bounded_redelivery` bounds it.
    #[serde(default)]
    pub attempts_without_faults: u32,
}

/// A 2xx answer Stripe gave to a request with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotentResponseView {
    /// The `Idempotency-Key`.
    pub key: String,
    /// `METHOD path` of the request.
    pub endpoint: String,
    /// The object id in the response (e.g. the customer id).
    pub object_id: String,
    /// The object's `created` (Unix seconds, Stripe's clock), when the response has one: a
    /// key lives 24 h from its first request, so two objects under one key are only legitimate
    /// when they were created at least that far apart.
    #[serde(default)]
    pub created: Option<i64>,
}

/// A snapshot of the whole world for the oracle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorldView {
    /// The scenario's users.
    pub users: Vec<UserSpec>,
    /// Users whose signup flow ran (`signup_complete` applies to them).
    pub signed_up: Vec<String>,
    /// (user id, plan) pairs that asked for a team org (`no_duplicate_orgs` groups by these).
    pub team_plans: Vec<(String, String)>,
    /// (user id, plan) pairs bought in Clerk Billing (`team_org_linked` owes them an org once
    /// the purchases were acknowledged).
    #[serde(default)]
    pub billing_plans: Vec<(String, String)>,
    /// Every Stripe customer, deleted ones included.
    pub customers: Vec<CustomerView>,
    /// Every Stripe subscription.
    pub subscriptions: Vec<SubscriptionView>,
    /// Every Clerk organization.
    pub orgs: Vec<OrgView>,
    /// Every Stripe Checkout Session.
    #[serde(default)]
    pub checkout_sessions: Vec<CheckoutSessionView>,
    /// Browser calls the app answered with a 2xx (outcome invariants check their work).
    #[serde(default)]
    pub answered: Vec<AnsweredCall>,
    /// What the app declared its tables mean (outcome invariants read only this).
    #[serde(default)]
    pub tables: crate::vocabulary::TableMeanings,
    /// Committed database contents: table → rows.
    pub db: BTreeMap<String, Vec<Row>>,
    /// The app's schema: table → column names (even for empty tables).
    pub db_columns: BTreeMap<String, Vec<String>>,
    /// Webhook deliveries so far.
    pub deliveries: Vec<DeliveryView>,
    /// Idempotent responses Stripe gave so far.
    pub idempotent_responses: Vec<IdempotentResponseView>,
    /// Whether the network drops messages at random (redeliveries then have no bound).
    #[serde(default)]
    pub lossy_network: bool,
    /// Redeliveries per event allowed in a fault-free run.
    pub redelivery_max: u32,
}

impl WorldView {
    /// The external id the declared `link` stores for `user_id` (each row of the link's table
    /// whose user column is the user), NULLs left out.
    pub fn linked_ids(&self, link: &crate::vocabulary::ColumnLink, user_id: &str) -> Vec<String> {
        self.db
            .get(&link.table)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|row| row.get(&link.user_column).and_then(|v| v.as_text()) == Some(user_id))
            .filter_map(|row| {
                row.get(&link.id_column)
                    .and_then(|v| v.as_text())
                    .map(str::to_string)
            })
            .collect()
    }

    /// The user a customer belongs to: by `metadata.user_id`, else by email.
    pub fn customer_owner(&self, customer: &CustomerView) -> Option<&UserSpec> {
        if let Some(user_id) = customer.metadata.get("user_id") {
            if let Some(user) = self.users.iter().find(|u| &u.user_id == user_id) {
                return Some(user);
            }
        }
        if let Some(tenant) = customer.metadata.get("tenant_id") {
            if let Some(user) = self.users.iter().find(|u| u.tenant_id.to_string() == *tenant) {
                return Some(user);
            }
        }
        let email = customer.email.as_deref()?;
        self.users.iter().find(|u| u.email == email)
    }

    /// Live (not deleted) customers.
    pub fn live_customers(&self) -> impl Iterator<Item = &CustomerView> {
        self.customers.iter().filter(|c| !c.deleted)
    }

    /// Every text value in the database that starts with `prefix` (e.g. `cus_`), with where it is.
    pub fn db_refs(&self, prefix: &str) -> Vec<(String, String, String)> {
        let mut found = Vec::new();
        for (table, rows) in &self.db {
            for row in rows {
                for (column, value) in row {
                    if let Some(text) = value.as_text() {
                        if text.starts_with(prefix) {
                            found.push((text.to_string(), table.clone(), column.clone()));
                        }
                    }
                }
            }
        }
        found
    }
}
