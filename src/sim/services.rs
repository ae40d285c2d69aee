//! The service hosts: fake Stripe and fake Clerk behind HTTP, each request processed for a
//! drawn time and finished even when the client has gone.

use std::time::Duration;

use super::shared::WorldShared;
use super::trace::TraceKind;
use super::world::SERVICE_PROCESSING_MS;
use crate::fakes::stripe::{Began, DROP_RESPONSE_HEADER};
use crate::http::{HttpRequest, HttpResponse};
use crate::sync::Arc;

/// Runs a service's processing of a received request to its end on the service's host.
///
/// hyper drops the handler's future when the client's connection closes (a crashed replica,
/// a client timeout), but a real server finishes what it received: a Stripe request in
/// flight still commits and releases its idempotency key, a Clerk create still creates. So
/// the processing runs in its own task and the handler only waits for it.
async fn process_to_completion<F>(processing: F) -> Option<HttpResponse>
where
    F: std::future::Future<Output = HttpResponse> + Send + 'static,
{
    tokio::spawn(processing).await.ok()
}

pub(super) async fn stripe_handler(shared: Arc<WorldShared>, request: HttpRequest) -> Option<HttpResponse> {
    shared.arrived("stripe", &request);
    let began = shared.stripe.lock().begin(shared.now(), &request);
    let response = match began {
        Began::Respond(response) => response,
        Began::InFlight(pending) => {
            let shared = shared.clone();
            process_to_completion(async move {
                let processing = shared.draw(SERVICE_PROCESSING_MS.0, SERVICE_PROCESSING_MS.1);
                shared.timers.sleep(Duration::from_millis(processing)).await;
                shared.stripe.lock().finish(shared.now(), pending)
            })
            .await?
        }
    };
    if response.header(DROP_RESPONSE_HEADER).is_some() {
        shared.push(
            "stripe",
            TraceKind::ResponseDropped {
                path: request.path.clone(),
                status: response.status,
            },
        );
        return None;
    }
    Some(response)
}

pub(super) async fn clerk_handler(shared: Arc<WorldShared>, request: HttpRequest) -> Option<HttpResponse> {
    shared.arrived("clerk", &request);
    let response = {
        let shared = shared.clone();
        let request = request.clone();
        process_to_completion(async move {
            let processing = shared.draw(SERVICE_PROCESSING_MS.0, SERVICE_PROCESSING_MS.1);
            shared.timers.sleep(Duration::from_millis(processing)).await;
            shared.clerk.lock().handle(shared.now(), &request)
        })
        .await?
    };
    if response.header(DROP_RESPONSE_HEADER).is_some() {
        shared.push(
            "clerk",
            TraceKind::ResponseDropped {
                path: request.path.clone(),
                status: response.status,
            },
        );
        return None;
    }
    Some(response)
}
