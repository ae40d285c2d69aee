//! Fuzz harnesses: each takes arbitrary bytes and checks the properties of one parser or fake.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` call these functions, and
//! `tests/fuzz_corpus.rs` runs them over every file in `fuzz/corpus/<target>/`, so each corpus
//! file (including every crash found and copied there) is a regression test under `cargo test`.
//! See `docs/fuzzing.md`.
//!
//! A harness panics when a property fails: that is how libFuzzer and `cargo test` see a
//! finding. The fakes and the parser themselves must never panic on any input.
//!
//! - [`scenario_file`]: bytes as a scenario file; errors render as the CLI shows them.
//! - [`stripe_wire`]: a sequence of requests into the fake Stripe's wire layer; every
//!   rejection is a Stripe-shaped 4xx, no 5xx unless a fault was injected.
//! - [`webhook_signature`]: the Stripe and Svix verifiers accept exactly the correct signatures.
//! - [`db_model`]: statements from 2–3 sessions on the simulated PostgreSQL; unique keys hold
//!   and a rolled-back transaction leaves no trace.
//! - [`reference_schedule`]: actors, a fault plan and a seed against the `reference` strategy
//!   in the simulated world, one simulation per input; every invariant holds.

use base64::Engine as _;
use serde_json::Value as Json;

use crate::explore::input::{to_timed, ResolvedActor, ResolvedStep, RunInput};
use crate::fakes::clerk::svix;
use crate::fakes::postgres::{
    AdvisoryLockInfo, ColumnType, Database, DbSnapshot, DeadlockVictim, LockScope, SessionId, SetValue, Step,
    Stmt, TableSchema, Value,
};
use crate::fakes::stripe::webhook as stripe_webhook;
use crate::fakes::stripe::{FaultKind, Stripe, StripeConfig};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::scenario::PlannedFault;
use crate::sim::faults::TimedFault;
use crate::time::SimTime;

/// The fuzz targets, by name (the directories under `fuzz/corpus/`).
pub const TARGETS: &[&str] = &[
    "scenario_file",
    "stripe_wire",
    "webhook_signature",
    "db_model",
    "reference_schedule",
];

/// Runs the harness named `target` on `data`; `false` if there is no such target.
pub fn run_target(target: &str, data: &[u8]) -> bool {
    match target {
        "scenario_file" => scenario_file(data),
        "stripe_wire" => stripe_wire(data),
        "webhook_signature" => webhook_signature(data),
        "db_model" => db_model(data),
        "reference_schedule" => reference_schedule(data),
        _ => return false,
    }
    true
}

/// Reads fuzz input as a stream of choices; past the end every read gives zeros.
struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    /// A length-prefixed slice of at most `max` bytes.
    fn slice(&mut self, max: usize) -> &'a [u8] {
        let len = self.below(max + 1).min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        head
    }

    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.slice(max)).into_owned()
    }

    fn pick<'b>(&mut self, options: &[&'b str]) -> &'b str {
        options.get(self.below(options.len())).copied().unwrap_or("")
    }
}

// ---------------------------------------------------------------------------------------------
// scenario_file

/// Arbitrary bytes as a scenario file: [`crate::scenario::parse`] never panics; an error renders
/// with [`crate::scenario::ScenarioError::render_plain`] as the CLI shows it; a success is
/// within the documented limits.
pub fn scenario_file(data: &[u8]) {
    use crate::scenario::{parse, ACTORS_MAX, FAULT_KINDS, FLOWS, STEPS_MAX, USERS_MAX};
    let text = String::from_utf8_lossy(data);
    let ids = crate::app::strategies::registry::ids();
    match parse("fuzz.toml", &text, &ids) {
        Err(error) => {
            let rendered = error.render_plain();
            assert!(
                rendered.starts_with("error: fuzz.toml"),
                "rendering lost the file name: {rendered}"
            );
            assert!(
                rendered.contains(&error.message),
                "rendering lost the message: {rendered}"
            );
            if let Some((line, column)) = error.line_column() {
                assert!(
                    line >= 1 && column >= 1,
                    "line/column not 1-based: {line}:{column}"
                );
                assert!(
                    line <= text.matches('\n').count() + 1,
                    "line {line} past the end of the file"
                );
            }
        }
        Ok(scenario) => {
            assert!(!scenario.name.is_empty());
            assert!((1..=USERS_MAX).contains(&scenario.users));
            assert!(!scenario.actors.is_empty() && scenario.actors.len() <= ACTORS_MAX);
            for actor in &scenario.actors {
                assert!(actor.steps.len() <= STEPS_MAX);
                for step in &actor.steps {
                    assert!(FLOWS.contains(&step.flow.as_str()), "unknown flow {}", step.flow);
                    assert!(step.at_ms.0 <= step.at_ms.1, "backwards range {:?}", step.at_ms);
                }
            }
            assert!(scenario.latency_ms.0 >= 1 && scenario.latency_ms.0 <= scenario.latency_ms.1);
            assert!((0.0..1.0).contains(&scenario.loss));
            for kind in scenario.fault_rates.keys() {
                assert!(FAULT_KINDS.contains(&kind.as_str()), "unknown fault kind {kind}");
            }
            for fault in &scenario.fault_plan {
                assert!(
                    FAULT_KINDS.contains(&fault.kind.as_str()),
                    "unknown fault kind {}",
                    fault.kind
                );
            }
            for id in &scenario.strategies {
                assert!(ids.contains(&id.as_str()), "unknown strategy {id}");
            }
            // A validated scenario serialises (it travels in replay tokens and reports).
            assert!(serde_json::to_string(&scenario).is_ok());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// stripe_wire

/// Real routes of the fake Stripe; `{}` is an object id.
const STRIPE_ROUTES: &[(Method, &str)] = &[
    (Method::Post, "/v1/customers"),
    (Method::Get, "/v1/customers"),
    (Method::Get, "/v1/customers/search"),
    (Method::Get, "/v1/customers/{}"),
    (Method::Post, "/v1/customers/{}"),
    (Method::Delete, "/v1/customers/{}"),
    (Method::Post, "/v1/products"),
    (Method::Post, "/v1/prices"),
    (Method::Post, "/v1/coupons"),
    (Method::Get, "/v1/coupons/{}"),
    (Method::Post, "/v1/promotion_codes"),
    (Method::Get, "/v1/promotion_codes"),
    (Method::Get, "/v1/promotion_codes/{}"),
    (Method::Post, "/v1/promotion_codes/{}"),
    (Method::Post, "/v1/checkout/sessions"),
    (Method::Get, "/v1/checkout/sessions"),
    (Method::Get, "/v1/checkout/sessions/{}"),
    (Method::Post, "/v1/checkout/sessions/{}/expire"),
    (Method::Post, "/v1/test_helpers/checkout/sessions/{}/complete"),
    (Method::Post, "/v1/subscriptions"),
    (Method::Get, "/v1/subscriptions"),
    (Method::Get, "/v1/subscriptions/{}"),
    (Method::Post, "/v1/subscriptions/{}"),
    (Method::Delete, "/v1/subscriptions/{}"),
    (Method::Get, "/v1/invoices/{}"),
    (Method::Get, "/v1/events"),
    (Method::Get, "/v1/events/{}"),
    (Method::Post, "/v1/webhook_endpoints"),
    (Method::Get, "/v1/webhook_endpoints"),
];

/// Parameter names the routes know (and a few they do not).
const STRIPE_KEYS: &[&str] = &[
    "email",
    "name",
    "description",
    "metadata[user_id]",
    "metadata[plan]",
    "metadata",
    "expand[]",
    "expand[0]",
    "customer",
    "customer_email",
    "mode",
    "line_items[0][price]",
    "line_items[0][quantity]",
    "success_url",
    "cancel_url",
    "discounts[0][promotion_code]",
    "discounts[0][coupon]",
    "allow_promotion_codes",
    "expires_at",
    "client_reference_id",
    "id",
    "percent_off",
    "amount_off",
    "currency",
    "duration",
    "duration_in_months",
    "max_redemptions",
    "redeem_by",
    "coupon",
    "code",
    "active",
    "product",
    "product_data[name]",
    "unit_amount",
    "recurring[interval]",
    "items[0][price]",
    "trial_period_days",
    "cancel_at_period_end",
    "query",
    "limit",
    "starting_after",
    "status",
    "type",
    "url",
    "enabled_events[]",
    "enabled_events[0]",
    "price",
    "a[b][c]",
    "x]",
];

/// Values worth trying.
const STRIPE_VALUES: &[&str] = &[
    "",
    "a@b.co",
    "x",
    "0",
    "1",
    "2",
    "50",
    "100",
    "-1",
    "true",
    "false",
    "subscription",
    "payment",
    "setup",
    "usd",
    "once",
    "forever",
    "repeating",
    "month",
    "https://e.x/s",
    "email:'a@b.co'",
    "metadata['user_id']:'1'",
    "99999999999999999999",
    "1.5",
    "1e3",
    "customer.created",
    "*",
    "open",
    "complete",
    "active",
    "canceled",
    "all",
    "customer",
    "data.customer",
    "SAVE20",
];

const IDEMPOTENCY_KEYS: &[&str] = &["k0", "k1", "k2", "k3"];

/// Most requests and operations one input plays.
const STRIPE_OPS_MAX: usize = 48;
/// Most requests in flight between `begin` and `finish`.
const STRIPE_PENDING_MAX: usize = 8;
/// Most object ids remembered for later paths and parameters.
const STRIPE_IDS_MAX: usize = 64;

struct StripeRun {
    stripe: Stripe,
    now: SimTime,
    ids: Vec<String>,
    pending: Vec<(crate::fakes::stripe::PendingId, String)>,
    fault_injected: bool,
}

impl StripeRun {
    fn id(&self, bytes: &mut Bytes<'_>) -> String {
        match bytes.below(4) {
            0 => bytes.text(24),
            _ if self.ids.is_empty() => "cus_missing".to_string(),
            _ => self
                .ids
                .get(bytes.below(self.ids.len()))
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn value(&self, bytes: &mut Bytes<'_>) -> String {
        match bytes.below(8) {
            0 => bytes.text(16),
            1 | 2 => self.id(bytes),
            _ => bytes.pick(STRIPE_VALUES).to_string(),
        }
    }

    fn form(&self, bytes: &mut Bytes<'_>) -> Vec<u8> {
        if bytes.below(8) == 0 {
            return bytes.slice(64).to_vec();
        }
        let count = bytes.below(7);
        let pairs: Vec<(String, String)> = (0..count)
            .map(|_| {
                let key = if bytes.below(16) == 0 {
                    bytes.text(12)
                } else {
                    bytes.pick(STRIPE_KEYS).to_string()
                };
                (key, self.value(bytes))
            })
            .collect();
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        crate::fakes::stripe::wire::encode_form(&refs).into_bytes()
    }

    fn request(&self, bytes: &mut Bytes<'_>) -> HttpRequest {
        let (mut method, template) = STRIPE_ROUTES
            .get(bytes.below(STRIPE_ROUTES.len()))
            .copied()
            .unwrap_or((Method::Get, "/v1/customers"));
        let mut path = match bytes.below(16) {
            0 => format!("/{}", bytes.text(24)),
            1 => format!("{template}/"),
            _ => template.to_string(),
        };
        if path.contains("{}") {
            let id = crate::fakes::stripe::wire::percent_encode(&self.id(bytes));
            path = path.replace("{}", &id);
        }
        if bytes.below(16) == 0 {
            method = [Method::Get, Method::Post, Method::Patch, Method::Delete]
                .get(bytes.below(4))
                .copied()
                .unwrap_or(Method::Get);
        }
        let form = self.form(bytes);
        let mut req = if method == Method::Post {
            HttpRequest::new(method, path).with_body(form)
        } else {
            if !form.is_empty() {
                path = format!("{path}?{}", String::from_utf8_lossy(&form));
            }
            HttpRequest::new(method, path)
        };
        req = match bytes.below(16) {
            0 => req,
            1 => req.with_header("Authorization", format!("Bearer {}", bytes.text(16))),
            2 => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes.slice(16));
                req.with_header("Authorization", format!("Basic {encoded}"))
            }
            3 => req.with_header("authorization", "Basic c2tfdGVzdF94Og=="),
            _ => req.with_header("Authorization", "Bearer sk_test_x"),
        };
        req = match bytes.below(4) {
            0 => req.with_header("Idempotency-Key", bytes.pick(IDEMPOTENCY_KEYS)),
            1 if bytes.bool() => req.with_header("Idempotency-Key", bytes.text(8)),
            _ => req,
        };
        if bytes.below(16) == 0 {
            req = req.with_header(bytes.text(8), bytes.text(8));
        }
        req
    }

    /// Checks one response and remembers the ids it shows.
    fn check(&mut self, req: &str, resp: &HttpResponse) {
        let body: Json = serde_json::from_slice(&resp.body)
            .unwrap_or_else(|e| panic!("{req}: response body is not JSON ({e}): {resp:?}"));
        assert!(body.is_object(), "{req}: response body is not an object: {body}");
        assert!(
            resp.header("Request-Id").is_some(),
            "{req}: no Request-Id: {resp:?}"
        );
        match resp.status {
            200..=299 => self.remember_ids(&body),
            400..=499 => Self::check_error(req, resp.status, &body),
            500..=599 if self.fault_injected => Self::check_error(req, resp.status, &body),
            status => panic!("{req}: status {status} without an injected fault: {body}"),
        }
    }

    fn check_error(req: &str, status: u16, body: &Json) {
        let error = body.get("error");
        assert!(
            error.and_then(|e| e.get("type")).is_some_and(Json::is_string),
            "{req}: {status} without error.type: {body}"
        );
        assert!(
            error.and_then(|e| e.get("message")).is_some_and(Json::is_string),
            "{req}: {status} without error.message: {body}"
        );
    }

    fn remember_ids(&mut self, body: &Json) {
        let mut found = Vec::new();
        if let Some(id) = body.get("id").and_then(Json::as_str) {
            found.push(id.to_string());
        }
        if let Some(data) = body.get("data").and_then(Json::as_array) {
            for item in data {
                if let Some(id) = item.get("id").and_then(Json::as_str) {
                    found.push(id.to_string());
                }
            }
        }
        for field in [
            "customer",
            "subscription",
            "latest_invoice",
            "promotion_code",
            "coupon",
        ] {
            if let Some(id) = body.get(field).and_then(Json::as_str) {
                found.push(id.to_string());
            }
        }
        for id in found {
            if self.ids.len() < STRIPE_IDS_MAX && !self.ids.contains(&id) {
                self.ids.push(id);
            }
        }
    }

    fn inject_fault(&mut self, bytes: &mut Bytes<'_>) {
        let (method, template) = STRIPE_ROUTES
            .get(bytes.below(STRIPE_ROUTES.len()))
            .copied()
            .unwrap_or((Method::Post, "/v1/customers"));
        let prefix = template.split("/{}").next().unwrap_or(template);
        let kind = [
            FaultKind::ApiError500,
            FaultKind::RateLimit429,
            FaultKind::LockTimeout429,
            FaultKind::CommitThenDropResponse,
        ]
        .get(bytes.below(4))
        .copied()
        .unwrap_or(FaultKind::ApiError500);
        let method = bytes.bool().then_some(method);
        let count = 1 + u32::from(bytes.byte() % 3);
        if self.stripe.faults_mut().next(method, prefix, count, kind).is_ok() {
            self.fault_injected = true;
        }
    }
}

/// A sequence of requests (biased toward real routes, parameters and a valid key), two-phase
/// requests, injected faults and clock jumps, derived from `data`, into the fake Stripe: it
/// never panics, every response is JSON with a `Request-Id`, every rejection is a 4xx with
/// `{"error":{"type","message",…}}`, and there is no 5xx unless a fault was injected.
pub fn stripe_wire(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let mut run = StripeRun {
        stripe: Stripe::new(bytes.u64() % 4, StripeConfig::default()),
        now: SimTime::EPOCH,
        ids: Vec::new(),
        pending: Vec::new(),
        fault_injected: false,
    };
    for _ in 0..STRIPE_OPS_MAX {
        if bytes.is_empty() {
            break;
        }
        match bytes.below(16) {
            0 => {
                let secs = [0u64, 1, 61, 31 * 60, 25 * 3600, 4 * 24 * 3600]
                    .get(bytes.below(6))
                    .copied()
                    .unwrap_or(0);
                run.now = run.now + std::time::Duration::from_secs(secs);
            }
            1 => run.inject_fault(&mut bytes),
            2 | 3 if run.pending.len() < STRIPE_PENDING_MAX => {
                let req = run.request(&mut bytes);
                let label = format!("{} {}", req.method.as_str(), req.path);
                match run.stripe.begin(run.now, &req) {
                    crate::fakes::stripe::Began::Respond(resp) => run.check(&label, &resp),
                    crate::fakes::stripe::Began::InFlight(id) => run.pending.push((id, label)),
                }
            }
            4 if !run.pending.is_empty() => {
                let index = bytes.below(run.pending.len());
                let (id, label) = run.pending.remove(index);
                let resp = run.stripe.finish(run.now, id);
                run.check(&label, &resp);
            }
            _ => {
                let req = run.request(&mut bytes);
                let label = format!("{} {}", req.method.as_str(), req.path);
                let resp = run.stripe.handle(run.now, &req);
                run.check(&label, &resp);
            }
        }
    }
    for (id, label) in std::mem::take(&mut run.pending) {
        let resp = run.stripe.finish(run.now, id);
        run.check(&label, &resp);
    }
    assert_eq!(run.stripe.in_flight_count(), 0, "requests left in flight");
    // Every event the fake emitted is signed so that it verifies.
    let endpoints = run.stripe.webhook_endpoints();
    for event in run.stripe.drain_new_events().iter().take(8) {
        let payload = event.payload();
        for endpoint in endpoints.iter().take(2) {
            let header = stripe_webhook::sign_header(&endpoint.secret, 1_767_225_600, &payload);
            assert_eq!(
                stripe_webhook::verify(&payload, &header, &endpoint.secret, 1_767_225_600, 300),
                Ok(())
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// webhook_signature

/// `bytes` with the byte at `index` (modulo the length) XORed with `mask` (at least 1);
/// `None` when there is no byte to flip or the result is not UTF-8 text.
fn flip(bytes: &[u8], index: usize, mask: u8) -> Option<String> {
    let mut out = bytes.to_vec();
    let b = out.get_mut(index.checked_rem(bytes.len())?)?;
    *b ^= mask.max(1);
    String::from_utf8(out).ok()
}

/// `bytes` with one byte XORed with `mask` (at least 1); `None` when empty.
fn flip_bytes(bytes: &[u8], index: usize, mask: u8) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    let b = out.get_mut(index.checked_rem(bytes.len())?)?;
    *b ^= mask.max(1);
    Some(out)
}

/// The `u64` values written after `t=` anywhere in `header`.
fn stripe_timestamps(header: &str) -> Vec<u64> {
    header
        .match_indices("t=")
        .filter_map(|(at, _)| {
            let rest = header.get(at + 2..)?;
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '+'))
                .unwrap_or(rest.len());
            rest.get(..end)?.parse().ok()
        })
        .take(64)
        .collect()
}

/// Arbitrary secrets, headers, bodies and timestamps into the Stripe (`Stripe-Signature`) and
/// Svix verifiers: a payload signed with the secret verifies; one byte flipped in the payload,
/// the header or the secret is always rejected; an arbitrary header is accepted only if it
/// carries the correct signature for one of its timestamps.
pub fn webhook_signature(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let secret_bytes = bytes.slice(32).to_vec();
    let payload = bytes.slice(256).to_vec();
    let timestamp = match bytes.below(4) {
        0 => bytes.u64(),
        _ => 1_767_225_600 + bytes.u64() % 100_000_000,
    };
    let tolerance = [0u64, 1, 300, u64::MAX]
        .get(bytes.below(4))
        .copied()
        .unwrap_or(300);
    let (index, mask) = (bytes.u64() as usize, bytes.byte());

    // Stripe: the secret is used as it is, as bytes.
    let secret = match bytes.below(3) {
        0 => String::from_utf8_lossy(&secret_bytes).into_owned(),
        _ => format!("whsec_{}", stripe_webhook::hex(&secret_bytes)),
    };
    let header = stripe_webhook::sign_header(&secret, timestamp, &payload);
    assert_eq!(
        stripe_webhook::verify(&payload, &header, &secret, timestamp, tolerance),
        Ok(()),
        "own signature rejected"
    );
    if tolerance > 0 && timestamp.checked_add(tolerance).is_some_and(|t| t < u64::MAX) {
        let now = timestamp + tolerance;
        assert_eq!(
            stripe_webhook::verify(&payload, &header, &secret, now, tolerance),
            Ok(())
        );
        assert_eq!(
            stripe_webhook::verify(&payload, &header, &secret, now + 1, tolerance),
            Err(stripe_webhook::SignatureError::TimestampOutsideTolerance)
        );
    }
    if let Some(tampered) = flip_bytes(&payload, index, mask) {
        assert!(
            stripe_webhook::verify(&tampered, &header, &secret, timestamp, tolerance).is_err(),
            "Stripe accepted a tampered payload"
        );
    }
    if let Some(tampered) = flip(header.as_bytes(), index, mask) {
        assert!(
            stripe_webhook::verify(&payload, &tampered, &secret, timestamp, tolerance).is_err(),
            "Stripe accepted a tampered header {tampered:?} (signed {header:?})"
        );
    }
    // Equal-length keys that differ stay different after HMAC's zero padding.
    if let Some(tampered) = flip(secret.as_bytes(), index, mask) {
        assert!(
            stripe_webhook::verify(&payload, &header, &tampered, timestamp, tolerance).is_err(),
            "Stripe accepted another secret"
        );
    }
    let arbitrary = match bytes.below(3) {
        0 => bytes.text(160),
        // A real header edited: the fuzzer can splice, duplicate and re-case its parts.
        _ => format!("{}{header}{}", bytes.text(24), bytes.text(24)),
    };
    let now = timestamp.saturating_add(bytes.u64() % 1000);
    if stripe_webhook::verify(&payload, &arbitrary, &secret, now, tolerance).is_ok() {
        assert!(
            stripe_timestamps(&arbitrary)
                .iter()
                .any(|t| arbitrary.contains(&stripe_webhook::signature(&secret, *t, &payload))),
            "Stripe accepted {arbitrary:?}, which carries no correct signature"
        );
    }

    // Svix: the secret is whsec_ + base64 of the key.
    let svix_secret = svix::encode_secret(&secret_bytes);
    let msg_id = format!("msg_{}", bytes.text(16));
    let ts = timestamp.to_string();
    let signature = svix::sign(&svix_secret, &msg_id, timestamp, &payload);
    let verify = |secret: &str, id: &str, ts: &str, sig: &str, body: &[u8], now: u64| {
        svix::verify(secret, (Some(id), Some(ts), Some(sig)), body, now)
    };
    assert_eq!(
        verify(&svix_secret, &msg_id, &ts, &signature, &payload, timestamp),
        Ok(()),
        "own Svix signature rejected"
    );
    if let Some(tampered) = flip_bytes(&payload, index, mask) {
        assert!(verify(&svix_secret, &msg_id, &ts, &signature, &tampered, timestamp).is_err());
    }
    // Not the secret: a flipped base64 secret may decode to the key plus a zero byte, which
    // HMAC's zero padding makes the same key (in Svix too).
    let fields = [&msg_id, &ts, &signature];
    for (which, field) in fields.iter().enumerate() {
        let Some(tampered) = flip(field.as_bytes(), index, mask) else {
            continue;
        };
        let mut f = fields.map(|s| s.as_str());
        if let Some(slot) = f.get_mut(which) {
            *slot = &tampered;
        }
        let [id, t, sig] = f;
        assert!(
            verify(&svix_secret, id, t, sig, &payload, timestamp).is_err(),
            "Svix accepted a tampered field {which}: {tampered:?}"
        );
    }
    let arbitrary = match bytes.below(3) {
        0 => bytes.text(120),
        _ => format!("{}{signature}{}", bytes.text(24), bytes.text(24)),
    };
    let arbitrary_ts = if bytes.bool() { bytes.text(12) } else { ts.clone() };
    if verify(
        &svix_secret,
        &msg_id,
        &arbitrary_ts,
        &arbitrary,
        &payload,
        timestamp,
    )
    .is_ok()
    {
        let canonical = arbitrary_ts
            .parse::<u64>()
            .ok()
            .filter(|t| t.to_string() == arbitrary_ts);
        if let Some(t) = canonical {
            let expected = svix::sign(&svix_secret, &msg_id, t, &payload);
            let encoded = expected.strip_prefix("v1,").unwrap_or(&expected);
            assert!(
                arbitrary.contains(encoded),
                "Svix accepted {arbitrary:?}, which carries no correct signature"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// db_model

const DB_TABLE: &str = "t";
/// Unique indexes of the fuzzed table, as column lists.
const DB_UNIQUE: &[&[&str]] = &[&["id"], &["email"]];
/// Most statements one input plays.
const DB_OPS_MAX: usize = 64;
/// Most probe statements.
const DB_PROBE_MAX: usize = 8;
/// Most rounds of re-submitting parked statements before the run is declared stuck.
const DB_DRAIN_ROUNDS_MAX: usize = 64;

fn db_schema() -> TableSchema {
    TableSchema::new(DB_TABLE)
        .column("id", ColumnType::Int)
        .nullable("email", ColumnType::Text)
        .nullable("cus", ColumnType::Text)
        .with_default("n", ColumnType::Int, Value::Int(0))
        .primary_key(&["id"])
        .unique(&["email"])
}

/// One statement decoded from bytes, with its parameters kept so a probe can move them.
#[derive(Debug, Clone, Copy)]
enum DbOp {
    Begin,
    Commit,
    Rollback,
    Select {
        id: Option<i64>,
        for_update: bool,
    },
    Insert {
        id: i64,
        email: Option<u8>,
        conflict: u8,
    },
    Update {
        id: i64,
        column: u8,
        value: u8,
        only_if_null: bool,
    },
    Delete {
        id: i64,
    },
    Lock {
        key: i64,
        session: bool,
        try_lock: bool,
    },
    Unlock {
        key: i64,
    },
    Bad {
        kind: u8,
    },
}

impl DbOp {
    fn decode(bytes: &mut Bytes<'_>) -> DbOp {
        let small = |b: &mut Bytes<'_>| 1 + (b.byte() % 3) as i64;
        match bytes.below(20) {
            0..=3 => DbOp::Begin,
            4 => DbOp::Commit,
            5 => DbOp::Rollback,
            6 | 7 => DbOp::Select {
                id: bytes.bool().then(|| small(bytes)),
                for_update: bytes.bool(),
            },
            8..=11 => DbOp::Insert {
                id: small(bytes),
                email: bytes.bool().then(|| bytes.byte() % 3),
                conflict: bytes.byte(),
            },
            12..=15 => DbOp::Update {
                id: small(bytes),
                column: bytes.byte(),
                value: bytes.byte() % 3,
                only_if_null: bytes.bool(),
            },
            16 => DbOp::Delete { id: small(bytes) },
            17 => DbOp::Lock {
                key: 1 + (bytes.byte() % 2) as i64,
                session: bytes.bool(),
                try_lock: bytes.bool(),
            },
            18 => DbOp::Unlock {
                key: 1 + (bytes.byte() % 2) as i64,
            },
            _ => DbOp::Bad { kind: bytes.byte() },
        }
    }

    fn stmt(self) -> Stmt {
        let email = |n: u8| Value::Text(format!("e{n}@x"));
        match self {
            DbOp::Begin => Stmt::Begin,
            DbOp::Commit => Stmt::Commit,
            DbOp::Rollback => Stmt::Rollback,
            DbOp::Select { id, for_update } => {
                let stmt = if for_update {
                    Stmt::select_for_update(DB_TABLE)
                } else {
                    Stmt::select(DB_TABLE)
                };
                match id {
                    Some(id) => stmt.eq("id", id),
                    None => stmt,
                }
            }
            DbOp::Insert {
                id,
                email: e,
                conflict,
            } => {
                let insert = Stmt::insert(
                    DB_TABLE,
                    &[("id", id.into()), ("email", e.map(email).unwrap_or(Value::Null))],
                );
                match conflict % 5 {
                    0 => insert,
                    1 => insert.on_conflict_do_nothing(&["id"]),
                    2 => insert.on_conflict_do_nothing(&[]),
                    3 => insert.on_conflict_update_excluded(&["id"], &["email"]),
                    _ => insert.on_conflict_do_update(&["email"], &[("n", SetValue::Value(Value::Int(9)))]),
                }
            }
            DbOp::Update {
                id,
                column,
                value,
                only_if_null,
            } => {
                let (col, val) = match column % 3 {
                    0 => ("cus", Value::Text(format!("cus_{value}"))),
                    1 => ("email", email(value)),
                    _ => ("n", Value::Int(i64::from(value))),
                };
                let stmt = Stmt::update(DB_TABLE, &[(col, val)]).eq("id", id);
                if only_if_null {
                    stmt.is_null(col)
                } else {
                    stmt
                }
            }
            DbOp::Delete { id } => Stmt::delete(DB_TABLE).eq("id", id),
            DbOp::Lock {
                key,
                session,
                try_lock,
            } => {
                let scope = if session {
                    LockScope::Session
                } else {
                    LockScope::Transaction
                };
                if try_lock {
                    Stmt::try_advisory_lock(key, scope)
                } else {
                    Stmt::advisory_lock(key, scope)
                }
            }
            DbOp::Unlock { key } => Stmt::advisory_unlock(key),
            DbOp::Bad { kind } => match kind % 4 {
                0 => Stmt::select("missing"),
                1 => Stmt::select(DB_TABLE).eq("nope", 1),
                2 => Stmt::insert(DB_TABLE, &[("id", "one".into())]),
                _ => Stmt::update(DB_TABLE, &[("n", Value::Null)]).lt("id", 3),
            },
        }
    }

    /// The op inside the probe transaction: no transaction control, no session-level locks
    /// (those survive a rollback by design).
    fn for_probe(self) -> DbOp {
        match self {
            DbOp::Begin | DbOp::Commit | DbOp::Rollback => DbOp::Select {
                id: None,
                for_update: false,
            },
            DbOp::Lock { key, try_lock, .. } => DbOp::Lock {
                key,
                session: false,
                try_lock,
            },
            other => other,
        }
    }

    /// The probe op moved onto ids, emails and lock keys no other session uses.
    fn disjoint(self) -> DbOp {
        match self.for_probe() {
            DbOp::Select { id, for_update } => DbOp::Select {
                id: Some(id.unwrap_or(1) + 10),
                for_update,
            },
            DbOp::Insert { id, email, conflict } => DbOp::Insert {
                id: id + 10,
                email: email.map(|e| e + 10),
                conflict,
            },
            DbOp::Update {
                id,
                column,
                value,
                only_if_null,
            } => DbOp::Update {
                id: id + 10,
                column,
                value: value + 10,
                only_if_null,
            },
            DbOp::Delete { id } => DbOp::Delete { id: id + 10 },
            DbOp::Lock {
                key,
                session,
                try_lock,
            } => DbOp::Lock {
                key: key + 10,
                session,
                try_lock,
            },
            DbOp::Unlock { key } => DbOp::Unlock { key: key + 10 },
            DbOp::Bad { .. } => DbOp::Bad { kind: 0 },
            other => other,
        }
    }
}

/// A transaction by an extra session that is rolled back (or whose connection drops).
struct DbProbe {
    at_step: usize,
    ops: Vec<DbOp>,
    disconnect: bool,
    /// One op per step from `at_step` on, on disjoint keys, instead of all at once.
    interleaved: bool,
}

fn assert_db_unique(db: &Database) {
    let rows = db.table_rows(DB_TABLE);
    for columns in DB_UNIQUE {
        let mut keys: Vec<Vec<Value>> = Vec::new();
        for row in &rows {
            let key: Vec<Value> = columns
                .iter()
                .map(|c| row.get(*c).cloned().unwrap_or(Value::Null))
                .collect();
            if key.iter().any(Value::is_null) {
                continue;
            }
            assert!(
                !keys.contains(&key),
                "duplicate committed key {key:?} in {columns:?}: {rows:?}"
            );
            keys.push(key);
        }
    }
}

fn db_run(
    sessions: usize,
    ops: &[(usize, DbOp)],
    probe: Option<&DbProbe>,
    victim: DeadlockVictim,
) -> (DbSnapshot, Vec<String>) {
    let mut db = Database::new().with_deadlock_victim(victim);
    assert!(db.create_table(db_schema()).is_ok());
    let ids: Vec<SessionId> = (0..sessions).map(|_| db.connect()).collect();
    let mut parked: Vec<Option<Stmt>> = vec![None; sessions];
    let mut trace = Vec::new();
    let mut submit = |db: &mut Database, parked: &mut Vec<Option<Stmt>>, index: usize, stmt: Stmt| {
        let (Some(session), Some(slot)) = (ids.get(index), parked.get_mut(index)) else {
            return;
        };
        match db.execute(*session, &stmt) {
            Step::Blocked(_) => *slot = Some(stmt),
            Step::Done(result) => trace.push(format!("{index}: {stmt} -> {result:?}")),
        }
    };
    let mut probe_session: Option<SessionId> = None;
    let mut probe_next = 0;
    let mut probe_done = false;
    let finish_probe = |db: &mut Database, session: &mut Option<SessionId>, probe: &DbProbe| {
        if let Some(s) = session.take() {
            if !probe.disconnect {
                let _ = db.execute(s, &Stmt::Rollback);
            }
            db.disconnect(s);
        }
    };
    for (step, (index, op)) in ops.iter().enumerate() {
        match probe {
            Some(p) if p.interleaved && step >= p.at_step && !probe_done => {
                let s = *probe_session.get_or_insert_with(|| {
                    let s = db.connect();
                    let _ = db.execute(s, &Stmt::Begin);
                    s
                });
                match p.ops.get(probe_next) {
                    Some(op) => {
                        probe_next += 1;
                        let result = db.execute(s, &op.disjoint().stmt());
                        assert!(!result.is_blocked(), "the disjoint probe waited: {result:?}");
                    }
                    None => {
                        finish_probe(&mut db, &mut probe_session, p);
                        probe_done = true;
                    }
                }
            }
            Some(p) if !p.interleaved && p.at_step == step => {
                let c = db.connect();
                let _ = db.execute(c, &Stmt::Begin);
                for op in &p.ops {
                    if db.execute(c, &op.for_probe().stmt()).is_blocked() {
                        break;
                    }
                }
                if !p.disconnect {
                    let _ = db.execute(c, &Stmt::Rollback);
                }
                db.disconnect(c);
            }
            _ => {}
        }
        let index = index % sessions;
        // A parked session can only re-submit the statement it is waiting in.
        let stmt = parked
            .get_mut(index)
            .and_then(Option::take)
            .unwrap_or_else(|| op.stmt());
        submit(&mut db, &mut parked, index, stmt);
        assert_db_unique(&db);
    }
    if let Some(p) = probe {
        finish_probe(&mut db, &mut probe_session, p);
    }
    // Drain: retry parked statements; when none progresses, end the idle transactions.
    for _ in 0..DB_DRAIN_ROUNDS_MAX {
        let mut progress = false;
        for index in 0..sessions {
            if let Some(stmt) = parked.get_mut(index).and_then(Option::take) {
                submit(&mut db, &mut parked, index, stmt);
                progress |= parked.get(index).is_some_and(Option::is_none);
            }
        }
        assert_db_unique(&db);
        if parked.iter().all(Option::is_none) {
            break;
        }
        if !progress {
            let free: Vec<usize> = (0..sessions)
                .filter(|i| parked.get(*i).is_some_and(Option::is_none))
                .collect();
            assert!(!free.is_empty(), "undetected deadlock: {:?}", db.snapshot());
            for index in free {
                submit(&mut db, &mut parked, index, Stmt::Commit);
                let held: Vec<AdvisoryLockInfo> = db.snapshot().advisory_locks;
                for lock in held.iter().filter(|l| ids.get(index) == Some(&l.holder)) {
                    for _ in 0..lock.session_count {
                        submit(&mut db, &mut parked, index, Stmt::advisory_unlock(lock.key));
                    }
                }
            }
        }
    }
    assert!(parked.iter().all(Option::is_none), "still blocked after draining");
    for index in 0..sessions {
        submit(&mut db, &mut parked, index, Stmt::Commit);
    }
    let snapshot = db.snapshot();
    assert!(
        snapshot.row_locks.is_empty(),
        "row locks after commit: {snapshot:?}"
    );
    assert!(
        snapshot
            .advisory_locks
            .iter()
            .all(|l| l.xact_count == 0 && l.session_count > 0),
        "transaction-level advisory locks after commit: {snapshot:?}"
    );
    assert_db_unique(&db);
    (snapshot, trace)
}

/// Transactions and statements from 2–3 sessions on the simulated PostgreSQL, derived from
/// `data` (blocked statements are parked and re-submitted, as a runtime does): it never panics,
/// no deadlock goes undetected, a unique index never holds two committed equal non-null keys,
/// the same input twice gives the same results, and an extra transaction that is rolled back
/// (or whose connection drops) leaves no trace in the results or the final snapshot.
pub fn db_model(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let sessions = 2 + bytes.below(2);
    let victim = if bytes.bool() {
        DeadlockVictim::FirstWaiter
    } else {
        DeadlockVictim::ClosingStatement
    };
    let probe_ops: Vec<DbOp> = (0..bytes.below(DB_PROBE_MAX + 1))
        .map(|_| DbOp::decode(&mut bytes))
        .collect();
    let (probe_at, disconnect, interleaved) = (bytes.byte(), bytes.bool(), bytes.bool());
    let mut ops = Vec::new();
    while !bytes.is_empty() && ops.len() < DB_OPS_MAX {
        let session = bytes.below(3);
        ops.push((session, DbOp::decode(&mut bytes)));
    }
    if ops.is_empty() {
        return;
    }
    let first = db_run(sessions, &ops, None, victim);
    let second = db_run(sessions, &ops, None, victim);
    assert_eq!(first, second, "the same statements gave different results");
    let probe = DbProbe {
        at_step: usize::from(probe_at) % ops.len(),
        ops: probe_ops,
        disconnect,
        interleaved,
    };
    let with_probe = db_run(sessions, &ops, Some(&probe), victim);
    assert_eq!(first, with_probe, "a rolled-back transaction left a trace");
}

// ---------------------------------------------------------------------------------------------
// reference_schedule

/// The strategy [`reference_schedule`] runs.
pub const SCHEDULE_STRATEGY: &str = "reference";
/// The scenario name a decoded schedule carries (it shows in the replay token).
pub const SCHEDULE_SCENARIO: &str = "fuzz.reference_schedule";
/// The flows a schedule step is drawn from, by `byte % 6`.
pub const SCHEDULE_FLOWS: [&str; 6] = crate::scenario::BROWSER_FLOWS;
/// Client timeouts per attempt a step is given, by `byte % 3`.
const SCHEDULE_TIMEOUTS_MS: [u64; 3] = [1_000, 3_000, 10_000];
/// The peers a partition cuts an app replica from, by `byte % 3`.
const SCHEDULE_PEERS: [&str; 3] = ["postgres", "stripe", "clerk"];

/// Decodes arbitrary bytes as one run of the `reference` strategy; total (any bytes give a
/// valid input; past the end every byte reads as 0, extra bytes are ignored).
///
/// Layout, one byte each unless said:
/// `users` (1 + b % 2), `replicas` (1 + b % 3), latency minimum (1 + b % 50) and maximum
/// (minimum + b % (51 − minimum)), the seed (8 bytes, big-endian), `actors` (1 + b % 3); per
/// actor: its user (b % users) and `steps` (1 + b % 4); per step 7 bytes: the flow
/// ([`SCHEDULE_FLOWS`], b % 6), the start (2 bytes, big-endian, % 1001 ms), the replica
/// (b % (replicas + 1): 0 is the load balancer, k is `app-k`), attempts (1 + b % 3), the
/// timeout per attempt when retrying (1 s, 3 s or 10 s, b % 3; 10 s without a retry) and a
/// coupon (`checkout` with `SAVE20` when b is odd; `apply_coupon` always types it). Then
/// `faults` (b % 4); per fault 6 bytes: the kind ([`crate::scenario::FAULT_KINDS`], b % 13),
/// the time (2 bytes, % 2001 ms) and three parameters `p`, `q`, `r`: the replica (`app-(1 +
/// p % replicas)`) or the service (Stripe when `p` is even, Clerk when odd); a count (1 + q %
/// 3) or a partition's peer (postgres, stripe, clerk: q % 3); a crash's restart (10–500 ms),
/// a partition's heal (50–2,000 ms) or a webhook delay (100–5,000 ms) from `r`. No message
/// loss (`loss` is documented as harsher than a real network).
pub fn reference_schedule_input(data: &[u8]) -> RunInput {
    let mut bytes = Bytes::new(data);
    let users = 1 + bytes.below(2) as u32;
    let replicas = 1 + bytes.below(3) as u32;
    let latency_min = 1 + bytes.below(50) as u64;
    let latency_max = latency_min + bytes.below(51 - latency_min as usize) as u64;
    let seed = bytes.u64();
    let actors = (0..1 + bytes.below(3))
        .map(|_| {
            let user = bytes.below(users as usize) as u32;
            let steps = (0..1 + bytes.below(4))
                .map(|_| schedule_step(&mut bytes, replicas))
                .collect();
            ResolvedActor { user, steps }
        })
        .collect();
    let planned: Vec<PlannedFault> = (0..bytes.below(4))
        .map(|_| schedule_fault(&mut bytes, replicas))
        .collect();
    let mut faults: Vec<TimedFault> = planned.iter().map(to_timed).collect();
    faults.sort_by_key(|f| f.at_ms);
    RunInput {
        scenario: SCHEDULE_SCENARIO.to_string(),
        strategy: SCHEDULE_STRATEGY.to_string(),
        seed,
        users,
        replicas,
        latency_ms: (latency_min, latency_max),
        loss: 0.0,
        actors,
        faults,
    }
}

fn schedule_u16(bytes: &mut Bytes<'_>) -> u64 {
    (u64::from(bytes.byte()) << 8) | u64::from(bytes.byte())
}

fn schedule_step(bytes: &mut Bytes<'_>, replicas: u32) -> ResolvedStep {
    let flow = SCHEDULE_FLOWS
        .get(bytes.below(SCHEDULE_FLOWS.len()))
        .copied()
        .unwrap_or("checkout");
    let at_ms = schedule_u16(bytes) % 1_001;
    let replica = match bytes.below(replicas as usize + 1) {
        0 => None,
        k => Some(k as u32 - 1),
    };
    let attempts = 1 + bytes.below(3) as u32;
    let retry_timeout_ms = SCHEDULE_TIMEOUTS_MS
        .get(bytes.below(SCHEDULE_TIMEOUTS_MS.len()))
        .copied()
        .unwrap_or(10_000);
    let coupon_byte = bytes.bool();
    let coupon = match flow {
        "apply_coupon" => Some(crate::setup::COUPON_ID.to_string()),
        "checkout" if coupon_byte => Some(crate::setup::COUPON_ID.to_string()),
        _ => None,
    };
    let plan = matches!(flow, "create_team_org" | "clerk_subscription").then(|| "team".to_string());
    ResolvedStep {
        flow: flow.to_string(),
        at_ms,
        replica,
        coupon,
        plan,
        attempts,
        timeout_ms: if attempts > 1 { retry_timeout_ms } else { 10_000 },
    }
}

fn schedule_fault(bytes: &mut Bytes<'_>, replicas: u32) -> PlannedFault {
    use crate::scenario::FAULT_KINDS;
    let kind = FAULT_KINDS
        .get(bytes.below(FAULT_KINDS.len()))
        .copied()
        .unwrap_or("time_jump_25h");
    let at_ms = schedule_u16(bytes) % 2_001;
    let (p, q, r) = (bytes.byte(), bytes.byte(), bytes.byte());
    let app = format!("app-{}", 1 + u32::from(p) % replicas.max(1));
    let service = if p % 2 == 0 { "stripe" } else { "clerk" };
    let count = 1 + u32::from(q % 3);
    let scaled = |lo: u64, hi: u64| lo + u64::from(r) * (hi - lo) / 255;
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
            fault.restart_after_ms = Some(scaled(10, 500));
        }
        "partition" => {
            fault.host = Some(app);
            fault.peer = SCHEDULE_PEERS
                .get(usize::from(q) % SCHEDULE_PEERS.len())
                .map(|peer| peer.to_string());
            fault.heal_after_ms = Some(scaled(50, 2_000));
        }
        "db_connection_drop" => fault.host = Some(app),
        "stripe_5xx" | "stripe_429" | "clerk_5xx" | "clerk_429" => fault.count = Some(count),
        "lost_response" | "webhook_duplicate" | "webhook_reorder" | "webhook_early" => {
            fault.host = Some(service.to_string());
            fault.count = Some(count);
        }
        "webhook_delay" => {
            fault.host = Some(service.to_string());
            fault.count = Some(count);
            fault.heal_after_ms = Some(scaled(100, 5_000));
        }
        _ => {}
    }
    fault
}

/// A schedule in a few lines: the world, each actor's steps, the faults.
pub fn describe_schedule(input: &RunInput) -> String {
    let mut out = format!(
        "{} × {}: seed {}, {} user(s), {} replica(s), latency {}–{} ms, loss {}\n",
        input.scenario,
        input.strategy,
        input.seed,
        input.users,
        input.replicas,
        input.latency_ms.0,
        input.latency_ms.1,
        input.loss
    );
    for (index, actor) in input.actors.iter().enumerate() {
        out.push_str(&format!("  actor {index} (user {}):", actor.user + 1));
        for step in &actor.steps {
            let via = step
                .replica
                .map_or_else(|| "lb".to_string(), |r| format!("app-{}", r + 1));
            out.push_str(&format!(" {} at {} ms via {via}", step.flow, step.at_ms));
            if let Some(coupon) = &step.coupon {
                out.push_str(&format!(" coupon {coupon}"));
            }
            if step.attempts > 1 {
                out.push_str(&format!(" ({} attempts × {} ms)", step.attempts, step.timeout_ms));
            }
            out.push(';');
        }
        out.push('\n');
    }
    if input.faults.is_empty() {
        out.push_str("  no faults\n");
    }
    for fault in &input.faults {
        out.push_str(&format!("  fault at {} ms: {}\n", fault.at_ms, fault.fault));
    }
    out
}

/// Users with a `signup` step none of whose attempts was answered 2xx: the browser gave up,
/// so no app can know of (or finish) that signup, while the oracle's "signed up" is read from
/// the schedule itself. A step's browser host in the trace is `browser-<actor>.<step>` (1-based).
fn signups_given_up(input: &RunInput, outcome: &crate::sim::world::RunOutcome) -> Vec<String> {
    use crate::sim::trace::TraceKind;
    let answered = |host: &str| {
        outcome.trace.events.iter().any(|event| {
            event.host == host
                && matches!(
                    event.kind,
                    TraceKind::Response {
                        status: 200..=299,
                        ..
                    }
                )
        })
    };
    let mut out: Vec<String> = Vec::new();
    for (user, user_spec) in outcome.view.users.iter().enumerate() {
        let hosts: Vec<String> = input
            .actors
            .iter()
            .enumerate()
            .filter(|(_, actor)| actor.user as usize == user)
            .flat_map(|(a, actor)| {
                actor
                    .steps
                    .iter()
                    .enumerate()
                    .filter(|(_, step)| step.flow == "signup")
                    .map(move |(s, _)| format!("browser-{}.{}", a + 1, s + 1))
            })
            .collect();
        if !hosts.is_empty() && !hosts.iter().any(|h| answered(h)) {
            out.push(user_spec.user_id.clone());
        }
    }
    out
}

/// The users of `given_up` with no row in `reference`'s `profiles` table (the oracle's own
/// profile check accepts a row of any table naming the user, e.g. `team_orgs`).
fn without_profile(view: &crate::oracle::WorldView, given_up: &[String]) -> Vec<String> {
    let profiles = view.db.get("profiles").map(Vec::as_slice).unwrap_or_default();
    given_up
        .iter()
        .filter(|user| {
            !profiles
                .iter()
                .any(|row| row.get("user_id").and_then(|v| v.as_text()) == Some(user.as_str()))
        })
        .cloned()
        .collect()
}

/// Whether the harness excuses `violation`: `signup_complete` cannot hold for a user whose
/// every signup attempt went without a 2xx (see [`signups_given_up`]) and who has no
/// `profiles` row (`excusable`); with the row, the customer is still required.
fn excused(violation: &crate::oracle::Violation, excusable: &[String]) -> bool {
    violation.invariant == "signup_complete" && violation.objects.iter().all(|user| excusable.contains(user))
}

/// Plays `input` once (its own strategy, the built-in invariants); `Err` names every violation
/// (or the simulation error), the schedule and its replay token. Excused: `signup_complete`
/// for a user whose signup never got a 2xx answer and who has no `profiles` row (the client
/// gave up before any app learnt of the signup).
pub fn check_schedule(input: &RunInput) -> Result<(), String> {
    let outcome = crate::explore::run_input(input)?;
    let given_up = without_profile(&outcome.view, &signups_given_up(input, &outcome));
    // Every violation, not `violations()`'s first per invariant: an excused one must not hide
    // another of the same invariant.
    let mut broken: Vec<String> = Vec::new();
    let during = outcome.always_violations.iter().map(|(at, v)| (Some(at), v));
    let at_end = outcome.quiescence_violations.iter().map(|v| (None, v));
    for (at, violation) in during.chain(at_end) {
        if excused(violation, &given_up) {
            continue;
        }
        let line = match at {
            Some(at) => format!("{violation} (during the run, at {at})"),
            None => format!("{violation} (at quiescence)"),
        };
        if !broken.contains(&line) {
            broken.push(line);
        }
    }
    if let Some(error) = &outcome.sim_error {
        broken.push(format!("sim_error: {error}"));
    }
    if broken.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} broke an invariant:\n  {}\n{}replay: racehound replay {}",
        input.strategy,
        broken.join("\n  "),
        describe_schedule(input),
        crate::explore::token::encode(input)
    ))
}

/// Arbitrary bytes as (actors, fault plan, seed), decoded by [`reference_schedule_input`], run
/// once against the `reference` strategy in the simulated world: every invariant holds and the
/// simulation ends (a panic names the violation, the schedule and its replay token).
pub fn reference_schedule(data: &[u8]) {
    let input = reference_schedule_input(data);
    if let Err(why) = check_schedule(&input) {
        panic!("{why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::faults::Fault;

    #[test]
    fn every_target_runs_on_empty_and_small_inputs() {
        for target in TARGETS {
            for data in [&b""[..], b"\x00", b"\xff\xff\xff\xff", b"hello = 1\n[world]"] {
                assert!(run_target(target, data), "{target} is not a target");
            }
        }
        assert!(!run_target("nope", b""));
    }

    #[test]
    fn stripe_timestamps_reads_every_t() {
        assert_eq!(stripe_timestamps("t=12,v1=ab, t=+3,t=x"), vec![12, 3]);
    }

    /// The coupon race of seed 004 as schedule bytes: one user, one replica, 1 ms latency,
    /// `checkout` and `apply_coupon` both at t = 0, no faults.
    fn coupon_race_bytes(seed: u8) -> Vec<u8> {
        let mut data = vec![0, 0, 0, 0];
        data.extend([0, 0, 0, 0, 0, 0, 0, seed]);
        data.extend([0, 0, 1]); // one actor: user 1, two steps
        data.extend([1, 0, 0, 0, 0, 0, 0]); // checkout at 0 ms, load balancer, no retry
        data.extend([2, 0, 0, 0, 0, 0, 0]); // apply_coupon at 0 ms
        data.push(0); // no faults
        data
    }

    #[test]
    fn reference_schedule_decoding_is_total_and_in_range() {
        let mut rng = crate::rng::SimRng::new(7, "fuzz-decode");
        let mut flows = std::collections::BTreeSet::new();
        let mut faults = std::collections::BTreeSet::new();
        for _ in 0..3_000 {
            let len = rng.index(160);
            let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let input = reference_schedule_input(&data);
            assert_eq!(
                input,
                reference_schedule_input(&data),
                "decoding is not a function"
            );
            assert_eq!(input.strategy, SCHEDULE_STRATEGY);
            assert!((1..=2).contains(&input.users), "{input:?}");
            assert!((1..=3).contains(&input.replicas), "{input:?}");
            let (lo, hi) = input.latency_ms;
            assert!(1 <= lo && lo <= hi && hi <= 50, "latency {lo}..{hi}");
            assert_eq!(input.loss, 0.0);
            assert!((1..=3).contains(&input.actors.len()), "{input:?}");
            for actor in &input.actors {
                assert!(actor.user < input.users, "{input:?}");
                assert!((1..=4).contains(&actor.steps.len()), "{input:?}");
                for step in &actor.steps {
                    assert!(SCHEDULE_FLOWS.contains(&step.flow.as_str()), "{step:?}");
                    assert!(step.at_ms <= 1_000, "{step:?}");
                    assert!(step.replica.is_none_or(|r| r < input.replicas), "{step:?}");
                    assert!((1..=3).contains(&step.attempts), "{step:?}");
                    assert!(step.timeout_ms >= 1_000, "{step:?}");
                    flows.insert(step.flow.clone());
                }
            }
            assert!(input.faults.len() <= 3, "{input:?}");
            assert!(
                input.faults.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
                "faults out of order"
            );
            let plan = crate::sim::faults::FaultPlan::new(input.faults.clone());
            assert_eq!(plan.validate(input.replicas as usize), Ok(()), "{input:?}");
            for fault in &input.faults {
                assert!(fault.at_ms <= 2_000, "{fault:?}");
                let name = format!("{:?}", fault.fault);
                assert!(
                    !name.starts_with("Loss") && !name.starts_with("Latency"),
                    "{name}"
                );
                let kind = match &fault.fault {
                    Fault::ServiceError { service, status, .. } => format!("{service:?} {status}"),
                    _ => name.split([' ', '{']).next().unwrap_or_default().to_string(),
                };
                faults.insert(kind);
            }
        }
        assert_eq!(flows.len(), SCHEDULE_FLOWS.len(), "flows reached: {flows:?}");
        let kinds = crate::scenario::FAULT_KINDS.len();
        assert_eq!(faults.len(), kinds, "one per fault kind, reached: {faults:?}");
    }

    #[test]
    fn reference_schedule_decodes_the_documented_layout() {
        let input = reference_schedule_input(&coupon_race_bytes(3));
        assert_eq!(
            (input.users, input.replicas, input.latency_ms, input.seed),
            (1, 1, (1, 1), 3)
        );
        let steps: Vec<(&str, u64, Option<&str>)> = input.actors[0]
            .steps
            .iter()
            .map(|s| (s.flow.as_str(), s.at_ms, s.coupon.as_deref()))
            .collect();
        assert_eq!(
            steps,
            vec![("checkout", 0, None), ("apply_coupon", 0, Some("SAVE20"))]
        );
        assert!(input.faults.is_empty());
    }

    #[test]
    fn only_a_given_up_signup_without_profile_is_excused() {
        let violation = |message: &str| crate::oracle::Violation {
            invariant: "signup_complete".to_string(),
            objects: vec!["user_a".to_string()],
            message: message.to_string(),
        };
        let given_up = ["user_a".to_string(), "user_b".to_string()];
        assert!(excused(
            &violation("signed-up user user_a has no profile row"),
            &given_up
        ));
        assert!(!excused(
            &violation("signed-up user user_a has no profile row"),
            &[]
        ));
        let mut other = violation("no profile row");
        other.invariant = "no_duplicate_customers".to_string();
        assert!(!excused(&other, &given_up));
        // Only a given-up user without a `profiles` row is excusable.
        let mut view = crate::oracle::WorldView::default();
        let row: crate::fakes::postgres::Row =
            [("user_id".to_string(), "user_b".into())].into_iter().collect();
        view.db.insert("profiles".to_string(), vec![row]);
        assert_eq!(without_profile(&view, &given_up), vec!["user_a".to_string()]);
    }

    #[test]
    fn check_schedule_reports_a_broken_strategy_with_its_token() {
        let mut input = reference_schedule_input(&coupon_race_bytes(0));
        assert_eq!(
            check_schedule(&input),
            Ok(()),
            "reference fails the plain coupon race"
        );
        input.strategy = "checkout.naive".to_string();
        let error = check_schedule(&input).expect_err("checkout.naive survived the coupon race");
        assert!(error.contains("no_duplicate_customers"), "{error}");
        assert!(error.contains("checkout at 0 ms via lb"), "{error}");
        let token = error
            .rsplit("racehound replay ")
            .next()
            .unwrap_or_default()
            .trim();
        let decoded: RunInput = crate::explore::token::decode(token).expect("a valid token");
        assert_eq!(decoded, input, "the token does not replay the schedule");
    }
}
