//! Verdicts as JUnit XML (`racehound run --junit FILE`), for CI systems that show test results.
//!
//! One `<testsuite>` per scenario, one `<testcase>` per strategy. A test case fails when its
//! verdict is not the one the scenario expects; the `<failure>` names the invariant, the
//! reason the scenario gives, the replay token and the `explain` command. A strategy that
//! fails *as expected* passes, and still carries its token in `<system-out>` and properties.
//! No timestamps or durations are written: the report is a function of the verdicts alone.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::explore::verdict::{Found, Verdict};

/// The report's name (`<testsuites name="…">`).
pub const REPORT_NAME: &str = "racehound";

fn test_case(verdict: &Verdict) -> TestCase {
    let status = if verdict.as_expected() {
        TestCaseStatus::success()
    } else {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let message = match &verdict.found {
            Found::Pass { seeds } => {
                format!("expected {}, found pass ({seeds} seeds)", verdict.expected_text())
            }
            Found::Inconclusive { seeds } => match verdict.incomplete_text() {
                Some(incomplete) if verdict.short_witnesses().is_empty() => format!(
                    "expected {}, found inconclusive ({seeds} seeds; {incomplete})",
                    verdict.expected_text()
                ),
                _ => format!(
                    "expected {}, found inconclusive ({seeds} seeds; a witness reached in fewer than {})",
                    verdict.expected_text(),
                    verdict.witness_min_seeds
                ),
            },
            Found::Fail(f) => format!(
                "expected {}, found fail: {}",
                verdict.expected_text(),
                f.invariant
            ),
        };
        status.set_message(message);
        status.set_type("unexpected verdict");
        status.set_description(super::verdict_note(verdict));
        status
    };
    let mut case = TestCase::new(verdict.strategy.clone(), status);
    case.set_classname(verdict.scenario.clone());
    case.add_property(Property::new("expected", verdict.expected_text()));
    case.add_property(Property::new("found", verdict.word()));
    for w in &verdict.witnesses {
        case.add_property(Property::new(
            format!("witness.{}", w.name),
            format!("reached {} of {}", w.reached, verdict.witness_seeds),
        ));
    }
    if !verdict.witnesses.is_empty() {
        case.add_property(Property::new(
            "witness_min_seeds",
            verdict.witness_min_seeds.to_string(),
        ));
    }
    match &verdict.found {
        Found::Pass { seeds } | Found::Inconclusive { seeds } => {
            case.add_property(Property::new("seeds", seeds.to_string()));
            if verdict.as_expected() && !verdict.witnesses.is_empty() {
                case.set_system_out(format!("{}\n", verdict.witness_sentence()));
            }
        }
        Found::Fail(f) => {
            case.add_property(Property::new("invariant", f.invariant.clone()));
            case.add_property(Property::new("seed", f.seed.to_string()));
            case.add_property(Property::new("token", f.token.clone()));
            if verdict.as_expected() {
                // An unexpected verdict says all this in its <failure> already.
                let mut out = format!("{}\n", f.message);
                if let Some(reason) = verdict.reason() {
                    out.push_str(&format!("expected because: {reason}\n"));
                }
                out.push_str(&super::replay_commands(&f.token));
                case.set_system_out(out);
            }
        }
    }
    case
}

/// Renders verdicts as a JUnit XML document; suites appear in the order of their first verdict.
pub fn render(verdicts: &[Verdict]) -> String {
    let mut suites: Vec<TestSuite> = Vec::new();
    for verdict in verdicts {
        let index = match suites.iter().position(|s| s.name.as_str() == verdict.scenario) {
            Some(index) => index,
            None => {
                suites.push(TestSuite::new(verdict.scenario.clone()));
                suites.len() - 1
            }
        };
        suites[index].add_test_case(test_case(verdict));
    }
    let mut report = Report::new(REPORT_NAME);
    report.add_test_suites(suites);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- JUnit serialisation failed: {e} -->\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::verdict::Failure;
    use crate::scenario::Expected;

    fn verdict(scenario: &str, strategy: &str, found: Found, expected: Expected) -> Verdict {
        Verdict {
            not_applicable: Vec::new(),
            incomplete_seeds: 0,
            first_incomplete: None,
            scenario: scenario.into(),
            strategy: strategy.into(),
            found,
            expected: Some(expected),
            witnesses: Vec::new(),
            witness_seeds: 10,
            witness_min_seeds: 10,
            seeds_budget: 10,
        }
    }

    fn fail(invariant: &str) -> Found {
        Found::Fail(Box::new(Failure {
            seed: 3,
            seeds_tried: 4,
            invariant: invariant.into(),
            message: "two customers".into(),
            token: "rh1_abc".into(),
            trace_len_original: 40,
            trace_len_shrunk: 20,
            input_size_original: 3,
            input_size_shrunk: 2,
            shrink_runs: 9,
        }))
    }

    #[test]
    fn one_suite_per_scenario_and_failures_only_for_unexpected_verdicts() {
        let xml = render(&[
            verdict(
                "a",
                "checkout.naive",
                fail("no_duplicate_customers"),
                Expected::Fail {
                    invariant: Some("no_duplicate_customers".into()),
                    reason: Some("both read NULL".into()),
                },
            ),
            verdict("b", "reference", fail("no_orphan_customers"), Expected::Pass),
            verdict("a", "reference", Found::Pass { seeds: 10 }, Expected::Pass),
        ]);
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        assert!(
            xml.contains(r#"<testsuite name="a" tests="2" skipped="0" errors="0" failures="0">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testsuite name="b" tests="1" skipped="0" errors="0" failures="1">"#),
            "{xml}"
        );
        assert!(
            xml.contains("expected pass, found fail: no_orphan_customers"),
            "{xml}"
        );
        assert!(xml.contains("racehound explain rh1_abc"), "{xml}");
        assert!(!xml.contains("timestamp"), "{xml}");
    }
}
