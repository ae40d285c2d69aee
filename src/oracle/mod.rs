//! The oracle: every invariant of BRIEF.md as a plain function over a [`WorldView`].
//!
//! A [`WorldView`] is a runtime-neutral snapshot of Stripe, Clerk and the database plus what
//! the trace says about webhook deliveries and idempotent responses. The turmoil world, the
//! loom models and the real-PostgreSQL tests all build one and ask the same [`Invariant`]s.
//! The oracle never calls the app.
//!
//! Invariants are checked in one of two [`Phase`]s: `Always` (after any state change: a
//! violation can never be repaired later) and `Quiescence` (when clients are done, webhooks
//! delivered or given up, and `reconcile` has run).

mod builtin;
pub mod from_fakes;
mod view;
pub mod witness;

pub use builtin::{builtin_invariants, not_applicable};
pub use view::{
    AnsweredCall, CheckoutSessionView, CustomerView, DeliveryView, IdempotentResponseView, OrgView, Service,
    SubscriptionView, WorldView,
};
pub use witness::{builtin_witnesses, Witness};

/// When an invariant is meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    /// After every state change.
    Always,
    /// Only once the world is quiet.
    Quiescence,
}

/// A named check over a [`WorldView`].
#[derive(Clone)]
pub struct Invariant {
    /// Stable name, e.g. `no_duplicate_customers`.
    pub name: &'static str,
    /// When it applies.
    pub phase: Phase,
    /// One sentence on what it demands.
    pub description: &'static str,
    /// The check: every violation found (empty when it holds).
    pub check: fn(&WorldView) -> Vec<Violation>,
}

impl Invariant {
    /// An invariant checked after every state change: a violation can never be repaired.
    ///
    /// `check` returns every violation it finds (empty when the invariant holds); a
    /// violation whose `invariant` is empty is named after this invariant.
    pub fn always(
        name: &'static str,
        description: &'static str,
        check: fn(&WorldView) -> Vec<Violation>,
    ) -> Self {
        Self {
            name,
            phase: Phase::Always,
            description,
            check,
        }
    }

    /// An invariant checked once the world is quiet (clients done, webhooks settled,
    /// `reconcile` run): for states that are allowed while work is in flight.
    pub fn at_quiescence(
        name: &'static str,
        description: &'static str,
        check: fn(&WorldView) -> Vec<Violation>,
    ) -> Self {
        Self {
            name,
            phase: Phase::Quiescence,
            description,
            check,
        }
    }
}

impl std::fmt::Debug for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invariant")
            .field("name", &self.name)
            .field("phase", &self.phase)
            .finish()
    }
}

/// One broken invariant: which, the objects involved, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// The invariant's name.
    pub invariant: String,
    /// The offending objects' ids (customers, orgs, events, rows).
    pub objects: Vec<String>,
    /// A sentence a person can read.
    pub message: String,
}

impl Violation {
    /// A violation with this message; the invariant that returns it fills in its name.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            invariant: String::new(),
            objects: Vec::new(),
            message: message.into(),
        }
    }

    /// The same violation naming the offending objects (customer, org, event or row ids).
    pub fn objects<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.objects = ids.into_iter().map(Into::into).collect();
        self
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} [{}]",
            self.invariant,
            self.message,
            self.objects.join(", ")
        )
    }
}

/// Runs every invariant of `phase` (and, at quiescence, the `Always` ones too).
pub fn check(invariants: &[Invariant], view: &WorldView, phase: Phase) -> Vec<Violation> {
    let mut found: Vec<Violation> = invariants
        .iter()
        .filter(|inv| inv.phase == Phase::Always || phase == Phase::Quiescence)
        .flat_map(|inv| {
            (inv.check)(view).into_iter().map(|mut v| {
                if v.invariant.is_empty() {
                    v.invariant = inv.name.to_string();
                }
                v
            })
        })
        .collect();
    found.sort();
    found.dedup();
    found
}
