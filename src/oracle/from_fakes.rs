//! Building a [`WorldView`] from the fakes' snapshots: the part every runtime shares.

use std::collections::BTreeMap;

use crate::app::api::{Row, TableSchema, UserSpec};
use crate::fakes::clerk::{Clerk, ClerkSnapshot, Organization};
use crate::fakes::postgres::{Database, DbSnapshot};
use crate::fakes::stripe::{Objects, Stripe, StripeSnapshot};
use crate::vocabulary::Flow;

use super::{CustomerView, OrgView, SubscriptionView, WorldView};

/// One step an actor played, as the oracle needs it: whose, which flow, which plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActorStep<'a> {
    /// The user's index in the run's users.
    pub user: u32,
    /// What the step did.
    pub flow: Flow,
    /// The plan the step asked for, if any.
    pub plan: Option<&'a str>,
}

/// Fills in what the oracle learns from the actors' steps: who signed up, which team plans
/// were asked for.
pub fn note_actor_facts<'a>(
    view: &mut WorldView,
    users: &[UserSpec],
    steps: impl IntoIterator<Item = ActorStep<'a>>,
) {
    for step in steps {
        let Some(user) = users.get(step.user as usize) else {
            continue;
        };
        match step.flow {
            Flow::Signup if !view.signed_up.contains(&user.user_id) => {
                view.signed_up.push(user.user_id.clone())
            }
            Flow::CreateTeamOrg | Flow::ClerkSubscription => {
                let pair = (user.user_id.clone(), step.plan.unwrap_or("team").to_string());
                if step.flow == Flow::ClerkSubscription && !view.billing_plans.contains(&pair) {
                    view.billing_plans.push(pair.clone());
                }
                if !view.team_plans.contains(&pair) {
                    view.team_plans.push(pair);
                }
            }
            _ => {}
        }
    }
}

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
    view_of(
        users,
        &stripe.objects,
        clerk.organizations.iter(),
        db.tables.clone(),
        schema,
    )
}

/// The same view read from the live fakes, without copying their whole state first.
pub fn view_from_fakes(
    users: &[UserSpec],
    stripe: &Stripe,
    clerk: &Clerk,
    db: &Database,
    schema: &[TableSchema],
) -> WorldView {
    view_of(
        users,
        stripe.objects(),
        clerk.organizations(),
        db.committed_tables(),
        schema,
    )
}

fn view_of<'a>(
    users: &[UserSpec],
    stripe: &Objects,
    organizations: impl Iterator<Item = &'a Organization>,
    db_tables: BTreeMap<String, Vec<Row>>,
    schema: &[TableSchema],
) -> WorldView {
    let customers = stripe
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
        .subscriptions
        .values()
        .map(|s| SubscriptionView {
            id: s.id.clone(),
            customer: s.customer.clone(),
            status: s.status.as_str().to_string(),
        })
        .collect();
    let checkout_sessions = stripe
        .checkout_sessions
        .values()
        .map(|s| super::CheckoutSessionView {
            id: s.id.clone(),
            customer: s.customer.clone(),
            status: s.status.as_str().to_string(),
        })
        .collect();
    let orgs = organizations
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
        checkout_sessions,
        db: db_tables,
        db_columns,
        redelivery_max: REDELIVERY_MAX_DEFAULT,
        lossy_network: false,
        ..Default::default()
    }
}
