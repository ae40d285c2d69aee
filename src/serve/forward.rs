//! Webhook forwarding over real HTTP, like `stripe listen --forward-to`: at-least-once, each
//! delivery signed at attempt time, retried on the real schedules (Stripe's exponential back-off
//! for up to 3 days, Svix's 5 s / 5 min / 30 min / 2 h / 5 h / 10 h / 10 h), optionally
//! compressed by `--retry-time-scale`. Bounded: a queue of [`MAX_QUEUED_WEBHOOKS`] deliveries
//! and [`MAX_CONCURRENT_DELIVERIES`] in progress at once.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::client::{send_to_url, HttpUrl};
use super::clock::ServerClock;
use crate::fakes::clerk::svix;
use crate::fakes::stripe::webhook;
use crate::http::{HttpRequest, Method};
use crate::sync::{Arc, AtomicU64, Ordering};

/// Most deliveries waiting for a worker; more are dropped with a warning.
pub const MAX_QUEUED_WEBHOOKS: usize = 10_000;
/// Most deliveries in progress (including those waiting between retries).
pub const MAX_CONCURRENT_DELIVERIES: usize = 256;
/// Longest hold-back a webhook fault may ask for, in milliseconds.
pub const MAX_WEBHOOK_DELAY_MS: u64 = 600_000;
/// How long one attempt may take before it counts as failed.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a delivery is signed and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Stripe-Signature`, Stripe's back-off.
    Stripe,
    /// `svix-id` / `svix-timestamp` / `svix-signature`, Svix's schedule.
    Svix,
}

/// One event to deliver to one URL.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `evt_…` or `msg_…` (the Svix id, the same on every retry).
    pub event_id: String,
    /// The exact body bytes.
    pub payload: Vec<u8>,
    /// Where to.
    pub url: String,
    /// The signing secret.
    pub secret: String,
    /// Signature and retry scheme.
    pub scheme: Scheme,
    /// Held back this long before the first attempt (a webhook fault).
    pub hold_ms: u64,
}

/// Delivery counters.
#[derive(Debug, Default)]
pub struct ForwardStats {
    queued: AtomicU64,
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    gave_up: AtomicU64,
    dropped_queue_full: AtomicU64,
}

impl ForwardStats {
    /// The counters as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "queued": self.queued.load(Ordering::SeqCst),
            "delivered": self.delivered.load(Ordering::SeqCst),
            "failed_attempts": self.failed_attempts.load(Ordering::SeqCst),
            "gave_up": self.gave_up.load(Ordering::SeqCst),
            "dropped_queue_full": self.dropped_queue_full.load(Ordering::SeqCst),
        })
    }

    /// Deliveries answered 2xx so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::SeqCst)
    }
}

/// The sending side of a forwarding worker.
#[derive(Debug, Clone)]
pub struct Forwarder {
    sender: mpsc::Sender<Delivery>,
    stats: Arc<ForwardStats>,
}

impl Forwarder {
    /// Starts the worker; `retry_time_scale` multiplies every retry delay (1.0 = real schedule).
    pub fn start(clock: Arc<ServerClock>, retry_time_scale: f64) -> (Forwarder, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(MAX_QUEUED_WEBHOOKS);
        let stats = Arc::new(ForwardStats::default());
        let worker = tokio::spawn(worker(receiver, clock, retry_time_scale, stats.clone()));
        (Forwarder { sender, stats }, worker)
    }

    /// Queues a delivery; a full queue drops it with a warning (counted in the stats).
    pub fn enqueue(&self, delivery: Delivery) {
        match self.sender.try_send(delivery) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => {
                self.stats.dropped_queue_full.fetch_add(1, Ordering::SeqCst);
                eprintln!(
                    "racehound serve: webhook queue full ({MAX_QUEUED_WEBHOOKS}), event dropped: {error} (hint: is the receiver slow or down?)"
                );
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> &ForwardStats {
        &self.stats
    }
}

async fn worker(
    mut receiver: mpsc::Receiver<Delivery>,
    clock: Arc<ServerClock>,
    scale: f64,
    stats: Arc<ForwardStats>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_DELIVERIES));
    let mut tasks = JoinSet::new();
    while let Some(delivery) = receiver.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        while tasks.try_join_next().is_some() {}
        let (clock, stats) = (clock.clone(), stats.clone());
        tasks.spawn(async move {
            deliver(delivery, &clock, scale, &stats).await;
            drop(permit);
        });
    }
}

/// `delay × scale`, for compressed retry schedules.
pub fn scaled(delay: Duration, scale: f64) -> Duration {
    Duration::try_from_secs_f64(delay.as_secs_f64() * scale).unwrap_or(Duration::ZERO)
}

fn signed_request(delivery: &Delivery, now_unix_secs: u64) -> HttpRequest {
    let request = HttpRequest::new(Method::Post, "/")
        .with_header("Content-Type", "application/json; charset=utf-8")
        .with_body(delivery.payload.clone());
    match delivery.scheme {
        Scheme::Stripe => request
            .with_header("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .with_header(
                "Stripe-Signature",
                webhook::sign_header(&delivery.secret, now_unix_secs, &delivery.payload),
            ),
        Scheme::Svix => {
            let mut request = request.with_header("User-Agent", "Svix-Webhooks/1.0");
            request.headers.extend(svix::webhook_headers(
                &delivery.secret,
                &delivery.event_id,
                now_unix_secs,
                &delivery.payload,
            ));
            request
        }
    }
}

async fn deliver(delivery: Delivery, clock: &ServerClock, scale: f64, stats: &ForwardStats) {
    if delivery.hold_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delivery.hold_ms)).await;
    }
    let url = match HttpUrl::parse(&delivery.url) {
        Ok(url) => url,
        Err(error) => {
            stats.gave_up.fetch_add(1, Ordering::SeqCst);
            eprintln!("racehound serve: cannot deliver {}: {error}", delivery.event_id);
            return;
        }
    };
    let mut failed_attempts: u32 = 0;
    let mut schedule_elapsed = Duration::ZERO;
    loop {
        // Signed at the real now (the verifier's), not the business clock (see `signing_now`).
        let request = signed_request(&delivery, clock.signing_now().unix_secs());
        let outcome = send_to_url(&url, request, ATTEMPT_TIMEOUT).await;
        let why = match outcome {
            Ok(response) if response.is_success() => {
                stats.delivered.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Ok(response) => format!("status {}", response.status),
            Err(error) => error.to_string(),
        };
        failed_attempts = failed_attempts.saturating_add(1);
        stats.failed_attempts.fetch_add(1, Ordering::SeqCst);
        let next = match delivery.scheme {
            Scheme::Stripe => webhook::next_retry_delay(failed_attempts, schedule_elapsed),
            Scheme::Svix => svix::attempt_delay(failed_attempts as usize),
        };
        let Some(delay) = next else {
            stats.gave_up.fetch_add(1, Ordering::SeqCst);
            eprintln!(
                "racehound serve: gave up on {} to {} after {failed_attempts} attempts ({why})",
                delivery.event_id, delivery.url
            );
            return;
        };
        eprintln!(
            "racehound serve: delivery of {} to {} failed ({why}); retry in {:?}",
            delivery.event_id,
            delivery.url,
            scaled(delay, scale)
        );
        schedule_elapsed = schedule_elapsed.saturating_add(delay);
        tokio::time::sleep(scaled(delay, scale)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_requests_verify() {
        let delivery = Delivery {
            event_id: "msg_1".into(),
            payload: br#"{"type":"user.created"}"#.to_vec(),
            url: "http://127.0.0.1:1/".into(),
            secret: svix::encode_secret(b"0123456789abcdef"),
            scheme: Scheme::Svix,
            hold_ms: 0,
        };
        let request = signed_request(&delivery, 1_800_000_000);
        assert_eq!(
            svix::verify_request(&delivery.secret, &request, 1_800_000_000),
            Ok(())
        );
        let stripe = Delivery {
            scheme: Scheme::Stripe,
            secret: "whsec_abc".into(),
            ..delivery
        };
        let request = signed_request(&stripe, 1_800_000_000);
        let header = request.header("Stripe-Signature").unwrap_or("");
        assert_eq!(
            webhook::verify(&stripe.payload, header, "whsec_abc", 1_800_000_000, 300),
            Ok(())
        );
    }

    #[test]
    fn scale_compresses_delays() {
        assert_eq!(scaled(Duration::from_secs(60), 0.001), Duration::from_millis(60));
        assert_eq!(scaled(Duration::from_secs(60), f64::NAN), Duration::ZERO);
    }
}
