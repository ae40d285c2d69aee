//! Bounded loopback load test of `racehound serve` (ignored by default; run with
//! `cargo test --test serve_load -- --ignored --nocapture`).
//!
//! 10,000 mixed Stripe and Clerk requests over 8 keep-alive connections: every answer must be
//! the expected status, and resident memory may grow only with what the fakes store. A second
//! phase of 10,000 reads must not grow memory (no per-request leak).

use std::time::Instant;

use racehound::http::{HttpRequest, HttpResponse, Method};
use racehound::serve::client::HttpClient;
use racehound::serve::{start, ServeConfig};
use serde_json::{json, Value};

const KEY: &str = "Bearer sk_test_load";
const CONNECTIONS: usize = 8;
const MIXED_REQUESTS: usize = 10_000;

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn stripe(method: Method, path: &str, body: &str) -> HttpRequest {
    HttpRequest::new(method, path)
        .with_header("Authorization", KEY)
        .with_header("Content-Type", "application/x-www-form-urlencoded")
        .with_body(body.as_bytes().to_vec())
}

fn clerk(method: Method, path: &str, body: Option<Value>) -> HttpRequest {
    let request = HttpRequest::new(method, path).with_header("Authorization", KEY);
    match body {
        Some(body) => request
            .with_header("Content-Type", "application/json")
            .with_body(serde_json::to_vec(&body).unwrap_or_default()),
        None => request,
    }
}

/// The i-th request of worker `w` in the mixed phase, and the status it must get.
fn mixed(w: usize, i: usize, ids: &(String, String)) -> (HttpRequest, u16) {
    let n = w * 1_000_000 + i;
    match i % 8 {
        0 => (
            stripe(
                Method::Post,
                "/v1/customers",
                &format!("email=c{n}%40x.y&metadata[n]={n}"),
            ),
            200,
        ),
        1 => {
            let body = format!("email=k{w}%40x.y");
            let request = stripe(Method::Post, "/v1/customers", &body)
                .with_header("Idempotency-Key", format!("key-{w}-{}", i % 64));
            (request, 200)
        }
        2 => (stripe(Method::Get, &format!("/v1/customers/{}", ids.0), ""), 200),
        3 => (
            stripe(
                Method::Get,
                &format!("/v1/customers?email=c{}%40x.y&limit=3", w * 1_000_000),
                "",
            ),
            200,
        ),
        4 => (
            clerk(
                Method::Post,
                "/v1/users",
                Some(json!({"email_address": [format!("u{n}@x.y")]})),
            ),
            200,
        ),
        5 => (clerk(Method::Get, &format!("/v1/users/{}", ids.1), None), 200),
        6 => {
            let patch = json!({"public_metadata": {"n": n, "nested": {"w": w}}});
            (
                clerk(
                    Method::Patch,
                    &format!("/v1/users/{}/metadata", ids.1),
                    Some(patch),
                ),
                200,
            )
        }
        _ => (stripe(Method::Get, "/v1/customers/cus_missing", ""), 404),
    }
}

#[tokio::test]
#[ignore = "load test: run with --ignored --nocapture"]
async fn ten_thousand_mixed_requests_without_errors_or_leaks() {
    let server = start(ServeConfig::ephemeral(9)).await.expect("start");
    let stripe_port = server.stripe.as_ref().map(|s| s.addr.port()).unwrap_or(0);
    let clerk_port = server.clerk.as_ref().map(|s| s.addr.port()).unwrap_or(0);

    // Warm-up: one customer and one user per worker, to read and patch.
    let mut seeds = Vec::new();
    for w in 0..CONNECTIONS {
        let mut s = HttpClient::connect("127.0.0.1", stripe_port)
            .await
            .expect("connect");
        let mut c = HttpClient::connect("127.0.0.1", clerk_port)
            .await
            .expect("connect");
        let body = format!("email=c{}%40x.y", w * 1_000_000);
        let customer = s
            .send(&stripe(Method::Post, "/v1/customers", &body))
            .await
            .expect("ok");
        let user = c
            .send(&clerk(
                Method::Post,
                "/v1/users",
                Some(json!({"email_address": [format!("seed{w}@x.y")]})),
            ))
            .await
            .expect("ok");
        let id = |r: &HttpResponse| r.body_json()["id"].as_str().unwrap_or("").to_string();
        seeds.push((id(&customer), id(&user)));
    }
    let rss_before_kib = vm_rss_kib();
    let started = Instant::now();
    let mut workers = Vec::new();
    for (w, ids) in seeds.iter().cloned().enumerate() {
        workers.push(tokio::spawn(async move {
            let mut s = HttpClient::connect("127.0.0.1", stripe_port)
                .await
                .expect("connect");
            let mut c = HttpClient::connect("127.0.0.1", clerk_port)
                .await
                .expect("connect");
            let mut errors = Vec::new();
            for i in 0..MIXED_REQUESTS / CONNECTIONS {
                let (request, want) = mixed(w, i, &ids);
                let client = if request.path.starts_with("/v1/users") {
                    &mut c
                } else {
                    &mut s
                };
                match client.send(&request).await {
                    Ok(response) if response.status == want => {}
                    Ok(response) => errors.push(format!(
                        "{} {}: {}",
                        request.path,
                        response.status,
                        response.body_json()
                    )),
                    Err(error) => errors.push(format!("{}: {error}", request.path)),
                }
            }
            errors
        }));
    }
    let mut errors = Vec::new();
    for worker in workers {
        errors.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    let rss_after_mixed_kib = vm_rss_kib();
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );

    let mut s = HttpClient::connect("127.0.0.1", stripe_port)
        .await
        .expect("connect");
    let mut c = HttpClient::connect("127.0.0.1", clerk_port)
        .await
        .expect("connect");
    let stripe_state = s
        .send(&HttpRequest::new(Method::Get, "/_racehound/state"))
        .await
        .expect("state");
    let clerk_state = c
        .send(&HttpRequest::new(Method::Get, "/_racehound/state"))
        .await
        .expect("state");
    let stored_bytes = (stripe_state.body.len() + clerk_state.body.len()) as u64;
    let customers = stripe_state.body_json()["objects"]["customers"]
        .as_object()
        .map_or(0, |m| m.len());
    let users = clerk_state.body_json()["users"].as_array().map_or(0, Vec::len);
    drop((stripe_state, clerk_state));

    // Phase 2: reads only; stored state does not change, so memory must not either.
    let rss_before_reads_kib = vm_rss_kib();
    let path = format!(
        "/v1/customers/{}",
        seeds.first().map(|s| s.0.clone()).unwrap_or_default()
    );
    for i in 0..MIXED_REQUESTS {
        let request = stripe(Method::Get, &path, "");
        let response = if i % 2 == 0 {
            s.send(&request).await
        } else {
            c.send(&clerk(Method::Get, "/v1/users?limit=1", None)).await
        };
        assert_eq!(response.map(|r| r.status).ok(), Some(200));
    }
    let rss_after_reads_kib = vm_rss_kib();

    let throughput = MIXED_REQUESTS as f64 / elapsed.as_secs_f64();
    let grown_kib = rss_after_mixed_kib.saturating_sub(rss_before_kib);
    println!(
        "serve load: {MIXED_REQUESTS} mixed requests over {CONNECTIONS} connections in {elapsed:?} = {throughput:.0} req/s; \
         stored {customers} customers, {users} users ({} KiB as JSON); VmRSS {rss_before_kib} -> {rss_after_mixed_kib} KiB \
         (+{grown_kib} KiB); reads: {rss_before_reads_kib} -> {rss_after_reads_kib} KiB",
        stored_bytes / 1024
    );
    // Growth is bounded by what is stored (the JSON dump's size, a few times over for
    // in-memory overhead, plus allocator slack), and reads do not grow memory.
    assert!(
        grown_kib <= 6 * stored_bytes / 1024 + 16 * 1024,
        "grew {grown_kib} KiB for {stored_bytes} B stored"
    );
    assert!(
        rss_after_reads_kib <= rss_before_reads_kib + 4 * 1024,
        "reads grew memory: {rss_before_reads_kib} -> {rss_after_reads_kib} KiB"
    );
    drop(server);
}
