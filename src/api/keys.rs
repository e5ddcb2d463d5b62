//! The key endpoints: `GET /v1/keys` (this node's keys, their age and
//! expiry, and which partners confirmed the latest rotation),
//! `POST /v1/keys/rotate` and `POST /v1/keys/revoke` (admins). The work is
//! in [`crate::node::rotation`].

use super::ApiError;
use super::server::err as fail;
use crate::home::KeyChoice;
use crate::node::Node;
use crate::node::access::Caller;
use crate::node::rotation::RotateError;
use crate::users::Role;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use std::sync::Arc;

type Failure = (StatusCode, Json<ApiError>);
type Reply = Result<Response, Failure>;

fn admin(caller: &Caller) -> Result<(), Failure> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(fail(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{} may not manage keys (admins only)", caller.name),
        ))
    }
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    let text = if bytes.is_empty() {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(text).map_err(|e| {
        fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            format!("request body: {e}"),
        )
    })
}

fn rotate_error(e: RotateError) -> Failure {
    match e {
        e @ RotateError::Pending { .. } => {
            fail(StatusCode::CONFLICT, "rotation-pending", e.to_string())
        }
        e => {
            tracing::error!(error = %e, "key rotation failed");
            fail(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }
    }
}

/// The routes of this module, to be merged under the token check.
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/v1/keys", get(status))
        .route("/v1/keys/rotate", post(rotate))
        .route("/v1/keys/revoke", post(revoke))
}

async fn status(State(node): State<Arc<Node>>, Extension(caller): Extension<Caller>) -> Reply {
    if !matches!(caller.role, Role::Admin | Role::Auditor) {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} may not see key status (admins and auditors)",
                caller.name
            ),
        ));
    }
    Ok(Json(crate::node::rotation::status_json(&node)).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    #[serde(default)]
    tls: bool,
    #[serde(default)]
    signing: bool,
    #[serde(default)]
    encryption: bool,
}

async fn rotate(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    bytes: axum::body::Bytes,
) -> Reply {
    admin(&caller)?;
    let r: RotateRequest = body(&bytes)?;
    let choice = if !r.tls && !r.signing && !r.encryption {
        KeyChoice::ALL
    } else {
        KeyChoice {
            tls: r.tls,
            signing: r.signing,
            encryption: r.encryption,
        }
    };
    let v = node
        .rotate_keys(choice, None, None, &caller.name)
        .await
        .map_err(rotate_error)?;
    Ok(Json(v).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    reason: String,
    #[serde(default)]
    compromised_from: Option<jiff::Timestamp>,
}

async fn revoke(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    bytes: axum::body::Bytes,
) -> Reply {
    admin(&caller)?;
    let r: RevokeRequest = body(&bytes)?;
    let reason = r.reason.trim();
    if reason.is_empty() || reason.len() > 1000 {
        return Err(fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "reason: give 1 to 1000 characters (no personal data)",
        ));
    }
    let now = node.now();
    let from = r.compromised_from.unwrap_or(now).min(now).as_second();
    let v = node
        .rotate_keys(KeyChoice::ALL, Some(from), Some(reason), &caller.name)
        .await
        .map_err(rotate_error)?;
    Ok(Json(v).into_response())
}
