//! Reports a person or a CI system reads: the trace as text (`Trace::render_text`) and as a
//! Mermaid sequence diagram, the `explain` page, verdicts as JSON and as JUnit XML, and the
//! failure note printed with an unexpected verdict. The CLI and the test suite call these
//! same functions, so the snapshots in `tests/snapshots/` are what users see.

#[cfg(feature = "junit")]
pub mod junit;
pub mod mermaid;

use crate::explore::input::RunInput;
use crate::explore::verdict::{Found, Verdict};
use crate::oracle::Violation;
use crate::sim::trace::Trace;

/// Most events the `explain` page shows, in its steps and in its sequence diagram (a test's
/// failure message is the same page; `racehound replay` prints every event).
pub const EXPLAIN_EVENTS_MAX: usize = 400;

/// The `explain` page (`racehound explain TOKEN`, and the end of a test's failure message):
/// the run's faults (at their times or on their events), its steps (the first [`EXPLAIN_EVENTS_MAX`]), its sequence diagram, and what broke.
/// The steps where the run reached a built-in witness, and the step where an invariant broke
/// during the run, are marked with `★` in both.
pub fn explain(input: &RunInput, trace: &Trace, violations: &[Violation], sim_error: Option<&str>) -> String {
    explain_with(
        input,
        trace,
        violations,
        sim_error,
        &std::collections::BTreeMap::new(),
    )
}

/// The `explain` page, also marking the steps where a library user's own witnesses were
/// reached (`own`: name → the steps its predicate names; none named: listed, not marked).
pub fn explain_with(
    input: &RunInput,
    trace: &Trace,
    violations: &[Violation],
    sim_error: Option<&str>,
    own: &std::collections::BTreeMap<String, Vec<usize>>,
) -> String {
    let mut out = format!(
        "# {} × {} (seed {})\n\n",
        input.scenario, input.strategy, input.seed
    );
    out.push_str(&faults_section(input));
    let marks = step_marks(trace, own);
    out.push_str(&format!(
        "## Steps\n\n```text\n{}```\n\n",
        clipped_text_marked(trace, EXPLAIN_EVENTS_MAX, &marks)
    ));
    out.push_str(&format!(
        "## Sequence diagram\n\n```mermaid\n{}```\n",
        mermaid::render_marked(trace, EXPLAIN_EVENTS_MAX, &marks)
    ));
    out.push_str(&reached_section(trace, &marks, violations));
    if let Some(e) = sim_error {
        out.push_str(&format!("\nsimulation error: {e}\n"));
    }
    for v in violations {
        out.push_str(&format!("\nVIOLATION {v}\n"));
    }
    out
}

/// "Faults": the run's planned faults, each at its time or on its event (empty without faults).
fn faults_section(input: &RunInput) -> String {
    if input.faults.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Faults\n\n");
    for fault in &input.faults {
        match &fault.trigger {
            Some(trigger) => {
                let from = if fault.at_ms > 0 {
                    format!(", counting from {} ms", fault.at_ms)
                } else {
                    String::new()
                };
                let target = if trigger.hits_that_replica {
                    " (on the replica whose event it is)"
                } else {
                    ""
                };
                out.push_str(&format!("- {}{target}: when `{trigger}`{from}\n", fault.fault));
            }
            None => out.push_str(&format!("- {}: at {} ms\n", fault.fault, fault.at_ms)),
        }
    }
    out.push('\n');
    out
}

/// Event index → what happened there worth marking: the built-in witnesses the run reached
/// (at each step their predicate names) and the violations noted during the run.
fn step_marks(
    trace: &Trace,
    own: &std::collections::BTreeMap<String, Vec<usize>>,
) -> std::collections::BTreeMap<usize, Vec<String>> {
    let mut marks: std::collections::BTreeMap<usize, Vec<String>> = std::collections::BTreeMap::new();
    let builtin = crate::oracle::witness::builtin_witnesses()
        .into_iter()
        .filter_map(|w| w.reached(trace).map(|steps| (w.name, steps)));
    let own = own.iter().map(|(name, steps)| (name.clone(), steps.clone()));
    for (witness, steps) in builtin.chain(own) {
        let name = format!("witness {witness}");
        if steps.is_empty() {
            // A yes/no witness names no step: listed, not marked.
            marks.entry(usize::MAX).or_default().push(name.clone());
        }
        for step in steps {
            marks.entry(step).or_default().push(name.clone());
        }
    }
    for (index, event) in trace.events.iter().enumerate() {
        if let crate::sim::trace::TraceKind::Note { text } = &event.kind {
            if let Some(rest) = text.strip_prefix("VIOLATION ") {
                let name = rest.split(':').next().unwrap_or(rest);
                marks.entry(index).or_default().push(format!("violation {name}"));
            }
        }
    }
    marks
}

/// "What the run reached": each marked step by number, and when each violation was found.
fn reached_section(
    trace: &Trace,
    marks: &std::collections::BTreeMap<usize, Vec<String>>,
    violations: &[Violation],
) -> String {
    let mut out = String::from("\n## What the run reached\n\n");
    if marks.is_empty() {
        out.push_str("No witness was reached and no invariant broke during the run.\n");
    }
    for (index, names) in marks {
        if *index == usize::MAX {
            out.push_str(&format!(
                "- somewhere in the run (the witness names no step): {}\n",
                names.join(", ")
            ));
        } else {
            out.push_str(&format!("- step {}: {}\n", index + 1, names.join(", ")));
        }
    }
    let during: Vec<&str> = marks
        .values()
        .flatten()
        .filter_map(|m| m.strip_prefix("violation "))
        .collect();
    for v in violations
        .iter()
        .filter(|v| !during.contains(&v.invariant.as_str()))
    {
        out.push_str(&format!(
            "- after step {} (the world quiet): violation {}\n",
            trace.events.len(),
            v.invariant
        ));
    }
    out
}

/// The trace as text, one line per event, each marked step followed by `★ …`; cut after
/// `events_max` events with a line saying how many more there are.
fn clipped_text_marked(
    trace: &Trace,
    events_max: usize,
    marks: &std::collections::BTreeMap<usize, Vec<String>>,
) -> String {
    let mut out = String::new();
    for (index, event) in trace.events.iter().take(events_max).enumerate() {
        out.push_str(&event.to_string());
        if let Some(names) = marks.get(&index) {
            out.push_str(&format!("   ★ step {}: {}", index + 1, names.join(", ")));
        }
        out.push('\n');
    }
    if trace.events.len() > events_max {
        out.push_str(&format!("… {} more events\n", trace.events.len() - events_max));
    } else if trace.dropped_events > 0 {
        out.push_str(&format!("… {} more events not stored\n", trace.dropped_events));
    }
    out
}

/// Verdicts as pretty-printed JSON (`racehound run --format json`).
pub fn json(verdicts: &[Verdict]) -> String {
    serde_json::to_string_pretty(verdicts).unwrap_or_default()
}

/// The commands that reproduce a failure, one per line, indented by two spaces.
pub fn replay_commands(token: &str) -> String {
    format!("  replay:  racehound replay {token}\n  explain: racehound explain {token}\n")
}

/// What a verdict found against what its scenario expects, with the replay commands when a
/// run failed: the note the test suite prints for a failing test.
pub fn verdict_note(verdict: &Verdict) -> String {
    let expected = match verdict.expected {
        Some(_) => verdict.expected_text(),
        None => "nothing (no [expect] entry)".to_string(),
    };
    let mut out = format!(
        "{} × {}: expected {expected}, found {}",
        verdict.scenario,
        verdict.strategy,
        verdict.word()
    );
    match &verdict.found {
        Found::Pass { seeds } => out.push_str(&format!(
            " ({seeds} seeds, none broke an invariant)\n  \
             (hint: raise [explore] seeds, or check that the scenario still races; \
             `racehound run` with `--seeds N` tries more)\n"
        )),
        Found::Inconclusive { seeds } => {
            let short: Vec<&str> = verdict
                .short_witnesses()
                .iter()
                .map(|w| w.name.as_str())
                .collect();
            if !short.is_empty() {
                out.push_str(&format!(
                    " ({seeds} seeds, none broke an invariant, but {} reached in fewer than {} seeds: \
                     the race may not have happened)\n  \
                     (hint: raise [explore] seeds or seeds_max, or aim the scenario at the race)\n",
                    short.join(", "),
                    verdict.witness_min_seeds
                ));
            }
            if let Some(incomplete) = verdict.incomplete_text() {
                out.push_str(&format!(
                    " ({seeds} seeds, none broke an invariant, but {incomplete})\n  \
                     (hint: give the step that made the session more client attempts, or replay \
                     the seed with `racehound run --seeds` and `explain` to see why it skipped)\n"
                ));
            }
        }
        Found::Fail(f) => {
            out.push_str(&format!(
                ": {} at seed {} (shrunk {} → {} steps)\n  {}\n",
                f.invariant, f.seed, f.input_size_original, f.input_size_shrunk, f.message
            ));
            if let Some(reason) = verdict.reason() {
                out.push_str(&format!("  expected because: {reason}\n"));
            }
            out.push_str(&replay_commands(&f.token));
        }
    }
    let witnesses = verdict.witness_sentence();
    if !witnesses.is_empty() {
        out.push_str(&format!("  {witnesses}\n"));
    }
    out
}

/// A warning as the CLI prints it on stderr: `warning: ` and the message.
pub fn warning_text(message: &dyn std::fmt::Display) -> String {
    let text = message.to_string();
    format!("warning: {}\n", text.trim_end())
}

/// An error as the CLI prints it on stderr: `error: ` and the message (which for a scenario
/// file is a whole screen: file, line and column, the line, a caret and a hint).
pub fn error_text(message: &dyn std::fmt::Display) -> String {
    let text = message.to_string();
    format!("error: {}\n", text.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::trace::{TraceKind, TraceLog};
    use crate::time::SimTime;

    fn input() -> RunInput {
        RunInput {
            scenario: "s".into(),
            strategy: "checkout.naive".into(),
            seed: 3,
            users: 1,
            replicas: 1,
            latency_ms: (1, 1),
            loss: 0.0,
            actors: Vec::new(),
            faults: Vec::new(),
        }
    }

    /// `n` events, each a line of the steps and of the diagram (not violations themselves).
    fn notes(n: usize) -> Trace {
        let log = TraceLog::default();
        for i in 0..n {
            log.push(
                SimTime::EPOCH,
                "app-1",
                TraceKind::Note {
                    text: format!("VIOLATION: note {i}"),
                },
            );
        }
        log.snapshot()
    }

    #[test]
    fn the_explain_page_marks_the_violating_step_and_quiescence_violations() {
        let log = TraceLog::default();
        log.push(SimTime::EPOCH, "app-1", TraceKind::Note { text: "first".into() });
        log.push(
            SimTime::EPOCH,
            "oracle",
            TraceKind::Note {
                text: "VIOLATION no_duplicate_customers: two".into(),
            },
        );
        let at_end = Violation {
            invariant: "no_orphan_customers".into(),
            objects: Vec::new(),
            message: String::new(),
        };
        let page = explain(&input(), &log.snapshot(), &[at_end], None);
        assert!(
            page.contains("two   ★ step 2: violation no_duplicate_customers\n"),
            "{page}"
        );
        assert!(page.contains("Note over oracle: ★ violation no_duplicate_customers"));
        assert!(page.contains("- step 2: violation no_duplicate_customers\n"));
        assert!(page.contains("- after step 2 (the world quiet): violation no_orphan_customers\n"));
        assert!(
            !page.contains("step 1:"),
            "an ordinary step is not marked: {page}"
        );
    }

    #[test]
    fn the_explain_page_shows_at_most_the_limit_in_steps_and_diagram() {
        let short = explain(&input(), &notes(EXPLAIN_EVENTS_MAX), &[], None);
        assert!(short.contains(&format!("note {}", EXPLAIN_EVENTS_MAX - 1)));
        assert!(!short.contains("more events"), "{short}");
        let long = explain(&input(), &notes(EXPLAIN_EVENTS_MAX + 5), &[], Some("step limit"));
        let steps = long.split("## Sequence diagram").next().unwrap_or_default();
        assert!(
            steps.contains(&format!("note {}\n… 5 more events\n```", EXPLAIN_EVENTS_MAX - 1)),
            "{steps}"
        );
        assert!(!steps.contains(&format!("note {EXPLAIN_EVENTS_MAX}")));
        assert!(
            long.contains("Note over app_1: … 5 more events"),
            "the diagram is cut at the same limit: {}",
            &long[long.len().saturating_sub(300)..]
        );
        assert!(long.ends_with("\nsimulation error: step limit\n"), "{long}");
    }
}
