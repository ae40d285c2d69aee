//! The reference team-org code: one [`ensure_team_org`] called from the endpoint, the Clerk
//! Billing webhook and [`reconcile_team_orgs`].
//!
//! Clerk has no idempotency key, but slugs are unique per instance: the slug derived from
//! user and plan (`team-{user}-{plan}`) *is* the idempotency key. The `team_orgs` row is
//! claimed (unique `(user_id, plan)` and unique `slug`) before Clerk is called and the org id
//! stored after with a compare-and-set; whoever loses the create gets `422` and adopts the
//! org by slug. A crash between the create and the store is repaired by the next call (422 →
//! adopt) or by [`reconcile_team_orgs`].

use std::time::Duration;

use crate::app::api::{AppReply, ClerkApi, ClerkError, ClerkOrg, ColumnType, DbConn, Env, Stmt, TableSchema};
use crate::app::kit::{
    clerk_subscription_payer, connect, first_row, org_plan, team_org_params, team_slug, text_col,
    verify_clerk, AppFailure,
};

/// Attempts per Clerk call before giving up.
pub const CLERK_ATTEMPTS_MAX: u32 = 5;

/// First backoff between Clerk attempts; doubles each time.
pub const CLERK_BACKOFF_FIRST: Duration = Duration::from_millis(200);

/// Rows one reconcile sweep repairs at most (the rest wait for the next sweep).
pub const RECONCILE_ORGS_MAX: usize = 1000;

/// The `team_orgs` table: the claim for one team org per user and plan.
pub fn team_orgs_table() -> TableSchema {
    TableSchema::new("team_orgs")
        .column("user_id", ColumnType::Text)
        .column("plan", ColumnType::Text)
        .column("slug", ColumnType::Text)
        .nullable("clerk_org_id", ColumnType::Text)
        .primary_key(&["user_id", "plan"])
        .unique(&["slug"])
}

/// The `clerk_events` table: one row per processed `svix-id`.
pub fn clerk_events_table() -> TableSchema {
    TableSchema::new("clerk_events")
        .column("svix_id", ColumnType::Text)
        .column("event_type", ColumnType::Text)
        .primary_key(&["svix_id"])
}

/// Whether a Clerk error is worth retrying (no answer, 429, 5xx).
pub fn clerk_error_is_transient(error: &ClerkError) -> bool {
    match error {
        ClerkError::Unknown { .. } => true,
        ClerkError::Api { status, .. } => *status == 429 || *status >= 500,
    }
}

/// Creates the org with the deterministic slug, or adopts the one that already holds it.
async fn create_or_adopt<E: Env>(
    env: &E,
    user_id: &str,
    plan: &str,
    slug: &str,
) -> Result<String, AppFailure> {
    let mut backoff = CLERK_BACKOFF_FIRST;
    let mut last_error = None;
    for _attempt in 0..CLERK_ATTEMPTS_MAX {
        let created = env
            .clerk()
            .create_organization(team_org_params(user_id, plan, Some(slug.to_string())))
            .await;
        let error = match created {
            Ok(org) => return Ok(org.id),
            Err(ClerkError::Api { status: 422, .. }) => {
                match env.clerk().get_organization(slug.to_string()).await {
                    Ok(Some(org)) if org_plan(&org) == Some(plan) => {
                        env.note(&format!("slug {slug} taken: adopting {}", org.id));
                        return Ok(org.id);
                    }
                    Ok(Some(org)) => {
                        return Err(AppFailure::Other(format!(
                            "slug {slug} is held by org {} of another plan (hint: rename or delete that org)",
                            org.id
                        )))
                    }
                    // Deleted between the 422 and the read: try again.
                    Ok(None) => ClerkError::Unknown {
                        reason: format!("org with slug {slug} vanished after 422"),
                    },
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        if !clerk_error_is_transient(&error) {
            return Err(error.into());
        }
        env.note(&format!(
            "transient Clerk error, retrying with the same slug: {error}"
        ));
        last_error = Some(error);
        env.sleep(backoff).await;
        backoff *= 2;
    }
    Err(last_error.map_or_else(|| AppFailure::Other("no attempt made".into()), AppFailure::Clerk))
}

/// Reads an org by id or slug, retrying transient failures (no answer, 429, 5xx) with the
/// same back-off as creation, up to [`CLERK_ATTEMPTS_MAX`] attempts: a burst of errors must
/// not end a repair sweep.
async fn get_org_retrying<E: Env>(env: &E, id_or_slug: &str) -> Result<Option<ClerkOrg>, ClerkError> {
    let mut backoff = CLERK_BACKOFF_FIRST;
    let mut attempt = 1;
    loop {
        match env.clerk().get_organization(id_or_slug.to_string()).await {
            Err(error) if clerk_error_is_transient(&error) && attempt < CLERK_ATTEMPTS_MAX => {
                env.note(&format!("transient Clerk error on a read, retrying: {error}"));
                env.sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Returns the user's team org for the plan, creating it exactly once.
///
/// Safe concurrently from any replica and entry point, and after a crash at any step.
pub async fn ensure_team_org<E: Env>(env: &E, user_id: &str, plan: &str) -> Result<String, AppFailure> {
    let mut conn = connect(env).await?;
    // 1. Claim (idempotent): the row exists before Clerk is called.
    conn.execute(
        Stmt::insert(
            "team_orgs",
            &[
                ("user_id", user_id.into()),
                ("plan", plan.into()),
                ("slug", team_slug(user_id, plan).into()),
            ],
        )
        .on_conflict_do_nothing(&[]),
    )
    .await?;
    let claimed = conn
        .execute(Stmt::select("team_orgs").eq("user_id", user_id).eq("plan", plan))
        .await?;
    let Some(row) = first_row(&claimed) else {
        return Err(AppFailure::Other(format!(
            "slug {} is claimed by another user/plan (hint: the slug scheme collides for these ids)",
            team_slug(user_id, plan)
        )));
    };
    if let Some(org_id) = text_col(row, "clerk_org_id") {
        return Ok(org_id);
    }
    let slug = text_col(row, "slug").unwrap_or_else(|| team_slug(user_id, plan));
    // 2. The external call, outside any transaction; the slug makes it idempotent.
    let org_id = create_or_adopt(env, user_id, plan, &slug).await?;
    // 3. Store with compare-and-set; everyone adopts what is stored.
    let stored = conn
        .execute(
            Stmt::update("team_orgs", &[("clerk_org_id", org_id.as_str().into())])
                .eq("user_id", user_id)
                .eq("plan", plan)
                .is_null("clerk_org_id"),
        )
        .await?;
    if stored.affected == 1 {
        return Ok(org_id);
    }
    let current = conn
        .execute(Stmt::select("team_orgs").eq("user_id", user_id).eq("plan", plan))
        .await?;
    first_row(&current)
        .and_then(|r| text_col(r, "clerk_org_id"))
        .ok_or_else(|| AppFailure::Other(format!("team_orgs row of {user_id}/{plan} lost its org id")))
}

/// Handles a Clerk (Svix) webhook: verify, dedupe by `svix-id`, ensure the team org for
/// Clerk Billing's `subscription.created`, then record the event.
///
/// The effect ([`ensure_team_org`]) is idempotent and involves an external call, so it is not
/// inside the transaction that records the event: a crash between the two only makes the
/// redelivery run the idempotent effect again.
pub async fn handle_clerk_webhook<E: Env>(
    env: &E,
    svix_id: &str,
    svix_timestamp: &str,
    svix_signature: &str,
    payload: &[u8],
) -> AppReply {
    let event = match verify_clerk(env, svix_id, svix_timestamp, svix_signature, payload) {
        Ok(event) => event,
        Err(reply) => return reply,
    };
    let result: Result<serde_json::Value, AppFailure> = async {
        let mut conn = connect(env).await?;
        let seen = conn
            .execute(Stmt::select("clerk_events").eq("svix_id", event.svix_id.as_str()))
            .await?;
        if !seen.rows.is_empty() {
            return Ok(serde_json::json!({ "duplicate": event.svix_id }));
        }
        let mut body = serde_json::json!({ "processed": event.svix_id });
        if event.event_type == "subscription.created" {
            match clerk_subscription_payer(&event.data) {
                Some((user_id, plan)) => {
                    let org_id = ensure_team_org(env, &user_id, &plan).await?;
                    body = serde_json::json!({ "processed": event.svix_id, "org_id": org_id });
                }
                // Retrying cannot fix a payload without payer: acknowledge and log.
                None => env.note("subscription.created without payer or plan; acknowledged"),
            }
        }
        conn.execute(
            Stmt::insert(
                "clerk_events",
                &[
                    ("svix_id", event.svix_id.as_str().into()),
                    ("event_type", event.event_type.as_str().into()),
                ],
            )
            .on_conflict_do_nothing(&["svix_id"]),
        )
        .await?;
        Ok(body)
    }
    .await;
    match result {
        Ok(body) => AppReply::ok(body),
        Err(failure) => failure.into_reply(),
    }
}

/// Repairs team orgs: rows whose org id is missing adopt the org holding their slug (or get
/// it created through [`ensure_team_org`]); rows whose stored org was deleted are cleared and
/// ensured again.
pub async fn reconcile_team_orgs<E: Env>(env: &E) -> Result<serde_json::Value, AppFailure> {
    let mut conn = connect(env).await?;
    let rows = conn.execute(Stmt::select("team_orgs")).await?.rows;
    let mut adopted = 0u32;
    let mut recreated = 0u32;
    for row in rows.iter().take(RECONCILE_ORGS_MAX) {
        let (Some(user_id), Some(plan), Some(slug)) = (
            text_col(row, "user_id"),
            text_col(row, "plan"),
            text_col(row, "slug"),
        ) else {
            continue;
        };
        match text_col(row, "clerk_org_id") {
            None => {
                if let Some(org) = get_org_retrying(env, &slug).await? {
                    let stored = conn
                        .execute(
                            Stmt::update("team_orgs", &[("clerk_org_id", org.id.as_str().into())])
                                .eq("user_id", user_id.as_str())
                                .eq("plan", plan.as_str())
                                .is_null("clerk_org_id"),
                        )
                        .await?;
                    adopted += u32::from(stored.affected == 1);
                } else {
                    ensure_team_org(env, &user_id, &plan).await?;
                    recreated += 1;
                }
            }
            Some(org_id) => {
                if get_org_retrying(env, &org_id).await?.is_none() {
                    env.note(&format!(
                        "reconcile: org {org_id} of {user_id}/{plan} is gone; recreating"
                    ));
                    conn.execute(
                        Stmt::update("team_orgs", &[("clerk_org_id", crate::app::api::Value::Null)])
                            .eq("user_id", user_id.as_str())
                            .eq("plan", plan.as_str())
                            .eq("clerk_org_id", org_id.as_str()),
                    )
                    .await?;
                    ensure_team_org(env, &user_id, &plan).await?;
                    recreated += 1;
                }
            }
        }
    }
    Ok(serde_json::json!({ "adopted": adopted, "recreated": recreated }))
}
