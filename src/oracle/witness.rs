//! Race witnesses ("sometimes" assertions): named predicates over a run's trace saying that the
//! interleaving a scenario exists for happened in that run.
//!
//! An invariant says what must never happen; a witness says what must *sometimes* happen for
//! a `pass` to mean anything. A witness describes the situation, never a strategy's reaction
//! (no witness asks whether the app used a lock or a key), so every strategy — the reference
//! included — can reach it. The explorer counts, per (scenario, strategy) pair, the seeds whose
//! run reached each witness the scenario names; a pass whose witness was reached in fewer than
//! K seeds is *inconclusive*.
//!
//! The built-in witnesses read the typed trace only ([`crate::trace::TraceKind`]), and each is
//! sound rather than complete: it reports a situation only when the trace proves it. Where the
//! trace cannot tell two concurrent handlers on one replica apart (an `AppReply` does not say
//! which call it answers), a handler counts as still running only while its replica has
//! replied to nothing, crashed or restarted since the call; so a witness may miss a seed that
//! did race, never claim one that did not.

use std::collections::BTreeMap;
use std::fmt;

// std's Arc even under `racehound_loom`: a witness is an immutable predicate, never state a
// loom model explores, and loom's Arc may only be created inside a model (files are parsed,
// and witnesses looked up, outside one).
use std::sync::Arc;

use crate::trace::{Trace, TraceEvent, TraceKind};
use crate::vocabulary::closest;

/// A witness's predicate: the trace events that show the situation (indices into
/// `trace.events`, possibly empty), or `None` when the run did not reach it.
pub type WitnessCheck = Arc<dyn Fn(&Trace) -> Option<Vec<usize>> + Send + Sync>;

/// A named situation a run may reach ("sometimes" assertion).
#[derive(Clone)]
pub struct Witness {
    /// Stable name, e.g. `concurrent_user_requests`.
    pub name: String,
    /// One sentence on the situation it recognises.
    pub description: String,
    /// The predicate over the trace.
    pub check: WitnessCheck,
}

impl Witness {
    /// A witness whose predicate returns the trace events that show it (or `None`).
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        check: impl Fn(&Trace) -> Option<Vec<usize>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            check: Arc::new(check),
        }
    }

    /// A witness from a plain yes/no predicate over the trace (what `Explorer::sometimes` takes).
    pub fn sometimes(
        name: impl Into<String>,
        description: impl Into<String>,
        reached: impl Fn(&Trace) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, description, move |trace| reached(trace).then(Vec::new))
    }

    /// The trace events that show this witness in `trace`, or `None` when it was not reached.
    pub fn reached(&self, trace: &Trace) -> Option<Vec<usize>> {
        (self.check)(trace)
    }
}

impl fmt::Debug for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Witness").field("name", &self.name).finish()
    }
}

/// Two requests of one user handled by the app at once.
pub const CONCURRENT_USER_REQUESTS: &str = "concurrent_user_requests";
/// An external create acknowledged, then the replica that asked crashed before answering.
pub const CRASH_AFTER_EXTERNAL_CREATE: &str = "crash_after_external_create";
/// A webhook delivered before the API response that caused its event reached the app.
pub const WEBHOOK_BEFORE_RESPONSE: &str = "webhook_before_response";
/// Two deliveries of one event in flight at once.
pub const CONCURRENT_DELIVERIES: &str = "concurrent_deliveries";
/// Stripe answered 409: another request with the same idempotency key was in progress.
pub const IDEMPOTENCY_KEY_IN_FLIGHT: &str = "idempotency_key_in_flight";
/// A webhook handled by the app while a user's request is being handled.
pub const WEBHOOK_DURING_USER_REQUEST: &str = "webhook_during_user_request";
/// An external create executed by the service whose answer the app never got.
pub const CREATE_RESPONSE_LOST: &str = "create_response_lost";
/// An external create answered with a 5xx or 429.
pub const EXTERNAL_CREATE_FAILED: &str = "external_create_failed";
/// An external create acknowledged, then the asking replica's DB connections were killed.
pub const DB_DROP_AFTER_EXTERNAL_CREATE: &str = "db_drop_after_external_create";
/// A replica crashed while it was handling a webhook delivery.
pub const CRASH_DURING_WEBHOOK: &str = "crash_during_webhook";

/// The names of the built-in witnesses, in catalogue order.
pub const WITNESS_NAMES: [&str; 10] = [
    CONCURRENT_USER_REQUESTS,
    CRASH_AFTER_EXTERNAL_CREATE,
    WEBHOOK_BEFORE_RESPONSE,
    CONCURRENT_DELIVERIES,
    IDEMPOTENCY_KEY_IN_FLIGHT,
    WEBHOOK_DURING_USER_REQUEST,
    CREATE_RESPONSE_LOST,
    EXTERNAL_CREATE_FAILED,
    DB_DROP_AFTER_EXTERNAL_CREATE,
    CRASH_DURING_WEBHOOK,
];

/// Every built-in witness, in catalogue order.
pub fn builtin_witnesses() -> Vec<Witness> {
    vec![
        Witness::new(
            CONCURRENT_USER_REQUESTS,
            "two requests of one user (signup, checkout, apply_coupon, create_team_org) in flight at the app at once",
            concurrent_user_requests,
        ),
        Witness::new(
            CRASH_AFTER_EXTERNAL_CREATE,
            "a Stripe customer or Clerk org create acknowledged by the service, then the replica that asked crashed before it answered its client",
            crash_after_external_create,
        ),
        Witness::new(
            WEBHOOK_BEFORE_RESPONSE,
            "a webhook delivery started before the response of the app's API call that caused its event reached the app",
            webhook_before_response,
        ),
        Witness::new(
            CONCURRENT_DELIVERIES,
            "two deliveries of one webhook event in flight at once (at the dispatcher, or handled by the app at once)",
            concurrent_deliveries,
        ),
        Witness::new(
            IDEMPOTENCY_KEY_IN_FLIGHT,
            "a request reached Stripe while another request with the same idempotency key was in progress (Stripe answered 409 idempotency_key_in_use)",
            idempotency_key_in_flight,
        ),
        Witness::new(
            WEBHOOK_DURING_USER_REQUEST,
            "a webhook handled by the app while a user's request is being handled",
            webhook_during_user_request,
        ),
        Witness::new(
            CREATE_RESPONSE_LOST,
            "a Stripe customer or Clerk org create executed by the service whose 2xx answer was lost before it reached the app",
            create_response_lost,
        ),
        Witness::new(
            EXTERNAL_CREATE_FAILED,
            "a Stripe customer or Clerk org create answered 5xx or 429 (the create did not happen)",
            external_create_failed,
        ),
        Witness::new(
            DB_DROP_AFTER_EXTERNAL_CREATE,
            "a Stripe customer or Clerk org create acknowledged, then the asking replica's DB connections were killed before it answered its client",
            db_drop_after_external_create,
        ),
        Witness::new(
            CRASH_DURING_WEBHOOK,
            "a replica crashed while it was handling a webhook delivery (Stripe or Clerk), before it answered",
            crash_during_webhook,
        ),
    ]
}

/// A witness name that is not in the catalogue, with the closest valid name if one is near.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWitness {
    /// The name asked for.
    pub name: String,
    /// The closest built-in name, if it is a plausible typo.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for UnknownWitness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown witness `{}`", self.name)?;
        match self.suggestion {
            Some(best) => write!(
                f,
                " (hint: did you mean `{best}`? witnesses: {})",
                WITNESS_NAMES.join(", ")
            ),
            None => write!(f, " (hint: witnesses: {})", WITNESS_NAMES.join(", ")),
        }
    }
}

impl std::error::Error for UnknownWitness {}

/// The built-in witness named `name`, or the closest valid name.
pub fn witness(name: &str) -> Result<Witness, UnknownWitness> {
    builtin_witnesses()
        .into_iter()
        .find(|w| w.name == name)
        .ok_or_else(|| UnknownWitness {
            name: name.to_string(),
            suggestion: closest(name, WITNESS_NAMES),
        })
}

// ---------------------------------------------------------------------------------------
// Reading the trace.

/// Whether `host` is an app replica (`app-1`, `app-2`, …).
fn is_app(host: &str) -> bool {
    host.starts_with("app-")
}

/// The user of an `AppCall` a browser made (`checkout user_…`), if it is one.
fn user_of_call(call: &str) -> Option<&str> {
    let mut words = call.split_whitespace();
    match words.next()? {
        "signup" | "checkout" | "apply_coupon" | "create_team_org" => words.next(),
        _ => None,
    }
}

/// The `(service, event id)` of an `AppCall` that handles a webhook (`stripe webhook T evt_…`).
fn webhook_of_call(call: &str) -> Option<(&str, &str)> {
    let mut words = call.split_whitespace();
    let service = words.next()?;
    if words.next()? != "webhook" {
        return None;
    }
    let _event_type = words.next()?;
    Some((service, words.next()?))
}

/// Calls certainly still being handled, per replica: a call stays here until its replica
/// replies to anything, crashes or restarts (the trace does not say which call a reply answers).
struct OpenCalls<T> {
    by_replica: BTreeMap<String, Vec<(usize, T)>>,
}

impl<T> Default for OpenCalls<T> {
    fn default() -> Self {
        Self {
            by_replica: BTreeMap::new(),
        }
    }
}

impl<T> OpenCalls<T> {
    /// Forgets what `event` may have ended; returns whether it was such an event.
    fn end(&mut self, event: &TraceEvent) -> bool {
        match event.kind {
            TraceKind::AppReply { .. } | TraceKind::Crash | TraceKind::Restart => {
                self.by_replica.remove(&event.host);
                true
            }
            _ => false,
        }
    }

    fn open(&mut self, replica: &str, index: usize, value: T) {
        self.by_replica
            .entry(replica.to_string())
            .or_default()
            .push((index, value));
    }

    fn all(&self) -> impl Iterator<Item = &(usize, T)> {
        self.by_replica.values().flatten()
    }
}

/// `concurrent_user_requests`: a browser call for user U arrives at a replica while another call
/// for U is certainly still being handled.
fn concurrent_user_requests(trace: &Trace) -> Option<Vec<usize>> {
    let mut open: OpenCalls<String> = OpenCalls::default();
    for (index, event) in trace.events.iter().enumerate() {
        if open.end(event) {
            continue;
        }
        let TraceKind::AppCall { call } = &event.kind else {
            continue;
        };
        let Some(user) = user_of_call(call) else {
            continue;
        };
        if let Some((first, _)) = open.all().find(|(_, u)| u == user) {
            return Some(vec![*first, index]);
        }
        open.open(&event.host, index, user.to_string());
    }
    None
}

/// What a handler is: a user's call or a webhook delivery.
#[derive(Clone, PartialEq, Eq)]
enum Handling {
    User,
    Webhook(String),
}

/// `webhook_during_user_request`: a webhook call and a user call certainly handled at once.
fn webhook_during_user_request(trace: &Trace) -> Option<Vec<usize>> {
    let mut open: OpenCalls<Handling> = OpenCalls::default();
    for (index, event) in trace.events.iter().enumerate() {
        if open.end(event) {
            continue;
        }
        let TraceKind::AppCall { call } = &event.kind else {
            continue;
        };
        let this = if user_of_call(call).is_some() {
            Handling::User
        } else if let Some((_, id)) = webhook_of_call(call) {
            Handling::Webhook(id.to_string())
        } else {
            continue;
        };
        let other = open.all().find(|(_, h)| {
            matches!(
                (h, &this),
                (Handling::User, Handling::Webhook(_)) | (Handling::Webhook(_), Handling::User)
            )
        });
        if let Some((first, _)) = other {
            return Some(vec![*first, index]);
        }
        open.open(&event.host, index, this);
    }
    None
}

/// `concurrent_deliveries`: two attempts of one event started and not yet ended at the
/// dispatcher, or two calls handling one event certainly at the app at once.
fn concurrent_deliveries(trace: &Trace) -> Option<Vec<usize>> {
    let mut in_flight: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    let mut open: OpenCalls<String> = OpenCalls::default();
    for (index, event) in trace.events.iter().enumerate() {
        match &event.kind {
            TraceKind::WebhookAttempt {
                service, event_id, ..
            } => {
                let attempts = in_flight.entry((service, event_id)).or_default();
                if let Some(first) = attempts.first() {
                    return Some(vec![*first, index]);
                }
                attempts.push(index);
            }
            TraceKind::WebhookResult {
                service, event_id, ..
            } => {
                if let Some(attempts) = in_flight.get_mut(&(service.as_str(), event_id.as_str())) {
                    attempts.pop();
                }
            }
            TraceKind::AppCall { call } => {
                if let Some((_, id)) = webhook_of_call(call) {
                    if let Some((first, _)) = open.all().find(|(_, e)| e == id) {
                        return Some(vec![*first, index]);
                    }
                    open.open(&event.host, index, id.to_string());
                }
            }
            _ => {
                open.end(event);
            }
        }
    }
    None
}

/// `crash_during_webhook`: a replica crashed with a webhook call certainly still open on it.
fn crash_during_webhook(trace: &Trace) -> Option<Vec<usize>> {
    let mut open: OpenCalls<()> = OpenCalls::default();
    for (index, event) in trace.events.iter().enumerate() {
        match &event.kind {
            TraceKind::AppCall { call } if webhook_of_call(call).is_some() => {
                open.open(&event.host, index, ());
            }
            TraceKind::Crash => {
                if let Some((first, ())) = open.by_replica.get(&event.host).and_then(|calls| calls.first()) {
                    return Some(vec![*first, index]);
                }
                open.end(event);
            }
            _ => {
                open.end(event);
            }
        }
    }
    None
}

/// `idempotency_key_in_flight`: Stripe answered 409 `idempotency_key_in_use`.
fn idempotency_key_in_flight(trace: &Trace) -> Option<Vec<usize>> {
    trace
        .events
        .iter()
        .position(|event| {
            matches!(&event.kind, TraceKind::Response { from, status: 409, body, .. }
                if from == "stripe" && (body.contains("idempotency_key_in_use") || body.contains("in-progress request")))
        })
        .map(|index| vec![index])
}

/// One request an app replica sent to Stripe or Clerk, with how it ended.
#[derive(Debug, Clone)]
struct ApiRequest<'a> {
    /// Index of the `Request` event.
    sent: usize,
    /// The replica that sent it.
    host: &'a str,
    /// `stripe` or `clerk`.
    to: &'a str,
    /// Method.
    method: &'a str,
    /// Path.
    path: &'a str,
    /// Index and status of the `Response` the replica got, if any.
    response: Option<(usize, u16)>,
    /// Index of how it ended otherwise: `NoResponse`, or a crash or restart of the replica.
    lost: Option<usize>,
}

impl ApiRequest<'_> {
    /// Index of the event that ended the request at the app (`None`: the run ended first).
    fn ended(&self) -> Option<usize> {
        self.response.map(|(i, _)| i).or(self.lost)
    }

    /// Whether it creates a Stripe customer or a Clerk organization.
    fn is_create(&self) -> bool {
        self.method == "POST"
            && ((self.to == "stripe" && self.path == "/v1/customers")
                || (self.to == "clerk" && self.path == "/v1/organizations"))
    }
}

/// Every request app replicas sent to Stripe or Clerk, each paired with the first unpaired
/// outcome of the same (replica, service, path) after it.
fn api_requests(trace: &Trace) -> Vec<ApiRequest<'_>> {
    let mut requests: Vec<ApiRequest<'_>> = Vec::new();
    for (index, event) in trace.events.iter().enumerate() {
        let host = event.host.as_str();
        match &event.kind {
            TraceKind::Request { to, method, path, .. }
                if is_app(host) && (to == "stripe" || to == "clerk") =>
            {
                requests.push(ApiRequest {
                    sent: index,
                    host,
                    to,
                    method,
                    path,
                    response: None,
                    lost: None,
                })
            }
            TraceKind::Response {
                from, path, status, ..
            } if is_app(host) => {
                if let Some(r) = requests
                    .iter_mut()
                    .find(|r| r.ended().is_none() && r.host == host && r.to == from && r.path == path)
                {
                    r.response = Some((index, *status));
                }
            }
            TraceKind::NoResponse { to, path, .. } if is_app(host) => {
                if let Some(r) = requests
                    .iter_mut()
                    .find(|r| r.ended().is_none() && r.host == host && r.to == to && r.path == path)
                {
                    r.lost = Some(index);
                }
            }
            TraceKind::Crash | TraceKind::Restart if is_app(host) => {
                for r in requests
                    .iter_mut()
                    .filter(|r| r.ended().is_none() && r.host == host)
                {
                    r.lost = Some(index);
                }
            }
            _ => {}
        }
    }
    requests
}

/// The index at which the service is known to have executed `request` with a 2xx: its 2xx
/// response at the app, or a 2xx response the service dropped (fault) while it was the only
/// request of its path in flight to that service.
fn acknowledged(trace: &Trace, requests: &[ApiRequest<'_>], request: &ApiRequest<'_>) -> Option<usize> {
    if let Some((index, status)) = request.response {
        return (200..300).contains(&status).then_some(index);
    }
    let end = request.ended().unwrap_or(trace.events.len());
    (request.sent + 1..end).find(|&index| {
        let event = &trace.events[index];
        let dropped = matches!(&event.kind, TraceKind::ResponseDropped { path, status }
            if event.host == request.to && path == request.path && (200..300).contains(status));
        dropped
            && requests.iter().all(|other| {
                other.sent == request.sent
                    || other.to != request.to
                    || other.path != request.path
                    || other.sent > index
                    || other.ended().is_some_and(|e| e < index)
            })
    })
}

/// The first event after `from` on `host` that answers a client (an `AppReply`) or that
/// matches `hit`; `Some(index)` only when `hit` comes first.
fn before_reply(trace: &Trace, from: usize, host: &str, hit: impl Fn(&TraceEvent) -> bool) -> Option<usize> {
    for (index, event) in trace.events.iter().enumerate().skip(from + 1) {
        if hit(event) {
            return Some(index);
        }
        if event.host == host && matches!(event.kind, TraceKind::AppReply { .. } | TraceKind::Crash) {
            return None;
        }
    }
    None
}

/// The event type a create emits (`customer.created`, `organization.created`).
fn created_event(request: &ApiRequest<'_>) -> &'static str {
    if request.to == "stripe" {
        "customer.created"
    } else {
        "organization.created"
    }
}

/// For a create cut by a crash of its replica: the index of the `.created` event the service
/// emitted for it (after it was sent, while it was the only create of its kind in flight).
fn executed_despite_crash(
    trace: &Trace,
    requests: &[ApiRequest<'_>],
    request: &ApiRequest<'_>,
) -> Option<(usize, usize)> {
    let crash = request
        .lost
        .filter(|&i| trace.events[i].kind == TraceKind::Crash)?;
    let emitted = (request.sent + 1..trace.events.len()).find(|&index| {
        matches!(&trace.events[index].kind, TraceKind::EventEmitted { service, event_type, .. }
            if service == request.to && event_type == created_event(request))
    })?;
    let alone = requests.iter().all(|other| {
        other.sent == request.sent
            || !other.is_create()
            || other.to != request.to
            || other.sent > emitted
            || other.ended().is_some_and(|e| e < emitted)
    });
    alone.then_some((crash, emitted))
}

/// `crash_after_external_create`: either the app got the create's 2xx and its replica crashed
/// before replying to anything, or the replica crashed while the create was at the service
/// and the service executed it anyway (it emitted the object's `.created` event).
fn crash_after_external_create(trace: &Trace) -> Option<Vec<usize>> {
    let requests = api_requests(trace);
    requests.iter().filter(|r| r.is_create()).find_map(|request| {
        if let Some((crash, emitted)) = executed_despite_crash(trace, &requests, request) {
            return Some(vec![request.sent, crash, emitted]);
        }
        let ack = acknowledged(trace, &requests, request)?;
        let crash = before_reply(trace, ack, request.host, |event| {
            event.host == request.host && event.kind == TraceKind::Crash
        })?;
        Some(vec![request.sent, ack, crash])
    })
}

/// `db_drop_after_external_create`.
fn db_drop_after_external_create(trace: &Trace) -> Option<Vec<usize>> {
    let requests = api_requests(trace);
    requests.iter().filter(|r| r.is_create()).find_map(|request| {
        let ack = acknowledged(trace, &requests, request)?;
        let killed = before_reply(trace, ack, request.host, |event| {
            matches!(&event.kind, TraceKind::Note { text } if killed_connections_of(text) == Some(request.host))
        })?;
        Some(vec![request.sent, ack, killed])
    })
}

/// The host of a `killed N connections of HOST` note with N ≥ 1.
fn killed_connections_of(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("killed ")?;
    let (count, host) = rest.split_once(" connections of ")?;
    (count.parse::<u64>().ok()? > 0).then_some(host)
}

/// `create_response_lost`: the service executed a create with a 2xx and the app never got it.
fn create_response_lost(trace: &Trace) -> Option<Vec<usize>> {
    let requests = api_requests(trace);
    requests
        .iter()
        .filter(|r| r.is_create() && r.response.is_none())
        .find_map(|request| {
            let dropped = acknowledged(trace, &requests, request)?;
            Some(vec![request.sent, dropped])
        })
}

/// `external_create_failed`: a create answered 5xx or 429.
fn external_create_failed(trace: &Trace) -> Option<Vec<usize>> {
    api_requests(trace)
        .iter()
        .filter(|r| r.is_create())
        .find_map(|r| match r.response {
            Some((index, status)) if status >= 500 || status == 429 => Some(vec![r.sent, index]),
            _ => None,
        })
}

/// Whether an API call to `path` can have caused an event of `event_type`.
fn may_cause(event_type: &str, path: &str) -> bool {
    let family: &[&str] =
        if event_type.starts_with("customer.subscription") || event_type.starts_with("invoice.") {
            &["/v1/subscriptions", "/complete"]
        } else if event_type.starts_with("customer.") {
            &["/v1/customers"]
        } else if event_type.starts_with("checkout.session") {
            &["/v1/checkout/sessions", "/complete"]
        } else if event_type.starts_with("organization") {
            &["/v1/organizations"]
        } else if event_type.starts_with("subscription.") {
            // Clerk Billing subscriptions are not made through the app's API calls.
            &[]
        } else {
            &["/"]
        };
    family.iter().any(|fragment| path.contains(fragment))
}

/// `webhook_before_response`: an event's first delivery attempt starts while every app API
/// call that may have caused it (same service, a mutating call of a matching path, sent
/// before the event and not ended at it) is still waiting for its response.
fn webhook_before_response(trace: &Trace) -> Option<Vec<usize>> {
    let requests = api_requests(trace);
    for (emitted, event) in trace.events.iter().enumerate() {
        let TraceKind::EventEmitted {
            service,
            event_id,
            event_type,
        } = &event.kind
        else {
            continue;
        };
        let causes: Vec<&ApiRequest<'_>> = requests
            .iter()
            .filter(|r| {
                r.to == service
                    && r.method != "GET"
                    && r.sent < emitted
                    && r.ended().is_none_or(|e| e > emitted)
                    && may_cause(event_type, r.path)
            })
            .collect();
        if causes.is_empty() {
            continue;
        }
        let attempt = trace.events.iter().enumerate().skip(emitted + 1).find_map(|(i, e)| {
            matches!(&e.kind, TraceKind::WebhookAttempt { service: s, event_id: id, .. } if s == service && id == event_id)
                .then_some(i)
        });
        let Some(attempt) = attempt else {
            continue;
        };
        if causes.iter().all(|r| r.ended().is_none_or(|e| e > attempt)) {
            return Some(vec![causes[0].sent, emitted, attempt]);
        }
    }
    None
}

#[cfg(test)]
mod tests;
