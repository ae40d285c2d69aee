//! racehound: a deterministic concurrency simulator and test harness for the signup,
//! checkout, coupon and webhook races that duplicate Stripe customers and Clerk
//! organizations.
//!
//! racehound plays your app's flow code — several browser tabs, several app replicas — against
//! a fake Stripe, a fake Clerk and a simulated PostgreSQL inside one deterministic world, over a
//! network that delays, drops and repeats things. An oracle checks after every state change
//! that nothing is duplicated, orphaned or lost. A failing seed is shrunk to the smallest run
//! that still fails and printed with a replay token that reproduces it exactly.
//!
//! # Quick start: test your own checkout in a `#[test]`
//!
//! Write your route against racehound's [`StripeApi`], [`Db`] and [`Env`] traits by
//! implementing [`AppLogic`] (the built-in strategies and [`app::reference`] do the same),
//! describe the race with [`Scenario::builder`], and [`explore()`] it:
//!
//! ```
//! use std::collections::BTreeMap;
//! use racehound::prelude::*;
//! use racehound::serde_json::json;
//!
//! /// Our checkout route: reuse the user's Stripe customer, or create one and store it.
//! struct MyCheckout;
//!
//! impl AppLogic for MyCheckout {
//!     fn id(&self) -> &str {
//!         "acme.checkout"
//!     }
//!
//!     fn schema(&self) -> Vec<TableSchema> {
//!         vec![TableSchema::new("accounts")
//!             .column("user_id", ColumnType::Text)
//!             .nullable("stripe_customer_id", ColumnType::Text)
//!             .primary_key(&["user_id"])]
//!     }
//!
//!     fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
//!         users
//!             .iter()
//!             .map(|u| Stmt::insert("accounts", &[("user_id", u.user_id.as_str().into())]))
//!             .collect()
//!     }
//!
//!     async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
//!         let (AppCall::Checkout { user_id, .. } | AppCall::ApplyCoupon { user_id, .. }) = call else {
//!             return AppReply::ok(json!({ "ignored": true })); // webhooks, reconcile
//!         };
//!         let Ok(mut db) = env.db().connect().await else { return AppReply::error(503, "db") };
//!         let Ok(row) = db.execute(Stmt::select("accounts").eq("user_id", user_id.as_str())).await else {
//!             return AppReply::error(500, "select");
//!         };
//!         if let Some(id) = row.first("stripe_customer_id").and_then(Value::as_text) {
//!             return AppReply::ok(json!({ "customer": id }));
//!         }
//!         let params = CustomerCreate {
//!             metadata: BTreeMap::from([("user_id".to_string(), user_id.clone())]),
//!             ..Default::default()
//!         };
//!         let Ok(customer) = env.stripe().create_customer(params, None).await else {
//!             return AppReply::error(502, "stripe");
//!         };
//!         let store = Stmt::update("accounts", &[("stripe_customer_id", customer.id.as_str().into())])
//!             .eq("user_id", user_id.as_str());
//!         match db.execute(store).await {
//!             Ok(_) => AppReply::ok(json!({ "customer": customer.id })),
//!             Err(e) => AppReply::error(500, e.to_string()),
//!         }
//!     }
//! }
//!
//! // The checkout page fetches a session on mount, and again when a coupon is typed.
//! let scenario = Scenario::builder("acme.coupon_race")
//!     .replicas(2)
//!     .actor(1, [
//!         Step::new(Flow::Checkout),
//!         Step::new(Flow::ApplyCoupon).coupon("SAVE20").at_ms(0, 100),
//!     ])
//!     .seeds(50)
//!     .build();
//!
//! let report = racehound::explore(&scenario, MyCheckout);
//! // In your test you would write `report.assert_pass()` (or `racehound::check(&scenario, MyCheckout)`)
//! // and get the message below as the test failure. This check-then-create does race:
//! let counterexample = report.assert_fails("no_duplicate_customers");
//! println!("{report}"); // the violation, the replay token, the shrunk trace, the Mermaid diagram
//! assert!(counterexample.token.starts_with("rh1_"));
//! assert!(counterexample.mermaid().starts_with("sequenceDiagram"));
//!
//! // The token reruns exactly that run, with your code:
//! let again = racehound::replay(&counterexample.token, MyCheckout).unwrap();
//! assert!(again.breaks("no_duplicate_customers"));
//! ```
//!
//! # What else you can do
//!
//! - **Your own invariants**: a plain `fn(&WorldView) -> Vec<Violation>` over the snapshot of
//!   Stripe, Clerk and the database, checked after every change ([`Invariant::always`]) or once
//!   the world is quiet ([`Invariant::at_quiescence`]); add it with [`Explorer::invariant`].
//! - **More seeds, more threads**: [`Explorer::seeds`], [`Explorer::jobs`], or the
//!   `RACEHOUND_SEEDS` environment variable (like `PROPTEST_CASES`). The verdict does not
//!   depend on the number of threads.
//! - **Faults**: [`ScenarioBuilder::fault_rate`] (a seeded fault per run with some
//!   probability) and [`ScenarioBuilder::fault`] (an explicit one) — crashes, partitions,
//!   lost responses, 5xx/429, webhook duplicates and reorders, a 25 h clock jump.
//! - **Scenario files**: [`Scenario::load`] reads the TOML format of `docs/scenarios.md`.
//! - **One seed, the crash sweep**: [`Explorer::run_seed`] plays one seed of your strategy
//!   (the same input the sweep drew), [`Explorer::crash_sweep`] crashes the replica at every
//!   step of a flow and restarts it; [`Report::seeds_tried`] and [`Report::elapsed`] say what a
//!   pass covered.
//! - **Randomness**: code that would call `uuid()` or `Math.random()` draws from
//!   [`Env::rng`] instead, which derives from the seed, so the run still replays.
//! - **Variants of the reference**: [`kit`] holds the building blocks the reference and the
//!   catalogue share; a variant replaces one piece and hands every other call to
//!   [`app::reference::Reference`] (`examples/reference_variant.rs`, under 100 lines).
//! - **Replays**: [`replay`] (or [`Explorer::replay`], with your invariants) reruns a token
//!   with your strategy; [`replay_catalogue`] reruns one of racehound's own strategies, which is
//!   what `racehound replay` / `racehound explain` do ([`Counterexample::explain`] is the page).
//!   A token from another format version is refused with the version that made it; a replay
//!   that differs from the token's run (other [`WORLD_RULES_VERSION`], another trace hash)
//!   says so in [`Counterexample::warnings`].
//!
//! A complete example — a team's checkout with a subtle bug, the test that finds it, and the
//! fixed version passing — is `examples/idempotency_key.rs` (`cargo test --examples`).
//!
//! # Features
//!
//! `default-features = false` builds exploration only (about 76 crates instead of 189): the
//! world, the fakes, the oracle, the explorer, [`kit`] and the reference. The default features
//! add `cli` (the binary), `serve`, `pg`, `bench` and `fuzzing`; see the README's table.
//! Exploration runs many simulated worlds: in debug builds, optimise the dependencies with
//! `[profile.dev.package."*"] opt-level = 2` in your `Cargo.toml` (the README has the measured
//! effect).
//!
//! # Stability
//!
//! The user API is what the crate root re-exports, [`prelude`] and [`kit`] gather; replay tokens carry
//! [`TOKEN_FORMAT_VERSION`], pinned by a test. The modules (`app`, `explore`, `sim`, …) are
//! public for the `racehound` binary, its tests and tools, and may change in any release.
//!
//! See `README.md` for the CLI and `ARCHITECTURE.md` for the map.

pub mod app;
#[cfg(all(feature = "bench", not(racehound_loom)))]
pub mod bench;
#[cfg(not(racehound_loom))]
mod entry;
#[cfg(not(racehound_loom))]
pub mod explore;
pub mod fakes;
#[cfg(all(feature = "fuzzing", not(racehound_loom)))]
pub mod fuzz;
pub mod http;
pub mod ids;
#[cfg(test)]
mod import_rules;
pub mod inproc;
pub mod oracle;
#[cfg(all(feature = "pg", not(racehound_loom)))]
pub mod pg;
#[cfg(not(racehound_loom))]
pub mod prelude;
#[cfg(not(racehound_loom))]
pub mod report;
pub mod rng;
pub mod scenario;
#[cfg(all(feature = "serve", not(racehound_loom)))]
pub mod serve;
pub mod setup;
#[cfg(not(racehound_loom))]
pub mod sim;
pub mod sql;
pub mod sync;
pub mod time;
pub mod trace;
pub mod trigger;
pub mod vocabulary;
pub mod wire;

pub use app::api::{
    AppCall, AppLogic, AppReply, ClerkApi, ClerkError, ColumnType, CustomerCreate, Db, DbConn, DbError, Env,
    EnvRng, Outcome, ProcessMemory, Row, Stmt, StripeApi, StripeError, TableSchema, UserSpec, Value,
};
pub use app::kit;
#[cfg(not(racehound_loom))]
pub use entry::{
    check, explore, replay, replay_catalogue, Counterexample, Explorer, ReplayError, Report,
    CRASH_SWEEP_FLOWS, SEEDS_ENV,
};
#[cfg(not(racehound_loom))]
pub use explore::crash_sweep::{CrashFailure, CrashSweep};
#[cfg(not(racehound_loom))]
pub use explore::input::RunInput;
#[cfg(not(racehound_loom))]
pub use explore::token::{ReplayWarning, TokenError, TOKEN_FORMAT_VERSION, WORLD_RULES_VERSION};
#[cfg(not(racehound_loom))]
pub use explore::verdict::{Failure, Found, Verdict};
pub use oracle::{Invariant, Phase, Violation, Witness, WorldView};
pub use scenario::{FaultKind, Flow, PlannedFault, Scenario, ScenarioBuilder, Step};
/// The JSON crate that [`AppReply`] bodies and event payloads use.
pub use serde_json;
