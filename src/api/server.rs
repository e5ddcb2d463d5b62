//! The API server: routes, bearer-token check, and the mapping of node
//! errors to HTTP statuses and JSON error bodies.

use super::ApiError;
use crate::node::access::Caller;
use crate::node::{Node, SendError, SendRequest};
use crate::protocol::audit::Entry;
use crate::protocol::id::MessageId;
use crate::users::Role;
use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;

type Reply = Result<Response, (StatusCode, Json<ApiError>)>;

pub(super) fn err(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
) -> (StatusCode, Json<ApiError>) {
    (
        status,
        Json(ApiError {
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
        }),
    )
}

/// Reads a JSON request body, refusing unknown or malformed fields.
fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, (StatusCode, Json<ApiError>)> {
    serde_json::from_slice(body).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            format!("request body: {e}"),
        )
    })
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
        .route("/v1/deadlines", get(deadlines_list))
        .route("/v1/agreements/reload", post(agreements_reload))
        .route("/v1/reports/sla", get(report_sla))
        .route("/v1/reports/stats", get(report_stats))
        .route("/v1/cases", post(case_open))
        .route("/v1/cases/{case}", get(case_show).post(case_update))
        .route("/v1/cases/{case}/consents", post(case_consent))
        .route("/v1/cases/{case}/return", post(case_return))
        .route("/v1/cases/{case}/erase", post(case_erase))
        .route("/v1/users", get(users_list).post(users_add))
        .route("/v1/users/{name}/revoke", post(users_revoke))
        .route("/metrics", get(metrics))
        .merge(super::ui_api::routes())
        .merge(super::keys::routes())
        .merge(super::attachments::routes())
        .layer(axum::middleware::from_fn_with_state(node.clone(), auth));
    let app = axum::Router::new()
        .route("/v1/health", get(health))
        .route("/healthz", get(healthz))
        .merge(super::web::routes())
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

async fn auth(State(node): State<Arc<Node>>, mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match node.authenticate(given) {
        Some(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        None => err(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing, wrong or revoked bearer token",
        )
        .into_response(),
    }
}

fn require(caller: &Caller, roles: &[Role]) -> Result<(), (StatusCode, Json<ApiError>)> {
    if caller.is(roles) {
        Ok(())
    } else {
        Err(err(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} ({}) may not do this; it needs the role {}",
                caller.name,
                caller.role.as_str(),
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ))
    }
}

async fn health(State(node): State<Arc<Node>>) -> Response {
    Json(json!({"status": "ok", "country": node.me})).into_response()
}

/// `GET /metrics`: the Prometheus text exposition; any role may scrape.
async fn metrics(State(node): State<Arc<Node>>) -> Reply {
    let text = node.metrics_text().await.map_err(internal)?;
    Ok((
        [(header::CONTENT_TYPE, crate::node::metrics::CONTENT_TYPE)],
        text,
    )
        .into_response())
}

#[derive(serde::Deserialize)]
struct HealthzQuery {
    ready: Option<String>,
}

/// `GET /healthz`: liveness; with `?ready=1`, readiness (store, QUIC, audit
/// head), `503` when not ready. No token: it reveals nothing.
async fn healthz(State(node): State<Arc<Node>>, Query(q): Query<HealthzQuery>) -> Response {
    let wants_ready = q
        .ready
        .is_some_and(|v| !matches!(v.as_str(), "0" | "false" | "no"));
    if !wants_ready {
        return Json(json!({"status": "ok"})).into_response();
    }
    let r = node.readiness();
    let status = if r.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r.to_json())).into_response()
}

async fn send(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Reply {
    let req: SendRequest = parse_body(&body)?;
    match node.send(&caller, req).await {
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
        Err(SendError::Refused(r)) => Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(ApiError {
                code: "refused-by-safeguard".into(),
                message: format!(
                    "refused to protect the child ({}): {}.{}",
                    r.rule.as_str(),
                    r.reason,
                    if r.overridable {
                        " An admin may override this with a written reason."
                    } else {
                        " This safeguard has no override."
                    }
                ),
                fields: Vec::new(),
            }),
        )),
        Err(e @ SendError::Forbidden(_)) => {
            Err(err(StatusCode::FORBIDDEN, "forbidden", e.to_string()))
        }
        Err(e) => Err(internal(e)),
    }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    case: Option<String>,
}

async fn list(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Reply {
    let mut messages = node.messages(q.case.as_deref()).map_err(internal)?;
    let mut allowed: std::collections::HashMap<String, bool> = Default::default();
    messages.retain(|m| {
        *allowed
            .entry(m.case.clone())
            .or_insert_with(|| node.may_list_case(&caller, &m.case))
    });
    Ok(Json(json!({ "messages": messages })).into_response())
}

async fn show(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    let id = MessageId::parse(&id).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            e.to_string(),
        )
    })?;
    match node.show(id).map_err(internal)? {
        Some(s) => {
            if !node.may_see_case(&caller, &s.message.case) {
                return Err(err(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("{} may not read the forms of this case", caller.name),
                ));
            }
            node.form_read(&caller, &s.message).await;
            Ok(Json(s).into_response())
        }
        None => Err(err(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no message {id}"),
        )),
    }
}

async fn retry(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    require(&caller, &[Role::Operator, Role::CaseManager, Role::Admin])?;
    let id = MessageId::parse(&id).map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            e.to_string(),
        )
    })?;
    if let Ok(Some(m)) = node.store.message(id)
        && !node.may_see_case(&caller, &m.case)
    {
        return Err(err(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{} is not on this case's access list", caller.name),
        ));
    }
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

async fn backup(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Reply {
    require(&caller, &[Role::Admin])?;
    let req: BackupRequest = parse_body(&body)?;
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

async fn add_peer(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Reply {
    require(&caller, &[Role::Admin])?;
    let req: AddPeer = parse_body(&body)?;
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

async fn audit(State(node): State<Arc<Node>>, Extension(caller): Extension<Caller>) -> Reply {
    require(&caller, &[Role::Admin, Role::Auditor])?;
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

async fn audit_verify(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
) -> Reply {
    require(&caller, &[Role::Admin, Role::Auditor])?;
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

async fn audit_export(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Reply {
    require(&caller, &[Role::Admin, Role::Auditor])?;
    let req: ExportRequest = parse_body(&body)?;
    if !req.out.is_absolute() {
        return Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "out must be an absolute path",
        ));
    }
    let store = node.store.clone();
    let card = node.card();
    let out = req.out.clone();
    let r = tokio::task::spawn_blocking(move || {
        crate::bundle::export(&store, &card, &out, req.ciphertexts)
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

async fn audit_proof(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Reply {
    require(&caller, &[Role::Admin, Role::Auditor])?;
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

fn case_error(e: crate::node::cases::CaseError) -> (StatusCode, Json<ApiError>) {
    use crate::node::cases::CaseError as E;
    match e {
        E::Invalid(fields) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(ApiError {
                code: "invalid-case".into(),
                message: E::Invalid(fields.clone()).to_string(),
                fields,
            }),
        ),
        e @ E::NotFound(_) => err(StatusCode::NOT_FOUND, "not-found", e.to_string()),
        e @ E::Exists(_) => err(StatusCode::CONFLICT, "exists", e.to_string()),
        e => internal(e),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseOpen {
    case: String,
    #[serde(default)]
    fields: crate::node::cases::CaseInput,
}

async fn case_open(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Reply {
    require(&caller, &[Role::Operator, Role::CaseManager, Role::Admin])?;
    let req: CaseOpen = parse_body(&body)?;
    let view = node
        .open_case(&req.case, &req.fields, &caller.name)
        .await
        .map_err(case_error)?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn case_access(
    node: &Node,
    caller: &Caller,
    case: &str,
) -> Result<(), (StatusCode, Json<ApiError>)> {
    if node.may_see_case(caller, case) {
        Ok(())
    } else {
        Err(err(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{} is not on this case's access list", caller.name),
        ))
    }
}

async fn case_show(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(case): Path<String>,
) -> Reply {
    case_access(&node, &caller, &case)?;
    match node.case_record(&case).map_err(case_error)? {
        Some(r) => Ok(Json(node.view(r)).into_response()),
        None => Err(err(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no case {case}"),
        )),
    }
}

async fn case_update(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(case): Path<String>,
    body: axum::body::Bytes,
) -> Reply {
    require(&caller, &[Role::Operator, Role::CaseManager, Role::Admin])?;
    case_access(&node, &caller, &case)?;
    let input: crate::node::cases::CaseInput = parse_body(&body)?;
    let view = node
        .update_case(&case, &input, &caller.name)
        .await
        .map_err(case_error)?;
    Ok(Json(view).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentRequest {
    purpose: crate::protocol::case::Purpose,
    by: crate::protocol::case::ConsentBy,
    #[serde(default)]
    withdraw: bool,
}

async fn case_consent(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(case): Path<String>,
    body: axum::body::Bytes,
) -> Reply {
    require(&caller, &[Role::Operator, Role::CaseManager, Role::Admin])?;
    case_access(&node, &caller, &case)?;
    let req: ConsentRequest = parse_body(&body)?;
    let view = node
        .record_consent(&case, req.purpose, req.by, req.withdraw, &caller.name)
        .await
        .map_err(case_error)?;
    Ok(Json(view).into_response())
}

async fn case_return(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(case): Path<String>,
    body: axum::body::Bytes,
) -> Reply {
    require(&caller, &[Role::Operator, Role::CaseManager, Role::Admin])?;
    case_access(&node, &caller, &case)?;
    let ret: crate::protocol::schedule::Return = parse_body(&body)?;
    let (view, made) = node
        .record_return(&case, ret, &caller.name)
        .await
        .map_err(case_error)?;
    let now = node.now();
    let follow_ups: Vec<_> = made
        .iter()
        .map(|d| crate::node::deadlines::DeadlineView::of(d, d.deadline.state(now, None)))
        .collect();
    Ok(Json(serde_json::json!({ "case": view, "follow_ups": follow_ups })).into_response())
}

async fn case_erase(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(case): Path<String>,
) -> Reply {
    require(&caller, &[Role::Admin])?;
    let n = node
        .erase_case(&case, &caller.name)
        .await
        .map_err(case_error)?;
    Ok(Json(json!({"case": case, "erased_forms": n})).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UserAdd {
    name: String,
    role: Role,
}

async fn users_add(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Reply {
    require(&caller, &[Role::Admin])?;
    let req: UserAdd = parse_body(&body)?;
    let token = node
        .add_user(&req.name, req.role)
        .map_err(|e| err(StatusCode::UNPROCESSABLE_ENTITY, "invalid-user", e))?;
    node.user_audit(
        &caller,
        &format!("added user {} ({})", req.name, req.role.as_str()),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": req.name, "role": req.role, "token": token})),
    )
        .into_response())
}

async fn users_list(State(node): State<Arc<Node>>, Extension(caller): Extension<Caller>) -> Reply {
    require(&caller, &[Role::Admin])?;
    let users = node.list_users().map_err(internal)?;
    Ok(Json(json!({ "users": users })).into_response())
}

async fn users_revoke(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Reply {
    require(&caller, &[Role::Admin])?;
    node.revoke_user(&name)
        .map_err(|e| err(StatusCode::UNPROCESSABLE_ENTITY, "invalid-user", e))?;
    node.user_audit(&caller, &format!("revoked user {name}"))
        .await;
    Ok(Json(json!({"name": name, "revoked": true})).into_response())
}

#[derive(serde::Deserialize)]
struct DeadlineQuery {
    #[serde(default)]
    overdue: bool,
    peer: Option<String>,
}

async fn deadlines_list(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<DeadlineQuery>,
) -> Reply {
    use crate::node::deadlines::{DeadlineView, urgency};
    let peer = match &q.peer {
        Some(p) => Some(
            p.parse::<crate::protocol::country::Country>()
                .map_err(|e| {
                    err(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-request",
                        e.to_string(),
                    )
                })?,
        ),
        None => None,
    };
    let mut all = node.deadline_views().map_err(internal)?;
    all.retain(|(d, s)| {
        peer.is_none_or(|p| p == d.peer)
            && (!q.overdue || *s == crate::protocol::deadline::DeadlineState::Overdue)
            && node.may_list_case(&caller, &d.case)
    });
    all.sort_by(|(a, sa), (b, sb)| {
        (urgency(*sa), !a.owed, a.deadline.due).cmp(&(urgency(*sb), !b.owed, b.deadline.due))
    });
    let list: Vec<DeadlineView> = all.iter().map(|(d, s)| DeadlineView::of(d, *s)).collect();
    // Children who turn 18 soon: time to prepare a Pathway Plan.
    let mut ageing_out = Vec::new();
    for case in node.store.case_refs().map_err(internal)? {
        if !node.may_see_case(&caller, &case) {
            continue;
        }
        if let Ok(Some(r)) = node.case_record(&case) {
            let v = node.view(r);
            if let Some(d) = v.ages_out_soon {
                ageing_out.push(json!({"case": case, "eighteenth_birthday": d}));
            }
        }
    }
    Ok(Json(json!({ "deadlines": list, "ageing_out": ageing_out })).into_response())
}

#[derive(serde::Deserialize)]
struct SlaQuery {
    peer: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn report_sla(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<SlaQuery>,
) -> Reply {
    require(&caller, &[Role::Admin, Role::Auditor, Role::CaseManager])?;
    let bad = |m: String| err(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", m);
    let peer = match &q.peer {
        Some(p) => Some(
            p.parse::<crate::protocol::country::Country>()
                .map_err(|e| bad(e.to_string()))?,
        ),
        None => None,
    };
    let day =
        |s: &Option<String>| -> Result<Option<jiff::Timestamp>, (StatusCode, Json<ApiError>)> {
            match s {
                None => Ok(None),
                Some(t) => {
                    let d: jiff::civil::Date = t
                        .parse()
                        .map_err(|_| bad(format!("{t:?} is not a date (YYYY-MM-DD)")))?;
                    d.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                        .map(|z| Some(z.timestamp()))
                        .map_err(|e| bad(e.to_string()))
                }
            }
        };
    let (from, to) = (day(&q.from)?, day(&q.to)?);
    let all = node.deadline_views().map_err(internal)?;
    let lines = crate::node::deadlines::sla_report(&all, peer, from, to);
    Ok(Json(json!({ "lines": lines })).into_response())
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReloadRequest {
    #[serde(default)]
    signed: Option<String>,
}

async fn agreements_reload(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Reply {
    require(&caller, &[Role::Admin])?;
    let req: ReloadRequest = if body.is_empty() {
        ReloadRequest::default()
    } else {
        parse_body(&body)?
    };
    if let Some(what) = req.signed {
        node.audit(
            crate::protocol::audit::Event::AgreementSigned,
            crate::protocol::audit::Record {
                detail: Some(what.chars().take(300).collect()),
                ..Default::default()
            },
        );
        let _ = node.sync.wait().await;
    }
    node.reload_peers().map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-home",
            e.to_string(),
        )
    })?;
    Ok(Json(json!({"reloaded": true})).into_response())
}

async fn report_stats(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
) -> Reply {
    require(&caller, &[Role::Admin, Role::Auditor])?;
    Ok(Json(node.stats().map_err(internal)?).into_response())
}
