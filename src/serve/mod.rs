//! `racehound serve`: fake Stripe and fake Clerk as real HTTP servers for a team's own e2e suite.
//!
//! The same state machines and wire layers as inside the simulation ([`crate::fakes::stripe`],
//! [`crate::fakes::clerk`]) behind hyper 1 on real TCP, so the official SDKs can point at them
//! (see `docs/serve.md`). Ids derive from `--seed`.
//!
//! **Wall clock.** This module is the only place in racehound allowed to read the real clock,
//! because it is a real server that real SDKs and webhook verifiers talk to; it does so only
//! through [`ServerClock`] (and tokio timers for latency faults and retry waits). The clock can
//! be frozen and advanced through `POST /_racehound/clock`.
//!
//! **Admin API** (on each service's port; JSON bodies only, loopback `Origin` / `Host` only, so
//! no web page can reach it: see [`admin_refusal`]): `POST /_racehound/clock`
//! (`{"freeze": true}`, `{"advance_ms": N}`), `GET|POST|DELETE /_racehound/faults`,
//! `POST /_racehound/webhooks` (`{"duplicate": N, "delay_ms": M, "delay_count": K}`),
//! `GET /_racehound/state` (the fake's snapshot), `GET /_racehound/info` (webhook secret,
//! forwarding counters).
//!
//! **Limits.** Request bodies over `--max-body-bytes` get 413 in the service's error shape;
//! connections over `--max-connections` are closed at once; headers must arrive within 30 s;
//! the webhook queue is bounded ([`forward::MAX_QUEUED_WEBHOOKS`]).
//!
//! **Left out.** TLS, HTTP/2, graceful shutdown on signals (Ctrl-C ends the process), Stripe's
//! real `lock_timeout` wait (it is immediate, as in the fake), Stripe-Account headers.

pub mod client;
pub mod clock;
pub mod faults;
pub mod forward;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

pub use clock::{ClockStatus, ServerClock};
pub use faults::{FaultSpec, LatencyRule, LatencyRules, SpecKind, WebhookFaults};
pub use forward::{Delivery, Forwarder, Scheme};

use crate::fakes::clerk::{self, Clerk, ClerkConfig, ClerkErrorBody};
use crate::fakes::stripe::wire::ApiError;
use crate::fakes::stripe::{self, Began, Stripe, StripeConfig};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::ids::mix64;
use crate::sync::{Arc, Mutex};
use crate::time::Clock;

/// Default port of the fake Stripe (stripe-mock's).
pub const DEFAULT_STRIPE_PORT: u16 = 12111;
/// Default port of the fake Clerk.
pub const DEFAULT_CLERK_PORT: u16 = 12112;
/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Which fake(s) to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceChoice {
    /// Only the fake Stripe.
    Stripe,
    /// Only the fake Clerk.
    Clerk,
    /// Both, on two ports.
    All,
}

/// The `racehound serve` command line.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Which fake to serve.
    #[arg(value_enum, default_value = "all")]
    pub service: ServiceChoice,
    /// Port for `stripe` or `clerk` (0 = any free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Port of the fake Stripe with `all` (default 12111).
    #[arg(long)]
    pub stripe_port: Option<u16>,
    /// Port of the fake Clerk with `all` (default 12112).
    #[arg(long)]
    pub clerk_port: Option<u16>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Seed of every id the fakes hand out.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Forward webhooks to this URL (for `stripe` or `clerk`).
    #[arg(long)]
    pub forward_to: Option<String>,
    /// Forward Stripe webhooks to this URL.
    #[arg(long)]
    pub stripe_forward_to: Option<String>,
    /// Forward Clerk (Svix) webhooks to this URL.
    #[arg(long)]
    pub clerk_forward_to: Option<String>,
    /// Multiplies every webhook retry delay (0.001 turns Stripe's 1 min into 60 ms).
    #[arg(long, default_value_t = 1.0)]
    pub retry_time_scale: f64,
    /// Start with the clock frozen (advance it with POST /_racehound/clock).
    #[arg(long)]
    pub frozen_clock: bool,
    /// Largest request body accepted (413 beyond).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most open connections per service (more are closed at once).
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    // The brackets are the `--help` text's notation, not intra-doc links.
    #[allow(rustdoc::broken_intra_doc_links)]
    /// A fault rule: '[stripe|clerk] METHOD PATH_PREFIX KIND [COUNT]' (KIND: 500, 429,
    /// lock_timeout, drop_response, latency=MS); repeatable.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
}

/// One service's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Port to listen on (0 = any free port).
    pub port: u16,
    /// Where to forward webhooks.
    pub forward_to: Option<String>,
    /// Fault rules installed at start.
    pub faults: Vec<FaultSpec>,
}

/// Everything `racehound serve` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    /// Address to listen on.
    pub host: String,
    /// Id seed.
    pub seed: u64,
    /// The fake Stripe, if served.
    pub stripe: Option<ServiceConfig>,
    /// The fake Clerk, if served.
    pub clerk: Option<ServiceConfig>,
    /// Multiplies webhook retry delays.
    pub retry_time_scale: f64,
    /// Start with the clock frozen.
    pub frozen_clock: bool,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Most open connections per service (at the cap, a new client takes the place of the
    /// connection idle the longest).
    pub max_connections: usize,
    /// Longest a client may take to send a request's body once its headers are in.
    pub body_read_timeout: Duration,
}

/// How long a client may take to send a request's body, by default.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl ServeConfig {
    /// A config serving both fakes on ephemeral ports of 127.0.0.1 (for tests).
    pub fn ephemeral(seed: u64) -> Self {
        let service = ServiceConfig {
            port: 0,
            forward_to: None,
            faults: Vec::new(),
        };
        ServeConfig {
            host: "127.0.0.1".to_string(),
            seed,
            stripe: Some(service.clone()),
            clerk: Some(service),
            retry_time_scale: 1.0,
            frozen_clock: false,
            max_body_bytes: 1024 * 1024,
            max_connections: 256,
            body_read_timeout: BODY_READ_TIMEOUT,
        }
    }

    /// Checks the command line and turns it into a config.
    pub fn from_args(args: &ServeArgs) -> Result<ServeConfig, String> {
        let all = args.service == ServiceChoice::All;
        if all && (args.port.is_some() || args.forward_to.is_some()) {
            return Err(
                "--port and --forward-to name one service (hint: with `all` use --stripe-port/--clerk-port and --stripe-forward-to/--clerk-forward-to)"
                    .into(),
            );
        }
        if !args.retry_time_scale.is_finite() || !(0.0..=1000.0).contains(&args.retry_time_scale) {
            return Err(
                "--retry-time-scale must be between 0 and 1000 (hint: 0.001 compresses a minute into 60 ms)"
                    .into(),
            );
        }
        if args.max_connections == 0 || args.max_body_bytes == 0 {
            return Err("--max-connections and --max-body-bytes must be at least 1".into());
        }
        let mut stripe_faults = Vec::new();
        let mut clerk_faults = Vec::new();
        for text in &args.faults {
            let spec = FaultSpec::parse_flag(text)?;
            let target = match (spec.service.as_deref(), args.service) {
                (Some("stripe"), _) | (None, ServiceChoice::Stripe) => &mut stripe_faults,
                (Some("clerk"), _) | (None, ServiceChoice::Clerk) => &mut clerk_faults,
                _ => {
                    return Err(format!(
                        "fault {text:?} does not say which service (hint: start it with `stripe` or `clerk`)"
                    ))
                }
            };
            target.push(spec);
        }
        for url in [&args.forward_to, &args.stripe_forward_to, &args.clerk_forward_to]
            .into_iter()
            .flatten()
        {
            client::HttpUrl::parse(url)?;
        }
        let wants_stripe = matches!(args.service, ServiceChoice::Stripe | ServiceChoice::All);
        let wants_clerk = matches!(args.service, ServiceChoice::Clerk | ServiceChoice::All);
        if (!wants_stripe && (args.stripe_port.is_some() || !stripe_faults.is_empty()))
            || (!wants_clerk && (args.clerk_port.is_some() || !clerk_faults.is_empty()))
        {
            return Err("an option names a service that is not being served (hint: use `all`)".into());
        }
        let stripe = wants_stripe.then(|| ServiceConfig {
            port: args.stripe_port.or(args.port).unwrap_or(DEFAULT_STRIPE_PORT),
            forward_to: args.stripe_forward_to.clone().or_else(|| args.forward_to.clone()),
            faults: stripe_faults,
        });
        let clerk = wants_clerk.then(|| ServiceConfig {
            port: args.clerk_port.or(args.port).unwrap_or(DEFAULT_CLERK_PORT),
            forward_to: args.clerk_forward_to.clone().or_else(|| args.forward_to.clone()),
            faults: clerk_faults,
        });
        Ok(ServeConfig {
            host: args.host.clone(),
            seed: args.seed,
            stripe,
            clerk,
            retry_time_scale: args.retry_time_scale,
            frozen_clock: args.frozen_clock,
            max_body_bytes: args.max_body_bytes,
            max_connections: args.max_connections,
            body_read_timeout: BODY_READ_TIMEOUT,
        })
    }
}

/// Why the server could not start.
#[derive(Debug)]
pub enum ServeError {
    /// A bad option.
    Config(String),
    /// Binding a port failed.
    Bind(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Config(e) => write!(f, "{e}"),
            ServeError::Bind(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ServeError {}

enum Fake {
    Stripe(Mutex<Stripe>),
    Clerk(Mutex<Clerk>),
}

/// One served fake and what surrounds it.
struct Service {
    fake: Fake,
    clock: Arc<ServerClock>,
    latency: Mutex<LatencyRules>,
    webhook_faults: Mutex<WebhookFaults>,
    forwarder: Forwarder,
    forward_to: Option<String>,
    webhook_secret: String,
    seed: u64,
    max_body_bytes: usize,
    body_read_timeout: Duration,
}

/// A running service's address and webhook secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The secret forwarded webhooks are signed with.
    pub webhook_secret: String,
}

/// Running servers; dropping it (or [`Server::shutdown`]) stops them.
pub struct Server {
    /// The fake Stripe, if served.
    pub stripe: Option<ServiceInfo>,
    /// The fake Clerk, if served.
    pub clerk: Option<ServiceInfo>,
    /// The shared clock.
    pub clock: Arc<ServerClock>,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Stops accepting, closes every connection, drops queued webhooks.
    pub fn shutdown(self) {}
}

impl Drop for Server {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The secret `--forward-to` deliveries of the fake Stripe are signed with (`whsec_` + 64 hex).
pub fn stripe_forward_secret(seed: u64) -> String {
    let mut out = String::from("whsec_");
    for i in 0..4u64 {
        out.push_str(&format!("{:016x}", mix64(seed ^ 0x5354_5249_5045_0000 ^ i)));
    }
    out
}

fn install_faults(service: &Service, specs: &[FaultSpec]) -> Result<(), String> {
    for spec in specs {
        install_fault(service, spec)?;
    }
    Ok(())
}

fn install_fault(service: &Service, spec: &FaultSpec) -> Result<(), String> {
    let (method, prefix, count) = (spec.method, spec.path_prefix.as_str(), spec.count);
    if let SpecKind::Latency { latency_ms } = spec.kind {
        return service.latency.lock().push(LatencyRule {
            method,
            path_prefix: prefix.to_string(),
            remaining: count,
            latency_ms,
        });
    }
    match &service.fake {
        Fake::Stripe(fake) => {
            let kind = match spec.kind {
                SpecKind::Status500 => stripe::StripeFaultKind::ApiError500,
                SpecKind::Status429 { .. } => stripe::StripeFaultKind::RateLimit429,
                SpecKind::LockTimeout => stripe::StripeFaultKind::LockTimeout429,
                SpecKind::DropResponse => stripe::StripeFaultKind::CommitThenDropResponse,
                SpecKind::Latency { .. } => return Ok(()), // installed above
            };
            fake.lock()
                .faults_mut()
                .next(method, prefix, count, kind)
                .map_err(|e| e.to_string())
        }
        Fake::Clerk(fake) => {
            let kind = match spec.kind {
                SpecKind::Status500 => clerk::ClerkFaultKind::ServerError,
                SpecKind::Status429 { retry_after_secs } => {
                    clerk::ClerkFaultKind::RateLimited { retry_after_secs }
                }
                SpecKind::LockTimeout => {
                    return Err(
                        "Clerk has no lock_timeout (hint: use 429, which Clerk sends with Retry-After)"
                            .into(),
                    )
                }
                SpecKind::DropResponse => clerk::ClerkFaultKind::CommitThenDropResponse,
                SpecKind::Latency { .. } => return Ok(()), // installed above
            };
            fake.lock().faults_mut().fail_next(method, prefix, count, kind)
        }
    }
}

/// Binds the configured services and starts serving on the current tokio runtime.
pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
    let clock = Arc::new(if config.frozen_clock {
        ServerClock::frozen()
    } else {
        ServerClock::real()
    });
    let mut tasks = Vec::new();
    let mut stripe_info = None;
    let mut clerk_info = None;
    let services = [
        ("stripe", config.stripe.as_ref()),
        ("clerk", config.clerk.as_ref()),
    ];
    for (name, service_config) in services {
        let Some(service_config) = service_config else {
            continue;
        };
        let (forwarder, worker) = Forwarder::start(clock.clone(), config.retry_time_scale);
        tasks.push(worker);
        let (fake, webhook_secret) = if name == "stripe" {
            let fake = Stripe::new(config.seed, StripeConfig::default());
            (Fake::Stripe(Mutex::new(fake)), stripe_forward_secret(config.seed))
        } else {
            let fake = Clerk::new(
                config.seed,
                ClerkConfig {
                    max_body_bytes: config.max_body_bytes,
                    ..ClerkConfig::default()
                },
            );
            let secret = fake.webhook_secret().to_string();
            (Fake::Clerk(Mutex::new(fake)), secret)
        };
        let service = Arc::new(Service {
            fake,
            clock: clock.clone(),
            latency: Mutex::new(LatencyRules::default()),
            webhook_faults: Mutex::new(WebhookFaults::default()),
            forwarder,
            forward_to: service_config.forward_to.clone(),
            webhook_secret: webhook_secret.clone(),
            seed: config.seed,
            max_body_bytes: config.max_body_bytes,
            body_read_timeout: config.body_read_timeout,
        });
        install_faults(&service, &service_config.faults).map_err(ServeError::Config)?;
        let listener = TcpListener::bind((config.host.as_str(), service_config.port))
            .await
            .map_err(|e| {
                ServeError::Bind(format!(
                    "cannot listen on {}:{} for {name}: {e} (hint: pick another port, or 0 for any free one)",
                    config.host, service_config.port
                ))
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServeError::Bind(e.to_string()))?;
        tasks.push(tokio::spawn(accept_loop(
            listener,
            service,
            config.max_connections,
        )));
        let info = ServiceInfo { addr, webhook_secret };
        if name == "stripe" {
            stripe_info = Some(info);
        } else {
            clerk_info = Some(info);
        }
    }
    Ok(Server {
        stripe: stripe_info,
        clerk: clerk_info,
        clock,
        tasks,
    })
}

/// The open connections of one service: whether each is idle (between requests, or still
/// sending a request's headers) and since when, so that at the cap a new client takes the
/// place of the one idle the longest instead of being turned away.
#[derive(Default)]
struct Connections {
    /// Connection number → (idle since, if idle; how to close it).
    open: std::collections::BTreeMap<u64, (Option<std::time::Instant>, tokio::task::AbortHandle)>,
}

impl Connections {
    fn set_idle(&mut self, id: u64, idle: bool) {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.0 = idle.then(std::time::Instant::now);
        }
    }

    /// Closes the connection idle the longest; whether there was one.
    fn evict_longest_idle(&mut self) -> bool {
        let oldest = self
            .open
            .iter()
            .filter_map(|(id, (since, _))| since.map(|t| (t, *id)))
            .min();
        let Some((_, id)) = oldest else {
            return false;
        };
        if let Some((_, handle)) = self.open.remove(&id) {
            handle.abort();
        }
        true
    }
}

/// How long a new client waits for the slot of an evicted idle connection.
const EVICTION_WAIT: Duration = Duration::from_millis(500);

async fn accept_loop(listener: TcpListener, service: Arc<Service>, max_connections: usize) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let registry = Arc::new(Mutex::new(Connections::default()));
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((stream, _peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // At the cap: the connection idle the longest makes room; if every connection
                // is in the middle of a request, the new client is turned away.
                let evicted = registry.lock().evict_longest_idle();
                let freed = if evicted {
                    tokio::time::timeout(EVICTION_WAIT, slots.clone().acquire_owned())
                        .await
                        .ok()
                        .and_then(Result::ok)
                } else {
                    None
                };
                let Some(permit) = freed else {
                    drop(stream);
                    continue;
                };
                permit
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        next_id += 1;
        let id = next_id;
        let conn_registry = registry.clone();
        let handle = connections.spawn(async move {
            let idle_registry = conn_registry.clone();
            let handler = hyper::service::service_fn(move |request| {
                let service = service.clone();
                let registry = idle_registry.clone();
                async move {
                    registry.lock().set_idle(id, false);
                    let answer = serve_one(&service, request).await;
                    registry.lock().set_idle(id, true);
                    answer
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), handler)
                .await;
            conn_registry.lock().open.remove(&id);
            drop(permit);
        });
        registry
            .lock()
            .open
            .insert(id, (Some(std::time::Instant::now()), handle));
    }
}

/// Returned to hyper to close the connection without a response (a `drop_response` fault).
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response dropped on purpose (racehound drop_response fault)")
    }
}

impl std::error::Error for DropConnection {}

fn to_hyper(response: HttpResponse) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            builder = builder.header(name, value);
        }
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

impl Service {
    fn is_stripe(&self) -> bool {
        matches!(self.fake, Fake::Stripe(_))
    }

    /// An error in this service's shape.
    fn error(&self, status: u16, code: &'static str, message: String) -> HttpResponse {
        if self.is_stripe() {
            ApiError {
                status,
                kind: "invalid_request_error",
                code: None,
                message,
                param: None,
            }
            .to_response()
        } else {
            let short = match status {
                404 => "not found",
                405 => "method not allowed",
                413 => "request body too large",
                _ => "bad request",
            };
            let error = ClerkErrorBody::new(status, code, short, message);
            HttpResponse::json(status, &error.to_body("racehound-serve"))
        }
    }

    fn too_large(&self) -> HttpResponse {
        self.error(
            413,
            "request_body_too_large",
            format!(
                "Request body larger than {} bytes (hint: raise --max-body-bytes)",
                self.max_body_bytes
            ),
        )
    }

    fn unknown_method(&self, method: &str, path: &str) -> HttpResponse {
        if self.is_stripe() {
            self.error(
                404,
                "",
                format!("Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."),
            )
        } else {
            self.error(
                405,
                "method_not_allowed",
                format!("{method} is not supported (hint: the Backend API uses GET, POST, PATCH, DELETE)"),
            )
        }
    }

    fn enqueue_stripe(&self, events: Vec<stripe::Event>, endpoints: &[stripe::EndpointInfo]) {
        for event in events {
            let payload = event.payload();
            let mut targets: Vec<(String, String)> = Vec::new();
            if let Some(url) = &self.forward_to {
                targets.push((url.clone(), self.webhook_secret.clone()));
            }
            for endpoint in endpoints.iter().filter(|e| e.wants(&event.event_type)) {
                targets.push((endpoint.url.clone(), endpoint.secret.clone()));
            }
            if targets.is_empty() {
                continue;
            }
            let (duplicate, hold_ms) = self.webhook_faults.lock().take();
            for (url, secret) in targets {
                let delivery = Delivery {
                    event_id: event.id.clone(),
                    payload: payload.clone(),
                    url,
                    secret,
                    scheme: Scheme::Stripe,
                    hold_ms,
                };
                if duplicate {
                    self.forwarder.enqueue(delivery.clone());
                }
                self.forwarder.enqueue(delivery);
            }
        }
    }

    fn enqueue_clerk(&self, events: Vec<clerk::ClerkEventRecord>) {
        let Some(url) = &self.forward_to else {
            return;
        };
        for event in events {
            let (duplicate, hold_ms) = self.webhook_faults.lock().take();
            let delivery = Delivery {
                event_id: event.id.clone(),
                payload: event.payload_bytes(),
                url: url.clone(),
                secret: self.webhook_secret.clone(),
                scheme: Scheme::Svix,
                hold_ms,
            };
            if duplicate {
                self.forwarder.enqueue(delivery.clone());
            }
            self.forwarder.enqueue(delivery);
        }
    }

    /// Runs one API request through the fake, with latency faults and webhook forwarding.
    async fn api(&self, request: HttpRequest) -> HttpResponse {
        let latency_ms = self.latency.lock().take(request.method, request.path_only());
        let pause = || async move {
            if let Some(ms) = latency_ms {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        };
        match &self.fake {
            Fake::Stripe(fake) => {
                let began = fake.lock().begin(self.clock.now(), &request);
                pause().await;
                let (response, events, endpoints) = {
                    let mut fake = fake.lock();
                    let response = match began {
                        Began::Respond(response) => response,
                        Began::InFlight(id) => fake.finish(self.clock.now(), id),
                    };
                    let events = fake.drain_new_events();
                    let endpoints = if events.is_empty() {
                        Vec::new()
                    } else {
                        fake.webhook_endpoints()
                    };
                    (response, events, endpoints)
                };
                self.enqueue_stripe(events, &endpoints);
                // Stripe names the API version it answered with: the request's, else the
                // account's default.
                let version = request
                    .header("Stripe-Version")
                    .map_or_else(|| crate::fakes::stripe::API_VERSION.to_string(), str::to_string);
                response.with_header("Stripe-Version", version)
            }
            Fake::Clerk(fake) => {
                pause().await;
                let (response, events) = {
                    let mut fake = fake.lock();
                    let response = fake.handle(self.clock.now(), &request);
                    (response, fake.drain_new_events())
                };
                self.enqueue_clerk(events);
                response
            }
        }
    }

    fn snapshot(&self) -> Value {
        match &self.fake {
            Fake::Stripe(fake) => serde_json::to_value(fake.lock().snapshot()).unwrap_or(Value::Null),
            Fake::Clerk(fake) => serde_json::to_value(fake.lock().snapshot()).unwrap_or(Value::Null),
        }
    }

    fn fault_rules(&self) -> Value {
        let rules = match &self.fake {
            Fake::Stripe(fake) => {
                let rules: Vec<_> = fake.lock().faults_mut().rules().cloned().collect();
                serde_json::to_value(rules)
            }
            Fake::Clerk(fake) => serde_json::to_value(fake.lock().faults_mut().rules().to_vec()),
        };
        json!({
            "faults": rules.unwrap_or(Value::Null),
            "latency": serde_json::to_value(self.latency.lock().rules()).unwrap_or(Value::Null),
            "webhooks": serde_json::to_value(*self.webhook_faults.lock()).unwrap_or(Value::Null),
        })
    }

    fn clear_faults(&self) {
        match &self.fake {
            Fake::Stripe(fake) => fake.lock().faults_mut().clear(),
            Fake::Clerk(fake) => fake.lock().faults_mut().clear(),
        }
        self.latency.lock().clear();
        *self.webhook_faults.lock() = WebhookFaults::default();
    }

    fn info(&self) -> Value {
        json!({
            "service": if self.is_stripe() { "stripe" } else { "clerk" },
            "seed": self.seed,
            "webhook_secret": self.webhook_secret,
            "forward_to": self.forward_to,
            "clock": self.clock.status(),
            "webhooks": self.forwarder.stats().to_json(),
        })
    }

    /// `/_racehound/...`: clock, faults, webhook faults, state, info.
    fn admin(&self, method: Method, path: &str, body: &[u8]) -> HttpResponse {
        let parsed = if body.is_empty() {
            Ok(json!({}))
        } else {
            serde_json::from_slice::<Value>(body)
        };
        let Ok(body) = parsed else {
            return admin_error(400, "body is not JSON (hint: send e.g. {\"freeze\": true})");
        };
        let result: Result<Value, String> = match (method, path) {
            (Method::Get, "/_racehound/clock") => Ok(json!(self.clock.status())),
            (Method::Post, "/_racehound/clock") => {
                let mut status = self.clock.status();
                if let Some(freeze) = body.get("freeze") {
                    match freeze.as_bool() {
                        Some(freeze) => status = self.clock.set_frozen(freeze),
                        None => return admin_error(400, "freeze must be true or false"),
                    }
                }
                if let Some(advance) = body.get("advance_ms") {
                    match advance.as_u64() {
                        Some(ms) if ms > CLOCK_ADVANCE_MS_MAX => {
                            return admin_error(
                                400,
                                &format!("advance_ms {ms} is more than a year ({CLOCK_ADVANCE_MS_MAX}) (hint: advance in steps, e.g. 86400000 for a day)"),
                            )
                        }
                        Some(ms) if status.offset_ms.saturating_add(ms) > CLOCK_OFFSET_MS_MAX => {
                            return admin_error(
                                400,
                                &format!("the clock would run more than ten years ahead ({CLOCK_OFFSET_MS_MAX} ms) (hint: restart the server to start over)"),
                            )
                        }
                        Some(ms) => status = self.clock.advance_ms(ms),
                        None => return admin_error(400, "advance_ms must be a whole number of milliseconds"),
                    }
                }
                Ok(json!(status))
            }
            (Method::Get, "/_racehound/faults") => Ok(self.fault_rules()),
            (Method::Post, "/_racehound/faults") => {
                let specs: Vec<Value> = match &body {
                    Value::Array(items) => items.clone(),
                    other => vec![other.clone()],
                };
                specs
                    .iter()
                    .take(faults::MAX_LATENCY_RULES)
                    .try_for_each(|spec| install_fault(self, &FaultSpec::from_json(spec)?))
                    .map(|()| self.fault_rules())
            }
            (Method::Delete, "/_racehound/faults") => {
                self.clear_faults();
                Ok(self.fault_rules())
            }
            (Method::Post, "/_racehound/webhooks") => {
                let updated = self.webhook_faults.lock().update(&body);
                updated.map(|()| self.fault_rules())
            }
            (Method::Get, "/_racehound/state") => Ok(self.snapshot()),
            (Method::Get, "/_racehound/info") => Ok(self.info()),
            _ => {
                return admin_error(
                    404,
                    "unknown admin route (hint: /_racehound/clock, faults, webhooks, state, info)",
                )
            }
        };
        match result {
            Ok(value) => HttpResponse::json(200, &value),
            Err(message) => admin_error(400, &message),
        }
    }
}

/// Longest one `advance_ms` may move the clock (a year).
pub const CLOCK_ADVANCE_MS_MAX: u64 = 366 * 24 * 3_600_000;
/// Furthest the clock may be moved ahead of the real time in all (ten years): `created`
/// stays a plausible time and far inside JavaScript's safe integers.
pub const CLOCK_OFFSET_MS_MAX: u64 = 10 * 366 * 24 * 3_600_000;

/// Why an admin request is refused, if it is: the admin API must not be reachable from a web
/// page the developer has open. A browser's cross-site request carries an `Origin` that is not
/// a loopback one, or (DNS rebinding) a `Host` that is not; and a page cannot send a
/// `Content-Type: application/json` body to another origin without a CORS preflight, which
/// this server never grants. So: any non-loopback `Origin` or `Host` is refused (403), and a
/// request with a body must say it is JSON (415).
pub fn admin_refusal(headers: &[(String, String)], body: &[u8]) -> Option<HttpResponse> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if let Some(origin) = header("Origin") {
        let host = origin
            .split_once("://")
            .map_or(origin, |(_, rest)| rest)
            .trim_end_matches('/');
        if !is_loopback_host(host) {
            return Some(admin_error(
                403,
                &format!("admin requests from a web page ({origin}) are refused (hint: call the admin API from a script or curl, not from a browser page)"),
            ));
        }
    }
    if let Some(host) = header("Host") {
        if !is_loopback_host(host) {
            return Some(admin_error(
                403,
                &format!("admin requests must address the server by a loopback name, not `{host}` (hint: use 127.0.0.1 or localhost)"),
            ));
        }
    }
    let json = header("Content-Type").is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !body.is_empty() && !json {
        return Some(admin_error(
            415,
            "an admin request with a body must be JSON (hint: send Content-Type: application/json)",
        ));
    }
    None
}

/// Whether `host` (`name[:port]`, `[v6]:port`) names this machine's loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        })
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn admin_error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::json(status, &json!({ "error": { "message": message } }))
}

async fn serve_one(
    service: &Arc<Service>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, DropConnection> {
    let method_text = request.method().as_str().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > service.max_body_bytes as u64) {
        return Ok(to_hyper(service.too_large()));
    }
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    // A client that sends headers and then part of a body is cut off, not waited for.
    let collected = tokio::time::timeout(
        service.body_read_timeout,
        Limited::new(request.into_body(), service.max_body_bytes).collect(),
    )
    .await;
    let body = match collected {
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            return Ok(to_hyper(service.too_large()));
        }
        Ok(Err(_)) | Err(_) => return Err(DropConnection),
    };
    let Some(method) = Method::parse(&method_text) else {
        return Ok(to_hyper(service.unknown_method(&method_text, &path)));
    };
    if path.starts_with("/_racehound/") {
        if let Some(refused) = admin_refusal(&headers, &body) {
            return Ok(to_hyper(refused));
        }
        let path_only = path.split('?').next().unwrap_or("");
        return Ok(to_hyper(service.admin(method, path_only, &body)));
    }
    let request = HttpRequest {
        method,
        path,
        headers,
        body,
    };
    // Executed on its own task: a client that hangs up mid-request (a timeout) does not cancel
    // it, so a Stripe request in flight always finishes and releases its idempotency key.
    let owned = service.clone();
    let Ok(response) = tokio::spawn(async move { owned.api(request).await }).await else {
        return Err(DropConnection);
    };
    if response.header(stripe::DROP_RESPONSE_HEADER).is_some() {
        return Err(DropConnection);
    }
    Ok(to_hyper(response))
}

/// `racehound serve`: starts the servers, prints where they listen and the webhook secrets,
/// and serves until the process is stopped. Exit code 2 on bad options or a busy port.
pub fn run(args: ServeArgs) -> ExitCode {
    let config = match ServeConfig::from_args(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("racehound serve: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("racehound serve: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let server = match start(config.clone()).await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("racehound serve: {error}");
                return ExitCode::from(2);
            }
        };
        let clock = if config.frozen_clock { "frozen" } else { "real" };
        println!("racehound serve (seed {}, clock {clock})", config.seed);
        let lines = [
            ("stripe", &server.stripe, config.stripe.as_ref()),
            ("clerk", &server.clerk, config.clerk.as_ref()),
        ];
        for (name, info, service_config) in lines {
            if let Some(info) = info {
                let forward = service_config
                    .and_then(|c| c.forward_to.as_deref())
                    .map_or_else(String::new, |url| format!(", forwarding webhooks to {url}"));
                println!(
                    "  {name:<6} http://{}  webhook secret {}{forward}",
                    info.addr, info.webhook_secret
                );
            }
        }
        println!("  admin: POST /_racehound/clock | faults | webhooks, GET /_racehound/state | info");
        std::future::pending::<()>().await;
        drop(server);
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn config(line: &[&str]) -> Result<ServeConfig, String> {
        let cli = Cli::try_parse_from(std::iter::once("serve").chain(line.iter().copied()))
            .map_err(|e| e.to_string())?;
        ServeConfig::from_args(&cli.args)
    }

    #[test]
    fn cli_defaults_and_per_service_options() {
        let all = config(&[]).ok();
        let ports = all.as_ref().map(|c| {
            (
                c.stripe.as_ref().map(|s| s.port),
                c.clerk.as_ref().map(|s| s.port),
            )
        });
        assert_eq!(ports, Some((Some(DEFAULT_STRIPE_PORT), Some(DEFAULT_CLERK_PORT))));
        let stripe = config(&[
            "stripe",
            "--port",
            "0",
            "--forward-to",
            "http://127.0.0.1:9/h",
            "--fault",
            "POST /v1/customers 500 2",
        ]);
        let stripe = stripe
            .ok()
            .and_then(|c| c.clerk.is_none().then_some(c.stripe).flatten());
        assert_eq!(
            stripe
                .as_ref()
                .map(|s| (s.port, s.forward_to.as_deref(), s.faults.len())),
            Some((0, Some("http://127.0.0.1:9/h"), 1))
        );
        let both = config(&[
            "all",
            "--fault",
            "clerk POST /v1/users 429",
            "--clerk-forward-to",
            "http://h:1/c",
        ])
        .ok();
        let clerk = both.and_then(|c| c.clerk);
        assert_eq!(
            clerk.map(|c| (c.faults.len(), c.forward_to)),
            Some((1, Some("http://h:1/c".to_string())))
        );
    }

    #[test]
    fn cli_errors_carry_hints() {
        for line in [
            &["all", "--port", "1"][..],
            &["all", "--fault", "POST /v1/customers 500"],
            &["clerk", "--stripe-port", "1"],
            &["stripe", "--forward-to", "https://example.com/"],
            &["stripe", "--retry-time-scale=-1"],
            &["stripe", "--fault", "POST /v1/customers teapot"],
        ] {
            let result = config(line);
            assert!(
                result.as_ref().is_err_and(|e| e.contains("hint")),
                "{line:?}: {result:?}"
            );
        }
    }

    #[test]
    fn stripe_forward_secret_is_deterministic_whsec() {
        let secret = stripe_forward_secret(7);
        assert_eq!(secret, stripe_forward_secret(7));
        assert_ne!(secret, stripe_forward_secret(8));
        assert!(secret.starts_with("whsec_") && secret.len() == 6 + 64);
    }
}
