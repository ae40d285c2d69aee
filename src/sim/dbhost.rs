//! The `postgres` host: the simulated PostgreSQL served over a small framed protocol on
//! turmoil TCP, and [`SimDb`], the app's client for it.
//!
//! A frame is a 4-byte big-endian length and a JSON document: a [`Stmt`] from the client, a
//! `Result<Outcome, DbError>` back. One model session per TCP connection; a closed connection
//! disconnects the session (rolling back its transaction, releasing its locks). A statement
//! that would block is re-submitted every tick until it can proceed — it parks the client,
//! exactly as a waiting PostgreSQL backend does — and fails with `57014` after
//! [`BLOCKED_TICKS_MAX`] ticks.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::timers::TimerBook;
use super::trace::{TraceKind, TraceLog};
use crate::app::api::{Db, DbConn, DbError, Outcome, SqlState, Stmt};
use crate::fakes::postgres::{Database, SessionId, Submitted};
use crate::sync::{Arc, Mutex};
use crate::time::Clock;

/// The port the `postgres` host listens on.
pub const DB_PORT: u16 = 5432;

/// Largest frame accepted, in bytes.
pub const FRAME_BYTES_MAX: usize = 1 << 20;

/// Ticks a blocked statement waits before it is cancelled (`57014`).
pub const BLOCKED_TICKS_MAX: u32 = 60_000;

/// The database shared by the `postgres` host and the world (for faults and snapshots).
#[derive(Clone)]
pub struct DbShared {
    /// The model.
    pub db: Arc<Mutex<Database>>,
    /// Which host opened each live session (for "drop this replica's connections").
    pub owners: Arc<Mutex<Vec<(SessionId, String)>>>,
    /// The world's timers (a blocked statement's re-submission wait is one).
    pub timers: Arc<TimerBook>,
    /// The world's clock (simulated time plus any time jump), for the trace.
    pub clock: Arc<dyn Clock>,
    /// Per live session, the signal that resets its TCP connection from the server's side.
    pub resets: Arc<Mutex<std::collections::BTreeMap<SessionId, Arc<tokio::sync::Notify>>>>,
}

impl DbShared {
    /// Disconnects every session opened by `host`; returns how many.
    pub fn drop_connections_of(&self, host: &str) -> usize {
        let victims: Vec<SessionId> = self
            .owners
            .lock()
            .iter()
            .filter(|(_, owner)| owner == host)
            .map(|(s, _)| *s)
            .collect();
        let mut db = self.db.lock();
        for session in &victims {
            db.disconnect(*session);
        }
        victims.len()
    }

    /// Resets every TCP connection `host` has to the database (the server rolls back each
    /// session, releasing its locks, and closes the socket, so a client waiting for an
    /// answer sees the connection fail); returns how many.
    ///
    /// Applied when a partition between `host` and the database heals: the simulated
    /// network drops what is sent across a partition and, unlike TCP, never retransmits it,
    /// so a connection that lost a statement or its answer would hang forever, its session
    /// holding its locks. A real one is either retransmitted or reset by TCP's
    /// retransmission and keepalive timeouts; racehound takes the harsher of the two.
    pub fn reset_connections_of(&self, host: &str) -> usize {
        let reset = self.drop_connections_of(host);
        let signals: Vec<Arc<tokio::sync::Notify>> = {
            let owners = self.owners.lock();
            let resets = self.resets.lock();
            owners
                .iter()
                .filter(|(_, owner)| owner == host)
                .filter_map(|(session, _)| resets.get(session).cloned())
                .collect()
        };
        for signal in signals {
            signal.notify_one();
        }
        reset
    }
}

async fn read_frame(stream: &mut turmoil::net::TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.ok()?;
    let len = u32::from_be_bytes(len) as usize;
    if len > FRAME_BYTES_MAX {
        return None;
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.ok()?;
    Some(body)
}

async fn write_frame(stream: &mut turmoil::net::TcpStream, body: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes();
    stream.write_all(&len).await?;
    stream.write_all(body).await
}

/// Serves the database until the host stops.
pub async fn serve_db(shared: DbShared, trace: TraceLog) -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", DB_PORT)).await?;
    loop {
        let (stream, peer) = listener.accept().await?;
        let owner = turmoil::reverse_lookup(peer.ip()).unwrap_or_else(|| peer.ip().to_string());
        let shared = shared.clone();
        let trace = trace.clone();
        tokio::task::spawn_local(async move { serve_connection(stream, owner, shared, trace).await });
    }
}

async fn serve_connection(
    mut stream: turmoil::net::TcpStream,
    owner: String,
    shared: DbShared,
    trace: TraceLog,
) {
    let session = shared.db.lock().connect();
    shared.owners.lock().push((session, owner.clone()));
    let reset = Arc::new(tokio::sync::Notify::new());
    shared.resets.lock().insert(session, reset.clone());
    loop {
        let frame = tokio::select! {
            biased;
            () = reset.notified() => None,
            frame = read_frame(&mut stream) => frame,
        };
        let Some(frame) = frame else {
            break;
        };
        let result: Result<Outcome, DbError> = match serde_json::from_slice::<Stmt>(&frame) {
            Err(e) => Err(DbError::new(
                SqlState::SyntaxError,
                format!("unreadable statement: {e}"),
            )),
            Ok(stmt) => execute_parked(&shared, session, &stmt, &owner, &trace).await,
        };
        let lost = matches!(&result, Err(e) if e.state == SqlState::ConnectionFailure);
        let body = serde_json::to_vec(&result).unwrap_or_default();
        if write_frame(&mut stream, &body).await.is_err() || lost {
            break;
        }
    }
    let was_connected = shared.db.lock().is_connected(session);
    shared.db.lock().disconnect(session);
    shared.owners.lock().retain(|(s, _)| *s != session);
    shared.resets.lock().remove(&session);
    if was_connected {
        trace.push(
            shared.clock.now(),
            "postgres",
            TraceKind::DbDisconnect {
                session: session.0,
                reason: format!("{owner} closed"),
            },
        );
    }
}

async fn execute_parked(
    shared: &DbShared,
    session: SessionId,
    stmt: &Stmt,
    owner: &str,
    trace: &TraceLog,
) -> Result<Outcome, DbError> {
    let mut reported_block = false;
    for _ in 0..BLOCKED_TICKS_MAX {
        let step = {
            let mut db = shared.db.lock();
            if !db.is_connected(session) {
                return Err(DbError::new(
                    SqlState::ConnectionFailure,
                    "server closed the connection unexpectedly",
                ));
            }
            db.execute(session, stmt)
        };
        match step {
            Submitted::Done(result) => {
                let outcome = match &result {
                    Ok(o) => format!("ok affected={} rows={}", o.affected, o.rows.len()),
                    Err(e) => format!("error {}", e),
                };
                trace.push(
                    shared.clock.now(),
                    "postgres",
                    TraceKind::DbStatement {
                        session: session.0,
                        stmt: format!("[{owner}] {stmt}"),
                        outcome,
                    },
                );
                return result;
            }
            Submitted::Blocked(on) => {
                if !reported_block {
                    reported_block = true;
                    trace.push(
                        shared.clock.now(),
                        "postgres",
                        TraceKind::DbBlocked {
                            session: session.0,
                            stmt: format!("[{owner}] {stmt}"),
                            on: format!("{on:?}"),
                        },
                    );
                }
                shared.timers.sleep(Duration::from_millis(1)).await;
            }
        }
    }
    let cancelled = shared.db.lock().cancel_blocked(session);
    Err(cancelled
        .unwrap_or_else(|| DbError::new(SqlState::QueryCanceled, "canceling statement due to lock timeout")))
}

/// The app's database client inside the simulation.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimDb;

/// One connection to the `postgres` host; dropping it closes the TCP connection.
#[derive(Debug)]
pub struct SimDbConn {
    stream: Option<turmoil::net::TcpStream>,
}

fn connection_lost(why: &str) -> DbError {
    DbError::new(
        SqlState::ConnectionFailure,
        format!("connection to postgres lost: {why}"),
    )
}

impl Db for SimDb {
    type Conn = SimDbConn;

    async fn connect(&self) -> Result<SimDbConn, DbError> {
        let stream = turmoil::net::TcpStream::connect(("postgres", DB_PORT))
            .await
            .map_err(|e| connection_lost(&e.to_string()))?;
        Ok(SimDbConn { stream: Some(stream) })
    }
}

impl DbConn for SimDbConn {
    async fn execute(&mut self, stmt: Stmt) -> Result<Outcome, DbError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(connection_lost("closed earlier"));
        };
        let body = serde_json::to_vec(&stmt).unwrap_or_default();
        let exchange = async {
            write_frame(stream, &body)
                .await
                .map_err(|e| connection_lost(&e.to_string()))?;
            let frame = read_frame(stream)
                .await
                .ok_or_else(|| connection_lost("closed by server"))?;
            serde_json::from_slice::<Result<Outcome, DbError>>(&frame)
                .map_err(|e| connection_lost(&e.to_string()))?
        };
        let result = exchange.await;
        if matches!(&result, Err(e) if e.state == SqlState::ConnectionFailure) {
            self.stream = None;
        }
        result
    }
}
