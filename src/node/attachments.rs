//! Attachments and translations in operation: uploads sealed chunk by
//! chunk as they stream in, the checks an incoming envelope's extras must
//! pass, chunks received and verified one by one (a transfer broken off
//! resumes where it stopped), chunks sent after the envelope, reading an
//! attachment back out (audited, need-to-know), and translations added
//! locally to a received message.
//!
//! The rules are in [`crate::protocol::attachment`]; the files in
//! [`crate::store`].

use super::Node;
use crate::home::Peer;
use crate::protocol::FieldError;
use crate::protocol::attachment::{
    self, CHUNK, Descriptor, Translation, check_attachments, check_translations, chunks_for,
};
use crate::protocol::audit::{Event, Record};
use crate::protocol::country::Country;
use crate::protocol::envelope::{self, Opened};
use crate::protocol::forms::Form;
use crate::protocol::id::MessageId;
use crate::protocol::wire::{Chunk, RejectCode, Rejection, Request, Response};
use crate::store::StoreError;
use sha2::Digest as _;

/// What an upload became.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct UploadView {
    /// The upload id (hex), to name in `attachments` when sending.
    pub upload: String,
    /// File name.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content (hex).
    pub sha256: String,
}

/// Why an upload or a read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentOpError {
    /// Bad input.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// Nothing by that name.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &str, msg: impl Into<String>) -> AttachmentOpError {
    AttachmentOpError::Invalid(vec![FieldError::new(field, msg)])
}

/// The audit detail suffix for a message's attachments: position, size
/// and SHA-256 of each (never the name).
pub(crate) fn audit_summary(d: &[Descriptor]) -> String {
    if d.is_empty() {
        return String::new();
    }
    let items: Vec<String> = d
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                "#{i} {} bytes sha256:{}",
                a.size,
                hex::encode(a.sha256.as_slice())
            )
        })
        .collect();
    format!("; attachments: {}", items.join(", "))
}

/// Receives an upload: feed it the content in pieces of any size; it
/// seals and writes whole chunks as they fill.
pub struct Upload {
    descriptor: Descriptor,
    hash: sha2::Sha256,
    buffer: Vec<u8>,
    written: u32,
    limit: u64,
}

impl Upload {
    /// Adds content.
    pub fn push(&mut self, node: &Node, mut bytes: &[u8]) -> Result<(), AttachmentOpError> {
        let new_size = self.descriptor.size.saturating_add(bytes.len() as u64);
        if new_size > self.limit {
            return Err(invalid(
                "size",
                format!(
                    "the file is larger than the agreed {} per file",
                    attachment::show_size(self.limit)
                ),
            ));
        }
        self.descriptor.size = new_size;
        self.hash.update(bytes);
        while !bytes.is_empty() {
            let room = CHUNK - self.buffer.len();
            let take = room.min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buffer.len() == CHUNK {
                // A full chunk is the last only if nothing follows: hold it
                // until more arrives or the upload ends.
                if !bytes.is_empty() {
                    self.flush(node, false)?;
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self, node: &Node, last: bool) -> Result<(), AttachmentOpError> {
        let sealed = attachment::seal_chunk(
            &self.descriptor.key,
            &self.descriptor.upload,
            self.written,
            last,
            &self.buffer,
        )
        .map_err(|e| invalid("content", e.to_string()))?;
        node.store
            .write_upload_chunk(&self.descriptor.upload, self.written, &sealed)?;
        self.written += 1;
        self.buffer.clear();
        Ok(())
    }

    /// Ends the upload: the last chunk is sealed and the descriptor kept.
    pub fn finish(mut self, node: &Node) -> Result<UploadView, AttachmentOpError> {
        self.flush(node, true)?;
        self.descriptor.chunks = chunks_for(self.descriptor.size);
        if self.written != self.descriptor.chunks {
            return Err(invalid("content", "chunk count does not match the size"));
        }
        self.descriptor.sha256 = serde_bytes::ByteArray::new(self.hash.finalize().into());
        let nonce = crate::home::random::<24>().map_err(|e| StoreError::Io(e.to_string()))?;
        node.store.put_upload(&self.descriptor, *nonce)?;
        let d = &self.descriptor;
        Ok(UploadView {
            upload: hex::encode(d.upload.as_slice()),
            name: d.name.clone(),
            media_type: d.media_type.clone(),
            size: d.size,
            sha256: hex::encode(d.sha256.as_slice()),
        })
    }
}

impl Node {
    /// Starts an upload of a file to be sent to `to`: its limits are the
    /// agreement's.
    pub fn start_upload(
        &self,
        to: Country,
        name: &str,
        media_type: &str,
    ) -> Result<Upload, AttachmentOpError> {
        let p = self
            .peer(to)
            .ok_or_else(|| invalid("to", format!("{to} is not a registered peer")))?;
        let limits = p.agreement.attachment_limits();
        let key = crate::home::random::<32>().map_err(|e| StoreError::Io(e.to_string()))?;
        let upload = crate::home::random::<16>().map_err(|e| StoreError::Io(e.to_string()))?;
        let descriptor = Descriptor {
            name: name.to_string(),
            media_type: media_type.to_string(),
            size: 0,
            sha256: serde_bytes::ByteArray::new([0; 32]),
            chunks: 1,
            upload: serde_bytes::ByteArray::new(*upload),
            key: serde_bytes::ByteArray::new(*key),
        };
        // Name and type are checked now, before any content is read.
        check_attachments(std::slice::from_ref(&descriptor), limits)
            .map_err(AttachmentOpError::Invalid)?;
        Ok(Upload {
            descriptor,
            hash: sha2::Sha256::new(),
            buffer: Vec::with_capacity(CHUNK),
            written: 0,
            limit: limits.max_file,
        })
    }

    /// The descriptors of finished uploads, for a message to `peer`, checked
    /// against its agreement.
    pub(crate) fn uploads_for(
        &self,
        peer: &Peer,
        uploads: &[String],
    ) -> Result<Vec<Descriptor>, Vec<FieldError>> {
        let mut out = Vec::new();
        for (i, u) in uploads.iter().enumerate() {
            let at = format!("attachments[{i}]");
            let id: Option<[u8; 16]> = hex::decode(u).ok().and_then(|b| b.try_into().ok());
            let Some(id) = id else {
                return Err(vec![FieldError::new(at, "is not an upload id")]);
            };
            match self.store.upload(&id) {
                Ok(Some(d)) => out.push(d),
                Ok(None) => {
                    return Err(vec![FieldError::new(
                        at,
                        "no such upload (already sent, or never finished)",
                    )]);
                }
                Err(e) => return Err(vec![FieldError::new(at, e.to_string())]),
            }
        }
        check_attachments(&out, peer.agreement.attachment_limits())?;
        Ok(out)
    }

    /// Checks an incoming envelope's attachments and translations against
    /// the agreement and the form.
    pub(crate) fn check_extras(
        &self,
        p: &Peer,
        opened: &Opened,
        form: &Form,
    ) -> Result<(), Vec<FieldError>> {
        let x = &opened.extras;
        if !x.attachments.is_empty() {
            check_attachments(&x.attachments, p.agreement.attachment_limits())?;
        }
        if !x.translations.is_empty() {
            let json = form.to_json();
            check_translations(
                &x.translations,
                opened.meta.lang,
                &p.agreement.languages,
                &json,
            )?;
        }
        Ok(())
    }

    /// `Ok(None)` when every attachment of message `id` is here and
    /// verified (synced and marked done); `Ok(Some(next))` with the next
    /// chunk of each when some are missing (the envelope is staged so the
    /// chunks can follow); `Err` when one does not match its descriptor.
    pub(crate) fn attachments_ready(
        &self,
        id: MessageId,
        peer: Country,
        env: &[u8],
        d: &[Descriptor],
    ) -> Result<Option<Vec<u32>>, Rejection> {
        let unavailable = |e: StoreError| Rejection {
            code: RejectCode::Unavailable,
            message: format!("receiver could not store attachments: {e}"),
        };
        let next: Vec<u32> = d
            .iter()
            .enumerate()
            .map(|(i, a)| self.store.chunks_here(id, i, a))
            .collect();
        if next.iter().zip(d).any(|(n, a)| *n < a.chunks) {
            self.store.stage(id, peer, env).map_err(unavailable)?;
            return Ok(Some(next));
        }
        for (i, a) in d.iter().enumerate() {
            if !self
                .store
                .finish_attachment(id, i, a)
                .map_err(unavailable)?
            {
                return Err(Rejection {
                    code: RejectCode::Tampered,
                    message: format!(
                        "attachment {i} does not match its signed size and SHA-256; send it again"
                    ),
                });
            }
        }
        Ok(None)
    }

    /// Handles one attachment chunk from `peer`.
    pub(crate) async fn receive_chunk(&self, peer: Country, c: Chunk) -> Response {
        let id = c.id;
        let refuse = |code: RejectCode, message: String| {
            self.audit(
                Event::InboundRejected,
                Record {
                    peer: Some(peer),
                    message: Some(id),
                    envelope: None,
                    detail: Some(format!("{}: attachment chunk", code.as_str())),
                },
            );
            tracing::warn!(%peer, msg_id = %id, code = code.as_str(), "attachment chunk refused");
            Response::Reject(Rejection { code, message })
        };
        let staged = match self.store.staged(id) {
            Ok(s) => s,
            Err(e) => return refuse(RejectCode::Unavailable, e.to_string()),
        };
        let Some((from, env)) = staged else {
            // Already complete (a chunk repeated after the receipt was
            // lost): the envelope's own answer is the receipt.
            if let Ok(Some(env)) = self.store.envelope(id)
                && self
                    .store
                    .message(id)
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.peer == peer)
            {
                return Box::pin(self.receive_envelope(peer, env, None)).await;
            }
            return refuse(
                RejectCode::Unavailable,
                format!("no envelope of message {id} is waiting for attachments; send it first"),
            );
        };
        if from != peer {
            return refuse(
                RejectCode::SenderMismatch,
                format!("message {id} came from another peer"),
            );
        }
        let Some(p) = self.peer(peer) else {
            return refuse(
                RejectCode::SenderMismatch,
                format!("{peer} is not a registered peer"),
            );
        };
        let opened = match envelope::read_outer(&env).and_then(|o| {
            let own = self.own();
            let now = self.now().as_second();
            o.open(
                self.me,
                own.decryption_for(o.recipient_key_id(), now),
                peer,
                &p.card.signing_keys_at(now),
            )
        }) {
            Ok(o) => o,
            Err(e) => return refuse(e.rejection().code, e.to_string()),
        };
        let d = &opened.extras.attachments;
        let index = usize::try_from(c.attachment).unwrap_or(usize::MAX);
        let Some(a) = d.get(index) else {
            return refuse(
                RejectCode::Malformed,
                format!("message {id} has no attachment {}", c.attachment),
            );
        };
        let here = self.store.chunks_here(id, index, a);
        if c.index != here {
            let next = d
                .iter()
                .enumerate()
                .map(|(i, x)| self.store.chunks_here(id, i, x))
                .collect();
            return Response::NeedChunks(next);
        }
        if let Err(e) = attachment::open_chunk(a, index, c.index, &c.data) {
            return refuse(RejectCode::Tampered, e.to_string());
        }
        if let Err(e) = self.store.write_chunk(id, index, c.index, &c.data) {
            return refuse(RejectCode::Unavailable, e.to_string());
        }
        let complete = d
            .iter()
            .enumerate()
            .all(|(i, x)| self.store.chunks_here(id, i, x) >= x.chunks);
        if complete {
            Box::pin(self.receive_envelope(peer, env, None)).await
        } else {
            Response::ChunkStored
        }
    }

    /// Sends the chunks `next` says are missing, in order, on `conn`; the
    /// answer to the last one (a receipt, a refusal, or a new `next`) is
    /// returned for the caller to handle like a delivery's answer.
    pub(crate) async fn send_chunks(
        &self,
        conn: &quinn::Connection,
        peer: Country,
        id: MessageId,
        mut next: Vec<u32>,
    ) -> Result<Vec<u8>, String> {
        let d = self.store.attachments(id).map_err(|e| e.to_string())?;
        // A peer that keeps asking for what was just sent is not making
        // progress: give up after a bounded number of rounds.
        for _round in 0..4 {
            if next.len() != d.len() {
                return Err("the peer's list of attachments does not match".into());
            }
            if next.iter().zip(&d).any(|(n, a)| *n > 0 && *n < a.chunks) {
                tracing::info!(%peer, msg_id = %id, resume_from = ?next, "attachment transfer resumed");
            }
            let mut last_answer = None;
            let mut resync = None;
            'files: for (i, a) in d.iter().enumerate() {
                for chunk in next[i]..a.chunks {
                    let data = self
                        .store
                        .read_chunk(id, i, a, chunk)
                        .map_err(|e| e.to_string())?;
                    let frame = Request::Chunk(Chunk {
                        id,
                        attachment: u32::try_from(i).unwrap_or(u32::MAX),
                        index: chunk,
                        data,
                    })
                    .encode()
                    .map_err(|e| e.to_string())?;
                    let answer = crate::transport::exchange(conn, &frame)
                        .await
                        .map_err(|e| e.to_string())?;
                    match Response::decode(&answer) {
                        Ok(Response::ChunkStored) => {}
                        Ok(Response::NeedChunks(n)) => {
                            resync = Some(n);
                            break 'files;
                        }
                        _ => {
                            last_answer = Some(answer);
                            break 'files;
                        }
                    }
                }
            }
            match (resync, last_answer) {
                (Some(n), _) => next = n,
                (None, Some(answer)) => return Ok(answer),
                (None, None) => return Err("every chunk was stored but no receipt came".into()),
            }
        }
        Err("the peer keeps asking for chunks already sent".into())
    }

    /// Reads attachment `name` of message `id` for `caller`, chunk by
    /// chunk into `out`; audited.
    pub fn read_attachment(
        &self,
        caller: &super::access::Caller,
        id: MessageId,
        name: &str,
        out: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<u64, AttachmentOpError> {
        let d = self.store.attachments(id)?;
        let Some((index, a)) = d.iter().enumerate().find(|(_, a)| a.name == name) else {
            return Err(AttachmentOpError::NotFound(format!(
                "message {id} has no attachment of that name"
            )));
        };
        let mut written = 0u64;
        let mut hash = sha2::Sha256::new();
        for c in 0..a.chunks {
            let sealed = self.store.read_chunk(id, index, a, c)?;
            let plain = attachment::open_chunk(a, index, c, &sealed)
                .map_err(|e| StoreError::Io(e.to_string()))?;
            hash.update(&plain);
            written += plain.len() as u64;
            out(&plain).map_err(StoreError::Io)?;
        }
        if hash.finalize().as_slice() != a.sha256.as_slice() {
            return Err(
                StoreError::Io("the stored attachment does not match its hash".into()).into(),
            );
        }
        let peer = self.store.message(id).ok().flatten().map(|m| m.peer);
        self.audit(
            Event::AttachmentRead,
            Record {
                peer,
                message: Some(id),
                envelope: None,
                detail: Some(format!(
                    "attachment #{index} sha256:{} read by {}",
                    hex::encode(a.sha256.as_slice()),
                    caller.name
                )),
            },
        );
        Ok(written)
    }

    /// Adds a translation to message `id` as a local annotation: kept
    /// beside the signed original, never sent.
    pub async fn annotate_translation(
        &self,
        caller: &super::access::Caller,
        id: MessageId,
        t: Translation,
    ) -> Result<(), AttachmentOpError> {
        let rec = self
            .store
            .message(id)?
            .ok_or_else(|| AttachmentOpError::NotFound(format!("no message {id}")))?;
        let form = self.store.form(id)?.ok_or_else(|| {
            AttachmentOpError::NotFound(format!("the form of message {id} was erased"))
        })?;
        let today = self.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let json = Form::from_cbor_lenient(rec.kind, &form, today)
            .map(|(f, _)| f.to_json())
            .unwrap_or_default();
        let agreed = self
            .peer(rec.peer)
            .map(|p| p.agreement.languages.clone())
            .unwrap_or_default();
        let mut all = self.store.annotations(id)?;
        check_translations(std::slice::from_ref(&t), rec.lang, &agreed, &json)
            .map_err(AttachmentOpError::Invalid)?;
        if all.iter().any(|o| o.lang == t.lang && o.by == t.by) {
            return Err(invalid(
                "lang",
                "this translator already translated this message into that language",
            ));
        }
        all.push(t.clone());
        let nonce = crate::home::random::<24>().map_err(|e| StoreError::Io(e.to_string()))?;
        self.store.put_annotations(id, &all, *nonce)?;
        self.audit(
            Event::TranslationAdded,
            Record {
                peer: Some(rec.peer),
                message: Some(id),
                envelope: None,
                detail: Some(format!(
                    "{} translation of {} field(s) added locally by {}",
                    t.lang,
                    t.fields.len(),
                    caller.name
                )),
            },
        );
        let _ = self.sync.wait().await;
        Ok(())
    }
}
