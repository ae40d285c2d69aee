//! Bad input to explore, replay and explain, as one typed error: scenario files that do not
//! load, a selection that matches nothing, a token that cannot be replayed. The CLI maps it to
//! its exit code in one place; the library's `replay` returns the [`ReplayError`] part.

use super::token::TokenError;
use super::unknown_strategy;
use crate::scenario::load::LoadError;

/// Why a token could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError {
    /// The token is not readable by this version (see [`TokenError`]).
    Token(TokenError),
    /// The token was found with another strategy than the one given.
    OtherStrategy {
        /// The strategy id in the token.
        token_strategy: String,
        /// The id of the strategy passed to `replay`.
        given: String,
    },
    /// The token's strategy is not in racehound's catalogue (only a replay that looks the
    /// strategy up there, as the CLI does, can say this).
    UnknownStrategy {
        /// The strategy id in the token.
        strategy: String,
    },
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::Token(e) => e.fmt(f),
            ReplayError::OtherStrategy { token_strategy, given } => write!(
                f,
                "this replay token was found with strategy `{token_strategy}`, but replay was given `{given}` \
                 (hint: pass the strategy whose `id()` is `{token_strategy}`)"
            ),
            ReplayError::UnknownStrategy { strategy } => f.write_str(&unknown_strategy(strategy)),
        }
    }
}

/// The message includes the inner error's (no `source`, so it is not printed twice).
impl std::error::Error for ReplayError {}

/// Bad input to explore, replay or explain (the CLI exits with 2 on each).
#[derive(Debug)]
#[non_exhaustive]
pub enum InputError {
    /// Scenario files could not be read (the message has the file, line, column and a hint).
    Scenario(LoadError),
    /// No selected scenario runs a strategy matching the pattern.
    NoStrategyMatches {
        /// The strategy id or glob asked for.
        pattern: String,
    },
    /// A shard that is not `K/N` with 1 ≤ K ≤ N.
    BadShard {
        /// The shard as given.
        shard: String,
    },
    /// A replay token that cannot be replayed.
    Replay(ReplayError),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Scenario(e) => e.fmt(f),
            InputError::NoStrategyMatches { pattern } => write!(
                f,
                "no selected scenario runs a strategy matching `{pattern}` (hint: `racehound list`)"
            ),
            InputError::BadShard { shard } => {
                write!(
                    f,
                    "bad --shard `{shard}` (hint: write K/N with 1 ≤ K ≤ N, e.g. 1/3)"
                )
            }
            InputError::Replay(e) => e.fmt(f),
        }
    }
}

/// The message includes the inner error's (no `source`, so it is not printed twice).
impl std::error::Error for InputError {}

impl From<LoadError> for InputError {
    fn from(e: LoadError) -> Self {
        InputError::Scenario(e)
    }
}

impl From<ReplayError> for InputError {
    fn from(e: ReplayError) -> Self {
        InputError::Replay(e)
    }
}
