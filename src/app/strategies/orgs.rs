//! Seed 002 (`../shared/seeds/002_*.txt`, "Technical Debt"): `POST /api/orgs/create`, which
//! "uses 'Check-Before-Create' pattern — searches Clerk for existing organizations before
//! creating new ones", then stores the org with `db.organization.create(...)`; and the
//! improvements the document proposes for it.
//!
//! `AppCall::CreateTeamOrg { user_id, plan }` stands for the seed's body `{ name, ownerUserId,
//! email }`; the `organizations` table keeps `clerk_org_id`, owner and plan.

use std::collections::BTreeMap;

use crate::app::api::{
    AppCall, AppLogic, AppReply, ClerkApi, ColumnType, CustomerCreate, Db, DbConn, Env, Stmt, StripeApi,
    TableSchema, UserSpec, Value,
};
use crate::app::kit::{
    first_row, fnv1a, ignored, org_plan, team_org_params, text_col, unsupported, AppFailure,
};
use crate::vocabulary::TableMeanings;

/// Lifetime of a stored idempotency key (`expires_at = created_at + 24 h`).
pub const IDEMPOTENCY_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// Lifetime of a cached response in `orgs.dedupe_cache` ("short TTL (1-5 minutes)": 1 minute).
pub const DEDUPE_TTL_MS: u64 = 60 * 1000;

/// `orgs.idempotency_table` — seed 002 item 1, "Idempotency Key Pattern".
///
/// "Headers: Idempotency-Key: `<client-generated-uuid>`"; the `idempotency_keys` table (`key`
/// primary key, `endpoint`, `request_hash`, `response_status`, `response_body`, `created_at`,
/// `expires_at`); "Check if key exists — If exists, return cached response — If not, proceed
/// with operation and store result". `AppCall` carries no header, so the key is what a client
/// that generates a fresh UUID per attempt sends: unique per request, derived from the replica,
/// `env.now()` and a per-replica counter (a retry or a second tab is a new attempt, so a new
/// key). The check and the store are separate statements with the Clerk call between them and
/// no lock: the same key sent concurrently runs twice, and a new key per attempt dedupes
/// nothing. 2xx and 4xx answers are stored, 5xx are not (as Stripe does).
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgsIdempotencyTable;

/// `orgs.rollback` — seed 002 item 2, "Rollback Mechanism for Partial Failures".
///
/// The seed's code: `const clerkOrg = await clerk.organizations.createOrganization({...});
/// try { const dbOrg = await db.organization.create({...}) } catch (dbError) { await
/// clerk.organizations.deleteOrganization(clerkOrg.id); throw dbError }`, after the existing
/// check-before-create. A crash between create and delete, or a failing delete, leaves the
/// Clerk org orphaned; concurrent requests still both pass the check.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgsRollback;

/// `orgs.saga` — seed 002 item 3, "Saga pattern for distributed transactions … Compensation
/// logic for each step".
///
/// Reading implemented: an *orchestrated* saga run in process, with no durable saga log.
/// Steps: (1) create the Clerk org ↔ delete it; (2) create a Stripe customer for the org
/// (`metadata.user_id`, `metadata.org_id`) ↔ delete it; (3) insert the `organizations` row
/// holding both ids. When a step fails, the compensations of the completed steps run in
/// reverse order, each once (a failed compensation is logged, not retried). A crash mid-saga
/// loses the orchestrator's memory, so nothing compensates: orphans. The check-before-create
/// in front stays racy.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgsSaga;

/// `orgs.dedupe_cache` — seed 002 item 5, "Request Deduplication Cache".
///
/// "Cache responses with short TTL (1-5 minutes) — Use request hash (method + path + body +
/// headers) as key — Return cached response for duplicate requests within TTL." The hash
/// covers method, path and body; of the headers only the session (the same user in every tab)
/// would be stable, so none that vary per request are included. The cache is
/// the replica's process memory (`env.memory()`), filled when a request *completes*: two
/// concurrent requests both miss, and another replica (or a restarted one) never sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgsDedupeCache;

fn organizations_table(with_customer: bool) -> TableSchema {
    let table = TableSchema::new("organizations")
        .column("clerk_org_id", ColumnType::Text)
        .column("owner_user_id", ColumnType::Text)
        .column("plan", ColumnType::Text)
        .column("name", ColumnType::Text);
    let table = if with_customer {
        table.nullable("stripe_customer_id", ColumnType::Text)
    } else {
        table
    };
    table.primary_key(&["clerk_org_id"])
}

fn idempotency_keys_table() -> TableSchema {
    TableSchema::new("idempotency_keys")
        .column("key", ColumnType::Text)
        .column("endpoint", ColumnType::Text)
        .column("request_hash", ColumnType::Text)
        .column("response_status", ColumnType::Int)
        .column("response_body", ColumnType::Text)
        .column("created_at", ColumnType::Int)
        .column("expires_at", ColumnType::Int)
        .primary_key(&["key"])
}

/// How the org is created after the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Create {
    /// Clerk create, then DB insert (no cleanup).
    Plain,
    /// Clerk create, DB insert; delete the Clerk org when the insert fails.
    Rollback,
    /// Clerk create, Stripe customer, DB insert, with compensations.
    Saga,
}

/// Check-before-create: the user's org with this plan, as the seed's current code finds it.
async fn existing_org<E: Env>(env: &E, user_id: &str, plan: &str) -> Result<Option<String>, AppFailure> {
    let orgs = env.clerk().list_user_organizations(user_id.to_string()).await?;
    Ok(orgs.into_iter().find(|o| org_plan(o) == Some(plan)).map(|o| o.id))
}

fn org_row(org_id: &str, user_id: &str, plan: &str, name: &str, customer: Option<&str>) -> Stmt {
    let mut values: Vec<(&str, Value)> = vec![
        ("clerk_org_id", org_id.into()),
        ("owner_user_id", user_id.into()),
        ("plan", plan.into()),
        ("name", name.into()),
    ];
    if let Some(customer) = customer {
        values.push(("stripe_customer_id", customer.into()));
    }
    Stmt::insert("organizations", &values)
}

/// The route body: check, then create the way `how` says.
async fn create_org<E: Env>(
    env: &E,
    user_id: &str,
    plan: &str,
    how: Create,
) -> Result<serde_json::Value, AppFailure> {
    if let Some(org_id) = existing_org(env, user_id, plan).await? {
        return Ok(serde_json::json!({ "org_id": org_id, "existing": true }));
    }
    let params = team_org_params(user_id, plan, None);
    let name = params.name.clone();
    let org = env.clerk().create_organization(params).await?;
    match how {
        Create::Plain => {
            let mut conn = env.db().connect().await?;
            conn.execute(org_row(&org.id, user_id, plan, &name, None)).await?;
        }
        Create::Rollback => {
            let inserted: Result<(), AppFailure> = async {
                let mut conn = env.db().connect().await?;
                conn.execute(org_row(&org.id, user_id, plan, &name, None)).await?;
                Ok(())
            }
            .await;
            if let Err(db_error) = inserted {
                env.note(&format!(
                    "db insert failed ({db_error:?}); rolling back Clerk org {}",
                    org.id
                ));
                if let Err(e) = env.clerk().delete_organization(org.id.clone()).await {
                    env.note(&format!("rollback of Clerk org {} failed: {e}", org.id));
                }
                return Err(db_error);
            }
        }
        Create::Saga => return saga_rest(env, user_id, plan, &name, &org.id).await,
    }
    Ok(serde_json::json!({ "org_id": org.id, "created": true }))
}

/// Saga steps 2 and 3 after the Clerk org (step 1) exists, compensating on failure.
async fn saga_rest<E: Env>(
    env: &E,
    user_id: &str,
    plan: &str,
    name: &str,
    org_id: &str,
) -> Result<serde_json::Value, AppFailure> {
    // Step 2: the Stripe customer for the org.
    let customer: Result<String, AppFailure> = async {
        let user = env.clerk().get_user(user_id.to_string()).await?;
        let params = CustomerCreate {
            email: user.email,
            name: Some(name.to_string()),
            metadata: BTreeMap::from([
                ("user_id".to_string(), user_id.to_string()),
                ("org_id".to_string(), org_id.to_string()),
            ]),
        };
        Ok(env.stripe().create_customer(params, None).await?.id)
    }
    .await;
    let customer = match customer {
        Ok(customer) => customer,
        Err(failure) => {
            compensate(env, org_id, None).await;
            return Err(failure);
        }
    };
    // Step 3: the row.
    let stored: Result<(), AppFailure> = async {
        let mut conn = env.db().connect().await?;
        conn.execute(org_row(org_id, user_id, plan, name, Some(&customer)))
            .await?;
        Ok(())
    }
    .await;
    if let Err(failure) = stored {
        compensate(env, org_id, Some(&customer)).await;
        return Err(failure);
    }
    Ok(serde_json::json!({ "org_id": org_id, "customer": customer, "created": true }))
}

/// Runs the compensations of the completed steps in reverse order, once each.
async fn compensate<E: Env>(env: &E, org_id: &str, customer: Option<&str>) {
    if let Some(customer) = customer {
        env.note(&format!(
            "saga: compensating step 2, deleting customer {customer}"
        ));
        if let Err(e) = env.stripe().delete_customer(customer.to_string()).await {
            env.note(&format!("saga: compensation of {customer} failed: {e}"));
        }
    }
    env.note(&format!("saga: compensating step 1, deleting org {org_id}"));
    if let Err(e) = env.clerk().delete_organization(org_id.to_string()).await {
        env.note(&format!("saga: compensation of {org_id} failed: {e}"));
    }
}

fn to_reply(result: Result<serde_json::Value, AppFailure>) -> AppReply {
    match result {
        Ok(body) => AppReply::ok(body),
        Err(failure) => failure.into_reply(),
    }
}

fn request_hash(user_id: &str, plan: &str) -> String {
    let body = serde_json::json!({ "ownerUserId": user_id, "plan": plan }).to_string();
    format!(
        "{:016x}",
        fnv1a(format!("POST /api/orgs/create\n{body}").as_bytes())
    )
}

/// The key a client that generates a fresh UUID per attempt would send.
fn attempt_key<E: Env>(env: &E) -> String {
    let counter = {
        let mut memory = env.memory().lock();
        let entry = memory
            .entry("idempotency_key_counter".to_string())
            .or_insert_with(|| "0".to_string());
        let next = entry.parse::<u64>().unwrap_or(0).saturating_add(1);
        *entry = next.to_string();
        next
    };
    format!("{}-{}-{counter}", env.replica(), env.now().unix_ms())
}

async fn with_idempotency_table<E: Env>(env: &E, user_id: &str, plan: &str) -> Result<AppReply, AppFailure> {
    let key = attempt_key(env);
    let now_ms = i64::try_from(env.now().unix_ms()).unwrap_or(i64::MAX);
    let mut conn = env.db().connect().await?;
    let cached = conn
        .execute(Stmt::select("idempotency_keys").eq("key", key.as_str()))
        .await?;
    if let Some(row) = first_row(&cached) {
        let expires = row.get("expires_at").and_then(Value::as_int).unwrap_or(0);
        if expires > now_ms {
            let status = row.get("response_status").and_then(Value::as_int).unwrap_or(500);
            let body = text_col(row, "response_body")
                .and_then(|b| serde_json::from_str(&b).ok())
                .unwrap_or(serde_json::Value::Null);
            return Ok(AppReply {
                status: u16::try_from(status).unwrap_or(500),
                body,
            });
        }
    }
    let answer = to_reply(create_org(env, user_id, plan, Create::Plain).await);
    if answer.status < 500 {
        let ttl_ms = i64::try_from(IDEMPOTENCY_TTL_MS).unwrap_or(i64::MAX);
        conn.execute(
            Stmt::insert(
                "idempotency_keys",
                &[
                    ("key", key.as_str().into()),
                    ("endpoint", "POST /api/orgs/create".into()),
                    ("request_hash", request_hash(user_id, plan).into()),
                    ("response_status", Value::Int(i64::from(answer.status))),
                    ("response_body", answer.body.to_string().into()),
                    ("created_at", Value::Int(now_ms)),
                    ("expires_at", Value::Int(now_ms.saturating_add(ttl_ms))),
                ],
            )
            .on_conflict_do_nothing(&["key"]),
        )
        .await?;
    }
    Ok(answer)
}

async fn with_dedupe_cache<E: Env>(env: &E, user_id: &str, plan: &str) -> AppReply {
    let cache_key = format!("dedupe:{}", request_hash(user_id, plan));
    let now_ms = env.now().unix_ms();
    let hit = env.memory().lock().get(&cache_key).cloned();
    if let Some(entry) = hit {
        let mut parts = entry.splitn(3, '|');
        let expires = parts.next().and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
        let status = parts.next().and_then(|p| p.parse::<u16>().ok());
        let body = parts.next().and_then(|b| serde_json::from_str(b).ok());
        if let (true, Some(status), Some(body)) = (expires > now_ms, status, body) {
            env.note("dedupe cache hit");
            return AppReply { status, body };
        }
    }
    let answer = to_reply(create_org(env, user_id, plan, Create::Plain).await);
    if (200..300).contains(&answer.status) {
        let expires = env.now().unix_ms().saturating_add(DEDUPE_TTL_MS);
        env.memory()
            .lock()
            .insert(cache_key, format!("{expires}|{}|{}", answer.status, answer.body));
    }
    answer
}

/// Which seed-002 strategy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seed002 {
    IdempotencyTable,
    Rollback,
    Saga,
    DedupeCache,
}

async fn handle_002<E: Env>(env: &E, call: AppCall, which: Seed002) -> AppReply {
    let (user_id, plan) = match call {
        AppCall::CreateTeamOrg { user_id, plan } => (user_id, plan),
        AppCall::StripeWebhook { .. } | AppCall::ClerkWebhook { .. } | AppCall::Reconcile => {
            return ignored()
        }
        other => return unsupported(&other),
    };
    match which {
        Seed002::IdempotencyTable => with_idempotency_table(env, &user_id, &plan)
            .await
            .unwrap_or_else(AppFailure::into_reply),
        Seed002::Rollback => to_reply(create_org(env, &user_id, &plan, Create::Rollback).await),
        Seed002::Saga => to_reply(create_org(env, &user_id, &plan, Create::Saga).await),
        Seed002::DedupeCache => with_dedupe_cache(env, &user_id, &plan).await,
    }
}

/// What the seed-002 tables mean: the org per owner; the saga also stores the Stripe customer
/// it creates on the org's row.
fn tables_002(which: Seed002) -> TableMeanings {
    let tables = TableMeanings::new().team_org("organizations", "owner_user_id", "clerk_org_id");
    match which {
        Seed002::Saga => tables.customer("organizations", "owner_user_id", "stripe_customer_id"),
        _ => tables,
    }
}

macro_rules! seed002_strategy {
    ($ty:ty, $id:literal, $which:expr, $schema:expr) => {
        impl AppLogic for $ty {
            fn id(&self) -> &str {
                $id
            }

            fn schema(&self) -> Vec<TableSchema> {
                $schema
            }

            fn seed_rows(&self, _users: &[UserSpec]) -> Vec<Stmt> {
                Vec::new()
            }

            fn tables(&self) -> TableMeanings {
                tables_002($which)
            }

            async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
                handle_002(env, call, $which).await
            }
        }
    };
}

seed002_strategy!(
    OrgsIdempotencyTable,
    "orgs.idempotency_table",
    Seed002::IdempotencyTable,
    vec![organizations_table(false), idempotency_keys_table()]
);
seed002_strategy!(
    OrgsRollback,
    "orgs.rollback",
    Seed002::Rollback,
    vec![organizations_table(false)]
);
seed002_strategy!(
    OrgsSaga,
    "orgs.saga",
    Seed002::Saga,
    vec![organizations_table(true)]
);
seed002_strategy!(
    OrgsDedupeCache,
    "orgs.dedupe_cache",
    Seed002::DedupeCache,
    vec![organizations_table(false)]
);
