//! Properties over random interleavings of 2–3 sessions on a small schema: blocked statements
//! are parked and re-submitted later, as a runtime would.

use proptest::prelude::*;

use super::*;

const TABLE: &str = "t";

fn schema() -> TableSchema {
    TableSchema::new(TABLE)
        .column("id", ColumnType::Int)
        .nullable("email", ColumnType::Text)
        .nullable("cus", ColumnType::Text)
        .with_default("n", ColumnType::Int, Value::Int(0))
        .primary_key(&["id"])
        .unique(&["email"])
}

/// Unique indexes of [`schema`], as column lists.
const UNIQUE: &[&[&str]] = &[&["id"], &["email"]];

#[derive(Debug, Clone)]
enum Op {
    Begin,
    Commit,
    Rollback,
    Select {
        id: Option<i64>,
        for_update: bool,
    },
    Insert {
        id: i64,
        email: Option<u8>,
        conflict: u8,
    },
    Update {
        id: i64,
        column: u8,
        value: u8,
        only_if_null: bool,
    },
    Delete {
        id: i64,
    },
    Lock {
        key: i64,
        session: bool,
        try_lock: bool,
    },
    Unlock {
        key: i64,
    },
    Bad {
        kind: u8,
    },
}

fn email(n: u8) -> Value {
    Value::Text(format!("e{n}@x"))
}

impl Op {
    fn stmt(&self) -> Stmt {
        match self {
            Op::Begin => Stmt::Begin,
            Op::Commit => Stmt::Commit,
            Op::Rollback => Stmt::Rollback,
            Op::Select { id, for_update } => {
                let stmt = if *for_update {
                    Stmt::select_for_update(TABLE)
                } else {
                    Stmt::select(TABLE)
                };
                match id {
                    Some(id) => stmt.eq("id", *id),
                    None => stmt,
                }
            }
            Op::Insert {
                id,
                email: e,
                conflict,
            } => {
                let insert = Stmt::insert(
                    TABLE,
                    &[
                        ("id", (*id).into()),
                        ("email", e.map(email).unwrap_or(Value::Null)),
                    ],
                );
                match conflict % 5 {
                    0 => insert,
                    1 => insert.on_conflict_do_nothing(&["id"]),
                    2 => insert.on_conflict_do_nothing(&[]),
                    3 => insert.on_conflict_update_excluded(&["id"], &["email"]),
                    _ => insert.on_conflict_do_update(&["email"], &[("n", SetValue::Value(Value::Int(9)))]),
                }
            }
            Op::Update {
                id,
                column,
                value,
                only_if_null,
            } => {
                let (col, val) = match column % 3 {
                    0 => ("cus", Value::Text(format!("cus_{value}"))),
                    1 => ("email", email(*value)),
                    _ => ("n", Value::Int(i64::from(*value))),
                };
                let stmt = Stmt::update(TABLE, &[(col, val)]).eq("id", *id);
                if *only_if_null {
                    stmt.is_null(col)
                } else {
                    stmt
                }
            }
            Op::Delete { id } => Stmt::delete(TABLE).eq("id", *id),
            Op::Lock {
                key,
                session,
                try_lock,
            } => {
                let scope = if *session {
                    LockScope::Session
                } else {
                    LockScope::Transaction
                };
                if *try_lock {
                    Stmt::try_advisory_lock(*key, scope)
                } else {
                    Stmt::advisory_lock(*key, scope)
                }
            }
            Op::Unlock { key } => Stmt::advisory_unlock(*key),
            Op::Bad { kind } => match kind % 4 {
                0 => Stmt::select("missing"),
                1 => Stmt::select(TABLE).eq("nope", 1),
                2 => Stmt::insert(TABLE, &[("id", "one".into())]),
                _ => Stmt::update(TABLE, &[("n", Value::Null)]).lt("id", 3),
            },
        }
    }

    /// The op as the rolled-back probe transaction may run it: no transaction control, no
    /// session-level locks (those deliberately survive rollback).
    fn for_probe(&self) -> Op {
        match self {
            Op::Begin | Op::Commit | Op::Rollback => Op::Select {
                id: None,
                for_update: false,
            },
            Op::Lock { key, try_lock, .. } => Op::Lock {
                key: *key,
                session: false,
                try_lock: *try_lock,
            },
            other => other.clone(),
        }
    }

    /// The probe op moved onto ids, emails and lock keys no other session uses, so the probe
    /// never waits for the others and never makes them wait.
    fn disjoint(&self) -> Op {
        match self.for_probe() {
            Op::Select { id, for_update } => Op::Select {
                id: Some(id.unwrap_or(1) + 10),
                for_update,
            },
            Op::Insert { id, email, conflict } => Op::Insert {
                id: id + 10,
                email: email.map(|e| e + 10),
                conflict,
            },
            Op::Update {
                id,
                column,
                value,
                only_if_null,
            } => Op::Update {
                id: id + 10,
                column,
                value: value + 10,
                only_if_null,
            },
            Op::Delete { id } => Op::Delete { id: id + 10 },
            Op::Lock {
                key,
                session,
                try_lock,
            } => Op::Lock {
                key: key + 10,
                session,
                try_lock,
            },
            Op::Unlock { key } => Op::Unlock { key: key + 10 },
            Op::Bad { .. } => Op::Bad { kind: 0 },
            other => other,
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Begin),
        1 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        2 => (proptest::option::of(1..4i64), any::<bool>())
            .prop_map(|(id, for_update)| Op::Select { id, for_update }),
        4 => (1..4i64, proptest::option::of(0..3u8), any::<u8>())
            .prop_map(|(id, email, conflict)| Op::Insert { id, email, conflict }),
        4 => (1..4i64, any::<u8>(), 0..3u8, any::<bool>()).prop_map(|(id, column, value, only_if_null)| {
            Op::Update { id, column, value, only_if_null }
        }),
        1 => (1..4i64).prop_map(|id| Op::Delete { id }),
        2 => (1..3i64, any::<bool>(), any::<bool>())
            .prop_map(|(key, session, try_lock)| Op::Lock { key, session, try_lock }),
        1 => (1..3i64).prop_map(|key| Op::Unlock { key }),
        1 => any::<u8>().prop_map(|kind| Op::Bad { kind }),
    ]
}

/// A transaction by an extra session, run entirely between two steps and then rolled back
/// (or its connection dropped): it must leave no trace.
#[derive(Debug, Clone)]
struct Probe {
    at_step: usize,
    ops: Vec<Op>,
    disconnect: bool,
    /// Run one probe op per step from `at_step` on, on disjoint keys, instead of all at once.
    interleaved: bool,
}

/// The state of an interleaved probe during a run.
#[derive(Default)]
struct ProbeRun {
    session: Option<SessionId>,
    next: usize,
    done: bool,
}

impl ProbeRun {
    fn step(&mut self, db: &mut Database, probe: &Probe) -> Result<(), TestCaseError> {
        if self.done {
            return Ok(());
        }
        let session = match self.session {
            Some(s) => s,
            None => {
                let s = db.connect();
                let _ = db.execute(s, &Stmt::Begin);
                self.session = Some(s);
                s
            }
        };
        match probe.ops.get(self.next) {
            Some(op) => {
                self.next += 1;
                let step = db.execute(session, &op.disjoint().stmt());
                prop_assert!(!step.is_blocked(), "the disjoint probe waited: {step:?}");
            }
            None => self.finish(db, probe),
        }
        Ok(())
    }

    fn finish(&mut self, db: &mut Database, probe: &Probe) {
        if let Some(s) = self.session.take() {
            if !probe.disconnect {
                let _ = db.execute(s, &Stmt::Rollback);
            }
            db.disconnect(s);
        }
        self.done = true;
    }
}

#[derive(Debug, PartialEq)]
struct Run {
    snapshot: DbSnapshot,
    trace: Vec<String>,
}

fn assert_unique(db: &Database) -> Result<(), TestCaseError> {
    let rows = db.table_rows(TABLE);
    for columns in UNIQUE {
        let mut keys = Vec::new();
        for row in &rows {
            let key: Vec<Value> = columns
                .iter()
                .map(|c| row.get(*c).cloned().unwrap_or(Value::Null))
                .collect();
            if key.iter().any(Value::is_null) {
                continue;
            }
            prop_assert!(
                !keys.contains(&key),
                "duplicate committed key {key:?} in {columns:?}: {rows:?}"
            );
            keys.push(key);
        }
    }
    Ok(())
}

fn run_probe(db: &mut Database, probe: &Probe) {
    let c = db.connect();
    let _ = db.execute(c, &Stmt::Begin);
    for op in &probe.ops {
        if db.execute(c, &op.for_probe().stmt()).is_blocked() {
            break;
        }
    }
    if probe.disconnect {
        db.disconnect(c);
    } else {
        let _ = db.execute(c, &Stmt::Rollback);
        db.disconnect(c);
    }
}

/// Most rounds of re-submitting parked statements before the run is declared stuck.
const MAX_DRAIN_ROUNDS: usize = 64;

fn run(
    sessions: usize,
    ops: &[(usize, Op)],
    probe: Option<&Probe>,
    victim: DeadlockVictim,
) -> Result<Run, TestCaseError> {
    let mut db = Database::new().with_deadlock_victim(victim);
    prop_assert!(db.create_table(schema()).is_ok());
    let ids: Vec<SessionId> = (0..sessions).map(|_| db.connect()).collect();
    let mut parked: Vec<Option<Stmt>> = vec![None; sessions];
    let mut trace = Vec::new();
    let mut submit = |db: &mut Database, parked: &mut Vec<Option<Stmt>>, index: usize, stmt: Stmt| {
        let step = db.execute(ids[index], &stmt);
        match step {
            Step::Blocked(_) => parked[index] = Some(stmt),
            Step::Done(result) => {
                trace.push(format!("{index}: {stmt} -> {result:?}"));
            }
        }
    };
    let mut probe_run = ProbeRun::default();
    for (step, (index, op)) in ops.iter().enumerate() {
        match probe {
            Some(p) if p.interleaved && step >= p.at_step => probe_run.step(&mut db, p)?,
            Some(p) if !p.interleaved && p.at_step == step => run_probe(&mut db, p),
            _ => {}
        }
        let index = index % sessions;
        // A parked session can only re-submit the statement it is waiting in.
        let stmt = parked[index].take().unwrap_or_else(|| op.stmt());
        submit(&mut db, &mut parked, index, stmt);
        assert_unique(&db)?;
    }
    if let Some(p) = probe {
        probe_run.finish(&mut db, p);
    }
    // Drain: retry parked statements; when none progresses, end an idle transaction.
    for _ in 0..MAX_DRAIN_ROUNDS {
        let mut progress = false;
        for index in 0..sessions {
            if let Some(stmt) = parked[index].take() {
                submit(&mut db, &mut parked, index, stmt);
                progress |= parked[index].is_none();
            }
        }
        assert_unique(&db)?;
        if parked.iter().all(Option::is_none) {
            break;
        }
        if !progress {
            let free: Vec<usize> = (0..sessions).filter(|i| parked[*i].is_none()).collect();
            // Every session waiting on another would be a deadlock the detector missed.
            prop_assert!(!free.is_empty(), "undetected deadlock: {:?}", db.snapshot());
            for index in free {
                // End its transaction and give up its session-level advisory locks.
                submit(&mut db, &mut parked, index, Stmt::Commit);
                let held: Vec<AdvisoryLockInfo> = db.snapshot().advisory_locks;
                for lock in held.iter().filter(|l| l.holder == ids[index]) {
                    for _ in 0..lock.session_count {
                        submit(&mut db, &mut parked, index, Stmt::advisory_unlock(lock.key));
                    }
                }
            }
        }
    }
    prop_assert!(parked.iter().all(Option::is_none), "still blocked after draining");
    for index in 0..sessions {
        submit(&mut db, &mut parked, index, Stmt::Commit);
    }
    let snapshot = db.snapshot();
    prop_assert!(
        snapshot.row_locks.is_empty(),
        "row locks after commit: {snapshot:?}"
    );
    prop_assert!(snapshot
        .advisory_locks
        .iter()
        .all(|l| l.xact_count == 0 && l.session_count > 0));
    assert_unique(&db)?;
    Ok(Run { snapshot, trace })
}

fn scenario() -> impl Strategy<Value = (usize, Vec<(usize, Op)>, DeadlockVictim)> {
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
        let first = run(sessions, &ops, None, victim)?;
        let second = run(sessions, &ops, None, victim)?;
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
        let without = run(sessions, &ops, None, victim)?;
        let with = run(sessions, &ops, Some(&probe), victim)?;
        prop_assert_eq!(without, with);
    }
}
