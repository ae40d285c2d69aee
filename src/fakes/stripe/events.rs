//! Events: `GET /v1/events` (newest first, optional `type` filter) and `GET /v1/events/{id}`.
//!
//! Events are recorded by [`super::core::Core::emit`] as mutations happen; the runtime takes
//! the new ones with `Stripe::drain_new_events` to deliver them to webhook endpoints.

use serde_json::Value;

use super::core::Core;
use super::state::Event;
use super::wire::{self, list_json, ApiError, Params};

/// Parses `GET /v1/events`.
pub fn parse_list(params: &Params) -> Result<(Option<String>, usize), ApiError> {
    params.check_allowed(&["type", "limit", "expand[#]"])?;
    Ok((params.string("type")?, wire::limit(params)?))
}

/// `GET /v1/events`: newest first; `type` may end in `*` (`customer.*`).
pub fn list(core: &Core, event_type: Option<&str>, limit: usize) -> Value {
    let matches = |e: &&Event| match event_type {
        None => true,
        Some(t) => match t.strip_suffix('*') {
            Some(prefix) => e.event_type.starts_with(prefix),
            None => e.event_type == t,
        },
    };
    let hits: Vec<&Event> = core.objects.events.iter().rev().filter(matches).collect();
    let has_more = hits.len() > limit;
    let data = hits.into_iter().take(limit).map(Event::to_json).collect();
    list_json("/v1/events", data, has_more)
}

/// `GET /v1/events/{id}`.
pub fn retrieve(core: &Core, id: &str) -> Result<Value, ApiError> {
    core.objects
        .events
        .iter()
        .find(|e| e.id == id)
        .map(Event::to_json)
        .ok_or_else(|| ApiError::no_such("event", id, "id"))
}
