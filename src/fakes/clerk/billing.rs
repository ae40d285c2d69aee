//! Clerk Billing: one subscription per payer (user or organization), with items per plan,
//! and the `subscription.*` / `subscriptionItem.*` webhook events real Clerk emits.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::wire::ClerkErrorBody;
use super::Clerk;
use crate::time::SimTime;

/// Most items one subscription keeps (old ones are history; the oldest ended are dropped).
pub const MAX_ITEMS_PER_SUBSCRIPTION: usize = 32;

/// Who pays: a user or an organization.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BillingPayerRef {
    /// A user (`user_…`).
    User(String),
    /// An organization (`org_…`).
    Organization(String),
}

/// A subscription item: the payer's relation to one plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingSubscriptionItem {
    /// `csubi_…`
    pub id: String,
    /// `cplan_…`
    pub plan_id: String,
    /// The plan's slug, e.g. `pro`.
    pub plan_slug: String,
    /// `active`, `past_due`, `canceled`, …
    pub status: String,
    /// Milliseconds since the Unix epoch.
    pub period_start: u64,
    /// Milliseconds since the Unix epoch (30 days after the start).
    pub period_end: u64,
    /// When it was canceled.
    pub canceled_at: Option<u64>,
    /// When it became past due.
    pub past_due_at: Option<u64>,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// A payer's top-level billing subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingSubscription {
    /// `csub_…`
    pub id: String,
    /// Creation order across all objects.
    pub seq: u64,
    /// `cpayer_…`
    pub payer_id: String,
    /// The user or organization paying.
    pub payer: BillingPayerRef,
    /// `active`, `past_due`, …
    pub status: String,
    /// Items, oldest first.
    pub items: Vec<BillingSubscriptionItem>,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
    /// When it last became active.
    pub active_at: Option<u64>,
    /// When it became past due.
    pub past_due_at: Option<u64>,
}

const PERIOD_MS: u64 = 30 * 24 * 60 * 60 * 1000;

impl BillingSubscription {
    /// The subscription as Clerk's webhooks render it (`commerce_subscription`).
    pub fn to_json(&self, clerk: &Clerk) -> Value {
        let payer = self.payer_json(clerk);
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|item| item_json(clerk, item, &payer))
            .collect();
        json!({
            "object": "commerce_subscription",
            "id": self.id,
            "instance_id": clerk.instance_id,
            "status": self.status,
            "payer_id": self.payer_id,
            "payer": payer,
            "items": items,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "active_at": self.active_at,
            "past_due_at": self.past_due_at,
            "latest_payment_id": format!("cpay_{}", self.id.trim_start_matches("csub_")),
            "payment_source_id": format!("cps_{}", self.id.trim_start_matches("csub_")),
        })
    }

    fn payer_json(&self, clerk: &Clerk) -> Value {
        let mut payer = json!({
            "object": "commerce_payer",
            "id": self.payer_id,
            "instance_id": clerk.instance_id,
            "image_url": "https://img.clerk.com/default",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        });
        let Value::Object(map) = &mut payer else {
            return payer;
        };
        match &self.payer {
            BillingPayerRef::User(user_id) => {
                let user = clerk.users.get(user_id);
                map.insert("user_id".into(), json!(user_id));
                map.insert("email".into(), json!(user.and_then(|u| u.primary_email())));
                map.insert(
                    "first_name".into(),
                    json!(user.and_then(|u| u.first_name.clone())),
                );
                map.insert("last_name".into(), json!(user.and_then(|u| u.last_name.clone())));
            }
            BillingPayerRef::Organization(org_id) => {
                let org = clerk.orgs.get(org_id);
                map.insert("organization_id".into(), json!(org_id));
                map.insert("organization_name".into(), json!(org.map(|o| o.name.clone())));
                let creator = org
                    .and_then(|o| o.created_by.as_ref())
                    .and_then(|id| clerk.users.get(id));
                map.insert("email".into(), json!(creator.and_then(|u| u.primary_email())));
            }
        }
        payer
    }

    fn active_item_index(&self) -> Option<usize> {
        self.items
            .iter()
            .rposition(|item| item.status == "active" || item.status == "past_due")
    }
}

fn item_json(clerk: &Clerk, item: &BillingSubscriptionItem, payer: &Value) -> Value {
    json!({
        "object": "commerce_subscription_item",
        "id": item.id,
        "status": item.status,
        "plan_period": "month",
        "period_start": item.period_start,
        "period_end": item.period_end,
        "canceled_at": item.canceled_at,
        "past_due_at": item.past_due_at,
        "lifetime_paid": 0,
        "next_payment_amount": 0,
        "next_payment_date": item.period_end,
        "amount": {"amount": 0, "amount_formatted": "0.00", "currency": "USD", "currency_symbol": "$"},
        "plan": {
            "id": item.plan_id,
            "instance_id": clerk.instance_id,
            "product_id": format!("cprod_{}", item.plan_id.trim_start_matches("cplan_")),
            "name": item.plan_slug,
            "slug": item.plan_slug,
            "is_default": false,
            "is_recurring": true,
            "amount": 0,
            "period": "month",
            "interval": 1,
            "has_base_fee": false,
            "currency": "USD",
            "annual_monthly_amount": 0,
            "publicly_visible": true,
        },
        "plan_id": item.plan_id,
        "payer": payer,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    })
}

impl Clerk {
    fn plan_id(&mut self, slug: &str) -> String {
        if let Some(id) = self.plans.get(slug) {
            return id.clone();
        }
        let id = self.ids.next("cplan");
        self.plans.insert(slug.to_string(), id.clone());
        id
    }

    fn new_item(&mut self, now: SimTime, plan_slug: &str) -> BillingSubscriptionItem {
        let plan_id = self.plan_id(plan_slug);
        BillingSubscriptionItem {
            id: self.ids.next("csubi"),
            plan_id,
            plan_slug: plan_slug.to_string(),
            status: "active".to_string(),
            period_start: now.unix_ms(),
            period_end: now.unix_ms().saturating_add(PERIOD_MS),
            canceled_at: None,
            past_due_at: None,
            created_at: now.unix_ms(),
            updated_at: now.unix_ms(),
        }
    }

    fn emit_item(
        &mut self,
        now: SimTime,
        event_type: &str,
        subscription: &BillingSubscription,
        index: usize,
    ) {
        let payer = subscription.payer_json(self);
        if let Some(item) = subscription.items.get(index) {
            let data = item_json(self, item, &payer);
            self.emit(now, event_type, data);
        }
    }

    fn emit_subscription(&mut self, now: SimTime, event_type: &str, subscription: &BillingSubscription) {
        let data = subscription.to_json(self);
        self.emit(now, event_type, data);
    }

    /// The payer's subscription, or 404.
    pub fn payer_subscription(
        &self,
        payer: &BillingPayerRef,
    ) -> Result<&BillingSubscription, ClerkErrorBody> {
        self.subscriptions
            .values()
            .find(|subscription| &subscription.payer == payer)
            .ok_or_else(|| ClerkErrorBody::not_found("billing subscription"))
    }

    /// Subscribes `payer` to `plan_slug`. A payer without a subscription gets one
    /// (`subscription.created`, `subscriptionItem.created`, `subscriptionItem.active`,
    /// `subscription.active`); a payer with one switches plan (see [`Clerk::change_billing_plan`]).
    pub fn create_billing_subscription(
        &mut self,
        now: SimTime,
        payer: BillingPayerRef,
        plan_slug: &str,
    ) -> Result<BillingSubscription, ClerkErrorBody> {
        match &payer {
            BillingPayerRef::User(id) => drop(self.user(id)?),
            BillingPayerRef::Organization(id) => drop(self.organization(id)?),
        }
        if plan_slug.trim().is_empty() {
            return Err(ClerkErrorBody::param_missing("plan_slug"));
        }
        if let Ok(existing) = self.payer_subscription(&payer) {
            let id = existing.id.clone();
            return self.change_billing_plan(now, &id, plan_slug);
        }
        self.check_capacity()?;
        let item = self.new_item(now, plan_slug);
        let subscription = BillingSubscription {
            id: self.ids.next("csub"),
            seq: self.next_seq(),
            payer_id: self.ids.next("cpayer"),
            payer,
            status: "active".to_string(),
            items: vec![item],
            created_at: now.unix_ms(),
            updated_at: now.unix_ms(),
            active_at: Some(now.unix_ms()),
            past_due_at: None,
        };
        self.subscriptions
            .insert(subscription.id.clone(), subscription.clone());
        self.emit_subscription(now, "subscription.created", &subscription);
        self.emit_item(now, "subscriptionItem.created", &subscription, 0);
        self.emit_item(now, "subscriptionItem.active", &subscription, 0);
        self.emit_subscription(now, "subscription.active", &subscription);
        Ok(subscription)
    }

    /// Switches the subscription to `plan_slug`: the current item is canceled, a new one
    /// becomes active; emits `subscriptionItem.canceled`, `subscriptionItem.created`,
    /// `subscriptionItem.active`, `subscription.updated` (and `subscription.active` if it was not).
    pub fn change_billing_plan(
        &mut self,
        now: SimTime,
        subscription_id: &str,
        plan_slug: &str,
    ) -> Result<BillingSubscription, ClerkErrorBody> {
        let mut subscription = self
            .subscriptions
            .get(subscription_id)
            .cloned()
            .ok_or_else(|| ClerkErrorBody::not_found("billing subscription"))?;
        if plan_slug.trim().is_empty() {
            return Err(ClerkErrorBody::param_missing("plan_slug"));
        }
        let canceled = subscription.active_item_index();
        if let Some(item) = canceled.and_then(|index| subscription.items.get_mut(index)) {
            item.status = "canceled".to_string();
            item.canceled_at = Some(now.unix_ms());
            item.updated_at = now.unix_ms();
        }
        let item = self.new_item(now, plan_slug);
        subscription.items.push(item);
        let mut removed_count = 0;
        while subscription.items.len() > MAX_ITEMS_PER_SUBSCRIPTION {
            subscription.items.remove(0);
            removed_count += 1;
        }
        let was_active = subscription.status == "active";
        subscription.status = "active".to_string();
        subscription.updated_at = now.unix_ms();
        if !was_active {
            subscription.active_at = Some(now.unix_ms());
        }
        self.subscriptions
            .insert(subscription.id.clone(), subscription.clone());
        let new_index = subscription.items.len().saturating_sub(1);
        if let Some(index) = canceled.and_then(|index| index.checked_sub(removed_count)) {
            self.emit_item(now, "subscriptionItem.canceled", &subscription, index);
        }
        self.emit_item(now, "subscriptionItem.created", &subscription, new_index);
        self.emit_item(now, "subscriptionItem.active", &subscription, new_index);
        self.emit_subscription(now, "subscription.updated", &subscription);
        if !was_active {
            self.emit_subscription(now, "subscription.active", &subscription);
        }
        Ok(subscription)
    }

    /// Marks the current item and the subscription past due; emits `subscriptionItem.pastDue`
    /// and `subscription.pastDue`.
    pub fn mark_billing_subscription_past_due(
        &mut self,
        now: SimTime,
        subscription_id: &str,
    ) -> Result<BillingSubscription, ClerkErrorBody> {
        let mut subscription = self
            .subscriptions
            .get(subscription_id)
            .cloned()
            .ok_or_else(|| ClerkErrorBody::not_found("billing subscription"))?;
        let index = subscription.active_item_index();
        if let Some(item) = index.and_then(|index| subscription.items.get_mut(index)) {
            item.status = "past_due".to_string();
            item.past_due_at = Some(now.unix_ms());
            item.updated_at = now.unix_ms();
        }
        subscription.status = "past_due".to_string();
        subscription.past_due_at = Some(now.unix_ms());
        subscription.updated_at = now.unix_ms();
        self.subscriptions
            .insert(subscription.id.clone(), subscription.clone());
        if let Some(index) = index {
            self.emit_item(now, "subscriptionItem.pastDue", &subscription, index);
        }
        self.emit_subscription(now, "subscription.pastDue", &subscription);
        Ok(subscription)
    }
}
