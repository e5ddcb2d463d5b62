//! The API server: routes, bearer-token check, and the mapping of node
//! errors to HTTP statuses and JSON error bodies.

use super::ApiError;
use crate::node::{Node, SendError, SendRequest};
use crate::protocol::audit::Entry;
use crate::protocol::id::MessageId;
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq as _;

type Reply = Result<Response, (StatusCode, Json<ApiError>)>;

fn err(status: StatusCode, code: &str, message: impl Into<String>) -> (StatusCode, Json<ApiError>) {
    (
        status,
        Json(ApiError {
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
        }),
    )
}

fn internal(e: impl std::fmt::Display) -> (StatusCode, Json<ApiError>) {
    tracing::error!(error = %e, "API request failed");
    err(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

/// Serves the API on `listener` until the node stops.
pub async fn run(node: Arc<Node>, listener: tokio::net::TcpListener) {
    let authed = axum::Router::new()
        .route("/v1/messages", post(send).get(list))
        .route("/v1/messages/{id}", get(show))
        .route("/v1/messages/{id}/retry", post(retry))
        .route("/v1/backup", post(backup))
        .route("/v1/peers", post(add_peer).get(peers))
        .route("/v1/audit", get(audit))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/audit/export", post(audit_export))
        .route("/v1/audit/proof/{id}", get(audit_proof))
        .layer(axum::middleware::from_fn_with_state(node.clone(), auth));
    let app = axum::Router::new()
        .route("/v1/health", get(health))
        .merge(authed)
        .fallback(|| async { err(StatusCode::NOT_FOUND, "not-found", "no such endpoint") })
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .with_state(node.clone());
    let mut stop = node.stopping();
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "API server stopped");
    }
}

async fn auth(State(node): State<Arc<Node>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = node.api_token.as_bytes();
    let ok = given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected));
    if !ok {
        return err(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token (see HOME/keys/api.token)",
        )
        .into_response();
    }
    next.run(req).await
}

async fn health(State(node): State<Arc<Node>>) -> Response {
    Json(json!({"status": "ok", "country": node.me})).into_response()
}

async fn send(State(node): State<Arc<Node>>, body: axum::body::Bytes) -> Reply {
    let req: SendRequest = serde_json::from_slice(&body).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            format!("request body: {e}"),
        )
    })?;
    match node.send(req).await {
        Ok(id) => Ok((
            StatusCode::CREATED,
            Json(json!({"id": id, "state": "queued"})),
        )
            .into_response()),
        Err(SendError::InvalidForm(fields)) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(ApiError {
                code: "invalid-form".into(),
                message: SendError::InvalidForm(fields.clone()).to_string(),
                fields,
            }),
        )),
        Err(e @ SendError::UnknownPeer(_)) => Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-peer",
            e.to_string(),
        )),
        Err(e @ SendError::Invalid(_)) => Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            e.to_string(),
        )),
        Err(e) => Err(internal(e)),
    }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    case: Option<String>,
}

async fn list(State(node): State<Arc<Node>>, Query(q): Query<ListQuery>) -> Reply {
    let messages = node.messages(q.case.as_deref()).map_err(internal)?;
    Ok(Json(json!({ "messages": messages })).into_response())
}

async fn show(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Reply {
    let id = MessageId::parse(&id).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            e.to_string(),
        )
    })?;
    match node.show(id).map_err(internal)? {
        Some(s) => Ok(Json(s).into_response()),
        None => Err(err(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no message {id}"),
        )),
    }
}

async fn retry(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Reply {
    let id = MessageId::parse(&id).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            e.to_string(),
        )
    })?;
    match node.retry(id).await {
        Ok(view) => Ok(Json(view).into_response()),
        Err(e @ SendError::Invalid(_)) => Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            e.to_string(),
        )),
        Err(e) => Err(internal(e)),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    out: std::path::PathBuf,
}

async fn backup(State(node): State<Arc<Node>>, body: axum::body::Bytes) -> Reply {
    let req: BackupRequest = serde_json::from_slice(&body).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            format!("request body: {e}"),
        )
    })?;
    if !req.out.is_absolute() {
        return Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "out must be an absolute path",
        ));
    }
    match node.backup(req.out.clone()).await {
        Ok(s) => Ok(Json(json!({
            "file": req.out,
            "items": s.items,
            "audit_entries": s.audit_entries,
        }))
        .into_response()),
        Err(e) => Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "backup-failed",
            e.to_string(),
        )),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddPeer {
    card: String,
    agreement: String,
}

async fn add_peer(State(node): State<Arc<Node>>, body: axum::body::Bytes) -> Reply {
    let req: AddPeer = serde_json::from_slice(&body).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            format!("request body: {e}"),
        )
    })?;
    match node.add_peer(&req.card, &req.agreement).await {
        Ok((peer, agreement)) => Ok((
            StatusCode::CREATED,
            Json(json!({"peer": peer, "agreement": agreement})),
        )
            .into_response()),
        Err(crate::home::HomeError::Io { path, source }) => {
            Err(internal(format!("{}: {source}", path.display())))
        }
        Err(e) => Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-peer",
            e.to_string(),
        )),
    }
}

async fn peers(State(node): State<Arc<Node>>) -> Reply {
    let list: Vec<serde_json::Value> = super::super::node::peer_summaries(&node);
    Ok(Json(json!({ "peers": list })).into_response())
}

/// An audit entry as JSON: hashes in hex.
pub fn entry_json(e: &Entry, leaf: &[u8; 32]) -> serde_json::Value {
    json!({
        "seq": e.seq,
        "time": jiff::Timestamp::from_second(e.time).map(|t| t.to_string()).unwrap_or_default(),
        "event": e.event,
        "peer": e.peer,
        "message": e.message,
        "envelope_sha256": e.envelope.as_ref().map(hex::encode),
        "detail": e.detail,
        "prev": hex::encode(&e.prev),
        "leaf_hash": hex::encode(leaf),
    })
}

async fn audit(State(node): State<Arc<Node>>) -> Reply {
    let mut entries = Vec::new();
    for bytes in node.store.audit_entries() {
        let bytes = bytes.map_err(internal)?;
        let e: Entry = ciborium::from_reader(bytes.as_slice()).map_err(internal)?;
        entries.push(entry_json(&e, &crate::protocol::audit::leaf_hash(&bytes)));
    }
    let head = node.store.audit_head();
    Ok(
        Json(json!({"size": head.size, "head": hex::encode(head.head), "entries": entries}))
            .into_response(),
    )
}

/// The verification result as JSON.
pub fn verify_json(
    r: Result<crate::protocol::audit::Verified, crate::bundle::BundleError>,
) -> serde_json::Value {
    match r {
        Ok(v) => json!({
            "ok": true,
            "size": v.chain.size,
            "head": hex::encode(v.chain.head),
            "root": hex::encode(v.root),
            "checkpoints": v.checkpoints,
            "cosignatures": v.cosignatures,
            "cosigned_size": v.cosigned_size,
        }),
        Err(crate::bundle::BundleError::Verify(f)) => json!({
            "ok": false,
            "kind": f.kind.as_str(),
            "entry": f.entry,
            "checkpoint": f.checkpoint,
            "error": f.to_string(),
        }),
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    }
}

async fn audit_verify(State(node): State<Arc<Node>>) -> Reply {
    let (own, peers) = node.audit_cards();
    let store = node.store.clone();
    let r = tokio::task::spawn_blocking(move || crate::bundle::verify_store(&store, &own, &peers))
        .await
        .map_err(internal)?;
    Ok(Json(verify_json(r)).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportRequest {
    out: std::path::PathBuf,
    #[serde(default)]
    ciphertexts: bool,
}

async fn audit_export(State(node): State<Arc<Node>>, body: axum::body::Bytes) -> Reply {
    let req: ExportRequest = serde_json::from_slice(&body).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            format!("request body: {e}"),
        )
    })?;
    if !req.out.is_absolute() {
        return Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "out must be an absolute path",
        ));
    }
    let store = node.store.clone();
    let key = node.card.signing_key;
    let country = node.me;
    let out = req.out.clone();
    let r = tokio::task::spawn_blocking(move || {
        crate::bundle::export(&store, country, &key, &out, req.ciphertexts)
    })
    .await
    .map_err(internal)?;
    match r {
        Ok(s) => Ok(Json(json!({"bundle": req.out, "summary": s})).into_response()),
        Err(e) => Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "export-failed",
            e.to_string(),
        )),
    }
}

async fn audit_proof(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Reply {
    let id = MessageId::parse(&id).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            e.to_string(),
        )
    })?;
    match node.audit_proof(id).map_err(internal)? {
        Some(p) => Ok(Json(p).into_response()),
        None => Err(err(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no audit entry names message {id}"),
        )),
    }
}
