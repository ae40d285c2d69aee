//! Seed 001 (`../shared/seeds/001_*.txt`, "Race Condition Fixes - Implementation Summary"): a
//! Supabase-style app whose auth callback, checkout route and Stripe webhook each touch the
//! user's profile, the `customers` mapping and the Stripe customer.
//!
//! Tables, as the seed names them: `profiles` (gets `stripe_customer_id` and unique
//! constraints in the fix), `customers` (user → Stripe customer), `subscriptions`.

use std::collections::BTreeMap;

use crate::app::api::{
    AppCall, AppLogic, AppReply, ClerkApi, ColumnType, CustomerCreate, Db, DbConn, Env, SqlState, Stmt,
    StripeApi, TableSchema, UserSpec,
};
use crate::app::kit::{
    checkout_args, create_session, first_row, ignored, reply, text_col, unsupported, verify_stripe,
    AppFailure,
};
use crate::vocabulary::TableMeanings;

/// Which version of the seed-001 code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seed001 {
    /// Before the fix: the callback swallows errors; no constraints.
    ContinueOnFailure,
    /// The fix without the SQL functions: unique constraints, Stripe first, insert, fallback.
    UniqueAndFallback,
    /// The fix with `ensure_stripe_customer_atomic` / `create_customer_and_profile_atomic`.
    AtomicDbFn,
}

/// `signup.continue_on_failure` — the seed's "before" code.
///
/// Seed 001, problem 1: "Auth callback tries to create customer/profile but continues
/// regardless of success … Users could access app without proper customer setup"; "Before:
/// Made API call that could fail silently". The callback inserts the profile if missing
/// (SELECT then INSERT: "No constraints preventing duplicate profiles/customers"), then runs
/// the create-customer route (SELECT `customers`; if none, Stripe create, INSERT), logging
/// and ignoring every error and always redirecting with 200. Checkout does the same
/// check-then-create ("Direct database queries with potential race conditions"; the email the
/// seed's fixed button adds is read from Clerk in every variant); the webhook finds the user
/// through `subscriptions` / `customers` only ("Only looked for users in subscriptions table",
/// read as the two tables that map a Stripe customer to a user).
#[derive(Debug, Clone, Copy, Default)]
pub struct SignupContinueOnFailure;

/// `customer.unique_and_fallback` — the seed's fix, read without its SQL functions.
///
/// Seed 001, "Database Schema Fixes: stripe_customer_id field to profiles table, Unique
/// constraints to prevent duplicates"; "Stripe customer creation" in `ensureCustomerExists`;
/// webhook "Falls back to profiles table using stripe_customer_id". Reading: insert the
/// profile (`ON CONFLICT DO NOTHING`), read it, and if it has no customer create one in
/// Stripe *first*, then `INSERT INTO customers`; the loser of a race gets `23505`, adopts the
/// winner's row and leaves its own Stripe customer orphaned. Errors now reach the caller (5xx).
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomerUniqueAndFallback;

/// `customer.atomic_db_fn` — the seed's fix as described: two "atomic" SQL functions around
/// a Stripe call.
///
/// Seed 001: `ensure_stripe_customer_atomic(p_user_id, p_email)` "Safely checks for existing
/// Stripe customer or creates profile placeholder" → `{stripe_customer_id | null, …}`; then
/// the Stripe create; then `create_customer_and_profile_atomic(p_user_id, p_email,
/// p_stripe_customer_id)` "Atomically creates or updates user profile with Stripe customer ID".
/// Each SQL function is modelled as the statements its body would run, inside one
/// transaction: (1) `INSERT profiles … ON CONFLICT DO NOTHING; SELECT profiles; SELECT
/// customers`; (2) `INSERT customers … ON CONFLICT (user_id) DO NOTHING; UPDATE profiles SET
/// stripe_customer_id = $3 WHERE user_id = $1 AND stripe_customer_id IS NULL; SELECT
/// profiles`. Each function is atomic, but the Stripe call sits between them: two callers
/// both get `null` from (1), both create a customer, and (2) keeps only the first — the
/// second customer is an orphan.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomerAtomicDbFn;

fn profiles_table(mode: Seed001) -> TableSchema {
    let table = TableSchema::new("profiles")
        .column("user_id", ColumnType::Text)
        .column("email", ColumnType::Text)
        .nullable("full_name", ColumnType::Text);
    match mode {
        // No constraints, no stripe_customer_id column before the fix.
        Seed001::ContinueOnFailure => table,
        _ => table
            .nullable("stripe_customer_id", ColumnType::Text)
            .primary_key(&["user_id"])
            .unique(&["stripe_customer_id"]),
    }
}

fn customers_table(mode: Seed001) -> TableSchema {
    let table = TableSchema::new("customers")
        .column("user_id", ColumnType::Text)
        .column("stripe_customer_id", ColumnType::Text);
    match mode {
        Seed001::ContinueOnFailure => table,
        _ => table.primary_key(&["user_id"]).unique(&["stripe_customer_id"]),
    }
}

fn subscriptions_table() -> TableSchema {
    TableSchema::new("subscriptions")
        .column("stripe_subscription_id", ColumnType::Text)
        .column("user_id", ColumnType::Text)
        .column("stripe_customer_id", ColumnType::Text)
        .column("status", ColumnType::Text)
        .primary_key(&["stripe_subscription_id"])
}

/// The user's email: the callback and checkout button send it; here it is read from Clerk.
async fn user_email<E: Env>(env: &E, user_id: &str) -> Result<String, AppFailure> {
    let user = env.clerk().get_user(user_id.to_string()).await?;
    user.email.ok_or_else(|| {
        AppFailure::NotFound(format!(
            "email of {user_id} (hint: the Clerk user has no primary email)"
        ))
    })
}

async fn stripe_create<E: Env>(env: &E, user_id: &str, email: &str) -> Result<String, AppFailure> {
    let params = CustomerCreate {
        email: Some(email.to_string()),
        name: None,
        metadata: BTreeMap::from([("user_id".to_string(), user_id.to_string())]),
    };
    Ok(env.stripe().create_customer(params, None).await?.id)
}

/// The "before" create-customer route: SELECT customers; if none, Stripe create, INSERT.
async fn ensure_customer_before<E: Env>(env: &E, user_id: &str, email: &str) -> Result<String, AppFailure> {
    let mut conn = env.db().connect().await?;
    let found = conn
        .execute(Stmt::select("customers").eq("user_id", user_id))
        .await?;
    if let Some(id) = first_row(&found).and_then(|r| text_col(r, "stripe_customer_id")) {
        return Ok(id);
    }
    let id = stripe_create(env, user_id, email).await?;
    conn.execute(Stmt::insert(
        "customers",
        &[
            ("user_id", user_id.into()),
            ("stripe_customer_id", id.as_str().into()),
        ],
    ))
    .await?;
    Ok(id)
}

/// `ensureCustomerExists` of the fix without SQL functions.
async fn ensure_customer_unique<E: Env>(env: &E, user_id: &str, email: &str) -> Result<String, AppFailure> {
    let mut conn = env.db().connect().await?;
    conn.execute(
        Stmt::insert(
            "profiles",
            &[("user_id", user_id.into()), ("email", email.into())],
        )
        .on_conflict_do_nothing(&["user_id"]),
    )
    .await?;
    let profile = conn
        .execute(Stmt::select("profiles").eq("user_id", user_id))
        .await?;
    if let Some(id) = first_row(&profile).and_then(|r| text_col(r, "stripe_customer_id")) {
        return Ok(id);
    }
    let created = stripe_create(env, user_id, email).await?;
    let inserted = conn
        .execute(Stmt::insert(
            "customers",
            &[
                ("user_id", user_id.into()),
                ("stripe_customer_id", created.as_str().into()),
            ],
        ))
        .await;
    let id = match inserted {
        Ok(_) => created,
        Err(e) if e.state == SqlState::UniqueViolation => {
            env.note(&format!(
                "customers insert conflicted ({e}); using the stored customer"
            ));
            let stored = conn
                .execute(Stmt::select("customers").eq("user_id", user_id))
                .await?;
            first_row(&stored)
                .and_then(|r| text_col(r, "stripe_customer_id"))
                .ok_or_else(|| {
                    AppFailure::Other(format!("customers row of {user_id} vanished after 23505"))
                })?
        }
        Err(e) => return Err(e.into()),
    };
    conn.execute(
        Stmt::update("profiles", &[("stripe_customer_id", id.as_str().into())]).eq("user_id", user_id),
    )
    .await?;
    Ok(id)
}

/// `ensure_stripe_customer_atomic` + Stripe create + `create_customer_and_profile_atomic`.
async fn ensure_customer_atomic_fns<E: Env>(
    env: &E,
    user_id: &str,
    email: &str,
) -> Result<String, AppFailure> {
    let mut conn = env.db().connect().await?;
    // SELECT ensure_stripe_customer_atomic($1, $2)
    conn.execute(Stmt::Begin).await?;
    conn.execute(
        Stmt::insert(
            "profiles",
            &[("user_id", user_id.into()), ("email", email.into())],
        )
        .on_conflict_do_nothing(&["user_id"]),
    )
    .await?;
    let profile = conn
        .execute(Stmt::select("profiles").eq("user_id", user_id))
        .await?;
    let mapped = conn
        .execute(Stmt::select("customers").eq("user_id", user_id))
        .await?;
    conn.execute(Stmt::Commit).await?;
    let existing = first_row(&profile)
        .and_then(|r| text_col(r, "stripe_customer_id"))
        .or_else(|| first_row(&mapped).and_then(|r| text_col(r, "stripe_customer_id")));
    if let Some(id) = existing {
        return Ok(id);
    }
    let created = stripe_create(env, user_id, email).await?;
    // SELECT create_customer_and_profile_atomic($1, $2, $3)
    conn.execute(Stmt::Begin).await?;
    conn.execute(
        Stmt::insert(
            "customers",
            &[
                ("user_id", user_id.into()),
                ("stripe_customer_id", created.as_str().into()),
            ],
        )
        .on_conflict_do_nothing(&["user_id"]),
    )
    .await?;
    conn.execute(
        Stmt::update("profiles", &[("stripe_customer_id", created.as_str().into())])
            .eq("user_id", user_id)
            .is_null("stripe_customer_id"),
    )
    .await?;
    let profile = conn
        .execute(Stmt::select("profiles").eq("user_id", user_id))
        .await?;
    conn.execute(Stmt::Commit).await?;
    let stored = first_row(&profile)
        .and_then(|r| text_col(r, "stripe_customer_id"))
        .ok_or_else(|| {
            AppFailure::Other(format!(
                "profile of {user_id} has no customer after the atomic function"
            ))
        })?;
    if stored != created {
        env.note(&format!(
            "create_customer_and_profile_atomic kept {stored}; {created} is left in Stripe"
        ));
    }
    Ok(stored)
}

async fn ensure_customer<E: Env>(env: &E, user_id: &str, mode: Seed001) -> Result<String, AppFailure> {
    let email = user_email(env, user_id).await?;
    match mode {
        Seed001::ContinueOnFailure => ensure_customer_before(env, user_id, &email).await,
        Seed001::UniqueAndFallback => ensure_customer_unique(env, user_id, &email).await,
        Seed001::AtomicDbFn => ensure_customer_atomic_fns(env, user_id, &email).await,
    }
}

/// The "before" auth callback: every step's error is logged and ignored.
async fn signup_before<E: Env>(env: &E, user_id: &str) -> AppReply {
    let profile: Result<(), AppFailure> = async {
        let email = user_email(env, user_id).await?;
        let mut conn = env.db().connect().await?;
        let found = conn
            .execute(Stmt::select("profiles").eq("user_id", user_id))
            .await?;
        if found.rows.is_empty() {
            conn.execute(Stmt::insert(
                "profiles",
                &[("user_id", user_id.into()), ("email", email.as_str().into())],
            ))
            .await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = profile {
        env.note(&format!(
            "[AUTH CALLBACK] profile creation failed, continuing: {e:?}"
        ));
    }
    if let Err(e) = ensure_customer(env, user_id, Seed001::ContinueOnFailure).await {
        env.note(&format!(
            "[AUTH CALLBACK] customer creation failed, continuing: {e:?}"
        ));
    }
    AppReply::ok(serde_json::json!({ "redirect": "/dashboard" }))
}

/// The Stripe webhook (`lib/stripe-sync.ts`): record the subscription for its user.
async fn webhook<E: Env>(env: &E, payload: &[u8], signature: &str, mode: Seed001) -> AppReply {
    let event = match verify_stripe(env, payload, signature) {
        Ok(event) => event,
        Err(reply) => return reply,
    };
    let sub_id = match event.event_type.as_str() {
        "checkout.session.completed" => event.object.get("subscription").and_then(|v| v.as_str()),
        t if t.starts_with("customer.subscription.") => event.object.get("id").and_then(|v| v.as_str()),
        _ => None,
    };
    let Some(sub_id) = sub_id.map(str::to_string) else {
        return ignored();
    };
    reply(
        async {
            let sub = env.stripe().retrieve_subscription(sub_id).await?;
            let mut conn = env.db().connect().await?;
            let mut user = None;
            for table in ["subscriptions", "customers"] {
                let found = conn
                    .execute(Stmt::select(table).eq("stripe_customer_id", sub.customer.as_str()))
                    .await?;
                user = first_row(&found).and_then(|r| text_col(r, "user_id"));
                if user.is_some() {
                    break;
                }
            }
            if user.is_none() && mode != Seed001::ContinueOnFailure {
                // The fix: "Falls back to profiles table using stripe_customer_id".
                let found = conn
                    .execute(Stmt::select("profiles").eq("stripe_customer_id", sub.customer.as_str()))
                    .await?;
                user = first_row(&found).and_then(|r| text_col(r, "user_id"));
            }
            let user = user.ok_or_else(|| {
                AppFailure::Other(format!("[STRIPE SYNC] no user for customer {}", sub.customer))
            })?;
            conn.execute(
                Stmt::insert(
                    "subscriptions",
                    &[
                        ("stripe_subscription_id", sub.id.as_str().into()),
                        ("user_id", user.as_str().into()),
                        ("stripe_customer_id", sub.customer.as_str().into()),
                        ("status", sub.status.as_str().into()),
                    ],
                )
                .on_conflict_update_excluded(&["stripe_subscription_id"], &["status"]),
            )
            .await?;
            Ok(serde_json::json!({ "processed": event.id }))
        }
        .await,
    )
}

async fn handle_001<E: Env>(env: &E, call: AppCall, mode: Seed001) -> AppReply {
    if let Some((user_id, price, coupon)) = checkout_args(&call) {
        return reply(
            async {
                let customer = ensure_customer(env, &user_id, mode).await?;
                create_session(env, &customer, &user_id, &price, coupon.as_deref()).await
            }
            .await,
        );
    }
    match call {
        AppCall::Signup { user_id } => match mode {
            Seed001::ContinueOnFailure => signup_before(env, &user_id).await,
            _ => reply(
                ensure_customer(env, &user_id, mode)
                    .await
                    .map(|id| serde_json::json!({ "redirect": "/dashboard", "customer": id })),
            ),
        },
        AppCall::StripeWebhook { payload, signature } => webhook(env, &payload, &signature, mode).await,
        AppCall::ClerkWebhook { .. } | AppCall::Reconcile => ignored(),
        other => unsupported(&other),
    }
}

/// What the seed-001 tables mean. Before the fix there is no claim; the fix's profile row,
/// written before the Stripe create, is one (`stripe_customer_id` NULL until it lands).
fn tables_001(mode: Seed001) -> TableMeanings {
    let tables = TableMeanings::new()
        .customer("customers", "user_id", "stripe_customer_id")
        .profile("profiles", "user_id")
        .subscription_status("subscriptions", "stripe_subscription_id", "status")
        .effect("subscriptions", "stripe_subscription_id");
    match mode {
        Seed001::ContinueOnFailure => tables,
        _ => tables.claim("profiles", "stripe_customer_id"),
    }
}

macro_rules! seed001_strategy {
    ($ty:ty, $id:literal, $mode:expr) => {
        impl AppLogic for $ty {
            fn id(&self) -> &str {
                $id
            }

            fn schema(&self) -> Vec<TableSchema> {
                vec![
                    profiles_table($mode),
                    customers_table($mode),
                    subscriptions_table(),
                ]
            }

            fn seed_rows(&self, _users: &[UserSpec]) -> Vec<Stmt> {
                Vec::new()
            }

            fn tables(&self) -> TableMeanings {
                tables_001($mode)
            }

            async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
                handle_001(env, call, $mode).await
            }
        }
    };
}

seed001_strategy!(
    SignupContinueOnFailure,
    "signup.continue_on_failure",
    Seed001::ContinueOnFailure
);
seed001_strategy!(
    CustomerUniqueAndFallback,
    "customer.unique_and_fallback",
    Seed001::UniqueAndFallback
);
seed001_strategy!(CustomerAtomicDbFn, "customer.atomic_db_fn", Seed001::AtomicDbFn);
