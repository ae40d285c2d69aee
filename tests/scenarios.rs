//! The scenario suite: every scenario file under `scenarios/` × each of its strategies is one
//! test, named `<scenario>::<strategy>` (e.g. `004.coupon_race::checkout.naive`), run with
//! libtest-mimic so `cargo test` and `cargo nextest run` list, filter and run them by name.
//!
//! A test explores its pair exactly as `racehound run` does ([`explore`], the scenario's seed
//! budget) and passes when the verdict found is the one the scenario's `[expect]` names. A
//! failing test prints what it found, the replay token and the `racehound explain` command.
//! An *inconclusive* pass (a witness the scenario names reached in fewer than K seeds) is
//! never the expected verdict, so its test fails and says which witness fell short.
//! A strategy without an `[expect]` entry has nothing to check: its test is ignored, and
//! `--include-ignored` runs it and prints the verdict found.
//!
//! Two more tests hold the golden record of behaviour (`racehound::explore::golden`):
//! `golden::trace_hashes` runs the first 20 seeds of every pair and compares each run's trace
//! hash with `tests/golden/trace_hashes.tsv`; `golden::verdicts` explores every pair and
//! compares the verdict document with `docs/verdicts.md`. A refactor leaves both unchanged;
//! a change of behaviour is reviewed line by line like a snapshot, then written with
//! `RACEHOUND_GOLDEN=overwrite cargo test --test scenarios golden` (CI never writes them).
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
use racehound::explore::golden::{first_differences, trace_hash_record, verdict_document, GOLDEN_SEEDS};
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

/// Where the committed trace-hash record lives.
const TRACE_HASHES_FILE: &str = "tests/golden/trace_hashes.tsv";
/// Where the committed verdict document lives.
const VERDICTS_FILE: &str = "docs/verdicts.md";

/// Compares `found` with the committed file at `path`, or writes it with `RACEHOUND_GOLDEN=overwrite`.
fn check_golden(path: &str, found: &str) -> Result<(), Failed> {
    if std::env::var("RACEHOUND_GOLDEN").as_deref() == Ok("overwrite") {
        if std::env::var_os("CI").is_some() {
            return Err(Failed::from(
                "RACEHOUND_GOLDEN=overwrite is refused under CI: golden files are written by a person",
            ));
        }
        std::fs::write(path, found).map_err(|e| Failed::from(format!("cannot write {path}: {e}")))?;
        return Ok(());
    }
    let committed = std::fs::read_to_string(path).map_err(|e| {
        Failed::from(format!(
            "cannot read {path}: {e} (hint: create it with RACEHOUND_GOLDEN=overwrite cargo test --test scenarios golden)"
        ))
    })?;
    if committed == found {
        return Ok(());
    }
    Err(Failed::from(format!(
        "{path} no longer matches what the code does:\n{}\n(hint: if the change of behaviour is intended, \
         review it, then RACEHOUND_GOLDEN=overwrite cargo test --test scenarios golden and commit the file)",
        first_differences(&committed, found, 10)
    )))
}

/// The two golden trials over every scenario that loaded.
fn golden_trials(scenarios: Vec<Scenario>) -> Vec<Trial> {
    let for_hashes = scenarios.clone();
    let hashes = Trial::test("golden::trace_hashes", move || {
        check_golden(
            TRACE_HASHES_FILE,
            &trace_hash_record(&for_hashes, GOLDEN_SEEDS, 2),
        )
    });
    let verdicts = Trial::test("golden::verdicts", move || {
        // The default budgets whatever RACEHOUND_SEEDS says: this is the committed table.
        let options = ExploreOptions {
            jobs: 2,
            ..ExploreOptions::default()
        };
        let verdicts: Vec<_> = scenarios
            .iter()
            .flat_map(|s| s.strategies.iter().map(move |st| (s, st)))
            .map(|(scenario, strategy)| explore(scenario, strategy, options, || {}))
            .collect();
        check_golden(VERDICTS_FILE, &verdict_document(&verdicts))
    });
    vec![hashes, verdicts]
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
    let mut scenarios = Vec::new();
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
                    scenarios.push(scenario);
                }
            }
        }
    }
    trials.extend(golden_trials(scenarios));
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
