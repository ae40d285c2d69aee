//! Fake Stripe: a pure, deterministic state machine behind Stripe's v1 HTTP API.
//!
//! Plain data plus functions of `(state, now, request) -> (state, response, events)`: no
//! turmoil, tokio, threads or wall clock. A request is two-phase so a runtime can interleave
//! others between the phases: [`Stripe::begin`] authenticates, decodes, validates, checks the
//! idempotency key and the object's write lock and claims them; [`Stripe::finish`] executes
//! (mutations and events happen here), saves the result under the key and releases the claims.
//! [`Stripe::handle`] does both. [`Stripe::drain_new_events`] hands new events to the webhook
//! dispatcher, which signs payloads with [`webhook::sign_header`] and the secrets from
//! [`Stripe::webhook_endpoints`]. [`Stripe::snapshot`] is the whole state for the oracle.
//!
//! Files: `wire.rs` (form decoding, error envelope, list objects), `router.rs` (routes →
//! typed ops; `expand[]`), `idempotency.rs`, `faults.rs`, `customers.rs`,
//! `products.rs`, `coupons.rs`, `checkout.rs`, `subscriptions.rs`, `events.rs`, `webhook.rs`,
//! `state.rs` (objects and their JSON), `core.rs` (ids and event emission), `tests.rs`.
//!
//! # FIDELITY behaviours covered (test in `tests.rs` unless noted)
//!
//! - Ids `cus_ cs_test_ sub_ evt_ promo_ di_ in_ price_ prod_ si_ we_ req_` from
//!   [`crate::ids::IdGen`] streams `"stripe"` / `"stripe-request"`: `ids_have_stripe_prefixes`,
//!   `every_response_has_a_deterministic_request_id`, `props::same_seed_same_history`;
//!   the whole [`Stripe`] serialises: `whole_state_serialises_and_resumes_mid_request`.
//! - Idempotency (POST only, `Idempotency-Key` ≤ 255 chars; see `idempotency.rs` for the
//!   Stripe docs quoted): `idempotency_same_key_same_params_replays_with_header`,
//!   `idempotency_replays_errors_too`, `fault_500_is_saved_under_key_and_has_no_effect`,
//!   `idempotency_validation_failure_is_not_saved`, `idempotency_same_key_other_params_is_400`,
//!   `idempotency_same_key_other_endpoint_is_400`, `idempotency_same_key_in_flight_is_409`,
//!   `idempotency_429_is_not_saved`, `idempotency_key_expires_after_24h`,
//!   `idempotency_key_over_255_chars_is_400`, `get_ignores_idempotency_key`.
//! - Customers: `customer_email_is_not_unique`, `list_by_email_is_strongly_consistent`,
//!   `search_lags_behind_writes` (creates, metadata changes and deletes reach search only
//!   [`StripeConfig::search_lag`] later), `metadata_is_merged_on_update` (empty value deletes a
//!   key, `metadata=` clears), `deleted_customer_is_retrievable_with_deleted_true`.
//! - Checkout Sessions: `checkout_session_does_not_create_customer`,
//!   `customer_email_does_not_dedupe`, `discounts_and_allow_promotion_codes_are_exclusive`,
//!   `customer_and_customer_email_are_exclusive`,
//!   `session_expiry_is_between_30_minutes_and_24_hours`, `expired_session_cannot_be_paid`,
//!   `completing_session_creates_subscription_and_events`,
//!   `completing_session_with_customer_does_not_create_one`, `session_can_be_completed_once`.
//! - Coupons and promotion codes: `promotion_codes_unique_case_insensitively_among_active`,
//!   `inactive_promotion_code_is_rejected` (also expired code, unknown coupon / code),
//!   `max_redemptions_enforced` (a second session holding the code fails at completion),
//!   `coupon_max_redemptions_and_redeem_by_enforced`.
//! - Subscriptions (all six statuses; created / updated / deleted events):
//!   `subscription_statuses_and_events`.
//! - Events (`id, object, api_version, created, data.object, data.previous_attributes,
//!   livemode, pending_webhooks, request {id, idempotency_key}, type`; `/v1/events`):
//!   `events_have_the_real_shape`.
//! - Webhooks: `Stripe-Signature` HMAC keyed with the whole `whsec_` string —
//!   `webhook::tests::signature_matches_python_hmac_vector`, `flipped_byte_is_rejected`,
//!   `stale_timestamp_is_rejected`, `header_parsing_follows_the_sdks`;
//!   `webhook_endpoint_secret_signs_events`. Checked once by hand against the official
//!   stripe-python 16.1.0: `stripe.Webhook.construct_event(payload, sign_header(..), secret)`
//!   accepted the payloads of a completed session's six events and rejected a tampered one.
//!   Back-off model
//!   `webhook::tests::retries_back_off_exponentially_within_3_days`.
//! - Errors and limits: `concurrent_writes_to_one_customer_get_lock_timeout` (429
//!   `lock_timeout` with `Stripe-Should-Retry: true`), `idempotency_429_is_not_saved`
//!   (`rate_limit`), `fault_500_is_saved_under_key_and_has_no_effect` (`api_error`),
//!   `fault_commit_then_drop_response_executes_and_marks_response`,
//!   `fault_lock_timeout_and_rules_are_counted`.
//! - Wire format: `malformed_form_body_is_400`, `unknown_parameter_is_400_parameter_unknown`,
//!   `missing_and_invalid_parameters_are_400`, `unknown_id_is_404_resource_missing`,
//!   `missing_auth_is_401`, `unknown_route_is_404`, `expand_replaces_ids_with_objects`,
//!   `metadata_limits_are_enforced`, `lists_of_sessions_and_subscriptions_filter_like_stripe`,
//!   `decodes_bodies_as_the_stripe_sdks_encode_them` (a body encoded by stripe-python),
//!   `wire::tests::*`, `props::arbitrary_input_never_panics_and_errors_are_stripe_shaped`,
//!   `props::arbitrary_form_bodies_on_create_routes`, `props::plausible_forms_never_panic_or_500`.
//!
//! # Choices where Stripe is silent or this fake simplifies
//!
//! - Faults hit only requests that would execute (after the idempotency lookup and
//!   validation): replays and validation errors pass through. A 500 fault is saved under the
//!   key like a real 5xx (see [`faults`]); 429s are never saved and carry no `Retry-After`.
//! - A second request with an in-flight key but *different* parameters gets the 400
//!   parameter mismatch rather than the 409.
//! - `lock_timeout` is immediate (real Stripe waits a few seconds for the lock first) and
//!   covers writes addressed to one object by path (customer update/delete, session
//!   expire/complete, subscription update/cancel, promotion code update), plus the customer
//!   that a subscription is being created for (`POST /v1/subscriptions`, session completion).
//! - Session expiry by time is lazy: [`Stripe::tick`] (called by every `begin`/`finish`)
//!   marks due sessions expired and emits `checkout.session.expired` with `request.id: null`.
//! - The signature verifier, like the SDKs, rejects only timestamps *older* than the tolerance.
//!
//! # Left out on purpose
//!
//! - Webhook *delivery* (at-least-once, no ordering, retries for 3 days) is the runtime's job;
//!   this module gives events, endpoints, signatures and [`webhook::next_retry_delay`].
//! - The SDKs' automatic retries (2 retries, fresh vs. reused keys) are a client option of
//!   the runtime, not of the server.
//! - Payments, payment methods, failed charges, proration, billing cycles, test clocks,
//!   `line_items` expansion, pagination cursors other than `starting_after` on customers,
//!   search pagination (`page`), `Stripe-Account` / Connect, live mode keys, API versions.

mod checkout;
mod core;
mod coupons;
mod customers;
mod events;
pub mod faults;
pub mod idempotency;
mod products;
mod router;
pub mod state;
mod subscriptions;
pub mod webhook;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

pub use faults::{StripeFaultKind, StripeFaultRule, StripeFaults, DROP_RESPONSE_HEADER};
pub use state::{Event, Objects, SubscriptionStatus, API_VERSION};
pub use webhook::{EndpointInfo, SignatureError};

use self::core::{Core, Ctx};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::ids::IdGen;
use crate::time::SimTime;
use router::Op;
use wire::{ApiError, Params};

/// Knobs of the fake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeConfig {
    /// How long a write takes to reach `/v1/customers/search` (default 30 s).
    pub search_lag: Duration,
    /// How long idempotency keys are kept (default 24 h).
    pub idempotency_ttl: Duration,
    /// Lifetime of a Checkout Session created without `expires_at` (default 24 h; clamped to 30 min..24 h).
    pub session_expiry_default: Duration,
    /// A write to an object another in-flight request is writing gets 429 `lock_timeout` (default true).
    pub lock_timeout_on_concurrent_writes: bool,
    /// Most stored objects (creates beyond get a 500 with a hint).
    pub max_objects: usize,
    /// Most requests in flight between `begin` and `finish`.
    pub max_in_flight: usize,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            search_lag: Duration::from_secs(30),
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            session_expiry_default: Duration::from_secs(24 * 60 * 60),
            lock_timeout_on_concurrent_writes: true,
            max_objects: 1_000_000,
            max_in_flight: 10_000,
        }
    }
}

/// A request between [`Stripe::begin`] and [`Stripe::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PendingId(pub u64);

/// The outcome of [`Stripe::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Began {
    /// Answered without executing (error, replay, 409, 429).
    Respond(HttpResponse),
    /// Executing: call [`Stripe::finish`] with this id.
    InFlight(PendingId),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    op: Op,
    request_id: String,
    idempotency_key: Option<String>,
    fault: Option<StripeFaultKind>,
    locks: Vec<String>,
    expand: Vec<String>,
}

/// Everything the fake holds, for the oracle and determinism checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StripeSnapshot {
    /// Customers (deleted included), sessions, subscriptions, coupons, codes, events, ...
    pub objects: Objects,
    /// Idempotency keys and their saved responses.
    pub idempotency: Vec<idempotency::Entry>,
}

/// The fake Stripe account. The whole of it (in-flight requests and fault rules included)
/// serialises, so a run can be checkpointed and resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stripe {
    config: StripeConfig,
    core: Core,
    request_ids: IdGen,
    idempotency: idempotency::Store,
    pending: BTreeMap<PendingId, Pending>,
    next_pending: u64,
    locks: BTreeMap<String, PendingId>,
    faults: StripeFaults,
    drained_events: usize,
}

/// The 401 Stripe gives without a usable key.
fn unauthorized() -> ApiError {
    ApiError {
        status: 401,
        kind: "invalid_request_error",
        code: None,
        message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.".to_string(),
        param: None,
    }
}

fn invalid_key(key: &str) -> ApiError {
    let shown: String = key.chars().take(12).collect();
    ApiError {
        status: 401,
        kind: "invalid_request_error",
        code: None,
        message: format!(
            "Invalid API Key provided: {shown}**** (hint: any sk_test_… or rk_test_… key works on the fake)"
        ),
        param: None,
    }
}

fn check_auth(req: &HttpRequest) -> Result<(), ApiError> {
    let header = req.header("Authorization").ok_or_else(unauthorized)?.trim();
    let key = if let Some(bearer) = header.strip_prefix("Bearer ") {
        bearer.trim().to_string()
    } else if let Some(basic) = header.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .map_err(|_| unauthorized())?;
        let text = String::from_utf8(decoded).map_err(|_| unauthorized())?;
        text.split(':').next().unwrap_or("").to_string()
    } else {
        return Err(unauthorized());
    };
    if key.is_empty() {
        return Err(unauthorized());
    }
    // Secret and restricted test keys (a restricted key's permissions are not modelled: it
    // may do what a secret key may).
    let known = ["sk_test_", "rk_test_"]
        .into_iter()
        .any(|prefix| key.starts_with(prefix) && key.len() > prefix.len());
    if !known {
        return Err(invalid_key(&key));
    }
    Ok(())
}

fn lock_timeout() -> ApiError {
    ApiError {
        status: 429,
        kind: "invalid_request_error",
        code: Some("lock_timeout"),
        message: "This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request. If you see this error frequently and are making multiple concurrent requests to a single object, make your requests serially or at a lower rate.".to_string(),
        param: None,
    }
}

fn rate_limit() -> ApiError {
    ApiError {
        status: 429,
        kind: "invalid_request_error",
        code: Some("rate_limit"),
        message:
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."
                .to_string(),
        param: None,
    }
}

impl Stripe {
    /// A fresh, empty account whose ids derive from `seed`.
    pub fn new(seed: u64, config: StripeConfig) -> Self {
        Self {
            config,
            core: Core {
                objects: Objects::default(),
                ids: IdGen::new(seed, "stripe"),
                session_expiry: Default::default(),
            },
            request_ids: IdGen::new(seed, "stripe-request"),
            idempotency: idempotency::Store::default(),
            pending: BTreeMap::new(),
            next_pending: 0,
            locks: BTreeMap::new(),
            faults: StripeFaults::default(),
            drained_events: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &StripeConfig {
        &self.config
    }

    fn respond(&self, request_id: &str, key: Option<&str>, err: &ApiError) -> HttpResponse {
        let mut resp = err.to_response().with_header("Request-Id", request_id);
        if let Some(key) = key {
            resp = resp.with_header("Idempotency-Key", key);
        }
        let should_retry = err.status == 409 || err.code == Some("lock_timeout");
        if should_retry {
            resp = resp.with_header("Stripe-Should-Retry", "true");
        }
        resp
    }

    /// Stripe's background work up to `now`: open sessions past `expires_at` become expired
    /// (emitting `checkout.session.expired`); expired idempotency keys are forgotten.
    pub fn tick(&mut self, now: SimTime) {
        let ctx = Ctx {
            now,
            request_id: None,
            idempotency_key: None,
            config: &self.config,
        };
        checkout::expire_due(&mut self.core, &ctx);
        self.idempotency.prune(now, self.config.idempotency_ttl);
    }

    /// Phase 1 of a request: authenticate, decode, validate, check the idempotency key and the
    /// object's write lock, and claim them. Answers at once or leaves the request in flight.
    pub fn begin(&mut self, now: SimTime, req: &HttpRequest) -> Began {
        self.tick(now);
        let request_id = self.request_ids.next("req");
        let key = (req.method == Method::Post)
            .then(|| req.header("Idempotency-Key").map(str::to_string))
            .flatten();
        match self.begin_inner(now, req, &request_id, key.as_deref()) {
            Ok(began) => began,
            Err(err) => Began::Respond(self.respond(&request_id, key.as_deref(), &err)),
        }
    }

    fn begin_inner(
        &mut self,
        now: SimTime,
        req: &HttpRequest,
        request_id: &str,
        key: Option<&str>,
    ) -> Result<Began, ApiError> {
        check_auth(req)?;
        let raw = match req.method {
            Method::Post => req.body.as_slice(),
            _ => req.query().as_bytes(),
        };
        let params = Params::decode(raw)?;
        let path = req.path_only();
        let endpoint = format!("{} {path}", req.method.as_str());
        let canonical = params.canonical();
        if let Some(key) = key {
            idempotency::check_key(key)?;
            match self
                .idempotency
                .lookup(now, self.config.idempotency_ttl, key, &endpoint, &canonical)
            {
                idempotency::Lookup::New => {}
                idempotency::Lookup::Replay(saved) => {
                    return Ok(Began::Respond(saved.with_header("Idempotent-Replayed", "true")));
                }
                idempotency::Lookup::Reject(err) => return Err(err),
            }
        }
        let op = router::parse(req.method, path, &params, now, self.config.session_expiry_default)?;
        if self.pending.len() >= self.config.max_in_flight {
            return Err(ApiError::internal(format!(
                "racehound: more than {} Stripe requests in flight (hint: call finish() for each begin())",
                self.config.max_in_flight
            )));
        }
        if req.method != Method::Get && self.core.objects.count() >= self.config.max_objects {
            return Err(ApiError::internal(format!(
                "racehound: the fake Stripe holds {} objects, its limit (hint: raise StripeConfig::max_objects)",
                self.config.max_objects
            )));
        }
        let locks = if self.config.lock_timeout_on_concurrent_writes {
            let targets = op.lock_targets(&self.core.objects);
            if targets.iter().any(|t| self.locks.contains_key(t)) {
                return Err(lock_timeout());
            }
            targets
        } else {
            Vec::new()
        };
        let fault = self.faults.take(req.method, path);
        match fault {
            Some(StripeFaultKind::RateLimit429) => return Err(rate_limit()),
            Some(StripeFaultKind::LockTimeout429) => return Err(lock_timeout()),
            _ => {}
        }
        let id = PendingId(self.next_pending);
        self.next_pending += 1;
        for target in &locks {
            self.locks.insert(target.clone(), id);
        }
        if let Some(key) = key {
            self.idempotency.claim(now, key, &endpoint, canonical);
        }
        self.pending.insert(
            id,
            Pending {
                op,
                request_id: request_id.to_string(),
                idempotency_key: key.map(str::to_string),
                fault,
                locks,
                expand: params.list("expand"),
            },
        );
        Ok(Began::InFlight(id))
    }

    /// Phase 2: execute the request (mutations and events happen now), save the result under
    /// its idempotency key, release its claims, and return the response.
    pub fn finish(&mut self, now: SimTime, pending: PendingId) -> HttpResponse {
        let Some(p) = self.pending.remove(&pending) else {
            let err = ApiError::internal(format!(
                "racehound: no request in flight with id {} (hint: finish() each begin() once)",
                pending.0
            ));
            return err.to_response();
        };
        for target in &p.locks {
            self.locks.remove(target);
        }
        self.tick(now);
        let key = p.idempotency_key.as_deref();
        let result = if p.fault == Some(StripeFaultKind::ApiError500) {
            Err(ApiError::internal(
                "An unknown error occurred while processing your request (racehound fault: 500 api_error).",
            ))
        } else {
            let ctx = Ctx {
                now,
                request_id: Some(&p.request_id),
                idempotency_key: key,
                config: &self.config,
            };
            router::execute(&mut self.core, &ctx, &p.op)
                .map(|body| router::expand(&self.core, &ctx, body, &p.expand))
        };
        let mut resp = match result {
            Ok(body) => {
                let mut resp = HttpResponse::json(200, &body).with_header("Request-Id", p.request_id.clone());
                if let Some(key) = key {
                    resp = resp.with_header("Idempotency-Key", key);
                }
                resp
            }
            Err(err) => self.respond(&p.request_id, key, &err),
        };
        if let Some(key) = key {
            self.idempotency.finish(now, key, &resp);
        }
        if p.fault == Some(StripeFaultKind::CommitThenDropResponse) {
            resp = resp.with_header(DROP_RESPONSE_HEADER, "true");
        }
        resp
    }

    /// [`Stripe::begin`] and [`Stripe::finish`] at once.
    pub fn handle(&mut self, now: SimTime, req: &HttpRequest) -> HttpResponse {
        match self.begin(now, req) {
            Began::Respond(resp) => resp,
            Began::InFlight(id) => self.finish(now, id),
        }
    }

    /// How many requests are between `begin` and `finish`.
    pub fn in_flight_count(&self) -> usize {
        self.pending.len()
    }

    /// Events emitted since the last call, oldest first (for webhook dispatch).
    pub fn drain_new_events(&mut self) -> Vec<Event> {
        let all = &self.core.objects.events;
        let new = all.get(self.drained_events..).unwrap_or(&[]).to_vec();
        self.drained_events = all.len();
        new
    }

    /// Events emitted so far and live (not deleted) customers: a cheap change detector.
    pub fn change_counts(&self) -> (usize, usize) {
        let objects = &self.core.objects;
        let live_customers = objects.customers.values().filter(|c| !c.deleted).count();
        (objects.events.len(), live_customers)
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> &[Event] {
        &self.core.objects.events
    }

    /// Registered webhook endpoints, oldest first.
    pub fn webhook_endpoints(&self) -> Vec<EndpointInfo> {
        let mut all: Vec<_> = self.core.objects.webhook_endpoints.values().collect();
        all.sort_by_key(|e| e.seq);
        all.into_iter()
            .map(|e| EndpointInfo {
                id: e.id.clone(),
                url: e.url.clone(),
                secret: e.secret.clone(),
                enabled_events: e.enabled_events.clone(),
            })
            .collect()
    }

    /// Every object of the account, borrowed (a [`Stripe::snapshot`] without the copy).
    pub fn objects(&self) -> &Objects {
        &self.core.objects
    }

    /// The whole state, serialisable and comparable.
    pub fn snapshot(&self) -> StripeSnapshot {
        StripeSnapshot {
            objects: self.core.objects.clone(),
            idempotency: self.idempotency.entries(),
        }
    }

    /// The fault knobs.
    pub fn faults_mut(&mut self) -> &mut StripeFaults {
        &mut self.faults
    }

    fn post(&mut self, now: SimTime, path: &str, pairs: &[(&str, &str)]) -> HttpResponse {
        let req = HttpRequest::new(Method::Post, path)
            .with_header("Authorization", "Bearer sk_test_racehound")
            .with_header("Content-Type", "application/x-www-form-urlencoded")
            .with_body(wire::encode_form(pairs));
        self.handle(now, &req)
    }

    /// The browser pays for session `id` (same as `POST /v1/test_helpers/checkout/sessions/{id}/complete`).
    pub fn complete_checkout_session(&mut self, now: SimTime, id: &str) -> HttpResponse {
        self.post(
            now,
            &format!("/v1/test_helpers/checkout/sessions/{id}/complete"),
            &[],
        )
    }

    /// Creates a product and a price through the API; returns the price id.
    pub fn seed_price(
        &mut self,
        now: SimTime,
        name: &str,
        unit_amount: u64,
        currency: &str,
        interval: Option<&str>,
    ) -> Result<String, HttpResponse> {
        let amount = unit_amount.to_string();
        let mut pairs = vec![
            ("product_data[name]", name),
            ("unit_amount", &amount),
            ("currency", currency),
        ];
        if let Some(interval) = interval {
            pairs.push(("recurring[interval]", interval));
        }
        let resp = self.post(now, "/v1/prices", &pairs);
        match resp.body_json()["id"].as_str() {
            Some(id) if resp.is_success() => Ok(id.to_string()),
            _ => Err(resp),
        }
    }

    /// Moves a subscription to `status` (Stripe's billing engine would: `past_due`, `unpaid`, ...),
    /// emitting `customer.subscription.updated` (or `.deleted` for `canceled`).
    pub fn set_subscription_status(
        &mut self,
        now: SimTime,
        id: &str,
        status: SubscriptionStatus,
    ) -> HttpResponse {
        let request_id = self.request_ids.next("req");
        let ctx = Ctx {
            now,
            request_id: None,
            idempotency_key: None,
            config: &self.config,
        };
        match subscriptions::set_status(&mut self.core, &ctx, id, status) {
            Ok(body) => HttpResponse::json(200, &body).with_header("Request-Id", request_id),
            Err(err) => self.respond(&request_id, None, &err),
        }
    }
}
