//! A minimal HTTP/1 client (hyper over a tokio `TcpStream`): webhook forwarding, tests, bench.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::http::{HttpRequest, HttpResponse};

/// Largest response body the client reads.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// A parsed `http://host:port/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host name or address.
    pub host: String,
    /// Port (80 when absent).
    pub port: u16,
    /// Path with query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    /// Parses a plain-HTTP URL; HTTPS is refused with a hint.
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(format!(
                "unsupported URL {url:?} (hint: only http:// URLs are supported, e.g. http://127.0.0.1:3000/webhooks)"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("/")),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("bad port in URL {url:?} (hint: use http://host:port/path)"))?;
                (host, port)
            }
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!(
                "no host in URL {url:?} (hint: use http://host:port/path)"
            ));
        }
        Ok(HttpUrl {
            host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
            port,
            path: path.to_string(),
        })
    }
}

/// A client error.
#[derive(Debug)]
pub enum ClientError {
    /// Connecting failed.
    Connect(std::io::Error),
    /// The exchange failed (connection closed, bad response, body too large).
    Http(String),
    /// No answer within the timeout.
    Timeout,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect(e) => write!(f, "connect failed: {e} (hint: is the receiver running?)"),
            ClientError::Http(e) => write!(f, "HTTP exchange failed: {e}"),
            ClientError::Timeout => write!(f, "timed out"),
        }
    }
}

impl std::error::Error for ClientError {}

/// One keep-alive HTTP/1 connection.
pub struct HttpClient {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    connection: tokio::task::JoinHandle<()>,
}

impl HttpClient {
    /// Connects to `host:port`.
    pub async fn connect(host: &str, port: u16) -> Result<HttpClient, ClientError> {
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(ClientError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(HttpClient {
            sender,
            host: format!("{host}:{port}"),
            connection,
        })
    }

    /// Sends `request` and reads the whole response.
    pub async fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, ClientError> {
        self.sender
            .ready()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(request.path.as_str());
        if request.header("host").is_none() {
            builder = builder.header("Host", self.host.as_str());
        }
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let hyper_request = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let response = self
            .sender
            .send_request(hyper_request)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes()
            .to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl Drop for HttpClient {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// Sends one request on a fresh connection to `url`'s host, within `timeout`.
pub async fn send_to_url(
    url: &HttpUrl,
    mut request: HttpRequest,
    timeout: Duration,
) -> Result<HttpResponse, ClientError> {
    request.path = url.path.clone();
    let exchange = async {
        let mut client = HttpClient::connect(&url.host, url.port).await?;
        client.send(&request).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ClientError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_https_is_refused() {
        let url = HttpUrl::parse("http://127.0.0.1:4242/hooks?x=1").ok();
        assert_eq!(
            url,
            Some(HttpUrl {
                host: "127.0.0.1".into(),
                port: 4242,
                path: "/hooks?x=1".into()
            })
        );
        assert_eq!(
            HttpUrl::parse("http://localhost").map(|u| (u.port, u.path)),
            Ok((80, "/".into()))
        );
        assert!(HttpUrl::parse("https://x.test/").is_err_and(|e| e.contains("hint")));
        assert!(HttpUrl::parse("http://:80/").is_err());
        assert!(HttpUrl::parse("http://h:99999/").is_err());
    }
}
