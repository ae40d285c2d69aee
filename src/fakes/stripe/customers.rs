//! Customers: create, retrieve, update (metadata merged), delete (stub stays), list, lagging search.
//!
//! `email` is not unique. `GET /v1/customers?email=` reads the current state (strongly
//! consistent); `/v1/customers/search` reads, per customer, the newest write that is at least
//! `search_lag` old, so a fresh customer or metadata change is invisible to it for a while.

use serde_json::Value;

use super::core::{Core, Ctx};
use super::state::{CustomerObject, SearchVersion, StripeMetadata};
use super::wire::{self, list_json, search_json, ApiError, Params};

/// Most search versions kept per customer.
pub const MAX_SEARCH_VERSIONS: usize = 64;

/// Fields settable on create and update.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct CustomerFields {
    /// `Some(None)` unsets.
    pub email: Option<Option<String>>,
    /// `Some(None)` unsets.
    pub name: Option<Option<String>>,
    /// `Some(None)` unsets.
    pub description: Option<Option<String>>,
    /// Merged; an empty value deletes the key; `Some(empty map)` from `metadata=` clears all.
    pub metadata: Option<StripeMetadata>,
    /// Whether `metadata=""` (clear all) was sent.
    pub clear_metadata: bool,
}

const FIELD_PATTERNS: &[&str] = &[
    "email",
    "name",
    "description",
    "metadata",
    "metadata[*]",
    "expand[#]",
];

/// Parses create/update parameters.
pub fn parse_fields(params: &Params) -> Result<CustomerFields, ApiError> {
    params.check_allowed(FIELD_PATTERNS)?;
    Ok(CustomerFields {
        email: params.nullable("email"),
        name: params.nullable("name"),
        description: params.nullable("description"),
        metadata: params.metadata()?,
        clear_metadata: params.get("metadata") == Some(""),
    })
}

/// A parsed search query: `field:'value'` clauses, all of which (or, with `OR`, any of which)
/// must match.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchQuery {
    /// `(field, value)`; field is `email`, `name` or `metadata[k]`.
    pub clauses: Vec<(String, String)>,
    /// Whether the clauses were joined by `OR` (any matches) rather than a space or `AND`.
    #[serde(default)]
    pub any: bool,
}

/// Most clauses one query may hold (Stripe's limit).
pub const SEARCH_CLAUSES_MAX: usize = 10;

/// Parses Stripe's search query language, the part the fake models: up to
/// [`SEARCH_CLAUSES_MAX`] `field:'value'` clauses on `email`, `name` and `metadata['key']`,
/// joined by a space, `AND` or `OR` (keywords in any case, never both kinds in one query).
/// Anything else is a 400 naming what the fake does not model, never an empty result.
pub fn parse_query(text: &str) -> Result<SearchQuery, ApiError> {
    let bad = |why: &str| {
        ApiError::invalid(
            None,
            format!(
                "Invalid search query: {why} (hint: use clauses like email:'a@b.c' or \
                 metadata['key']:'value', joined by a space, AND or OR)."
            ),
            Some("query"),
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad("the query is empty"));
    }
    let mut clauses = Vec::new();
    let mut joiner: Option<&str> = None;
    loop {
        let (field, after_field) = search_field(rest).map_err(|why| bad(&why))?;
        let after_colon = after_field
            .strip_prefix(':')
            .ok_or_else(|| match after_field.chars().next() {
                Some(op @ ('~' | '<' | '>' | '=')) => bad(&format!(
                    "the operator '{op}' after {field} is valid in Stripe but this fake models only ':' (exact match)"
                )),
                _ => bad(&format!("expected ':' after {field}")),
            })?;
        let (value, after_value) = quoted(after_colon.trim_start())
            .ok_or_else(|| bad(&format!("the value of {field} must be quoted ('…' or \"…\")")))?;
        clauses.push((field, value));
        if clauses.len() > SEARCH_CLAUSES_MAX {
            return Err(bad(&format!("at most {SEARCH_CLAUSES_MAX} clauses")));
        }
        let trimmed = after_value.trim_start();
        if trimmed.is_empty() {
            break;
        }
        if trimmed.len() == after_value.len() {
            return Err(bad("clauses must be separated by a space, AND or OR"));
        }
        let (word, after_word) = trimmed.split_at(trimmed.find(char::is_whitespace).unwrap_or(trimmed.len()));
        let keyword = ["AND", "OR"].into_iter().find(|k| word.eq_ignore_ascii_case(k));
        let this_joiner = keyword.unwrap_or("AND");
        if joiner.is_some_and(|j| j != this_joiner) {
            return Err(bad("AND and OR cannot be combined in one query"));
        }
        joiner = Some(this_joiner);
        rest = match keyword {
            Some(_) => after_word.trim_start(),
            None => trimmed,
        };
        if rest.is_empty() {
            return Err(bad(&format!("a clause must follow {word}")));
        }
    }
    Ok(SearchQuery {
        clauses,
        any: joiner == Some("OR"),
    })
}

/// The field at the start of `text` (`email`, `name`, `metadata[key]`) and what follows it.
fn search_field(text: &str) -> Result<(String, &str), String> {
    if text.starts_with('-') {
        return Err("negation ('-field') is valid in Stripe but this fake does not model it".to_string());
    }
    if let Some(after) = text.strip_prefix("metadata[") {
        let (key, after_key) = quoted(after).ok_or("metadata keys must be quoted: metadata['key']")?;
        let after = after_key
            .strip_prefix(']')
            .ok_or("expected ']' after the metadata key")?;
        return Ok((format!("metadata[{key}]"), after));
    }
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len());
    let (field, after) = text.split_at(end);
    match field {
        "email" | "name" => Ok((field.to_string(), after)),
        "" => Err(format!(
            "expected a field at '{}'",
            text.chars().take(20).collect::<String>()
        )),
        other => Err(format!(
            "the field '{other}' is not one this fake models for customers (email, name, metadata['key'])"
        )),
    }
}

/// A `'…'` or `"…"` string at the start of `text` (a backslash escapes the next character),
/// and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.char_indices();
    let (_, quote) = chars.next().filter(|(_, c)| *c == '\'' || *c == '"')?;
    let mut value = String::new();
    let mut escaped = false;
    for (index, c) in chars {
        if escaped {
            value.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            return Some((value, &text[index + c.len_utf8()..]));
        } else {
            value.push(c);
        }
    }
    None
}

fn search_version(customer: &CustomerObject, visible_at: crate::time::SimTime) -> SearchVersion {
    SearchVersion {
        visible_at,
        email: customer.email.clone(),
        name: customer.name.clone(),
        metadata: customer.metadata.clone(),
        deleted: customer.deleted,
    }
}

/// Records the customer's current state for search, visible `search_lag` from now.
fn index_for_search(customer: &mut CustomerObject, ctx: &Ctx<'_>) {
    let now = ctx.now;
    let visible_at = now + ctx.config.search_lag;
    // Drop versions already superseded by a newer visible one.
    if let Some(last_visible) = customer.search_versions.iter().rposition(|v| v.visible_at <= now) {
        customer.search_versions.drain(..last_visible);
    }
    let version = search_version(customer, visible_at);
    customer.search_versions.push(version);
    if customer.search_versions.len() > MAX_SEARCH_VERSIONS {
        customer.search_versions.remove(0);
    }
}

fn apply(customer: &mut CustomerObject, fields: &CustomerFields) {
    if let Some(email) = &fields.email {
        customer.email = email.clone();
    }
    if let Some(name) = &fields.name {
        customer.name = name.clone();
    }
    if let Some(description) = &fields.description {
        customer.description = description.clone();
    }
    if fields.clear_metadata {
        customer.metadata.clear();
    }
    if let Some(metadata) = &fields.metadata {
        for (key, value) in metadata {
            if value.is_empty() {
                customer.metadata.remove(key);
            } else {
                customer.metadata.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Creates a customer (never deduplicated) and emits `customer.created`.
pub fn create(core: &mut Core, ctx: &Ctx<'_>, fields: &CustomerFields) -> Result<Value, ApiError> {
    let id = core.id("cus");
    let customer = create_with_id(core, ctx, id, fields);
    Ok(customer)
}

/// Creates a customer with a given id (used by checkout completion too); returns its JSON.
pub fn create_with_id(core: &mut Core, ctx: &Ctx<'_>, id: String, fields: &CustomerFields) -> Value {
    let mut customer = CustomerObject {
        id: id.clone(),
        seq: core.objects.seq(),
        created: ctx.now_secs(),
        email: None,
        name: None,
        description: None,
        metadata: StripeMetadata::new(),
        deleted: false,
        search_versions: Vec::new(),
    };
    apply(&mut customer, fields);
    index_for_search(&mut customer, ctx);
    let out = customer.to_json();
    core.objects.customers.insert(id, customer);
    core.emit(ctx, "customer.created", out.clone(), None);
    out
}

/// Retrieves a customer; a deleted one is the `deleted: true` stub.
pub fn retrieve(core: &Core, id: &str) -> Result<Value, ApiError> {
    core.objects
        .customers
        .get(id)
        .map(CustomerObject::to_json)
        .ok_or_else(|| ApiError::no_such("customer", id, "id"))
}

/// Updates a live customer (metadata merged) and emits `customer.updated` when something changed.
pub fn update(core: &mut Core, ctx: &Ctx<'_>, id: &str, fields: &CustomerFields) -> Result<Value, ApiError> {
    let customer = match core.objects.customers.get_mut(id) {
        Some(c) if !c.deleted => c,
        _ => return Err(ApiError::no_such("customer", id, "id")),
    };
    let before = customer.to_json();
    apply(customer, fields);
    index_for_search(customer, ctx);
    let after = customer.to_json();
    let previous = previous_attributes(&before, &after);
    if let Some(previous) = previous {
        core.emit(ctx, "customer.updated", after.clone(), Some(previous));
    }
    Ok(after)
}

/// The fields of `before` that differ in `after` (Stripe's `previous_attributes`).
pub fn previous_attributes(before: &Value, after: &Value) -> Option<Value> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return None;
    };
    let mut prev = serde_json::Map::new();
    for (key, value) in b {
        if a.get(key) != Some(value) {
            prev.insert(key.clone(), value.clone());
        }
    }
    (!prev.is_empty()).then_some(Value::Object(prev))
}

/// Deletes a customer (it stays retrievable as a stub) and emits `customer.deleted`.
pub fn delete(core: &mut Core, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    let customer = match core.objects.customers.get_mut(id) {
        Some(c) if !c.deleted => c,
        _ => return Err(ApiError::no_such("customer", id, "id")),
    };
    let last = customer.to_json();
    customer.deleted = true;
    index_for_search(customer, ctx);
    let stub = customer.to_json();
    // Live subscriptions of a deleted customer are canceled, as in Stripe.
    let subs: Vec<String> = core
        .objects
        .subscriptions
        .values()
        .filter(|s| s.customer == id && s.status != super::state::SubscriptionStatus::Canceled)
        .map(|s| s.id.clone())
        .collect();
    for sub in subs {
        super::subscriptions::cancel(core, ctx, &sub)?;
    }
    core.emit(ctx, "customer.deleted", last, None);
    Ok(stub)
}

/// `GET /v1/customers`: live customers, newest first, optional exact (case-sensitive) email filter.
pub fn list(
    core: &Core,
    email: Option<&str>,
    limit: usize,
    starting_after: Option<&str>,
) -> Result<Value, ApiError> {
    let mut live: Vec<&CustomerObject> = core
        .objects
        .customers
        .values()
        .filter(|c| !c.deleted && email.is_none_or(|e| c.email.as_deref() == Some(e)))
        .collect();
    live.sort_by_key(|x| std::cmp::Reverse(x.seq));
    if let Some(cursor) = starting_after {
        let cursor_seq = core
            .objects
            .customers
            .get(cursor)
            .map(|c| c.seq)
            .ok_or_else(|| ApiError::no_such("customer", cursor, "starting_after"))?;
        live.retain(|c| c.seq < cursor_seq);
    }
    let has_more = live.len() > limit;
    let data = live
        .into_iter()
        .take(limit)
        .map(CustomerObject::to_json)
        .collect();
    Ok(list_json("/v1/customers", data, has_more))
}

/// `GET /v1/customers/search`: what the lagging index saw `search_lag` ago.
pub fn search(core: &Core, ctx: &Ctx<'_>, query: &SearchQuery, limit: usize) -> Value {
    let mut hits: Vec<&CustomerObject> = core
        .objects
        .customers
        .values()
        .filter(|c| {
            let Some(version) = c.search_versions.iter().rev().find(|v| v.visible_at <= ctx.now) else {
                return false;
            };
            let matches = |(field, value): &(String, String)| match field.as_str() {
                "email" => version
                    .email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(value)),
                "name" => version.name.as_deref() == Some(value.as_str()),
                other => other
                    .strip_prefix("metadata[")
                    .and_then(|k| k.strip_suffix(']'))
                    .and_then(|k| version.metadata.get(k))
                    .is_some_and(|v| v == value),
            };
            !version.deleted
                && if query.any {
                    query.clauses.iter().any(matches)
                } else {
                    query.clauses.iter().all(matches)
                }
        })
        .collect();
    hits.sort_by_key(|x| std::cmp::Reverse(x.seq));
    let has_more = hits.len() > limit;
    let data = hits
        .into_iter()
        .take(limit)
        .map(CustomerObject::to_json)
        .collect();
    search_json("/v1/customers/search", data, has_more)
}

/// Parses list parameters.
pub fn parse_list(params: &Params) -> Result<(Option<String>, usize, Option<String>), ApiError> {
    params.check_allowed(&["email", "limit", "starting_after", "expand[#]"])?;
    Ok((
        params.string("email")?,
        wire::limit(params)?,
        params.string("starting_after")?,
    ))
}

/// Parses search parameters.
pub fn parse_search(params: &Params) -> Result<(SearchQuery, usize), ApiError> {
    params.check_allowed(&["query", "limit", "page", "expand[#]"])?;
    let query = parse_query(&params.required("query")?)?;
    Ok((query, wire::limit(params)?))
}
