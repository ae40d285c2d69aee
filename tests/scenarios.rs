//! The scenario suite: every scenario file under `scenarios/` × each of its strategies is one
//! test, named `<scenario>::<strategy>` (e.g. `004.coupon_race::checkout.naive`), run with
//! libtest-mimic so `cargo test` and `cargo nextest run` list, filter and run them by name.
//!
//! A test explores its pair exactly as `racehound run` does ([`explore`], the scenario's seed
//! budget) and passes when the verdict found is the one the scenario's `[expect]` names. A
//! failing test prints what it found, the replay token and the `racehound explain` command.
//! A strategy without an `[expect]` entry has nothing to check: its test is ignored, and
//! `--include-ignored` runs it and prints the verdict found.
//!
//! `RACEHOUND_JOBS=N` gives each test N sweep threads (default 1: the tests already run in
//! parallel); `RACEHOUND_SEEDS=N` overrides every scenario's seed budget (a quick local pass,
//! like `racehound run --seeds N`). A file that does not load is one failing test,
//! `<path>::load`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};
use racehound::app::strategies::registry;
use racehound::explore::{explore, ExploreOptions};
use racehound::report;
use racehound::scenario::load::{find_files, load};
use racehound::scenario::Scenario;

/// Where the suite's scenario files live, relative to the package root (cargo's working
/// directory for tests).
const SCENARIO_DIR: &str = "scenarios";

fn env_number(name: &str) -> Option<u32> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn jobs() -> usize {
    env_number("RACEHOUND_JOBS").map_or(1, |n| n.max(1) as usize)
}

fn pair_trial(scenario: &Scenario, strategy: &str) -> Trial {
    let name = format!("{}::{}", scenario.name, strategy);
    let ignored = !scenario.expect.contains_key(strategy);
    let (scenario, strategy) = (scenario.clone(), strategy.to_string());
    Trial::test(name, move || {
        let options = ExploreOptions {
            seeds: env_number("RACEHOUND_SEEDS").map(|n| n.max(1)),
            jobs: jobs(),
            ..ExploreOptions::default()
        };
        let verdict = explore(&scenario, &strategy, options, || {});
        if ignored {
            // Only reached with --ignored / --include-ignored: show what was found.
            println!("{}", report::verdict_note(&verdict).trim_end());
            return Ok(());
        }
        if verdict.as_expected() {
            Ok(())
        } else {
            Err(Failed::from(report::verdict_note(&verdict)))
        }
    })
    .with_ignored_flag(ignored)
}

fn failing_trial(name: String, message: String) -> Trial {
    Trial::test(name, move || Err(Failed::from(message)))
}

/// One trial per (scenario, strategy); a file that does not load, or reuses a name, is one
/// failing trial, so the rest of the suite still runs.
fn trials(dir: &Path) -> Vec<Trial> {
    let ids = registry::ids();
    let files = match find_files(&[dir.to_path_buf()]) {
        Ok(files) => files,
        Err(e) => {
            return vec![failing_trial(
                format!("{}::load", dir.display()),
                report::error_text(&e),
            )]
        }
    };
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut trials = Vec::new();
    for file in files {
        match load(std::slice::from_ref(&file), &ids) {
            Err(e) => trials.push(failing_trial(
                format!("{}::load", file.display()),
                report::error_text(&e),
            )),
            Ok(loaded) => {
                for (path, scenario) in loaded {
                    if let Some(first) = names.get(&scenario.name) {
                        trials.push(failing_trial(
                            format!("{}::load", path.display()),
                            format!(
                                "scenario name `{}` is used by both {} and {} (hint: names must be unique; rename one)",
                                scenario.name,
                                first.display(),
                                path.display()
                            ),
                        ));
                        continue;
                    }
                    names.insert(scenario.name.clone(), path.clone());
                    for strategy in &scenario.strategies {
                        trials.push(pair_trial(&scenario, strategy));
                    }
                }
            }
        }
    }
    trials
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let conclusion = libtest_mimic::run(&args, trials(Path::new(SCENARIO_DIR)));
    if conclusion.has_failed() {
        ExitCode::from(101)
    } else {
        ExitCode::SUCCESS
    }
}
