use super::*;
use crate::vocabulary::FaultKind;

const IDS: &[&str] = &["checkout.naive", "checkout.transaction", "reference"];

const GOOD: &str = r#"
name = "checkout_coupon_race"
description = "initial fetch and coupon re-apply race to create the customer"
seed_document = "004"
strategies = ["checkout.*", "reference"]

[world]
replicas = 2
latency_ms = [1, 50]

[[actors]]
user = 1
steps = [
  { flow = "checkout" },
  { flow = "apply_coupon", at_ms = [0, 300], coupon = "SAVE20" },
]

[faults.rates]
crash = 0.1

[expect]
"checkout.naive" = { verdict = "fail", invariant = "no_duplicate_customers", reason = "both read NULL" }
reference = "pass"
"#;

fn error_of(text: &str) -> ScenarioError {
    *parse("bad.toml", text, IDS).expect_err("should be rejected")
}

#[test]
fn a_good_scenario_parses() {
    let scenario = parse("good.toml", GOOD, IDS).expect("valid");
    assert_eq!(scenario.name, "checkout_coupon_race");
    assert_eq!(
        scenario.strategies,
        vec!["checkout.naive", "checkout.transaction", "reference"]
    );
    assert_eq!(scenario.actors[0].steps[1].at_ms, (0, 300));
    assert_eq!(scenario.fault_rates.get(&FaultKind::Crash), Some(&0.1));
    assert_eq!(scenario.expect.get("reference"), Some(&Expected::Pass));
    assert_eq!(scenario.seeds, 200);
}

#[test]
fn unknown_field_points_at_it_and_suggests() {
    let err = error_of(&GOOD.replace("replicas = 2", "replicaz = 2"));
    assert_eq!(err.line_column(), Some((8, 1)));
    assert!(
        err.help
            .as_deref()
            .unwrap_or("")
            .contains("did you mean `replicas`"),
        "{err:?}"
    );
}

#[test]
fn unknown_strategy_suggests_the_closest() {
    let err = error_of(&GOOD.replace("\"reference\"]", "\"refrence\"]"));
    assert!(err.message.contains("`refrence` matches no strategy"));
    assert!(err
        .help
        .as_deref()
        .unwrap_or("")
        .contains("did you mean `reference`"));
    assert!(err.line_column().is_some());
}

#[test]
fn unknown_flow_suggests_the_closest() {
    let err = error_of(&GOOD.replace("flow = \"checkout\" }", "flow = \"chekout\" }"));
    assert!(err
        .help
        .as_deref()
        .unwrap_or("")
        .contains("did you mean `checkout`"));
}

#[test]
fn backwards_range_is_rejected() {
    let err = error_of(&GOOD.replace("[0, 300]", "[300, 0]"));
    assert!(err.message.contains("backwards"));
}

#[test]
fn empty_actors_are_rejected() {
    let text = GOOD.replace("[world]", "actors = []\n[world]");
    let text = text.split("[[actors]]").next().unwrap_or_default().to_string();
    let err = error_of(&text);
    assert_eq!(err.message, "a scenario needs at least one actor");
}

#[test]
fn syntax_error_has_line_and_column() {
    let err = error_of("name = \"x\"\ndescription = \n");
    assert!(err.line_column().is_some(), "{err:?}");
    assert!(err.render_plain().contains("bad.toml:2:"));
}

#[test]
fn arbitrary_bytes_never_panic() {
    for text in [
        "",
        "\u{0}",
        "[[actors]]\nuser = -1",
        "name = 1",
        "strategies = [[]]",
        "[expect]\nx = 3",
    ] {
        assert!(parse("x.toml", text, IDS).is_err());
    }
}

#[test]
fn globs_match() {
    assert!(strategy_matches("checkout.*", "checkout.naive"));
    assert!(!strategy_matches("checkout.*", "reference"));
    assert!(strategy_matches("all", "reference"));
    assert!(strategy_matches("*.naive", "checkout.naive"));
}
