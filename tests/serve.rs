//! `racehound serve` over real TCP: started in-process on ephemeral ports.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use racehound::fakes::clerk::svix;
use racehound::fakes::stripe::webhook;
use racehound::http::{HttpRequest, HttpResponse, Method};
use racehound::serve::client::HttpClient;
use racehound::serve::{start, ServeConfig, Server, ServiceConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const KEY: &str = "Bearer sk_test_serve";

async fn serve(config: ServeConfig) -> (Server, SocketAddr, SocketAddr) {
    let server = start(config).await.expect("servers start");
    let stripe = server.stripe.as_ref().map(|s| s.addr).expect("stripe served");
    let clerk = server.clerk.as_ref().map(|s| s.addr).expect("clerk served");
    (server, stripe, clerk)
}

async fn send(addr: SocketAddr, request: HttpRequest) -> HttpResponse {
    let mut client = HttpClient::connect(&addr.ip().to_string(), addr.port())
        .await
        .expect("connect");
    client.send(&request).await.expect("response")
}

fn stripe_post(path: &str, body: &str) -> HttpRequest {
    HttpRequest::new(Method::Post, path)
        .with_header("Authorization", KEY)
        .with_header("Content-Type", "application/x-www-form-urlencoded")
        .with_body(body.as_bytes().to_vec())
}

fn clerk_post(path: &str, body: &Value) -> HttpRequest {
    HttpRequest::new(Method::Post, path)
        .with_header("Authorization", KEY)
        .with_header("Content-Type", "application/json")
        .with_body(serde_json::to_vec(body).unwrap_or_default())
}

fn admin(method: Method, path: &str, body: &Value) -> HttpRequest {
    HttpRequest::new(method, path)
        .with_header("Content-Type", "application/json")
        .with_body(serde_json::to_vec(body).unwrap_or_default())
}

#[tokio::test]
async fn missing_key_is_401_in_each_shape() {
    let (_server, stripe, clerk) = serve(ServeConfig::ephemeral(1)).await;
    let resp = send(stripe, HttpRequest::new(Method::Get, "/v1/customers")).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.body_json()["error"]["type"], "invalid_request_error");
    let resp = send(clerk, HttpRequest::new(Method::Get, "/v1/users")).await;
    assert_eq!(resp.status, 401);
    assert!(
        resp.body_json()["errors"][0]["code"].is_string(),
        "{}",
        resp.body_json()
    );
}

#[tokio::test]
async fn unknown_route_is_404_in_each_shape() {
    let (_server, stripe, clerk) = serve(ServeConfig::ephemeral(1)).await;
    let resp = send(
        stripe,
        HttpRequest::new(Method::Get, "/v1/nope").with_header("Authorization", KEY),
    )
    .await;
    assert_eq!(resp.status, 404);
    let message = resp.body_json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(message.starts_with("Unrecognized request URL"), "{message}");
    let resp = send(
        clerk,
        HttpRequest::new(Method::Get, "/v1/nope").with_header("Authorization", KEY),
    )
    .await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.body_json()["errors"][0]["code"], "resource_not_found");
    let resp = send(stripe, HttpRequest::new(Method::Get, "/_racehound/nope")).await;
    assert_eq!(resp.status, 404);
}

#[tokio::test]
async fn malformed_body_is_400_in_each_shape() {
    let (_server, stripe, clerk) = serve(ServeConfig::ephemeral(1)).await;
    let resp = send(stripe, stripe_post("/v1/customers", "metadata[a=1")).await;
    assert_eq!(resp.status, 400, "{}", resp.body_json());
    assert_eq!(resp.body_json()["error"]["type"], "invalid_request_error");
    let bad = HttpRequest::new(Method::Post, "/v1/organizations")
        .with_header("Authorization", KEY)
        .with_body(b"{not json".to_vec());
    let resp = send(clerk, bad).await;
    assert_eq!(resp.status, 400);
    assert!(resp.body_json()["errors"][0]["code"].is_string());
}

#[tokio::test]
async fn oversize_body_is_413_in_each_shape() {
    let config = ServeConfig {
        max_body_bytes: 1024,
        ..ServeConfig::ephemeral(1)
    };
    let (_server, stripe, clerk) = serve(config).await;
    let big = format!("email={}", "a".repeat(2048));
    let resp = send(stripe, stripe_post("/v1/customers", &big)).await;
    assert_eq!(resp.status, 413);
    assert_eq!(resp.body_json()["error"]["type"], "invalid_request_error");
    let resp = send(
        clerk,
        clerk_post("/v1/users", &json!({ "first_name": "a".repeat(2048) })),
    )
    .await;
    assert_eq!(resp.status, 413);
    assert_eq!(resp.body_json()["errors"][0]["code"], "request_body_too_large");
    // A chunked body has no Content-Length: the limit applies while reading.
    let mut stream = TcpStream::connect(stripe).await.expect("connect");
    let head = "POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_test_x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let chunk = format!("800\r\n{}\r\n0\r\n\r\n", "b".repeat(2048));
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(chunk.as_bytes()).await;
    let mut reply = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut reply))
        .await
        .expect("answer in time")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(reply.get(..n).unwrap_or(&[])).to_string();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

#[tokio::test]
async fn idempotent_replay_over_http() {
    let (_server, stripe, _clerk) = serve(ServeConfig::ephemeral(1)).await;
    let request = stripe_post("/v1/customers", "email=a%40example.com").with_header("Idempotency-Key", "k1");
    let first = send(stripe, request.clone()).await;
    let again = send(stripe, request).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body_json()["id"], again.body_json()["id"]);
    assert_eq!(first.header("Idempotent-Replayed"), None);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    let other = stripe_post("/v1/customers", "email=b%40example.com").with_header("Idempotency-Key", "k1");
    let resp = send(stripe, other).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.body_json()["error"]["type"], "idempotency_error");
}

/// Stripe names the API version it answered with (the request's `Stripe-Version`, else the
/// account default); restricted test keys (`rk_test_…`) authenticate like secret ones.
#[tokio::test]
async fn stripe_responses_name_their_version_and_restricted_keys_work() {
    let (_server, stripe, _clerk) = serve(ServeConfig::ephemeral(1)).await;
    let pinned =
        stripe_post("/v1/customers", "email=v%40example.com").with_header("Stripe-Version", "2024-06-20");
    let resp = send(stripe, pinned).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Stripe-Version"), Some("2024-06-20"));
    let plain = send(stripe, stripe_post("/v1/customers", "email=w%40example.com")).await;
    assert_eq!(
        plain.header("Stripe-Version"),
        Some(racehound::fakes::stripe::API_VERSION)
    );
    let restricted = HttpRequest::new(Method::Post, "/v1/customers")
        .with_header("Authorization", "Bearer rk_test_restricted")
        .with_header("Content-Type", "application/x-www-form-urlencoded")
        .with_body(b"email=r%40example.com".to_vec());
    assert_eq!(send(stripe, restricted).await.status, 200);
    let live = HttpRequest::new(Method::Post, "/v1/customers")
        .with_header("Authorization", "Bearer rk_live_nope")
        .with_header("Content-Type", "application/x-www-form-urlencoded")
        .with_body(b"email=l%40example.com".to_vec());
    assert_eq!(send(stripe, live).await.status, 401);
}

#[tokio::test]
async fn latency_fault_keeps_the_key_in_flight_409() {
    let (_server, stripe, _clerk) = serve(ServeConfig::ephemeral(1)).await;
    let fault =
        json!({"method": "POST", "path_prefix": "/v1/customers", "kind": "latency", "latency_ms": 400});
    assert_eq!(
        send(stripe, admin(Method::Post, "/_racehound/faults", &fault))
            .await
            .status,
        200
    );
    let request =
        stripe_post("/v1/customers", "email=a%40example.com").with_header("Idempotency-Key", "slow");
    let slow = tokio::spawn(send(stripe, request.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = send(stripe, request.clone()).await;
    assert_eq!(second.status, 409);
    assert_eq!(second.body_json()["error"]["code"], "idempotency_key_in_use");
    let first = slow.await.expect("first answers");
    assert_eq!(first.status, 200);
    let replay = send(stripe, request).await;
    assert_eq!(replay.body_json()["id"], first.body_json()["id"]);
}

#[tokio::test]
async fn fault_admin_endpoint_injects_lists_and_clears() {
    let (_server, stripe, clerk) = serve(ServeConfig::ephemeral(1)).await;
    let rules = json!([
        {"method": "POST", "path_prefix": "/v1/customers", "kind": 500},
        {"method": "POST", "path_prefix": "/v1/customers", "kind": "lock_timeout"},
    ]);
    let listed = send(stripe, admin(Method::Post, "/_racehound/faults", &rules)).await;
    assert_eq!(listed.body_json()["faults"].as_array().map(Vec::len), Some(2));
    let resp = send(stripe, stripe_post("/v1/customers", "email=x%40y.z")).await;
    assert_eq!(
        (resp.status, resp.body_json()["error"]["type"].clone()),
        (500, json!("api_error"))
    );
    let resp = send(stripe, stripe_post("/v1/customers", "email=x%40y.z")).await;
    assert_eq!(
        (resp.status, resp.body_json()["error"]["code"].clone()),
        (429, json!("lock_timeout"))
    );
    assert_eq!(
        send(stripe, stripe_post("/v1/customers", "email=x%40y.z"))
            .await
            .status,
        200
    );

    // drop_response: the customer is created but the connection closes without an answer.
    let drop = json!({"method": "POST", "path_prefix": "/v1/customers", "kind": "drop_response"});
    send(stripe, admin(Method::Post, "/_racehound/faults", &drop)).await;
    let mut client = HttpClient::connect("127.0.0.1", stripe.port())
        .await
        .expect("connect");
    assert!(client
        .send(&stripe_post("/v1/customers", "email=dropped%40y.z"))
        .await
        .is_err());
    let list =
        HttpRequest::new(Method::Get, "/v1/customers?email=dropped%40y.z").with_header("Authorization", KEY);
    assert_eq!(
        send(stripe, list).await.body_json()["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Clerk: 429 with Retry-After; lock_timeout is Stripe-only; DELETE clears.
    let rule = json!({"path_prefix": "/v1/organizations", "kind": 429, "retry_after_secs": 3, "count": 2});
    send(clerk, admin(Method::Post, "/_racehound/faults", &rule)).await;
    let resp = send(clerk, clerk_post("/v1/organizations", &json!({"name": "Acme"}))).await;
    assert_eq!((resp.status, resp.header("Retry-After")), (429, Some("3")));
    let bad = json!({"path_prefix": "/v1/users", "kind": "lock_timeout"});
    let resp = send(clerk, admin(Method::Post, "/_racehound/faults", &bad)).await;
    assert_eq!(resp.status, 400);
    assert!(resp.body_json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("hint")));
    let cleared = send(clerk, admin(Method::Delete, "/_racehound/faults", &json!({}))).await;
    assert_eq!(cleared.body_json()["faults"], json!([]));
    let user = send(
        clerk,
        clerk_post("/v1/users", &json!({"email_address": ["o@x.y"]})),
    )
    .await;
    let user_id = user.body_json()["id"].as_str().unwrap_or("").to_string();
    let resp = send(
        clerk,
        clerk_post(
            "/v1/organizations",
            &json!({"name": "Acme", "created_by": user_id}),
        ),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body_json());
}

#[tokio::test]
async fn clock_admin_freezes_and_advances() {
    let (_server, stripe, _clerk) = serve(ServeConfig::ephemeral(1)).await;
    let frozen = send(
        stripe,
        admin(Method::Post, "/_racehound/clock", &json!({"freeze": true})),
    )
    .await;
    let now_ms = frozen.body_json()["now_ms"].as_u64().unwrap_or(0);
    let body = json!({"advance_ms": 86_400_000});
    let advanced = send(stripe, admin(Method::Post, "/_racehound/clock", &body)).await;
    assert_eq!(advanced.body_json()["now_ms"].as_u64(), Some(now_ms + 86_400_000));
    let customer = send(stripe, stripe_post("/v1/customers", "")).await.body_json();
    assert_eq!(customer["created"].as_u64(), Some((now_ms + 86_400_000) / 1000));
    let resp = send(
        stripe,
        admin(Method::Post, "/_racehound/clock", &json!({"advance_ms": -1})),
    )
    .await;
    assert_eq!(resp.status, 400);
    let state = send(stripe, HttpRequest::new(Method::Get, "/_racehound/state"))
        .await
        .body_json();
    assert_eq!(
        state["objects"]["customers"].as_object().map(|m| m.len()),
        Some(1),
        "{state}"
    );
}

#[tokio::test]
async fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
    let config = ServeConfig {
        max_connections: 1,
        ..ServeConfig::ephemeral(1)
    };
    let (_server, stripe, _clerk) = serve(config).await;
    let mut first = HttpClient::connect("127.0.0.1", stripe.port())
        .await
        .expect("connect");
    let info = HttpRequest::new(Method::Get, "/_racehound/info");
    assert_eq!(first.send(&info).await.map(|r| r.status).ok(), Some(200));
    // The first connection is idle now: the second takes its place.
    let mut second = HttpClient::connect("127.0.0.1", stripe.port())
        .await
        .expect("tcp connects");
    assert_eq!(second.send(&info).await.map(|r| r.status).ok(), Some(200));
    assert!(
        first.send(&info).await.is_err(),
        "the idle connection was closed to make room"
    );
    // A connection in the middle of a request is never evicted: with the slot held by a slow
    // body, a newcomer is turned away (until the body timeout frees it).
    use tokio::io::AsyncWriteExt;
    drop(second);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut busy = tokio::net::TcpStream::connect(stripe).await.expect("connect");
    busy.write_all(b"POST /v1/customers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\nemail=")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut third = HttpClient::connect("127.0.0.1", stripe.port())
        .await
        .expect("tcp connects");
    assert!(
        third.send(&info).await.is_err(),
        "a busy connection keeps its slot"
    );
    drop(busy);
}

/// A webhook receiver: records each delivery, answers 503 to the first `fail_first` ones.
async fn receiver(fail_first: usize) -> (SocketAddr, mpsc::UnboundedReceiver<(u16, HttpRequest)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = racehound::sync::Arc::new(racehound::sync::AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tx, seen) = (tx.clone(), seen.clone());
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let (tx, seen) = (tx.clone(), seen.clone());
                        async move {
                            let path = request.uri().path().to_string();
                            let headers = request
                                .headers()
                                .iter()
                                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                                .collect();
                            let body = request.into_body().collect().await.map(|b| b.to_bytes().to_vec());
                            let n = seen.fetch_add(1, racehound::sync::Ordering::SeqCst);
                            let status = if n < fail_first { 503 } else { 200 };
                            let request = HttpRequest {
                                method: Method::Post,
                                path,
                                headers,
                                body: body.unwrap_or_default(),
                            };
                            let _ = tx.send((status, request));
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(u16, HttpRequest)>) -> (u16, HttpRequest) {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a delivery in time")
        .expect("receiver alive")
}

fn unix_secs(request: &HttpRequest) -> u64 {
    let header = request.header("Stripe-Signature").unwrap_or("");
    header
        .split(',')
        .find_map(|part| part.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn webhooks_are_forwarded_with_valid_signatures_and_retried() {
    let (hook, mut deliveries) = receiver(1).await;
    let mut config = ServeConfig::ephemeral(3);
    config.retry_time_scale = 0.001;
    config.stripe = Some(ServiceConfig {
        port: 0,
        forward_to: Some(format!("http://{hook}/stripe")),
        faults: Vec::new(),
    });
    config.clerk = Some(ServiceConfig {
        port: 0,
        forward_to: Some(format!("http://{hook}/clerk")),
        faults: Vec::new(),
    });
    let (server, stripe, clerk) = serve(config).await;
    let stripe_secret = server
        .stripe
        .as_ref()
        .map(|s| s.webhook_secret.clone())
        .unwrap_or_default();
    let clerk_secret = server
        .clerk
        .as_ref()
        .map(|s| s.webhook_secret.clone())
        .unwrap_or_default();

    assert_eq!(
        send(stripe, stripe_post("/v1/customers", "email=w%40x.y"))
            .await
            .status,
        200
    );
    let (status, failed) = next(&mut deliveries).await;
    assert_eq!((status, failed.path.as_str()), (503, "/stripe"));
    let (status, retried) = next(&mut deliveries).await;
    assert_eq!(status, 200);
    assert_eq!(retried.body, failed.body, "the same event is retried");
    let header = retried.header("Stripe-Signature").unwrap_or("");
    let t = unix_secs(&retried);
    assert_eq!(
        webhook::verify(&retried.body, header, &stripe_secret, t, 300),
        Ok(())
    );
    let event: Value = serde_json::from_slice(&retried.body).unwrap_or(Value::Null);
    assert_eq!(event["type"], "customer.created");

    // Duplicate fault: the next Clerk event arrives twice with one svix-id.
    let dup = json!({"duplicate": 1});
    assert_eq!(
        send(clerk, admin(Method::Post, "/_racehound/webhooks", &dup))
            .await
            .status,
        200
    );
    let user = send(
        clerk,
        clerk_post("/v1/users", &json!({"email_address": ["w@x.y"]})),
    )
    .await;
    assert_eq!(user.status, 200);
    let (_, a) = next(&mut deliveries).await;
    let (_, b) = next(&mut deliveries).await;
    assert_eq!((a.path.as_str(), b.path.as_str()), ("/clerk", "/clerk"));
    assert_eq!(a.header("svix-id"), b.header("svix-id"));
    let now = a
        .header("svix-timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    assert_eq!(svix::verify_request(&clerk_secret, &a, now), Ok(()));
    assert_eq!(svix::verify_request(&clerk_secret, &b, now), Ok(()));
    let info = send(clerk, HttpRequest::new(Method::Get, "/_racehound/info"))
        .await
        .body_json();
    assert_eq!(info["webhook_secret"], json!(clerk_secret));
}

#[tokio::test]
async fn registered_stripe_endpoints_receive_their_events() {
    let (hook, mut deliveries) = receiver(0).await;
    let (_server, stripe, _clerk) = serve(ServeConfig::ephemeral(4)).await;
    let body = format!("url=http%3A%2F%2F{hook}%2Fendpoint&enabled_events[]=customer.created");
    let endpoint = send(stripe, stripe_post("/v1/webhook_endpoints", &body))
        .await
        .body_json();
    let secret = endpoint["secret"].as_str().unwrap_or("").to_string();
    assert!(secret.starts_with("whsec_"), "{endpoint}");
    send(stripe, stripe_post("/v1/customers", "email=e%40x.y")).await;
    let (_, delivery) = next(&mut deliveries).await;
    assert_eq!(delivery.path, "/endpoint");
    let header = delivery.header("Stripe-Signature").unwrap_or("");
    assert_eq!(
        webhook::verify(&delivery.body, header, &secret, unix_secs(&delivery), 300),
        Ok(())
    );
}

#[tokio::test]
async fn delayed_webhook_is_overtaken_and_clerk_latency_holds_a_request() {
    let (hook, mut deliveries) = receiver(0).await;
    let mut config = ServeConfig::ephemeral(5);
    config.stripe = Some(ServiceConfig {
        port: 0,
        forward_to: Some(format!("http://{hook}/stripe")),
        faults: Vec::new(),
    });
    let (_server, stripe, clerk) = serve(config).await;
    let hold = json!({"delay_ms": 300, "delay_count": 1});
    assert_eq!(
        send(stripe, admin(Method::Post, "/_racehound/webhooks", &hold))
            .await
            .status,
        200
    );
    let first = send(stripe, stripe_post("/v1/customers", "email=first%40x.y"))
        .await
        .body_json();
    let second = send(stripe, stripe_post("/v1/customers", "email=second%40x.y"))
        .await
        .body_json();
    let event_customer = |r: &HttpRequest| {
        let event: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        event["data"]["object"]["id"].clone()
    };
    let (_, a) = next(&mut deliveries).await;
    let (_, b) = next(&mut deliveries).await;
    assert_eq!(
        event_customer(&a),
        second["id"],
        "the held-back event is overtaken"
    );
    assert_eq!(event_customer(&b), first["id"]);

    let slow = json!({"method": "POST", "path_prefix": "/v1/users", "kind": "latency", "latency_ms": 200});
    send(clerk, admin(Method::Post, "/_racehound/faults", &slow)).await;
    let started = std::time::Instant::now();
    let user = send(
        clerk,
        clerk_post("/v1/users", &json!({"email_address": ["slow@x.y"]})),
    )
    .await;
    assert_eq!(user.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_hanging_up_mid_request_does_not_leave_its_key_in_flight() {
    let (_server, stripe, _clerk) = serve(ServeConfig::ephemeral(6)).await;
    let slow =
        json!({"method": "POST", "path_prefix": "/v1/customers", "kind": "latency", "latency_ms": 200});
    send(stripe, admin(Method::Post, "/_racehound/faults", &slow)).await;
    let request = stripe_post("/v1/customers", "email=gone%40x.y").with_header("Idempotency-Key", "hangup");
    let hung_up = tokio::time::timeout(Duration::from_millis(50), send(stripe, request.clone())).await;
    assert!(hung_up.is_err(), "the client gave up before the answer");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let retry = send(stripe, request).await;
    assert_eq!(retry.status, 200, "{}", retry.body_json());
    assert_eq!(
        retry.header("Idempotent-Replayed"),
        Some("true"),
        "the first attempt completed"
    );
}

/// A web page the developer has open must not reach the admin API: a cross-site `text/plain`
/// POST (a "simple" request a browser sends without asking) changes nothing.
#[tokio::test]
async fn a_cross_origin_text_plain_post_to_the_admin_api_changes_nothing() {
    let (_server, stripe, _clerk) = serve(ServeConfig::ephemeral(11)).await;
    let fault = json!({"path_prefix": "/v1/customers", "kind": 500});
    let forged = HttpRequest::new(Method::Post, "/_racehound/faults")
        .with_header("Origin", "https://evil.example")
        .with_header("Content-Type", "text/plain")
        .with_body(serde_json::to_vec(&fault).unwrap_or_default());
    let resp = send(stripe, forged).await;
    assert_eq!(resp.status, 403, "{}", String::from_utf8_lossy(&resp.body));
    // Without an Origin (a form posted by a page that hides it), text/plain is still refused.
    let plain = HttpRequest::new(Method::Post, "/_racehound/faults")
        .with_header("Content-Type", "text/plain")
        .with_body(serde_json::to_vec(&fault).unwrap_or_default());
    assert_eq!(send(stripe, plain).await.status, 415);
    // DNS rebinding: the page's own name in Host.
    let rebound = admin(Method::Post, "/_racehound/faults", &fault).with_header("Host", "evil.example:80");
    assert_eq!(send(stripe, rebound).await.status, 403);
    let rules = send(stripe, admin(Method::Get, "/_racehound/faults", &json!({}))).await;
    assert_eq!(rules.status, 200);
    assert_eq!(
        rules.body_json()["faults"],
        json!([]),
        "no fault was installed: {}",
        rules.body_json()
    );
    // A create still succeeds: nothing was armed.
    let created = send(stripe, stripe_post("/v1/customers", "email=a%40example.com")).await;
    assert_eq!(created.status, 200);
    // The same rule from a local script is accepted (loopback Origin allowed too).
    let local =
        admin(Method::Post, "/_racehound/faults", &fault).with_header("Origin", "http://localhost:3000");
    assert_eq!(send(stripe, local).await.status, 200);
}

#[tokio::test]
async fn the_clock_advances_at_most_a_year_at_a_time_and_ten_in_all() {
    let (_server, stripe, _clerk) = serve(ServeConfig::ephemeral(12)).await;
    let huge = admin(
        Method::Post,
        "/_racehound/clock",
        &json!({"advance_ms": u64::MAX}),
    );
    let resp = send(stripe, huge).await;
    assert_eq!(resp.status, 400);
    assert!(String::from_utf8_lossy(&resp.body).contains("hint"));
    let year = 366 * 24 * 3_600_000u64;
    for _ in 0..10 {
        let step = admin(Method::Post, "/_racehound/clock", &json!({"advance_ms": year}));
        assert_eq!(send(stripe, step).await.status, 200);
    }
    let more = admin(
        Method::Post,
        "/_racehound/clock",
        &json!({"advance_ms": 3_600_000}),
    );
    assert_eq!(send(stripe, more).await.status, 400, "past ten years ahead");
}

/// Idle clients cannot lock others out: at the connection cap, a new client takes the place of
/// the connection idle the longest (here 8 sockets that never send a byte).
#[tokio::test]
async fn idle_clients_at_the_connection_cap_do_not_lock_a_new_one_out() {
    let config = ServeConfig {
        max_connections: 8,
        ..ServeConfig::ephemeral(13)
    };
    let (_server, stripe, _clerk) = serve(config).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(tokio::net::TcpStream::connect(stripe).await.expect("connect"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        send(stripe, admin(Method::Get, "/_racehound/clock", &json!({}))),
    )
    .await
    .expect("a normal request is answered while the cap is held by idle sockets");
    assert_eq!(answered.status, 200);
    drop(idle);
}

/// A client that sends headers and part of a body is cut off after the body timeout, and its
/// slot serves others again.
#[tokio::test]
async fn a_slow_body_is_cut_off_and_frees_its_slot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = ServeConfig {
        max_connections: 1,
        body_read_timeout: std::time::Duration::from_millis(300),
        ..ServeConfig::ephemeral(14)
    };
    let (_server, stripe, _clerk) = serve(config).await;
    let mut slow = tokio::net::TcpStream::connect(stripe).await.expect("connect");
    slow.write_all(
        b"POST /v1/customers HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk_test_x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=a",
    )
    .await
    .expect("write");
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the slow body was never cut off");
    let answered = send(stripe, admin(Method::Get, "/_racehound/clock", &json!({}))).await;
    assert_eq!(answered.status, 200);
}
