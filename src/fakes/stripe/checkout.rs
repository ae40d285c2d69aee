//! Checkout Sessions: create (never creates a customer), retrieve, expire, and complete (the
//! browser paying), which creates the customer if needed, the subscription and the invoice.

use std::time::Duration;

use serde_json::Value;

use super::core::{Core, Ctx};
use super::coupons;
use super::customers::{self, CustomerFields};
use super::state::{CheckoutSessionObject, DiscountRef, LineItem, SessionStatus, StripeMetadata};
use super::subscriptions;
use super::wire::{ApiError, Params};
use crate::time::SimTime;

/// Shortest allowed session lifetime (`expires_at` at least this far ahead).
pub const MIN_EXPIRY: Duration = Duration::from_secs(30 * 60);
/// Longest allowed session lifetime.
pub const MAX_EXPIRY: Duration = Duration::from_secs(24 * 60 * 60);
/// Most line items / discounts per session.
pub const MAX_ITEMS: usize = 20;

/// `POST /v1/checkout/sessions` parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewSession {
    /// `payment`, `subscription`, `setup`.
    pub mode: String,
    /// Items.
    pub line_items: Vec<LineItem>,
    /// Existing customer.
    pub customer: Option<String>,
    /// Prefill email.
    pub customer_email: Option<String>,
    /// `always` / `if_required` (payment mode).
    pub customer_creation: Option<String>,
    /// Reference.
    pub client_reference_id: Option<String>,
    /// Metadata.
    pub metadata: StripeMetadata,
    /// Discounts.
    pub discounts: Vec<DiscountRef>,
    /// Whether the page accepts codes.
    pub allow_promotion_codes: bool,
    /// Redirect.
    pub success_url: Option<String>,
    /// Redirect.
    pub cancel_url: Option<String>,
    /// Unix seconds.
    pub expires_at: u64,
}

const SESSION_PATTERNS: &[&str] = &[
    "mode",
    "line_items[#][price]",
    "line_items[#][quantity]",
    "customer",
    "customer_email",
    "customer_creation",
    "client_reference_id",
    "metadata[*]",
    "discounts[#][coupon]",
    "discounts[#][promotion_code]",
    "allow_promotion_codes",
    "success_url",
    "cancel_url",
    "expires_at",
    "payment_method_types[#]",
    "expand[#]",
];

fn exclusive(a: &str, b: &str, param: &str) -> ApiError {
    ApiError::invalid(
        None,
        format!("You may only specify one of these parameters: {a}, {b}."),
        Some(param),
    )
}

/// Parses and validates session parameters (before execution: failures are not saved under a key).
/// Without `expires_at` a session lives `default_expiry`, clamped to [`MIN_EXPIRY`, `MAX_EXPIRY`].
pub fn parse_session(
    params: &Params,
    now: SimTime,
    default_expiry: Duration,
) -> Result<NewSession, ApiError> {
    params.check_allowed(SESSION_PATTERNS)?;
    let mode = params.required("mode")?;
    if !matches!(mode.as_str(), "payment" | "subscription" | "setup") {
        return Err(ApiError::invalid(
            None,
            format!("Invalid mode: must be one of payment, setup, or subscription (got {mode})"),
            Some("mode"),
        ));
    }
    let mut line_items = Vec::new();
    let indexes = params.indexes("line_items");
    if indexes.len() > MAX_ITEMS {
        return Err(ApiError::invalid(
            None,
            "Too many line items.",
            Some("line_items"),
        ));
    }
    for i in indexes {
        let price = params.required(&format!("line_items[{i}][price]"))?;
        let quantity = params
            .integer(&format!("line_items[{i}][quantity]"))?
            .unwrap_or(1);
        line_items.push(LineItem { price, quantity });
    }
    if mode != "setup" && line_items.is_empty() {
        return Err(ApiError::missing("line_items"));
    }
    let customer = params.string("customer")?;
    let customer_email = params.string("customer_email")?;
    if customer.is_some() && customer_email.is_some() {
        return Err(exclusive("customer", "customer_email", "customer_email"));
    }
    let customer_creation = params.string("customer_creation")?;
    if let Some(cc) = &customer_creation {
        if !matches!(cc.as_str(), "always" | "if_required") {
            return Err(ApiError::invalid(
                None,
                format!("Invalid customer_creation: must be one of always or if_required (got {cc})"),
                Some("customer_creation"),
            ));
        }
        if mode != "payment" {
            return Err(ApiError::invalid(
                None,
                "`customer_creation` can only be used in `payment` mode.",
                Some("customer_creation"),
            ));
        }
        if customer.is_some() {
            return Err(exclusive("customer", "customer_creation", "customer_creation"));
        }
    }
    let mut discounts = Vec::new();
    for i in params.indexes("discounts") {
        let coupon = params.string(&format!("discounts[{i}][coupon]"))?;
        let promotion_code = params.string(&format!("discounts[{i}][promotion_code]"))?;
        if coupon.is_some() == promotion_code.is_some() {
            return Err(ApiError::invalid(
                None,
                "Each discount must specify exactly one of `coupon` or `promotion_code`.",
                Some(&format!("discounts[{i}]")),
            ));
        }
        discounts.push(DiscountRef {
            coupon,
            promotion_code,
        });
    }
    if discounts.len() > 1 {
        return Err(ApiError::invalid(
            None,
            "You may only specify one discount.",
            Some("discounts"),
        ));
    }
    let allow_promotion_codes = params.boolean("allow_promotion_codes")?;
    if allow_promotion_codes.is_some() && !discounts.is_empty() {
        return Err(exclusive(
            "allow_promotion_codes",
            "discounts",
            "allow_promotion_codes",
        ));
    }
    let now_secs = now.unix_secs();
    let expires_at = match params.integer("expires_at")? {
        None => now_secs + default_expiry.clamp(MIN_EXPIRY, MAX_EXPIRY).as_secs(),
        Some(t) if t >= now_secs + MIN_EXPIRY.as_secs() && t <= now_secs + MAX_EXPIRY.as_secs() => t,
        Some(_) => {
            return Err(ApiError::invalid(
                None,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
                Some("expires_at"),
            ))
        }
    };
    Ok(NewSession {
        mode,
        line_items,
        customer,
        customer_email,
        customer_creation,
        client_reference_id: params.string("client_reference_id")?,
        metadata: params.metadata()?.unwrap_or_default(),
        discounts,
        allow_promotion_codes: allow_promotion_codes.unwrap_or(false),
        success_url: params.string("success_url")?,
        cancel_url: params.string("cancel_url")?,
        expires_at,
    })
}

/// Creates a session. It never creates a customer; `customer` must name a live one.
pub fn create(core: &mut Core, ctx: &Ctx<'_>, new: &NewSession) -> Result<Value, ApiError> {
    if let Some(customer) = &new.customer {
        if core.objects.customers.get(customer).is_none_or(|c| c.deleted) {
            return Err(ApiError::missing_ref("customer", customer, "customer"));
        }
    }
    let mut amount = 0u64;
    let mut currency = None;
    for (i, item) in new.line_items.iter().enumerate() {
        let param = format!("line_items[{i}][price]");
        let price = core
            .objects
            .prices
            .get(&item.price)
            .ok_or_else(|| ApiError::missing_ref("price", &item.price, &param))?;
        match (new.mode.as_str(), price.recurring_interval.is_some()) {
            ("payment", true) => {
                return Err(ApiError::invalid(
                    None,
                    "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
                    Some(&param),
                ))
            }
            ("subscription", false) => {
                return Err(ApiError::invalid(
                    None,
                    "You must provide at least one recurring price in `subscription` mode when using prices.",
                    Some(&param),
                ))
            }
            _ => {}
        }
        amount = amount.saturating_add(price.unit_amount.saturating_mul(item.quantity));
        currency = Some(price.currency.clone());
    }
    for (i, discount) in new.discounts.iter().enumerate() {
        let which = if discount.coupon.is_some() {
            "coupon"
        } else {
            "promotion_code"
        };
        coupons::check_discount(core, ctx, discount, &format!("discounts[{i}][{which}]"))?;
    }
    let coupon = new.discounts.first().and_then(|d| match &d.promotion_code {
        Some(p) => core.objects.promotion_codes.get(p).map(|p| p.coupon.clone()),
        None => d.coupon.clone(),
    });
    let session = CheckoutSessionObject {
        id: core.id("cs_test"),
        seq: core.objects.seq(),
        created: ctx.now_secs(),
        mode: new.mode.clone(),
        status: SessionStatus::Open,
        customer: new.customer.clone(),
        customer_email: new.customer_email.clone(),
        customer_creation: new.customer_creation.clone(),
        client_reference_id: new.client_reference_id.clone(),
        metadata: new.metadata.clone(),
        line_items: new.line_items.clone(),
        discounts: new.discounts.clone(),
        allow_promotion_codes: new.allow_promotion_codes,
        success_url: new.success_url.clone(),
        cancel_url: new.cancel_url.clone(),
        expires_at: new.expires_at,
        subscription: None,
        invoice: None,
        amount_total: coupons::discounted(core, coupon.as_deref(), amount),
        currency,
    };
    let out = session.to_json(ctx.now_secs());
    core.session_expiry.add(session.expires_at, &session.id);
    core.objects.checkout_sessions.insert(session.id.clone(), session);
    Ok(out)
}

/// Retrieves a session.
pub fn retrieve(core: &Core, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    core.objects
        .checkout_sessions
        .get(id)
        .map(|s| s.to_json(ctx.now_secs()))
        .ok_or_else(|| ApiError::no_such("checkout.session", id, "id"))
}

/// Marks open sessions past `expires_at` expired and emits `checkout.session.expired` for each.
pub fn expire_due(core: &mut Core, ctx: &Ctx<'_>) {
    let mut due = core
        .session_expiry
        .take_due(ctx.now_secs(), &core.objects.checkout_sessions);
    // In id order, as a scan of the sessions would find them (the events' order).
    due.sort();
    for id in due {
        if core
            .objects
            .checkout_sessions
            .get(&id)
            .is_some_and(|s| s.status == SessionStatus::Open)
        {
            mark_expired(core, ctx, &id);
        }
    }
}

fn mark_expired(core: &mut Core, ctx: &Ctx<'_>, id: &str) -> Option<Value> {
    let session = core.objects.checkout_sessions.get_mut(id)?;
    session.status = SessionStatus::Expired;
    let out = session.to_json(ctx.now_secs());
    core.emit(ctx, "checkout.session.expired", out.clone(), None);
    Some(out)
}

fn not_open(id: &str, status: SessionStatus) -> ApiError {
    let message = match status {
        SessionStatus::Expired => {
            format!("This Checkout Session ({id}) has expired and can no longer be used.")
        }
        _ => format!(
            "This Checkout Session ({id}) is no longer open: its status is `{}`.",
            status.as_str()
        ),
    };
    ApiError::invalid(None, message, Some("id"))
}

/// `POST /v1/checkout/sessions/{id}/expire`: only open sessions.
pub fn expire(core: &mut Core, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    let session = core
        .objects
        .checkout_sessions
        .get(id)
        .ok_or_else(|| ApiError::no_such("checkout.session", id, "id"))?;
    match session.status_at(ctx.now_secs()) {
        SessionStatus::Open => {
            mark_expired(core, ctx, id).ok_or_else(|| ApiError::internal("session vanished"))
        }
        status => Err(not_open(id, status)),
    }
}

/// The browser pays: creates the customer when needed, the subscription and invoice (subscription
/// mode), redeems the discount, completes the session, and emits the events.
pub fn complete(core: &mut Core, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    let session = core
        .objects
        .checkout_sessions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("checkout.session", id, "id"))?;
    let status = session.status_at(ctx.now_secs());
    if status != SessionStatus::Open {
        return Err(not_open(id, status));
    }
    for (i, discount) in session.discounts.iter().enumerate() {
        let which = if discount.coupon.is_some() {
            "coupon"
        } else {
            "promotion_code"
        };
        coupons::check_discount(core, ctx, discount, &format!("discounts[{i}][{which}]"))?;
    }
    let customer = match &session.customer {
        Some(c) => {
            if core.objects.customers.get(c).is_none_or(|c| c.deleted) {
                return Err(ApiError::missing_ref("customer", c, "customer"));
            }
            Some(c.clone())
        }
        None if session.mode == "subscription" || session.customer_creation.as_deref() == Some("always") => {
            let fields = CustomerFields {
                email: Some(session.customer_email.clone()),
                ..CustomerFields::default()
            };
            let id = core.id("cus");
            customers::create_with_id(core, ctx, id.clone(), &fields);
            Some(id)
        }
        None => None,
    };
    let discount = session.discounts.first().cloned();
    let coupon = discount.as_ref().and_then(|d| coupons::redeem(core, d));
    let (mut subscription, mut invoice) = (None, None);
    if session.mode == "subscription" {
        if let Some(customer) = &customer {
            let made = subscriptions::create_paid(
                core,
                ctx,
                customer,
                &session.line_items,
                coupon.map(|c| (c, discount.and_then(|d| d.promotion_code))),
                StripeMetadata::new(),
                None,
            );
            subscription = Some(made.0);
            invoice = made.1;
        }
    }
    let Some(session) = core.objects.checkout_sessions.get_mut(id) else {
        return Err(ApiError::internal("session vanished"));
    };
    session.status = SessionStatus::Complete;
    session.customer = customer;
    session.subscription = subscription;
    session.invoice = invoice;
    let out = session.to_json(ctx.now_secs());
    core.emit(ctx, "checkout.session.completed", out.clone(), None);
    Ok(out)
}

/// `GET /v1/checkout/sessions` filters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionFilter {
    /// `cus_…`
    pub customer: Option<String>,
    /// `open`, `complete`, `expired`.
    pub status: Option<String>,
    /// `sub_…`
    pub subscription: Option<String>,
    /// Page size.
    pub limit: usize,
}

/// Parses `GET /v1/checkout/sessions`.
pub fn parse_list(params: &Params) -> Result<SessionFilter, ApiError> {
    params.check_allowed(&["customer", "status", "subscription", "limit", "expand[#]"])?;
    let status = params.string("status")?;
    if let Some(s) = &status {
        if !matches!(s.as_str(), "open" | "complete" | "expired") {
            return Err(ApiError::invalid(
                None,
                format!("Invalid status: must be one of complete, expired, or open (got {s})"),
                Some("status"),
            ));
        }
    }
    Ok(SessionFilter {
        customer: params.string("customer")?,
        status,
        subscription: params.string("subscription")?,
        limit: super::wire::limit(params)?,
    })
}

/// `GET /v1/checkout/sessions`, newest first.
pub fn list(core: &Core, ctx: &Ctx<'_>, filter: &SessionFilter) -> Value {
    let now_secs = ctx.now_secs();
    let mut hits: Vec<&CheckoutSessionObject> = core
        .objects
        .checkout_sessions
        .values()
        .filter(|s| {
            filter
                .customer
                .as_ref()
                .is_none_or(|c| s.customer.as_ref() == Some(c))
                && filter
                    .subscription
                    .as_ref()
                    .is_none_or(|x| s.subscription.as_ref() == Some(x))
                && filter
                    .status
                    .as_deref()
                    .is_none_or(|st| s.status_at(now_secs).as_str() == st)
        })
        .collect();
    hits.sort_by_key(|s| std::cmp::Reverse(s.seq));
    let has_more = hits.len() > filter.limit;
    let data = hits
        .into_iter()
        .take(filter.limit)
        .map(|s| s.to_json(now_secs))
        .collect();
    super::wire::list_json("/v1/checkout/sessions", data, has_more)
}
