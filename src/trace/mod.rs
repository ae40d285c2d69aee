//! The trace of one run: every request, response, event, webhook attempt, DB statement,
//! crash, restart, fault and note, in simulated-time order, with a stable hash.
//!
//! A response that never came (dropped, timed out, connection lost) is recorded as
//! [`TraceKind::NoResponse`]: *info*, not failure — the request may or may not have happened.
//!
//! A leaf: the events are typed values the oracle and the reports may read; their text (and
//! so the hash) is rendered in `render.rs`.

use serde::{Deserialize, Serialize};

use crate::sync::{Arc, Mutex};
use crate::time::SimTime;

mod render;

/// Most events one trace keeps; later events are counted, not stored.
pub const MAX_TRACE_EVENTS: usize = 200_000;

/// Longest body excerpt kept in a trace line, in bytes.
pub const MAX_BODY_EXCERPT_BYTES: usize = 240;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceKind {
    /// An HTTP request sent to `to`.
    Request {
        /// Destination host.
        to: String,
        /// Method.
        method: String,
        /// Path with query.
        path: String,
        /// Body excerpt.
        body: String,
    },
    /// An HTTP response received from `from`.
    Response {
        /// The answering host.
        from: String,
        /// Path of the request.
        path: String,
        /// Status.
        status: u16,
        /// Body excerpt.
        body: String,
    },
    /// No response (timeout, connection lost, response dropped): the outcome is unknown.
    NoResponse {
        /// Destination host.
        to: String,
        /// Path of the request.
        path: String,
        /// Why.
        reason: String,
    },
    /// A server executed a request and dropped its response on purpose (fault).
    ResponseDropped {
        /// Path of the request.
        path: String,
        /// The status that was never sent.
        status: u16,
    },
    /// A fake emitted a webhook event.
    EventEmitted {
        /// `stripe` or `clerk`.
        service: String,
        /// Event id (`evt_…` / `msg_…`).
        event_id: String,
        /// Event type.
        event_type: String,
    },
    /// A webhook delivery attempt started.
    WebhookAttempt {
        /// `stripe` or `clerk`.
        service: String,
        /// Event id.
        event_id: String,
        /// 1-based attempt number.
        attempt: u32,
        /// Target replica.
        replica: String,
    },
    /// A webhook delivery attempt ended.
    WebhookResult {
        /// `stripe` or `clerk`.
        service: String,
        /// Event id.
        event_id: String,
        /// 1-based attempt number.
        attempt: u32,
        /// Status, or `None` when no response came.
        status: Option<u16>,
    },
    /// The dispatcher gave up on an event.
    WebhookGaveUp {
        /// `stripe` or `clerk`.
        service: String,
        /// Event id.
        event_id: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A DB statement ran.
    DbStatement {
        /// Session number.
        session: u64,
        /// The statement.
        stmt: String,
        /// `ok affected=N rows=[…]` or the error.
        outcome: String,
    },
    /// A DB statement would wait (it is re-submitted later).
    DbBlocked {
        /// Session number.
        session: u64,
        /// The statement.
        stmt: String,
        /// What it waits for.
        on: String,
    },
    /// A DB session ended (connection closed or killed): open transaction rolled back.
    DbDisconnect {
        /// Session number.
        session: u64,
        /// Why.
        reason: String,
    },
    /// A host crashed (process memory and in-flight requests lost).
    Crash,
    /// A host restarted.
    Restart,
    /// A fault was applied.
    Fault {
        /// What.
        description: String,
    },
    /// The app called `handle` with this call.
    AppCall {
        /// Short description of the call.
        call: String,
    },
    /// The app replied.
    AppReply {
        /// Status.
        status: u16,
        /// Body excerpt.
        body: String,
    },
    /// A note written by app code (`Env::note`) or by the world.
    Note {
        /// Text.
        text: String,
    },
}

/// One trace line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// When.
    pub at: SimTime,
    /// Where (host name, e.g. `app-1`, `stripe`, `browser-0`).
    pub host: String,
    /// What.
    pub kind: TraceKind,
}

/// The trace of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Events in the order they happened.
    pub events: Vec<TraceEvent>,
    /// Events not stored because the trace was full ([`MAX_TRACE_EVENTS`]).
    pub dropped_events: u64,
}

impl Trace {
    /// A stable hash of the trace: FNV-1a 64 over [`Trace::render_text`].
    pub fn trace_hash(&self) -> u64 {
        // The same bytes as `render_text`, fed to the hasher without building the text.
        let mut hash = Fnv1a64::default();
        let _ = self.write_text(&mut hash);
        hash.finish()
    }
}

/// An FNV-1a 64 hash fed in pieces; equal to [`fnv1a64`] of the pieces joined.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::fmt::Write for Fnv1a64 {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}

impl Fnv1a64 {
    /// Feeds `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash of everything fed so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// FNV-1a, 64 bits: stable across processes, platforms and Rust versions.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = Fnv1a64::default();
    hash.write(bytes);
    hash.finish()
}

/// A body shortened for a trace line (lossy UTF-8, at most [`MAX_BODY_EXCERPT_BYTES`]).
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= MAX_BODY_EXCERPT_BYTES {
        return text.into_owned();
    }
    let mut end = MAX_BODY_EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The shared, append-only recorder every host writes to.
#[derive(Debug, Clone, Default)]
pub struct TraceLog {
    inner: Arc<Mutex<Trace>>,
}

impl TraceLog {
    /// Appends one event (counted but not stored past [`MAX_TRACE_EVENTS`]).
    pub fn push(&self, at: SimTime, host: &str, kind: TraceKind) {
        let mut trace = self.inner.lock();
        if trace.events.len() >= MAX_TRACE_EVENTS {
            trace.dropped_events += 1;
            return;
        }
        trace.events.push(TraceEvent {
            at,
            host: host.to_string(),
            kind,
        });
    }

    /// Calls `f` on every stored event from index `start` on, in order; returns the number of
    /// stored events (the next `start`).
    pub fn for_each_from(&self, start: usize, mut f: impl FnMut(&TraceEvent)) -> usize {
        let trace = self.inner.lock();
        for event in trace.events.iter().skip(start) {
            f(event);
        }
        trace.events.len()
    }

    /// A copy of the trace so far.
    pub fn snapshot(&self) -> Trace {
        self.inner.lock().clone()
    }

    /// How many events were recorded so far (stored or not).
    pub fn len(&self) -> u64 {
        let trace = self.inner.lock();
        trace.events.len() as u64 + trace.dropped_events
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_sensitive() {
        let log = TraceLog::default();
        log.push(SimTime::EPOCH, "app-1", TraceKind::Note { text: "hi".into() });
        let a = log.snapshot();
        assert_eq!(a.trace_hash(), a.clone().trace_hash());
        log.push(SimTime::EPOCH, "app-1", TraceKind::Crash);
        assert_ne!(a.trace_hash(), log.snapshot().trace_hash());
        // FNV-1a 64 test vector.
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert!(a.render_text().contains("+0.000s app-1"));
    }

    #[test]
    fn hash_is_fnv_of_the_rendered_text() {
        let log = TraceLog::default();
        log.push(SimTime::EPOCH, "app-1", TraceKind::Note { text: "hi".into() });
        log.push(SimTime::EPOCH, "stripe", TraceKind::Crash);
        let mut trace = log.snapshot();
        assert_eq!(trace.trace_hash(), fnv1a64(trace.render_text().as_bytes()));
        trace.dropped_events = 3;
        assert_eq!(trace.trace_hash(), fnv1a64(trace.render_text().as_bytes()));
        assert_eq!(Trace::default().trace_hash(), fnv1a64(b""));
    }

    #[test]
    fn excerpt_cuts_on_char_boundary() {
        let long = "é".repeat(400);
        let short = excerpt(long.as_bytes());
        assert!(short.len() <= MAX_BODY_EXCERPT_BYTES + '…'.len_utf8());
    }
}
