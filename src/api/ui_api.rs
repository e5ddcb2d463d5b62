//! The API endpoints the web interface needs beyond the CLI's: who is
//! signed in, the message kinds with their schemas, templates and offline
//! validation, label catalogues, the agreements with their signatures and
//! SLA tables, and the audit log's latest checkpoint with the peers'
//! witnessing. Every route here sits behind the same bearer-token check as
//! the rest of the API (see `server::run`); none returns form content.

use super::ApiError;
use crate::node::Node;
use crate::node::access::Caller;
use crate::protocol::forms::template::template;
use crate::protocol::forms::{Form, Kind};
use crate::protocol::labels::Catalogue;
use crate::protocol::language::Language;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;
use std::sync::Arc;

type Failure = (StatusCode, Json<ApiError>);
type Reply = Result<Response, Failure>;

/// The routes of this module, to be merged under the token check.
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/v1/whoami", get(whoami))
        .route("/v1/forms", get(kinds))
        .route("/v1/forms/{kind}/schema", get(schema))
        .route("/v1/forms/{kind}/template", get(form_template))
        .route("/v1/forms/{kind}/validate", post(validate))
        .route("/v1/labels/{lang}", get(labels))
        .route("/v1/agreements", get(agreements))
        .route("/v1/audit/checkpoint", get(checkpoint))
}

fn fail(status: StatusCode, code: &str, message: impl Into<String>) -> Failure {
    (
        status,
        Json(ApiError {
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
        }),
    )
}

fn internal(e: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %e, "API request failed");
    fail(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

fn kind_of(name: &str) -> Result<Kind, Failure> {
    Kind::parse(name).ok_or_else(|| {
        fail(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no message kind {name:?}"),
        )
    })
}

/// The languages this node has a catalogue for: English, and every valid
/// `HOME/labels/xx.toml`.
fn languages(node: &Node) -> Vec<String> {
    let mut out = vec!["en".to_string()];
    if let Ok(dir) = std::fs::read_dir(node.home.dir.join("labels")) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(lang) = name.strip_suffix(".toml")
                && lang != "en"
                && Language::parse(lang).is_ok()
            {
                out.push(lang.to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The catalogue for `lang`, over English where it has no label.
fn catalogue(node: &Node, lang: &str) -> Result<Catalogue, Failure> {
    Language::parse(lang).map_err(|e| {
        fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            e.to_string(),
        )
    })?;
    if lang == "en" {
        return Ok(Catalogue::english());
    }
    let path = node.home.dir.join("labels").join(format!("{lang}.toml"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("no label catalogue for {lang:?} (HOME/labels/{lang}.toml)"),
            ));
        }
        Err(e) => return Err(internal(format!("{}: {e}", path.display()))),
    };
    let c = Catalogue::from_toml(&text)
        .map_err(|e| internal(format!("{}: {}: {}", path.display(), e.field, e.message)))?;
    if c.language != lang {
        return Err(internal(format!(
            "{}: language is {:?}, expected {lang:?}",
            path.display(),
            c.language
        )));
    }
    Ok(c.over_english())
}

#[derive(serde::Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

impl LangQuery {
    fn lang(&self) -> &str {
        self.lang.as_deref().unwrap_or("en")
    }
}

async fn whoami(State(node): State<Arc<Node>>, Extension(caller): Extension<Caller>) -> Reply {
    let config = node.home.config().map_err(internal)?;
    Ok(Json(json!({
        "name": caller.name,
        "role": caller.role,
        "country": node.me,
        "node": config.name,
        "languages": languages(&node),
    }))
    .into_response())
}

async fn kinds(State(node): State<Arc<Node>>, Query(q): Query<LangQuery>) -> Reply {
    let labels = catalogue(&node, q.lang())?;
    let list: Vec<serde_json::Value> = Kind::ALL
        .iter()
        .map(|k| {
            json!({
                "kind": k,
                "label": labels.kind(k.as_str()),
                "answers": k.answers(),
                "sent_by_node": *k == Kind::Reminder,
            })
        })
        .collect();
    Ok(Json(json!({ "kinds": list })).into_response())
}

async fn schema(Path(kind): Path<String>) -> Reply {
    Ok(Json(kind_of(&kind)?.schema()).into_response())
}

async fn form_template(
    State(node): State<Arc<Node>>,
    Path(kind): Path<String>,
    Query(q): Query<LangQuery>,
) -> Reply {
    let k = kind_of(&kind)?;
    let labels = catalogue(&node, q.lang())?;
    Ok(Json(template(k.as_str(), &k.schema(), &labels)).into_response())
}

async fn validate(
    State(node): State<Arc<Node>>,
    Path(kind): Path<String>,
    body: axum::body::Bytes,
) -> Reply {
    let k = kind_of(&kind)?;
    let today = node.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    match Form::from_json(k, &body, today) {
        Ok(form) => Ok(Json(json!({
            "valid": true,
            "kind": k,
            "urgent": form.is_urgent(),
        }))
        .into_response()),
        Err(fields) => {
            let n = fields.len();
            Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ApiError {
                    code: "invalid-form".into(),
                    message: format!("the form is invalid: {n} problem(s)"),
                    fields,
                }),
            ))
        }
    }
}

async fn labels(State(node): State<Arc<Node>>, Path(lang): Path<String>) -> Reply {
    let c = catalogue(&node, &lang)?;
    // Flatten the fallback into one complete catalogue for the browser.
    let en = Catalogue::english();
    let mut kinds = en.kinds.clone();
    kinds.extend(c.kinds.clone());
    let mut fields = en.fields.clone();
    fields.extend(c.fields.clone());
    let mut codes = en.codes.clone();
    codes.extend(c.codes.clone());
    let mut words = en.words.clone();
    words.extend(c.words.clone());
    Ok(Json(json!({
        "language": c.language,
        "kinds": kinds,
        "fields": fields,
        "codes": codes,
        "words": words,
    }))
    .into_response())
}

async fn agreements(State(node): State<Arc<Node>>) -> Reply {
    let today = node.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let peers: Vec<Arc<crate::home::Peer>> = match node.peers.read() {
        Ok(g) => g.values().cloned().collect(),
        Err(p) => p.into_inner().values().cloned().collect(),
    };
    let mut list = Vec::new();
    for p in peers {
        let a = &p.agreement;
        let state = crate::protocol::signature::state(a, &p.signed_by, today);
        let (state_name, detail) = match &state {
            crate::protocol::signature::AgreementState::Active => ("active", json!(null)),
            crate::protocol::signature::AgreementState::AwaitingSignature(missing) => {
                ("awaiting-signature", json!({ "missing": missing }))
            }
            crate::protocol::signature::AgreementState::NotInForce(why) => {
                ("not-in-force", json!({ "reason": why }))
            }
        };
        let terms = serde_json::to_value(a).map_err(internal)?;
        list.push(json!({
            "peer": p.card.country,
            "peer_name": p.card.name,
            "id": a.id,
            "version": a.version,
            "hash": hex::encode(a.hash()),
            "parties": a.parties,
            "languages": a.languages,
            "signed_by": p.signed_by,
            "state": state_name,
            "state_detail": detail,
            "terms": terms,
        }));
    }
    Ok(Json(json!({ "agreements": list })).into_response())
}

/// Any role may read this: sizes, hashes and signatures, no case data.
async fn checkpoint(State(node): State<Arc<Node>>) -> Reply {
    let head = node.store.audit_head();
    let latest = node.store.latest_checkpoint().map_err(internal)?;
    let countries: Vec<crate::protocol::country::Country> = match node.peers.read() {
        Ok(g) => g.keys().copied().collect(),
        Err(p) => p.into_inner().keys().copied().collect(),
    };
    let mut peers = Vec::new();
    for c in countries {
        let witnessed = node.store.witnessed(c).map_err(internal)?;
        peers.push(json!({
            "country": c,
            "cosigned_our_log_to": node.store.cosigned_by(c).map_err(internal)?,
            "log_witness": witnessed.map(|w| json!({
                "size": w.size,
                "cosigned_at": jiff::Timestamp::from_second(w.cosigned_at)
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                "fork": w.fork,
            })),
        }));
    }
    let stamp = node.now().strftime("%Y%m%d-%H%M%S").to_string();
    let suggestion = node.home.dir.join("exports").join(format!("audit-{stamp}"));
    Ok(Json(json!({
        "origin": node.origin,
        "log_size": head.size,
        "head": hex::encode(head.head),
        "checkpoint": latest.map(|(size, note)| json!({"size": size, "note": note})),
        "peers": peers,
        "export_suggestion": suggestion,
    }))
    .into_response())
}
