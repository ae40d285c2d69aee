//! Clerk webhook events: what the fake emits for Svix to deliver.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::svix;

/// One event Clerk emitted, ready to be delivered by a Svix dispatcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClerkEventRecord {
    /// The Svix message id (`msg_…`): the `svix-id` header, the same on every retry.
    pub id: String,
    /// The event type, e.g. `user.created`, `subscription.created`.
    pub event_type: String,
    /// The `data` object: the resource as the Backend API renders it.
    pub data: Value,
    /// When the event happened, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The Clerk instance (`ins_…`) that emitted it.
    pub instance_id: String,
}

impl ClerkEventRecord {
    /// The webhook body: `{"data", "object": "event", "type", "timestamp", "instance_id"}`.
    pub fn payload(&self) -> Value {
        json!({
            "data": self.data,
            "object": "event",
            "type": self.event_type,
            "timestamp": self.timestamp_ms,
            "instance_id": self.instance_id,
        })
    }

    /// The webhook body as the exact bytes that are signed and sent.
    pub fn payload_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.payload()).unwrap_or_default()
    }

    /// The `svix-id`, `svix-timestamp`, `svix-signature` headers for a delivery attempt at
    /// `attempt_unix_secs` (Svix signs each attempt with the attempt's own timestamp).
    pub fn svix_headers(&self, secret_whsec: &str, attempt_unix_secs: u64) -> Vec<(String, String)> {
        svix::webhook_headers(secret_whsec, &self.id, attempt_unix_secs, &self.payload_bytes())
    }
}
