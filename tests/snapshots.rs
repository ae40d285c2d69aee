//! insta snapshots of what users read: the error for each malformed scenario file in
//! `tests/bad_scenarios/` (rendered exactly as the CLI prints it), and the reports for one
//! fixed counterexample (`tests/fixtures/coupon_race.toml`, `checkout.naive`, seeds from 0):
//! text trace, Mermaid diagram, the `explain` page, JSON and JUnit.
//!
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test --test
//! snapshots`, then read the diff); CI runs with `INSTA_UPDATE=no`. Nothing is redacted: every
//! id, token and hash derives from the seed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use racehound::app::strategies::registry;
use racehound::explore::verdict::{Found, Verdict};
use racehound::explore::{explore, ExploreOptions};
use racehound::report;
use racehound::scenario::load::load;
use racehound::scenario::Scenario;
use racehound::{replay_catalogue, Counterexample};

const BAD_DIR: &str = "tests/bad_scenarios";
const FIXTURE: &str = "tests/fixtures/coupon_race.toml";
/// Most lines an error may take to count as "one screen".
const SCREEN_LINES: usize = 24;

fn bad_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(BAD_DIR)
        .expect("tests/bad_scenarios exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// The error for one file, exactly as `racehound validate FILE` prints it on stderr.
fn rendered_error(file: &Path) -> String {
    match load(&[file.to_path_buf()], &registry::ids()) {
        Ok(_) => panic!("{} should be rejected", file.display()),
        Err(e) => report::error_text(&e),
    }
}

#[test]
fn every_bad_scenario_file_gets_a_one_screen_error_with_line_and_column() {
    let files = bad_files();
    assert!(files.len() >= 10, "only {} fixtures", files.len());
    let mut mismatched = Vec::new();
    for file in &files {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string();
        let text = rendered_error(file);
        let first = text.lines().next().unwrap_or("");
        let location = format!("error: {}:", file.display());
        let rest = first
            .strip_prefix(&location)
            .unwrap_or_else(|| panic!("{stem}: {first}"));
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().and_then(|l| l.parse::<usize>().ok());
        let column = parts.next().and_then(|c| c.parse::<usize>().ok());
        assert!(
            line.is_some() && column.is_some(),
            "{stem} has no line:column: {first}"
        );
        assert!(
            text.lines().count() <= SCREEN_LINES,
            "{stem} is longer than a screen:\n{text}"
        );
        assert!(text.contains("= hint: "), "{stem} has no hint:\n{text}");
        assert!(!text.contains('\u{1b}'), "{stem} has ANSI escapes");
        // Keep going after a mismatch so one run shows (and writes) every changed snapshot.
        let result = std::panic::catch_unwind(|| {
            insta::with_settings!({
                input_file => file,
                description => format!("racehound validate {}", file.display()),
                omit_expression => true,
            }, {
                insta::assert_snapshot!(format!("bad_scenario__{stem}"), text);
            });
        });
        if result.is_err() {
            mismatched.push(stem);
        }
    }
    assert!(mismatched.is_empty(), "changed snapshots: {mismatched:?}");
}

#[test]
fn the_cli_prints_the_same_error_and_exits_2() {
    let file = Path::new(BAD_DIR).join("unknown_field.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_racehound"))
        .arg("validate")
        .arg(&file)
        .env_remove("RUST_LOG")
        .output()
        .expect("run racehound");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stderr), rendered_error(&file));
    assert!(output.stdout.is_empty());
}

fn fixture() -> Scenario {
    let mut loaded = load(&[PathBuf::from(FIXTURE)], &registry::ids()).expect("fixture loads");
    loaded.remove(0).1
}

/// The fixture's verdicts, explored once per test binary (single-threaded, seeds from 0).
fn verdicts() -> &'static [Verdict] {
    static VERDICTS: OnceLock<Vec<Verdict>> = OnceLock::new();
    VERDICTS.get_or_init(|| {
        let scenario = fixture();
        let options = ExploreOptions {
            seeds: None,
            base_seed: 0,
            jobs: 1,
            shrink: Some(true),
            ..ExploreOptions::default()
        };
        scenario
            .strategies
            .iter()
            .map(|strategy| explore(&scenario, strategy, options, || {}))
            .collect()
    })
}

/// The shrunk `checkout.naive` counterexample, replayed from its token as the CLI does.
fn naive_run() -> Counterexample {
    replay_catalogue(naive_token()).expect("token replays")
}

/// The shrunk `checkout.naive` counterexample's replay token.
fn naive_token() -> &'static str {
    match &verdicts()[0].found {
        Found::Fail(f) => &f.token,
        Found::Pass { .. } | Found::Inconclusive { .. } => {
            panic!("checkout.naive passed the coupon race: {:?}", verdicts()[0])
        }
    }
}

#[test]
fn the_fixture_verdicts_are_what_it_says_except_the_deliberate_one() {
    let v = verdicts();
    assert_eq!(v.len(), 2);
    assert_eq!(
        (v[0].strategy.as_str(), v[0].as_expected()),
        ("checkout.naive", true)
    );
    assert_eq!(
        (v[1].strategy.as_str(), v[1].as_expected()),
        ("checkout.transaction", false)
    );
}

#[test]
fn text_trace() {
    insta::assert_snapshot!("report__text_trace", naive_run().trace_text());
}

#[test]
fn mermaid_diagram() {
    insta::assert_snapshot!("report__mermaid", naive_run().mermaid());
}

#[test]
fn explain_page() {
    insta::assert_snapshot!("report__explain", naive_run().explain());
}

#[test]
fn json_verdicts() {
    insta::assert_snapshot!("report__json", report::json(verdicts()));
}

#[test]
fn junit_report() {
    insta::assert_snapshot!("report__junit", report::junit::render(verdicts()));
}

#[test]
fn a_replayed_counterexample_is_the_same_run() {
    let (first, second) = (naive_run(), naive_run());
    assert_eq!(first.trace_hash, second.trace_hash);
    assert!(first.breaks("no_duplicate_customers"));
}
