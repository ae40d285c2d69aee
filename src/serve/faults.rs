//! Fault specifications shared by the `--fault` flag and `POST /_racehound/faults`, latency
//! rules, and webhook faults (duplicates, delays).

use serde::Serialize;
use serde_json::Value;

use crate::http::Method;

/// Most latency rules kept at once.
pub const MAX_LATENCY_RULES: usize = 1024;
/// Longest latency a rule may inject, in milliseconds.
pub const MAX_LATENCY_MS: u64 = 120_000;

/// What a matching request suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SpecKind {
    /// 500 in the service's shape; not executed.
    Status500,
    /// 429 (`rate_limit` on Stripe, `too_many_requests` with `Retry-After` on Clerk); not executed.
    Status429 {
        /// Clerk's `Retry-After`, in seconds.
        retry_after_secs: u64,
    },
    /// Stripe's 429 `lock_timeout`; not executed.
    LockTimeout,
    /// Executed, then the connection is closed without a response.
    DropResponse,
    /// Held this long before it executes (a Stripe request holds its idempotency key meanwhile).
    Latency {
        /// The delay, in milliseconds.
        latency_ms: u64,
    },
}

/// One fault rule as the admin API and the `--fault` flag give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultSpec {
    /// `stripe` or `clerk` when the flag names one; `None` means the one being served.
    pub service: Option<String>,
    /// The method to match; `None` matches any.
    pub method: Option<Method>,
    /// The path prefix to match, e.g. `/v1/customers`.
    pub path_prefix: String,
    /// How many requests it hits.
    pub count: u32,
    /// What they get.
    pub kind: SpecKind,
}

fn parse_method(text: &str) -> Result<Option<Method>, String> {
    let upper = text.to_ascii_uppercase();
    if upper == "ANY" || upper == "*" {
        return Ok(None);
    }
    Method::parse(&upper)
        .map(Some)
        .ok_or_else(|| format!("unknown method {text:?} (hint: GET, POST, PATCH, DELETE or ANY)"))
}

fn parse_kind(
    text: &str,
    latency_ms: Option<u64>,
    retry_after_secs: Option<u64>,
) -> Result<SpecKind, String> {
    let kind = match text {
        "500" | "api_error" => SpecKind::Status500,
        "429" | "rate_limit" => SpecKind::Status429 {
            retry_after_secs: retry_after_secs.unwrap_or(1),
        },
        "lock_timeout" => SpecKind::LockTimeout,
        "drop_response" | "drop" => SpecKind::DropResponse,
        "latency" => {
            let latency_ms = latency_ms.ok_or(
                "kind latency needs latency_ms (hint: {\"kind\": \"latency\", \"latency_ms\": 1500})",
            )?;
            SpecKind::Latency { latency_ms }
        }
        other => {
            if let Some(ms) = other.strip_prefix("latency=") {
                let latency_ms = ms
                    .trim_end_matches("ms")
                    .parse::<u64>()
                    .map_err(|_| format!("bad latency {other:?} (hint: latency=1500)"))?;
                SpecKind::Latency { latency_ms }
            } else {
                return Err(format!(
                    "unknown fault kind {other:?} (hint: 500, 429, lock_timeout, drop_response or latency)"
                ));
            }
        }
    };
    if let SpecKind::Latency { latency_ms } = kind {
        if latency_ms > MAX_LATENCY_MS {
            return Err(format!(
                "latency {latency_ms} ms is over the {MAX_LATENCY_MS} ms limit"
            ));
        }
    }
    Ok(kind)
}

impl FaultSpec {
    /// Parses the `--fault` flag: `[stripe|clerk] METHOD PATH_PREFIX KIND [COUNT]`, e.g.
    /// `stripe POST /v1/customers 500 2` or `POST /v1/customers latency=1500`.
    pub fn parse_flag(text: &str) -> Result<FaultSpec, String> {
        let mut words: Vec<&str> = text.split_whitespace().collect();
        let usage = "(hint: --fault '[stripe|clerk] METHOD PATH_PREFIX KIND [COUNT]', e.g. 'POST /v1/customers 500 1')";
        let service = match words.first() {
            Some(&s) if s == "stripe" || s == "clerk" => {
                words.remove(0);
                Some(s.to_string())
            }
            _ => None,
        };
        let (method, prefix, kind, count) = match words.as_slice() {
            [m, p, k] => (*m, *p, *k, 1),
            [m, p, k, c] => {
                let count = c.parse::<u32>().map_err(|_| format!("bad count {c:?} {usage}"))?;
                (*m, *p, *k, count)
            }
            _ => return Err(format!("bad fault {text:?} {usage}")),
        };
        Ok(FaultSpec {
            service,
            method: parse_method(method)?,
            path_prefix: check_prefix(prefix)?,
            count,
            kind: parse_kind(kind, None, None)?,
        })
    }

    /// Parses the admin JSON: `{"path_prefix" (or "route"), "method"?, "count"?, "kind",
    /// "latency_ms"?, "retry_after_secs"?}`; `kind` may be a number (500, 429) or a string.
    pub fn from_json(body: &Value) -> Result<FaultSpec, String> {
        let object = body.as_object().ok_or(
            "fault must be a JSON object (hint: {\"path_prefix\": \"/v1/customers\", \"kind\": 500})",
        )?;
        let prefix = object
            .get("path_prefix")
            .or_else(|| object.get("route"))
            .and_then(Value::as_str)
            .ok_or("missing path_prefix (hint: {\"path_prefix\": \"/v1/customers\", \"kind\": 500})")?;
        let method = match object.get("method") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) => parse_method(m)?,
            Some(_) => return Err("method must be a string such as \"POST\"".to_string()),
        };
        let count = match object.get("count") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .ok_or("count must be a whole number")?,
        };
        let kind_text = match object.get("kind") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(
                    "missing kind (hint: 500, 429, \"lock_timeout\", \"drop_response\", \"latency\")".into(),
                )
            }
        };
        let latency_ms = object.get("latency_ms").and_then(Value::as_u64);
        let retry_after_secs = object.get("retry_after_secs").and_then(Value::as_u64);
        Ok(FaultSpec {
            service: None,
            method,
            path_prefix: check_prefix(prefix)?,
            count,
            kind: parse_kind(&kind_text, latency_ms, retry_after_secs)?,
        })
    }
}

fn check_prefix(prefix: &str) -> Result<String, String> {
    if !prefix.starts_with('/') || prefix.len() > 512 {
        return Err(format!(
            "bad path prefix {prefix:?} (hint: it starts with /, e.g. /v1/customers)"
        ));
    }
    Ok(prefix.to_string())
}

/// A latency rule: the next `remaining` matching requests wait `latency_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatencyRule {
    /// The method to match; `None` matches any.
    pub method: Option<Method>,
    /// The path prefix to match.
    pub path_prefix: String,
    /// Hits left.
    pub remaining: u32,
    /// The delay, in milliseconds.
    pub latency_ms: u64,
}

/// The latency rules of one service, first match wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LatencyRules {
    rules: Vec<LatencyRule>,
}

impl LatencyRules {
    /// Adds a rule; an error with a hint when [`MAX_LATENCY_RULES`] are queued.
    pub fn push(&mut self, rule: LatencyRule) -> Result<(), String> {
        self.rules.retain(|r| r.remaining > 0);
        if self.rules.len() >= MAX_LATENCY_RULES {
            return Err(format!(
                "at most {MAX_LATENCY_RULES} latency rules (hint: DELETE /_racehound/faults clears them)"
            ));
        }
        self.rules.push(rule);
        Ok(())
    }

    /// Consumes one hit of the first matching rule; its latency.
    pub fn take(&mut self, method: Method, path: &str) -> Option<u64> {
        let rule = self.rules.iter_mut().find(|r| {
            r.remaining > 0 && r.method.is_none_or(|m| m == method) && path.starts_with(&r.path_prefix)
        })?;
        rule.remaining -= 1;
        Some(rule.latency_ms)
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules with hits left.
    pub fn rules(&self) -> Vec<LatencyRule> {
        self.rules.iter().filter(|r| r.remaining > 0).cloned().collect()
    }
}

/// Webhook faults: deliver the next events twice, or hold them back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WebhookFaults {
    /// How many more events are delivered twice (two independent deliveries, same event id).
    pub duplicate_remaining: u32,
    /// How many more events are held back by `delay_ms` before their first attempt.
    pub delay_remaining: u32,
    /// The hold-back, in milliseconds (later events may overtake: no ordering guarantee).
    pub delay_ms: u64,
}

impl WebhookFaults {
    /// Applies `{"duplicate": N, "delay_ms": M, "delay_count": K}` (each optional).
    pub fn update(&mut self, body: &Value) -> Result<(), String> {
        let get = |name: &str| -> Result<Option<u64>, String> {
            match body.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| format!("{name} must be a whole number")),
            }
        };
        if !body.is_object() {
            return Err(
                "webhook faults must be a JSON object (hint: {\"duplicate\": 1, \"delay_ms\": 2000})".into(),
            );
        }
        if let Some(n) = get("duplicate")? {
            self.duplicate_remaining = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(ms) = get("delay_ms")? {
            if ms > crate::serve::forward::MAX_WEBHOOK_DELAY_MS {
                return Err(format!(
                    "delay_ms {ms} is over the {} ms limit",
                    crate::serve::forward::MAX_WEBHOOK_DELAY_MS
                ));
            }
            self.delay_ms = ms;
            self.delay_remaining = u32::try_from(get("delay_count")?.unwrap_or(1)).unwrap_or(u32::MAX);
        }
        Ok(())
    }

    /// For the next event: (deliver twice, hold back this long).
    pub fn take(&mut self) -> (bool, u64) {
        let duplicate = self.duplicate_remaining > 0;
        self.duplicate_remaining = self.duplicate_remaining.saturating_sub(1);
        let delay_ms = if self.delay_remaining > 0 {
            self.delay_remaining -= 1;
            self.delay_ms
        } else {
            0
        };
        (duplicate, delay_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flag_and_json_forms_parse() {
        let spec = FaultSpec::parse_flag("stripe POST /v1/customers 500 2");
        assert_eq!(
            spec,
            Ok(FaultSpec {
                service: Some("stripe".into()),
                method: Some(Method::Post),
                path_prefix: "/v1/customers".into(),
                count: 2,
                kind: SpecKind::Status500
            })
        );
        let spec = FaultSpec::parse_flag("ANY /v1/ latency=1500").map(|s| (s.method, s.count, s.kind));
        assert_eq!(spec, Ok((None, 1, SpecKind::Latency { latency_ms: 1500 })));
        assert!(FaultSpec::parse_flag("POST /v1/customers teapot").is_err_and(|e| e.contains("hint")));
        assert!(FaultSpec::parse_flag("POST").is_err());
        let spec = FaultSpec::from_json(&json!({"route": "/v1/users", "kind": 429, "retry_after_secs": 7}));
        assert_eq!(
            spec.map(|s| s.kind),
            Ok(SpecKind::Status429 { retry_after_secs: 7 })
        );
        assert!(FaultSpec::from_json(&json!({"route": "/v1/users", "kind": "latency"})).is_err());
        assert!(FaultSpec::from_json(&json!({"route": "v1", "kind": 500})).is_err());
        assert!(FaultSpec::from_json(&json!([1])).is_err());
    }

    #[test]
    fn latency_rules_are_counted() {
        let mut rules = LatencyRules::default();
        let rule = LatencyRule {
            method: Some(Method::Post),
            path_prefix: "/v1/customers".into(),
            remaining: 1,
            latency_ms: 10,
        };
        assert!(rules.push(rule).is_ok());
        assert_eq!(rules.take(Method::Get, "/v1/customers"), None);
        assert_eq!(rules.take(Method::Post, "/v1/customers/x"), Some(10));
        assert_eq!(rules.take(Method::Post, "/v1/customers"), None);
    }

    #[test]
    fn webhook_faults_count_down() {
        let mut faults = WebhookFaults::default();
        assert!(faults
            .update(&json!({"duplicate": 1, "delay_ms": 50, "delay_count": 2}))
            .is_ok());
        assert_eq!(faults.take(), (true, 50));
        assert_eq!(faults.take(), (false, 50));
        assert_eq!(faults.take(), (false, 0));
        assert!(faults.update(&json!({"delay_ms": "x"})).is_err());
    }
}
