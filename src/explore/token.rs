//! Replay tokens: one printable string that reproduces a run exactly.
//!
//! A token is `rh<version>_<base64url(JSON)>`. The JSON holds everything a run derives from:
//! scenario id, strategy id, seed, and the (possibly shrunk) explicit inputs. A token from
//! another format version is refused with a message naming both versions — never replayed
//! wrongly.
//!
//! Beside the input, a token records the [`WORLD_RULES_VERSION`] it was made under and the
//! trace hash of the run it was made from ([`TokenContents`]; tokens made before have
//! neither and read the same). A replay compares them ([`TokenContents::differences`]): other
//! world rules warn, another trace hash says the behaviour changed ([`ReplayWarning`]).

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::input::RunInput;

/// The token format this build writes and reads.
pub const TOKEN_FORMAT_VERSION: u32 = 1;

/// The version of the world's rules, which decide what a token plays. Bump it when a fake's
/// behaviour, the world's scheduling or a strategy changes what an existing token plays (the
/// same input giving another trace: the golden trace hashes in `tests/golden/` change), and
/// list the change in the CHANGELOG under "Replay token". Tokens record it, and replaying one
/// made under another version warns, naming both.
pub const WORLD_RULES_VERSION: u32 = 3;

/// What a token carries: the run's input and, in tokens made since they existed, the world
/// rules it was made under and the trace hash of the run it was made from.
///
/// The two are optional, so every token of this format version reads (older ones have
/// neither), and an older racehound reads a newer token's input (it ignores them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenContents {
    /// The run's complete input.
    #[serde(flatten)]
    pub input: RunInput,
    /// The [`WORLD_RULES_VERSION`] of the racehound that made the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world_rules: Option<u32>,
    /// The trace hash of the run the token was made from (16 hex digits in the JSON).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_hash")]
    pub trace_hash: Option<u64>,
}

impl TokenContents {
    /// A token's contents for `input` under this build's world rules; `trace_hash` is the hash
    /// of the run the token is made from (`None`: the input was not run).
    pub fn new(input: RunInput, trace_hash: Option<u64>) -> Self {
        Self {
            input,
            world_rules: Some(WORLD_RULES_VERSION),
            trace_hash,
        }
    }

    /// What a replay of these contents that produced `replayed_trace_hash` finds different from
    /// the run they were made from, under this build's world rules (empty: nothing known
    /// differs).
    pub fn differences(&self, replayed_trace_hash: u64) -> Vec<ReplayWarning> {
        let mut out = Vec::new();
        if let Some(token) = self.world_rules.filter(|v| *v != WORLD_RULES_VERSION) {
            out.push(ReplayWarning::OtherWorldRules {
                token,
                current: WORLD_RULES_VERSION,
            });
        }
        if let Some(recorded) = self.trace_hash.filter(|h| *h != replayed_trace_hash) {
            out.push(ReplayWarning::BehaviourChanged {
                recorded,
                replayed: replayed_trace_hash,
            });
        }
        out
    }
}

/// What a replay found different from the run its token was made from. A replay never hides
/// it: the library returns it with the run, the CLI prints it on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayWarning {
    /// The token was made under other world rules than this racehound plays: the replay may
    /// not be the run that was found.
    OtherWorldRules {
        /// The version the token records.
        token: u32,
        /// This racehound's [`WORLD_RULES_VERSION`].
        current: u32,
    },
    /// The replay's trace differs from the run the token was made from: the behaviour changed.
    BehaviourChanged {
        /// The trace hash the token records.
        recorded: u64,
        /// The replay's trace hash.
        replayed: u64,
    },
}

impl std::fmt::Display for ReplayWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayWarning::OtherWorldRules { token, current } => write!(
                f,
                "this replay token was made under world rules v{token}, but this racehound ({}) plays \
                 v{current}: a fake, the world's scheduling or a strategy changed since, so the replay \
                 may not be the run that was found (hint: replay it with the racehound version that \
                 printed it, or explore again for a token of today's rules)",
                env!("CARGO_PKG_VERSION")
            ),
            ReplayWarning::BehaviourChanged { recorded, replayed } => write!(
                f,
                "the behaviour changed: the token's run had trace hash {recorded:016x}, this replay \
                 has {replayed:016x} (hint: the strategy's code, the invariants checked or racehound's \
                 world changed since the token was made; explore again for a token of the run as it \
                 plays now)"
            ),
        }
    }
}

/// A trace hash as 16 hex digits, as racehound prints hashes everywhere else.
mod hex_hash {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hash: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match hash {
            Some(hash) => serializer.serialize_str(&format!("{hash:016x}")),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
        let Some(text) = Option::<String>::deserialize(deserializer)? else {
            return Ok(None);
        };
        u64::from_str_radix(&text, 16)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("trace_hash `{text}`: {e}")))
    }
}

/// A token for `input`, whose run had `trace_hash`, under this build's world rules.
pub fn mint(input: &RunInput, trace_hash: u64) -> String {
    encode(&TokenContents::new(input.clone(), Some(trace_hash)))
}

/// Reads a token of this format version, with or without the world rules and trace hash.
pub fn read(token: &str) -> Result<TokenContents, TokenError> {
    decode(token)
}

/// Why a token could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// It does not start with `rh<digits>_`.
    NotAToken,
    /// It was made by another token format version.
    WrongVersion {
        /// The version in the token.
        found: u32,
    },
    /// The payload is not valid base64url or JSON for a run.
    Corrupt(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::NotAToken => write!(
                f,
                "not a racehound replay token (hint: tokens look like `rh{TOKEN_FORMAT_VERSION}_eyJ…`; copy the whole line printed with the failure)"
            ),
            TokenError::WrongVersion { found } => write!(
                f,
                "this replay token was made by token format v{found}, but this racehound ({}) reads v{TOKEN_FORMAT_VERSION} \
                 (hint: replay it with the racehound version that printed it)",
                env!("CARGO_PKG_VERSION")
            ),
            TokenError::Corrupt(why) => {
                write!(f, "the replay token is damaged: {why} (hint: was it cut when copied?)")
            }
        }
    }
}

impl std::error::Error for TokenError {}

/// Encodes a run description as a token.
pub fn encode<T: Serialize>(run: &T) -> String {
    let json = serde_json::to_vec(run).unwrap_or_default();
    format!(
        "rh{TOKEN_FORMAT_VERSION}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    )
}

/// Decodes a token made by [`encode`] with this format version.
pub fn decode<T: DeserializeOwned>(token: &str) -> Result<T, TokenError> {
    let token = token.trim();
    let rest = token.strip_prefix("rh").ok_or(TokenError::NotAToken)?;
    let (version, payload) = rest.split_once('_').ok_or(TokenError::NotAToken)?;
    let version: u32 = version.parse().map_err(|_| TokenError::NotAToken)?;
    if version != TOKEN_FORMAT_VERSION {
        return Err(TokenError::WrongVersion { found: version });
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| TokenError::Corrupt(format!("base64: {e}")))?;
    serde_json::from_slice(&json).map_err(|e| TokenError::Corrupt(format!("contents: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Run {
        scenario: String,
        seed: u64,
    }

    #[test]
    fn token_round_trips() {
        let run = Run {
            scenario: "checkout_coupon".into(),
            seed: 42,
        };
        let token = encode(&run);
        assert!(token.starts_with("rh1_"));
        assert_eq!(decode::<Run>(&token), Ok(run));
    }

    #[test]
    fn other_versions_are_refused_clearly() {
        let token = encode(&Run {
            scenario: "s".into(),
            seed: 1,
        })
        .replacen("rh1_", "rh7_", 1);
        let err = decode::<Run>(&token).unwrap_err();
        assert_eq!(err, TokenError::WrongVersion { found: 7 });
        assert!(err.to_string().contains("v7"));
    }

    #[test]
    fn garbage_is_not_a_token() {
        assert_eq!(decode::<Run>("hello"), Err(TokenError::NotAToken));
        assert!(matches!(decode::<Run>("rh1_!!!"), Err(TokenError::Corrupt(_))));
        let truncated = &encode(&Run {
            scenario: "s".into(),
            seed: 1,
        })[..10];
        assert!(matches!(decode::<Run>(truncated), Err(TokenError::Corrupt(_))));
    }

    use crate::explore::input::{ResolvedActor, ResolvedStep, RunInput};
    use crate::sim::faults::{Fault, Service, TimedFault};

    /// One token per format version this crate has written, oldest first. Changing how a
    /// [`RunInput`] serialises changes the token: bump [`TOKEN_FORMAT_VERSION`] and append
    /// the new golden token here; old entries stay and must be refused by version.
    const GOLDEN: &[(u32, &str)] = &[(
        1,
        "rh1_eyJzY2VuYXJpbyI6ImdvbGRlbi5jb3Vwb25fcmFjZSIsInN0cmF0ZWd5IjoiY2hlY2tvdXQubmFpdmUiLCJzZWVkIjo0MiwidXNlcnMiOjIsInJlcGxpY2FzIjoyLCJsYXRlbmN5X21zIjpbMSw1MF0sImxvc3MiOjAuMCwiYWN0b3JzIjpbeyJ1c2VyIjoxLCJzdGVwcyI6W3siZmxvdyI6ImNoZWNrb3V0IiwiYXRfbXMiOjAsInJlcGxpY2EiOm51bGwsImNvdXBvbiI6bnVsbCwicGxhbiI6bnVsbCwiYXR0ZW1wdHMiOjMsInRpbWVvdXRfbXMiOjMwMDB9LHsiZmxvdyI6ImFwcGx5X2NvdXBvbiIsImF0X21zIjoxMTcsInJlcGxpY2EiOjEsImNvdXBvbiI6IlNBVkUyMCIsInBsYW4iOiJ0ZWFtIiwiYXR0ZW1wdHMiOjEsInRpbWVvdXRfbXMiOjEwMDAwfV19XSwiZmF1bHRzIjpbeyJhdF9tcyI6MzAsImZhdWx0Ijp7IkNyYXNoIjp7Imhvc3QiOiJhcHAtMiIsInJlc3RhcnRfYWZ0ZXJfbXMiOjIwMH19fSx7ImF0X21zIjo2MCwiZmF1bHQiOnsiU2VydmljZUVycm9yIjp7InNlcnZpY2UiOiJTdHJpcGUiLCJzdGF0dXMiOjQyOSwiY291bnQiOjIsInBhdGhfcHJlZml4IjoiL3YxL2N1c3RvbWVycyJ9fX1dfQ",
    )];

    fn golden_input() -> RunInput {
        RunInput {
            scenario: "golden.coupon_race".into(),
            strategy: "checkout.naive".into(),
            seed: 42,
            users: 2,
            replicas: 2,
            latency_ms: (1, 50),
            loss: 0.0,
            actors: vec![ResolvedActor {
                user: 1,
                steps: vec![
                    ResolvedStep {
                        flow: crate::vocabulary::Flow::Checkout,
                        at_ms: 0,
                        replica: None,
                        coupon: None,
                        plan: None,
                        attempts: 3,
                        timeout_ms: 3_000,
                    },
                    ResolvedStep {
                        flow: crate::vocabulary::Flow::ApplyCoupon,
                        at_ms: 117,
                        replica: Some(1),
                        coupon: Some("SAVE20".into()),
                        plan: Some("team".into()),
                        attempts: 1,
                        timeout_ms: 10_000,
                    },
                ],
            }],
            faults: vec![
                TimedFault {
                    at_ms: 30,
                    fault: Fault::Crash {
                        host: "app-2".into(),
                        restart_after_ms: 200,
                    },
                    trigger: None,
                },
                TimedFault {
                    at_ms: 60,
                    fault: Fault::ServiceError {
                        service: Service::Stripe,
                        status: 429,
                        count: 2,
                        path_prefix: "/v1/customers".into(),
                    },
                    trigger: None,
                },
            ],
        }
    }

    #[test]
    fn the_token_format_is_pinned_to_its_version() {
        let (version, golden) = GOLDEN[GOLDEN.len() - 1];
        assert_eq!(
            version, TOKEN_FORMAT_VERSION,
            "TOKEN_FORMAT_VERSION changed: append this build's golden token to GOLDEN"
        );
        assert_eq!(
            encode(&golden_input()),
            golden,
            "the replay token format changed without a version bump: bump TOKEN_FORMAT_VERSION \
             and append the new token to GOLDEN (old tokens must be refused, not misread)"
        );
        assert_eq!(decode::<RunInput>(golden), Ok(golden_input()));
    }

    /// A token of this format version with the world rules and the trace hash, as
    /// [`mint`] makes them since they exist (world rules v1, a made-up hash).
    const GOLDEN_STAMPED: &str = "rh1_eyJzY2VuYXJpbyI6ImdvbGRlbi5jb3Vwb25fcmFjZSIsInN0cmF0ZWd5IjoiY2hlY2tvdXQubmFpdmUiLCJzZWVkIjo0MiwidXNlcnMiOjIsInJlcGxpY2FzIjoyLCJsYXRlbmN5X21zIjpbMSw1MF0sImxvc3MiOjAuMCwiYWN0b3JzIjpbeyJ1c2VyIjoxLCJzdGVwcyI6W3siZmxvdyI6ImNoZWNrb3V0IiwiYXRfbXMiOjAsInJlcGxpY2EiOm51bGwsImNvdXBvbiI6bnVsbCwicGxhbiI6bnVsbCwiYXR0ZW1wdHMiOjMsInRpbWVvdXRfbXMiOjMwMDB9LHsiZmxvdyI6ImFwcGx5X2NvdXBvbiIsImF0X21zIjoxMTcsInJlcGxpY2EiOjEsImNvdXBvbiI6IlNBVkUyMCIsInBsYW4iOiJ0ZWFtIiwiYXR0ZW1wdHMiOjEsInRpbWVvdXRfbXMiOjEwMDAwfV19XSwiZmF1bHRzIjpbeyJhdF9tcyI6MzAsImZhdWx0Ijp7IkNyYXNoIjp7Imhvc3QiOiJhcHAtMiIsInJlc3RhcnRfYWZ0ZXJfbXMiOjIwMH19fSx7ImF0X21zIjo2MCwiZmF1bHQiOnsiU2VydmljZUVycm9yIjp7InNlcnZpY2UiOiJTdHJpcGUiLCJzdGF0dXMiOjQyOSwiY291bnQiOjIsInBhdGhfcHJlZml4IjoiL3YxL2N1c3RvbWVycyJ9fX1dLCJ3b3JsZF9ydWxlcyI6MSwidHJhY2VfaGFzaCI6IjAxMjM0NTY3ODlhYmNkZWYifQ";

    #[test]
    fn tokens_without_world_rules_or_trace_hash_still_read() {
        let (_, old) = GOLDEN[GOLDEN.len() - 1];
        let contents = read(old).expect("an old token reads");
        assert_eq!(
            contents,
            TokenContents {
                input: golden_input(),
                world_rules: None,
                trace_hash: None,
            }
        );
        assert_eq!(
            encode(&contents),
            old,
            "without them, the contents encode as the input alone"
        );
        assert!(
            contents.differences(0x0123_4567_89ab_cdef).is_empty(),
            "nothing to compare"
        );
    }

    #[test]
    fn the_world_rules_and_trace_hash_are_pinned_too() {
        let stamped = TokenContents {
            input: golden_input(),
            world_rules: Some(1),
            trace_hash: Some(0x0123_4567_89ab_cdef),
        };
        assert_eq!(
            encode(&stamped),
            GOLDEN_STAMPED,
            "how a token records the world rules or the trace hash changed: a racehound that \
             reads GOLDEN_STAMPED must keep reading it"
        );
        assert_eq!(read(GOLDEN_STAMPED), Ok(stamped.clone()));
        // An older racehound reads the run input alone and ignores the rest: it replays a new
        // token as it is (which is why adding them needed no format version bump).
        assert_eq!(decode::<RunInput>(GOLDEN_STAMPED), Ok(golden_input()));
        let minted = read(&mint(&golden_input(), 7)).expect("reads");
        assert_eq!(
            (minted.world_rules, minted.trace_hash),
            (Some(WORLD_RULES_VERSION), Some(7))
        );
        let mut damaged = serde_json::to_value(&stamped).expect("serialises");
        damaged["trace_hash"] = serde_json::json!("xyz");
        let err = read(&encode(&damaged)).unwrap_err();
        assert!(
            matches!(&err, TokenError::Corrupt(why) if why.contains("trace_hash `xyz`")),
            "{err:?}"
        );
    }

    #[test]
    fn a_replay_compares_world_rules_and_trace_hash() {
        let contents = TokenContents::new(golden_input(), Some(42));
        assert_eq!(contents.differences(42), vec![]);
        assert_eq!(
            contents.differences(43),
            vec![ReplayWarning::BehaviourChanged {
                recorded: 42,
                replayed: 43
            }]
        );
        let older = TokenContents {
            world_rules: Some(WORLD_RULES_VERSION + 1),
            ..contents
        };
        let warnings = older.differences(42);
        assert_eq!(
            warnings,
            vec![ReplayWarning::OtherWorldRules {
                token: WORLD_RULES_VERSION + 1,
                current: WORLD_RULES_VERSION
            }]
        );
        let text = warnings[0].to_string();
        assert!(
            text.contains(&format!("made under world rules v{}", WORLD_RULES_VERSION + 1))
                && text.contains(&format!("plays v{WORLD_RULES_VERSION}"))
                && text.contains("(hint: "),
            "{text}"
        );
        assert_eq!(older.differences(43).len(), 2, "both, when both differ");
        let changed = ReplayWarning::BehaviourChanged {
            recorded: 0xa,
            replayed: 0xb,
        }
        .to_string();
        assert!(
            changed.starts_with("the behaviour changed")
                && changed.contains("000000000000000a")
                && changed.contains("000000000000000b")
                && changed.contains("(hint: "),
            "{changed}"
        );
    }

    #[test]
    fn tokens_of_other_versions_name_the_version_that_made_them() {
        let (_, current) = GOLDEN[GOLDEN.len() - 1];
        let mut others: Vec<String> = GOLDEN[..GOLDEN.len() - 1]
            .iter()
            .map(|(_, t)| t.to_string())
            .collect();
        let payload = current.split_once('_').map(|(_, p)| p).unwrap_or_default();
        others.push(format!("rh0_{payload}"));
        others.push(format!("rh{}_{payload}", TOKEN_FORMAT_VERSION + 1));
        for token in others {
            let found: u32 = token[2..token.find('_').unwrap_or(2)].parse().expect("a version");
            let err = decode::<RunInput>(&token).unwrap_err();
            assert_eq!(err, TokenError::WrongVersion { found });
            let message = err.to_string();
            assert!(
                message.contains(&format!("made by token format v{found}")),
                "{message}"
            );
            assert!(
                message.contains(&format!("reads v{TOKEN_FORMAT_VERSION}")),
                "{message}"
            );
            assert!(message.contains(env!("CARGO_PKG_VERSION")), "{message}");
        }
    }
}
