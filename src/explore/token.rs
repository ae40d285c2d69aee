//! Replay tokens: one printable string that reproduces a run exactly.
//!
//! A token is `rh<version>_<base64url(JSON)>`. The JSON holds everything a run derives from:
//! scenario id, strategy id, seed, and the (possibly shrunk) explicit inputs. A token from
//! another format version is refused with a message naming both versions — never replayed
//! wrongly.

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The token format this build writes and reads.
pub const TOKEN_FORMAT_VERSION: u32 = 1;

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
                        flow: "checkout".into(),
                        at_ms: 0,
                        replica: None,
                        coupon: None,
                        plan: None,
                        attempts: 3,
                        timeout_ms: 3_000,
                    },
                    ResolvedStep {
                        flow: "apply_coupon".into(),
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
                },
                TimedFault {
                    at_ms: 60,
                    fault: Fault::ServiceError {
                        service: Service::Stripe,
                        status: 429,
                        count: 2,
                        path_prefix: "/v1/customers".into(),
                    },
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
