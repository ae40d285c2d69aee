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
    /// Every seed passed.
    Pass {
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
}

impl Verdict {
    /// `pass` or `fail`.
    pub fn word(&self) -> &'static str {
        match self.found {
            Found::Pass { .. } => "pass",
            Found::Fail(_) => "fail",
        }
    }

    /// Whether the found verdict matches the expectation (no expectation: matches).
    pub fn as_expected(&self) -> bool {
        match (&self.expected, &self.found) {
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
        "| scenario | strategy | expected | found | invariant | seeds tried | shrunk trace | why |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for v in verdicts {
        let (invariant, seeds, shrunk) = match &v.found {
            Found::Pass { seeds } => ("-".to_string(), seeds.to_string(), "-".to_string()),
            Found::Fail(f) => (
                f.invariant.clone(),
                f.seeds_tried.to_string(),
                format!("{} events (from {})", f.trace_len_shrunk, f.trace_len_original),
            ),
        };
        let mark = if v.as_expected() { "" } else { " ⚠ unexpected" };
        out.push_str(&format!(
            "| {} | `{}` | {} | {}{} | {} | {} | {} | {} |\n",
            v.scenario,
            v.strategy,
            v.expected_text(),
            v.word(),
            mark,
            invariant,
            seeds,
            shrunk,
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
            scenario: "s".into(),
            strategy: "checkout.naive".into(),
            found: failing("no_duplicate_customers"),
            expected: Some(Expected::Fail {
                invariant: Some("no_duplicate_customers".into()),
                reason: None,
            }),
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
}
