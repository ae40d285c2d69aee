//! The `db_model` target: statements from 2–3 sessions on the simulated PostgreSQL.

use super::Bytes;
use crate::fakes::postgres::{
    AdvisoryLockInfo, ColumnType, Database, DbSnapshot, DeadlockVictim, LockScope, SessionId, SetValue, Step,
    Stmt, TableSchema, Value,
};

const DB_TABLE: &str = "t";
/// Unique indexes of the fuzzed table, as column lists.
const DB_UNIQUE: &[&[&str]] = &[&["id"], &["email"]];
/// Most statements one input plays.
const DB_OPS_MAX: usize = 64;
/// Most probe statements.
const DB_PROBE_MAX: usize = 8;
/// Most rounds of re-submitting parked statements before the run is declared stuck.
const DB_DRAIN_ROUNDS_MAX: usize = 64;

fn db_schema() -> TableSchema {
    TableSchema::new(DB_TABLE)
        .column("id", ColumnType::Int)
        .nullable("email", ColumnType::Text)
        .nullable("cus", ColumnType::Text)
        .with_default("n", ColumnType::Int, Value::Int(0))
        .primary_key(&["id"])
        .unique(&["email"])
}

/// One statement decoded from bytes, with its parameters kept so a probe can move them.
#[derive(Debug, Clone, Copy)]
enum DbOp {
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

impl DbOp {
    fn decode(bytes: &mut Bytes<'_>) -> DbOp {
        let small = |b: &mut Bytes<'_>| 1 + (b.byte() % 3) as i64;
        match bytes.below(20) {
            0..=3 => DbOp::Begin,
            4 => DbOp::Commit,
            5 => DbOp::Rollback,
            6 | 7 => DbOp::Select {
                id: bytes.bool().then(|| small(bytes)),
                for_update: bytes.bool(),
            },
            8..=11 => DbOp::Insert {
                id: small(bytes),
                email: bytes.bool().then(|| bytes.byte() % 3),
                conflict: bytes.byte(),
            },
            12..=15 => DbOp::Update {
                id: small(bytes),
                column: bytes.byte(),
                value: bytes.byte() % 3,
                only_if_null: bytes.bool(),
            },
            16 => DbOp::Delete { id: small(bytes) },
            17 => DbOp::Lock {
                key: 1 + (bytes.byte() % 2) as i64,
                session: bytes.bool(),
                try_lock: bytes.bool(),
            },
            18 => DbOp::Unlock {
                key: 1 + (bytes.byte() % 2) as i64,
            },
            _ => DbOp::Bad { kind: bytes.byte() },
        }
    }

    fn stmt(self) -> Stmt {
        let email = |n: u8| Value::Text(format!("e{n}@x"));
        match self {
            DbOp::Begin => Stmt::Begin,
            DbOp::Commit => Stmt::Commit,
            DbOp::Rollback => Stmt::Rollback,
            DbOp::Select { id, for_update } => {
                let stmt = if for_update {
                    Stmt::select_for_update(DB_TABLE)
                } else {
                    Stmt::select(DB_TABLE)
                };
                match id {
                    Some(id) => stmt.eq("id", id),
                    None => stmt,
                }
            }
            DbOp::Insert {
                id,
                email: e,
                conflict,
            } => {
                let insert = Stmt::insert(
                    DB_TABLE,
                    &[("id", id.into()), ("email", e.map(email).unwrap_or(Value::Null))],
                );
                match conflict % 5 {
                    0 => insert,
                    1 => insert.on_conflict_do_nothing(&["id"]),
                    2 => insert.on_conflict_do_nothing(&[]),
                    3 => insert.on_conflict_update_excluded(&["id"], &["email"]),
                    _ => insert.on_conflict_do_update(&["email"], &[("n", SetValue::Value(Value::Int(9)))]),
                }
            }
            DbOp::Update {
                id,
                column,
                value,
                only_if_null,
            } => {
                let (col, val) = match column % 3 {
                    0 => ("cus", Value::Text(format!("cus_{value}"))),
                    1 => ("email", email(value)),
                    _ => ("n", Value::Int(i64::from(value))),
                };
                let stmt = Stmt::update(DB_TABLE, &[(col, val)]).eq("id", id);
                if only_if_null {
                    stmt.is_null(col)
                } else {
                    stmt
                }
            }
            DbOp::Delete { id } => Stmt::delete(DB_TABLE).eq("id", id),
            DbOp::Lock {
                key,
                session,
                try_lock,
            } => {
                let scope = if session {
                    LockScope::Session
                } else {
                    LockScope::Transaction
                };
                if try_lock {
                    Stmt::try_advisory_lock(key, scope)
                } else {
                    Stmt::advisory_lock(key, scope)
                }
            }
            DbOp::Unlock { key } => Stmt::advisory_unlock(key),
            DbOp::Bad { kind } => match kind % 4 {
                0 => Stmt::select("missing"),
                1 => Stmt::select(DB_TABLE).eq("nope", 1),
                2 => Stmt::insert(DB_TABLE, &[("id", "one".into())]),
                _ => Stmt::update(DB_TABLE, &[("n", Value::Null)]).lt("id", 3),
            },
        }
    }

    /// The op inside the probe transaction: no transaction control, no session-level locks
    /// (those survive a rollback by design).
    fn for_probe(self) -> DbOp {
        match self {
            DbOp::Begin | DbOp::Commit | DbOp::Rollback => DbOp::Select {
                id: None,
                for_update: false,
            },
            DbOp::Lock { key, try_lock, .. } => DbOp::Lock {
                key,
                session: false,
                try_lock,
            },
            other => other,
        }
    }

    /// The probe op moved onto ids, emails and lock keys no other session uses.
    fn disjoint(self) -> DbOp {
        match self.for_probe() {
            DbOp::Select { id, for_update } => DbOp::Select {
                id: Some(id.unwrap_or(1) + 10),
                for_update,
            },
            DbOp::Insert { id, email, conflict } => DbOp::Insert {
                id: id + 10,
                email: email.map(|e| e + 10),
                conflict,
            },
            DbOp::Update {
                id,
                column,
                value,
                only_if_null,
            } => DbOp::Update {
                id: id + 10,
                column,
                value: value + 10,
                only_if_null,
            },
            DbOp::Delete { id } => DbOp::Delete { id: id + 10 },
            DbOp::Lock {
                key,
                session,
                try_lock,
            } => DbOp::Lock {
                key: key + 10,
                session,
                try_lock,
            },
            DbOp::Unlock { key } => DbOp::Unlock { key: key + 10 },
            DbOp::Bad { .. } => DbOp::Bad { kind: 0 },
            other => other,
        }
    }
}

/// A transaction by an extra session that is rolled back (or whose connection drops).
struct DbProbe {
    at_step: usize,
    ops: Vec<DbOp>,
    disconnect: bool,
    /// One op per step from `at_step` on, on disjoint keys, instead of all at once.
    interleaved: bool,
}

fn assert_db_unique(db: &Database) {
    let rows = db.table_rows(DB_TABLE);
    for columns in DB_UNIQUE {
        let mut keys: Vec<Vec<Value>> = Vec::new();
        for row in &rows {
            let key: Vec<Value> = columns
                .iter()
                .map(|c| row.get(*c).cloned().unwrap_or(Value::Null))
                .collect();
            if key.iter().any(Value::is_null) {
                continue;
            }
            assert!(
                !keys.contains(&key),
                "duplicate committed key {key:?} in {columns:?}: {rows:?}"
            );
            keys.push(key);
        }
    }
}

fn db_run(
    sessions: usize,
    ops: &[(usize, DbOp)],
    probe: Option<&DbProbe>,
    victim: DeadlockVictim,
) -> (DbSnapshot, Vec<String>) {
    let mut db = Database::new().with_deadlock_victim(victim);
    assert!(db.create_table(db_schema()).is_ok());
    let ids: Vec<SessionId> = (0..sessions).map(|_| db.connect()).collect();
    let mut parked: Vec<Option<Stmt>> = vec![None; sessions];
    let mut trace = Vec::new();
    let mut submit = |db: &mut Database, parked: &mut Vec<Option<Stmt>>, index: usize, stmt: Stmt| {
        let (Some(session), Some(slot)) = (ids.get(index), parked.get_mut(index)) else {
            return;
        };
        match db.execute(*session, &stmt) {
            Step::Blocked(_) => *slot = Some(stmt),
            Step::Done(result) => trace.push(format!("{index}: {stmt} -> {result:?}")),
        }
    };
    let mut probe_session: Option<SessionId> = None;
    let mut probe_next = 0;
    let mut probe_done = false;
    let finish_probe = |db: &mut Database, session: &mut Option<SessionId>, probe: &DbProbe| {
        if let Some(s) = session.take() {
            if !probe.disconnect {
                let _ = db.execute(s, &Stmt::Rollback);
            }
            db.disconnect(s);
        }
    };
    for (step, (index, op)) in ops.iter().enumerate() {
        match probe {
            Some(p) if p.interleaved && step >= p.at_step && !probe_done => {
                let s = *probe_session.get_or_insert_with(|| {
                    let s = db.connect();
                    let _ = db.execute(s, &Stmt::Begin);
                    s
                });
                match p.ops.get(probe_next) {
                    Some(op) => {
                        probe_next += 1;
                        let result = db.execute(s, &op.disjoint().stmt());
                        assert!(!result.is_blocked(), "the disjoint probe waited: {result:?}");
                    }
                    None => {
                        finish_probe(&mut db, &mut probe_session, p);
                        probe_done = true;
                    }
                }
            }
            Some(p) if !p.interleaved && p.at_step == step => {
                let c = db.connect();
                let _ = db.execute(c, &Stmt::Begin);
                for op in &p.ops {
                    if db.execute(c, &op.for_probe().stmt()).is_blocked() {
                        break;
                    }
                }
                if !p.disconnect {
                    let _ = db.execute(c, &Stmt::Rollback);
                }
                db.disconnect(c);
            }
            _ => {}
        }
        let index = index % sessions;
        // A parked session can only re-submit the statement it is waiting in.
        let stmt = parked
            .get_mut(index)
            .and_then(Option::take)
            .unwrap_or_else(|| op.stmt());
        submit(&mut db, &mut parked, index, stmt);
        assert_db_unique(&db);
    }
    if let Some(p) = probe {
        finish_probe(&mut db, &mut probe_session, p);
    }
    // Drain: retry parked statements; when none progresses, end the idle transactions.
    for _ in 0..DB_DRAIN_ROUNDS_MAX {
        let mut progress = false;
        for index in 0..sessions {
            if let Some(stmt) = parked.get_mut(index).and_then(Option::take) {
                submit(&mut db, &mut parked, index, stmt);
                progress |= parked.get(index).is_some_and(Option::is_none);
            }
        }
        assert_db_unique(&db);
        if parked.iter().all(Option::is_none) {
            break;
        }
        if !progress {
            let free: Vec<usize> = (0..sessions)
                .filter(|i| parked.get(*i).is_some_and(Option::is_none))
                .collect();
            assert!(!free.is_empty(), "undetected deadlock: {:?}", db.snapshot());
            for index in free {
                submit(&mut db, &mut parked, index, Stmt::Commit);
                let held: Vec<AdvisoryLockInfo> = db.snapshot().advisory_locks;
                for lock in held.iter().filter(|l| ids.get(index) == Some(&l.holder)) {
                    for _ in 0..lock.session_count {
                        submit(&mut db, &mut parked, index, Stmt::advisory_unlock(lock.key));
                    }
                }
            }
        }
    }
    assert!(parked.iter().all(Option::is_none), "still blocked after draining");
    for index in 0..sessions {
        submit(&mut db, &mut parked, index, Stmt::Commit);
    }
    let snapshot = db.snapshot();
    assert!(
        snapshot.row_locks.is_empty(),
        "row locks after commit: {snapshot:?}"
    );
    assert!(
        snapshot
            .advisory_locks
            .iter()
            .all(|l| l.xact_count == 0 && l.session_count > 0),
        "transaction-level advisory locks after commit: {snapshot:?}"
    );
    assert_db_unique(&db);
    (snapshot, trace)
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
    let probe_ops: Vec<DbOp> = (0..bytes.below(DB_PROBE_MAX + 1))
        .map(|_| DbOp::decode(&mut bytes))
        .collect();
    let (probe_at, disconnect, interleaved) = (bytes.byte(), bytes.bool(), bytes.bool());
    let mut ops = Vec::new();
    while !bytes.is_empty() && ops.len() < DB_OPS_MAX {
        let session = bytes.below(3);
        ops.push((session, DbOp::decode(&mut bytes)));
    }
    if ops.is_empty() {
        return;
    }
    let first = db_run(sessions, &ops, None, victim);
    let second = db_run(sessions, &ops, None, victim);
    assert_eq!(first, second, "the same statements gave different results");
    let probe = DbProbe {
        at_step: usize::from(probe_at) % ops.len(),
        ops: probe_ops,
        disconnect,
        interleaved,
    };
    let with_probe = db_run(sessions, &ops, Some(&probe), victim);
    assert_eq!(first, with_probe, "a rolled-back transaction left a trace");
}
