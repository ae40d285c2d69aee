//! The client traits app logic is written against: [`StripeApi`], [`ClerkApi`], [`Db`], and
//! the [`Env`] that bundles them with a clock and the replica's process memory.
//!
//! Every runtime implements these: the turmoil world over simulated HTTP and a framed DB
//! protocol, the loom models in process, and real services in production-like tests. Futures
//! are `Send` so the same flows also run on a multi-threaded tokio runtime.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::sql::{ColumnType, DbError, Outcome, Row, SqlState, Stmt, TableSchema, Value};
use crate::time::SimTime;

/// An error from Stripe as the official SDKs surface it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StripeError {
    /// Stripe answered with an error envelope.
    Api {
        /// HTTP status.
        status: u16,
        /// `error.type`, e.g. `invalid_request_error`, `idempotency_error`, `api_error`.
        error_type: String,
        /// `error.code`, e.g. `resource_missing`, `idempotency_key_in_use`, `lock_timeout`.
        code: Option<String>,
        /// `error.message`.
        message: String,
    },
    /// No response (timeout, connection lost): the request may or may not have happened.
    Unknown {
        /// What went wrong on the way.
        reason: String,
    },
}

impl std::fmt::Display for StripeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StripeError::Api {
                status,
                error_type,
                code,
                message,
            } => {
                write!(f, "stripe {status} {error_type}")?;
                if let Some(code) = code {
                    write!(f, " ({code})")?;
                }
                write!(f, ": {message}")
            }
            StripeError::Unknown { reason } => write!(f, "stripe outcome unknown: {reason}"),
        }
    }
}

impl std::error::Error for StripeError {}

/// An error from Clerk's Backend API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClerkError {
    /// Clerk answered with an error envelope.
    Api {
        /// HTTP status.
        status: u16,
        /// `errors[0].code`, e.g. `form_identifier_exists`, `resource_not_found`.
        code: String,
        /// `errors[0].message`.
        message: String,
    },
    /// No response (timeout, connection lost): the request may or may not have happened.
    Unknown {
        /// What went wrong on the way.
        reason: String,
    },
}

impl std::fmt::Display for ClerkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClerkError::Api {
                status,
                code,
                message,
            } => write!(f, "clerk {status} {code}: {message}"),
            ClerkError::Unknown { reason } => write!(f, "clerk outcome unknown: {reason}"),
        }
    }
}

impl std::error::Error for ClerkError {}

/// A Stripe customer as the app sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// `cus_…`
    pub id: String,
    /// The email, if set.
    pub email: Option<String>,
    /// String metadata.
    pub metadata: BTreeMap<String, String>,
    /// Whether the customer was deleted.
    pub deleted: bool,
}

/// Parameters of `POST /v1/customers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerCreate {
    /// Customer email (not unique in Stripe).
    pub email: Option<String>,
    /// Customer name.
    pub name: Option<String>,
    /// String metadata, e.g. `user_id`.
    pub metadata: BTreeMap<String, String>,
}

/// Parameters of `POST /v1/checkout/sessions` (subscription mode, one price).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSessionCreate {
    /// Existing customer to attach, if any.
    pub customer: Option<String>,
    /// Email to prefill when no customer is passed (does not dedupe).
    pub customer_email: Option<String>,
    /// The price to subscribe to.
    pub price: String,
    /// A promotion code id (`promo_…`) to apply as a discount.
    pub promotion_code: Option<String>,
    /// A coupon id to apply as a discount.
    pub coupon: Option<String>,
    /// Let the customer type a code on the Checkout page (exclusive with discounts).
    pub allow_promotion_codes: bool,
    /// Your own reference, e.g. the user id.
    pub client_reference_id: Option<String>,
    /// String metadata.
    pub metadata: BTreeMap<String, String>,
}

/// A Checkout Session as the app sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSession {
    /// `cs_test_…`
    pub id: String,
    /// The attached customer, if any.
    pub customer: Option<String>,
    /// `open`, `complete` or `expired`.
    pub status: String,
    /// The subscription once completed.
    pub subscription: Option<String>,
}

/// A Stripe subscription as the app sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `sub_…`
    pub id: String,
    /// The customer it belongs to.
    pub customer: String,
    /// `active`, `canceled`, …
    pub status: String,
    /// String metadata.
    pub metadata: BTreeMap<String, String>,
}

/// A verified Stripe event as the app sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StripeEvent {
    /// `evt_…`: the dedupe key.
    pub id: String,
    /// e.g. `checkout.session.completed`.
    pub event_type: String,
    /// `data.object`.
    pub object: serde_json::Value,
}

/// The Stripe calls the flows make.
pub trait StripeApi: Send + Sync {
    /// `POST /v1/customers`, with an `Idempotency-Key` if given.
    fn create_customer(
        &self,
        params: CustomerCreate,
        idempotency_key: Option<String>,
    ) -> impl Future<Output = Result<Customer, StripeError>> + Send;
    /// `GET /v1/customers/{id}` (deleted customers come back with `deleted: true`).
    fn retrieve_customer(&self, id: String) -> impl Future<Output = Result<Customer, StripeError>> + Send;
    /// `POST /v1/customers/{id}` with metadata (merged).
    fn update_customer_metadata(
        &self,
        id: String,
        metadata: BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Customer, StripeError>> + Send;
    /// `DELETE /v1/customers/{id}`.
    fn delete_customer(&self, id: String) -> impl Future<Output = Result<Customer, StripeError>> + Send;
    /// `GET /v1/customers?email=` (strongly consistent).
    fn list_customers_by_email(
        &self,
        email: String,
    ) -> impl Future<Output = Result<Vec<Customer>, StripeError>> + Send;
    /// `GET /v1/customers/search?query=` (lags behind writes).
    fn search_customers(
        &self,
        query: String,
    ) -> impl Future<Output = Result<Vec<Customer>, StripeError>> + Send;
    /// `POST /v1/checkout/sessions`, with an `Idempotency-Key` if given.
    fn create_checkout_session(
        &self,
        params: CheckoutSessionCreate,
        idempotency_key: Option<String>,
    ) -> impl Future<Output = Result<CheckoutSession, StripeError>> + Send;
    /// `GET /v1/subscriptions/{id}`.
    fn retrieve_subscription(
        &self,
        id: String,
    ) -> impl Future<Output = Result<Subscription, StripeError>> + Send;
    /// Verifies a webhook's `Stripe-Signature` with the endpoint secret and parses the event.
    fn verify_webhook(&self, payload: &[u8], signature_header: &str) -> Result<StripeEvent, String>;
}

/// A Clerk user as the app sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClerkUser {
    /// `user_…`
    pub id: String,
    /// Primary email.
    pub email: Option<String>,
    /// `public_metadata`.
    pub public_metadata: serde_json::Value,
    /// `private_metadata`.
    pub private_metadata: serde_json::Value,
}

/// Parameters of `POST /v1/organizations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrgCreate {
    /// Display name (not unique).
    pub name: String,
    /// The creating user (becomes admin).
    pub created_by: String,
    /// Slug (unique per instance; 422 when taken).
    pub slug: Option<String>,
    /// `public_metadata`, e.g. `{"plan": "team"}`.
    pub public_metadata: serde_json::Value,
    /// `private_metadata`.
    pub private_metadata: serde_json::Value,
}

/// A Clerk organization as the app sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClerkOrg {
    /// `org_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Slug.
    pub slug: Option<String>,
    /// `public_metadata`.
    pub public_metadata: serde_json::Value,
}

/// A verified Clerk (Svix) webhook as the app sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClerkEvent {
    /// `svix-id`: the dedupe key, the same on every retry.
    pub svix_id: String,
    /// e.g. `subscription.created`.
    pub event_type: String,
    /// `data`.
    pub data: serde_json::Value,
}

/// The Clerk calls the flows make.
pub trait ClerkApi: Send + Sync {
    /// `GET /v1/users/{id}`.
    fn get_user(&self, id: String) -> impl Future<Output = Result<ClerkUser, ClerkError>> + Send;
    /// `PATCH /v1/users/{id}/metadata`: deep merge, last writer wins, no compare-and-set.
    fn update_user_metadata(
        &self,
        id: String,
        public_metadata: Option<serde_json::Value>,
        private_metadata: Option<serde_json::Value>,
    ) -> impl Future<Output = Result<ClerkUser, ClerkError>> + Send;
    /// `POST /v1/organizations` (no idempotency key exists).
    fn create_organization(
        &self,
        params: OrgCreate,
    ) -> impl Future<Output = Result<ClerkOrg, ClerkError>> + Send;
    /// `GET /v1/organizations/{id_or_slug}`; `Ok(None)` on 404.
    fn get_organization(
        &self,
        id_or_slug: String,
    ) -> impl Future<Output = Result<Option<ClerkOrg>, ClerkError>> + Send;
    /// `DELETE /v1/organizations/{id}`.
    fn delete_organization(&self, id: String) -> impl Future<Output = Result<(), ClerkError>> + Send;
    /// `GET /v1/users/{id}/organization_memberships`: the user's orgs.
    fn list_user_organizations(
        &self,
        user_id: String,
    ) -> impl Future<Output = Result<Vec<ClerkOrg>, ClerkError>> + Send;
    /// Verifies a Svix-signed webhook and parses it.
    fn verify_webhook(
        &self,
        svix_id: &str,
        svix_timestamp: &str,
        svix_signature: &str,
        payload: &[u8],
    ) -> Result<ClerkEvent, String>;
}

/// One database connection: statements run in order; dropping it drops the connection
/// (rolling back an open transaction).
pub trait DbConn: Send {
    /// Runs one statement, waiting (as PostgreSQL would) while it is blocked on a lock.
    fn execute(&mut self, stmt: Stmt) -> impl Future<Output = Result<Outcome, DbError>> + Send;
}

/// A database the app connects to.
pub trait Db: Send + Sync {
    /// The connection type.
    type Conn: DbConn;
    /// Opens a connection.
    fn connect(&self) -> impl Future<Output = Result<Self::Conn, DbError>> + Send;
}

/// A replica's in-process memory: what an app keeps in a global, a cache or a map. Lost on
/// crash and never shared between replicas — exactly why in-process fixes fail.
pub type ProcessMemory = crate::sync::Mutex<BTreeMap<String, String>>;

/// A seeded random number generator for app code (request ids, jitter, random keys): in the
/// simulated world it derives from the run's seed, the replica and its restart count, so a
/// run that draws from it still replays exactly.
///
/// Use it wherever real code would call `uuid()` or `Math.random()`: OS randomness would make
/// a run impossible to replay.
#[derive(Debug)]
pub struct EnvRng(crate::sync::Mutex<crate::rng::SimRng>);

impl Default for EnvRng {
    fn default() -> Self {
        Self::new(0, "env")
    }
}

impl EnvRng {
    /// A generator for `seed`, separated into independent `stream`s by name.
    pub fn new(seed: u64, stream: &str) -> Self {
        Self(crate::sync::Mutex::new(crate::rng::SimRng::new(seed, stream)))
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        self.0.lock().next_u64()
    }

    /// A value in `[lo, hi]` (inclusive); `lo` when `hi <= lo`.
    pub fn range_inclusive(&self, lo: u64, hi: u64) -> u64 {
        self.0.lock().range_inclusive(lo, hi)
    }

    /// True with probability `p` (clamped to [0, 1]).
    pub fn chance(&self, p: f64) -> bool {
        self.0.lock().chance(p)
    }

    /// A random identifier like `{prefix}_` and 32 hex digits (what `uuid()` gives real code).
    pub fn token(&self, prefix: &str) -> String {
        let mut rng = self.0.lock();
        format!("{prefix}_{:016x}{:016x}", rng.next_u64(), rng.next_u64())
    }
}

/// Everything app logic may touch.
pub trait Env: Send + Sync {
    /// The Stripe client.
    type Stripe: StripeApi;
    /// The Clerk client.
    type Clerk: ClerkApi;
    /// The database.
    type Db: Db;
    /// The Stripe client.
    fn stripe(&self) -> &Self::Stripe;
    /// The Clerk client.
    fn clerk(&self) -> &Self::Clerk;
    /// The database.
    fn db(&self) -> &Self::Db;
    /// Simulated now.
    fn now(&self) -> SimTime;
    /// Sleeps for simulated time (for backoff and polling).
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
    /// The replica this code runs on, e.g. `app-1`.
    fn replica(&self) -> &str;
    /// This replica's process memory (lost on crash, not shared).
    fn memory(&self) -> &ProcessMemory;
    /// This replica's seeded random number generator (a fresh stream after each restart).
    fn rng(&self) -> &EnvRng;
    /// Records a note in the trace (what a log line would say).
    fn note(&self, text: &str);
}

/// A request to the app: a browser call, a webhook delivery, or a background job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AppCall {
    /// The auth callback after Clerk created the user.
    Signup {
        /// Clerk user id.
        user_id: String,
    },
    /// Start checkout for a price (ensures the Stripe customer first).
    Checkout {
        /// Clerk user id.
        user_id: String,
        /// Price id.
        price: String,
        /// Promotion code typed by the user, if any.
        promotion_code: Option<String>,
    },
    /// Re-create the Checkout Session with a coupon typed while the first was in flight.
    ApplyCoupon {
        /// Clerk user id.
        user_id: String,
        /// Price id.
        price: String,
        /// The promotion code.
        promotion_code: String,
    },
    /// `/api/clerk/create-team-org` after signup with a team plan.
    CreateTeamOrg {
        /// Clerk user id.
        user_id: String,
        /// Plan slug.
        plan: String,
    },
    /// A Stripe webhook delivery.
    StripeWebhook {
        /// Raw body.
        payload: Vec<u8>,
        /// `Stripe-Signature` header.
        signature: String,
    },
    /// A Clerk (Svix) webhook delivery.
    ClerkWebhook {
        /// `svix-id`.
        svix_id: String,
        /// `svix-timestamp`.
        svix_timestamp: String,
        /// `svix-signature`.
        svix_signature: String,
        /// Raw body.
        payload: Vec<u8>,
    },
    /// The periodic repair sweep.
    Reconcile,
}

/// The app's HTTP answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppReply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: serde_json::Value,
}

impl AppReply {
    /// A 200 with a JSON body.
    pub fn ok(body: serde_json::Value) -> Self {
        Self { status: 200, body }
    }

    /// An error status with `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: serde_json::json!({ "error": message.into() }),
        }
    }
}

/// A user that exists before the scenario starts (in Clerk, and in the app's tables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSpec {
    /// Clerk user id.
    pub user_id: String,
    /// Email (unique per user; the oracle groups Stripe customers by it).
    pub email: String,
    /// Tenant id in the app's tables (seed 004 keys customers by tenant).
    pub tenant_id: i64,
}

/// An implementation of the app: one strategy from the catalogue, or the user's own.
pub trait AppLogic: Send + Sync + 'static {
    /// Stable id, e.g. `checkout.naive`.
    fn id(&self) -> &str;
    /// The tables this implementation needs, as its seed document defines them.
    fn schema(&self) -> Vec<TableSchema>;
    /// Rows that exist before the scenario starts for these users (e.g. `tenants`).
    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt>;
    /// What the tables mean to the oracle's outcome invariants; nothing by default (they
    /// are then not applicable to this app).
    fn tables(&self) -> crate::vocabulary::TableMeanings {
        crate::vocabulary::TableMeanings::default()
    }
    /// Handles one request on one replica.
    fn handle<E: Env>(&self, env: &E, call: AppCall) -> impl Future<Output = AppReply> + Send;
}

#[cfg(test)]
mod env_rng_tests {
    use super::EnvRng;

    #[test]
    fn env_rng_is_a_function_of_seed_and_stream() {
        let (a, b) = (EnvRng::new(7, "env/app-1/0"), EnvRng::new(7, "env/app-1/0"));
        let draws: Vec<u64> = (0..50).map(|_| a.next_u64()).collect();
        assert_eq!(draws, (0..50).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(
            EnvRng::new(7, "env/app-1/1").next_u64(),
            EnvRng::new(7, "env/app-1/0").next_u64()
        );
        assert_ne!(
            EnvRng::new(8, "env/app-1/0").next_u64(),
            EnvRng::new(7, "env/app-1/0").next_u64()
        );
        let token = EnvRng::new(1, "t").token("idem");
        assert!(
            token.starts_with("idem_") && token.len() == "idem_".len() + 32,
            "{token}"
        );
        assert!((3..=5).contains(&a.range_inclusive(3, 5)));
    }
}
