//! Every file in `fuzz/corpus/<target>/` is a regression test: it runs through the same
//! harness the cargo-fuzz target calls (`racehound::fuzz`), which panics on a finding.

use std::path::{Path, PathBuf};

use racehound::fuzz::{reference_schedule_input, run_target, SCHEDULE_FLOWS, TARGETS};
use racehound::scenario::FAULT_KINDS;
use racehound::sim::faults::Fault;

/// The corpus files of `target`, sorted; panics if the directory is missing or empty.
fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

fn run_corpus(target: &str) {
    for path in corpus_files(target) {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        eprintln!("{target}: {}", path.display());
        assert!(run_target(target, &data), "{target} is not a fuzz target");
    }
}

#[test]
fn corpus_scenario_file() {
    run_corpus("scenario_file");
}

#[test]
fn corpus_stripe_wire() {
    run_corpus("stripe_wire");
}

#[test]
fn corpus_webhook_signature() {
    run_corpus("webhook_signature");
}

#[test]
fn corpus_db_model() {
    run_corpus("db_model");
}

#[test]
fn corpus_reference_schedule() {
    run_corpus("reference_schedule");
}

/// The schedule seeds between them play every flow and every fault kind at least once.
#[test]
fn reference_schedule_corpus_covers_every_flow_and_fault_kind() {
    let mut flows = Vec::new();
    let mut kinds = Vec::new();
    for path in corpus_files("reference_schedule") {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let input = reference_schedule_input(&data);
        flows.extend(input.actors.iter().flat_map(|a| a.steps.iter().map(|s| s.flow)));
        kinds.extend(input.faults.iter().map(|f| Fault::kind_name(&f.fault)));
    }
    for flow in SCHEDULE_FLOWS {
        assert!(flows.contains(&flow), "no corpus file plays {flow}");
    }
    for kind in FAULT_KINDS {
        assert!(
            kinds.contains(kind),
            "no corpus file plans {kind} (planned: {kinds:?})"
        );
    }
}

#[test]
fn every_target_has_a_corpus_test() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut targets: Vec<String> = TARGETS.iter().map(|t| t.to_string()).collect();
    targets.sort();
    assert_eq!(
        on_disk, targets,
        "fuzz/corpus/ and racehound::fuzz::TARGETS disagree"
    );
}
