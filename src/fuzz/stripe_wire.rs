//! The `stripe_wire` target: a sequence of requests into the fake Stripe's wire layer.

use base64::Engine as _;
use serde_json::Value as Json;

use super::Bytes;
use crate::fakes::stripe::webhook as stripe_webhook;
use crate::fakes::stripe::{Stripe, StripeConfig, StripeFaultKind};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::time::SimTime;

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
            StripeFaultKind::ApiError500,
            StripeFaultKind::RateLimit429,
            StripeFaultKind::LockTimeout429,
            StripeFaultKind::CommitThenDropResponse,
        ]
        .get(bytes.below(4))
        .copied()
        .unwrap_or(StripeFaultKind::ApiError500);
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
