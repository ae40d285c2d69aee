//! The objects the fake Stripe keeps, and their JSON shapes as the API returns them.
//!
//! Plain serialisable data. Times are unix seconds (what Stripe shows) except where the
//! simulation needs milliseconds (search visibility). `seq` orders objects by creation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::time::SimTime;

/// The API version the fake claims (shown in events).
pub const API_VERSION: &str = "2025-09-30.clover";

/// Metadata: a string-to-string map.
pub type StripeMetadata = BTreeMap<String, String>;

/// What `/v1/customers/search` sees of a customer from `visible_at` on (search lags writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchVersion {
    /// When this version becomes visible to search.
    pub visible_at: SimTime,
    /// Email as of the write.
    pub email: Option<String>,
    /// Name as of the write.
    pub name: Option<String>,
    /// Metadata as of the write.
    pub metadata: StripeMetadata,
    /// Whether the write was a delete.
    pub deleted: bool,
}

/// A customer (live or deleted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerObject {
    /// `cus_…`
    pub id: String,
    /// Creation order.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// Email (not unique).
    pub email: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    pub metadata: StripeMetadata,
    /// Deleted customers stay retrievable as a stub.
    pub deleted: bool,
    /// The search index's view over time (bounded, see `customers::MAX_SEARCH_VERSIONS`).
    pub search_versions: Vec<SearchVersion>,
}

impl CustomerObject {
    /// The API JSON (`{"id","object":"customer","deleted":true}` once deleted).
    pub fn to_json(&self) -> Value {
        if self.deleted {
            return json!({ "id": self.id, "object": "customer", "deleted": true });
        }
        json!({
            "id": self.id, "object": "customer", "address": null, "balance": 0, "created": self.created,
            "currency": null, "default_source": null, "delinquent": false, "description": self.description,
            "email": self.email, "invoice_prefix": self.id.get(4..12).unwrap_or("").to_uppercase(),
            "livemode": false, "metadata": self.metadata, "name": self.name, "phone": null,
            "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": null,
        })
    }
}

/// A product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// `prod_…`
    pub id: String,
    /// Creation order.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// Name.
    pub name: String,
    /// Metadata.
    pub metadata: StripeMetadata,
}

impl Product {
    /// The API JSON.
    pub fn to_json(&self) -> Value {
        json!({ "id": self.id, "object": "product", "active": true, "created": self.created,
                "livemode": false, "metadata": self.metadata, "name": self.name })
    }
}

/// A price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// `price_…`
    pub id: String,
    /// Creation order.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// `prod_…`
    pub product: String,
    /// Minor units.
    pub unit_amount: u64,
    /// ISO currency, lower case.
    pub currency: String,
    /// `month`/`year`/... for recurring prices.
    pub recurring_interval: Option<String>,
}

impl Price {
    /// The API JSON.
    pub fn to_json(&self) -> Value {
        let recurring = self
            .recurring_interval
            .as_ref()
            .map(|interval| json!({ "interval": interval, "interval_count": 1, "usage_type": "licensed" }));
        json!({ "id": self.id, "object": "price", "active": true, "created": self.created,
                "currency": self.currency, "livemode": false, "metadata": {}, "product": self.product,
                "recurring": recurring,
                "type": if self.recurring_interval.is_some() { "recurring" } else { "one_time" },
                "unit_amount": self.unit_amount })
    }
}

/// A coupon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coupon {
    /// Given or generated id.
    pub id: String,
    /// Creation order.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// Percentage off (0 < x ≤ 100).
    pub percent_off: Option<f64>,
    /// Amount off in minor units.
    pub amount_off: Option<u64>,
    /// Currency of `amount_off`.
    pub currency: Option<String>,
    /// `once`, `repeating` or `forever`.
    pub duration: String,
    /// For `repeating`.
    pub duration_in_months: Option<u64>,
    /// Redemption cap.
    pub max_redemptions: Option<u64>,
    /// Unix seconds after which it cannot be redeemed.
    pub redeem_by: Option<u64>,
    /// Redemptions so far.
    pub times_redeemed: u64,
}

impl Coupon {
    /// Whether it can still be applied at `now_secs`.
    pub fn valid_at(&self, now_secs: u64) -> bool {
        self.redeem_by.is_none_or(|t| now_secs <= t)
            && self.max_redemptions.is_none_or(|m| self.times_redeemed < m)
    }

    /// The API JSON.
    pub fn to_json(&self, now_secs: u64) -> Value {
        json!({ "id": self.id, "object": "coupon", "amount_off": self.amount_off, "created": self.created,
                "currency": self.currency, "duration": self.duration,
                "duration_in_months": self.duration_in_months, "livemode": false,
                "max_redemptions": self.max_redemptions, "metadata": {}, "name": null,
                "percent_off": self.percent_off, "redeem_by": self.redeem_by,
                "times_redeemed": self.times_redeemed, "valid": self.valid_at(now_secs) })
    }
}

/// A promotion code: a customer-facing code for a coupon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionCode {
    /// `promo_…`
    pub id: String,
    /// Creation order.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// The code as given (unique case-insensitively among active codes).
    pub code: String,
    /// The coupon id.
    pub coupon: String,
    /// Whether it can be used.
    pub active: bool,
    /// Redemption cap.
    pub max_redemptions: Option<u64>,
    /// Unix seconds of expiry.
    pub expires_at: Option<u64>,
    /// Redemptions so far.
    pub times_redeemed: u64,
    /// Metadata.
    pub metadata: StripeMetadata,
}

impl PromotionCode {
    /// Why it cannot be redeemed at `now_secs`, if it cannot.
    pub fn unusable_reason(&self, now_secs: u64) -> Option<&'static str> {
        if !self.active {
            Some("is inactive")
        } else if self.expires_at.is_some_and(|t| now_secs > t) {
            Some("has expired")
        } else if self.max_redemptions.is_some_and(|m| self.times_redeemed >= m) {
            Some("has reached its maximum number of redemptions")
        } else {
            None
        }
    }

    /// The API JSON (coupon embedded, as Stripe does).
    pub fn to_json(&self, coupon: Option<Value>) -> Value {
        json!({ "id": self.id, "object": "promotion_code", "active": self.active, "code": self.code,
                "coupon": coupon, "promotion": { "type": "coupon", "coupon": self.coupon },
                "created": self.created, "customer": null, "expires_at": self.expires_at,
                "livemode": false, "max_redemptions": self.max_redemptions, "metadata": self.metadata,
                "times_redeemed": self.times_redeemed })
    }
}

/// A discount requested on a session: a coupon or a promotion code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscountRef {
    /// Coupon id.
    pub coupon: Option<String>,
    /// Promotion code id (`promo_…`).
    pub promotion_code: Option<String>,
}

/// A line item of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    /// `price_…`
    pub price: String,
    /// Quantity.
    pub quantity: u64,
}

/// Checkout Session status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Can be paid.
    Open,
    /// Paid.
    Complete,
    /// Expired (by time or by `/expire`).
    Expired,
}

impl SessionStatus {
    /// The API string.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Complete => "complete",
            SessionStatus::Expired => "expired",
        }
    }
}

/// A Checkout Session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckoutSessionObject {
    /// `cs_test_…`
    pub id: String,
    /// Creation order.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// `payment`, `subscription` or `setup`.
    pub mode: String,
    /// Stored status (an open session past `expires_at` is shown expired).
    pub status: SessionStatus,
    /// Customer passed in or created on completion.
    pub customer: Option<String>,
    /// Prefill email (does not dedupe).
    pub customer_email: Option<String>,
    /// `always` or `if_required`.
    pub customer_creation: Option<String>,
    /// Caller's reference.
    pub client_reference_id: Option<String>,
    /// Metadata.
    pub metadata: StripeMetadata,
    /// Items.
    pub line_items: Vec<LineItem>,
    /// Discounts applied at creation.
    pub discounts: Vec<DiscountRef>,
    /// Whether the payment page accepts codes.
    pub allow_promotion_codes: bool,
    /// Redirect after payment.
    pub success_url: Option<String>,
    /// Redirect on cancel.
    pub cancel_url: Option<String>,
    /// Unix seconds.
    pub expires_at: u64,
    /// Subscription created on completion.
    pub subscription: Option<String>,
    /// Invoice created on completion.
    pub invoice: Option<String>,
    /// Total after discount, minor units.
    pub amount_total: u64,
    /// Currency of the items.
    pub currency: Option<String>,
}

impl CheckoutSessionObject {
    /// The status as seen at `now_secs` (lazy expiry).
    pub fn status_at(&self, now_secs: u64) -> SessionStatus {
        if self.status == SessionStatus::Open && now_secs >= self.expires_at {
            SessionStatus::Expired
        } else {
            self.status
        }
    }

    /// The API JSON at `now_secs`.
    pub fn to_json(&self, now_secs: u64) -> Value {
        let status = self.status_at(now_secs);
        let discounts: Vec<Value> = self
            .discounts
            .iter()
            .map(|d| json!({ "coupon": d.coupon, "promotion_code": d.promotion_code }))
            .collect();
        json!({
            "id": self.id, "object": "checkout.session",
            "allow_promotion_codes": self.allow_promotion_codes.then_some(true),
            "amount_total": self.amount_total, "cancel_url": self.cancel_url,
            "client_reference_id": self.client_reference_id, "created": self.created,
            "currency": self.currency, "customer": self.customer,
            "customer_creation": self.customer_creation, "customer_email": self.customer_email,
            "discounts": discounts, "expires_at": self.expires_at, "invoice": self.invoice,
            "livemode": false, "metadata": self.metadata, "mode": self.mode,
            "payment_status": if status == SessionStatus::Complete { "paid" } else { "unpaid" },
            "status": status.as_str(), "subscription": self.subscription, "success_url": self.success_url,
            "url": (status == SessionStatus::Open).then(|| format!("https://checkout.stripe.com/c/pay/{}", self.id)),
        })
    }
}

/// Subscription status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// First payment not made.
    Incomplete,
    /// Paid up.
    Active,
    /// In a trial.
    Trialing,
    /// Payment failed, retrying.
    PastDue,
    /// Ended.
    Canceled,
    /// Retries exhausted.
    Unpaid,
}

impl SubscriptionStatus {
    /// The API string.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Canceled => "canceled",
            SubscriptionStatus::Unpaid => "unpaid",
        }
    }
}

/// A discount applied to a subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discount {
    /// `di_…`
    pub id: String,
    /// Coupon id.
    pub coupon: String,
    /// Promotion code id.
    pub promotion_code: Option<String>,
}

/// A subscription item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionItem {
    /// `si_…`
    pub id: String,
    /// `price_…`
    pub price: String,
    /// Quantity.
    pub quantity: u64,
}

/// A subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionObject {
    /// `sub_…`
    pub id: String,
    /// Creation order.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// `cus_…`
    pub customer: String,
    /// Status.
    pub status: SubscriptionStatus,
    /// Items.
    pub items: Vec<SubscriptionItem>,
    /// Discount.
    pub discount: Option<Discount>,
    /// Metadata.
    pub metadata: StripeMetadata,
    /// Whether it ends at period end.
    pub cancel_at_period_end: bool,
    /// Unix seconds.
    pub canceled_at: Option<u64>,
    /// Unix seconds.
    pub current_period_start: u64,
    /// Unix seconds.
    pub current_period_end: u64,
    /// `in_…`
    pub latest_invoice: Option<String>,
}

impl SubscriptionObject {
    /// The API JSON; `prices` resolves item prices.
    pub fn to_json(&self, prices: &BTreeMap<String, Price>) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|item| {
                json!({ "id": item.id, "object": "subscription_item",
                        "current_period_start": self.current_period_start,
                        "current_period_end": self.current_period_end,
                        "price": prices.get(&item.price).map_or(json!(item.price), Price::to_json),
                        "quantity": item.quantity, "subscription": self.id })
            })
            .collect();
        let discount = self.discount.as_ref().map(|d| {
            json!({ "id": d.id, "object": "discount", "coupon": { "id": d.coupon, "object": "coupon" },
                    "customer": self.customer, "promotion_code": d.promotion_code, "subscription": self.id })
        });
        json!({
            "id": self.id, "object": "subscription", "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": self.canceled_at, "created": self.created, "customer": self.customer,
            "current_period_end": self.current_period_end, "current_period_start": self.current_period_start,
            "discount": discount,
            "discounts": self.discount.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
            "items": { "object": "list", "data": items, "has_more": false,
                       "url": format!("/v1/subscription_items?subscription={}", self.id) },
            "latest_invoice": self.latest_invoice, "livemode": false, "metadata": self.metadata,
            "status": self.status.as_str(),
        })
    }
}

/// An invoice (always paid in this fake).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    /// `in_…`
    pub id: String,
    /// Creation order.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// `cus_…`
    pub customer: String,
    /// `sub_…`
    pub subscription: Option<String>,
    /// Amount paid, minor units.
    pub amount_paid: u64,
    /// Currency.
    pub currency: String,
}

impl Invoice {
    /// The API JSON.
    pub fn to_json(&self) -> Value {
        json!({ "id": self.id, "object": "invoice", "amount_due": self.amount_paid,
                "amount_paid": self.amount_paid, "created": self.created, "currency": self.currency,
                "customer": self.customer, "livemode": false, "paid": true, "status": "paid",
                "subscription": self.subscription,
                "parent": self.subscription.as_ref().map(|s| json!({
                    "type": "subscription_details", "subscription_details": { "subscription": s } })) })
    }
}

/// An event, as stored (the payload is rendered by [`Event::to_json`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_…`
    pub id: String,
    /// Creation order.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// e.g. `customer.created`.
    pub event_type: String,
    /// The full object at the time of the event.
    pub object: Value,
    /// For `*.updated`: the changed fields' previous values.
    pub previous_attributes: Option<Value>,
    /// Enabled endpoints that will receive it.
    pub pending_webhooks: u64,
    /// `req_…` of the API request that caused it.
    pub request_id: Option<String>,
    /// Idempotency key of that request.
    pub idempotency_key: Option<String>,
}

impl Event {
    /// The event JSON (what `/v1/events` returns and webhooks carry).
    pub fn to_json(&self) -> Value {
        let mut data = json!({ "object": self.object });
        if let (Some(prev), Some(map)) = (&self.previous_attributes, data.as_object_mut()) {
            map.insert("previous_attributes".into(), prev.clone());
        }
        json!({ "id": self.id, "object": "event", "api_version": API_VERSION, "created": self.created,
                "data": data, "livemode": false, "pending_webhooks": self.pending_webhooks,
                "request": { "id": self.request_id, "idempotency_key": self.idempotency_key },
                "type": self.event_type })
    }

    /// The raw webhook payload bytes (sign these).
    pub fn payload(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.to_json()).unwrap_or_default()
    }
}

/// A registered webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// `we_…`
    pub id: String,
    /// Creation order.
    pub seq: u64,
    /// Unix seconds.
    pub created: u64,
    /// Where events are POSTed.
    pub url: String,
    /// `whsec_…` signing secret.
    pub secret: String,
    /// Event types, or `*`.
    pub enabled_events: Vec<String>,
}

impl WebhookEndpoint {
    /// Whether events of `event_type` go to this endpoint.
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled_events.iter().any(|e| e == "*" || e == event_type)
    }

    /// The API JSON; the secret is shown only on creation, as in Stripe.
    pub fn to_json(&self, with_secret: bool) -> Value {
        let mut out = json!({ "id": self.id, "object": "webhook_endpoint", "api_version": null,
                              "created": self.created, "enabled_events": self.enabled_events,
                              "livemode": false, "metadata": {}, "status": "enabled", "url": self.url });
        if let (true, Some(map)) = (with_secret, out.as_object_mut()) {
            map.insert("secret".into(), json!(self.secret));
        }
        out
    }
}

/// Every object of the account: the serialisable state of the fake.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Objects {
    /// By id.
    pub customers: BTreeMap<String, CustomerObject>,
    /// By id.
    pub products: BTreeMap<String, Product>,
    /// By id.
    pub prices: BTreeMap<String, Price>,
    /// By id.
    pub coupons: BTreeMap<String, Coupon>,
    /// By id.
    pub promotion_codes: BTreeMap<String, PromotionCode>,
    /// By id.
    pub checkout_sessions: BTreeMap<String, CheckoutSessionObject>,
    /// By id.
    pub subscriptions: BTreeMap<String, SubscriptionObject>,
    /// By id.
    pub invoices: BTreeMap<String, Invoice>,
    /// In emission order.
    pub events: Vec<Event>,
    /// By id.
    pub webhook_endpoints: BTreeMap<String, WebhookEndpoint>,
    /// Next creation sequence number.
    pub next_seq: u64,
}

impl Objects {
    /// The next creation sequence number.
    pub fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// How many objects are stored (checked against the configured cap).
    pub fn count(&self) -> usize {
        self.customers.len()
            + self.products.len()
            + self.prices.len()
            + self.coupons.len()
            + self.promotion_codes.len()
            + self.checkout_sessions.len()
            + self.subscriptions.len()
            + self.invoices.len()
            + self.events.len()
            + self.webhook_endpoints.len()
    }
}
