//! The golden record of behaviour: a trace hash per (scenario, strategy, seed) and the verdict
//! document, both committed and diffed by the test suite (`tests/scenarios.rs`).
//!
//! A refactor leaves both unchanged; a change of behaviour shows up as the lines it moved,
//! reviewed like a snapshot and rewritten on purpose with `RACEHOUND_GOLDEN=overwrite`.

use super::input::resolve;
use super::run_input;
use super::verdict::{markdown_table, Verdict};
use crate::scenario::Scenario;

/// Seeds per (scenario, strategy) pair in the committed trace-hash record.
pub const GOLDEN_SEEDS: u64 = 20;

/// The header line of the trace-hash record (tab-separated columns).
pub const TRACE_HASH_HEADER: &str = "scenario\tstrategy\tseed\ttrace_hash\ttrace_events\tviolated";

/// One line of the trace-hash record: `scenario, strategy, seed, hash, events, violated`.
pub fn trace_hash_line(scenario: &Scenario, strategy: &str, seed: u64) -> String {
    let input = resolve(scenario, strategy, seed);
    match run_input(&input) {
        Ok(outcome) => {
            let mut violated: Vec<String> = outcome.violations().into_iter().map(|v| v.invariant).collect();
            violated.dedup();
            let violated = if violated.is_empty() {
                "-".to_string()
            } else {
                violated.join(",")
            };
            format!(
                "{}\t{}\t{}\t{:016x}\t{}\t{}",
                scenario.name,
                strategy,
                seed,
                outcome.trace_hash,
                outcome.trace.events.len(),
                violated
            )
        }
        Err(e) => format!("{}\t{}\t{}\terror\t0\t{}", scenario.name, strategy, seed, e),
    }
}

/// The trace-hash record of `scenarios`: every strategy of each, seeds `0..seeds`, in file order.
pub fn trace_hash_record(scenarios: &[Scenario], seeds: u64, jobs: usize) -> String {
    let jobs = jobs.clamp(1, 64);
    let work: Vec<(&Scenario, &str, u64)> = scenarios
        .iter()
        .flat_map(|s| {
            s.strategies
                .iter()
                .flat_map(move |st| (0..seeds).map(move |seed| (s, st.as_str(), seed)))
        })
        .collect();
    let mut lines = vec![String::new(); work.len()];
    std::thread::scope(|scope| {
        let chunk = work.len().div_ceil(jobs).max(1);
        for (work, lines) in work.chunks(chunk).zip(lines.chunks_mut(chunk)) {
            scope.spawn(move || {
                for ((scenario, strategy, seed), line) in work.iter().zip(lines.iter_mut()) {
                    *line = trace_hash_line(scenario, strategy, *seed);
                }
            });
        }
    });
    let mut out = String::from(TRACE_HASH_HEADER);
    out.push('\n');
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `docs/verdicts.md`: a heading, then the table `racehound verdicts` prints.
pub fn verdict_document(verdicts: &[Verdict]) -> String {
    let mut out = String::from(
        "# Verdict table\n\n\
         Every (scenario, strategy) pair of `scenarios/`, as found by exploration (default seed\n\
         budgets, base seed 0; the table is what `racehound verdicts scenarios/` prints). This\n\
         file is generated and checked by the test suite (`golden::verdicts` in\n\
         `tests/scenarios.rs`): it is never edited by hand.\n\
         \"seeds tried\" is how many seeds the sweep ran until the first failure (or the whole\n\
         budget for a pass); \"shrunk trace\" is the length of the shrunk counterexample's trace.\n\
         \"witnesses\" says, for each race witness the scenario names, in how many of those seeds\n\
         the race happened (\"reached k of N\"); a pass needs each in K seeds (`witness_min_seeds`,\n\
         10 by default) or it is inconclusive, and \"(budget B)\" after the seeds means exploration\n\
         went past the budget of B seeds to reach them (docs/scenarios.md, \"Race witnesses\").\n\
         Run `racehound run scenarios/` to see each failure's replay token.\n\n",
    );
    out.push_str(&markdown_table(verdicts));
    out
}

/// The first lines where `found` differs from `committed`, for a failure message.
pub fn first_differences(committed: &str, found: &str, lines_max: usize) -> String {
    let committed_lines: Vec<&str> = committed.lines().collect();
    let found_lines: Vec<&str> = found.lines().collect();
    let mut out = String::new();
    let mut shown = 0;
    for index in 0..committed_lines.len().max(found_lines.len()) {
        let (c, f) = (committed_lines.get(index), found_lines.get(index));
        if c != f {
            out.push_str(&format!(
                "line {}:\n  committed: {}\n  found:     {}\n",
                index + 1,
                c.unwrap_or(&"(none)"),
                f.unwrap_or(&"(none)")
            ));
            shown += 1;
            if shown == lines_max {
                break;
            }
        }
    }
    let differing = (0..committed_lines.len().max(found_lines.len()))
        .filter(|&i| committed_lines.get(i) != found_lines.get(i))
        .count();
    out.push_str(&format!("{differing} line(s) differ"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_differences_names_each_differing_line_and_counts_them() {
        let text = first_differences("a\nb\nc\n", "a\nB\nc\nd\n", 1);
        assert!(text.contains("line 2:\n  committed: b\n  found:     B"), "{text}");
        assert!(!text.contains("line 4"), "{text}");
        assert!(text.ends_with("2 line(s) differ"), "{text}");
    }
}
