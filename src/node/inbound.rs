//! Incoming connections and envelopes: the handshake already refused any
//! unpinned peer; here each stream's envelope is opened, checked against
//! the agreement, validated, stored durably and receipted.

use super::Node;
use crate::protocol::audit::{Event, Record};
use crate::protocol::country::Country;
use crate::protocol::envelope::{self, Receipt, sha256};
use crate::protocol::forms::Form;
use crate::protocol::wire::{RejectCode, Rejection, Request, Response};
use crate::store::{Direction, MessageRecord, State, StoreError};
use crate::transport::{self, TransportError};
use std::sync::Arc;

pub(super) async fn accept_loop(node: Arc<Node>) {
    let mut stop = node.stopping();
    loop {
        let incoming = tokio::select! {
            i = node.transport.accept() => i,
            _ = stop.changed() => None,
        };
        let Some(incoming) = incoming else { break };
        tokio::spawn(handle_connection(node.clone(), incoming));
    }
}

/// How long a peer may take to send a whole request frame.
const STREAM_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Connections one peer may hold open at once.
const CONNECTIONS_PER_PEER: usize = 8;
/// Handshakes in progress at once, from anyone.
pub(crate) const HANDSHAKES_IN_PROGRESS: usize = 64;

/// Caps how many refused handshakes a minute reach the audit trail, so an
/// unknown host cannot flood it; the number left out is written in the next
/// entry that gets through.
/// One of a peer's connection slots; given back on drop.
struct ConnectionSlot {
    node: Arc<Node>,
    peer: Country,
}

impl ConnectionSlot {
    fn take(node: &Arc<Node>, peer: Country) -> Option<ConnectionSlot> {
        let mut counts = super::lock(&node.peer_connections);
        let n = counts.entry(peer).or_insert(0);
        if *n >= CONNECTIONS_PER_PEER {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            node: node.clone(),
            peer,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = super::lock(&self.node.peer_connections);
        if let Some(n) = counts.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct RefusalLimiter {
    window: u64,
    written: u32,
    suppressed: u64,
}

/// Refused handshakes written to the audit trail per minute.
const REFUSALS_PER_MINUTE: u32 = 30;

impl RefusalLimiter {
    /// Whether to write an entry at `now_ms`, and how many were left out
    /// since the last one written.
    pub(crate) fn admit(&mut self, now_ms: u64) -> Option<u64> {
        let window = now_ms / 60_000;
        if window != self.window {
            self.window = window;
            self.written = 0;
        }
        if self.written < REFUSALS_PER_MINUTE {
            self.written += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

async fn handle_connection(node: Arc<Node>, incoming: quinn::Incoming) {
    let remote = incoming.remote_address();
    // Bound the handshakes in flight, so a flood of connection attempts
    // cannot hold the node's memory or tasks.
    let Ok(permit) = node.handshakes.clone().try_acquire_owned() else {
        tracing::warn!(%remote, "too many handshakes in progress; refused");
        incoming.refuse();
        return;
    };
    let handshake = match incoming.accept() {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(%remote, error = %e, "cannot accept");
            return;
        }
    };
    let conn = match tokio::time::timeout(std::time::Duration::from_secs(10), handshake).await {
        Err(_) => {
            tracing::warn!(%remote, "handshake timed out");
            return;
        }
        Ok(r) => r,
    };
    drop(permit);
    let conn = match conn {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%remote, error = %e, "TLS handshake refused");
            node.metrics.handshake_failed();
            let admitted = super::lock(&node.refusals).admit(node.now_ms());
            if let Some(left_out) = admitted {
                let mut detail: String = format!("from {remote}: {e}").chars().take(300).collect();
                if left_out > 0 {
                    detail.push_str(&format!(" ({left_out} earlier refusals not logged)"));
                }
                node.audit(
                    Event::HandshakeRefused,
                    Record {
                        detail: Some(detail),
                        ..Record::default()
                    },
                );
            }
            return;
        }
    };
    let Some(peer) = node.transport.peer_of(&conn) else {
        // The pin was removed between the handshake and now.
        conn.close(1u32.into(), b"not pinned");
        node.audit(
            Event::HandshakeRefused,
            Record {
                detail: Some(format!("from {remote}: pin no longer registered")),
                ..Record::default()
            },
        );
        return;
    };
    let _slot = match ConnectionSlot::take(&node, peer) {
        Some(s) => s,
        None => {
            tracing::warn!(%peer, %remote, "too many connections from this peer; closed");
            conn.close(2u32.into(), b"too many connections");
            return;
        }
    };
    if let Some(expiry) = node.transport.peer_certificate_expiry(&conn) {
        super::lock(&node.peer_cert_expiry).insert(peer, expiry);
    }
    tracing::debug!(%peer, %remote, "peer connected");
    node.peer_seen(peer);
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let node = node.clone();
        tokio::spawn(async move {
            let read =
                tokio::time::timeout(STREAM_READ_TIMEOUT, transport::read_frame(&mut recv)).await;
            let response = match read {
                Err(_) => {
                    tracing::warn!(%peer, "stream not finished in time; dropped");
                    let _ = recv.stop(1u32.into());
                    return;
                }
                Ok(Ok(bytes)) => node.receive(peer, &bytes).await,
                Ok(Err(TransportError::TooLarge)) => node.reject(
                    peer,
                    None,
                    None,
                    Rejection {
                        code: RejectCode::Malformed,
                        message: "frame too large".into(),
                    },
                ),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "stream failed");
                    return;
                }
            };
            match response.encode() {
                Ok(frame) => {
                    if let Err(e) = transport::write_frame(&mut send, &frame).await {
                        tracing::debug!(%peer, error = %e, "cannot answer");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot encode response"),
            }
        });
    }
}

impl Node {
    fn reject(
        &self,
        peer: Country,
        id: Option<crate::protocol::id::MessageId>,
        envelope: Option<[u8; 32]>,
        r: Rejection,
    ) -> Response {
        tracing::warn!(%peer, code = r.code.as_str(), msg_id = ?id, "envelope refused");
        self.audit(
            Event::InboundRejected,
            Record {
                peer: Some(peer),
                message: id,
                envelope,
                detail: Some(r.code.as_str().to_string()),
            },
        );
        Response::Reject(r)
    }

    /// Handles one request frame from the authenticated `peer`.
    pub(crate) async fn receive(&self, peer: Country, frame: &[u8]) -> Response {
        let (env, witnessing) = match Request::decode(frame) {
            Ok(Request::Deliver(env)) => (env, None),
            Ok(Request::DeliverWitnessed(env, w)) => (env, Some(w)),
            Ok(Request::Rotate(a)) => return self.accept_rotation(peer, &a).await,
            Ok(Request::Chunk(c)) => return self.receive_chunk(peer, c).await,
            Err(e) => {
                return self.reject(
                    peer,
                    None,
                    None,
                    Rejection {
                        code: RejectCode::Malformed,
                        message: e.to_string(),
                    },
                );
            }
        };
        self.receive_envelope(peer, env, witnessing).await
    }

    /// Handles one envelope from `peer`: checks, stores and receipts it,
    /// or asks for the attachment chunks still missing.
    pub(crate) async fn receive_envelope(
        &self,
        peer: Country,
        env: Vec<u8>,
        witnessing: Option<crate::protocol::wire::Witnessing>,
    ) -> Response {
        let hash = sha256(&env);
        let Some(p) = self.peer(peer) else {
            return self.reject(
                peer,
                None,
                Some(hash),
                Rejection {
                    code: RejectCode::SenderMismatch,
                    message: format!("{peer} is not a registered peer"),
                },
            );
        };
        // From here on this envelope is a writer on its way to a sync.
        let coming = self.sync.coming();
        let outer = match envelope::read_outer(&env) {
            Ok(o) => o,
            Err(e) => return self.reject(peer, None, Some(hash), e.rejection()),
        };
        let id = outer.meta.id;
        if let Err(e) = outer
            .meta
            .check_agreement_hashed(&p.agreement, p.agreement_hash)
        {
            return self.reject(peer, Some(id), Some(hash), e.rejection());
        }
        if !p.agreement.covers(outer.meta.kind) {
            return self.reject(
                peer,
                Some(id),
                Some(hash),
                Rejection {
                    code: RejectCode::Unsupported,
                    message: format!(
                        "agreement {} v{} does not cover {} messages",
                        p.agreement.id, p.agreement.version, outer.meta.kind
                    ),
                },
            );
        }
        if let Err(why) = self.agreement_active(&p) {
            return self.reject(
                peer,
                Some(id),
                Some(hash),
                // The receiver may simply not have the other signature yet:
                // the sender should try again later.
                Rejection {
                    code: RejectCode::Unavailable,
                    message: format!("at {}: {why}", self.me),
                },
            );
        }
        let own = self.own();
        let now_s = self.now().as_second();
        let opened = match outer.open(
            self.me,
            own.decryption_for(outer.recipient_key_id(), now_s),
            peer,
            &p.card.signing_keys_at(now_s),
        ) {
            Ok(o) => o,
            Err(e) => return self.reject(peer, Some(id), Some(hash), e.rejection()),
        };
        let now = self.now();
        let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let decoded = if envelope::is_newer_minor(opened.meta.minor) {
            Form::from_cbor_lenient(opened.meta.kind, &opened.form_cbor, today)
        } else {
            Form::from_cbor(opened.meta.kind, &opened.form_cbor, today).map(|f| (f, Vec::new()))
        };
        let form = match decoded {
            Ok((f, skipped)) => {
                if !skipped.is_empty() {
                    tracing::info!(%peer, msg_id = %id, minor = opened.meta.minor, fields = skipped.len(),
                        "form from a newer minor version: unknown fields kept, not interpreted");
                }
                f
            }
            Err(errors) => {
                let fields: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
                tracing::warn!(%peer, msg_id = %id, fields = ?fields, "invalid form refused");
                return self.reject(peer, Some(id), Some(hash), invalid_form(&errors));
            }
        };
        if let Err(errors) = self.check_extras(&p, &opened, &form) {
            return self.reject(peer, Some(id), Some(hash), invalid_form(&errors));
        }
        if let Some(r) = opened.meta.reply_to {
            let problem = match self.store.message(r) {
                Ok(Some(m)) if m.peer != peer || m.case != opened.meta.case => {
                    Some(format!("reply_to {r} belongs to another case or peer"))
                }
                Ok(Some(m)) => opened.meta.kind.reply_error(m.kind),
                Ok(None) => {
                    // The message answered may still be on its way (the
                    // sender's queue is concurrent): ask for a retry.
                    return self.reject(
                        peer,
                        Some(id),
                        Some(hash),
                        Rejection {
                            code: RejectCode::Unavailable,
                            message: format!(
                                "reply_to {r} has not arrived here yet; try again later"
                            ),
                        },
                    );
                }
                Err(e) => {
                    return self.reject(
                        peer,
                        Some(id),
                        Some(hash),
                        Rejection {
                            code: RejectCode::Unavailable,
                            message: format!("receiver could not read its store: {e}"),
                        },
                    );
                }
            };
            if let Some(message) = problem {
                return self.reject(
                    peer,
                    Some(id),
                    Some(hash),
                    Rejection {
                        code: RejectCode::BadReply,
                        message,
                    },
                );
            }
        }
        let unavailable = |e: String| Rejection {
            code: RejectCode::Unavailable,
            message: format!("receiver could not store the message: {e}"),
        };
        let guard = self.inbound_lock.lock().await;
        let existing = match self.store.message(id) {
            Ok(r) => r,
            Err(e) => return self.reject(peer, Some(id), Some(hash), unavailable(e.to_string())),
        };
        let receipt = if let Some(rec) = existing {
            drop(guard);
            if rec.direction != Direction::In || rec.envelope_sha256.as_slice() != hash {
                return self.reject(
                    peer,
                    Some(id),
                    Some(hash),
                    Rejection {
                        code: RejectCode::Replay,
                        message: format!("message id {id} was already used for another envelope"),
                    },
                );
            }
            match self.store.receipt(id) {
                Ok(Some(r)) => {
                    self.audit(
                        Event::DuplicateReceived,
                        Record {
                            peer: Some(peer),
                            message: Some(id),
                            envelope: Some(hash),
                            detail: None,
                        },
                    );
                    r
                }
                Ok(None) => {
                    return self.reject(
                        peer,
                        Some(id),
                        Some(hash),
                        unavailable("stored receipt missing".into()),
                    );
                }
                Err(e) => {
                    return self.reject(peer, Some(id), Some(hash), unavailable(e.to_string()));
                }
            }
        } else {
            // Attachments first: every chunk here and verified, or ask for
            // the rest (the receipt waits until they are).
            let descriptors = &opened.extras.attachments;
            if !descriptors.is_empty() {
                match self.attachments_ready(id, peer, &env, descriptors) {
                    Ok(None) => {}
                    Ok(Some(next)) => {
                        drop(guard);
                        return Response::NeedChunks(next);
                    }
                    Err(r) => {
                        drop(guard);
                        return self.reject(peer, Some(id), Some(hash), r);
                    }
                }
            }
            let received = now.as_second();
            // What this NFP now owes, on its own calendar: the due time is
            // signed into the receipt so both nodes show the same deadline.
            // Whole seconds: the receipt carries Unix seconds.
            let start = jiff::Timestamp::from_second(received).unwrap_or(now);
            let owed = self.owed_deadline(peer, opened.meta.kind, &form, start);
            let red_flag = matches!(&form, Form::FollowUpReport(r) if r.has_red_flag());
            let receipt = Receipt {
                v: envelope::VERSION,
                id,
                to: peer,
                due: owed.as_ref().map(|d| d.due.as_second()),
                from: self.me,
                envelope: serde_bytes::ByteBuf::from(hash.to_vec()),
                received,
            };
            let receipt = match envelope::sign_receipt(&receipt, own.signer_for(peer)) {
                Ok(r) => r,
                Err(e) => {
                    return self.reject(peer, Some(id), Some(hash), unavailable(e.to_string()));
                }
            };
            let due = owed.as_ref().map(|d| d.due.as_second());
            let rec = MessageRecord {
                id,
                direction: Direction::In,
                peer,
                kind: opened.meta.kind,
                case: opened.meta.case.clone(),
                lang: opened.meta.lang,
                reply_to: opened.meta.reply_to,
                state: State::Received,
                created: opened.meta.created,
                stored: received,
                delivered: None,
                received: Some(received),
                due,
                attempts: 0,
                last_error: None,
                envelope_sha256: serde_bytes::ByteBuf::from(hash.to_vec()),
                urgent: form.is_urgent(),
                receipt: None,
            };
            let nonce = match crate::home::random::<24>() {
                Ok(n) => *n,
                Err(e) => {
                    return self.reject(peer, Some(id), Some(hash), unavailable(e.to_string()));
                }
            };
            if !descriptors.is_empty() {
                let stored = crate::home::random::<24>()
                    .map_err(|e| StoreError::Io(e.to_string()))
                    .and_then(|n| self.store.put_attachments(id, descriptors, *n))
                    .and_then(|()| self.store.unstage(id));
                if let Err(e) = stored {
                    return self.reject(peer, Some(id), Some(hash), unavailable(e.to_string()));
                }
            }
            if !opened.extras.translations.is_empty() {
                let stored = crate::home::random::<24>()
                    .map_err(|e| StoreError::Io(e.to_string()))
                    .and_then(|n| {
                        self.store
                            .put_signed_translations(id, &opened.extras.translations, *n)
                    });
                if let Err(e) = stored {
                    return self.reject(peer, Some(id), Some(hash), unavailable(e.to_string()));
                }
            }
            let received_note = Record {
                peer: Some(peer),
                message: Some(id),
                envelope: Some(hash),
                detail: Some(format!(
                    "{}{}",
                    opened.meta.kind.as_str(),
                    super::attachments::audit_summary(descriptors)
                )),
            };
            let owed = owed.map(|d| self.owed_record(&rec, d, red_flag));
            let incoming = crate::store::Incoming {
                record: &rec,
                envelope: &env,
                form_cbor: &opened.form_cbor,
                receipt: &receipt,
                owed: owed.as_ref(),
            };
            if let Err(e) = self.store.put_incoming(
                incoming,
                nonce,
                (Event::MessageReceived, received_note, now.as_second()),
            ) {
                return self.reject(peer, Some(id), Some(hash), unavailable(e.to_string()));
            }
            if let Ok(at) = jiff::Timestamp::from_second(opened.meta.created) {
                if let Some(r) = opened.meta.reply_to {
                    self.close_deadline(r, opened.meta.kind, id, at);
                }
                self.close_scheduled(peer, &rec.case, opened.meta.kind, false, id, at);
            }
            drop(guard);
            tracing::info!(%peer, msg_id = %id, kind = %opened.meta.kind, "envelope received");
            receipt
        };
        // Witness the sender's log; the new witness state is stored before
        // the sync below, so it is durable before the cosignature leaves.
        let answer = witnessing.as_ref().map(|w| self.witness(peer, &p.card, w));
        // The receipt promises durability: sync first.
        if let Err(e) = self.sync.wait_coming(coming).await {
            return self.reject(peer, Some(id), Some(hash), unavailable(e.to_string()));
        }
        match answer {
            Some(super::witness::WitnessAnswer::Cosign(line)) => {
                Response::ReceiptCosigned(receipt, line)
            }
            Some(super::witness::WitnessAnswer::KnownSize(n)) => {
                Response::ReceiptKnownSize(receipt, n)
            }
            _ => Response::Receipt(receipt),
        }
    }
}

/// The refusal of a form (or its attachments) that does not validate: every
/// problem, each naming its field.
fn invalid_form<E: std::fmt::Display>(errors: &[E]) -> Rejection {
    Rejection {
        code: RejectCode::InvalidForm,
        message: errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::RefusalLimiter;

    #[test]
    fn refusals_are_capped_per_minute_and_counted() {
        let mut l = RefusalLimiter::default();
        let written = (0..100).filter(|_| l.admit(1_000).is_some()).count();
        assert_eq!(written, 30);
        assert_eq!(l.admit(61_000), Some(70));
        assert_eq!(l.admit(61_001), Some(0));
    }
}
