//! Each built-in invariant can fire: a small, deliberately broken variant of the reference
//! (declaring the reference's tables) violates it, and the reference itself does not. The
//! one exception is `idempotent_replay`, which judges Stripe's keys, not the app: no app can
//! make a faithful Stripe break it (its unit tests in `oracle::builtin` feed it a broken world).

use racehound::kit::{create_session, reply, select_tenant, AppFailure};
use racehound::oracle::not_applicable;
use racehound::prelude::*;

/// Which one thing the variant gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    /// Stripe webhooks: 2xx without verifying or writing anything.
    AcknowledgesWithoutWriting,
    /// Checkout: a session on a fresh customer that is never stored.
    SessionOnAnUnlinkedCustomer,
    /// Team org endpoint: 2xx with a made-up org id, nothing created.
    TeamOrgNeverCreated,
    /// Team org endpoint: the claim row is written, the org never created, 2xx anyway.
    ClaimNeverResolved,
    /// Stripe webhooks: handled, then the stored status overwritten with a stale one.
    StaleStatus,
    /// Team org endpoint: always 500 (honest: it promised nothing).
    TeamOrgAlwaysFails,
    /// Checkout: a new customer (keyless) on every call, stored over the last one.
    CustomerPerCheckout,
    /// Team org endpoint: a new Clerk org on every call, never stored.
    OrgPerRequest,
    /// Checkout: stores a customer id Stripe never issued.
    MadeUpCustomerId,
    /// Stripe webhooks: handled, and an entitlement row added per event (no dedupe).
    EntitlementPerEvent,
    /// Stripe webhooks: always 500.
    WebhookAlwaysFails,
    /// Stripe webhooks: 500 for the first five deliveries of each event, then handled.
    WebhookFailsFiveTimes,
    /// Signup: 2xx without a profile or a customer.
    SignupDoesNothing,
}

/// The reference with one bug.
#[derive(Debug, Clone, Copy)]
struct Broken(Bug);

impl AppLogic for Broken {
    fn id(&self) -> &str {
        "test.broken_reference"
    }
    fn schema(&self) -> Vec<TableSchema> {
        let mut tables = Reference.schema();
        if self.0 == Bug::EntitlementPerEvent {
            tables.push(TableSchema::new("entitlements").column("stripe_subscription_id", ColumnType::Text));
        }
        tables
    }
    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
        Reference.seed_rows(users)
    }
    fn tables(&self) -> TableMeanings {
        match self.0 {
            Bug::EntitlementPerEvent => Reference
                .tables()
                .effect("entitlements", "stripe_subscription_id"),
            _ => Reference.tables(),
        }
    }
    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        match (self.0, &call) {
            (Bug::AcknowledgesWithoutWriting, AppCall::StripeWebhook { .. }) => {
                AppReply::ok(serde_json::json!({ "received": true }))
            }
            (Bug::SessionOnAnUnlinkedCustomer, AppCall::Checkout { user_id, price, .. }) => {
                reply(checkout_on_a_new_customer(env, user_id, price, false).await)
            }
            (Bug::TeamOrgNeverCreated, AppCall::CreateTeamOrg { .. }) => {
                AppReply::ok(serde_json::json!({ "org_id": "org_never_created" }))
            }
            (Bug::ClaimNeverResolved, AppCall::CreateTeamOrg { user_id, plan }) => {
                let (user_id, plan) = (user_id.clone(), plan.clone());
                reply(
                    async {
                        let mut conn = env.db().connect().await?;
                        let claim = Stmt::insert(
                            "team_orgs",
                            &[
                                ("user_id", user_id.as_str().into()),
                                ("plan", plan.as_str().into()),
                                ("slug", format!("team-{user_id}-{plan}").as_str().into()),
                            ],
                        );
                        conn.execute(claim.on_conflict_do_nothing(&["user_id", "plan"]))
                            .await?;
                        Ok::<_, AppFailure>(serde_json::json!({ "org_id": null }))
                    }
                    .await,
                )
            }
            (Bug::TeamOrgAlwaysFails, AppCall::CreateTeamOrg { .. }) => {
                AppReply::error(500, "down for maintenance")
            }
            (Bug::StaleStatus, AppCall::StripeWebhook { .. }) => {
                let answer = Reference.handle(env, call).await;
                if let Ok(mut conn) = env.db().connect().await {
                    let stale = Stmt::update("subscriptions", &[("status", "incomplete".into())]);
                    let _ = conn.execute(stale).await;
                }
                answer
            }
            (Bug::CustomerPerCheckout, AppCall::Checkout { user_id, price, .. }) => {
                reply(checkout_on_a_new_customer(env, user_id, price, true).await)
            }
            (Bug::OrgPerRequest, AppCall::CreateTeamOrg { user_id, plan }) => {
                let params = OrgCreate {
                    name: format!("{plan} team"),
                    created_by: user_id.clone(),
                    slug: None,
                    public_metadata: serde_json::json!({ "plan": plan }),
                    private_metadata: serde_json::json!({}),
                };
                match env.clerk().create_organization(params).await {
                    Ok(org) => AppReply::ok(serde_json::json!({ "org_id": org.id })),
                    Err(e) => AppReply::error(502, format!("{e:?}")),
                }
            }
            (Bug::MadeUpCustomerId, AppCall::Checkout { user_id, .. }) => {
                let user_id = user_id.clone();
                reply(
                    async {
                        let mut conn = env.db().connect().await?;
                        let link = Stmt::update("tenants", &[("stripe_customer_id", "cus_made_up".into())])
                            .eq("owner_user_id", user_id.as_str());
                        conn.execute(link).await?;
                        Ok::<_, AppFailure>(serde_json::json!({ "customer": "cus_made_up" }))
                    }
                    .await,
                )
            }
            (Bug::EntitlementPerEvent, AppCall::StripeWebhook { payload, .. }) => {
                let subscription = serde_json::from_slice::<serde_json::Value>(payload)
                    .ok()
                    .and_then(|event| {
                        let object = &event["data"]["object"];
                        match event["type"].as_str()? {
                            "checkout.session.completed" => {
                                object["subscription"].as_str().map(str::to_string)
                            }
                            "customer.subscription.created" => object["id"].as_str().map(str::to_string),
                            _ => None,
                        }
                    });
                let answer = Reference.handle(env, call).await;
                if let (Some(subscription), Ok(mut conn)) = (subscription, env.db().connect().await) {
                    let grant = Stmt::insert(
                        "entitlements",
                        &[("stripe_subscription_id", subscription.as_str().into())],
                    );
                    let _ = conn.execute(grant).await;
                }
                answer
            }
            (Bug::WebhookAlwaysFails, AppCall::StripeWebhook { .. }) => {
                AppReply::error(500, "handler broken")
            }
            (Bug::WebhookFailsFiveTimes, AppCall::StripeWebhook { payload, .. }) => {
                let event_id = serde_json::from_slice::<serde_json::Value>(payload)
                    .ok()
                    .and_then(|event| event["id"].as_str().map(str::to_string))
                    .unwrap_or_default();
                let seen = {
                    let mut memory = env.memory().lock();
                    let entry = memory
                        .entry(format!("attempts:{event_id}"))
                        .or_insert_with(|| "0".into());
                    let seen: u32 = entry.parse().unwrap_or(0) + 1;
                    *entry = seen.to_string();
                    seen
                };
                if seen <= 5 {
                    AppReply::error(500, "not yet")
                } else {
                    Reference.handle(env, call).await
                }
            }
            (Bug::SignupDoesNothing, AppCall::Signup { .. }) => {
                AppReply::ok(serde_json::json!({ "redirect": "/dashboard" }))
            }
            _ => Reference.handle(env, call).await,
        }
    }
}

/// A checkout on a customer made for this call alone (no idempotency key); `stored` names the
/// user in its metadata and writes it over the tenant's link, otherwise it is never stored.
async fn checkout_on_a_new_customer<E: Env>(
    env: &E,
    user_id: &str,
    price: &str,
    stored: bool,
) -> Result<serde_json::Value, AppFailure> {
    let mut conn = env.db().connect().await?;
    let tenant = select_tenant(&mut conn, user_id, false).await?;
    let metadata = if stored {
        [("user_id".to_string(), user_id.to_string())].into()
    } else {
        Default::default()
    };
    let params = CustomerCreate {
        email: Some(tenant.email),
        name: None,
        metadata,
    };
    let customer = env.stripe().create_customer(params, None).await?.id;
    if stored {
        let link = Stmt::update("tenants", &[("stripe_customer_id", customer.as_str().into())])
            .eq("owner_user_id", user_id);
        conn.execute(link).await?;
    }
    create_session(env, &customer, user_id, price, None).await
}

/// Checkout, then paying for it (webhooks follow).
fn checkout_and_pay() -> Scenario {
    Scenario::builder("test.checkout_and_pay")
        .actor(1, [Step::new(Flow::Checkout), Step::new(Flow::Pay).at(500)])
        .seeds(1)
        .build()
}

/// Two checkouts of one user, one after the other.
fn two_checkouts() -> Scenario {
    Scenario::builder("test.two_checkouts")
        .actor(1, [Step::new(Flow::Checkout), Step::new(Flow::Checkout).at(500)])
        .seeds(1)
        .build()
}

/// Two team-org requests of one user, one after the other.
fn two_team_orgs() -> Scenario {
    Scenario::builder("test.two_team_orgs")
        .actor(
            1,
            [
                Step::new(Flow::CreateTeamOrg).plan("team"),
                Step::new(Flow::CreateTeamOrg).plan("team").at(500),
            ],
        )
        .seeds(1)
        .build()
}

/// One signup.
fn signup() -> Scenario {
    Scenario::builder("test.signup")
        .actor(1, [Step::new(Flow::Signup)])
        .seeds(1)
        .build()
}

/// One team-org request.
fn team_org() -> Scenario {
    Scenario::builder("test.team_org")
        .actor(1, [Step::new(Flow::CreateTeamOrg).plan("team")])
        .seeds(1)
        .build()
}

fn breaks(bug: Bug, scenario: &Scenario, invariant: &str) {
    let run = Explorer::new().run_seed(scenario, Broken(bug), 0);
    assert!(
        run.breaks(invariant),
        "{bug:?} does not break {invariant}: {:?}\n{}",
        run.violations,
        run.trace_text()
    );
    let reference = Explorer::new().run_seed(scenario, Reference, 0);
    assert!(
        !reference.breaks(invariant),
        "the reference breaks {invariant}: {:?}",
        reference.violations
    );
}

#[test]
fn events_have_effects_can_fire() {
    breaks(
        Bug::AcknowledgesWithoutWriting,
        &checkout_and_pay(),
        "events_have_effects",
    );
}

#[test]
fn checkout_on_linked_customer_can_fire() {
    breaks(
        Bug::SessionOnAnUnlinkedCustomer,
        &checkout_and_pay(),
        "checkout_on_linked_customer",
    );
}

#[test]
fn team_org_linked_can_fire() {
    breaks(Bug::TeamOrgNeverCreated, &team_org(), "team_org_linked");
}

#[test]
fn claims_resolved_can_fire() {
    breaks(Bug::ClaimNeverResolved, &team_org(), "claims_resolved");
}

#[test]
fn subscription_status_matches_can_fire() {
    breaks(
        Bug::StaleStatus,
        &checkout_and_pay(),
        "subscription_status_matches",
    );
    // A handler that records nothing leaves the announced subscription unstored.
    breaks(
        Bug::AcknowledgesWithoutWriting,
        &checkout_and_pay(),
        "subscription_status_matches",
    );
}

#[test]
fn no_duplicate_customers_can_fire() {
    breaks(
        Bug::CustomerPerCheckout,
        &two_checkouts(),
        "no_duplicate_customers",
    );
}

#[test]
fn no_duplicate_orgs_can_fire() {
    breaks(Bug::OrgPerRequest, &two_team_orgs(), "no_duplicate_orgs");
}

#[test]
fn no_dangling_refs_can_fire() {
    breaks(Bug::MadeUpCustomerId, &two_checkouts(), "no_dangling_refs");
}

#[test]
fn effects_once_can_fire() {
    breaks(Bug::EntitlementPerEvent, &checkout_and_pay(), "effects_once");
}

#[test]
fn no_orphan_customers_can_fire() {
    breaks(Bug::CustomerPerCheckout, &two_checkouts(), "no_orphan_customers");
}

#[test]
fn no_orphan_orgs_can_fire() {
    breaks(Bug::OrgPerRequest, &team_org(), "no_orphan_orgs");
}

#[test]
fn no_lost_events_can_fire() {
    breaks(Bug::WebhookAlwaysFails, &checkout_and_pay(), "no_lost_events");
}

#[test]
fn bounded_redelivery_can_fire() {
    breaks(
        Bug::WebhookFailsFiveTimes,
        &checkout_and_pay(),
        "bounded_redelivery",
    );
}

#[test]
fn signup_complete_can_fire() {
    breaks(Bug::SignupDoesNothing, &signup(), "signup_complete");
}

/// Every built-in invariant but `idempotent_replay` (see the module doc) has a test above.
#[test]
fn every_builtin_invariant_but_idempotent_replay_has_a_can_fire_test() {
    let source = include_str!("outcome_invariants.rs");
    for invariant in racehound::oracle::builtin_invariants() {
        if invariant.name == "idempotent_replay" {
            continue;
        }
        assert!(
            source.contains(&format!("fn {}_can_fire()", invariant.name)),
            "no `{}_can_fire` test",
            invariant.name
        );
    }
}

#[test]
fn an_app_that_declares_nothing_has_every_outcome_invariant_not_applicable() {
    let view = WorldView::default();
    assert_eq!(
        not_applicable(&view),
        vec![
            "effects_once",
            "no_orphan_customers",
            "no_orphan_orgs",
            "signup_complete",
            "checkout_on_linked_customer",
            "team_org_linked",
            "subscription_status_matches",
            "events_have_effects",
            "claims_resolved"
        ]
    );
    let declared = WorldView {
        tables: Reference.tables(),
        ..WorldView::default()
    };
    assert!(not_applicable(&declared).is_empty());
}

#[test]
fn docs_scenarios_names_every_builtin_invariant_and_witness() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenarios.md")).expect("docs");
    for invariant in racehound::oracle::builtin_invariants() {
        assert!(
            docs.contains(&format!("`{}`", invariant.name)),
            "docs/scenarios.md does not name {}",
            invariant.name
        );
    }
    for witness in racehound::oracle::witness::builtin_witnesses() {
        let row = format!("| `{}` |", witness.name);
        assert!(
            docs.contains(&row),
            "docs/scenarios.md has no table row for witness {}",
            witness.name
        );
    }
}

/// An app that answers 5xx promised nothing: `team_org_linked` owes an org only for a 2xx
/// (or a Clerk Billing purchase), found by fresh-seed fuzzing.
#[test]
fn team_org_linked_owes_nothing_for_a_failed_call() {
    let run = Explorer::new().run_seed(&team_org(), Broken(Bug::TeamOrgAlwaysFails), 0);
    assert!(!run.breaks("team_org_linked"), "{:?}", run.violations);
}

/// A pay step with no checkout before it has nothing to pay: the run is incomplete, and a pass
/// over such seeds is inconclusive, with the reason in the verdict.
#[test]
fn a_skipped_pay_makes_a_pass_inconclusive() {
    let pay_alone = Scenario::builder("test.pay_alone")
        .actor(1, [Step::new(Flow::Pay)])
        .seeds(3)
        .build();
    let report = Explorer::new().explore(&pay_alone, Reference);
    assert!(report.inconclusive(), "{:?}", report.verdict.found);
    assert_eq!(report.verdict.incomplete_seeds, 3);
    let why = report.verdict.first_incomplete.clone().unwrap_or_default();
    assert!(why.starts_with("seed 0: browser-1.1: pay skipped"), "{why}");
    assert!(report.verdict.witness_sentence().contains("3 seed(s) incomplete"));
}

/// A pay step sent while its checkout is still on its way waits for the session instead of
/// being skipped: the same scenario with the pay at 0 ms is complete.
#[test]
fn an_early_pay_waits_for_its_checkout() {
    let early_pay = Scenario::builder("test.early_pay")
        .actor(1, [Step::new(Flow::Checkout), Step::new(Flow::Pay)])
        .seeds(3)
        .build();
    let report = Explorer::new().explore(&early_pay, Reference);
    assert!(report.passed(), "{:?}", report.verdict);
    assert_eq!(report.verdict.incomplete_seeds, 0);
    let run = Explorer::new().run_seed(&early_pay, Reference, 0);
    assert!(
        run.trace_text().contains("test_helpers/checkout/sessions"),
        "the pay completed the session"
    );
}

/// A violation outranks an incomplete run: the verdict is a failure.
#[test]
fn a_violation_outranks_an_incomplete_run() {
    let scenario = Scenario::builder("test.unlinked_then_pay_alone")
        .actor(1, [Step::new(Flow::Checkout)])
        .actor(1, [Step::new(Flow::Pay)])
        .seeds(2)
        .build();
    let report = Explorer::new()
        .shrink(false)
        .explore(&scenario, Broken(Bug::SessionOnAnUnlinkedCustomer));
    assert!(report.failure().is_some(), "{:?}", report.verdict.found);
}
