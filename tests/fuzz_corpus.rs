//! Every file in `fuzz/corpus/<target>/` is a regression test: it runs through the same
//! harness the cargo-fuzz target calls (`racehound::fuzzing`), which panics on a finding.

use std::path::{Path, PathBuf};

use racehound::fuzzing::{run_target, TARGETS};

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
        "fuzz/corpus/ and racehound::fuzzing::TARGETS disagree"
    );
}
