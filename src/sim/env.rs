//! What an app replica sees: its [`Env`] (traced clients to Stripe and Clerk, the database,
//! its process memory and random stream) and the traced transport every host's calls cross.

use std::time::Duration;

use super::dbhost::SimDb;
use super::net::TurmoilHttp;
use super::shared::WorldShared;
use super::trace::{excerpt, TraceKind};
use super::world::{HTTP_PORT, SERVICE_TIMEOUT};
use crate::app::api::{Env, EnvRng, ProcessMemory};
use crate::app::clients::{ClerkClient, HttpTransport, StripeClient};
use crate::http::{HttpRequest, HttpResponse};
use crate::oracle::IdempotentResponseView;
use crate::sync::Arc;
use crate::time::{Clock, SimTime};

/// A transport that records what crosses it in the trace (and Stripe's idempotent answers).
#[derive(Clone)]
pub struct TracedHttp {
    pub(super) inner: TurmoilHttp,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) shared: Arc<WorldShared>,
}

impl HttpTransport for TracedHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        let key = request.header("Idempotency-Key").map(str::to_string);
        let endpoint = format!("{} {}", request.method.as_str(), request.path_only());
        let key_note = key
            .as_ref()
            .map_or(String::new(), |k| format!(" [Idempotency-Key: {k}]"));
        self.shared.push(
            &self.from,
            TraceKind::Request {
                to: self.to.clone(),
                method: request.method.as_str().to_string(),
                path: request.path.clone(),
                body: format!("{}{key_note}", excerpt(&request.body)),
            },
        );
        let path = request.path.clone();
        match self.inner.send(request).await {
            Ok(response) => {
                self.shared.push(
                    &self.from,
                    TraceKind::Response {
                        from: self.to.clone(),
                        path,
                        status: response.status,
                        body: excerpt(&response.body),
                    },
                );
                if let (Some(key), true) = (key, response.is_success()) {
                    let body = response.body_json();
                    if let Some(id) = body.get("id").and_then(|v| v.as_str()) {
                        self.shared.idempotent.lock().push(IdempotentResponseView {
                            key,
                            endpoint,
                            object_id: id.to_string(),
                            created: body.get("created").and_then(serde_json::Value::as_i64),
                        });
                    }
                }
                Ok(response)
            }
            Err(reason) => {
                self.shared.push(
                    &self.from,
                    TraceKind::NoResponse {
                        to: self.to.clone(),
                        path,
                        reason: reason.clone(),
                    },
                );
                Err(reason)
            }
        }
    }
}

/// The [`Env`] of one app replica (rebuilt, with empty memory, when the replica restarts).
pub struct SimEnv {
    pub(super) stripe: StripeClient<TracedHttp>,
    pub(super) clerk: ClerkClient<TracedHttp>,
    pub(super) db: SimDb,
    pub(super) replica: String,
    pub(super) memory: ProcessMemory,
    pub(super) rng: EnvRng,
    pub(super) shared: Arc<WorldShared>,
}

impl Env for SimEnv {
    type Stripe = StripeClient<TracedHttp>;
    type Clerk = ClerkClient<TracedHttp>;
    type Db = SimDb;

    fn stripe(&self) -> &Self::Stripe {
        &self.stripe
    }

    fn clerk(&self) -> &Self::Clerk {
        &self.clerk
    }

    fn db(&self) -> &Self::Db {
        &self.db
    }

    fn now(&self) -> SimTime {
        self.shared.now()
    }

    async fn sleep(&self, duration: Duration) {
        self.shared.timers.sleep(duration).await;
    }

    fn replica(&self) -> &str {
        &self.replica
    }

    fn memory(&self) -> &ProcessMemory {
        &self.memory
    }

    fn rng(&self) -> &EnvRng {
        &self.rng
    }

    fn note(&self, text: &str) {
        self.shared.push(
            &self.replica,
            TraceKind::Note {
                text: text.to_string(),
            },
        );
    }
}

pub(super) fn traced(shared: &Arc<WorldShared>, from: &str, to: &str, timeout: Duration) -> TracedHttp {
    TracedHttp {
        inner: TurmoilHttp::new(to, HTTP_PORT, timeout, shared.timers.clone()),
        from: from.to_string(),
        to: to.to_string(),
        shared: shared.clone(),
    }
}

/// A replica's client to a service: keep-alive connections, as Stripe's and Clerk's SDKs use.
fn service_client(shared: &Arc<WorldShared>, replica: &str, service: &str) -> TracedHttp {
    let mut transport = traced(shared, replica, service, SERVICE_TIMEOUT);
    transport.inner = transport.inner.keep_alive();
    transport
}

/// The environment of `replica`'s `incarnation`-th process (0 at start, +1 per restart).
pub(super) fn new_env(shared: &Arc<WorldShared>, replica: &str, incarnation: u64) -> SimEnv {
    let clock: Arc<dyn Clock> = Arc::new(shared.clock.clone());
    SimEnv {
        stripe: StripeClient::new(
            service_client(shared, replica, "stripe"),
            shared.prepared.stripe_webhook_secret.clone(),
            clock.clone(),
        ),
        clerk: ClerkClient::new(
            service_client(shared, replica, "clerk"),
            shared.prepared.clerk_webhook_secret.clone(),
            clock,
        ),
        db: SimDb,
        replica: replica.to_string(),
        memory: ProcessMemory::default(),
        rng: EnvRng::new(shared.prepared.seed, &format!("env/{replica}/{incarnation}")),
        shared: shared.clone(),
    }
}
