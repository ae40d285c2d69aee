//! Random interleavings of 2–3 sessions on a small schema, and the runner that checks them.
//!
//! One vocabulary of statements ([`SessionOp`]), how it renders to a [`Stmt`], how it decodes from
//! bytes, and [`run`], which plays an interleaving (blocked statements are parked and
//! re-submitted later, as a runtime does) and checks the model's invariants: no undetected
//! deadlock, no two committed equal non-null keys in a unique index, no lock left after the
//! final commits. Shared by the property tests (`proptests.rs`, which draw [`SessionOp`]s with
//! proptest strategies) and the `db_model` fuzz target (which decodes them from fuzzer bytes
//! with [`SessionOp::decode`]).

use super::{
    AdvisoryLockInfo, ColumnType, Database, DbSnapshot, DeadlockVictim, LockScope, SessionId, SetValue, Stmt,
    Submitted, TableSchema, Value,
};

/// The one table the statements use.
pub const TABLE: &str = "t";

/// Unique indexes of [`schema`], as column lists.
pub const UNIQUE: &[&[&str]] = &[&["id"], &["email"]];

/// Most rounds of re-submitting parked statements before the run is declared stuck.
const DRAIN_ROUNDS_MAX: usize = 64;

/// [`TABLE`]: `id` (primary key), `email` (unique, nullable), `cus` (nullable), `n` (default 0).
pub fn schema() -> TableSchema {
    TableSchema::new(TABLE)
        .column("id", ColumnType::Int)
        .nullable("email", ColumnType::Text)
        .nullable("cus", ColumnType::Text)
        .with_default("n", ColumnType::Int, Value::Int(0))
        .primary_key(&["id"])
        .unique(&["email"])
}

/// One statement, with its parameters kept so a probe can move them (see [`SessionOp::disjoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOp {
    /// `BEGIN`.
    Begin,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK`.
    Rollback,
    /// `SELECT` (all rows, or one `id`), optionally `FOR UPDATE`.
    Select {
        /// The row, or `None` for all.
        id: Option<i64>,
        /// `FOR UPDATE`.
        for_update: bool,
    },
    /// `INSERT` of `id` and an email, with one of five conflict clauses.
    Insert {
        /// The primary key.
        id: i64,
        /// The email `e<n>@x`, or `None` for NULL.
        email: Option<u8>,
        /// The conflict clause, `% 5`: none, `DO NOTHING` on `id`, `DO NOTHING`, `DO UPDATE SET
        /// email = excluded.email` on `id`, `DO UPDATE SET n = 9` on `email`.
        conflict: u8,
    },
    /// `UPDATE` of one column of row `id`.
    Update {
        /// The row.
        id: i64,
        /// The column, `% 3`: `cus`, `email`, `n`.
        column: u8,
        /// The value written (`cus_<v>`, `e<v>@x` or `v`).
        value: u8,
        /// Only where the column is NULL (a compare-and-set).
        only_if_null: bool,
    },
    /// `DELETE` of row `id`.
    Delete {
        /// The row.
        id: i64,
    },
    /// An advisory lock.
    Lock {
        /// The lock key.
        key: i64,
        /// Session-level rather than transaction-level.
        session: bool,
        /// `pg_try_advisory_lock` rather than the waiting one.
        try_lock: bool,
    },
    /// `pg_advisory_unlock`.
    Unlock {
        /// The lock key.
        key: i64,
    },
    /// A statement the model must reject, `% 4`: a missing table, a missing column, a text
    /// primary key, a NOT NULL column set to NULL.
    Bad {
        /// Which one.
        kind: u8,
    },
}

fn email(n: u8) -> Value {
    Value::Text(format!("e{n}@x"))
}

impl SessionOp {
    /// Decodes one op from a byte stream: a byte picks the kind (of 20: 4 `BEGIN`, 1 `COMMIT`,
    /// 1 `ROLLBACK`, 2 `SELECT`, 4 `INSERT`, 4 `UPDATE`, 1 `DELETE`, 1 lock, 1 unlock, 1 bad),
    /// the following bytes its parameters (ids 1–3, emails 0–2, lock keys 1–2).
    pub fn decode(byte: &mut impl FnMut() -> u8) -> SessionOp {
        let small = |b: u8| 1 + i64::from(b % 3);
        match byte() % 20 {
            0..=3 => SessionOp::Begin,
            4 => SessionOp::Commit,
            5 => SessionOp::Rollback,
            6 | 7 => SessionOp::Select {
                id: (byte() & 1 == 1).then(|| small(byte())),
                for_update: byte() & 1 == 1,
            },
            8..=11 => SessionOp::Insert {
                id: small(byte()),
                email: (byte() & 1 == 1).then(|| byte() % 3),
                conflict: byte(),
            },
            12..=15 => SessionOp::Update {
                id: small(byte()),
                column: byte(),
                value: byte() % 3,
                only_if_null: byte() & 1 == 1,
            },
            16 => SessionOp::Delete { id: small(byte()) },
            17 => SessionOp::Lock {
                key: 1 + i64::from(byte() % 2),
                session: byte() & 1 == 1,
                try_lock: byte() & 1 == 1,
            },
            18 => SessionOp::Unlock {
                key: 1 + i64::from(byte() % 2),
            },
            _ => SessionOp::Bad { kind: byte() },
        }
    }

    /// The statement.
    pub fn stmt(self) -> Stmt {
        match self {
            SessionOp::Begin => Stmt::Begin,
            SessionOp::Commit => Stmt::Commit,
            SessionOp::Rollback => Stmt::Rollback,
            SessionOp::Select { id, for_update } => {
                let stmt = if for_update {
                    Stmt::select_for_update(TABLE)
                } else {
                    Stmt::select(TABLE)
                };
                match id {
                    Some(id) => stmt.eq("id", id),
                    None => stmt,
                }
            }
            SessionOp::Insert {
                id,
                email: e,
                conflict,
            } => {
                let insert = Stmt::insert(
                    TABLE,
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
            SessionOp::Update {
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
                let stmt = Stmt::update(TABLE, &[(col, val)]).eq("id", id);
                if only_if_null {
                    stmt.is_null(col)
                } else {
                    stmt
                }
            }
            SessionOp::Delete { id } => Stmt::delete(TABLE).eq("id", id),
            SessionOp::Lock {
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
            SessionOp::Unlock { key } => Stmt::advisory_unlock(key),
            SessionOp::Bad { kind } => match kind % 4 {
                0 => Stmt::select("missing"),
                1 => Stmt::select(TABLE).eq("nope", 1),
                2 => Stmt::insert(TABLE, &[("id", "one".into())]),
                _ => Stmt::update(TABLE, &[("n", Value::Null)]).lt("id", 3),
            },
        }
    }

    /// The op as the rolled-back probe transaction may run it: no transaction control, no
    /// session-level locks (those deliberately survive rollback).
    pub fn for_probe(self) -> SessionOp {
        match self {
            SessionOp::Begin | SessionOp::Commit | SessionOp::Rollback => SessionOp::Select {
                id: None,
                for_update: false,
            },
            SessionOp::Lock { key, try_lock, .. } => SessionOp::Lock {
                key,
                session: false,
                try_lock,
            },
            other => other,
        }
    }

    /// The probe op moved onto ids, emails and lock keys no other session uses, so the probe
    /// never waits for the others and never makes them wait.
    pub fn disjoint(self) -> SessionOp {
        match self.for_probe() {
            SessionOp::Select { id, for_update } => SessionOp::Select {
                id: Some(id.unwrap_or(1) + 10),
                for_update,
            },
            SessionOp::Insert { id, email, conflict } => SessionOp::Insert {
                id: id + 10,
                email: email.map(|e| e + 10),
                conflict,
            },
            SessionOp::Update {
                id,
                column,
                value,
                only_if_null,
            } => SessionOp::Update {
                id: id + 10,
                column,
                value: value + 10,
                only_if_null,
            },
            SessionOp::Delete { id } => SessionOp::Delete { id: id + 10 },
            SessionOp::Lock {
                key,
                session,
                try_lock,
            } => SessionOp::Lock {
                key: key + 10,
                session,
                try_lock,
            },
            SessionOp::Unlock { key } => SessionOp::Unlock { key: key + 10 },
            SessionOp::Bad { .. } => SessionOp::Bad { kind: 0 },
            other => other,
        }
    }
}

/// A transaction by an extra session that is rolled back (or whose connection drops): it must
/// leave no trace.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The step before which it starts.
    pub at_step: usize,
    /// Its statements (see [`SessionOp::for_probe`]).
    pub ops: Vec<SessionOp>,
    /// The connection drops instead of a `ROLLBACK`.
    pub disconnect: bool,
    /// One op per step from `at_step` on, on disjoint keys ([`SessionOp::disjoint`]), instead of all
    /// at once between two steps.
    pub interleaved: bool,
}

/// The state of an interleaved probe during a run.
#[derive(Default)]
struct ProbeRun {
    session: Option<SessionId>,
    next: usize,
    done: bool,
}

impl ProbeRun {
    fn step(&mut self, db: &mut Database, probe: &Probe) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let session = *self.session.get_or_insert_with(|| {
            let s = db.connect();
            let _ = db.execute(s, &Stmt::Begin);
            s
        });
        match probe.ops.get(self.next) {
            Some(op) => {
                self.next += 1;
                let step = db.execute(session, &op.disjoint().stmt());
                if step.is_blocked() {
                    return Err(format!("the disjoint probe waited: {step:?}"));
                }
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

/// The whole probe between two steps; it stops at its first statement that would wait.
fn run_probe_at_once(db: &mut Database, probe: &Probe) {
    let c = db.connect();
    let _ = db.execute(c, &Stmt::Begin);
    for op in &probe.ops {
        if db.execute(c, &op.for_probe().stmt()).is_blocked() {
            break;
        }
    }
    if !probe.disconnect {
        let _ = db.execute(c, &Stmt::Rollback);
    }
    db.disconnect(c);
}

/// What a run leaves: the final snapshot and every finished statement with its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The database after the final commits.
    pub snapshot: DbSnapshot,
    /// `"<session>: <statement> -> <result>"` per finished statement, in order.
    pub trace: Vec<String>,
}

fn check_unique(db: &Database) -> Result<(), String> {
    let rows = db.table_rows(TABLE);
    for columns in UNIQUE {
        let mut keys: Vec<Vec<Value>> = Vec::new();
        for row in &rows {
            let key: Vec<Value> = columns
                .iter()
                .map(|c| row.get(*c).cloned().unwrap_or(Value::Null))
                .collect();
            if key.iter().any(Value::is_null) {
                continue;
            }
            if keys.contains(&key) {
                return Err(format!(
                    "duplicate committed key {key:?} in {columns:?}: {rows:?}"
                ));
            }
            keys.push(key);
        }
    }
    Ok(())
}

/// Plays `ops` (session index, op) from `sessions` sessions on a fresh [`schema`], with the
/// `probe` if any: a blocked statement is parked and its session re-submits it at its next
/// turn; then the parked statements are drained (when none progresses, the free sessions
/// commit and give up their session-level locks) and every session commits. `Err` names the
/// broken invariant.
pub fn run(
    sessions: usize,
    ops: &[(usize, SessionOp)],
    probe: Option<&Probe>,
    victim: DeadlockVictim,
) -> Result<Run, String> {
    let mut db = Database::new().with_deadlock_victim(victim);
    db.create_table(schema())
        .map_err(|e| format!("create table: {e}"))?;
    let ids: Vec<SessionId> = (0..sessions).map(|_| db.connect()).collect();
    let mut parked: Vec<Option<Stmt>> = vec![None; sessions];
    let mut trace = Vec::new();
    let mut submit = |db: &mut Database, parked: &mut Vec<Option<Stmt>>, index: usize, stmt: Stmt| {
        let (Some(session), Some(slot)) = (ids.get(index), parked.get_mut(index)) else {
            return;
        };
        match db.execute(*session, &stmt) {
            Submitted::Blocked(_) => *slot = Some(stmt),
            Submitted::Done(result) => trace.push(format!("{index}: {stmt} -> {result:?}")),
        }
    };
    let mut probe_run = ProbeRun::default();
    for (step, (index, op)) in ops.iter().enumerate() {
        match probe {
            Some(p) if p.interleaved && step >= p.at_step => probe_run.step(&mut db, p)?,
            Some(p) if !p.interleaved && p.at_step == step => run_probe_at_once(&mut db, p),
            _ => {}
        }
        let index = index % sessions;
        // A parked session can only re-submit the statement it is waiting in.
        let stmt = parked
            .get_mut(index)
            .and_then(Option::take)
            .unwrap_or_else(|| op.stmt());
        submit(&mut db, &mut parked, index, stmt);
        check_unique(&db)?;
    }
    if let Some(p) = probe {
        probe_run.finish(&mut db, p);
    }
    // Drain: retry parked statements; when none progresses, end the idle transactions.
    for _ in 0..DRAIN_ROUNDS_MAX {
        let mut progress = false;
        for index in 0..sessions {
            if let Some(stmt) = parked.get_mut(index).and_then(Option::take) {
                submit(&mut db, &mut parked, index, stmt);
                progress |= parked.get(index).is_some_and(Option::is_none);
            }
        }
        check_unique(&db)?;
        if parked.iter().all(Option::is_none) {
            break;
        }
        if !progress {
            let free: Vec<usize> = (0..sessions)
                .filter(|i| parked.get(*i).is_some_and(Option::is_none))
                .collect();
            // Every session waiting on another would be a deadlock the detector missed.
            if free.is_empty() {
                return Err(format!("undetected deadlock: {:?}", db.snapshot()));
            }
            for index in free {
                // End its transaction and give up its session-level advisory locks.
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
    if !parked.iter().all(Option::is_none) {
        return Err("still blocked after draining".to_string());
    }
    for index in 0..sessions {
        submit(&mut db, &mut parked, index, Stmt::Commit);
    }
    let snapshot = db.snapshot();
    if !snapshot.row_locks.is_empty() {
        return Err(format!("row locks after commit: {snapshot:?}"));
    }
    if !snapshot
        .advisory_locks
        .iter()
        .all(|l| l.xact_count == 0 && l.session_count > 0)
    {
        return Err(format!(
            "transaction-level advisory locks after commit: {snapshot:?}"
        ));
    }
    check_unique(&db)?;
    Ok(Run { snapshot, trace })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reads_the_kind_then_its_parameters() {
        let mut bytes = [8u8, 1, 1, 2, 4].into_iter();
        let op = SessionOp::decode(&mut || bytes.next().unwrap_or(0));
        let expected = SessionOp::Insert {
            id: 2,
            email: Some(2),
            conflict: 4,
        };
        assert_eq!(op, expected);
        let mut zeros = || 0;
        assert_eq!(SessionOp::decode(&mut zeros), SessionOp::Begin);
    }
}
