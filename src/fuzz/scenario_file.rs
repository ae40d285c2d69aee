//! The `scenario_file` target: arbitrary bytes as a scenario file.

/// Arbitrary bytes as a scenario file: [`crate::scenario::parse`] never panics; an error renders
/// with [`crate::scenario::ScenarioError::render_plain`] as the CLI shows it; a success is
/// within the documented limits.
pub fn scenario_file(data: &[u8]) {
    use crate::scenario::{parse, ACTORS_MAX, FAULT_KINDS, FLOWS, STEPS_MAX, USERS_MAX};
    let text = String::from_utf8_lossy(data);
    let ids = crate::app::strategies::registry::ids();
    match parse("fuzz.toml", &text, &ids) {
        Err(error) => {
            let rendered = error.render_plain();
            assert!(
                rendered.starts_with("error: fuzz.toml"),
                "rendering lost the file name: {rendered}"
            );
            assert!(
                rendered.contains(&error.message),
                "rendering lost the message: {rendered}"
            );
            if let Some((line, column)) = error.line_column() {
                assert!(
                    line >= 1 && column >= 1,
                    "line/column not 1-based: {line}:{column}"
                );
                assert!(
                    line <= text.matches('\n').count() + 1,
                    "line {line} past the end of the file"
                );
            }
        }
        Ok(scenario) => {
            assert!(!scenario.name.is_empty());
            assert!((1..=USERS_MAX).contains(&scenario.users));
            assert!(!scenario.actors.is_empty() && scenario.actors.len() <= ACTORS_MAX);
            for actor in &scenario.actors {
                assert!(actor.steps.len() <= STEPS_MAX);
                for step in &actor.steps {
                    assert!(FLOWS.contains(&step.flow.as_str()), "unknown flow {}", step.flow);
                    assert!(step.at_ms.0 <= step.at_ms.1, "backwards range {:?}", step.at_ms);
                }
            }
            assert!(scenario.latency_ms.0 >= 1 && scenario.latency_ms.0 <= scenario.latency_ms.1);
            assert!((0.0..1.0).contains(&scenario.loss));
            for kind in scenario.fault_rates.keys() {
                assert!(FAULT_KINDS.contains(&kind.as_str()), "unknown fault kind {kind}");
            }
            for fault in &scenario.fault_plan {
                assert!(
                    FAULT_KINDS.contains(&fault.kind.as_str()),
                    "unknown fault kind {}",
                    fault.kind
                );
            }
            for id in &scenario.strategies {
                assert!(ids.contains(&id.as_str()), "unknown strategy {id}");
            }
            // A validated scenario serialises (it travels in replay tokens and reports).
            assert!(serde_json::to_string(&scenario).is_ok());
        }
    }
}
