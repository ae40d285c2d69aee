//! [`PgEnv`]: an [`Env`] whose database is real PostgreSQL and whose Stripe and Clerk are the
//! in-process fakes, so the flows run with real concurrency on a multi-threaded runtime.

use std::time::Duration;

use crate::app::api::{Env, EnvRng, ProcessMemory};
use crate::app::clients::{ClerkClient, StripeClient};
use crate::inproc::{yield_point, ClerkTransport, Shared, StripeTransport};
use crate::setup::Prepared;
use crate::sync::{Arc, Mutex};
use crate::time::{Clock, SimTime};

use super::PgDb;

/// Most notes one environment keeps (older ones are dropped).
pub const NOTES_MAX: usize = 10_000;

/// `Env::sleep(d)` advances the simulated clock by `d` and also waits `d / SLEEP_REAL_DIVISOR`
/// of real time: with real threads, a backoff that takes no real time lets a retry meet the
/// same in-flight request again and again (e.g. Stripe's `409 idempotency_key_in_use`), which
/// a real backoff would not.
pub const SLEEP_REAL_DIVISOR: u32 = 20;

/// An [`Env`] for one replica: real PostgreSQL through `db`, fake Stripe and Clerk from `shared`.
pub struct PgEnv {
    shared: Shared,
    stripe: StripeClient<StripeTransport>,
    clerk: ClerkClient<ClerkTransport>,
    db: PgDb,
    replica: String,
    memory: ProcessMemory,
    rng: EnvRng,
    notes: Mutex<Vec<String>>,
}

impl PgEnv {
    /// An environment for `replica` over the shared fakes and the real database `db`.
    pub fn new(shared: &Shared, prepared: &Prepared, db: PgDb, replica: &str) -> Self {
        let clock: Arc<dyn Clock> = shared.clock.clone();
        Self {
            shared: shared.clone(),
            stripe: StripeClient::new(
                StripeTransport::new(shared),
                prepared.stripe_webhook_secret.clone(),
                clock.clone(),
            ),
            clerk: ClerkClient::new(
                ClerkTransport::new(shared),
                prepared.clerk_webhook_secret.clone(),
                clock,
            ),
            db,
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

impl Env for PgEnv {
    type Stripe = StripeClient<StripeTransport>;
    type Clerk = ClerkClient<ClerkTransport>;
    type Db = PgDb;

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
        self.shared.clock.now()
    }

    async fn sleep(&self, duration: Duration) {
        self.shared.clock.advance(duration);
        yield_point().await;
        tokio::time::sleep(duration / SLEEP_REAL_DIVISOR).await;
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
        let mut notes = self.notes.lock();
        if notes.len() >= NOTES_MAX {
            notes.remove(0);
        }
        notes.push(text.to_string());
    }
}
