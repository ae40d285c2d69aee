//! Fault knobs: "the next N requests matching (method, path prefix) get X".
//!
//! Contract with the transport for [`StripeFaultKind::CommitThenDropResponse`]: the request executes
//! normally (its effects and events happen, its result is saved under its idempotency key),
//! then the response carries the header [`DROP_RESPONSE_HEADER`]` = true`; the transport must
//! drop such a response and make the client see a timeout / connection reset instead.
//!
//! A 500 fault counts as a request that began executing and failed: like a real Stripe 5xx,
//! it is saved under the request's idempotency key (retries with the key get the same 500
//! replayed), and it has no effects. 429 faults (`rate_limit`, `lock_timeout`) are returned
//! before execution and are never saved. This fake sends no `Retry-After` on 429s (Stripe's
//! docs ask clients to back off exponentially; none is documented). A `lock_timeout` 429 carries
//! `Stripe-Should-Retry: true`, since the SDKs retry lock timeouts (stripe-go#935,
//! stripe-ruby#841) but not real rate limits (stripe-dotnet#1886), which get no such header.

use serde::{Deserialize, Serialize};

use crate::http::Method;

/// Header set on a response the transport must drop (see the module docs).
pub const DROP_RESPONSE_HEADER: &str = "racehound-drop-response";
/// Most rules kept at once.
pub const MAX_RULES: usize = 1024;

/// What a matching request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StripeFaultKind {
    /// 500 `api_error` (saved under the idempotency key; no effects).
    ApiError500,
    /// 429 `rate_limit` (not saved).
    RateLimit429,
    /// 429 `lock_timeout` (not saved).
    LockTimeout429,
    /// Executes, then the transport drops the response.
    CommitThenDropResponse,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeFaultRule {
    /// Method to match; `None` matches any.
    pub method: Option<Method>,
    /// Path prefix to match (`/v1/customers`).
    pub path_prefix: String,
    /// How many more requests it hits.
    pub remaining: u32,
    /// What they get.
    pub kind: StripeFaultKind,
}

/// The fault rules, consulted in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeFaults {
    rules: Vec<StripeFaultRule>,
}

/// A rule list is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyRules;

impl std::fmt::Display for TooManyRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at most {MAX_RULES} Stripe fault rules (hint: merge rules or clear spent ones)"
        )
    }
}

impl std::error::Error for TooManyRules {}

impl StripeFaults {
    /// The next `count` requests matching `method` (any if `None`) and `path_prefix` get `kind`.
    pub fn next(
        &mut self,
        method: Option<Method>,
        path_prefix: &str,
        count: u32,
        kind: StripeFaultKind,
    ) -> Result<(), TooManyRules> {
        self.rules.retain(|r| r.remaining > 0);
        if self.rules.len() >= MAX_RULES {
            return Err(TooManyRules);
        }
        self.rules.push(StripeFaultRule {
            method,
            path_prefix: path_prefix.to_string(),
            remaining: count,
            kind,
        });
        Ok(())
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules with hits left.
    pub fn rules(&self) -> impl Iterator<Item = &StripeFaultRule> {
        self.rules.iter().filter(|r| r.remaining > 0)
    }

    /// Consumes one hit of the first rule matching this request.
    pub fn take(&mut self, method: Method, path: &str) -> Option<StripeFaultKind> {
        let rule = self.rules.iter_mut().find(|r| {
            r.remaining > 0 && r.method.is_none_or(|m| m == method) && path.starts_with(&r.path_prefix)
        })?;
        rule.remaining -= 1;
        Some(rule.kind)
    }
}
