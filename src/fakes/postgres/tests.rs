//! Behaviour tests: each steps two or three sessions by hand, one statement at a time, the way
//! the FIDELITY.md rules were observed on PostgreSQL 15.

use super::*;

use ColumnType::{Int, Text};

fn tenants() -> TableSchema {
    TableSchema::new("tenants")
        .column("id", Int)
        .nullable("stripe_customer_id", Text)
        .nullable("name", Text)
        .primary_key(&["id"])
        .unique(&["stripe_customer_id"])
}

fn webhooks() -> TableSchema {
    TableSchema::new("stripe_customers")
        .column("stripe_customer_id", Text)
        .column("user_id", Text)
        .with_default("status", Text, Value::from("active"))
        .primary_key(&["stripe_customer_id"])
        .unique(&["user_id"])
}

/// A database with `tenants` holding tenant 1 (no customer yet) and two sessions.
fn setup() -> (Database, SessionId, SessionId) {
    let mut db = Database::new();
    db.create_table(tenants()).unwrap();
    db.create_table(webhooks()).unwrap();
    let a = db.connect();
    let b = db.connect();
    ok(
        &mut db,
        a,
        Stmt::insert("tenants", &[("id", 1.into()), ("name", "acme".into())]),
    );
    (db, a, b)
}

#[track_caller]
fn ok(db: &mut Database, s: SessionId, stmt: Stmt) -> Outcome {
    match db.execute(s, &stmt) {
        Submitted::Done(Ok(outcome)) => outcome,
        other => panic!("{stmt}: expected Ok, got {other:?}"),
    }
}

#[track_caller]
fn err(db: &mut Database, s: SessionId, stmt: Stmt) -> DbError {
    match db.execute(s, &stmt) {
        Submitted::Done(Err(e)) => e,
        other => panic!("{stmt}: expected an error, got {other:?}"),
    }
}

#[track_caller]
fn blocked(db: &mut Database, s: SessionId, stmt: Stmt) -> BlockedOn {
    match db.execute(s, &stmt) {
        Submitted::Blocked(on) => on,
        other => panic!("{stmt}: expected Blocked, got {other:?}"),
    }
}

fn customer_of(outcome: &Outcome) -> Option<Value> {
    outcome
        .rows
        .first()
        .and_then(|r| r.get("stripe_customer_id").cloned())
}

fn select_tenant() -> Stmt {
    Stmt::select("tenants").eq("id", 1)
}

fn set_customer(cus: &str) -> Stmt {
    Stmt::update("tenants", &[("stripe_customer_id", cus.into())]).eq("id", 1)
}

#[test]
fn read_committed_lost_update() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, b, Stmt::Begin);
    assert_eq!(customer_of(&ok(&mut db, a, select_tenant())), Some(Value::Null));
    assert_eq!(customer_of(&ok(&mut db, b, select_tenant())), Some(Value::Null));
    assert_eq!(ok(&mut db, a, set_customer("cus_a")).affected, 1);
    // B's unconditional update waits on A's row lock, then overwrites A's value.
    blocked(&mut db, b, set_customer("cus_b"));
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(ok(&mut db, b, set_customer("cus_b")).affected, 1);
    ok(&mut db, b, Stmt::Commit);
    assert_eq!(
        db.table_rows("tenants")[0].get("stripe_customer_id"),
        Some(&Value::from("cus_b"))
    );
}

#[test]
fn read_committed_sees_committed_at_statement_start() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    assert_eq!(customer_of(&ok(&mut db, a, select_tenant())), Some(Value::Null));
    ok(&mut db, b, set_customer("cus_b")); // autocommit
                                           // The next statement of A's still-open transaction sees B's commit (not REPEATABLE READ).
    assert_eq!(
        customer_of(&ok(&mut db, a, select_tenant())),
        Some("cus_b".into())
    );
    // And A sees its own uncommitted writes.
    ok(
        &mut db,
        a,
        Stmt::update("tenants", &[("name", "mine".into())]).eq("id", 1),
    );
    let row = ok(&mut db, a, select_tenant()).rows;
    assert_eq!(row[0].get("name"), Some(&Value::from("mine")));
    ok(&mut db, a, Stmt::Commit);
}

#[test]
fn uncommitted_rows_invisible() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 2.into())]));
    ok(&mut db, a, set_customer("cus_a"));
    assert_eq!(ok(&mut db, a, Stmt::select("tenants")).rows.len(), 2);
    // B sees neither the new row nor the change, and does not wait for them.
    let seen = ok(&mut db, b, Stmt::select("tenants")).rows;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].get("stripe_customer_id"), Some(&Value::Null));
    assert_eq!(db.table_rows("tenants").len(), 1);
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(ok(&mut db, b, Stmt::select("tenants")).rows.len(), 2);
}

#[test]
fn plain_select_never_blocks() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::select_for_update("tenants").eq("id", 1));
    ok(
        &mut db,
        a,
        Stmt::AdvisoryLock {
            key: 7,
            scope: LockScope::Transaction,
        },
    );
    assert_eq!(ok(&mut db, b, select_tenant()).rows.len(), 1);
    assert!(db.is_blocked(b).is_none());
}

#[test]
fn select_for_update_blocks_then_rereads_latest() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, b, Stmt::Begin);
    let locked = ok(&mut db, a, Stmt::select_for_update("tenants").eq("id", 1));
    assert_eq!(customer_of(&locked), Some(Value::Null));
    let on = blocked(&mut db, b, Stmt::select_for_update("tenants").eq("id", 1));
    assert_eq!(
        on,
        BlockedOn::RowLock {
            table: "tenants".into(),
            key: "(id)=(1)".into(),
            holder: a
        }
    );
    assert_eq!(db.is_blocked(b), Some(&on));
    let version = db.version();
    ok(&mut db, a, set_customer("cus_a"));
    // Still blocked while A is open.
    blocked(&mut db, b, Stmt::select_for_update("tenants").eq("id", 1));
    ok(&mut db, a, Stmt::Commit);
    assert_ne!(db.version(), version);
    let reread = ok(&mut db, b, Stmt::select_for_update("tenants").eq("id", 1));
    assert_eq!(customer_of(&reread), Some("cus_a".into()));
    assert!(db.is_blocked(b).is_none());
    // Now B holds the lock: A waits.
    blocked(&mut db, a, Stmt::select_for_update("tenants").eq("id", 1));
    ok(&mut db, b, Stmt::Commit);
}

#[test]
fn insert_waits_on_uncommitted_conflict_then_23505_on_commit() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, b, Stmt::Begin);
    let insert = Stmt::insert("tenants", &[("id", 2.into())]);
    ok(&mut db, a, insert.clone());
    let on = blocked(&mut db, b, insert.clone());
    assert_eq!(
        on,
        BlockedOn::UniqueKey {
            index: "tenants_pkey".into(),
            holder: a
        }
    );
    ok(&mut db, a, Stmt::Commit);
    let e = err(&mut db, b, insert);
    assert_eq!(e.state, SqlState::UniqueViolation);
    assert_eq!(e.code(), "23505");
    assert_eq!(
        e.message,
        "duplicate key value violates unique constraint \"tenants_pkey\""
    );
    assert_eq!(e.constraint.as_deref(), Some("tenants_pkey"));
    assert!(db.is_aborted(b));
}

#[test]
fn insert_waits_on_uncommitted_conflict_then_succeeds_on_rollback() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    let insert = Stmt::insert(
        "tenants",
        &[("id", 2.into()), ("stripe_customer_id", "cus_x".into())],
    );
    ok(&mut db, a, insert.clone());
    // Conflicting on the unique (non-pkey) index too.
    let other = Stmt::insert(
        "tenants",
        &[("id", 3.into()), ("stripe_customer_id", "cus_x".into())],
    );
    let on = blocked(&mut db, b, other.clone());
    assert_eq!(
        on,
        BlockedOn::UniqueKey {
            index: "tenants_stripe_customer_id_key".into(),
            holder: a
        }
    );
    ok(&mut db, a, Stmt::Rollback);
    assert_eq!(ok(&mut db, b, other).affected, 1);
    let ids: Vec<_> = db.table_rows("tenants").iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, vec![Value::Int(1), Value::Int(3)]);
}

#[test]
fn update_into_existing_key_is_23505() {
    let (mut db, a, b) = setup();
    ok(
        &mut db,
        a,
        Stmt::insert(
            "tenants",
            &[("id", 2.into()), ("stripe_customer_id", "cus_x".into())],
        ),
    );
    let e = err(&mut db, a, set_customer("cus_x"));
    assert_eq!(e.constraint.as_deref(), Some("tenants_stripe_customer_id_key"));
    // An uncommitted change of a key makes the other writer wait.
    ok(&mut db, a, Stmt::Begin);
    ok(
        &mut db,
        a,
        Stmt::update("tenants", &[("stripe_customer_id", "cus_y".into())]).eq("id", 2),
    );
    let on = blocked(&mut db, b, set_customer("cus_y"));
    assert_eq!(on.holder(), a);
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(
        err(&mut db, b, set_customer("cus_y")).state,
        SqlState::UniqueViolation
    );
    // cus_x was freed by A's commit.
    assert_eq!(ok(&mut db, b, set_customer("cus_x")).affected, 1);
}

#[test]
fn on_conflict_do_nothing_waits_then_skips() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    let claim = |user: &str| {
        Stmt::insert(
            "stripe_customers",
            &[("stripe_customer_id", "cus_1".into()), ("user_id", user.into())],
        )
        .on_conflict_do_nothing(&["stripe_customer_id"])
    };
    assert_eq!(ok(&mut db, a, claim("user_a")).affected, 1);
    let on = blocked(&mut db, b, claim("user_b"));
    assert_eq!(
        on,
        BlockedOn::UniqueKey {
            index: "stripe_customers_pkey".into(),
            holder: a
        }
    );
    ok(&mut db, a, Stmt::Commit);
    let skipped = ok(&mut db, b, claim("user_b"));
    assert_eq!(skipped, Outcome::default());
    assert!(!db.in_transaction(b));
    // Any-index form: conflicting on user_id only also skips.
    let other = Stmt::insert(
        "stripe_customers",
        &[
            ("stripe_customer_id", "cus_2".into()),
            ("user_id", "user_a".into()),
        ],
    )
    .on_conflict_do_nothing(&[]);
    assert_eq!(ok(&mut db, b, other).affected, 0);
    // Targeted at the pkey, a user_id conflict is still a 23505.
    let targeted = Stmt::insert(
        "stripe_customers",
        &[
            ("stripe_customer_id", "cus_2".into()),
            ("user_id", "user_a".into()),
        ],
    )
    .on_conflict_do_nothing(&["stripe_customer_id"]);
    assert_eq!(
        err(&mut db, b, targeted).constraint.as_deref(),
        Some("stripe_customers_user_id_key")
    );
    assert_eq!(db.table_rows("stripe_customers").len(), 1);
}

#[test]
fn on_conflict_do_update_updates_existing() {
    let (mut db, a, b) = setup();
    let upsert = |user: &str| {
        Stmt::insert(
            "stripe_customers",
            &[("stripe_customer_id", "cus_1".into()), ("user_id", user.into())],
        )
        .on_conflict_update_excluded(&["stripe_customer_id"], &["user_id"])
    };
    let first = ok(&mut db, a, upsert("user_a"));
    assert_eq!(first.rows[0]["status"], Value::from("active"));
    ok(&mut db, a, Stmt::Begin);
    let second = ok(&mut db, a, upsert("user_b"));
    assert_eq!(second.affected, 1);
    assert_eq!(second.rows[0]["user_id"], Value::from("user_b"));
    // B's upsert of the same key waits for A, then updates A's committed row: last writer wins.
    blocked(&mut db, b, upsert("user_c"));
    ok(&mut db, a, Stmt::Commit);
    ok(&mut db, b, upsert("user_c"));
    let rows = db.table_rows("stripe_customers");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["user_id"], Value::from("user_c"));
    // Literal values work too, and a FOR UPDATE holder makes DO UPDATE wait on the row.
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::select_for_update("stripe_customers"));
    let literal = Stmt::insert(
        "stripe_customers",
        &[("stripe_customer_id", "cus_1".into()), ("user_id", "x".into())],
    )
    .on_conflict_do_update(
        &["stripe_customer_id"],
        &[("status", SetValue::Value("gone".into()))],
    );
    assert!(matches!(
        blocked(&mut db, b, literal.clone()),
        BlockedOn::RowLock { .. }
    ));
    ok(&mut db, a, Stmt::Rollback);
    assert_eq!(ok(&mut db, b, literal).rows[0]["status"], Value::from("gone"));
}

#[test]
fn on_conflict_target_must_match_index_42p10() {
    let (mut db, a, _) = setup();
    let bad = Stmt::insert("tenants", &[("id", 1.into())]).on_conflict_do_nothing(&["name"]);
    assert_eq!(err(&mut db, a, bad).code(), "42P10");
    let untargeted = Stmt::insert("tenants", &[("id", 1.into())]).on_conflict_update_excluded(&[], &["name"]);
    assert_eq!(err(&mut db, a, untargeted).code(), "42601");
}

#[test]
fn advisory_xact_lock_released_at_commit() {
    let (mut db, a, b) = setup();
    let lock = Stmt::advisory_lock(42, LockScope::Transaction);
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, b, Stmt::Begin);
    ok(&mut db, a, lock.clone());
    ok(&mut db, a, lock.clone()); // reentrant
    assert_eq!(
        blocked(&mut db, b, lock.clone()),
        BlockedOn::AdvisoryLock { key: 42, holder: a }
    );
    ok(&mut db, a, Stmt::Commit);
    ok(&mut db, b, lock);
    assert_eq!(db.snapshot().advisory_locks[0].holder, b);
    ok(&mut db, b, Stmt::Rollback);
    assert!(db.snapshot().advisory_locks.is_empty());
}

#[test]
fn advisory_session_lock_survives_commit() {
    let (mut db, a, b) = setup();
    let lock = Stmt::advisory_lock(9, LockScope::Session);
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, lock.clone());
    ok(&mut db, a, lock.clone());
    ok(&mut db, a, Stmt::Rollback);
    blocked(&mut db, b, lock.clone());
    // Reentrant: two unlocks are needed.
    assert_eq!(
        ok(&mut db, a, Stmt::advisory_unlock(9)).rows[0]["locked"],
        Value::Bool(true)
    );
    blocked(&mut db, b, lock.clone());
    assert_eq!(
        ok(&mut db, a, Stmt::advisory_unlock(9)).rows[0]["locked"],
        Value::Bool(true)
    );
    assert_eq!(
        ok(&mut db, a, Stmt::advisory_unlock(9)).rows[0]["locked"],
        Value::Bool(false)
    );
    ok(&mut db, b, lock);
    // B is not in a transaction, yet still holds it.
    assert!(!db.in_transaction(b));
    assert_eq!(db.snapshot().advisory_locks[0].session_count, 1);
}

#[test]
fn try_advisory_lock_returns_locked() {
    let (mut db, a, b) = setup();
    let try_lock = Stmt::try_advisory_lock(5, LockScope::Session);
    assert_eq!(
        ok(&mut db, a, try_lock.clone()).rows[0]["locked"],
        Value::Bool(true)
    );
    assert_eq!(
        ok(&mut db, b, try_lock.clone()).rows[0]["locked"],
        Value::Bool(false)
    );
    assert!(db.is_blocked(b).is_none());
    ok(&mut db, a, Stmt::advisory_unlock(5));
    assert_eq!(ok(&mut db, b, try_lock).rows[0]["locked"], Value::Bool(true));
}

#[test]
fn advisory_lock_released_on_disconnect() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::advisory_lock(1, LockScope::Session));
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::advisory_lock(2, LockScope::Transaction));
    blocked(&mut db, b, Stmt::advisory_lock(1, LockScope::Session));
    db.disconnect(a);
    assert!(db.snapshot().advisory_locks.is_empty());
    ok(&mut db, b, Stmt::advisory_lock(1, LockScope::Session));
    ok(&mut db, b, Stmt::advisory_lock(2, LockScope::Session));
    assert_eq!(
        err(&mut db, a, select_tenant()).state,
        SqlState::ConnectionFailure
    );
}

#[test]
fn advisory_xact_lock_in_autocommit_is_released_immediately() {
    let (mut db, a, b) = setup();
    // The classic bug: `SELECT pg_advisory_xact_lock(k)` outside BEGIN protects nothing.
    ok(&mut db, a, Stmt::advisory_lock(3, LockScope::Transaction));
    assert!(db.snapshot().advisory_locks.is_empty());
    ok(&mut db, b, Stmt::Begin);
    ok(&mut db, b, Stmt::advisory_lock(3, LockScope::Transaction));
    // The same in a transaction does protect.
    ok(&mut db, a, Stmt::Begin);
    blocked(&mut db, a, Stmt::advisory_lock(3, LockScope::Transaction));
}

#[test]
fn deadlock_detected_40p01() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 2.into())]));
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, b, Stmt::Begin);
    let touch = |id: i64, who: &str| Stmt::update("tenants", &[("name", who.into())]).eq("id", id);
    ok(&mut db, a, touch(1, "a"));
    ok(&mut db, b, touch(2, "b"));
    blocked(&mut db, a, touch(2, "a"));
    // B closes the cycle: B is the victim, its transaction aborted and its locks released.
    let e = err(&mut db, b, touch(1, "b"));
    assert_eq!(e.code(), "40P01");
    assert_eq!(e.message, "deadlock detected");
    assert!(e.state.is_transient());
    assert!(db.is_aborted(b));
    assert_eq!(err(&mut db, b, select_tenant()).code(), "25P02");
    assert_eq!(ok(&mut db, a, touch(2, "a")).affected, 1);
    ok(&mut db, a, Stmt::Commit);
    ok(&mut db, b, Stmt::Rollback);
    let names: Vec<_> = db
        .table_rows("tenants")
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, vec![Value::from("a"), Value::from("a")]);
    // Advisory locks and row locks mix in one cycle.
    let c = db.connect();
    ok(&mut db, b, Stmt::Begin);
    ok(&mut db, c, Stmt::Begin);
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::advisory_lock(1, LockScope::Transaction));
    ok(&mut db, b, touch(1, "b"));
    ok(&mut db, c, touch(2, "c"));
    blocked(&mut db, a, touch(1, "a"));
    blocked(&mut db, b, touch(2, "b"));
    assert_eq!(
        err(&mut db, c, Stmt::advisory_lock(1, LockScope::Transaction)).code(),
        "40P01"
    );
}

#[test]
fn stale_wait_edges_do_not_cause_false_deadlocks() {
    let (mut db, a, b) = setup();
    ok(&mut db, b, Stmt::advisory_lock(1, LockScope::Session));
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, select_tenant_for_update());
    // B waits on A's row lock, then A commits; B has not retried yet, so its edge is stale.
    blocked(&mut db, b, select_tenant_for_update());
    ok(&mut db, a, Stmt::Commit);
    assert!(db.is_blocked(b).is_some());
    // A now waits on B's advisory lock: no cycle, since A no longer holds the row.
    ok(&mut db, a, Stmt::Begin);
    blocked(&mut db, a, Stmt::advisory_lock(1, LockScope::Session));
    // If A still holds the row, the cycle is real and A's statement closes it.
    let (mut db, a, b) = setup();
    ok(&mut db, b, Stmt::advisory_lock(1, LockScope::Session));
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, select_tenant_for_update());
    blocked(&mut db, b, select_tenant_for_update());
    assert_eq!(
        err(&mut db, a, Stmt::advisory_lock(1, LockScope::Session)).code(),
        "40P01"
    );
}

fn select_tenant_for_update() -> Stmt {
    Stmt::select_for_update("tenants").eq("id", 1)
}

#[test]
fn disconnect_rolls_back() {
    let (mut db, a, b) = setup();
    let before = db.snapshot();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 2.into())]));
    ok(&mut db, a, set_customer("cus_a"));
    ok(&mut db, a, Stmt::delete("tenants").eq("id", 1));
    blocked(&mut db, b, set_customer("cus_b"));
    assert!(!db.snapshot().row_locks.is_empty());
    db.disconnect(a);
    assert_eq!(db.snapshot(), before);
    assert!(!db.is_connected(a));
    ok(&mut db, b, set_customer("cus_b"));
    ok(&mut db, b, Stmt::insert("tenants", &[("id", 2.into())]));
}

#[test]
fn error_aborts_transaction_25p02() {
    let (mut db, a, _) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 5.into())]));
    assert_eq!(
        err(&mut db, a, Stmt::insert("tenants", &[("id", 1.into())])).code(),
        "23505"
    );
    let e = err(&mut db, a, select_tenant());
    assert_eq!(e.state, SqlState::InFailedSqlTransaction);
    assert_eq!(
        e.message,
        "current transaction is aborted, commands ignored until end of transaction block"
    );
    assert_eq!(err(&mut db, a, Stmt::Begin).code(), "25P02");
    assert!(db.in_transaction(a));
    // COMMIT of an aborted transaction rolls back.
    ok(&mut db, a, Stmt::Commit);
    assert!(!db.in_transaction(a));
    assert_eq!(db.table_rows("tenants").len(), 1);
    // Outside a transaction, an error aborts only its own statement.
    assert_eq!(
        err(&mut db, a, Stmt::insert("tenants", &[("id", 1.into())])).code(),
        "23505"
    );
    assert_eq!(ok(&mut db, a, select_tenant()).rows.len(), 1);
}

#[test]
fn conditional_update_rechecks_after_wait() {
    let (mut db, a, b) = setup();
    let cas = |cus: &str| {
        Stmt::update("tenants", &[("stripe_customer_id", cus.into())])
            .eq("id", 1)
            .is_null("stripe_customer_id")
    };
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, b, Stmt::Begin);
    assert_eq!(ok(&mut db, a, cas("cus_a")).affected, 1);
    blocked(&mut db, b, cas("cus_b"));
    ok(&mut db, a, Stmt::Commit);
    let second = ok(&mut db, b, cas("cus_b"));
    assert_eq!(second.affected, 0);
    assert!(second.rows.is_empty());
    ok(&mut db, b, Stmt::Commit);
    assert_eq!(
        db.table_rows("tenants")[0]["stripe_customer_id"],
        Value::from("cus_a")
    );
    // Had A rolled back, the re-check would match and B would win.
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, cas("cus_a"));
    blocked(&mut db, b, cas("cus_b"));
    ok(&mut db, a, Stmt::Rollback);
    assert_eq!(ok(&mut db, b, cas("cus_b")).affected, 1);
}

#[test]
fn nulls_are_distinct_in_unique_index() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 2.into())]));
    // A NULL key neither waits nor conflicts.
    ok(&mut db, b, Stmt::insert("tenants", &[("id", 3.into())]));
    ok(&mut db, a, Stmt::Commit);
    let rows = db.table_rows("tenants");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["stripe_customer_id"].is_null()));
    // `= NULL` never matches.
    assert!(ok(
        &mut db,
        a,
        Stmt::select("tenants").eq("stripe_customer_id", Value::Null)
    )
    .rows
    .is_empty());
}

#[test]
fn not_null_violation() {
    let (mut db, a, _) = setup();
    let e = err(&mut db, a, Stmt::insert("tenants", &[("name", "no id".into())]));
    assert_eq!(e.code(), "23502");
    assert_eq!(
        e.message,
        "null value in column \"id\" of relation \"tenants\" violates not-null constraint"
    );
    // No row matched: PostgreSQL checks NOT NULL per updated row, so nothing fails.
    let clear_status = Stmt::update("stripe_customers", &[("status", Value::Null)]);
    assert_eq!(ok(&mut db, a, clear_status.clone()).affected, 0);
    ok(
        &mut db,
        a,
        Stmt::insert(
            "stripe_customers",
            &[("stripe_customer_id", "cus_1".into()), ("user_id", "u".into())],
        ),
    );
    assert_eq!(err(&mut db, a, clear_status).code(), "23502");
    // The primary key is NOT NULL even where declared nullable.
    let nullable_pk = TableSchema::new("t").nullable("k", Text).primary_key(&["k"]);
    db.create_table(nullable_pk).unwrap();
    assert_eq!(err(&mut db, a, Stmt::insert("t", &[])).code(), "23502");
}

#[test]
fn schema_errors_never_panic() {
    let (mut db, a, _) = setup();
    assert_eq!(err(&mut db, a, Stmt::select("nope")).code(), "42P01");
    assert_eq!(
        err(&mut db, a, Stmt::select("tenants").eq("nope", 1)).code(),
        "42703"
    );
    assert_eq!(
        err(
            &mut db,
            a,
            Stmt::insert("tenants", &[("id", 9.into()), ("bad", 1.into())])
        )
        .code(),
        "42703"
    );
    assert_eq!(
        err(&mut db, a, Stmt::insert("tenants", &[("id", "x".into())])).code(),
        "42804"
    );
    assert_eq!(
        err(&mut db, a, Stmt::select("tenants").lt("name", 3)).code(),
        "42804"
    );
    assert_eq!(
        err(&mut db, a, Stmt::update("tenants", &[("id", true.into())])).code(),
        "42804"
    );
    assert_eq!(err(&mut db, a, Stmt::CreateTable(tenants())).code(), "42P07");
    let dup = TableSchema::new("t2").column("x", Int).column("x", Int);
    assert_eq!(db.create_table(dup).unwrap_err().code(), "42701");
    let bad_key = TableSchema::new("t3").column("x", Int).primary_key(&["y"]);
    assert_eq!(db.create_table(bad_key).unwrap_err().code(), "42703");
    ok(&mut db, a, Stmt::Begin);
    assert_eq!(
        err(&mut db, a, Stmt::CreateTable(TableSchema::new("t4"))).code(),
        "25001"
    );
    assert_eq!(db.snapshot().tables.len(), 2);
}

/// Seed 004: "Wrapped customer lookup and creation in database transactions". Two requests
/// (initial fetch and coupon) each run SELECT, create a Stripe customer, UPDATE, in READ
/// COMMITTED. Both see NULL, both create a customer, and both UPDATEs succeed: the second
/// silently overwrites the first, leaving an orphan Stripe customer.
#[test]
fn seed_004_transaction_fix_is_not_a_fix() {
    let (mut db, fetch, coupon) = setup();
    ok(&mut db, fetch, Stmt::Begin);
    ok(&mut db, coupon, Stmt::Begin);
    let seen_fetch = customer_of(&ok(&mut db, fetch, select_tenant()));
    let seen_coupon = customer_of(&ok(&mut db, coupon, select_tenant()));
    assert_eq!((seen_fetch, seen_coupon), (Some(Value::Null), Some(Value::Null)));
    // Both call stripe.customers.create (cus_1, cus_2), then store their id.
    assert_eq!(ok(&mut db, fetch, set_customer("cus_1")).affected, 1);
    blocked(&mut db, coupon, set_customer("cus_2"));
    ok(&mut db, fetch, Stmt::Commit);
    assert_eq!(ok(&mut db, coupon, set_customer("cus_2")).affected, 1);
    ok(&mut db, coupon, Stmt::Commit);
    assert_eq!(
        db.table_rows("tenants")[0]["stripe_customer_id"],
        Value::from("cus_2")
    );
    // cus_1 exists in Stripe but nothing references it.
}

/// Seed 004 with a compare-and-set: the second writer's `… AND stripe_customer_id IS NULL`
/// affects 0 rows, so it knows to adopt the stored customer (and discard its own).
#[test]
fn seed_004_compare_and_set_fix() {
    let (mut db, fetch, coupon) = setup();
    let cas = |cus: &str| set_customer(cus).is_null("stripe_customer_id");
    assert_eq!(
        customer_of(&ok(&mut db, fetch, select_tenant())),
        Some(Value::Null)
    );
    assert_eq!(
        customer_of(&ok(&mut db, coupon, select_tenant())),
        Some(Value::Null)
    );
    assert_eq!(ok(&mut db, fetch, cas("cus_1")).affected, 1);
    assert_eq!(ok(&mut db, coupon, cas("cus_2")).affected, 0);
    let stored = customer_of(&ok(&mut db, coupon, select_tenant()));
    assert_eq!(stored, Some("cus_1".into()));
}

#[test]
fn snapshot_shows_locks_and_serializes() {
    let (mut db, a, _) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, select_tenant_for_update());
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 2.into())]));
    let snapshot = db.snapshot();
    assert_eq!(snapshot.tables["tenants"].len(), 1);
    let locks: Vec<(&str, bool)> = snapshot
        .row_locks
        .iter()
        .map(|l| (l.key.as_str(), l.written))
        .collect();
    assert_eq!(locks, vec![("(id)=(1)", false), ("(id)=(2)", true)]);
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: DbSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
}

#[test]
fn insert_waits_on_uncommitted_delete() {
    let (mut db, a, b) = setup();
    let reinsert = Stmt::insert("tenants", &[("id", 1.into())]);
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::delete("tenants").eq("id", 1));
    // The deleted row may come back if A rolls back, so B waits.
    blocked(&mut db, b, reinsert.clone());
    ok(&mut db, a, Stmt::Rollback);
    assert_eq!(err(&mut db, b, reinsert.clone()).code(), "23505");
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::delete("tenants").eq("id", 1));
    blocked(&mut db, b, reinsert.clone());
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(ok(&mut db, b, reinsert).affected, 1);
    // Within one transaction, delete then re-insert of the same key is fine.
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::delete("tenants").eq("id", 1));
    ok(
        &mut db,
        a,
        Stmt::insert("tenants", &[("id", 1.into()), ("name", "again".into())]),
    );
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(db.table_rows("tenants")[0]["name"], Value::from("again"));
}

#[test]
fn multi_row_update_locks_all_or_nothing() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 2.into())]));
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::select_for_update("tenants").eq("id", 2));
    let all = Stmt::update("tenants", &[("name", "b".into())]);
    assert_eq!(blocked(&mut db, b, all.clone()).holder(), a);
    // B took no lock on row 1 while blocked on row 2.
    assert_eq!(db.snapshot().row_locks.len(), 1);
    ok(
        &mut db,
        a,
        Stmt::update("tenants", &[("name", "a".into())]).eq("id", 1),
    );
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(ok(&mut db, b, all).affected, 2);
}

#[test]
fn disconnect_while_blocked_clears_the_wait() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, select_tenant_for_update());
    blocked(&mut db, b, select_tenant_for_update());
    db.disconnect(b);
    assert!(db.is_blocked(b).is_none());
    ok(&mut db, a, Stmt::Commit);
    assert!(db.snapshot().row_locks.is_empty());
}

/// Observed on PostgreSQL (pgsql-general, "concurrent SELECT FOR UPDATE with ON CONFLICT DO
/// NOTHING"): a row only locked `FOR UPDATE` is a live conflict, so `DO NOTHING` skips at once
/// and a plain insert fails at once; a pending `DELETE` makes both wait.
#[test]
fn on_conflict_do_nothing_ignores_for_update_lock() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, select_tenant_for_update());
    let insert = Stmt::insert("tenants", &[("id", 1.into())]);
    assert_eq!(
        ok(&mut db, b, insert.clone().on_conflict_do_nothing(&[])).affected,
        0
    );
    assert_eq!(err(&mut db, b, insert.clone()).code(), "23505");
    ok(&mut db, a, Stmt::delete("tenants").eq("id", 1));
    blocked(&mut db, b, insert.clone().on_conflict_do_nothing(&[]));
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(ok(&mut db, b, insert.on_conflict_do_nothing(&[])).affected, 1);
}

/// Seed 004 variant `checkout.for_update`: the second request waits on the row lock, then
/// re-reads the customer id the first one stored, and creates nothing.
#[test]
fn seed_004_for_update_serializes_checkout() {
    let (mut db, fetch, coupon) = setup();
    ok(&mut db, fetch, Stmt::Begin);
    ok(&mut db, coupon, Stmt::Begin);
    let seen = ok(&mut db, fetch, select_tenant_for_update());
    assert_eq!(customer_of(&seen), Some(Value::Null));
    blocked(&mut db, coupon, select_tenant_for_update());
    ok(&mut db, fetch, set_customer("cus_1"));
    ok(&mut db, fetch, Stmt::Commit);
    let seen = ok(&mut db, coupon, select_tenant_for_update());
    assert_eq!(customer_of(&seen), Some("cus_1".into()));
    ok(&mut db, coupon, Stmt::Commit);
}

/// Seed 003 `webhook.insert_rethrow`: two deliveries insert the same customer mapping; the
/// second waits for the first and then fails with 23505 (the handler marks it failed and
/// rethrows). Option 1 (`webhook.advisory_lock`) serializes them: the second sees the row.
#[test]
fn seed_003_webhook_insert_conflict_and_advisory_lock() {
    let (mut db, one, two) = setup();
    let mapping = |user: &str| {
        Stmt::insert(
            "stripe_customers",
            &[("stripe_customer_id", "cus_1".into()), ("user_id", user.into())],
        )
    };
    ok(&mut db, one, Stmt::Begin);
    ok(&mut db, two, Stmt::Begin);
    ok(&mut db, one, mapping("user_1"));
    blocked(&mut db, two, mapping("user_1"));
    ok(&mut db, one, Stmt::Commit);
    assert_eq!(err(&mut db, two, mapping("user_1")).code(), "23505");
    ok(&mut db, two, Stmt::Rollback);

    // With a per-customer advisory lock held for the transaction.
    let (mut db, one, two) = setup();
    let lock = Stmt::advisory_lock(1, LockScope::Transaction);
    let lookup = Stmt::select("stripe_customers").eq("stripe_customer_id", "cus_1");
    for s in [one, two] {
        ok(&mut db, s, Stmt::Begin);
    }
    ok(&mut db, one, lock.clone());
    blocked(&mut db, two, lock.clone());
    assert!(ok(&mut db, one, lookup.clone()).rows.is_empty());
    ok(&mut db, one, mapping("user_1"));
    ok(&mut db, one, Stmt::Commit);
    ok(&mut db, two, lock);
    assert_eq!(ok(&mut db, two, lookup).rows.len(), 1);
    ok(&mut db, two, Stmt::Commit);
}

/// Seed 002 option 1 (`orgs.idempotency_table`): claim the key with `INSERT … ON CONFLICT DO
/// NOTHING`; a concurrent request with the same key waits, then sees 0 rows and reads the
/// stored response instead of creating a second org.
#[test]
fn seed_002_idempotency_key_claim() {
    let mut db = Database::new();
    db.create_table(
        TableSchema::new("idempotency_keys")
            .column("key", Text)
            .nullable("response_body", Text)
            .primary_key(&["key"]),
    )
    .unwrap();
    let (a, b) = (db.connect(), db.connect());
    let claim = Stmt::insert("idempotency_keys", &[("key", "k1".into())]).on_conflict_do_nothing(&["key"]);
    ok(&mut db, a, Stmt::Begin);
    assert_eq!(ok(&mut db, a, claim.clone()).affected, 1);
    blocked(&mut db, b, claim.clone());
    ok(
        &mut db,
        a,
        Stmt::update("idempotency_keys", &[("response_body", "org_1".into())]).eq("key", "k1"),
    );
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(ok(&mut db, b, claim).affected, 0);
    let stored = ok(&mut db, b, Stmt::select("idempotency_keys").eq("key", "k1"));
    assert_eq!(stored.rows[0]["response_body"], Value::from("org_1"));
}

/// Seed 001 `create_customer_and_profile_atomic`: an upsert keyed by user that sets the
/// customer id with `DO UPDATE SET stripe_customer_id = EXCLUDED.stripe_customer_id`. Two
/// concurrent calls with two freshly created customers both succeed; the last one wins and
/// the other customer is orphaned — the unique constraint does not catch it.
#[test]
fn seed_001_atomic_upsert_last_writer_wins() {
    let mut db = Database::new();
    db.create_table(
        TableSchema::new("profiles")
            .column("user_id", Text)
            .nullable("stripe_customer_id", Text)
            .primary_key(&["user_id"])
            .unique(&["stripe_customer_id"]),
    )
    .unwrap();
    let (a, b) = (db.connect(), db.connect());
    let upsert = |cus: &str| {
        Stmt::insert(
            "profiles",
            &[("user_id", "user_1".into()), ("stripe_customer_id", cus.into())],
        )
        .on_conflict_update_excluded(&["user_id"], &["stripe_customer_id"])
    };
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, upsert("cus_1"));
    blocked(&mut db, b, upsert("cus_2"));
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(ok(&mut db, b, upsert("cus_2")).affected, 1);
    let rows = db.table_rows("profiles");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["stripe_customer_id"], Value::from("cus_2"));
}

#[test]
fn max_connections_refuses_with_53300() {
    let mut db = Database::new().with_max_connections(2);
    let a = db.try_connect().unwrap();
    let _b = db.connect();
    assert_eq!(db.try_connect().unwrap_err().code(), "53300");
    let refused = db.connect();
    assert!(!db.is_connected(refused));
    assert_eq!(err(&mut db, refused, Stmt::Begin).code(), "08006");
    db.disconnect(a);
    assert!(db.try_connect().is_ok());
    assert_eq!(Database::new().sessions().len(), 0);
}

#[test]
fn cancel_blocked_fails_with_57014_and_aborts() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, select_tenant_for_update());
    ok(&mut db, b, Stmt::Begin);
    ok(&mut db, b, Stmt::insert("tenants", &[("id", 2.into())]));
    assert!(db.cancel_blocked(b).is_none());
    assert!(!db.is_aborted(b));
    blocked(&mut db, b, set_customer("cus_b"));
    let e = db.cancel_blocked(b).unwrap();
    assert_eq!(e.code(), "57014");
    assert!(db.is_blocked(b).is_none());
    assert!(db.is_aborted(b));
    // B's insert was rolled back with the transaction, A is unaffected.
    assert_eq!(db.snapshot().row_locks.len(), 1);
    assert_eq!(err(&mut db, b, select_tenant()).code(), "25P02");
    ok(&mut db, b, Stmt::Rollback);
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(db.table_rows("tenants").len(), 1);
}

#[test]
fn deadlock_first_waiter_victim() {
    let mut db = Database::new().with_deadlock_victim(DeadlockVictim::FirstWaiter);
    db.create_table(tenants()).unwrap();
    let (a, b) = (db.connect(), db.connect());
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 1.into())]));
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 2.into())]));
    let touch = |id: i64, who: &str| Stmt::update("tenants", &[("name", who.into())]).eq("id", id);
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, b, Stmt::Begin);
    ok(&mut db, a, touch(1, "a"));
    ok(&mut db, b, touch(2, "b"));
    blocked(&mut db, a, touch(2, "a"));
    // B closes the cycle, but A has waited longer: A is the victim and B proceeds.
    assert_eq!(ok(&mut db, b, touch(1, "b")).affected, 1);
    assert!(db.is_aborted(a));
    assert!(db.is_blocked(a).is_none());
    // A's parked statement, re-submitted, gets the deadlock error; then 25P02.
    assert_eq!(err(&mut db, a, touch(2, "a")).code(), "40P01");
    assert_eq!(err(&mut db, a, touch(2, "a")).code(), "25P02");
    ok(&mut db, a, Stmt::Rollback);
    ok(&mut db, b, Stmt::Commit);
    let names: Vec<_> = db
        .table_rows("tenants")
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, vec![Value::from("b"), Value::from("b")]);
}

/// Found by the differential check against PostgreSQL 15 (`tests/pg_differential.rs`,
/// generated seed 292): a statement waiting on a row that its holder deletes and re-inserts
/// with the same key keeps its start snapshot, so it does not see the new row.
#[test]
fn waiting_update_ignores_row_reinserted_by_the_holder() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::delete("tenants").eq("id", 1));
    let touch = Stmt::update("tenants", &[("name", "b".into())]).eq("id", 1);
    blocked(&mut db, b, touch.clone());
    ok(
        &mut db,
        a,
        Stmt::insert("tenants", &[("id", 1.into()), ("name", "new".into())]),
    );
    blocked(&mut db, b, touch.clone());
    ok(&mut db, a, Stmt::Commit);
    // PostgreSQL: the row B waited on is gone; the re-inserted one is not in B's snapshot.
    assert_eq!(ok(&mut db, b, touch.clone()).affected, 0);
    // A fresh statement sees it.
    assert_eq!(ok(&mut db, b, touch).affected, 1);
    // The same for SELECT … FOR UPDATE and DELETE.
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::delete("tenants").eq("id", 1));
    let lock = Stmt::select_for_update("tenants").eq("id", 1);
    blocked(&mut db, b, lock.clone());
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 1.into())]));
    ok(&mut db, a, Stmt::Commit);
    assert!(ok(&mut db, b, lock).rows.is_empty());
}

/// Found by the differential check (generated seed 3450): an insert waiting on another
/// transaction's uncommitted key waits for that *transaction* to end, even when the holder
/// deletes its row meanwhile (PostgreSQL's XactLockTableWait).
#[test]
fn unique_wait_lasts_until_the_holder_transaction_ends() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, a, Stmt::insert("tenants", &[("id", 3.into())]));
    let insert = Stmt::insert("tenants", &[("id", 3.into())]);
    blocked(&mut db, b, insert.clone());
    ok(&mut db, a, Stmt::delete("tenants").eq("id", 3));
    blocked(&mut db, b, insert.clone());
    ok(&mut db, a, Stmt::Commit);
    assert_eq!(ok(&mut db, b, insert).affected, 1);
}

/// Found by the differential check (generated seed 3453): a key the holder wrote and then
/// overwrote in the same open transaction still makes an inserter of that key wait.
#[test]
fn overwritten_uncommitted_key_still_makes_inserts_wait() {
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    let set = |c: &str| Stmt::update("tenants", &[("stripe_customer_id", c.into())]).eq("id", 1);
    ok(&mut db, a, set("cus_x"));
    ok(&mut db, a, set("cus_y"));
    let insert = Stmt::insert(
        "tenants",
        &[("id", 2.into()), ("stripe_customer_id", "cus_x".into())],
    );
    blocked(&mut db, b, insert.clone());
    ok(&mut db, a, Stmt::Rollback);
    assert_eq!(ok(&mut db, b, insert).affected, 1);
}

/// Found by the differential check (generated seed 3214): an insert parked on a *later*
/// unique index has already inserted its earlier index keys in PostgreSQL, so another
/// inserter of its primary key waits on it — here closing a deadlock.
#[test]
fn parked_insert_holds_its_earlier_index_keys() {
    let (mut db, a, b) = setup();
    ok(
        &mut db,
        a,
        Stmt::update("tenants", &[("stripe_customer_id", "cus_1".into())]).eq("id", 1),
    );
    ok(&mut db, a, Stmt::Begin);
    ok(&mut db, b, Stmt::Begin);
    ok(
        &mut db,
        a,
        Stmt::update("tenants", &[("stripe_customer_id", "cus_2".into())]).eq("id", 1),
    );
    // B's id 3 passes the primary key, then waits on A's uncommitted cus_2.
    let b_insert = Stmt::insert(
        "tenants",
        &[("id", 3.into()), ("stripe_customer_id", "cus_2".into())],
    )
    .on_conflict_do_nothing(&["id"]);
    blocked(&mut db, b, b_insert.clone());
    // A inserting id 3 waits on B's claimed key: a cycle, and A closes it.
    let a_insert = Stmt::insert("tenants", &[("id", 3.into())]).on_conflict_do_nothing(&["id"]);
    assert_eq!(err(&mut db, a, a_insert).code(), "40P01");
    // A's transaction is gone: B's insert goes through.
    assert_eq!(ok(&mut db, b, b_insert).affected, 1);
    ok(&mut db, b, Stmt::Commit);
    // Without a cycle, the second inserter just waits and then sees the committed key.
    let (mut db, a, b) = setup();
    ok(&mut db, a, Stmt::Begin);
    ok(
        &mut db,
        a,
        Stmt::update("tenants", &[("stripe_customer_id", "cus_2".into())]).eq("id", 1),
    );
    let b_insert = Stmt::insert(
        "tenants",
        &[("id", 3.into()), ("stripe_customer_id", "cus_2".into())],
    );
    blocked(&mut db, b, b_insert.clone());
    let c = db.connect();
    let c_insert = Stmt::insert("tenants", &[("id", 3.into())]);
    blocked(&mut db, c, c_insert.clone());
    ok(&mut db, a, Stmt::Rollback);
    assert_eq!(ok(&mut db, b, b_insert).affected, 1);
    assert_eq!(err(&mut db, c, c_insert).code(), "23505");
}

#[test]
fn committed_version_moves_on_committed_writes_only() {
    let (mut db, a, b) = setup();
    let committed = db.committed_version();
    ok(&mut db, a, select_tenant());
    ok(&mut db, b, Stmt::Begin);
    ok(&mut db, b, Stmt::select_for_update("tenants").eq("id", 1));
    ok(&mut db, b, set_customer("cus_rolled_back"));
    ok(&mut db, b, Stmt::Rollback);
    assert_eq!(
        db.committed_version(),
        committed,
        "reads, locks and a rollback commit nothing"
    );
    ok(&mut db, b, Stmt::Begin);
    ok(&mut db, b, set_customer("cus_b"));
    assert_eq!(
        db.committed_version(),
        committed,
        "an open transaction commits nothing"
    );
    ok(&mut db, b, Stmt::Commit);
    assert_ne!(db.committed_version(), committed);
    let committed = db.committed_version();
    ok(&mut db, a, Stmt::delete("tenants").eq("id", 1));
    assert_ne!(db.committed_version(), committed, "an autocommit delete commits");
}
