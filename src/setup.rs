//! The world every run starts from, whatever the runtime: the fakes with a price, the
//! `SAVE20` coupon, a Stripe webhook endpoint, the scenario's users in Clerk, and the app's
//! tables with their seed rows.

use crate::app::api::{AppLogic, UserSpec};
use crate::fakes::clerk::{Clerk, ClerkConfig, CreateUser};
use crate::fakes::postgres::{Database, Submitted};
use crate::fakes::stripe::{Stripe, StripeConfig};
use crate::http::{HttpRequest, Method};
use crate::time::SimTime;

/// The coupon every world has (20% off, forever).
pub const COUPON_ID: &str = "SAVE20";

/// Where Stripe webhooks are sent (the app replicas' route).
pub const STRIPE_WEBHOOK_URL: &str = "http://app/webhooks/stripe";

/// Most users a world may start with.
pub const USERS_MAX: u32 = 1_000;

/// The fakes, set up and ready.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The seed the world was prepared from (app environments derive their RNG from it).
    pub seed: u64,
    /// Fake Stripe.
    pub stripe: Stripe,
    /// Fake Clerk.
    pub clerk: Clerk,
    /// Simulated PostgreSQL with the app's schema.
    pub db: Database,
    /// The users (Clerk ids, emails, tenant ids 1..=n).
    pub users: Vec<UserSpec>,
    /// The price checkouts subscribe to.
    pub price_id: String,
    /// The Stripe webhook endpoint secret (`whsec_…`).
    pub stripe_webhook_secret: String,
    /// The Clerk (Svix) webhook secret.
    pub clerk_webhook_secret: String,
}

/// Why a world could not be set up (a bug in racehound or the app's schema, never a race).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError(pub String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "world setup failed: {}", self.0)
    }
}

impl std::error::Error for SetupError {}

/// Builds the starting world for `users` users and the app's schema, from `seed`.
pub fn prepare<A: AppLogic>(seed: u64, app: &A, users: u32, now: SimTime) -> Result<Prepared, SetupError> {
    if users == 0 || users > USERS_MAX {
        return Err(SetupError(format!(
            "users must be in 1..={USERS_MAX}, got {users}"
        )));
    }
    let mut stripe = Stripe::new(seed, StripeConfig::default());
    let price_id = stripe
        .seed_price(now, "Pro", 2_000, "usd", Some("month"))
        .map_err(|r| SetupError(format!("price: {}", String::from_utf8_lossy(&r.body))))?;
    let auth = ("Authorization", "Bearer sk_test_racehound");
    let coupon = HttpRequest::new(Method::Post, "/v1/coupons")
        .with_header(auth.0, auth.1)
        .with_body(format!("id={COUPON_ID}&percent_off=20&duration=forever"));
    let response = stripe.handle(now, &coupon);
    if !response.is_success() {
        return Err(SetupError(format!(
            "coupon: {}",
            String::from_utf8_lossy(&response.body)
        )));
    }
    let endpoint = HttpRequest::new(Method::Post, "/v1/webhook_endpoints")
        .with_header(auth.0, auth.1)
        .with_body(format!(
            "url={}&enabled_events[0]=*",
            crate::fakes::stripe::wire::percent_encode(STRIPE_WEBHOOK_URL)
        ));
    let response = stripe.handle(now, &endpoint);
    let stripe_webhook_secret = response
        .body_json()
        .get("secret")
        .and_then(|s| s.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            SetupError(format!(
                "webhook endpoint: {}",
                String::from_utf8_lossy(&response.body)
            ))
        })?;
    // Setup events (price, product) are not part of the race.
    let _ = stripe.drain_new_events();

    let mut clerk = Clerk::new(seed, ClerkConfig::default());
    let mut specs = Vec::new();
    for n in 1..=users {
        let email = format!("user{n}@example.com");
        let user = clerk
            .create_user(now, CreateUser::with_email(&email))
            .map_err(|e| SetupError(format!("clerk user {n}: {e:?}")))?;
        specs.push(UserSpec {
            user_id: user.id.clone(),
            email,
            tenant_id: i64::from(n),
        });
    }
    let _ = clerk.drain_new_events();
    let clerk_webhook_secret = clerk.webhook_secret().to_string();

    let mut db = Database::new();
    for table in app.schema() {
        let name = table.name.clone();
        db.create_table(table)
            .map_err(|e| SetupError(format!("table {name}: {e}")))?;
    }
    let session = db.connect();
    for stmt in app.seed_rows(&specs) {
        match db.execute(session, &stmt) {
            Submitted::Done(Ok(_)) => {}
            other => return Err(SetupError(format!("seed row {stmt}: {other:?}"))),
        }
    }
    db.disconnect(session);
    Ok(Prepared {
        seed,
        stripe,
        clerk,
        db,
        users: specs,
        price_id,
        stripe_webhook_secret,
        clerk_webhook_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::reference::Reference;

    #[test]
    fn prepared_world_has_users_tables_price_and_coupon() {
        let prepared = prepare(7, &Reference, 2, SimTime::EPOCH).expect("setup");
        assert_eq!(prepared.users.len(), 2);
        assert!(prepared.users[0].user_id.starts_with("user_"));
        assert!(prepared.price_id.starts_with("price_"));
        assert!(prepared.stripe_webhook_secret.starts_with("whsec_"));
        assert_eq!(prepared.db.table_rows("tenants").len(), 2);
        assert!(prepared.stripe.snapshot().objects.coupons.contains_key(COUPON_ID));
    }

    #[test]
    fn setup_is_deterministic() {
        let a = prepare(3, &Reference, 3, SimTime::EPOCH).expect("setup");
        let b = prepare(3, &Reference, 3, SimTime::EPOCH).expect("setup");
        assert_eq!(a.users, b.users);
        assert_eq!(a.stripe.snapshot(), b.stripe.snapshot());
        assert_eq!(a.db.snapshot(), b.db.snapshot());
    }
}
