//! Properties over random interleavings of 2–3 sessions on a small schema: blocked statements
//! are parked and re-submitted later, as a runtime would. The statements, the schema and the
//! runner are [`super::interleavings`] (shared with the `db_model` fuzz target); here proptest
//! draws the ops.

use proptest::prelude::*;

use super::interleavings::{run, Probe, Run, SessionOp};
use super::DeadlockVictim;

fn op() -> impl Strategy<Value = SessionOp> {
    prop_oneof![
        4 => Just(SessionOp::Begin),
        1 => Just(SessionOp::Commit),
        1 => Just(SessionOp::Rollback),
        2 => (proptest::option::of(1..4i64), any::<bool>())
            .prop_map(|(id, for_update)| SessionOp::Select { id, for_update }),
        4 => (1..4i64, proptest::option::of(0..3u8), any::<u8>())
            .prop_map(|(id, email, conflict)| SessionOp::Insert { id, email, conflict }),
        4 => (1..4i64, any::<u8>(), 0..3u8, any::<bool>()).prop_map(|(id, column, value, only_if_null)| {
            SessionOp::Update { id, column, value, only_if_null }
        }),
        1 => (1..4i64).prop_map(|id| SessionOp::Delete { id }),
        2 => (1..3i64, any::<bool>(), any::<bool>())
            .prop_map(|(key, session, try_lock)| SessionOp::Lock { key, session, try_lock }),
        1 => (1..3i64).prop_map(|key| SessionOp::Unlock { key }),
        1 => any::<u8>().prop_map(|kind| SessionOp::Bad { kind }),
    ]
}

fn run_case(
    sessions: usize,
    ops: &[(usize, SessionOp)],
    probe: Option<&Probe>,
    victim: DeadlockVictim,
) -> Result<Run, TestCaseError> {
    run(sessions, ops, probe, victim).map_err(TestCaseError::fail)
}

fn scenario() -> impl Strategy<Value = (usize, Vec<(usize, SessionOp)>, DeadlockVictim)> {
    (
        2..=3usize,
        proptest::collection::vec((0..3usize, op()), 1..40),
        prop_oneof![
            Just(DeadlockVictim::ClosingStatement),
            Just(DeadlockVictim::FirstWaiter)
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_interleavings_keep_invariants_and_are_deterministic((sessions, ops, victim) in scenario()) {
        let first = run_case(sessions, &ops, None, victim)?;
        let second = run_case(sessions, &ops, None, victim)?;
        prop_assert_eq!(first, second);
    }

    #[test]
    fn rolled_back_transaction_leaves_no_trace(
        (sessions, ops, victim) in scenario(),
        probe_ops in proptest::collection::vec(op(), 0..8),
        at in any::<proptest::sample::Index>(),
        disconnect in any::<bool>(),
        interleaved in any::<bool>(),
    ) {
        let probe = Probe { at_step: at.index(ops.len()), ops: probe_ops, disconnect, interleaved };
        let without = run_case(sessions, &ops, None, victim)?;
        let with = run_case(sessions, &ops, Some(&probe), victim)?;
        prop_assert_eq!(without, with);
    }
}
