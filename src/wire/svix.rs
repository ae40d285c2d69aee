//! Svix webhook signatures, as Clerk's webhooks carry them.
//!
//! `svix-signature: v1,<base64>` where the signature is HMAC-SHA256 over
//! `"{svix-id}.{svix-timestamp}.{raw body}"`, keyed with the base64-decoded part of the
//! `whsec_…` secret. Several space-separated signatures may be sent; any one valid is enough.
//! Timestamps more than [`TOLERANCE_SECS`] in the past or future are rejected.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::http::HttpRequest;

/// How far a `svix-timestamp` may be from now, either way, in seconds (Svix's default).
pub const TOLERANCE_SECS: u64 = 5 * 60;

/// Most signatures a `svix-signature` header may carry before verification gives up.
pub const MAX_SIGNATURES: usize = 16;

/// Why a webhook failed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SvixError {
    /// One of `svix-id`, `svix-timestamp`, `svix-signature` is absent.
    MissingHeader,
    /// No `v1` signature in the header matches the payload.
    BadSignature,
    /// `svix-timestamp` is more than five minutes in the past.
    TimestampTooOld,
    /// `svix-timestamp` is more than five minutes in the future.
    TimestampTooNew,
    /// `svix-timestamp` is not a whole number of seconds.
    InvalidTimestamp,
    /// The secret is not `whsec_` followed by base64.
    BadSecret,
}

impl std::fmt::Display for SvixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            SvixError::MissingHeader => {
                "missing svix-id, svix-timestamp or svix-signature header (hint: pass the headers as received)"
            }
            SvixError::BadSignature => {
                "no matching signature (hint: verify the raw body bytes, not re-serialized JSON)"
            }
            SvixError::TimestampTooOld => "message timestamp too old (hint: check the receiver's clock)",
            SvixError::TimestampTooNew => "message timestamp too new (hint: check the receiver's clock)",
            SvixError::InvalidTimestamp => "svix-timestamp is not an integer number of seconds",
            SvixError::BadSecret => "webhook secret is not whsec_<base64> (hint: copy it from the fake's webhook_secret())",
        };
        f.write_str(text)
    }
}

impl std::error::Error for SvixError {}

/// The HMAC key in a `whsec_…` secret (the prefix is optional, as in the official libraries).
pub fn decode_secret(secret_whsec: &str) -> Result<Vec<u8>, SvixError> {
    let encoded = secret_whsec.strip_prefix("whsec_").unwrap_or(secret_whsec);
    STANDARD.decode(encoded).map_err(|_| SvixError::BadSecret)
}

/// A `whsec_…` secret carrying `key`.
pub fn encode_secret(key: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(key))
}

/// The signature for a message, `v1,<base64>`; an error if the secret does not decode.
pub fn try_sign(
    secret_whsec: &str,
    msg_id: &str,
    timestamp_unix_secs: u64,
    payload: &[u8],
) -> Result<String, SvixError> {
    let timestamp = timestamp_unix_secs.to_string();
    let mac = mac_for(&decode_secret(secret_whsec)?, msg_id, &timestamp, payload)?;
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The signature for a message, `v1,<base64>`; `v1,` alone (which never verifies) when the
/// secret does not decode — use [`try_sign`] to see that error.
pub fn sign(secret_whsec: &str, msg_id: &str, timestamp_unix_secs: u64, payload: &[u8]) -> String {
    try_sign(secret_whsec, msg_id, timestamp_unix_secs, payload).unwrap_or_else(|_| "v1,".to_string())
}

/// The three headers a Svix delivery carries, in the order Svix sends them.
pub fn webhook_headers(
    secret_whsec: &str,
    msg_id: &str,
    timestamp_unix_secs: u64,
    payload: &[u8],
) -> Vec<(String, String)> {
    vec![
        ("svix-id".to_string(), msg_id.to_string()),
        ("svix-timestamp".to_string(), timestamp_unix_secs.to_string()),
        (
            "svix-signature".to_string(),
            sign(secret_whsec, msg_id, timestamp_unix_secs, payload),
        ),
    ]
}

/// Verifies a delivery given its `(svix-id, svix-timestamp, svix-signature)` headers.
pub fn verify(
    secret_whsec: &str,
    headers: (Option<&str>, Option<&str>, Option<&str>),
    payload: &[u8],
    now_unix_secs: u64,
) -> Result<(), SvixError> {
    let (Some(msg_id), Some(timestamp), Some(signatures)) = headers else {
        return Err(SvixError::MissingHeader);
    };
    let key = decode_secret(secret_whsec)?;
    let timestamp_secs: u64 = timestamp.parse().map_err(|_| SvixError::InvalidTimestamp)?;
    if now_unix_secs.saturating_sub(timestamp_secs) > TOLERANCE_SECS {
        return Err(SvixError::TimestampTooOld);
    }
    if timestamp_secs.saturating_sub(now_unix_secs) > TOLERANCE_SECS {
        return Err(SvixError::TimestampTooNew);
    }
    for candidate in signatures.split(' ').take(MAX_SIGNATURES) {
        let Some(("v1", encoded)) = candidate.split_once(',') else {
            continue;
        };
        let Ok(expected) = STANDARD.decode(encoded) else {
            continue;
        };
        let mac = mac_for(&key, msg_id, timestamp, payload)?;
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(SvixError::BadSignature)
}

/// Verifies an HTTP request carrying a Svix delivery (headers matched case-insensitively).
pub fn verify_request(
    secret_whsec: &str,
    request: &HttpRequest,
    now_unix_secs: u64,
) -> Result<(), SvixError> {
    verify(
        secret_whsec,
        (
            request.header("svix-id"),
            request.header("svix-timestamp"),
            request.header("svix-signature"),
        ),
        &request.body,
        now_unix_secs,
    )
}

fn mac_for(key: &[u8], msg_id: &str, timestamp: &str, payload: &[u8]) -> Result<Hmac<Sha256>, SvixError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| SvixError::BadSecret)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    Ok(mac)
}
