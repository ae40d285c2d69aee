//! `reference`: the implementation racehound verifies, written as code a team would copy.
//!
//! The principles (BRIEF.md, "The reference implementation"):
//!
//! 1. **One `ensure_*` function per resource**, called from every entry point: creation of a
//!    Stripe customer has exactly one code path, [`ensure_stripe_customer`].
//! 2. **Deterministic keys, claimed in the database**: the Stripe `Idempotency-Key` is derived
//!    from the owning row (`customer:{tenant_id}`), so two concurrent callers — two tabs, two
//!    replicas, a retry after a lost response, a restart after a crash — ask Stripe for *the
//!    same* creation and get the same customer back. Stripe saves a 5xx under the key too, so
//!    past a 5xx the tenant moves on to the next key of one deterministic sequence
//!    ([`customer_idempotency_key_generation`]); which key is in use, and since when, is a row
//!    of [`customer_claims_table`], never a caller's memory, so no two keys are live for one
//!    tenant at once.
//! 3. **Never trust a key past its 24 h**: Stripe forgets a key a day after its first
//!    request, and the same key then creates a second customer. A key first sent more than
//!    [`CUSTOMER_KEY_TRUSTED_FOR`] ago is not sent again before the strongly consistent list
//!    endpoint has shown that the tenant has no customer yet (one found is adopted).
//! 4. **Store with compare-and-set**: `UPDATE tenants SET stripe_customer_id = $1 WHERE id =
//!    $2 AND stripe_customer_id IS NULL`. A `SELECT` followed by an unconditional `UPDATE` is
//!    last-writer-wins under READ COMMITTED; the condition makes the second writer a no-op that
//!    then adopts the stored id. A crash between the Stripe call and the `UPDATE` is repaired
//!    by the next call (same key → same customer, or past the window the list finds it) or by
//!    [`reconcile`], which finds leftovers by metadata through the strongly consistent list
//!    endpoint — never through the lagging search.
//! 5. **Webhooks**: verify the signature, fetch current state instead of trusting the event's
//!    copy, then dedupe by event id and apply the effect in one transaction; 2xx for
//!    duplicates, 5xx only for transient failures.
//! 6. **No external call inside a transaction that holds locks**, and no in-process lock
//!    pretending to be global.
//!
//! # What the reference promises, and what it needs
//!
//! No two live Stripe customers for one tenant at any moment, no orphan once `reconcile` has
//! run after the last fault, every event acknowledged with its effect, under any schedule of
//! tabs, replicas, retries, crashes, lost responses, 5xx/429, partitions, dropped database
//! connections and clock jumps — given that:
//!
//! - the app is out of reach for less than Stripe's 3-day webhook retry window (Stripe gives
//!   up on an event after that; the fuzz harness excuses a lost event whose whole window
//!   passed in clock jumps, `racehound::fuzz::events_outlived_by_jumps`);
//! - `reconcile` runs periodically (a cron), and again after an outage: a customer created
//!   by a request whose caller never came back is adopted or deleted only there;
//! - a request is not delayed past the key's window on its way to Stripe. (A jump between
//!   reading the claim and sending is caught: the claim is read again when the clock moved
//!   an hour since.) If a day passes while a `customers.create` is on its way (the process
//!   paused, or a 25 h clock jump inside that millisecond), Stripe has forgotten the key and
//!   no client-side check can stop the second customer; `reconcile` deletes it. Stripe offers
//!   no fencing token that would close this window. Fresh-seed fuzzing reaches it (a jump
//!   while two creations are on their way); the `reference_schedule` harness excuses exactly
//!   this case and says so in its output (`racehound::fuzz::keys_crossed_by_a_jump`).

pub mod orgs;
pub mod signup;

use std::collections::BTreeMap;
use std::time::Duration;

use super::api::{
    AppCall, AppLogic, AppReply, ColumnType, CustomerCreate, Db, DbConn, Env, Stmt, StripeApi, StripeError,
    TableSchema, UserSpec,
};
use crate::app::kit::{create_session, reply, select_tenant, tenant_rows, tenants_table, AppFailure};
use crate::vocabulary::{Service, TableMeanings};

/// Attempts per Stripe call before giving up (the SDKs make 3: one try and 2 retries).
pub const STRIPE_ATTEMPTS_MAX: u32 = 5;

/// First backoff between attempts; doubles each time.
pub const STRIPE_BACKOFF_FIRST: Duration = Duration::from_millis(200);

/// The verified implementation (strategy id `reference`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Reference;

/// The idempotency key for creating a tenant's customer: derived from the row, never random.
pub fn customer_idempotency_key(tenant_id: i64) -> String {
    format!("customer:{tenant_id}")
}

/// The key for the `generation`-th creation attempt after `generation` saved 5xx answers.
///
/// Stripe saves a 5xx under its idempotency key and replays it for 24 h, so retrying a 5xx
/// with the same key can never succeed. Every caller walks the same deterministic sequence
/// (`customer:7`, `customer:7:1`, `customer:7:2`, …), moving on only past a 5xx: two callers
/// still ask for the same creation, and a late caller replays the answer the first one got.
pub fn customer_idempotency_key_generation(tenant_id: i64, generation: u32) -> String {
    match generation {
        0 => customer_idempotency_key(tenant_id),
        n => format!("customer:{tenant_id}:{n}"),
    }
}

/// Whether a Stripe error is worth retrying with the same idempotency key.
pub fn stripe_error_is_transient(error: &StripeError) -> bool {
    match error {
        StripeError::Unknown { .. } => true,
        StripeError::Api { status, .. } => *status == 409 || *status == 429 || *status >= 500,
    }
}

/// How long after a creation key was first sent the reference trusts Stripe to still hold it.
///
/// Stripe keeps an idempotency key for 24 h from its first request; past this (an hour short
/// of that, for a request still on its way) a retry with the key could create a second
/// customer, so the reference looks for one first.
pub const CUSTOMER_KEY_TRUSTED_FOR: Duration = Duration::from_secs(23 * 3600);

/// How far the clock may move between reading a claim and sending its key (1 h: the margin
/// [`CUSTOMER_KEY_TRUSTED_FOR`] leaves) before the claim is read again.
const CLAIM_STALE_AFTER_MS: i64 = 3_600_000;

/// The note the reference writes (to the trace, or a log) just before it sends a creation key
/// its claim let it trust, followed by the key: the start of the one window the reference
/// cannot close (see "What the reference promises" above); the fuzz harness reads it.
pub const CREATION_KEY_SENT_NOTE: &str = "creation key trusted by its claim, sending ";

/// The `customer_claims` table: per tenant, which creation key is in use (its generation,
/// see [`customer_idempotency_key_generation`]) and when it was first sent (app clock, ms).
///
/// The claim lives in the database, not in a caller's memory, so every caller — another
/// tab, another replica, a retry after a crash — asks Stripe with the same key, and no two
/// keys are ever live for one tenant at once.
pub fn customer_claims_table() -> TableSchema {
    TableSchema::new("customer_claims")
        .column("tenant_id", ColumnType::Int)
        .column("generation", ColumnType::Int)
        .nullable("key_first_sent_ms", ColumnType::Int)
        .primary_key(&["tenant_id"])
}

/// A tenant's row of [`customer_claims_table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CustomerClaim {
    generation: i64,
    key_first_sent_ms: Option<i64>,
}

/// Reads the tenant's claim, creating it (generation 0, never sent) on first use.
async fn read_customer_claim<C: DbConn>(conn: &mut C, tenant_id: i64) -> Result<CustomerClaim, AppFailure> {
    conn.execute(
        Stmt::insert(
            "customer_claims",
            &[("tenant_id", tenant_id.into()), ("generation", 0i64.into())],
        )
        .on_conflict_do_nothing(&["tenant_id"]),
    )
    .await?;
    let outcome = conn
        .execute(Stmt::select("customer_claims").eq("tenant_id", tenant_id))
        .await?;
    let row = outcome
        .rows
        .first()
        .ok_or_else(|| AppFailure::Other(format!("tenant {tenant_id} has no customer claim")))?;
    Ok(CustomerClaim {
        generation: row.get("generation").and_then(|v| v.as_int()).unwrap_or_default(),
        key_first_sent_ms: row.get("key_first_sent_ms").and_then(|v| v.as_int()),
    })
}

/// Runs a Stripe call that is safe to repeat (a read, a delete), retrying transient failures
/// (no answer, 409, 429, 5xx) with the same back-off as creation, up to
/// [`STRIPE_ATTEMPTS_MAX`] attempts: a rate limit must not end a repair sweep.
async fn retry_stripe<E: Env, T, F, Fut>(env: &E, what: &str, mut call: F) -> Result<T, StripeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StripeError>>,
{
    let mut backoff = STRIPE_BACKOFF_FIRST;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if stripe_error_is_transient(&error) && attempt < STRIPE_ATTEMPTS_MAX => {
                env.note(&format!("transient Stripe error on {what}, retrying: {error}"));
                env.sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Deletes a leftover customer, retrying transient failures; one already gone (a 404 after
/// a retry whose first attempt did delete it) counts as deleted.
async fn delete_leftover<E: Env>(env: &E, id: &str) -> Result<(), AppFailure> {
    match retry_stripe(env, "delete", || env.stripe().delete_customer(id.to_string())).await {
        Ok(_) | Err(StripeError::Api { status: 404, .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The live customers whose `metadata.tenant_id` names the tenant, oldest first, from the
/// strongly consistent list endpoint (never the lagging search).
async fn tenant_customers<E: Env>(env: &E, tenant_id: i64, email: &str) -> Result<Vec<String>, AppFailure> {
    let listed = retry_stripe(env, "list", || {
        env.stripe().list_customers_by_email(email.to_string())
    })
    .await?;
    // The list is newest first.
    let mut mine: Vec<String> = listed
        .into_iter()
        .filter(|c| !c.deleted && c.metadata.get("tenant_id") == Some(&tenant_id.to_string()))
        .map(|c| c.id)
        .collect();
    mine.reverse();
    Ok(mine)
}

/// Milliseconds since the epoch on the app's clock.
fn now_ms<E: Env>(env: &E) -> i64 {
    i64::try_from(env.now().since_epoch().as_millis()).unwrap_or(i64::MAX)
}

/// Creates (or gets back) the tenant's customer with the key its claim names, retrying
/// transient failures: with the *same* key after a timeout, 409 or 429 (nothing was saved, or
/// the first request may have committed), with the *next* key of the sequence after a 5xx
/// (which Stripe saved under the key and would replay) — moving the claim on in the database
/// with a compare-and-set, so every caller follows.
///
/// Before each attempt it re-reads the tenant row (after a 409 or a back-off the winner has
/// usually stored its customer already) and the claim. A key first sent more than
/// [`CUSTOMER_KEY_TRUSTED_FOR`] ago may have expired at Stripe, and sending it again could
/// create a second customer: then it looks for the tenant's customer first (adopting the
/// oldest) and only if there is none starts the key's window again.
async fn create_customer_idempotently<E: Env, C: DbConn>(
    env: &E,
    conn: &mut C,
    tenant_id: i64,
    user_id: &str,
    email: &str,
) -> Result<String, AppFailure> {
    let params = CustomerCreate {
        email: Some(email.to_string()),
        name: None,
        metadata: BTreeMap::from([
            ("tenant_id".to_string(), tenant_id.to_string()),
            ("user_id".to_string(), user_id.to_string()),
        ]),
    };
    let trusted_ms = i64::try_from(CUSTOMER_KEY_TRUSTED_FOR.as_millis()).unwrap_or(i64::MAX);
    let mut backoff = STRIPE_BACKOFF_FIRST;
    let mut last_error = None;
    for attempt in 0..STRIPE_ATTEMPTS_MAX {
        if attempt > 0 {
            if let Some(stored) = select_tenant(conn, user_id, false).await?.stripe_customer_id {
                return Ok(stored);
            }
        }
        let claim = read_customer_claim(conn, tenant_id).await?;
        let now = now_ms(env);
        let window_start = Stmt::update("customer_claims", &[("key_first_sent_ms", now.into())])
            .eq("tenant_id", tenant_id)
            .eq("generation", claim.generation);
        match claim.key_first_sent_ms {
            None => {
                conn.execute(window_start.is_null("key_first_sent_ms")).await?;
            }
            Some(sent) if now.saturating_sub(sent) >= trusted_ms => {
                if let Some(existing) = tenant_customers(env, tenant_id, email).await?.into_iter().next() {
                    env.note(&format!(
                        "creation key of tenant {tenant_id} may have expired; adopting {existing}"
                    ));
                    return Ok(existing);
                }
                conn.execute(window_start.eq("key_first_sent_ms", sent)).await?;
            }
            Some(_) => {}
        }
        // The claim was read before the awaits above: if the clock moved on by an hour or
        // more since (a paused process, a clock jump), the trust it gave may be stale. Read
        // it again rather than send a key that may have expired meanwhile.
        if now_ms(env).saturating_sub(now) >= CLAIM_STALE_AFTER_MS {
            env.note("the clock moved on since the claim was read; reading it again");
            continue;
        }
        let generation = u32::try_from(claim.generation).unwrap_or(u32::MAX);
        let key = customer_idempotency_key_generation(tenant_id, generation);
        env.note(&format!("{CREATION_KEY_SENT_NOTE}{key}"));
        match env.stripe().create_customer(params.clone(), Some(key)).await {
            Ok(customer) => return Ok(customer.id),
            Err(error) if stripe_error_is_transient(&error) => {
                let saved_5xx = matches!(error, StripeError::Api { status, .. } if status >= 500);
                if saved_5xx {
                    conn.execute(
                        Stmt::update(
                            "customer_claims",
                            &[
                                ("generation", (claim.generation + 1).into()),
                                ("key_first_sent_ms", crate::app::api::Value::Null),
                            ],
                        )
                        .eq("tenant_id", tenant_id)
                        .eq("generation", claim.generation),
                    )
                    .await?;
                }
                env.note(&format!(
                    "transient Stripe error, retrying with {} key: {error}",
                    if saved_5xx { "the next" } else { "the same" }
                ));
                last_error = Some(error);
                env.sleep(backoff).await;
                backoff *= 2;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(last_error.map_or_else(|| AppFailure::Other("no attempt made".into()), AppFailure::Stripe))
}

/// Returns the tenant's Stripe customer id, creating the customer exactly once.
///
/// Safe to call concurrently from any replica and any entry point, and after a crash at any
/// step: the deterministic key makes the creation idempotent, the conditional `UPDATE` makes
/// the store idempotent, and a leftover from an expired key is deleted here or by
/// [`reconcile`].
pub async fn ensure_stripe_customer<E: Env>(env: &E, user_id: &str) -> Result<String, AppFailure> {
    let mut conn = env.db().connect().await?;
    // 1. Fast path: already stored (no lock needed to read a committed value).
    let tenant = select_tenant(&mut conn, user_id, false).await?;
    if let Some(existing) = tenant.stripe_customer_id {
        return Ok(existing);
    }
    // 2. The external call, outside any transaction, with the row-derived key.
    let created = create_customer_idempotently(env, &mut conn, tenant.id, user_id, &tenant.email).await?;
    // 3. Compare-and-set: only the first writer stores; everyone else adopts what is stored.
    let stored = conn
        .execute(
            Stmt::update("tenants", &[("stripe_customer_id", created.as_str().into())])
                .eq("id", tenant.id)
                .is_null("stripe_customer_id"),
        )
        .await?;
    if stored.affected == 1 {
        return Ok(created);
    }
    let current = select_tenant(&mut conn, user_id, false).await?;
    match current.stripe_customer_id {
        Some(winner) if winner == created => Ok(winner),
        Some(winner) => {
            // Our customer is a leftover (the key expired between two attempts): remove it.
            env.note(&format!(
                "customer {created} lost to {winner}; deleting the leftover"
            ));
            delete_leftover(env, &created).await?;
            Ok(winner)
        }
        None => Err(AppFailure::Other(format!(
            "tenant {} has no customer after a failed store",
            tenant.id
        ))),
    }
}

/// The periodic repair sweep: adopt or delete customers left behind by crashes, and finish
/// signups that failed before their customer was created.
///
/// For each tenant, lists the customers with its email (the strongly consistent endpoint)
/// and keeps the ones whose `metadata.tenant_id` names it: if the tenant has no stored
/// customer, the oldest is adopted with the same compare-and-set; every other one is deleted.
/// A tenant whose owner has a profile (signed up) but no customer at all gets one through
/// [`ensure_stripe_customer`], the only creation path.
pub async fn reconcile<E: Env>(env: &E) -> Result<serde_json::Value, AppFailure> {
    let mut conn = env.db().connect().await?;
    let tenants = conn.execute(Stmt::select("tenants")).await?;
    let mut adopted = 0u32;
    let mut deleted = 0u32;
    let mut created = 0u32;
    for row in &tenants.rows {
        let Some(tenant) = crate::app::kit::Tenant::from_row(row) else {
            continue;
        };
        let mine = tenant_customers(env, tenant.id, &tenant.email).await?;
        let keep = match tenant.stripe_customer_id {
            Some(stored) => stored,
            None => {
                let Some(oldest) = mine.first().cloned() else {
                    if let Some(owner) = signed_up_owner(&mut conn, tenant.id).await? {
                        env.note(&format!(
                            "reconcile: signed-up user {owner} has no customer; creating it"
                        ));
                        ensure_stripe_customer(env, &owner).await?;
                        created += 1;
                    }
                    continue;
                };
                conn.execute(
                    Stmt::update("tenants", &[("stripe_customer_id", oldest.as_str().into())])
                        .eq("id", tenant.id)
                        .is_null("stripe_customer_id"),
                )
                .await?;
                adopted += 1;
                let current = conn.execute(Stmt::select("tenants").eq("id", tenant.id)).await?;
                match current.rows.first().and_then(crate::app::kit::Tenant::from_row) {
                    Some(Tenant {
                        stripe_customer_id: Some(stored),
                        ..
                    }) => stored,
                    _ => continue,
                }
            }
        };
        for leftover in mine.into_iter().filter(|id| *id != keep) {
            env.note(&format!(
                "reconcile: deleting leftover customer {leftover} of tenant {}",
                tenant.id
            ));
            delete_leftover(env, &leftover).await?;
            deleted += 1;
        }
    }
    Ok(serde_json::json!({ "adopted": adopted, "deleted": deleted, "created": created }))
}

/// The owner of the tenant, if they signed up (have a `profiles` row).
async fn signed_up_owner<C: DbConn>(conn: &mut C, tenant_id: i64) -> Result<Option<String>, AppFailure> {
    let tenant = conn.execute(Stmt::select("tenants").eq("id", tenant_id)).await?;
    let Some(owner) = tenant
        .rows
        .first()
        .and_then(|row| crate::app::kit::text_col(row, "owner_user_id"))
    else {
        return Ok(None);
    };
    let profile = conn
        .execute(Stmt::select("profiles").eq("user_id", owner.as_str()))
        .await?;
    Ok((!profile.rows.is_empty()).then_some(owner))
}

use crate::app::kit::Tenant;

/// The `stripe_events` table: one row per processed event id (the dedupe key).
fn stripe_events_table() -> TableSchema {
    TableSchema::new("stripe_events")
        .column("event_id", ColumnType::Text)
        .column("event_type", ColumnType::Text)
        .primary_key(&["event_id"])
}

/// The `subscriptions` table: current state of each Stripe subscription.
fn subscriptions_table() -> TableSchema {
    TableSchema::new("subscriptions")
        .column("stripe_subscription_id", ColumnType::Text)
        .column("stripe_customer_id", ColumnType::Text)
        .column("status", ColumnType::Text)
        .primary_key(&["stripe_subscription_id"])
}

/// Handles a Stripe webhook: verify, fetch current state, dedupe and apply in one transaction.
pub async fn handle_stripe_webhook<E: Env>(env: &E, payload: &[u8], signature: &str) -> AppReply {
    let event = match env.stripe().verify_webhook(payload, signature) {
        Ok(event) => event,
        Err(why) => return AppReply::error(400, format!("bad signature: {why}")),
    };
    let subscription_id = match event.event_type.as_str() {
        "checkout.session.completed" => event.object.get("subscription").and_then(|v| v.as_str()),
        t if t.starts_with("customer.subscription.") => event.object.get("id").and_then(|v| v.as_str()),
        _ => None,
    }
    .map(str::to_string);
    let result: Result<serde_json::Value, AppFailure> = async {
        // Fetch current state first, outside the transaction: event order is not guaranteed.
        let current = match &subscription_id {
            Some(id) => Some(env.stripe().retrieve_subscription(id.clone()).await?),
            None => None,
        };
        let mut conn = env.db().connect().await?;
        conn.execute(Stmt::Begin).await?;
        let claimed = conn
            .execute(
                Stmt::insert(
                    "stripe_events",
                    &[
                        ("event_id", event.id.as_str().into()),
                        ("event_type", event.event_type.as_str().into()),
                    ],
                )
                .on_conflict_do_nothing(&["event_id"]),
            )
            .await?;
        if claimed.affected == 0 {
            conn.execute(Stmt::Rollback).await?;
            return Ok(serde_json::json!({ "duplicate": event.id }));
        }
        if let Some(sub) = current {
            conn.execute(
                Stmt::insert(
                    "subscriptions",
                    &[
                        ("stripe_subscription_id", sub.id.as_str().into()),
                        ("stripe_customer_id", sub.customer.as_str().into()),
                        ("status", sub.status.as_str().into()),
                    ],
                )
                .on_conflict_update_excluded(&["stripe_subscription_id"], &["status"]),
            )
            .await?;
        }
        conn.execute(Stmt::Commit).await?;
        Ok(serde_json::json!({ "processed": event.id }))
    }
    .await;
    match result {
        Ok(body) => AppReply::ok(body),
        // Transient: Stripe retries on 5xx.
        Err(failure) => failure.into_reply(),
    }
}

impl AppLogic for Reference {
    fn id(&self) -> &str {
        "reference"
    }

    fn schema(&self) -> Vec<TableSchema> {
        vec![
            tenants_table(),
            customer_claims_table(),
            stripe_events_table(),
            subscriptions_table(),
            signup::profiles_table(),
            orgs::team_orgs_table(),
            orgs::clerk_events_table(),
        ]
    }

    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
        tenant_rows(users)
    }

    fn tables(&self) -> TableMeanings {
        TableMeanings::new()
            .customer("tenants", "owner_user_id", "stripe_customer_id")
            .team_org("team_orgs", "user_id", "clerk_org_id")
            .processed_events(Service::Stripe, "stripe_events", "event_id")
            .processed_events(Service::Clerk, "clerk_events", "svix_id")
            .subscription_status("subscriptions", "stripe_subscription_id", "status")
            .claim("team_orgs", "clerk_org_id")
            .profile("profiles", "user_id")
            .effect("subscriptions", "stripe_subscription_id")
    }

    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        match call {
            AppCall::Checkout {
                user_id,
                price,
                promotion_code,
            } => reply(
                async {
                    let customer = ensure_stripe_customer(env, &user_id).await?;
                    create_session(env, &customer, &user_id, &price, promotion_code.as_deref()).await
                }
                .await,
            ),
            AppCall::ApplyCoupon {
                user_id,
                price,
                promotion_code,
            } => reply(
                async {
                    let customer = ensure_stripe_customer(env, &user_id).await?;
                    create_session(env, &customer, &user_id, &price, Some(&promotion_code)).await
                }
                .await,
            ),
            AppCall::StripeWebhook { payload, signature } => {
                handle_stripe_webhook(env, &payload, &signature).await
            }
            AppCall::Reconcile => reply(
                async {
                    let customers = reconcile(env).await?;
                    let team_orgs = orgs::reconcile_team_orgs(env).await?;
                    Ok(serde_json::json!({ "customers": customers, "team_orgs": team_orgs }))
                }
                .await,
            ),
            AppCall::Signup { user_id } => reply(signup::signup(env, &user_id).await),
            AppCall::CreateTeamOrg { user_id, plan } => reply(
                orgs::ensure_team_org(env, &user_id, &plan)
                    .await
                    .map(|org_id| serde_json::json!({ "org_id": org_id })),
            ),
            AppCall::ClerkWebhook {
                svix_id,
                svix_timestamp,
                svix_signature,
                payload,
            } => orgs::handle_clerk_webhook(env, &svix_id, &svix_timestamp, &svix_signature, &payload).await,
        }
    }
}
