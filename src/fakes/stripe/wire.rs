//! The wire layer: form-encoded parameters in, Stripe-shaped JSON and error envelopes out.
//!
//! Stripe's v1 API takes `application/x-www-form-urlencoded` bodies (and query strings for
//! `GET`) with bracket nesting: `metadata[user_id]=u1`, `discounts[0][coupon]=X`,
//! `expand[]=customer`. Keys are kept flat here (`"discounts[0][coupon]"`) and matched
//! against per-route patterns, so an unknown parameter is reported with its exact name.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::http::HttpResponse;
pub use crate::wire::form::{encode_form, percent_encode};

/// Most parameters one request may carry (a limit on the decoder's loop).
pub const MAX_PARAMS: usize = 512;
/// Longest accepted parameter key or value, in bytes.
pub const MAX_PARAM_LEN: usize = 5000;

/// A Stripe API error: the HTTP status plus the `{"error": {...}}` envelope fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (400, 401, 404, 409, 429, 500).
    pub status: u16,
    /// `error.type`: `invalid_request_error`, `idempotency_error`, `api_error`, ...
    pub kind: &'static str,
    /// `error.code`, e.g. `resource_missing`.
    pub code: Option<&'static str>,
    /// `error.message`.
    pub message: String,
    /// `error.param`: the parameter at fault.
    pub param: Option<String>,
}

impl ApiError {
    /// A 400 `invalid_request_error` with an optional code and param.
    pub fn invalid(code: Option<&'static str>, message: impl Into<String>, param: Option<&str>) -> Self {
        Self {
            status: 400,
            kind: "invalid_request_error",
            code,
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    /// 400 `parameter_missing`.
    pub fn missing(param: &str) -> Self {
        Self::invalid(
            Some("parameter_missing"),
            format!("Missing required param: {param}."),
            Some(param),
        )
    }

    /// 400 `parameter_unknown`.
    pub fn unknown(param: &str) -> Self {
        Self::invalid(
            Some("parameter_unknown"),
            format!("Received unknown parameter: {param}"),
            Some(param),
        )
    }

    /// 404 `resource_missing` for an object of `kind` (e.g. `customer`).
    pub fn no_such(kind: &str, id: &str, param: &str) -> Self {
        Self {
            status: 404,
            kind: "invalid_request_error",
            code: Some("resource_missing"),
            message: format!("No such {kind}: '{id}'"),
            param: Some(param.to_string()),
        }
    }

    /// 400 `resource_missing`: a parameter names an object that does not exist.
    pub fn missing_ref(kind: &str, id: &str, param: &str) -> Self {
        Self {
            status: 400,
            ..Self::no_such(kind, id, param)
        }
    }

    /// 500 `api_error`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            kind: "api_error",
            code: None,
            message: message.into(),
            param: None,
        }
    }

    /// The error envelope as JSON; `code`, `param` and `doc_url` appear only when set, as in Stripe.
    pub fn to_json(&self) -> Value {
        let mut inner = serde_json::Map::new();
        if let Some(code) = self.code {
            inner.insert("code".into(), json!(code));
            inner.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        inner.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            inner.insert("param".into(), json!(param));
        }
        inner.insert("type".into(), json!(self.kind));
        json!({ "error": Value::Object(inner) })
    }

    /// The error as an HTTP response (without `Request-Id`, added by the caller).
    pub fn to_response(&self) -> HttpResponse {
        HttpResponse::json(self.status, &self.to_json())
    }
}

/// Decoded form parameters, flat keys in the order sent (`"metadata[k]"`, `"expand[]"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes an `x-www-form-urlencoded` string (body or query).
    pub fn decode(raw: &[u8]) -> Result<Params, ApiError> {
        let text = std::str::from_utf8(raw).map_err(|_| {
            ApiError::invalid(
                None,
                "Invalid request body: not UTF-8 (hint: send application/x-www-form-urlencoded text).",
                None,
            )
        })?;
        let mut pairs = Vec::new();
        for piece in text.split('&') {
            if piece.is_empty() {
                continue;
            }
            if pairs.len() >= MAX_PARAMS {
                return Err(ApiError::invalid(
                    None,
                    format!("Too many parameters (at most {MAX_PARAMS})."),
                    None,
                ));
            }
            let (raw_key, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
            let key = percent_decode(raw_key)?;
            let value = percent_decode(raw_value)?;
            if key.is_empty() {
                return Err(ApiError::invalid(
                    None,
                    "Invalid request body: empty parameter name.",
                    None,
                ));
            }
            if key.len() > MAX_PARAM_LEN || value.len() > MAX_PARAM_LEN {
                return Err(ApiError::invalid(
                    None,
                    format!("Parameter too long (at most {MAX_PARAM_LEN} bytes)."),
                    Some(&key),
                ));
            }
            key_segments(&key)?;
            pairs.push((key, value));
        }
        Ok(Params { pairs })
    }

    /// Params from literal pairs (for typed helpers and tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Params {
        Params {
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The pairs sorted, the form idempotency compares (order of parameters is not significant).
    pub fn canonical(&self) -> Vec<(String, String)> {
        let mut sorted = self.pairs.clone();
        sorted.sort();
        sorted
    }

    /// Rejects any key matching none of `patterns` (`#` = an index segment, `*` = any segment).
    pub fn check_allowed(&self, patterns: &[&str]) -> Result<(), ApiError> {
        let patterns_split: Vec<Vec<&str>> = patterns
            .iter()
            .map(|pattern| key_segments(pattern).unwrap_or_default())
            .collect();
        for (key, _) in &self.pairs {
            let segs = key_segments(key)?;
            let allowed = patterns_split.iter().any(|pat| {
                pat.len() == segs.len()
                    && pat.iter().zip(&segs).all(|(p, s)| match *p {
                        "*" => true,
                        "#" => s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()),
                        _ => p == s,
                    })
            });
            if !allowed {
                let name = segs.first().map(|s| s.to_string()).unwrap_or_default();
                let shown = if patterns.iter().any(|p| p.starts_with(&format!("{name}["))) {
                    key.clone()
                } else {
                    name
                };
                return Err(ApiError::unknown(&shown));
            }
        }
        Ok(())
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty string value, or `None` when absent.
    pub fn string(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some("") => Err(ApiError::invalid(
                Some("parameter_invalid_empty"),
                format!("You passed an empty string for '{key}'. We assume empty values are an attempt to unset a parameter; however '{key}' cannot be unset. You should remove '{key}' from your request or supply a non-empty value."),
                Some(key),
            )),
            Some(v) => Ok(Some(v.to_string())),
        }
    }

    /// A required non-empty string.
    pub fn required(&self, key: &str) -> Result<String, ApiError> {
        self.string(key)?.ok_or_else(|| ApiError::missing(key))
    }

    /// A string that may be unset with `""` (`Some(None)`), or absent (`None`).
    pub fn nullable(&self, key: &str) -> Option<Option<String>> {
        self.get(key).map(|v| (!v.is_empty()).then(|| v.to_string()))
    }

    /// A non-negative integer.
    pub fn integer(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
                ApiError::invalid(
                    Some("parameter_invalid_integer"),
                    format!("Invalid integer: {v}"),
                    Some(key),
                )
            }),
        }
    }

    /// A decimal number (e.g. `percent_off`).
    pub fn decimal(&self, key: &str) -> Result<Option<f64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(ApiError::invalid(
                    None,
                    format!("Invalid decimal: {v}"),
                    Some(key),
                )),
            },
        }
    }

    /// A boolean (`true`/`false`).
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid(
                None,
                format!("Invalid boolean: {v}"),
                Some(key),
            )),
        }
    }

    /// `prefix[k]=v` pairs as a map; a bare `prefix=` (empty) yields `Some(empty)` meaning "unset all".
    pub fn map(&self, prefix: &str) -> Option<BTreeMap<String, String>> {
        let mut out: Option<BTreeMap<String, String>> = None;
        for (key, value) in &self.pairs {
            if key == prefix && value.is_empty() {
                out = Some(BTreeMap::new());
                continue;
            }
            let Ok(segs) = key_segments(key) else { continue };
            if segs.len() == 2 && segs.first() == Some(&prefix) {
                if let Some(k) = segs.get(1) {
                    out.get_or_insert_with(BTreeMap::new)
                        .insert(k.to_string(), value.clone());
                }
            }
        }
        out
    }

    /// `metadata[k]=v` pairs, checked against Stripe's limits (50 keys, keys ≤ 40 characters,
    /// values ≤ 500 characters); `Some(empty)` for `metadata=` (unset all).
    pub fn metadata(&self) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        let Some(map) = self.map("metadata") else {
            return Ok(None);
        };
        if map.len() > 50 {
            return Err(ApiError::invalid(
                None,
                "Invalid metadata: metadata can have up to 50 keys.",
                Some("metadata"),
            ));
        }
        for (key, value) in &map {
            let param = format!("metadata[{key}]");
            if key.is_empty() || key.chars().count() > 40 {
                return Err(ApiError::invalid(
                    None,
                    "Invalid metadata: keys must be 1 to 40 characters long.",
                    Some(&param),
                ));
            }
            if value.chars().count() > 500 {
                return Err(ApiError::invalid(
                    None,
                    "Invalid metadata: values can be up to 500 characters long.",
                    Some(&param),
                ));
            }
        }
        Ok(Some(map))
    }

    /// Values of `prefix[]` / `prefix[0]`, in the order sent.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(key, _)| {
                key_segments(key).is_ok_and(|segs| segs.len() == 2 && segs.first() == Some(&prefix))
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The distinct indexes used under `prefix[N][...]`, ascending.
    pub fn indexes(&self, prefix: &str) -> Vec<usize> {
        let mut out = std::collections::BTreeSet::new();
        for (key, _) in &self.pairs {
            if let Ok(segs) = key_segments(key) {
                if segs.len() >= 3 && segs.first() == Some(&prefix) {
                    if let Some(Ok(n)) = segs.get(1).map(|s| s.parse::<usize>()) {
                        out.insert(n);
                    }
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Splits `a[b][c]` into `["a", "b", "c"]`; `expand[]` gives `["expand", ""]`.
pub fn split_key(key: &str) -> Result<Vec<String>, ApiError> {
    Ok(key_segments(key)?.into_iter().map(str::to_string).collect())
}

/// [`split_key`] borrowing its segments from `key`.
pub fn key_segments(key: &str) -> Result<Vec<&str>, ApiError> {
    let bad = || ApiError::invalid(None, format!("Invalid parameter name: {key}"), Some(key));
    let (head, mut rest) = match key.find('[') {
        None => return Ok(vec![key]),
        Some(i) => (&key[..i], &key[i..]),
    };
    if head.is_empty() {
        return Err(bad());
    }
    let mut segs = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        let close = inner.find(']').ok_or_else(bad)?;
        let seg = &inner[..close];
        if seg.contains('[') {
            return Err(bad());
        }
        segs.push(seg);
        rest = &inner[close + 1..];
        if segs.len() > 8 {
            return Err(bad());
        }
    }
    Ok(segs)
}

/// Decodes `%XX` escapes and `+` (space); the result must be UTF-8.
pub fn percent_decode(text: &str) -> Result<String, ApiError> {
    decode(text, true)
}

/// Decodes `%XX` escapes in a path segment (`+` stays `+`); `None` if malformed.
pub fn percent_decode_path(text: &str) -> Option<String> {
    decode(text, false).ok()
}

fn decode(text: &str, plus_is_space: bool) -> Result<String, ApiError> {
    let bad = || {
        ApiError::invalid(
            None,
            "Invalid request body: bad percent-encoding (hint: encode as application/x-www-form-urlencoded).",
            None,
        )
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let hi = bytes
                    .get(i + 1)
                    .and_then(|c| (*c as char).to_digit(16))
                    .ok_or_else(bad)?;
                let lo = bytes
                    .get(i + 2)
                    .and_then(|c| (*c as char).to_digit(16))
                    .ok_or_else(bad)?;
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// A Stripe list object.
pub fn list_json(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "data": data, "has_more": has_more, "url": url })
}

/// A Stripe search result object.
pub fn search_json(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "search_result", "data": data, "has_more": has_more, "next_page": null, "url": url })
}

/// A page size from `limit` (1..=100, default 10) as Stripe validates it.
pub fn limit(params: &Params) -> Result<usize, ApiError> {
    match params.integer("limit")? {
        None => Ok(10),
        Some(n @ 1..=100) => Ok(n as usize),
        Some(_) => Err(ApiError::invalid(
            Some("parameter_invalid_integer"),
            "This value must be greater than or equal to 1 and less than or equal to 100.",
            Some("limit"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_brackets_plus_and_percent() {
        let p = Params::decode(
            b"metadata%5Buser_id%5D=u+1&discounts[0][coupon]=X&expand[]=customer&email=a%40b.c",
        )
        .unwrap();
        assert_eq!(p.get("metadata[user_id]"), Some("u 1"));
        assert_eq!(p.get("discounts[0][coupon]"), Some("X"));
        assert_eq!(p.list("expand"), vec!["customer".to_string()]);
        assert_eq!(p.get("email"), Some("a@b.c"));
        assert_eq!(p.indexes("discounts"), vec![0]);
        assert!(p
            .check_allowed(&["metadata[*]", "discounts[#][coupon]", "expand[#]", "email"])
            .is_ok());
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        for body in [&b"a=%zz"[..], b"a[=1", b"=1", b"a=%ff%fe", b"a]b[=1x", b"[x]=1"] {
            let err = Params::decode(body).unwrap_err();
            assert_eq!(err.status, 400, "{body:?}");
        }
    }

    #[test]
    fn encode_roundtrips() {
        let body = encode_form(&[("metadata[k]", "a b&c=d/é")]);
        let p = Params::decode(body.as_bytes()).unwrap();
        assert_eq!(p.get("metadata[k]"), Some("a b&c=d/é"));
    }
}
