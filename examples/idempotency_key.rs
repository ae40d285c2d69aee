//! A team's own checkout route, tested with racehound in ordinary `#[test]`s.
//!
//! Acme's checkout endpoint ensures the tenant has a Stripe customer, then creates a Checkout
//! Session. The team knew about duplicate customers and did the textbook things: an
//! `Idempotency-Key` on `POST /v1/customers`, retries with the *same* key, and a
//! compare-and-set `UPDATE … WHERE stripe_customer_id IS NULL` so only the first writer
//! stores its id. Their double-click test passes.
//!
//! The bug: the key comes from the team's generic `request_key` helper, which hashes the
//! request (tenant, price, promotion code) so that "a retried request is deduplicated and a
//! different request is not". The checkout page sends a checkout on mount and a second one
//! when the user types a coupon — a *different request* for the *same effect*. Both read
//! `stripe_customer_id = NULL`, both send a key Stripe has never seen, and Stripe creates two
//! customers. The compare-and-set keeps one id in the database; the other customer stays live
//! in Stripe, unreferenced. An idempotency key must name the effect (one customer per
//! tenant), not the request.
//!
//! Run the tests with `cargo test --example idempotency_key` (or `cargo test --examples`);
//! `cargo run --example idempotency_key` prints the counterexample racehound finds.

use std::collections::BTreeMap;
use std::time::Duration;

use racehound::prelude::*;
use racehound::serde_json::{json, Value as Json};

/// How the route derives its `Idempotency-Key` for creating the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyScheme {
    /// The shipped code: a hash of the request (tenant, price, promotion code).
    PerRequest,
    /// The fix: one key per tenant, whatever the request.
    PerTenant,
}

/// Acme's checkout route as shipped (strategy id `acme.checkout`).
#[derive(Debug, Clone, Copy)]
pub struct AcmeCheckout;

/// Acme's checkout route after the fix (strategy id `acme.checkout.fixed`).
#[derive(Debug, Clone, Copy)]
pub struct AcmeCheckoutFixed;

/// Attempts per Stripe call before giving up.
const STRIPE_ATTEMPTS: u32 = 5;

/// The route's errors, as the team's code has them.
#[derive(Debug)]
enum RouteError {
    Db(DbError),
    Stripe(StripeError),
    NoTenant(String),
}

impl From<DbError> for RouteError {
    fn from(e: DbError) -> Self {
        RouteError::Db(e)
    }
}

impl From<StripeError> for RouteError {
    fn from(e: StripeError) -> Self {
        RouteError::Stripe(e)
    }
}

struct Tenant {
    id: i64,
    email: String,
    stripe_customer_id: Option<String>,
}

fn tenants_table() -> TableSchema {
    TableSchema::new("tenants")
        .column("id", ColumnType::Int)
        .column("owner_user_id", ColumnType::Text)
        .column("email", ColumnType::Text)
        .nullable("stripe_customer_id", ColumnType::Text)
        .primary_key(&["id"])
}

fn tenant_rows(users: &[UserSpec]) -> Vec<Stmt> {
    users
        .iter()
        .map(|u| {
            Stmt::insert(
                "tenants",
                &[
                    ("id", Value::Int(u.tenant_id)),
                    ("owner_user_id", u.user_id.as_str().into()),
                    ("email", u.email.as_str().into()),
                ],
            )
        })
        .collect()
}

async fn load_tenant<C: DbConn>(db: &mut C, user_id: &str) -> Result<Tenant, RouteError> {
    let found = db
        .execute(Stmt::select("tenants").eq("owner_user_id", user_id))
        .await?;
    let row = found
        .rows
        .first()
        .ok_or_else(|| RouteError::NoTenant(user_id.to_string()))?;
    Ok(Tenant {
        id: row.get("id").and_then(Value::as_int).unwrap_or_default(),
        email: row
            .get("email")
            .and_then(Value::as_text)
            .unwrap_or_default()
            .to_string(),
        stripe_customer_id: row
            .get("stripe_customer_id")
            .and_then(Value::as_text)
            .map(str::to_string),
    })
}

/// The team's generic helper: a stable key per distinct request, so that a retried request is
/// deduplicated by Stripe and a different request is not.
fn request_key(route: &str, tenant_id: i64, request: &Json) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in request.to_string().bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{route}:{tenant_id}:{hash:016x}")
}

fn is_transient(error: &StripeError) -> bool {
    match error {
        StripeError::Unknown { .. } => true,
        StripeError::Api { status, .. } => *status == 409 || *status == 429 || *status >= 500,
    }
}

/// `POST /v1/customers` with `key`, retrying transient failures with the same key.
async fn create_customer<E: Env>(env: &E, tenant: &Tenant, key: String) -> Result<String, RouteError> {
    let params = CustomerCreate {
        email: Some(tenant.email.clone()),
        name: None,
        metadata: BTreeMap::from([("tenant_id".to_string(), tenant.id.to_string())]),
    };
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match env
            .stripe()
            .create_customer(params.clone(), Some(key.clone()))
            .await
        {
            Ok(customer) => return Ok(customer.id),
            Err(e) if is_transient(&e) && attempt < STRIPE_ATTEMPTS => {
                env.note(&format!("retrying customer create with the same key: {e}"));
                env.sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `/api/checkout`: the tenant's customer (created once), then a Checkout Session for it.
async fn checkout<E: Env>(
    env: &E,
    scheme: KeyScheme,
    user_id: &str,
    price: &str,
    promotion_code: Option<&str>,
) -> Result<Json, RouteError> {
    let mut db = env.db().connect().await?;
    let tenant = load_tenant(&mut db, user_id).await?;
    let customer_id = match &tenant.stripe_customer_id {
        Some(id) => id.clone(),
        None => {
            let key = match scheme {
                KeyScheme::PerRequest => request_key(
                    "checkout",
                    tenant.id,
                    &json!({ "price": price, "promotion_code": promotion_code }),
                ),
                KeyScheme::PerTenant => format!("customer:{}", tenant.id),
            };
            let created = create_customer(env, &tenant, key).await?;
            // Compare-and-set: only the first writer stores; a later one adopts the stored id.
            let stored = db
                .execute(
                    Stmt::update("tenants", &[("stripe_customer_id", created.as_str().into())])
                        .eq("id", tenant.id)
                        .is_null("stripe_customer_id"),
                )
                .await?;
            if stored.affected == 1 {
                created
            } else {
                let current = load_tenant(&mut db, user_id).await?;
                current.stripe_customer_id.unwrap_or(created)
            }
        }
    };
    let session = env
        .stripe()
        .create_checkout_session(
            CheckoutSessionCreate {
                customer: Some(customer_id.clone()),
                price: price.to_string(),
                coupon: promotion_code.map(str::to_string),
                client_reference_id: Some(user_id.to_string()),
                ..Default::default()
            },
            None,
        )
        .await?;
    Ok(json!({ "session_id": session.id, "customer": customer_id }))
}

async fn route<E: Env>(env: &E, scheme: KeyScheme, call: AppCall) -> AppReply {
    let result = match &call {
        AppCall::Checkout {
            user_id,
            price,
            promotion_code,
        } => checkout(env, scheme, user_id, price, promotion_code.as_deref()).await,
        AppCall::ApplyCoupon {
            user_id,
            price,
            promotion_code,
        } => checkout(env, scheme, user_id, price, Some(promotion_code)).await,
        // This service has no webhook logic and no repair job: acknowledge them.
        _ => return AppReply::ok(json!({ "ignored": true })),
    };
    match result {
        Ok(body) => AppReply::ok(body),
        Err(RouteError::Stripe(e)) => AppReply::error(502, e.to_string()),
        Err(RouteError::Db(e)) => AppReply::error(503, e.to_string()),
        Err(RouteError::NoTenant(user)) => AppReply::error(404, format!("no tenant for {user}")),
    }
}

impl AppLogic for AcmeCheckout {
    fn id(&self) -> &str {
        "acme.checkout"
    }

    fn schema(&self) -> Vec<TableSchema> {
        vec![tenants_table()]
    }

    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
        tenant_rows(users)
    }

    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        route(env, KeyScheme::PerRequest, call).await
    }
}

impl AppLogic for AcmeCheckoutFixed {
    fn id(&self) -> &str {
        "acme.checkout.fixed"
    }

    fn schema(&self) -> Vec<TableSchema> {
        vec![tenants_table()]
    }

    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
        tenant_rows(users)
    }

    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        route(env, KeyScheme::PerTenant, call).await
    }
}

/// The race: the page requests a session on mount and again when a coupon is typed, on two
/// replicas, over a network that loses a response now and then (the browser retries).
fn coupon_race() -> Scenario {
    Scenario::builder("acme.coupon_race")
        .description("checkout on mount, and again with a coupon typed while the first is in flight")
        .replicas(2)
        .latency_ms(1, 50)
        .actor(
            1,
            [
                Step::new(Flow::Checkout).retry(3, 3_000),
                Step::new(Flow::ApplyCoupon)
                    .coupon("SAVE20")
                    .at_ms(0, 400)
                    .retry(3, 3_000),
            ],
        )
        .fault_rate(FaultKind::LostResponse, 0.3)
        .build()
}

/// The team's own test before racehound found the bug: a double click sends the *same*
/// request twice, so the per-request key does protect it.
fn double_click() -> Scenario {
    Scenario::builder("acme.double_click")
        .replicas(2)
        .actor(
            1,
            [Step::new(Flow::Checkout), Step::new(Flow::Checkout).at_ms(0, 150)],
        )
        .seeds(50)
        .build()
}

/// The team's own rule: the customer stored for a tenant is tagged with that tenant.
fn stored_customer_is_the_tenants(view: &WorldView) -> Vec<Violation> {
    let mut found = Vec::new();
    for row in view.db.get("tenants").into_iter().flatten() {
        let (Some(tenant), Some(customer_id)) = (
            row.get("id").and_then(Value::as_int),
            row.get("stripe_customer_id").and_then(Value::as_text),
        ) else {
            continue;
        };
        let tagged = view
            .customers
            .iter()
            .find(|c| c.id == customer_id)
            .and_then(|c| c.metadata.get("tenant_id"));
        if tagged != Some(&tenant.to_string()) {
            found.push(
                Violation::new(format!("tenant {tenant} stores {customer_id}, tagged {tagged:?}"))
                    .objects([customer_id]),
            );
        }
    }
    found
}

/// The explorer the tests use: the built-in invariants plus the team's own.
fn explorer() -> Explorer {
    Explorer::new().invariant(Invariant::always(
        "stored_customer_is_the_tenants",
        "the customer stored for a tenant carries that tenant's id",
        stored_customer_is_the_tenants,
    ))
}

fn main() {
    println!("{}", explorer().explore(&double_click(), AcmeCheckout));
    let report = explorer().explore(&coupon_race(), AcmeCheckout);
    println!("{report}");
    let fixed = explorer().explore(&coupon_race(), AcmeCheckoutFixed);
    println!("{fixed}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_double_click_test_the_team_had_passes() {
        explorer().explore(&double_click(), AcmeCheckout).assert_pass();
    }

    /// In the team's suite this test is `explorer().explore(&coupon_race(), AcmeCheckout)
    /// .assert_pass()` and fails with the token, the shrunk trace and the diagram; here it
    /// asserts what racehound finds.
    #[test]
    fn racehound_finds_the_per_request_key_bug() {
        let report = explorer().explore(&coupon_race(), AcmeCheckout);
        let counterexample = report.assert_fails("no_duplicate_customers");
        let failure = report.failure().expect("a failure");
        assert!(
            failure.input_size_shrunk <= failure.input_size_original,
            "shrinking never grows the input"
        );
        // The shrunk run is the two requests and no fault: the bug needs no network trouble.
        assert!(
            counterexample.input.faults.is_empty(),
            "{:?}",
            counterexample.input.faults
        );
        assert_eq!(counterexample.input.replicas, 1);
        // Two different keys went to Stripe: that is the bug.
        let trace = counterexample.trace_text();
        let keys: Vec<&str> = trace
            .lines()
            .filter(|l| l.contains("POST /v1/customers"))
            .filter_map(|l| l.split("Idempotency-Key: ").nth(1))
            .collect();
        assert!(keys.len() >= 2, "two customer creates in {keys:?}");
        assert_ne!(keys[0], keys[1]);
        // The team's own invariant holds even here: each stored id is the tenant's.
        assert!(!counterexample.breaks("stored_customer_is_the_tenants"));
        // The message a failing `assert_pass` prints has everything needed to debug it.
        let message = report.to_string();
        assert!(
            message.contains(&format!("replay token: {}", failure.token)),
            "{message}"
        );
        assert!(message.contains(&format!("racehound explain {}", failure.token)));
        assert!(message.contains("sequenceDiagram"));
        // And the token replays exactly, with the team's code.
        let again = explorer().replay(&failure.token, AcmeCheckout).expect("replays");
        assert_eq!(again.trace_text(), counterexample.trace_text());
        assert!(again.breaks("no_duplicate_customers"));
    }

    #[test]
    fn the_fixed_route_passes() {
        explorer()
            .explore(&coupon_race(), AcmeCheckoutFixed)
            .assert_pass();
    }
}
