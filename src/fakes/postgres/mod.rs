//! A simulated PostgreSQL 15: a pure, deterministic state machine that never blocks.
//!
//! [`Database`] holds tables with unique indexes, sessions with READ COMMITTED transactions,
//! row locks, advisory locks and a wait-for graph. The app sends typed statements
//! ([`stmt::Stmt`]) through [`Database::execute`]. A statement that PostgreSQL would make
//! wait returns [`Submitted::Blocked`] instead, with no effect; the runtime (turmoil, loom, a test
//! stepping by hand) parks the caller and re-submits the *same* statement later, typically
//! when [`Database::version`] changes.
//!
//! ```
//! use racehound::fakes::postgres::{ColumnType, Database, Stmt, Submitted, TableSchema};
//!
//! let mut db = Database::new();
//! let schema = TableSchema::new("tenants")
//!     .column("id", ColumnType::Int)
//!     .nullable("stripe_customer_id", ColumnType::Text)
//!     .primary_key(&["id"]);
//! db.create_table(schema).unwrap();
//! let (a, b) = (db.connect(), db.connect());
//! db.execute(a, &Stmt::insert("tenants", &[("id", 1.into())]));
//! db.execute(a, &Stmt::Begin);
//! db.execute(a, &Stmt::select_for_update("tenants").eq("id", 1));
//! let claim = Stmt::update("tenants", &[("stripe_customer_id", "cus_b".into())])
//!     .eq("id", 1)
//!     .is_null("stripe_customer_id");
//! assert!(db.execute(b, &claim).is_blocked()); // b is parked
//! db.execute(a, &Stmt::update("tenants", &[("stripe_customer_id", "cus_a".into())]).eq("id", 1));
//! db.execute(a, &Stmt::Commit); // version() changed: re-submit b's statement
//! let Submitted::Done(Ok(outcome)) = db.execute(b, &claim) else { panic!() };
//! assert_eq!(outcome.affected, 0); // the compare-and-set saw cus_a
//! ```
//!
//! # Why re-submitting equals waiting
//!
//! A statement runs atomically against the latest committed data plus its own transaction's
//! writes: its "statement start" snapshot is the moment it finally runs. Every statement the
//! model supports decides whether to wait *before* changing anything, and takes its row locks
//! all-or-nothing, so a blocked statement leaves no trace and its re-submission sees exactly
//! what PostgreSQL's waiting statement sees after the blocker finished:
//! - `SELECT … FOR UPDATE`, `UPDATE`, `DELETE`: PostgreSQL re-reads the locked row's latest
//!   committed version and re-checks the `WHERE` clause on it (EvalPlanQual); the re-submitted
//!   statement reads that same version. So `UPDATE … WHERE id = 1 AND col IS NULL` updates
//!   0 rows once the other transaction set `col`, and `FOR UPDATE` returns the new values.
//! - `INSERT` (with or without `ON CONFLICT`) waiting on another transaction's uncommitted key:
//!   PostgreSQL re-checks the index once that transaction ends; the re-submission does the
//!   same check (23505 / skip / update if it committed, insert if it rolled back).
//! - Advisory locks: granted on re-submission once released.
//!
//! Where it differs, deliberately: (1) PostgreSQL locks the rows of a multi-row
//! `UPDATE`/`DELETE`/`FOR UPDATE` one at a time and keeps those it got while waiting for the
//! next; the model takes none until it can take all. Deadlocks that need a half-locked
//! multi-row statement are therefore not reproduced (single-row statements, which the flows
//! use, behave identically).
//!
//! Three parts of a waiting statement's state survive between re-submissions, because
//! PostgreSQL keeps them while it waits (each found by the differential check against a real
//! server, `tests/pg_differential.rs`): a parked `FOR UPDATE` / `UPDATE` / `DELETE` only
//! considers the rows it matched when first submitted (its start snapshot: a row inserted
//! meanwhile, even with the same key by the holder, is not seen); a statement waiting on
//! another transaction's unique key waits until that *transaction* ends, even if the key goes
//! away; and a parked `INSERT` holds the keys of the indexes it already passed (PostgreSQL has
//! inserted the tuple and those index entries), so other inserters of those keys wait on it.
//! Keys a transaction wrote and then overwrote also keep inserters waiting until it ends.
//!
//! # Rules covered (FIDELITY.md, PostgreSQL) and their tests (`tests.rs`)
//! - READ COMMITTED, statement-level snapshots, own writes visible, others' uncommitted
//!   writes invisible: `read_committed_sees_committed_at_statement_start`,
//!   `uncommitted_rows_invisible`; lost update: `read_committed_lost_update`,
//!   `seed_004_transaction_fix_is_not_a_fix`.
//! - Row locks and re-reading after waiting: `select_for_update_blocks_then_rereads_latest`,
//!   `plain_select_never_blocks`, `multi_row_update_locks_all_or_nothing`; compare-and-set re-check:
//!   `conditional_update_rechecks_after_wait`, `seed_004_compare_and_set_fix`.
//! - Unique indexes (NULLs distinct), 23505 with the constraint name, waiting on uncommitted
//!   keys: `insert_waits_on_uncommitted_conflict_then_23505_on_commit`,
//!   `insert_waits_on_uncommitted_conflict_then_succeeds_on_rollback`,
//!   `insert_waits_on_uncommitted_delete`, `nulls_are_distinct_in_unique_index`,
//!   `update_into_existing_key_is_23505`.
//! - `ON CONFLICT`: `on_conflict_do_nothing_waits_then_skips`,
//!   `on_conflict_do_update_updates_existing`, `on_conflict_target_must_match_index_42p10`;
//!   a row only locked `FOR UPDATE` is a live conflict (no wait), a pending `DELETE` makes the
//!   insert wait: `on_conflict_do_nothing_ignores_for_update_lock`.
//! - Advisory locks: `advisory_xact_lock_released_at_commit`,
//!   `advisory_session_lock_survives_commit`, `advisory_lock_released_on_disconnect`,
//!   `advisory_xact_lock_in_autocommit_is_released_immediately`, `try_advisory_lock_returns_locked`.
//! - Deadlock detection (the session whose statement closes the cycle gets 40P01 and its
//!   transaction is aborted, releasing its locks): `deadlock_detected_40p01`; edges whose
//!   holder already released the resource are ignored: `stale_wait_edges_do_not_cause_false_deadlocks`.
//!   Real PostgreSQL usually aborts the *first* waiter instead (its `deadlock_timeout` fires
//!   first and the checking process aborts itself); [`DeadlockVictim::FirstWaiter`] models
//!   that: `deadlock_first_waiter_victim`.
//! - Waiting-statement state (found against a real server):
//!   `waiting_update_ignores_row_reinserted_by_the_holder`,
//!   `unique_wait_lasts_until_the_holder_transaction_ends`,
//!   `overwritten_uncommitted_key_still_makes_inserts_wait`, `parked_insert_holds_its_earlier_index_keys`.
//! - Errors abort the transaction (25P02 until ROLLBACK; COMMIT of an aborted transaction
//!   rolls back): `error_aborts_transaction_25p02`.
//! - Disconnect rolls back and releases every lock: `disconnect_rolls_back`,
//!   `disconnect_while_blocked_clears_the_wait`; snapshot contents: `snapshot_shows_locks_and_serializes`.
//! - NOT NULL 23502, unknown table 42P01, unknown column 42703, type mismatch 42804:
//!   `not_null_violation`, `schema_errors_never_panic`.
//! - The seeds' DB steps, expressed as statements: `seed_001_atomic_upsert_last_writer_wins`,
//!   `seed_002_idempotency_key_claim`, `seed_003_webhook_insert_conflict_and_advisory_lock`,
//!   `seed_004_transaction_fix_is_not_a_fix`, `seed_004_compare_and_set_fix`,
//!   `seed_004_for_update_serializes_checkout`.
//! - Lock / statement timeouts are the runtime's clock: [`Database::cancel_blocked`] fails a
//!   parked statement with 57014 and aborts its transaction: `cancel_blocked_fails_with_57014_and_aborts`.
//! - `max_connections` (default 100): `max_connections_refuses_with_53300`.
//! - Properties over random interleavings of 2–3 sessions, both deadlock-victim policies
//!   (`proptests.rs`): no panic, no undetected deadlock (some session can always progress),
//!   committed unique keys never repeat, a rolled-back or dropped transaction leaves no trace
//!   (run all at once between two steps, or interleaved on disjoint keys, where it must also
//!   never wait), the same sequence twice gives the same results and snapshot.
//!
//! # Determinism and order
//! Tables, indexes, sessions and locks live in `BTreeMap`s. Rows carry an internal id in
//! insertion order; `SELECT` returns rows in that order. PostgreSQL without `ORDER BY` has no
//! defined order, so callers must not rely on it. Row ids are never shown: a rolled-back
//! insert leaves no trace in a [`DbSnapshot`].
//!
//! # Left out
//! SERIALIZABLE / REPEATABLE READ, savepoints, multi-statement SQL and a SQL parser,
//! `ORDER BY` / `LIMIT` / joins / aggregates, `SKIP LOCKED` / `NOWAIT`, shared row locks
//! (`FOR SHARE`, `FOR KEY SHARE`) and shared advisory locks, foreign keys and check
//! constraints, `ON CONFLICT … DO UPDATE … WHERE`, sequences (callers supply ids),
//! `deadlock_timeout` (detection is immediate; timeouts are the runtime's, see
//! [`Database::cancel_blocked`]), notices, warnings and command tags (e.g. "there is already a
//! transaction in progress", or `COMMIT` of an aborted transaction answering `ROLLBACK`: both
//! simply return `Ok`). A multi-row `UPDATE` checks unique keys after computing every row
//! (PostgreSQL checks row by row, so a key swap would fail there; the typed filters cannot
//! express one). Rows keep their insertion position when updated (PostgreSQL's heap order
//! changes).

mod db;
pub mod interleavings;
pub mod stmt;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use db::{
    AdvisoryLockInfo, BlockedOn, Database, DbSnapshot, DeadlockVictim, RowLockInfo, SessionId, Submitted,
    DEFAULT_MAX_CONNECTIONS, MAX_ADVISORY_REENTRY, MAX_ROWS_PER_TABLE, MAX_TABLES,
};
pub use stmt::{
    ColumnDef, ColumnType, Cond, DbError, Filter, LockScope, OnConflict, Outcome, Row, SetValue, SqlState,
    Stmt, TableSchema, UniqueIndex, Value,
};
