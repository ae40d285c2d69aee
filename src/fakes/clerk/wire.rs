//! The wire layer: routing, JSON bodies in and out, query strings, and Clerk's error envelope.

use serde_json::{json, Map, Value};

use super::billing::{BillingPayerRef, BillingSubscription};
use super::metadata::ClerkMetadata;
use super::orgs::{CreateOrganization, UpdateOrganization};
use super::users::{CreateUser, UpdateUser};
use super::Clerk;
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::ids::mix64;

/// Most items one list request may return (Clerk's documented maximum `limit`).
pub const MAX_LIST_LIMIT: usize = 500;

/// The `limit` a list request gets when it gives none.
pub const DEFAULT_LIST_LIMIT: usize = 10;

/// Most values one query parameter may repeat.
pub const MAX_QUERY_VALUES: usize = 100;

/// An error in Clerk's shape: status plus one entry of the `errors` array.
#[derive(Debug, Clone, PartialEq)]
pub struct ClerkErrorBody {
    /// HTTP status.
    pub status: u16,
    /// Machine-readable code, e.g. `form_identifier_exists`.
    pub code: &'static str,
    /// Short message.
    pub message: &'static str,
    /// Longer message.
    pub long_message: String,
    /// The parameter at fault, rendered as `meta.param_name`.
    pub param_name: Option<String>,
}

impl ClerkErrorBody {
    /// A new error.
    pub fn new(
        status: u16,
        code: &'static str,
        message: &'static str,
        long_message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            message,
            long_message: long_message.into(),
            param_name: None,
        }
    }

    fn with_param(mut self, param: &str) -> Self {
        self.param_name = Some(param.to_string());
        self
    }

    /// 404 `resource_not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            404,
            "resource_not_found",
            "not found",
            format!("No {what} was found (hint: check the id; deleted objects are gone)"),
        )
    }

    /// 422 `form_param_missing`.
    pub fn param_missing(param: &str) -> Self {
        Self::new(
            422,
            "form_param_missing",
            "missing data",
            format!("{param} must be included."),
        )
        .with_param(param)
    }

    /// 422 `form_param_format_invalid`.
    pub fn format_invalid(param: &str, detail: &str) -> Self {
        Self::new(
            422,
            "form_param_format_invalid",
            "is invalid",
            format!("{param} is invalid: {detail}"),
        )
        .with_param(param)
    }

    /// 422 `form_param_value_invalid`.
    pub fn value_invalid(param: &str, detail: &str) -> Self {
        Self::new(
            422,
            "form_param_value_invalid",
            "is invalid",
            format!("{param}: {detail}"),
        )
        .with_param(param)
    }

    /// 422 `form_identifier_exists`.
    pub fn identifier_exists(param: &str, long_message: &str) -> Self {
        Self::new(422, "form_identifier_exists", "is taken", long_message).with_param(param)
    }

    /// 400 for a body that is not a JSON object.
    pub fn malformed_body(detail: &str) -> Self {
        Self::new(
            400,
            "malformed_request",
            "Request body invalid",
            format!("The request body could not be parsed as a JSON object: {detail} (hint: send application/json)"),
        )
    }

    /// 422 for the fake's own capacity limits.
    pub fn capacity(what: &str, max: usize) -> Self {
        Self::new(
            422,
            "racehound_capacity_exceeded",
            "capacity exceeded",
            format!("the fake Clerk holds at most {max} {what} (hint: raise ClerkConfig limits)"),
        )
    }

    /// The JSON body: `{"errors": [...], "clerk_trace_id": ...}`.
    pub fn to_body(&self, trace_id: &str) -> Value {
        json!({
            "errors": [{
                "message": self.message,
                "long_message": self.long_message,
                "code": self.code,
                "meta": self.param_name.as_ref().map_or(json!({}), |name| json!({"param_name": name})),
            }],
            "clerk_trace_id": trace_id,
        })
    }
}

/// A deterministic `clerk_trace_id` for the `n`-th request.
pub(crate) fn trace_id(seed_base: u64, n: u64) -> String {
    let high = mix64(seed_base ^ n);
    let low = mix64(high ^ 0x7472_6163_6500_0000);
    format!("{high:016x}{low:016x}")
}

/// The response for an error.
pub(crate) fn error_response(error: &ClerkErrorBody, trace: &str) -> HttpResponse {
    HttpResponse::json(error.status, &error.to_body(trace))
}

/// Checks `Authorization: Bearer sk_test_…` (or `sk_live_…`).
pub(crate) fn check_auth(request: &HttpRequest, only_key: Option<&str>) -> Result<(), ClerkErrorBody> {
    let token = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        Some(key) if only_key.is_some_and(|only| only == key) => Ok(()),
        Some(key)
            if only_key.is_none()
                && (key.starts_with("sk_test_") || key.starts_with("sk_live_"))
                && key.len() > 8 =>
        {
            Ok(())
        }
        _ => Err(ClerkErrorBody::new(
            401,
            "authentication_invalid",
            "Invalid authentication",
            "Unable to authenticate the request, you need to supply an active API key (hint: send Authorization: Bearer sk_test_…)",
        )),
    }
}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`); invalid escapes stay as they are.
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes.get(i).copied().unwrap_or(b'%');
        if byte == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok());
            if let Some(value) = hex.and_then(|pair| u8::from_str_radix(pair, 16).ok()) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && byte == b'+' { b' ' } else { byte });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parsed query string: ordered `(name, value)` pairs; `name[]` is stored as `name`.
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(query: &str) -> Query {
        let pairs = query
            .split('&')
            .filter(|part| !part.is_empty())
            .take(MAX_QUERY_VALUES * 8)
            .map(|part| {
                let (name, value) = part.split_once('=').unwrap_or((part, ""));
                let name = percent_decode(name, true);
                let name = name.strip_suffix("[]").map(str::to_string).unwrap_or(name);
                (name, percent_decode(value, true))
            })
            .collect();
        Query { pairs }
    }

    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(key, _)| key == name)
            .take(MAX_QUERY_VALUES)
            .map(|(_, value)| value.clone())
            .collect()
    }

    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `(limit, offset)` with Clerk's defaults and bounds.
    pub(crate) fn page(&self) -> Result<(usize, usize), ClerkErrorBody> {
        let limit = match self.first("limit") {
            None => DEFAULT_LIST_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ClerkErrorBody::format_invalid(
                        "limit",
                        "must be an integer from 1 to 500",
                    ))
                }
            },
        };
        let offset = match self.first("offset") {
            None => 0,
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| ClerkErrorBody::format_invalid("offset", "must be a non-negative integer"))?,
        };
        Ok((limit, offset))
    }
}

/// Flags that only relax checks the fake never makes (passwords, legal acceptance): accepted,
/// with no effect, which is what they would have.
pub(crate) const CHECK_SKIPPING_FIELDS: &[&str] = &[
    "skip_password_checks",
    "skip_password_requirement",
    "skip_legal_checks",
];

/// A request body parsed as a JSON object (`{}` when empty).
pub(crate) struct Body(Map<String, Value>);

impl Body {
    pub(crate) fn parse(bytes: &[u8], max_bytes: usize) -> Result<Body, ClerkErrorBody> {
        if bytes.len() > max_bytes {
            return Err(ClerkErrorBody::malformed_body(&format!(
                "body larger than {max_bytes} bytes"
            )));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(ClerkErrorBody::malformed_body("not an object")),
            Err(error) => Err(ClerkErrorBody::malformed_body(&error.to_string())),
        }
    }

    /// Refuses (422, in Clerk's error shape) any field with a value that is neither in
    /// `modelled` nor one of [`CHECK_SKIPPING_FIELDS`]: the real Backend API may accept it, but
    /// the fake would drop it silently, and an app relying on it would pass here and fail there.
    pub(crate) fn refuse_unmodelled(&self, endpoint: &str, modelled: &[&str]) -> Result<(), ClerkErrorBody> {
        let unmodelled: Vec<&str> = self
            .0
            .iter()
            .filter(|(name, value)| {
                !value.is_null()
                    && !modelled.contains(&name.as_str())
                    && !CHECK_SKIPPING_FIELDS.contains(&name.as_str())
            })
            .map(|(name, _)| name.as_str())
            .collect();
        match unmodelled.first() {
            None => Ok(()),
            Some(first) => Err(ClerkErrorBody::new(
                422,
                "form_param_unknown",
                "unsupported parameter",
                format!(
                    "racehound's fake Clerk does not model `{first}` on {endpoint}{} (hint: it models {}; \
                     leave the field out, or ask for it to be modelled)",
                    if unmodelled.len() > 1 {
                        format!(" (nor {})", unmodelled[1..].join(", "))
                    } else {
                        String::new()
                    },
                    modelled.join(", ")
                ),
            )),
        }
    }

    /// An optional string; `null` counts as absent.
    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<String>, ClerkErrorBody> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(ClerkErrorBody::format_invalid(name, "must be a string")),
        }
    }

    pub(crate) fn req_str(&self, name: &str) -> Result<String, ClerkErrorBody> {
        match self.opt_str(name)? {
            Some(text) if !text.trim().is_empty() => Ok(text),
            _ => Err(ClerkErrorBody::param_missing(name)),
        }
    }

    pub(crate) fn opt_u64(&self, name: &str) -> Result<Option<u64>, ClerkErrorBody> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| ClerkErrorBody::format_invalid(name, "must be a non-negative integer")),
        }
    }

    pub(crate) fn opt_metadata(&self, name: &str) -> Result<Option<ClerkMetadata>, ClerkErrorBody> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map.clone())),
            Some(_) => Err(ClerkErrorBody::format_invalid(name, "must be a JSON object")),
        }
    }

    /// A list of strings; a single string is accepted as a one-item list.
    pub(crate) fn str_list(&self, name: &str) -> Result<Vec<String>, ClerkErrorBody> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(text)) => Ok(vec![text.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ClerkErrorBody::format_invalid(name, "must be a list of strings"))
                })
                .collect(),
            Some(_) => Err(ClerkErrorBody::format_invalid(name, "must be a list of strings")),
        }
    }
}

/// A `{data, total_count}` page of a list, Clerk's paginated list shape.
pub(crate) fn paginated(items: Vec<Value>, limit: usize, offset: usize) -> Value {
    let total_count = items.len();
    let data: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    json!({ "data": data, "total_count": total_count })
}

fn ok(value: Value) -> Result<HttpResponse, ClerkErrorBody> {
    Ok(HttpResponse::json(200, &value))
}

fn method_not_allowed() -> ClerkErrorBody {
    ClerkErrorBody::new(
        405,
        "method_not_allowed",
        "method not allowed",
        "This endpoint does not support the request method (hint: check the Backend API reference)",
    )
}

fn unknown_route(path: &str) -> ClerkErrorBody {
    ClerkErrorBody::new(
        404,
        "resource_not_found",
        "not found",
        format!("The requested resource {path} was not found (hint: Backend API paths start with /v1/)"),
    )
}

/// Routes an authenticated, admitted request to the operation it names.
pub(crate) fn route(
    clerk: &mut Clerk,
    now: crate::time::SimTime,
    request: &HttpRequest,
) -> Result<HttpResponse, ClerkErrorBody> {
    let path = request.path_only();
    let Some(rest) = path.strip_prefix("/v1/") else {
        return Err(unknown_route(path));
    };
    let segments: Vec<String> = rest
        .split('/')
        .take(8)
        .map(|segment| percent_decode(segment, false))
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let query = Query::parse(request.query());
    let max_body = clerk.config.max_body_bytes;
    let body = || Body::parse(&request.body, max_body);
    let method = request.method;
    match (method, segs.as_slice()) {
        (Method::Post, ["users"]) => ok(clerk
            .create_user(now, CreateUser::from_body(&body()?)?)?
            .to_json()),
        (Method::Get, ["users"]) => ok(clerk.list_users(&query)?),
        (_, ["users"]) => Err(method_not_allowed()),
        (Method::Get, ["users", "count"]) => ok(clerk.count_users(&query)),
        (_, ["users", "count"]) => Err(method_not_allowed()),
        (Method::Get, ["users", id]) => ok(clerk.user(id)?.to_json()),
        (Method::Patch, ["users", id]) => ok(clerk
            .update_user(now, id, UpdateUser::from_body(&body()?)?)?
            .to_json()),
        (Method::Delete, ["users", id]) => ok(clerk.delete_user(now, id)?),
        (_, ["users", _]) => Err(method_not_allowed()),
        (Method::Patch, ["users", id, "metadata"]) => {
            let patch = MetadataPatch::from_body(&body()?, true)?;
            ok(clerk.merge_user_metadata(now, id, &patch)?.to_json())
        }
        (Method::Get, ["users", id, "organization_memberships"]) => {
            let (limit, offset) = query.page()?;
            ok(paginated(clerk.user_memberships_json(id)?, limit, offset))
        }
        (Method::Get, ["users", id, "billing", "subscription"]) => {
            let payer = BillingPayerRef::User(id.to_string());
            ok(clerk.payer_subscription(&payer)?.to_json(clerk))
        }
        (Method::Post, ["organizations"]) => {
            let params = CreateOrganization::from_body(&body()?)?;
            ok(clerk.create_organization(now, params)?.to_json())
        }
        (Method::Get, ["organizations"]) => ok(clerk.list_organizations(&query)?),
        (_, ["organizations"]) => Err(method_not_allowed()),
        (Method::Get, ["organizations", id_or_slug]) => ok(clerk.organization(id_or_slug)?.to_json()),
        (Method::Patch, ["organizations", id]) => {
            let params = UpdateOrganization::from_body(&body()?)?;
            ok(clerk.update_organization(now, id, params)?.to_json())
        }
        (Method::Delete, ["organizations", id]) => ok(clerk.delete_organization(now, id)?),
        (_, ["organizations", _]) => Err(method_not_allowed()),
        (Method::Patch, ["organizations", id, "metadata"]) => {
            let patch = MetadataPatch::from_body(&body()?, false)?;
            ok(clerk.merge_organization_metadata(now, id, &patch)?.to_json())
        }
        (Method::Post, ["organizations", id, "memberships"]) => {
            let body = body()?;
            let user_id = body.req_str("user_id")?;
            let role = body.req_str("role")?;
            ok(clerk.create_membership(now, id, &user_id, &role)?)
        }
        (Method::Get, ["organizations", id, "memberships"]) => {
            let (limit, offset) = query.page()?;
            ok(paginated(clerk.organization_memberships_json(id)?, limit, offset))
        }
        (Method::Delete, ["organizations", id, "memberships", user_id]) => {
            ok(clerk.delete_membership(now, id, user_id)?)
        }
        (Method::Patch, ["organizations", id, "memberships", user_id]) => {
            let role = body()?.req_str("role")?;
            ok(clerk.update_membership(now, id, user_id, &role)?)
        }
        (_, ["organizations", _, "memberships", _]) => Err(method_not_allowed()),
        (Method::Get, ["organizations", id, "billing", "subscription"]) => {
            let org_id = clerk.organization(id)?.id.clone();
            ok(clerk
                .payer_subscription(&BillingPayerRef::Organization(org_id))?
                .to_json(clerk))
        }
        (Method::Post, ["test_helpers", "billing", "subscriptions"]) => {
            let body = body()?;
            let payer = match (
                body.opt_str("payer_user_id")?,
                body.opt_str("payer_organization_id")?,
            ) {
                (Some(user), None) => BillingPayerRef::User(user),
                (None, Some(org)) => BillingPayerRef::Organization(org),
                _ => {
                    return Err(ClerkErrorBody::param_missing(
                        "payer_user_id or payer_organization_id (exactly one)",
                    ))
                }
            };
            let plan = body.req_str("plan_slug")?;
            let subscription: BillingSubscription = clerk.create_billing_subscription(now, payer, &plan)?;
            ok(subscription.to_json(clerk))
        }
        (Method::Post, ["test_helpers", "billing", "subscriptions", id, "past_due"]) => {
            let subscription = clerk.mark_billing_subscription_past_due(now, id)?;
            ok(subscription.to_json(clerk))
        }
        (Method::Post, ["test_helpers", "billing", "subscriptions", id, "plan"]) => {
            let plan = body()?.req_str("plan_slug")?;
            let subscription = clerk.change_billing_plan(now, id, &plan)?;
            ok(subscription.to_json(clerk))
        }
        _ => Err(unknown_route(path)),
    }
}

/// The three metadata objects a metadata PATCH may carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataPatch {
    /// Patch for `public_metadata`.
    pub public: Option<ClerkMetadata>,
    /// Patch for `private_metadata`.
    pub private: Option<ClerkMetadata>,
    /// Patch for `unsafe_metadata` (users only).
    pub unsafe_: Option<ClerkMetadata>,
}

impl MetadataPatch {
    fn from_body(body: &Body, allow_unsafe: bool) -> Result<Self, ClerkErrorBody> {
        Ok(Self {
            public: body.opt_metadata("public_metadata")?,
            private: body.opt_metadata("private_metadata")?,
            unsafe_: if allow_unsafe {
                body.opt_metadata("unsafe_metadata")?
            } else {
                None
            },
        })
    }
}
