//! Every built-in witness is reached by a concurrent setup and not reached when the same actors
//! (and the same fault) run one after another: a witness every run reaches proves nothing.

use super::*;
use crate::explore::input::resolve;
use crate::explore::run_input;
use crate::scenario::{FaultKind, Flow, PlannedFault, Scenario, ScenarioBuilder, Step};
use crate::time::SimTime;
use crate::trace::TraceLog;

/// How many of `seeds` runs of `strategy` in `scenario` reach witness `name`.
fn seeds_reaching(name: &str, scenario: &Scenario, strategy: &str, seeds: u64) -> u64 {
    let witness = witness(name).expect("a built-in witness");
    (0..seeds)
        .filter(|&seed| {
            let outcome = run_input(&resolve(scenario, strategy, seed)).expect("a catalogue strategy");
            assert!(outcome.sim_error.is_none(), "{:?}", outcome.sim_error);
            witness.reached(&outcome.trace).is_some()
        })
        .count() as u64
}

/// Asserts that `concurrent` reaches `name` in some of `seeds` runs and `sequential` in none.
fn reached_only_concurrently(
    name: &str,
    strategy: &str,
    concurrent: ScenarioBuilder,
    sequential: ScenarioBuilder,
    seeds: u64,
) {
    let reached = seeds_reaching(name, &concurrent.build(), strategy, seeds);
    assert!(
        reached > 0,
        "{name}: the concurrent setup never reached it in {seeds} seeds"
    );
    let reached = seeds_reaching(name, &sequential.build(), strategy, seeds);
    assert_eq!(
        reached, 0,
        "{name}: the sequential setup reached it in {reached} of {seeds} seeds"
    );
}

fn builder(name: &str) -> ScenarioBuilder {
    Scenario::builder(name).latency_ms(1, 20)
}

#[test]
fn concurrent_user_requests_needs_two_requests_at_once() {
    reached_only_concurrently(
        CONCURRENT_USER_REQUESTS,
        "reference",
        builder("w.cur")
            .actor(1, [Step::new(Flow::Checkout)])
            .actor(1, [Step::new(Flow::Checkout).at_ms(0, 10)]),
        builder("w.cur.seq")
            .actor(1, [Step::new(Flow::Checkout)])
            .actor(1, [Step::new(Flow::Checkout).at(3_000)]),
        20,
    );
}

#[test]
fn webhook_during_user_request_needs_the_webhook_while_the_request_runs() {
    let steps = |second: Step| [Step::new(Flow::ClerkSubscription).plan("team"), second];
    reached_only_concurrently(
        WEBHOOK_DURING_USER_REQUEST,
        "reference",
        builder("w.wdur").actor(1, steps(Step::new(Flow::CreateTeamOrg).plan("team").at_ms(0, 20))),
        // The org's own webhooks are held back until the request is long done.
        builder("w.wdur.seq")
            .actor(1, steps(Step::new(Flow::CreateTeamOrg).plan("team").at(3_000)))
            .fault(
                PlannedFault::new(FaultKind::WebhookDelay, 2_500)
                    .host("clerk")
                    .count(10)
                    .heal_after_ms(2_000),
            ),
        20,
    );
}

#[test]
fn crash_after_external_create_needs_the_crash_inside_the_request() {
    let checkout = || [Step::new(Flow::Checkout)];
    let crash = |at| {
        PlannedFault::new(FaultKind::Crash, at)
            .host("app-1")
            .restart_after_ms(100)
    };
    let reached = (0..150)
        .step_by(3)
        .filter(|at| {
            let scenario = builder("w.crash")
                .replicas(1)
                .actor(1, checkout())
                .fault(crash(*at))
                .build();
            seeds_reaching(CRASH_AFTER_EXTERNAL_CREATE, &scenario, "reference", 1) > 0
        })
        .count();
    assert!(reached > 0, "no crash time in 0..150 ms hit the window");
    let sequential = builder("w.crash.seq")
        .replicas(1)
        .actor(1, checkout())
        .fault(crash(3_000));
    assert_eq!(
        seeds_reaching(CRASH_AFTER_EXTERNAL_CREATE, &sequential.build(), "reference", 20),
        0
    );
}

#[test]
fn db_drop_after_external_create_needs_the_drop_inside_the_request() {
    let create = || [Step::new(Flow::CreateTeamOrg).plan("team")];
    let drop = |at| PlannedFault::new(FaultKind::DbConnectionDrop, at).host("app-1");
    let reached = (0..150)
        .step_by(3)
        .filter(|at| {
            let scenario = builder("w.drop")
                .replicas(1)
                .actor(1, create())
                .fault(drop(*at))
                .build();
            seeds_reaching(DB_DROP_AFTER_EXTERNAL_CREATE, &scenario, "reference", 1) > 0
        })
        .count();
    assert!(reached > 0, "no drop time in 0..150 ms hit the window");
    let sequential = builder("w.drop.seq")
        .replicas(1)
        .actor(1, create())
        .fault(drop(3_000));
    assert_eq!(
        seeds_reaching(
            DB_DROP_AFTER_EXTERNAL_CREATE,
            &sequential.build(),
            "reference",
            20
        ),
        0
    );
}

#[test]
fn webhook_before_response_needs_the_delivery_to_overtake_the_response() {
    // With a slow link the dispatcher's delivery often reaches the app first; with every
    // webhook held back 2 s, the response always arrives first.
    reached_only_concurrently(
        WEBHOOK_BEFORE_RESPONSE,
        "reference",
        Scenario::builder("w.wbr")
            .latency_ms(1, 50)
            .actor(1, [Step::new(Flow::Checkout)]),
        Scenario::builder("w.wbr.seq")
            .latency_ms(1, 50)
            .actor(1, [Step::new(Flow::Checkout)])
            .fault(
                PlannedFault::new(FaultKind::WebhookDelay, 0)
                    .host("stripe")
                    .count(10)
                    .heal_after_ms(2_000),
            ),
        30,
    );
}

#[test]
fn concurrent_deliveries_needs_two_copies_at_once() {
    let steps = || [Step::new(Flow::Checkout), Step::new(Flow::Pay).at(300)];
    // webhook.insert_rethrow answers 5xx to checkout.session.completed, so Stripe delivers it
    // again and again: deliveries of one event, one after another.
    let sequential = builder("w.cd.seq").actor(1, steps());
    let strategy = "webhook.insert_rethrow";
    let outcome = run_input(&resolve(&sequential.clone().build(), strategy, 0)).expect("runs");
    assert!(
        outcome.view.deliveries.iter().any(|d| d.attempts > 1),
        "the sequential setup redelivers"
    );
    reached_only_concurrently(
        CONCURRENT_DELIVERIES,
        strategy,
        builder("w.cd").actor(1, steps()).fault(
            PlannedFault::new(FaultKind::WebhookDuplicate, 0)
                .host("stripe")
                .count(10),
        ),
        sequential,
        10,
    );
}

#[test]
fn idempotency_key_in_flight_needs_two_requests_with_one_key_at_once() {
    reached_only_concurrently(
        IDEMPOTENCY_KEY_IN_FLIGHT,
        "checkout.stripe_idempotency",
        builder("w.ikf")
            .actor(1, [Step::new(Flow::Checkout)])
            .actor(1, [Step::new(Flow::Checkout).at_ms(0, 5)]),
        builder("w.ikf.seq")
            .actor(1, [Step::new(Flow::Checkout)])
            .actor(1, [Step::new(Flow::Checkout).at(3_000)]),
        20,
    );
}

#[test]
fn create_response_lost_needs_the_lost_response_on_the_create() {
    let signup = || [Step::new(Flow::Signup)];
    let lost = |at| {
        PlannedFault::new(FaultKind::LostResponse, at)
            .host("stripe")
            .count(1)
    };
    reached_only_concurrently(
        CREATE_RESPONSE_LOST,
        "reference",
        builder("w.crl").actor(1, signup()).fault(lost(0)),
        builder("w.crl.seq").actor(1, signup()).fault(lost(3_000)),
        5,
    );
}

#[test]
fn external_create_failed_needs_the_outage_during_the_create() {
    let signup = || [Step::new(Flow::Signup)];
    let outage = |at| PlannedFault::new(FaultKind::Stripe5xx, at).count(3);
    reached_only_concurrently(
        EXTERNAL_CREATE_FAILED,
        "reference",
        builder("w.ecf").actor(1, signup()).fault(outage(0)),
        builder("w.ecf.seq").actor(1, signup()).fault(outage(3_000)),
        5,
    );
}

#[test]
fn crash_during_webhook_needs_the_crash_while_a_delivery_is_handled() {
    let pay = || [Step::new(Flow::Checkout), Step::new(Flow::Pay).at(200)];
    let crash = |at| {
        PlannedFault::new(FaultKind::Crash, at)
            .host("app-1")
            .restart_after_ms(100)
    };
    let reached = (200..320)
        .step_by(2)
        .filter(|at| {
            let scenario = builder("w.crash_webhook")
                .replicas(1)
                .actor(1, pay())
                .fault(crash(*at))
                .build();
            seeds_reaching(CRASH_DURING_WEBHOOK, &scenario, "reference", 1) > 0
        })
        .count();
    assert!(reached > 0, "no crash time in 200..320 ms hit a delivery");
    let sequential = builder("w.crash_webhook.seq")
        .replicas(1)
        .actor(1, pay())
        .fault(crash(5_000));
    assert_eq!(
        seeds_reaching(CRASH_DURING_WEBHOOK, &sequential.build(), "reference", 20),
        0
    );
}

#[test]
fn every_builtin_witness_has_a_unique_name_and_a_lookup_with_a_suggestion() {
    let names: Vec<String> = builtin_witnesses().into_iter().map(|w| w.name).collect();
    assert_eq!(names, WITNESS_NAMES.map(String::from).to_vec());
    assert!(witness("concurrent_deliveries").is_ok());
    let unknown = witness("concurent_deliveries").expect_err("a typo");
    assert_eq!(unknown.suggestion, Some("concurrent_deliveries"));
    assert!(
        unknown
            .to_string()
            .contains("did you mean `concurrent_deliveries`?"),
        "{unknown}"
    );
    assert_eq!(witness("zzz").expect_err("no such").suggestion, None);
}

#[test]
fn sometimes_wraps_a_plain_predicate() {
    let log = TraceLog::default();
    log.push(SimTime::EPOCH, "app-1", TraceKind::Crash);
    let crashed = Witness::sometimes("crashed", "a replica crashed", |t: &Trace| {
        t.events.iter().any(|e| e.kind == TraceKind::Crash)
    });
    assert_eq!(crashed.reached(&log.snapshot()), Some(Vec::new()));
    assert_eq!(crashed.reached(&Trace::default()), None);
}
