//! The actors: one browser per scenario actor, playing its steps at their times against the
//! app's replicas (with its retries), completing Checkout Sessions on Stripe's hosted page, and
//! subscribing through Clerk Billing. The stress test (`bench::stress`) plays the same steps
//! with the same calls.

use std::time::Duration;

use super::env::traced;
use super::input::ResolvedStep;
use super::shared::WorldShared;
use super::trace::TraceKind;
use crate::app::api::AppCall;
use crate::app::clients::{HttpTransport, TEST_SECRET_KEY};
use crate::fakes::clerk::{BillingPayerRef, Clerk};
use crate::http::{HttpRequest, Method};
use crate::setup::COUPON_ID;
use crate::sync::Arc;
use crate::time::SimTime;
use crate::vocabulary::Flow;

/// The call a step makes to the app, for the flows the app serves (`None` for `pay` and
/// `clerk_subscription`, which go to Stripe and Clerk).
pub fn browser_call(step: &ResolvedStep, user_id: &str, price: &str) -> Option<AppCall> {
    let user_id = user_id.to_string();
    Some(match step.flow {
        Flow::Signup => AppCall::Signup { user_id },
        Flow::Checkout => AppCall::Checkout {
            user_id,
            price: price.to_string(),
            promotion_code: step.coupon.clone(),
        },
        Flow::ApplyCoupon => AppCall::ApplyCoupon {
            user_id,
            price: price.to_string(),
            promotion_code: step.coupon.clone().unwrap_or_else(|| COUPON_ID.to_string()),
        },
        Flow::CreateTeamOrg => AppCall::CreateTeamOrg {
            user_id,
            plan: step.plan.clone().unwrap_or_else(|| "team".to_string()),
        },
        Flow::Reconcile => AppCall::Reconcile,
        Flow::Pay | Flow::ClerkSubscription => return None,
    })
}

/// The request Stripe's hosted page sends when the customer pays Checkout Session `session`.
pub fn pay_request(session: &str) -> HttpRequest {
    HttpRequest::new(
        Method::Post,
        format!("/v1/test_helpers/checkout/sessions/{session}/complete"),
    )
    .with_header("Authorization", format!("Bearer {TEST_SECRET_KEY}"))
}

/// Subscribes `user_id` to `plan` through Clerk Billing (the `clerk_subscription` step);
/// returns what happened, as a trace note.
pub fn subscribe_in_clerk_billing(clerk: &mut Clerk, now: SimTime, user_id: &str, plan: &str) -> String {
    match clerk.create_billing_subscription(now, BillingPayerRef::User(user_id.to_string()), plan) {
        Ok(sub) => format!("Clerk Billing: {user_id} subscribes to {plan} ({})", sub.id),
        Err(e) => format!("Clerk Billing refused: {e:?}"),
    }
}

/// How often a pay step looks again for the session its actor's checkout is making.
const PAY_WAIT_POLL_MS: u64 = 10;

/// How long a pay step waits for that session at most (simulated ms).
const PAY_WAIT_MS_MAX: u64 = 600_000;

/// Plays one step of actor `actor` (as host `name`) at its time; a pay step first waits for
/// the actor's checkout steps `waits_for` (indices) while no session exists.
pub(super) async fn browser_step(
    shared: Arc<WorldShared>,
    actor: usize,
    user_id: String,
    step: ResolvedStep,
    name: String,
    waits_for: &[usize],
) {
    shared.timers.sleep(Duration::from_millis(step.at_ms)).await;
    match step.flow {
        Flow::Pay => {
            let mut waited_ms = 0u64;
            let session = loop {
                let session = shared.sessions.lock().get(&actor).cloned();
                let checkouts_done = {
                    let done = shared.steps_done.lock();
                    waits_for.iter().all(|n| done.contains(&(actor, *n)))
                };
                if session.is_some() || checkouts_done || waited_ms >= PAY_WAIT_MS_MAX {
                    break session;
                }
                shared.timers.sleep(Duration::from_millis(PAY_WAIT_POLL_MS)).await;
                waited_ms += PAY_WAIT_POLL_MS;
            };
            let Some(session) = session else {
                let text = format!("{name}: pay skipped: the actor's checkout produced no session");
                shared.note_incomplete(&name, text);
                return;
            };
            let transport = traced(&shared, &name, "stripe", Duration::from_millis(step.timeout_ms));
            let _ = transport.send(pay_request(&session)).await;
        }
        Flow::ClerkSubscription => {
            let plan = step.plan.clone().unwrap_or_else(|| "team".to_string());
            let now = shared.now();
            let text = subscribe_in_clerk_billing(&mut shared.clerk.lock(), now, &user_id, &plan);
            shared.push("clerk", TraceKind::Note { text });
        }
        _ => {
            let Some(call) = browser_call(&step, &user_id, &shared.prepared.price_id) else {
                return;
            };
            let body = serde_json::to_vec(&call).unwrap_or_default();
            for _attempt in 1..=step.attempts.max(1) {
                let replica = match step.replica {
                    Some(r) => format!("app-{}", r + 1),
                    None => shared.pick_replica(),
                };
                let transport = traced(&shared, &name, &replica, Duration::from_millis(step.timeout_ms));
                let request = HttpRequest::new(Method::Post, "/api/call")
                    .with_header("Content-Type", "application/json")
                    .with_body(body.clone());
                // No response means the outcome is unknown: the browser retries if it may.
                if let Ok(response) = transport.send(request).await {
                    let session_id = response
                        .body_json()
                        .get("session_id")
                        .and_then(|s| s.as_str())
                        .map(str::to_string);
                    if let Some(session) = &session_id {
                        shared.sessions.lock().insert(actor, session.clone());
                    }
                    if response.is_success() {
                        shared.answered.lock().push(crate::oracle::AnsweredCall {
                            user_id: user_id.clone(),
                            flow: step.flow,
                            plan: step.plan.clone(),
                            session_id,
                        });
                    }
                    if response.status < 500 {
                        break;
                    }
                }
            }
        }
    }
}
