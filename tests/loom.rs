//! loom models: every interleaving (up to a preemption bound) of the *same* app logic the
//! turmoil world runs, on loom threads, against the in-process fakes of `racehound::inproc`,
//! judged by the *same* oracle (`racehound::oracle`).
//!
//! Build and run (see `.ci/loom.sh` and `docs/loom.md`):
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=3 cargo test --features loom-models --test loom -- --nocapture --test-threads=1
//! ```
//!
//! Each model prepares its world once (outside loom), then for every execution loom explores:
//! wraps a clone of the world in loom primitives ([`Shared::new`]), runs 2 app calls on 2 loom
//! threads under `racehound::inproc::block_on` (each through [`Traced`], which records every
//! Stripe / Clerk / DB call the thread makes), joins them, and asks the oracle about the final
//! world and about the history of Stripe customers (so a duplicate that was later deleted is
//! still a violation of the `Always` invariant `no_duplicate_customers`). Failing executions
//! are collected, not panicked on: a "fails" model asserts that loom found at least one and
//! prints the first as readable steps; a "passes" model asserts none exists.
//!
//! The recorders below are `std::sync::Mutex`es on purpose: they are not part of what loom
//! checks (loom runs one thread at a time, so they only record), they must outlive a single
//! execution, and a loom mutex would add scheduling points that multiply the iterations.
#![cfg(racehound_loom)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use racehound::app::api::{
    AppCall, AppLogic, AppReply, CheckoutSession, CheckoutSessionCreate, ClerkApi, ClerkError, ClerkEvent,
    ClerkOrg, ClerkUser, ColumnType, Customer, CustomerCreate, Db, DbConn, DbError, Env, OrgCreate, Outcome,
    ProcessMemory, Stmt, StripeApi, StripeError, StripeEvent, Subscription, TableSchema, UserSpec,
};
use racehound::app::kit::{team_org_params, text_col};
use racehound::app::reference::Reference;
use racehound::app::strategies::registry::by_id;
use racehound::fakes::clerk::BillingPayerRef;
use racehound::fakes::stripe::webhook::sign_header;
use racehound::http::{HttpRequest, Method};
use racehound::inproc::{InProcEnv, Shared};
use racehound::oracle::{
    builtin_invariants, check, from_fakes::view_from_snapshots, CustomerView, DeliveryView,
    IdempotentResponseView, Phase, Service, Violation, WorldView,
};
use racehound::setup::{prepare, Prepared, COUPON_ID};
use racehound::sync::Arc;
use racehound::time::{ManualClock, SimTime};

/// A recorder outside the model (see the module docs for why it is `std`).
type Log = std::sync::Mutex<Vec<String>>;

fn push(log: &Log, line: String) {
    log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
}

/// Preemption bound when `LOOM_MAX_PREEMPTIONS` is not set.
const PREEMPTIONS_DEFAULT: usize = 3;

/// Longest trace line kept (long SQL and JSON are cut).
const TRACE_LINE_MAX: usize = 150;

/// Redeliveries a webhook sender makes after the concurrent attempt, sequentially on the
/// main thread: the oracle's fault-free bound plus one, so a retry storm shows.
const REDELIVERIES_MAX: u32 = racehound::oracle::from_fakes::REDELIVERY_MAX_DEFAULT + 1;

fn cut(text: &str) -> String {
    if text.chars().count() <= TRACE_LINE_MAX {
        text.to_string()
    } else {
        let head: String = text.chars().take(TRACE_LINE_MAX).collect();
        format!("{head}…")
    }
}

// ---------------------------------------------------------------------------------------------
// Traced / tweaked Env: every call a thread makes becomes a trace line; the tweaks break the
// reference on purpose (for the "a model that cannot fail proves nothing" tests).
// ---------------------------------------------------------------------------------------------

/// Deliberate breakages applied to what app code sends.
#[derive(Debug, Clone, Copy, Default)]
struct Tweaks {
    /// `create_customer` is sent without its `Idempotency-Key`.
    drop_idempotency_key: bool,
    /// `create_organization` is sent without its slug.
    drop_slug: bool,
}

/// Who is calling, for trace lines.
#[derive(Clone, Copy)]
struct Tag<'a> {
    label: &'a str,
    log: Option<&'a Log>,
    tweaks: Tweaks,
}

impl Tag<'_> {
    fn line(&self, text: String) {
        if let Some(log) = self.log {
            push(log, format!("{:<22} {}", self.label, cut(&text)));
        }
    }
}

fn res<T>(result: &Result<T, impl std::fmt::Display>, ok: impl Fn(&T) -> String) -> String {
    match result {
        Ok(value) => ok(value),
        Err(error) => format!("ERR {error}"),
    }
}

/// An [`Env`] over another one that records calls and applies [`Tweaks`].
struct Traced<'a, E: Env> {
    inner: &'a E,
    tag: Tag<'a>,
    stripe: TStripe<'a, E::Stripe>,
    clerk: TClerk<'a, E::Clerk>,
    db: TDb<'a, E::Db>,
}

impl<'a, E: Env> Traced<'a, E> {
    fn new(inner: &'a E, tag: Tag<'a>) -> Self {
        Self {
            inner,
            tag,
            stripe: TStripe {
                inner: inner.stripe(),
                tag,
            },
            clerk: TClerk {
                inner: inner.clerk(),
                tag,
            },
            db: TDb {
                inner: inner.db(),
                tag,
            },
        }
    }
}

struct TStripe<'a, S> {
    inner: &'a S,
    tag: Tag<'a>,
}

struct TClerk<'a, C> {
    inner: &'a C,
    tag: Tag<'a>,
}

struct TDb<'a, D> {
    inner: &'a D,
    tag: Tag<'a>,
}

struct TConn<'a, C> {
    inner: C,
    tag: Tag<'a>,
}

impl<S: StripeApi> StripeApi for TStripe<'_, S> {
    async fn create_customer(
        &self,
        params: CustomerCreate,
        idempotency_key: Option<String>,
    ) -> Result<Customer, StripeError> {
        let key = if self.tag.tweaks.drop_idempotency_key {
            None
        } else {
            idempotency_key
        };
        self.tag
            .line(format!("stripe  → customers.create (Idempotency-Key {key:?})"));
        let r = self.inner.create_customer(params, key).await;
        self.tag.line(format!(
            "stripe  ← customers.create = {}",
            res(&r, |c| c.id.clone())
        ));
        r
    }

    async fn retrieve_customer(&self, id: String) -> Result<Customer, StripeError> {
        let r = self.inner.retrieve_customer(id.clone()).await;
        self.tag.line(format!(
            "stripe  customers.retrieve {id} = {}",
            res(&r, |c| format!("deleted={}", c.deleted))
        ));
        r
    }

    async fn update_customer_metadata(
        &self,
        id: String,
        metadata: BTreeMap<String, String>,
    ) -> Result<Customer, StripeError> {
        let r = self.inner.update_customer_metadata(id.clone(), metadata).await;
        self.tag.line(format!(
            "stripe  customers.update {id} = {}",
            res(&r, |c| c.id.clone())
        ));
        r
    }

    async fn delete_customer(&self, id: String) -> Result<Customer, StripeError> {
        self.tag.line(format!("stripe  → customers.delete {id}"));
        let r = self.inner.delete_customer(id.clone()).await;
        self.tag.line(format!(
            "stripe  ← customers.delete {id} = {}",
            res(&r, |c| format!("deleted={}", c.deleted))
        ));
        r
    }

    async fn list_customers_by_email(&self, email: String) -> Result<Vec<Customer>, StripeError> {
        let r = self.inner.list_customers_by_email(email.clone()).await;
        self.tag.line(format!(
            "stripe  customers.list email={email} = {}",
            res(&r, |v| format!("{} found", v.len()))
        ));
        r
    }

    async fn search_customers(&self, query: String) -> Result<Vec<Customer>, StripeError> {
        let r = self.inner.search_customers(query.clone()).await;
        self.tag.line(format!(
            "stripe  customers.search {query} = {}",
            res(&r, |v| format!("{} found", v.len()))
        ));
        r
    }

    async fn create_checkout_session(
        &self,
        params: CheckoutSessionCreate,
        idempotency_key: Option<String>,
    ) -> Result<CheckoutSession, StripeError> {
        let customer = params.customer.clone();
        self.tag.line(format!(
            "stripe  → checkout.sessions.create customer={customer:?}"
        ));
        let r = self.inner.create_checkout_session(params, idempotency_key).await;
        self.tag.line(format!(
            "stripe  ← checkout.sessions.create = {}",
            res(&r, |s| s.id.clone())
        ));
        r
    }

    async fn retrieve_subscription(&self, id: String) -> Result<Subscription, StripeError> {
        let r = self.inner.retrieve_subscription(id.clone()).await;
        self.tag.line(format!(
            "stripe  subscriptions.retrieve {id} = {}",
            res(&r, |s| s.status.clone())
        ));
        r
    }

    fn verify_webhook(&self, payload: &[u8], signature_header: &str) -> Result<StripeEvent, String> {
        let r = self.inner.verify_webhook(payload, signature_header);
        self.tag.line(format!(
            "stripe  webhook verified = {}",
            res(&r, |e| format!("{} {}", e.event_type, e.id))
        ));
        r
    }
}

impl<C: ClerkApi> ClerkApi for TClerk<'_, C> {
    async fn get_user(&self, id: String) -> Result<ClerkUser, ClerkError> {
        let r = self.inner.get_user(id.clone()).await;
        self.tag.line(format!(
            "clerk   users.get {id} = {}",
            res(&r, |u| u.public_metadata.to_string())
        ));
        r
    }

    async fn update_user_metadata(
        &self,
        id: String,
        public_metadata: Option<serde_json::Value>,
        private_metadata: Option<serde_json::Value>,
    ) -> Result<ClerkUser, ClerkError> {
        let patch = format!("{public_metadata:?}");
        let r = self
            .inner
            .update_user_metadata(id.clone(), public_metadata, private_metadata)
            .await;
        self.tag.line(format!(
            "clerk   users.update_metadata {id} {patch} = {}",
            res(&r, |_| "ok".into())
        ));
        r
    }

    async fn create_organization(&self, mut params: OrgCreate) -> Result<ClerkOrg, ClerkError> {
        if self.tag.tweaks.drop_slug {
            params.slug = None;
        }
        let slug = params.slug.clone();
        let r = self.inner.create_organization(params).await;
        self.tag.line(format!(
            "clerk   organizations.create slug={slug:?} = {}",
            res(&r, |o| o.id.clone())
        ));
        r
    }

    async fn get_organization(&self, id_or_slug: String) -> Result<Option<ClerkOrg>, ClerkError> {
        let r = self.inner.get_organization(id_or_slug.clone()).await;
        self.tag.line(format!(
            "clerk   organizations.get {id_or_slug} = {}",
            res(&r, |o| format!("{:?}", o.as_ref().map(|o| &o.id)))
        ));
        r
    }

    async fn delete_organization(&self, id: String) -> Result<(), ClerkError> {
        let r = self.inner.delete_organization(id.clone()).await;
        self.tag.line(format!(
            "clerk   organizations.delete {id} = {}",
            res(&r, |_| "ok".into())
        ));
        r
    }

    async fn list_user_organizations(&self, user_id: String) -> Result<Vec<ClerkOrg>, ClerkError> {
        let r = self.inner.list_user_organizations(user_id.clone()).await;
        self.tag.line(format!(
            "clerk   users.organization_memberships {user_id} = {}",
            res(&r, |v| format!(
                "{:?}",
                v.iter().map(|o| &o.id).collect::<Vec<_>>()
            ))
        ));
        r
    }

    fn verify_webhook(
        &self,
        svix_id: &str,
        svix_timestamp: &str,
        svix_signature: &str,
        payload: &[u8],
    ) -> Result<ClerkEvent, String> {
        let r = self
            .inner
            .verify_webhook(svix_id, svix_timestamp, svix_signature, payload);
        self.tag.line(format!(
            "clerk   webhook verified = {}",
            res(&r, |e| format!("{} {}", e.event_type, e.svix_id))
        ));
        r
    }
}

impl<'a, D: Db> Db for TDb<'a, D> {
    type Conn = TConn<'a, D::Conn>;

    async fn connect(&self) -> Result<Self::Conn, DbError> {
        let inner = self.inner.connect().await?;
        Ok(TConn { inner, tag: self.tag })
    }
}

impl<C: DbConn> DbConn for TConn<'_, C> {
    async fn execute(&mut self, stmt: Stmt) -> Result<Outcome, DbError> {
        let text = stmt.to_string();
        let r = self.inner.execute(stmt).await;
        self.tag.line(format!(
            "db      {text} = {}",
            res(&r, |o| format!(
                "{} row(s), {} affected",
                o.rows.len(),
                o.affected
            ))
        ));
        r
    }
}

impl<'a, E: Env> Env for Traced<'a, E> {
    type Stripe = TStripe<'a, E::Stripe>;
    type Clerk = TClerk<'a, E::Clerk>;
    type Db = TDb<'a, E::Db>;

    fn stripe(&self) -> &Self::Stripe {
        &self.stripe
    }
    fn clerk(&self) -> &Self::Clerk {
        &self.clerk
    }
    fn db(&self) -> &Self::Db {
        &self.db
    }
    fn now(&self) -> SimTime {
        self.inner.now()
    }
    async fn sleep(&self, duration: Duration) {
        self.tag
            .line(format!("sleep   {} ms (yields)", duration.as_millis()));
        self.inner.sleep(duration).await;
    }
    fn replica(&self) -> &str {
        self.inner.replica()
    }
    fn memory(&self) -> &ProcessMemory {
        self.inner.memory()
    }
    fn rng(&self) -> &racehound::app::api::EnvRng {
        self.inner.rng()
    }
    fn note(&self, text: &str) {
        self.tag.line(format!("note    {text}"));
        self.inner.note(text);
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies written for the models.
// ---------------------------------------------------------------------------------------------

/// `reference`, deliberately broken by a [`Tweaks`] applied to everything it sends: the same
/// reference code, minus one of its guarantees. A model that cannot fail proves nothing.
#[derive(Debug, Clone, Copy)]
struct BrokenReference {
    id: &'static str,
    tweaks: Tweaks,
}

impl AppLogic for BrokenReference {
    fn id(&self) -> &str {
        self.id
    }

    fn schema(&self) -> Vec<TableSchema> {
        Reference.schema()
    }

    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
        Reference.seed_rows(users)
    }

    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        let tag = Tag {
            label: "",
            log: None,
            tweaks: self.tweaks,
        };
        Reference.handle(&Traced::new(env, tag), call).await
    }
}

/// The endpoint seed 002's idempotency rows are stored under.
const SEED002_ENDPOINT: &str = "POST /api/orgs/create";

/// Polls a request makes while another request holds its idempotency key.
const SEED002_WAIT_POLLS_MAX: u32 = 10;

/// Seed 002, item 1 ("Idempotency Key Pattern"): the `idempotency_keys` table logic, written
/// here for the same-key model because the catalogue's `orgs.idempotency_table` derives a fresh
/// key per attempt (a different race). Both requests carry the same client-generated key
/// ([`seed002_key`]: what a client sends from two tabs or on a retry).
///
/// - `guarded: false` — the seed's "check if key exists; if not, proceed with operation and
///   store result": `SELECT` the key, create the Clerk org, then store the answer. Two
///   requests with the same key both miss and both create.
/// - `guarded: true` — claim first: `INSERT … (state 'pending') ON CONFLICT DO NOTHING`; only
///   the request whose insert affected a row creates the org and stores the answer; the other
///   polls the row for the stored answer (bounded; 409 "in progress" when it gives up).
#[derive(Debug, Clone, Copy)]
struct IdempotencyTable {
    guarded: bool,
}

/// The key both requests of the seed-002 model send.
fn seed002_key(user_id: &str, plan: &str) -> String {
    format!("client-key:{user_id}:{plan}")
}

fn idempotency_keys_table() -> TableSchema {
    TableSchema::new("idempotency_keys")
        .column("key", ColumnType::Text)
        .column("endpoint", ColumnType::Text)
        .column("state", ColumnType::Text)
        .nullable("response_body", ColumnType::Text)
        .primary_key(&["key"])
}

fn org_reply(org_id: &str) -> AppReply {
    AppReply::ok(serde_json::json!({ "org_id": org_id }))
}

async fn seed002_create_org<E: Env>(
    env: &E,
    user_id: &str,
    plan: &str,
    guarded: bool,
) -> Result<AppReply, String> {
    let key = seed002_key(user_id, plan);
    let stored_answer = |outcome: &Outcome| {
        outcome
            .rows
            .first()
            .and_then(|row| text_col(row, "response_body"))
    };
    let mut conn = env.db().connect().await.map_err(|e| e.to_string())?;
    let select = || Stmt::select("idempotency_keys").eq("key", key.as_str());
    if guarded {
        let claim = Stmt::insert(
            "idempotency_keys",
            &[
                ("key", key.as_str().into()),
                ("endpoint", SEED002_ENDPOINT.into()),
                ("state", "pending".into()),
            ],
        )
        .on_conflict_do_nothing(&["key"]);
        let claimed = conn.execute(claim).await.map_err(|e| e.to_string())?;
        if claimed.affected == 0 {
            for _poll in 0..SEED002_WAIT_POLLS_MAX {
                let row = conn.execute(select()).await.map_err(|e| e.to_string())?;
                if let Some(org_id) = stored_answer(&row) {
                    return Ok(org_reply(&org_id));
                }
                env.sleep(Duration::from_millis(50)).await;
            }
            return Ok(AppReply::error(
                409,
                "a request with this idempotency key is in progress (hint: retry later)",
            ));
        }
    } else {
        let row = conn.execute(select()).await.map_err(|e| e.to_string())?;
        if let Some(org_id) = stored_answer(&row) {
            return Ok(org_reply(&org_id));
        }
    }
    let org = env
        .clerk()
        .create_organization(team_org_params(user_id, plan, None))
        .await
        .map_err(|e| e.to_string())?;
    let store = if guarded {
        Stmt::update(
            "idempotency_keys",
            &[
                ("state", "done".into()),
                ("response_body", org.id.as_str().into()),
            ],
        )
        .eq("key", key.as_str())
    } else {
        Stmt::insert(
            "idempotency_keys",
            &[
                ("key", key.as_str().into()),
                ("endpoint", SEED002_ENDPOINT.into()),
                ("state", "done".into()),
                ("response_body", org.id.as_str().into()),
            ],
        )
        .on_conflict_do_nothing(&["key"])
    };
    conn.execute(store).await.map_err(|e| e.to_string())?;
    Ok(org_reply(&org.id))
}

impl AppLogic for IdempotencyTable {
    fn id(&self) -> &str {
        if self.guarded {
            "seed002.table_claim_first"
        } else {
            "seed002.table_check_then_insert"
        }
    }

    fn schema(&self) -> Vec<TableSchema> {
        vec![idempotency_keys_table()]
    }

    fn seed_rows(&self, _users: &[UserSpec]) -> Vec<Stmt> {
        Vec::new()
    }

    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        match call {
            AppCall::CreateTeamOrg { user_id, plan } => {
                seed002_create_org(env, &user_id, &plan, self.guarded)
                    .await
                    .unwrap_or_else(|why| AppReply::error(500, why))
            }
            other => AppReply::error(404, format!("not served by this model: {other:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The harness.
// ---------------------------------------------------------------------------------------------

/// What a concurrent call is, for the oracle's trace-derived inputs.
#[derive(Debug, Clone)]
enum Role {
    /// A browser request.
    Browser,
    /// A webhook delivery (redelivered on non-2xx after the race, like the sender would).
    Webhook {
        service: Service,
        event_id: String,
        event_type: String,
    },
    /// A request carrying an idempotency key (its 2xx answers feed `idempotent_replay`).
    Keyed { key: String },
}

/// One thread of a model.
#[derive(Debug, Clone)]
struct Actor {
    label: &'static str,
    replica: &'static str,
    call: AppCall,
    role: Role,
}

/// A model: a prepared world, an app, 2 concurrent calls, and what the oracle needs to know.
struct Model<A: AppLogic> {
    name: String,
    app: A,
    prepared: Prepared,
    actors: Vec<Actor>,
    team_plans: Vec<(String, String)>,
    /// A call both threads must make for the race to be reached (part of a trace line).
    contested: &'static str,
}

/// One execution's result.
#[derive(Debug, Clone)]
struct Execution {
    violations: Vec<Violation>,
    /// Whether both racing threads made the contested call.
    raced: bool,
    server_errors: Vec<String>,
    trace: Vec<String>,
}

/// What a whole exploration found.
#[derive(Debug)]
struct Verdict {
    iterations: usize,
    /// Interleavings in which both threads made the contested call.
    raced: usize,
    failing: usize,
    first_failure: Option<Execution>,
    invariants: Vec<String>,
    server_errors: Vec<String>,
    elapsed: Duration,
}

fn preemption_bound() -> usize {
    std::env::var("LOOM_MAX_PREEMPTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PREEMPTIONS_DEFAULT)
}

/// The `Always` invariants over the history of Stripe customers: Stripe's event log is
/// replayed and the oracle is asked about the live customers after every creation.
fn customer_history_violations(
    users: &[UserSpec],
    events: &[racehound::fakes::stripe::Event],
) -> Vec<Violation> {
    let mut live: BTreeMap<String, CustomerView> = BTreeMap::new();
    let mut found = Vec::new();
    for event in events {
        let id = event
            .object
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        match event.event_type.as_str() {
            "customer.created" => {
                let metadata = event
                    .object
                    .get("metadata")
                    .and_then(|m| m.as_object())
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                let email = event
                    .object
                    .get("email")
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                live.insert(
                    id.clone(),
                    CustomerView {
                        id,
                        email,
                        metadata,
                        deleted: false,
                    },
                );
            }
            "customer.deleted" => {
                live.remove(&id);
                continue;
            }
            _ => continue,
        }
        let view = WorldView {
            users: users.to_vec(),
            customers: live.values().cloned().collect(),
            ..Default::default()
        };
        for mut violation in check(&builtin_invariants(), &view, Phase::Always) {
            violation.message = format!("{} (after Stripe event {}, history)", violation.message, event.id);
            found.push(violation);
        }
    }
    found
}

fn is_success(reply: &AppReply) -> bool {
    (200..300).contains(&reply.status)
}

/// Runs one execution of `model` (inside loom).
fn execute<A: AppLogic + Clone>(model: &'static Model<A>) -> Execution {
    let shared = Shared::new(&model.prepared, Arc::new(ManualClock::new(SimTime::EPOCH)));
    let log: Arc<Log> = Arc::new(Log::new(Vec::new()));
    let handles: Vec<_> = model
        .actors
        .iter()
        .map(|actor| {
            let shared = shared.clone();
            let log = log.clone();
            loom::thread::spawn(move || {
                let env = InProcEnv::new(&shared, &model.prepared, actor.replica);
                let tag = Tag {
                    label: actor.label,
                    log: Some(&log),
                    tweaks: Tweaks::default(),
                };
                let reply = racehound::inproc::block_on(
                    model.app.handle(&Traced::new(&env, tag), actor.call.clone()),
                );
                tag.line(format!("reply   {} {}", reply.status, reply.body));
                reply
            })
        })
        .collect();
    let replies: Vec<AppReply> = handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| AppReply::error(599, "thread panicked"))
        })
        .collect();

    // After the race, alone on the main thread: webhook senders redeliver what failed.
    let sender = InProcEnv::new(&shared, &model.prepared, "app-1");
    let mut deliveries = Vec::new();
    let mut responses = Vec::new();
    let mut server_errors = Vec::new();
    for (actor, first) in model.actors.iter().zip(&replies) {
        match &actor.role {
            Role::Webhook {
                service,
                event_id,
                event_type,
            } => {
                let mut attempts = 1;
                let mut delivered = is_success(first);
                while !delivered && attempts <= REDELIVERIES_MAX {
                    let tag = Tag {
                        label: "sender (redelivery)",
                        log: Some(&log),
                        tweaks: Tweaks::default(),
                    };
                    let reply = racehound::inproc::block_on(
                        model.app.handle(&Traced::new(&sender, tag), actor.call.clone()),
                    );
                    tag.line(format!("reply   {} {} to {event_id}", reply.status, reply.body));
                    attempts += 1;
                    delivered = is_success(&reply);
                }
                deliveries.push(DeliveryView {
                    service: *service,
                    event_id: event_id.clone(),
                    event_type: event_type.clone(),
                    attempts,
                    delivered,
                    given_up: !delivered,
                    attempts_without_faults: attempts,
                });
            }
            Role::Keyed { key } => {
                if let Some(org) = first
                    .body
                    .get("org_id")
                    .and_then(|v| v.as_str())
                    .filter(|_| is_success(first))
                {
                    responses.push(IdempotentResponseView {
                        key: key.clone(),
                        endpoint: SEED002_ENDPOINT.to_string(),
                        object_id: org.to_string(),
                        created: None,
                    });
                }
            }
            Role::Browser => {}
        }
        if first.status >= 500 && matches!(actor.role, Role::Browser | Role::Keyed { .. }) {
            server_errors.push(format!("{}: {} {}", actor.label, first.status, first.body));
        }
    }
    drop(sender);

    let stripe = shared.stripe.lock();
    let mut view = view_from_snapshots(
        &model.prepared.users,
        &stripe.snapshot(),
        &shared.clerk.lock().snapshot(),
        &shared.db.lock().snapshot(),
        &model.app.schema(),
    );
    view.team_plans = model.team_plans.clone();
    view.deliveries = deliveries;
    view.idempotent_responses = responses;
    let mut violations = check(&builtin_invariants(), &view, Phase::Quiescence);
    violations.extend(customer_history_violations(
        &model.prepared.users,
        stripe.events(),
    ));
    drop(stripe);
    violations.sort();
    violations.dedup_by(|a, b| a.invariant == b.invariant && a.objects == b.objects);
    let trace = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let callers: std::collections::BTreeSet<&str> = trace
        .iter()
        .filter(|line| line.contains(model.contested))
        .filter_map(|line| {
            model
                .actors
                .iter()
                .find(|a| line.starts_with(a.label))
                .map(|a| a.label)
        })
        .collect();
    let raced = callers.len() == model.actors.len();
    Execution {
        violations,
        raced,
        server_errors,
        trace,
    }
}

/// Counters of one exploration.
#[derive(Debug, Default)]
struct Stats {
    iterations: usize,
    raced: usize,
    failing: usize,
    first_failure: Option<Execution>,
    invariants: Vec<String>,
    server_errors: Vec<String>,
}

/// This process's CPU time (user + system) from `/proc/self/stat`, when readable: on a
/// shared machine the wall time says more about the neighbours than about the model.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks.saturating_mul(10)))
}

/// Explores every interleaving of `model` up to the preemption bound and collects failures.
fn explore<A: AppLogic + Clone>(model: Model<A>) -> Verdict {
    let model: &'static Model<A> = Box::leak(Box::new(model));
    let stats: &'static std::sync::Mutex<Stats> = Box::leak(Box::default());
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemption_bound());
    builder.max_branches = 100_000;
    let started = Instant::now();
    let cpu_before = cpu_time();
    builder.check(move || {
        let execution = execute(model);
        let mut stats = stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.iterations += 1;
        stats.raced += usize::from(execution.raced);
        for error in &execution.server_errors {
            if !stats.server_errors.contains(error) {
                stats.server_errors.push(error.clone());
            }
        }
        if !execution.violations.is_empty() {
            stats.failing += 1;
            for v in &execution.violations {
                if !stats.invariants.contains(&v.invariant) {
                    stats.invariants.push(v.invariant.clone());
                }
            }
            if stats.first_failure.is_none() {
                stats.first_failure = Some(execution);
            }
        }
    });
    let elapsed = started.elapsed();
    let cpu = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let stats = stats.lock().unwrap_or_else(|p| p.into_inner());
    let verdict = Verdict {
        iterations: stats.iterations,
        raced: stats.raced,
        failing: stats.failing,
        first_failure: stats.first_failure.clone(),
        invariants: stats.invariants.clone(),
        server_errors: stats.server_errors.clone(),
        elapsed,
    };
    println!(
        "LOOM-MODEL {:<58} preemptions={} iterations={} raced={} failing={} wall={:.2}s cpu={} invariants={:?}",
        model.name,
        preemption_bound(),
        verdict.iterations,
        verdict.raced,
        verdict.failing,
        verdict.elapsed.as_secs_f64(),
        cpu.map_or("?".to_string(), |d| format!("{:.2}s", d.as_secs_f64())),
        verdict.invariants
    );
    if let Some(failure) = &verdict.first_failure {
        println!(
            "  first failing interleaving of {} ({} steps):",
            model.name,
            failure.trace.len()
        );
        for (n, line) in failure.trace.iter().enumerate() {
            println!("  {:>3}. {line}", n + 1);
        }
        for v in &failure.violations {
            println!("  VIOLATION {v}");
        }
    }
    verdict
}

fn expect_fails(verdict: &Verdict, invariant: &str) {
    assert!(verdict.raced > 0, "the race was never reached");
    assert!(
        verdict.failing > 0,
        "loom explored {} interleavings and found none that breaks {invariant}",
        verdict.iterations
    );
    assert!(
        verdict.invariants.iter().any(|i| i == invariant),
        "expected {invariant}, found {:?}",
        verdict.invariants
    );
}

fn expect_passes(verdict: &Verdict) {
    let failure = verdict.first_failure.as_ref().map(|f| (&f.violations, &f.trace));
    assert_eq!(
        verdict.failing, 0,
        "{} of {} interleavings fail: {failure:#?}",
        verdict.failing, verdict.iterations
    );
    assert_eq!(
        verdict.server_errors,
        Vec::<String>::new(),
        "a browser call answered 5xx"
    );
    assert!(verdict.iterations > 1, "the model explored only one interleaving");
    assert!(
        verdict.raced > 0,
        "no interleaving had both threads make the contested call: the race was never reached"
    );
}

// ---------------------------------------------------------------------------------------------
// Worlds.
// ---------------------------------------------------------------------------------------------

fn world<A: AppLogic>(seed: u64, app: &A) -> Prepared {
    prepare(seed, app, 1, SimTime::EPOCH).expect("world setup")
}

/// Seed 004: `checkout` ∥ `apply_coupon` for one user, on two replicas.
fn coupon_race<A: AppLogic + Clone>(app: A) -> Model<A> {
    let prepared = world(4, &app);
    let user = prepared.users[0].user_id.clone();
    let price = prepared.price_id.clone();
    Model {
        name: format!("seed004 checkout || apply_coupon [{}]", app.id()),
        actors: vec![
            Actor {
                label: "T1 checkout",
                replica: "app-1",
                call: AppCall::Checkout {
                    user_id: user.clone(),
                    price: price.clone(),
                    promotion_code: None,
                },
                role: Role::Browser,
            },
            Actor {
                label: "T2 apply_coupon",
                replica: "app-2",
                call: AppCall::ApplyCoupon {
                    user_id: user,
                    price,
                    promotion_code: COUPON_ID.into(),
                },
                role: Role::Browser,
            },
        ],
        team_plans: Vec::new(),
        contested: "→ customers.create",
        app,
        prepared,
    }
}

/// The plan of the team org in seeds 000 and 002.
const TEAM_PLAN: &str = "team";

/// Seed 000: `create_team_org` endpoint ∥ Clerk Billing's `subscription.created` webhook.
fn team_org_race<A: AppLogic + Clone>(app: A) -> Model<A> {
    let mut prepared = world(0, &app);
    let user = prepared.users[0].user_id.clone();
    prepared
        .clerk
        .create_billing_subscription(SimTime::EPOCH, BillingPayerRef::User(user.clone()), TEAM_PLAN)
        .expect("billing subscription");
    let event = prepared
        .clerk
        .drain_new_events()
        .into_iter()
        .find(|e| e.event_type == "subscription.created")
        .expect("subscription.created emitted");
    let headers = event.svix_headers(&prepared.clerk_webhook_secret, SimTime::EPOCH.unix_secs());
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect("svix header")
    };
    let webhook = AppCall::ClerkWebhook {
        svix_id: header("svix-id"),
        svix_timestamp: header("svix-timestamp"),
        svix_signature: header("svix-signature"),
        payload: event.payload_bytes(),
    };
    Model {
        name: format!("seed000 create_team_org || subscription.created [{}]", app.id()),
        actors: vec![
            Actor {
                label: "T1 create_team_org",
                replica: "app-1",
                call: AppCall::CreateTeamOrg {
                    user_id: user.clone(),
                    plan: TEAM_PLAN.into(),
                },
                role: Role::Browser,
            },
            Actor {
                label: "T2 clerk webhook",
                replica: "app-2",
                call: webhook,
                role: Role::Webhook {
                    service: Service::Clerk,
                    event_id: event.id.clone(),
                    event_type: event.event_type.clone(),
                },
            },
        ],
        team_plans: vec![(user, TEAM_PLAN.into())],
        contested: "organizations.create",
        app,
        prepared,
    }
}

fn stripe_post(prepared: &mut Prepared, path: &str, pairs: &[(&str, &str)]) -> serde_json::Value {
    let request = HttpRequest::new(Method::Post, path)
        .with_header("Authorization", "Bearer sk_test_racehound")
        .with_header("Content-Type", "application/x-www-form-urlencoded")
        .with_body(racehound::fakes::stripe::wire::encode_form(pairs));
    let response = prepared.stripe.handle(SimTime::EPOCH, &request);
    assert!(
        response.is_success(),
        "{path}: {}",
        String::from_utf8_lossy(&response.body)
    );
    response.body_json()
}

/// Seed 003: `customer.created` ∥ `checkout.session.completed` for one customer.
fn webhook_race<A: AppLogic + Clone>(app: A) -> Model<A> {
    let mut prepared = world(3, &app);
    let user = prepared.users[0].clone();
    let price = prepared.price_id.clone();
    let customer = stripe_post(
        &mut prepared,
        "/v1/customers",
        &[("email", &user.email), ("metadata[user_id]", &user.user_id)],
    );
    let customer_id = customer["id"].as_str().expect("customer id").to_string();
    let session = stripe_post(
        &mut prepared,
        "/v1/checkout/sessions",
        &[
            ("mode", "subscription"),
            ("customer", &customer_id),
            ("client_reference_id", &user.user_id),
            ("line_items[0][price]", &price),
            ("line_items[0][quantity]", "1"),
            ("success_url", "http://app/success"),
        ],
    );
    let session_id = session["id"].as_str().expect("session id").to_string();
    let completed = prepared
        .stripe
        .complete_checkout_session(SimTime::EPOCH, &session_id);
    assert!(
        completed.is_success(),
        "{}",
        String::from_utf8_lossy(&completed.body)
    );
    let events = prepared.stripe.drain_new_events();
    let secret = prepared.stripe_webhook_secret.clone();
    let mut actors = Vec::new();
    for (label, replica, event_type) in [
        ("T1 customer.created", "app-1", "customer.created"),
        ("T2 session.completed", "app-2", "checkout.session.completed"),
    ] {
        let event = events
            .iter()
            .find(|e| e.event_type == event_type)
            .unwrap_or_else(|| panic!("{event_type} emitted"));
        let payload = event.payload();
        actors.push(Actor {
            label,
            replica,
            call: AppCall::StripeWebhook {
                signature: sign_header(&secret, SimTime::EPOCH.unix_secs(), &payload),
                payload,
            },
            role: Role::Webhook {
                service: Service::Stripe,
                event_id: event.id.clone(),
                event_type: event.event_type.clone(),
            },
        });
    }
    Model {
        name: format!("seed003 two webhooks, one customer [{}]", app.id()),
        actors,
        team_plans: Vec::new(),
        contested: "INSERT INTO stripe_customers",
        app,
        prepared,
    }
}

/// Seed 002: two requests with the same idempotency key (two tabs, or a retry).
fn same_key_race(app: IdempotencyTable) -> Model<IdempotencyTable> {
    let prepared = world(2, &app);
    let user = prepared.users[0].user_id.clone();
    let actor = |label: &'static str, replica: &'static str| Actor {
        label,
        replica,
        call: AppCall::CreateTeamOrg {
            user_id: user.clone(),
            plan: TEAM_PLAN.into(),
        },
        role: Role::Keyed {
            key: seed002_key(&user, TEAM_PLAN),
        },
    };
    Model {
        name: format!("seed002 same idempotency key twice [{}]", app.id()),
        actors: vec![actor("T1 tab 1", "app-1"), actor("T2 tab 2", "app-2")],
        team_plans: vec![(user.clone(), TEAM_PLAN.into())],
        contested: "INSERT INTO idempotency_keys",
        app,
        prepared,
    }
}

fn strategy(id: &str) -> racehound::app::strategies::registry::AnyStrategy {
    by_id(id).unwrap_or_else(|| panic!("{id} is in the catalogue"))
}

// ---------------------------------------------------------------------------------------------
// The models.
// ---------------------------------------------------------------------------------------------

#[test]
fn seed004_checkout_naive_duplicates_the_customer() {
    expect_fails(
        &explore(coupon_race(strategy("checkout.naive"))),
        "no_duplicate_customers",
    );
}

#[test]
fn seed004_checkout_transaction_duplicates_the_customer() {
    expect_fails(
        &explore(coupon_race(strategy("checkout.transaction"))),
        "no_duplicate_customers",
    );
}

#[test]
fn seed004_reference_keeps_one_customer_in_every_interleaving() {
    expect_passes(&explore(coupon_race(strategy("reference"))));
}

#[test]
fn seed004_reference_without_idempotency_key_is_caught() {
    let broken = BrokenReference {
        id: "reference-without-idempotency-key",
        tweaks: Tweaks {
            drop_idempotency_key: true,
            ..Tweaks::default()
        },
    };
    expect_fails(&explore(coupon_race(broken)), "no_duplicate_customers");
}

#[test]
fn seed000_org_check_then_create_duplicates_the_org() {
    expect_fails(
        &explore(team_org_race(strategy("org.check_then_create"))),
        "no_duplicate_orgs",
    );
}

#[test]
fn seed000_org_metadata_flag_duplicates_the_org() {
    expect_fails(
        &explore(team_org_race(strategy("org.metadata_flag"))),
        "no_duplicate_orgs",
    );
}

#[test]
fn seed000_reference_keeps_one_org_in_every_interleaving() {
    expect_passes(&explore(team_org_race(strategy("reference"))));
}

#[test]
fn seed000_reference_without_slug_is_caught() {
    let broken = BrokenReference {
        id: "reference-without-slug",
        tweaks: Tweaks {
            drop_slug: true,
            ..Tweaks::default()
        },
    };
    expect_fails(&explore(team_org_race(broken)), "no_duplicate_orgs");
}

#[test]
fn seed003_webhook_insert_rethrow_storms() {
    expect_fails(
        &explore(webhook_race(strategy("webhook.insert_rethrow"))),
        "bounded_redelivery",
    );
}

#[test]
fn seed003_webhook_idempotent_upsert_passes_every_interleaving() {
    expect_passes(&explore(webhook_race(strategy("webhook.idempotent_upsert"))));
}

#[test]
fn seed002_unguarded_table_runs_the_same_key_twice() {
    expect_fails(
        &explore(same_key_race(IdempotencyTable { guarded: false })),
        "no_duplicate_orgs",
    );
}

#[test]
fn seed002_claim_first_table_passes_every_interleaving() {
    expect_passes(&explore(same_key_race(IdempotencyTable { guarded: true })));
}
