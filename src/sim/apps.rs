//! The app hosts: each replica serves the app logic over HTTP and traces every call it
//! handles and the reply it gives.

use super::env::SimEnv;
use super::trace::{excerpt, TraceKind};
use crate::app::api::{AppCall, AppLogic, AppReply};
use crate::http::{HttpRequest, HttpResponse};
use crate::sync::{Arc, Ordering};

/// The [`AppCall`] an HTTP request to a replica carries (the browser's JSON call, a webhook
/// with its signature headers, the reconcile cron).
pub fn app_call_of(request: &HttpRequest) -> Result<AppCall, String> {
    match request.path_only() {
        "/api/call" => serde_json::from_slice(&request.body).map_err(|e| format!("bad call: {e}")),
        "/webhooks/stripe" => Ok(AppCall::StripeWebhook {
            payload: request.body.clone(),
            signature: request.header("Stripe-Signature").unwrap_or_default().to_string(),
        }),
        "/webhooks/clerk" => Ok(AppCall::ClerkWebhook {
            svix_id: request.header("svix-id").unwrap_or_default().to_string(),
            svix_timestamp: request.header("svix-timestamp").unwrap_or_default().to_string(),
            svix_signature: request.header("svix-signature").unwrap_or_default().to_string(),
            payload: request.body.clone(),
        }),
        "/internal/reconcile" => Ok(AppCall::Reconcile),
        other => Err(format!("no route {other}")),
    }
}

fn describe(call: &AppCall) -> String {
    match call {
        AppCall::Signup { user_id } => format!("signup {user_id}"),
        AppCall::Checkout {
            user_id,
            promotion_code,
            ..
        } => {
            format!(
                "checkout {user_id}{}",
                promotion_code
                    .as_ref()
                    .map_or(String::new(), |c| format!(" coupon={c}"))
            )
        }
        AppCall::ApplyCoupon {
            user_id,
            promotion_code,
            ..
        } => format!("apply_coupon {user_id} coupon={promotion_code}"),
        AppCall::CreateTeamOrg { user_id, plan } => format!("create_team_org {user_id} plan={plan}"),
        AppCall::StripeWebhook { payload, .. } => {
            let event: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
            format!(
                "stripe webhook {} {}",
                event.get("type").and_then(|t| t.as_str()).unwrap_or("?"),
                event.get("id").and_then(|t| t.as_str()).unwrap_or("?")
            )
        }
        AppCall::ClerkWebhook { svix_id, payload, .. } => {
            let event: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
            format!(
                "clerk webhook {} {svix_id}",
                event.get("type").and_then(|t| t.as_str()).unwrap_or("?")
            )
        }
        AppCall::Reconcile => "reconcile".to_string(),
    }
}

pub(super) async fn app_handler<A: AppLogic>(
    app: Arc<A>,
    env: Arc<SimEnv>,
    request: HttpRequest,
) -> Option<HttpResponse> {
    let call = match app_call_of(&request) {
        Ok(call) => call,
        Err(why) => return Some(HttpResponse::json(404, &serde_json::json!({ "error": why }))),
    };
    env.shared.push(
        &env.replica,
        TraceKind::AppCall {
            call: describe(&call),
        },
    );
    if let AppCall::Signup { user_id } = &call {
        if env.shared.signups_handled.lock().insert(user_id.clone()) {
            env.shared.facts_version.fetch_add(1, Ordering::SeqCst);
        }
    }
    let AppReply { status, body } = app.handle(env.as_ref(), call).await;
    let body_bytes = serde_json::to_vec(&body).unwrap_or_default();
    env.shared.push(
        &env.replica,
        TraceKind::AppReply {
            status,
            body: excerpt(&body_bytes),
        },
    );
    Some(HttpResponse::json(status, &body))
}
