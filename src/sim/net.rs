//! HTTP/1 over turmoil's simulated TCP with hyper: a server loop for the fakes and the app
//! replicas, and an [`HttpTransport`] the app's clients send through.
//!
//! Servers run with `auto_date_header(false)`: hyper would otherwise write a wall-clock `Date`
//! header. A handler that answers `None` drops the connection without a response — how a
//! "committed but response lost" fault looks from the client.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;

use super::timers::TimerBook;
use crate::app::clients::HttpTransport;
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::sync::{Arc, Mutex};

/// Largest request or response body accepted, in bytes.
pub const BODY_BYTES_MAX: usize = 1 << 20;

/// Converts a hyper request into racehound's plain value (`None` if the method is unknown or
/// the body too large).
async fn read_request(request: hyper::Request<hyper::body::Incoming>) -> Option<HttpRequest> {
    let method = Method::parse(request.method().as_str())?;
    let path = request
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |pq| pq.as_str().to_string());
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = Limited::new(request.into_body(), BODY_BYTES_MAX)
        .collect()
        .await
        .ok()?
        .to_bytes()
        .to_vec();
    Some(HttpRequest {
        method,
        path,
        headers,
        body,
    })
}

fn to_hyper(response: HttpResponse) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| {
            let mut fallback = hyper::Response::new(Full::new(Bytes::from_static(b"bad response")));
            *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}

/// The error a handler returns to make hyper drop the connection without answering.
#[derive(Debug)]
struct ResponseDropped;

impl std::fmt::Display for ResponseDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response dropped")
    }
}

impl std::error::Error for ResponseDropped {}

/// Serves HTTP on `port` of the current turmoil host until the host stops.
///
/// `handler` gets each request; `None` means "drop the connection without a response".
pub async fn serve<H, F>(port: u16, handler: H) -> turmoil::Result
where
    H: Fn(HttpRequest) -> F + Clone + 'static,
    F: Future<Output = Option<HttpResponse>> + 'static,
{
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let handler = handler.clone();
        tokio::task::spawn_local(async move {
            let service = hyper::service::service_fn(move |request| {
                let handler = handler.clone();
                async move {
                    let Some(request) = read_request(request).await else {
                        let bad =
                            HttpResponse::json(400, &serde_json::json!({ "error": "unreadable request" }));
                        return Ok::<_, ResponseDropped>(to_hyper(bad));
                    };
                    match handler(request).await {
                        Some(response) => Ok(to_hyper(response)),
                        None => Err(ResponseDropped),
                    }
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.auto_date_header(false).keep_alive(true);
            // A dropped response or a crashed peer ends the connection; nothing to report.
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Most idle keep-alive connections one [`TurmoilHttp`] keeps.
pub const IDLE_CONNECTIONS_MAX: usize = 4;

/// An open HTTP/1 connection's sending half.
type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Sends requests to one host and port over simulated TCP: a fresh connection per request, or
/// with [`TurmoilHttp::keep_alive`] idle connections reused as Stripe's and Clerk's SDKs do.
#[derive(Clone)]
pub struct TurmoilHttp {
    host: String,
    port: u16,
    timeout: Duration,
    timers: Arc<TimerBook>,
    /// Idle keep-alive connections (`None`: a fresh connection per request).
    idle: Option<Arc<Mutex<Vec<Sender>>>>,
}

impl std::fmt::Debug for TurmoilHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurmoilHttp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("timeout", &self.timeout)
            .field("keep_alive", &self.idle.is_some())
            .finish()
    }
}

impl TurmoilHttp {
    /// A transport to `host:port` giving up after `timeout` per request (noted in `timers`).
    pub fn new(host: impl Into<String>, port: u16, timeout: Duration, timers: Arc<TimerBook>) -> Self {
        Self {
            host: host.into(),
            port,
            timeout,
            timers,
            idle: None,
        }
    }

    /// The same transport, reusing a connection after a complete exchange (HTTP keep-alive).
    ///
    /// A connection is reused only when its last exchange ended with a whole response; one that
    /// failed, timed out or was closed by the server is dropped, never retried on.
    pub fn keep_alive(mut self) -> Self {
        self.idle = Some(Arc::new(Mutex::new(Vec::new())));
        self
    }

    /// An idle connection that is still open, or a new one.
    async fn connection(&self) -> Result<Sender, String> {
        if let Some(idle) = &self.idle {
            loop {
                let Some(mut sender) = idle.lock().pop() else {
                    break;
                };
                if !sender.is_closed() && sender.ready().await.is_ok() {
                    return Ok(sender);
                }
            }
        }
        let stream = turmoil::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect to {}: {e}", self.host))?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake with {}: {e}", self.host))?;
        tokio::task::spawn_local(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Keeps `sender` for the next request if keep-alive is on and there is room.
    fn release(&self, sender: Sender) {
        if let Some(idle) = &self.idle {
            let mut idle = idle.lock();
            if idle.len() < IDLE_CONNECTIONS_MAX {
                idle.push(sender);
            }
        }
    }

    async fn send_once(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        let mut sender = self.connection().await?;
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(request.path.as_str())
            .header("host", &self.host);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let hyper_request = builder
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|e| format!("bad request: {e}"))?;
        let response = sender
            .send_request(hyper_request)
            .await
            .map_err(|e| format!("{}: {e}", self.host))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = Limited::new(response.into_body(), BODY_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| format!("reading body from {}: {e}", self.host))?
            .to_bytes()
            .to_vec();
        self.release(sender);
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl HttpTransport for TurmoilHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        match self.timers.timeout(self.timeout, self.send_once(request)).await {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {} ms", self.timeout.as_millis())),
        }
    }
}
