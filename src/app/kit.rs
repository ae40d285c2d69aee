//! The kit: the building blocks [`crate::app::reference`] and the strategy catalogue share,
//! public so that a variant of the reference is a few dozen lines, not a copy of it.
//!
//! - the seed-004 `tenants` table ([`tenants_table`], [`tenant_rows`]) and reading a tenant
//!   ([`select_tenant`], [`Tenant`], [`first_row`], [`text_col`]);
//! - the Checkout Session a checkout route returns ([`create_session`], [`checkout_args`]);
//! - failures and replies ([`AppFailure`], [`reply`], [`ignored`], [`unsupported`]);
//! - webhook verification ([`verify_stripe`], [`verify_clerk`]) and Clerk team orgs
//!   ([`team_org_params`], [`team_slug`], [`org_plan`], [`clerk_subscription_payer`]);
//! - small stable helpers ([`fnv1a`], [`call_name`], [`POLL_ATTEMPTS_MAX`]).
//!
//! The reference's own pieces (its idempotency keys, [`ensure_stripe_customer`](crate::app::reference::ensure_stripe_customer),
//! its webhook handlers) are public in [`crate::app::reference`]; a variant usually replaces
//! one of them and hands every other call to [`Reference`](crate::app::reference::Reference).

use crate::app::api::{
    AppReply, CheckoutSessionCreate, ColumnType, Db, DbConn, DbError, Env, Outcome, Row, Stmt, StripeApi,
    StripeError, TableSchema, UserSpec, Value,
};

/// The seed-004 `tenants` table: one row per tenant, `stripe_customer_id` filled on first checkout.
pub fn tenants_table() -> TableSchema {
    TableSchema::new("tenants")
        .column("id", ColumnType::Int)
        .column("owner_user_id", ColumnType::Text)
        .column("email", ColumnType::Text)
        .nullable("stripe_customer_id", ColumnType::Text)
        .primary_key(&["id"])
}

/// One `tenants` row per user, with no Stripe customer yet.
pub fn tenant_rows(users: &[UserSpec]) -> Vec<Stmt> {
    users
        .iter()
        .map(|u| {
            Stmt::insert(
                "tenants",
                &[
                    ("id", Value::Int(u.tenant_id)),
                    ("owner_user_id", u.user_id.as_str().into()),
                    ("email", u.email.as_str().into()),
                ],
            )
        })
        .collect()
}

/// A tenant as the checkout code reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// `tenants.id`
    pub id: i64,
    /// `tenants.email`
    pub email: String,
    /// `tenants.stripe_customer_id`
    pub stripe_customer_id: Option<String>,
}

impl Tenant {
    /// Reads a `tenants` row.
    pub fn from_row(row: &Row) -> Option<Tenant> {
        Some(Tenant {
            id: row.get("id")?.as_int()?,
            email: row.get("email")?.as_text()?.to_string(),
            stripe_customer_id: row
                .get("stripe_customer_id")
                .and_then(|v| v.as_text())
                .map(str::to_string),
        })
    }
}

/// `SELECT * FROM tenants WHERE owner_user_id = $1 [FOR UPDATE]` on an open connection.
pub async fn select_tenant<C: DbConn>(
    conn: &mut C,
    user_id: &str,
    for_update: bool,
) -> Result<Tenant, AppFailure> {
    let stmt = if for_update {
        Stmt::select_for_update("tenants")
    } else {
        Stmt::select("tenants")
    };
    let outcome = conn.execute(stmt.eq("owner_user_id", user_id)).await?;
    first_row(&outcome)
        .and_then(Tenant::from_row)
        .ok_or_else(|| AppFailure::NotFound(format!("tenant of {user_id}")))
}

/// The first returned row, if any.
pub fn first_row(outcome: &Outcome) -> Option<&Row> {
    outcome.rows.first()
}

/// Opens a connection.
pub async fn connect<E: Env>(env: &E) -> Result<<E::Db as Db>::Conn, AppFailure> {
    Ok(env.db().connect().await?)
}

/// Why a handler failed; turned into the HTTP status a Next.js route would return.
#[derive(Debug, Clone, PartialEq)]
pub enum AppFailure {
    /// A database error (500).
    Db(DbError),
    /// A Stripe error (502, or the Stripe status for 4xx).
    Stripe(StripeError),
    /// A Clerk error.
    Clerk(crate::app::api::ClerkError),
    /// A missing row or object (404).
    NotFound(String),
    /// A request the strategy does not serve (404).
    Unsupported(String),
    /// Anything else (500).
    Other(String),
}

impl From<DbError> for AppFailure {
    fn from(e: DbError) -> Self {
        AppFailure::Db(e)
    }
}

impl From<StripeError> for AppFailure {
    fn from(e: StripeError) -> Self {
        AppFailure::Stripe(e)
    }
}

impl From<crate::app::api::ClerkError> for AppFailure {
    fn from(e: crate::app::api::ClerkError) -> Self {
        AppFailure::Clerk(e)
    }
}

impl AppFailure {
    /// The reply an API route would send.
    pub fn into_reply(self) -> AppReply {
        match self {
            AppFailure::Db(e) => AppReply::error(500, format!("database: {e}")),
            AppFailure::Stripe(e) => AppReply::error(502, e.to_string()),
            AppFailure::Clerk(e) => AppReply::error(502, e.to_string()),
            AppFailure::NotFound(what) => AppReply::error(404, format!("not found: {what}")),
            AppFailure::Unsupported(what) => {
                AppReply::error(404, format!("not served by this strategy: {what}"))
            }
            AppFailure::Other(what) => AppReply::error(500, what),
        }
    }
}

/// Turns a handler result into a reply.
pub fn reply(result: Result<serde_json::Value, AppFailure>) -> AppReply {
    match result {
        Ok(body) => AppReply::ok(body),
        Err(failure) => failure.into_reply(),
    }
}

/// Creates the Checkout Session for a customer, with the coupon if one was typed.
///
/// The typed code is used as a Stripe coupon id (`discounts[0][coupon]`); the world creates
/// the coupon `SAVE20` up front.
pub async fn create_session<E: Env>(
    env: &E,
    customer_id: &str,
    user_id: &str,
    price: &str,
    coupon: Option<&str>,
) -> Result<serde_json::Value, AppFailure> {
    let params = CheckoutSessionCreate {
        customer: Some(customer_id.to_string()),
        price: price.to_string(),
        coupon: coupon.map(str::to_string),
        client_reference_id: Some(user_id.to_string()),
        ..Default::default()
    };
    let session = env.stripe().create_checkout_session(params, None).await?;
    Ok(serde_json::json!({ "session_id": session.id, "customer": customer_id }))
}

/// Maximum polls/attempts any strategy makes in a loop (every loop has a limit).
pub const POLL_ATTEMPTS_MAX: u32 = 10;

/// The Clerk org a team plan asks for: `created_by` the user, `public_metadata.plan` the plan.
pub fn team_org_params(user_id: &str, plan: &str, slug: Option<String>) -> crate::app::api::OrgCreate {
    crate::app::api::OrgCreate {
        name: format!("Team {plan}"),
        created_by: user_id.to_string(),
        slug,
        public_metadata: serde_json::json!({ "plan": plan }),
        private_metadata: serde_json::json!({}),
    }
}

/// The plan in an org's `public_metadata`, if any.
pub fn org_plan(org: &crate::app::api::ClerkOrg) -> Option<&str> {
    org.public_metadata.get("plan").and_then(|p| p.as_str())
}

/// A deterministic Clerk slug for a user's team org of a plan: `team-{user}-{plan}`, lowercased,
/// with every character outside `[a-z0-9]` turned into `-` (Clerk slugs allow only those).
pub fn team_slug(user_id: &str, plan: &str) -> String {
    format!("team-{user_id}-{plan}")
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Reads the payer and plan of a Clerk Billing `subscription.created` event's `data`:
/// `data.payer.user_id` / `data.items[0].plan.slug`, falling back to `data.user_id` / `data.plan`.
pub fn clerk_subscription_payer(data: &serde_json::Value) -> Option<(String, String)> {
    let user = data
        .pointer("/payer/user_id")
        .and_then(|v| v.as_str())
        .or_else(|| data.get("user_id").and_then(|v| v.as_str()))?;
    let plan = data
        .pointer("/items/0/plan/slug")
        .and_then(|v| v.as_str())
        .or_else(|| data.get("plan").and_then(|v| v.as_str()))
        .or_else(|| data.pointer("/plan/slug").and_then(|v| v.as_str()))?;
    Some((user.to_string(), plan.to_string()))
}

/// A verified Clerk webhook, or the 400 reply for a bad signature.
pub fn verify_clerk<E: Env>(
    env: &E,
    svix_id: &str,
    svix_timestamp: &str,
    svix_signature: &str,
    payload: &[u8],
) -> Result<crate::app::api::ClerkEvent, AppReply> {
    use crate::app::api::ClerkApi;
    env.clerk()
        .verify_webhook(svix_id, svix_timestamp, svix_signature, payload)
        .map_err(|why| {
            AppReply::error(
                400,
                format!("bad svix signature: {why} (hint: check the whsec_ secret)"),
            )
        })
}

/// A verified Stripe webhook, or the 400 reply for a bad signature.
pub fn verify_stripe<E: Env>(
    env: &E,
    payload: &[u8],
    signature: &str,
) -> Result<crate::app::api::StripeEvent, AppReply> {
    env.stripe().verify_webhook(payload, signature).map_err(|why| {
        AppReply::error(
            400,
            format!("bad Stripe signature: {why} (hint: check the whsec_ secret)"),
        )
    })
}

/// The 200 a strategy sends for a call its seed does not handle but a sender must not retry.
pub fn ignored() -> AppReply {
    AppReply::ok(serde_json::json!({ "ignored": true }))
}

/// The 404 for a call the strategy does not serve.
pub fn unsupported(call: &crate::app::api::AppCall) -> AppReply {
    AppFailure::Unsupported(call_name(call).to_string()).into_reply()
}

/// A short name for a call (for replies and notes).
pub fn call_name(call: &crate::app::api::AppCall) -> &'static str {
    use crate::app::api::AppCall;
    match call {
        AppCall::Signup { .. } => "signup",
        AppCall::Checkout { .. } => "checkout",
        AppCall::ApplyCoupon { .. } => "apply_coupon",
        AppCall::CreateTeamOrg { .. } => "create_team_org",
        AppCall::StripeWebhook { .. } => "stripe_webhook",
        AppCall::ClerkWebhook { .. } => "clerk_webhook",
        AppCall::Reconcile => "reconcile",
    }
}

/// The checkout-like calls as `(user_id, price, coupon)`.
pub fn checkout_args(call: &crate::app::api::AppCall) -> Option<(String, String, Option<String>)> {
    use crate::app::api::AppCall;
    match call {
        AppCall::Checkout {
            user_id,
            price,
            promotion_code,
        } => Some((user_id.clone(), price.clone(), promotion_code.clone())),
        AppCall::ApplyCoupon {
            user_id,
            price,
            promotion_code,
        } => Some((user_id.clone(), price.clone(), Some(promotion_code.clone()))),
        _ => None,
    }
}

/// 64-bit FNV-1a of some bytes (request hashes, advisory lock keys): stable across runs.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Reads a text column of a row.
pub fn text_col(row: &Row, column: &str) -> Option<String> {
    row.get(column).and_then(|v| v.as_text()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_slug_is_deterministic_lowercase_and_clerk_safe() {
        assert_eq!(team_slug("user_2AbC", "Pro Team"), "team-user-2abc-pro-team");
        assert_eq!(team_slug("user_1", "pro"), team_slug("user_1", "pro"));
        assert_ne!(team_slug("user_1", "pro"), team_slug("user_2", "pro"));
    }

    #[test]
    fn clerk_billing_payer_is_read_from_either_shape() {
        let billing = serde_json::json!({
            "payer": { "user_id": "user_1" },
            "items": [{ "plan": { "slug": "pro" } }]
        });
        assert_eq!(
            clerk_subscription_payer(&billing),
            Some(("user_1".into(), "pro".into()))
        );
        let flat = serde_json::json!({ "user_id": "user_2", "plan": "team" });
        assert_eq!(
            clerk_subscription_payer(&flat),
            Some(("user_2".into(), "team".into()))
        );
        assert_eq!(
            clerk_subscription_payer(&serde_json::json!({ "plan": "team" })),
            None
        );
        assert_eq!(
            clerk_subscription_payer(&serde_json::json!({ "user_id": "u" })),
            None
        );
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
