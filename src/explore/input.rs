//! Shrinking a run's input: simpler variants of a failing [`RunInput`] and a size measure.
//!
//! The input types and [`resolve`] live in the simulator ([`crate::sim::input`]), which runs
//! them; they are re-exported here, where they were first, so existing paths keep working.

use crate::sim::faults::Fault;
pub use crate::sim::input::{
    resolve, to_timed, ResolvedActor, ResolvedStep, RunInput, FAULT_HORIZON_AFTER_LAST_STEP_MS,
};

/// Simpler variants of a failing input, simplest first: fewer faults, fewer actors, fewer
/// steps, earlier steps, earlier trigger occurrences and wider trigger windows, fewer
/// replicas, a narrower latency range.
pub fn shrink_candidates(input: &RunInput) -> Vec<RunInput> {
    let mut out = Vec::new();
    for i in 0..input.faults.len() {
        let mut c = input.clone();
        c.faults.remove(i);
        out.push(c);
    }
    if input.actors.len() > 1 {
        for i in 0..input.actors.len() {
            let mut c = input.clone();
            c.actors.remove(i);
            out.push(c);
        }
    }
    for (a, actor) in input.actors.iter().enumerate() {
        if actor.steps.len() > 1 {
            for s in 0..actor.steps.len() {
                let mut c = input.clone();
                c.actors[a].steps.remove(s);
                out.push(c);
            }
        }
    }
    for (a, actor) in input.actors.iter().enumerate() {
        for (s, step) in actor.steps.iter().enumerate() {
            if step.at_ms > 0 {
                let mut c = input.clone();
                c.actors[a].steps[s].at_ms = 0;
                out.push(c);
                let mut c = input.clone();
                c.actors[a].steps[s].at_ms = step.at_ms / 2;
                out.push(c);
            }
            if step.attempts > 1 {
                let mut c = input.clone();
                c.actors[a].steps[s].attempts = 1;
                out.push(c);
            }
        }
    }
    for (i, fault) in input.faults.iter().enumerate() {
        let Some(trigger) = &fault.trigger else {
            continue;
        };
        if trigger.nth > 1 {
            let mut c = input.clone();
            if let Some(t) = c.faults[i].trigger.as_mut() {
                t.nth = 1;
            }
            out.push(c);
            let mut c = input.clone();
            if let Some(t) = c.faults[i].trigger.as_mut() {
                t.nth = trigger.nth / 2;
            }
            out.push(c);
        }
        if trigger.before.is_some() || trigger.host.is_some() {
            let mut c = input.clone();
            if let Some(t) = c.faults[i].trigger.as_mut() {
                t.before = None;
                t.host = None;
            }
            out.push(c);
        }
    }
    for (i, fault) in input.faults.iter().enumerate() {
        if fault.at_ms > 0 {
            let mut c = input.clone();
            c.faults[i].at_ms = fault.at_ms / 2;
            out.push(c);
        }
    }
    if input.replicas > 1 {
        let mut c = input.clone();
        c.replicas = 1;
        let fits = c
            .actors
            .iter()
            .flat_map(|a| &a.steps)
            .all(|s| s.replica.is_none_or(|r| r < 1))
            && c.faults.iter().all(|f| {
                f.trigger
                    .as_ref()
                    .and_then(|t| t.host.as_deref())
                    .is_none_or(|h| h == "app-1")
            })
            && c.faults.iter().all(|f| match &f.fault {
                Fault::Crash { host, .. } | Fault::DbConnectionDrop { host } => host == "app-1",
                Fault::Partition { a, b, .. } => [a, b]
                    .iter()
                    .all(|h| !h.starts_with("app-") || h.as_str() == "app-1"),
                _ => true,
            });
        if fits {
            out.push(c);
        }
    }
    if input.latency_ms.1 > input.latency_ms.0 {
        let mut c = input.clone();
        c.latency_ms.1 = input.latency_ms.0.max(input.latency_ms.1 / 2);
        out.push(c);
    }
    out
}

/// A size measure for reports: faults + steps.
pub fn input_size(input: &RunInput) -> usize {
    input.faults.len() + input.actors.iter().map(|a| a.steps.len()).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::input::tests::scenario;

    #[test]
    fn candidates_are_strictly_simpler() {
        let input = resolve(&scenario(), "reference", 1);
        let candidates = shrink_candidates(&input);
        assert!(!candidates.is_empty());
        for c in &candidates {
            assert_ne!(c, &input);
            assert!(input_size(c) <= input_size(&input));
        }
    }
}
