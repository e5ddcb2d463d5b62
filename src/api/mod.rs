//! The local operator API: HTTP/1.1 with JSON on a loopback address. Every
//! request carries a bearer token (a person's own, or the built-in admin's
//! in `HOME/keys/api.token`) that decides the caller's role, except
//! `/v1/health`, `/healthz` and the web interface's files at `/`, which
//! hold no data; `/metrics` needs a token like the rest. The CLI, the demo
//! and the tests all use it through [`client::Client`]. Documented in
//! `docs/api.md` (prose) and `docs/api.yaml` (OpenAPI 3.1, checked against
//! the routes and a running node by `tests/openapi.rs`).

pub mod attachments;
pub mod client;
pub mod keys;
pub mod peer_health;
pub mod server;
pub mod stream;
pub mod ui_api;
pub mod web;

/// An API error body: a stable code and a message, plus field errors for
/// invalid forms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiError {
    /// Stable code, e.g. `invalid-form`, `unknown-peer`, `not-found`.
    pub code: String,
    /// Plain-language message.
    pub message: String,
    /// Field errors, when the form is invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<crate::protocol::FieldError>,
}
