//! Sequential behaviour of every strategy against the in-memory double: one user, calls one
//! after another, plus injected Stripe / Clerk / DB failures. Races are the world's job.

use super::checkout::{
    CheckoutForUpdate, CheckoutNaive, CheckoutStripeIdempotency, CheckoutUniqueConstraint,
};
use super::customer::{CustomerAtomicDbFn, CustomerUniqueAndFallback, SignupContinueOnFailure};
use super::org::{OrgCheckThenCreate, OrgIdempotencyKey, OrgMetadataFlag, OrgWebhookPriority};
use super::orgs::{OrgsDedupeCache, OrgsIdempotencyTable, OrgsRollback, OrgsSaga, DEDUPE_TTL_MS};
use super::registry::{all, by_id, AnyStrategy};
use super::testkit::{block_on, TestEnv, VALID_SIGNATURE};
use super::webhook::{WebhookIdempotentUpsert, WebhookPerCustomerQueue};
use crate::app::api::{AppCall, AppLogic, AppReply, Env, Row, Subscription, UserSpec, Value};
use crate::app::reference::Reference;

fn user() -> UserSpec {
    UserSpec {
        user_id: "user_1".into(),
        email: "u1@example.com".into(),
        tenant_id: 1,
    }
}

fn world<A: AppLogic>(app: &A) -> TestEnv {
    TestEnv::new(app, &[user()])
}

fn run<A: AppLogic>(app: &A, env: &TestEnv, call: AppCall) -> AppReply {
    block_on(app.handle(env, call))
}

fn checkout() -> AppCall {
    AppCall::Checkout {
        user_id: "user_1".into(),
        price: "price_pro".into(),
        promotion_code: None,
    }
}

fn coupon() -> AppCall {
    AppCall::ApplyCoupon {
        user_id: "user_1".into(),
        price: "price_pro".into(),
        promotion_code: "SAVE20".into(),
    }
}

fn team_org(plan: &str) -> AppCall {
    AppCall::CreateTeamOrg {
        user_id: "user_1".into(),
        plan: plan.into(),
    }
}

fn clerk_subscription(svix_id: &str, plan: &str) -> AppCall {
    let payload = serde_json::json!({
        "type": "subscription.created",
        "data": { "payer": { "user_id": "user_1" }, "items": [{ "plan": { "slug": plan } }] }
    });
    AppCall::ClerkWebhook {
        svix_id: svix_id.into(),
        svix_timestamp: "1767225600".into(),
        svix_signature: VALID_SIGNATURE.into(),
        payload: payload.to_string().into_bytes(),
    }
}

fn stripe_event(id: &str, event_type: &str, object: serde_json::Value) -> AppCall {
    let payload = serde_json::json!({ "id": id, "type": event_type, "data": { "object": object } });
    AppCall::StripeWebhook {
        payload: payload.to_string().into_bytes(),
        signature: VALID_SIGNATURE.into(),
    }
}

fn text(row: &Row, column: &str) -> Option<String> {
    row.get(column).and_then(Value::as_text).map(str::to_string)
}

fn strategy(id: &str) -> AnyStrategy {
    by_id(id).unwrap_or_else(|| panic!("unknown strategy {id}"))
}

/// Strategies whose checkout ensures a stored customer (seed 001, seed 004, reference).
const STORING_CHECKOUTS: &[&str] = &[
    "signup.continue_on_failure",
    "customer.unique_and_fallback",
    "customer.atomic_db_fn",
    "checkout.naive",
    "checkout.frontend_flag",
    "checkout.transaction",
    "checkout.for_update",
    "checkout.unique_constraint",
    "checkout.stripe_idempotency",
    "checkout.debounce",
    "reference",
];

#[test]
fn checkout_then_coupon_creates_one_customer_referenced_by_the_db() {
    for id in STORING_CHECKOUTS {
        let app = strategy(id);
        let env = world(&app);
        assert_eq!(run(&app, &env, checkout()).status, 200, "{id} checkout");
        assert_eq!(run(&app, &env, coupon()).status, 200, "{id} coupon");
        let live = env.stripe.live_customers();
        assert_eq!(live.len(), 1, "{id}: {live:?}");
        let customer = &live[0];
        assert_eq!(customer.email.as_deref(), Some("u1@example.com"), "{id}");
        assert!(
            customer.metadata.get("user_id").map(String::as_str) == Some("user_1")
                || customer.metadata.get("tenant_id").map(String::as_str) == Some("1"),
            "{id}: customer metadata names no owner"
        );
        let stored: Vec<String> = ["tenants", "customers", "profiles"]
            .iter()
            .flat_map(|t| env.db.rows(t))
            .filter_map(|r| text(&r, "stripe_customer_id"))
            .collect();
        assert!(stored.contains(&customer.id), "{id}: {} not stored", customer.id);
        let sessions = env.stripe.state.lock().sessions.clone();
        assert_eq!(sessions.len(), 2, "{id}");
        assert!(sessions
            .iter()
            .all(|s| s.customer.as_deref() == Some(customer.id.as_str())));
        assert_eq!(sessions[1].coupon.as_deref(), Some("SAVE20"), "{id}");
    }
}

#[test]
fn seed_003_checkout_leaves_the_mapping_to_the_webhooks() {
    let app = WebhookIdempotentUpsert;
    let env = world(&app);
    assert_eq!(run(&app, &env, checkout()).status, 200);
    assert_eq!(env.stripe.live_customers().len(), 1);
    assert!(env.db.rows("stripe_customers").is_empty());
    // A second checkout before any webhook makes a second customer: the seed's case 2.
    assert_eq!(run(&app, &env, coupon()).status, 200);
    assert_eq!(env.stripe.live_customers().len(), 2);
}

#[test]
fn stripe_failure_fails_checkout_without_storing_anything() {
    for id in STORING_CHECKOUTS {
        let app = strategy(id);
        let env = world(&app);
        // More failures than the reference's retry budget.
        env.stripe.state.lock().fail_creates = 10;
        let reply = run(&app, &env, checkout());
        assert!(reply.status >= 500, "{id}: {reply:?}");
        let stored: Vec<String> = ["tenants", "customers", "profiles"]
            .iter()
            .flat_map(|t| env.db.rows(t))
            .filter_map(|r| text(&r, "stripe_customer_id"))
            .collect();
        assert!(stored.is_empty(), "{id}: {stored:?}");
    }
}

#[test]
fn continue_on_failure_signup_replies_200_with_no_customer() {
    let app = SignupContinueOnFailure;
    let env = world(&app);
    env.stripe.state.lock().fail_creates = 1;
    let reply = run(
        &app,
        &env,
        AppCall::Signup {
            user_id: "user_1".into(),
        },
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(env.stripe.live_customers().is_empty());
    assert!(env.db.rows("customers").is_empty());
    assert_eq!(env.db.rows("profiles").len(), 1, "profile made, customer not");
}

#[test]
fn fixed_signups_fail_loudly_when_stripe_fails_and_succeed_after() {
    for id in [
        "customer.unique_and_fallback",
        "customer.atomic_db_fn",
        "reference",
    ] {
        let app = strategy(id);
        let env = world(&app);
        env.stripe.state.lock().fail_creates = 10;
        let failed = run(
            &app,
            &env,
            AppCall::Signup {
                user_id: "user_1".into(),
            },
        );
        assert!(failed.status >= 500, "{id}: {failed:?}");
        env.stripe.state.lock().fail_creates = 0;
        let ok = run(
            &app,
            &env,
            AppCall::Signup {
                user_id: "user_1".into(),
            },
        );
        assert_eq!(ok.status, 200, "{id}: {ok:?}");
        assert_eq!(env.stripe.live_customers().len(), 1, "{id}");
        let profiles = env.db.rows("profiles");
        assert_eq!(profiles.len(), 1, "{id}");
        assert_eq!(text(&profiles[0], "user_id").as_deref(), Some("user_1"));
    }
}

#[test]
fn unique_and_fallback_loser_adopts_the_stored_customer_and_orphans_its_own() {
    let app = CustomerUniqueAndFallback;
    let env = world(&app);
    // Another request already stored cus_X in `customers` but not yet in the profile.
    block_on(async {
        use crate::app::api::{Db, DbConn, Stmt};
        let mut conn = env.db.connect().await.unwrap_or_else(|e| panic!("{e}"));
        conn.execute(Stmt::insert(
            "customers",
            &[
                ("user_id", "user_1".into()),
                ("stripe_customer_id", "cus_X".into()),
            ],
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    });
    let reply = run(&app, &env, checkout());
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["customer"], "cus_X");
    // Stripe-first: the customer it created is left behind.
    assert_eq!(env.stripe.live_customers().len(), 1);
    assert_ne!(env.stripe.live_customers()[0].id, "cus_X");
}

#[test]
fn atomic_db_fn_keeps_the_first_stored_customer() {
    let app = CustomerAtomicDbFn;
    let env = world(&app);
    assert_eq!(
        run(
            &app,
            &env,
            AppCall::Signup {
                user_id: "user_1".into()
            }
        )
        .status,
        200
    );
    let profile = &env.db.rows("profiles")[0];
    let customers = env.db.rows("customers");
    assert_eq!(customers.len(), 1);
    assert_eq!(
        text(profile, "stripe_customer_id"),
        text(&customers[0], "stripe_customer_id")
    );
}

#[test]
fn seed_001_webhook_falls_back_to_profiles_only_in_the_fix() {
    for (app, found) in [
        (strategy("signup.continue_on_failure"), false),
        (strategy("customer.unique_and_fallback"), true),
    ] {
        let env = world(&app);
        // A profile that knows the customer; no `customers` / `subscriptions` rows.
        block_on(async {
            use crate::app::api::{Db, DbConn, Stmt};
            let mut conn = env.db.connect().await.unwrap_or_else(|e| panic!("{e}"));
            let mut values = vec![
                ("user_id", Value::from("user_1")),
                ("email", "u1@example.com".into()),
            ];
            if found {
                values.push(("stripe_customer_id", "cus_P".into()));
            }
            conn.execute(Stmt::insert("profiles", &values))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        });
        env.stripe.state.lock().subscriptions.push(Subscription {
            id: "sub_1".into(),
            customer: "cus_P".into(),
            status: "active".into(),
            metadata: Default::default(),
        });
        let reply = run(
            &app,
            &env,
            stripe_event(
                "evt_1",
                "customer.subscription.created",
                serde_json::json!({ "id": "sub_1" }),
            ),
        );
        if found {
            assert_eq!(reply.status, 200, "{reply:?}");
            assert_eq!(env.db.rows("subscriptions").len(), 1);
        } else {
            assert_eq!(reply.status, 500, "{reply:?}");
            assert!(env.db.rows("subscriptions").is_empty());
        }
    }
}

#[test]
fn stripe_idempotency_reuses_the_customer_after_a_lost_store() {
    let app = CheckoutStripeIdempotency;
    let env = world(&app);
    // A crash after Stripe created the customer with the key, before the UPDATE.
    block_on(async {
        use crate::app::api::{CustomerCreate, StripeApi};
        env.stripe
            .create_customer(CustomerCreate::default(), Some("customer:1".into()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
    assert_eq!(run(&app, &env, checkout()).status, 200);
    assert_eq!(env.stripe.state.lock().customers.len(), 1);
    assert_eq!(
        text(&env.db.rows("tenants")[0], "stripe_customer_id").as_deref(),
        Some("cus_1")
    );
}

#[test]
fn naive_checkout_makes_a_second_customer_after_a_lost_store() {
    let app = CheckoutNaive;
    let env = world(&app);
    block_on(async {
        use crate::app::api::{CustomerCreate, StripeApi};
        env.stripe
            .create_customer(CustomerCreate::default(), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
    assert_eq!(run(&app, &env, checkout()).status, 200);
    assert_eq!(env.stripe.state.lock().customers.len(), 2);
}

/// Org-creating strategies of seed 000 and 002, and the reference.
const ORG_STRATEGIES: &[&str] = &[
    "org.check_then_create",
    "org.retry_backoff",
    "org.idempotency_key",
    "org.metadata_flag",
    "org.webhook_priority",
    "orgs.idempotency_table",
    "orgs.rollback",
    "orgs.saga",
    "orgs.dedupe_cache",
    "reference",
];

#[test]
fn team_org_endpoint_twice_creates_one_tagged_org() {
    for id in ORG_STRATEGIES {
        let app = strategy(id);
        let env = world(&app);
        let first = run(&app, &env, team_org("pro"));
        assert_eq!(first.status, 200, "{id}: {first:?}");
        let second = run(&app, &env, team_org("pro"));
        assert!(second.status == 200 || second.status == 409, "{id}: {second:?}");
        let orgs = env.clerk.orgs_of("user_1");
        assert_eq!(orgs.len(), 1, "{id}: {orgs:?}");
        assert_eq!(orgs[0].public_metadata["plan"], "pro", "{id}");
        // Another plan is another org.
        assert_eq!(run(&app, &env, team_org("business")).status, 200, "{id}");
        assert_eq!(env.clerk.orgs_of("user_1").len(), 2, "{id}");
    }
}

#[test]
fn seed_000_endpoint_answers_409_when_the_org_exists() {
    for id in [
        "org.check_then_create",
        "org.retry_backoff",
        "org.idempotency_key",
        "org.metadata_flag",
    ] {
        let app = strategy(id);
        let env = world(&app);
        assert_eq!(run(&app, &env, team_org("pro")).status, 200, "{id}");
        assert_eq!(run(&app, &env, team_org("pro")).status, 409, "{id}");
    }
}

#[test]
fn org_webhook_after_endpoint_makes_no_second_org() {
    for id in [
        "org.check_then_create",
        "org.retry_backoff",
        "org.idempotency_key",
        "org.metadata_flag",
        "org.webhook_priority",
        "reference",
    ] {
        let app = strategy(id);
        let env = world(&app);
        assert_eq!(run(&app, &env, team_org("pro")).status, 200, "{id}");
        let reply = run(&app, &env, clerk_subscription("msg_1", "pro"));
        assert_eq!(reply.status, 200, "{id}: {reply:?}");
        assert_eq!(env.clerk.orgs_of("user_1").len(), 1, "{id}");
    }
}

#[test]
fn org_webhook_alone_creates_the_org() {
    for id in ["org.check_then_create", "org.webhook_priority", "reference"] {
        let app = strategy(id);
        let env = world(&app);
        assert_eq!(
            run(&app, &env, clerk_subscription("msg_1", "pro")).status,
            200,
            "{id}"
        );
        let orgs = env.clerk.orgs_of("user_1");
        assert_eq!(orgs.len(), 1, "{id}");
        assert_eq!(orgs[0].public_metadata["plan"], "pro");
    }
}

#[test]
fn bad_svix_signature_is_rejected_with_400() {
    let app = OrgCheckThenCreate;
    let env = world(&app);
    let mut call = clerk_subscription("msg_1", "pro");
    if let AppCall::ClerkWebhook { svix_signature, .. } = &mut call {
        *svix_signature = "v1,forged".into();
    }
    assert_eq!(run(&app, &env, call).status, 400);
    assert!(env.clerk.orgs_of("user_1").is_empty());
}

#[test]
fn idempotency_key_slug_taken_answers_409_without_a_second_org() {
    let app = OrgIdempotencyKey;
    let env = world(&app);
    assert_eq!(run(&app, &env, team_org("pro")).status, 200);
    assert_eq!(
        env.clerk.orgs_of("user_1")[0].slug.as_deref(),
        Some("team-user-1-pro")
    );
    // Hide the org from the membership list check by asking as if the check raced: create
    // directly with the same slug fails with 422 in Clerk.
    let again = block_on(async {
        use crate::app::api::ClerkApi;
        env.clerk
            .create_organization(crate::app::kit::team_org_params(
                "user_1",
                "pro",
                Some("team-user-1-pro".into()),
            ))
            .await
    });
    assert!(matches!(
        again,
        Err(crate::app::api::ClerkError::Api { status: 422, .. })
    ));
}

#[test]
fn metadata_flag_is_cleared_after_creation_and_a_stale_flag_is_waited_out() {
    let app = OrgMetadataFlag;
    let env = world(&app);
    // A stale flag from a crashed request.
    env.clerk.state.lock().users[0].public_metadata = serde_json::json!({ "creating_team_org": "pro" });
    let start = env.now();
    assert_eq!(run(&app, &env, team_org("pro")).status, 200);
    assert!(
        env.now().saturating_since(start).as_millis() >= 1000,
        "waited for the flag"
    );
    assert_eq!(env.clerk.orgs_of("user_1").len(), 1);
    assert_eq!(
        env.clerk.state.lock().users[0].public_metadata,
        serde_json::json!({})
    );
}

#[test]
fn webhook_priority_endpoint_waits_for_the_grace_period_before_creating() {
    let app = OrgWebhookPriority;
    let env = world(&app);
    let start = env.now();
    assert_eq!(run(&app, &env, team_org("pro")).status, 200);
    assert_eq!(env.now().saturating_since(start).as_millis(), 2000);
    assert_eq!(env.clerk.orgs_of("user_1").len(), 1);
}

#[test]
fn seed_002_stores_the_org_row() {
    for id in [
        "orgs.idempotency_table",
        "orgs.rollback",
        "orgs.saga",
        "orgs.dedupe_cache",
    ] {
        let app = strategy(id);
        let env = world(&app);
        assert_eq!(run(&app, &env, team_org("pro")).status, 200, "{id}");
        let rows = env.db.rows("organizations");
        assert_eq!(rows.len(), 1, "{id}");
        assert_eq!(
            text(&rows[0], "clerk_org_id"),
            Some(env.clerk.orgs_of("user_1")[0].id.clone())
        );
        assert_eq!(text(&rows[0], "owner_user_id").as_deref(), Some("user_1"));
    }
}

#[test]
fn rollback_deletes_the_clerk_org_when_the_insert_fails_and_orphans_it_when_delete_fails() {
    let app = OrgsRollback;
    let env = world(&app);
    env.db.state.lock().fail_inserts_into = Some("organizations".into());
    assert_eq!(run(&app, &env, team_org("pro")).status, 500);
    assert!(env.clerk.orgs_of("user_1").is_empty(), "rolled back");
    env.clerk.state.lock().fail_deletes = 1;
    assert_eq!(run(&app, &env, team_org("pro")).status, 500);
    assert_eq!(env.clerk.orgs_of("user_1").len(), 1, "delete failed: orphan");
    assert!(env.db.rows("organizations").is_empty());
}

#[test]
fn saga_compensates_both_steps_when_the_insert_fails() {
    let app = OrgsSaga;
    let env = world(&app);
    env.db.state.lock().fail_inserts_into = Some("organizations".into());
    assert_eq!(run(&app, &env, team_org("pro")).status, 500);
    assert!(env.clerk.orgs_of("user_1").is_empty());
    assert!(env.stripe.live_customers().is_empty());
    assert_eq!(
        env.stripe.state.lock().customers.len(),
        1,
        "created, then compensated"
    );
    env.db.state.lock().fail_inserts_into = None;
    assert_eq!(run(&app, &env, team_org("pro")).status, 200);
    let row = &env.db.rows("organizations")[0];
    assert_eq!(
        text(row, "stripe_customer_id"),
        Some(env.stripe.live_customers()[0].id.clone())
    );
}

#[test]
fn idempotency_table_uses_a_new_key_per_attempt() {
    let app = OrgsIdempotencyTable;
    let env = world(&app);
    assert_eq!(run(&app, &env, team_org("pro")).status, 200);
    assert_eq!(run(&app, &env, team_org("pro")).status, 200);
    let keys = env.db.rows("idempotency_keys");
    assert_eq!(keys.len(), 2, "two attempts, two keys: the table dedupes nothing");
    assert_ne!(text(&keys[0], "key"), text(&keys[1], "key"));
    assert_eq!(text(&keys[0], "request_hash"), text(&keys[1], "request_hash"));
}

#[test]
fn dedupe_cache_serves_the_repeat_from_process_memory_until_the_ttl() {
    let app = OrgsDedupeCache;
    let env = world(&app);
    let first = run(&app, &env, team_org("pro"));
    let lists = env.clerk.state.lock().list_calls;
    let second = run(&app, &env, team_org("pro"));
    assert_eq!(first, second);
    assert_eq!(env.clerk.state.lock().list_calls, lists, "served from the cache");
    *env.now_ms.lock() += DEDUPE_TTL_MS + 1;
    run(&app, &env, team_org("pro"));
    assert_eq!(env.clerk.state.lock().list_calls, lists + 1, "expired");
    // A restarted replica has empty memory.
    env.memory.lock().clear();
    run(&app, &env, team_org("pro"));
    assert_eq!(env.clerk.state.lock().list_calls, lists + 2);
}

fn customer_created(evt: &str, customer: &str) -> AppCall {
    stripe_event(
        evt,
        "customer.created",
        serde_json::json!({ "id": customer, "metadata": { "user_id": "user_1" } }),
    )
}

fn session_completed(evt: &str, customer: &str) -> AppCall {
    stripe_event(
        evt,
        "checkout.session.completed",
        serde_json::json!({ "customer": customer, "client_reference_id": "user_1" }),
    )
}

fn event_status(env: &TestEnv, evt: &str) -> Option<String> {
    env.db
        .rows("stripe_events")
        .iter()
        .find(|r| text(r, "event_id").as_deref() == Some(evt))
        .and_then(|r| text(r, "status"))
}

#[test]
fn seed_003_first_event_maps_and_a_replay_is_a_duplicate() {
    for app in all().into_iter().filter(|s| s.id().starts_with("webhook.")) {
        let env = world(&app);
        assert_eq!(
            run(&app, &env, customer_created("evt_1", "cus_A")).status,
            200,
            "{}",
            app.id()
        );
        let rows = env.db.rows("stripe_customers");
        assert_eq!(rows.len(), 1);
        assert_eq!(text(&rows[0], "user_id").as_deref(), Some("user_1"));
        assert_eq!(event_status(&env, "evt_1").as_deref(), Some("processed"));
        let replay = run(&app, &env, customer_created("evt_1", "cus_A"));
        assert_eq!(replay.body["duplicate"], "evt_1", "{}", app.id());
    }
}

#[test]
fn seed_003_second_event_for_the_same_customer() {
    // (strategy, status of checkout.session.completed after customer.created)
    for (id, status) in [
        ("webhook.insert_rethrow", 500),
        ("webhook.advisory_lock", 200),
        ("webhook.on_conflict_update", 200),
        ("webhook.per_customer_queue", 200),
        ("webhook.idempotent_upsert", 200),
    ] {
        let app = strategy(id);
        let env = world(&app);
        run(&app, &env, customer_created("evt_1", "cus_A"));
        let reply = run(&app, &env, session_completed("evt_2", "cus_A"));
        assert_eq!(reply.status, status, "{id}: {reply:?}");
        let expected = if status == 200 { "processed" } else { "failed" };
        assert_eq!(event_status(&env, "evt_2").as_deref(), Some(expected), "{id}");
        // Redelivery: insert_rethrow fails the same way every time (the retry storm).
        assert_eq!(
            run(&app, &env, session_completed("evt_2", "cus_A")).status,
            status,
            "{id}"
        );
    }
}

#[test]
fn seed_003_user_with_a_second_customer() {
    // (strategy, status, customer mapped afterwards)
    for (id, status, mapped) in [
        ("webhook.insert_rethrow", 500, "cus_A"),
        ("webhook.advisory_lock", 500, "cus_A"),
        ("webhook.on_conflict_update", 200, "cus_B"),
        ("webhook.per_customer_queue", 500, "cus_A"),
        ("webhook.idempotent_upsert", 500, "cus_A"),
    ] {
        let app = strategy(id);
        let env = world(&app);
        run(&app, &env, customer_created("evt_1", "cus_A"));
        let reply = run(&app, &env, customer_created("evt_2", "cus_B"));
        assert_eq!(reply.status, status, "{id}: {reply:?}");
        let rows = env.db.rows("stripe_customers");
        assert_eq!(rows.len(), 1, "{id}");
        assert_eq!(
            text(&rows[0], "stripe_customer_id").as_deref(),
            Some(mapped),
            "{id}"
        );
    }
}

#[test]
fn per_customer_queue_marker_is_released_after_each_event() {
    let app = WebhookPerCustomerQueue;
    let env = world(&app);
    run(&app, &env, customer_created("evt_1", "cus_A"));
    run(&app, &env, customer_created("evt_2", "cus_B"));
    assert!(env.memory.lock().keys().all(|k| !k.starts_with("webhook_queue:")));
}

#[test]
fn reference_adopts_an_org_left_by_a_crash_between_create_and_store() {
    let app = Reference;
    let env = world(&app);
    // A crashed request: claim row written, org created in Clerk, id never stored.
    block_on(async {
        use crate::app::api::{ClerkApi, Db, DbConn, Stmt};
        let mut conn = env.db.connect().await.unwrap_or_else(|e| panic!("{e}"));
        conn.execute(Stmt::insert(
            "team_orgs",
            &[
                ("user_id", "user_1".into()),
                ("plan", "pro".into()),
                ("slug", "team-user-1-pro".into()),
            ],
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        env.clerk
            .create_organization(crate::app::kit::team_org_params(
                "user_1",
                "pro",
                Some("team-user-1-pro".into()),
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
    let reply = run(&app, &env, team_org("pro"));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(env.clerk.orgs_of("user_1").len(), 1, "adopted, not duplicated");
    assert_eq!(reply.body["org_id"], "org_1");
    assert_eq!(
        text(&env.db.rows("team_orgs")[0], "clerk_org_id").as_deref(),
        Some("org_1")
    );
}

#[test]
fn reference_reconcile_adopts_by_slug_and_recreates_deleted_orgs() {
    let app = Reference;
    let env = world(&app);
    block_on(async {
        use crate::app::api::{ClerkApi, Db, DbConn, Stmt};
        let mut conn = env.db.connect().await.unwrap_or_else(|e| panic!("{e}"));
        conn.execute(Stmt::insert(
            "team_orgs",
            &[
                ("user_id", "user_1".into()),
                ("plan", "pro".into()),
                ("slug", "team-user-1-pro".into()),
            ],
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        env.clerk
            .create_organization(crate::app::kit::team_org_params(
                "user_1",
                "pro",
                Some("team-user-1-pro".into()),
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
    let reply = run(&app, &env, AppCall::Reconcile);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["team_orgs"]["adopted"], 1);
    assert_eq!(
        text(&env.db.rows("team_orgs")[0], "clerk_org_id").as_deref(),
        Some("org_1")
    );
    // Someone deletes the org in the Clerk dashboard: reconcile recreates it.
    env.clerk.state.lock().orgs.clear();
    let reply = run(&app, &env, AppCall::Reconcile);
    assert_eq!(reply.body["team_orgs"]["recreated"], 1, "{reply:?}");
    let orgs = env.clerk.orgs_of("user_1");
    assert_eq!(orgs.len(), 1);
    assert_eq!(
        text(&env.db.rows("team_orgs")[0], "clerk_org_id"),
        Some(orgs[0].id.clone())
    );
}

#[test]
fn reference_clerk_webhook_dedupes_by_svix_id_and_retries_transient_clerk_errors() {
    let app = Reference;
    let env = world(&app);
    env.clerk.state.lock().fail_creates = 2;
    assert_eq!(run(&app, &env, clerk_subscription("msg_1", "pro")).status, 200);
    assert_eq!(env.clerk.orgs_of("user_1").len(), 1);
    assert_eq!(env.db.rows("clerk_events").len(), 1);
    let replay = run(&app, &env, clerk_subscription("msg_1", "pro"));
    assert_eq!(replay.body["duplicate"], "msg_1");
    // Clerk down for longer than the retry budget: 5xx so Svix redelivers, no event recorded.
    let env = world(&app);
    env.clerk.state.lock().fail_creates = 10;
    assert!(run(&app, &env, clerk_subscription("msg_2", "pro")).status >= 500);
    assert!(env.db.rows("clerk_events").is_empty());
}

#[test]
fn reference_clerk_webhook_reads_the_fallback_payload_shape() {
    let app = Reference;
    let env = world(&app);
    let payload =
        serde_json::json!({ "type": "subscription.created", "data": { "user_id": "user_1", "plan": "pro" } });
    let call = AppCall::ClerkWebhook {
        svix_id: "msg_9".into(),
        svix_timestamp: "1767225600".into(),
        svix_signature: VALID_SIGNATURE.into(),
        payload: payload.to_string().into_bytes(),
    };
    assert_eq!(run(&app, &env, call).status, 200);
    assert_eq!(env.clerk.orgs_of("user_1")[0].public_metadata["plan"], "pro");
}

#[test]
fn calls_a_strategy_does_not_serve_get_404_and_reconcile_gets_200() {
    for app in all() {
        let env = world(&app);
        assert_eq!(run(&app, &env, AppCall::Reconcile).status, 200, "{}", app.id());
    }
    let cases: [(&str, AppCall); 4] = [
        ("checkout.naive", team_org("pro")),
        ("org.check_then_create", checkout()),
        (
            "orgs.rollback",
            AppCall::Signup {
                user_id: "user_1".into(),
            },
        ),
        ("webhook.insert_rethrow", team_org("pro")),
    ];
    for (id, call) in cases {
        let app = strategy(id);
        let env = world(&app);
        assert_eq!(run(&app, &env, call).status, 404, "{id}");
    }
}

#[test]
fn frontend_flag_and_debounce_servers_are_the_naive_route() {
    for app in [strategy("checkout.frontend_flag"), strategy("checkout.debounce")] {
        let env = world(&app);
        // After a lost store, the naive route creates a second customer: nothing on the server
        // side protects against a second request.
        block_on(async {
            use crate::app::api::{CustomerCreate, StripeApi};
            env.stripe
                .create_customer(CustomerCreate::default(), None)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        });
        run(&app, &env, checkout());
        assert_eq!(env.stripe.state.lock().customers.len(), 2, "{}", app.id());
    }
}

#[test]
fn for_update_rolls_back_on_a_failed_stripe_call_and_keeps_no_lock() {
    let app = CheckoutForUpdate;
    let env = world(&app);
    env.stripe.state.lock().fail_creates = 1;
    assert_eq!(run(&app, &env, checkout()).status, 502);
    assert_eq!(run(&app, &env, checkout()).status, 200);
    assert_eq!(env.stripe.live_customers().len(), 1);
}

#[test]
fn unique_constraint_schema_declares_the_constraint() {
    let schema = CheckoutUniqueConstraint.schema();
    assert!(schema[0]
        .unique
        .iter()
        .any(|u| u.columns == ["stripe_customer_id"]));
    assert!(CheckoutNaive.schema()[0].unique.is_empty());
}

#[test]
fn per_customer_queue_waits_for_a_busy_slot_then_gives_up_with_5xx() {
    let app = WebhookPerCustomerQueue;
    let env = world(&app);
    env.memory
        .lock()
        .insert("webhook_queue:cus_A".into(), "busy".into());
    let start = env.now();
    let reply = run(&app, &env, customer_created("evt_1", "cus_A"));
    assert_eq!(reply.status, 500, "{reply:?}");
    assert_eq!(env.now().saturating_since(start).as_millis(), 500);
    assert!(env.db.rows("stripe_customers").is_empty());
    assert_eq!(event_status(&env, "evt_1").as_deref(), Some("failed"));
    // The other holder's slot is untouched; once released, the redelivery succeeds.
    assert!(env.memory.lock().contains_key("webhook_queue:cus_A"));
    env.memory.lock().clear();
    assert_eq!(run(&app, &env, customer_created("evt_1", "cus_A")).status, 200);
}
