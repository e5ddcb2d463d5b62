//! The typed API client used by the CLI, the demo and the tests: one
//! HTTP/1.1 request per connection to the node's loopback API.

use super::ApiError;
use crate::home::{Home, HomeError};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use std::net::SocketAddr;
use zeroize::Zeroizing;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The home could not be read.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// Nothing answers on the API address.
    #[error("cannot reach the node's API at {0}: is `nfp-node serve --home DIR` running?")]
    Unreachable(SocketAddr),
    /// The HTTP exchange failed.
    #[error("API request failed: {0}")]
    Http(String),
    /// The node answered with an error.
    #[error("{}", .body.message)]
    Api {
        /// HTTP status.
        status: u16,
        /// The error body.
        body: ApiError,
    },
}

impl ClientError {
    /// Whether the request was refused as invalid input (exit code 2).
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, ClientError::Api { status, .. } if (400..500).contains(status) && *status != 401)
    }
}

/// A client for one node's API.
pub struct Client {
    addr: SocketAddr,
    token: Zeroizing<String>,
}

impl Client {
    /// A client for the node whose home is `home`, signing in with the
    /// personal token in `NFP_TOKEN` if set, else the node admin's token.
    pub fn for_home(home: &Home) -> Result<Client, ClientError> {
        let config = home.config()?;
        let token = match std::env::var("NFP_TOKEN") {
            Ok(t) if !t.trim().is_empty() => Zeroizing::new(t.trim().to_string()),
            _ => home.api_token()?,
        };
        Ok(Client {
            addr: config.api,
            token,
        })
    }

    /// A client for `addr` with `token`.
    pub fn new(addr: SocketAddr, token: Zeroizing<String>) -> Client {
        Client { addr, token }
    }

    /// Sends one request; returns the JSON body of a 2xx answer.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Http(e.to_string()))?,
            None => Vec::new(),
        };
        let resp = self
            .send(
                method,
                path,
                "application/json",
                Full::new(Bytes::from(bytes)),
            )
            .await?;
        Self::json_answer(resp).await
    }

    /// Streams the file at `file` as the body of a POST to `path` (a piece
    /// at a time); returns the JSON answer.
    pub async fn upload(
        &self,
        path: &str,
        file: &std::path::Path,
    ) -> Result<serde_json::Value, ClientError> {
        let mut f = std::fs::File::open(file)
            .map_err(|e| ClientError::Http(format!("{}: {e}", file.display())))?;
        let (tx, body) = super::stream::ChannelBody::new();
        let reader = tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx
                            .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                        {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        break;
                    }
                }
            }
        });
        let resp = self
            .send("POST", path, "application/octet-stream", body)
            .await;
        let _ = reader.await;
        Self::json_answer(resp?).await
    }

    /// GETs `path` and writes the body to `out` as it arrives; returns the
    /// bytes written.
    pub async fn download(
        &self,
        path: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, ClientError> {
        let resp = self
            .send("GET", path, "application/json", Full::new(Bytes::new()))
            .await?;
        if !resp.status().is_success() {
            return Self::json_answer(resp).await.map(|_| 0);
        }
        let mut body = resp.into_body();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Http(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data)
                    .map_err(|e| ClientError::Http(format!("cannot write: {e}")))?;
                n += data.len() as u64;
            }
        }
        Ok(n)
    }

    async fn send<B>(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: B,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|_| ClientError::Unreachable(self.addr))?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("authorization", format!("Bearer {}", self.token.as_str()))
            .header("content-type", content_type)
            .body(body)
            .map_err(|e| ClientError::Http(e.to_string()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))
    }

    async fn json_answer(
        resp: hyper::Response<hyper::body::Incoming>,
    ) -> Result<serde_json::Value, ClientError> {
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        if (200..300).contains(&status) {
            if body.is_empty() {
                return Ok(serde_json::Value::Null);
            }
            serde_json::from_slice(&body)
                .map_err(|e| ClientError::Http(format!("answer is not JSON: {e}")))
        } else {
            let json: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let body: ApiError = serde_json::from_value(json).unwrap_or_else(|_| ApiError {
                code: format!("http-{status}"),
                message: match status {
                    413 => "request too large".to_string(),
                    _ => format!(
                        "HTTP status {status}: {}",
                        String::from_utf8_lossy(&body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ),
                },
                fields: Vec::new(),
            });
            Err(ClientError::Api { status, body })
        }
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        self.call("GET", path, None).await
    }

    /// POST `body` to `path`.
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        self.call("POST", path, Some(body)).await
    }
}
