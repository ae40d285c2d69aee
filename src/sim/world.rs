//! The turmoil world: build the hosts, play a [`RunInput`], apply its faults, run to
//! quiescence, and hand back the trace and the oracle's view.
//!
//! Hosts: `stripe`, `clerk` (the fakes over HTTP), `postgres` (the model over a framed
//! protocol), `app-1`…`app-N` (the app logic, stateless replicas), one browser client per
//! actor, and `webhooks`, the dispatcher that delivers Stripe and Clerk (Svix) events
//! at-least-once and in no guaranteed order, then runs `reconcile` once the world is quiet.
//!
//! **Time.** turmoil advances simulated time in 1 ms ticks. Webhook retry schedules span days
//! (Stripe: up to 3 days; Svix: about 27 hours), so the dispatcher waits
//! `delay / RETRY_TIME_COMPRESSION` instead of `delay`: the order and count of attempts are
//! the real ones, the gaps between them are shrunk 10,000× (Svix's 10 h become 3.6 s of
//! simulated time). The services' clocks are not compressed; a `time_jump_25h` fault moves
//! them forward by 25 hours at once (idempotency keys expire, sessions too). Stripe's 3-day
//! give-up is measured on the real scale: waits uncompressed, attempts and jumps as they pass.
//!
//! Faults are applied by the run loop between turmoil steps, at their planned time: crashes
//! and restarts (`Sim::crash` / `Sim::bounce`), partitions, latency and loss, the fakes'
//! fault knobs, killed DB connections, and the dispatcher's duplicate / delay / reorder /
//! early-delivery knobs.

use std::collections::BTreeMap;
use std::time::Duration;

use super::dbhost::{serve_db, DbShared, SimDb};
use super::faults::{Fault, Service, TimedFault};
use super::input::{ResolvedStep, RunInput};
use super::net::{serve, TurmoilHttp};
use super::timers::TimerBook;
use super::trace::{excerpt, Trace, TraceKind, TraceLog};
use crate::app::api::{AppCall, AppLogic, AppReply, Env, EnvRng, ProcessMemory};
use crate::app::clients::{ClerkClient, HttpTransport, StripeClient, TEST_SECRET_KEY};
use crate::fakes::clerk::{BillingPayerRef, Clerk};
use crate::fakes::stripe::{Began, Stripe, DROP_RESPONSE_HEADER};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::oracle::from_fakes::view_from_fakes;
use crate::oracle::{
    builtin_invariants, check, DeliveryView, IdempotentResponseView, Invariant, Phase, Violation, WorldView,
};
use crate::rng::SimRng;
use crate::setup::{prepare, Prepared, COUPON_ID};
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::time::{Clock, SimTime};

/// The HTTP port every host serves on.
pub const HTTP_PORT: u16 = 80;
/// Webhook retry gaps are divided by this (see the module docs).
pub const RETRY_TIME_COMPRESSION: u32 = 10_000;
/// Processing time of one Stripe or Clerk request, in ms (drawn per request).
pub const SERVICE_PROCESSING_MS: (u64, u64) = (1, 20);
/// The app's timeout for one call to Stripe or Clerk.
pub const SERVICE_TIMEOUT: Duration = Duration::from_secs(10);
/// The dispatcher's timeout for one webhook delivery.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Simulated time with nothing active and nothing new after which the world is quiescent.
pub const QUIET_MS: u64 = 20;
/// Simulated time after which a run that is not quiescent is an error.
pub const SIMULATION_LIMIT: Duration = Duration::from_secs(3_600);
/// Most turmoil steps one run may take.
pub const STEPS_MAX: u64 = 5_000_000;
/// Most webhook deliveries (events × endpoints) one run may start.
pub const DELIVERIES_MAX: usize = 10_000;
/// The shift a `time_jump_25h` fault applies to the services' clocks.
pub const TIME_JUMP: Duration = Duration::from_secs(25 * 3600);

/// What one run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Every request, response, event, statement, fault.
    pub trace: Trace,
    /// Stable hash of the trace.
    pub trace_hash: u64,
    /// The world at the end (after reconcile).
    pub view: WorldView,
    /// Violations of `Always` invariants seen during the run (first time each), with when.
    pub always_violations: Vec<(SimTime, Violation)>,
    /// Violations at quiescence (all invariants).
    pub quiescence_violations: Vec<Violation>,
    /// The simulation failed (step limit, not quiescent, setup).
    pub sim_error: Option<String>,
    /// turmoil steps the run took (a jump over idle time is one step).
    pub steps: u64,
    /// Times a host's software ran in a step (idle hosts are skipped).
    pub host_runs: u64,
}

impl RunOutcome {
    /// Every violation found, during the run or at the end, deduplicated by invariant.
    pub fn violations(&self) -> Vec<Violation> {
        let mut all: Vec<Violation> = self.always_violations.iter().map(|(_, v)| v.clone()).collect();
        for v in &self.quiescence_violations {
            if !all.iter().any(|a| a.invariant == v.invariant) {
                all.push(v.clone());
            }
        }
        all
    }
}

/// The clock every host reads: simulated elapsed time plus any time-jump fault.
#[derive(Debug, Clone)]
struct WorldClock {
    offset_ms: Arc<AtomicU64>,
    /// Simulated time as the run loop last saw it, for what happens outside any host (faults).
    run_loop_ms: Arc<AtomicU64>,
}

impl WorldClock {
    /// Simulated time and time-jump time passed since `since` (a [`WorldClock::schedule_mark`]).
    fn passed_since(&self, since: (Duration, u64)) -> (Duration, Duration) {
        let (elapsed_then, offset_then_ms) = since;
        let (elapsed_now, offset_now_ms) = self.schedule_mark();
        (
            elapsed_now.saturating_sub(elapsed_then),
            Duration::from_millis(offset_now_ms.saturating_sub(offset_then_ms)),
        )
    }

    /// Simulated elapsed time and the time-jump offset now, to measure a schedule from.
    fn schedule_mark(&self) -> (Duration, u64) {
        (self.elapsed(), self.offset_ms.load(Ordering::SeqCst))
    }

    /// Simulated time since the start: the current host's, or the run loop's between steps.
    fn elapsed(&self) -> Duration {
        turmoil::sim_elapsed()
            .unwrap_or_else(|| Duration::from_millis(self.run_loop_ms.load(Ordering::SeqCst)))
    }
}

impl Clock for WorldClock {
    fn now(&self) -> SimTime {
        let elapsed = self.elapsed();
        SimTime::from_epoch_offset(elapsed) + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// Dispatcher knobs set by webhook faults.
#[derive(Debug, Clone, Default)]
struct WebhookKnobs {
    duplicate: BTreeMap<Service, u32>,
    delay: BTreeMap<Service, (u32, u64)>,
    reorder: BTreeMap<Service, u32>,
}

/// State shared by every host and the run loop.
pub struct Shared {
    stripe: Arc<Mutex<Stripe>>,
    clerk: Arc<Mutex<Clerk>>,
    db: DbShared,
    trace: TraceLog,
    clock: WorldClock,
    rng: Mutex<SimRng>,
    prepared: Prepared,
    deliveries: Mutex<BTreeMap<(Service, String), DeliveryView>>,
    idempotent: Mutex<Vec<IdempotentResponseView>>,
    knobs: Mutex<WebhookKnobs>,
    browsers_active: AtomicUsize,
    deliveries_active: AtomicUsize,
    sessions: Mutex<BTreeMap<usize, String>>,
    /// Users whose signup callback some replica began to handle.
    signups_handled: Mutex<std::collections::BTreeSet<String>>,
    /// Moves whenever `deliveries` or `signups_handled` change: they feed the oracle's view,
    /// so a change to them must re-check the `Always` invariants (a custom one may read them).
    facts_version: AtomicU64,
    replicas: u32,
    /// Every live timer of every host (see [`super::timers`]).
    timers: Arc<TimerBook>,
    /// Rung by the run loop when the dispatcher has something to look at.
    dispatch_bell: tokio::sync::Notify,
}

impl Shared {
    fn now(&self) -> SimTime {
        self.clock.now()
    }

    fn push(&self, host: &str, kind: TraceKind) {
        self.trace.push(self.now(), host, kind);
    }

    fn draw(&self, lo: u64, hi: u64) -> u64 {
        self.rng.lock().range_inclusive(lo, hi)
    }

    fn pick_replica(&self) -> String {
        format!("app-{}", self.draw(1, u64::from(self.replicas.max(1))))
    }
}

/// A transport that records what crosses it in the trace (and Stripe's idempotent answers).
#[derive(Clone)]
pub struct TracedHttp {
    inner: TurmoilHttp,
    from: String,
    to: String,
    shared: Arc<Shared>,
}

impl HttpTransport for TracedHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        let key = request.header("Idempotency-Key").map(str::to_string);
        let endpoint = format!("{} {}", request.method.as_str(), request.path_only());
        let key_note = key
            .as_ref()
            .map_or(String::new(), |k| format!(" [Idempotency-Key: {k}]"));
        self.shared.push(
            &self.from,
            TraceKind::Request {
                to: self.to.clone(),
                method: request.method.as_str().to_string(),
                path: request.path.clone(),
                body: format!("{}{key_note}", excerpt(&request.body)),
            },
        );
        let path = request.path.clone();
        match self.inner.send(request).await {
            Ok(response) => {
                self.shared.push(
                    &self.from,
                    TraceKind::Response {
                        from: self.to.clone(),
                        path,
                        status: response.status,
                        body: excerpt(&response.body),
                    },
                );
                if let (Some(key), true) = (key, response.is_success()) {
                    if let Some(id) = response.body_json().get("id").and_then(|v| v.as_str()) {
                        self.shared.idempotent.lock().push(IdempotentResponseView {
                            key,
                            endpoint,
                            object_id: id.to_string(),
                        });
                    }
                }
                Ok(response)
            }
            Err(reason) => {
                self.shared.push(
                    &self.from,
                    TraceKind::NoResponse {
                        to: self.to.clone(),
                        path,
                        reason: reason.clone(),
                    },
                );
                Err(reason)
            }
        }
    }
}

/// The [`Env`] of one app replica (rebuilt, with empty memory, when the replica restarts).
pub struct SimEnv {
    stripe: StripeClient<TracedHttp>,
    clerk: ClerkClient<TracedHttp>,
    db: SimDb,
    replica: String,
    memory: ProcessMemory,
    rng: EnvRng,
    shared: Arc<Shared>,
}

impl Env for SimEnv {
    type Stripe = StripeClient<TracedHttp>;
    type Clerk = ClerkClient<TracedHttp>;
    type Db = SimDb;

    fn stripe(&self) -> &Self::Stripe {
        &self.stripe
    }

    fn clerk(&self) -> &Self::Clerk {
        &self.clerk
    }

    fn db(&self) -> &Self::Db {
        &self.db
    }

    fn now(&self) -> SimTime {
        self.shared.now()
    }

    async fn sleep(&self, duration: Duration) {
        self.shared.timers.sleep(duration).await;
    }

    fn replica(&self) -> &str {
        &self.replica
    }

    fn memory(&self) -> &ProcessMemory {
        &self.memory
    }

    fn rng(&self) -> &EnvRng {
        &self.rng
    }

    fn note(&self, text: &str) {
        self.shared.push(
            &self.replica,
            TraceKind::Note {
                text: text.to_string(),
            },
        );
    }
}

fn traced(shared: &Arc<Shared>, from: &str, to: &str, timeout: Duration) -> TracedHttp {
    TracedHttp {
        inner: TurmoilHttp::new(to, HTTP_PORT, timeout, shared.timers.clone()),
        from: from.to_string(),
        to: to.to_string(),
        shared: shared.clone(),
    }
}

/// A replica's client to a service: keep-alive connections, as Stripe's and Clerk's SDKs use.
fn service_client(shared: &Arc<Shared>, replica: &str, service: &str) -> TracedHttp {
    let mut transport = traced(shared, replica, service, SERVICE_TIMEOUT);
    transport.inner = transport.inner.keep_alive();
    transport
}

/// The environment of `replica`'s `incarnation`-th process (0 at start, +1 per restart).
fn new_env(shared: &Arc<Shared>, replica: &str, incarnation: u64) -> SimEnv {
    let clock: Arc<dyn Clock> = Arc::new(shared.clock.clone());
    SimEnv {
        stripe: StripeClient::new(
            service_client(shared, replica, "stripe"),
            shared.prepared.stripe_webhook_secret.clone(),
            clock.clone(),
        ),
        clerk: ClerkClient::new(
            service_client(shared, replica, "clerk"),
            shared.prepared.clerk_webhook_secret.clone(),
            clock,
        ),
        db: SimDb,
        replica: replica.to_string(),
        memory: ProcessMemory::default(),
        rng: EnvRng::new(shared.prepared.seed, &format!("env/{replica}/{incarnation}")),
        shared: shared.clone(),
    }
}

/// Runs a service's processing of a received request to its end on the service's host.
///
/// hyper drops the handler's future when the client's connection closes (a crashed replica,
/// a client timeout), but a real server finishes what it received: a Stripe request in
/// flight still commits and releases its idempotency key, a Clerk create still creates. So
/// the processing runs in its own task and the handler only waits for it.
async fn process_to_completion<F>(processing: F) -> Option<HttpResponse>
where
    F: std::future::Future<Output = HttpResponse> + Send + 'static,
{
    tokio::spawn(processing).await.ok()
}

async fn stripe_handler(shared: Arc<Shared>, request: HttpRequest) -> Option<HttpResponse> {
    let began = shared.stripe.lock().begin(shared.now(), &request);
    let response = match began {
        Began::Respond(response) => response,
        Began::InFlight(pending) => {
            let shared = shared.clone();
            process_to_completion(async move {
                let processing = shared.draw(SERVICE_PROCESSING_MS.0, SERVICE_PROCESSING_MS.1);
                shared.timers.sleep(Duration::from_millis(processing)).await;
                shared.stripe.lock().finish(shared.now(), pending)
            })
            .await?
        }
    };
    if response.header(DROP_RESPONSE_HEADER).is_some() {
        shared.push(
            "stripe",
            TraceKind::ResponseDropped {
                path: request.path.clone(),
                status: response.status,
            },
        );
        return None;
    }
    Some(response)
}

async fn clerk_handler(shared: Arc<Shared>, request: HttpRequest) -> Option<HttpResponse> {
    let response = {
        let shared = shared.clone();
        let request = request.clone();
        process_to_completion(async move {
            let processing = shared.draw(SERVICE_PROCESSING_MS.0, SERVICE_PROCESSING_MS.1);
            shared.timers.sleep(Duration::from_millis(processing)).await;
            shared.clerk.lock().handle(shared.now(), &request)
        })
        .await?
    };
    if response.header(DROP_RESPONSE_HEADER).is_some() {
        shared.push(
            "clerk",
            TraceKind::ResponseDropped {
                path: request.path.clone(),
                status: response.status,
            },
        );
        return None;
    }
    Some(response)
}

fn app_call_of(request: &HttpRequest) -> Result<AppCall, String> {
    match request.path_only() {
        "/api/call" => serde_json::from_slice(&request.body).map_err(|e| format!("bad call: {e}")),
        "/webhooks/stripe" => Ok(AppCall::StripeWebhook {
            payload: request.body.clone(),
            signature: request.header("Stripe-Signature").unwrap_or_default().to_string(),
        }),
        "/webhooks/clerk" => Ok(AppCall::ClerkWebhook {
            svix_id: request.header("svix-id").unwrap_or_default().to_string(),
            svix_timestamp: request.header("svix-timestamp").unwrap_or_default().to_string(),
            svix_signature: request.header("svix-signature").unwrap_or_default().to_string(),
            payload: request.body.clone(),
        }),
        "/internal/reconcile" => Ok(AppCall::Reconcile),
        other => Err(format!("no route {other}")),
    }
}

fn describe(call: &AppCall) -> String {
    match call {
        AppCall::Signup { user_id } => format!("signup {user_id}"),
        AppCall::Checkout {
            user_id,
            promotion_code,
            ..
        } => {
            format!(
                "checkout {user_id}{}",
                promotion_code
                    .as_ref()
                    .map_or(String::new(), |c| format!(" coupon={c}"))
            )
        }
        AppCall::ApplyCoupon {
            user_id,
            promotion_code,
            ..
        } => format!("apply_coupon {user_id} coupon={promotion_code}"),
        AppCall::CreateTeamOrg { user_id, plan } => format!("create_team_org {user_id} plan={plan}"),
        AppCall::StripeWebhook { payload, .. } => {
            let event: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
            format!(
                "stripe webhook {} {}",
                event.get("type").and_then(|t| t.as_str()).unwrap_or("?"),
                event.get("id").and_then(|t| t.as_str()).unwrap_or("?")
            )
        }
        AppCall::ClerkWebhook { svix_id, payload, .. } => {
            let event: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
            format!(
                "clerk webhook {} {svix_id}",
                event.get("type").and_then(|t| t.as_str()).unwrap_or("?")
            )
        }
        AppCall::Reconcile => "reconcile".to_string(),
    }
}

async fn app_handler<A: AppLogic>(
    app: Arc<A>,
    env: Arc<SimEnv>,
    request: HttpRequest,
) -> Option<HttpResponse> {
    let call = match app_call_of(&request) {
        Ok(call) => call,
        Err(why) => return Some(HttpResponse::json(404, &serde_json::json!({ "error": why }))),
    };
    env.shared.push(
        &env.replica,
        TraceKind::AppCall {
            call: describe(&call),
        },
    );
    if let AppCall::Signup { user_id } = &call {
        if env.shared.signups_handled.lock().insert(user_id.clone()) {
            env.shared.facts_version.fetch_add(1, Ordering::SeqCst);
        }
    }
    let AppReply { status, body } = app.handle(env.as_ref(), call).await;
    let body_bytes = serde_json::to_vec(&body).unwrap_or_default();
    env.shared.push(
        &env.replica,
        TraceKind::AppReply {
            status,
            body: excerpt(&body_bytes),
        },
    );
    Some(HttpResponse::json(status, &body))
}

pub(crate) fn browser_call(step: &ResolvedStep, user_id: &str, price: &str) -> Option<AppCall> {
    let user_id = user_id.to_string();
    Some(match step.flow.as_str() {
        "signup" => AppCall::Signup { user_id },
        "checkout" => AppCall::Checkout {
            user_id,
            price: price.to_string(),
            promotion_code: step.coupon.clone(),
        },
        "apply_coupon" => AppCall::ApplyCoupon {
            user_id,
            price: price.to_string(),
            promotion_code: step.coupon.clone().unwrap_or_else(|| COUPON_ID.to_string()),
        },
        "create_team_org" => AppCall::CreateTeamOrg {
            user_id,
            plan: step.plan.clone().unwrap_or_else(|| "team".to_string()),
        },
        "reconcile" => AppCall::Reconcile,
        _ => return None,
    })
}

async fn browser_step(shared: Arc<Shared>, actor: usize, user_id: String, step: ResolvedStep, name: String) {
    shared.timers.sleep(Duration::from_millis(step.at_ms)).await;
    match step.flow.as_str() {
        "pay" => {
            let session = shared.sessions.lock().get(&actor).cloned();
            let Some(session) = session else {
                shared.push(
                    &name,
                    TraceKind::Note {
                        text: "pay: no checkout session yet; skipped".into(),
                    },
                );
                return;
            };
            let request = HttpRequest::new(
                Method::Post,
                format!("/v1/test_helpers/checkout/sessions/{session}/complete"),
            )
            .with_header("Authorization", format!("Bearer {TEST_SECRET_KEY}"));
            let transport = traced(&shared, &name, "stripe", Duration::from_millis(step.timeout_ms));
            let _ = transport.send(request).await;
        }
        "clerk_subscription" => {
            let plan = step.plan.clone().unwrap_or_else(|| "team".to_string());
            let now = shared.now();
            let result = shared.clerk.lock().create_billing_subscription(
                now,
                BillingPayerRef::User(user_id.clone()),
                &plan,
            );
            let text = match result {
                Ok(sub) => format!("Clerk Billing: {} subscribes to {plan} ({})", user_id, sub.id),
                Err(e) => format!("Clerk Billing refused: {e:?}"),
            };
            shared.push("clerk", TraceKind::Note { text });
        }
        _ => {
            let Some(call) = browser_call(&step, &user_id, &shared.prepared.price_id) else {
                return;
            };
            let body = serde_json::to_vec(&call).unwrap_or_default();
            for _attempt in 1..=step.attempts.max(1) {
                let replica = match step.replica {
                    Some(r) => format!("app-{}", r + 1),
                    None => shared.pick_replica(),
                };
                let transport = traced(&shared, &name, &replica, Duration::from_millis(step.timeout_ms));
                let request = HttpRequest::new(Method::Post, "/api/call")
                    .with_header("Content-Type", "application/json")
                    .with_body(body.clone());
                // No response means the outcome is unknown: the browser retries if it may.
                if let Ok(response) = transport.send(request).await {
                    if let Some(session) = response.body_json().get("session_id").and_then(|s| s.as_str()) {
                        shared.sessions.lock().insert(actor, session.to_string());
                    }
                    if response.status < 500 {
                        break;
                    }
                }
            }
        }
    }
}

/// Delivers one event (to one endpoint) until a 2xx or the schedule gives up.
async fn deliver(
    shared: Arc<Shared>,
    service: Service,
    event_id: String,
    event_type: String,
    payload: Vec<u8>,
) {
    let dispatcher = "webhooks";
    // Time since the first attempt on the real schedule's scale: attempts (and their
    // timeouts) and time jumps count as they pass, the compressed waits count uncompressed.
    let mut since_first_attempt = Duration::ZERO;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let attempt_mark = shared.clock.schedule_mark();
        let replica = shared.pick_replica();
        let now = shared.now();
        let request = match service {
            Service::Stripe => {
                let header = crate::fakes::stripe::webhook::sign_header(
                    &shared.prepared.stripe_webhook_secret,
                    now.unix_secs(),
                    &payload,
                );
                HttpRequest::new(Method::Post, "/webhooks/stripe")
                    .with_header("Stripe-Signature", header)
                    .with_body(payload.clone())
            }
            Service::Clerk => {
                let mut request =
                    HttpRequest::new(Method::Post, "/webhooks/clerk").with_body(payload.clone());
                for (name, value) in crate::fakes::clerk::svix::webhook_headers(
                    &shared.prepared.clerk_webhook_secret,
                    &event_id,
                    now.unix_secs(),
                    &payload,
                ) {
                    request = request.with_header(name, value);
                }
                request
            }
        };
        shared.push(
            dispatcher,
            TraceKind::WebhookAttempt {
                service: service.host().to_string(),
                event_id: event_id.clone(),
                attempt,
                replica: replica.clone(),
            },
        );
        let transport = TurmoilHttp::new(
            replica.as_str(),
            HTTP_PORT,
            WEBHOOK_TIMEOUT,
            shared.timers.clone(),
        );
        let status = transport.send(request).await.ok().map(|r| r.status);
        shared.push(
            dispatcher,
            TraceKind::WebhookResult {
                service: service.host().to_string(),
                event_id: event_id.clone(),
                attempt,
                status,
            },
        );
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        {
            let mut deliveries = shared.deliveries.lock();
            let entry = deliveries
                .entry((service, event_id.clone()))
                .or_insert_with(|| DeliveryView {
                    service: match service {
                        Service::Stripe => crate::oracle::Service::Stripe,
                        Service::Clerk => crate::oracle::Service::Clerk,
                    },
                    event_id: event_id.clone(),
                    event_type: event_type.clone(),
                    attempts: 0,
                    delivered: false,
                    given_up: false,
                });
            entry.attempts += 1;
            entry.delivered |= delivered;
        }
        shared.facts_version.fetch_add(1, Ordering::SeqCst);
        if delivered {
            return;
        }
        let next = match service {
            Service::Stripe => {
                let (sim, jumped) = shared.clock.passed_since(attempt_mark);
                since_first_attempt += sim + jumped;
                crate::fakes::stripe::webhook::next_retry_delay(attempt, since_first_attempt)
            }
            Service::Clerk => crate::fakes::clerk::svix::attempt_delay(attempt as usize),
        };
        match next {
            Some(delay) => {
                let wait_mark = shared.clock.schedule_mark();
                let wait = (delay / RETRY_TIME_COMPRESSION).max(Duration::from_millis(1));
                shared.timers.sleep(wait).await;
                let (_, jumped) = shared.clock.passed_since(wait_mark);
                since_first_attempt += delay + jumped;
            }
            None => {
                if let Some(entry) = shared.deliveries.lock().get_mut(&(service, event_id.clone())) {
                    entry.given_up = !entry.delivered;
                }
                shared.facts_version.fetch_add(1, Ordering::SeqCst);
                shared.push(
                    dispatcher,
                    TraceKind::WebhookGaveUp {
                        service: service.host().to_string(),
                        event_id: event_id.clone(),
                        attempts: attempt,
                    },
                );
                return;
            }
        }
    }
}

fn spawn_delivery(
    shared: &Arc<Shared>,
    service: Service,
    event_id: String,
    event_type: String,
    payload: Vec<u8>,
) {
    let copies = {
        let mut knobs = shared.knobs.lock();
        match knobs.duplicate.get_mut(&service) {
            Some(n) if *n > 0 => {
                *n -= 1;
                2
            }
            _ => 1,
        }
    };
    let delay_ms = {
        let mut knobs = shared.knobs.lock();
        let mut delay = 0;
        if let Some((n, ms)) = knobs.delay.get_mut(&service) {
            if *n > 0 {
                *n -= 1;
                delay = *ms;
            }
        }
        if let Some(n) = knobs.reorder.get_mut(&service) {
            if *n > 0 {
                *n -= 1;
                delay = delay.max(super::faults::REORDER_HOLD_MAX_MS / 10);
            }
        }
        delay
    };
    for _ in 0..copies {
        let shared = shared.clone();
        let (id, kind, body) = (event_id.clone(), event_type.clone(), payload.clone());
        shared.deliveries_active.fetch_add(1, Ordering::SeqCst);
        tokio::task::spawn_local(async move {
            if delay_ms > 0 {
                shared.timers.sleep(Duration::from_millis(delay_ms)).await;
            }
            deliver(shared.clone(), service, id, kind, body).await;
            shared.deliveries_active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Moves new events from the fakes into deliveries; returns how many it found.
fn dispatch_new_events(shared: &Arc<Shared>) -> usize {
    let stripe_events = shared.stripe.lock().drain_new_events();
    let endpoints = if stripe_events.is_empty() {
        Vec::new()
    } else {
        shared.stripe.lock().webhook_endpoints()
    };
    let clerk_events = shared.clerk.lock().drain_new_events();
    let found = stripe_events.len() + clerk_events.len();
    for event in stripe_events {
        shared.push(
            "stripe",
            TraceKind::EventEmitted {
                service: "stripe".into(),
                event_id: event.id.clone(),
                event_type: event.event_type.clone(),
            },
        );
        for endpoint in endpoints.iter().filter(|e| e.wants(&event.event_type)) {
            let _ = endpoint;
            if shared.deliveries.lock().len() < DELIVERIES_MAX {
                spawn_delivery(
                    shared,
                    Service::Stripe,
                    event.id.clone(),
                    event.event_type.clone(),
                    event.payload(),
                );
            }
        }
    }
    for event in clerk_events {
        shared.push(
            "clerk",
            TraceKind::EventEmitted {
                service: "clerk".into(),
                event_id: event.id.clone(),
                event_type: event.event_type.clone(),
            },
        );
        if shared.deliveries.lock().len() < DELIVERIES_MAX {
            spawn_delivery(
                shared,
                Service::Clerk,
                event.id.clone(),
                event.event_type.clone(),
                event.payload_bytes(),
            );
        }
    }
    found
}

/// Cron runs of `reconcile` at quiescence: the next run comes only if the last one failed.
const RECONCILE_RUNS_MAX: u32 = 3;

/// The dispatcher: delivers events until the world is quiet, runs reconcile, drains again.
///
/// It sleeps until the run loop rings [`Shared::dispatch_bell`] (new events, a browser step
/// or a delivery finished). The world is quiet when no browser step and no delivery is
/// active and nothing happens for [`QUIET_MS`]. Like a cron job that runs every few
/// minutes, a reconcile that fails (no answer or not 2xx) is run again at the next quiet
/// period, at most [`RECONCILE_RUNS_MAX`] times.
async fn dispatcher(shared: Arc<Shared>) {
    let mut reconciled = false;
    let mut reconcile_runs = 0u32;
    loop {
        let found = dispatch_new_events(&shared);
        let busy = found > 0
            || shared.browsers_active.load(Ordering::SeqCst) > 0
            || shared.deliveries_active.load(Ordering::SeqCst) > 0;
        if busy {
            shared.dispatch_bell.notified().await;
            continue;
        }
        let quiet = tokio::select! {
            biased;
            () = shared.dispatch_bell.notified() => false,
            () = shared.timers.sleep(Duration::from_millis(QUIET_MS)) => true,
        };
        if !quiet {
            continue;
        }
        if reconciled {
            return;
        }
        reconcile_runs += 1;
        let transport = traced(&shared, "cron", "app-1", SERVICE_TIMEOUT);
        let answer = transport
            .send(HttpRequest::new(Method::Post, "/internal/reconcile"))
            .await;
        let succeeded = matches!(&answer, Ok(response) if response.status < 300);
        reconciled = succeeded || reconcile_runs >= RECONCILE_RUNS_MAX;
    }
}

/// What the dispatcher watches: events emitted, browser steps and deliveries active.
/// What the dispatcher watches: new Stripe and Clerk events, browsers and deliveries active.
type DispatchFingerprint = (usize, u64, usize, usize);

/// What changes when the world changes, cheap enough to read after every turmoil step.
type Fingerprint = ((usize, usize), (u64, usize, usize), u64, usize, u64);

/// Both fingerprints, read under one lock of each fake.
fn fingerprints(shared: &Shared) -> (Fingerprint, DispatchFingerprint) {
    let stripe = shared.stripe.lock().change_counts();
    let clerk = shared.clerk.lock().change_counts();
    let db_version = shared.db.db.lock().committed_version();
    let idempotent = shared.idempotent.lock().len();
    let dispatch = (
        stripe.0,
        clerk.0,
        shared.browsers_active.load(Ordering::SeqCst),
        shared.deliveries_active.load(Ordering::SeqCst),
    );
    let facts = shared.facts_version.load(Ordering::SeqCst);
    ((stripe, clerk, db_version, idempotent, facts), dispatch)
}

fn current_view(shared: &Shared, input: &RunInput, schema: &[crate::app::api::TableSchema]) -> WorldView {
    let mut view = view_from_fakes(
        &shared.prepared.users,
        &shared.stripe.lock(),
        &shared.clerk.lock(),
        &shared.db.db.lock(),
        schema,
    );
    view.deliveries = shared.deliveries.lock().values().cloned().collect();
    view.idempotent_responses = shared.idempotent.lock().clone();
    view.fault_free = input.faults.is_empty() && input.loss == 0.0;
    note_actor_facts(&mut view, input, &shared.prepared.users);
    // A signup that never reached an app (every attempt hit a crashed replica) is a user who
    // did not sign up: nothing could know of them.
    let handled = shared.signups_handled.lock();
    view.signed_up.retain(|user_id| handled.contains(user_id));
    drop(handled);
    view
}

/// Fills in what the oracle learns from the actors' steps: who signed up, which team plans
/// were asked for.
pub(crate) fn note_actor_facts(view: &mut WorldView, input: &RunInput, users: &[crate::app::api::UserSpec]) {
    for actor in &input.actors {
        let Some(user) = users.get(actor.user as usize) else {
            continue;
        };
        for step in &actor.steps {
            match step.flow.as_str() {
                "signup" if !view.signed_up.contains(&user.user_id) => {
                    view.signed_up.push(user.user_id.clone())
                }
                "create_team_org" | "clerk_subscription" => {
                    let pair = (
                        user.user_id.clone(),
                        step.plan.clone().unwrap_or_else(|| "team".to_string()),
                    );
                    if !view.team_plans.contains(&pair) {
                        view.team_plans.push(pair);
                    }
                }
                _ => {}
            }
        }
    }
}

fn apply_fault(
    sim: &mut turmoil::Sim<'_>,
    shared: &Arc<Shared>,
    fault: &Fault,
    at_ms: u64,
    pending: &mut Vec<(u64, Pending)>,
) {
    shared.push(
        "chaos",
        TraceKind::Fault {
            description: format!("{fault:?}"),
        },
    );
    match fault {
        Fault::Latency { max_ms, .. } => sim.set_max_message_latency(Duration::from_millis(*max_ms)),
        Fault::Loss { rate } => sim.set_fail_rate(*rate),
        Fault::Partition { a, b, heal_after_ms } => {
            sim.partition(a.as_str(), b.as_str());
            pending.push((at_ms + heal_after_ms, Pending::Heal(a.clone(), b.clone())));
        }
        Fault::Crash {
            host,
            restart_after_ms,
        } => {
            sim.crash(host.as_str());
            shared.push(host, TraceKind::Crash);
            pending.push((at_ms + restart_after_ms, Pending::Restart(host.clone())));
        }
        Fault::ServiceError {
            service,
            status,
            count,
            path_prefix,
        } => match service {
            Service::Stripe => {
                let kind = if *status == 429 {
                    crate::fakes::stripe::FaultKind::RateLimit429
                } else {
                    crate::fakes::stripe::FaultKind::ApiError500
                };
                let _ = shared
                    .stripe
                    .lock()
                    .faults_mut()
                    .next(None, path_prefix, *count, kind);
            }
            Service::Clerk => {
                let kind = if *status == 429 {
                    crate::fakes::clerk::FaultKind::RateLimited { retry_after_secs: 1 }
                } else {
                    crate::fakes::clerk::FaultKind::ServerError
                };
                let _ = shared
                    .clerk
                    .lock()
                    .faults_mut()
                    .fail_next(None, path_prefix, *count, kind);
            }
        },
        Fault::DropResponse {
            service,
            count,
            path_prefix,
        } => match service {
            Service::Stripe => {
                let kind = crate::fakes::stripe::FaultKind::CommitThenDropResponse;
                let _ = shared
                    .stripe
                    .lock()
                    .faults_mut()
                    .next(Some(Method::Post), path_prefix, *count, kind);
            }
            Service::Clerk => {
                let kind = crate::fakes::clerk::FaultKind::CommitThenDropResponse;
                let _ =
                    shared
                        .clerk
                        .lock()
                        .faults_mut()
                        .fail_next(Some(Method::Post), path_prefix, *count, kind);
            }
        },
        Fault::DbConnectionDrop { host } => {
            let dropped = shared.db.drop_connections_of(host);
            shared.push(
                "postgres",
                TraceKind::Note {
                    text: format!("killed {dropped} connections of {host}"),
                },
            );
        }
        Fault::WebhookDuplicate { service, count } => {
            *shared.knobs.lock().duplicate.entry(*service).or_default() += count;
        }
        Fault::WebhookDelay {
            service,
            count,
            delay_ms,
        } => {
            shared.knobs.lock().delay.insert(*service, (*count, *delay_ms));
        }
        Fault::WebhookReorder { service, count } | Fault::WebhookBeforeResponse { service, count } => {
            *shared.knobs.lock().reorder.entry(*service).or_default() += count;
        }
        Fault::TimeJump { hours } => {
            shared
                .clock
                .offset_ms
                .fetch_add(hours * 3_600_000, Ordering::SeqCst);
        }
    }
}

/// A follow-up action a fault scheduled.
enum Pending {
    Restart(String),
    Heal(String, String),
}

/// Plays one run to quiescence, checking the built-in invariants.
pub fn run<A: AppLogic>(input: &RunInput, app: Arc<A>) -> RunOutcome {
    run_checked(input, app, &builtin_invariants())
}

/// Plays one run to quiescence, checking `invariants` (each in its phase).
pub fn run_checked<A: AppLogic>(input: &RunInput, app: Arc<A>, invariants: &[Invariant]) -> RunOutcome {
    run_with(input, app, invariants, Stepping::JumpIdle)
}

/// How the run loop advances simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stepping {
    /// 1 ms steps, but one long step over time in which nothing is due (the default).
    JumpIdle,
    /// 1 ms steps throughout (to check that jumping changes nothing).
    EveryTick,
}

/// The one-tick step every run takes unless it jumps.
const TICK: Duration = Duration::from_millis(1);

/// The step that reaches the tick before the next due thing, if that is more than one tick.
///
/// A message due at `t` is handed to its host at the start of the tick that ends at or after
/// `t`, so the jump stops one tick short of it; a timer due at `t` fires inside the tick that
/// ends at `t`, so the jump may end there. `other_due` are the run loop's own dates (the next
/// fault, restart or heal) and the simulation limit.
fn idle_jump(
    sim: &turmoil::Sim<'_>,
    timers: &TimerBook,
    other_due: impl Iterator<Item = Duration>,
) -> Option<Duration> {
    let now = sim.elapsed();
    let ms = |d: Duration| d.as_millis() as u64;
    let mut target_ms: Option<u64> = None;
    let mut due = |at_ms: u64| target_ms = Some(target_ms.map_or(at_ms, |t| t.min(at_ms)));
    if let Some(delay) = sim.next_delivery_in() {
        let at = now + delay;
        let at_ms_ceil = ms(at) + u64::from(at.subsec_nanos() % 1_000_000 != 0);
        due(at_ms_ceil.saturating_sub(1));
    }
    if let Some(at) = timers.earliest() {
        due(ms(at));
    }
    for at in other_due {
        due(ms(at));
    }
    let jump_ms = target_ms?.checked_sub(ms(now))?;
    (jump_ms >= 2).then(|| Duration::from_millis(jump_ms))
}

/// Plays one run to quiescence with the given stepping, checking `invariants`.
pub fn run_with<A: AppLogic>(
    input: &RunInput,
    app: Arc<A>,
    invariants: &[Invariant],
    stepping: Stepping,
) -> RunOutcome {
    let failed = |why: String| RunOutcome {
        trace: Trace::default(),
        trace_hash: 0,
        view: WorldView::default(),
        always_violations: Vec::new(),
        quiescence_violations: Vec::new(),
        sim_error: Some(why),
        steps: 0,
        host_runs: 0,
    };
    let prepared = match prepare(input.seed, app.as_ref(), input.users, SimTime::EPOCH) {
        Ok(p) => p,
        Err(e) => return failed(e.to_string()),
    };
    let schema = app.schema();
    let timers = TimerBook::new();
    let clock = WorldClock {
        offset_ms: Arc::new(AtomicU64::new(0)),
        run_loop_ms: Arc::new(AtomicU64::new(0)),
    };
    let shared = Arc::new(Shared {
        stripe: Arc::new(Mutex::new(prepared.stripe.clone())),
        clerk: Arc::new(Mutex::new(prepared.clerk.clone())),
        db: DbShared {
            db: Arc::new(Mutex::new(prepared.db.clone())),
            owners: Arc::new(Mutex::new(Vec::new())),
            timers: timers.clone(),
            clock: Arc::new(clock.clone()),
        },
        trace: TraceLog::default(),
        clock,
        rng: Mutex::new(SimRng::new(input.seed, "world")),
        prepared,
        deliveries: Mutex::new(BTreeMap::new()),
        idempotent: Mutex::new(Vec::new()),
        knobs: Mutex::new(WebhookKnobs::default()),
        browsers_active: AtomicUsize::new(input.actors.iter().map(|a| a.steps.len()).sum()),
        deliveries_active: AtomicUsize::new(0),
        sessions: Mutex::new(BTreeMap::new()),
        signups_handled: Mutex::new(std::collections::BTreeSet::new()),
        facts_version: AtomicU64::new(0),
        replicas: input.replicas,
        timers,
        dispatch_bell: tokio::sync::Notify::new(),
    });

    let mut sim = turmoil::Builder::new()
        .rng_seed(input.seed)
        .epoch(std::time::UNIX_EPOCH + Duration::from_millis(SimTime::EPOCH.unix_ms()))
        .min_message_latency(Duration::from_millis(input.latency_ms.0))
        .max_message_latency(Duration::from_millis(input.latency_ms.1.max(input.latency_ms.0)))
        .fail_rate(input.loss)
        .tick_duration(TICK)
        .simulation_duration(SIMULATION_LIMIT)
        .build();

    {
        let s = shared.clone();
        sim.host("stripe", move || {
            let s = s.clone();
            async move { serve(HTTP_PORT, move |r| stripe_handler(s.clone(), r)).await }
        });
        let s = shared.clone();
        sim.host("clerk", move || {
            let s = s.clone();
            async move { serve(HTTP_PORT, move |r| clerk_handler(s.clone(), r)).await }
        });
        let s = shared.clone();
        sim.host("postgres", move || {
            let s = s.clone();
            async move { serve_db(s.db.clone(), s.trace.clone()).await }
        });
    }
    for replica in 1..=input.replicas.max(1) {
        let name = format!("app-{replica}");
        let s = shared.clone();
        let app = app.clone();
        let host_name = name.clone();
        let incarnations = AtomicU64::new(0);
        sim.host(name.as_str(), move || {
            let incarnation = incarnations.fetch_add(1, Ordering::Relaxed);
            let env = Arc::new(new_env(&s, &host_name, incarnation));
            let app = app.clone();
            async move { serve(HTTP_PORT, move |r| app_handler(app.clone(), env.clone(), r)).await }
        });
    }
    for (index, actor) in input.actors.iter().enumerate() {
        let Some(user) = shared.prepared.users.get(actor.user as usize) else {
            return failed(format!(
                "actor {index} names user {} of {}",
                actor.user + 1,
                input.users
            ));
        };
        let user_id = user.user_id.clone();
        let steps = actor.steps.clone();
        let s = shared.clone();
        let name = format!("browser-{}", index + 1);
        let client_name = name.clone();
        sim.client(client_name.as_str(), async move {
            let mut handles = Vec::new();
            for (n, step) in steps.into_iter().enumerate() {
                let s = s.clone();
                let user_id = user_id.clone();
                let step_name = format!("{name}.{}", n + 1);
                handles.push(tokio::task::spawn_local(async move {
                    browser_step(s.clone(), index, user_id, step, step_name).await;
                    s.browsers_active.fetch_sub(1, Ordering::SeqCst);
                }));
            }
            for handle in handles {
                let _ = handle.await;
            }
            Ok(())
        });
    }
    {
        let s = shared.clone();
        sim.client("webhooks", async move {
            dispatcher(s).await;
            Ok(())
        });
    }

    let host_addrs: Vec<(String, std::net::IpAddr)> = {
        let mut names = vec!["stripe".to_string(), "clerk".to_string(), "postgres".to_string()];
        names.extend((1..=input.replicas.max(1)).map(|r| format!("app-{r}")));
        names.extend((1..=input.actors.len()).map(|i| format!("browser-{i}")));
        names.push("webhooks".to_string());
        names
            .into_iter()
            .map(|name| {
                let addr = sim.lookup(name.as_str());
                (name, addr)
            })
            .collect()
    };
    let mut faults: Vec<TimedFault> = input.faults.clone();
    faults.sort_by_key(|f| f.at_ms);
    let mut next_fault = 0usize;
    let mut pending: Vec<(u64, Pending)> = Vec::new();
    let mut always_violations: Vec<(SimTime, Violation)> = Vec::new();
    let (mut fingerprint, mut dispatch_seen) = fingerprints(&shared);
    let mut sim_error = None;
    let mut steps = 0u64;
    loop {
        let elapsed_ms = sim.elapsed().as_millis() as u64;
        shared.clock.run_loop_ms.store(elapsed_ms, Ordering::SeqCst);
        while next_fault < faults.len() && faults[next_fault].at_ms <= elapsed_ms {
            let fault = faults[next_fault].clone();
            apply_fault(&mut sim, &shared, &fault.fault, fault.at_ms, &mut pending);
            next_fault += 1;
        }
        pending.sort_by_key(|(at, _)| *at);
        while pending.first().is_some_and(|(at, _)| *at <= elapsed_ms) {
            let (_, action) = pending.remove(0);
            match action {
                Pending::Restart(host) => {
                    sim.bounce(host.as_str());
                    shared.push(&host, TraceKind::Restart);
                }
                Pending::Heal(a, b) => {
                    sim.repair(a.as_str(), b.as_str());
                    shared.push(
                        "chaos",
                        TraceKind::Fault {
                            description: format!("healed {a} <-> {b}"),
                        },
                    );
                }
            }
        }
        steps += 1;
        if steps > STEPS_MAX {
            sim_error = Some(format!(
                "no quiescence after {STEPS_MAX} steps (hint: a retry loop without a limit?)"
            ));
            break;
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                sim_error = Some(format!("simulation failed at {:?}: {e}", sim.elapsed()));
                break;
            }
        }
        // The dispatcher sleeps until something it watches changes; once rung it runs in the
        // next step, so that step is a plain tick.
        let (now_fingerprint, dispatch_now) = fingerprints(&shared);
        let rang = dispatch_now != dispatch_seen;
        if rang {
            dispatch_seen = dispatch_now;
            shared.dispatch_bell.notify_one();
        }
        // A host woken outside the network (a connect accepted) runs in the next step.
        let woken = sim.has_woken_hosts();
        let jump = match stepping {
            Stepping::JumpIdle if !rang && !woken => {
                let other_due = std::iter::once(SIMULATION_LIMIT)
                    .chain(faults.get(next_fault).map(|f| Duration::from_millis(f.at_ms)))
                    .chain(pending.iter().map(|(at, _)| Duration::from_millis(*at)));
                idle_jump(&sim, &shared.timers, other_due)
            }
            _ => None,
        };
        let tick = jump.unwrap_or(TICK);
        sim.set_tick_duration(tick);
        if stepping == Stepping::JumpIdle {
            // Hosts with no timer due in the next step (and, for the dispatcher, not just
            // rung) need not run in it unless a message reaches them.
            let step_end = sim.elapsed() + tick + TICK;
            if let Some(due) = shared.timers.hosts_due_before(step_end) {
                let idle: Vec<std::net::IpAddr> = host_addrs
                    .iter()
                    .filter(|(name, addr)| !(due.contains(addr) || (rang && name == "webhooks")))
                    .map(|(_, addr)| *addr)
                    .collect();
                sim.set_idle_hosts(idle);
            }
        }
        if now_fingerprint != fingerprint {
            fingerprint = now_fingerprint;
            let view = current_view(&shared, input, &schema);
            for violation in check(invariants, &view, Phase::Always) {
                if !always_violations
                    .iter()
                    .any(|(_, v)| v.invariant == violation.invariant)
                {
                    shared
                        .clock
                        .run_loop_ms
                        .store(sim.elapsed().as_millis() as u64, Ordering::SeqCst);
                    let at = shared.now();
                    shared.trace.push(
                        at,
                        "oracle",
                        TraceKind::Note {
                            text: format!("VIOLATION {violation}"),
                        },
                    );
                    always_violations.push((at, violation));
                }
            }
        }
    }
    let host_runs = sim.host_runs();
    drop(sim);
    let view = current_view(&shared, input, &schema);
    let quiescence_violations = if sim_error.is_none() {
        check(invariants, &view, Phase::Quiescence)
    } else {
        Vec::new()
    };
    let trace = shared.trace.snapshot();
    let trace_hash = trace.trace_hash();
    RunOutcome {
        trace,
        trace_hash,
        view,
        always_violations,
        quiescence_violations,
        sim_error,
        steps,
        host_runs,
    }
}
