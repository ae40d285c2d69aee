//! The `db_model` target: statements from 2–3 sessions on the simulated PostgreSQL.
//!
//! The statements, the schema and the runner are
//! [`crate::fakes::postgres::interleavings`], shared with the model's property tests; this
//! target decodes the ops from the fuzzer's bytes.

use super::Bytes;
use crate::fakes::postgres::interleavings::{run, Probe, Run, SessionOp};
use crate::fakes::postgres::DeadlockVictim;

/// Most statements one input plays.
const DB_OPS_MAX: usize = 64;
/// Most probe statements.
const DB_PROBE_MAX: usize = 8;

fn decode(bytes: &mut Bytes<'_>) -> SessionOp {
    SessionOp::decode(&mut || bytes.byte())
}

fn db_run(sessions: usize, ops: &[(usize, SessionOp)], probe: Option<&Probe>, victim: DeadlockVictim) -> Run {
    run(sessions, ops, probe, victim).unwrap_or_else(|why| panic!("{why}"))
}

/// Transactions and statements from 2–3 sessions on the simulated PostgreSQL, derived from
/// `data` (blocked statements are parked and re-submitted, as a runtime does): it never panics,
/// no deadlock goes undetected, a unique index never holds two committed equal non-null keys,
/// the same input twice gives the same results, and an extra transaction that is rolled back
/// (or whose connection drops) leaves no trace in the results or the final snapshot.
pub fn db_model(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let sessions = 2 + bytes.below(2);
    let victim = if bytes.bool() {
        DeadlockVictim::FirstWaiter
    } else {
        DeadlockVictim::ClosingStatement
    };
    let probe_ops: Vec<SessionOp> = (0..bytes.below(DB_PROBE_MAX + 1))
        .map(|_| decode(&mut bytes))
        .collect();
    let (probe_at, disconnect, interleaved) = (bytes.byte(), bytes.bool(), bytes.bool());
    let mut ops = Vec::new();
    while !bytes.is_empty() && ops.len() < DB_OPS_MAX {
        let session = bytes.below(3);
        ops.push((session, decode(&mut bytes)));
    }
    if ops.is_empty() {
        return;
    }
    let first = db_run(sessions, &ops, None, victim);
    let second = db_run(sessions, &ops, None, victim);
    assert_eq!(first, second, "the same statements gave different results");
    let probe = Probe {
        at_step: usize::from(probe_at) % ops.len(),
        ops: probe_ops,
        disconnect,
        interleaved,
    };
    let with_probe = db_run(sessions, &ops, Some(&probe), victim);
    assert_eq!(first, with_probe, "a rolled-back transaction left a trace");
}
