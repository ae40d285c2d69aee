//! Building a [`WorldView`] from the fakes' snapshots: the part every runtime shares.

use crate::app::api::{TableSchema, UserSpec};
use crate::fakes::clerk::ClerkSnapshot;
use crate::fakes::postgres::DbSnapshot;
use crate::fakes::stripe::StripeSnapshot;

use super::{CustomerView, OrgView, SubscriptionView, WorldView};

/// Redeliveries per event tolerated in a fault-free run before `bounded_redelivery` fires.
pub const REDELIVERY_MAX_DEFAULT: u32 = 3;

/// The state part of a [`WorldView`]: Stripe customers and subscriptions, Clerk orgs, the
/// database and its schema. Deliveries, idempotent responses, who signed up and which team
/// plans were asked for come from the runtime's trace and are filled in by the caller.
pub fn view_from_snapshots(
    users: &[UserSpec],
    stripe: &StripeSnapshot,
    clerk: &ClerkSnapshot,
    db: &DbSnapshot,
    schema: &[TableSchema],
) -> WorldView {
    let customers = stripe
        .objects
        .customers
        .values()
        .map(|c| CustomerView {
            id: c.id.clone(),
            email: c.email.clone(),
            metadata: c.metadata.clone(),
            deleted: c.deleted,
        })
        .collect();
    let subscriptions = stripe
        .objects
        .subscriptions
        .values()
        .map(|s| SubscriptionView {
            id: s.id.clone(),
            customer: s.customer.clone(),
            status: s.status.as_str().to_string(),
        })
        .collect();
    let orgs = clerk
        .organizations
        .iter()
        .map(|o| OrgView {
            id: o.id.clone(),
            name: o.name.clone(),
            slug: Some(o.slug.clone()),
            created_by: o.created_by.clone(),
            public_metadata: serde_json::Value::Object(o.public_metadata.clone()),
        })
        .collect();
    let db_columns = schema
        .iter()
        .map(|t| (t.name.clone(), t.columns.iter().map(|c| c.name.clone()).collect()))
        .collect();
    WorldView {
        users: users.to_vec(),
        customers,
        subscriptions,
        orgs,
        db: db.tables.clone(),
        db_columns,
        redelivery_max: REDELIVERY_MAX_DEFAULT,
        fault_free: true,
        ..Default::default()
    }
}
