//! Fake Clerk: a pure, deterministic, serializable model of Clerk's Backend API, Clerk
//! Billing, and the Svix-signed webhooks Clerk sends.
//!
//! [`Clerk::handle`] is a function of `(state, now, request) -> (state, response)`; the events
//! it emits wait in the state until [`Clerk::drain_new_events`]. Nothing here knows about
//! turmoil, tokio, threads or the wall clock; every id derives from the seed.
//!
//! # FIDELITY behaviours covered (test names in `tests.rs`)
//!
//! | behaviour | test |
//! |---|---|
//! | org names are not unique | `clerk_org_names_are_not_unique` |
//! | slugs unique per instance, taken slug → 422 `form_identifier_exists` | `clerk_org_slugs_are_unique_422` |
//! | slug format checked → 422 `form_param_format_invalid` | `clerk_bad_slug_is_422` |
//! | no idempotency key: `Idempotency-Key` changes nothing | `clerk_has_no_idempotency_key` |
//! | a deterministic slug is the only natural idempotency | `clerk_deterministic_slug_dedupes` |
//! | slug generated from the name when absent (unique) | `clerk_org_without_slug_gets_generated_slug` |
//! | `created_by` becomes `org:admin` | `user_org_list_shows_memberships` |
//! | deleting an org deletes its memberships | `deleting_org_deletes_memberships` |
//! | `GET /v1/users/{id}/organization_memberships` lists a user's orgs | `user_org_list_shows_memberships` |
//! | deleting a user deletes their memberships | `deleting_user_deletes_memberships` |
//! | user create/get/list by email/delete, events | `clerk_user_lifecycle` |
//! | email addresses unique among users | `clerk_user_emails_are_unique_422` |
//! | metadata deep merge, `null` removes | `metadata_is_deep_merged` |
//! | no compare-and-set: last writer wins | `metadata_is_last_writer_wins` |
//! | `PATCH /v1/users/{id}` replaces metadata | `user_update_replaces_metadata` |
//! | org metadata merge | `org_metadata_is_deep_merged` |
//! | 429 with `Retry-After` (fault knob and quota) | `rate_limit_429_has_retry_after`, `rate_limit_quota_per_window` |
//! | 500 and commit-then-drop faults | `fault_server_error_does_not_execute`, `fault_commit_then_drop_executes` |
//! | Clerk Billing `subscription.created` etc. | `billing_subscription_created_event`, `billing_past_due_and_plan_change_events` |
//! | error envelope for bad input | `malformed_json_is_400`, `unknown_id_is_404`, `unknown_route_is_404`, `missing_auth_is_401`, `missing_name_is_422` |
//! | org list `query`, `limit`, `offset`, newest first | `clerk_org_list_query_and_pagination` |
//! | Svix signature, tolerance ±5 min | `svix_test_vector`, `svix_rejects_*`, `svix_accepts_any_of_several_signatures`, `event_payload_verifies` |
//! | Svix retry schedule (for the dispatcher) | `svix_retry_schedule` |
//! | webhook secret `whsec_<base64>` derived from the seed | `webhook_secret_is_deterministic_whsec` |
//! | determinism, no panics | `proptest_same_seed_same_run`, `proptest_arbitrary_requests_never_panic` |
//! | full state serializable and restorable | `clerk_state_roundtrips_through_json` |
//! | bounded event log and object count | `event_log_is_bounded` |
//!
//! # Modelling choices and what is left out
//!
//! - A slug omitted on create is generated as `slugify(name)-<suffix from the org id>`; Clerk
//!   also generates one and auto-generated slugs do not collide (exact format unverified).
//! - Error codes verified against public sources: `form_identifier_exists` ("That slug is
//!   taken. Please try another."), `resource_not_found`. The codes for malformed JSON
//!   (`malformed_request`), 401 (`authentication_invalid`), 429 (`too_many_requests`), 500
//!   (`internal_clerk_error`) and membership errors are best guesses in Clerk's envelope.
//! - Rate-limit quotas are off by default ([`ClerkConfig::rate_limits`] `None`); presets
//!   [`RateLimits::development_instance`] (100 req / 10 s), [`RateLimits::production_instance`]
//!   (1000 req / 10 s) and [`RateLimits::legacy`] (plus 20 user creates / 10 s) are documented
//!   Clerk limits. The fault knob gives targeted 429s.
//! - Deleting an organization emits only `organization.deleted` (not one
//!   `organizationMembership.deleted` per member); deleting a user emits one per membership.
//! - Email addresses are stored lowercased and matched case-insensitively.
//! - Unknown body parameters are ignored (real Clerk may reject some). Passwords, phone
//!   numbers, usernames, invitations, sessions, custom roles and permissions are not modelled.
//! - Billing plans are created on first use by slug, all priced 0 USD; payment attempts and
//!   `paymentAttempt.*` events are not modelled. `POST /v1/test_helpers/billing/...` routes
//!   are racehound-only.
//! - Svix delivery (retries, ordering) is the dispatcher's job, not this module's: events
//!   carry their `msg_…` id, [`ClerkEventRecord::svix_headers`] signs each attempt, and
//!   [`svix::attempt_delay`] gives Svix's schedule.
//! - Cross-checked by hand (not in CI): deliveries signed by this fake verify with the
//!   official Python `svix` 2.9.1 `Webhook.verify`, which rejects a changed body and a stale
//!   timestamp.
//! - Faults are matched before authentication: a rule is used up by any matching request.

pub mod billing;
pub mod events;
pub mod faults;
pub mod metadata;
pub mod orgs;
pub mod svix;
pub mod users;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use billing::{BillingPayerRef, BillingSubscription, BillingSubscriptionItem};
pub use events::ClerkEventRecord;
pub use faults::{ClerkFaultKind, ClerkFaultRule, ClerkFaults, RateLimits, DROP_RESPONSE_HEADER};
pub use metadata::{deep_merge, ClerkMetadata};
pub use orgs::{CreateOrganization, Membership, Organization, UpdateOrganization};
pub use users::{CreateUser, EmailAddress, UpdateUser, User};
pub use wire::{ClerkErrorBody, MetadataPatch};

use crate::http::{HttpRequest, HttpResponse, Method};
use crate::ids::{mix64, IdGen};
use crate::time::SimTime;

/// Settings of one fake Clerk instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClerkConfig {
    /// Per-instance request quotas; `None` (the default) disables them.
    pub rate_limits: Option<RateLimits>,
    /// The webhook signing secret; `None` derives a `whsec_…` from the seed.
    pub webhook_secret: Option<String>,
    /// The one accepted secret key; `None` accepts any `sk_test_…` / `sk_live_…` key.
    pub secret_key: Option<String>,
    /// Most users + organizations + memberships + subscriptions held at once.
    pub max_objects: usize,
    /// Most events kept in the log (the oldest drained ones are forgotten first).
    pub max_retained_events: usize,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ClerkConfig {
    fn default() -> Self {
        Self {
            rate_limits: None,
            webhook_secret: None,
            secret_key: None,
            max_objects: 100_000,
            max_retained_events: 100_000,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// The full, serializable state of one fake Clerk instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Clerk {
    config: ClerkConfig,
    seed_base: u64,
    instance_id: String,
    webhook_secret: String,
    ids: IdGen,
    seq: u64,
    request_count: u64,
    users: BTreeMap<String, User>,
    orgs: BTreeMap<String, Organization>,
    memberships: BTreeMap<String, Membership>,
    plans: BTreeMap<String, String>,
    subscriptions: BTreeMap<String, BillingSubscription>,
    events: Vec<ClerkEventRecord>,
    drained_count: usize,
    events_forgotten_count: u64,
    faults: ClerkFaults,
    rate_window: faults::RateWindow,
}

/// Everything an oracle needs to see: users, orgs, memberships, subscriptions, events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClerkSnapshot {
    /// The instance id (`ins_…`).
    pub instance_id: String,
    /// Live users, by id.
    pub users: Vec<User>,
    /// Live organizations, by id.
    pub organizations: Vec<Organization>,
    /// Live memberships, by id.
    pub memberships: Vec<Membership>,
    /// Billing subscriptions, by id.
    pub billing_subscriptions: Vec<BillingSubscription>,
    /// The retained event log, oldest first.
    pub events: Vec<ClerkEventRecord>,
}

impl Clerk {
    /// A fresh instance whose ids and webhook secret derive from `seed`.
    pub fn new(seed: u64, config: ClerkConfig) -> Self {
        let mut ids = IdGen::new(seed, "clerk");
        let instance_id = ids.next("ins");
        let seed_base = mix64(seed ^ 0x434C_4552_4B00_0000);
        let webhook_secret = config.webhook_secret.clone().unwrap_or_else(|| {
            let mut key = Vec::with_capacity(24);
            for i in 0..3u64 {
                key.extend_from_slice(&mix64(seed_base.wrapping_add(i)).to_le_bytes());
            }
            svix::encode_secret(&key)
        });
        Self {
            config,
            seed_base,
            instance_id,
            webhook_secret,
            ids,
            seq: 0,
            request_count: 0,
            users: BTreeMap::new(),
            orgs: BTreeMap::new(),
            memberships: BTreeMap::new(),
            plans: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            events: Vec::new(),
            drained_count: 0,
            events_forgotten_count: 0,
            faults: ClerkFaults::default(),
            rate_window: faults::RateWindow::default(),
        }
    }

    /// Serves one Backend API request: auth, faults, quotas, routing, JSON in and out.
    pub fn handle(&mut self, now: SimTime, request: &HttpRequest) -> HttpResponse {
        self.request_count = self.request_count.wrapping_add(1);
        let trace = wire::trace_id(self.seed_base, self.request_count);
        let fault = self.faults.take_match(request);
        match fault {
            Some(ClerkFaultKind::ServerError) => {
                let error = ClerkErrorBody::new(
                    500,
                    "internal_clerk_error",
                    "Oops, an unexpected error occurred",
                    "There was an internal error on our servers. We've been notified and are working on fixing it.",
                );
                return wire::error_response(&error, &trace);
            }
            Some(ClerkFaultKind::RateLimited { retry_after_secs }) => {
                return rate_limited(retry_after_secs, &trace);
            }
            _ => {}
        }
        if let Err(error) = wire::check_auth(request, self.config.secret_key.as_deref()) {
            return wire::error_response(&error, &trace);
        }
        if let Some(limits) = self.config.rate_limits {
            let is_user_create = request.method == Method::Post && request.path_only() == "/v1/users";
            if let Err(retry_after_secs) = self.rate_window.admit(&limits, now.unix_ms(), is_user_create) {
                return rate_limited(retry_after_secs, &trace);
            }
        }
        let response = match wire::route(self, now, request) {
            Ok(response) => response,
            Err(error) => wire::error_response(&error, &trace),
        };
        if fault == Some(ClerkFaultKind::CommitThenDropResponse) {
            return response.with_header(DROP_RESPONSE_HEADER, "true");
        }
        response
    }

    /// Events emitted since the last call, oldest first.
    pub fn drain_new_events(&mut self) -> Vec<ClerkEventRecord> {
        let start = self.drained_count.min(self.events.len());
        let fresh = self
            .events
            .get(start..)
            .map(<[ClerkEventRecord]>::to_vec)
            .unwrap_or_default();
        self.drained_count = self.events.len();
        fresh
    }

    /// Events emitted so far, organizations and memberships: a cheap change detector.
    pub fn change_counts(&self) -> (u64, usize, usize) {
        let events = self.events_forgotten_count + self.events.len() as u64;
        (events, self.orgs.len(), self.memberships.len())
    }

    /// The Svix signing secret, `whsec_<base64>`.
    pub fn webhook_secret(&self) -> &str {
        &self.webhook_secret
    }

    /// The instance id (`ins_…`) carried by every event.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Live organizations, by id, borrowed.
    pub fn organizations(&self) -> impl Iterator<Item = &Organization> {
        self.orgs.values()
    }

    /// A copy of everything observable.
    pub fn snapshot(&self) -> ClerkSnapshot {
        ClerkSnapshot {
            instance_id: self.instance_id.clone(),
            users: self.users.values().cloned().collect(),
            organizations: self.orgs.values().cloned().collect(),
            memberships: self.memberships.values().cloned().collect(),
            billing_subscriptions: self.subscriptions.values().cloned().collect(),
            events: self.events.clone(),
        }
    }

    /// The fault knobs.
    pub fn faults_mut(&mut self) -> &mut ClerkFaults {
        &mut self.faults
    }

    /// The configuration.
    pub fn config(&self) -> &ClerkConfig {
        &self.config
    }

    /// How many events were forgotten because the log exceeded `max_retained_events`.
    pub fn events_forgotten_count(&self) -> u64 {
        self.events_forgotten_count
    }

    /// How many events this instance has emitted: grows with every change of state, so a
    /// runtime can tell cheaply whether anything changed.
    pub fn events_emitted_count(&self) -> u64 {
        self.events.len() as u64 + self.events_forgotten_count
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn check_capacity(&self) -> Result<(), ClerkErrorBody> {
        let held = self.users.len() + self.orgs.len() + self.memberships.len() + self.subscriptions.len();
        if held >= self.config.max_objects {
            return Err(ClerkErrorBody::capacity("objects", self.config.max_objects));
        }
        Ok(())
    }

    fn emit(&mut self, now: SimTime, event_type: &str, data: Value) {
        let event = ClerkEventRecord {
            id: self.ids.next("msg"),
            event_type: event_type.to_string(),
            data,
            timestamp_ms: now.unix_ms(),
            instance_id: self.instance_id.clone(),
        };
        self.events.push(event);
        let max = self.config.max_retained_events.max(1);
        if self.events.len() > max {
            let excess = self.events.len() - max;
            self.events.drain(..excess);
            self.drained_count = self.drained_count.saturating_sub(excess);
            self.events_forgotten_count += excess as u64;
        }
    }
}

fn rate_limited(retry_after_secs: u64, trace: &str) -> HttpResponse {
    let error = ClerkErrorBody::new(
        429,
        "too_many_requests",
        "Too many requests",
        format!("Too many requests, retry after {retry_after_secs} seconds (hint: honour Retry-After)"),
    );
    wire::error_response(&error, trace).with_header("Retry-After", retry_after_secs.to_string())
}
