//! Scenarios: a race as a file — world, actors, faults, budget, strategies, expectations.
//!
//! [`parse`] turns TOML text into a validated [`Scenario`], or a [`ScenarioError`] that
//! points at the line and column and suggests the closest valid name. It never panics on
//! any input.

pub mod builder;
pub mod file;
pub mod load;

use std::collections::BTreeMap;
use std::ops::Range;

use miette::{Diagnostic, NamedSource, SourceSpan};

use crate::trigger::{Trigger, TriggerEvent};
pub use builder::{FaultKind, Flow, ScenarioBuilder};
pub use file::RangeMs;
use file::ScenarioFile;

/// The flows a user's browser drives (every flow but the cron's `reconcile`).
pub const BROWSER_FLOWS: [Flow; 6] = Flow::BROWSER;

/// Flows a scenario step may name.
pub const FLOWS: &[&str] = &Flow::NAMES;

/// Fault kinds a scenario may name (in `[faults.rates]` and `[[faults.plan]]`).
pub const FAULT_KINDS: &[&str] = &FaultKind::NAMES;

/// Most seeds a scenario may ask for per strategy.
pub const SEEDS_MAX: u32 = 100_000;
/// Most actors in one scenario.
pub const ACTORS_MAX: usize = 64;
/// Most steps per actor.
pub const STEPS_MAX: usize = 64;
/// Most users in one scenario.
pub const USERS_MAX: u32 = 1_000;

/// A scenario file that is wrong, with where and why.
#[derive(Debug, Clone, Diagnostic)]
#[diagnostic(code(racehound::scenario))]
pub struct ScenarioError {
    /// What is wrong.
    pub message: String,
    /// The file.
    #[source_code]
    pub source_code: NamedSource<String>,
    /// Where.
    #[label("{label}")]
    pub span: Option<SourceSpan>,
    /// The label text at the span.
    pub label: String,
    /// What to do about it.
    #[help]
    pub help: Option<String>,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

impl ScenarioError {
    /// The 1-based (line, column) where the error points, if it has a span.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        let offset = self.span?.offset();
        let text = self.source_code.inner();
        let before = text.get(..offset)?;
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Some((line, column))
    }

    /// A plain one-screen rendering: `file:line:col: message`, the line, a caret, the hint.
    pub fn render_plain(&self) -> String {
        let mut out = String::new();
        let name = self.source_code.name();
        match self.line_column() {
            Some((line, column)) => {
                out.push_str(&format!("error: {name}:{line}:{column}: {}\n", self.message));
                if let Some(text) = self.source_code.inner().lines().nth(line - 1) {
                    out.push_str(&format!("  {line:>3} | {text}\n"));
                    let width = self.span.map_or(1, |s| s.len().max(1));
                    out.push_str(&format!(
                        "      | {}{} {}\n",
                        " ".repeat(column - 1),
                        "^".repeat(width.min(text.chars().count().saturating_sub(column - 1).max(1))),
                        self.label
                    ));
                }
            }
            None => out.push_str(&format!("error: {name}: {}\n", self.message)),
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("  = hint: {help}\n"));
        }
        out
    }
}

/// A run-ready step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// What the step does.
    pub flow: Flow,
    /// Start time range after the actor starts.
    pub at_ms: (u64, u64),
    /// 0-based replica index, or `None` for the load balancer's choice.
    pub replica: Option<u32>,
    /// Coupon typed, if any.
    pub coupon: Option<String>,
    /// Plan slug, if any.
    pub plan: Option<String>,
    /// Attempts (1 = no retry).
    pub attempts: u32,
    /// Client timeout per attempt.
    pub timeout_ms: u64,
}

/// A run-ready actor: one browser tab of one user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    /// 0-based user index.
    pub user: u32,
    /// Steps in start order.
    pub steps: Vec<Step>,
}

/// A run-ready explicit fault.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedFault {
    /// When.
    pub at_ms: u64,
    /// What kind of fault.
    pub kind: FaultKind,
    /// Target host.
    pub host: Option<String>,
    /// Restart delay for crashes.
    pub restart_after_ms: Option<u64>,
    /// Other side of a partition.
    pub peer: Option<String>,
    /// Heal delay for partitions.
    pub heal_after_ms: Option<u64>,
    /// Failing requests for service errors.
    pub count: Option<u32>,
    /// The event it is bound to, if any (`on = "…"`); then `at_ms` is when counting starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Trigger>,
}

/// The expected verdict of one strategy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Expected {
    /// Every seed passes.
    Pass,
    /// Some seed fails, with this invariant if given.
    Fail {
        /// The invariant expected to break.
        invariant: Option<String>,
        /// One sentence why.
        reason: Option<String>,
    },
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scenario {
    /// Unique name.
    pub name: String,
    /// What it plays out.
    pub description: String,
    /// Seed document, if any.
    pub seed_document: Option<String>,
    /// Users at the start.
    pub users: u32,
    /// Replicas.
    pub replicas: u32,
    /// Latency range.
    pub latency_ms: (u64, u64),
    /// Message loss probability.
    pub loss: f64,
    /// Actors.
    pub actors: Vec<Actor>,
    /// Random fault kinds and their per-run probability.
    pub fault_rates: BTreeMap<FaultKind, f64>,
    /// Explicit faults.
    pub fault_plan: Vec<PlannedFault>,
    /// Seeds per strategy.
    pub seeds: u32,
    /// Whether to shrink failures.
    pub shrink: bool,
    /// Shrinker run budget.
    pub shrink_runs_max: u32,
    /// Strategy ids selected (globs expanded, catalogue order).
    pub strategies: Vec<String>,
    /// Expected verdicts by strategy id.
    pub expect: BTreeMap<String, Expected>,
    /// The race witnesses this scenario exists for (built-in names, see `oracle::witness`).
    #[serde(default)]
    pub witnesses: Vec<String>,
    /// Seeds that must reach each witness for a pass to count (K; fewer makes it inconclusive).
    #[serde(default = "default_witness_min_seeds")]
    pub witness_min_seeds: u32,
    /// Most seeds exploration may run to reach the witnesses (`None`: 4 × the seed budget).
    #[serde(default)]
    pub seeds_max: Option<u32>,
}

/// Seeds that must reach each witness unless a scenario says otherwise (K).
pub const WITNESS_MIN_SEEDS_DEFAULT: u32 = 10;

/// How many times its seed budget exploration may run to reach the witnesses, by default.
pub const SEEDS_MAX_FACTOR_DEFAULT: u32 = 4;

fn default_witness_min_seeds() -> u32 {
    WITNESS_MIN_SEEDS_DEFAULT
}

pub use crate::vocabulary::{closest, edit_distance};

/// Whether strategy `id` matches `pattern` (`all`, exact, or a `*` glob).
pub fn strategy_matches(pattern: &str, id: &str) -> bool {
    if pattern == "all" || pattern == "*" {
        return true;
    }
    match pattern.split_once('*') {
        None => pattern == id,
        Some((prefix, suffix)) => {
            id.len() >= prefix.len() + suffix.len() && id.starts_with(prefix) && id.ends_with(suffix)
        }
    }
}

struct Checker<'a> {
    source: &'a NamedSource<String>,
}

impl Checker<'_> {
    fn error(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        label: &str,
        help: Option<String>,
    ) -> Box<ScenarioError> {
        let span = if span.is_empty() && span.start == 0 {
            None
        } else {
            Some(SourceSpan::from(span))
        };
        Box::new(ScenarioError {
            message: message.into(),
            source_code: self.source.clone(),
            span,
            label: label.to_string(),
            help,
        })
    }
}

fn suggest(word: &str, options: &[&str], what: &str) -> String {
    match closest(word, options.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? ({what}: {})", options.join(", ")),
        None => format!("{what}: {}", options.join(", ")),
    }
}

/// Turns serde's "unknown field `x`, expected one of `a`, `b`" into a suggestion.
fn unknown_field_help(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    if expected.is_empty() {
        return None;
    }
    Some(suggest(field, &expected, "valid fields"))
}

/// The span, message, label and hint for an error from the TOML parser or serde.
fn describe_toml_error(
    text: &str,
    span: Option<Range<usize>>,
    message: &str,
) -> (Range<usize>, String, String, String) {
    let span = span.unwrap_or(0..0);
    if let Some(help) = unknown_field_help(message) {
        return (span, message.to_string(), "unknown field".into(), help);
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
    {
        let help = format!("add `{field} = …` (docs/scenarios.md lists every field and its type)");
        if !span.is_empty() {
            return (
                span,
                message.to_string(),
                format!("this table has no `{field}`"),
                help,
            );
        }
        // A top-level key is missing: serde has no span for the document; point at its first line.
        let start = text.len() - text.trim_start().len();
        let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
        let help = format!("{help}; top-level keys go before the first [table]");
        return (
            start..end,
            message.to_string(),
            format!("the file has no `{field}`"),
            help,
        );
    }
    if message.starts_with("duplicate key") {
        let key = text.get(span.clone()).unwrap_or("").trim();
        return (
            span,
            format!("duplicate key `{key}`"),
            "defined again here".into(),
            "a key may appear once per table; delete one of the two".into(),
        );
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        return (
            span,
            message.to_string(),
            "wrong type".into(),
            "docs/scenarios.md gives the type of every field".into(),
        );
    }
    (
        span,
        message.to_string(),
        "here".into(),
        "this is a TOML syntax error: check the quotes, brackets and commas around here".into(),
    )
}

/// Parses and validates a scenario file. `name` is the file name for messages;
/// `strategy_ids` are the known strategy ids in catalogue order.
pub fn parse(name: &str, text: &str, strategy_ids: &[&str]) -> Result<Scenario, Box<ScenarioError>> {
    let source = NamedSource::new(name, text.to_string());
    let checker = Checker { source: &source };
    let raw: ScenarioFile = toml::from_str(text).map_err(|e| {
        let (span, message, label, help) = describe_toml_error(text, e.span(), e.message().trim());
        checker.error(span, format!("invalid scenario: {message}"), &label, Some(help))
    })?;
    validate(&checker, raw, strategy_ids)
}

/// Where `key = "value"` is written after `after` on the same line (serde's untagged
/// `[expect]` entries keep no spans of their own): the span of the quoted value.
fn value_span(text: &str, after: Range<usize>, key: &str, value: &str) -> Option<Range<usize>> {
    let start = after.end;
    let line = text.get(start..)?.split('\n').next()?;
    let at_key = line.find(&format!("{key} "))?;
    let quoted = format!("\"{value}\"");
    let at_value = line[at_key..].find(&quoted)? + at_key;
    Some(start + at_value..start + at_value + quoted.len())
}

fn check_range(
    checker: &Checker<'_>,
    range: &toml::Spanned<RangeMs>,
    what: &str,
) -> Result<(u64, u64), Box<ScenarioError>> {
    let (lo, hi) = range.get_ref().bounds();
    if lo > hi {
        return Err(checker.error(
            range.span(),
            format!("{what}: the range [{lo}, {hi}] is backwards"),
            "min is larger than max",
            Some(format!("write it as [{hi}, {lo}]")),
        ));
    }
    Ok((lo, hi))
}

fn validate(
    checker: &Checker<'_>,
    raw: ScenarioFile,
    strategy_ids: &[&str],
) -> Result<Scenario, Box<ScenarioError>> {
    let name = raw.name.get_ref().trim().to_string();
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if !name_ok {
        return Err(checker.error(
            raw.name.span(),
            "scenario name must be non-empty and use only letters, digits, `_`, `-` and `.`",
            "bad name",
            Some("it becomes part of test names and replay tokens".into()),
        ));
    }
    let users = *raw.users.get_ref();
    if users == 0 || users > USERS_MAX {
        return Err(checker.error(
            raw.users.span(),
            format!("users must be between 1 and {USERS_MAX}"),
            "out of range",
            Some("`users` is how many users exist at the start; actors name them 1..=users".into()),
        ));
    }
    let replicas = *raw.world.replicas.get_ref();
    if !(1..=16).contains(&replicas) {
        return Err(checker.error(
            raw.world.replicas.span(),
            "replicas must be between 1 and 16",
            "out of range",
            Some("write a number of app replicas, e.g. replicas = 2".into()),
        ));
    }
    let latency_ms = check_range(checker, &raw.world.latency_ms, "world.latency_ms")?;
    if latency_ms.0 == 0 {
        return Err(checker.error(
            raw.world.latency_ms.span(),
            "world.latency_ms must be at least 1 ms",
            "zero latency",
            Some("turmoil delivers messages on ticks of at least 1 ms".into()),
        ));
    }
    let loss = *raw.world.loss.get_ref();
    if !(0.0..1.0).contains(&loss) {
        return Err(checker.error(
            raw.world.loss.span(),
            "world.loss must be in [0.0, 1.0)",
            "out of range",
            Some("loss is a probability per message: 0.0 loses none, 0.05 one in twenty".into()),
        ));
    }
    if raw.actors.get_ref().is_empty() {
        return Err(checker.error(
            raw.actors.span(),
            "a scenario needs at least one actor",
            "no actors",
            Some("add an [[actors]] table with user = 1 and at least one [[actors.steps]]".into()),
        ));
    }
    if raw.actors.get_ref().len() > ACTORS_MAX {
        return Err(checker.error(
            raw.actors.span(),
            format!("at most {ACTORS_MAX} actors"),
            "too many",
            Some("split the race into several scenario files".into()),
        ));
    }
    let mut actors = Vec::new();
    for actor in raw.actors.get_ref() {
        let user = *actor.user.get_ref();
        if user == 0 || user > users {
            return Err(checker.error(
                actor.user.span(),
                format!("actor user {user} does not exist (users are numbered 1..={users})"),
                "no such user",
                Some(format!("raise `users` to {user} or pick a user in 1..={users}")),
            ));
        }
        if actor.steps.get_ref().is_empty() {
            return Err(checker.error(
                actor.steps.span(),
                "an actor needs at least one step",
                "no steps",
                Some(format!(
                    "add a step such as {{ flow = \"checkout\" }} (flows: {})",
                    FLOWS.join(", ")
                )),
            ));
        }
        if actor.steps.get_ref().len() > STEPS_MAX {
            return Err(checker.error(
                actor.steps.span(),
                format!("at most {STEPS_MAX} steps per actor"),
                "too many",
                Some("give the steps to several actors (browser tabs) of the same user".into()),
            ));
        }
        let mut steps = Vec::new();
        for step in actor.steps.get_ref() {
            let flow = step.flow.get_ref();
            let Some(flow_typed) = Flow::from_name(flow) else {
                return Err(checker.error(
                    step.flow.span(),
                    format!("unknown flow `{flow}`"),
                    "unknown flow",
                    Some(suggest(flow, FLOWS, "flows")),
                ));
            };
            let replica = match &step.replica {
                Some(r) if *r.get_ref() == 0 || *r.get_ref() > replicas => {
                    return Err(checker.error(
                        r.span(),
                        format!(
                            "replica {} does not exist (replicas are numbered 1..={replicas})",
                            r.get_ref()
                        ),
                        "no such replica",
                        Some(format!(
                            "raise [world] replicas to {} or pick a replica in 1..={replicas}",
                            r.get_ref()
                        )),
                    ))
                }
                Some(r) => Some(*r.get_ref() - 1),
                None => None,
            };
            if step.retry.attempts == 0 || step.retry.attempts > 10 {
                return Err(checker.error(
                    step.flow.span(),
                    "retry.attempts must be between 1 and 10",
                    "this step",
                    Some("attempts counts the first try: 1 means no retry".into()),
                ));
            }
            steps.push(Step {
                flow: flow_typed,
                at_ms: check_range(checker, &step.at_ms, "at_ms")?,
                replica,
                coupon: step.coupon.clone(),
                plan: step.plan.clone(),
                attempts: step.retry.attempts,
                timeout_ms: step.retry.timeout_ms.max(1),
            });
        }
        actors.push(Actor {
            user: user - 1,
            steps,
        });
    }
    let mut fault_rates = BTreeMap::new();
    for (kind, rate) in &raw.faults.rates {
        let Some(kind_typed) = FaultKind::from_name(kind) else {
            return Err(checker.error(
                rate.span(),
                format!("unknown fault kind `{kind}`"),
                "unknown fault kind",
                Some(suggest(kind, FAULT_KINDS, "fault kinds")),
            ));
        };
        if !(0.0..=1.0).contains(rate.get_ref()) {
            return Err(checker.error(
                rate.span(),
                format!("fault rate for {kind} must be in [0.0, 1.0]"),
                "out of range",
                Some("a rate is the probability that a run gets one such fault, e.g. 0.5".into()),
            ));
        }
        fault_rates.insert(kind_typed, *rate.get_ref());
    }
    let mut fault_plan = Vec::new();
    for fault in &raw.faults.plan {
        let kind = fault.kind.get_ref();
        let Some(kind_typed) = FaultKind::from_name(kind) else {
            return Err(checker.error(
                fault.kind.span(),
                format!("unknown fault kind `{kind}`"),
                "unknown fault kind",
                Some(suggest(kind, FAULT_KINDS, "fault kinds")),
            ));
        };
        let on = match &fault.on {
            Some(event) => Some(trigger_of(checker, fault, event, &actors, replicas)?),
            None => {
                let stray = [
                    fault.nth.as_ref().map(|n| ("nth", n.span())),
                    fault.on_host.as_ref().map(|h| ("on_host", h.span())),
                    fault.before.as_ref().map(|b| ("before", b.span())),
                ];
                if let Some((field, span)) = stray.into_iter().flatten().next() {
                    return Err(checker.error(
                        span,
                        format!("`{field}` belongs to a fault bound to an event, and this one has no `on`"),
                        "needs `on`",
                        Some("add e.g. on = \"call stripe POST /v1/customers\", or remove it".into()),
                    ));
                }
                None
            }
        };
        fault_plan.push(PlannedFault {
            at_ms: fault.at_ms,
            kind: kind_typed,
            host: fault.host.clone(),
            restart_after_ms: fault.restart_after_ms,
            peer: fault.peer.clone(),
            heal_after_ms: fault.heal_after_ms,
            count: fault.count,
            on,
        });
    }
    let seeds = *raw.explore.seeds.get_ref();
    if seeds == 0 || seeds > SEEDS_MAX {
        return Err(checker.error(
            raw.explore.seeds.span(),
            format!("explore.seeds must be between 1 and {SEEDS_MAX}"),
            "out of range",
            Some("e.g. seeds = 200; `racehound run --seeds N` overrides it for one run".into()),
        ));
    }
    let mut strategies: Vec<String> = Vec::new();
    if raw.strategies.get_ref().is_empty() {
        return Err(checker.error(
            raw.strategies.span(),
            "no strategies selected",
            "empty",
            Some("list ids or globs, e.g. strategies = [\"checkout.*\", \"reference\"], or [\"all\"]".into()),
        ));
    }
    for pattern in raw.strategies.get_ref() {
        let matched: Vec<&str> = strategy_ids
            .iter()
            .copied()
            .filter(|id| strategy_matches(pattern.get_ref(), id))
            .collect();
        if matched.is_empty() {
            return Err(checker.error(
                pattern.span(),
                format!("`{}` matches no strategy", pattern.get_ref()),
                "unknown strategy",
                Some(suggest(pattern.get_ref(), strategy_ids, "strategies")),
            ));
        }
        for id in matched {
            if !strategies.iter().any(|s| s == id) {
                strategies.push(id.to_string());
            }
        }
    }
    let mut expect = BTreeMap::new();
    for (id, expectation) in &raw.expect {
        if !strategies.contains(id.get_ref()) {
            let selected: Vec<&str> = strategies.iter().map(String::as_str).collect();
            return Err(checker.error(
                id.span(),
                format!(
                    "expectation for `{}`, which this scenario does not run",
                    id.get_ref()
                ),
                "not selected",
                Some(suggest(id.get_ref(), &selected, "selected strategies")),
            ));
        }
        let (verdict, invariant, reason) = match expectation {
            file::ExpectSection::Short(v) => (v.clone(), None, None),
            file::ExpectSection::Full {
                verdict,
                invariant,
                reason,
            } => (verdict.clone(), invariant.clone(), reason.clone()),
        };
        let expected = match verdict.as_str() {
            "pass" => Expected::Pass,
            "fail" => Expected::Fail {
                invariant: invariant.clone(),
                reason,
            },
            other => {
                return Err(checker.error(
                    id.span(),
                    format!("unknown verdict `{other}` for {}", id.get_ref()),
                    "expected pass or fail",
                    Some(suggest(other, &["pass", "fail"], "verdicts")),
                ))
            }
        };
        if let Some(name) = &invariant {
            let known: Vec<&str> = crate::oracle::builtin_invariants()
                .iter()
                .map(|i| i.name)
                .collect();
            if !known.contains(&name.as_str()) {
                let span =
                    value_span(checker.source.inner(), id.span(), "invariant", name).unwrap_or(id.span());
                return Err(checker.error(
                    span,
                    format!("unknown invariant `{name}` expected for {}", id.get_ref()),
                    "unknown invariant",
                    Some(suggest(name, &known, "invariants")),
                ));
            }
        }
        expect.insert(id.get_ref().clone(), expected);
    }
    let mut witnesses: Vec<String> = Vec::new();
    for name in raw.witnesses.get_ref() {
        if let Err(unknown) = crate::oracle::witness::witness(name.get_ref()) {
            return Err(checker.error(
                name.span(),
                format!("unknown witness `{}`", unknown.name),
                "unknown witness",
                Some(suggest(
                    &unknown.name,
                    &crate::oracle::witness::WITNESS_NAMES,
                    "witnesses",
                )),
            ));
        }
        if !witnesses.contains(name.get_ref()) {
            witnesses.push(name.get_ref().clone());
        }
    }
    let witness_min_seeds = *raw.explore.witness_min_seeds.get_ref();
    if witness_min_seeds == 0 || witness_min_seeds > SEEDS_MAX {
        return Err(checker.error(
            raw.explore.witness_min_seeds.span(),
            format!("explore.witness_min_seeds must be between 1 and {SEEDS_MAX}"),
            "out of range",
            Some("it is how many seeds must reach each witness for a pass to count (default 10)".into()),
        ));
    }
    let seeds_max = match &raw.explore.seeds_max {
        Some(max) if *max.get_ref() < seeds || *max.get_ref() > SEEDS_MAX => {
            return Err(checker.error(
                max.span(),
                format!("explore.seeds_max must be between explore.seeds ({seeds}) and {SEEDS_MAX}"),
                "out of range",
                Some(format!(
                "it caps how far exploration may go past `seeds` to reach the witnesses (default {} × seeds)",
                SEEDS_MAX_FACTOR_DEFAULT
            )),
            ))
        }
        Some(max) => Some(*max.get_ref()),
        None => None,
    };
    Ok(Scenario {
        name,
        description: raw.description,
        seed_document: raw.seed_document,
        users,
        replicas,
        latency_ms,
        loss,
        actors,
        fault_rates,
        fault_plan,
        seeds,
        shrink: raw.explore.shrink,
        shrink_runs_max: raw.explore.shrink_runs_max,
        strategies,
        expect,
        witnesses,
        witness_min_seeds,
        seeds_max,
    })
}

#[cfg(test)]
mod tests;

/// The trigger of a `[[faults.plan]]` entry with `on`, checked against what the scenario can
/// produce (line:column errors with the closest valid name).
fn trigger_of(
    checker: &Checker<'_>,
    fault: &file::PlannedFaultSection,
    event: &toml::Spanned<String>,
    actors: &[Actor],
    replicas: u32,
) -> Result<Trigger, Box<ScenarioError>> {
    let parse_event = |text: &toml::Spanned<String>| -> Result<TriggerEvent, Box<ScenarioError>> {
        let parsed: TriggerEvent = text.get_ref().parse().map_err(|why: String| {
            let (message, hint) = match why.split_once(" (hint: ") {
                Some((message, hint)) => (message.to_string(), Some(hint.trim_end_matches(')').to_string())),
                None => (why.clone(), None),
            };
            checker.error(text.span(), message, "not an event racehound can watch", hint)
        })?;
        let flows: Vec<Flow> = actors
            .iter()
            .flat_map(|a| a.steps.iter().map(|s| s.flow))
            .chain([Flow::Reconcile])
            .collect();
        if let Some(why) = crate::trigger::unreachable_in(&parsed, &flows) {
            let (message, hint) = match why.split_once("; ") {
                Some((message, hint)) => (message.to_string(), Some(hint.to_string())),
                None => (why, None),
            };
            return Err(checker.error(text.span(), message, "this scenario cannot produce it", hint));
        }
        Ok(parsed)
    };
    let mut trigger = Trigger::first(parse_event(event)?);
    if let Some(nth) = &fault.nth {
        let n = *nth.get_ref();
        if n == 0 || n > crate::trigger::TRIGGER_NTH_MAX {
            return Err(checker.error(
                nth.span(),
                format!("nth must be between 1 and {}", crate::trigger::TRIGGER_NTH_MAX),
                "out of range",
                Some("nth = 1 is the first matching event".into()),
            ));
        }
        trigger.nth = n;
    }
    if let Some(host) = &fault.on_host {
        let name = host.get_ref();
        let valid: Vec<String> = (1..=replicas.max(1)).map(|r| format!("app-{r}")).collect();
        if !valid.iter().any(|v| v == name) {
            let options: Vec<&str> = valid.iter().map(String::as_str).collect();
            return Err(checker.error(
                host.span(),
                format!("on_host `{name}` is not an app replica of this scenario"),
                "unknown replica",
                Some(suggest(name, &options, "replicas")),
            ));
        }
        trigger.host = Some(name.clone());
    }
    if let Some(before) = &fault.before {
        trigger.before = Some(parse_event(before)?);
    }
    Ok(trigger)
}
