//! The mutable core every handler works on: the objects, the id generator, and event emission.

use serde_json::Value;

use super::state::{Event, Objects};
use super::StripeConfig;
use crate::ids::IdGen;
use crate::time::SimTime;

/// What a handler knows about the request it executes.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Simulated now.
    pub now: SimTime,
    /// `req_…` of this request (`None` for Stripe's own background work, e.g. expiry).
    pub request_id: Option<&'a str>,
    /// The request's idempotency key, if any.
    pub idempotency_key: Option<&'a str>,
    /// The fake's configuration.
    pub config: &'a StripeConfig,
}

impl Ctx<'_> {
    /// Now in unix seconds.
    pub fn now_secs(&self) -> u64 {
        self.now.unix_secs()
    }
}

/// Objects plus the generator of their ids.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Core {
    /// All objects.
    pub objects: Objects,
    /// Stream `"stripe"`.
    pub ids: IdGen,
    /// Checkout Sessions by expiry time, so expiring the due ones costs no scan of them all.
    #[serde(skip)]
    pub session_expiry: SessionExpiry,
}

/// The open Checkout Sessions in expiry order: an index of [`Objects::checkout_sessions`], not
/// state (not serialised, equal to any other; rebuilt from the sessions when it has fallen
/// behind them, as after a restore).
#[derive(Debug, Clone, Default)]
pub struct SessionExpiry {
    /// (expires_at, id) of every session indexed; closed ones are dropped when their time comes.
    due: std::collections::BTreeSet<(u64, String)>,
    /// How many sessions the index has seen (sessions are never deleted).
    indexed: usize,
}

impl PartialEq for SessionExpiry {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl SessionExpiry {
    /// Indexes a new session.
    pub fn add(&mut self, expires_at: u64, id: &str) {
        self.due.insert((expires_at, id.to_string()));
        self.indexed += 1;
    }

    /// The ids of sessions whose expiry time is at or before `now_secs`, removed from the index
    /// (open or not: the caller checks), after catching up with `sessions` if it fell behind.
    pub fn take_due(
        &mut self,
        now_secs: u64,
        sessions: &std::collections::BTreeMap<String, super::state::CheckoutSessionObject>,
    ) -> Vec<String> {
        if self.indexed != sessions.len() {
            self.due = sessions
                .values()
                .filter(|s| s.status == super::state::SessionStatus::Open)
                .map(|s| (s.expires_at, s.id.clone()))
                .collect();
            self.indexed = sessions.len();
        }
        let mut due = Vec::new();
        while let Some(first) = self.due.first() {
            if first.0 > now_secs {
                break;
            }
            if let Some((_, id)) = self.due.pop_first() {
                due.push(id);
            }
        }
        due
    }
}

impl Core {
    /// A fresh id with `prefix` (`cus`, `cs_test`, ...).
    pub fn id(&mut self, prefix: &str) -> String {
        self.ids.next(prefix)
    }

    /// Records an event of `event_type` about `object` (the full object JSON).
    pub fn emit(&mut self, ctx: &Ctx<'_>, event_type: &str, object: Value, previous: Option<Value>) {
        let id = self.id("evt");
        let seq = self.objects.seq();
        let pending_webhooks = self
            .objects
            .webhook_endpoints
            .values()
            .filter(|e| e.wants(event_type))
            .count() as u64;
        self.objects.events.push(Event {
            id,
            seq,
            created: ctx.now_secs(),
            event_type: event_type.to_string(),
            object,
            previous_attributes: previous,
            pending_webhooks,
            request_id: ctx.request_id.map(str::to_string),
            idempotency_key: ctx.idempotency_key.map(str::to_string),
        });
    }
}
