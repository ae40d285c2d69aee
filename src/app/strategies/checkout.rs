//! Seed 004 (`../shared/seeds/004_*.txt`, "Duplicate Customer Creation Fix"): the checkout
//! endpoint that ensures a Stripe customer for the tenant, then creates a Checkout Session —
//! called concurrently by the initial `fetchClientSecret()` and by `applyCoupon()`.

use std::collections::BTreeMap;

use crate::app::api::{
    AppCall, AppLogic, AppReply, CustomerCreate, Db, DbConn, Env, Stmt, StripeApi, TableSchema, UserSpec,
};
use crate::app::kit::{create_session, reply, select_tenant, tenant_rows, tenants_table, AppFailure, Tenant};
use crate::vocabulary::TableMeanings;

/// How the checkout route gets its customer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnsureCustomer {
    /// `checkout.naive`: SELECT; if null, create in Stripe; UPDATE — no transaction.
    Naive,
    /// `checkout.transaction`: the same three steps inside a READ COMMITTED transaction.
    Transaction,
    /// `checkout.for_update`: the transaction with `SELECT … FOR UPDATE`.
    ForUpdate,
    /// `checkout.unique_constraint`: the transaction, with a unique `stripe_customer_id`.
    UniqueConstraint,
    /// `checkout.stripe_idempotency`: the transaction, with `Idempotency-Key: customer:{tenant}`.
    StripeIdempotency,
}

impl EnsureCustomer {
    fn in_transaction(self) -> bool {
        self != EnsureCustomer::Naive
    }
}

/// `checkout.naive` — the code before the seed's fix.
///
/// Seed 004, "Before: Race condition possible": `const customer = await
/// stripe.customers.create({...}); await query('UPDATE tenants SET stripe_customer_id = $1
/// WHERE id = $2', [customer.id, tenantId]);` after reading `stripe_customer_id` as null.
/// "When users quickly entered coupon codes, both the initial fetch and coupon application
/// could execute concurrently, both seeing `stripe_customer_id` as `null` in the database and
/// creating separate customers in Stripe."
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutNaive;

/// `checkout.transaction` — the seed's "fix": the same steps inside `transaction(...)`.
///
/// Seed 004, "After: Atomic operation": `transaction(async (txQuery) => { const tenant =
/// await txQuery('SELECT stripe_customer_id FROM tenants WHERE id = $1'); if
/// (!tenant.stripe_customer_id) { const customer = await stripe.customers.create(...); await
/// txQuery('UPDATE tenants SET stripe_customer_id = $1 ...'); } })`. Under READ COMMITTED the
/// plain SELECT takes no lock, so both transactions read NULL and both create a customer.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutTransaction;

async fn ensure_customer<E: Env>(env: &E, user_id: &str, mode: EnsureCustomer) -> Result<String, AppFailure> {
    let mut conn = env.db().connect().await?;
    if mode.in_transaction() {
        conn.execute(Stmt::Begin).await?;
    }
    let tenant: Tenant = select_tenant(&mut conn, user_id, mode == EnsureCustomer::ForUpdate).await?;
    if let Some(existing) = tenant.stripe_customer_id {
        if mode.in_transaction() {
            conn.execute(Stmt::Commit).await?;
        }
        return Ok(existing);
    }
    let params = CustomerCreate {
        email: Some(tenant.email.clone()),
        name: None,
        metadata: BTreeMap::from([("tenant_id".to_string(), tenant.id.to_string())]),
    };
    let key = (mode == EnsureCustomer::StripeIdempotency).then(|| format!("customer:{}", tenant.id));
    let customer = env.stripe().create_customer(params, key).await?;
    conn.execute(
        Stmt::update("tenants", &[("stripe_customer_id", customer.id.as_str().into())]).eq("id", tenant.id),
    )
    .await?;
    if mode.in_transaction() {
        conn.execute(Stmt::Commit).await?;
    }
    Ok(customer.id)
}

async fn checkout_route<E: Env>(env: &E, call: AppCall, mode: EnsureCustomer) -> AppReply {
    let (user_id, price, coupon) = match call {
        AppCall::Checkout {
            user_id,
            price,
            promotion_code,
        } => (user_id, price, promotion_code),
        AppCall::ApplyCoupon {
            user_id,
            price,
            promotion_code,
        } => (user_id, price, Some(promotion_code)),
        AppCall::StripeWebhook { .. } | AppCall::ClerkWebhook { .. } | AppCall::Reconcile => {
            return AppReply::ok(serde_json::json!({ "ignored": true }))
        }
        other => return AppFailure::Unsupported(format!("{other:?}")).into_reply(),
    };
    reply(
        async {
            let customer_id = ensure_customer(env, &user_id, mode).await?;
            create_session(env, &customer_id, &user_id, &price, coupon.as_deref()).await
        }
        .await,
    )
}

impl AppLogic for CheckoutNaive {
    fn id(&self) -> &str {
        "checkout.naive"
    }

    fn schema(&self) -> Vec<TableSchema> {
        vec![tenants_table()]
    }

    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
        tenant_rows(users)
    }

    fn tables(&self) -> TableMeanings {
        checkout_tables()
    }

    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        checkout_route(env, call, EnsureCustomer::Naive).await
    }
}

impl AppLogic for CheckoutTransaction {
    fn id(&self) -> &str {
        "checkout.transaction"
    }

    fn schema(&self) -> Vec<TableSchema> {
        vec![tenants_table()]
    }

    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
        tenant_rows(users)
    }

    fn tables(&self) -> TableMeanings {
        checkout_tables()
    }

    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        checkout_route(env, call, EnsureCustomer::Transaction).await
    }
}

/// `checkout.frontend_flag` — the seed's frontend fix; the server is `checkout.naive`.
///
/// Seed 004, "Frontend Fixes": "Consolidated API Calls … a single `createCheckout()`
/// function" and "Added `isCreatingCheckout` flag to prevent multiple simultaneous API calls".
/// The flag lives in one browser tab's memory, so this strategy's server code is the naive
/// route, unchanged; the world's browser actor models the flag (a tab does not send a second
/// checkout/coupon request while its first is in flight). A second tab, a client retry after
/// a timeout, or another device has its own flag — the race stays.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutFrontendFlag;

/// `checkout.for_update` — the seed's transaction with the row locked.
///
/// The variant of seed 004's "After" code a reviewer would suggest: `SELECT stripe_customer_id
/// FROM tenants WHERE id = $1 FOR UPDATE`, then (holding the lock) `stripe.customers.create`,
/// `UPDATE`, `COMMIT`. Concurrent callers wait and then see the stored id, but the Stripe call
/// happens inside the transaction: if it rolls back (connection lost, crash, timeout) after
/// Stripe created the customer, that customer is an orphan, and the next caller makes another.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutForUpdate;

/// `checkout.unique_constraint` — seed 004 "Prevention Measures" 1.
///
/// "Consider adding a unique constraint on `stripe_customer_id` in the tenants table", on top
/// of the seed's transaction code. The constraint stops two tenants sharing one customer; it
/// cannot stop this race, where two different new ids go into the *same* row: the second
/// `UPDATE` overwrites the first, whose Stripe customer (already created) becomes an orphan.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutUniqueConstraint;

/// `checkout.stripe_idempotency` — seed 004 "Prevention Measures" 2.
///
/// "Consider using Stripe's idempotency keys for customer creation": the seed's transaction
/// code with `Idempotency-Key: customer:{tenant_id}` on `POST /v1/customers`, still SELECT
/// then unconditional UPDATE. Concurrent callers get the same customer back from Stripe, so
/// both UPDATEs write the same id — within the key's 24-hour window.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutStripeIdempotency;

/// `checkout.debounce` — seed 004 "Prevention Measures" 3; the server is `checkout.naive`.
///
/// "Add debouncing to coupon code application": a client-side delay before `applyCoupon()`
/// fires. The server code is the naive route, unchanged; the world's browser actor models the
/// debounce (coupon requests delayed and coalesced within one tab). Two tabs or a client retry
/// still race.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutDebounce;

/// What the seed-004 tables mean: the tenant's customer id, nothing else.
fn checkout_tables() -> TableMeanings {
    TableMeanings::new().customer("tenants", "owner_user_id", "stripe_customer_id")
}

macro_rules! seed004_strategy {
    ($ty:ty, $id:literal, $mode:expr, $schema:expr) => {
        impl AppLogic for $ty {
            fn id(&self) -> &str {
                $id
            }

            fn schema(&self) -> Vec<TableSchema> {
                $schema
            }

            fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
                tenant_rows(users)
            }

            fn tables(&self) -> TableMeanings {
                checkout_tables()
            }

            async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
                checkout_route(env, call, $mode).await
            }
        }
    };
}

seed004_strategy!(
    CheckoutFrontendFlag,
    "checkout.frontend_flag",
    EnsureCustomer::Naive,
    vec![tenants_table()]
);
seed004_strategy!(
    CheckoutForUpdate,
    "checkout.for_update",
    EnsureCustomer::ForUpdate,
    vec![tenants_table()]
);
seed004_strategy!(
    CheckoutUniqueConstraint,
    "checkout.unique_constraint",
    EnsureCustomer::UniqueConstraint,
    vec![tenants_table().unique(&["stripe_customer_id"])]
);
seed004_strategy!(
    CheckoutStripeIdempotency,
    "checkout.stripe_idempotency",
    EnsureCustomer::StripeIdempotency,
    vec![tenants_table()]
);
seed004_strategy!(
    CheckoutDebounce,
    "checkout.debounce",
    EnsureCustomer::Naive,
    vec![tenants_table()]
);
