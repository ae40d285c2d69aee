//! The database state machine: tables, row versions, row and advisory locks, sessions.
//!
//! See the module docs of [`super`] for the rules modelled and why re-submitting a blocked
//! statement is equivalent to PostgreSQL's waiting.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::stmt::{
    ColumnType, Cond, DbError, Filter, LockScope, OnConflict, Outcome, Row, SetValue, SqlState, Stmt,
    TableSchema, UniqueIndex, Value,
};

/// Most rows (live or pending) one table may hold; inserts beyond fail with `54000`.
pub const MAX_ROWS_PER_TABLE: usize = 100_000;
/// Most tables one database may hold.
pub const MAX_TABLES: usize = 1_000;
/// PostgreSQL's default `max_connections`: sessions open at once before `53300`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;
/// Most times one session may take the same advisory lock without releasing it.
pub const MAX_ADVISORY_REENTRY: u32 = 1_000_000;
/// Most overwritten versions of one row a transaction's writes keep as pending keys.
pub const MAX_SUPERSEDED_VERSIONS: usize = 1_000;

/// A connection to the simulated database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session {}", self.0)
    }
}

/// What a statement would wait for in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockedOn {
    /// A row locked (updated, deleted or `FOR UPDATE`) by another open transaction.
    RowLock {
        /// Table of the row.
        table: String,
        /// The row's primary key, PostgreSQL-style: `(id)=(1)`.
        key: String,
        /// The session holding the lock.
        holder: SessionId,
    },
    /// A unique key inserted, changed or deleted by another open transaction.
    UniqueKey {
        /// The unique index (constraint) name.
        index: String,
        /// The session whose transaction must end first.
        holder: SessionId,
    },
    /// An advisory lock held by another session.
    AdvisoryLock {
        /// Lock key.
        key: i64,
        /// The session holding it.
        holder: SessionId,
    },
}

impl BlockedOn {
    /// The session that must finish (commit, roll back, unlock or disconnect) first.
    pub fn holder(&self) -> SessionId {
        match self {
            BlockedOn::RowLock { holder, .. }
            | BlockedOn::UniqueKey { holder, .. }
            | BlockedOn::AdvisoryLock { holder, .. } => *holder,
        }
    }
}

impl fmt::Display for BlockedOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockedOn::RowLock { table, key, holder } => {
                write!(f, "row {table} {key} locked by {holder}")
            }
            BlockedOn::UniqueKey { index, holder } => {
                write!(f, "unique key in \"{index}\" pending in {holder}")
            }
            BlockedOn::AdvisoryLock { key, holder } => write!(f, "advisory lock {key} held by {holder}"),
        }
    }
}

/// The result of submitting one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// The statement ran (successfully or not).
    Done(Result<Outcome, DbError>),
    /// The statement would wait; it had no effect. Re-submit the same statement later.
    Blocked(BlockedOn),
}

impl Submitted {
    /// Whether the statement would wait.
    pub fn is_blocked(&self) -> bool {
        matches!(self, Submitted::Blocked(_))
    }

    /// The result, if the statement ran.
    pub fn done(self) -> Option<Result<Outcome, DbError>> {
        match self {
            Submitted::Done(result) => Some(result),
            Submitted::Blocked(_) => None,
        }
    }
}

/// Which transaction of a deadlock cycle gets `40P01`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeadlockVictim {
    /// The session whose statement closes the cycle fails at once (the default).
    #[default]
    ClosingStatement,
    /// The session of the cycle that has waited longest: PostgreSQL's usual victim when the
    /// steps are closer together than `deadlock_timeout` (1 s), since the first waiter's
    /// timer fires first and the process that runs the check aborts itself. The victim's
    /// transaction is rolled back at once and the next statement it submits (its parked one)
    /// fails with `40P01`; the closing statement proceeds.
    FirstWaiter,
}

/// A row lock, as shown in a [`DbSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowLockInfo {
    /// Table of the row.
    pub table: String,
    /// The row's key, `(id)=(1)`.
    pub key: String,
    /// The holding session.
    pub holder: SessionId,
    /// Whether the holder has written the row (inserted, updated or deleted) and not committed.
    pub written: bool,
}

/// An advisory lock, as shown in a [`DbSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisoryLockInfo {
    /// Lock key.
    pub key: i64,
    /// The holding session.
    pub holder: SessionId,
    /// Session-level acquisitions not yet unlocked.
    pub session_count: u32,
    /// Transaction-level acquisitions (released at commit or rollback).
    pub xact_count: u32,
}

/// What the oracle reads: committed table contents and the locks held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbSnapshot {
    /// Committed rows of every table, in insertion order.
    pub tables: BTreeMap<String, Vec<Row>>,
    /// Row locks held by open transactions, by table then insertion order.
    pub row_locks: Vec<RowLockInfo>,
    /// Advisory locks held, by key.
    pub advisory_locks: Vec<AdvisoryLockInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxState {
    Idle,
    InTx,
    Aborted,
}

#[derive(Debug, Clone)]
struct Session {
    state: TxState,
    /// Rows this session's transaction locked or wrote: (table, row id).
    held_rows: BTreeSet<(String, u64)>,
}

/// An uncommitted change of the lock holder to a row.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    Unchanged,
    Write(Row),
    Delete,
}

/// One row: its committed version and, while a transaction holds it, that transaction's change.
#[derive(Debug, Clone)]
struct Slot {
    committed: Option<Row>,
    holder: Option<SessionId>,
    pending: Pending,
    /// Earlier versions the holder wrote in this transaction and then overwrote: PostgreSQL's
    /// indexes still point at them, so their keys make other inserters wait until it ends.
    superseded: Vec<Row>,
}

impl Slot {
    /// The version `session` sees: its own change, else the committed version.
    fn visible(&self, session: SessionId) -> Option<&Row> {
        if self.holder == Some(session) {
            match &self.pending {
                Pending::Write(row) => return Some(row),
                Pending::Delete => return None,
                Pending::Unchanged => {}
            }
        }
        self.committed.as_ref()
    }

    fn held_by_other(&self, session: SessionId) -> Option<SessionId> {
        self.holder.filter(|h| *h != session)
    }
}

#[derive(Debug, Clone)]
struct Table {
    schema: TableSchema,
    /// Primary key first (named `{table}_pkey`), then unique constraints in declaration order.
    indexes: Vec<UniqueIndex>,
    slots: BTreeMap<u64, Slot>,
    /// Parked inserts and how many leading indexes (in `indexes` order) already hold their key:
    /// PostgreSQL has inserted the tuple and those index entries before waiting on the next
    /// index, so other inserters of those keys wait for the parked one.
    claims: BTreeMap<SessionId, (Row, usize)>,
}

impl Table {
    fn column_type(&self, column: &str) -> Option<ColumnType> {
        self.schema
            .columns
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.column_type)
    }

    fn key_columns(&self) -> Vec<String> {
        if self.schema.primary_key.is_empty() {
            self.schema.columns.iter().map(|c| c.name.clone()).collect()
        } else {
            self.schema.primary_key.clone()
        }
    }

    /// `(id)=(1)`, as PostgreSQL prints keys.
    fn row_key(&self, row: &Row) -> String {
        key_text(&self.key_columns(), row)
    }
}

fn key_text(columns: &[String], row: &Row) -> String {
    let values: Vec<String> = columns
        .iter()
        .map(|c| match row.get(c) {
            Some(Value::Text(t)) => t.clone(),
            Some(v) => v.to_string(),
            None => "NULL".to_string(),
        })
        .collect();
    format!("({})=({})", columns.join(", "), values.join(", "))
}

#[derive(Debug, Clone)]
struct Advisory {
    holder: SessionId,
    session_count: u32,
    xact_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    Row {
        table: String,
        row_id: u64,
    },
    Advisory(i64),
    /// A parked insert's key (see `Table::claims`).
    Claim {
        table: String,
        holder: SessionId,
    },
}

/// A wait-for edge: the session waits for `on.holder()` to release `resource`.
#[derive(Debug, Clone)]
struct Wait {
    on: BlockedOn,
    resource: Resource,
}

/// Why planning a statement stopped.
enum Stop {
    Error(DbError),
    Blocked(Wait),
    /// An insert waiting in its index-insertion phase, with its full row.
    BlockedInserting(Wait, Row),
}

impl From<DbError> for Stop {
    fn from(e: DbError) -> Self {
        Stop::Error(e)
    }
}

/// A checked statement, ready to apply without any further failure.
enum Plan {
    Output(Outcome),
    Lock {
        table: String,
        row_ids: Vec<u64>,
        rows: Vec<Row>,
    },
    /// `None` row id: a new row.
    Write {
        table: String,
        writes: Vec<(Option<u64>, Pending)>,
        returning: Vec<Row>,
    },
    Advisory {
        key: i64,
        scope: LockScope,
        returns_row: bool,
    },
    Unlock {
        key: i64,
    },
}

/// A conflicting row found in a unique index.
enum Hit {
    /// A version visible as live: committed (maybe only `FOR UPDATE`-locked by `locker`) or own.
    Live { row_id: u64, locker: Option<SessionId> },
    /// Another open transaction inserted, changed or deleted a row with this key.
    InProgress { row_id: u64, holder: SessionId },
    /// A parked insert of another session holds this key.
    Claimed { holder: SessionId },
}

/// The simulated PostgreSQL 15 server: a pure, deterministic state machine.
#[derive(Debug, Clone, Default)]
pub struct Database {
    tables: BTreeMap<String, Table>,
    sessions: BTreeMap<SessionId, Session>,
    next_session: u64,
    /// `None` means [`DEFAULT_MAX_CONNECTIONS`].
    max_connections: Option<usize>,
    next_row_id: u64,
    advisory: BTreeMap<i64, Advisory>,
    waits: BTreeMap<SessionId, Wait>,
    /// When each waiting session's statement started waiting (a sequence number).
    wait_since: BTreeMap<SessionId, u64>,
    wait_seq: u64,
    /// Parked statements chosen as deadlock victims: the error their re-submission gets.
    doomed: BTreeMap<SessionId, DbError>,
    /// A parked `SELECT … FOR UPDATE` / `UPDATE` / `DELETE` and the rows it matched when it was
    /// first submitted: its re-submission only considers those rows (re-checked on their
    /// latest version), as PostgreSQL's waiting statement keeps its start snapshot.
    /// (Every parked statement is kept here, with `None` rows for other kinds.)
    resume: BTreeMap<SessionId, (Stmt, Option<BTreeSet<u64>>)>,
    deadlock_victim: DeadlockVictim,
    version: u64,
    /// Changes whenever committed rows change (a commit that wrote or deleted, a new table).
    committed_version: u64,
}

fn type_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Int => "bigint",
        ColumnType::Text => "text",
        ColumnType::Bool => "boolean",
    }
}

fn value_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "unknown",
        Value::Int(_) => "bigint",
        Value::Text(_) => "text",
        Value::Bool(_) => "boolean",
    }
}

fn type_ok(t: ColumnType, v: &Value) -> bool {
    matches!(
        (t, v),
        (_, Value::Null)
            | (ColumnType::Int, Value::Int(_))
            | (ColumnType::Text, Value::Text(_))
            | (ColumnType::Bool, Value::Bool(_))
    )
}

fn deadlock_error() -> DbError {
    DbError::new(SqlState::DeadlockDetected, "deadlock detected")
}

fn aborted_error() -> DbError {
    DbError::new(
        SqlState::InFailedSqlTransaction,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

fn undefined_table(name: &str) -> DbError {
    DbError::new(
        SqlState::UndefinedTable,
        format!("relation \"{name}\" does not exist (hint: create it with Database::create_table first)"),
    )
}

fn mismatch(table: &str, column: &str, t: ColumnType, v: &Value) -> DbError {
    DbError::new(
        SqlState::DatatypeMismatch,
        format!(
            "column \"{column}\" of relation \"{table}\" is of type {} but expression is of type {} \
             (hint: use a Value of the column's type)",
            type_name(t),
            value_type_name(v)
        ),
    )
}

fn filter_matches(row: &Row, filter: &Filter) -> bool {
    filter.0.iter().all(|(col, cond)| {
        let value = row.get(col).unwrap_or(&Value::Null);
        match cond {
            Cond::Eq(v) => !v.is_null() && value == v,
            Cond::IsNull => value.is_null(),
            Cond::IsNotNull => !value.is_null(),
            Cond::Lt(v) => !v.is_null() && !value.is_null() && value < v,
        }
    })
}

fn index_key(index: &UniqueIndex, row: &Row) -> Option<Vec<Value>> {
    let key: Vec<Value> = index
        .columns
        .iter()
        .map(|c| row.get(c).cloned().unwrap_or(Value::Null))
        .collect();
    // NULLs are distinct: a key with a NULL never conflicts.
    if key.iter().any(Value::is_null) {
        None
    } else {
        Some(key)
    }
}

fn unique_violation(index: &UniqueIndex) -> DbError {
    DbError::new(
        SqlState::UniqueViolation,
        format!(
            "duplicate key value violates unique constraint \"{}\"",
            index.name
        ),
    )
    .with_constraint(index.name.clone())
}

impl Database {
    /// An empty database with no tables and no sessions.
    pub fn new() -> Self {
        Self::default()
    }

    /// `CREATE TABLE`: adds a table with its primary key (`{table}_pkey`) and unique indexes.
    pub fn create_table(&mut self, schema: TableSchema) -> Result<(), DbError> {
        if self.tables.contains_key(&schema.name) {
            return Err(DbError::new(
                SqlState::DuplicateTable,
                format!("relation \"{}\" already exists", schema.name),
            ));
        }
        if self.tables.len() >= MAX_TABLES {
            return Err(DbError::new(
                SqlState::ProgramLimitExceeded,
                format!("too many tables (at most {MAX_TABLES}) (hint: reuse tables between runs)"),
            ));
        }
        let mut seen = BTreeSet::new();
        for column in &schema.columns {
            if !seen.insert(column.name.as_str()) {
                return Err(DbError::new(
                    SqlState::DuplicateColumn,
                    format!("column \"{}\" specified more than once", column.name),
                ));
            }
            if let Some(default) = &column.default {
                if !type_ok(column.column_type, default) {
                    return Err(mismatch(&schema.name, &column.name, column.column_type, default));
                }
            }
        }
        let mut indexes = Vec::new();
        if !schema.primary_key.is_empty() {
            indexes.push(UniqueIndex {
                name: format!("{}_pkey", schema.name),
                columns: schema.primary_key.clone(),
            });
        }
        indexes.extend(schema.unique.iter().cloned());
        let mut names = BTreeSet::new();
        for index in &indexes {
            if !names.insert(index.name.as_str()) || self.tables.contains_key(&index.name) {
                return Err(DbError::new(
                    SqlState::DuplicateTable,
                    format!("relation \"{}\" already exists", index.name),
                ));
            }
            if index.columns.is_empty() {
                return Err(DbError::new(
                    SqlState::SyntaxError,
                    format!(
                        "index \"{}\" has no columns (hint: name at least one column)",
                        index.name
                    ),
                ));
            }
            for column in &index.columns {
                if !seen.contains(column.as_str()) {
                    return Err(DbError::new(
                        SqlState::UndefinedColumn,
                        format!("column \"{column}\" named in key does not exist"),
                    ));
                }
            }
        }
        let mut schema = schema;
        // Primary key columns are implicitly NOT NULL.
        for column in &mut schema.columns {
            if schema.primary_key.contains(&column.name) {
                column.nullable = false;
            }
        }
        self.tables.insert(
            schema.name.clone(),
            Table {
                schema,
                indexes,
                slots: BTreeMap::new(),
                claims: BTreeMap::new(),
            },
        );
        self.committed_version += 1;
        Ok(())
    }

    /// Chooses which transaction of a deadlock gets `40P01`.
    pub fn with_deadlock_victim(mut self, victim: DeadlockVictim) -> Self {
        self.deadlock_victim = victim;
        self
    }

    /// Sets `max_connections` (default [`DEFAULT_MAX_CONNECTIONS`], as in PostgreSQL).
    pub fn with_max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = Some(max_connections);
        self
    }

    /// Opens a new connection, or fails with `53300` when `max_connections` sessions are open.
    /// Sessions are numbered from 1 in connection order.
    pub fn try_connect(&mut self) -> Result<SessionId, DbError> {
        let max = self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if self.sessions.len() >= max {
            return Err(DbError::new(
                SqlState::TooManyConnections,
                format!(
                    "sorry, too many clients already (hint: {max} sessions are open; disconnect \
                     idle ones or raise Database::with_max_connections)"
                ),
            ));
        }
        self.next_session += 1;
        let id = SessionId(self.next_session);
        self.sessions.insert(
            id,
            Session {
                state: TxState::Idle,
                held_rows: BTreeSet::new(),
            },
        );
        Ok(id)
    }

    /// Opens a new connection. When `max_connections` sessions are already open, the returned
    /// session is not connected and every statement on it fails with `08006` (use
    /// [`Database::try_connect`] to see the `53300` refusal itself).
    pub fn connect(&mut self) -> SessionId {
        self.try_connect().unwrap_or_else(|_| {
            self.next_session += 1;
            SessionId(self.next_session)
        })
    }

    /// Whether the session has an open (possibly aborted) transaction block.
    pub fn in_transaction(&self, session: SessionId) -> bool {
        self.sessions
            .get(&session)
            .is_some_and(|s| s.state != TxState::Idle)
    }

    /// Whether the session's open transaction has failed and waits for `ROLLBACK`.
    pub fn is_aborted(&self, session: SessionId) -> bool {
        self.sessions
            .get(&session)
            .is_some_and(|s| s.state == TxState::Aborted)
    }

    /// Whether the session is connected.
    pub fn is_connected(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    /// What the session's last submitted statement is waiting for, if it was blocked.
    pub fn is_blocked(&self, session: SessionId) -> Option<&BlockedOn> {
        self.waits.get(&session).map(|w| &w.on)
    }

    /// Sessions whose last submitted statement was blocked, with what they wait for.
    pub fn blocked_sessions(&self) -> Vec<(SessionId, &BlockedOn)> {
        self.waits.iter().map(|(s, w)| (*s, &w.on)).collect()
    }

    /// Connected sessions, in connection order.
    pub fn sessions(&self) -> Vec<SessionId> {
        self.sessions.keys().copied().collect()
    }

    /// A counter that changes whenever data is committed or locks are released: a runtime
    /// re-submits blocked statements when it changes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// A counter that changes whenever committed rows change (what [`Self::committed_tables`]
    /// returns), and not on reads, locks or rollbacks: the oracle re-checks when it changes.
    pub fn committed_version(&self) -> u64 {
        self.committed_version
    }

    /// Committed rows of a table, in insertion order (empty if there is no such table).
    pub fn table_rows(&self, table: &str) -> Vec<Row> {
        self.tables
            .get(table)
            .map(|t| t.slots.values().filter_map(|s| s.committed.clone()).collect())
            .unwrap_or_default()
    }

    /// The schemas of all tables, by name.
    pub fn schemas(&self) -> Vec<&TableSchema> {
        self.tables.values().map(|t| &t.schema).collect()
    }

    /// Committed rows of every table, in insertion order (a snapshot's `tables`).
    pub fn committed_tables(&self) -> BTreeMap<String, Vec<Row>> {
        self.tables
            .keys()
            .map(|name| (name.clone(), self.table_rows(name)))
            .collect()
    }

    /// Committed contents of every table and the locks held.
    pub fn snapshot(&self) -> DbSnapshot {
        let mut snapshot = DbSnapshot::default();
        for (name, table) in &self.tables {
            snapshot.tables.insert(name.clone(), self.table_rows(name));
            for slot in table.slots.values() {
                if let Some(holder) = slot.holder {
                    let row = match (&slot.committed, &slot.pending) {
                        (Some(row), _) | (None, Pending::Write(row)) => row,
                        (None, _) => continue,
                    };
                    snapshot.row_locks.push(RowLockInfo {
                        table: name.clone(),
                        key: table.row_key(row),
                        holder,
                        written: slot.pending != Pending::Unchanged,
                    });
                }
            }
        }
        snapshot.advisory_locks = self
            .advisory
            .iter()
            .map(|(key, a)| AdvisoryLockInfo {
                key: *key,
                holder: a.holder,
                session_count: a.session_count,
                xact_count: a.xact_count,
            })
            .collect();
        snapshot
    }

    /// The connection dropped: rolls back its open transaction and releases every lock it
    /// held, session-level advisory locks included. Unknown sessions are ignored.
    pub fn disconnect(&mut self, session: SessionId) {
        if !self.sessions.contains_key(&session) {
            return;
        }
        self.end_transaction(session, false);
        self.advisory.retain(|_, a| a.holder != session);
        self.sessions.remove(&session);
        self.waits.remove(&session);
        self.wait_since.remove(&session);
        self.doomed.remove(&session);
        self.resume.remove(&session);
        self.version += 1;
    }

    /// `lock_timeout` / `statement_timeout` (or `pg_cancel_backend`) fired while the session
    /// was blocked: the parked statement fails with `57014` and, inside `BEGIN`, the
    /// transaction is aborted. Returns the error to hand to the caller, or `None` if the
    /// session was not blocked (then nothing changes).
    pub fn cancel_blocked(&mut self, session: SessionId) -> Option<DbError> {
        self.waits.remove(&session)?;
        self.wait_since.remove(&session);
        self.resume.remove(&session);
        let autocommit = !self.in_transaction(session);
        self.fail(session, autocommit);
        Some(DbError::new(
            SqlState::QueryCanceled,
            "canceling statement due to lock timeout (hint: a lock holder kept its transaction open; \
             retry, or keep transactions short)",
        ))
    }

    /// Executes one statement for a session. If it would wait, nothing changes except the
    /// wait-for edge used for deadlock detection, and [`Submitted::Blocked`] is returned: the caller
    /// re-submits the same statement later and gets the outcome PostgreSQL gives after waiting.
    pub fn execute(&mut self, session: SessionId, stmt: &Stmt) -> Submitted {
        let previous_wait = self.waits.remove(&session);
        let previous_since = self.wait_since.remove(&session);
        let previous_since = previous_wait.as_ref().and(previous_since);
        let parked = self.resume.remove(&session).filter(|(parked, _)| parked == stmt);
        let same_statement = parked.is_some();
        let resume = parked.and_then(|(_, rows)| rows);
        // A statement waiting on another transaction's unique key waits for that transaction
        // to end (PostgreSQL's XactLockTableWait), even if the key goes away meanwhile.
        let still_waiting = previous_wait.filter(|wait| {
            same_statement && matches!(wait.on, BlockedOn::UniqueKey { .. }) && self.wait_is_live(wait)
        });
        if still_waiting.is_none() {
            self.drop_claims(session);
        }
        if let Some(error) = self.doomed.remove(&session) {
            return Submitted::Done(Err(error));
        }
        let Some(state) = self.sessions.get(&session).map(|s| s.state) else {
            return Submitted::Done(Err(DbError::new(
                SqlState::ConnectionFailure,
                format!(
                    "{session} is not connected (hint: it was disconnected or refused by max_connections; \
                     call Database::connect for a new session)"
                ),
            )));
        };
        match stmt {
            Stmt::Begin => Submitted::Done(match state {
                TxState::Idle => {
                    self.set_state(session, TxState::InTx);
                    Ok(Outcome::default())
                }
                // PostgreSQL: WARNING "there is already a transaction in progress".
                TxState::InTx => Ok(Outcome::default()),
                TxState::Aborted => Err(aborted_error()),
            }),
            Stmt::Commit => {
                // In an aborted transaction COMMIT rolls back (PostgreSQL answers "ROLLBACK").
                if state != TxState::Idle {
                    self.end_transaction(session, state == TxState::InTx);
                }
                Submitted::Done(Ok(Outcome::default()))
            }
            Stmt::Rollback => {
                if state != TxState::Idle {
                    self.end_transaction(session, false);
                }
                Submitted::Done(Ok(Outcome::default()))
            }
            Stmt::CreateTable(schema) => Submitted::Done(match state {
                TxState::Idle => self.create_table(schema.clone()).map(|()| Outcome::default()),
                TxState::Aborted => Err(aborted_error()),
                TxState::InTx => {
                    self.fail(session, false);
                    Err(DbError::new(
                        SqlState::ActiveSqlTransaction,
                        "CREATE TABLE inside a transaction is not modelled (hint: create tables before the run)",
                    ))
                }
            }),
            _ => {
                if state == TxState::Aborted {
                    return Submitted::Done(Err(aborted_error()));
                }
                let autocommit = state == TxState::Idle;
                let planned = match still_waiting {
                    Some(wait) => Err(Stop::Blocked(wait)),
                    None => self.plan(session, stmt, resume.as_ref()),
                };
                let (planned, inserting) = match planned {
                    Err(Stop::BlockedInserting(wait, row)) => (Err(Stop::Blocked(wait)), Some(row)),
                    other => (other, None),
                };
                match planned {
                    Ok(plan) => {
                        if autocommit {
                            self.set_state(session, TxState::InTx);
                        }
                        let outcome = self.apply(session, plan);
                        if autocommit {
                            self.end_transaction(session, true);
                        }
                        Submitted::Done(Ok(outcome))
                    }
                    Err(Stop::Error(error)) => {
                        self.fail(session, autocommit);
                        Submitted::Done(Err(error))
                    }
                    Err(Stop::Blocked(wait) | Stop::BlockedInserting(wait, _)) => {
                        let since = previous_since.unwrap_or_else(|| {
                            self.wait_seq += 1;
                            self.wait_seq
                        });
                        if let Some(cycle) = self.cycle(session, wait.on.holder()) {
                            let victim = self.pick_victim(session, since, &cycle);
                            if victim == session {
                                self.fail(session, autocommit);
                                return Submitted::Done(Err(deadlock_error()));
                            }
                            self.doom(victim);
                            let rows = resume.or_else(|| self.candidate_rows(session, stmt));
                            self.resume.insert(session, (stmt.clone(), rows));
                            // The cycle is broken: run the statement again. Each round dooms
                            // another waiting session, so this recursion is bounded.
                            return self.execute(session, stmt);
                        }
                        let rows = resume.or_else(|| self.candidate_rows(session, stmt));
                        self.resume.insert(session, (stmt.clone(), rows));
                        if let (Some(row), Stmt::Insert { table, .. }, BlockedOn::UniqueKey { index, .. }) =
                            (inserting, stmt, &wait.on)
                        {
                            if let Some(t) = self.tables.get_mut(table) {
                                if let Some(upto) = t.indexes.iter().position(|i| &i.name == index) {
                                    if upto > 0 {
                                        t.claims.insert(session, (row, upto));
                                    }
                                }
                            }
                        }
                        let on = wait.on.clone();
                        self.waits.insert(session, wait);
                        self.wait_since.insert(session, since);
                        Submitted::Blocked(on)
                    }
                }
            }
        }
    }

    fn drop_claims(&mut self, session: SessionId) {
        for table in self.tables.values_mut() {
            table.claims.remove(&session);
        }
    }

    fn set_state(&mut self, session: SessionId, state: TxState) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.state = state;
        }
    }

    /// A statement failed: its transaction is rolled back at once (locks released, as
    /// PostgreSQL's AbortTransaction does) and, inside `BEGIN`, the block stays aborted.
    fn fail(&mut self, session: SessionId, autocommit: bool) {
        self.end_transaction(session, false);
        if !autocommit {
            self.set_state(session, TxState::Aborted);
        }
    }

    /// Ends the session's transaction: applies or discards its changes, releases its row
    /// locks and transaction-level advisory locks.
    fn end_transaction(&mut self, session: SessionId, commit: bool) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        s.state = TxState::Idle;
        let held = std::mem::take(&mut s.held_rows);
        for table in self.tables.values_mut() {
            table.claims.remove(&session);
        }
        for (table_name, row_id) in held {
            let Some(table) = self.tables.get_mut(&table_name) else {
                continue;
            };
            let Some(slot) = table.slots.get_mut(&row_id) else {
                continue;
            };
            if slot.holder != Some(session) {
                continue;
            }
            let pending = std::mem::replace(&mut slot.pending, Pending::Unchanged);
            slot.superseded.clear();
            if commit {
                match pending {
                    Pending::Write(row) => {
                        slot.committed = Some(row);
                        self.committed_version += 1;
                    }
                    Pending::Delete => {
                        slot.committed = None;
                        self.committed_version += 1;
                    }
                    Pending::Unchanged => {}
                }
            }
            slot.holder = None;
            if slot.committed.is_none() {
                table.slots.remove(&row_id);
            }
        }
        self.advisory.retain(|_, a| {
            if a.holder == session {
                a.xact_count = 0;
            }
            a.session_count > 0 || a.xact_count > 0
        });
        self.version += 1;
    }

    /// The other sessions of the cycle `session` closes by waiting on `holder`, following
    /// still-valid wait-for edges; `None` if there is no cycle.
    fn cycle(&self, session: SessionId, holder: SessionId) -> Option<Vec<SessionId>> {
        let mut members = Vec::new();
        let mut current = holder;
        for _ in 0..=self.sessions.len() {
            if current == session {
                return Some(members);
            }
            members.push(current);
            match self.waits.get(&current) {
                Some(wait) if self.wait_is_live(wait) => current = wait.on.holder(),
                _ => return None,
            }
        }
        None
    }

    fn pick_victim(&self, session: SessionId, since: u64, cycle: &[SessionId]) -> SessionId {
        match self.deadlock_victim {
            DeadlockVictim::ClosingStatement => session,
            DeadlockVictim::FirstWaiter => cycle
                .iter()
                .filter_map(|m| self.wait_since.get(m).map(|t| (*t, *m)))
                .chain([(since, session)])
                .min()
                .map_or(session, |(_, m)| m),
        }
    }

    /// Aborts a parked session's transaction as a deadlock victim; its re-submission fails.
    fn doom(&mut self, victim: SessionId) {
        self.waits.remove(&victim);
        self.wait_since.remove(&victim);
        let autocommit = !self.in_transaction(victim);
        self.fail(victim, autocommit);
        self.doomed.insert(victim, deadlock_error());
    }

    /// An edge is stale once its holder released the resource (the waiter has not retried yet).
    fn wait_is_live(&self, wait: &Wait) -> bool {
        let holder = wait.on.holder();
        if !self.sessions.contains_key(&holder) {
            return false;
        }
        match &wait.resource {
            Resource::Row { table, row_id } => self
                .tables
                .get(table)
                .and_then(|t| t.slots.get(row_id))
                .is_some_and(|slot| slot.holder == Some(holder)),
            Resource::Advisory(key) => self.advisory.get(key).is_some_and(|a| a.holder == holder),
            Resource::Claim { table, holder } => self
                .tables
                .get(table)
                .is_some_and(|t| t.claims.contains_key(holder)),
        }
    }

    fn table(&self, name: &str) -> Result<&Table, DbError> {
        self.tables.get(name).ok_or_else(|| undefined_table(name))
    }

    fn check_filter(table: &Table, filter: &Filter) -> Result<(), DbError> {
        for (column, cond) in &filter.0 {
            let Some(t) = table.column_type(column) else {
                return Err(DbError::new(
                    SqlState::UndefinedColumn,
                    format!("column \"{column}\" does not exist"),
                ));
            };
            if let Cond::Eq(v) | Cond::Lt(v) = cond {
                if !type_ok(t, v) {
                    return Err(mismatch(&table.schema.name, column, t, v));
                }
            }
        }
        Ok(())
    }

    fn check_column(table: &Table, column: &str, value: &Value) -> Result<(), DbError> {
        let Some(t) = table.column_type(column) else {
            return Err(DbError::new(
                SqlState::UndefinedColumn,
                format!(
                    "column \"{column}\" of relation \"{}\" does not exist",
                    table.schema.name
                ),
            ));
        };
        if !type_ok(t, value) {
            return Err(mismatch(&table.schema.name, column, t, value));
        }
        Ok(())
    }

    fn check_not_null(table: &Table, row: &Row) -> Result<(), DbError> {
        for column in &table.schema.columns {
            if !column.nullable && row.get(&column.name).is_none_or(Value::is_null) {
                return Err(DbError::new(
                    SqlState::NotNullViolation,
                    format!(
                        "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                        column.name, table.schema.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Rows `session` sees that match the filter, in insertion order.
    fn matching(table: &Table, session: SessionId, filter: &Filter) -> Vec<(u64, Row)> {
        table
            .slots
            .iter()
            .filter_map(|(id, slot)| slot.visible(session).map(|row| (*id, row)))
            .filter(|(_, row)| filter_matches(row, filter))
            .map(|(id, row)| (id, row.clone()))
            .collect()
    }

    /// Blocks if another transaction holds one of the rows (all-or-nothing locking).
    fn check_row_locks(table: &Table, session: SessionId, rows: &[(u64, Row)]) -> Result<(), Stop> {
        for (row_id, row) in rows {
            if let Some(holder) = table.slots.get(row_id).and_then(|s| s.held_by_other(session)) {
                return Err(Stop::Blocked(Wait {
                    on: BlockedOn::RowLock {
                        table: table.schema.name.clone(),
                        key: table.row_key(row),
                        holder,
                    },
                    resource: Resource::Row {
                        table: table.schema.name.clone(),
                        row_id: *row_id,
                    },
                }));
            }
        }
        Ok(())
    }

    /// The first row (insertion order) whose key in `index` equals `row`'s, ignoring `exclude`.
    fn find_conflict(
        table: &Table,
        session: SessionId,
        index: &UniqueIndex,
        row: &Row,
        exclude: &BTreeSet<u64>,
    ) -> Option<Hit> {
        let key = index_key(index, row)?;
        let has_key = |r: &Row| index_key(index, r).as_ref() == Some(&key);
        for (row_id, slot) in &table.slots {
            if exclude.contains(row_id) {
                continue;
            }
            match slot.held_by_other(session) {
                Some(holder) if slot.pending != Pending::Unchanged => {
                    let pending_has = matches!(&slot.pending, Pending::Write(r) if has_key(r));
                    if pending_has
                        || slot.committed.as_ref().is_some_and(has_key)
                        || slot.superseded.iter().any(has_key)
                    {
                        return Some(Hit::InProgress {
                            row_id: *row_id,
                            holder,
                        });
                    }
                }
                locker => {
                    if slot.visible(session).is_some_and(has_key) {
                        return Some(Hit::Live {
                            row_id: *row_id,
                            locker,
                        });
                    }
                }
            }
        }
        let position = table.indexes.iter().position(|i| i.name == index.name)?;
        table
            .claims
            .iter()
            .find(|(holder, (claimed, upto))| **holder != session && position < *upto && has_key(claimed))
            .map(|(holder, _)| Hit::Claimed { holder: *holder })
    }

    fn wait_claim(table: &Table, index: &UniqueIndex, holder: SessionId) -> Stop {
        Stop::Blocked(Wait {
            on: BlockedOn::UniqueKey {
                index: index.name.clone(),
                holder,
            },
            resource: Resource::Claim {
                table: table.schema.name.clone(),
                holder,
            },
        })
    }

    fn wait_unique(table: &Table, index: &UniqueIndex, row_id: u64, holder: SessionId) -> Stop {
        Stop::Blocked(Wait {
            on: BlockedOn::UniqueKey {
                index: index.name.clone(),
                holder,
            },
            resource: Resource::Row {
                table: table.schema.name.clone(),
                row_id,
            },
        })
    }

    /// Checks `new_row` against every unique index whose key it changes (all, for an insert).
    fn check_unique(
        table: &Table,
        session: SessionId,
        new_row: &Row,
        old_row: Option<&Row>,
        exclude: &BTreeSet<u64>,
    ) -> Result<(), Stop> {
        for index in &table.indexes {
            if let Some(old) = old_row {
                // An update that keeps the key does not re-check it.
                if index_key(index, old) == index_key(index, new_row) {
                    continue;
                }
            }
            match Self::find_conflict(table, session, index, new_row, exclude) {
                None => {}
                Some(Hit::Live { .. }) => return Err(Stop::Error(unique_violation(index))),
                Some(Hit::Claimed { holder }) => return Err(Self::wait_claim(table, index, holder)),
                Some(Hit::InProgress { row_id, holder }) => {
                    return Err(Self::wait_unique(table, index, row_id, holder))
                }
            }
        }
        Ok(())
    }

    /// The rows a row-locking statement matches in `session`'s view now (its start snapshot
    /// when it is first submitted); `None` for other statements.
    fn candidate_rows(&self, session: SessionId, stmt: &Stmt) -> Option<BTreeSet<u64>> {
        let (table, filter) = match stmt {
            Stmt::Select {
                table,
                filter,
                for_update: true,
            }
            | Stmt::Update { table, filter, .. }
            | Stmt::Delete { table, filter } => (table, filter),
            _ => return None,
        };
        let t = self.tables.get(table)?;
        Some(
            Self::matching(t, session, filter)
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
        )
    }

    /// Rows matching `filter`, restricted to the parked statement's start-snapshot rows.
    fn matching_since(
        table: &Table,
        session: SessionId,
        filter: &Filter,
        candidates: Option<&BTreeSet<u64>>,
    ) -> Vec<(u64, Row)> {
        let mut rows = Self::matching(table, session, filter);
        if let Some(candidates) = candidates {
            rows.retain(|(id, _)| candidates.contains(id));
        }
        rows
    }

    fn plan(
        &self,
        session: SessionId,
        stmt: &Stmt,
        candidates: Option<&BTreeSet<u64>>,
    ) -> Result<Plan, Stop> {
        match stmt {
            Stmt::Select {
                table,
                filter,
                for_update,
            } => {
                let t = self.table(table)?;
                Self::check_filter(t, filter)?;
                let rows = Self::matching_since(t, session, filter, candidates);
                if !for_update {
                    return Ok(Plan::Output(Outcome {
                        rows: rows.into_iter().map(|(_, r)| r).collect(),
                        affected: 0,
                    }));
                }
                Self::check_row_locks(t, session, &rows)?;
                let (row_ids, rows) = rows.into_iter().unzip();
                Ok(Plan::Lock {
                    table: table.clone(),
                    row_ids,
                    rows,
                })
            }
            Stmt::Insert {
                table,
                row,
                on_conflict,
            } => self.plan_insert(session, table, row, on_conflict),
            Stmt::Update { table, filter, set } => {
                let t = self.table(table)?;
                Self::check_filter(t, filter)?;
                for (column, value) in set {
                    Self::check_column(t, column, value)?;
                }
                let rows = Self::matching_since(t, session, filter, candidates);
                Self::check_row_locks(t, session, &rows)?;
                let exclude: BTreeSet<u64> = rows.iter().map(|(id, _)| *id).collect();
                let mut writes = Vec::new();
                let mut returning: Vec<Row> = Vec::new();
                for (row_id, old) in &rows {
                    let mut new = old.clone();
                    for (column, value) in set {
                        new.insert(column.clone(), value.clone());
                    }
                    Self::check_not_null(t, &new)?;
                    Self::check_unique(t, session, &new, Some(old), &exclude)?;
                    // Two rows of this statement taking the same key.
                    for index in &t.indexes {
                        if let Some(key) = index_key(index, &new) {
                            if returning
                                .iter()
                                .any(|r| index_key(index, r).as_ref() == Some(&key))
                            {
                                return Err(Stop::Error(unique_violation(index)));
                            }
                        }
                    }
                    returning.push(new.clone());
                    writes.push((Some(*row_id), Pending::Write(new)));
                }
                Ok(Plan::Write {
                    table: table.clone(),
                    writes,
                    returning,
                })
            }
            Stmt::Delete { table, filter } => {
                let t = self.table(table)?;
                Self::check_filter(t, filter)?;
                let rows = Self::matching_since(t, session, filter, candidates);
                Self::check_row_locks(t, session, &rows)?;
                Ok(Plan::Write {
                    table: table.clone(),
                    writes: rows.iter().map(|(id, _)| (Some(*id), Pending::Delete)).collect(),
                    returning: rows.into_iter().map(|(_, r)| r).collect(),
                })
            }
            Stmt::AdvisoryLock { key, scope } => {
                self.check_advisory(session, *key)?;
                Ok(Plan::Advisory {
                    key: *key,
                    scope: *scope,
                    returns_row: false,
                })
            }
            Stmt::TryAdvisoryLock { key, scope } => match self.check_advisory(session, *key) {
                Ok(()) => Ok(Plan::Advisory {
                    key: *key,
                    scope: *scope,
                    returns_row: true,
                }),
                Err(Stop::Blocked(_)) => Ok(Plan::Output(locked_row(false))),
                Err(e) => Err(e),
            },
            Stmt::AdvisoryUnlock { key } => Ok(Plan::Unlock { key: *key }),
            Stmt::Begin | Stmt::Commit | Stmt::Rollback | Stmt::CreateTable(_) => {
                Ok(Plan::Output(Outcome::default()))
            }
        }
    }

    fn check_advisory(&self, session: SessionId, key: i64) -> Result<(), Stop> {
        match self.advisory.get(&key) {
            Some(a) if a.holder != session => Err(Stop::Blocked(Wait {
                on: BlockedOn::AdvisoryLock {
                    key,
                    holder: a.holder,
                },
                resource: Resource::Advisory(key),
            })),
            Some(a) if a.session_count.max(a.xact_count) >= MAX_ADVISORY_REENTRY => {
                Err(Stop::Error(DbError::new(
                    SqlState::ProgramLimitExceeded,
                    format!(
                        "advisory lock {key} taken {MAX_ADVISORY_REENTRY} times by {session} \
                         (hint: unlock it as many times as you lock it)"
                    ),
                )))
            }
            _ => Ok(()),
        }
    }

    fn plan_insert(
        &self,
        session: SessionId,
        table_name: &str,
        values: &Row,
        on_conflict: &OnConflict,
    ) -> Result<Plan, Stop> {
        let t = self.table(table_name)?;
        for (column, value) in values {
            Self::check_column(t, column, value)?;
        }
        let mut row = Row::new();
        for column in &t.schema.columns {
            let value = values
                .get(&column.name)
                .cloned()
                .or_else(|| column.default.clone())
                .unwrap_or(Value::Null);
            row.insert(column.name.clone(), value);
        }
        Self::check_not_null(t, &row)?;
        let find_index = |target: &[String]| -> Result<&UniqueIndex, DbError> {
            let wanted: BTreeSet<&String> = target.iter().collect();
            t.indexes
                .iter()
                .find(|i| i.columns.iter().collect::<BTreeSet<_>>() == wanted)
                .ok_or_else(|| {
                    DbError::new(
                        SqlState::InvalidColumnReference,
                        "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                    )
                })
        };
        let exclude = BTreeSet::new();
        match on_conflict {
            OnConflict::Error => {}
            OnConflict::DoNothing { target } => {
                let arbiters: Vec<&UniqueIndex> = if target.is_empty() {
                    t.indexes.iter().collect()
                } else {
                    vec![find_index(target)?]
                };
                for index in arbiters {
                    match Self::find_conflict(t, session, index, &row, &exclude) {
                        None => {}
                        Some(Hit::Live { .. }) => return Ok(Plan::Output(Outcome::default())),
                        Some(Hit::Claimed { holder }) => return Err(Self::wait_claim(t, index, holder)),
                        Some(Hit::InProgress { row_id, holder }) => {
                            return Err(Self::wait_unique(t, index, row_id, holder))
                        }
                    }
                }
            }
            OnConflict::DoUpdate { target, set } => {
                if target.is_empty() {
                    return Err(Stop::Error(DbError::new(
                        SqlState::SyntaxError,
                        "ON CONFLICT DO UPDATE requires inference specification or constraint name \
                         (hint: name the conflict target columns)",
                    )));
                }
                let index = find_index(target)?;
                let mut assignments = Vec::new();
                for (column, value) in set {
                    let value = match value {
                        SetValue::Value(v) => v.clone(),
                        SetValue::Excluded(source) => {
                            if t.column_type(source).is_none() {
                                return Err(Stop::Error(DbError::new(
                                    SqlState::UndefinedColumn,
                                    format!("column excluded.{source} does not exist"),
                                )));
                            }
                            row.get(source).cloned().unwrap_or(Value::Null)
                        }
                    };
                    Self::check_column(t, column, &value)?;
                    assignments.push((column.clone(), value));
                }
                match Self::find_conflict(t, session, index, &row, &exclude) {
                    None => {}
                    Some(Hit::Claimed { holder }) => return Err(Self::wait_claim(t, index, holder)),
                    Some(Hit::InProgress { row_id, holder }) => {
                        return Err(Self::wait_unique(t, index, row_id, holder))
                    }
                    Some(Hit::Live { row_id, locker }) => {
                        let Some(old) = t.slots.get(&row_id).and_then(|s| s.visible(session)).cloned() else {
                            return Ok(Plan::Output(Outcome::default()));
                        };
                        if let Some(holder) = locker {
                            // DO UPDATE locks the existing row, so it waits for a FOR UPDATE holder.
                            return Err(Stop::Blocked(Wait {
                                on: BlockedOn::RowLock {
                                    table: table_name.to_string(),
                                    key: t.row_key(&old),
                                    holder,
                                },
                                resource: Resource::Row {
                                    table: table_name.to_string(),
                                    row_id,
                                },
                            }));
                        }
                        let mut new = old.clone();
                        for (column, value) in assignments {
                            new.insert(column, value);
                        }
                        Self::check_not_null(t, &new)?;
                        Self::check_unique(t, session, &new, Some(&old), &BTreeSet::from([row_id]))?;
                        return Ok(Plan::Write {
                            table: table_name.to_string(),
                            writes: vec![(Some(row_id), Pending::Write(new.clone()))],
                            returning: vec![new],
                        });
                    }
                }
            }
        }
        match Self::check_unique(t, session, &row, None, &exclude) {
            Err(Stop::Blocked(wait)) => return Err(Stop::BlockedInserting(wait, row)),
            other => other?,
        }
        if t.slots.len() >= MAX_ROWS_PER_TABLE {
            return Err(Stop::Error(DbError::new(
                SqlState::ProgramLimitExceeded,
                format!(
                    "table \"{table_name}\" holds {MAX_ROWS_PER_TABLE} rows, the simulation's cap \
                     (hint: scenarios should need far fewer rows)"
                ),
            )));
        }
        Ok(Plan::Write {
            table: table_name.to_string(),
            writes: vec![(None, Pending::Write(row.clone()))],
            returning: vec![row],
        })
    }

    fn hold_row(&mut self, session: SessionId, table: &str, row_id: u64) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.held_rows.insert((table.to_string(), row_id));
        }
    }

    fn apply(&mut self, session: SessionId, plan: Plan) -> Outcome {
        match plan {
            Plan::Output(outcome) => outcome,
            Plan::Lock { table, row_ids, rows } => {
                if let Some(t) = self.tables.get_mut(&table) {
                    for row_id in &row_ids {
                        if let Some(slot) = t.slots.get_mut(row_id) {
                            slot.holder = Some(session);
                        }
                    }
                }
                for row_id in row_ids {
                    self.hold_row(session, &table, row_id);
                }
                Outcome { rows, affected: 0 }
            }
            Plan::Write {
                table,
                writes,
                returning,
            } => {
                let mut held = Vec::new();
                if let Some(t) = self.tables.get_mut(&table) {
                    for (row_id, pending) in writes {
                        let row_id = row_id.unwrap_or_else(|| {
                            self.next_row_id += 1;
                            self.next_row_id
                        });
                        let slot = t.slots.entry(row_id).or_insert(Slot {
                            committed: None,
                            holder: None,
                            pending: Pending::Unchanged,
                            superseded: Vec::new(),
                        });
                        slot.holder = Some(session);
                        let previous = std::mem::replace(&mut slot.pending, pending);
                        if let Pending::Write(row) = previous {
                            if slot.superseded.len() < MAX_SUPERSEDED_VERSIONS
                                && !slot.superseded.contains(&row)
                            {
                                slot.superseded.push(row);
                            }
                        }
                        held.push(row_id);
                    }
                }
                for row_id in held {
                    self.hold_row(session, &table, row_id);
                }
                Outcome {
                    affected: returning.len() as u64,
                    rows: returning,
                }
            }
            Plan::Advisory {
                key,
                scope,
                returns_row,
            } => {
                let lock = self.advisory.entry(key).or_insert(Advisory {
                    holder: session,
                    session_count: 0,
                    xact_count: 0,
                });
                match scope {
                    LockScope::Session => lock.session_count += 1,
                    LockScope::Transaction => lock.xact_count += 1,
                }
                if returns_row {
                    locked_row(true)
                } else {
                    Outcome::default()
                }
            }
            Plan::Unlock { key } => {
                let mut released = false;
                if let Some(lock) = self.advisory.get_mut(&key) {
                    if lock.holder == session && lock.session_count > 0 {
                        lock.session_count -= 1;
                        released = true;
                        if lock.session_count == 0 && lock.xact_count == 0 {
                            self.advisory.remove(&key);
                        }
                    }
                }
                if released {
                    self.version += 1;
                }
                // PostgreSQL: WARNING "you don't own a lock of type ExclusiveLock" when false.
                locked_row(released)
            }
        }
    }
}

fn locked_row(locked: bool) -> Outcome {
    Outcome {
        rows: vec![Row::from([("locked".to_string(), Value::Bool(locked))])],
        affected: 0,
    }
}
