//! The trace as text: one readable line per event, the listing the trace hash is taken over.

use super::{Trace, TraceEvent, TraceKind, MAX_TRACE_EVENTS};

impl TraceEvent {
    /// One readable line: `+0.123s app-1      → stripe POST /v1/customers …`.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:<12} ", self.at, self.host)?;
        write_kind(f, &self.kind)
    }
}

fn write_kind(out: &mut dyn std::fmt::Write, kind: &TraceKind) -> std::fmt::Result {
    match kind {
        TraceKind::Request {
            to,
            method,
            path,
            body,
        } => write!(out, "→ {to} {method} {path} {body}"),
        TraceKind::Response {
            from,
            path,
            status,
            body,
        } => write!(out, "← {from} {status} {path} {body}"),
        TraceKind::NoResponse { to, path, reason } => {
            write!(out, "✗ {to} {path}: no response, outcome unknown ({reason})")
        }
        TraceKind::ResponseDropped { path, status } => {
            write!(out, "executed {path}, response {status} dropped (fault)")
        }
        TraceKind::EventEmitted {
            service,
            event_id,
            event_type,
        } => write!(out, "event {service} {event_type} {event_id}"),
        TraceKind::WebhookAttempt {
            service,
            event_id,
            attempt,
            replica,
        } => write!(out, "webhook {service} {event_id} attempt {attempt} → {replica}"),
        TraceKind::WebhookResult {
            service,
            event_id,
            attempt,
            status,
        } => match status {
            Some(status) => write!(out, "webhook {service} {event_id} attempt {attempt} ← {status}"),
            None => write!(out, "webhook {service} {event_id} attempt {attempt}: no response"),
        },
        TraceKind::WebhookGaveUp {
            service,
            event_id,
            attempts,
        } => write!(
            out,
            "webhook {service} {event_id} given up after {attempts} attempts"
        ),
        TraceKind::DbStatement {
            session,
            stmt,
            outcome,
        } => write!(out, "db s{session} {stmt} => {outcome}"),
        TraceKind::DbBlocked { session, stmt, on } => write!(out, "db s{session} {stmt} blocked on {on}"),
        TraceKind::DbDisconnect { session, reason } => write!(out, "db s{session} disconnected ({reason})"),
        TraceKind::Crash => out.write_str("CRASH"),
        TraceKind::Restart => out.write_str("RESTART"),
        TraceKind::Fault { description } => write!(out, "FAULT {description}"),
        TraceKind::AppCall { call } => write!(out, "handle {call}"),
        TraceKind::AppReply { status, body } => write!(out, "reply {status} {body}"),
        TraceKind::Note { text } => write!(out, "note: {text}"),
    }
}

impl Trace {
    /// A readable step-by-step listing, one event per line.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_text(&mut out);
        out
    }

    /// Writes the text [`Trace::render_text`] returns: one line per event, then the count
    /// of events not stored, if any.
    pub(super) fn write_text(&self, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
        for event in &self.events {
            writeln!(out, "{event}")?;
        }
        if self.dropped_events > 0 {
            writeln!(
                out,
                "… {} more events not stored (trace limit {MAX_TRACE_EVENTS})",
                self.dropped_events
            )?;
        }
        Ok(())
    }
}
