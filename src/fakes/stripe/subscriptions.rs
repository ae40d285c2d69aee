//! Subscriptions: create (directly or from a completed session), retrieve, update, cancel,
//! with `customer.subscription.created / updated / deleted` and `invoice.paid` events.

use serde_json::Value;

use super::core::{Core, Ctx};
use super::coupons;
use super::customers::previous_attributes;
use super::state::{
    Discount, Invoice, LineItem, StripeMetadata, SubscriptionItem, SubscriptionObject, SubscriptionStatus,
};
use super::wire::{ApiError, Params};

/// Seconds in the fake's billing period (30 days).
pub const PERIOD_SECS: u64 = 30 * 24 * 60 * 60;

/// `POST /v1/subscriptions` parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewSubscription {
    /// `cus_…`
    pub customer: String,
    /// Items.
    pub items: Vec<LineItem>,
    /// Metadata.
    pub metadata: StripeMetadata,
    /// Trial days: status `trialing`, no invoice yet.
    pub trial_period_days: Option<u64>,
}

/// Parses `POST /v1/subscriptions`.
pub fn parse_create(params: &Params) -> Result<NewSubscription, ApiError> {
    params.check_allowed(&[
        "customer",
        "items[#][price]",
        "items[#][quantity]",
        "metadata[*]",
        "trial_period_days",
        "expand[#]",
    ])?;
    let customer = params.required("customer")?;
    let mut items = Vec::new();
    for i in params
        .indexes("items")
        .into_iter()
        .take(super::checkout::MAX_ITEMS + 1)
    {
        items.push(LineItem {
            price: params.required(&format!("items[{i}][price]"))?,
            quantity: params.integer(&format!("items[{i}][quantity]"))?.unwrap_or(1),
        });
    }
    if items.is_empty() {
        return Err(ApiError::missing("items"));
    }
    if items.len() > super::checkout::MAX_ITEMS {
        return Err(ApiError::invalid(None, "Too many items.", Some("items")));
    }
    let trial_period_days = params.integer("trial_period_days")?;
    if trial_period_days.is_some_and(|d| d > 730) {
        return Err(ApiError::invalid(
            None,
            "Invalid trial_period_days: must be at most 730 days.",
            Some("trial_period_days"),
        ));
    }
    Ok(NewSubscription {
        customer,
        items,
        metadata: params.metadata()?.unwrap_or_default(),
        trial_period_days,
    })
}

/// `POST /v1/subscriptions/{id}` parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubscriptionUpdate {
    /// Merged metadata.
    pub metadata: Option<StripeMetadata>,
    /// New flag.
    pub cancel_at_period_end: Option<bool>,
}

/// Parses `POST /v1/subscriptions/{id}`.
pub fn parse_update(params: &Params) -> Result<SubscriptionUpdate, ApiError> {
    params.check_allowed(&["metadata[*]", "cancel_at_period_end", "expand[#]"])?;
    Ok(SubscriptionUpdate {
        metadata: params.metadata()?,
        cancel_at_period_end: params.boolean("cancel_at_period_end")?,
    })
}

fn to_json(core: &Core, sub: &SubscriptionObject) -> Value {
    sub.to_json(&core.objects.prices)
}

/// Creates a subscription (active and invoiced, or trialing); returns `(sub id, invoice id)`.
/// The caller has checked that the customer and prices exist.
pub fn create_paid(
    core: &mut Core,
    ctx: &Ctx<'_>,
    customer: &str,
    items: &[LineItem],
    discount: Option<(String, Option<String>)>,
    metadata: StripeMetadata,
    trial_period_days: Option<u64>,
) -> (String, Option<String>) {
    let now_secs = ctx.now_secs();
    let id = core.id("sub");
    let items: Vec<SubscriptionItem> = items
        .iter()
        .map(|item| SubscriptionItem {
            id: core.ids.next("si"),
            price: item.price.clone(),
            quantity: item.quantity,
        })
        .collect();
    let discount = discount.map(|(coupon, promotion_code)| Discount {
        id: core.ids.next("di"),
        coupon,
        promotion_code,
    });
    let trialing = trial_period_days.is_some_and(|d| d > 0);
    let period_end = match trial_period_days {
        Some(days) if days > 0 => now_secs.saturating_add(days.saturating_mul(24 * 60 * 60)),
        _ => now_secs + PERIOD_SECS,
    };
    let mut sub = SubscriptionObject {
        id: id.clone(),
        seq: core.objects.seq(),
        created: now_secs,
        customer: customer.to_string(),
        status: if trialing {
            SubscriptionStatus::Trialing
        } else {
            SubscriptionStatus::Active
        },
        items,
        discount,
        metadata,
        cancel_at_period_end: false,
        canceled_at: None,
        current_period_start: now_secs,
        current_period_end: period_end,
        latest_invoice: None,
    };
    let invoice = (!trialing).then(|| {
        let amount: u64 = sub
            .items
            .iter()
            .map(|i| {
                core.objects
                    .prices
                    .get(&i.price)
                    .map_or(0, |p| p.unit_amount.saturating_mul(i.quantity))
            })
            .fold(0, u64::saturating_add);
        let currency = sub
            .items
            .first()
            .and_then(|i| core.objects.prices.get(&i.price))
            .map_or_else(|| "usd".to_string(), |p| p.currency.clone());
        Invoice {
            id: core.ids.next("in"),
            seq: core.objects.seq(),
            created: now_secs,
            customer: customer.to_string(),
            subscription: Some(id.clone()),
            amount_paid: coupons::discounted(core, sub.discount.as_ref().map(|d| d.coupon.as_str()), amount),
            currency,
        }
    });
    sub.latest_invoice = invoice.as_ref().map(|i| i.id.clone());
    let sub_json = to_json(core, &sub);
    core.objects.subscriptions.insert(id.clone(), sub);
    core.emit(ctx, "customer.subscription.created", sub_json, None);
    let invoice_id = invoice.map(|invoice| {
        let json = invoice.to_json();
        let invoice_id = invoice.id.clone();
        core.objects.invoices.insert(invoice_id.clone(), invoice);
        core.emit(ctx, "invoice.paid", json, None);
        invoice_id
    });
    (id, invoice_id)
}

/// `POST /v1/subscriptions`.
pub fn create(core: &mut Core, ctx: &Ctx<'_>, new: &NewSubscription) -> Result<Value, ApiError> {
    if core
        .objects
        .customers
        .get(&new.customer)
        .is_none_or(|c| c.deleted)
    {
        return Err(ApiError::missing_ref("customer", &new.customer, "customer"));
    }
    for (i, item) in new.items.iter().enumerate() {
        let param = format!("items[{i}][price]");
        match core.objects.prices.get(&item.price) {
            None => return Err(ApiError::missing_ref("price", &item.price, &param)),
            Some(p) if p.recurring_interval.is_none() => {
                return Err(ApiError::invalid(
                    None,
                    format!("The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`: {}", item.price),
                    Some(&param),
                ))
            }
            Some(_) => {}
        }
    }
    let (id, _) = create_paid(
        core,
        ctx,
        &new.customer,
        &new.items,
        None,
        new.metadata.clone(),
        new.trial_period_days,
    );
    retrieve(core, &id)
}

/// Retrieves a subscription.
pub fn retrieve(core: &Core, id: &str) -> Result<Value, ApiError> {
    core.objects
        .subscriptions
        .get(id)
        .map(|s| to_json(core, s))
        .ok_or_else(|| ApiError::no_such("subscription", id, "id"))
}

fn mutate(
    core: &mut Core,
    ctx: &Ctx<'_>,
    id: &str,
    event_type: &str,
    change: impl FnOnce(&mut SubscriptionObject, u64) -> Result<(), ApiError>,
) -> Result<Value, ApiError> {
    let Some(sub) = core.objects.subscriptions.get(id) else {
        return Err(ApiError::no_such("subscription", id, "id"));
    };
    let before = to_json(core, sub);
    let mut sub = sub.clone();
    change(&mut sub, ctx.now_secs())?;
    let after = to_json(core, &sub);
    core.objects.subscriptions.insert(id.to_string(), sub);
    let previous = previous_attributes(&before, &after);
    if event_type == "customer.subscription.deleted" || previous.is_some() {
        let previous = if event_type == "customer.subscription.deleted" {
            None
        } else {
            previous
        };
        core.emit(ctx, event_type, after.clone(), previous);
    }
    Ok(after)
}

/// Updates metadata / `cancel_at_period_end`; emits `customer.subscription.updated` on change.
pub fn update(
    core: &mut Core,
    ctx: &Ctx<'_>,
    id: &str,
    update: &SubscriptionUpdate,
) -> Result<Value, ApiError> {
    mutate(core, ctx, id, "customer.subscription.updated", |sub, _| {
        if sub.status == SubscriptionStatus::Canceled && update.cancel_at_period_end.is_some() {
            return Err(ApiError::invalid(
                None,
                "A canceled subscription can only update its cancellation_details and metadata.",
                Some("cancel_at_period_end"),
            ));
        }
        apply_update(sub, update);
        Ok(())
    })
}

fn apply_update(sub: &mut SubscriptionObject, update: &SubscriptionUpdate) {
    if let Some(flag) = update.cancel_at_period_end {
        sub.cancel_at_period_end = flag;
    }
    for (k, v) in update.metadata.iter().flatten() {
        if v.is_empty() {
            sub.metadata.remove(k);
        } else {
            sub.metadata.insert(k.clone(), v.clone());
        }
    }
}

/// Sets the status (a test helper for `past_due`, `unpaid`, ...); emits `customer.subscription.updated`.
pub fn set_status(
    core: &mut Core,
    ctx: &Ctx<'_>,
    id: &str,
    status: SubscriptionStatus,
) -> Result<Value, ApiError> {
    if status == SubscriptionStatus::Canceled {
        return cancel(core, ctx, id);
    }
    mutate(core, ctx, id, "customer.subscription.updated", |sub, _| {
        sub.status = status;
        Ok(())
    })
}

/// `DELETE /v1/subscriptions/{id}`: cancels now; emits `customer.subscription.deleted`.
pub fn cancel(core: &mut Core, ctx: &Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    mutate(core, ctx, id, "customer.subscription.deleted", |sub, now_secs| {
        if sub.status == SubscriptionStatus::Canceled {
            return Err(ApiError::invalid(
                None,
                format!("This subscription has already been canceled: {}", sub.id),
                Some("id"),
            ));
        }
        sub.status = SubscriptionStatus::Canceled;
        sub.canceled_at = Some(now_secs);
        Ok(())
    })
}

/// Retrieves an invoice.
pub fn retrieve_invoice(core: &Core, id: &str) -> Result<Value, ApiError> {
    core.objects
        .invoices
        .get(id)
        .map(Invoice::to_json)
        .ok_or_else(|| ApiError::no_such("invoice", id, "id"))
}

/// `GET /v1/subscriptions` filters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubscriptionFilter {
    /// `cus_…`
    pub customer: Option<String>,
    /// A status, `all`, or `ended`; by default canceled subscriptions are left out, as in Stripe.
    pub status: Option<String>,
    /// Page size.
    pub limit: usize,
}

/// Parses `GET /v1/subscriptions`.
pub fn parse_list(params: &Params) -> Result<SubscriptionFilter, ApiError> {
    params.check_allowed(&["customer", "status", "price", "limit", "expand[#]"])?;
    let status = params.string("status")?;
    if let Some(s) = &status {
        let known = [
            "active",
            "past_due",
            "unpaid",
            "canceled",
            "incomplete",
            "incomplete_expired",
            "trialing",
            "all",
            "ended",
        ];
        if !known.contains(&s.as_str()) {
            return Err(ApiError::invalid(
                None,
                format!("Invalid status: must be one of {} (got {s})", known.join(", ")),
                Some("status"),
            ));
        }
    }
    Ok(SubscriptionFilter {
        customer: params.string("customer")?,
        status,
        limit: super::wire::limit(params)?,
    })
}

/// `GET /v1/subscriptions`, newest first.
pub fn list(core: &Core, filter: &SubscriptionFilter) -> Value {
    let mut hits: Vec<&SubscriptionObject> = core
        .objects
        .subscriptions
        .values()
        .filter(|s| filter.customer.as_deref().is_none_or(|c| s.customer == c))
        .filter(|s| match filter.status.as_deref() {
            None => s.status != SubscriptionStatus::Canceled,
            Some("all") => true,
            Some("ended") => s.status == SubscriptionStatus::Canceled,
            Some(status) => s.status.as_str() == status,
        })
        .collect();
    hits.sort_by_key(|s| std::cmp::Reverse(s.seq));
    let has_more = hits.len() > filter.limit;
    let data = hits
        .into_iter()
        .take(filter.limit)
        .map(|s| to_json(core, s))
        .collect();
    super::wire::list_json("/v1/subscriptions", data, has_more)
}
