//! Behaviour tests for the fake Clerk, all through `handle` (HTTP request in, response out).

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::svix::{self, SvixError};
use super::*;
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::time::SimTime;

const KEY: &str = "sk_test_racehound";

fn clerk() -> Clerk {
    Clerk::new(7, ClerkConfig::default())
}

fn at(secs: u64) -> SimTime {
    SimTime::EPOCH + Duration::from_secs(secs)
}

fn request(method: Method, path: &str, body: Option<Value>) -> HttpRequest {
    let req = HttpRequest::new(method, path).with_header("Authorization", format!("Bearer {KEY}"));
    match body {
        Some(body) => req
            .with_header("Content-Type", "application/json")
            .with_body(serde_json::to_vec(&body).unwrap_or_default()),
        None => req,
    }
}

fn call(clerk: &mut Clerk, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let response = clerk.handle(at(1), &request(method, path, body));
    (response.status, response.body_json())
}

fn new_user(clerk: &mut Clerk, email: &str) -> String {
    let (status, user) = call(
        clerk,
        Method::Post,
        "/v1/users",
        Some(json!({"email_address": [email]})),
    );
    assert_eq!(status, 200, "{user}");
    user["id"].as_str().unwrap_or_default().to_string()
}

fn new_org(clerk: &mut Clerk, body: Value) -> (u16, Value) {
    call(clerk, Method::Post, "/v1/organizations", Some(body))
}

fn user_org_ids(clerk: &mut Clerk, user_id: &str) -> Vec<String> {
    let (status, list) = call(
        clerk,
        Method::Get,
        &format!("/v1/users/{user_id}/organization_memberships"),
        None,
    );
    assert_eq!(status, 200, "{list}");
    list["data"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|m| m["organization"]["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts Clerk's error envelope with one error of `code`.
fn assert_clerk_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["errors"][0]["code"], want_code, "{body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    assert!(body["errors"][0]["long_message"].is_string(), "{body}");
    assert!(body["errors"][0]["meta"].is_object(), "{body}");
    assert!(
        body["clerk_trace_id"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
}

fn event_types(events: &[ClerkEventRecord]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

// ---- organizations -------------------------------------------------------------------

#[test]
fn clerk_org_names_are_not_unique() {
    let mut c = clerk();
    let user = new_user(&mut c, "a@example.com");
    let (s1, o1) = new_org(&mut c, json!({"name": "Team", "created_by": user}));
    let (s2, o2) = new_org(&mut c, json!({"name": "Team", "created_by": user}));
    assert_eq!((s1, s2), (200, 200));
    assert_ne!(o1["id"], o2["id"]);
    assert_eq!(c.snapshot().organizations.len(), 2);
}

#[test]
fn clerk_org_slugs_are_unique_422() {
    let mut c = clerk();
    let (s1, _) = new_org(&mut c, json!({"name": "A", "slug": "team-u1-pro"}));
    let (s2, body) = new_org(&mut c, json!({"name": "B", "slug": "team-u1-pro"}));
    assert_eq!(s1, 200);
    assert_clerk_error(s2, &body, 422, "form_identifier_exists");
    assert_eq!(body["errors"][0]["meta"]["param_name"], "slug");
    assert_eq!(c.snapshot().organizations.len(), 1);
    // The slug is free again once its org is deleted.
    let (_, org) = call(&mut c, Method::Get, "/v1/organizations/team-u1-pro", None);
    let id = org["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        call(&mut c, Method::Delete, &format!("/v1/organizations/{id}"), None).0,
        200
    );
    assert_eq!(
        new_org(&mut c, json!({"name": "C", "slug": "team-u1-pro"})).0,
        200
    );
}

#[test]
fn clerk_bad_slug_is_422() {
    let mut c = clerk();
    for bad in ["Team", "team_1", "team 1", "tëam", ""] {
        let (status, body) = new_org(&mut c, json!({"name": "A", "slug": bad}));
        assert_clerk_error(status, &body, 422, "form_param_format_invalid");
    }
    assert!(c.snapshot().organizations.is_empty());
}

#[test]
fn clerk_has_no_idempotency_key() {
    let mut c = clerk();
    let user = new_user(&mut c, "a@example.com");
    let body = json!({"name": "Team", "created_by": user});
    let req =
        request(Method::Post, "/v1/organizations", Some(body)).with_header("Idempotency-Key", "org:u1:pro");
    let first = c.handle(at(1), &req);
    let second = c.handle(at(1), &req);
    assert_eq!((first.status, second.status), (200, 200));
    assert_ne!(first.body_json()["id"], second.body_json()["id"]);
    assert_eq!(second.header("Idempotent-Replayed"), None);
    assert_eq!(user_org_ids(&mut c, &user).len(), 2);
}

#[test]
fn clerk_deterministic_slug_dedupes() {
    let mut c = clerk();
    let user = new_user(&mut c, "a@example.com");
    let body = json!({"name": "Team", "created_by": user, "slug": "team-u1-pro"});
    let (s1, org) = new_org(&mut c, body.clone());
    let (s2, err) = new_org(&mut c, body);
    assert_eq!(s1, 200);
    assert_clerk_error(s2, &err, 422, "form_identifier_exists");
    // The loser can find the winner by slug.
    let (s3, found) = call(&mut c, Method::Get, "/v1/organizations/team-u1-pro", None);
    assert_eq!((s3, &found["id"]), (200, &org["id"]));
    assert_eq!(user_org_ids(&mut c, &user).len(), 1);
}

#[test]
fn clerk_org_without_slug_gets_generated_slug() {
    let mut c = clerk();
    let (_, a) = new_org(&mut c, json!({"name": "My Team!"}));
    let (_, b) = new_org(&mut c, json!({"name": "My Team!"}));
    let (sa, sb) = (a["slug"].as_str().unwrap_or(""), b["slug"].as_str().unwrap_or(""));
    assert!(sa.starts_with("my-team-"), "{sa}");
    assert!(orgs::valid_slug(sa) && orgs::valid_slug(sb));
    assert_ne!(sa, sb);
}

#[test]
fn clerk_org_list_query_and_pagination() {
    let mut c = clerk();
    for name in ["Alpha", "Beta", "Alpha Two"] {
        assert_eq!(new_org(&mut c, json!({"name": name})).0, 200);
    }
    let (status, list) = call(&mut c, Method::Get, "/v1/organizations?query=alpha&limit=1", None);
    assert_eq!(status, 200);
    assert_eq!(list["total_count"], 2);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["data"][0]["name"], "Alpha Two", "newest first");
    let (_, page2) = call(
        &mut c,
        Method::Get,
        "/v1/organizations?query=alpha&limit=1&offset=1",
        None,
    );
    assert_eq!(page2["data"][0]["name"], "Alpha");
    let (status, body) = call(&mut c, Method::Get, "/v1/organizations?limit=abc", None);
    assert_clerk_error(status, &body, 422, "form_param_format_invalid");
}

#[test]
fn user_org_list_shows_memberships() {
    let mut c = clerk();
    let owner = new_user(&mut c, "owner@example.com");
    let member = new_user(&mut c, "member@example.com");
    let (_, org) = new_org(&mut c, json!({"name": "Team", "created_by": owner}));
    let org_id = org["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(user_org_ids(&mut c, &owner), vec![org_id.clone()]);
    assert!(user_org_ids(&mut c, &member).is_empty());
    let path = format!("/v1/organizations/{org_id}/memberships");
    let (status, m) = call(
        &mut c,
        Method::Post,
        &path,
        Some(json!({"user_id": member, "role": "org:member"})),
    );
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["object"], "organization_membership");
    assert_eq!(m["public_user_data"]["identifier"], "member@example.com");
    assert_eq!(user_org_ids(&mut c, &member), vec![org_id.clone()]);
    let (status, again) = call(
        &mut c,
        Method::Post,
        &path,
        Some(json!({"user_id": member, "role": "org:member"})),
    );
    assert_clerk_error(status, &again, 422, "already_a_member_in_organization");
    let (_, list) = call(&mut c, Method::Get, &path, None);
    assert_eq!(list["total_count"], 2);
    let roles: Vec<&str> = list["data"]
        .as_array()
        .map(|items| items.iter().filter_map(|m| m["role"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(roles, vec!["org:member", "org:admin"]);
    let events = c.drain_new_events();
    assert!(event_types(&events).contains(&"organization.created"));
    assert_eq!(
        event_types(&events)
            .iter()
            .filter(|t| **t == "organizationMembership.created")
            .count(),
        2
    );
    // Removing the membership removes the org from the user's list.
    let (status, _) = call(&mut c, Method::Delete, &format!("{path}/{member}"), None);
    assert_eq!(status, 200);
    assert!(user_org_ids(&mut c, &member).is_empty());
    assert_eq!(
        event_types(&c.drain_new_events()),
        vec!["organizationMembership.deleted"]
    );
}

#[test]
fn deleting_org_deletes_memberships() {
    let mut c = clerk();
    let owner = new_user(&mut c, "owner@example.com");
    let (_, org) = new_org(&mut c, json!({"name": "Team", "created_by": owner}));
    let org_id = org["id"].as_str().unwrap_or_default().to_string();
    c.drain_new_events();
    let (status, deleted) = call(
        &mut c,
        Method::Delete,
        &format!("/v1/organizations/{org_id}"),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        deleted,
        json!({"object": "organization", "id": org_id, "deleted": true})
    );
    assert!(c.snapshot().memberships.is_empty());
    assert!(user_org_ids(&mut c, &owner).is_empty());
    let (status, body) = call(&mut c, Method::Get, &format!("/v1/organizations/{org_id}"), None);
    assert_clerk_error(status, &body, 404, "resource_not_found");
    assert_eq!(event_types(&c.drain_new_events()), vec!["organization.deleted"]);
}

// ---- users -----------------------------------------------------------------------------

#[test]
fn clerk_user_lifecycle() {
    let mut c = clerk();
    let body = json!({
        "email_address": ["Ann@Example.com"], "first_name": "Ann", "external_id": "ext-1",
        "public_metadata": {"plan": "pro"},
    });
    let (status, user) = call(&mut c, Method::Post, "/v1/users", Some(body));
    assert_eq!(status, 200, "{user}");
    let id = user["id"].as_str().unwrap_or_default().to_string();
    assert!(id.starts_with("user_"));
    assert_eq!(user["object"], "user");
    assert_eq!(user["email_addresses"][0]["email_address"], "ann@example.com");
    assert_eq!(user["primary_email_address_id"], user["email_addresses"][0]["id"]);
    let (_, got) = call(&mut c, Method::Get, &format!("/v1/users/{id}"), None);
    assert_eq!(got, user);
    let (_, found) = call(
        &mut c,
        Method::Get,
        "/v1/users?email_address=ANN%40Example.COM",
        None,
    );
    assert_eq!(
        found.as_array().map(Vec::len),
        Some(1),
        "a plain array, case-insensitive match"
    );
    let (_, none) = call(
        &mut c,
        Method::Get,
        "/v1/users?email_address=nobody%40example.com",
        None,
    );
    assert_eq!(none, json!([]));
    let (status, deleted) = call(&mut c, Method::Delete, &format!("/v1/users/{id}"), None);
    assert_eq!((status, &deleted["deleted"]), (200, &json!(true)));
    let (status, body) = call(&mut c, Method::Get, &format!("/v1/users/{id}"), None);
    assert_clerk_error(status, &body, 404, "resource_not_found");
    let events = c.drain_new_events();
    assert_eq!(event_types(&events), vec!["user.created", "user.deleted"]);
    assert_eq!(events[0].data["id"], json!(id));
}

#[test]
fn clerk_user_emails_are_unique_422() {
    let mut c = clerk();
    new_user(&mut c, "a@example.com");
    let (status, body) = call(
        &mut c,
        Method::Post,
        "/v1/users",
        Some(json!({"email_address": ["A@example.com"]})),
    );
    assert_clerk_error(status, &body, 422, "form_identifier_exists");
    let (status, body) = call(
        &mut c,
        Method::Post,
        "/v1/users",
        Some(json!({"email_address": ["not-an-email"]})),
    );
    assert_clerk_error(status, &body, 422, "form_param_format_invalid");
    assert_eq!(c.snapshot().users.len(), 1);
}

#[test]
fn deleting_user_deletes_memberships() {
    let mut c = clerk();
    let owner = new_user(&mut c, "owner@example.com");
    let (_, org) = new_org(&mut c, json!({"name": "Team", "created_by": owner}));
    c.drain_new_events();
    assert_eq!(
        call(&mut c, Method::Delete, &format!("/v1/users/{owner}"), None).0,
        200
    );
    assert!(c.snapshot().memberships.is_empty());
    assert_eq!(c.snapshot().organizations.len(), 1, "the org itself stays");
    let (_, list) = call(
        &mut c,
        Method::Get,
        &format!(
            "/v1/organizations/{}/memberships",
            org["id"].as_str().unwrap_or("")
        ),
        None,
    );
    assert_eq!(list["total_count"], 0);
    assert_eq!(
        event_types(&c.drain_new_events()),
        vec!["organizationMembership.deleted", "user.deleted"]
    );
}

// ---- metadata ----------------------------------------------------------------------------

#[test]
fn metadata_is_deep_merged() {
    let mut c = clerk();
    let id = new_user(&mut c, "a@example.com");
    let path = format!("/v1/users/{id}/metadata");
    let first = json!({"public_metadata": {"org": {"plan": "pro", "seats": 3}, "x": 1}, "private_metadata": {"s": 1}});
    assert_eq!(call(&mut c, Method::Patch, &path, Some(first)).0, 200);
    let second = json!({"public_metadata": {"org": {"seats": null, "id": "org_1"}, "x": null}});
    let (status, user) = call(&mut c, Method::Patch, &path, Some(second));
    assert_eq!(status, 200);
    assert_eq!(
        user["public_metadata"],
        json!({"org": {"plan": "pro", "id": "org_1"}})
    );
    assert_eq!(user["private_metadata"], json!({"s": 1}), "untouched when absent");
    let (status, body) = call(
        &mut c,
        Method::Patch,
        &path,
        Some(json!({"public_metadata": [1]})),
    );
    assert_clerk_error(status, &body, 422, "form_param_format_invalid");
}

#[test]
fn metadata_is_last_writer_wins() {
    // Seed 000 option 3: a "creating" flag in metadata, checked then set, as a lock.
    let mut c = clerk();
    let id = new_user(&mut c, "a@example.com");
    let user_path = format!("/v1/users/{id}");
    let meta_path = format!("{user_path}/metadata");
    // Both writers read: no flag.
    let (_, seen_by_a) = call(&mut c, Method::Get, &user_path, None);
    let (_, seen_by_b) = call(&mut c, Method::Get, &user_path, None);
    assert!(seen_by_a["public_metadata"]["creating"].is_null());
    assert!(seen_by_b["public_metadata"]["creating"].is_null());
    // Both write their flag; both writes succeed, each response shows its own flag.
    let (sa, after_a) = call(
        &mut c,
        Method::Patch,
        &meta_path,
        Some(json!({"public_metadata": {"creating": "tab-a"}})),
    );
    let (sb, after_b) = call(
        &mut c,
        Method::Patch,
        &meta_path,
        Some(json!({"public_metadata": {"creating": "tab-b"}})),
    );
    assert_eq!((sa, sb), (200, 200));
    assert_eq!(
        after_a["public_metadata"]["creating"], "tab-a",
        "writer A thinks it won"
    );
    assert_eq!(
        after_b["public_metadata"]["creating"], "tab-b",
        "writer B thinks it won"
    );
    // Both go on to create the org: two orgs. The last write is what remains.
    assert_eq!(new_org(&mut c, json!({"name": "Team", "created_by": id})).0, 200);
    assert_eq!(new_org(&mut c, json!({"name": "Team", "created_by": id})).0, 200);
    assert_eq!(user_org_ids(&mut c, &id).len(), 2);
    let (_, last) = call(&mut c, Method::Get, &user_path, None);
    assert_eq!(last["public_metadata"]["creating"], "tab-b");
}

#[test]
fn user_update_replaces_metadata() {
    let mut c = clerk();
    let id = new_user(&mut c, "a@example.com");
    call(
        &mut c,
        Method::Patch,
        &format!("/v1/users/{id}/metadata"),
        Some(json!({"public_metadata": {"a": 1, "b": 2}})),
    );
    let (status, user) = call(
        &mut c,
        Method::Patch,
        &format!("/v1/users/{id}"),
        Some(json!({"public_metadata": {"c": 3}, "first_name": "Z"})),
    );
    assert_eq!(status, 200);
    assert_eq!(user["public_metadata"], json!({"c": 3}));
    assert_eq!(user["first_name"], "Z");
}

#[test]
fn org_metadata_is_deep_merged() {
    let mut c = clerk();
    let (_, org) = new_org(
        &mut c,
        json!({"name": "T", "public_metadata": {"plan": "pro", "n": {"a": 1}}}),
    );
    let path = format!("/v1/organizations/{}/metadata", org["id"].as_str().unwrap_or(""));
    let (status, org) = call(
        &mut c,
        Method::Patch,
        &path,
        Some(json!({"public_metadata": {"n": {"b": 2}, "plan": null}})),
    );
    assert_eq!(status, 200);
    assert_eq!(org["public_metadata"], json!({"n": {"a": 1, "b": 2}}));
    let path = format!("/v1/organizations/{}", org["id"].as_str().unwrap_or(""));
    let (_, org) = call(
        &mut c,
        Method::Patch,
        &path,
        Some(json!({"public_metadata": {"only": true}})),
    );
    assert_eq!(
        org["public_metadata"],
        json!({"only": true}),
        "plain update replaces"
    );
}

// ---- rate limits and faults -------------------------------------------------------------

#[test]
fn rate_limit_429_has_retry_after() {
    let mut c = clerk();
    let rule = ClerkFaultKind::RateLimited { retry_after_secs: 7 };
    assert!(c
        .faults_mut()
        .fail_next(Some(Method::Post), "/v1/organizations", 2, rule)
        .is_ok());
    for _ in 0..2 {
        let response = c.handle(
            at(1),
            &request(Method::Post, "/v1/organizations", Some(json!({"name": "T"}))),
        );
        assert_eq!(response.header("Retry-After"), Some("7"));
        assert_clerk_error(response.status, &response.body_json(), 429, "too_many_requests");
    }
    assert!(c.snapshot().organizations.is_empty(), "a 429 does not execute");
    let (status, _) = new_org(&mut c, json!({"name": "T"}));
    assert_eq!(status, 200, "the rule is used up");
}

#[test]
fn rate_limit_quota_per_window() {
    let config = ClerkConfig {
        rate_limits: Some(RateLimits::legacy()),
        ..ClerkConfig::default()
    };
    let mut c = Clerk::new(1, config);
    let create = |i: usize| {
        request(
            Method::Post,
            "/v1/users",
            Some(json!({"email_address": [format!("u{i}@example.com")]})),
        )
    };
    let start = SimTime::EPOCH + Duration::from_millis(2_500);
    for i in 0..20 {
        assert_eq!(c.handle(start, &create(i)).status, 200);
    }
    let limited = c.handle(start, &create(20));
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.header("Retry-After"),
        Some("8"),
        "7.5 s left in the 10 s window, rounded up"
    );
    assert_eq!(
        c.handle(start, &request(Method::Get, "/v1/users", None)).status,
        200,
        "other routes still allowed"
    );
    let next_window = SimTime::EPOCH + Duration::from_secs(10);
    assert_eq!(c.handle(next_window, &create(21)).status, 200);
    assert_eq!(RateLimits::development_instance().max_requests_per_window, 100);
    assert_eq!(RateLimits::production_instance().max_requests_per_window, 1000);
}

#[test]
fn fault_server_error_does_not_execute() {
    let mut c = clerk();
    assert!(c
        .faults_mut()
        .fail_next(None, "/v1/users", 1, ClerkFaultKind::ServerError)
        .is_ok());
    let (status, body) = call(
        &mut c,
        Method::Post,
        "/v1/users",
        Some(json!({"email_address": ["a@example.com"]})),
    );
    assert_clerk_error(status, &body, 500, "internal_clerk_error");
    assert!(c.snapshot().users.is_empty());
    assert!(c.drain_new_events().is_empty());
}

#[test]
fn fault_commit_then_drop_executes() {
    let mut c = clerk();
    assert!(c
        .faults_mut()
        .fail_next(
            Some(Method::Post),
            "/v1/organizations",
            1,
            ClerkFaultKind::CommitThenDropResponse
        )
        .is_ok());
    let response = c.handle(
        at(1),
        &request(Method::Post, "/v1/organizations", Some(json!({"name": "T"}))),
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header(DROP_RESPONSE_HEADER), Some("true"));
    assert_eq!(c.snapshot().organizations.len(), 1, "committed");
    // The client retries (no idempotency key in Clerk): a second org.
    let retry = c.handle(
        at(2),
        &request(Method::Post, "/v1/organizations", Some(json!({"name": "T"}))),
    );
    assert_eq!(retry.header(DROP_RESPONSE_HEADER), None);
    assert_eq!(c.snapshot().organizations.len(), 2);
}

// ---- billing -----------------------------------------------------------------------------

#[test]
fn billing_subscription_created_event() {
    let mut c = clerk();
    let user = new_user(&mut c, "payer@example.com");
    c.drain_new_events();
    let body = json!({"payer_user_id": user, "plan_slug": "team_pro"});
    let (status, sub) = call(
        &mut c,
        Method::Post,
        "/v1/test_helpers/billing/subscriptions",
        Some(body),
    );
    assert_eq!(status, 200, "{sub}");
    assert_eq!(sub["object"], "commerce_subscription");
    assert_eq!(sub["status"], "active");
    let events = c.drain_new_events();
    assert_eq!(
        event_types(&events),
        vec![
            "subscription.created",
            "subscriptionItem.created",
            "subscriptionItem.active",
            "subscription.active"
        ]
    );
    let created = events[0].payload();
    assert_eq!(created["type"], "subscription.created");
    assert_eq!(created["object"], "event");
    assert_eq!(created["instance_id"], c.instance_id());
    assert_eq!(created["data"]["payer"]["user_id"], json!(user));
    assert_eq!(created["data"]["payer"]["email"], "payer@example.com");
    assert_eq!(created["data"]["items"][0]["plan"]["slug"], "team_pro");
    assert_eq!(created["data"]["items"][0]["status"], "active");
    assert!(events.iter().all(|e| e.id.starts_with("msg_")));
    let (status, got) = call(
        &mut c,
        Method::Get,
        &format!("/v1/users/{user}/billing/subscription"),
        None,
    );
    assert_eq!((status, &got["id"]), (200, &sub["id"]));
    // Org payers too.
    let (_, org) = new_org(&mut c, json!({"name": "T", "created_by": user}));
    let org_payer = BillingPayerRef::Organization(org["id"].as_str().unwrap_or("").to_string());
    let sub = c.create_billing_subscription(at(2), org_payer, "team_pro");
    assert!(sub.is_ok());
    let unknown = json!({"payer_user_id": "user_nope", "plan_slug": "x"});
    let (status, body) = call(
        &mut c,
        Method::Post,
        "/v1/test_helpers/billing/subscriptions",
        Some(unknown),
    );
    assert_clerk_error(status, &body, 404, "resource_not_found");
}

#[test]
fn billing_past_due_and_plan_change_events() {
    let mut c = clerk();
    let user = new_user(&mut c, "payer@example.com");
    let sub = c.create_billing_subscription(at(1), BillingPayerRef::User(user.clone()), "free");
    let sub_id = sub.map(|s| s.id).unwrap_or_default();
    c.drain_new_events();
    let (status, body) = call(
        &mut c,
        Method::Post,
        &format!("/v1/test_helpers/billing/subscriptions/{sub_id}/past_due"),
        None,
    );
    assert_eq!((status, &body["status"]), (200, &json!("past_due")));
    assert_eq!(
        event_types(&c.drain_new_events()),
        vec!["subscriptionItem.pastDue", "subscription.pastDue"]
    );
    let (status, body) = call(
        &mut c,
        Method::Post,
        &format!("/v1/test_helpers/billing/subscriptions/{sub_id}/plan"),
        Some(json!({"plan_slug": "pro"})),
    );
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["status"], "canceled");
    assert_eq!(body["items"][1]["plan"]["slug"], "pro");
    assert_eq!(
        event_types(&c.drain_new_events()),
        vec![
            "subscriptionItem.canceled",
            "subscriptionItem.created",
            "subscriptionItem.active",
            "subscription.updated",
            "subscription.active"
        ]
    );
    assert_eq!(
        c.snapshot().billing_subscriptions.len(),
        1,
        "one subscription per payer"
    );
}

// ---- bad input ---------------------------------------------------------------------------

#[test]
fn malformed_json_is_400() {
    let mut c = clerk();
    let req = request(Method::Post, "/v1/organizations", None).with_body(b"{\"name\": ".to_vec());
    let response = c.handle(at(1), &req);
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    assert_clerk_error(response.status, &response.body_json(), 400, "malformed_request");
    let req = request(Method::Post, "/v1/organizations", Some(json!(["name"])));
    let response = c.handle(at(1), &req);
    assert_clerk_error(response.status, &response.body_json(), 400, "malformed_request");
}

#[test]
fn unknown_id_is_404() {
    let mut c = clerk();
    for path in [
        "/v1/users/user_nope",
        "/v1/organizations/org_nope",
        "/v1/users/user_nope/organization_memberships",
    ] {
        let (status, body) = call(&mut c, Method::Get, path, None);
        assert_clerk_error(status, &body, 404, "resource_not_found");
    }
    let (status, body) = new_org(&mut c, json!({"name": "T", "created_by": "user_nope"}));
    assert_clerk_error(status, &body, 404, "resource_not_found");
    assert!(c.snapshot().organizations.is_empty());
}

#[test]
fn unknown_route_is_404() {
    let mut c = clerk();
    for path in ["/v1/nothing", "/v2/users", "/", "/v1/users/x/y/z"] {
        let (status, body) = call(&mut c, Method::Get, path, None);
        assert_clerk_error(status, &body, 404, "resource_not_found");
    }
}

#[test]
fn missing_auth_is_401() {
    let mut c = clerk();
    for auth in [
        None,
        Some("Bearer pk_test_abc"),
        Some("sk_test_abc"),
        Some("Bearer sk_test_"),
    ] {
        let mut req = HttpRequest::new(Method::Get, "/v1/users");
        if let Some(value) = auth {
            req = req.with_header("Authorization", value);
        }
        let response = c.handle(at(1), &req);
        assert_clerk_error(
            response.status,
            &response.body_json(),
            401,
            "authentication_invalid",
        );
    }
    // With a configured key, only that key is accepted.
    let config = ClerkConfig {
        secret_key: Some("sk_test_right".to_string()),
        ..ClerkConfig::default()
    };
    let mut c = Clerk::new(1, config);
    let wrong =
        HttpRequest::new(Method::Get, "/v1/users").with_header("Authorization", "Bearer sk_test_wrong");
    assert_eq!(c.handle(at(1), &wrong).status, 401);
    let right =
        HttpRequest::new(Method::Get, "/v1/users").with_header("authorization", "Bearer sk_test_right");
    assert_eq!(c.handle(at(1), &right).status, 200);
}

#[test]
fn missing_name_is_422() {
    let mut c = clerk();
    let (status, body) = new_org(&mut c, json!({"slug": "a"}));
    assert_clerk_error(status, &body, 422, "form_param_missing");
    assert_eq!(body["errors"][0]["meta"]["param_name"], "name");
    let (status, body) = new_org(&mut c, json!({"name": 5}));
    assert_clerk_error(status, &body, 422, "form_param_format_invalid");
}

// ---- Svix --------------------------------------------------------------------------------

// The test vector from Svix's documentation, recomputed with Python's standard library:
//   python3 -c 'import hmac,hashlib,base64
//   key=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
//   msg=b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}"
//   print("v1,"+base64.b64encode(hmac.new(key,msg,hashlib.sha256).digest()).decode())'
// which prints the constant below.
const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_TS: u64 = 1_614_265_330;
const VECTOR_BODY: &[u8] = b"{\"test\": 2432232314}";
const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn verify_vector(body: &[u8], signature: &str, now_secs: u64) -> Result<(), SvixError> {
    svix::verify(
        VECTOR_SECRET,
        (Some(VECTOR_ID), Some("1614265330"), Some(signature)),
        body,
        now_secs,
    )
}

#[test]
fn svix_test_vector() {
    assert_eq!(
        svix::sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY),
        VECTOR_SIGNATURE
    );
    assert_eq!(verify_vector(VECTOR_BODY, VECTOR_SIGNATURE, VECTOR_TS), Ok(()));
    assert_eq!(
        verify_vector(VECTOR_BODY, VECTOR_SIGNATURE, VECTOR_TS + 300),
        Ok(()),
        "5 min is within tolerance"
    );
    assert_eq!(
        verify_vector(VECTOR_BODY, VECTOR_SIGNATURE, VECTOR_TS - 300),
        Ok(())
    );
}

#[test]
fn svix_rejects_changed_byte() {
    let mut body = VECTOR_BODY.to_vec();
    body[10] ^= 1;
    assert_eq!(
        verify_vector(&body, VECTOR_SIGNATURE, VECTOR_TS),
        Err(SvixError::BadSignature)
    );
    let wrong_id = svix::verify(
        VECTOR_SECRET,
        (Some("msg_other"), Some("1614265330"), Some(VECTOR_SIGNATURE)),
        VECTOR_BODY,
        VECTOR_TS,
    );
    assert_eq!(wrong_id, Err(SvixError::BadSignature));
    let other_secret = svix::encode_secret(b"another key of some length");
    let wrong_secret = svix::verify(
        &other_secret,
        (Some(VECTOR_ID), Some("1614265330"), Some(VECTOR_SIGNATURE)),
        VECTOR_BODY,
        VECTOR_TS,
    );
    assert_eq!(wrong_secret, Err(SvixError::BadSignature));
}

#[test]
fn svix_rejects_stale_timestamp() {
    assert_eq!(
        verify_vector(VECTOR_BODY, VECTOR_SIGNATURE, VECTOR_TS + 301),
        Err(SvixError::TimestampTooOld)
    );
}

#[test]
fn svix_rejects_future_timestamp() {
    assert_eq!(
        verify_vector(VECTOR_BODY, VECTOR_SIGNATURE, VECTOR_TS - 301),
        Err(SvixError::TimestampTooNew)
    );
}

#[test]
fn svix_rejects_missing_header_and_bad_secret() {
    let missing = svix::verify(
        VECTOR_SECRET,
        (Some(VECTOR_ID), None, Some(VECTOR_SIGNATURE)),
        VECTOR_BODY,
        VECTOR_TS,
    );
    assert_eq!(missing, Err(SvixError::MissingHeader));
    let bad = svix::verify(
        "whsec_not*base64",
        (Some(VECTOR_ID), Some("1"), Some("v1,x")),
        VECTOR_BODY,
        1,
    );
    assert_eq!(bad, Err(SvixError::BadSecret));
    assert_eq!(
        svix::try_sign("whsec_%%%", "m", 1, b""),
        Err(SvixError::BadSecret)
    );
    let not_number = svix::verify(
        VECTOR_SECRET,
        (Some(VECTOR_ID), Some("soon"), Some(VECTOR_SIGNATURE)),
        VECTOR_BODY,
        1,
    );
    assert_eq!(not_number, Err(SvixError::InvalidTimestamp));
}

#[test]
fn svix_accepts_any_of_several_signatures() {
    let header = format!("v1,AAAA v2,zzz {VECTOR_SIGNATURE}");
    assert_eq!(verify_vector(VECTOR_BODY, &header, VECTOR_TS), Ok(()));
    assert_eq!(
        verify_vector(VECTOR_BODY, "v1,AAAA v1,BBBB", VECTOR_TS),
        Err(SvixError::BadSignature)
    );
}

#[test]
fn svix_retry_schedule() {
    let delays: Vec<u64> = (0..9)
        .filter_map(svix::attempt_delay)
        .map(|d| d.as_secs())
        .collect();
    assert_eq!(delays, vec![0, 5, 300, 1800, 7200, 18000, 36000, 36000]);
    assert_eq!(
        svix::attempt_delay(8),
        None,
        "Svix gives up after the eighth attempt"
    );
}

#[test]
fn webhook_secret_is_deterministic_whsec() {
    let a = Clerk::new(42, ClerkConfig::default());
    let b = Clerk::new(42, ClerkConfig::default());
    let other = Clerk::new(43, ClerkConfig::default());
    assert_eq!(a.webhook_secret(), b.webhook_secret());
    assert_ne!(a.webhook_secret(), other.webhook_secret());
    assert!(a.webhook_secret().starts_with("whsec_"));
    assert_eq!(
        svix::decode_secret(a.webhook_secret()).map(|key| key.len()),
        Ok(24)
    );
}

#[test]
fn event_payload_verifies() {
    let mut c = clerk();
    new_user(&mut c, "a@example.com");
    let events = c.drain_new_events();
    let event = &events[0];
    let attempt_secs = at(60).unix_secs();
    let delivery = HttpRequest::new(Method::Post, "/api/webhooks/clerk").with_body(event.payload_bytes());
    let delivery = event
        .svix_headers(c.webhook_secret(), attempt_secs)
        .into_iter()
        .fold(delivery, |req, (name, value)| req.with_header(name, value));
    assert_eq!(delivery.header("svix-id"), Some(event.id.as_str()));
    assert_eq!(
        svix::verify_request(c.webhook_secret(), &delivery, attempt_secs),
        Ok(())
    );
    assert_eq!(
        svix::verify_request(c.webhook_secret(), &delivery, attempt_secs + 301),
        Err(SvixError::TimestampTooOld)
    );
    let body: Value = serde_json::from_slice(&delivery.body).unwrap_or(Value::Null);
    assert_eq!(body["type"], "user.created");
    assert_eq!(body["timestamp"], json!(at(1).unix_ms()));
    assert!(c.drain_new_events().is_empty(), "drained once");
}

// ---- determinism and robustness ----------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    CreateUser(u8),
    CreateOrg {
        name: u8,
        slug: Option<u8>,
        creator: Option<u8>,
    },
    AddMember {
        org: u8,
        user: u8,
        admin: bool,
    },
    PatchMeta {
        user: u8,
        key: u8,
        value: Option<u8>,
    },
    DeleteUser(u8),
    DeleteOrg(u8),
    ListUserOrgs(u8),
    Subscribe {
        user: u8,
        plan: u8,
    },
    Fault(u8),
    Advance(u16),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..5).prop_map(Op::CreateUser),
        (0u8..3, proptest::option::of(0u8..3), proptest::option::of(0u8..8))
            .prop_map(|(name, slug, creator)| Op::CreateOrg { name, slug, creator }),
        (0u8..8, 0u8..8, any::<bool>()).prop_map(|(org, user, admin)| Op::AddMember { org, user, admin }),
        (0u8..8, 0u8..3, proptest::option::of(0u8..3)).prop_map(|(user, key, value)| Op::PatchMeta {
            user,
            key,
            value
        }),
        (0u8..8).prop_map(Op::DeleteUser),
        (0u8..8).prop_map(Op::DeleteOrg),
        (0u8..8).prop_map(Op::ListUserOrgs),
        (0u8..8, 0u8..2).prop_map(|(user, plan)| Op::Subscribe { user, plan }),
        (0u8..3).prop_map(Op::Fault),
        (0u16..5000).prop_map(Op::Advance),
    ]
}

fn pick(ids: &[String], index: u8) -> String {
    if ids.is_empty() {
        return "missing".to_string();
    }
    ids[usize::from(index) % ids.len()].clone()
}

/// Runs `ops` on a fresh instance; returns every response and the final snapshot as JSON.
fn run(seed: u64, ops: &[Op]) -> (Vec<HttpResponse>, String, Vec<ClerkEventRecord>) {
    let config = ClerkConfig {
        rate_limits: Some(RateLimits::legacy()),
        ..ClerkConfig::default()
    };
    let mut c = Clerk::new(seed, config);
    let mut now = SimTime::EPOCH;
    let mut responses = Vec::new();
    for op in ops {
        let snap = c.snapshot();
        let users: Vec<String> = snap.users.iter().map(|u| u.id.clone()).collect();
        let orgs: Vec<String> = snap.organizations.iter().map(|o| o.id.clone()).collect();
        let req = match op {
            Op::CreateUser(i) => request(
                Method::Post,
                "/v1/users",
                Some(json!({"email_address": [format!("u{i}@x.com")]})),
            ),
            Op::CreateOrg { name, slug, creator } => {
                let mut body = json!({"name": format!("Team {name}")});
                if let Some(slug) = slug {
                    body["slug"] = json!(format!("slug-{slug}"));
                }
                if let Some(creator) = creator {
                    body["created_by"] = json!(pick(&users, *creator));
                }
                request(Method::Post, "/v1/organizations", Some(body))
            }
            Op::AddMember { org, user, admin } => request(
                Method::Post,
                &format!("/v1/organizations/{}/memberships", pick(&orgs, *org)),
                Some(
                    json!({"user_id": pick(&users, *user), "role": if *admin { "org:admin" } else { "org:member" }}),
                ),
            ),
            Op::PatchMeta { user, key, value } => request(
                Method::Patch,
                &format!("/v1/users/{}/metadata", pick(&users, *user)),
                Some(json!({"public_metadata": {format!("k{key}"): value.map(|v| json!({"v": v}))}})),
            ),
            Op::DeleteUser(i) => request(Method::Delete, &format!("/v1/users/{}", pick(&users, *i)), None),
            Op::DeleteOrg(i) => request(
                Method::Delete,
                &format!("/v1/organizations/{}", pick(&orgs, *i)),
                None,
            ),
            Op::ListUserOrgs(i) => request(
                Method::Get,
                &format!("/v1/users/{}/organization_memberships", pick(&users, *i)),
                None,
            ),
            Op::Subscribe { user, plan } => request(
                Method::Post,
                "/v1/test_helpers/billing/subscriptions",
                Some(json!({"payer_user_id": pick(&users, *user), "plan_slug": format!("plan{plan}")})),
            ),
            Op::Fault(kind) => {
                let kind = match kind {
                    0 => ClerkFaultKind::ServerError,
                    1 => ClerkFaultKind::RateLimited { retry_after_secs: 3 },
                    _ => ClerkFaultKind::CommitThenDropResponse,
                };
                let _ = c.faults_mut().fail_next(None, "/v1/organizations", 1, kind);
                continue;
            }
            Op::Advance(ms) => {
                now = now + Duration::from_millis(u64::from(*ms));
                continue;
            }
        };
        responses.push(c.handle(now, &req));
    }
    let snapshot = serde_json::to_string(&c.snapshot()).unwrap_or_default();
    (responses, snapshot, c.drain_new_events())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proptest_same_seed_same_run(seed in any::<u64>(), ops in proptest::collection::vec(op_strategy(), 0..60)) {
        let first = run(seed, &ops);
        let second = run(seed, &ops);
        prop_assert_eq!(&first.0, &second.0);
        prop_assert_eq!(&first.1, &second.1);
        prop_assert_eq!(&first.2, &second.2);
        // Invariants that hold after any sequence: slugs unique, memberships point at live objects.
        let snap: Value = serde_json::from_str(&first.1).unwrap_or(Value::Null);
        let slugs: Vec<&str> = snap["organizations"].as_array().map(|orgs| orgs.iter().filter_map(|o| o["slug"].as_str()).collect()).unwrap_or_default();
        let unique: std::collections::BTreeSet<&str> = slugs.iter().copied().collect();
        prop_assert_eq!(slugs.len(), unique.len());
        for response in &first.0 {
            prop_assert!(response.status == 200 || response.body_json()["errors"][0]["code"].is_string());
        }
    }

    #[test]
    fn proptest_arbitrary_requests_never_panic(
        method in 0u8..4,
        path in "(/v1/(users|organizations|test_helpers/billing/subscriptions)?(/[a-z_%0-9?=&.-]{0,12}){0,4})|.{0,40}",
        body in proptest::collection::vec(any::<u8>(), 0..200),
        json_body in proptest::option::of("\\{\"(name|slug|email_address|user_id|role|public_metadata|plan_slug|payer_user_id)\": ?(\"[a-z@.-]{0,8}\"|[0-9]{1,3}|null|\\[\\]|\\{\\}|true)\\}"),
        auth in any::<bool>(),
    ) {
        let mut c = clerk();
        let user = new_user(&mut c, "a@example.com");
        let _ = new_org(&mut c, json!({"name": "T", "created_by": user, "slug": "t"}));
        let method = [Method::Get, Method::Post, Method::Patch, Method::Delete][usize::from(method)];
        let mut req = HttpRequest::new(method, path).with_body(json_body.map(String::into_bytes).unwrap_or(body));
        if auth {
            req = req.with_header("Authorization", format!("Bearer {KEY}"));
        }
        let response = c.handle(at(5), &req);
        prop_assert!((200..600).contains(&response.status));
        prop_assert!(response.status == 200 || response.body_json()["errors"][0]["code"].is_string());
    }
}

#[test]
fn clerk_state_roundtrips_through_json() {
    let mut c = clerk();
    let user = new_user(&mut c, "a@example.com");
    new_org(&mut c, json!({"name": "T", "created_by": user}));
    let saved = serde_json::to_string(&c).unwrap_or_default();
    let restored: Result<Clerk, _> = serde_json::from_str(&saved);
    assert!(restored.is_ok(), "the full state deserializes");
    let mut restored = restored.unwrap_or_else(|_| clerk());
    assert_eq!(restored.snapshot(), c.snapshot());
    let req = request(Method::Post, "/v1/organizations", Some(json!({"name": "Next"})));
    assert_eq!(restored.handle(at(9), &req), c.handle(at(9), &req));
    assert_eq!(restored.drain_new_events(), c.drain_new_events());
}

#[test]
fn event_log_is_bounded() {
    let config = ClerkConfig {
        max_retained_events: 3,
        ..ClerkConfig::default()
    };
    let mut c = Clerk::new(1, config);
    for i in 0..5 {
        new_user(&mut c, &format!("u{i}@example.com"));
    }
    let events = c.drain_new_events();
    assert_eq!(events.len(), 3, "only the newest are kept");
    assert_eq!(c.events_forgotten_count(), 2);
    assert_eq!(
        events[2].data["email_addresses"][0]["email_address"],
        "u4@example.com"
    );
    let capped = ClerkConfig {
        max_objects: 1,
        ..ClerkConfig::default()
    };
    let mut c = Clerk::new(1, capped);
    new_user(&mut c, "a@example.com");
    let (status, body) = call(
        &mut c,
        Method::Post,
        "/v1/users",
        Some(json!({"email_address": ["b@example.com"]})),
    );
    assert_clerk_error(status, &body, 422, "racehound_capacity_exceeded");
}

/// FIDELITY "Lists and sessions": `GET /v1/users/count` answers the total the list's filters
/// match (the Node SDK's `getUserList` calls it beside the list); it is not a user id.
#[test]
fn clerk_users_count_answers_total_count() {
    let mut clerk = clerk();
    new_user(&mut clerk, "a@example.com");
    new_user(&mut clerk, "b@example.com");
    let (status, body) = call(&mut clerk, Method::Get, "/v1/users/count", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "object": "total_count", "total_count": 2 }));
    let (status, body) = call(
        &mut clerk,
        Method::Get,
        "/v1/users/count?email_address=b@example.com",
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_count"], 1);
    let (status, _) = call(&mut clerk, Method::Post, "/v1/users/count", None);
    assert_eq!(status, 405);
}

/// `PATCH /v1/organizations/{id}/memberships/{user_id}` changes a member's role (the Node
/// SDK's `updateOrganizationMembership`); a non-member is 404, a bad role 422.
#[test]
fn clerk_membership_role_update() {
    let mut c = clerk();
    let owner = new_user(&mut c, "owner@example.com");
    let member = new_user(&mut c, "member@example.com");
    let stranger = new_user(&mut c, "stranger@example.com");
    let (_, org) = new_org(&mut c, json!({"name": "Team", "created_by": owner}));
    let org_id = org["id"].as_str().unwrap_or_default().to_string();
    let members = format!("/v1/organizations/{org_id}/memberships");
    let (status, _) = call(
        &mut c,
        Method::Post,
        &members,
        Some(json!({"user_id": member, "role": "org:member"})),
    );
    assert_eq!(status, 200);
    let path = format!("{members}/{member}");
    let (status, m) = call(&mut c, Method::Patch, &path, Some(json!({"role": "org:admin"})));
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["role"], "org:admin");
    assert_eq!(m["public_user_data"]["user_id"], member.as_str());
    let (status, body) = call(
        &mut c,
        Method::Patch,
        &format!("{members}/{stranger}"),
        Some(json!({"role": "org:admin"})),
    );
    assert_clerk_error(status, &body, 404, "resource_not_found");
    let (status, body) = call(&mut c, Method::Patch, &path, Some(json!({"role": "org:owner"})));
    assert_eq!(status, 422, "{body}");
    let (status, _) = call(&mut c, Method::Post, &path, Some(json!({"role": "org:admin"})));
    assert_eq!(status, 405);
}

/// The organization list carries `members_count` only with `include_members_count=true`, as
/// Clerk's does (an app that reads it without asking gets nothing from the real service).
#[test]
fn clerk_org_list_counts_members_only_when_asked() {
    let mut c = clerk();
    let owner = new_user(&mut c, "owner@example.com");
    new_org(&mut c, json!({"name": "Team", "created_by": owner}));
    let (status, plain) = call(&mut c, Method::Get, "/v1/organizations", None);
    assert_eq!(status, 200, "{plain}");
    assert!(plain["data"][0].get("members_count").is_none(), "{plain}");
    let (status, counted) = call(
        &mut c,
        Method::Get,
        "/v1/organizations?include_members_count=true",
        None,
    );
    assert_eq!(status, 200, "{counted}");
    assert_eq!(counted["data"][0]["members_count"], 1);
}

/// A field the fake does not model (`username`) is refused with a 422 that says so, never
/// dropped silently; the flags that only skip checks the fake never makes are accepted.
#[test]
fn clerk_unmodelled_user_fields_are_refused_not_dropped() {
    let mut c = clerk();
    let (status, body) = call(
        &mut c,
        Method::Post,
        "/v1/users",
        Some(json!({"email_address": ["u@example.com"], "username": "u1"})),
    );
    assert_clerk_error(status, &body, 422, "form_param_unknown");
    let message = body["errors"][0]["long_message"].as_str().unwrap_or_default();
    assert!(message.contains("does not model `username`"), "{message}");
    let (status, user) = call(
        &mut c,
        Method::Post,
        "/v1/users",
        Some(json!({"email_address": ["u@example.com"], "skip_password_checks": true, "username": null})),
    );
    assert_eq!(status, 200, "{user}");
    let id = user["id"].as_str().unwrap_or_default();
    let (status, body) = call(
        &mut c,
        Method::Patch,
        &format!("/v1/users/{id}"),
        Some(json!({"first_name": "U", "password": "hunter22hunter22"})),
    );
    assert_clerk_error(status, &body, 422, "form_param_unknown");
}
