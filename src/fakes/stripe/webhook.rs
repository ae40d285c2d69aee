//! Webhook endpoints and Stripe's retry schedule; the `Stripe-Signature` scheme itself is in
//! [`crate::wire::stripe_signature`] (re-exported here), shared with the app's client.

use serde_json::Value;

use super::core::{Core, Ctx};
use super::state::WebhookEndpoint;
use super::wire::{self, list_json, ApiError, Params};
pub use crate::wire::stripe_signature::{
    hex, sign_header, signature, verify, SignatureError, DEFAULT_TOLERANCE_SECS,
};

/// How long Stripe keeps retrying an undelivered event (live mode: "up to 3 days").
pub const RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 60 * 60);

/// A model of Stripe's delivery retries (exponential back-off for up to 3 days; Stripe does not
/// publish the exact schedule): after `failed_attempts` failures (1 or more), the next attempt
/// comes `60 s × 2^(failed_attempts − 1)` later (capped at 12 h), or never once that would fall
/// beyond [`RETRY_WINDOW`] after the first attempt, `since_first_attempt` ago.
pub fn next_retry_delay(
    failed_attempts: u32,
    since_first_attempt: std::time::Duration,
) -> Option<std::time::Duration> {
    let exponent = failed_attempts.saturating_sub(1).min(16);
    let delay =
        std::time::Duration::from_secs(60u64 << exponent).min(std::time::Duration::from_secs(12 * 3600));
    let within = since_first_attempt
        .checked_add(delay)
        .is_some_and(|t| t <= RETRY_WINDOW);
    (failed_attempts > 0 && within).then_some(delay)
}

/// A registered endpoint as the runtime needs it to deliver events.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointInfo {
    /// `we_…`
    pub id: String,
    /// Delivery URL.
    pub url: String,
    /// `whsec_…`
    pub secret: String,
    /// Event types or `*`.
    pub enabled_events: Vec<String>,
}

impl EndpointInfo {
    /// Whether events of `event_type` go to this endpoint.
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled_events.iter().any(|e| e == "*" || e == event_type)
    }
}

/// `POST /v1/webhook_endpoints` parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewEndpoint {
    /// Delivery URL.
    pub url: String,
    /// Event types.
    pub enabled_events: Vec<String>,
}

/// Parses `POST /v1/webhook_endpoints`.
pub fn parse_endpoint(params: &Params) -> Result<NewEndpoint, ApiError> {
    params.check_allowed(&[
        "url",
        "enabled_events[#]",
        "description",
        "api_version",
        "metadata[*]",
        "expand[#]",
    ])?;
    let url = params.required("url")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ApiError::invalid(
            None,
            format!("Invalid URL: {url}"),
            Some("url"),
        ));
    }
    let enabled_events = params.list("enabled_events");
    if enabled_events.is_empty() {
        return Err(ApiError::missing("enabled_events"));
    }
    Ok(NewEndpoint { url, enabled_events })
}

/// Creates an endpoint; the response (only this one) shows the `whsec_…` secret.
pub fn create_endpoint(core: &mut Core, ctx: &Ctx<'_>, new: &NewEndpoint) -> Value {
    let id = core.id("we");
    let a = core.ids.next("x");
    let b = core.ids.next("x");
    let secret = format!("whsec_{}{}", a.get(2..).unwrap_or(""), b.get(2..).unwrap_or(""));
    let endpoint = WebhookEndpoint {
        id: id.clone(),
        seq: core.objects.seq(),
        created: ctx.now_secs(),
        url: new.url.clone(),
        secret,
        enabled_events: new.enabled_events.clone(),
    };
    let out = endpoint.to_json(true);
    core.objects.webhook_endpoints.insert(id, endpoint);
    out
}

/// Parses `GET /v1/webhook_endpoints` (its `limit`).
pub fn parse_list(params: &Params) -> Result<usize, ApiError> {
    params.check_allowed(&["limit", "expand[#]"])?;
    wire::limit(params)
}

/// `GET /v1/webhook_endpoints`, newest first.
pub fn list_endpoints(core: &Core, limit: usize) -> Value {
    let mut all: Vec<&WebhookEndpoint> = core.objects.webhook_endpoints.values().collect();
    all.sort_by_key(|x| std::cmp::Reverse(x.seq));
    let has_more = all.len() > limit;
    list_json(
        "/v1/webhook_endpoints",
        all.into_iter().take(limit).map(|e| e.to_json(false)).collect(),
        has_more,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Obtained with Python's standard library, exactly:
    /// `python3 -c "import hmac,hashlib; print(hmac.new(b'whsec_test_racehound_vector',
    ///  b'1767225600.{\"id\":\"evt_test\",\"object\":\"event\"}', hashlib.sha256).hexdigest())"`
    const VECTOR_V1: &str = "c6ace60562fcfab793e492bdf1dd0af254b91c22cef80ad73d016e7cb2d84cde";
    const SECRET: &str = "whsec_test_racehound_vector";
    const T: u64 = 1_767_225_600;
    const BODY: &[u8] = br#"{"id":"evt_test","object":"event"}"#;

    #[test]
    fn signature_matches_python_hmac_vector() {
        assert_eq!(sign_header(SECRET, T, BODY), format!("t={T},v1={VECTOR_V1}"));
        assert_eq!(
            verify(BODY, &format!("t={T},v1={VECTOR_V1}"), SECRET, T + 10, 300),
            Ok(())
        );
    }

    #[test]
    fn flipped_byte_is_rejected() {
        let header = sign_header(SECRET, T, BODY);
        let mut body = BODY.to_vec();
        if let Some(b) = body.get_mut(3) {
            *b ^= 1;
        }
        assert_eq!(
            verify(&body, &header, SECRET, T, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(BODY, &header, "whsec_other", T, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn uppercase_hex_signature_is_rejected() {
        // Found by fuzz/ (webhook_signature): the SDKs compare the hex text exactly.
        let header = sign_header(SECRET, T, BODY)
            .to_uppercase()
            .replacen("T=", "t=", 1)
            .replacen("V1=", "v1=", 1);
        assert_eq!(
            verify(BODY, &header, SECRET, T, 300),
            Err(SignatureError::Mismatch)
        );
        // `+8` parses as hex `08` with from_str_radix; the SDKs would not match it.
        let good = sign_header(SECRET, T, BODY);
        let (head, sig) = good.split_once("v1=").unwrap_or_default();
        let pairs: Vec<String> = (0..sig.len() / 2)
            .map(|i| sig[2 * i..2 * i + 2].to_string())
            .collect();
        let zero_first = pairs.iter().position(|p| p.starts_with('0'));
        assert!(
            zero_first.is_some(),
            "pick a body whose signature has a 0x0? byte"
        );
        let plus: Vec<String> = pairs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if Some(i) == zero_first {
                    format!("+{}", &p[1..])
                } else {
                    p.clone()
                }
            })
            .collect();
        let tampered = format!("{head}v1={}", plus.concat());
        assert_eq!(
            verify(BODY, &tampered, SECRET, T, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_timestamp_is_rejected() {
        let header = sign_header(SECRET, T, BODY);
        assert_eq!(verify(BODY, &header, SECRET, T + 300, 300), Ok(()));
        assert_eq!(
            verify(BODY, &header, SECRET, T + 301, 300),
            Err(SignatureError::TimestampOutsideTolerance)
        );
    }

    #[test]
    fn retries_back_off_exponentially_within_3_days() {
        use std::time::Duration;
        assert_eq!(next_retry_delay(0, Duration::ZERO), None);
        assert_eq!(next_retry_delay(1, Duration::ZERO), Some(Duration::from_secs(60)));
        assert_eq!(
            next_retry_delay(3, Duration::ZERO),
            Some(Duration::from_secs(240))
        );
        assert_eq!(
            next_retry_delay(40, Duration::ZERO),
            Some(Duration::from_secs(12 * 3600))
        );
        let (mut elapsed, mut attempts) = (Duration::ZERO, 1u32);
        while let Some(delay) = next_retry_delay(attempts, elapsed) {
            elapsed += delay;
            attempts += 1;
            assert!(attempts < 100, "retries must stop");
        }
        assert!(elapsed <= RETRY_WINDOW && elapsed > RETRY_WINDOW - Duration::from_secs(12 * 3600));
    }

    #[test]
    fn header_parsing_follows_the_sdks() {
        let good = signature(SECRET, T, BODY);
        let header = format!("t={T},v0=abc,v1={},v1={good},x=1", "00".repeat(32));
        assert_eq!(verify(BODY, &header, SECRET, T, 300), Ok(()));
        assert_eq!(verify(BODY, "", SECRET, T, 300), Err(SignatureError::BadHeader));
        assert_eq!(
            verify(BODY, &format!("t={T}"), SECRET, T, 300),
            Err(SignatureError::NoSignature)
        );
        assert_eq!(
            verify(BODY, &format!("v1={good}"), SECRET, T, 300),
            Err(SignatureError::BadHeader)
        );
        assert_eq!(
            verify(BODY, &format!("t={T},v1=zz"), SECRET, T, 300),
            Err(SignatureError::Mismatch)
        );
    }
}
