//! The reference signup callback: ensure the profile row and the Stripe customer, and fail
//! loudly (5xx, so the client retries) instead of continuing without them.
//!
//! The fix for seed 001's "Auth callback tries to create customer/profile but continues
//! regardless of success": both steps are idempotent `ensure_*` calls, so a retry — or the
//! checkout that follows — finishes whatever a failure or crash left undone.

use crate::app::api::{ColumnType, DbConn, Env, Stmt, TableSchema};
use crate::app::kit::{connect, select_tenant, AppFailure};

use super::ensure_stripe_customer;

/// The `profiles` table: one row per signed-up user.
pub fn profiles_table() -> TableSchema {
    TableSchema::new("profiles")
        .column("user_id", ColumnType::Text)
        .column("email", ColumnType::Text)
        .primary_key(&["user_id"])
}

/// Creates the user's profile row if missing (`INSERT … ON CONFLICT DO NOTHING`).
///
/// The email comes from the user's `tenants` row (seeded for every scenario user).
pub async fn ensure_profile<E: Env>(env: &E, user_id: &str) -> Result<(), AppFailure> {
    let mut conn = connect(env).await?;
    let tenant = select_tenant(&mut conn, user_id, false).await?;
    conn.execute(
        Stmt::insert(
            "profiles",
            &[
                ("user_id", user_id.into()),
                ("email", tenant.email.as_str().into()),
            ],
        )
        .on_conflict_do_nothing(&["user_id"]),
    )
    .await?;
    Ok(())
}

/// The auth callback: profile, then customer; any failure is returned (never swallowed).
pub async fn signup<E: Env>(env: &E, user_id: &str) -> Result<serde_json::Value, AppFailure> {
    ensure_profile(env, user_id).await?;
    let customer = ensure_stripe_customer(env, user_id).await?;
    Ok(serde_json::json!({ "redirect": "/dashboard", "customer": customer }))
}
