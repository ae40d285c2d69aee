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
                "this replay token was made by token format v{found}, but this racehound reads v{TOKEN_FORMAT_VERSION} \
                 (hint: replay it with the racehound version that printed it)"
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
}
