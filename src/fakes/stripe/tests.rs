//! FIDELITY tests for the fake Stripe, through the wire layer: `HttpRequest` in, `HttpResponse` out.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::time::SimTime;

const AUTH: &str = "Bearer sk_test_racehound";

fn world() -> Stripe {
    Stripe::new(7, StripeConfig::default())
}

fn at(secs: u64) -> SimTime {
    SimTime::EPOCH + Duration::from_secs(secs)
}

fn post(path: &str, pairs: &[(&str, &str)]) -> HttpRequest {
    HttpRequest::new(Method::Post, path)
        .with_header("Authorization", AUTH)
        .with_body(wire::encode_form(pairs))
}

fn keyed(req: HttpRequest, key: &str) -> HttpRequest {
    req.with_header("Idempotency-Key", key)
}

fn get(path: &str) -> HttpRequest {
    HttpRequest::new(Method::Get, path).with_header("Authorization", AUTH)
}

fn delete(path: &str) -> HttpRequest {
    HttpRequest::new(Method::Delete, path).with_header("Authorization", AUTH)
}

fn ok(resp: &HttpResponse) -> Value {
    assert!(
        resp.is_success(),
        "expected 2xx, got {} {}",
        resp.status,
        resp.body_json()
    );
    resp.body_json()
}

fn id_of(resp: &HttpResponse) -> String {
    ok(resp)["id"].as_str().unwrap_or_default().to_string()
}

/// Asserts the Stripe error envelope: status, `type`, `code` (None = absent), `param` (None = absent).
fn assert_error(resp: &HttpResponse, status: u16, kind: &str, code: Option<&str>, param: Option<&str>) {
    let body = resp.body_json();
    assert_eq!(resp.status, status, "{body}");
    let err = &body["error"];
    assert_eq!(err["type"], kind, "{body}");
    assert_eq!(err["code"].as_str(), code, "{body}");
    assert_eq!(err["param"].as_str(), param, "{body}");
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(resp.header("Request-Id").is_some_and(|r| r.starts_with("req_")));
}

fn customer_count(stripe: &Stripe) -> usize {
    stripe
        .snapshot()
        .objects
        .customers
        .values()
        .filter(|c| !c.deleted)
        .count()
}

fn create_customer(stripe: &mut Stripe, now: SimTime, email: &str) -> String {
    id_of(&stripe.handle(now, &post("/v1/customers", &[("email", email)])))
}

fn price(stripe: &mut Stripe) -> String {
    stripe
        .seed_price(at(0), "Pro", 2000, "usd", Some("month"))
        .unwrap_or_else(|r| panic!("seed price: {}", r.body_json()))
}

fn session_pairs<'a>(price: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut pairs = vec![
        ("mode", "subscription"),
        ("line_items[0][price]", price),
        ("line_items[0][quantity]", "1"),
        ("success_url", "https://app.test/ok"),
    ];
    pairs.extend_from_slice(extra);
    pairs
}

fn create_session(stripe: &mut Stripe, now: SimTime, price: &str, extra: &[(&str, &str)]) -> HttpResponse {
    stripe.handle(now, &post("/v1/checkout/sessions", &session_pairs(price, extra)))
}

fn event_types(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.event_type.clone()).collect()
}

// ---------------------------------------------------------------- idempotency

#[test]
fn idempotency_same_key_same_params_replays_with_header() {
    let mut s = world();
    let req = keyed(
        post("/v1/customers", &[("email", "a@x.test"), ("metadata[u]", "1")]),
        "k1",
    );
    let first = s.handle(at(0), &req);
    // Parameter order does not matter.
    let again = keyed(
        post("/v1/customers", &[("metadata[u]", "1"), ("email", "a@x.test")]),
        "k1",
    );
    let second = s.handle(at(5), &again);
    assert_eq!(first.status, 200);
    assert_eq!(second.status, first.status);
    assert_eq!(second.body, first.body);
    assert_eq!(first.header("Idempotent-Replayed"), None);
    assert_eq!(second.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(customer_count(&s), 1);
}

#[test]
fn idempotency_replays_errors_too() {
    let mut s = world();
    let p = price(&mut s);
    // Execution error (unknown customer): saved and replayed.
    let req = keyed(
        post(
            "/v1/checkout/sessions",
            &session_pairs(&p, &[("customer", "cus_nope")]),
        ),
        "k",
    );
    let first = s.handle(at(0), &req);
    assert_error(
        &first,
        400,
        "invalid_request_error",
        Some("resource_missing"),
        Some("customer"),
    );
    let second = s.handle(at(1), &req);
    assert_eq!((second.status, &second.body), (first.status, &first.body));
    assert_eq!(second.header("Idempotent-Replayed"), Some("true"));
    // 404 on an unknown path id is saved too.
    let req = keyed(post("/v1/customers/cus_gone", &[("name", "x")]), "k404");
    let first = s.handle(at(2), &req);
    assert_error(
        &first,
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    assert_eq!(s.handle(at(3), &req).header("Idempotent-Replayed"), Some("true"));
}

#[test]
fn idempotency_validation_failure_is_not_saved() {
    let mut s = world();
    let bad = s.handle(
        at(0),
        &keyed(post("/v1/customers", &[("emial", "a@x.test")]), "k"),
    );
    assert_error(
        &bad,
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("emial"),
    );
    // Nothing was saved: the key is free for a (different) valid request.
    let good = s.handle(
        at(1),
        &keyed(post("/v1/customers", &[("email", "a@x.test")]), "k"),
    );
    assert_eq!(good.status, 200);
    assert_eq!(good.header("Idempotent-Replayed"), None);
}

#[test]
fn idempotency_same_key_other_params_is_400() {
    let mut s = world();
    ok(&s.handle(
        at(0),
        &keyed(post("/v1/customers", &[("email", "a@x.test")]), "k"),
    ));
    let resp = s.handle(
        at(1),
        &keyed(post("/v1/customers", &[("email", "b@x.test")]), "k"),
    );
    assert_error(&resp, 400, "idempotency_error", None, None);
    assert_eq!(customer_count(&s), 1);
}

#[test]
fn idempotency_same_key_other_endpoint_is_400() {
    let mut s = world();
    let cus = id_of(&s.handle(
        at(0),
        &keyed(post("/v1/customers", &[("email", "a@x.test")]), "k"),
    ));
    let resp = s.handle(
        at(1),
        &keyed(
            post(&format!("/v1/customers/{cus}"), &[("email", "a@x.test")]),
            "k",
        ),
    );
    assert_error(&resp, 400, "idempotency_error", None, None);
    assert!(resp.body_json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("same endpoint"));
}

#[test]
fn idempotency_same_key_in_flight_is_409() {
    let mut s = world();
    let req = keyed(post("/v1/customers", &[("email", "a@x.test")]), "k");
    let Began::InFlight(first) = s.begin(at(0), &req) else {
        panic!("first request should be in flight")
    };
    let Began::Respond(conflict) = s.begin(at(0), &req) else {
        panic!("second request should be answered at once")
    };
    assert_error(
        &conflict,
        409,
        "idempotency_error",
        Some("idempotency_key_in_use"),
        None,
    );
    assert_eq!(conflict.header("Stripe-Should-Retry"), Some("true"));
    let done = s.finish(at(1), first);
    assert_eq!(done.status, 200);
    // The SDK's retry after the first finished gets the replay.
    let retry = s.handle(at(2), &req);
    assert_eq!(retry.body, done.body);
    assert_eq!(retry.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(customer_count(&s), 1);
}

#[test]
fn idempotency_429_is_not_saved() {
    let mut s = world();
    s.faults_mut()
        .next(
            Some(Method::Post),
            "/v1/customers",
            1,
            StripeFaultKind::RateLimit429,
        )
        .unwrap();
    let req = keyed(post("/v1/customers", &[("email", "a@x.test")]), "k");
    let limited = s.handle(at(0), &req);
    assert_error(&limited, 429, "invalid_request_error", Some("rate_limit"), None);
    assert_eq!(limited.header("Retry-After"), None);
    let retry = s.handle(at(1), &req);
    assert_eq!(retry.status, 200);
    assert_eq!(retry.header("Idempotent-Replayed"), None);
    assert_eq!(customer_count(&s), 1);
}

#[test]
fn idempotency_key_expires_after_24h() {
    let mut s = world();
    let req = keyed(post("/v1/customers", &[("email", "a@x.test")]), "tenant-1");
    let first = id_of(&s.handle(at(0), &req));
    let within = s.handle(at(24 * 3600 - 1), &req);
    assert_eq!(within.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(id_of(&within), first);
    // Past the window the key is new again: a second customer (the race the harness must show).
    let after = s.handle(at(24 * 3600), &req);
    assert_eq!(after.header("Idempotent-Replayed"), None);
    assert_ne!(id_of(&after), first);
    assert_eq!(customer_count(&s), 2);
}

#[test]
fn idempotency_key_window_starts_when_the_result_is_saved() {
    // Found by the reference_schedule fuzz target: a request still executing when the clock
    // passed 24 h (a time jump) was saved already expired, and the next request with its key
    // created a second customer. Stripe keeps a result for 24 h after it is saved.
    let mut s = world();
    let req = keyed(post("/v1/customers", &[("email", "a@x.test")]), "tenant-1");
    let Began::InFlight(first) = s.begin(at(0), &req) else {
        panic!("first request should be in flight")
    };
    let done = s.finish(at(25 * 3600), first);
    let again = s.handle(at(25 * 3600 + 1), &req);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.body, done.body);
    assert_eq!(customer_count(&s), 1);
}

#[test]
fn idempotency_key_over_255_chars_is_400() {
    let mut s = world();
    let long = "k".repeat(256);
    let resp = s.handle(at(0), &keyed(post("/v1/customers", &[]), &long));
    assert_error(&resp, 400, "invalid_request_error", None, None);
    assert_eq!(customer_count(&s), 0);
    let max = "k".repeat(255);
    assert_eq!(
        s.handle(at(0), &keyed(post("/v1/customers", &[]), &max)).status,
        200
    );
}

#[test]
fn get_ignores_idempotency_key() {
    let mut s = world();
    let cus = create_customer(&mut s, at(0), "a@x.test");
    ok(&s.handle(
        at(0),
        &keyed(post("/v1/customers", &[("email", "b@x.test")]), "k"),
    ));
    // Same key on GET and DELETE: no conflict, no replay.
    let g1 = s.handle(at(1), &keyed(get(&format!("/v1/customers/{cus}")), "k"));
    let g2 = s.handle(at(2), &keyed(get(&format!("/v1/customers/{cus}")), "k"));
    assert_eq!((g1.status, g2.status), (200, 200));
    assert_eq!(g2.header("Idempotent-Replayed"), None);
    let d = s.handle(at(3), &keyed(delete(&format!("/v1/customers/{cus}")), "k"));
    assert_eq!(ok(&d)["deleted"], true);
}

#[test]
fn every_response_has_a_deterministic_request_id() {
    let run = || {
        let mut s = world();
        let a = s.handle(at(0), &post("/v1/customers", &[]));
        let b = s.handle(at(0), &get("/v1/nope"));
        (
            a.header("Request-Id").map(str::to_string),
            b.header("Request-Id").map(str::to_string),
        )
    };
    let (a, b) = run();
    assert!(a.as_deref().is_some_and(|r| r.starts_with("req_")));
    assert_ne!(a, b);
    assert_eq!(run(), (a, b));
}

#[test]
fn whole_state_serialises_and_resumes_mid_request() {
    let mut s = world();
    s.faults_mut()
        .next(None, "/v1/coupons", 1, StripeFaultKind::ApiError500)
        .unwrap();
    create_customer(&mut s, at(0), "a@x.test");
    let Began::InFlight(id) = s.begin(
        at(1),
        &keyed(post("/v1/customers", &[("email", "b@x.test")]), "k"),
    ) else {
        panic!("in flight")
    };
    let json = serde_json::to_string(&s).unwrap_or_default();
    let mut resumed: Stripe = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(resumed, s);
    assert_eq!(resumed.finish(at(2), id), s.finish(at(2), id));
    let coupon = post("/v1/coupons", &[("percent_off", "5")]);
    assert_eq!(
        resumed.handle(at(3), &coupon).status,
        500,
        "fault rules survive the round trip"
    );
    assert_eq!(resumed.snapshot(), {
        s.handle(at(3), &coupon);
        s.snapshot()
    });
}

// ---------------------------------------------------------------- customers

#[test]
fn ids_have_stripe_prefixes() {
    let mut s = world();
    let p = price(&mut s);
    assert!(p.starts_with("price_"));
    let cus = create_customer(&mut s, at(0), "a@x.test");
    assert!(cus.starts_with("cus_"));
    let coupon = ok(&s.handle(at(0), &post("/v1/coupons", &[("percent_off", "10")])));
    let promo = id_of(&s.handle(
        at(0),
        &post(
            "/v1/promotion_codes",
            &[("coupon", coupon["id"].as_str().unwrap_or(""))],
        ),
    ));
    assert!(promo.starts_with("promo_"));
    let cs = id_of(&create_session(
        &mut s,
        at(0),
        &p,
        &[("discounts[0][promotion_code]", &promo)],
    ));
    assert!(cs.starts_with("cs_test_"));
    let done = ok(&s.complete_checkout_session(at(1), &cs));
    let sub = done["subscription"].as_str().unwrap_or("").to_string();
    assert!(sub.starts_with("sub_"));
    let sub_json = ok(&s.handle(at(1), &get(&format!("/v1/subscriptions/{sub}"))));
    assert!(sub_json["discount"]["id"]
        .as_str()
        .is_some_and(|d| d.starts_with("di_")));
    assert!(sub_json["latest_invoice"]
        .as_str()
        .is_some_and(|d| d.starts_with("in_")));
    assert!(sub_json["items"]["data"][0]["id"]
        .as_str()
        .is_some_and(|d| d.starts_with("si_")));
    assert!(s.events().iter().all(|e| e.id.starts_with("evt_")));
    let product = &s.snapshot().objects.products;
    assert!(product.keys().all(|k| k.starts_with("prod_")));
}

#[test]
fn customer_email_is_not_unique() {
    let mut s = world();
    let a = create_customer(&mut s, at(0), "same@x.test");
    let b = create_customer(&mut s, at(0), "same@x.test");
    assert_ne!(a, b);
    assert_eq!(customer_count(&s), 2);
}

#[test]
fn list_by_email_is_strongly_consistent() {
    let mut s = world();
    let a = create_customer(&mut s, at(0), "same@x.test");
    let list = ok(&s.handle(at(0), &get("/v1/customers?email=same%40x.test")));
    assert_eq!(list["object"], "list");
    assert_eq!(list["url"], "/v1/customers");
    assert_eq!(list["data"][0]["id"], a.as_str());
    let b = create_customer(&mut s, at(0), "same@x.test");
    create_customer(&mut s, at(0), "other@x.test");
    let list = ok(&s.handle(at(0), &get("/v1/customers?email=same%40x.test&limit=1")));
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["data"][0]["id"], b.as_str(), "newest first");
    assert_eq!(list["has_more"], true);
    // The email filter is case-sensitive, as Stripe documents.
    let upper = ok(&s.handle(at(0), &get("/v1/customers?email=SAME%40x.test")));
    assert_eq!(upper["data"].as_array().map(Vec::len), Some(0));
}

#[test]
fn search_lags_behind_writes() {
    let mut s = world();
    let search = |s: &mut Stripe, now, q: &str| {
        let path = format!("/v1/customers/search?query={}", wire::percent_encode(q));
        let body = ok(&s.handle(now, &get(&path)));
        assert_eq!(body["object"], "search_result");
        body["data"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|c| c["id"].as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let cus = create_customer(&mut s, at(100), "lag@x.test");
    assert!(search(&mut s, at(100), "email:'lag@x.test'").is_empty());
    assert!(search(&mut s, at(129), "email:'lag@x.test'").is_empty());
    assert_eq!(search(&mut s, at(130), "email:'lag@x.test'"), vec![cus.clone()]);
    // A metadata change lags too: the old value is still what search sees.
    ok(&s.handle(
        at(200),
        &post(&format!("/v1/customers/{cus}"), &[("metadata[user_id]", "u1")]),
    ));
    assert!(search(&mut s, at(210), "metadata['user_id']:'u1'").is_empty());
    assert_eq!(
        search(&mut s, at(230), "metadata['user_id']:'u1'"),
        vec![cus.clone()]
    );
    // Deletion lags as well.
    ok(&s.handle(at(300), &delete(&format!("/v1/customers/{cus}"))));
    assert_eq!(search(&mut s, at(301), "email:'lag@x.test'"), vec![cus]);
    assert!(search(&mut s, at(330), "email:'lag@x.test'").is_empty());
    let bad = s.handle(at(330), &get("/v1/customers/search?query=email%3Dx"));
    assert_error(&bad, 400, "invalid_request_error", None, Some("query"));
}

/// The ids a search answers (after the search lag has passed).
fn search_ids(s: &mut Stripe, q: &str) -> Vec<String> {
    let path = format!("/v1/customers/search?query={}", wire::percent_encode(q));
    let body = ok(&s.handle(at(1_000), &get(&path)));
    let mut ids: Vec<String> = body["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// FIDELITY "Customers": up to 10 clauses joined by a space, `AND` or `OR`, keywords in any
/// case.
#[test]
fn search_query_language_joins_clauses_with_space_and_or() {
    let mut s = world();
    let a = create_customer(&mut s, at(0), "a@x.test");
    let b = id_of(&s.handle(
        at(0),
        &post("/v1/customers", &[("email", "b@x.test"), ("name", "Bee Two")]),
    ));
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(search_ids(&mut s, "email:'a@x.test' OR name:'Bee Two'"), both);
    assert_eq!(search_ids(&mut s, "email:'a@x.test' or email:'b@x.test'"), both);
    assert_eq!(
        search_ids(&mut s, "email:'b@x.test' name:'Bee Two'"),
        vec![b.clone()]
    );
    assert_eq!(
        search_ids(&mut s, "email:'b@x.test' and name:'Bee Two'"),
        vec![b.clone()]
    );
    assert!(search_ids(&mut s, "email:'a@x.test' AND name:'Bee Two'").is_empty());
    assert_eq!(search_ids(&mut s, "name:\"Bee Two\""), vec![b]);
    let ten = ["email:'a@x.test'"; 10].join(" OR ");
    assert_eq!(search_ids(&mut s, &ten), vec![a]);
}

/// FIDELITY "Customers": a query the fake cannot evaluate is a 400, never an empty result.
#[test]
fn search_query_the_fake_cannot_evaluate_is_a_400() {
    let mut s = world();
    let eleven = ["email:'a@x.test'"; 11].join(" OR ");
    for query in [
        "email:'a' OR name:'b' AND name:'c'",
        "email~'a'",
        "-email:'a'",
        "created>1700000000",
        "phone:'123'",
        "email:a",
        "email:'a' OR",
        "email:'a'name:'b'",
        eleven.as_str(),
    ] {
        let path = format!("/v1/customers/search?query={}", wire::percent_encode(query));
        let bad = s.handle(at(1_000), &get(&path));
        assert_error(&bad, 400, "invalid_request_error", None, Some("query"));
    }
}

#[test]
fn metadata_is_merged_on_update() {
    let mut s = world();
    let cus = id_of(&s.handle(
        at(0),
        &post("/v1/customers", &[("metadata[a]", "1"), ("metadata[b]", "2")]),
    ));
    let path = format!("/v1/customers/{cus}");
    let updated = ok(&s.handle(at(1), &post(&path, &[("metadata[b]", "3"), ("metadata[c]", "4")])));
    assert_eq!(
        updated["metadata"],
        serde_json::json!({"a": "1", "b": "3", "c": "4"})
    );
    // An empty value deletes the key, as in Stripe.
    let updated = ok(&s.handle(at(2), &post(&path, &[("metadata[a]", "")])));
    assert_eq!(updated["metadata"], serde_json::json!({"b": "3", "c": "4"}));
    // `metadata=` clears all.
    let updated = ok(&s.handle(at(3), &post(&path, &[("metadata", "")])));
    assert_eq!(updated["metadata"], serde_json::json!({}));
    let types = event_types(&s.drain_new_events());
    assert_eq!(
        types,
        [
            "customer.created",
            "customer.updated",
            "customer.updated",
            "customer.updated"
        ]
    );
}

#[test]
fn deleted_customer_is_retrievable_with_deleted_true() {
    let mut s = world();
    let cus = create_customer(&mut s, at(0), "d@x.test");
    let path = format!("/v1/customers/{cus}");
    let deleted = ok(&s.handle(at(1), &delete(&path)));
    assert_eq!(
        deleted,
        serde_json::json!({"id": cus, "object": "customer", "deleted": true})
    );
    let got = ok(&s.handle(at(2), &get(&path)));
    assert_eq!(got["deleted"], true);
    let list = ok(&s.handle(at(2), &get("/v1/customers?email=d%40x.test")));
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0));
    assert_error(
        &s.handle(at(3), &post(&path, &[("name", "x")])),
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    assert!(s
        .snapshot()
        .objects
        .customers
        .get(&cus)
        .is_some_and(|c| c.deleted));
    assert!(event_types(s.events()).contains(&"customer.deleted".to_string()));
}

// ---------------------------------------------------------------- checkout

#[test]
fn checkout_session_does_not_create_customer() {
    let mut s = world();
    let p = price(&mut s);
    let cs = ok(&create_session(
        &mut s,
        at(0),
        &p,
        &[("customer_email", "a@x.test")],
    ));
    assert_eq!(cs["object"], "checkout.session");
    assert_eq!(cs["customer"], Value::Null);
    assert_eq!(cs["status"], "open");
    assert_eq!(customer_count(&s), 0);
    let cus = create_customer(&mut s, at(0), "b@x.test");
    let cs = ok(&create_session(&mut s, at(0), &p, &[("customer", &cus)]));
    assert_eq!(cs["customer"], cus.as_str());
    assert_eq!(customer_count(&s), 1);
}

#[test]
fn customer_email_does_not_dedupe() {
    let mut s = world();
    let p = price(&mut s);
    let existing = create_customer(&mut s, at(0), "a@x.test");
    let one = id_of(&create_session(
        &mut s,
        at(0),
        &p,
        &[("customer_email", "a@x.test")],
    ));
    let two = id_of(&create_session(
        &mut s,
        at(0),
        &p,
        &[("customer_email", "a@x.test")],
    ));
    let c1 = ok(&s.complete_checkout_session(at(1), &one))["customer"].clone();
    let c2 = ok(&s.complete_checkout_session(at(1), &two))["customer"].clone();
    assert_ne!(c1, c2);
    assert_ne!(c1, existing.as_str());
    assert_eq!(customer_count(&s), 3);
}

#[test]
fn discounts_and_allow_promotion_codes_are_exclusive() {
    let mut s = world();
    let p = price(&mut s);
    ok(&s.handle(
        at(0),
        &post("/v1/coupons", &[("id", "TEN"), ("percent_off", "10")]),
    ));
    let resp = create_session(
        &mut s,
        at(0),
        &p,
        &[("discounts[0][coupon]", "TEN"), ("allow_promotion_codes", "true")],
    );
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        None,
        Some("allow_promotion_codes"),
    );
    assert!(resp.body_json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("allow_promotion_codes, discounts")));
    ok(&create_session(
        &mut s,
        at(0),
        &p,
        &[("discounts[0][coupon]", "TEN")],
    ));
    ok(&create_session(
        &mut s,
        at(0),
        &p,
        &[("allow_promotion_codes", "true")],
    ));
}

#[test]
fn customer_and_customer_email_are_exclusive() {
    let mut s = world();
    let p = price(&mut s);
    let cus = create_customer(&mut s, at(0), "a@x.test");
    let resp = create_session(
        &mut s,
        at(0),
        &p,
        &[("customer", &cus), ("customer_email", "a@x.test")],
    );
    assert_error(&resp, 400, "invalid_request_error", None, Some("customer_email"));
}

#[test]
fn session_expiry_is_between_30_minutes_and_24_hours() {
    let mut s = world();
    let p = price(&mut s);
    let now = at(1000);
    let default = ok(&create_session(&mut s, now, &p, &[]));
    assert_eq!(default["expires_at"], now.unix_secs() + 24 * 3600);
    for bad in [now.unix_secs() + 29 * 60, now.unix_secs() + 24 * 3600 + 1] {
        let t = bad.to_string();
        let resp = create_session(&mut s, now, &p, &[("expires_at", &t)]);
        assert_error(&resp, 400, "invalid_request_error", None, Some("expires_at"));
    }
    let t = (now.unix_secs() + 30 * 60).to_string();
    ok(&create_session(&mut s, now, &p, &[("expires_at", &t)]));
}

#[test]
fn expired_session_cannot_be_paid() {
    let mut s = world();
    let p = price(&mut s);
    let lapsed = id_of(&create_session(&mut s, at(0), &p, &[]));
    let expired = id_of(&create_session(&mut s, at(0), &p, &[]));
    s.drain_new_events();
    // Explicit expiry.
    let e = ok(&s.handle(
        at(10),
        &post(&format!("/v1/checkout/sessions/{expired}/expire"), &[]),
    ));
    assert_eq!(e["status"], "expired");
    let resp = s.complete_checkout_session(at(11), &expired);
    assert_error(&resp, 400, "invalid_request_error", None, Some("id"));
    // Expiry by time (default 24 h).
    let resp = s.complete_checkout_session(at(24 * 3600), &lapsed);
    assert_error(&resp, 400, "invalid_request_error", None, Some("id"));
    let got = ok(&s.handle(at(24 * 3600), &get(&format!("/v1/checkout/sessions/{lapsed}"))));
    assert_eq!(got["status"], "expired");
    assert_eq!(
        event_types(&s.drain_new_events()),
        ["checkout.session.expired", "checkout.session.expired"]
    );
    assert_eq!(customer_count(&s), 0);
    assert!(s.snapshot().objects.subscriptions.is_empty());
}

#[test]
fn completing_session_creates_subscription_and_events() {
    let mut s = world();
    let p = price(&mut s);
    let cs = id_of(&create_session(
        &mut s,
        at(0),
        &p,
        &[
            ("customer_email", "a@x.test"),
            ("client_reference_id", "user_1"),
            ("metadata[user_id]", "u1"),
        ],
    ));
    s.drain_new_events();
    let done = ok(&s.complete_checkout_session(at(60), &cs));
    assert_eq!(done["status"], "complete");
    assert_eq!(done["payment_status"], "paid");
    let cus = done["customer"].as_str().unwrap_or("").to_string();
    let sub = done["subscription"].as_str().unwrap_or("").to_string();
    let events = s.drain_new_events();
    assert_eq!(
        event_types(&events),
        [
            "customer.created",
            "customer.subscription.created",
            "invoice.paid",
            "checkout.session.completed"
        ]
    );
    let sub_json = ok(&s.handle(at(60), &get(&format!("/v1/subscriptions/{sub}"))));
    assert_eq!(sub_json["status"], "active");
    assert_eq!(sub_json["customer"], cus.as_str());
    let customer = ok(&s.handle(at(60), &get(&format!("/v1/customers/{cus}"))));
    assert_eq!(customer["email"], "a@x.test");
    let completed = events.last().map(Event::to_json).unwrap_or_default();
    assert_eq!(completed["data"]["object"]["client_reference_id"], "user_1");
    assert_eq!(completed["data"]["object"]["metadata"]["user_id"], "u1");
    assert_eq!(completed["data"]["object"]["subscription"], sub.as_str());
}

#[test]
fn completing_session_with_customer_does_not_create_one() {
    let mut s = world();
    let p = price(&mut s);
    let cus = create_customer(&mut s, at(0), "a@x.test");
    let cs = id_of(&create_session(&mut s, at(0), &p, &[("customer", &cus)]));
    s.drain_new_events();
    let done = ok(&s.complete_checkout_session(at(1), &cs));
    assert_eq!(done["customer"], cus.as_str());
    assert!(!event_types(&s.drain_new_events()).contains(&"customer.created".to_string()));
    assert_eq!(customer_count(&s), 1);
}

#[test]
fn session_can_be_completed_once() {
    let mut s = world();
    let p = price(&mut s);
    let cs = id_of(&create_session(&mut s, at(0), &p, &[]));
    ok(&s.complete_checkout_session(at(1), &cs));
    assert_error(
        &s.complete_checkout_session(at(2), &cs),
        400,
        "invalid_request_error",
        None,
        Some("id"),
    );
    assert_eq!(s.snapshot().objects.subscriptions.len(), 1);
}

// ---------------------------------------------------------------- coupons and promotion codes

fn coupon(s: &mut Stripe, id: &str) {
    ok(&s.handle(
        at(0),
        &post(
            "/v1/coupons",
            &[("id", id), ("percent_off", "25"), ("duration", "once")],
        ),
    ));
}

fn promo(s: &mut Stripe, now: SimTime, pairs: &[(&str, &str)]) -> HttpResponse {
    s.handle(now, &post("/v1/promotion_codes", pairs))
}

#[test]
fn promotion_codes_unique_case_insensitively_among_active() {
    let mut s = world();
    coupon(&mut s, "Q");
    let first = id_of(&promo(&mut s, at(0), &[("coupon", "Q"), ("code", "SAVE10")]));
    let dup = promo(&mut s, at(0), &[("promotion[coupon]", "Q"), ("code", "save10")]);
    assert_error(
        &dup,
        400,
        "invalid_request_error",
        Some("resource_already_exists"),
        Some("code"),
    );
    ok(&s.handle(
        at(0),
        &post(&format!("/v1/promotion_codes/{first}"), &[("active", "false")]),
    ));
    let second = id_of(&promo(
        &mut s,
        at(0),
        &[
            ("promotion[type]", "coupon"),
            ("promotion[coupon]", "Q"),
            ("code", "save10"),
        ],
    ));
    // Re-activating the first would make two active codes with one string.
    let back = s.handle(
        at(0),
        &post(&format!("/v1/promotion_codes/{first}"), &[("active", "true")]),
    );
    assert_error(
        &back,
        400,
        "invalid_request_error",
        Some("resource_already_exists"),
        Some("code"),
    );
    let list = ok(&s.handle(at(0), &get("/v1/promotion_codes?code=SAVE10&active=true")));
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["data"][0]["id"], second.as_str());
}

#[test]
fn inactive_promotion_code_is_rejected() {
    let mut s = world();
    let p = price(&mut s);
    coupon(&mut s, "Q");
    let off = id_of(&promo(
        &mut s,
        at(0),
        &[("coupon", "Q"), ("code", "OFF"), ("active", "false")],
    ));
    let resp = create_session(&mut s, at(0), &p, &[("discounts[0][promotion_code]", &off)]);
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        None,
        Some("discounts[0][promotion_code]"),
    );
    let expires = (at(100).unix_secs()).to_string();
    let soon = id_of(&promo(
        &mut s,
        at(0),
        &[("coupon", "Q"), ("code", "SOON"), ("expires_at", &expires)],
    ));
    ok(&create_session(
        &mut s,
        at(100),
        &p,
        &[("discounts[0][promotion_code]", &soon)],
    ));
    let resp = create_session(&mut s, at(101), &p, &[("discounts[0][promotion_code]", &soon)]);
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        None,
        Some("discounts[0][promotion_code]"),
    );
    let resp = create_session(&mut s, at(0), &p, &[("discounts[0][coupon]", "NOPE")]);
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        Some("resource_missing"),
        Some("discounts[0][coupon]"),
    );
    let resp = create_session(
        &mut s,
        at(0),
        &p,
        &[("discounts[0][promotion_code]", "promo_nope")],
    );
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        Some("resource_missing"),
        Some("discounts[0][promotion_code]"),
    );
}

#[test]
fn max_redemptions_enforced() {
    let mut s = world();
    let p = price(&mut s);
    coupon(&mut s, "Q");
    let once = id_of(&promo(
        &mut s,
        at(0),
        &[("coupon", "Q"), ("code", "ONCE"), ("max_redemptions", "1")],
    ));
    let a = id_of(&create_session(
        &mut s,
        at(0),
        &p,
        &[("discounts[0][promotion_code]", &once)],
    ));
    let b = id_of(&create_session(
        &mut s,
        at(0),
        &p,
        &[("discounts[0][promotion_code]", &once)],
    ));
    let paid = ok(&s.complete_checkout_session(at(1), &a));
    assert_eq!(paid["amount_total"], 1500);
    let resp = s.complete_checkout_session(at(2), &b);
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        None,
        Some("discounts[0][promotion_code]"),
    );
    let resp = create_session(&mut s, at(3), &p, &[("discounts[0][promotion_code]", &once)]);
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        None,
        Some("discounts[0][promotion_code]"),
    );
    let got = ok(&s.handle(at(3), &get(&format!("/v1/promotion_codes/{once}"))));
    assert_eq!(got["times_redeemed"], 1);
    assert_eq!(got["coupon"]["times_redeemed"], 1);
}

#[test]
fn coupon_max_redemptions_and_redeem_by_enforced() {
    let mut s = world();
    let p = price(&mut s);
    let by = at(50).unix_secs().to_string();
    ok(&s.handle(
        at(0),
        &post(
            "/v1/coupons",
            &[
                ("id", "ONE"),
                ("amount_off", "500"),
                ("currency", "usd"),
                ("max_redemptions", "1"),
            ],
        ),
    ));
    ok(&s.handle(
        at(0),
        &post(
            "/v1/coupons",
            &[("id", "LATE"), ("percent_off", "5"), ("redeem_by", &by)],
        ),
    ));
    let a = id_of(&create_session(
        &mut s,
        at(0),
        &p,
        &[("discounts[0][coupon]", "ONE")],
    ));
    ok(&s.complete_checkout_session(at(1), &a));
    let resp = create_session(&mut s, at(2), &p, &[("discounts[0][coupon]", "ONE")]);
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        Some("coupon_expired"),
        Some("discounts[0][coupon]"),
    );
    let resp = create_session(&mut s, at(51), &p, &[("discounts[0][coupon]", "LATE")]);
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        Some("coupon_expired"),
        Some("discounts[0][coupon]"),
    );
    let dup = s.handle(
        at(0),
        &post("/v1/coupons", &[("id", "ONE"), ("percent_off", "5")]),
    );
    assert_error(
        &dup,
        400,
        "invalid_request_error",
        Some("resource_already_exists"),
        Some("id"),
    );
}

// ---------------------------------------------------------------- locks, subscriptions, events

#[test]
fn concurrent_writes_to_one_customer_get_lock_timeout() {
    let mut s = world();
    let cus = create_customer(&mut s, at(0), "a@x.test");
    let path = format!("/v1/customers/{cus}");
    let Began::InFlight(first) = s.begin(at(1), &post(&path, &[("metadata[a]", "1")])) else {
        panic!("first write should be in flight")
    };
    let Began::Respond(second) = s.begin(at(1), &keyed(post(&path, &[("metadata[b]", "2")]), "kb")) else {
        panic!("second write should be answered at once")
    };
    assert_error(&second, 429, "invalid_request_error", Some("lock_timeout"), None);
    assert_eq!(second.header("Stripe-Should-Retry"), Some("true"));
    // Reads and writes to other objects are not blocked.
    assert_eq!(s.handle(at(1), &get(&path)).status, 200);
    ok(&s.finish(at(2), first));
    // Not saved under the key: the retry executes.
    let retry = ok(&s.handle(at(3), &keyed(post(&path, &[("metadata[b]", "2")]), "kb")));
    assert_eq!(retry["metadata"], serde_json::json!({"a": "1", "b": "2"}));

    // Paying a session for a customer writes to that customer too.
    let p = price(&mut s);
    let cs = id_of(&create_session(&mut s, at(4), &p, &[("customer", &cus)]));
    let Began::InFlight(paying) = s.begin(
        at(5),
        &post(&format!("/v1/test_helpers/checkout/sessions/{cs}/complete"), &[]),
    ) else {
        panic!("completion should be in flight")
    };
    let blocked = s.handle(at(5), &post(&path, &[("name", "n")]));
    assert_error(&blocked, 429, "invalid_request_error", Some("lock_timeout"), None);
    ok(&s.finish(at(6), paying));
    ok(&s.handle(at(6), &post(&path, &[("name", "n")])));

    let mut relaxed = Stripe::new(
        7,
        StripeConfig {
            lock_timeout_on_concurrent_writes: false,
            ..StripeConfig::default()
        },
    );
    let cus = create_customer(&mut relaxed, at(0), "a@x.test");
    let path = format!("/v1/customers/{cus}");
    let (Began::InFlight(a), Began::InFlight(b)) = (
        relaxed.begin(at(1), &post(&path, &[("metadata[a]", "1")])),
        relaxed.begin(at(1), &post(&path, &[("metadata[b]", "2")])),
    ) else {
        panic!("both writes should be in flight without lock timeouts")
    };
    ok(&relaxed.finish(at(2), b));
    ok(&relaxed.finish(at(2), a));
}

#[test]
fn subscription_statuses_and_events() {
    let mut s = world();
    let p = price(&mut s);
    let cus = create_customer(&mut s, at(0), "a@x.test");
    let sub = ok(&s.handle(
        at(0),
        &post(
            "/v1/subscriptions",
            &[("customer", &cus), ("items[0][price]", &p)],
        ),
    ));
    assert_eq!(sub["status"], "active");
    let id = sub["id"].as_str().unwrap_or("").to_string();
    let trial = ok(&s.handle(
        at(0),
        &post(
            "/v1/subscriptions",
            &[
                ("customer", &cus),
                ("items[0][price]", &p),
                ("trial_period_days", "7"),
            ],
        ),
    ));
    assert_eq!(trial["status"], "trialing");
    s.drain_new_events();
    let path = format!("/v1/subscriptions/{id}");
    let upd = ok(&s.handle(
        at(1),
        &post(&path, &[("cancel_at_period_end", "true"), ("metadata[k]", "v")]),
    ));
    assert_eq!(upd["cancel_at_period_end"], true);
    for status in [
        SubscriptionStatus::PastDue,
        SubscriptionStatus::Unpaid,
        SubscriptionStatus::Incomplete,
    ] {
        assert_eq!(
            ok(&s.set_subscription_status(at(2), &id, status))["status"],
            status.as_str()
        );
    }
    let canceled = ok(&s.handle(at(3), &delete(&path)));
    assert_eq!(canceled["status"], "canceled");
    let events = s.drain_new_events();
    assert_eq!(
        event_types(&events),
        [
            "customer.subscription.updated",
            "customer.subscription.updated",
            "customer.subscription.updated",
            "customer.subscription.updated",
            "customer.subscription.deleted"
        ]
    );
    let first = events.first().map(Event::to_json).unwrap_or_default();
    assert_eq!(
        first["data"]["previous_attributes"]["cancel_at_period_end"],
        false
    );
    assert_error(
        &s.handle(at(4), &delete(&path)),
        400,
        "invalid_request_error",
        None,
        Some("id"),
    );
}

#[test]
fn lists_of_sessions_and_subscriptions_filter_like_stripe() {
    let mut s = world();
    let p = price(&mut s);
    let cus = create_customer(&mut s, at(0), "a@x.test");
    let a = id_of(&create_session(&mut s, at(0), &p, &[("customer", &cus)]));
    let b = id_of(&create_session(&mut s, at(1), &p, &[("customer", &cus)]));
    create_session(&mut s, at(1), &p, &[]);
    let sub = ok(&s.complete_checkout_session(at(2), &a))["subscription"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let open = ok(&s.handle(
        at(3),
        &get(&format!("/v1/checkout/sessions?customer={cus}&status=open")),
    ));
    assert_eq!(open["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(open["data"][0]["id"], b.as_str());
    let by_sub = ok(&s.handle(at(3), &get(&format!("/v1/checkout/sessions?subscription={sub}"))));
    assert_eq!(by_sub["data"][0]["id"], a.as_str());
    let subs = ok(&s.handle(at(3), &get(&format!("/v1/subscriptions?customer={cus}"))));
    assert_eq!(subs["data"][0]["id"], sub.as_str());
    ok(&s.handle(at(4), &delete(&format!("/v1/subscriptions/{sub}"))));
    let subs = ok(&s.handle(at(5), &get(&format!("/v1/subscriptions?customer={cus}"))));
    assert_eq!(
        subs["data"].as_array().map(Vec::len),
        Some(0),
        "canceled left out by default"
    );
    let all = ok(&s.handle(
        at(5),
        &get(&format!("/v1/subscriptions?customer={cus}&status=all")),
    ));
    assert_eq!(all["data"].as_array().map(Vec::len), Some(1));
    let bad = s.handle(at(5), &get("/v1/subscriptions?status=nope"));
    assert_error(&bad, 400, "invalid_request_error", None, Some("status"));
}

#[test]
fn metadata_limits_are_enforced() {
    let mut s = world();
    let long_key = "k".repeat(41);
    let resp = s.handle(
        at(0),
        &post("/v1/customers", &[(&format!("metadata[{long_key}]"), "v")]),
    );
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        None,
        Some(&format!("metadata[{long_key}]")),
    );
    let long_value = "v".repeat(501);
    let resp = s.handle(at(0), &post("/v1/customers", &[("metadata[k]", &long_value)]));
    assert_error(&resp, 400, "invalid_request_error", None, Some("metadata[k]"));
    assert_eq!(customer_count(&s), 0);
}

#[test]
fn events_have_the_real_shape() {
    let mut s = world();
    let req = keyed(post("/v1/customers", &[("email", "a@x.test")]), "key-1");
    let created = s.handle(at(5), &req);
    let cus = id_of(&created);
    let events = s.drain_new_events();
    assert_eq!(events.len(), 1);
    let e = events.first().map(Event::to_json).unwrap_or_default();
    assert_eq!(e["object"], "event");
    assert_eq!(e["type"], "customer.created");
    assert_eq!(e["livemode"], false);
    assert_eq!(e["api_version"], state::API_VERSION);
    assert_eq!(e["created"], at(5).unix_secs());
    assert_eq!(e["data"]["object"]["id"], cus.as_str());
    assert_eq!(e["request"]["idempotency_key"], "key-1");
    assert_eq!(e["request"]["id"], created.header("Request-Id").unwrap_or(""));
    assert_eq!(e["pending_webhooks"], 0);
    let id = e["id"].as_str().unwrap_or("");
    assert_eq!(ok(&s.handle(at(6), &get(&format!("/v1/events/{id}")))), e);
    let list = ok(&s.handle(at(6), &get("/v1/events?type=customer.created")));
    assert_eq!(list["data"][0], e);
    assert!(s.drain_new_events().is_empty());
}

#[test]
fn webhook_endpoint_secret_signs_events() {
    let mut s = world();
    let ep = ok(&s.handle(
        at(0),
        &post(
            "/v1/webhook_endpoints",
            &[
                ("url", "http://app/webhooks/stripe"),
                ("enabled_events[]", "customer.created"),
            ],
        ),
    ));
    let secret = ep["secret"].as_str().unwrap_or("").to_string();
    assert!(secret.starts_with("whsec_") && secret.len() > 30);
    let endpoints = s.webhook_endpoints();
    assert_eq!(endpoints.first().map(|e| e.secret.clone()), Some(secret.clone()));
    assert!(endpoints
        .first()
        .is_some_and(|e| e.wants("customer.created") && !e.wants("invoice.paid")));
    let listed = ok(&s.handle(at(0), &get("/v1/webhook_endpoints")));
    assert_eq!(
        listed["data"][0]["secret"],
        Value::Null,
        "secret only shown on creation"
    );
    create_customer(&mut s, at(1), "a@x.test");
    let event = s.drain_new_events().pop().unwrap_or_else(|| panic!("an event"));
    assert_eq!(event.pending_webhooks, 1);
    let payload = event.payload();
    let header = webhook::sign_header(&secret, at(1).unix_secs(), &payload);
    assert_eq!(
        webhook::verify(&payload, &header, &secret, at(2).unix_secs(), 300),
        Ok(())
    );
    assert_eq!(
        Stripe::new(7, StripeConfig::default())
            .handle(
                at(0),
                &post(
                    "/v1/webhook_endpoints",
                    &[
                        ("url", "http://app/webhooks/stripe"),
                        ("enabled_events[]", "customer.created")
                    ]
                )
            )
            .body_json()["secret"],
        secret.as_str()
    );
}

#[test]
fn expand_replaces_ids_with_objects() {
    let mut s = world();
    let p = price(&mut s);
    let cs = id_of(&create_session(&mut s, at(0), &p, &[]));
    ok(&s.complete_checkout_session(at(1), &cs));
    let path = format!("/v1/checkout/sessions/{cs}?expand[]=subscription&expand[]=customer");
    let got = ok(&s.handle(at(2), &get(&path)));
    assert_eq!(got["subscription"]["object"], "subscription");
    assert_eq!(got["customer"]["object"], "customer");
    let list = ok(&s.handle(at(2), &get("/v1/events?type=checkout.session.completed")));
    assert!(
        list["data"][0]["data"]["object"]["subscription"].is_string(),
        "no expand asked"
    );
    let subs = ok(&s.handle(
        at(2),
        &get(&format!(
            "/v1/subscriptions/{}?expand[0]=latest_invoice",
            got["subscription"]["id"].as_str().unwrap_or("")
        )),
    ));
    assert_eq!(subs["latest_invoice"]["status"], "paid");
}

// ---------------------------------------------------------------- faults

#[test]
fn fault_500_is_saved_under_key_and_has_no_effect() {
    let mut s = world();
    s.faults_mut()
        .next(None, "/v1/customers", 1, StripeFaultKind::ApiError500)
        .unwrap();
    let req = keyed(post("/v1/customers", &[("email", "a@x.test")]), "k");
    let first = s.handle(at(0), &req);
    assert_error(&first, 500, "api_error", None, None);
    assert_eq!(customer_count(&s), 0);
    let retry = s.handle(at(1), &req);
    assert_eq!((retry.status, &retry.body), (500, &first.body));
    assert_eq!(retry.header("Idempotent-Replayed"), Some("true"));
    // A fresh key (what a naive client does) creates the customer.
    ok(&s.handle(
        at(2),
        &keyed(post("/v1/customers", &[("email", "a@x.test")]), "k2"),
    ));
    assert_eq!(customer_count(&s), 1);
}

#[test]
fn fault_commit_then_drop_response_executes_and_marks_response() {
    let mut s = world();
    s.faults_mut()
        .next(
            Some(Method::Post),
            "/v1/customers",
            1,
            StripeFaultKind::CommitThenDropResponse,
        )
        .unwrap();
    let req = keyed(post("/v1/customers", &[("email", "a@x.test")]), "k");
    let dropped = s.handle(at(0), &req);
    assert_eq!(dropped.header(DROP_RESPONSE_HEADER), Some("true"));
    assert_eq!(customer_count(&s), 1, "the write committed");
    let retry = s.handle(at(1), &req);
    assert_eq!(retry.header(DROP_RESPONSE_HEADER), None);
    assert_eq!(retry.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(retry.body, dropped.body);
    assert_eq!(customer_count(&s), 1);
}

#[test]
fn fault_lock_timeout_and_rules_are_counted() {
    let mut s = world();
    s.faults_mut()
        .next(
            Some(Method::Get),
            "/v1/customers",
            2,
            StripeFaultKind::LockTimeout429,
        )
        .unwrap();
    ok(&s.handle(at(0), &post("/v1/customers", &[])));
    for _ in 0..2 {
        assert_error(
            &s.handle(at(0), &get("/v1/customers")),
            429,
            "invalid_request_error",
            Some("lock_timeout"),
            None,
        );
    }
    assert_eq!(s.faults_mut().rules().count(), 0);
    ok(&s.handle(at(0), &get("/v1/customers")));
}

// ---------------------------------------------------------------- bad input

#[test]
fn malformed_form_body_is_400() {
    let mut s = world();
    let req = HttpRequest::new(Method::Post, "/v1/customers")
        .with_header("Authorization", AUTH)
        .with_body(&b"email=%zz"[..]);
    assert_error(&s.handle(at(0), &req), 400, "invalid_request_error", None, None);
    let req = HttpRequest::new(Method::Post, "/v1/customers")
        .with_header("Authorization", AUTH)
        .with_body(&b"metadata[a=1"[..]);
    assert_error(
        &s.handle(at(0), &req),
        400,
        "invalid_request_error",
        None,
        Some("metadata[a"),
    );
    assert_eq!(customer_count(&s), 0);
}

#[test]
fn unknown_parameter_is_400_parameter_unknown() {
    let mut s = world();
    let resp = s.handle(at(0), &post("/v1/customers", &[("emali", "x")]));
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("emali"),
    );
    let p = price(&mut s);
    let resp = create_session(&mut s, at(0), &p, &[("line_items[0][prize]", "x")]);
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("line_items[0][prize]"),
    );
}

#[test]
fn missing_and_invalid_parameters_are_400() {
    let mut s = world();
    let resp = s.handle(
        at(0),
        &post("/v1/checkout/sessions", &[("line_items[0][price]", "price_x")]),
    );
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("mode"),
    );
    let resp = s.handle(at(0), &get("/v1/customers?limit=abc"));
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        Some("parameter_invalid_integer"),
        Some("limit"),
    );
    let resp = s.handle(at(0), &post("/v1/customers", &[("email", "")]));
    assert_eq!(resp.status, 200, "an empty string unsets a nullable field");
    let resp = s.handle(at(0), &post("/v1/promotion_codes", &[("coupon", "")]));
    assert_error(
        &resp,
        400,
        "invalid_request_error",
        Some("parameter_invalid_empty"),
        Some("coupon"),
    );
}

#[test]
fn unknown_id_is_404_resource_missing() {
    let mut s = world();
    for path in [
        "/v1/customers/cus_nope",
        "/v1/checkout/sessions/cs_test_nope",
        "/v1/subscriptions/sub_nope",
        "/v1/events/evt_nope",
    ] {
        let resp = s.handle(at(0), &get(path));
        assert_error(
            &resp,
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    }
}

#[test]
fn missing_auth_is_401() {
    let mut s = world();
    let resp = s.handle(at(0), &HttpRequest::new(Method::Get, "/v1/customers"));
    assert_error(&resp, 401, "invalid_request_error", None, None);
    assert!(resp.body_json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("You did not provide an API key")));
    let live =
        HttpRequest::new(Method::Get, "/v1/customers").with_header("Authorization", "Bearer sk_live_x");
    assert_error(&s.handle(at(0), &live), 401, "invalid_request_error", None, None);
    // curl -u sk_test_x: (basic auth) works.
    let basic =
        HttpRequest::new(Method::Get, "/v1/customers").with_header("Authorization", "Basic c2tfdGVzdF94Og==");
    assert_eq!(s.handle(at(0), &basic).status, 200);
}

/// A body exactly as stripe-python 16.1.0 encodes `checkout.Session.create(...)`, obtained with
/// `urlencode(list(stripe._encode._api_encode({"mode": "subscription", "line_items": [{"price":
/// PRICE, "quantity": 1}], "customer_email": "a+b@x.test", "discounts": [{"promotion_code": PROMO}],
/// "metadata": {"user_id": "u 1"}, "expand": ["subscription", "customer"]}, "V1")))` with the
/// ids replaced by the placeholders below.
const STRIPE_PYTHON_SESSION_BODY: &str = "mode=subscription&line_items%5B0%5D%5Bprice%5D=PRICE&line_items%5B0%5D%5Bquantity%5D=1&customer_email=a%2Bb%40x.test&discounts%5B0%5D%5Bpromotion_code%5D=PROMO&metadata%5Buser_id%5D=u+1&expand%5B0%5D=subscription&expand%5B1%5D=customer";

#[test]
fn decodes_bodies_as_the_stripe_sdks_encode_them() {
    let mut s = world();
    let p = price(&mut s);
    coupon(&mut s, "Q");
    let promo_id = id_of(&promo(&mut s, at(0), &[("coupon", "Q")]));
    let body = STRIPE_PYTHON_SESSION_BODY
        .replace("PRICE", &p)
        .replace("PROMO", &promo_id);
    let req = HttpRequest::new(Method::Post, "/v1/checkout/sessions")
        .with_header("Authorization", AUTH)
        .with_body(body);
    let cs = ok(&s.handle(at(0), &req));
    assert_eq!(cs["customer_email"], "a+b@x.test");
    assert_eq!(cs["metadata"]["user_id"], "u 1");
    assert_eq!(cs["discounts"][0]["promotion_code"], promo_id.as_str());
    assert_eq!(
        cs["subscription"],
        Value::Null,
        "expand of a null field leaves null"
    );
}

#[test]
fn unknown_route_is_404() {
    let mut s = world();
    let resp = s.handle(
        at(0),
        &HttpRequest::new(Method::Patch, "/v1/customers").with_header("Authorization", AUTH),
    );
    assert_error(&resp, 404, "invalid_request_error", None, None);
    assert!(resp.body_json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Unrecognized request URL (PATCH: /v1/customers)")));
}

// ---------------------------------------------------------------- properties

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        CreateCustomer {
            email: u8,
            key: Option<u8>,
        },
        UpdateCustomer {
            who: u8,
            value: u8,
        },
        DeleteCustomer {
            who: u8,
        },
        CreateSession {
            who: Option<u8>,
            promo: bool,
            key: Option<u8>,
        },
        Complete {
            which: u8,
        },
        Expire {
            which: u8,
        },
        Overlap {
            email: u8,
            key: u8,
        },
        Search {
            email: u8,
        },
        Advance {
            secs: u32,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..4, proptest::option::of(0u8..4))
                .prop_map(|(email, key)| Step::CreateCustomer { email, key }),
            (any::<u8>(), 0u8..3).prop_map(|(who, value)| Step::UpdateCustomer { who, value }),
            any::<u8>().prop_map(|who| Step::DeleteCustomer { who }),
            (
                proptest::option::of(any::<u8>()),
                any::<bool>(),
                proptest::option::of(0u8..4)
            )
                .prop_map(|(who, promo, key)| Step::CreateSession { who, promo, key }),
            any::<u8>().prop_map(|which| Step::Complete { which }),
            any::<u8>().prop_map(|which| Step::Expire { which }),
            (0u8..4, 0u8..4).prop_map(|(email, key)| Step::Overlap { email, key }),
            (0u8..4).prop_map(|email| Step::Search { email }),
            prop_oneof![0u32..120, 3_000u32..100_000].prop_map(|secs| Step::Advance { secs }),
        ]
    }

    fn pick(ids: &[String], n: u8) -> String {
        if ids.is_empty() {
            "cus_none".to_string()
        } else {
            ids.get(usize::from(n) % ids.len()).cloned().unwrap_or_default()
        }
    }

    fn run(seed: u64, steps: &[Step]) -> (Vec<HttpResponse>, String) {
        let mut s = Stripe::new(seed, StripeConfig::default());
        let mut now = at(0);
        let p = price(&mut s);
        ok(&s.handle(now, &post("/v1/coupons", &[("id", "Q"), ("percent_off", "50")])));
        let promo_id = id_of(&s.handle(
            now,
            &post(
                "/v1/promotion_codes",
                &[("coupon", "Q"), ("max_redemptions", "2")],
            ),
        ));
        let (mut customers, mut sessions, mut out) = (Vec::new(), Vec::new(), Vec::new());
        for step in steps {
            let resp = match step {
                Step::CreateCustomer { email, key } => {
                    let mut req = post("/v1/customers", &[("email", &format!("u{email}@x.test"))]);
                    if let Some(k) = key {
                        req = keyed(req, &format!("k{k}"));
                    }
                    let resp = s.handle(now, &req);
                    if resp.is_success() {
                        customers.push(id_of(&resp));
                    }
                    resp
                }
                Step::UpdateCustomer { who, value } => {
                    let path = format!("/v1/customers/{}", pick(&customers, *who));
                    s.handle(now, &post(&path, &[("metadata[v]", &value.to_string())]))
                }
                Step::DeleteCustomer { who } => {
                    s.handle(now, &delete(&format!("/v1/customers/{}", pick(&customers, *who))))
                }
                Step::CreateSession { who, promo, key } => {
                    let mut extra: Vec<(String, String)> = Vec::new();
                    if let Some(who) = who {
                        extra.push(("customer".into(), pick(&customers, *who)));
                    }
                    if *promo {
                        extra.push(("discounts[0][promotion_code]".into(), promo_id.clone()));
                    }
                    let extra_refs: Vec<(&str, &str)> =
                        extra.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                    let mut req = post("/v1/checkout/sessions", &session_pairs(&p, &extra_refs));
                    if let Some(k) = key {
                        req = keyed(req, &format!("s{k}"));
                    }
                    let resp = s.handle(now, &req);
                    if resp.is_success() {
                        sessions.push(id_of(&resp));
                    }
                    resp
                }
                Step::Complete { which } => s.complete_checkout_session(now, &pick(&sessions, *which)),
                Step::Expire { which } => {
                    let path = format!("/v1/checkout/sessions/{}/expire", pick(&sessions, *which));
                    s.handle(now, &post(&path, &[]))
                }
                Step::Overlap { email, key } => {
                    let req = keyed(
                        post("/v1/customers", &[("email", &format!("u{email}@x.test"))]),
                        &format!("o{key}"),
                    );
                    let a = s.begin(now, &req);
                    let b = s.begin(now, &req);
                    let mut last = None;
                    for began in [a, b] {
                        let resp = match began {
                            Began::Respond(r) => r,
                            Began::InFlight(id) => s.finish(now, id),
                        };
                        out.push(resp.clone());
                        last = Some(resp);
                    }
                    last.unwrap_or_else(|| HttpResponse::json(0, &Value::Null))
                }
                Step::Search { email } => {
                    let q = wire::percent_encode(&format!("email:'u{email}@x.test'"));
                    s.handle(now, &get(&format!("/v1/customers/search?query={q}")))
                }
                Step::Advance { secs } => {
                    now = now + Duration::from_secs(u64::from(*secs));
                    s.tick(now);
                    continue;
                }
            };
            assert!(resp.status != 500, "unexpected 500: {}", resp.body_json());
            out.push(resp);
        }
        assert_eq!(s.in_flight_count(), 0);
        let snapshot = serde_json::to_string(&s.snapshot()).unwrap_or_default();
        (out, snapshot)
    }

    const KEYS: &[&str] = &[
        "email",
        "name",
        "metadata[a]",
        "metadata",
        "mode",
        "line_items[0][price]",
        "line_items[0][quantity]",
        "line_items[1][price]",
        "customer",
        "customer_email",
        "customer_creation",
        "discounts[0][coupon]",
        "discounts[0][promotion_code]",
        "allow_promotion_codes",
        "expires_at",
        "limit",
        "starting_after",
        "percent_off",
        "amount_off",
        "currency",
        "duration",
        "duration_in_months",
        "max_redemptions",
        "redeem_by",
        "id",
        "code",
        "coupon",
        "promotion[coupon]",
        "promotion[type]",
        "active",
        "expires_at",
        "items[0][price]",
        "trial_period_days",
        "cancel_at_period_end",
        "url",
        "enabled_events[]",
        "expand[]",
        "query",
        "status",
        "type",
        "unit_amount",
        "recurring[interval]",
        "product",
        "product_data[name]",
    ];
    const VALUES: &[&str] = &[
        "",
        "0",
        "1",
        "-1",
        "true",
        "false",
        "abc",
        "99999999999999999999",
        "1e309",
        "NaN",
        "100.5",
        "CUS",
        "PRICE",
        "subscription",
        "payment",
        "setup",
        "usd",
        "once",
        "repeating",
        "forever",
        "always",
        "email:'a@x.test'",
        "metadata['a']:'b'",
        "*",
        "http://x",
        "1767229200",
        "customer",
        "month",
    ];
    const ROUTES: &[(Method, &str)] = &[
        (Method::Post, "/v1/customers"),
        (Method::Post, "/v1/customers/CUS"),
        (Method::Get, "/v1/customers"),
        (Method::Get, "/v1/customers/search"),
        (Method::Post, "/v1/checkout/sessions"),
        (Method::Get, "/v1/checkout/sessions"),
        (Method::Post, "/v1/coupons"),
        (Method::Post, "/v1/promotion_codes"),
        (Method::Get, "/v1/promotion_codes"),
        (Method::Post, "/v1/subscriptions"),
        (Method::Get, "/v1/subscriptions"),
        (Method::Post, "/v1/prices"),
        (Method::Post, "/v1/products"),
        (Method::Post, "/v1/webhook_endpoints"),
        (Method::Get, "/v1/events"),
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn same_seed_same_history(seed in any::<u64>(), steps in proptest::collection::vec(step(), 1..60)) {
            let (responses_a, snapshot_a) = run(seed, &steps);
            let (responses_b, snapshot_b) = run(seed, &steps);
            prop_assert_eq!(responses_a, responses_b);
            prop_assert_eq!(snapshot_a, snapshot_b);
        }

        #[test]
        fn arbitrary_input_never_panics_and_errors_are_stripe_shaped(
            body in proptest::collection::vec(any::<u8>(), 0..200),
            path in "(/v1/(customers|checkout/sessions|coupons|promotion_codes|prices|subscriptions|events|[a-z_]{0,10})){0,1}[ -~]{0,30}",
            method in prop_oneof![Just(Method::Get), Just(Method::Post), Just(Method::Delete), Just(Method::Patch)],
            key in proptest::option::of("[ -~]{0,300}"),
        ) {
            let mut s = world();
            let mut req = HttpRequest::new(method, path).with_header("Authorization", AUTH).with_body(body);
            if let Some(key) = key {
                req = req.with_header("Idempotency-Key", key);
            }
            let resp = s.handle(at(0), &req);
            prop_assert!(resp.is_success() || (400..500).contains(&resp.status), "status {}", resp.status);
            if !resp.is_success() {
                let body = resp.body_json();
                prop_assert!(body["error"]["type"].is_string(), "{}", body);
                prop_assert!(body["error"]["message"].is_string(), "{}", body);
            }
            prop_assert!(resp.header("Request-Id").is_some());
        }

        #[test]
        fn plausible_forms_never_panic_or_500(
            pairs in proptest::collection::vec((0usize..KEYS.len(), 0usize..VALUES.len()), 0..12),
            route in 0usize..ROUTES.len(),
        ) {
            let mut s = world();
            let p = price(&mut s);
            let cus = create_customer(&mut s, at(0), "a@x.test");
            let form: Vec<(&str, String)> = pairs
                .iter()
                .map(|(k, v)| {
                    let value = VALUES.get(*v).copied().unwrap_or("").replace("PRICE", &p).replace("CUS", &cus);
                    (KEYS.get(*k).copied().unwrap_or("email"), value)
                })
                .collect();
            let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (method, path) = ROUTES.get(route).copied().unwrap_or((Method::Post, "/v1/customers"));
            let path = path.replace("CUS", &cus);
            let req = match method {
                Method::Post => post(&path, &refs),
                _ => get(&format!("{path}?{}", wire::encode_form(&refs))),
            };
            let resp = s.handle(at(0), &req);
            prop_assert!(resp.is_success() || (400..500).contains(&resp.status), "{} {}", resp.status, resp.body_json());
        }

        #[test]
        fn arbitrary_form_bodies_on_create_routes(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut s = world();
            for path in ["/v1/customers", "/v1/checkout/sessions", "/v1/coupons", "/v1/promotion_codes", "/v1/prices"] {
                let req = post(path, &[]).with_body(body.clone());
                let resp = s.handle(at(0), &req);
                prop_assert!(resp.is_success() || (400..500).contains(&resp.status));
                if !resp.is_success() {
                    prop_assert!(resp.body_json()["error"]["type"].is_string());
                }
            }
        }
    }
}

#[test]
fn sessions_restored_from_a_snapshot_still_expire_on_time() {
    let mut s = world();
    let p = price(&mut s);
    let first = id_of(&create_session(&mut s, at(0), &p, &[]));
    let second = id_of(&create_session(&mut s, at(10), &p, &[]));
    s.drain_new_events();
    // The expiry index is not state: a restored core starts without it and rebuilds it.
    let json = serde_json::to_value(&s.core).unwrap_or_default();
    s.core = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
    let got = ok(&s.handle(at(24 * 3600), &get(&format!("/v1/checkout/sessions/{first}"))));
    assert_eq!(got["status"], "expired");
    let got = ok(&s.handle(at(24 * 3600), &get(&format!("/v1/checkout/sessions/{second}"))));
    assert_eq!(got["status"], "open", "created 10 s later, it has 10 s left");
    assert_eq!(event_types(&s.drain_new_events()), ["checkout.session.expired"]);
    let got = ok(&s.handle(
        at(24 * 3600 + 10),
        &get(&format!("/v1/checkout/sessions/{second}")),
    ));
    assert_eq!(got["status"], "expired");
}
