//! The `Stripe-Signature` scheme: signing and verifying a webhook delivery.
//!
//! `Stripe-Signature: t=<unix secs>,v1=<hex>` where `v1` is HMAC-SHA256 over
//! `"{t}.{raw body}"`, keyed with the whole `whsec_…` secret as bytes (Stripe does not
//! base64-decode it, unlike Svix). [`verify`] follows the official SDKs' `construct_event`:
//! several `v1` entries may be present (any may match), other schemes (`v0`) are ignored, the
//! signature is compared in constant time, then the timestamp is checked: like the SDKs, only a
//! timestamp *older* than the tolerance is rejected (one from the future is accepted).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The SDKs' default tolerance, in seconds.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Why a signature header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No `v1=` signature in the header (or an empty header).
    NoSignature,
    /// The header has no parseable `t=` timestamp.
    BadHeader,
    /// No `v1` matches the expected signature.
    Mismatch,
    /// The timestamp is older than the tolerance.
    TimestampOutsideTolerance,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            SignatureError::NoSignature => "No signatures found with expected scheme v1",
            SignatureError::BadHeader => "Unable to extract timestamp and signatures from header",
            SignatureError::Mismatch => "No signatures found matching the expected signature for payload (hint: sign the raw body bytes with the whole whsec_ secret)",
            SignatureError::TimestampOutsideTolerance => "Timestamp outside the tolerance zone (hint: the event is older than the tolerance; check the clock)",
        };
        f.write_str(text)
    }
}

impl std::error::Error for SignatureError {}

fn mac(secret: &str, timestamp_unix_secs: u64, payload: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp_unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    Some(mac)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex digits only: the SDKs compare the hex text exactly, so neither `AB` nor
/// `+b` (which `from_str_radix` accepts) matches `ab` / `0b`.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if text.len() % 2 != 0 || text.len() > 256 || !digits {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// The hex `v1` signature of `payload` at `timestamp_unix_secs`.
pub fn signature(secret: &str, timestamp_unix_secs: u64, payload: &[u8]) -> String {
    mac(secret, timestamp_unix_secs, payload).map_or_else(String::new, |m| hex(&m.finalize().into_bytes()))
}

/// The `Stripe-Signature` header value: `t=<unix>,v1=<hex>`.
pub fn sign_header(secret: &str, timestamp_unix_secs: u64, payload: &[u8]) -> String {
    format!(
        "t={timestamp_unix_secs},v1={}",
        signature(secret, timestamp_unix_secs, payload)
    )
}

/// Verifies a `Stripe-Signature` header as the official SDKs do.
pub fn verify(
    payload: &[u8],
    header: &str,
    secret: &str,
    now_unix_secs: u64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',').take(64) {
        let Some((scheme, value)) = item.trim().split_once('=') else {
            continue;
        };
        match scheme {
            "t" => timestamp = value.parse::<u64>().ok(),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::BadHeader)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    let matched = signatures.iter().any(|candidate| {
        let (Some(bytes), Some(m)) = (unhex(candidate), mac(secret, timestamp, payload)) else {
            return false;
        };
        m.verify_slice(&bytes).is_ok()
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if tolerance_secs > 0 && timestamp < now_unix_secs.saturating_sub(tolerance_secs) {
        return Err(SignatureError::TimestampOutsideTolerance);
    }
    Ok(())
}
