//! A trace as a Mermaid sequence diagram (paste into any Markdown viewer that renders Mermaid).

use crate::sim::trace::{Trace, TraceKind};
use std::collections::BTreeMap;

/// Longest label in the diagram, in characters.
pub const LABEL_CHARS_MAX: usize = 80;

fn participant(host: &str) -> String {
    host.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn label(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            ';' | '#' | '\n' | '\r' => ' ',
            '<' => '‹',
            '>' => '›',
            c => c,
        })
        .collect();
    if clean.chars().count() > LABEL_CHARS_MAX {
        let cut: String = clean.chars().take(LABEL_CHARS_MAX).collect();
        format!("{cut}…")
    } else {
        clean
    }
}

/// Renders the trace; `events_max` bounds the number of lines (the rest is summarised).
pub fn render(trace: &Trace, events_max: usize) -> String {
    render_marked(trace, events_max, &BTreeMap::new())
}

/// [`render`], with a highlighted note after each event `marks` names (event index → what it
/// is: the witness steps, the violation).
pub fn render_marked(trace: &Trace, events_max: usize, marks: &BTreeMap<usize, Vec<String>>) -> String {
    let mut out = String::from("sequenceDiagram\n");
    let mut shown = 0usize;
    for (index, event) in trace.events.iter().enumerate() {
        if shown >= events_max {
            out.push_str(&format!(
                "    Note over {}: … {} more events\n",
                participant(&event.host),
                trace.events.len() - shown
            ));
            break;
        }
        let from = participant(&event.host);
        let line = match &event.kind {
            TraceKind::Request {
                to,
                method,
                path,
                body,
            } => {
                let extra = body
                    .find("[Idempotency-Key")
                    .map_or(String::new(), |i| format!(" {}", &body[i..]));
                Some(format!(
                    "    {from}->>{}: {} {}{}\n",
                    participant(to),
                    method,
                    label(path),
                    label(&extra)
                ))
            }
            TraceKind::Response {
                from: server,
                status,
                body,
                ..
            } => Some(format!(
                "    {}-->>{from}: {status} {}\n",
                participant(server),
                label(body)
            )),
            TraceKind::NoResponse { to, reason, .. } => Some(format!(
                "    {}--x{from}: no response ({})\n",
                participant(to),
                label(reason)
            )),
            TraceKind::DbStatement { stmt, outcome, .. } => {
                let (owner, sql) = stmt
                    .strip_prefix('[')
                    .and_then(|s| s.split_once("] "))
                    .map_or(("app".to_string(), stmt.as_str()), |(o, s)| (participant(o), s));
                Some(format!(
                    "    {owner}->>postgres: {} → {}\n",
                    label(sql),
                    label(outcome)
                ))
            }
            TraceKind::DbBlocked { stmt, .. } => {
                Some(format!("    Note over postgres: blocked: {}\n", label(stmt)))
            }
            TraceKind::WebhookAttempt {
                service,
                event_id,
                attempt,
                replica,
            } => Some(format!(
                "    webhooks->>{}: {service} {event_id} (attempt {attempt})\n",
                participant(replica)
            )),
            TraceKind::Crash => Some(format!("    Note over {from}: CRASH (memory lost)\n")),
            TraceKind::Restart => Some(format!("    Note over {from}: restart\n")),
            TraceKind::Fault { description } => {
                Some(format!("    Note over {from}: fault: {}\n", label(description)))
            }
            TraceKind::Note { text } if text.starts_with("VIOLATION") => {
                Some(format!("    Note over {from}: {}\n", label(text)))
            }
            TraceKind::AppCall { call } => Some(format!("    Note over {from}: {}\n", label(call))),
            _ => None,
        };
        if let Some(line) = line {
            out.push_str(&line);
            shown += 1;
        }
        if let Some(names) = marks.get(&index) {
            out.push_str(&format!("    Note over {from}: ★ {}\n", label(&names.join(", "))));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::trace::TraceLog;
    use crate::time::SimTime;

    #[test]
    fn requests_and_responses_become_arrows() {
        let log = TraceLog::default();
        log.push(
            SimTime::EPOCH,
            "app-1",
            TraceKind::Request {
                to: "stripe".into(),
                method: "POST".into(),
                path: "/v1/customers".into(),
                body: "".into(),
            },
        );
        log.push(
            SimTime::EPOCH,
            "app-1",
            TraceKind::Response {
                from: "stripe".into(),
                path: "/v1/customers".into(),
                status: 200,
                body: "{}".into(),
            },
        );
        log.push(SimTime::EPOCH, "app-2", TraceKind::Crash);
        let text = render(&log.snapshot(), 100);
        assert!(text.starts_with("sequenceDiagram\n"));
        assert!(text.contains("app_1->>stripe: POST /v1/customers"));
        assert!(text.contains("stripe-->>app_1: 200 {}"));
        assert!(text.contains("Note over app_2: CRASH"));
    }
}
