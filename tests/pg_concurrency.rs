//! The reference flows with real concurrency: a multi-threaded tokio runtime, a real
//! PostgreSQL (the schema from `sql/001_reference.sql`), and the in-process Stripe and Clerk
//! fakes. Many concurrent checkouts, coupon re-applies, signups, team-org creations and
//! duplicated Clerk `subscription.created` webhooks hit the same users from four replicas,
//! then every Stripe event the race produced is delivered three times at once;
//! the same oracle as every other runtime then checks the end state (one customer and one
//! team org per user, no orphans, no dangling references, signups complete).
//!
//! The catalogue's buggy `checkout.naive` and `checkout.transaction` run the same race and
//! must fail at least once; the test prints how often.
//!
//! Needs `DATABASE_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`); without it every
//! test prints that it was skipped and returns.

use std::sync::Arc;

use racehound::app::api::{AppCall, AppLogic, UserSpec};
use racehound::app::reference::Reference;
use racehound::app::strategies::registry::{by_id, AnyStrategy};
use racehound::fakes::clerk::svix;
use racehound::fakes::stripe::webhook as stripe_webhook;
use racehound::inproc::Shared;
use racehound::oracle::{builtin_invariants, check, from_fakes::view_from_snapshots, Phase, Violation};
use racehound::pg::{connect_raw, drop_schema, execute_on, install_schema, read_snapshot, PgDb, PgEnv};
use racehound::setup::{prepare, COUPON_ID};
use racehound::time::{Clock, ManualClock, SimTime};

/// Runs of the reference that must all pass.
const REFERENCE_RUNS: u32 = 100;
/// Runs of each buggy strategy.
const BUGGY_RUNS: u32 = 20;
/// Users per run (all race on every flow).
const USERS: u32 = 2;
/// Replicas (environments) the calls are spread over.
const REPLICAS: usize = 4;
/// The team plan asked for.
const PLAN: &str = "team";

fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!(
                "SKIPPED {test}: DATABASE_URL is not set (hint: run .ci/pg.sh, or export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)"
            );
            None
        }
    }
}

fn clerk_webhook(secret: &str, svix_id: &str, now: SimTime, user: &UserSpec) -> AppCall {
    let payload = serde_json::json!({
        "type": "subscription.created",
        "data": { "payer": { "user_id": user.user_id }, "plan": PLAN },
    })
    .to_string()
    .into_bytes();
    let timestamp = now.unix_secs();
    AppCall::ClerkWebhook {
        svix_id: svix_id.to_string(),
        svix_timestamp: timestamp.to_string(),
        svix_signature: svix::sign(secret, svix_id, timestamp, &payload),
        payload,
    }
}

/// The calls of one run: for each user, checkouts, coupon re-applies, signups, team-org
/// creations and three deliveries of the same Clerk webhook, interleaved.
fn calls(users: &[UserSpec], price: &str, clerk_secret: &str, now: SimTime, with_orgs: bool) -> Vec<AppCall> {
    let mut out = Vec::new();
    for round in 0..4 {
        for user in users {
            out.push(AppCall::Checkout {
                user_id: user.user_id.clone(),
                price: price.to_string(),
                promotion_code: None,
            });
            out.push(AppCall::ApplyCoupon {
                user_id: user.user_id.clone(),
                price: price.to_string(),
                promotion_code: COUPON_ID.to_string(),
            });
            if with_orgs {
                out.push(AppCall::Signup {
                    user_id: user.user_id.clone(),
                });
                out.push(AppCall::CreateTeamOrg {
                    user_id: user.user_id.clone(),
                    plan: PLAN.to_string(),
                });
                if round < 3 {
                    let svix_id = format!("msg_sub_{}", user.user_id);
                    out.push(clerk_webhook(clerk_secret, &svix_id, now, user));
                }
            }
        }
    }
    out
}

struct RunResult {
    violations: Vec<Violation>,
    failed_calls: Vec<String>,
    /// Notes the app wrote (retries after meeting an in-flight request, adopted orgs, …).
    notes: usize,
    /// Distinct Stripe events delivered (three times each).
    stripe_events: usize,
}

/// One run on its own schema: set up, fire every call at once on the multi-threaded runtime,
/// then read the end state and ask the oracle.
async fn one_run<A: AppLogic + Copy>(
    app: A,
    url: &str,
    schema: &str,
    seed: u64,
    with_orgs: bool,
) -> RunResult {
    let prepared = prepare(seed, &app, USERS, SimTime::EPOCH).expect("setup");
    let shared = Shared::new(&prepared, Arc::new(ManualClock::default()));
    let admin = connect_raw(url, None).await.expect("connect");
    let seed_rows = app.seed_rows(&prepared.users);
    if app.id() == "reference" {
        // The migration, exactly as a team would apply it.
        install_schema(&admin, schema, &[], &[]).await.expect("schema");
        admin
            .batch_execute(racehound::pg::REFERENCE_MIGRATION)
            .await
            .expect("migration");
        for stmt in &seed_rows {
            execute_on(&admin, stmt).await.expect("seed row");
        }
    } else {
        install_schema(&admin, schema, &app.schema(), &seed_rows)
            .await
            .expect("schema");
    }
    let db = PgDb::new(url, Some(schema));
    let envs: Vec<Arc<PgEnv>> = (0..REPLICAS)
        .map(|i| {
            Arc::new(PgEnv::new(
                &shared,
                &prepared,
                db.clone(),
                &format!("app-{}", i + 1),
            ))
        })
        .collect();
    let now = shared.clock.now();
    let all = calls(
        &prepared.users,
        &prepared.price_id,
        &prepared.clerk_webhook_secret,
        now,
        with_orgs,
    );
    let mut tasks = tokio::task::JoinSet::new();
    for (i, call) in all.into_iter().enumerate() {
        let env = Arc::clone(&envs[i % REPLICAS]);
        tasks.spawn(async move {
            let what = format!("{call:?}");
            let reply = app.handle(env.as_ref(), call).await;
            (what, reply)
        });
    }
    let mut failed_calls = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (what, reply) = joined.expect("task");
        if reply.status != 200 {
            failed_calls.push(format!(
                "{} {} <- {}",
                reply.status,
                reply.body,
                what.chars().take(80).collect::<String>()
            ));
        }
    }
    let mut stripe_events = std::collections::BTreeSet::new();
    if with_orgs {
        // Every Stripe event the race produced, delivered three times at once (the same
        // `evt_…` each time, as Stripe's retries are).
        let events = shared.stripe.lock().drain_new_events();
        let secret = prepared.stripe_webhook_secret.clone();
        let timestamp = shared.clock.now().unix_secs();
        for (i, event) in events.iter().enumerate() {
            let payload = serde_json::json!({
                "id": event.id, "object": "event", "type": event.event_type,
                "data": { "object": event.object },
            })
            .to_string()
            .into_bytes();
            let signature = stripe_webhook::sign_header(&secret, timestamp, &payload);
            stripe_events.insert(event.id.clone());
            for copy in 0..3 {
                let env = Arc::clone(&envs[(i + copy) % REPLICAS]);
                let call = AppCall::StripeWebhook {
                    payload: payload.clone(),
                    signature: signature.clone(),
                };
                tasks.spawn(async move {
                    let what = format!("{call:?}");
                    let reply = app.handle(env.as_ref(), call).await;
                    (what, reply)
                });
            }
        }
        while let Some(joined) = tasks.join_next().await {
            let (what, reply) = joined.expect("task");
            if reply.status != 200 {
                failed_calls.push(format!(
                    "{} {} <- {}",
                    reply.status,
                    reply.body,
                    what.chars().take(80).collect::<String>()
                ));
            }
        }
    }
    let db_snapshot = read_snapshot(&admin, &app.schema()).await.expect("snapshot");
    if with_orgs {
        let recorded: std::collections::BTreeSet<String> = db_snapshot
            .tables
            .get("stripe_events")
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| r.get("event_id").and_then(|v| v.as_text()).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let rows = db_snapshot.tables.get("stripe_events").map_or(0, Vec::len);
        if recorded != stripe_events || rows != stripe_events.len() {
            failed_calls.push(format!(
                "stripe_events holds {rows} rows for {} delivered events (each delivered 3 times)",
                stripe_events.len()
            ));
        }
    }
    let mut view = view_from_snapshots(
        &prepared.users,
        &shared.stripe.lock().snapshot(),
        &shared.clerk.lock().snapshot(),
        &db_snapshot,
        &app.schema(),
    );
    view.tables = app.tables();
    if with_orgs {
        view.signed_up = prepared.users.iter().map(|u| u.user_id.clone()).collect();
        view.team_plans = prepared
            .users
            .iter()
            .map(|u| (u.user_id.clone(), PLAN.to_string()))
            .collect();
    }
    let violations = check(&builtin_invariants(), &view, Phase::Quiescence);
    // Race notes only: the reference also notes every creation key it sends.
    let notes = envs
        .iter()
        .flat_map(|e| e.notes())
        .filter(|n| !n.starts_with(racehound::app::reference::CREATION_KEY_SENT_NOTE))
        .count();
    drop(envs);
    drop(db);
    drop_schema(&admin, schema).await.expect("drop schema");
    RunResult {
        violations,
        failed_calls,
        notes,
        stripe_events: stripe_events.len(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reference_passes_real_concurrency_100_runs_in_a_row() {
    let Some(url) = database_url("reference_passes_real_concurrency_100_runs_in_a_row") else {
        return;
    };
    let mut passed = 0u32;
    let mut notes = 0usize;
    let mut events = 0usize;
    for run in 0..REFERENCE_RUNS {
        let result = one_run(Reference, &url, "rh_conc_reference", u64::from(run), true).await;
        assert_eq!(
            result.violations,
            vec![],
            "run {run}: the reference broke an invariant (after {passed} passing runs)"
        );
        assert_eq!(
            result.failed_calls,
            Vec::<String>::new(),
            "run {run}: a reference call failed (after {passed} passing runs)"
        );
        assert!(result.stripe_events > 0, "run {run}: no Stripe event to deliver");
        passed += 1;
        notes += result.notes;
        events += result.stripe_events;
    }
    println!(
        "reference: {passed} of {REFERENCE_RUNS} real-concurrency runs in a row passed the oracle \
         ({notes} race notes: retries after an in-flight request, adopted orgs; \
         {events} Stripe events each delivered 3 times at once)"
    );
    assert_eq!(passed, REFERENCE_RUNS);
}

async fn buggy(id: &str, schema: &str) -> Option<(u32, Vec<String>)> {
    let url = database_url(&format!("{id} under real concurrency"))?;
    let strategy: AnyStrategy = by_id(id).expect("catalogue id");
    let mut failed_runs = 0u32;
    let mut seen = std::collections::BTreeSet::new();
    for run in 0..BUGGY_RUNS {
        let result = one_run(strategy, &url, schema, u64::from(run), false).await;
        if !result.violations.is_empty() {
            failed_runs += 1;
            seen.extend(result.violations.iter().map(|v| v.invariant.clone()));
        }
    }
    println!(
        "{id}: the oracle found violations in {failed_runs} of {BUGGY_RUNS} real-concurrency runs ({seen:?})"
    );
    Some((failed_runs, seen.into_iter().collect()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_naive_fails_under_real_concurrency() {
    let Some((failed, seen)) = buggy("checkout.naive", "rh_conc_naive").await else {
        return;
    };
    assert!(failed >= 1, "checkout.naive never failed in {BUGGY_RUNS} runs");
    assert!(seen.iter().any(|v| v == "no_duplicate_customers"), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_transaction_fails_under_real_concurrency() {
    let Some((failed, seen)) = buggy("checkout.transaction", "rh_conc_transaction").await else {
        return;
    };
    assert!(
        failed >= 1,
        "checkout.transaction never failed in {BUGGY_RUNS} runs"
    );
    assert!(seen.iter().any(|v| v == "no_duplicate_customers"), "{seen:?}");
}

/// The pool never recycles a connection dropped inside a transaction or holding a session
/// advisory lock: the server rolls it back and releases its locks, as the model's
/// `disconnect` does. Errors carry the model's SQLSTATE and constraint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_closes_connections_dropped_mid_transaction() {
    use racehound::app::api::{ColumnType, Db, DbConn, Stmt, TableSchema};
    use racehound::fakes::postgres::LockScope;
    let Some(url) = database_url("pool_closes_connections_dropped_mid_transaction") else {
        return;
    };
    let table = TableSchema::new("t")
        .column("id", ColumnType::Int)
        .primary_key(&["id"]);
    let admin = connect_raw(&url, None).await.expect("connect");
    install_schema(&admin, "rh_pool", &[table], &[])
        .await
        .expect("schema");
    let db = PgDb::new(&url, Some("rh_pool"));
    let insert = || Stmt::insert("t", &[("id", 1.into())]);
    {
        let mut conn = db.connect().await.expect("connect");
        conn.execute(Stmt::Begin).await.expect("begin");
        conn.execute(insert()).await.expect("insert");
    }
    assert_eq!(
        db.idle_count(),
        0,
        "a connection dropped mid-transaction was kept"
    );
    {
        let mut conn = db.connect().await.expect("connect");
        // Waits, if at all, only until the dropped backend has rolled back.
        assert_eq!(
            conn.execute(insert())
                .await
                .expect("insert after rollback")
                .affected,
            1
        );
        let dup = conn.execute(insert()).await.expect_err("duplicate");
        assert_eq!((dup.code(), dup.constraint.as_deref()), ("23505", Some("t_pkey")));
    }
    assert_eq!(db.idle_count(), 1, "a clean connection goes back to the pool");
    let key = 880_001;
    {
        let mut conn = db.connect().await.expect("connect");
        conn.execute(Stmt::advisory_lock(key, LockScope::Session))
            .await
            .expect("lock");
    }
    assert_eq!(db.idle_count(), 0, "a connection holding a session lock was kept");
    let mut conn = db.connect().await.expect("connect");
    let mut locked = false;
    for _ in 0..100 {
        let got = conn
            .execute(Stmt::try_advisory_lock(key, LockScope::Session))
            .await
            .expect("try lock");
        if got.first("locked") == Some(&racehound::app::api::Value::Bool(true)) {
            locked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(locked, "the dropped connection's session lock was never released");
    conn.execute(Stmt::advisory_unlock(key)).await.expect("unlock");
    drop(conn);
    drop_schema(&admin, "rh_pool").await.expect("drop");
}
