//! A tiny single-threaded, in-memory [`Env`] double for *sequential* strategy tests.
//!
//! It has no concurrency semantics at all (no row locks, no waiting, advisory locks always
//! granted): races are tested in the simulated world. What it does model: Stripe idempotency
//! keys, Clerk's unique slugs (422), unique constraints and `ON CONFLICT`, transactions with
//! rollback (explicit, on drop, and an aborted transaction's `COMMIT`), and injected failures.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::app::api::{
    CheckoutSession, CheckoutSessionCreate, ClerkApi, ClerkError, ClerkEvent, ClerkOrg, ClerkUser, Customer,
    CustomerCreate, Db, DbConn, DbError, Env, OrgCreate, Outcome, ProcessMemory, Row, SqlState, Stmt,
    StripeApi, StripeError, StripeEvent, Subscription, TableSchema, Value,
};
use crate::sql::{Cond, Filter, OnConflict, SetValue};
use crate::sync::{Arc, Mutex};
use crate::time::SimTime;

/// Polls a future that never pends to completion (the doubles never return `Pending`).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("future still pending after 1,000,000 polls: the test double must never pend")
}

/// The signature the doubles accept.
pub const VALID_SIGNATURE: &str = "valid";

/// Fake Stripe state.
#[derive(Debug, Default)]
pub struct StripeState {
    /// Every customer ever created.
    pub customers: Vec<Customer>,
    /// Every session created.
    pub sessions: Vec<CheckoutSessionCreate>,
    /// Subscriptions the test registers.
    pub subscriptions: Vec<Subscription>,
    /// Idempotency key → customer id.
    pub keys: BTreeMap<String, String>,
    /// How many upcoming `create_customer` calls fail with a 500.
    pub fail_creates: u32,
}

/// A fake Stripe.
#[derive(Debug, Default)]
pub struct FakeStripe {
    /// Its state.
    pub state: Mutex<StripeState>,
}

impl FakeStripe {
    /// Customers not deleted.
    pub fn live_customers(&self) -> Vec<Customer> {
        self.state
            .lock()
            .customers
            .iter()
            .filter(|c| !c.deleted)
            .cloned()
            .collect()
    }
}

fn stripe_missing(id: &str) -> StripeError {
    StripeError::Api {
        status: 404,
        error_type: "invalid_request_error".into(),
        code: Some("resource_missing".into()),
        message: format!("No such object: '{id}'"),
    }
}

impl StripeApi for FakeStripe {
    fn create_customer(
        &self,
        params: CustomerCreate,
        idempotency_key: Option<String>,
    ) -> impl Future<Output = Result<Customer, StripeError>> + Send {
        let mut s = self.state.lock();
        let result = if s.fail_creates > 0 {
            s.fail_creates -= 1;
            Err(StripeError::Api {
                status: 500,
                error_type: "api_error".into(),
                code: None,
                message: "injected failure".into(),
            })
        } else if let Some(existing) = idempotency_key.as_ref().and_then(|k| s.keys.get(k)).cloned() {
            Ok(s.customers
                .iter()
                .find(|c| c.id == existing)
                .cloned()
                .unwrap_or_else(|| panic!("key")))
        } else {
            let customer = Customer {
                id: format!("cus_{}", s.customers.len() + 1),
                email: params.email,
                metadata: params.metadata,
                deleted: false,
            };
            s.customers.push(customer.clone());
            if let Some(key) = idempotency_key {
                s.keys.insert(key, customer.id.clone());
            }
            Ok(customer)
        };
        std::future::ready(result)
    }

    fn retrieve_customer(&self, id: String) -> impl Future<Output = Result<Customer, StripeError>> + Send {
        let s = self.state.lock();
        std::future::ready(
            s.customers
                .iter()
                .find(|c| c.id == id)
                .cloned()
                .ok_or_else(|| stripe_missing(&id)),
        )
    }

    fn update_customer_metadata(
        &self,
        id: String,
        metadata: BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Customer, StripeError>> + Send {
        let mut s = self.state.lock();
        let result = match s.customers.iter_mut().find(|c| c.id == id) {
            Some(c) => {
                c.metadata.extend(metadata);
                Ok(c.clone())
            }
            None => Err(stripe_missing(&id)),
        };
        std::future::ready(result)
    }

    fn delete_customer(&self, id: String) -> impl Future<Output = Result<Customer, StripeError>> + Send {
        let mut s = self.state.lock();
        let result = match s.customers.iter_mut().find(|c| c.id == id) {
            Some(c) => {
                c.deleted = true;
                Ok(c.clone())
            }
            None => Err(stripe_missing(&id)),
        };
        std::future::ready(result)
    }

    fn list_customers_by_email(
        &self,
        email: String,
    ) -> impl Future<Output = Result<Vec<Customer>, StripeError>> + Send {
        let s = self.state.lock();
        let mut found: Vec<Customer> = s
            .customers
            .iter()
            .filter(|c| !c.deleted && c.email.as_deref() == Some(email.as_str()))
            .cloned()
            .collect();
        found.reverse();
        std::future::ready(Ok(found))
    }

    fn search_customers(
        &self,
        _query: String,
    ) -> impl Future<Output = Result<Vec<Customer>, StripeError>> + Send {
        std::future::ready(Ok(Vec::new()))
    }

    fn create_checkout_session(
        &self,
        params: CheckoutSessionCreate,
        _idempotency_key: Option<String>,
    ) -> impl Future<Output = Result<CheckoutSession, StripeError>> + Send {
        let mut s = self.state.lock();
        s.sessions.push(params.clone());
        std::future::ready(Ok(CheckoutSession {
            id: format!("cs_test_{}", s.sessions.len()),
            customer: params.customer,
            status: "open".into(),
            subscription: None,
        }))
    }

    fn retrieve_subscription(
        &self,
        id: String,
    ) -> impl Future<Output = Result<Subscription, StripeError>> + Send {
        let s = self.state.lock();
        std::future::ready(
            s.subscriptions
                .iter()
                .find(|x| x.id == id)
                .cloned()
                .ok_or_else(|| stripe_missing(&id)),
        )
    }

    fn verify_webhook(&self, payload: &[u8], signature_header: &str) -> Result<StripeEvent, String> {
        if signature_header != VALID_SIGNATURE {
            return Err("signature mismatch".into());
        }
        let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        Ok(StripeEvent {
            id: v
                .get("id")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string(),
            event_type: v
                .get("type")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string(),
            object: v.pointer("/data/object").cloned().unwrap_or_default(),
        })
    }
}

/// A Clerk org with its creator.
#[derive(Debug, Clone)]
pub struct StoredOrg {
    /// The org.
    pub org: ClerkOrg,
    /// `created_by`.
    pub created_by: String,
}

/// Fake Clerk state.
#[derive(Debug, Default)]
pub struct ClerkState {
    /// Users.
    pub users: Vec<ClerkUser>,
    /// Live orgs.
    pub orgs: Vec<StoredOrg>,
    /// Orgs ever created (deleted ones included).
    pub created: u32,
    /// How many upcoming `create_organization` calls fail with a 500.
    pub fail_creates: u32,
    /// How many upcoming `delete_organization` calls fail with a 500.
    pub fail_deletes: u32,
    /// Number of `list_user_organizations` calls.
    pub list_calls: u32,
}

/// A fake Clerk.
#[derive(Debug, Default)]
pub struct FakeClerk {
    /// Its state.
    pub state: Mutex<ClerkState>,
}

impl FakeClerk {
    /// Live orgs created by a user.
    pub fn orgs_of(&self, user_id: &str) -> Vec<ClerkOrg> {
        let s = self.state.lock();
        s.orgs
            .iter()
            .filter(|o| o.created_by == user_id)
            .map(|o| o.org.clone())
            .collect()
    }
}

fn clerk_500() -> ClerkError {
    ClerkError::Api {
        status: 500,
        code: "internal_clerk_error".into(),
        message: "injected failure".into(),
    }
}

fn merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    match (target.as_object_mut(), patch) {
        (Some(obj), serde_json::Value::Object(patch)) => {
            for (k, v) in patch {
                if v.is_null() {
                    obj.remove(&k);
                } else {
                    obj.insert(k, v);
                }
            }
        }
        (_, patch) => *target = patch,
    }
}

impl ClerkApi for FakeClerk {
    fn get_user(&self, id: String) -> impl Future<Output = Result<ClerkUser, ClerkError>> + Send {
        let s = self.state.lock();
        std::future::ready(
            s.users
                .iter()
                .find(|u| u.id == id)
                .cloned()
                .ok_or(ClerkError::Api {
                    status: 404,
                    code: "resource_not_found".into(),
                    message: id,
                }),
        )
    }

    fn update_user_metadata(
        &self,
        id: String,
        public_metadata: Option<serde_json::Value>,
        private_metadata: Option<serde_json::Value>,
    ) -> impl Future<Output = Result<ClerkUser, ClerkError>> + Send {
        let mut s = self.state.lock();
        let result = match s.users.iter_mut().find(|u| u.id == id) {
            Some(u) => {
                if let Some(p) = public_metadata {
                    merge(&mut u.public_metadata, p);
                }
                if let Some(p) = private_metadata {
                    merge(&mut u.private_metadata, p);
                }
                Ok(u.clone())
            }
            None => Err(ClerkError::Api {
                status: 404,
                code: "resource_not_found".into(),
                message: id,
            }),
        };
        std::future::ready(result)
    }

    fn create_organization(
        &self,
        params: OrgCreate,
    ) -> impl Future<Output = Result<ClerkOrg, ClerkError>> + Send {
        let mut s = self.state.lock();
        let result = if s.fail_creates > 0 {
            s.fail_creates -= 1;
            Err(clerk_500())
        } else if params.slug.is_some() && s.orgs.iter().any(|o| o.org.slug == params.slug) {
            Err(ClerkError::Api {
                status: 422,
                code: "form_identifier_exists".into(),
                message: "That slug is taken. Please try another.".into(),
            })
        } else {
            s.created += 1;
            let org = ClerkOrg {
                id: format!("org_{}", s.created),
                name: params.name,
                slug: params.slug,
                public_metadata: params.public_metadata,
            };
            s.orgs.push(StoredOrg {
                org: org.clone(),
                created_by: params.created_by,
            });
            Ok(org)
        };
        std::future::ready(result)
    }

    fn get_organization(
        &self,
        id_or_slug: String,
    ) -> impl Future<Output = Result<Option<ClerkOrg>, ClerkError>> + Send {
        let s = self.state.lock();
        let found = s
            .orgs
            .iter()
            .find(|o| o.org.id == id_or_slug || o.org.slug.as_deref() == Some(id_or_slug.as_str()))
            .map(|o| o.org.clone());
        std::future::ready(Ok(found))
    }

    fn delete_organization(&self, id: String) -> impl Future<Output = Result<(), ClerkError>> + Send {
        let mut s = self.state.lock();
        let result = if s.fail_deletes > 0 {
            s.fail_deletes -= 1;
            Err(clerk_500())
        } else {
            s.orgs.retain(|o| o.org.id != id);
            Ok(())
        };
        std::future::ready(result)
    }

    fn list_user_organizations(
        &self,
        user_id: String,
    ) -> impl Future<Output = Result<Vec<ClerkOrg>, ClerkError>> + Send {
        self.state.lock().list_calls += 1;
        std::future::ready(Ok(self.orgs_of(&user_id)))
    }

    fn verify_webhook(
        &self,
        svix_id: &str,
        _svix_timestamp: &str,
        svix_signature: &str,
        payload: &[u8],
    ) -> Result<ClerkEvent, String> {
        if svix_signature != VALID_SIGNATURE {
            return Err("no matching signature".into());
        }
        let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        Ok(ClerkEvent {
            svix_id: svix_id.to_string(),
            event_type: v
                .get("type")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string(),
            data: v.get("data").cloned().unwrap_or_default(),
        })
    }
}

/// Tables: name → (schema, rows).
pub type Tables = BTreeMap<String, (TableSchema, Vec<Row>)>;

/// Fake database state.
#[derive(Debug, Default)]
pub struct DbState {
    /// Committed tables.
    pub tables: Tables,
    /// Inserts into this table fail with a connection failure.
    pub fail_inserts_into: Option<String>,
}

/// A fake database: one committed state, each connection a sequential session.
#[derive(Debug, Default, Clone)]
pub struct FakeDb {
    /// Shared state.
    pub state: Arc<Mutex<DbState>>,
}

impl FakeDb {
    /// Committed rows of a table (empty if absent).
    pub fn rows(&self, table: &str) -> Vec<Row> {
        self.state
            .lock()
            .tables
            .get(table)
            .map(|(_, rows)| rows.clone())
            .unwrap_or_default()
    }
}

/// A connection: a transaction snapshot to restore on rollback, and the aborted flag.
#[derive(Debug)]
pub struct FakeConn {
    db: FakeDb,
    snapshot: Option<Tables>,
    aborted: bool,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        if let Some(snapshot) = self.snapshot.take() {
            self.db.state.lock().tables = snapshot;
        }
    }
}

fn matches(row: &Row, filter: &Filter) -> bool {
    filter.0.iter().all(|(col, cond)| {
        let v = row.get(col).unwrap_or(&Value::Null);
        match cond {
            Cond::Eq(x) => !v.is_null() && v == x,
            Cond::IsNull => v.is_null(),
            Cond::IsNotNull => !v.is_null(),
            Cond::Lt(x) => !v.is_null() && v < x,
        }
    })
}

/// The unique indexes of a table as (name, columns).
fn indexes(schema: &TableSchema) -> Vec<(String, Vec<String>)> {
    let mut all = Vec::new();
    if !schema.primary_key.is_empty() {
        all.push((format!("{}_pkey", schema.name), schema.primary_key.clone()));
    }
    all.extend(schema.unique.iter().map(|u| (u.name.clone(), u.columns.clone())));
    all
}

/// The index of the first row (other than `skip`) sharing a unique key with `row`; the
/// `ON CONFLICT` target's index is checked first (PostgreSQL's arbiter index pre-check).
fn conflict_on(
    schema: &TableSchema,
    rows: &[Row],
    row: &Row,
    skip: Option<usize>,
    arbiter: &[String],
) -> Option<(usize, String, Vec<String>)> {
    let mut all = indexes(schema);
    all.sort_by_key(|(_, cols)| cols.as_slice() != arbiter);
    for (name, cols) in all {
        let key: Vec<&Value> = cols.iter().map(|c| row.get(c).unwrap_or(&Value::Null)).collect();
        if key.iter().any(|v| v.is_null()) {
            continue;
        }
        for (i, other) in rows.iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            let other_key: Vec<&Value> = cols
                .iter()
                .map(|c| other.get(c).unwrap_or(&Value::Null))
                .collect();
            if other_key == key {
                return Some((i, name, cols));
            }
        }
    }
    None
}

fn conflict(
    schema: &TableSchema,
    rows: &[Row],
    row: &Row,
    skip: Option<usize>,
) -> Option<(usize, String, Vec<String>)> {
    conflict_on(schema, rows, row, skip, &[])
}

fn unique_violation(name: &str) -> DbError {
    DbError {
        state: SqlState::UniqueViolation,
        message: format!("duplicate key value violates unique constraint \"{name}\""),
        constraint: Some(name.to_string()),
    }
}

impl FakeConn {
    fn run(&mut self, stmt: Stmt) -> Result<Outcome, DbError> {
        let in_tx = self.snapshot.is_some();
        match &stmt {
            Stmt::Begin => {
                if !in_tx {
                    self.snapshot = Some(self.db.state.lock().tables.clone());
                    self.aborted = false;
                }
                return Ok(Outcome::default());
            }
            Stmt::Commit | Stmt::Rollback => {
                let rollback = matches!(stmt, Stmt::Rollback) || self.aborted;
                if let Some(snapshot) = self.snapshot.take() {
                    if rollback {
                        self.db.state.lock().tables = snapshot;
                    }
                }
                self.aborted = false;
                return Ok(Outcome::default());
            }
            _ if self.aborted => {
                return Err(DbError::new(
                    SqlState::InFailedSqlTransaction,
                    "current transaction is aborted, commands ignored until end of transaction block",
                ))
            }
            _ => {}
        }
        let result = self.apply(stmt);
        if result.is_err() && in_tx {
            self.aborted = true;
        }
        result
    }

    fn apply(&mut self, stmt: Stmt) -> Result<Outcome, DbError> {
        let mut state = self.db.state.lock();
        let missing = |t: &str| {
            DbError::new(
                SqlState::UndefinedTable,
                format!("relation \"{t}\" does not exist"),
            )
        };
        match stmt {
            Stmt::CreateTable(schema) => {
                state.tables.insert(schema.name.clone(), (schema, Vec::new()));
                Ok(Outcome::default())
            }
            Stmt::Select { table, filter, .. } => {
                let (_, rows) = state.tables.get(&table).ok_or_else(|| missing(&table))?;
                Ok(Outcome {
                    rows: rows.iter().filter(|r| matches(r, &filter)).cloned().collect(),
                    affected: 0,
                })
            }
            Stmt::Insert {
                table,
                row,
                on_conflict,
            } => {
                if state.fail_inserts_into.as_deref() == Some(table.as_str()) {
                    return Err(DbError::new(
                        SqlState::ConnectionFailure,
                        "injected: connection lost",
                    ));
                }
                let (schema, rows) = state.tables.get_mut(&table).ok_or_else(|| missing(&table))?;
                let mut full = Row::new();
                for col in &schema.columns {
                    let v = row
                        .get(&col.name)
                        .cloned()
                        .or_else(|| col.default.clone())
                        .unwrap_or(Value::Null);
                    if v.is_null() && !col.nullable {
                        return Err(DbError::new(
                            SqlState::NotNullViolation,
                            format!("null in {}", col.name),
                        ));
                    }
                    full.insert(col.name.clone(), v);
                }
                let arbiter = match &on_conflict {
                    OnConflict::Error => Vec::new(),
                    OnConflict::DoNothing { target } | OnConflict::DoUpdate { target, .. } => target.clone(),
                };
                match (conflict_on(schema, rows, &full, None, &arbiter), on_conflict) {
                    (None, _) => {
                        rows.push(full.clone());
                        Ok(Outcome {
                            rows: vec![full],
                            affected: 1,
                        })
                    }
                    (Some((_, name, _)), OnConflict::Error) => Err(unique_violation(&name)),
                    (Some((_, name, cols)), OnConflict::DoNothing { target }) => {
                        if target.is_empty() || target == cols {
                            Ok(Outcome::default())
                        } else {
                            Err(unique_violation(&name))
                        }
                    }
                    (Some((i, name, cols)), OnConflict::DoUpdate { target, set }) => {
                        if target != cols {
                            return Err(unique_violation(&name));
                        }
                        let mut updated = rows[i].clone();
                        for (col, value) in set {
                            let v = match value {
                                SetValue::Value(v) => v,
                                SetValue::Excluded(c) => full.get(&c).cloned().unwrap_or(Value::Null),
                            };
                            updated.insert(col, v);
                        }
                        rows[i] = updated.clone();
                        Ok(Outcome {
                            rows: vec![updated],
                            affected: 1,
                        })
                    }
                }
            }
            Stmt::Update { table, filter, set } => {
                let (schema, rows) = state.tables.get_mut(&table).ok_or_else(|| missing(&table))?;
                let mut out = Vec::new();
                for i in 0..rows.len() {
                    if !matches(&rows[i], &filter) {
                        continue;
                    }
                    let mut updated = rows[i].clone();
                    for (c, v) in &set {
                        updated.insert(c.clone(), v.clone());
                    }
                    if let Some((_, name, _)) = conflict(schema, rows, &updated, Some(i)) {
                        return Err(unique_violation(&name));
                    }
                    rows[i] = updated.clone();
                    out.push(updated);
                }
                let affected = out.len() as u64;
                Ok(Outcome { rows: out, affected })
            }
            Stmt::Delete { table, filter } => {
                let (_, rows) = state.tables.get_mut(&table).ok_or_else(|| missing(&table))?;
                let (gone, kept): (Vec<Row>, Vec<Row>) = rows.drain(..).partition(|r| matches(r, &filter));
                *rows = kept;
                let affected = gone.len() as u64;
                Ok(Outcome { rows: gone, affected })
            }
            Stmt::AdvisoryLock { .. } | Stmt::TryAdvisoryLock { .. } | Stmt::AdvisoryUnlock { .. } => {
                Ok(Outcome {
                    rows: vec![Row::from([("locked".to_string(), Value::Bool(true))])],
                    affected: 0,
                })
            }
            Stmt::Begin | Stmt::Commit | Stmt::Rollback => Ok(Outcome::default()),
        }
    }
}

impl DbConn for FakeConn {
    fn execute(&mut self, stmt: Stmt) -> impl Future<Output = Result<Outcome, DbError>> + Send {
        std::future::ready(self.run(stmt))
    }
}

impl Db for FakeDb {
    type Conn = FakeConn;

    fn connect(&self) -> impl Future<Output = Result<FakeConn, DbError>> + Send {
        std::future::ready(Ok(FakeConn {
            db: self.clone(),
            snapshot: None,
            aborted: false,
        }))
    }
}

/// The whole double.
#[derive(Debug, Default)]
pub struct TestEnv {
    /// Stripe.
    pub stripe: FakeStripe,
    /// Clerk.
    pub clerk: FakeClerk,
    /// Database.
    pub db: FakeDb,
    /// Simulated now, ms since the Unix epoch.
    pub now_ms: Mutex<u64>,
    /// Process memory.
    pub memory: ProcessMemory,
    /// The seeded generator (`Env::rng`).
    pub rng: crate::app::api::EnvRng,
    /// Notes written.
    pub notes: Mutex<Vec<String>>,
}

impl TestEnv {
    /// A world with the strategy's schema and seed rows and these users in Clerk.
    pub fn new<A: crate::app::api::AppLogic>(app: &A, users: &[crate::app::api::UserSpec]) -> TestEnv {
        let env = TestEnv::default();
        *env.now_ms.lock() = SimTime::EPOCH.unix_ms();
        env.clerk.state.lock().users = users
            .iter()
            .map(|u| ClerkUser {
                id: u.user_id.clone(),
                email: Some(u.email.clone()),
                public_metadata: serde_json::json!({}),
                private_metadata: serde_json::json!({}),
            })
            .collect();
        block_on(async {
            let mut conn = env.db.connect().await.unwrap_or_else(|e| panic!("{e}"));
            for schema in app.schema() {
                conn.execute(Stmt::CreateTable(schema))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            for stmt in app.seed_rows(users) {
                conn.execute(stmt)
                    .await
                    .unwrap_or_else(|e| panic!("seed row: {e}"));
            }
        });
        env
    }
}

impl Env for TestEnv {
    type Stripe = FakeStripe;
    type Clerk = FakeClerk;
    type Db = FakeDb;

    fn stripe(&self) -> &FakeStripe {
        &self.stripe
    }

    fn clerk(&self) -> &FakeClerk {
        &self.clerk
    }

    fn db(&self) -> &FakeDb {
        &self.db
    }

    fn now(&self) -> SimTime {
        SimTime::from_unix_ms(*self.now_ms.lock())
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let mut now = self.now_ms.lock();
        *now = now.saturating_add(ms);
        std::future::ready(())
    }

    fn replica(&self) -> &str {
        "app-1"
    }

    fn memory(&self) -> &ProcessMemory {
        &self.memory
    }

    fn rng(&self) -> &crate::app::api::EnvRng {
        &self.rng
    }

    fn note(&self, text: &str) {
        self.notes.lock().push(text.to_string());
    }
}
