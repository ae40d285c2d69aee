//! Which (scenario, strategy) pairs to explore: scenario files, a strategy pattern, a shard.

use std::path::PathBuf;

use super::error::InputError;
use crate::app::strategies::registry;
use crate::scenario::load::load;
use crate::scenario::{strategy_matches, Scenario};

/// The (scenario, strategy) pairs under `paths`, in file then catalogue order: only strategies
/// matching `pattern` (an id or a glob such as `checkout.*`), and only shard `K/N` of them.
pub fn select(
    paths: &[PathBuf],
    pattern: Option<&str>,
    shard: Option<&str>,
) -> Result<Vec<(Scenario, String)>, InputError> {
    let ids = registry::ids();
    let scenarios = load(paths, &ids)?;
    let mut out = Vec::new();
    for (_, scenario) in scenarios {
        for strategy in &scenario.strategies {
            if pattern.is_none_or(|p| strategy_matches(p, strategy)) {
                out.push((scenario.clone(), strategy.clone()));
            }
        }
    }
    if let Some(pattern) = pattern {
        if out.is_empty() {
            return Err(InputError::NoStrategyMatches {
                pattern: pattern.to_string(),
            });
        }
    }
    if let Some(shard) = shard {
        let (k, n) = shard
            .split_once('/')
            .and_then(|(k, n)| Some((k.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .filter(|(k, n)| *n > 0 && (1..=*n).contains(k))
            .ok_or_else(|| InputError::BadShard {
                shard: shard.to_string(),
            })?;
        out = out
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, p)| p)
            .collect();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "tests/fixtures/coupon_race.toml";

    fn names(pairs: &[(Scenario, String)]) -> Vec<&str> {
        pairs.iter().map(|(_, s)| s.as_str()).collect()
    }

    #[test]
    fn a_pattern_and_a_shard_narrow_the_pairs() {
        let paths = [PathBuf::from(FILE)];
        let all = select(&paths, None, None).expect("loads");
        assert!(all.len() >= 2, "{:?}", names(&all));
        let naive = select(&paths, Some("checkout.naive"), None).expect("matches");
        assert_eq!(names(&naive), ["checkout.naive"]);
        let first = select(&paths, None, Some("1/2")).expect("shard");
        let second = select(&paths, None, Some("2/2")).expect("shard");
        assert_eq!(first.len() + second.len(), all.len());
        assert_eq!(names(&first)[0], names(&all)[0]);
    }

    #[test]
    fn bad_selections_are_typed_input_errors_with_hints() {
        let paths = [PathBuf::from(FILE)];
        let err = select(&paths, Some("nope.*"), None).unwrap_err();
        assert!(matches!(err, InputError::NoStrategyMatches { .. }), "{err:?}");
        assert!(err.to_string().contains("(hint: `racehound list`)"), "{err}");
        for shard in ["0/2", "3/2", "1/0", "x", "1/2/3"] {
            let err = select(&paths, None, Some(shard)).unwrap_err();
            assert!(matches!(err, InputError::BadShard { .. }), "{shard}: {err:?}");
            assert!(err.to_string().contains("hint: write K/N"), "{err}");
        }
        let err = select(&[PathBuf::from("tests/no_such_dir")], None, None).unwrap_err();
        assert!(matches!(err, InputError::Scenario(_)), "{err:?}");
    }
}
