//! Everything a test that explores its own strategy needs: `use racehound::prelude::*;`.
//!
//! The traits to implement ([`AppLogic`]) and call ([`Env`], [`StripeApi`], [`ClerkApi`],
//! [`Db`], [`DbConn`]), the values they take and return, the scenario builder, the explorer
//! and its report, the oracle's types for custom invariants, and the [`Reference`] a variant
//! hands its other calls to (with its building blocks in [`kit`]). The functions
//! [`explore`](crate::explore()), [`check`](crate::check()) and [`replay`](crate::replay()) are
//! called by path (`racehound::explore(…)`) and are not in the prelude.

pub use crate::app::api::{
    AppCall, AppLogic, AppReply, CheckoutSession, CheckoutSessionCreate, ClerkApi, ClerkError, ClerkEvent,
    ClerkOrg, ClerkUser, ColumnType, Customer, CustomerCreate, Db, DbConn, DbError, Env, EnvRng, OrgCreate,
    Outcome, ProcessMemory, Row, SqlState, Stmt, StripeApi, StripeError, StripeEvent, Subscription,
    TableSchema, UserSpec, Value,
};
pub use crate::app::kit;
pub use crate::app::reference::Reference;
pub use crate::entry::{Counterexample, Explorer, ReplayError, Report};
pub use crate::explore::crash_sweep::{CrashFailure, CrashSweep};
pub use crate::explore::input::RunInput;
pub use crate::oracle::{Invariant, Phase, Violation, Witness, WorldView};
pub use crate::scenario::{FaultKind, Flow, PlannedFault, Scenario, ScenarioBuilder, Step};
pub use crate::sim::trace::{Trace, TraceEvent, TraceKind};
pub use crate::trigger::{Trigger, TriggerEvent};
pub use crate::vocabulary::{Service, TableMeanings};
