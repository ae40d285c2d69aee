//! Verdicts: what exploration found for one (scenario, strategy) pair, and whether it is the
//! expected one.

use serde::{Deserialize, Serialize};

use crate::scenario::Expected;

/// A failure found by exploration, shrunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The seed of the first failing run.
    pub seed: u64,
    /// Seeds tried until it.
    pub seeds_tried: u64,
    /// The broken invariant (or `sim_error`).
    pub invariant: String,
    /// What the oracle said.
    pub message: String,
    /// The replay token of the shrunk run.
    pub token: String,
    /// Trace events of the original failing run.
    pub trace_len_original: usize,
    /// Trace events of the shrunk run.
    pub trace_len_shrunk: usize,
    /// Steps + faults before shrinking.
    pub input_size_original: usize,
    /// Steps + faults after shrinking.
    pub input_size_shrunk: usize,
    /// Runs the shrinker made.
    pub shrink_runs: usize,
}

/// What exploration found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Found {
    /// Every seed passed, and every witness was reached in enough seeds.
    Pass {
        /// Seeds run.
        seeds: u64,
    },
    /// Every seed passed, but some witness was reached in fewer seeds than the scenario asks
    /// (K): the race may never have happened, so the pass proves little.
    Inconclusive {
        /// Seeds run.
        seeds: u64,
    },
    /// A seed failed.
    Fail(Box<Failure>),
}

/// The verdict for one (scenario, strategy) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Scenario name.
    pub scenario: String,
    /// Strategy id.
    pub strategy: String,
    /// What was found.
    pub found: Found,
    /// What the scenario file expects, if it says.
    pub expected: Option<Expected>,
    /// How many seeds reached each witness counted (the scenario's, then the explorer's own).
    #[serde(default)]
    pub witnesses: Vec<WitnessTally>,
    /// The seeds the witness counts are over (N in "reached k of N"): every seed run on a
    /// pass, the seeds up to the first failing one on a failure.
    #[serde(default)]
    pub witness_seeds: u64,
    /// Seeds each witness must be reached in for a pass (K).
    #[serde(default)]
    pub witness_min_seeds: u32,
    /// The seed budget before any extension (the file's `seeds`, or `--seeds`); exploration
    /// went past it, to reach the witnesses, when `witness_seeds` is larger.
    #[serde(default)]
    pub seeds_budget: u64,
    /// Built-in invariants that could not fire because the strategy declares nothing they
    /// read (`AppLogic::tables`): not applicable, never counted as passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_applicable: Vec<String>,
    /// Passing seeds whose run did not play all its input (a pay step with no session, a
    /// dropped delivery), over the same seeds as the witnesses: any makes a pass inconclusive.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incomplete_seeds: u64,
    /// The first such seed and why, e.g. `seed 17: browser-1.2: pay skipped: …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_incomplete: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How many seeds reached one witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessTally {
    /// The witness's name.
    pub name: String,
    /// Seeds whose run reached it.
    pub reached: u64,
}

impl Verdict {
    /// `pass`, `inconclusive` or `fail`.
    pub fn word(&self) -> &'static str {
        match self.found {
            Found::Pass { .. } => "pass",
            Found::Inconclusive { .. } => "inconclusive",
            Found::Fail(_) => "fail",
        }
    }

    /// Whether the found verdict matches the expectation (no expectation: matches). An
    /// inconclusive verdict never does: nothing was shown either way.
    pub fn as_expected(&self) -> bool {
        match (&self.expected, &self.found) {
            (_, Found::Inconclusive { .. }) => false,
            (None, _) => true,
            (Some(Expected::Pass), Found::Pass { .. }) => true,
            (Some(Expected::Fail { invariant: None, .. }), Found::Fail(_)) => true,
            (
                Some(Expected::Fail {
                    invariant: Some(want),
                    ..
                }),
                Found::Fail(f),
            ) => *want == f.invariant,
            _ => false,
        }
    }

    /// The expected verdict as text (`pass`, `fail: invariant`, `-`).
    pub fn expected_text(&self) -> String {
        match &self.expected {
            None => "-".to_string(),
            Some(Expected::Pass) => "pass".to_string(),
            Some(Expected::Fail {
                invariant: Some(i), ..
            }) => format!("fail: {i}"),
            Some(Expected::Fail { invariant: None, .. }) => "fail".to_string(),
        }
    }

    /// Whether exploration ran past the seed budget to reach the witnesses.
    pub fn extended(&self) -> bool {
        self.witness_seeds > self.seeds_budget && !matches!(self.found, Found::Fail(_))
    }

    /// The witnesses reached in fewer than K seeds.
    pub fn short_witnesses(&self) -> Vec<&WitnessTally> {
        self.witnesses
            .iter()
            .filter(|w| w.reached < u64::from(self.witness_min_seeds))
            .collect()
    }

    /// `name reached k of N` per witness, joined with `; ` (`-` when there are none).
    pub fn witness_text(&self) -> String {
        if self.witnesses.is_empty() {
            return "-".to_string();
        }
        self.witnesses
            .iter()
            .map(|w| format!("{} reached {} of {}", w.name, w.reached, self.witness_seeds))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// One sentence on the witnesses: the counts, K, and whether exploration went past the
    /// budget (empty when the scenario names none).
    pub fn witness_sentence(&self) -> String {
        let mut out = String::new();
        if !self.witnesses.is_empty() {
            out = format!(
                "witnesses (each needs {} seeds): {}",
                self.witness_min_seeds,
                self.witness_text()
            );
            if self.extended() {
                out.push_str(&format!(
                    "; explored past the budget of {} seeds to reach them",
                    self.seeds_budget
                ));
            }
        }
        if let Some(incomplete) = self.incomplete_text() {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(&incomplete);
        }
        out
    }

    /// `k seeds incomplete (first: …)` when some passing seed did not play all its input.
    pub fn incomplete_text(&self) -> Option<String> {
        (self.incomplete_seeds > 0).then(|| {
            format!(
                "{} seed(s) incomplete, proving nothing (first: {})",
                self.incomplete_seeds,
                self.first_incomplete.as_deref().unwrap_or("?")
            )
        })
    }

    /// The one-sentence reason the scenario gives for an expected failure.
    pub fn reason(&self) -> Option<&str> {
        match &self.expected {
            Some(Expected::Fail { reason: Some(r), .. }) => Some(r),
            _ => None,
        }
    }
}

/// Renders verdicts as a Markdown table (the README's and `racehound verdicts`' format).
///
/// Tokens are left out: they are long and printed with each failure instead.
pub fn markdown_table(verdicts: &[Verdict]) -> String {
    let mut out = String::from(
        "| scenario | strategy | expected | found | invariant | seeds tried | shrunk trace | witnesses | why |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for v in verdicts {
        let (invariant, seeds, shrunk) = match &v.found {
            Found::Pass { seeds } | Found::Inconclusive { seeds } => {
                let seeds = if v.extended() {
                    format!("{seeds} (budget {})", v.seeds_budget)
                } else {
                    seeds.to_string()
                };
                ("-".to_string(), seeds, "-".to_string())
            }
            Found::Fail(f) => (
                f.invariant.clone(),
                f.seeds_tried.to_string(),
                format!("{} events (from {})", f.trace_len_shrunk, f.trace_len_original),
            ),
        };
        let mark = if v.as_expected() { "" } else { " ⚠ unexpected" };
        out.push_str(&format!(
            "| {} | `{}` | {} | {}{} | {} | {} | {} | {} | {} |\n",
            v.scenario,
            v.strategy,
            v.expected_text(),
            v.word(),
            mark,
            invariant,
            seeds,
            shrunk,
            v.witness_text(),
            v.reason().unwrap_or("")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(invariant: &str) -> Found {
        Found::Fail(Box::new(Failure {
            seed: 3,
            seeds_tried: 4,
            invariant: invariant.into(),
            message: "m".into(),
            token: "rh1_x".into(),
            trace_len_original: 40,
            trace_len_shrunk: 20,
            input_size_original: 3,
            input_size_shrunk: 2,
            shrink_runs: 9,
        }))
    }

    #[test]
    fn expectations_are_compared_by_verdict_and_invariant() {
        let mut v = Verdict {
            not_applicable: Vec::new(),
            incomplete_seeds: 0,
            first_incomplete: None,
            scenario: "s".into(),
            strategy: "checkout.naive".into(),
            found: failing("no_duplicate_customers"),
            expected: Some(Expected::Fail {
                invariant: Some("no_duplicate_customers".into()),
                reason: None,
            }),
            witnesses: Vec::new(),
            witness_seeds: 4,
            witness_min_seeds: 10,
            seeds_budget: 10,
        };
        assert!(v.as_expected());
        v.expected = Some(Expected::Fail {
            invariant: Some("no_orphan_customers".into()),
            reason: None,
        });
        assert!(!v.as_expected());
        v.expected = Some(Expected::Pass);
        assert!(!v.as_expected());
        v.found = Found::Pass { seeds: 10 };
        assert!(v.as_expected());
        assert!(markdown_table(&[v]).contains("| s | `checkout.naive` | pass | pass | - | 10 |"));
    }

    #[test]
    fn an_inconclusive_pass_is_never_as_expected_and_says_why() {
        let mut v = Verdict {
            not_applicable: Vec::new(),
            incomplete_seeds: 0,
            first_incomplete: None,
            scenario: "s".into(),
            strategy: "reference".into(),
            found: Found::Inconclusive { seeds: 40 },
            expected: None,
            witnesses: vec![WitnessTally {
                name: "concurrent_user_requests".into(),
                reached: 3,
            }],
            witness_seeds: 40,
            witness_min_seeds: 10,
            seeds_budget: 10,
        };
        assert!(!v.as_expected());
        v.expected = Some(Expected::Pass);
        assert!(!v.as_expected());
        assert_eq!(v.word(), "inconclusive");
        assert_eq!(v.short_witnesses().len(), 1);
        assert_eq!(v.witness_text(), "concurrent_user_requests reached 3 of 40");
        assert!(
            v.witness_sentence().contains("past the budget of 10 seeds"),
            "{}",
            v.witness_sentence()
        );
        let table = markdown_table(&[v]);
        assert!(
            table.contains("| inconclusive ⚠ unexpected | - | 40 (budget 10) | - | concurrent_user_requests reached 3 of 40 |"),
            "{table}"
        );
    }
}
