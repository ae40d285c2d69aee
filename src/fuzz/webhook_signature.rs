//! The `webhook_signature` target: the Stripe and Svix verifiers accept exactly the correct
//! signatures.

use super::Bytes;
use crate::fakes::clerk::svix;
use crate::fakes::stripe::webhook as stripe_webhook;

/// `bytes` with the byte at `index` (modulo the length) XORed with `mask` (at least 1);
/// `None` when there is no byte to flip or the result is not UTF-8 text.
fn flip(bytes: &[u8], index: usize, mask: u8) -> Option<String> {
    let mut out = bytes.to_vec();
    let b = out.get_mut(index.checked_rem(bytes.len())?)?;
    *b ^= mask.max(1);
    String::from_utf8(out).ok()
}

/// `bytes` with one byte XORed with `mask` (at least 1); `None` when empty.
fn flip_bytes(bytes: &[u8], index: usize, mask: u8) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    let b = out.get_mut(index.checked_rem(bytes.len())?)?;
    *b ^= mask.max(1);
    Some(out)
}

/// The `u64` values written after `t=` anywhere in `header`.
fn stripe_timestamps(header: &str) -> Vec<u64> {
    header
        .match_indices("t=")
        .filter_map(|(at, _)| {
            let rest = header.get(at + 2..)?;
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '+'))
                .unwrap_or(rest.len());
            rest.get(..end)?.parse().ok()
        })
        .take(64)
        .collect()
}

/// Arbitrary secrets, headers, bodies and timestamps into the Stripe (`Stripe-Signature`) and
/// Svix verifiers: a payload signed with the secret verifies; one byte flipped in the payload,
/// the header or the secret is always rejected; an arbitrary header is accepted only if it
/// carries the correct signature for one of its timestamps.
pub fn webhook_signature(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let secret_bytes = bytes.slice(32).to_vec();
    let payload = bytes.slice(256).to_vec();
    let timestamp = match bytes.below(4) {
        0 => bytes.u64(),
        _ => 1_767_225_600 + bytes.u64() % 100_000_000,
    };
    let tolerance = [0u64, 1, 300, u64::MAX]
        .get(bytes.below(4))
        .copied()
        .unwrap_or(300);
    let (index, mask) = (bytes.u64() as usize, bytes.byte());

    // Stripe: the secret is used as it is, as bytes.
    let secret = match bytes.below(3) {
        0 => String::from_utf8_lossy(&secret_bytes).into_owned(),
        _ => format!("whsec_{}", stripe_webhook::hex(&secret_bytes)),
    };
    let header = stripe_webhook::sign_header(&secret, timestamp, &payload);
    assert_eq!(
        stripe_webhook::verify(&payload, &header, &secret, timestamp, tolerance),
        Ok(()),
        "own signature rejected"
    );
    if tolerance > 0 && timestamp.checked_add(tolerance).is_some_and(|t| t < u64::MAX) {
        let now = timestamp + tolerance;
        assert_eq!(
            stripe_webhook::verify(&payload, &header, &secret, now, tolerance),
            Ok(())
        );
        assert_eq!(
            stripe_webhook::verify(&payload, &header, &secret, now + 1, tolerance),
            Err(stripe_webhook::SignatureError::TimestampOutsideTolerance)
        );
    }
    if let Some(tampered) = flip_bytes(&payload, index, mask) {
        assert!(
            stripe_webhook::verify(&tampered, &header, &secret, timestamp, tolerance).is_err(),
            "Stripe accepted a tampered payload"
        );
    }
    if let Some(tampered) = flip(header.as_bytes(), index, mask) {
        assert!(
            stripe_webhook::verify(&payload, &tampered, &secret, timestamp, tolerance).is_err(),
            "Stripe accepted a tampered header {tampered:?} (signed {header:?})"
        );
    }
    // Equal-length keys that differ stay different after HMAC's zero padding.
    if let Some(tampered) = flip(secret.as_bytes(), index, mask) {
        assert!(
            stripe_webhook::verify(&payload, &header, &tampered, timestamp, tolerance).is_err(),
            "Stripe accepted another secret"
        );
    }
    let arbitrary = match bytes.below(3) {
        0 => bytes.text(160),
        // A real header edited: the fuzzer can splice, duplicate and re-case its parts.
        _ => format!("{}{header}{}", bytes.text(24), bytes.text(24)),
    };
    let now = timestamp.saturating_add(bytes.u64() % 1000);
    if stripe_webhook::verify(&payload, &arbitrary, &secret, now, tolerance).is_ok() {
        assert!(
            stripe_timestamps(&arbitrary)
                .iter()
                .any(|t| arbitrary.contains(&stripe_webhook::signature(&secret, *t, &payload))),
            "Stripe accepted {arbitrary:?}, which carries no correct signature"
        );
    }

    // Svix: the secret is whsec_ + base64 of the key.
    let svix_secret = svix::encode_secret(&secret_bytes);
    let msg_id = format!("msg_{}", bytes.text(16));
    let ts = timestamp.to_string();
    let signature = svix::sign(&svix_secret, &msg_id, timestamp, &payload);
    let verify = |secret: &str, id: &str, ts: &str, sig: &str, body: &[u8], now: u64| {
        svix::verify(secret, (Some(id), Some(ts), Some(sig)), body, now)
    };
    assert_eq!(
        verify(&svix_secret, &msg_id, &ts, &signature, &payload, timestamp),
        Ok(()),
        "own Svix signature rejected"
    );
    if let Some(tampered) = flip_bytes(&payload, index, mask) {
        assert!(verify(&svix_secret, &msg_id, &ts, &signature, &tampered, timestamp).is_err());
    }
    // Not the secret: a flipped base64 secret may decode to the key plus a zero byte, which
    // HMAC's zero padding makes the same key (in Svix too).
    let fields = [&msg_id, &ts, &signature];
    for (which, field) in fields.iter().enumerate() {
        let Some(tampered) = flip(field.as_bytes(), index, mask) else {
            continue;
        };
        let mut f = fields.map(|s| s.as_str());
        if let Some(slot) = f.get_mut(which) {
            *slot = &tampered;
        }
        let [id, t, sig] = f;
        assert!(
            verify(&svix_secret, id, t, sig, &payload, timestamp).is_err(),
            "Svix accepted a tampered field {which}: {tampered:?}"
        );
    }
    let arbitrary = match bytes.below(3) {
        0 => bytes.text(120),
        _ => format!("{}{signature}{}", bytes.text(24), bytes.text(24)),
    };
    let arbitrary_ts = if bytes.bool() { bytes.text(12) } else { ts.clone() };
    if verify(
        &svix_secret,
        &msg_id,
        &arbitrary_ts,
        &arbitrary,
        &payload,
        timestamp,
    )
    .is_ok()
    {
        let canonical = arbitrary_ts
            .parse::<u64>()
            .ok()
            .filter(|t| t.to_string() == arbitrary_ts);
        if let Some(t) = canonical {
            let expected = svix::sign(&svix_secret, &msg_id, t, &payload);
            let encoded = expected.strip_prefix("v1,").unwrap_or(&expected);
            assert!(
                arbitrary.contains(encoded),
                "Svix accepted {arbitrary:?}, which carries no correct signature"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_timestamps_reads_every_t() {
        assert_eq!(stripe_timestamps("t=12,v1=ab, t=+3,t=x"), vec![12, 3]);
    }
}
