//! The vertical slice (issue 4): seed 004's race found end to end, shrunk, replayed; the
//! reference surviving the same sweep with faults; determinism across runs and processes;
//! every fault kind happening, traced and replayable; `racehound replay` / `explain` warning
//! when a token's world rules or trace hash differ from the replay's.

use std::path::Path;

use racehound::app::strategies::registry;
use racehound::explore::input::{resolve, RunInput};
use racehound::explore::verdict::Found;
use racehound::explore::{explore, run_input, token, ExploreOptions};
use racehound::replay_catalogue;
use racehound::scenario::{parse, Scenario};
use racehound::sim::faults::{Fault, Service, TimedFault};
use racehound::sim::trace::TraceKind;

fn scenario_file(path: &str) -> Scenario {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("scenario file");
    parse(path, &text, &registry::ids()).expect("valid scenario")
}

#[test]
fn coupon_race_is_found_shrunk_and_replayed() {
    let scenario = scenario_file("scenarios/004_checkout/coupon_race.toml");
    let verdict = explore(
        &scenario,
        "checkout.naive",
        ExploreOptions {
            jobs: 2,
            ..Default::default()
        },
        || {},
    );
    let Found::Fail(failure) = &verdict.found else {
        panic!("checkout.naive passed: {verdict:?}")
    };
    assert_eq!(failure.invariant, "no_duplicate_customers");
    assert!(
        failure.seeds_tried <= u64::from(scenario.seeds),
        "found within the default budget"
    );
    assert!(failure.input_size_shrunk <= failure.input_size_original);
    assert!(failure.token.starts_with("rh1_"));
    // Replaying the token reproduces the failure, with the same trace hash every time.
    let first = replay_catalogue(&failure.token).expect("token replays");
    let second = replay_catalogue(&failure.token).expect("token replays");
    assert_eq!(first.trace_hash, second.trace_hash);
    assert!(first.breaks("no_duplicate_customers"));
    assert_eq!(first.input.strategy, "checkout.naive");
    // The readable trace shows the two customer creations.
    let text = first.trace.render_text();
    assert!(text.matches("/v1/customers").count() >= 2, "{text}");
}

#[test]
fn transaction_fix_is_not_a_fix() {
    let scenario = scenario_file("scenarios/004_checkout/coupon_race.toml");
    let verdict = explore(
        &scenario,
        "checkout.transaction",
        ExploreOptions {
            jobs: 2,
            ..Default::default()
        },
        || {},
    );
    assert!(verdict.as_expected(), "{verdict:?}");
    assert!(matches!(verdict.found, Found::Fail(_)));
}

#[test]
fn reference_passes_the_sweep_with_crashes_and_lost_responses() {
    let scenario = scenario_file("scenarios/004_checkout/crash_and_lost_response.toml");
    let verdict = explore(
        &scenario,
        "reference",
        ExploreOptions {
            jobs: 2,
            shrink: Some(false),
            ..Default::default()
        },
        || {},
    );
    assert!(matches!(verdict.found, Found::Pass { .. }), "{verdict:?}");
    // The sweep really had faults in it.
    let faulty =
        (0..u64::from(scenario.seeds)).filter(|s| !resolve(&scenario, "reference", *s).faults.is_empty());
    assert!(faulty.count() > u64::from(scenario.seeds) as usize / 2);
}

#[test]
fn seeds_are_deterministic_within_a_process() {
    let scenario = scenario_file("scenarios/004_checkout/crash_and_lost_response.toml");
    for seed in 0..8 {
        for strategy in ["checkout.naive", "reference"] {
            let input = resolve(&scenario, strategy, seed);
            let a = run_input(&input).expect("runs");
            let b = run_input(&input).expect("runs");
            assert_eq!(a.trace_hash, b.trace_hash, "{strategy} seed {seed}");
        }
    }
}

#[test]
fn seeds_are_deterministic_across_processes() {
    let run = || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_racehound"))
            .args([
                "check-determinism",
                "scenarios/004_checkout/coupon_race.toml",
                "--seeds",
                "3",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("racehound runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let first = run();
    // One hash per (strategy, seed); every strategy of the file has an expectation.
    let strategies = scenario_file("scenarios/004_checkout/coupon_race.toml")
        .expect
        .len();
    assert_eq!(first.lines().count(), 3 * strategies, "{first}");
    assert_eq!(first, run());
}

fn base_input() -> RunInput {
    let scenario = scenario_file("scenarios/004_checkout/coupon_race.toml");
    let mut input = resolve(&scenario, "reference", 1);
    input.actors[0].steps[0].attempts = 3;
    input.actors[0].steps[0].timeout_ms = 2_000;
    input
}

fn with_fault(at_ms: u64, fault: Fault) -> RunInput {
    let mut input = base_input();
    input.faults = vec![TimedFault {
        at_ms,
        fault,
        trigger: None,
    }];
    input
}

/// Every fault kind: it is applied, it shows in the trace, and the run replays identically.
#[test]
fn every_fault_kind_happens_is_traced_and_replays() {
    let stripe = Service::Stripe;
    let kinds = vec![
        Fault::Latency {
            min_ms: 1,
            max_ms: 200,
        },
        Fault::Loss { rate: 0.05 },
        Fault::Partition {
            a: "app-1".into(),
            b: "postgres".into(),
            heal_after_ms: 300,
        },
        Fault::Crash {
            host: "app-1".into(),
            restart_after_ms: 100,
        },
        Fault::ServiceError {
            service: stripe,
            status: 500,
            count: 1,
            path_prefix: String::new(),
        },
        Fault::ServiceError {
            service: stripe,
            status: 429,
            count: 1,
            path_prefix: String::new(),
        },
        Fault::ServiceError {
            service: Service::Clerk,
            status: 500,
            count: 1,
            path_prefix: String::new(),
        },
        Fault::DropResponse {
            service: stripe,
            count: 1,
            path_prefix: String::new(),
        },
        Fault::DbConnectionDrop { host: "app-1".into() },
        Fault::WebhookDuplicate {
            service: stripe,
            count: 1,
        },
        Fault::WebhookReorder {
            service: stripe,
            count: 1,
        },
        Fault::WebhookDelay {
            service: stripe,
            count: 1,
            delay_ms: 500,
        },
        Fault::WebhookBeforeResponse {
            service: stripe,
            count: 1,
        },
        Fault::TimeJump { hours: 25 },
    ];
    for fault in kinds {
        let input = with_fault(5, fault.clone());
        let outcome = run_input(&input).expect("runs");
        assert_eq!(outcome.sim_error, None, "{fault:?}");
        let traced = outcome
            .trace
            .events
            .iter()
            .any(|e| matches!(&e.kind, TraceKind::Fault { .. }));
        assert!(traced, "{fault:?} is not in the trace");
        let again = replay_catalogue(&token::encode(&input)).expect("replays");
        assert_eq!(
            outcome.trace_hash, again.trace_hash,
            "{fault:?} does not replay identically"
        );
    }
}

#[test]
fn crash_loses_process_memory_and_restarts() {
    let outcome = run_input(&with_fault(
        5,
        Fault::Crash {
            host: "app-2".into(),
            restart_after_ms: 50,
        },
    ))
    .expect("runs");
    let crash = outcome
        .trace
        .events
        .iter()
        .position(|e| e.host == "app-2" && e.kind == TraceKind::Crash);
    let restart = outcome
        .trace
        .events
        .iter()
        .position(|e| e.host == "app-2" && e.kind == TraceKind::Restart);
    assert!(crash.is_some() && restart > crash, "crash then restart expected");
}

#[test]
fn lost_response_is_unknown_not_failure() {
    let fault = Fault::DropResponse {
        service: Service::Stripe,
        count: 1,
        path_prefix: "/v1/customers".into(),
    };
    let outcome = run_input(&with_fault(0, fault)).expect("runs");
    let dropped = outcome
        .trace
        .events
        .iter()
        .any(|e| matches!(e.kind, TraceKind::ResponseDropped { .. }));
    let unknown = outcome
        .trace
        .events
        .iter()
        .any(|e| matches!(e.kind, TraceKind::NoResponse { .. }));
    assert!(dropped && unknown, "{}", outcome.trace.render_text());
    // The reference retries with the same key and converges to one customer.
    assert_eq!(outcome.violations(), vec![]);
}

/// `racehound <command> <token>`: exit code, stdout, stderr.
fn cli(command: &str, token: &str) -> (Option<i32>, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_racehound"))
        .args([command, token])
        .env_remove("RUST_LOG")
        .output()
        .expect("racehound runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_cli_warns_when_a_token_was_made_under_other_world_rules_or_played_another_trace() {
    let input = base_input();
    let hash = run_input(&input).expect("runs").trace_hash;
    let same = token::mint(&input, hash);
    let other_rules = token::encode(&token::TokenContents {
        world_rules: Some(token::WORLD_RULES_VERSION + 1),
        ..token::TokenContents::new(input.clone(), Some(hash))
    });
    let other_trace = token::encode(&token::TokenContents::new(input.clone(), Some(hash ^ 1)));
    let old = token::encode(&input);
    for command in ["replay", "explain"] {
        let (code, stdout, stderr) = cli(command, &same);
        assert_eq!(
            (code, stderr.as_str()),
            (Some(0), ""),
            "{command}: the same run, no warning"
        );
        assert_eq!(
            cli(command, &old),
            (Some(0), stdout.clone(), String::new()),
            "{command}: an old token"
        );

        let (code, out, err) = cli(command, &other_rules);
        assert_eq!(
            (code, &out),
            (Some(0), &stdout),
            "{command}: a warning, not a failure"
        );
        let rules = format!(
            "warning: this replay token was made under world rules v{}, but this racehound ({}) plays v{}",
            token::WORLD_RULES_VERSION + 1,
            env!("CARGO_PKG_VERSION"),
            token::WORLD_RULES_VERSION
        );
        assert!(
            err.starts_with(&rules) && err.contains("(hint: "),
            "{command}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{command}: the trace is the same: {err}");

        let (code, out, err) = cli(command, &other_trace);
        assert_eq!((code, &out), (Some(0), &stdout), "{command}");
        let changed = format!(
            "warning: the behaviour changed: the token's run had trace hash {:016x}, this replay has {hash:016x}",
            hash ^ 1
        );
        assert!(
            err.starts_with(&changed) && err.contains("(hint: "),
            "{command}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{command}: same world rules: {err}");
    }
}

#[test]
fn an_old_token_version_is_refused_clearly() {
    let token = token::encode(&base_input()).replacen("rh1_", "rh0_", 1);
    let err = replay_catalogue(&token).expect_err("refused").to_string();
    assert!(err.contains("v0"), "{err}");
}

#[test]
fn reference_survives_a_crash_at_every_step_of_every_flow() {
    use racehound::explore::crash_sweep::{crash_sweep, SWEPT_FLOWS};
    let mut points = 0;
    for flow in SWEPT_FLOWS {
        let sweep = crash_sweep("reference", flow).unwrap_or_else(|e| panic!("{flow}: {e}"));
        assert!(sweep.points >= 4, "{flow}: only {} crash points", sweep.points);
        points += sweep.points;
        assert!(
            sweep.failures.is_empty(),
            "reference breaks when app-1 crashes during {flow}: {:#?}",
            sweep.failures
        );
    }
    println!(
        "crash sweep: reference passed {points} crash points over {} flows",
        SWEPT_FLOWS.len()
    );
}

#[test]
fn the_crash_sweep_catches_check_then_create_without_a_key() {
    // A sweep that cannot fail proves nothing: checkout.naive loses its customer to a crash
    // between the Stripe create and the UPDATE, and the browser's retry creates another.
    let sweep = racehound::explore::crash_sweep::crash_sweep("checkout.naive", "checkout").expect("sweeps");
    assert!(
        sweep.failures.iter().any(|f| f
            .violations
            .iter()
            .any(|v| v.contains("no_duplicate_customers") || v.contains("no_orphan_customers"))),
        "no crash point broke checkout.naive: {sweep:?}"
    );
}

/// Every scenario file under `scenarios/`, sorted.
fn every_scenario_file() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).expect("scenarios/") {
        let dir = dir.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).expect("scenario dir") {
            let file = file.expect("entry").path();
            if file.extension().is_some_and(|e| e == "toml") {
                let relative = file
                    .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .expect("under the crate");
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn jumping_over_idle_time_changes_no_trace() {
    use racehound::explore::run_input_stepping;
    use racehound::sim::world::Stepping;
    let mut compared = 0;
    let mut different = Vec::new();
    let (mut steps_jumping, mut steps_ticking) = (0u64, 0u64);
    let (mut runs_jumping, mut runs_ticking) = (0u64, 0u64);
    for path in every_scenario_file() {
        let scenario = scenario_file(&path);
        for strategy in scenario.strategies.iter().take(2) {
            for seed in 0..2 {
                let input = resolve(&scenario, strategy, seed);
                let jumping = run_input_stepping(&input, Stepping::JumpIdle).expect("runs");
                let ticking = run_input_stepping(&input, Stepping::EveryTick).expect("runs");
                compared += 1;
                steps_jumping += jumping.steps;
                steps_ticking += ticking.steps;
                runs_jumping += jumping.host_runs;
                runs_ticking += ticking.host_runs;
                if jumping.trace_hash != ticking.trace_hash {
                    different.push(format!("{path} {strategy} seed {seed}"));
                }
            }
        }
    }
    assert!(compared >= 80, "compared only {compared} runs");
    assert!(
        different.is_empty(),
        "jumping changed {} of {compared} traces: {different:#?}",
        different.len()
    );
    // The jumps happen: the same runs in fewer steps.
    assert!(
        steps_jumping * 2 < steps_ticking,
        "{steps_jumping} steps jumping vs {steps_ticking} ticking"
    );
    // Idle hosts are skipped: fewer host runs per step too.
    assert!(
        runs_jumping * steps_ticking < runs_ticking * steps_jumping,
        "{runs_jumping} host runs in {steps_jumping} steps vs {runs_ticking} in {steps_ticking}"
    );
    eprintln!(
        "{compared} runs: {steps_jumping} steps and {runs_jumping} host runs jumping, \
         {steps_ticking} steps and {runs_ticking} host runs ticking"
    );
}

fn any_webhook_attempted(view: &racehound::oracle::WorldView) -> Vec<racehound::oracle::Violation> {
    view.deliveries
        .iter()
        .filter(|d| d.attempts > 0)
        .take(1)
        .map(|d| racehound::oracle::Violation {
            invariant: "any_webhook_attempted".into(),
            objects: vec![d.event_id.clone()],
            message: format!("{} was attempted", d.event_id),
        })
        .collect()
}

/// A custom `Always` invariant that reads only the webhook deliveries is checked when a
/// delivery changes, not at the next unrelated change: its violation carries the time of the
/// step of the first delivery result.
#[test]
fn an_always_invariant_over_deliveries_is_checked_when_a_delivery_changes() {
    let scenario = scenario_file("scenarios/003_webhooks/duplicate_delivery.toml");
    let input = resolve(&scenario, "reference", 0);
    let strategy = registry::by_id(&input.strategy).expect("strategy");
    let invariant = racehound::oracle::Invariant {
        name: "any_webhook_attempted",
        phase: racehound::oracle::Phase::Always,
        description: "fires at the first webhook delivery",
        check: any_webhook_attempted,
    };
    let outcome = racehound::sim::world::run_checked(&input, std::sync::Arc::new(strategy), &[invariant]);
    let first_result = outcome
        .trace
        .events
        .iter()
        .find(|e| matches!(e.kind, TraceKind::WebhookResult { .. }))
        .expect("the scenario delivers a webhook");
    let (at, violation) = outcome
        .always_violations
        .first()
        .expect("the invariant fired during the run");
    assert_eq!(violation.invariant, "any_webhook_attempted");
    // Checked after the turmoil step (1 ms) in which the delivery result came; without the
    // deliveries in the run loop's fingerprint it was checked 423 ms later.
    let after = first_result.at;
    assert!(
        *at >= after && at.saturating_since(after) <= std::time::Duration::from_millis(1),
        "checked at {at:?}, first delivery result at {after:?}"
    );
}
