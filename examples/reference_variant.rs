//! A variant of racehound's reference, written with the kit, and the tests that find its bug.
//!
//! The team kept the reference's checkout but gave `POST /v1/customers` a fresh random
//! `Idempotency-Key` per request (`uuid()` in the route), "so every request is idempotent".
//! Two tabs then ask Stripe for two different creations: both are made, one is deleted after
//! losing the compare-and-set, and for a while the user has two live customers (and a crash
//! before the store leaves the second one for `reconcile`). `cargo test --example reference_variant`.

use std::collections::BTreeMap;

use racehound::kit::{checkout_args, create_session, reply, select_tenant, AppFailure};
use racehound::prelude::*;

/// The reference with a random idempotency key for the customer (strategy `acme.random_key`).
#[derive(Debug, Clone, Copy)]
pub struct RandomKey;

/// The reference's `ensure_stripe_customer` with the bug: the key comes from `env.rng()`.
async fn ensure_customer<E: Env>(env: &E, user_id: &str) -> Result<String, AppFailure> {
    let mut conn = env.db().connect().await?;
    let tenant = select_tenant(&mut conn, user_id, false).await?;
    if let Some(stored) = tenant.stripe_customer_id {
        return Ok(stored);
    }
    let metadata = BTreeMap::from([("tenant_id".to_string(), tenant.id.to_string())]);
    let params = CustomerCreate {
        email: Some(tenant.email),
        name: None,
        metadata,
    };
    let key = env.rng().token("idem"); // the bug: a new key per request, not per tenant
    let created = env.stripe().create_customer(params, Some(key)).await?.id;
    let store = Stmt::update("tenants", &[("stripe_customer_id", created.as_str().into())]);
    let stored = conn
        .execute(store.eq("id", tenant.id).is_null("stripe_customer_id"))
        .await?;
    if stored.affected == 1 {
        return Ok(created);
    }
    let winner = select_tenant(&mut conn, user_id, false).await?.stripe_customer_id;
    env.stripe().delete_customer(created).await?; // lost the compare-and-set: clean up
    winner.ok_or_else(|| AppFailure::Other("no customer stored".into()))
}

impl AppLogic for RandomKey {
    fn id(&self) -> &str {
        "acme.random_key"
    }
    fn schema(&self) -> Vec<TableSchema> {
        Reference.schema()
    }
    fn seed_rows(&self, users: &[UserSpec]) -> Vec<Stmt> {
        Reference.seed_rows(users)
    }
    async fn handle<E: Env>(&self, env: &E, call: AppCall) -> AppReply {
        let Some((user_id, price, coupon)) = checkout_args(&call) else {
            return Reference.handle(env, call).await; // signup, webhooks, reconcile: unchanged
        };
        let customer = ensure_customer(env, &user_id).await;
        reply(async { create_session(env, &customer?, &user_id, &price, coupon.as_deref()).await }.await)
    }
}

/// Two tabs: the checkout page on mount, and a coupon typed while it loads.
fn two_tabs() -> Scenario {
    let coupon = Step::new(Flow::ApplyCoupon).coupon("SAVE20").at_ms(0, 50);
    Scenario::builder("acme.two_tabs")
        .replicas(2)
        .actor(1, [Step::new(Flow::Checkout), coupon])
        .seeds(40)
        .build()
}

fn main() {
    println!("{}", racehound::explore(&two_tabs(), RandomKey));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_random_key_duplicates_the_customer_and_the_token_replays_it() {
        let report = racehound::explore(&two_tabs(), RandomKey);
        let counterexample = report.assert_fails("no_duplicate_customers");
        assert!(
            report.seeds_tried() >= 1 && report.seeds_tried() <= 40,
            "{}",
            report.seeds_tried()
        );
        let replayed = racehound::replay(&counterexample.token, RandomKey).expect("replays");
        assert!(replayed.breaks("no_duplicate_customers"));
        let seed = report.failure().expect("failed").seed;
        assert!(Explorer::new()
            .run_seed(&two_tabs(), RandomKey, seed)
            .breaks("no_duplicate_customers"));
    }

    #[test]
    fn the_reference_passes_the_same_race_and_reports_its_seeds() {
        let report = racehound::explore(&two_tabs(), Reference);
        report.assert_pass();
        assert_eq!(report.seeds_tried(), 40);
    }

    #[test]
    fn the_crash_sweep_catches_the_variant_and_passes_the_reference() {
        let sweep = Explorer::new()
            .crash_sweep(RandomKey, "checkout")
            .expect("sweeps");
        assert!(
            !sweep.failures.is_empty(),
            "{} crash points, none failed",
            sweep.points
        );
        let reference = Explorer::new()
            .crash_sweep(Reference, "checkout")
            .expect("sweeps");
        assert!(
            reference.points > 0 && reference.failures.is_empty(),
            "{:?}",
            reference.failures
        );
    }
}
