//! Reports a person or a CI system reads: the trace as text (`Trace::render_text`) and as a
//! Mermaid sequence diagram, the `explain` page, verdicts as JSON and as JUnit XML, and the
//! failure note printed with an unexpected verdict. The CLI and the test suite call these
//! same functions, so the snapshots in `tests/snapshots/` are what users see.

#[cfg(feature = "junit")]
pub mod junit;
pub mod mermaid;

use crate::explore::input::RunInput;
use crate::explore::verdict::{Found, Verdict};
use crate::sim::world::RunOutcome;

/// Most events the `explain` page's sequence diagram shows.
pub const EXPLAIN_DIAGRAM_EVENTS_MAX: usize = 400;

/// The `racehound explain TOKEN` page: the trace step by step and as a Mermaid diagram.
pub fn explain(input: &RunInput, outcome: &RunOutcome) -> String {
    let mut out = format!(
        "# {} × {} (seed {})\n\n",
        input.scenario, input.strategy, input.seed
    );
    out.push_str(&format!(
        "## Steps\n\n```text\n{}```\n\n",
        outcome.trace.render_text()
    ));
    out.push_str(&format!(
        "## Sequence diagram\n\n```mermaid\n{}```\n",
        mermaid::render(&outcome.trace, EXPLAIN_DIAGRAM_EVENTS_MAX)
    ));
    if let Some(e) = &outcome.sim_error {
        out.push_str(&format!("\nsimulation error: {e}\n"));
    }
    for v in outcome.violations() {
        out.push_str(&format!("\nVIOLATION {v}\n"));
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
    out
}

/// An error as the CLI prints it on stderr: `error: ` and the message (which for a scenario
/// file is a whole screen: file, line and column, the line, a caret and a hint).
pub fn error_text(message: &dyn std::fmt::Display) -> String {
    let text = message.to_string();
    format!("error: {}\n", text.trim_end())
}
