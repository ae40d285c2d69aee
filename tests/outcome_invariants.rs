//! Each outcome invariant can fire: a small, deliberately broken variant of the reference
//! (declaring the reference's tables) violates it, and the reference itself does not.

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
}

/// The reference with one bug.
#[derive(Debug, Clone, Copy)]
struct Broken(Bug);

impl AppLogic for Broken {
    fn id(&self) -> &str {
        "test.broken_reference"
    }
    fn schema(&self) -> Vec<TableSchema> {
        Reference.schema()
    }
    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
        Reference.seed_rows(users)
    }
    fn tables(&self) -> TableMeanings {
        Reference.tables()
    }
    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        match (self.0, &call) {
            (Bug::AcknowledgesWithoutWriting, AppCall::StripeWebhook { .. }) => {
                AppReply::ok(serde_json::json!({ "received": true }))
            }
            (Bug::SessionOnAnUnlinkedCustomer, AppCall::Checkout { user_id, price, .. }) => {
                let (user_id, price) = (user_id.clone(), price.clone());
                reply(
                    async {
                        let mut conn = env.db().connect().await?;
                        let tenant = select_tenant(&mut conn, &user_id, false).await?;
                        let params = CustomerCreate {
                            email: Some(tenant.email),
                            name: None,
                            metadata: Default::default(),
                        };
                        let customer = env.stripe().create_customer(params, None).await?.id;
                        create_session(env, &customer, &user_id, &price, None).await
                    }
                    .await,
                )
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
            _ => Reference.handle(env, call).await,
        }
    }
}

/// Checkout, then paying for it (webhooks follow).
fn checkout_and_pay() -> Scenario {
    Scenario::builder("test.checkout_and_pay")
        .actor(1, [Step::new(Flow::Checkout), Step::new(Flow::Pay).at(500)])
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
fn an_app_that_declares_nothing_has_every_outcome_invariant_not_applicable() {
    let view = WorldView::default();
    assert_eq!(
        not_applicable(&view),
        vec![
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
