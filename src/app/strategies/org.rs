//! Seed 000 (`../shared/seeds/000_*.txt`, "Race Condition Analyse & Verbesserungsvorschläge",
//! in German): after a signup with a team plan, the client's `SetPlanAfterSignup` calls
//! `/api/clerk/create-team-org` while Clerk Billing's `subscription.created` webhook arrives;
//! both check whether the user already has an org with that plan and create one if not.
//!
//! The seed keeps organizations only in Clerk (no table), so these strategies have no schema
//! and the oracle's orphan-org check does not apply to them; duplicates are what they show.

use std::time::Duration;

use crate::app::api::{
    AppCall, AppLogic, AppReply, ClerkApi, ClerkError, ClerkOrg, Env, Stmt, TableSchema, UserSpec,
};
use crate::app::kit::{
    clerk_subscription_payer, ignored, org_plan, team_org_params, team_slug, unsupported, verify_clerk,
    AppFailure, POLL_ATTEMPTS_MAX,
};

/// How a seed-000 strategy creates the team org.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrgMode {
    /// List the user's orgs, create if none with the plan.
    CheckThenCreate,
    /// The same, retrying with backoff on an "already exists" error.
    RetryBackoff,
    /// The same, with a deterministic slug `team-{user}-{plan}` (422 when taken).
    Slug,
    /// A "creating" flag in the user's public metadata; others wait for it.
    MetadataFlag,
    /// The endpoint waits for the webhook to create the org before creating it itself.
    WebhookPriority,
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// `/api/clerk/create-team-org` (answers 409 when the org exists).
    Endpoint,
    /// The `subscription.created` webhook (answers 200 when the org exists).
    Webhook,
}

/// `org.check_then_create` — the seed's current code.
///
/// Seed 000, "Aktueller Code-Flow": the API route "prüft: Hat User bereits Organization mit
/// diesem Plan? Wenn NEIN → erstellt Organization" (409 when it exists); the webhook
/// "Durchsucht alle Organizations des Users, prüft auf gleichen Plan" and creates if none.
/// "Wenn beide EXAKT gleichzeitig prüfen … Könnte zu 2 Organizations führen." The seed's belief
/// that "Clerk's createOrganization ist idempotent" is false: Clerk has no idempotency key.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgCheckThenCreate;

/// `org.retry_backoff` — seed 000 "Option 1: Retry-Logik mit Backoff".
///
/// "Wenn Organization-Erstellung fehlschlägt wegen 'already exists' — Retry mit kurzer
/// Verzögerung — Prüfe erneut, ob Organization jetzt existiert." Implemented as check-then-create
/// that, on a 409/422 from Clerk, sleeps (100 ms, doubling, at most [`POLL_ATTEMPTS_MAX`] times)
/// and re-checks. Without a slug Clerk never answers "already exists", so the retry never runs
/// and the race is the same as `org.check_then_create`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgRetryBackoff;

/// `org.idempotency_key` — seed 000 "Option 2: Idempotency Key", in its honest form.
///
/// "Verwende einen eindeutigen Key pro User+Plan Kombination — Clerk könnte das unterstützen
/// (muss geprüft werden)." Clerk has no idempotency keys; the only natural one is the slug,
/// unique per instance. So: check-then-create with slug `team-{user}-{plan}`; a 422 "slug
/// taken" means the other caller won, and is answered like an existing org (409 / 200).
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgIdempotencyKey;

/// `org.metadata_flag` — seed 000 "Option 3: Optimistic Locking".
///
/// "Verwende eine 'creating' Flag in User Metadata — Erste Anfrage setzt Flag, zweite
/// wartet/retry." Reading: check the user's orgs; read the user; if
/// `public_metadata.creating_team_org` names the plan, poll the orgs (100 ms, at most
/// [`POLL_ATTEMPTS_MAX`] times) and, if none appears, treat the flag as stale and go on; else
/// set the flag, create the org, clear the flag. Clerk's metadata PATCH is a last-writer-wins
/// merge with no compare-and-set, so two callers that read "no flag" both set it and both create.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgMetadataFlag;

/// `org.webhook_priority` — seed 000 "Option 4: Priorität setzen" (the seed's recommendation).
///
/// "Webhook hat Priorität (kommt von Clerk Billing) — SetPlanAfterSignup prüft zuerst, ob
/// Webhook bereits Organization erstellt hat." Reading: the webhook does check-then-create; the
/// endpoint polls the user's orgs for a grace period (500 ms, at most 4 polls) waiting for the
/// webhook's org and creates the org itself only if none appeared. A webhook later than the
/// grace period makes a duplicate; the endpoint's fallback is what keeps a lost webhook from
/// leaving the user with no org.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgWebhookPriority;

/// The public-metadata key `org.metadata_flag` uses.
const CREATING_FLAG: &str = "creating_team_org";

/// Polls of the endpoint's grace period in `org.webhook_priority`.
const WEBHOOK_GRACE_POLLS: u32 = 4;

/// The user's org with this plan, if any (`GET /v1/users/{id}/organization_memberships`).
async fn find_org<E: Env>(env: &E, user_id: &str, plan: &str) -> Result<Option<ClerkOrg>, AppFailure> {
    let orgs = env.clerk().list_user_organizations(user_id.to_string()).await?;
    Ok(orgs.into_iter().find(|org| org_plan(org) == Some(plan)))
}

/// Whether a Clerk error says the org (or its slug) already exists.
fn already_exists(error: &ClerkError) -> bool {
    match error {
        ClerkError::Api { status, code, .. } => *status == 409 || *status == 422 || code.contains("exists"),
        ClerkError::Unknown { .. } => false,
    }
}

fn exists_reply(caller: Caller, org: &ClerkOrg) -> AppReply {
    match caller {
        Caller::Endpoint => AppReply {
            status: 409,
            body: serde_json::json!({ "error": "organization with this plan already exists", "org_id": org.id }),
        },
        Caller::Webhook => AppReply::ok(serde_json::json!({ "existing": org.id })),
    }
}

fn exists_reply_unknown(caller: Caller) -> AppReply {
    match caller {
        Caller::Endpoint => AppReply::error(409, "organization with this plan already exists"),
        Caller::Webhook => AppReply::ok(serde_json::json!({ "existing": null })),
    }
}

fn created_reply(org: &ClerkOrg) -> AppReply {
    AppReply::ok(serde_json::json!({ "org_id": org.id, "created": true }))
}

/// Creates the org: `POST /v1/organizations`, with the slug in the slug mode.
async fn create<E: Env>(env: &E, user_id: &str, plan: &str, mode: OrgMode) -> Result<ClerkOrg, ClerkError> {
    let slug = (mode == OrgMode::Slug).then(|| team_slug(user_id, plan));
    env.clerk()
        .create_organization(team_org_params(user_id, plan, slug))
        .await
}

async fn ensure_org<E: Env>(
    env: &E,
    user_id: &str,
    plan: &str,
    mode: OrgMode,
    caller: Caller,
) -> Result<AppReply, AppFailure> {
    if let Some(org) = find_org(env, user_id, plan).await? {
        return Ok(exists_reply(caller, &org));
    }
    match mode {
        OrgMode::CheckThenCreate => Ok(created_reply(&create(env, user_id, plan, mode).await?)),
        OrgMode::Slug => match create(env, user_id, plan, mode).await {
            Ok(org) => Ok(created_reply(&org)),
            Err(error) if already_exists(&error) => {
                env.note(&format!(
                    "slug {} taken: the other caller won",
                    team_slug(user_id, plan)
                ));
                Ok(exists_reply_unknown(caller))
            }
            Err(error) => Err(error.into()),
        },
        OrgMode::RetryBackoff => {
            let mut backoff = Duration::from_millis(100);
            for _attempt in 0..POLL_ATTEMPTS_MAX {
                match create(env, user_id, plan, mode).await {
                    Ok(org) => return Ok(created_reply(&org)),
                    Err(error) if already_exists(&error) => {
                        env.note(&format!(
                            "create said already exists ({error}); retrying after backoff"
                        ));
                        env.sleep(backoff).await;
                        backoff *= 2;
                        if let Some(org) = find_org(env, user_id, plan).await? {
                            return Ok(exists_reply(caller, &org));
                        }
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            Err(AppFailure::Other(format!(
                "organization for {user_id}/{plan} neither created nor found after {POLL_ATTEMPTS_MAX} attempts"
            )))
        }
        OrgMode::MetadataFlag => {
            let user = env.clerk().get_user(user_id.to_string()).await?;
            let flagged = user.public_metadata.get(CREATING_FLAG).and_then(|v| v.as_str()) == Some(plan);
            if flagged {
                env.note("creating flag set by another request; waiting for its org");
                for _poll in 0..POLL_ATTEMPTS_MAX {
                    env.sleep(Duration::from_millis(100)).await;
                    if let Some(org) = find_org(env, user_id, plan).await? {
                        return Ok(exists_reply(caller, &org));
                    }
                }
                env.note("creating flag looks stale; creating anyway");
            }
            env.clerk()
                .update_user_metadata(
                    user_id.to_string(),
                    Some(serde_json::json!({ CREATING_FLAG: plan })),
                    None,
                )
                .await?;
            let created = create(env, user_id, plan, mode).await;
            // Clear the flag whatever happened (a crash here leaves it set: hence the stale check).
            let cleared = env
                .clerk()
                .update_user_metadata(
                    user_id.to_string(),
                    Some(serde_json::json!({ CREATING_FLAG: null })),
                    None,
                )
                .await;
            let org = created?;
            cleared?;
            Ok(created_reply(&org))
        }
        OrgMode::WebhookPriority => {
            if caller == Caller::Endpoint {
                for _poll in 0..WEBHOOK_GRACE_POLLS {
                    env.sleep(Duration::from_millis(500)).await;
                    if let Some(org) = find_org(env, user_id, plan).await? {
                        return Ok(exists_reply(caller, &org));
                    }
                }
                env.note("webhook did not create the org within the grace period; creating it");
            }
            Ok(created_reply(&create(env, user_id, plan, mode).await?))
        }
    }
}

async fn handle_org<E: Env>(env: &E, call: AppCall, mode: OrgMode) -> AppReply {
    let result = match &call {
        AppCall::CreateTeamOrg { user_id, plan } => {
            ensure_org(env, user_id, plan, mode, Caller::Endpoint).await
        }
        AppCall::ClerkWebhook {
            svix_id,
            svix_timestamp,
            svix_signature,
            payload,
        } => {
            let event = match verify_clerk(env, svix_id, svix_timestamp, svix_signature, payload) {
                Ok(event) => event,
                Err(reply) => return reply,
            };
            if event.event_type != "subscription.created" {
                return ignored();
            }
            let Some((user_id, plan)) = clerk_subscription_payer(&event.data) else {
                env.note("subscription.created without payer or plan; ignored");
                return ignored();
            };
            ensure_org(env, &user_id, &plan, mode, Caller::Webhook).await
        }
        AppCall::StripeWebhook { .. } | AppCall::Reconcile => return ignored(),
        AppCall::Signup { .. } | AppCall::Checkout { .. } | AppCall::ApplyCoupon { .. } => {
            return unsupported(&call)
        }
    };
    result.unwrap_or_else(AppFailure::into_reply)
}

macro_rules! org_strategy {
    ($ty:ty, $id:literal, $mode:expr) => {
        impl AppLogic for $ty {
            fn id(&self) -> &str {
                $id
            }

            fn schema(&self) -> Vec<TableSchema> {
                Vec::new()
            }

            fn seed_rows(&self, _users: &[UserSpec]) -> Vec<Stmt> {
                Vec::new()
            }

            async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
                handle_org(env, call, $mode).await
            }
        }
    };
}

org_strategy!(
    OrgCheckThenCreate,
    "org.check_then_create",
    OrgMode::CheckThenCreate
);
org_strategy!(OrgRetryBackoff, "org.retry_backoff", OrgMode::RetryBackoff);
org_strategy!(OrgIdempotencyKey, "org.idempotency_key", OrgMode::Slug);
org_strategy!(OrgMetadataFlag, "org.metadata_flag", OrgMode::MetadataFlag);
org_strategy!(
    OrgWebhookPriority,
    "org.webhook_priority",
    OrgMode::WebhookPriority
);
