//! The in-process runtime: the same app logic against the same fakes, with no network.
//!
//! Every shared object sits behind a [`crate::sync::Mutex`] held only inside synchronous
//! calls, so this runtime runs on tokio (one thread or many) and, under
//! `--cfg racehound_loom`, on loom threads. Interleaving points are explicit: a Stripe request
//! yields between `begin` and `finish` (so a second request can meet the first in flight), and
//! a blocked database statement yields until the model's version changes.

use std::time::Duration;

use crate::app::api::{Db, DbConn, DbError, Env, EnvRng, Outcome, ProcessMemory, SqlState, Stmt};
use crate::app::clients::{ClerkClient, HttpTransport, StripeClient};
use crate::fakes::clerk::Clerk;
use crate::fakes::postgres::{Database, SessionId, Submitted};
use crate::fakes::stripe::{Began, Stripe, DROP_RESPONSE_HEADER};
use crate::http::{HttpRequest, HttpResponse};
use crate::setup::Prepared;
use crate::sync::{Arc, Mutex};
use crate::time::{Clock, ManualClock};

/// Most times a blocked statement is re-submitted before it fails with `57014`.
pub const BLOCKED_RETRIES_MAX: u32 = 10_000;

/// Gives other tasks (or loom threads) a chance to run.
pub async fn yield_point() {
    #[cfg(racehound_loom)]
    loom::thread::yield_now();
    #[cfg(not(racehound_loom))]
    tokio::task::yield_now().await;
}

/// Real-time latency for a stress test: every interleaving point waits a random real
/// duration in `[min, max]` ms, and `Env::sleep` really sleeps (at most `sleep_ms_max`).
///
/// Only for measuring what a plain stress test sees (`racehound bench --ttfc`): runs with it
/// are not reproducible, by design.
#[derive(Debug)]
pub struct RealLatency {
    /// Shortest wait at an interleaving point.
    pub latency_ms_min: u64,
    /// Longest wait at an interleaving point.
    pub latency_ms_max: u64,
    /// Cap on a real `Env::sleep`.
    pub sleep_ms_max: u64,
    rng: Mutex<crate::rng::SimRng>,
}

impl RealLatency {
    /// Waits in `[latency_ms_min, latency_ms_max]`, drawn from a generator seeded with `seed`.
    pub fn new(latency_ms_min: u64, latency_ms_max: u64, sleep_ms_max: u64, seed: u64) -> Self {
        Self {
            latency_ms_min,
            latency_ms_max: latency_ms_max.max(latency_ms_min),
            sleep_ms_max,
            rng: Mutex::new(crate::rng::SimRng::new(seed, "real-latency")),
        }
    }

    #[cfg_attr(racehound_loom, allow(dead_code))]
    fn draw_ms(&self) -> u64 {
        self.rng
            .lock()
            .range_inclusive(self.latency_ms_min, self.latency_ms_max)
    }
}

/// A blocked statement's wait before it is re-submitted: a yield, or 1 ms of real time.
async fn blocked_wait(shared: &Shared) {
    #[cfg(not(racehound_loom))]
    if shared.real_latency.is_some() {
        tokio::time::sleep(Duration::from_millis(1)).await;
        return;
    }
    let _ = shared;
    yield_point().await;
}

/// An interleaving point: a yield, or a real wait when the world has [`RealLatency`].
async fn interleave(shared: &Shared) {
    #[cfg(not(racehound_loom))]
    if let Some(latency) = &shared.real_latency {
        tokio::time::sleep(Duration::from_millis(latency.draw_ms())).await;
        return;
    }
    let _ = shared;
    yield_point().await;
}

/// Most polls [`block_on`] makes before it gives up on a future that never completes.
#[cfg(racehound_loom)]
pub const BLOCK_ON_POLLS_MAX: u32 = 1_000_000;

/// Runs a future to completion on the current loom thread (no tokio under loom): polls it and,
/// whenever it is pending, yields to the other loom threads before polling again. The
/// in-process futures never wait on a waker (their waits are [`yield_point`]s), so this is all
/// the executor they need; loom's own `loom::future` needs a crate feature racehound does not
/// enable.
#[cfg(racehound_loom)]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..BLOCK_ON_POLLS_MAX {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        loom::thread::yield_now();
    }
    panic!("future still pending after {BLOCK_ON_POLLS_MAX} polls (hint: an in-process future waited on something other than yield_point)")
}

/// The shared state of an in-process world: one `Arc` (cheap to clone, and one reference
/// count instead of four for loom to interleave), read through [`SharedWorld`].
#[derive(Debug, Clone)]
pub struct Shared {
    world: Arc<SharedWorld>,
}

/// The fakes and the clock every replica of an in-process world shares.
#[derive(Debug)]
pub struct SharedWorld {
    /// Fake Stripe.
    pub stripe: Mutex<Stripe>,
    /// Fake Clerk.
    pub clerk: Mutex<Clerk>,
    /// Simulated PostgreSQL.
    pub db: Mutex<Database>,
    /// The clock every service reads.
    pub clock: Arc<ManualClock>,
    /// Real-time latency (stress tests only; `None` everywhere else).
    pub real_latency: Option<RealLatency>,
}

impl Shared {
    /// Wraps a prepared world.
    pub fn new(prepared: &Prepared, clock: Arc<ManualClock>) -> Self {
        Self::build(prepared, clock, None)
    }

    /// Like [`Shared::new`], with real-time latency at every interleaving point.
    pub fn with_real_latency(prepared: &Prepared, clock: Arc<ManualClock>, latency: RealLatency) -> Self {
        Self::build(prepared, clock, Some(latency))
    }

    fn build(prepared: &Prepared, clock: Arc<ManualClock>, real_latency: Option<RealLatency>) -> Self {
        Self {
            world: Arc::new(SharedWorld {
                stripe: Mutex::new(prepared.stripe.clone()),
                clerk: Mutex::new(prepared.clerk.clone()),
                db: Mutex::new(prepared.db.clone()),
                clock,
                real_latency,
            }),
        }
    }
}

impl std::ops::Deref for Shared {
    type Target = SharedWorld;

    fn deref(&self) -> &SharedWorld {
        &self.world
    }
}

/// Calls fake Stripe in two phases with a yield in between.
#[derive(Debug, Clone)]
pub struct StripeTransport {
    shared: Shared,
}

impl StripeTransport {
    /// A transport to the shared world's Stripe.
    pub fn new(shared: &Shared) -> Self {
        Self {
            shared: shared.clone(),
        }
    }
}

impl HttpTransport for StripeTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        let began = {
            let now = self.shared.clock.now();
            self.shared.stripe.lock().begin(now, &request)
        };
        let response = match began {
            Began::Respond(response) => response,
            Began::InFlight(pending) => {
                interleave(&self.shared).await;
                let now = self.shared.clock.now();
                self.shared.stripe.lock().finish(now, pending)
            }
        };
        if response.header(DROP_RESPONSE_HEADER).is_some() {
            return Err("response lost after the request was committed".to_string());
        }
        Ok(response)
    }
}

/// Calls fake Clerk (one phase: Clerk has no in-flight semantics to observe).
#[derive(Debug, Clone)]
pub struct ClerkTransport {
    shared: Shared,
}

impl ClerkTransport {
    /// A transport to the shared world's Clerk.
    pub fn new(shared: &Shared) -> Self {
        Self {
            shared: shared.clone(),
        }
    }
}

impl HttpTransport for ClerkTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        interleave(&self.shared).await;
        let response = {
            let now = self.shared.clock.now();
            self.shared.clerk.lock().handle(now, &request)
        };
        if response.header(DROP_RESPONSE_HEADER).is_some() {
            return Err("response lost after the request was committed".to_string());
        }
        Ok(response)
    }
}

/// The simulated PostgreSQL, connected to in process.
#[derive(Debug, Clone)]
pub struct InProcDb {
    shared: Shared,
}

/// One in-process connection; dropping it disconnects (rolling back an open transaction).
#[derive(Debug)]
pub struct InProcConn {
    shared: Shared,
    session: SessionId,
}

impl Db for InProcDb {
    type Conn = InProcConn;

    async fn connect(&self) -> Result<InProcConn, DbError> {
        let session = self.shared.db.lock().connect();
        Ok(InProcConn {
            shared: self.shared.clone(),
            session,
        })
    }
}

impl DbConn for InProcConn {
    async fn execute(&mut self, stmt: Stmt) -> Result<Outcome, DbError> {
        interleave(&self.shared).await;
        for _ in 0..BLOCKED_RETRIES_MAX {
            let step = self.shared.db.lock().execute(self.session, &stmt);
            match step {
                Submitted::Done(result) => return result,
                Submitted::Blocked(_) => blocked_wait(&self.shared).await,
            }
        }
        let cancelled = self.shared.db.lock().cancel_blocked(self.session);
        Err(cancelled.unwrap_or_else(|| {
            DbError::new(SqlState::QueryCanceled, "canceling statement due to lock timeout")
        }))
    }
}

impl Drop for InProcConn {
    fn drop(&mut self) {
        self.shared.db.lock().disconnect(self.session);
    }
}

/// The world's clock as the clients see it (a handle, so that it also works with loom's `Arc`,
/// which cannot coerce to `Arc<dyn Clock>` by itself).
#[derive(Debug)]
struct SharedClock(Arc<ManualClock>);

impl Clock for SharedClock {
    fn now(&self) -> crate::time::SimTime {
        self.0.now()
    }
}

/// An [`Env`] for one simulated replica of an in-process world.
pub struct InProcEnv {
    shared: Shared,
    stripe: StripeClient<StripeTransport>,
    clerk: ClerkClient<ClerkTransport>,
    db: InProcDb,
    replica: String,
    memory: ProcessMemory,
    rng: EnvRng,
    notes: Mutex<Vec<String>>,
}

impl InProcEnv {
    /// An environment for `replica` over the shared world.
    pub fn new(shared: &Shared, prepared: &Prepared, replica: &str) -> Self {
        let clock = crate::arc_dyn!(SharedClock(shared.clock.clone()) => dyn Clock);
        Self {
            shared: shared.clone(),
            stripe: StripeClient::new(
                StripeTransport {
                    shared: shared.clone(),
                },
                prepared.stripe_webhook_secret.clone(),
                clock.clone(),
            ),
            clerk: ClerkClient::new(
                ClerkTransport {
                    shared: shared.clone(),
                },
                prepared.clerk_webhook_secret.clone(),
                clock,
            ),
            db: InProcDb {
                shared: shared.clone(),
            },
            replica: replica.to_string(),
            memory: ProcessMemory::default(),
            rng: EnvRng::new(prepared.seed, &format!("env/{replica}")),
            notes: Mutex::new(Vec::new()),
        }
    }

    /// The notes app code wrote (`Env::note`).
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().clone()
    }
}

impl Env for InProcEnv {
    type Stripe = StripeClient<StripeTransport>;
    type Clerk = ClerkClient<ClerkTransport>;
    type Db = InProcDb;

    fn stripe(&self) -> &Self::Stripe {
        &self.stripe
    }

    fn clerk(&self) -> &Self::Clerk {
        &self.clerk
    }

    fn db(&self) -> &Self::Db {
        &self.db
    }

    fn now(&self) -> crate::time::SimTime {
        self.shared.clock.now()
    }

    async fn sleep(&self, duration: Duration) -> () {
        self.shared.clock.advance(duration);
        #[cfg(not(racehound_loom))]
        if let Some(latency) = &self.shared.real_latency {
            let capped = duration.min(Duration::from_millis(latency.sleep_ms_max));
            tokio::time::sleep(capped).await;
            return;
        }
        yield_point().await;
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
        self.notes.lock().push(text.to_string());
    }
}

#[cfg(all(test, not(racehound_loom)))]
mod tests;
