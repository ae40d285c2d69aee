use super::input::{ResolvedActor, ResolvedStep, RunInput};
use super::world::run;
use crate::app::reference::Reference;
use crate::app::strategies::checkout::CheckoutNaive;
use crate::sync::Arc;

fn step(flow: &str, at_ms: u64) -> ResolvedStep {
    ResolvedStep {
        flow: crate::vocabulary::Flow::from_name(flow).expect("a flow"),
        at_ms,
        replica: None,
        coupon: (flow == "apply_coupon").then(|| "SAVE20".to_string()),
        plan: None,
        attempts: 1,
        timeout_ms: 10_000,
    }
}

fn coupon_race(seed: u64, strategy: &str) -> RunInput {
    RunInput {
        scenario: "test.coupon_race".into(),
        strategy: strategy.into(),
        seed,
        users: 1,
        replicas: 2,
        latency_ms: (1, 50),
        loss: 0.0,
        actors: vec![ResolvedActor {
            user: 0,
            steps: vec![step("checkout", 0), step("apply_coupon", seed % 40)],
        }],
        faults: vec![],
    }
}

#[test]
fn naive_checkout_race_is_found_in_the_world() {
    let failing = (0..20).find(|seed| {
        let outcome = run(&coupon_race(*seed, "checkout.naive"), Arc::new(CheckoutNaive));
        assert_eq!(outcome.sim_error, None);
        outcome
            .violations()
            .iter()
            .any(|v| v.invariant == "no_duplicate_customers")
    });
    assert!(
        failing.is_some(),
        "20 seeds of the coupon race never duplicated the customer"
    );
}

#[test]
fn reference_survives_the_race() {
    for seed in 0..10 {
        let outcome = run(&coupon_race(seed, "reference"), Arc::new(Reference));
        assert_eq!(outcome.sim_error, None, "seed {seed}");
        assert_eq!(
            outcome.violations(),
            vec![],
            "seed {seed}\n{}",
            outcome.trace.render_text()
        );
    }
}

#[test]
fn same_seed_same_trace_hash() {
    let a = run(&coupon_race(5, "checkout.naive"), Arc::new(CheckoutNaive));
    let b = run(&coupon_race(5, "checkout.naive"), Arc::new(CheckoutNaive));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert!(a.trace.events.len() > 10);
    let c = run(&coupon_race(6, "checkout.naive"), Arc::new(CheckoutNaive));
    assert_ne!(a.trace_hash, c.trace_hash);
}
