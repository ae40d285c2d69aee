use super::*;
use crate::app::api::{AppCall, AppLogic, UserSpec};
use crate::app::reference::Reference;
use crate::app::strategies::checkout::CheckoutNaive;
use crate::oracle::{builtin_invariants, check, from_fakes::view_from_snapshots, Phase};
use crate::setup::{prepare, COUPON_ID};
use crate::time::SimTime;

/// Runs `checkout` and `apply_coupon` for user 1 concurrently on two replicas, on one
/// thread with explicit yields, and returns the oracle's verdict at the end.
async fn coupon_race<A: AppLogic>(app: &A) -> Vec<crate::oracle::Violation> {
    let prepared = prepare(1, app, 1, SimTime::EPOCH).expect("setup");
    let shared = Shared::new(&prepared, Arc::new(ManualClock::default()));
    let user: &UserSpec = &prepared.users[0];
    let env_1 = InProcEnv::new(&shared, &prepared, "app-1");
    let env_2 = InProcEnv::new(&shared, &prepared, "app-2");
    let checkout = AppCall::Checkout {
        user_id: user.user_id.clone(),
        price: prepared.price_id.clone(),
        promotion_code: None,
    };
    let coupon = AppCall::ApplyCoupon {
        user_id: user.user_id.clone(),
        price: prepared.price_id.clone(),
        promotion_code: COUPON_ID.into(),
    };
    let (first, second) = tokio::join!(app.handle(&env_1, checkout), app.handle(&env_2, coupon));
    assert_eq!((first.status, second.status), (200, 200), "{first:?} {second:?}");
    let view = view_from_snapshots(
        &prepared.users,
        &shared.stripe.lock().snapshot(),
        &shared.clerk.lock().snapshot(),
        &shared.db.lock().snapshot(),
        &app.schema(),
    );
    check(&builtin_invariants(), &view, Phase::Quiescence)
}

#[tokio::test]
async fn naive_checkout_duplicates_the_customer_in_process() {
    let violations = coupon_race(&CheckoutNaive).await;
    let names: Vec<&str> = violations.iter().map(|v| v.invariant.as_str()).collect();
    assert!(names.contains(&"no_duplicate_customers"), "{violations:?}");
}

#[tokio::test]
async fn reference_checkout_keeps_one_customer_in_process() {
    let violations = coupon_race(&Reference).await;
    assert_eq!(violations, vec![]);
}
