//! The local operator API: HTTP/1.1 with JSON on a loopback address, every
//! request but `/v1/health` authorised by the bearer token in
//! `HOME/keys/api.token`. The CLI, the demo and the tests all use it
//! through [`client::Client`]. Documented in `docs/api.md`.

pub mod client;
pub mod keys;
pub mod peer_health;
pub mod server;
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
