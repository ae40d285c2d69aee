//! Idempotency keys, as Stripe's API v1 keeps them.
//!
//! Per <https://docs.stripe.com/idempotency> and <https://docs.stripe.com/api/idempotent_requests>:
//! "Stripe saves the status code and body of the first request made with a given idempotency
//! key after endpoint execution begins. Retries with the same key return the saved response,
//! including 500 errors." and "We save results only after the execution of an endpoint begins.
//! If incoming parameters fail validation, or the request conflicts with another that's executing
//! concurrently, no idempotent result is saved". Keys are up to 255 characters and may be pruned
//! once at least 24 hours old, after which a reused key is a new request.
//!
//! So here: a key is claimed (in flight) once a request passes validation; its result is saved
//! when it finishes, unless the result is a 429 (then the claim is dropped). A second request
//! with the key while it is in flight gets 409 `idempotency_key_in_use`; one with other
//! parameters or another endpoint gets 400 `idempotency_error`; otherwise the saved response is
//! replayed with `Idempotent-Replayed: true`.

use serde::{Deserialize, Serialize};

use super::wire::ApiError;
use crate::http::HttpResponse;
use crate::time::SimTime;

/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;
/// Most keys kept at once (older expired keys are pruned first).
pub const MAX_KEYS: usize = 1_000_000;

/// Where a key's first request is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdempotencyOutcome {
    /// Still executing (between `begin` and `finish`).
    InFlight,
    /// Finished; this is what retries get.
    Saved(HttpResponse),
}

/// One key's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// `METHOD /path` of the first request.
    pub endpoint: String,
    /// Its parameters, sorted.
    pub params: Vec<(String, String)>,
    /// When it was first used; once saved, when its result was saved (the 24 h run from
    /// there: a key never expires while its request is still executing, nor right after).
    pub created: SimTime,
    /// In flight or saved.
    pub outcome: IdempotencyOutcome,
}

/// What a new request with a key gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The key is unknown (or expired): execute.
    New,
    /// Replay this saved response.
    Replay(HttpResponse),
    /// 400 or 409.
    Reject(ApiError),
}

/// All keys of the account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    entries: std::collections::BTreeMap<String, Entry>,
}

/// Checks the key's length (400 when too long).
pub fn check_key(key: &str) -> Result<(), ApiError> {
    if key.len() > MAX_KEY_LEN {
        return Err(ApiError::invalid(
            None,
            format!(
                "Invalid idempotency key: must be at most {MAX_KEY_LEN} characters, got {} (hint: use a UUID).",
                key.len()
            ),
            None,
        ));
    }
    Ok(())
}

impl Store {
    /// Looks `key` up for a request to `endpoint` with `params`; forgets it first if expired.
    pub fn lookup(
        &mut self,
        now: SimTime,
        ttl: std::time::Duration,
        key: &str,
        endpoint: &str,
        params: &[(String, String)],
    ) -> Lookup {
        if self
            .entries
            .get(key)
            .is_some_and(|e| e.created + ttl <= now && e.outcome != IdempotencyOutcome::InFlight)
        {
            self.entries.remove(key);
        }
        let Some(entry) = self.entries.get(key) else {
            return Lookup::New;
        };
        if entry.endpoint != endpoint {
            return Lookup::Reject(ApiError {
                status: 400,
                kind: "idempotency_error",
                code: None,
                message: format!(
                    "Keys for idempotent requests can only be used for the same endpoint they were first used for ('{}' vs '{endpoint}'). Try using a key other than '{key}' if you meant to execute a different request.",
                    entry.endpoint
                ),
                param: None,
            });
        }
        if entry.params != params {
            return Lookup::Reject(ApiError {
                status: 400,
                kind: "idempotency_error",
                code: None,
                message: format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                ),
                param: None,
            });
        }
        match &entry.outcome {
            IdempotencyOutcome::InFlight => Lookup::Reject(ApiError {
                status: 409,
                kind: "idempotency_error",
                code: Some("idempotency_key_in_use"),
                message: format!(
                    "There is currently another in-progress request using this Stripe-Idempotency-Key ({key}). Please try again later (hint: the SDKs retry this)."
                ),
                param: None,
            }),
            IdempotencyOutcome::Saved(response) => Lookup::Replay(response.clone()),
        }
    }

    /// Marks `key` in flight for a request that passed validation.
    pub fn claim(&mut self, now: SimTime, key: &str, endpoint: &str, params: Vec<(String, String)>) {
        if self.entries.len() >= MAX_KEYS {
            // Bounded: drop the oldest finished key (real Stripe prunes old keys too).
            let oldest = self
                .entries
                .values()
                .filter(|e| e.outcome != IdempotencyOutcome::InFlight)
                .min_by_key(|e| (e.created, e.key.clone()))
                .map(|e| e.key.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(
            key.to_string(),
            Entry {
                key: key.to_string(),
                endpoint: endpoint.to_string(),
                params,
                created: now,
                outcome: IdempotencyOutcome::InFlight,
            },
        );
    }

    /// Saves the finished request's response at `now`, or drops the claim for a 429 (not saved).
    pub fn finish(&mut self, now: SimTime, key: &str, response: &HttpResponse) {
        if response.status == 429 {
            self.entries.remove(key);
        } else if let Some(entry) = self.entries.get_mut(key) {
            entry.outcome = IdempotencyOutcome::Saved(response.clone());
            entry.created = now;
        }
    }

    /// Forgets keys at least `ttl` old at `now` (finished ones only).
    pub fn prune(&mut self, now: SimTime, ttl: std::time::Duration) {
        self.entries
            .retain(|_, e| e.outcome == IdempotencyOutcome::InFlight || e.created + ttl > now);
    }

    /// All entries, by key.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.values().cloned().collect()
    }
}
