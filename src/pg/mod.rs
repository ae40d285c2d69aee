//! The app's [`Db`] on a real PostgreSQL server (tokio-postgres), executing the same typed
//! statements as the simulated one.
//!
//! [`PgDb`] is a small connection pool; [`PgConn`] runs each [`Stmt`] as parameterized SQL
//! ([`render::render`]: values are always `$n` parameters) and maps server errors to the
//! same [`DbError`]s / [`SqlState`]s the model returns (`23505`, `40P01`, `40001`, `25P02`,
//! …). A connection that is dropped inside a transaction or while holding session advisory
//! locks is closed, never reused, so the server rolls it back and releases its locks exactly
//! as the model's `disconnect` does. [`PgEnv`] puts the reference app (or any strategy) on a
//! real database with the in-process Stripe and Clerk fakes; [`read_snapshot`] reads the
//! tables back so the same oracle checks the end state.
//!
//! Why tokio-postgres (see docs/postgres.md): the flows are async and `Send` on tokio, and the
//! differential check needs one real connection per session whose statement can stay pending
//! while others run — tokio-postgres gives exactly that, with the server's SQLSTATE and
//! constraint name on every error. The pool is written here (a dozen lines) instead of
//! pulling deadpool: it must close, not recycle, connections with an open transaction or a
//! session advisory lock, and it needs a per-test `search_path`.

pub mod env;
pub mod render;

use std::collections::BTreeMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls};

use crate::fakes::postgres::stmt::{DbError, LockScope, Outcome, Row, SqlState, Stmt, TableSchema, Value};
use crate::fakes::postgres::DbSnapshot;
use crate::sync::{Arc, Mutex};

pub use env::PgEnv;
pub use render::{create_table_sql, render, Rendered, ResultKind};

use crate::app::api::{Db, DbConn};

/// Idle connections the pool keeps for reuse.
pub const POOL_IDLE_MAX: usize = 32;
/// Connections open at once through one [`PgDb`] before `connect` fails with `53300`.
pub const POOL_OPEN_MAX: usize = 80;
/// Most rows [`read_snapshot`] reads per table.
pub const SNAPSHOT_ROWS_MAX: usize = 100_000;

/// A parameter value: binds SQL `NULL` to any type, and a value only to a type that accepts it.
#[derive(Debug)]
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        fn wrong(v: &Value, ty: &Type) -> Box<dyn StdError + Sync + Send> {
            format!("value {v} does not fit column type {ty}").into()
        }
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => {
                if *ty == Type::INT8 {
                    n.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*n).map_err(|_| wrong(self.0, ty))?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*n).map_err(|_| wrong(self.0, ty))?.to_sql(ty, out)
                } else {
                    Err(wrong(self.0, ty))
                }
            }
            Value::Text(s) => {
                if <String as ToSql>::accepts(ty) {
                    s.to_sql(ty, out)
                } else {
                    Err(wrong(self.0, ty))
                }
            }
            Value::Bool(b) => {
                if *ty == Type::BOOL {
                    b.to_sql(ty, out)
                } else {
                    Err(wrong(self.0, ty))
                }
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Maps a tokio-postgres error to the model's [`DbError`] (same SQLSTATE, message and
/// constraint). Codes the model does not know keep their code in the message and map to the
/// nearest class (`40…` → `40001`, `08…` → `08006`, `57…` → `57014`, `53…` → `53300`,
/// anything else → `42601`).
pub fn map_error(error: &tokio_postgres::Error) -> DbError {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        let state = SqlState::from_code(code).unwrap_or_else(|| match code.get(..2) {
            Some("40") => SqlState::SerializationFailure,
            Some("08") => SqlState::ConnectionFailure,
            Some("57") => SqlState::QueryCanceled,
            Some("53") => SqlState::TooManyConnections,
            _ => SqlState::SyntaxError,
        });
        let message = if SqlState::from_code(code).is_some() {
            db.message().to_string()
        } else {
            format!("{} (sqlstate {code})", db.message())
        };
        let mapped = DbError::new(state, message);
        return match db.constraint() {
            Some(constraint) => mapped.with_constraint(constraint),
            None => mapped,
        };
    }
    if error.is_closed() {
        return DbError::new(SqlState::ConnectionFailure, format!("connection closed: {error}"));
    }
    let text = error.to_string();
    if text.contains("serializing parameter") {
        let detail = error.source().map(ToString::to_string).unwrap_or_default();
        return DbError::new(SqlState::DatatypeMismatch, format!("{text}: {detail}"));
    }
    DbError::new(SqlState::ConnectionFailure, text)
}

/// Reads one server row as a model [`Row`] (bigint/int/smallint, text, boolean; NULLs).
pub fn read_row(row: &tokio_postgres::Row) -> Result<Row, DbError> {
    let mut out = BTreeMap::new();
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let bad = |e: tokio_postgres::Error| {
            DbError::new(
                SqlState::DatatypeMismatch,
                format!("column {}: {e}", column.name()),
            )
        };
        let value = if *ty == Type::INT8 {
            Value::from(row.try_get::<_, Option<i64>>(i).map_err(bad)?)
        } else if *ty == Type::INT4 {
            Value::from(row.try_get::<_, Option<i32>>(i).map_err(bad)?.map(i64::from))
        } else if *ty == Type::INT2 {
            Value::from(row.try_get::<_, Option<i16>>(i).map_err(bad)?.map(i64::from))
        } else if *ty == Type::BOOL {
            Value::from(row.try_get::<_, Option<bool>>(i).map_err(bad)?)
        } else if *ty == Type::VOID {
            Value::Null
        } else if <String as tokio_postgres::types::FromSql>::accepts(ty) {
            Value::from(row.try_get::<_, Option<String>>(i).map_err(bad)?)
        } else {
            return Err(DbError::new(
                SqlState::DatatypeMismatch,
                format!(
                    "column {} has type {ty}, which racehound does not read (hint: use bigint, text or boolean)",
                    column.name()
                ),
            ));
        };
        out.insert(column.name().to_string(), value);
    }
    Ok(out)
}

/// Runs one typed statement on a client and reads the outcome as the model reports it.
pub async fn execute_on(client: &Client, stmt: &Stmt) -> Result<Outcome, DbError> {
    let rendered = render(stmt);
    if rendered.kind == ResultKind::Nothing && rendered.params.is_empty() {
        client
            .batch_execute(&rendered.sql)
            .await
            .map_err(|e| map_error(&e))?;
        return Ok(Outcome::default());
    }
    let params: Vec<Param<'_>> = rendered.params.iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let rows = client
        .query(&rendered.sql, &refs)
        .await
        .map_err(|e| map_error(&e))?;
    match rendered.kind {
        ResultKind::Nothing => Ok(Outcome::default()),
        ResultKind::Select | ResultKind::Returning => {
            let rows = rows.iter().map(read_row).collect::<Result<Vec<Row>, DbError>>()?;
            let affected = if rendered.kind == ResultKind::Returning {
                rows.len() as u64
            } else {
                0
            };
            Ok(Outcome { rows, affected })
        }
        ResultKind::Locked => {
            let locked = rows
                .first()
                .and_then(|r| r.try_get::<_, bool>(0).ok())
                .unwrap_or(false);
            Ok(Outcome {
                rows: vec![Row::from([("locked".to_string(), Value::Bool(locked))])],
                affected: 0,
            })
        }
    }
}

/// Opens one raw connection (its driver task spawned on the current tokio runtime) and sets
/// `search_path` to `schema` if given.
pub async fn connect_raw(url: &str, schema: Option<&str>) -> Result<Client, DbError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(|e| {
        let mut mapped = map_error(&e);
        mapped.message = format!(
            "{} (hint: is PostgreSQL running and DATABASE_URL right? see docs/postgres.md)",
            mapped.message
        );
        mapped
    })?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped or the server goes away.
        let _ = connection.await;
    });
    if let Some(schema) = schema {
        client
            .batch_execute(&format!("SET search_path TO {}", render::ident(schema)))
            .await
            .map_err(|e| map_error(&e))?;
    }
    Ok(client)
}

struct PoolInner {
    url: String,
    schema: Option<String>,
    session_sql: Option<String>,
    idle: Mutex<Vec<Client>>,
    open: Arc<tokio::sync::Semaphore>,
}

/// A real PostgreSQL database: a small pool of tokio-postgres connections.
#[derive(Clone)]
pub struct PgDb {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDb")
            .field("schema", &self.inner.schema)
            .field("idle", &self.inner.idle.lock().len())
            .finish()
    }
}

impl PgDb {
    /// A pool for `url` (e.g. `postgres://postgres@127.0.0.1:5432/test`); every connection
    /// uses `search_path = schema` when given.
    pub fn new(url: &str, schema: Option<&str>) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                url: url.to_string(),
                schema: schema.map(str::to_string),
                session_sql: None,
                idle: Mutex::new(Vec::new()),
                open: Arc::new(tokio::sync::Semaphore::new(POOL_OPEN_MAX)),
            }),
        }
    }

    /// The same pool settings plus SQL run once on every new connection (e.g.
    /// `SET deadlock_timeout = '10ms'`). Call before the first `connect`.
    pub fn with_session_sql(self, sql: &str) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                url: self.inner.url.clone(),
                schema: self.inner.schema.clone(),
                session_sql: Some(sql.to_string()),
                idle: Mutex::new(Vec::new()),
                open: Arc::new(tokio::sync::Semaphore::new(POOL_OPEN_MAX)),
            }),
        }
    }

    /// Idle connections kept for reuse right now.
    pub fn idle_count(&self) -> usize {
        self.inner.idle.lock().len()
    }

    async fn open(&self) -> Result<Client, DbError> {
        let client = connect_raw(&self.inner.url, self.inner.schema.as_deref()).await?;
        if let Some(sql) = &self.inner.session_sql {
            client.batch_execute(sql).await.map_err(|e| map_error(&e))?;
        }
        Ok(client)
    }
}

/// One pooled connection. Dropped cleanly (no transaction, no session advisory lock) it goes
/// back to the pool; otherwise it is closed and the server rolls back and releases its locks.
pub struct PgConn {
    client: Option<Client>,
    pool: Arc<PoolInner>,
    _permit: tokio::sync::OwnedSemaphorePermit,
    in_transaction: bool,
    session_locks: u64,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn")
            .field("in_transaction", &self.in_transaction)
            .field("session_locks", &self.session_locks)
            .finish()
    }
}

impl Db for PgDb {
    type Conn = PgConn;

    async fn connect(&self) -> Result<PgConn, DbError> {
        let permit = match Arc::clone(&self.inner.open).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                return Err(DbError::new(
                    SqlState::TooManyConnections,
                    format!(
                        "more than {POOL_OPEN_MAX} connections open through this pool (hint: a flow leaks connections or holds one while opening another)"
                    ),
                ))
            }
        };
        let reused = self.inner.idle.lock().pop();
        let client = match reused {
            Some(client) if !client.is_closed() => client,
            _ => self.open().await?,
        };
        Ok(PgConn {
            client: Some(client),
            pool: Arc::clone(&self.inner),
            _permit: permit,
            in_transaction: false,
            session_locks: 0,
        })
    }
}

impl DbConn for PgConn {
    async fn execute(&mut self, stmt: Stmt) -> Result<Outcome, DbError> {
        let Some(client) = self.client.as_ref() else {
            return Err(DbError::new(
                SqlState::ConnectionFailure,
                "connection already closed",
            ));
        };
        let result = execute_on(client, &stmt).await;
        match (&stmt, &result) {
            (Stmt::Begin, Ok(_)) => self.in_transaction = true,
            (Stmt::Commit | Stmt::Rollback, _) => self.in_transaction = false,
            (
                Stmt::AdvisoryLock {
                    scope: LockScope::Session,
                    ..
                },
                Ok(_),
            ) => self.session_locks += 1,
            (
                Stmt::TryAdvisoryLock {
                    scope: LockScope::Session,
                    ..
                },
                Ok(o),
            ) if o.first("locked") == Some(&Value::Bool(true)) => self.session_locks += 1,
            (Stmt::AdvisoryUnlock { .. }, Ok(o)) if o.first("locked") == Some(&Value::Bool(true)) => {
                self.session_locks = self.session_locks.saturating_sub(1)
            }
            _ => {}
        }
        result
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !self.in_transaction && self.session_locks == 0 && !client.is_closed() {
                let mut idle = self.pool.idle.lock();
                if idle.len() < POOL_IDLE_MAX {
                    idle.push(client);
                }
            }
        }
    }
}

/// Reads every table of `schemas` (`SELECT *`) into a [`DbSnapshot`], rows sorted (a heap
/// has no order); locks are not read.
pub async fn read_snapshot(client: &Client, schemas: &[TableSchema]) -> Result<DbSnapshot, DbError> {
    let mut tables = BTreeMap::new();
    for schema in schemas {
        let outcome = execute_on(client, &Stmt::select(&schema.name)).await?;
        if outcome.rows.len() > SNAPSHOT_ROWS_MAX {
            return Err(DbError::new(
                SqlState::ProgramLimitExceeded,
                format!("table {} has more than {SNAPSHOT_ROWS_MAX} rows", schema.name),
            ));
        }
        let mut rows = outcome.rows;
        rows.sort();
        tables.insert(schema.name.clone(), rows);
    }
    Ok(DbSnapshot {
        tables,
        row_locks: Vec::new(),
        advisory_locks: Vec::new(),
    })
}

/// Creates schema `schema` (dropping an old one of that name) with `tables` and runs the
/// `seed` statements in it.
pub async fn install_schema(
    client: &Client,
    schema: &str,
    tables: &[TableSchema],
    seed: &[Stmt],
) -> Result<(), DbError> {
    let q = render::ident(schema);
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {q} CASCADE; CREATE SCHEMA {q}; SET search_path TO {q}"
        ))
        .await
        .map_err(|e| map_error(&e))?;
    for table in tables {
        client
            .batch_execute(&create_table_sql(table))
            .await
            .map_err(|e| map_error(&e))?;
    }
    for stmt in seed {
        execute_on(client, stmt).await?;
    }
    Ok(())
}

/// Drops schema `schema` and everything in it.
pub async fn drop_schema(client: &Client, schema: &str) -> Result<(), DbError> {
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            render::ident(schema)
        ))
        .await
        .map_err(|e| map_error(&e))
}

/// The reference implementation's migration (`sql/001_reference.sql`).
pub const REFERENCE_MIGRATION: &str = include_str!("../../sql/001_reference.sql");
