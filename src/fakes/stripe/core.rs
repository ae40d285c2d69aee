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
