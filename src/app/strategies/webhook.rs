//! Seed 003 (`../shared/seeds/003_*.txt`, "DEBT-042: Race Condition in Stripe Customer
//! Concurrent Upsert"): a Stripe webhook controller that records each event in
//! `stripe_events` and maps user ↔ Stripe customer in `stripe_customers` with
//! `stripeCustomers.insert()`, which "can throw CONFLICT if: 1. Two concurrent webhook events
//! attempt to insert the same `stripeCustomerId` 2. Or the same `userId` is associated with
//! different `stripeCustomerId` values", and the four resolutions the seed lists.
//!
//! Readings shared by the family:
//! - The repository's `insert()` is `INSERT … ON CONFLICT DO NOTHING RETURNING *` (resolution
//!   2 says "instead of ON CONFLICT DO NOTHING") and throws `CONFLICT` when no row comes back.
//!   The current controller calls it for every event that carries a mapping, with no lookup
//!   first ("the error is caught and the webhook is effectively retried, but without backoff or
//!   coordination"), so any second event for a mapped customer conflicts. The serializing
//!   resolutions (advisory lock, per-customer queue) serialize a lookup
//!   (`findByStripeCustomerId`) and the insert — serializing a bare insert would change nothing.
//! - Events that carry both ids: `customer.created` (`id`, `metadata.user_id`),
//!   `checkout.session.completed` (`customer`, `client_reference_id`),
//!   `customer.subscription.*` (`customer`, `metadata.user_id` when present). Others are
//!   recorded and acknowledged.
//! - The mapping is written only by webhooks; checkout (outside the seed) reads it, and when
//!   it is missing creates a customer with `metadata.user_id` and no idempotency key.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::app::api::{
    AppCall, AppLogic, AppReply, ClerkApi, ColumnType, CustomerCreate, Db, DbConn, Env, ProcessMemory, Stmt,
    StripeApi, StripeEvent, TableSchema, UserSpec,
};
use crate::app::kit::{
    checkout_args, create_session, first_row, fnv1a, ignored, reply, text_col, unsupported, verify_stripe,
    AppFailure, POLL_ATTEMPTS_MAX,
};
use crate::vocabulary::{Service, TableMeanings};

/// `webhook.insert_rethrow` — the seed's current controller.
///
/// "`catch (error) { await stripeEvents.markFailed(event.eventId, toErrorMessage(error));
/// throw error; // Stripe will retry }`": a `CONFLICT` marks the event failed and answers 5xx.
/// The mapping already stored (by an earlier event for the same customer, or for another
/// customer of the same user) conflicts again on every redelivery: "Retry storms".
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookInsertRethrow;

/// `webhook.advisory_lock` — seed 003 resolution 1.
///
/// "Use Postgres advisory locks per customer to serialize processing": `BEGIN;
/// pg_advisory_xact_lock(hash(stripe_customer_id))`, then the lookup and the insert in the same
/// transaction, `COMMIT`. Failures are handled as in `webhook.insert_rethrow`. The lock is per
/// Stripe customer, so it serializes case 1 but not case 2 (two customers, one user).
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookAdvisoryLock;

/// `webhook.on_conflict_update` — seed 003 resolution 2.
///
/// "Use `ON CONFLICT DO UPDATE` instead of `ON CONFLICT DO NOTHING`": `INSERT … ON CONFLICT
/// (user_id) DO UPDATE SET stripe_customer_id = EXCLUDED.stripe_customer_id`. Never conflicts,
/// but the last writer wins: a user can be remapped to another customer, orphaning the first.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookOnConflictUpdate;

/// `webhook.per_customer_queue` — seed 003 resolution 3.
///
/// "Process webhook events per customer sequentially (requires infrastructure changes)",
/// built without the infrastructure: an in-process queue per customer in the replica's memory
/// (`env.memory()`), a busy marker that later events wait on (50 ms polls, at most
/// [`POLL_ATTEMPTS_MAX`], then 503). Another replica does not see the marker.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookPerCustomerQueue;

/// `webhook.idempotent_upsert` — seed 003 resolution 4 (the seed's MVP choice).
///
/// "Modify `insert()` to be truly idempotent by ignoring conflicts if the data matches": on
/// `ON CONFLICT DO NOTHING` returning nothing, read the row holding the customer or the user;
/// if it maps the same user to the same customer, it is not an error; otherwise `CONFLICT`
/// as before.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookIdempotentUpsert;

/// Which seed-003 mapping write runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    InsertRethrow,
    AdvisoryLock,
    OnConflictUpdate,
    PerCustomerQueue,
    IdempotentUpsert,
}

fn stripe_events_table() -> TableSchema {
    TableSchema::new("stripe_events")
        .column("event_id", ColumnType::Text)
        .column("event_type", ColumnType::Text)
        .column("status", ColumnType::Text)
        .nullable("error", ColumnType::Text)
        .primary_key(&["event_id"])
}

fn stripe_customers_table() -> TableSchema {
    TableSchema::new("stripe_customers")
        .column("stripe_customer_id", ColumnType::Text)
        .column("user_id", ColumnType::Text)
        .primary_key(&["stripe_customer_id"])
        .unique(&["user_id"])
}

/// The `(stripe_customer_id, user_id)` pair an event carries, if it carries both.
fn mapping_of(event: &StripeEvent) -> Option<(String, String)> {
    let obj = &event.object;
    let text = |pointer: &str| obj.pointer(pointer).and_then(|v| v.as_str()).map(str::to_string);
    let (customer, user) = match event.event_type.as_str() {
        "customer.created" => (text("/id"), text("/metadata/user_id")),
        "checkout.session.completed" => (
            text("/customer"),
            text("/client_reference_id").or_else(|| text("/metadata/user_id")),
        ),
        t if t.starts_with("customer.subscription.") => (text("/customer"), text("/metadata/user_id")),
        _ => (None, None),
    };
    Some((customer?, user?))
}

fn conflict(customer: &str, user: &str) -> AppFailure {
    AppFailure::Other(format!(
        "CONFLICT: stripe customer {customer} / user {user} already mapped"
    ))
}

fn mapping_insert(customer: &str, user: &str) -> Stmt {
    Stmt::insert(
        "stripe_customers",
        &[("stripe_customer_id", customer.into()), ("user_id", user.into())],
    )
}

/// The mapping write: `insert()` (after `findByStripeCustomerId` in the serializing modes).
async fn insert_mapping<C: DbConn>(
    conn: &mut C,
    customer: &str,
    user: &str,
    mode: Mapping,
) -> Result<(), AppFailure> {
    if matches!(mode, Mapping::AdvisoryLock | Mapping::PerCustomerQueue) {
        let found = conn
            .execute(Stmt::select("stripe_customers").eq("stripe_customer_id", customer))
            .await?;
        if !found.rows.is_empty() {
            return Ok(());
        }
    }
    match mode {
        Mapping::OnConflictUpdate => {
            conn.execute(
                mapping_insert(customer, user)
                    .on_conflict_update_excluded(&["user_id"], &["stripe_customer_id"]),
            )
            .await?;
            Ok(())
        }
        Mapping::IdempotentUpsert => {
            let inserted = conn
                .execute(mapping_insert(customer, user).on_conflict_do_nothing(&[]))
                .await?;
            if inserted.affected == 1 {
                return Ok(());
            }
            for (column, value) in [("stripe_customer_id", customer), ("user_id", user)] {
                let row = conn
                    .execute(Stmt::select("stripe_customers").eq(column, value))
                    .await?;
                let Some(row) = first_row(&row) else { continue };
                let same = text_col(row, "stripe_customer_id").as_deref() == Some(customer)
                    && text_col(row, "user_id").as_deref() == Some(user);
                if !same {
                    return Err(conflict(customer, user));
                }
            }
            Ok(())
        }
        Mapping::InsertRethrow | Mapping::AdvisoryLock | Mapping::PerCustomerQueue => {
            let inserted = conn
                .execute(mapping_insert(customer, user).on_conflict_do_nothing(&[]))
                .await?;
            if inserted.affected == 0 {
                return Err(conflict(customer, user));
            }
            Ok(())
        }
    }
}

/// The advisory-lock key of a customer.
fn lock_key(customer: &str) -> i64 {
    i64::from_ne_bytes(fnv1a(customer.as_bytes()).to_ne_bytes())
}

/// A customer's in-process queue slot: held while one event for it is processed, released
/// on drop (also when the handler is cancelled), lost with the process on a crash.
struct QueueSlot<'a> {
    memory: &'a ProcessMemory,
    key: String,
}

impl<'a> QueueSlot<'a> {
    /// Waits (50 ms polls, at most [`POLL_ATTEMPTS_MAX`]) for the customer's slot.
    async fn acquire<E: Env>(env: &'a E, customer: &str) -> Option<QueueSlot<'a>> {
        let key = format!("webhook_queue:{customer}");
        for _poll in 0..POLL_ATTEMPTS_MAX {
            let acquired = {
                let mut memory = env.memory().lock();
                if memory.contains_key(&key) {
                    false
                } else {
                    memory.insert(key.clone(), "busy".to_string());
                    true
                }
            };
            if acquired {
                return Some(QueueSlot {
                    memory: env.memory(),
                    key,
                });
            }
            env.sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.memory.lock().remove(&self.key);
    }
}

async fn write_mapping<E: Env>(env: &E, customer: &str, user: &str, mode: Mapping) -> Result<(), AppFailure> {
    let mut conn = env.db().connect().await?;
    match mode {
        Mapping::AdvisoryLock => {
            conn.execute(Stmt::Begin).await?;
            conn.execute(Stmt::AdvisoryLock {
                key: lock_key(customer),
                scope: crate::sql::LockScope::Transaction,
            })
            .await?;
            let result = insert_mapping(&mut conn, customer, user, mode).await;
            // On error the transaction is aborted; COMMIT rolls it back and releases the lock.
            conn.execute(Stmt::Commit).await?;
            result
        }
        Mapping::PerCustomerQueue => {
            let Some(_slot) = QueueSlot::acquire(env, customer).await else {
                return Err(AppFailure::Other(format!(
                    "queue for {customer} still busy after {POLL_ATTEMPTS_MAX} polls"
                )));
            };
            insert_mapping(&mut conn, customer, user, mode).await
        }
        _ => insert_mapping(&mut conn, customer, user, mode).await,
    }
}

async fn handle_event<E: Env>(env: &E, payload: &[u8], signature: &str, mode: Mapping) -> AppReply {
    let event = match verify_stripe(env, payload, signature) {
        Ok(event) => event,
        Err(reply) => return reply,
    };
    let outcome: Result<serde_json::Value, AppFailure> = async {
        let mut conn = env.db().connect().await?;
        let seen = conn
            .execute(Stmt::select("stripe_events").eq("event_id", event.id.as_str()))
            .await?;
        if first_row(&seen).and_then(|r| text_col(r, "status")).as_deref() == Some("processed") {
            return Ok(serde_json::json!({ "duplicate": event.id }));
        }
        conn.execute(
            Stmt::insert(
                "stripe_events",
                &[
                    ("event_id", event.id.as_str().into()),
                    ("event_type", event.event_type.as_str().into()),
                    ("status", "processing".into()),
                ],
            )
            .on_conflict_update_excluded(&["event_id"], &["status"]),
        )
        .await?;
        let handled = match mapping_of(&event) {
            Some((customer, user)) => write_mapping(env, &customer, &user, mode).await,
            None => Ok(()),
        };
        match handled {
            Ok(()) => {
                conn.execute(
                    Stmt::update("stripe_events", &[("status", "processed".into())])
                        .eq("event_id", event.id.as_str()),
                )
                .await?;
                Ok(serde_json::json!({ "processed": event.id }))
            }
            Err(failure) => {
                // stripeEvents.markFailed(event.eventId, toErrorMessage(error)); throw error;
                conn.execute(
                    Stmt::update(
                        "stripe_events",
                        &[
                            ("status", "failed".into()),
                            ("error", format!("{failure:?}").into()),
                        ],
                    )
                    .eq("event_id", event.id.as_str()),
                )
                .await?;
                Err(failure)
            }
        }
    }
    .await;
    reply(outcome)
}

/// Checkout (outside the seed): use the mapped customer, or create one tagged with the user.
async fn checkout<E: Env>(env: &E, user_id: &str, price: &str, coupon: Option<&str>) -> AppReply {
    reply(
        async {
            let mut conn = env.db().connect().await?;
            let found = conn
                .execute(Stmt::select("stripe_customers").eq("user_id", user_id))
                .await?;
            let customer = match first_row(&found).and_then(|r| text_col(r, "stripe_customer_id")) {
                Some(id) => id,
                None => {
                    let user = env.clerk().get_user(user_id.to_string()).await?;
                    let params = CustomerCreate {
                        email: user.email,
                        name: None,
                        metadata: BTreeMap::from([("user_id".to_string(), user_id.to_string())]),
                    };
                    env.stripe().create_customer(params, None).await?.id
                }
            };
            create_session(env, &customer, user_id, price, coupon).await
        }
        .await,
    )
}

async fn handle_003<E: Env>(env: &E, call: AppCall, mode: Mapping) -> AppReply {
    if let Some((user_id, price, coupon)) = checkout_args(&call) {
        return checkout(env, &user_id, &price, coupon.as_deref()).await;
    }
    match call {
        AppCall::StripeWebhook { payload, signature } => handle_event(env, &payload, &signature, mode).await,
        AppCall::ClerkWebhook { .. } | AppCall::Reconcile => ignored(),
        other => unsupported(&other),
    }
}

macro_rules! seed003_strategy {
    ($ty:ty, $id:literal, $mode:expr) => {
        impl AppLogic for $ty {
            fn id(&self) -> &str {
                $id
            }

            fn schema(&self) -> Vec<TableSchema> {
                vec![stripe_events_table(), stripe_customers_table()]
            }

            fn seed_rows(&self, _users: &[UserSpec]) -> Vec<Stmt> {
                Vec::new()
            }

            fn tables(&self) -> TableMeanings {
                TableMeanings::new()
                    .customer("stripe_customers", "user_id", "stripe_customer_id")
                    .processed_events(Service::Stripe, "stripe_events", "event_id")
            }

            async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
                handle_003(env, call, $mode).await
            }
        }
    };
}

seed003_strategy!(
    WebhookInsertRethrow,
    "webhook.insert_rethrow",
    Mapping::InsertRethrow
);
seed003_strategy!(
    WebhookAdvisoryLock,
    "webhook.advisory_lock",
    Mapping::AdvisoryLock
);
seed003_strategy!(
    WebhookOnConflictUpdate,
    "webhook.on_conflict_update",
    Mapping::OnConflictUpdate
);
seed003_strategy!(
    WebhookPerCustomerQueue,
    "webhook.per_customer_queue",
    Mapping::PerCustomerQueue
);
seed003_strategy!(
    WebhookIdempotentUpsert,
    "webhook.idempotent_upsert",
    Mapping::IdempotentUpsert
);
