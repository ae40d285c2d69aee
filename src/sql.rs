//! The typed statement API an app sends to its database instead of SQL: the simulated
//! PostgreSQL executes it, `racehound::pg` renders it for a real server. A leaf: the app, the
//! fakes and every runtime share it.
//!
//! Each [`Stmt`] maps to one SQL statement a team would write (`SELECT … FOR UPDATE`,
//! `INSERT … ON CONFLICT DO NOTHING`, `pg_advisory_xact_lock(k)`, …); [`Stmt::to_sql`] prints
//! that SQL for traces and for running the same statement on a real server. There is no SQL
//! parser: statements are built with the constructors below.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A column value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A `bigint`.
    Int(i64),
    /// A `text` (JSON documents are stored as text too).
    Text(String),
    /// A `boolean`.
    Bool(bool),
}

impl Value {
    /// The text inside, if this is a `Text`.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The integer inside, if this is an `Int`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// Whether this is SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_string())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "NULL"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Text(text) => write!(f, "'{}'", text.replace('\'', "''")),
            Value::Bool(b) => write!(f, "{}", if *b { "true" } else { "false" }),
        }
    }
}

/// A row: column name → value, in column-name order.
pub type Row = BTreeMap<String, Value>;

/// The SQL type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ColumnType {
    /// `bigint`
    Int,
    /// `text`
    Text,
    /// `boolean`
    Bool,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// Column type.
    pub column_type: ColumnType,
    /// Whether `NULL` is allowed (`NOT NULL` otherwise).
    pub nullable: bool,
    /// Value used when an insert omits the column (`NULL` if none).
    pub default: Option<Value>,
}

/// A unique index (or the primary key). `NULL`s are distinct, as in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueIndex {
    /// Constraint name, reported in `23505` errors (e.g. `tenants_pkey`).
    pub name: String,
    /// Indexed columns, in order.
    pub columns: Vec<String>,
}

/// A table definition: `CREATE TABLE` without SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    /// Table name.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<ColumnDef>,
    /// Primary key columns (a unique index named `{table}_pkey`).
    pub primary_key: Vec<String>,
    /// Further unique indexes.
    pub unique: Vec<UniqueIndex>,
}

impl TableSchema {
    /// A table with no columns yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            unique: Vec::new(),
        }
    }

    /// Adds a `NOT NULL` column.
    pub fn column(mut self, name: &str, column_type: ColumnType) -> Self {
        self.columns.push(ColumnDef {
            name: name.to_string(),
            column_type,
            nullable: false,
            default: None,
        });
        self
    }

    /// Adds a nullable column.
    pub fn nullable(mut self, name: &str, column_type: ColumnType) -> Self {
        self.columns.push(ColumnDef {
            name: name.to_string(),
            column_type,
            nullable: true,
            default: None,
        });
        self
    }

    /// Adds a `NOT NULL` column with a default value.
    pub fn with_default(mut self, name: &str, column_type: ColumnType, default: Value) -> Self {
        self.columns.push(ColumnDef {
            name: name.to_string(),
            column_type,
            nullable: false,
            default: Some(default),
        });
        self
    }

    /// Sets the primary key.
    pub fn primary_key(mut self, columns: &[&str]) -> Self {
        self.primary_key = columns.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Adds a unique constraint named `{table}_{cols}_key`, as PostgreSQL names them.
    pub fn unique(mut self, columns: &[&str]) -> Self {
        let name = format!("{}_{}_key", self.name, columns.join("_"));
        self.unique.push(UniqueIndex {
            name,
            columns: columns.iter().map(|c| c.to_string()).collect(),
        });
        self
    }
}

/// A condition on one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Cond {
    /// `col = value` (never true for `NULL`).
    Eq(Value),
    /// `col IS NULL`
    IsNull,
    /// `col IS NOT NULL`
    IsNotNull,
    /// `col < value`
    Lt(Value),
}

/// A conjunction of column conditions (`WHERE a = 1 AND b IS NULL`); empty means all rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter(pub Vec<(String, Cond)>);

/// What an `INSERT` does when a unique index already holds the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OnConflict {
    /// No `ON CONFLICT` clause: `23505 unique_violation`.
    Error,
    /// `ON CONFLICT (target) DO NOTHING`; an empty target means any unique index.
    DoNothing {
        /// Conflict target columns.
        target: Vec<String>,
    },
    /// `ON CONFLICT (target) DO UPDATE SET …`.
    DoUpdate {
        /// Conflict target columns (must match a unique index).
        target: Vec<String>,
        /// Assignments.
        set: Vec<(String, SetValue)>,
    },
}

/// The right-hand side of an assignment in `DO UPDATE SET`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SetValue {
    /// A literal value.
    Value(Value),
    /// `EXCLUDED.column`: the value the insert proposed.
    Excluded(String),
}

/// Whether an advisory lock is held until the end of the transaction or of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockScope {
    /// `pg_advisory_xact_lock`: released at commit or rollback.
    Transaction,
    /// `pg_advisory_lock`: held until unlocked or the connection drops.
    Session,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Stmt {
    /// `CREATE TABLE` (outside transactions, for setting up a schema).
    CreateTable(TableSchema),
    /// `BEGIN` (READ COMMITTED).
    Begin,
    /// `COMMIT` (in an aborted transaction it rolls back, as PostgreSQL does).
    Commit,
    /// `ROLLBACK`
    Rollback,
    /// `SELECT * FROM table WHERE filter [FOR UPDATE]`.
    Select {
        /// Table name.
        table: String,
        /// Row filter.
        filter: Filter,
        /// `FOR UPDATE`: lock the rows, waiting for other holders.
        for_update: bool,
    },
    /// `INSERT INTO table (…) VALUES (…) [ON CONFLICT …] RETURNING *`.
    Insert {
        /// Table name.
        table: String,
        /// The new row (omitted columns take their default).
        row: Row,
        /// Conflict handling.
        on_conflict: OnConflict,
    },
    /// `UPDATE table SET … WHERE filter RETURNING *`.
    Update {
        /// Table name.
        table: String,
        /// Row filter, re-checked against the latest version after waiting on a row lock.
        filter: Filter,
        /// Assignments.
        set: Vec<(String, Value)>,
    },
    /// `DELETE FROM table WHERE filter RETURNING *`.
    Delete {
        /// Table name.
        table: String,
        /// Row filter.
        filter: Filter,
    },
    /// `SELECT pg_advisory_xact_lock(key)` / `pg_advisory_lock(key)`: waits until granted.
    AdvisoryLock {
        /// Lock key.
        key: i64,
        /// Transaction or session scope.
        scope: LockScope,
    },
    /// `SELECT pg_try_advisory_xact_lock(key)` / `pg_try_advisory_lock(key)`: returns one row
    /// with column `locked` = true or false, never waits.
    TryAdvisoryLock {
        /// Lock key.
        key: i64,
        /// Transaction or session scope.
        scope: LockScope,
    },
    /// `SELECT pg_advisory_unlock(key)` (session scope); returns `locked` = whether it was held.
    AdvisoryUnlock {
        /// Lock key.
        key: i64,
    },
}

impl Stmt {
    /// `SELECT * FROM table` (add conditions with [`Stmt::eq`], [`Stmt::is_null`], …).
    pub fn select(table: &str) -> Stmt {
        Stmt::Select {
            table: table.to_string(),
            filter: Filter::default(),
            for_update: false,
        }
    }

    /// `SELECT … FOR UPDATE`.
    pub fn select_for_update(table: &str) -> Stmt {
        Stmt::Select {
            table: table.to_string(),
            filter: Filter::default(),
            for_update: true,
        }
    }

    /// `INSERT INTO table` with the given `(column, value)` pairs.
    pub fn insert(table: &str, values: &[(&str, Value)]) -> Stmt {
        Stmt::Insert {
            table: table.to_string(),
            row: values.iter().map(|(c, v)| (c.to_string(), v.clone())).collect(),
            on_conflict: OnConflict::Error,
        }
    }

    /// `UPDATE table SET …` with the given assignments.
    pub fn update(table: &str, set: &[(&str, Value)]) -> Stmt {
        Stmt::Update {
            table: table.to_string(),
            filter: Filter::default(),
            set: set.iter().map(|(c, v)| (c.to_string(), v.clone())).collect(),
        }
    }

    /// `DELETE FROM table`.
    pub fn delete(table: &str) -> Stmt {
        Stmt::Delete {
            table: table.to_string(),
            filter: Filter::default(),
        }
    }

    /// Adds `AND column = value` to a select, update or delete.
    pub fn eq(self, column: &str, value: impl Into<Value>) -> Stmt {
        self.with_cond(column, Cond::Eq(value.into()))
    }

    /// Adds `AND column IS NULL`.
    pub fn is_null(self, column: &str) -> Stmt {
        self.with_cond(column, Cond::IsNull)
    }

    /// Adds `AND column IS NOT NULL`.
    pub fn is_not_null(self, column: &str) -> Stmt {
        self.with_cond(column, Cond::IsNotNull)
    }

    /// Adds `AND column < value`.
    pub fn lt(self, column: &str, value: impl Into<Value>) -> Stmt {
        self.with_cond(column, Cond::Lt(value.into()))
    }

    /// Sets `ON CONFLICT (target) DO NOTHING` on an insert.
    pub fn on_conflict_do_nothing(self, target: &[&str]) -> Stmt {
        self.with_on_conflict(OnConflict::DoNothing {
            target: target.iter().map(|c| c.to_string()).collect(),
        })
    }

    /// Sets `ON CONFLICT (target) DO UPDATE SET col = EXCLUDED.col` for each of `columns`.
    pub fn on_conflict_update_excluded(self, target: &[&str], columns: &[&str]) -> Stmt {
        self.with_on_conflict(OnConflict::DoUpdate {
            target: target.iter().map(|c| c.to_string()).collect(),
            set: columns
                .iter()
                .map(|c| (c.to_string(), SetValue::Excluded(c.to_string())))
                .collect(),
        })
    }

    /// Sets `ON CONFLICT (target) DO UPDATE SET …` with the given assignments.
    pub fn on_conflict_do_update(self, target: &[&str], set: &[(&str, SetValue)]) -> Stmt {
        self.with_on_conflict(OnConflict::DoUpdate {
            target: target.iter().map(|c| c.to_string()).collect(),
            set: set.iter().map(|(c, v)| (c.to_string(), v.clone())).collect(),
        })
    }

    /// `SELECT pg_advisory_xact_lock(key)` (transaction scope) or `pg_advisory_lock(key)`.
    pub fn advisory_lock(key: i64, scope: LockScope) -> Stmt {
        Stmt::AdvisoryLock { key, scope }
    }

    /// `SELECT pg_try_advisory_xact_lock(key)` or `pg_try_advisory_lock(key)`.
    pub fn try_advisory_lock(key: i64, scope: LockScope) -> Stmt {
        Stmt::TryAdvisoryLock { key, scope }
    }

    /// `SELECT pg_advisory_unlock(key)`.
    pub fn advisory_unlock(key: i64) -> Stmt {
        Stmt::AdvisoryUnlock { key }
    }

    fn with_on_conflict(self, on_conflict: OnConflict) -> Stmt {
        match self {
            Stmt::Insert { table, row, .. } => Stmt::Insert {
                table,
                row,
                on_conflict,
            },
            other => other,
        }
    }

    fn with_cond(mut self, column: &str, cond: Cond) -> Stmt {
        match &mut self {
            Stmt::Select { filter, .. } | Stmt::Update { filter, .. } | Stmt::Delete { filter, .. } => {
                filter.0.push((column.to_string(), cond));
            }
            _ => {}
        }
        self
    }

    /// Whether the statement changes data or locks (everything but a plain `SELECT`).
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            Stmt::Select {
                for_update: false,
                ..
            }
        )
    }

    /// The SQL a team would write for this statement (for traces and the real-server adapter).
    pub fn to_sql(&self) -> String {
        fn filter_sql(filter: &Filter) -> String {
            if filter.0.is_empty() {
                return String::new();
            }
            let parts: Vec<String> = filter
                .0
                .iter()
                .map(|(col, cond)| match cond {
                    Cond::Eq(v) => format!("{col} = {v}"),
                    Cond::IsNull => format!("{col} IS NULL"),
                    Cond::IsNotNull => format!("{col} IS NOT NULL"),
                    Cond::Lt(v) => format!("{col} < {v}"),
                })
                .collect();
            format!(" WHERE {}", parts.join(" AND "))
        }
        fn lock_fn(scope: LockScope, try_lock: bool) -> &'static str {
            match (scope, try_lock) {
                (LockScope::Transaction, false) => "pg_advisory_xact_lock",
                (LockScope::Session, false) => "pg_advisory_lock",
                (LockScope::Transaction, true) => "pg_try_advisory_xact_lock",
                (LockScope::Session, true) => "pg_try_advisory_lock",
            }
        }
        match self {
            Stmt::CreateTable(schema) => format!("CREATE TABLE {} (…)", schema.name),
            Stmt::Begin => "BEGIN".to_string(),
            Stmt::Commit => "COMMIT".to_string(),
            Stmt::Rollback => "ROLLBACK".to_string(),
            Stmt::Select {
                table,
                filter,
                for_update,
            } => format!(
                "SELECT * FROM {table}{}{}",
                filter_sql(filter),
                if *for_update { " FOR UPDATE" } else { "" }
            ),
            Stmt::Insert {
                table,
                row,
                on_conflict,
            } => {
                let cols: Vec<&str> = row.keys().map(String::as_str).collect();
                let vals: Vec<String> = row.values().map(ToString::to_string).collect();
                let conflict = match on_conflict {
                    OnConflict::Error => String::new(),
                    OnConflict::DoNothing { target } if target.is_empty() => {
                        " ON CONFLICT DO NOTHING".to_string()
                    }
                    OnConflict::DoNothing { target } => {
                        format!(" ON CONFLICT ({}) DO NOTHING", target.join(", "))
                    }
                    OnConflict::DoUpdate { target, set } => {
                        let sets: Vec<String> = set
                            .iter()
                            .map(|(c, v)| match v {
                                SetValue::Value(v) => format!("{c} = {v}"),
                                SetValue::Excluded(e) => format!("{c} = EXCLUDED.{e}"),
                            })
                            .collect();
                        format!(
                            " ON CONFLICT ({}) DO UPDATE SET {}",
                            target.join(", "),
                            sets.join(", ")
                        )
                    }
                };
                format!(
                    "INSERT INTO {table} ({}) VALUES ({}){conflict} RETURNING *",
                    cols.join(", "),
                    vals.join(", ")
                )
            }
            Stmt::Update { table, filter, set } => {
                let sets: Vec<String> = set.iter().map(|(c, v)| format!("{c} = {v}")).collect();
                format!(
                    "UPDATE {table} SET {}{} RETURNING *",
                    sets.join(", "),
                    filter_sql(filter)
                )
            }
            Stmt::Delete { table, filter } => {
                format!("DELETE FROM {table}{} RETURNING *", filter_sql(filter))
            }
            Stmt::AdvisoryLock { key, scope } => format!("SELECT {}({key})", lock_fn(*scope, false)),
            Stmt::TryAdvisoryLock { key, scope } => {
                format!("SELECT {}({key}) AS locked", lock_fn(*scope, true))
            }
            Stmt::AdvisoryUnlock { key } => format!("SELECT pg_advisory_unlock({key}) AS locked"),
        }
    }
}

impl fmt::Display for Stmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sql())
    }
}

/// What a statement returned: the rows (`RETURNING *` for writes) and the affected count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Rows returned.
    pub rows: Vec<Row>,
    /// Rows inserted, updated or deleted (0 for selects and `DO NOTHING` skips).
    pub affected: u64,
}

impl Outcome {
    /// The value of `column` in the first returned row, if any.
    pub fn first(&self, column: &str) -> Option<&Value> {
        self.rows.first().and_then(|row| row.get(column))
    }
}

/// A PostgreSQL error class, by SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SqlState {
    /// `23505 unique_violation`
    UniqueViolation,
    /// `23502 not_null_violation`
    NotNullViolation,
    /// `40P01 deadlock_detected`
    DeadlockDetected,
    /// `40001 serialization_failure`
    SerializationFailure,
    /// `25P02 in_failed_sql_transaction`
    InFailedSqlTransaction,
    /// `25001 active_sql_transaction` (BEGIN inside a transaction is only a warning in
    /// PostgreSQL; used for CREATE TABLE inside a transaction in the model)
    ActiveSqlTransaction,
    /// `42P01 undefined_table`
    UndefinedTable,
    /// `42703 undefined_column`
    UndefinedColumn,
    /// `42804 datatype_mismatch`
    DatatypeMismatch,
    /// `42P10 invalid_column_reference` (ON CONFLICT target matches no unique index)
    InvalidColumnReference,
    /// `08006 connection_failure`: the connection is gone.
    ConnectionFailure,
    /// `57014 query_canceled` (statement or lock timeout)
    QueryCanceled,
    /// `42601 syntax_error` (e.g. `ON CONFLICT DO UPDATE` without a conflict target)
    SyntaxError,
    /// `42P07 duplicate_table` (a table or index name already exists)
    DuplicateTable,
    /// `42701 duplicate_column`
    DuplicateColumn,
    /// `54000 program_limit_exceeded` (a cap of the simulation was reached)
    ProgramLimitExceeded,
    /// `53300 too_many_connections` (more sessions than `max_connections`)
    TooManyConnections,
}

impl SqlState {
    /// The five-character SQLSTATE code.
    pub fn code(self) -> &'static str {
        match self {
            SqlState::UniqueViolation => "23505",
            SqlState::NotNullViolation => "23502",
            SqlState::DeadlockDetected => "40P01",
            SqlState::SerializationFailure => "40001",
            SqlState::InFailedSqlTransaction => "25P02",
            SqlState::ActiveSqlTransaction => "25001",
            SqlState::UndefinedTable => "42P01",
            SqlState::UndefinedColumn => "42703",
            SqlState::DatatypeMismatch => "42804",
            SqlState::InvalidColumnReference => "42P10",
            SqlState::ConnectionFailure => "08006",
            SqlState::QueryCanceled => "57014",
            SqlState::SyntaxError => "42601",
            SqlState::DuplicateTable => "42P07",
            SqlState::DuplicateColumn => "42701",
            SqlState::ProgramLimitExceeded => "54000",
            SqlState::TooManyConnections => "53300",
        }
    }

    /// The state for a SQLSTATE code, if racehound models it.
    pub fn from_code(code: &str) -> Option<SqlState> {
        ALL_SQL_STATES.iter().copied().find(|s| s.code() == code)
    }

    /// Whether retrying the whole transaction may succeed (`40P01`, `40001`, lost connection).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            SqlState::DeadlockDetected | SqlState::SerializationFailure | SqlState::ConnectionFailure
        )
    }
}

const ALL_SQL_STATES: &[SqlState] = &[
    SqlState::UniqueViolation,
    SqlState::NotNullViolation,
    SqlState::DeadlockDetected,
    SqlState::SerializationFailure,
    SqlState::InFailedSqlTransaction,
    SqlState::ActiveSqlTransaction,
    SqlState::UndefinedTable,
    SqlState::UndefinedColumn,
    SqlState::DatatypeMismatch,
    SqlState::InvalidColumnReference,
    SqlState::ConnectionFailure,
    SqlState::QueryCanceled,
    SqlState::SyntaxError,
    SqlState::DuplicateTable,
    SqlState::DuplicateColumn,
    SqlState::ProgramLimitExceeded,
    SqlState::TooManyConnections,
];

/// A database error: SQLSTATE, message, and the violated constraint if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DbError {
    /// The error class.
    pub state: SqlState,
    /// A PostgreSQL-style message.
    pub message: String,
    /// The constraint name for `23505` / `23502`.
    pub constraint: Option<String>,
}

impl DbError {
    /// An error with no constraint.
    pub fn new(state: SqlState, message: impl Into<String>) -> Self {
        Self {
            state,
            message: message.into(),
            constraint: None,
        }
    }

    /// The same error naming the violated constraint.
    pub fn with_constraint(mut self, constraint: impl Into<String>) -> Self {
        self.constraint = Some(constraint.into());
        self
    }

    /// The SQLSTATE code, e.g. `"23505"`.
    pub fn code(&self) -> &'static str {
        self.state.code()
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.state.code())
    }
}

impl std::error::Error for DbError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_print_as_sql() {
        let stmt = Stmt::update("tenants", &[("stripe_customer_id", "cus_1".into())])
            .eq("id", 1)
            .is_null("stripe_customer_id");
        assert_eq!(
            stmt.to_sql(),
            "UPDATE tenants SET stripe_customer_id = 'cus_1' WHERE id = 1 AND stripe_customer_id IS NULL RETURNING *"
        );
        assert_eq!(
            Stmt::select_for_update("t").eq("id", 2).to_sql(),
            "SELECT * FROM t WHERE id = 2 FOR UPDATE"
        );
    }

    #[test]
    fn sqlstate_codes_round_trip() {
        for state in ALL_SQL_STATES {
            assert_eq!(SqlState::from_code(state.code()), Some(*state));
        }
    }
}
