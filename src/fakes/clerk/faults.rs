//! Fault knobs and rate limits: what makes the fake Clerk fail on purpose.

use serde::{Deserialize, Serialize};

use crate::http::{HttpRequest, Method};

/// Header the fake adds to a response the transport must drop after the request committed.
pub const DROP_RESPONSE_HEADER: &str = "racehound-drop-response";

/// Most fault rules that may be queued at once.
pub const MAX_FAULT_RULES: usize = 1024;

/// What a matching request suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClerkFaultKind {
    /// Not executed; answered 500 `internal_clerk_error`.
    ServerError,
    /// Not executed; answered 429 `too_many_requests` with `Retry-After`.
    RateLimited {
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// Executed and committed, then the response is marked to be dropped by the transport.
    CommitThenDropResponse,
}

/// The next `remaining` requests matching `method` (any if `None`) and `path_prefix` fail with `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClerkFaultRule {
    /// The method to match, or any.
    pub method: Option<Method>,
    /// Prefix of the path (without query), e.g. `/v1/organizations`.
    pub path_prefix: String,
    /// How many more requests this rule applies to.
    pub remaining: u32,
    /// What happens to them.
    pub kind: ClerkFaultKind,
}

/// The fault knobs of one fake Clerk: a queue of rules, first match wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClerkFaults {
    rules: Vec<ClerkFaultRule>,
}

impl ClerkFaults {
    /// Adds a rule; an error (with a hint) when [`MAX_FAULT_RULES`] are already queued.
    pub fn push(&mut self, rule: ClerkFaultRule) -> Result<(), String> {
        if self.rules.len() >= MAX_FAULT_RULES {
            return Err(format!(
                "too many Clerk fault rules ({MAX_FAULT_RULES}) (hint: use one rule with a larger `remaining`)"
            ));
        }
        if rule.remaining > 0 {
            self.rules.push(rule);
        }
        Ok(())
    }

    /// Shorthand: the next `count` requests matching get `kind`.
    pub fn fail_next(
        &mut self,
        method: Option<Method>,
        path_prefix: &str,
        count: u32,
        kind: ClerkFaultKind,
    ) -> Result<(), String> {
        self.push(ClerkFaultRule {
            method,
            path_prefix: path_prefix.to_string(),
            remaining: count,
            kind,
        })
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules still queued.
    pub fn rules(&self) -> &[ClerkFaultRule] {
        &self.rules
    }

    /// Consumes one use of the first rule matching `request`, returning its kind.
    pub(crate) fn take_match(&mut self, request: &HttpRequest) -> Option<ClerkFaultKind> {
        let path = request.path_only();
        let index = self.rules.iter().position(|rule| {
            rule.method.is_none_or(|method| method == request.method) && path.starts_with(&rule.path_prefix)
        })?;
        let rule = self.rules.get_mut(index)?;
        let kind = rule.kind;
        rule.remaining = rule.remaining.saturating_sub(1);
        if rule.remaining == 0 {
            self.rules.remove(index);
        }
        Some(kind)
    }
}

/// Per-instance request quotas over fixed windows, as Clerk's Backend API enforces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    /// Window length in milliseconds.
    pub window_ms: u64,
    /// Requests allowed per window, all endpoints together.
    pub max_requests_per_window: u32,
    /// Extra limit on `POST /v1/users` per window, if any.
    pub max_user_creates_per_window: Option<u32>,
}

impl RateLimits {
    /// Development instances (`sk_test_…`): 100 requests per 10 seconds (clerk.com/docs, rate limits).
    pub fn development_instance() -> Self {
        Self {
            window_ms: 10_000,
            max_requests_per_window: 100,
            max_user_creates_per_window: None,
        }
    }

    /// Production instances: 1000 requests per 10 seconds, `Create User` included (changelog 2025-07-03).
    pub fn production_instance() -> Self {
        Self {
            window_ms: 10_000,
            max_requests_per_window: 1000,
            max_user_creates_per_window: None,
        }
    }

    /// The limits before July 2025: 100 per 10 s overall and 20 per 10 s for `POST /v1/users`.
    pub fn legacy() -> Self {
        Self {
            window_ms: 10_000,
            max_requests_per_window: 100,
            max_user_creates_per_window: Some(20),
        }
    }
}

/// Counters of the current rate-limit window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RateWindow {
    window_start_ms: u64,
    request_count: u32,
    user_create_count: u32,
}

impl RateWindow {
    /// Counts a request at `now_ms`; `Err(retry_after_secs)` when it is over quota.
    pub(crate) fn admit(
        &mut self,
        limits: &RateLimits,
        now_ms: u64,
        is_user_create: bool,
    ) -> Result<(), u64> {
        let window_ms = limits.window_ms.max(1);
        let start_ms = now_ms - now_ms % window_ms;
        if start_ms != self.window_start_ms {
            *self = RateWindow {
                window_start_ms: start_ms,
                ..RateWindow::default()
            };
        }
        let retry_after_secs = (start_ms + window_ms - now_ms).div_ceil(1000).max(1);
        if self.request_count >= limits.max_requests_per_window {
            return Err(retry_after_secs);
        }
        if is_user_create {
            if let Some(max) = limits.max_user_creates_per_window {
                if self.user_create_count >= max {
                    return Err(retry_after_secs);
                }
            }
            self.user_create_count += 1;
        }
        self.request_count += 1;
        Ok(())
    }
}
