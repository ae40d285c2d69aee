//! Webhook dispatch: moves the events Stripe and Clerk emit into deliveries, delivers each
//! at least once on the service's retry schedule (compressed, see [`super::world`]), applies
//! the dispatcher's fault knobs, and runs `reconcile` once the world is quiet. The stress test
//! (`bench::stress`) drains and signs events with the same functions.

use std::time::Duration;

use super::env::traced;
use super::faults::{Service, REORDER_HOLD_MAX_MS};
use super::net::TurmoilHttp;
use super::shared::WorldShared;
use super::trace::TraceKind;
use super::world::{
    DELIVERIES_MAX, HTTP_PORT, QUIET_MS, RETRY_TIME_COMPRESSION, SERVICE_TIMEOUT, WEBHOOK_TIMEOUT,
};
use crate::app::clients::HttpTransport;
use crate::fakes::clerk::{svix, Clerk};
use crate::fakes::stripe::{webhook, Stripe};
use crate::http::{HttpRequest, Method};
use crate::oracle::DeliveryView;
use crate::sync::{Arc, Ordering};

/// An event a fake emitted, and how many deliveries it needs (one per endpoint that wants it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmittedEvent {
    /// Who emitted it.
    pub service: Service,
    /// `evt_…` or the Svix message id.
    pub event_id: String,
    /// `customer.created`, `organization.created`, …
    pub event_type: String,
    /// The body every delivery carries.
    pub payload: Vec<u8>,
    /// Deliveries it needs: Stripe's endpoints that want its type; one for Clerk.
    pub endpoints: usize,
}

/// The events Stripe emitted since the last call, in order.
pub fn drain_stripe_events(stripe: &mut Stripe) -> Vec<EmittedEvent> {
    let events = stripe.drain_new_events();
    if events.is_empty() {
        return Vec::new();
    }
    let endpoints = stripe.webhook_endpoints();
    events
        .into_iter()
        .map(|event| EmittedEvent {
            service: Service::Stripe,
            endpoints: endpoints.iter().filter(|e| e.wants(&event.event_type)).count(),
            payload: event.payload(),
            event_id: event.id,
            event_type: event.event_type,
        })
        .collect()
}

/// The events Clerk emitted since the last call, in order.
pub fn drain_clerk_events(clerk: &mut Clerk) -> Vec<EmittedEvent> {
    clerk
        .drain_new_events()
        .into_iter()
        .map(|event| EmittedEvent {
            service: Service::Clerk,
            endpoints: 1,
            payload: event.payload_bytes(),
            event_id: event.id,
            event_type: event.event_type,
        })
        .collect()
}

/// A webhook delivery as the service sends it: signed with (Stripe's, Clerk's) secret at
/// `now_secs` (the app turns it into an `AppCall` with [`super::apps::app_call_of`]).
pub fn webhook_request(
    service: Service,
    secrets: (&str, &str),
    event_id: &str,
    now_secs: u64,
    payload: &[u8],
) -> HttpRequest {
    match service {
        Service::Stripe => HttpRequest::new(Method::Post, "/webhooks/stripe")
            .with_header(
                "Stripe-Signature",
                webhook::sign_header(secrets.0, now_secs, payload),
            )
            .with_body(payload.to_vec()),
        Service::Clerk => {
            let mut request = HttpRequest::new(Method::Post, "/webhooks/clerk").with_body(payload.to_vec());
            for (name, value) in svix::webhook_headers(secrets.1, event_id, now_secs, payload) {
                request = request.with_header(name, value);
            }
            request
        }
    }
}

/// The oracle's name for a service.
pub fn oracle_service(service: Service) -> crate::oracle::Service {
    match service {
        Service::Stripe => crate::oracle::Service::Stripe,
        Service::Clerk => crate::oracle::Service::Clerk,
    }
}

/// Delivers one event (to one endpoint) until a 2xx or the schedule gives up.
async fn deliver(
    shared: Arc<WorldShared>,
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
    // Attempts of this delivery made with no fault in effect (what the app alone needed).
    let mut attempts_without_faults: u32 = 0;
    loop {
        attempt += 1;
        let attempt_mark = shared.clock.schedule_mark();
        let faults_before = shared.fault_mark();
        let replica = shared.pick_replica();
        let now = shared.now();
        let request = webhook_request(
            service,
            (
                &shared.prepared.stripe_webhook_secret,
                &shared.prepared.clerk_webhook_secret,
            ),
            &event_id,
            now.unix_secs(),
            &payload,
        );
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
        if !shared.fault_mark().touched_since(faults_before) {
            attempts_without_faults += 1;
        }
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
                    service: oracle_service(service),
                    event_id: event_id.clone(),
                    event_type: event_type.clone(),
                    attempts: 0,
                    delivered: false,
                    given_up: false,
                    attempts_without_faults: 0,
                });
            entry.attempts += 1;
            entry.attempts_without_faults = entry.attempts_without_faults.max(attempts_without_faults);
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
                webhook::next_retry_delay(attempt, since_first_attempt)
            }
            Service::Clerk => svix::attempt_delay(attempt as usize),
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

/// Starts the deliveries of one event to one endpoint (two when a duplicate fault is armed,
/// held back when a delay or reorder fault is).
fn spawn_delivery(
    shared: &Arc<WorldShared>,
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
                delay = delay.max(REORDER_HOLD_MAX_MS / 10);
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
fn dispatch_new_events(shared: &Arc<WorldShared>) -> usize {
    let stripe_events = drain_stripe_events(&mut shared.stripe.lock());
    let clerk_events = drain_clerk_events(&mut shared.clerk.lock());
    let found = stripe_events.len() + clerk_events.len();
    for event in stripe_events.into_iter().chain(clerk_events) {
        shared.push(
            event.service.host(),
            TraceKind::EventEmitted {
                service: event.service.host().into(),
                event_id: event.event_id.clone(),
                event_type: event.event_type.clone(),
            },
        );
        for _ in 0..event.endpoints {
            if shared.deliveries.lock().len() >= DELIVERIES_MAX {
                let text = format!(
                    "delivery of {} ({}) dropped: the run already tracks {DELIVERIES_MAX} deliveries",
                    event.event_id, event.event_type
                );
                shared.note_incomplete("webhooks", text);
            } else {
                spawn_delivery(
                    shared,
                    event.service,
                    event.event_id.clone(),
                    event.event_type.clone(),
                    event.payload.clone(),
                );
            }
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
/// period once every planned fault has played out (a partition healed, a replica back: a
/// real cron keeps running, so it outlives any fault), at most [`RECONCILE_RUNS_MAX`] times.
pub(super) async fn dispatcher(shared: Arc<WorldShared>) {
    let mut reconciled = false;
    let mut reconcile_runs = 0u32;
    let mut reconcile_failed = false;
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
        if reconcile_failed && shared.faults_unsettled.load(Ordering::SeqCst) > 0 {
            continue;
        }
        reconcile_runs += 1;
        let transport = traced(&shared, "cron", "app-1", SERVICE_TIMEOUT);
        let answer = transport
            .send(HttpRequest::new(Method::Post, "/internal/reconcile"))
            .await;
        let succeeded = matches!(&answer, Ok(response) if response.status < 300);
        reconcile_failed = !succeeded;
        reconciled = succeeded || reconcile_runs >= RECONCILE_RUNS_MAX;
    }
}
