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
    /// The entries by age, so pruning costs no scan of them all.
    #[serde(skip)]
    by_created: KeyAges,
}

/// (created, key) of every entry of a [`Store`]: an index, not state (not serialised, equal to
/// any other; rebuilt when it disagrees with the entries, as after a restore).
#[derive(Debug, Clone, Default)]
struct KeyAges(std::collections::BTreeSet<(SimTime, String)>);

impl PartialEq for KeyAges {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for KeyAges {}

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
            self.remove(key);
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
        self.sync_ages();
        if self.entries.len() >= MAX_KEYS {
            // Bounded: drop the oldest finished key (real Stripe prunes old keys too).
            let oldest = self
                .by_created
                .0
                .iter()
                .find(|(_, k)| {
                    self.entries
                        .get(k)
                        .is_some_and(|e| e.outcome != IdempotencyOutcome::InFlight)
                })
                .map(|(_, k)| k.clone());
            if let Some(oldest) = oldest {
                self.remove(&oldest);
            }
        }
        self.remove(key);
        self.by_created.0.insert((now, key.to_string()));
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
        self.sync_ages();
        if response.status == 429 {
            self.remove(key);
        } else if let Some(entry) = self.entries.get_mut(key) {
            self.by_created.0.remove(&(entry.created, key.to_string()));
            entry.outcome = IdempotencyOutcome::Saved(response.clone());
            entry.created = now;
            self.by_created.0.insert((now, key.to_string()));
        }
    }

    /// Forgets keys at least `ttl` old at `now` (finished ones only), oldest first: the cost is
    /// the number of keys forgotten plus the old ones still in flight, not the number stored.
    pub fn prune(&mut self, now: SimTime, ttl: std::time::Duration) {
        self.sync_ages();
        let expired: Vec<String> = self
            .by_created
            .0
            .iter()
            .take_while(|(created, _)| *created + ttl <= now)
            .filter(|(_, key)| {
                self.entries
                    .get(key)
                    .is_some_and(|e| e.outcome != IdempotencyOutcome::InFlight)
            })
            .map(|(_, key)| key.clone())
            .collect();
        for key in expired {
            self.remove(&key);
        }
    }

    /// Removes `key`'s entry and its place in the age index.
    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_created.0.remove(&(entry.created, key.to_string()));
        }
    }

    /// Rebuilds the age index if it disagrees with the entries (after a restore).
    fn sync_ages(&mut self) {
        if self.by_created.0.len() != self.entries.len() {
            self.by_created.0 = self
                .entries
                .values()
                .map(|e| (e.created, e.key.clone()))
                .collect();
        }
    }

    /// All entries, by key.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3_600);

    fn at(hours: u64) -> SimTime {
        SimTime::from_unix_ms(1_767_225_600_000 + hours * 3_600_000)
    }

    fn saved(store: &mut Store, hours: u64, key: &str) {
        store.claim(at(hours), key, "POST /v1/customers", Vec::new());
        store.finish(at(hours), key, &HttpResponse::json(200, &serde_json::json!({})));
    }

    #[test]
    fn prune_forgets_old_finished_keys_in_age_order_and_keeps_old_in_flight_ones() {
        let mut store = Store::default();
        saved(&mut store, 0, "a");
        store.claim(at(1), "in-flight", "POST /v1/customers", Vec::new());
        saved(&mut store, 2, "b");
        saved(&mut store, 30, "c");
        store.prune(at(25), DAY);
        let keys: Vec<String> = store.entries().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["b", "c", "in-flight"]);
        store.prune(at(40), DAY);
        let keys: Vec<String> = store.entries().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["c", "in-flight"], "an in-flight key is never pruned");
        // Finishing moves the key's age to its finish time.
        store.finish(
            at(41),
            "in-flight",
            &HttpResponse::json(200, &serde_json::json!({})),
        );
        store.prune(at(60), DAY);
        let keys: Vec<String> = store.entries().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["in-flight"]);
        store.prune(at(65), DAY);
        assert!(store.entries().is_empty());
    }

    #[test]
    fn a_restored_store_rebuilds_its_age_index() {
        let mut store = Store::default();
        saved(&mut store, 0, "a");
        saved(&mut store, 10, "b");
        let json = serde_json::to_string(&store).unwrap_or_default();
        let mut restored: Store = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(restored, store);
        restored.prune(at(30), DAY);
        let keys: Vec<String> = restored.entries().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["b"]);
    }
}
