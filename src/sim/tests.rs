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

mod triggers {
    use super::*;
    use crate::sim::faults::{Fault, Service, TimedFault};
    use crate::trace::{TraceEvent, TraceKind};
    use crate::trigger::{Trigger, TriggerEvent};

    fn event(text: &str) -> TriggerEvent {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn position(events: &[TraceEvent], pred: impl Fn(&TraceEvent) -> bool) -> Option<usize> {
        events.iter().position(pred)
    }

    #[test]
    fn a_crash_bound_to_an_answer_hits_the_replica_that_got_it_before_it_replies() {
        for seed in 0..6 {
            let mut input = coupon_race(seed, "checkout.naive");
            let mut trigger = Trigger::first(event("answer stripe POST /v1/customers"));
            trigger.hits_that_replica = true;
            input.faults.push(TimedFault::on(
                trigger,
                Fault::Crash {
                    host: "app-1".into(),
                    restart_after_ms: 100,
                },
            ));
            let outcome = run(&input, Arc::new(CheckoutNaive));
            let events = &outcome.trace.events;
            let answered = position(events, |e| {
                matches!(&e.kind, TraceKind::Response { from, path, .. } if from == "stripe" && path == "/v1/customers")
            })
            .unwrap_or_else(|| panic!("seed {seed}: no customer was created\n{}", outcome.trace.render_text()));
            let replica = events[answered].host.clone();
            let crash = position(events, |e| matches!(e.kind, TraceKind::Crash)).unwrap_or_else(|| {
                panic!(
                    "seed {seed}: the trigger never fired\n{}",
                    outcome.trace.render_text()
                )
            });
            assert_eq!(
                events[crash].host, replica,
                "seed {seed}: crashed the wrong replica"
            );
            assert!(crash > answered);
            let replied_between = events[answered..crash]
                .iter()
                .any(|e| e.host == replica && matches!(e.kind, TraceKind::AppReply { .. }));
            assert!(
                !replied_between,
                "seed {seed}: the replica answered before the crash"
            );
            let same = run(&input, Arc::new(CheckoutNaive));
            assert_eq!(
                same.trace_hash, outcome.trace_hash,
                "seed {seed}: not deterministic"
            );
        }
    }

    #[test]
    fn a_lost_response_bound_to_the_second_create_loses_exactly_that_one() {
        let mut input = coupon_race(3, "checkout.naive");
        input.faults.push(TimedFault::on(
            Trigger::first(event("call stripe POST /v1/customers")).nth(2),
            Fault::DropResponse {
                service: Service::Stripe,
                count: 1,
                path_prefix: "/v1/customers".into(),
            },
        ));
        let outcome = run(&input, Arc::new(CheckoutNaive));
        let events = &outcome.trace.events;
        let creates: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                matches!(&e.kind, TraceKind::Request { to, method, path, .. } if to == "stripe" && method == "POST" && path == "/v1/customers")
            })
            .map(|(i, _)| i)
            .collect();
        assert!(creates.len() >= 2, "{}", outcome.trace.render_text());
        let dropped: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(&e.kind, TraceKind::ResponseDropped { path, .. } if path == "/v1/customers"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(dropped.len(), 1, "{}", outcome.trace.render_text());
        assert!(
            dropped[0] > creates[1],
            "the first create's response was dropped instead"
        );
        let answered_first = events[creates[0]..dropped[0]].iter().any(|e| {
            matches!(&e.kind, TraceKind::Response { from, path, .. } if from == "stripe" && path == "/v1/customers")
        });
        assert!(answered_first, "the first create was answered");
    }

    #[test]
    fn a_trigger_that_never_matches_applies_nothing() {
        let mut input = coupon_race(1, "checkout.naive");
        input.faults.push(TimedFault::on(
            Trigger::first(event("call clerk POST /v1/organizations")),
            Fault::Crash {
                host: "app-1".into(),
                restart_after_ms: 100,
            },
        ));
        let outcome = run(&input, Arc::new(CheckoutNaive));
        assert_eq!(outcome.sim_error, None);
        assert!(!outcome
            .trace
            .events
            .iter()
            .any(|e| matches!(e.kind, TraceKind::Crash | TraceKind::Fault { .. })));
        let plain = run(&coupon_race(1, "checkout.naive"), Arc::new(CheckoutNaive));
        assert_eq!(
            plain.trace_hash, outcome.trace_hash,
            "an unfired trigger changes nothing"
        );
    }
}
