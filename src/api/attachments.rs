//! The attachment and translation endpoints: `POST /v1/attachments`
//! (a file streamed up, sealed chunk by chunk as it arrives),
//! `GET /v1/messages/{id}/attachments/{name}` (streamed back down, opened
//! chunk by chunk; need-to-know and audited) and
//! `POST /v1/messages/{id}/translations` (a local translation beside the
//! signed original). The work is in [`crate::node::attachments`].

use super::ApiError;
use super::server::err as fail;
use crate::node::Node;
use crate::node::access::Caller;
use crate::node::attachments::AttachmentOpError;
use crate::protocol::country::Country;
use crate::protocol::id::MessageId;
use crate::users::Role;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http_body_util::BodyExt as _;
use std::sync::Arc;

type Failure = (StatusCode, Json<ApiError>);
type Reply = Result<Response, Failure>;

/// The routes of this module, to be merged under the token check.
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route(
            "/v1/attachments",
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/messages/{id}/attachments/{name}", get(download))
        .route("/v1/messages/{id}/translations", post(translate))
}

fn op_error(e: AttachmentOpError) -> Failure {
    match e {
        AttachmentOpError::Invalid(fields) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(ApiError {
                code: "invalid-attachment".into(),
                message: AttachmentOpError::Invalid(fields.clone()).to_string(),
                fields,
            }),
        ),
        AttachmentOpError::NotFound(m) => fail(StatusCode::NOT_FOUND, "not-found", m),
        e => {
            tracing::error!(error = %e, "attachment operation failed");
            fail(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }
    }
}

fn senders(caller: &Caller) -> Result<(), Failure> {
    if caller.is(&[Role::Operator, Role::CaseManager, Role::Admin]) {
        Ok(())
    } else {
        Err(fail(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{} may not handle attachments", caller.name),
        ))
    }
}

fn message_id(id: &str) -> Result<MessageId, Failure> {
    MessageId::parse(id).map_err(|e| {
        fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            e.to_string(),
        )
    })
}

/// The message `id` if `caller` may see its case.
fn visible(node: &Node, caller: &Caller, id: MessageId) -> Result<(), Failure> {
    let rec = node
        .store
        .message(id)
        .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .ok_or_else(|| {
            fail(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("no message {id}"),
            )
        })?;
    if node.may_see_case(caller, &rec.case) {
        Ok(())
    } else {
        Err(fail(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{} may not read the content of this case", caller.name),
        ))
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    to: String,
    name: String,
    #[serde(rename = "type")]
    media_type: String,
}

async fn upload(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<UploadQuery>,
    body: axum::body::Body,
) -> Reply {
    senders(&caller)?;
    let to = Country::parse(&q.to).map_err(|e| {
        fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            e.to_string(),
        )
    })?;
    let mut up = node
        .start_upload(to, &q.name, &q.media_type)
        .map_err(op_error)?;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                format!("upload broken off: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            up.push(&node, &data).map_err(op_error)?;
        }
    }
    let view = up.finish(&node).map_err(op_error)?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn download(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
) -> Reply {
    senders(&caller)?;
    let id = message_id(&id)?;
    visible(&node, &caller, id)?;
    let d = node
        .store
        .attachments(id)
        .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let Some(a) = d.iter().find(|a| a.name == name) else {
        return Err(fail(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("message {id} has no attachment of that name"),
        ));
    };
    let media_type = a.media_type.clone();
    let size = a.size;
    let (tx, body) = super::stream::ChannelBody::new();
    let reader = node.clone();
    tokio::task::spawn_blocking(move || {
        let sent = reader.read_attachment(&caller, id, &name, &mut |plain: &[u8]| {
            tx.blocking_send(Ok(hyper::body::Bytes::copy_from_slice(plain)))
                .map_err(|_| "the reader went away".to_string())
        });
        if let Err(e) = sent {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, media_type),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        axum::body::Body::new(body),
    )
        .into_response())
}

async fn translate(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> Reply {
    senders(&caller)?;
    let id = message_id(&id)?;
    visible(&node, &caller, id)?;
    let t: crate::protocol::attachment::Translation =
        serde_json::from_slice(&bytes).map_err(|e| {
            fail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request",
                format!("request body: {e}"),
            )
        })?;
    node.annotate_translation(&caller, id, t)
        .await
        .map_err(op_error)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"message": id, "added": true})),
    )
        .into_response())
}
