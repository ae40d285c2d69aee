//! The built-in invariants (BRIEF.md, "Invariants").

use std::collections::{BTreeMap, BTreeSet};

use super::{Invariant, Phase, Service, Violation, WorldView};

/// Every invariant racehound checks by default, in a stable order.
pub fn builtin_invariants() -> Vec<Invariant> {
    vec![
        Invariant {
            name: "no_duplicate_customers",
            phase: Phase::Always,
            description: "at most one live Stripe customer per user / tenant",
            check: no_duplicate_customers,
        },
        Invariant {
            name: "no_duplicate_orgs",
            phase: Phase::Always,
            description: "at most one team org per user and plan",
            check: no_duplicate_orgs,
        },
        Invariant {
            name: "no_dangling_refs",
            phase: Phase::Always,
            description: "every cus_/org_ id stored in the database exists (and is live) in Stripe / Clerk",
            check: no_dangling_refs,
        },
        Invariant {
            name: "effects_once",
            phase: Phase::Always,
            description: "an event's effect is applied once: no two rows share an effect key",
            check: effects_once,
        },
        Invariant {
            name: "idempotent_replay",
            phase: Phase::Always,
            description:
                "one idempotency key never yields two different objects while Stripe keeps it (24 h)",
            check: idempotent_replay,
        },
        Invariant {
            name: "no_orphan_customers",
            phase: Phase::Quiescence,
            description:
                "every live Stripe customer is referenced by the database (when it tracks customers)",
            check: no_orphan_customers,
        },
        Invariant {
            name: "no_orphan_orgs",
            phase: Phase::Quiescence,
            description: "every Clerk org is referenced by the database (when it tracks orgs)",
            check: no_orphan_orgs,
        },
        Invariant {
            name: "no_lost_events",
            phase: Phase::Quiescence,
            description: "every webhook is delivered with 2xx and has its effect",
            check: no_lost_events,
        },
        Invariant {
            name: "bounded_redelivery",
            phase: Phase::Quiescence,
            description: "no event is redelivered more than the bound in a fault-free run (no retry storm)",
            check: bounded_redelivery,
        },
        Invariant {
            name: "signup_complete",
            phase: Phase::Quiescence,
            description: "every signed-up user has a profile row and a referenced live customer",
            check: signup_complete,
        },
        Invariant {
            name: "checkout_on_linked_customer",
            phase: Phase::Quiescence,
            description: "every checkout or apply-coupon answered 2xx named a session that Stripe holds on the live customer linked to the user (declared tables)",
            check: checkout_on_linked_customer,
        },
        Invariant {
            name: "team_org_linked",
            phase: Phase::Quiescence,
            description: "every team plan answered 2xx (or bought in Clerk Billing) ends with exactly one org in Clerk, linked to the user (declared tables)",
            check: team_org_linked,
        },
        Invariant {
            name: "subscription_status_matches",
            phase: Phase::Quiescence,
            description: "every stored subscription status equals Stripe's, and every subscription an acknowledged event announced is stored (declared tables)",
            check: subscription_status_matches,
        },
        Invariant {
            name: "events_have_effects",
            phase: Phase::Quiescence,
            description: "every webhook event the app acknowledged is recorded as processed (declared tables)",
            check: events_have_effects,
        },
        Invariant {
            name: "claims_resolved",
            phase: Phase::Quiescence,
            description: "no claimed row keeps a NULL external id once the world is quiet (declared tables)",
            check: claims_resolved,
        },
    ]
}

/// The built-in invariants that cannot fire for this view's app because it declares
/// nothing they read (`AppLogic::tables`): shown as not applicable, never as passed.
pub fn not_applicable(view: &WorldView) -> Vec<&'static str> {
    let tables = &view.tables;
    builtin_invariants()
        .into_iter()
        .map(|invariant| invariant.name)
        .filter(|name| match *name {
            "checkout_on_linked_customer" | "no_orphan_customers" => tables.customer.is_none(),
            "team_org_linked" | "no_orphan_orgs" => tables.team_org.is_none(),
            "subscription_status_matches" => tables.subscription_status.is_none(),
            "events_have_effects" => tables.processed_events.is_empty(),
            "claims_resolved" => tables.claims.is_empty(),
            "effects_once" => tables.effects.is_empty(),
            "signup_complete" => tables.profile.is_none() || tables.customer.is_none(),
            _ => false,
        })
        .collect()
}

fn checkout_on_linked_customer(view: &WorldView) -> Vec<Violation> {
    let Some(link) = &view.tables.customer else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for call in &view.answered {
        if !matches!(
            call.flow,
            crate::vocabulary::Flow::Checkout | crate::vocabulary::Flow::ApplyCoupon
        ) {
            continue;
        }
        let linked = view.linked_ids(link, &call.user_id);
        let live_linked: Vec<&String> = linked
            .iter()
            .filter(|id| view.live_customers().any(|c| &c.id == *id))
            .collect();
        let session = call
            .session_id
            .as_deref()
            .and_then(|id| view.checkout_sessions.iter().find(|s| s.id == id));
        let problem = match (session, live_linked.as_slice()) {
            (None, _) => Some(format!(
                "{} for user {} was answered 2xx but names no Checkout Session Stripe holds",
                call.flow, call.user_id
            )),
            (Some(_), []) => Some(format!(
                "{} for user {} was answered 2xx but no live customer is linked to the user in {}.{}",
                call.flow, call.user_id, link.table, link.id_column
            )),
            (Some(s), [linked]) if s.customer.as_deref() != Some(linked.as_str()) => Some(format!(
                "{} for user {} was answered with session {} on customer {}, but {}.{} links {}",
                call.flow,
                call.user_id,
                s.id,
                s.customer.as_deref().unwrap_or("(none)"),
                link.table,
                link.id_column,
                linked
            )),
            (Some(_), [_]) => None,
            (Some(_), many) => Some(format!(
                "user {} is linked to {} live customers in {}.{}",
                call.user_id,
                many.len(),
                link.table,
                link.id_column
            )),
        };
        if let Some(message) = problem {
            let objects = vec![call.session_id.clone().unwrap_or_else(|| call.user_id.clone())];
            if !found.iter().any(|v: &Violation| v.message == message) {
                found.push(violation("checkout_on_linked_customer", objects, message));
            }
        }
    }
    found
}

fn team_org_linked(view: &WorldView) -> Vec<Violation> {
    let Some(link) = &view.tables.team_org else {
        return Vec::new();
    };
    use crate::vocabulary::Flow;
    // Clerk Billing purchases count once every `subscription.created` was acknowledged.
    let billing_settled = view
        .deliveries
        .iter()
        .filter(|d| d.service == Service::Clerk && d.event_type == "subscription.created")
        .all(|d| d.delivered);
    let mut owed: BTreeSet<(&str, &str)> = BTreeSet::new();
    for call in &view.answered {
        if call.flow == Flow::CreateTeamOrg {
            owed.insert((&call.user_id, call.plan.as_deref().unwrap_or("team")));
        }
    }
    let billing_acknowledged = view
        .deliveries
        .iter()
        .any(|d| d.service == Service::Clerk && d.event_type == "subscription.created" && d.delivered);
    if billing_settled && billing_acknowledged {
        // A Clerk Billing purchase is made in Clerk, not answered by the app: owed once the
        // purchases were acknowledged.
        for (user, plan) in &view.billing_plans {
            owed.insert((user, plan));
        }
    }
    let mut found = Vec::new();
    for (user, plan) in owed {
        let orgs: Vec<&str> = view
            .orgs
            .iter()
            .filter(|o| o.created_by.as_deref() == Some(user) && org_plan(o).is_none_or(|p| p == plan))
            .map(|o| o.id.as_str())
            .collect();
        let linked = view.linked_ids(link, user);
        let message = match orgs.as_slice() {
            [] => Some(format!(
                "user {user} was promised a {plan} team org but Clerk has none"
            )),
            [org] if !linked.iter().any(|id| id == org) => Some(format!(
                "user {user}'s {plan} org {org} is not linked in {}.{}",
                link.table, link.id_column
            )),
            [_] => None,
            many => Some(format!("user {user} has {} {plan} team orgs", many.len())),
        };
        if let Some(message) = message {
            found.push(violation("team_org_linked", vec![user.to_string()], message));
        }
    }
    found
}

/// Event types that announce a subscription the app must then store.
const SUBSCRIPTION_ANNOUNCING_EVENTS: &[&str] = &[
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
];

fn subscription_status_matches(view: &WorldView) -> Vec<Violation> {
    let Some(columns) = &view.tables.subscription_status else {
        return Vec::new();
    };
    let rows = view.db.get(&columns.table).map(Vec::as_slice).unwrap_or_default();
    let stored: BTreeMap<&str, Option<&str>> = rows
        .iter()
        .filter_map(|row| {
            let id = row.get(&columns.id_column)?.as_text()?;
            Some((id, row.get(&columns.status_column).and_then(|v| v.as_text())))
        })
        .collect();
    let mut found = Vec::new();
    for (id, status) in &stored {
        match view.subscriptions.iter().find(|s| s.id == *id) {
            Some(sub) if Some(sub.status.as_str()) != *status => {
                let message = format!(
                    "{}.{} says subscription {id} is {}, Stripe says {}",
                    columns.table,
                    columns.status_column,
                    status.unwrap_or("NULL"),
                    sub.status
                );
                found.push(violation(
                    "subscription_status_matches",
                    vec![id.to_string()],
                    message,
                ));
            }
            Some(_) => {}
            None => {
                let message = format!(
                    "{}.{} holds {id}, which Stripe does not know",
                    columns.table, columns.id_column
                );
                found.push(violation(
                    "subscription_status_matches",
                    vec![id.to_string()],
                    message,
                ));
            }
        }
    }
    let announced = view.deliveries.iter().any(|d| {
        d.service == Service::Stripe
            && d.delivered
            && SUBSCRIPTION_ANNOUNCING_EVENTS.contains(&d.event_type.as_str())
    });
    if announced {
        for sub in &view.subscriptions {
            if !stored.contains_key(sub.id.as_str()) {
                let message = format!(
                    "subscription {} was announced and acknowledged but {} has no row for it",
                    sub.id, columns.table
                );
                found.push(violation(
                    "subscription_status_matches",
                    vec![sub.id.clone()],
                    message,
                ));
            }
        }
    }
    found
}

fn events_have_effects(view: &WorldView) -> Vec<Violation> {
    let mut found = Vec::new();
    for log in &view.tables.processed_events {
        let rows = view.db.get(&log.table).map(Vec::as_slice).unwrap_or_default();
        let recorded: BTreeSet<&str> = rows
            .iter()
            .filter_map(|row| row.get(&log.id_column).and_then(|v| v.as_text()))
            .collect();
        for delivery in view
            .deliveries
            .iter()
            .filter(|d| d.service == log.service && d.delivered)
        {
            if !recorded.contains(delivery.event_id.as_str()) {
                let message = format!(
                    "{:?} event {} ({}) was acknowledged but is not recorded in {}.{}",
                    delivery.service, delivery.event_id, delivery.event_type, log.table, log.id_column
                );
                found.push(violation(
                    "events_have_effects",
                    vec![delivery.event_id.clone()],
                    message,
                ));
            }
        }
    }
    found
}

fn claims_resolved(view: &WorldView) -> Vec<Violation> {
    let mut found = Vec::new();
    for claim in &view.tables.claims {
        for row in view.db.get(&claim.table).map(Vec::as_slice).unwrap_or_default() {
            if row.get(&claim.id_column).is_none_or(|v| v.is_null()) {
                let what: Vec<String> = row
                    .iter()
                    .filter(|(column, _)| *column != &claim.id_column)
                    .map(|(column, value)| {
                        format!(
                            "{column}={}",
                            value
                                .as_text()
                                .map_or_else(|| format!("{value:?}"), str::to_string)
                        )
                    })
                    .collect();
                let message = format!(
                    "{} row ({}) still has no {} at quiescence",
                    claim.table,
                    what.join(", "),
                    claim.id_column
                );
                found.push(violation("claims_resolved", vec![claim.table.clone()], message));
            }
        }
    }
    found
}

fn violation(invariant: &str, objects: Vec<String>, message: String) -> Violation {
    Violation {
        invariant: invariant.to_string(),
        objects,
        message,
    }
}

fn no_duplicate_customers(view: &WorldView) -> Vec<Violation> {
    let mut by_user: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for customer in view.live_customers() {
        if let Some(user) = view.customer_owner(customer) {
            by_user
                .entry(user.user_id.as_str())
                .or_default()
                .push(customer.id.clone());
        }
    }
    by_user
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(user, ids)| {
            let message = format!("user {user} has {} live Stripe customers", ids.len());
            violation("no_duplicate_customers", ids, message)
        })
        .collect()
}

fn org_plan(org: &super::OrgView) -> Option<&str> {
    org.public_metadata.get("plan").and_then(|p| p.as_str())
}

fn no_duplicate_orgs(view: &WorldView) -> Vec<Violation> {
    let mut found = Vec::new();
    let plans: BTreeSet<&(String, String)> = view.team_plans.iter().collect();
    for (user, plan) in plans {
        let ids: Vec<String> = view
            .orgs
            .iter()
            .filter(|org| org.created_by.as_deref() == Some(user.as_str()))
            .filter(|org| org_plan(org).is_none_or(|p| p == plan))
            .map(|org| org.id.clone())
            .collect();
        if ids.len() > 1 {
            let message = format!("user {user} has {} team orgs for plan {plan}", ids.len());
            found.push(violation("no_duplicate_orgs", ids, message));
        }
    }
    found
}

fn no_dangling_refs(view: &WorldView) -> Vec<Violation> {
    let live_customers: BTreeSet<&str> = view.live_customers().map(|c| c.id.as_str()).collect();
    let orgs: BTreeSet<&str> = view.orgs.iter().map(|o| o.id.as_str()).collect();
    let mut found = Vec::new();
    for (id, table, column) in view.db_refs("cus_") {
        if !live_customers.contains(id.as_str()) {
            let message = format!("{table}.{column} holds {id}, which is not a live Stripe customer");
            found.push(violation("no_dangling_refs", vec![id], message));
        }
    }
    for (id, table, column) in view.db_refs("org_") {
        if !orgs.contains(id.as_str()) {
            let message = format!("{table}.{column} holds {id}, which is not a Clerk organization");
            found.push(violation("no_dangling_refs", vec![id], message));
        }
    }
    found
}

fn effects_once(view: &WorldView) -> Vec<Violation> {
    let mut found = Vec::new();
    for effect in &view.tables.effects {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for row in view.db.get(&effect.table).map(Vec::as_slice).unwrap_or_default() {
            if let Some(key) = row.get(&effect.key_column).and_then(|v| v.as_text()) {
                *counts.entry(key).or_default() += 1;
            }
        }
        for (key, count) in counts.into_iter().filter(|(_, n)| *n > 1) {
            let message = format!(
                "{}.{} = {key} appears in {count} rows: effect applied {count} times",
                effect.table, effect.key_column
            );
            found.push(violation("effects_once", vec![key.to_string()], message));
        }
    }
    found
}

/// How long Stripe keeps an idempotency key after its first request (the fakes' default).
pub const IDEMPOTENCY_KEY_TTL_SECS: i64 = 24 * 3600;

fn idempotent_replay(view: &WorldView) -> Vec<Violation> {
    // Per key, each distinct object with its creation time (unknown sorts first).
    let mut by_key: BTreeMap<(&str, &str), BTreeMap<&str, Option<i64>>> = BTreeMap::new();
    for response in &view.idempotent_responses {
        by_key
            .entry((&response.key, &response.endpoint))
            .or_default()
            .entry(&response.object_id)
            .or_insert(response.created);
    }
    let mut found = Vec::new();
    for ((key, endpoint), objects) in by_key {
        let mut ordered: Vec<(Option<i64>, &str)> = objects.into_iter().map(|(id, at)| (at, id)).collect();
        ordered.sort();
        // Two consecutive objects are legitimate only when the key expired between them.
        let clash = ordered.windows(2).any(|pair| match (pair[0].0, pair[1].0) {
            (Some(first), Some(second)) => second - first < IDEMPOTENCY_KEY_TTL_SECS,
            _ => true,
        });
        if !clash {
            continue;
        }
        let message = format!(
            "idempotency key {key} on {endpoint} yielded {} different objects within the key's 24 h",
            ordered.len()
        );
        let mut ids: Vec<String> = ordered.into_iter().map(|(_, id)| id.to_string()).collect();
        ids.sort();
        found.push(violation("idempotent_replay", ids, message));
    }
    found
}

fn no_orphan_customers(view: &WorldView) -> Vec<Violation> {
    if view.tables.customer.is_none() {
        return Vec::new();
    }
    let referenced: BTreeSet<String> = view.db_refs("cus_").into_iter().map(|(id, _, _)| id).collect();
    view.live_customers()
        .filter(|c| !referenced.contains(&c.id))
        .map(|c| {
            let owner = view
                .customer_owner(c)
                .map_or("no known user".to_string(), |u| format!("user {}", u.user_id));
            let message = format!(
                "Stripe customer {} ({owner}) is not referenced by the database",
                c.id
            );
            violation("no_orphan_customers", vec![c.id.clone()], message)
        })
        .collect()
}

fn no_orphan_orgs(view: &WorldView) -> Vec<Violation> {
    if view.tables.team_org.is_none() {
        return Vec::new();
    }
    let referenced: BTreeSet<String> = view.db_refs("org_").into_iter().map(|(id, _, _)| id).collect();
    view.orgs
        .iter()
        .filter(|o| !referenced.contains(&o.id))
        .map(|o| {
            let message = format!(
                "Clerk org {} ({}) is not referenced by the database",
                o.id, o.name
            );
            violation("no_orphan_orgs", vec![o.id.clone()], message)
        })
        .collect()
}

fn no_lost_events(view: &WorldView) -> Vec<Violation> {
    let mut found = Vec::new();
    for delivery in &view.deliveries {
        if !delivery.delivered {
            let state = if delivery.given_up {
                "given up"
            } else {
                "still pending"
            };
            let message = format!(
                "{:?} event {} ({}) was never acknowledged after {} attempts ({state})",
                delivery.service, delivery.event_id, delivery.event_type, delivery.attempts
            );
            found.push(violation(
                "no_lost_events",
                vec![delivery.event_id.clone()],
                message,
            ));
        }
    }
    // Effects are the outcome invariants' (`events_have_effects`,
    // `subscription_status_matches`), read from the declared tables.
    found
}

fn bounded_redelivery(view: &WorldView) -> Vec<Violation> {
    if view.lossy_network {
        return Vec::new();
    }
    // Attempts made while a fault was in effect are the fault's, not the app's.
    let bound = view.redelivery_max.saturating_add(1);
    view.deliveries
        .iter()
        .filter(|d| d.attempts_without_faults > bound)
        .map(|d| {
            let message = format!(
                "event {} ({}) was delivered {} times, {} of them in one delivery with no fault in effect (retry storm; bound {bound})",
                d.event_id, d.event_type, d.attempts, d.attempts_without_faults
            );
            violation("bounded_redelivery", vec![d.event_id.clone()], message)
        })
        .collect()
}

fn signup_complete(view: &WorldView) -> Vec<Violation> {
    let (Some(profile), Some(link)) = (&view.tables.profile, &view.tables.customer) else {
        return Vec::new();
    };
    let profile_rows = view.db.get(&profile.table).map(Vec::as_slice).unwrap_or_default();
    let mut found = Vec::new();
    for user_id in &view.signed_up {
        let has_profile = profile_rows
            .iter()
            .any(|row| row.get(&profile.user_column).and_then(|v| v.as_text()) == Some(user_id.as_str()));
        let has_customer = view
            .linked_ids(link, user_id)
            .iter()
            .any(|id| view.live_customers().any(|c| &c.id == id));
        if !has_profile || !has_customer {
            let missing = match (has_profile, has_customer) {
                (false, false) => format!(
                    "no {} row and no live customer linked in {}.{}",
                    profile.table, link.table, link.id_column
                ),
                (false, true) => format!("no {} row", profile.table),
                _ => format!(
                    "no live Stripe customer linked in {}.{}",
                    link.table, link.id_column
                ),
            };
            let message = format!("signed-up user {user_id} has {missing}");
            found.push(violation("signup_complete", vec![user_id.clone()], message));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::{
        check, CustomerView, DeliveryView, IdempotentResponseView, OrgView, Phase, WorldView,
    };
    use super::*;
    use crate::app::api::{Row, UserSpec, Value};

    fn user(n: i64) -> UserSpec {
        UserSpec {
            user_id: format!("user_{n}"),
            email: format!("u{n}@example.com"),
            tenant_id: n,
        }
    }

    fn customer(id: &str, email: &str) -> CustomerView {
        CustomerView {
            id: id.into(),
            email: Some(email.into()),
            metadata: BTreeMap::new(),
            deleted: false,
        }
    }

    fn row(pairs: &[(&str, Value)]) -> Row {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn names(violations: &[Violation]) -> Vec<&str> {
        violations.iter().map(|v| v.invariant.as_str()).collect()
    }

    fn healthy() -> WorldView {
        let mut view = WorldView {
            users: vec![user(1)],
            redelivery_max: 3,
            tables: crate::vocabulary::TableMeanings::new()
                .customer("tenants", "user_id", "stripe_customer_id")
                .profile("tenants", "user_id"),
            ..Default::default()
        };
        view.customers.push(customer("cus_A", "u1@example.com"));
        view.db.insert(
            "tenants".into(),
            vec![row(&[
                ("id", Value::Int(1)),
                ("user_id", "user_1".into()),
                ("stripe_customer_id", "cus_A".into()),
            ])],
        );
        view.db_columns.insert(
            "tenants".into(),
            vec!["id".into(), "user_id".into(), "stripe_customer_id".into()],
        );
        view.signed_up.push("user_1".into());
        view
    }

    fn only(view: &WorldView, name: &str) -> Vec<Violation> {
        let inv = builtin_invariants()
            .into_iter()
            .find(|i| i.name == name)
            .expect("known invariant");
        (inv.check)(view)
    }

    #[test]
    fn healthy_world_has_no_violations() {
        assert_eq!(
            check(&builtin_invariants(), &healthy(), Phase::Quiescence),
            vec![]
        );
    }

    #[test]
    fn duplicate_customers_are_reported() {
        let mut view = healthy();
        view.customers.push(customer("cus_B", "u1@example.com"));
        let found = only(&view, "no_duplicate_customers");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].objects, vec!["cus_A", "cus_B"]);
        // A deleted duplicate is not live.
        view.customers[1].deleted = true;
        assert!(only(&view, "no_duplicate_customers").is_empty());
    }

    #[test]
    fn duplicate_customers_by_metadata_owner() {
        let mut view = healthy();
        let mut other = customer("cus_B", "different@example.com");
        other.metadata.insert("user_id".into(), "user_1".into());
        view.customers.push(other);
        assert_eq!(
            names(&only(&view, "no_duplicate_customers")),
            vec!["no_duplicate_customers"]
        );
    }

    fn org(id: &str, user: &str, plan: Option<&str>) -> OrgView {
        OrgView {
            id: id.into(),
            name: "Team".into(),
            slug: None,
            created_by: Some(user.into()),
            public_metadata: plan.map_or(serde_json::json!({}), |p| serde_json::json!({ "plan": p })),
        }
    }

    #[test]
    fn duplicate_orgs_are_reported_per_user_and_plan() {
        let mut view = healthy();
        view.team_plans.push(("user_1".into(), "team".into()));
        view.orgs.push(org("org_1", "user_1", Some("team")));
        assert!(only(&view, "no_duplicate_orgs").is_empty());
        view.orgs.push(org("org_2", "user_1", None));
        assert_eq!(
            only(&view, "no_duplicate_orgs")[0].objects,
            vec!["org_1", "org_2"]
        );
        // An org for another plan is not a duplicate of this one.
        view.orgs.pop();
        view.orgs.push(org("org_3", "user_1", Some("pro")));
        assert!(only(&view, "no_duplicate_orgs").is_empty());
    }

    #[test]
    fn orphan_customers_are_reported_at_quiescence_only() {
        let mut view = healthy();
        view.customers.push(customer("cus_orphan", "someone@example.com"));
        assert!(check(&builtin_invariants(), &view, Phase::Always).is_empty());
        let found = check(&builtin_invariants(), &view, Phase::Quiescence);
        assert_eq!(names(&found), vec!["no_orphan_customers"]);
        assert_eq!(found[0].objects, vec!["cus_orphan"]);
    }

    #[test]
    fn orphan_customers_need_a_declared_customer_link() {
        let mut view = healthy();
        view.customers.push(customer("cus_orphan", "someone@example.com"));
        view.tables.customer = None;
        assert!(only(&view, "no_orphan_customers").is_empty());
        assert!(not_applicable(&view).contains(&"no_orphan_customers"));
    }

    #[test]
    fn orphan_orgs_are_reported() {
        let mut view = healthy();
        view.orgs.push(org("org_1", "user_1", Some("team")));
        // An app that declares no org link (seed 000 keeps orgs only in Clerk) is not judged.
        assert!(only(&view, "no_orphan_orgs").is_empty());
        view.tables = view.tables.clone().team_org("orgs", "user_id", "clerk_org_id");
        assert_eq!(names(&only(&view, "no_orphan_orgs")), vec!["no_orphan_orgs"]);
        view.db
            .insert("orgs".into(), vec![row(&[("clerk_org_id", "org_1".into())])]);
        assert!(only(&view, "no_orphan_orgs").is_empty());
    }

    #[test]
    fn dangling_refs_are_reported() {
        let mut view = healthy();
        assert!(only(&view, "no_dangling_refs").is_empty());
        view.customers[0].deleted = true;
        assert_eq!(only(&view, "no_dangling_refs")[0].objects, vec!["cus_A"]);
        view.customers[0].deleted = false;
        view.db
            .insert("orgs".into(), vec![row(&[("clerk_org_id", "org_gone".into())])]);
        assert_eq!(only(&view, "no_dangling_refs")[0].objects, vec!["org_gone"]);
    }

    fn delivery(id: &str, event_type: &str, attempts: u32, delivered: bool) -> DeliveryView {
        DeliveryView {
            service: Service::Stripe,
            event_id: id.into(),
            event_type: event_type.into(),
            attempts,
            delivered,
            given_up: !delivered,
            attempts_without_faults: attempts,
        }
    }

    #[test]
    fn lost_events_are_reported() {
        let mut view = healthy();
        view.deliveries
            .push(delivery("evt_1", "customer.created", 1, true));
        assert!(only(&view, "no_lost_events").is_empty());
        view.deliveries.push(delivery("evt_2", "invoice.paid", 9, false));
        assert_eq!(only(&view, "no_lost_events")[0].objects, vec!["evt_2"]);
    }

    #[test]
    fn acknowledged_subscription_without_a_row_breaks_the_status_invariant() {
        let mut view = healthy();
        view.tables =
            view.tables
                .clone()
                .subscription_status("subscriptions", "stripe_subscription_id", "status");
        view.db.insert("subscriptions".into(), Vec::new());
        view.subscriptions.push(SubscriptionView {
            id: "sub_1".into(),
            customer: "cus_A".into(),
            status: "active".into(),
        });
        view.deliveries
            .push(delivery("evt_1", "checkout.session.completed", 1, true));
        assert_eq!(
            only(&view, "subscription_status_matches")[0].objects,
            vec!["sub_1"]
        );
        // Delivery is `no_lost_events`' only concern: the event was acknowledged.
        assert!(only(&view, "no_lost_events").is_empty());
        view.db.insert(
            "subscriptions".into(),
            vec![row(&[
                ("stripe_subscription_id", "sub_1".into()),
                ("status", "active".into()),
            ])],
        );
        assert!(only(&view, "subscription_status_matches").is_empty());
    }

    use super::super::SubscriptionView;

    #[test]
    fn effects_applied_twice_are_reported() {
        let mut view = healthy();
        let grant = row(&[("effect_key", "evt_1:credits".into())]);
        view.db
            .insert("credit_grants".into(), vec![grant.clone(), grant.clone()]);
        // Only a declared effect is judged, whatever its column is called.
        assert!(only(&view, "effects_once").is_empty());
        view.tables = view.tables.clone().effect("credit_grants", "effect_key");
        view.db.insert("credit_grants".into(), vec![grant.clone()]);
        assert!(only(&view, "effects_once").is_empty());
        view.db.insert("credit_grants".into(), vec![grant.clone(), grant]);
        assert_eq!(only(&view, "effects_once")[0].objects, vec!["evt_1:credits"]);
    }

    #[test]
    fn retry_storms_are_reported_when_the_app_alone_needed_too_many_attempts() {
        let mut view = healthy();
        view.deliveries
            .push(delivery("evt_1", "customer.created", 8, true));
        assert_eq!(
            names(&only(&view, "bounded_redelivery")),
            vec!["bounded_redelivery"]
        );
        // Four of the eight attempts ran while a fault was in effect: within the bound.
        view.deliveries[0].attempts_without_faults = 4;
        assert!(only(&view, "bounded_redelivery").is_empty());
        view.deliveries[0].attempts_without_faults = 5;
        assert_eq!(
            only(&view, "bounded_redelivery")[0].message,
            "event evt_1 (customer.created) was delivered 8 times, 5 of them in one delivery with no fault in effect (retry storm; bound 4)"
        );
        view.lossy_network = true;
        assert!(only(&view, "bounded_redelivery").is_empty());
    }

    #[test]
    fn incomplete_signup_is_reported() {
        let mut view = healthy();
        view.db.clear();
        let found = only(&view, "signup_complete");
        assert_eq!(
            found[0].message,
            "signed-up user user_1 has no tenants row and no live customer linked in tenants.stripe_customer_id"
        );
    }

    #[test]
    fn idempotent_replay_with_two_objects_is_reported() {
        let mut view = healthy();
        let response = |id: &str| IdempotentResponseView {
            key: "customer:1".into(),
            endpoint: "POST /v1/customers".into(),
            object_id: id.into(),
            created: Some(1_767_225_600),
        };
        view.idempotent_responses.push(response("cus_A"));
        view.idempotent_responses.push(response("cus_A"));
        assert!(only(&view, "idempotent_replay").is_empty());
        view.idempotent_responses.push(response("cus_B"));
        assert_eq!(
            only(&view, "idempotent_replay")[0].objects,
            vec!["cus_A", "cus_B"]
        );
    }

    #[test]
    fn idempotent_replay_allows_a_second_object_after_the_key_expired() {
        let mut view = healthy();
        let response = |id: &str, created: Option<i64>| IdempotentResponseView {
            key: "customer:1".into(),
            endpoint: "POST /v1/customers".into(),
            object_id: id.into(),
            created,
        };
        let start = 1_767_225_600;
        view.idempotent_responses.push(response("cus_A", Some(start)));
        view.idempotent_responses
            .push(response("cus_B", Some(start + 25 * 3600)));
        assert!(
            only(&view, "idempotent_replay").is_empty(),
            "a key 25 h old has expired"
        );
        view.idempotent_responses
            .push(response("cus_C", Some(start + 26 * 3600)));
        assert_eq!(
            only(&view, "idempotent_replay")[0].objects,
            vec!["cus_A", "cus_B", "cus_C"],
            "cus_C came 1 h after cus_B, while the key still lived"
        );
        view.idempotent_responses.truncate(1);
        view.idempotent_responses.push(response("cus_D", None));
        assert_eq!(
            only(&view, "idempotent_replay").len(),
            1,
            "an object without a creation time cannot prove the key expired"
        );
    }
}
