//! Greedy shrinking: replace a failing input by a simpler one that still fails, until no
//! simpler candidate fails or the run budget is spent.
//!
//! Candidates are ordered simplest-first by the caller (remove a whole actor before one of
//! its steps, remove a fault before narrowing it), so the first failing candidate is taken.
//! This is delta debugging with chunk size one — enough for the small inputs racehound runs.

/// The result of shrinking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrunk<T> {
    /// The smallest failing input found.
    pub value: T,
    /// How many candidate runs were made.
    pub runs: usize,
    /// How many times a simpler failing input was accepted.
    pub steps_accepted: usize,
    /// Whether the run budget ran out before a fixpoint.
    pub budget_exhausted: bool,
}

/// Shrinks `start` (which must fail) using `candidates` (simpler variants of a value) and
/// `still_fails` (runs a candidate), making at most `runs_max` runs.
pub fn shrink<T: Clone>(
    start: T,
    runs_max: usize,
    mut candidates: impl FnMut(&T) -> Vec<T>,
    mut still_fails: impl FnMut(&T) -> bool,
) -> Shrunk<T> {
    let mut current = start;
    let mut runs = 0usize;
    let mut steps_accepted = 0usize;
    'outer: loop {
        for candidate in candidates(&current) {
            if runs >= runs_max {
                return Shrunk {
                    value: current,
                    runs,
                    steps_accepted,
                    budget_exhausted: true,
                };
            }
            runs += 1;
            if still_fails(&candidate) {
                current = candidate;
                steps_accepted += 1;
                continue 'outer;
            }
        }
        return Shrunk {
            value: current,
            runs,
            steps_accepted,
            budget_exhausted: false,
        };
    }
}

/// Every list obtained by removing one element of `items` (index order).
pub fn without_each<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    (0..items.len())
        .map(|skip| {
            items
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, x)| x.clone())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinks_to_the_minimal_failing_subset() {
        // Fails whenever both 3 and 7 are present.
        let start: Vec<u32> = (0..10).collect();
        let shrunk = shrink(
            start,
            1_000,
            |v| without_each(v),
            |v| v.contains(&3) && v.contains(&7),
        );
        assert_eq!(shrunk.value, vec![3, 7]);
        assert!(!shrunk.budget_exhausted);
        assert_eq!(shrunk.steps_accepted, 8);
    }

    #[test]
    fn respects_the_run_budget() {
        let start: Vec<u32> = (0..50).collect();
        let shrunk = shrink(start, 5, |v| without_each(v), |v| v.contains(&49));
        assert_eq!(shrunk.runs, 5);
        assert!(shrunk.budget_exhausted);
    }
}
