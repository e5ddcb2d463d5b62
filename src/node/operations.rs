//! What operators and admins ask of a running node: send, list, show and
//! register a peer. The API calls these; so does the demo.

use super::{Node, lock};
use crate::home::HomeError;
use crate::protocol::FieldError;
use crate::protocol::audit::{Event, Record};
use crate::protocol::country::Country;
use crate::protocol::envelope::{self, Meta, check_case_ref, sha256};
use crate::protocol::forms::{Form, Kind};
use crate::protocol::id::MessageId;
use crate::protocol::language::Language;
use crate::store::{Direction, MessageRecord, State, StoreError};
use std::sync::Arc;

/// An operator's request to send a form.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Recipient country.
    pub to: Country,
    /// Message kind.
    pub kind: Kind,
    /// Case reference.
    pub case: String,
    /// Language; defaults to the agreement's first language.
    #[serde(default)]
    pub lang: Option<Language>,
    /// The message this one answers.
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// The form, as JSON.
    pub form: serde_json::Value,
    /// The message asks the peer to trace the child's family.
    #[serde(default)]
    pub family_tracing: bool,
    /// An admin's written reason to lift an overridable safeguard.
    #[serde(default)]
    pub override_reason: Option<String>,
    /// Finished uploads to attach (their ids, from `POST /v1/attachments`).
    #[serde(default)]
    pub attachments: Vec<String>,
    /// Translations of free-text fields of the form.
    #[serde(default)]
    pub translations: Vec<crate::protocol::attachment::Translation>,
}

/// Why a send was refused. Nothing is queued in any of these cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No peer registered for the country.
    #[error("{0} is not a registered peer (register it with `nfp-node peer add`)")]
    UnknownPeer(Country),
    /// The form does not validate.
    #[error("the form is invalid: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidForm(Vec<FieldError>),
    /// Other invalid input (case, language, reply-to).
    #[error("{0}")]
    Invalid(String),
    /// A safeguard for the child refused the message.
    #[error("refused to protect the child: {}", .0.reason)]
    Refused(crate::protocol::gate::Refusal),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing failed.
    #[error("cannot seal the envelope: {0}")]
    Seal(String),
    /// The message was stored and queued, but the disk sync failed: it will
    /// be sent, but may not survive a crash before the next sync.
    #[error("message {0} is queued, but syncing it to disk failed; check the disk")]
    NotDurable(MessageId),
}

/// A message as the API and CLI show it. Times are RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageView {
    /// Message id.
    pub id: MessageId,
    /// `in` or `out`.
    pub direction: Direction,
    /// The other country.
    pub peer: Country,
    /// Kind.
    pub kind: Kind,
    /// Case reference.
    pub case: String,
    /// Language.
    pub lang: Language,
    /// The message it answers.
    pub reply_to: Option<MessageId>,
    /// `queued`, `delivered`, `failed` or `received`.
    pub state: State,
    /// Created by the sender.
    pub created: String,
    /// Stored by this node.
    pub stored: String,
    /// Receipt verified (out).
    pub delivered: Option<String>,
    /// Received (in).
    pub received: Option<String>,
    /// Response due under the agreement.
    pub due: Option<String>,
    /// Failed delivery attempts.
    pub attempts: u32,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// SHA-256 of the envelope as sent/received, hex.
    pub envelope_sha256: String,
}

fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.to_string())
        .unwrap_or_else(|_| t.to_string())
}

impl From<&MessageRecord> for MessageView {
    fn from(r: &MessageRecord) -> Self {
        MessageView {
            id: r.id,
            direction: r.direction,
            peer: r.peer,
            kind: r.kind,
            case: r.case.clone(),
            lang: r.lang,
            reply_to: r.reply_to,
            state: r.state,
            created: rfc3339(r.created),
            stored: rfc3339(r.stored),
            delivered: r.delivered.map(rfc3339),
            received: r.received.map(rfc3339),
            due: r.due.map(rfc3339),
            attempts: r.attempts,
            last_error: r.last_error.clone(),
            envelope_sha256: hex::encode(&r.envelope_sha256),
        }
    }
}

/// A message with its form.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Shown {
    /// The message.
    pub message: MessageView,
    /// The form as JSON.
    pub form: serde_json::Value,
    /// The attachments (name, type, size, SHA-256; never the key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentView>,
    /// Translations the sender signed into the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub translations: Vec<crate::protocol::attachment::Translation>,
    /// Translations added here afterwards, not part of the signed message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_translations: Vec<crate::protocol::attachment::Translation>,
    /// Which text prevails under the agreement: `original` or a language.
    pub prevails: String,
}

/// An attachment as `show` lists it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AttachmentView {
    /// File name.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (hex).
    pub sha256: String,
}

impl Node {
    /// Validates, seals, stores durably and queues a form. Returns its id.
    pub async fn send(
        self: &Arc<Self>,
        caller: &super::access::Caller,
        req: SendRequest,
    ) -> Result<MessageId, SendError> {
        let result = self.prepare_and_store(caller, &req).await;
        // A failure of the final sync comes after the message was stored and
        // queued: it is not a refusal, and the message will still go.
        if let Err(e) = &result
            && !matches!(e, SendError::NotDurable(_))
        {
            let detail = match e {
                SendError::InvalidForm(errs) => format!(
                    "invalid-form: {}",
                    errs.iter()
                        .map(|e| e.field.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                SendError::UnknownPeer(_) => "unknown-peer".into(),
                SendError::Refused(r) => format!(
                    "safeguard {}{}",
                    r.rule.as_str(),
                    if r.overridable { " (overridable)" } else { "" }
                ),
                SendError::Forbidden(_) => format!("forbidden to {}", caller.name),
                SendError::Invalid(_) => "invalid-request".into(),
                _ => "internal".into(),
            };
            self.audit(
                Event::SendRefused,
                Record {
                    peer: Some(req.to),
                    detail: Some(detail),
                    ..Record::default()
                },
            );
            let _ = self.sync.wait().await;
        }
        result
    }

    async fn prepare_and_store(
        self: &Arc<Self>,
        caller: &super::access::Caller,
        req: &SendRequest,
    ) -> Result<MessageId, SendError> {
        use crate::users::Role;
        if !caller.is(&[Role::Operator, Role::CaseManager, Role::Admin]) {
            return Err(SendError::Forbidden(format!(
                "{} ({}) may not send messages",
                caller.name,
                caller.role.as_str()
            )));
        }
        let peer = self.peer(req.to).ok_or(SendError::UnknownPeer(req.to))?;
        // From here on this send is a writer on its way to a sync.
        let coming = self.sync.coming();
        self.agreement_active(&peer).map_err(SendError::Invalid)?;
        if !peer.agreement.covers(req.kind) {
            return Err(SendError::Invalid(format!(
                "agreement {} v{} does not cover {} messages (its `kinds` list)",
                peer.agreement.id, peer.agreement.version, req.kind
            )));
        }
        check_case_ref(&req.case).map_err(|e| SendError::Invalid(e.to_string()))?;
        // Every message is about a case, and the case record carries what
        // the safeguards need: no record, no message.
        let case = self
            .case_record(&req.case)
            .map_err(|e| SendError::Invalid(e.to_string()))?
            .ok_or_else(|| {
                SendError::Invalid(format!(
                    "no case record for {}: open it first with `nfp-node case open --case {}` (the safeguards need its asylum, consent and age facts)",
                    req.case, req.case
                ))
            })?;
        if !self.may_see_case(caller, &req.case) {
            return Err(SendError::Forbidden(format!(
                "{} is not on the access list of this case",
                caller.name
            )));
        }
        let today_for_gate = self.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let override_ = match &req.override_reason {
            None => None,
            Some(_) if caller.role != Role::Admin => {
                return Err(SendError::Forbidden(
                    "only an admin may override a safeguard".into(),
                ));
            }
            Some(reason) => Some(crate::protocol::gate::Override {
                by_admin: caller.name.clone(),
                reason: reason.clone(),
            }),
        };
        let lifted = crate::protocol::gate::check_with_override(
            &case,
            req.to,
            req.kind,
            req.family_tracing,
            today_for_gate,
            override_.as_ref(),
        )
        .map_err(SendError::Refused)?;
        let lang = match req.lang {
            Some(l) if peer.agreement.allows_language(l) => l,
            Some(l) => {
                return Err(SendError::Invalid(format!(
                    "language {l} is not agreed in {} (agreed: {})",
                    peer.agreement.id,
                    peer.agreement
                        .languages
                        .iter()
                        .map(|l| l.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            None => *peer
                .agreement
                .languages
                .first()
                .ok_or_else(|| SendError::Invalid("agreement has no language".into()))?,
        };
        if let Some(r) = req.reply_to {
            match self.store.message(r)? {
                Some(m) if m.peer == req.to && m.case == req.case => {
                    if let Some(why) = req.kind.reply_error(m.kind) {
                        return Err(SendError::Invalid(format!("--reply-to {r}: {why}")));
                    }
                }
                Some(_) => {
                    return Err(SendError::Invalid(format!(
                        "--reply-to {r} belongs to another case or peer"
                    )));
                }
                None => {
                    return Err(SendError::Invalid(format!(
                        "--reply-to {r}: no such message"
                    )));
                }
            }
        }
        let now = self.now();
        let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let json = serde_json::to_vec(&req.form).map_err(|e| SendError::Invalid(e.to_string()))?;
        let form = Form::from_json(req.kind, &json, today).map_err(SendError::InvalidForm)?;
        let extras = crate::protocol::attachment::Extras {
            attachments: self
                .uploads_for(&peer, &req.attachments)
                .map_err(SendError::InvalidForm)?,
            translations: req.translations.clone(),
        };
        if !extras.translations.is_empty() {
            crate::protocol::attachment::check_translations(
                &extras.translations,
                lang,
                &peer.agreement.languages,
                &form.to_json(),
            )
            .map_err(SendError::InvalidForm)?;
        }
        let random = crate::home::random::<10>().map_err(|e| SendError::Seal(e.to_string()))?;
        let id = MessageId::new(self.now_ms(), *random);
        let meta = Meta {
            v: envelope::VERSION,
            id,
            to: req.to,
            case: req.case.clone(),
            from: self.me,
            kind: req.kind,
            lang,
            minor: envelope::MINOR,
            created: now.as_second(),
            reply_to: req.reply_to,
            agreement: (
                peer.agreement.id.clone(),
                peer.agreement.version,
                serde_bytes::ByteBuf::from(peer.agreement_hash.to_vec()),
            ),
        };
        let form_cbor = form.to_cbor();
        let seed = crate::home::random::<32>().map_err(|e| SendError::Seal(e.to_string()))?;
        let env = envelope::seal_with(
            &meta,
            &form_cbor,
            &extras,
            &self.own().signing,
            &peer.card.encryption_key,
            *seed,
        )
        .map_err(|e| SendError::Seal(e.to_string()))?;
        let hash = sha256(&env);
        let rec = MessageRecord {
            id,
            direction: Direction::Out,
            peer: req.to,
            kind: req.kind,
            case: req.case.clone(),
            lang,
            reply_to: req.reply_to,
            state: State::Queued,
            created: meta.created,
            stored: meta.created,
            delivered: None,
            received: None,
            due: None,
            attempts: 0,
            last_error: None,
            envelope_sha256: serde_bytes::ByteBuf::from(hash.to_vec()),
            urgent: form.is_urgent(),
            receipt: None,
        };
        let nonce = crate::home::random::<24>().map_err(|e| SendError::Seal(e.to_string()))?;
        let urgent = form.is_urgent();
        if !extras.attachments.is_empty() {
            // The files move to the message before it is committed; a
            // crash in between leaves only unused files, no message.
            let n = crate::home::random::<24>().map_err(|e| SendError::Seal(e.to_string()))?;
            self.store.put_attachments(id, &extras.attachments, *n)?;
            self.store.claim_uploads(id, &extras.attachments)?;
        }
        if !extras.translations.is_empty() {
            let n = crate::home::random::<24>().map_err(|e| SendError::Seal(e.to_string()))?;
            self.store
                .put_signed_translations(id, &extras.translations, *n)?;
        }
        let queued = Record {
            peer: Some(req.to),
            message: Some(id),
            envelope: Some(hash),
            detail: Some(format!(
                "{}{}",
                req.kind.as_str(),
                super::attachments::audit_summary(&extras.attachments)
            )),
        };
        self.store.put_outgoing(
            &rec,
            &env,
            &form_cbor,
            urgent,
            *nonce,
            (Event::MessageQueued, queued, self.now().as_second()),
        )?;
        if let (Some(rule), Some(o)) = (lifted, &override_) {
            self.audit(
                Event::GateOverridden,
                Record {
                    peer: Some(req.to),
                    message: Some(id),
                    envelope: Some(hash),
                    detail: Some(format!(
                        "{} lifted by {}: {}",
                        rule.as_str(),
                        o.by_admin,
                        o.reason.chars().take(300).collect::<String>()
                    )),
                },
            );
        }
        if let Ok(at) = jiff::Timestamp::from_second(meta.created) {
            if let Some(r) = req.reply_to {
                self.close_deadline(r, req.kind, id, at);
            }
            self.close_scheduled(req.to, &req.case, req.kind, true, id, at);
        }
        let synced = self.sync.wait_coming(coming).await;
        let now_ms = self.now_ms();
        lock(&self.queue).push(id, req.to, urgent, now_ms);
        self.notify_for(req.to).notify_one();
        if synced.is_err() {
            return Err(SendError::NotDurable(id));
        }
        tracing::info!(peer = %req.to, msg_id = %id, kind = %req.kind, "queued");
        Ok(id)
    }

    /// Every message, oldest first, optionally for one case.
    pub fn messages(&self, case: Option<&str>) -> Result<Vec<MessageView>, StoreError> {
        Ok(self
            .store
            .messages(case)?
            .iter()
            .map(MessageView::from)
            .collect())
    }

    /// One message with its form.
    pub fn show(&self, id: MessageId) -> Result<Option<Shown>, StoreError> {
        let Some(rec) = self.store.message(id)? else {
            return Ok(None);
        };
        let prevails = self
            .peer(rec.peer)
            .map(|p| p.agreement.prevailing_text().to_string())
            .unwrap_or_else(|| "original".into());
        let Some(cbor) = self.store.form(id)? else {
            // Erased at the end of the case's retention: only metadata stays.
            return Ok(Some(Shown {
                message: MessageView::from(&rec),
                form: serde_json::json!({"erased": true}),
                attachments: Vec::new(),
                translations: Vec::new(),
                local_translations: Vec::new(),
                prevails,
            }));
        };
        let today = self.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        // Decode with the form's type; a form that no longer passes today's
        // rules, or that carries fields of a newer minor version, is shown
        // as its stored CBOR, so nothing is hidden or lost.
        let form = Form::from_cbor(rec.kind, &cbor, today)
            .map(|f| f.to_json())
            .or_else(|_| {
                ciborium::from_reader::<ciborium::value::Value, _>(cbor.as_slice())
                    .map(|v| serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
            })
            .map_err(|e| StoreError::Corrupt {
                what: "form",
                key: id.to_string(),
                reason: e.to_string(),
            })?;
        let attachments = self
            .store
            .attachments(id)?
            .into_iter()
            .map(|a| AttachmentView {
                sha256: hex::encode(a.sha256.as_slice()),
                name: a.name,
                media_type: a.media_type,
                size: a.size,
            })
            .collect();
        Ok(Some(Shown {
            message: MessageView::from(&rec),
            form,
            attachments,
            translations: self.store.signed_translations(id)?,
            local_translations: self.store.annotations(id)?,
            prevails,
        }))
    }

    /// Registers a peer under an agreement and starts delivering to it.
    pub async fn add_peer(
        self: &Arc<Self>,
        card_text: &str,
        agreement_text: &str,
    ) -> Result<(Country, String), HomeError> {
        let (card, agreement) = self.home.add_peer(card_text, agreement_text)?;
        let is_new = !super::read(&self.peers).contains_key(&card.country);
        self.reload_peers()?;
        // A changed card must not keep using an old connection.
        self.connections.lock().await.remove(&card.country);
        self.audit(
            Event::PeerAdded,
            Record {
                peer: Some(card.country),
                detail: Some(crate::home::peer_added_detail(&card, &agreement)),
                ..Record::default()
            },
        );
        let _ = self.sync.wait().await;
        if is_new {
            tokio::spawn(super::delivery::peer_worker(self.clone(), card.country));
        }
        Ok((card.country, agreement.id))
    }
}

impl Node {
    /// Re-reads peers, agreements and signatures from the home and puts
    /// them in force: pins at once, agreements for the next message.
    pub fn reload_peers(&self) -> Result<(), HomeError> {
        let (peers, problems) = self.home.peers(self.me);
        if !problems.is_empty() {
            return Err(HomeError::Problems(problems));
        }
        self.transport.pins().replace(super::pins_of(&peers));
        let peers: std::collections::BTreeMap<_, _> =
            peers.into_iter().map(|(c, p)| (c, Arc::new(p))).collect();
        match self.peers.write() {
            Ok(mut g) => *g = peers,
            Err(p) => *p.into_inner() = peers,
        }
        Ok(())
    }

    /// Whether the agreement with `peer` is active today; why not if not.
    pub(crate) fn agreement_active(&self, peer: &crate::home::Peer) -> Result<(), String> {
        use crate::protocol::signature::{AgreementState, state};
        let today = self.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        match state(&peer.agreement, &peer.signed_by, today) {
            AgreementState::Active => Ok(()),
            AgreementState::AwaitingSignature(missing) => Err(format!(
                "agreement {} v{} is not active: it awaits the signature of {} (`nfp-node agreement sign`, then `agreement add-signature` on the other side)",
                peer.agreement.id,
                peer.agreement.version,
                missing
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            )),
            AgreementState::NotInForce(why) => Err(why),
        }
    }

    /// Puts a failed outgoing message back in the queue.
    pub async fn retry(self: &Arc<Self>, id: MessageId) -> Result<MessageView, SendError> {
        let rec = self
            .store
            .message(id)?
            .ok_or_else(|| SendError::Invalid(format!("no message {id}")))?;
        if rec.direction != Direction::Out {
            return Err(SendError::Invalid(format!(
                "message {id} was received, not sent; only sent messages can be retried"
            )));
        }
        if rec.state == State::Delivered {
            return Err(SendError::Invalid(format!(
                "message {id} is already delivered"
            )));
        }
        let rec = self
            .store
            .requeue(id)?
            .ok_or_else(|| SendError::Invalid(format!("no message {id}")))?;
        self.audit(
            Event::MessageRequeued,
            Record {
                peer: Some(rec.peer),
                message: Some(id),
                envelope: None,
                detail: None,
            },
        );
        self.sync.wait().await?;
        let now_ms = self.now_ms();
        {
            let mut q = lock(&self.queue);
            q.remove(id);
            q.push(id, rec.peer, rec.urgent, now_ms);
        }
        self.notify_for(rec.peer).notify_one();
        Ok(MessageView::from(&rec))
    }

    /// Writes a consistent backup of the store to `out`.
    pub async fn backup(
        self: &Arc<Self>,
        out: std::path::PathBuf,
    ) -> Result<crate::store::BackupSummary, StoreError> {
        let store = self.store.clone();
        let path = out.clone();
        let summary = tokio::task::spawn_blocking(move || store.backup(&path))
            .await
            .map_err(|e| StoreError::Io(e.to_string()))??;
        self.audit(
            Event::BackupWritten,
            Record {
                detail: Some(format!(
                    "{} items, {} audit entries",
                    summary.items, summary.audit_entries
                )),
                ..Record::default()
            },
        );
        let _ = self.sync.wait().await;
        Ok(summary)
    }
}
