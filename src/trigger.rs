//! Event-bound fault triggers: a fault that happens when the run reaches an event — the Nth
//! call an app replica makes to a route, the answer to it, the Nth DB statement, a webhook
//! reaching the app, or the window between two such events — rather than at a time.
//!
//! Most races live in a window a few milliseconds wide (between Stripe's answer and the
//! `INSERT` that records it; while a webhook handler holds its dedupe row). A fault at a
//! random time lands in such a window in one seed of dozens; a fault bound to the event that
//! opens the window lands in it in every seed. A trigger is matched against the run's typed
//! trace ([`crate::trace`]) as it grows (and a `call` against the requests the services took,
//! which the trace records only at their sender), so it is as deterministic as the run.
//!
//! The text form, used by scenario files (`on = "call stripe POST /v1/customers"`), replay
//! tokens and reports, is one of:
//!
//! | event | matches |
//! |---|---|
//! | `call <service> [METHOD] <path>` | a request an app replica sent to `stripe` or `clerk`, whose path starts with `<path>`, reached the service (it is being handled there) |
//! | `answer <service> [METHOD] <path>` | an app replica got the answer (any status) to such a request |
//! | `statement [SQL]` | an app replica's DB statement ran whose text contains `SQL` (empty: any) |
//! | `webhook <service> [event type]` | an app replica took a webhook delivery whose event type starts with the given one |
//!
//! A fault applies between two steps of the simulation, right after the step in which its
//! event happened. Within a step a host runs until it waits, so after an `answer` or a
//! `statement` the replica has already sent whatever it sends next without waiting (its next
//! statement, say); a crash then lands after that message left. To hit the window in which a
//! request is at the service and its answer not yet back, bind to its `call`.
//!
//! A leaf: it reads the trace's typed events and the vocabulary, nothing else.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::trace::{TraceEvent, TraceKind};
use crate::vocabulary::{closest, Flow, Service};

/// Largest `nth` a trigger may name.
pub const TRIGGER_NTH_MAX: u32 = 1_000;

/// The event words a trigger may start with.
pub const TRIGGER_EVENT_WORDS: [&str; 4] = ["call", "answer", "statement", "webhook"];

/// HTTP methods a `call` or `answer` may name.
pub const TRIGGER_METHODS: [&str; 4] = ["GET", "POST", "PATCH", "DELETE"];

/// The route roots the fake Stripe serves (a `call` or `answer` path must fall under one).
pub const STRIPE_ROUTES: [&str; 11] = [
    "/v1/customers",
    "/v1/checkout/sessions",
    "/v1/subscriptions",
    "/v1/invoices",
    "/v1/coupons",
    "/v1/promotion_codes",
    "/v1/products",
    "/v1/prices",
    "/v1/events",
    "/v1/webhook_endpoints",
    "/v1/test_helpers",
];

/// The route roots the fake Clerk serves.
pub const CLERK_ROUTES: [&str; 3] = ["/v1/users", "/v1/organizations", "/v1/test_helpers"];

/// One kind of event in a run that a fault can be bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TriggerEvent {
    /// A request an app replica sent to `service` (any method when `None`) under `path_prefix`
    /// reached the service.
    Call {
        /// Which service.
        service: Service,
        /// `GET`, `POST`, `PATCH` or `DELETE`; `None` matches any.
        method: Option<String>,
        /// The request path starts with this.
        path_prefix: String,
    },
    /// An app replica got the answer (any status) to such a request.
    Answer {
        /// Which service.
        service: Service,
        /// The request's method; `None` matches any.
        method: Option<String>,
        /// The request path starts with this.
        path_prefix: String,
    },
    /// A DB statement of an app replica ran whose text contains `sql` (empty: any statement).
    Statement {
        /// A piece of the statement's text, e.g. `INSERT INTO processed_events`.
        sql: String,
    },
    /// An app replica took a webhook delivery of `service` whose event type starts with
    /// `event_type` (empty: any event).
    Webhook {
        /// Which service sent it.
        service: Service,
        /// Event type prefix, e.g. `checkout.session.completed`.
        event_type: String,
    },
}

/// A fault's trigger: the `nth` event matching `on` (counting only `host`'s events when given),
/// unless `before` happened on the same replica between that event and the moment the run
/// loop saw it (the window was already closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// The event that opens the window.
    pub on: TriggerEvent,
    /// Which occurrence, 1-based.
    pub nth: u32,
    /// Count only this app replica's events (`app-1`…); `None` counts every replica's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The event that closes the window (on the replica that opened it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<TriggerEvent>,
    /// Whether the fault hits the replica whose event fired it (a crash, partition or DB
    /// connection drop written without a `host`), instead of its own host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hits_that_replica: bool,
}

impl Trigger {
    /// The first event matching `on`, on any replica.
    pub fn first(on: TriggerEvent) -> Self {
        Self {
            on,
            nth: 1,
            host: None,
            before: None,
            hits_that_replica: false,
        }
    }

    /// The `nth` (1-based) event matching `on`.
    pub fn nth(mut self, nth: u32) -> Self {
        self.nth = nth.max(1);
        self
    }

    /// Counts only `host`'s events.
    pub fn on_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Whether it watches a `call` (which needs the services' arrivals, not only the trace).
    pub fn watches_calls(&self) -> bool {
        std::iter::once(&self.on)
            .chain(self.before.as_ref())
            .any(|e| matches!(e, TriggerEvent::Call { .. }))
    }

    /// Fires only if `before` has not happened yet on the same replica (a window).
    pub fn before(mut self, before: TriggerEvent) -> Self {
        self.before = Some(before);
        self
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nth != 1 {
            write!(f, "#{} ", self.nth)?;
        }
        write!(f, "{}", self.on)?;
        if let Some(host) = &self.host {
            write!(f, " on {host}")?;
        }
        if let Some(before) = &self.before {
            write!(f, " before {before}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TriggerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TriggerEvent::Call {
                service,
                method,
                path_prefix,
            }
            | TriggerEvent::Answer {
                service,
                method,
                path_prefix,
            } => {
                let word = if matches!(self, TriggerEvent::Call { .. }) {
                    "call"
                } else {
                    "answer"
                };
                write!(f, "{word} {}", service.host())?;
                if let Some(method) = method {
                    write!(f, " {method}")?;
                }
                write!(f, " {path_prefix}")
            }
            TriggerEvent::Statement { sql } if sql.is_empty() => f.write_str("statement"),
            TriggerEvent::Statement { sql } => write!(f, "statement {sql}"),
            TriggerEvent::Webhook { service, event_type } if event_type.is_empty() => {
                write!(f, "webhook {}", service.host())
            }
            TriggerEvent::Webhook { service, event_type } => {
                write!(f, "webhook {} {event_type}", service.host())
            }
        }
    }
}

impl From<TriggerEvent> for String {
    fn from(event: TriggerEvent) -> Self {
        event.to_string()
    }
}

impl TryFrom<String> for TriggerEvent {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

fn parse_service(word: Option<&str>, what: &str) -> Result<Service, String> {
    match word {
        Some("stripe") => Ok(Service::Stripe),
        Some("clerk") => Ok(Service::Clerk),
        Some(other) => Err(format!(
            "unknown service `{other}` in a `{what}` trigger{} (hint: `stripe` or `clerk`)",
            closest(other, ["stripe", "clerk"])
                .map(|c| format!(", did you mean `{c}`?"))
                .unwrap_or_default()
        )),
        None => Err(format!(
            "a `{what}` trigger names a service and a path, e.g. `{what} stripe POST /v1/customers`"
        )),
    }
}

impl std::str::FromStr for TriggerEvent {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim();
        match word {
            "call" | "answer" => {
                let mut words = rest.split_whitespace();
                let service = parse_service(words.next(), word)?;
                let mut next = words.next();
                let method = match next {
                    Some(m) if !m.starts_with('/') => {
                        let upper = m.to_ascii_uppercase();
                        if !TRIGGER_METHODS.contains(&upper.as_str()) {
                            return Err(format!(
                                "`{m}` is neither a method nor a path (hint: a method is one of {}, a path starts with `/`)",
                                TRIGGER_METHODS.join(", ")
                            ));
                        }
                        next = words.next();
                        Some(upper)
                    }
                    _ => None,
                };
                let Some(path_prefix) = next else {
                    return Err(format!(
                        "a `{word}` trigger needs a path (hint: e.g. `{word} stripe POST /v1/customers`)"
                    ));
                };
                if let Some(extra) = words.next() {
                    return Err(format!(
                        "unexpected `{extra}` after the path of a `{word}` trigger"
                    ));
                }
                let roots: &[&str] = match service {
                    Service::Stripe => &STRIPE_ROUTES,
                    Service::Clerk => &CLERK_ROUTES,
                };
                let served = roots.iter().any(|root| {
                    path_prefix.starts_with(root) || (root.starts_with(path_prefix) && path_prefix.len() > 1)
                });
                if !served {
                    return Err(format!(
                        "{} serves no route under `{path_prefix}`{} (hint: its routes are {})",
                        service.host(),
                        closest(path_prefix, roots.iter().copied())
                            .map(|c| format!(", did you mean `{c}`?"))
                            .unwrap_or_default(),
                        roots.join(", ")
                    ));
                }
                let path_prefix = path_prefix.to_string();
                Ok(if word == "call" {
                    TriggerEvent::Call {
                        service,
                        method,
                        path_prefix,
                    }
                } else {
                    TriggerEvent::Answer {
                        service,
                        method,
                        path_prefix,
                    }
                })
            }
            "statement" => Ok(TriggerEvent::Statement {
                sql: rest.to_string(),
            }),
            "webhook" => {
                let mut words = rest.split_whitespace();
                let service = parse_service(words.next(), word)?;
                let event_type = words.next().unwrap_or_default().to_string();
                if let Some(extra) = words.next() {
                    return Err(format!(
                        "unexpected `{extra}` after the event type of a `webhook` trigger"
                    ));
                }
                Ok(TriggerEvent::Webhook { service, event_type })
            }
            other => Err(format!(
                "unknown trigger event `{other}`{} (hint: a trigger starts with one of {})",
                closest(other, TRIGGER_EVENT_WORDS)
                    .map(|c| format!(", did you mean `{c}`?"))
                    .unwrap_or_default(),
                TRIGGER_EVENT_WORDS.join(", ")
            )),
        }
    }
}

/// The creates an app replica sends to the services in `flow` (what a random trigger binds to).
pub fn calls_of(flow: Flow) -> &'static [(Service, &'static str)] {
    match flow {
        Flow::Signup => &[(Service::Stripe, "/v1/customers")],
        Flow::Checkout | Flow::ApplyCoupon => &[
            (Service::Stripe, "/v1/customers"),
            (Service::Stripe, "/v1/checkout/sessions"),
        ],
        Flow::CreateTeamOrg | Flow::ClerkSubscription => &[(Service::Clerk, "/v1/organizations")],
        Flow::Pay | Flow::Reconcile => &[],
    }
}

/// The event types each flow can make a service emit (what a `webhook` trigger may name).
pub fn webhook_events_of(flow: Flow) -> &'static [(Service, &'static str)] {
    match flow {
        Flow::Signup | Flow::Checkout | Flow::ApplyCoupon | Flow::Reconcile => &[
            (Service::Stripe, "customer.created"),
            (Service::Stripe, "customer.updated"),
        ],
        Flow::Pay => &[
            (Service::Stripe, "checkout.session.completed"),
            (Service::Stripe, "customer.subscription.created"),
            (Service::Stripe, "customer.subscription.updated"),
            (Service::Stripe, "invoice.paid"),
        ],
        Flow::CreateTeamOrg => &[
            (Service::Clerk, "organization.created"),
            (Service::Clerk, "organization.updated"),
            (Service::Clerk, "organizationMembership.created"),
        ],
        Flow::ClerkSubscription => &[
            (Service::Clerk, "subscription.created"),
            (Service::Clerk, "subscription.active"),
            (Service::Clerk, "subscription.updated"),
            (Service::Clerk, "organization.created"),
            (Service::Clerk, "organization.updated"),
            (Service::Clerk, "organizationMembership.created"),
        ],
    }
}

/// Why a scenario whose actors play `flows` can never reach `event`, if it cannot (a webhook
/// whose event type none of the flows makes a service emit), with the closest one it can.
pub fn unreachable_in(event: &TriggerEvent, flows: &[Flow]) -> Option<String> {
    let TriggerEvent::Webhook { service, event_type } = event else {
        return None;
    };
    let mut emitted: Vec<&str> = Vec::new();
    for (_, event) in flows
        .iter()
        .flat_map(|flow| webhook_events_of(*flow).iter())
        .filter(|(s, _)| s == service)
    {
        if !emitted.contains(event) {
            emitted.push(event);
        }
    }
    if emitted.iter().any(|t| t.starts_with(event_type.as_str())) {
        return None;
    }
    let emitting_flow = Flow::ALL.into_iter().find(|flow| {
        webhook_events_of(*flow)
            .iter()
            .any(|(s, t)| s == service && t.starts_with(event_type.as_str()))
    });
    let hint = match (closest(event_type, emitted.iter().copied()), emitting_flow) {
        (Some(c), _) => format!("did you mean `{c}`?"),
        (None, Some(flow)) => format!("a `{flow}` step makes {} send it; add one to an actor", service.host()),
        (None, None) if emitted.is_empty() => format!(
            "no flow of this scenario makes {} send webhooks; add a step that does, e.g. `pay` or `clerk_subscription`",
            service.host()
        ),
        (None, None) => format!("it can send {}", emitted.join(", ")),
    };
    Some(format!(
        "this scenario's flows never make {} emit `{event_type}`; {hint}",
        service.host()
    ))
}

/// Where a matched event happened: the app replica whose event it was.
fn app_owner(event: &TraceEvent) -> Option<&str> {
    match &event.kind {
        TraceKind::DbStatement { stmt, .. } => {
            let owner = stmt.strip_prefix('[')?.split(']').next()?;
            owner.starts_with("app-").then_some(owner)
        }
        _ => event.host.starts_with("app-").then_some(event.host.as_str()),
    }
}

/// What a trigger watches: a trace event, or a request reaching a service (which the trace
/// does not record: it records a request where it is sent).
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    /// An event of the run's trace.
    Trace(&'a TraceEvent),
    /// A service took a request; `sender` is the host that sent it (paired in send order).
    Arrival {
        /// The host that sent it, e.g. `app-1`.
        sender: &'a str,
        /// `stripe` or `clerk`.
        service: &'a str,
        /// Its method.
        method: &'a str,
        /// Its path.
        path: &'a str,
    },
}

/// What the watcher remembers across events: each replica's last method per path (an answer
/// does not carry its request's method), and the requests sent but not yet taken by a service,
/// oldest first, to pair an arrival with its sender.
#[derive(Debug, Default, Clone)]
pub struct TraceMemory {
    methods: BTreeMap<(String, String), String>,
    unarrived: BTreeMap<(String, String, String), std::collections::VecDeque<String>>,
}

/// Most requests [`TraceMemory`] keeps waiting for their arrival, per (service, method, path).
pub const UNARRIVED_PER_ROUTE_MAX: usize = 1_024;

/// Most (replica, path) pairs [`TraceMemory`] keeps a method for.
pub const TRACE_MEMORY_PATHS_MAX: usize = 4_096;

impl TraceMemory {
    /// Notes what `event` says for later events (call before answer, send before arrival).
    pub fn observe(&mut self, event: &TraceEvent) {
        match &event.kind {
            TraceKind::Request { to, method, path, .. } => {
                if self.methods.len() >= TRACE_MEMORY_PATHS_MAX {
                    self.methods.clear();
                }
                self.methods
                    .insert((event.host.clone(), path.clone()), method.clone());
                let senders = self
                    .unarrived
                    .entry((to.clone(), method.clone(), path.clone()))
                    .or_default();
                if senders.len() >= UNARRIVED_PER_ROUTE_MAX {
                    senders.pop_front();
                }
                senders.push_back(event.host.clone());
            }
            // A crashed host's requests that have not arrived never will.
            TraceKind::Crash => {
                for senders in self.unarrived.values_mut() {
                    senders.retain(|sender| *sender != event.host);
                }
            }
            _ => {}
        }
    }

    /// The host that sent the request `service` just took (the oldest sent and not yet taken),
    /// if the trace recorded its sending.
    pub fn arrived(&mut self, service: &str, method: &str, path: &str) -> Option<String> {
        self.unarrived
            .get_mut(&(service.to_string(), method.to_string(), path.to_string()))?
            .pop_front()
    }

    fn method_of(&self, host: &str, path: &str) -> Option<&str> {
        self.methods
            .get(&(host.to_string(), path.to_string()))
            .map(String::as_str)
    }
}

fn method_matches(want: &Option<String>, got: Option<&str>) -> bool {
    want.as_deref()
        .is_none_or(|w| got.is_some_and(|g| g.eq_ignore_ascii_case(w)))
}

impl TriggerEvent {
    /// Whether this is a `call` that a request with `method` and `path` reaching `service`
    /// (a host name) matches, whoever sent it.
    pub fn is_call_to(&self, service: &str, method: &str, path: &str) -> bool {
        matches!(self, TriggerEvent::Call { service: s, method: m, path_prefix }
            if s.host() == service && method_matches(m, Some(method)) && path.starts_with(path_prefix.as_str()))
    }

    /// The app replica whose event `seen` is, when it matches this trigger event (a `call`
    /// matches the request's arrival at the service, every other event a trace event).
    pub fn matches<'e>(&self, seen: Seen<'e>, memory: &TraceMemory) -> Option<&'e str> {
        let event = match seen {
            Seen::Arrival {
                sender,
                service: to,
                method: sent,
                path,
            } => {
                let TriggerEvent::Call {
                    service,
                    method,
                    path_prefix,
                } = self
                else {
                    return None;
                };
                let hit = sender.starts_with("app-")
                    && to == service.host()
                    && method_matches(method, Some(sent))
                    && path.starts_with(path_prefix.as_str());
                return hit.then_some(sender);
            }
            Seen::Trace(event) => event,
        };
        let owner = app_owner(event)?;
        let hit = match (self, &event.kind) {
            (
                TriggerEvent::Answer {
                    service,
                    method,
                    path_prefix,
                },
                TraceKind::Response { from, path, .. },
            ) => {
                from == service.host()
                    && path.starts_with(path_prefix.as_str())
                    && method_matches(method, memory.method_of(owner, path))
            }
            (TriggerEvent::Statement { sql }, TraceKind::DbStatement { stmt, .. }) => {
                stmt.contains(sql.as_str())
            }
            (TriggerEvent::Webhook { service, event_type }, TraceKind::AppCall { call }) => {
                let mut words = call.split_whitespace();
                words.next() == Some(service.host())
                    && words.next() == Some("webhook")
                    && words.next().is_some_and(|t| t.starts_with(event_type.as_str()))
            }
            _ => false,
        };
        hit.then_some(owner)
    }
}

/// What watching a trigger over a batch of events found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerState {
    /// Not yet reached.
    Waiting,
    /// Reached: the fault applies now, on behalf of this replica.
    Fired {
        /// The replica whose event fired it.
        replica: String,
    },
    /// Its window opened and closed between two looks (the `before` event followed at once).
    Missed,
}

/// One trigger being watched over a growing trace.
#[derive(Debug, Clone)]
pub struct TriggerWatch {
    trigger: Trigger,
    matched: u32,
    opened_by: Option<String>,
    missed: bool,
    done: bool,
}

impl TriggerWatch {
    /// Starts watching `trigger`.
    pub fn new(trigger: Trigger) -> Self {
        Self {
            trigger,
            matched: 0,
            opened_by: None,
            missed: false,
            done: false,
        }
    }

    /// The trigger watched.
    pub fn trigger(&self) -> &Trigger {
        &self.trigger
    }

    /// Whether it fired or missed already.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds one event (in order); call [`TriggerWatch::settle`] after a batch.
    pub fn feed(&mut self, event: Seen<'_>, memory: &TraceMemory) {
        if self.done {
            return;
        }
        if let Some(opener) = &self.opened_by {
            if let Some(before) = &self.trigger.before {
                if before.matches(event, memory).is_some_and(|owner| owner == opener) {
                    self.done = true;
                    self.missed = true;
                    self.opened_by = None;
                }
            }
            return;
        }
        let Some(owner) = self.trigger.on.matches(event, memory) else {
            return;
        };
        if self.trigger.host.as_deref().is_some_and(|h| h != owner) {
            return;
        }
        self.matched += 1;
        if self.matched >= self.trigger.nth {
            self.opened_by = Some(owner.to_string());
        }
    }

    /// After a batch of events: whether the trigger fired (once), missed, or still waits.
    pub fn settle(&mut self) -> TriggerState {
        if let Some(replica) = self.opened_by.take() {
            self.done = true;
            return TriggerState::Fired { replica };
        }
        if self.missed {
            // Closed by `before` inside the batch; report it once.
            self.missed = false;
            return TriggerState::Missed;
        }
        TriggerState::Waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;

    fn event(host: &str, kind: TraceKind) -> TraceEvent {
        TraceEvent {
            at: SimTime::from_unix_ms(0),
            host: host.to_string(),
            kind,
        }
    }

    fn request(host: &str, method: &str, path: &str) -> TraceEvent {
        event(
            host,
            TraceKind::Request {
                to: "stripe".into(),
                method: method.into(),
                path: path.into(),
                body: String::new(),
            },
        )
    }

    #[test]
    fn text_form_round_trips() {
        for text in [
            "call stripe POST /v1/customers",
            "answer clerk /v1/organizations",
            "statement INSERT INTO processed_events",
            "statement",
            "webhook stripe checkout.session.completed",
            "webhook clerk",
        ] {
            let event: TriggerEvent = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(event.to_string(), text);
            let json = serde_json::to_string(&event).unwrap_or_default();
            assert_eq!(serde_json::from_str::<TriggerEvent>(&json).ok(), Some(event));
        }
        assert_eq!(
            "call stripe post /v1/customers"
                .parse::<TriggerEvent>()
                .map(|e| e.to_string()),
            Ok("call stripe POST /v1/customers".to_string())
        );
    }

    #[test]
    fn bad_text_says_what_is_closest() {
        let err = "cal stripe /v1/customers"
            .parse::<TriggerEvent>()
            .err()
            .unwrap_or_default();
        assert!(err.contains("did you mean `call`"), "{err}");
        let err = "call strpe /v1/customers"
            .parse::<TriggerEvent>()
            .err()
            .unwrap_or_default();
        assert!(err.contains("did you mean `stripe`"), "{err}");
        let err = "call stripe POST /v1/customer".parse::<TriggerEvent>();
        assert!(err.is_ok(), "a prefix of a served route is a valid prefix");
        let err = "call stripe POST /v1/custmers"
            .parse::<TriggerEvent>()
            .err()
            .unwrap_or_default();
        assert!(err.contains("did you mean `/v1/customers`"), "{err}");
        let err = "call clerk PUT /v1/users"
            .parse::<TriggerEvent>()
            .err()
            .unwrap_or_default();
        assert!(err.contains("neither a method nor a path"), "{err}");
    }

    #[test]
    fn the_nth_matching_call_fires_on_its_replica() {
        let on: TriggerEvent = "call stripe POST /v1/customers"
            .parse()
            .unwrap_or(TriggerEvent::Statement { sql: String::new() });
        let mut watch = TriggerWatch::new(Trigger::first(on).nth(2));
        let mut memory = TraceMemory::default();
        let mut send_and_arrive = |watch: &mut TriggerWatch, host: &str, method: &str, path: &str| {
            let sent = request(host, method, path);
            memory.observe(&sent);
            watch.feed(Seen::Trace(&sent), &memory);
            let sender = memory.arrived("stripe", method, path).unwrap_or_default();
            let arrival = Seen::Arrival {
                sender: &sender,
                service: "stripe",
                method,
                path,
            };
            watch.feed(arrival, &memory);
        };
        // Sent is not enough: a call counts when it reaches the service.
        let sent = request("app-1", "POST", "/v1/customers");
        watch.feed(Seen::Trace(&sent), &TraceMemory::default());
        assert_eq!(watch.settle(), TriggerState::Waiting);
        send_and_arrive(&mut watch, "app-1", "POST", "/v1/customers");
        send_and_arrive(&mut watch, "app-2", "GET", "/v1/customers?email=a");
        assert_eq!(watch.settle(), TriggerState::Waiting);
        send_and_arrive(&mut watch, "app-2", "POST", "/v1/customers");
        assert_eq!(
            watch.settle(),
            TriggerState::Fired {
                replica: "app-2".into()
            }
        );
        send_and_arrive(&mut watch, "app-1", "POST", "/v1/customers");
        assert_eq!(watch.settle(), TriggerState::Waiting, "fires once");
        assert!(watch.is_done());
    }

    #[test]
    fn a_window_closed_within_one_batch_is_missed_not_fired() {
        let on: TriggerEvent = "answer stripe POST /v1/customers"
            .parse()
            .unwrap_or(TriggerEvent::Statement { sql: String::new() });
        let before = TriggerEvent::Statement { sql: "INSERT".into() };
        let mut memory = TraceMemory::default();
        let mut watch = TriggerWatch::new(Trigger::first(on).before(before));
        let sent = request("app-1", "POST", "/v1/customers");
        memory.observe(&sent);
        watch.feed(Seen::Trace(&sent), &memory);
        let answer = event(
            "app-1",
            TraceKind::Response {
                from: "stripe".into(),
                path: "/v1/customers".into(),
                status: 200,
                body: String::new(),
            },
        );
        watch.feed(Seen::Trace(&answer), &memory);
        let insert = event(
            "postgres",
            TraceKind::DbStatement {
                session: 1,
                stmt: "[app-1] INSERT INTO customers".into(),
                outcome: "ok".into(),
            },
        );
        watch.feed(Seen::Trace(&insert), &memory);
        assert_eq!(watch.settle(), TriggerState::Missed);
        assert_eq!(watch.settle(), TriggerState::Waiting);
    }

    #[test]
    fn webhook_triggers_name_only_events_the_flows_can_emit() {
        let paid: TriggerEvent = "webhook stripe checkout.session.completed"
            .parse()
            .unwrap_or(TriggerEvent::Statement { sql: String::new() });
        assert_eq!(unreachable_in(&paid, &[Flow::Checkout, Flow::Pay]), None);
        let why = unreachable_in(&paid, &[Flow::Checkout]).unwrap_or_default();
        assert!(why.contains("never make stripe emit"), "{why}");
        let typo: TriggerEvent = "webhook stripe checkout.session.complete"
            .parse()
            .unwrap_or(TriggerEvent::Statement { sql: String::new() });
        assert_eq!(
            unreachable_in(&typo, &[Flow::Pay]),
            None,
            "a prefix of an emitted type"
        );
        let typo: TriggerEvent = "webhook stripe checkout.sesion.completed"
            .parse()
            .unwrap_or(TriggerEvent::Statement { sql: String::new() });
        let why = unreachable_in(&typo, &[Flow::Pay]).unwrap_or_default();
        assert!(why.contains("did you mean `checkout.session.completed`"), "{why}");
    }
}

#[cfg(test)]
mod arrival_tests {
    use super::*;
    use crate::time::SimTime;

    #[test]
    fn arrivals_pair_with_their_senders_in_order_and_forget_a_crashed_one() {
        let mut memory = TraceMemory::default();
        let send = |host: &str| TraceEvent {
            at: SimTime::from_unix_ms(0),
            host: host.to_string(),
            kind: TraceKind::Request {
                to: "clerk".into(),
                method: "POST".into(),
                path: "/v1/organizations".into(),
                body: String::new(),
            },
        };
        memory.observe(&send("app-1"));
        memory.observe(&send("app-2"));
        memory.observe(&TraceEvent {
            at: SimTime::from_unix_ms(0),
            host: "app-1".into(),
            kind: TraceKind::Crash,
        });
        assert_eq!(
            memory.arrived("clerk", "POST", "/v1/organizations").as_deref(),
            Some("app-2")
        );
        assert_eq!(memory.arrived("clerk", "POST", "/v1/organizations"), None);
    }
}
