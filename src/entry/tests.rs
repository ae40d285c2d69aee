//! The library surface: custom invariants are checked and can fail, failures read well,
//! tokens replay only with their strategy and version.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::app::reference::Reference;
use crate::app::strategies::checkout::CheckoutNaive;
use crate::explore::token::{TokenError, WORLD_RULES_VERSION};
use crate::oracle::WorldView;
use crate::scenario::{Flow, Step};

fn one_checkout(seeds: u32) -> Scenario {
    Scenario::builder("lib.one_checkout")
        .replicas(1)
        .actor(1, [Step::new(Flow::Checkout)])
        .seeds(seeds)
        .build()
}

fn coupon_race(seeds: u32) -> Scenario {
    Scenario::builder("lib.coupon_race")
        .actor(
            1,
            [
                Step::new(Flow::Checkout),
                Step::new(Flow::ApplyCoupon).coupon("SAVE20").at_ms(0, 100),
            ],
        )
        .seeds(seeds)
        .build()
}

/// A team's convention: every live customer carries `metadata.user_id`.
fn customers_carry_user_id(view: &WorldView) -> Vec<Violation> {
    view.live_customers()
        .filter(|c| !c.metadata.contains_key("user_id"))
        .map(|c| Violation::new(format!("customer {} has no metadata.user_id", c.id)).objects([c.id.clone()]))
        .collect()
}

fn user_id_invariant() -> Invariant {
    Invariant::always(
        "customers_carry_user_id",
        "every live customer carries metadata.user_id",
        customers_carry_user_id,
    )
}

static ALWAYS_CALLS: AtomicUsize = AtomicUsize::new(0);
static QUIESCENCE_CALLS: AtomicUsize = AtomicUsize::new(0);

fn count_always(_: &WorldView) -> Vec<Violation> {
    ALWAYS_CALLS.fetch_add(1, Ordering::SeqCst);
    Vec::new()
}

fn count_quiescence(view: &WorldView) -> Vec<Violation> {
    QUIESCENCE_CALLS.fetch_add(1, Ordering::SeqCst);
    assert!(
        !view.customers.is_empty(),
        "at quiescence the checkout has made its customer"
    );
    Vec::new()
}

#[test]
fn custom_invariants_are_checked_in_their_phase() {
    let report = Explorer::new()
        .invariant(Invariant::always("counts_always", "counts calls", count_always))
        .invariant(Invariant::at_quiescence(
            "counts_quiescence",
            "counts calls",
            count_quiescence,
        ))
        .explore(&one_checkout(3), Reference);
    report.assert_pass();
    assert_eq!(QUIESCENCE_CALLS.load(Ordering::SeqCst), 3, "once per run");
    assert!(
        ALWAYS_CALLS.load(Ordering::SeqCst) >= 3 * 2,
        "after every state change, several per run: {}",
        ALWAYS_CALLS.load(Ordering::SeqCst)
    );
}

#[test]
fn a_custom_invariant_passes_or_fails_with_the_code_under_test() {
    let explorer = Explorer::new().invariant(user_id_invariant());
    // The reference tags its customers with the user id …
    explorer.explore(&one_checkout(5), Reference).assert_pass();
    // … checkout.naive tags them with the tenant id only: our invariant, and only ours, breaks.
    let report = explorer.explore(&one_checkout(5), CheckoutNaive);
    let failure = report.failure().expect("checkout.naive breaks the convention");
    assert_eq!(failure.invariant, "customers_carry_user_id");
    assert_eq!(failure.seed, 0, "every run breaks it");
    let c = report.assert_fails("customers_carry_user_id");
    assert_eq!(c.violations.len(), 1, "{:?}", c.violations);
    assert!(c.violations[0].objects[0].starts_with("cus_"));
    assert!(c.violations[0].message.contains("has no metadata.user_id"));
    assert!(
        c.trace_text().contains("VIOLATION customers_carry_user_id"),
        "an Always violation is noted in the trace when it happens"
    );
    // Replaying with the explorer checks it again; the built-in invariants alone find nothing.
    let token = report.token().expect("token");
    assert!(explorer
        .replay(token, CheckoutNaive)
        .expect("replays")
        .breaks("customers_carry_user_id"));
    let plain = replay(token, CheckoutNaive).expect("replays");
    assert!(plain.violations.is_empty(), "{:?}", plain.violations);
    // The trace notes the broken invariants, so checking others plays another trace: the
    // replay says so, and with the same explorer it does not.
    assert!(
        matches!(plain.warnings[..], [ReplayWarning::BehaviourChanged { .. }]),
        "{:?}",
        plain.warnings
    );
    assert_eq!(
        explorer.replay(token, CheckoutNaive).expect("replays").warnings,
        vec![]
    );
}

#[test]
fn a_quiescence_invariant_can_fail_too() {
    let report = Explorer::new()
        .without_builtin_invariants()
        .invariant(Invariant::at_quiescence(
            "customers_carry_user_id",
            "checked at the end only",
            customers_carry_user_id,
        ))
        .explore(&one_checkout(2), CheckoutNaive);
    let c = report.assert_fails("customers_carry_user_id");
    assert!(
        !c.trace_text().contains("VIOLATION"),
        "quiescence invariants are not checked during the run"
    );
    assert_eq!(Explorer::new().without_builtin_invariants().invariants().len(), 0);
}

#[test]
fn a_failing_verdict_is_a_readable_test_failure() {
    let report = explore(&coupon_race(60), CheckoutNaive);
    let failure = report.failure().expect("checkout.naive races").clone();
    assert_eq!(failure.invariant, "no_duplicate_customers");
    let panic = std::panic::catch_unwind(|| report.assert_pass()).expect_err("assert_pass panics");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("lib.coupon_race × checkout.naive: no_duplicate_customers"),
        "{message}"
    );
    assert!(
        message.contains(&format!("replay token: {}", failure.token)),
        "{message}"
    );
    assert!(
        message.contains(&format!("racehound explain {}", failure.token)),
        "{message}"
    );
    assert!(
        !message.contains("not in racehound's catalogue"),
        "a catalogue strategy: the CLI can explain it"
    );
    assert!(
        message.contains("## Steps") && message.contains("```mermaid\nsequenceDiagram"),
        "{message}"
    );
    // The same token through the CLI's path gives the same run, and the same explain page.
    let again = replay_catalogue(&failure.token).expect("the CLI replays catalogue tokens");
    let c = report.counterexample.as_ref().expect("counterexample");
    assert_eq!(again.trace_hash, c.trace_hash);
    assert_eq!(c.trace_hash, c.trace.trace_hash());
    assert_eq!(again.explain(), c.explain());
    assert!(
        message.contains(c.explain().trim_end()),
        "the message ends with the explain page"
    );
    // A passing report does not panic.
    explore(&coupon_race(3), Reference).assert_pass();
}

#[test]
fn a_token_records_the_world_rules_and_the_trace_hash_of_the_run_it_replays() {
    // The failure's token is the shrunk run's: its hash is the counterexample's.
    let report = Explorer::new().explore(&coupon_race(60), CheckoutNaive);
    let failure = report.failure().expect("checkout.naive races");
    let c = report.counterexample.as_ref().expect("counterexample");
    assert!(failure.input_size_shrunk < failure.input_size_original || failure.shrink_runs > 0);
    let contents = token::read(&failure.token).expect("reads");
    assert_eq!(contents.world_rules, Some(WORLD_RULES_VERSION));
    assert_eq!(contents.trace_hash, Some(c.trace_hash));
    assert_eq!(c.token, failure.token);
    // One seed, and every failing crash point, record their own run.
    let seed = Explorer::new().run_seed(&coupon_race(60), CheckoutNaive, failure.seed);
    assert_eq!(
        token::read(&seed.token).expect("reads").trace_hash,
        Some(seed.trace_hash)
    );
    let sweep = crate::explore::crash_sweep::crash_sweep("checkout.naive", "checkout").expect("sweeps");
    let crash = sweep
        .failures
        .first()
        .expect("checkout.naive loses a customer to a crash");
    let replayed = replay_catalogue(&crash.token).expect("replays");
    assert_eq!(replayed.warnings, vec![], "the crash point replays as recorded");
    // Replaying each reproduces the recorded trace: nothing to warn about.
    for token in [&failure.token, &seed.token] {
        let again = replay(token, CheckoutNaive).expect("replays");
        assert_eq!(again.warnings, vec![]);
        assert_eq!(&again.token, token, "the replay's own token is the same");
    }
}

#[test]
fn a_replay_under_other_world_rules_warns_and_another_trace_says_the_behaviour_changed() {
    let run = Explorer::new().run_seed(&coupon_race(60), CheckoutNaive, 10);
    let mut contents = token::read(&run.token).expect("reads");
    // Other world rules, same trace: a warning naming both versions.
    contents.world_rules = Some(WORLD_RULES_VERSION + 1);
    let other_rules = token::encode(&contents);
    for again in [
        replay(&other_rules, CheckoutNaive).expect("replays"),
        replay_catalogue(&other_rules).expect("replays"),
    ] {
        assert_eq!(
            again.warnings,
            vec![ReplayWarning::OtherWorldRules {
                token: WORLD_RULES_VERSION + 1,
                current: WORLD_RULES_VERSION
            }]
        );
        assert_eq!(again.trace_hash, run.trace_hash, "the run itself is the same");
    }
    // Same world rules, another trace: the behaviour changed, with both hashes.
    contents.world_rules = Some(WORLD_RULES_VERSION);
    contents.trace_hash = Some(run.trace_hash ^ 0xff);
    let other_trace = token::encode(&contents);
    let again = replay(&other_trace, CheckoutNaive).expect("replays");
    assert_eq!(
        again.warnings,
        vec![ReplayWarning::BehaviourChanged {
            recorded: run.trace_hash ^ 0xff,
            replayed: run.trace_hash
        }]
    );
    let text = again.warnings[0].to_string();
    assert!(
        text.contains(&format!("{:016x}", run.trace_hash ^ 0xff)),
        "{text}"
    );
    assert!(text.contains(&format!("{:016x}", run.trace_hash)), "{text}");
    // A token from before the world rules and trace hash were recorded: nothing to compare.
    let old = token::encode(&run.input);
    assert_eq!(replay(&old, CheckoutNaive).expect("replays").warnings, vec![]);
}

#[test]
fn assert_fails_names_the_invariant_it_wanted() {
    let report = explore(&one_checkout(2), Reference);
    let panic = std::panic::catch_unwind(|| {
        report.assert_fails("no_duplicate_customers");
    })
    .expect_err("reference passes");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("expected reference to break `no_duplicate_customers`"),
        "{message}"
    );
    assert!(message.contains("all 2 seeds passed"), "{message}");
}

#[test]
fn tokens_replay_only_with_their_strategy_and_version() {
    let report = explore(&one_checkout(1), Reference);
    assert!(report.passed());
    let input = crate::explore::input::resolve(&one_checkout(1), "reference", 0);
    let token = token::encode(&input);
    let err = replay(&token, CheckoutNaive).unwrap_err();
    assert!(matches!(err, ReplayError::OtherStrategy { .. }));
    assert!(
        err.to_string().contains("found with strategy `reference`"),
        "{err}"
    );
    let other_version = token.replacen("rh1_", "rh0_", 1);
    let err = replay(&other_version, Reference).unwrap_err();
    assert_eq!(err, ReplayError::Token(TokenError::WrongVersion { found: 0 }));
    assert!(err.to_string().contains("made by token format v0"), "{err}");
    assert!(replay(&token, Reference).expect("replays").violations.is_empty());
}

#[test]
fn the_cli_path_explains_a_token_of_a_user_strategy() {
    let mut input = crate::explore::input::resolve(&one_checkout(1), "reference", 0);
    input.strategy = "acme.checkout".into();
    let err = replay_catalogue(&token::encode(&input)).unwrap_err();
    assert_eq!(
        err,
        ReplayError::UnknownStrategy {
            strategy: "acme.checkout".into()
        }
    );
    let err = err.to_string();
    assert!(err.contains("unknown strategy `acme.checkout`"), "{err}");
    assert!(err.contains("not in racehound's catalogue"), "{err}");
    assert!(err.contains("racehound::replay(token, YourStrategy)"), "{err}");
}

#[test]
fn seeds_default_to_the_scenario_budget() {
    let explorer = Explorer::new();
    if std::env::var(SEEDS_ENV).is_err() {
        assert_eq!(explorer.effective_options().seeds, None);
    }
    assert_eq!(Explorer::new().seeds(7).effective_options().seeds, Some(7));
}

#[test]
fn run_seed_plays_the_same_run_as_the_sweep_did_at_that_seed() {
    let report = Explorer::new()
        .shrink(false)
        .explore(&coupon_race(50), CheckoutNaive);
    let failure = report.failure().expect("check-then-create races");
    assert_eq!(report.seeds_tried(), failure.seed + 1);
    let run = Explorer::new().run_seed(&coupon_race(50), CheckoutNaive, failure.seed);
    assert_eq!(
        run.token, failure.token,
        "the unshrunk failure is exactly that seed's run"
    );
    assert!(run.breaks(&failure.invariant));
    // A seed before it passed in the sweep, and passes alone.
    if failure.seed > 0 {
        let earlier = Explorer::new().run_seed(&coupon_race(50), CheckoutNaive, failure.seed - 1);
        assert!(earlier.violations.is_empty(), "{:?}", earlier.violations);
    }
}

#[test]
fn a_pass_reports_every_seed_tried() {
    let report = Explorer::new().explore(&one_checkout(7), Reference);
    report.assert_pass();
    assert_eq!(report.seeds_tried(), 7);
}

#[test]
fn the_crash_sweep_runs_a_users_strategy_with_the_explorers_invariants() {
    // Reference passes the built-in invariants at every crash point of checkout …
    let sweep = Explorer::new()
        .crash_sweep(Reference, "checkout")
        .expect("sweeps");
    assert!(sweep.points > 5, "{} points", sweep.points);
    assert!(sweep.failures.is_empty(), "{:?}", sweep.failures);
    assert_eq!(
        (sweep.strategy.as_str(), sweep.flow.as_str()),
        ("reference", "checkout")
    );
    // … and a custom invariant it does not keep (no metadata.user_id on its customers) is
    // checked there too: the baseline itself breaks it, which the sweep says.
    let err = Explorer::new()
        .invariant(Invariant::always(
            "customers_carry_email_only",
            "no customer carries metadata.tenant_id",
            |view: &WorldView| {
                view.live_customers()
                    .filter(|c| c.metadata.contains_key("tenant_id"))
                    .map(|c| Violation::new(format!("{} has tenant_id", c.id)))
                    .collect()
            },
        ))
        .crash_sweep(Reference, "checkout")
        .expect_err("the baseline breaks the custom invariant");
    assert!(
        err.contains("customers_carry_email_only") && err.contains("passing baseline"),
        "{err}"
    );
}

#[test]
fn the_crash_sweep_refuses_an_unknown_flow_with_the_known_ones() {
    let err = Explorer::new()
        .crash_sweep(Reference, "chekout")
        .expect_err("unknown flow");
    assert!(
        err.contains("unknown flow `chekout`") && err.contains("hint:") && err.contains("checkout"),
        "{err}"
    );
}

/// Notes a random key from `Env::rng` on every call, so the trace shows every draw.
struct NotesRandomKeys;

impl AppLogic for NotesRandomKeys {
    fn id(&self) -> &str {
        "lib.notes_random_keys"
    }

    fn schema(&self) -> Vec<crate::app::api::TableSchema> {
        Reference.schema()
    }

    fn seed_rows(&self, users: &[crate::app::api::UserSpec]) -> Vec<crate::app::api::Stmt> {
        Reference.seed_rows(users)
    }

    async fn handle<E: crate::app::api::Env>(
        &self,
        env: &E,
        _call: crate::app::api::AppCall,
    ) -> crate::app::api::AppReply {
        let key = env.rng().token("key");
        env.note(&format!("{} drew {key}", env.replica()));
        crate::app::api::AppReply::ok(serde_json::json!({ "key": key }))
    }
}

#[test]
fn env_rng_draws_replay_exactly_and_differ_between_seeds() {
    let notes = |seed: u64| -> Vec<String> {
        let run = Explorer::new().run_seed(&coupon_race(10), NotesRandomKeys, seed);
        run.trace_text()
            .lines()
            .filter(|l| l.contains(" drew key_"))
            .map(str::to_string)
            .collect()
    };
    let first = notes(3);
    assert!(first.len() >= 2, "{first:?}");
    assert_eq!(first, notes(3), "the same seed draws the same keys");
    assert_ne!(first, notes(4), "another seed draws other keys");
    let keys: std::collections::BTreeSet<&str> =
        first.iter().filter_map(|l| l.split(" drew ").nth(1)).collect();
    assert_eq!(keys.len(), first.len(), "every draw is a new key: {first:?}");
}

/// One checkout on one replica, retried, whose replica crashes while its first customer create
/// is at Stripe (a fault bound to an event, written with the builder).
fn crash_while_the_create_is_at_stripe(name: &str, seeds: u32) -> Scenario {
    use crate::scenario::{FaultKind, PlannedFault};
    use crate::trigger::Trigger;
    Scenario::builder(name)
        .replicas(1)
        .actor(1, [Step::new(Flow::Checkout).retry(3, 3_000)])
        .fault(
            PlannedFault::new(FaultKind::Crash, 0)
                .restart_after_ms(5)
                .on(Trigger::first(
                    "call stripe POST /v1/customers".parse().expect("a trigger event"),
                )),
        )
        .seeds(seeds)
        .build()
}

/// A fault bound to an event, in the builder: a crash while the customer create is at Stripe
/// (the request sent, the answer not yet back), found in the first seed, shrunk with its
/// trigger kept, and replayed exactly.
#[test]
fn an_event_bound_crash_is_found_shrunk_with_its_trigger_and_replayed() {
    let scenario = crash_while_the_create_is_at_stripe("lib.crash_after_create", 5);
    let report = Explorer::new().explore(&scenario, CheckoutNaive);
    let Some(failure) = report.failure() else {
        let input = crate::explore::input::resolve(&scenario, "checkout.naive", 0);
        let outcome = crate::explore::run_input(&input).expect("runs");
        panic!("{report}\n{}", outcome.trace.render_text());
    };
    assert_eq!(
        failure.seeds_tried, 1,
        "the bound crash lands in its window in every seed"
    );
    let counterexample = report.counterexample.as_ref().expect("a counterexample");
    let kept = counterexample
        .input
        .faults
        .iter()
        .find_map(|f| f.trigger.as_ref())
        .map(|t| t.to_string());
    assert_eq!(kept.as_deref(), Some("call stripe POST /v1/customers"));
    let again = Explorer::new()
        .replay(&failure.token, CheckoutNaive)
        .expect("replays");
    assert_eq!(again.trace_hash, counterexample.trace_hash);
    let fixed = Explorer::new().explore(&scenario, Reference);
    assert!(fixed.failure().is_none(), "{fixed}");
}

/// `explain` marks a library user's own witness at the step its predicate names, and lists a
/// yes/no one.
#[test]
fn explain_marks_the_explorers_own_witnesses() {
    use crate::sim::trace::{Trace, TraceKind};
    let scenario = crash_while_the_create_is_at_stripe("lib.own_witness", 3);
    let explorer = Explorer::new()
        .witness(Witness::new(
            "replica_crashed",
            "a replica crashed",
            |trace: &Trace| {
                trace
                    .events
                    .iter()
                    .position(|e| matches!(e.kind, TraceKind::Crash))
                    .map(|i| vec![i])
            },
        ))
        .sometimes("anything_happened", |trace: &Trace| !trace.events.is_empty());
    let report = explorer.explore(&scenario, CheckoutNaive);
    let page = report
        .counterexample
        .as_ref()
        .expect("a counterexample")
        .explain();
    let crash_line = page
        .lines()
        .find(|l| l.contains("CRASH"))
        .unwrap_or_else(|| panic!("{page}"));
    assert!(
        crash_line.contains("★") && crash_line.contains("witness replica_crashed"),
        "{crash_line}"
    );
    assert!(
        page.contains("(the witness names no step): witness anything_happened"),
        "{page}"
    );
    assert!(page.contains("## Faults"), "{page}");
}
