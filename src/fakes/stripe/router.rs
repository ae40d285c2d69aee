//! Routing: `(method, path, params)` → a typed, validated [`Op`]; and executing an `Op`.
//!
//! Parsing is the validation phase (its errors are never saved under an idempotency key);
//! [`execute`] is the execution phase (its results, errors included, are saved).

use serde_json::Value;

use super::checkout::{self, NewSession};
use super::core::{Core, Ctx};
use super::coupons::{self, NewCoupon, NewPromotionCode, PromotionCodeUpdate};
use super::customers::{self, CustomerFields, SearchQuery};
use super::events;
use super::products::{self, NewPrice, NewProduct};
use super::state::Objects;
use super::subscriptions::{self, NewSubscription, SubscriptionUpdate};
use super::webhook::{self, NewEndpoint};
use super::wire::{ApiError, Params};
use crate::http::Method;
use crate::time::SimTime;

/// A validated API operation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// `POST /v1/customers`
    CreateCustomer(CustomerFields),
    /// `GET /v1/customers/{id}`
    RetrieveCustomer(String),
    /// `POST /v1/customers/{id}`
    UpdateCustomer(String, CustomerFields),
    /// `DELETE /v1/customers/{id}`
    DeleteCustomer(String),
    /// `GET /v1/customers`
    ListCustomers(Option<String>, usize, Option<String>),
    /// `GET /v1/customers/search`
    SearchCustomers(SearchQuery, usize),
    /// `POST /v1/products`
    CreateProduct(NewProduct),
    /// `POST /v1/prices`
    CreatePrice(NewPrice),
    /// `POST /v1/coupons`
    CreateCoupon(NewCoupon),
    /// `GET /v1/coupons/{id}`
    RetrieveCoupon(String),
    /// `POST /v1/promotion_codes`
    CreatePromotionCode(NewPromotionCode),
    /// `GET /v1/promotion_codes/{id}`
    RetrievePromotionCode(String),
    /// `POST /v1/promotion_codes/{id}`
    UpdatePromotionCode(String, PromotionCodeUpdate),
    /// `GET /v1/promotion_codes`
    ListPromotionCodes(coupons::PromotionCodeFilter),
    /// `POST /v1/checkout/sessions`
    CreateSession(Box<NewSession>),
    /// `GET /v1/checkout/sessions/{id}`
    RetrieveSession(String),
    /// `GET /v1/checkout/sessions`
    ListSessions(checkout::SessionFilter),
    /// `GET /v1/subscriptions`
    ListSubscriptions(subscriptions::SubscriptionFilter),
    /// `POST /v1/checkout/sessions/{id}/expire`
    ExpireSession(String),
    /// `POST /v1/test_helpers/checkout/sessions/{id}/complete` (racehound only)
    CompleteSession(String),
    /// `POST /v1/subscriptions`
    CreateSubscription(NewSubscription),
    /// `GET /v1/subscriptions/{id}`
    RetrieveSubscription(String),
    /// `POST /v1/subscriptions/{id}`
    UpdateSubscription(String, SubscriptionUpdate),
    /// `DELETE /v1/subscriptions/{id}`
    CancelSubscription(String),
    /// `GET /v1/invoices/{id}`
    RetrieveInvoice(String),
    /// `GET /v1/events`
    ListEvents(Option<String>, usize),
    /// `GET /v1/events/{id}`
    RetrieveEvent(String),
    /// `POST /v1/webhook_endpoints`
    CreateEndpoint(NewEndpoint),
    /// `GET /v1/webhook_endpoints`
    ListEndpoints(usize),
}

impl Op {
    /// The objects this operation writes, for `lock_timeout` on concurrent writes: the object
    /// addressed by path, plus the customer a new subscription (direct or from a session) goes to.
    pub fn lock_targets(&self, objects: &Objects) -> Vec<String> {
        match self {
            Op::UpdateCustomer(id, _)
            | Op::DeleteCustomer(id)
            | Op::UpdatePromotionCode(id, _)
            | Op::ExpireSession(id)
            | Op::UpdateSubscription(id, _)
            | Op::CancelSubscription(id) => vec![id.clone()],
            Op::CompleteSession(id) => {
                let customer = objects.checkout_sessions.get(id).and_then(|s| s.customer.clone());
                std::iter::once(id.clone()).chain(customer).collect()
            }
            Op::CreateSubscription(new) => vec![new.customer.clone()],
            _ => Vec::new(),
        }
    }
}

/// Stripe's 404 for a path it does not serve.
pub fn unrecognized(method: Method, path: &str) -> ApiError {
    ApiError {
        status: 404,
        kind: "invalid_request_error",
        code: None,
        message: format!(
            "Unrecognized request URL ({}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
            method.as_str()
        ),
        param: None,
    }
}

fn no_params(params: &Params) -> Result<(), ApiError> {
    params.check_allowed(&["expand[#]"])
}

/// Routes and validates a request.
pub fn parse(
    method: Method,
    path: &str,
    params: &Params,
    now: SimTime,
    session_expiry_default: std::time::Duration,
) -> Result<Op, ApiError> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let id = |s: &str| super::wire::percent_decode_path(s).unwrap_or_else(|| s.to_string());
    use Method::{Delete, Get, Post};
    let op = match (method, segs.as_slice()) {
        (Post, ["", "v1", "customers"]) => Op::CreateCustomer(customers::parse_fields(params)?),
        (Get, ["", "v1", "customers"]) => {
            let (email, limit, after) = customers::parse_list(params)?;
            Op::ListCustomers(email, limit, after)
        }
        (Get, ["", "v1", "customers", "search"]) => {
            let (query, limit) = customers::parse_search(params)?;
            Op::SearchCustomers(query, limit)
        }
        (Get, ["", "v1", "customers", c]) => {
            no_params(params)?;
            Op::RetrieveCustomer(id(c))
        }
        (Post, ["", "v1", "customers", c]) => Op::UpdateCustomer(id(c), customers::parse_fields(params)?),
        (Delete, ["", "v1", "customers", c]) => Op::DeleteCustomer(id(c)),
        (Post, ["", "v1", "products"]) => Op::CreateProduct(products::parse_product(params)?),
        (Post, ["", "v1", "prices"]) => Op::CreatePrice(products::parse_price(params)?),
        (Post, ["", "v1", "coupons"]) => Op::CreateCoupon(coupons::parse_coupon(params)?),
        (Get, ["", "v1", "coupons", c]) => {
            no_params(params)?;
            Op::RetrieveCoupon(id(c))
        }
        (Post, ["", "v1", "promotion_codes"]) => {
            Op::CreatePromotionCode(coupons::parse_promotion_code(params)?)
        }
        (Get, ["", "v1", "promotion_codes"]) => {
            Op::ListPromotionCodes(coupons::parse_promotion_code_list(params)?)
        }
        (Get, ["", "v1", "promotion_codes", p]) => {
            no_params(params)?;
            Op::RetrievePromotionCode(id(p))
        }
        (Post, ["", "v1", "promotion_codes", p]) => {
            Op::UpdatePromotionCode(id(p), coupons::parse_promotion_code_update(params)?)
        }
        (Post, ["", "v1", "checkout", "sessions"]) => Op::CreateSession(Box::new(checkout::parse_session(
            params,
            now,
            session_expiry_default,
        )?)),
        (Get, ["", "v1", "checkout", "sessions"]) => Op::ListSessions(checkout::parse_list(params)?),
        (Get, ["", "v1", "subscriptions"]) => Op::ListSubscriptions(subscriptions::parse_list(params)?),
        (Get, ["", "v1", "checkout", "sessions", s]) => {
            no_params(params)?;
            Op::RetrieveSession(id(s))
        }
        (Post, ["", "v1", "checkout", "sessions", s, "expire"]) => {
            no_params(params)?;
            Op::ExpireSession(id(s))
        }
        (Post, ["", "v1", "test_helpers", "checkout", "sessions", s, "complete"]) => {
            no_params(params)?;
            Op::CompleteSession(id(s))
        }
        (Post, ["", "v1", "subscriptions"]) => Op::CreateSubscription(subscriptions::parse_create(params)?),
        (Get, ["", "v1", "subscriptions", s]) => {
            no_params(params)?;
            Op::RetrieveSubscription(id(s))
        }
        (Post, ["", "v1", "subscriptions", s]) => {
            Op::UpdateSubscription(id(s), subscriptions::parse_update(params)?)
        }
        (Delete, ["", "v1", "subscriptions", s]) => Op::CancelSubscription(id(s)),
        (Get, ["", "v1", "invoices", i]) => {
            no_params(params)?;
            Op::RetrieveInvoice(id(i))
        }
        (Get, ["", "v1", "events"]) => {
            let (event_type, limit) = events::parse_list(params)?;
            Op::ListEvents(event_type, limit)
        }
        (Get, ["", "v1", "events", e]) => {
            no_params(params)?;
            Op::RetrieveEvent(id(e))
        }
        (Post, ["", "v1", "webhook_endpoints"]) => Op::CreateEndpoint(webhook::parse_endpoint(params)?),
        (Get, ["", "v1", "webhook_endpoints"]) => Op::ListEndpoints(webhook::parse_list(params)?),
        _ => return Err(unrecognized(method, path)),
    };
    Ok(op)
}

/// Executes a validated operation: the mutation and its events happen here.
pub fn execute(core: &mut Core, ctx: &Ctx<'_>, op: &Op) -> Result<Value, ApiError> {
    match op {
        Op::CreateCustomer(fields) => customers::create(core, ctx, fields),
        Op::RetrieveCustomer(id) => customers::retrieve(core, id),
        Op::UpdateCustomer(id, fields) => customers::update(core, ctx, id, fields),
        Op::DeleteCustomer(id) => customers::delete(core, ctx, id),
        Op::ListCustomers(email, limit, after) => {
            customers::list(core, email.as_deref(), *limit, after.as_deref())
        }
        Op::SearchCustomers(query, limit) => Ok(customers::search(core, ctx, query, *limit)),
        Op::CreateProduct(new) => Ok(products::create_product(core, ctx, new)),
        Op::CreatePrice(new) => products::create_price(core, ctx, new),
        Op::CreateCoupon(new) => coupons::create_coupon(core, ctx, new),
        Op::RetrieveCoupon(id) => coupons::retrieve_coupon(core, ctx, id),
        Op::CreatePromotionCode(new) => coupons::create_promotion_code(core, ctx, new),
        Op::RetrievePromotionCode(id) => coupons::retrieve_promotion_code(core, ctx, id),
        Op::UpdatePromotionCode(id, update) => coupons::update_promotion_code(core, ctx, id, update),
        Op::ListPromotionCodes(filter) => Ok(coupons::list_promotion_codes(core, ctx, filter)),
        Op::CreateSession(new) => checkout::create(core, ctx, new),
        Op::RetrieveSession(id) => checkout::retrieve(core, ctx, id),
        Op::ListSessions(filter) => Ok(checkout::list(core, ctx, filter)),
        Op::ListSubscriptions(filter) => Ok(subscriptions::list(core, filter)),
        Op::ExpireSession(id) => checkout::expire(core, ctx, id),
        Op::CompleteSession(id) => checkout::complete(core, ctx, id),
        Op::CreateSubscription(new) => subscriptions::create(core, ctx, new),
        Op::RetrieveSubscription(id) => subscriptions::retrieve(core, id),
        Op::UpdateSubscription(id, update) => subscriptions::update(core, ctx, id, update),
        Op::CancelSubscription(id) => subscriptions::cancel(core, ctx, id),
        Op::RetrieveInvoice(id) => subscriptions::retrieve_invoice(core, id),
        Op::ListEvents(event_type, limit) => Ok(events::list(core, event_type.as_deref(), *limit)),
        Op::RetrieveEvent(id) => events::retrieve(core, id),
        Op::CreateEndpoint(new) => Ok(webhook::create_endpoint(core, ctx, new)),
        Op::ListEndpoints(limit) => Ok(webhook::list_endpoints(core, *limit)),
    }
}

/// Most `expand[]` paths honoured per request.
pub const MAX_EXPAND: usize = 20;

/// The JSON of the object `id` names, found by its prefix (coupons have free-form ids: not expandable).
fn object_by_id(core: &Core, ctx: &Ctx<'_>, id: &str) -> Option<Value> {
    let objects = &core.objects;
    let now_secs = ctx.now_secs();
    if id.starts_with("cus_") {
        objects.customers.get(id).map(|c| c.to_json())
    } else if id.starts_with("sub_") {
        objects.subscriptions.get(id).map(|s| s.to_json(&objects.prices))
    } else if id.starts_with("in_") {
        objects.invoices.get(id).map(|i| i.to_json())
    } else if id.starts_with("price_") {
        objects.prices.get(id).map(|p| p.to_json())
    } else if id.starts_with("prod_") {
        objects.products.get(id).map(|p| p.to_json())
    } else if id.starts_with("cs_test_") {
        objects.checkout_sessions.get(id).map(|s| s.to_json(now_secs))
    } else if id.starts_with("promo_") {
        objects
            .promotion_codes
            .get(id)
            .map(|p| p.to_json(objects.coupons.get(&p.coupon).map(|c| c.to_json(now_secs))))
    } else {
        None
    }
}

fn expand_path(core: &Core, ctx: &Ctx<'_>, value: &mut Value, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let is_list = matches!(
        value.get("object").and_then(Value::as_str),
        Some("list" | "search_result")
    );
    if is_list && *first == "data" {
        if let Some(items) = value.get_mut("data").and_then(Value::as_array_mut) {
            for item in items {
                expand_path(core, ctx, item, rest);
            }
        }
        return;
    }
    let Some(field) = value.get_mut(*first) else {
        return;
    };
    if rest.is_empty() {
        let expanded = field.as_str().and_then(|id| object_by_id(core, ctx, id));
        if let Some(expanded) = expanded {
            *field = expanded;
        }
    } else {
        expand_path(core, ctx, field, rest);
    }
}

/// Replaces id strings at the `expand[]` paths (`customer`, `data.customer`, `subscription.latest_invoice`)
/// with the objects they name. Paths naming nothing expandable are left as they are.
pub fn expand(core: &Core, ctx: &Ctx<'_>, mut value: Value, paths: &[String]) -> Value {
    for path in paths.iter().take(MAX_EXPAND) {
        let segs: Vec<&str> = path.split('.').take(4).collect();
        expand_path(core, ctx, &mut value, &segs);
    }
    value
}
