//! Delivery workers: one per peer. Each takes what the outbox says is due,
//! sends it on the peer's pinned connection, and records the verified
//! receipt, a retry, or a final refusal.

use super::{Node, lock};
use crate::protocol::audit::{Event, Record};
use crate::protocol::country::Country;
use crate::protocol::envelope::{self, sha256};
use crate::protocol::id::MessageId;
use crate::protocol::wire::{Request, Response};
use crate::transport;
use std::sync::Arc;
use std::time::Duration;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one request may wait for its answer.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

enum Outcome {
    Delivered,
    /// Try again later.
    Retry(String),
    /// The peer refused for good.
    Refused(String),
}

pub(super) async fn peer_worker(node: Arc<Node>, peer: Country) {
    let notify = node.notify_for(peer);
    let mut stop = node.stopping();
    let mut inflight = tokio::task::JoinSet::new();
    let mut rotation_wait = 1u64;
    loop {
        // A partner hears of a key rotation before anything signed with
        // the new keys reaches it.
        if let Err(reason) = node.announce_to(peer).await {
            tracing::info!(%peer, %reason, "key rotation not yet confirmed; deliveries wait");
            tokio::select! {
                _ = notify.notified() => {},
                _ = tokio::time::sleep(Duration::from_secs(rotation_wait)) => {},
                _ = stop.changed() => break,
            }
            rotation_wait = (rotation_wait * 2).min(60);
            continue;
        }
        rotation_wait = 1;
        let now = node.now_ms();
        let due = lock(&node.queue).take_due(peer, now, node.in_flight);
        for id in due {
            inflight.spawn(deliver(node.clone(), peer, id));
        }
        let full = inflight.len() >= node.in_flight;
        let wait_ms = match lock(&node.queue).next_due(peer) {
            Some(t) if !full => t.saturating_sub(now).clamp(1, 60_000),
            _ => 60_000,
        };
        tokio::select! {
            _ = notify.notified() => {},
            _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {},
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {},
            _ = stop.changed() => break,
        }
    }
    inflight.abort_all();
}

async fn deliver(node: Arc<Node>, peer: Country, id: MessageId) {
    let outcome = attempt(&node, peer, id).await;
    match outcome {
        Outcome::Delivered => {
            lock(&node.queue).remove(id);
            let _ = node.delivered.send(id);
        }
        Outcome::Refused(reason) => {
            tracing::warn!(%peer, msg_id = %id, %reason, "peer refused the message for good");
            if let Err(e) = node.store.mark_failed(id, &reason) {
                tracing::error!(error = %e, "cannot record failure");
            }
            node.audit(
                Event::DeliveryFailed,
                Record {
                    peer: Some(peer),
                    message: Some(id),
                    envelope: None,
                    detail: Some(reason.split(':').next().unwrap_or("").to_string()),
                },
            );
            let _ = node.sync.wait().await;
            lock(&node.queue).remove(id);
        }
        Outcome::Retry(reason) => {
            tracing::info!(%peer, msg_id = %id, %reason, "delivery will be retried");
            if let Err(e) = node.store.note_attempt(id, &reason) {
                tracing::error!(error = %e, "cannot record attempt");
            }
            let jitter = crate::home::random::<2>()
                .map(|b| u32::from(u16::from_le_bytes(*b)) % 1001)
                .unwrap_or(500);
            let now = node.now_ms();
            lock(&node.queue).failed(id, now, node.backoff, jitter);
        }
    }
}

pub(super) async fn connection(node: &Node, peer: Country) -> Result<quinn::Connection, String> {
    let mut conns = node.connections.lock().await;
    if let Some(c) = conns.get(&peer)
        && c.close_reason().is_none()
    {
        return Ok(c.clone());
    }
    let p = node
        .peer(peer)
        .ok_or_else(|| format!("{peer} is no longer a registered peer"))?;
    let pins = p.card.pins_at(node.now().as_second());
    let old_identity = node.own().old_tls_for(peer);
    let conn = node
        .transport
        .connect_as(&p.card.endpoint, &pins, old_identity)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(expiry) = node.transport.peer_certificate_expiry(&conn) {
        lock(&node.peer_cert_expiry).insert(peer, expiry);
    }
    conns.insert(peer, conn.clone());
    Ok(conn)
}

async fn attempt(node: &Node, peer: Country, id: MessageId) -> Outcome {
    let env = match node.store.envelope(id) {
        Ok(Some(e)) => e,
        Ok(None) => return Outcome::Refused("envelope missing from the store".into()),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let Some(p) = node.peer(peer) else {
        return Outcome::Retry(format!("{peer} is not a registered peer"));
    };
    // A message still undelivered after the agreed maximum age fails, so
    // the operator sees it and can act (and `retry` if it still matters).
    if let Some(max) = p.agreement.max_age()
        && let Ok(Some(rec)) = node.store.message(id)
        && let Ok(created) = jiff::Timestamp::from_second(rec.created)
        && node.now().duration_since(created) > max
    {
        return Outcome::Refused(format!(
            "expired: not delivered within the agreed maximum age of {}",
            jiff::SignedDuration::from_secs(max.as_secs())
        ));
    }
    let offered = node.witnessing_for(peer);
    let request = match &offered {
        Some((_, w)) => Request::DeliverWitnessed(env.clone(), w.clone()),
        None => Request::Deliver(env.clone()),
    };
    let frame = match request.encode() {
        Ok(f) => f,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let conn = match tokio::time::timeout(CONNECT_TIMEOUT, connection(node, peer)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Outcome::Retry(e),
        Err(_) => {
            return Outcome::Retry(format!(
                "{peer} did not answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ));
        }
    };
    let answer =
        match tokio::time::timeout(EXCHANGE_TIMEOUT, transport::exchange(&conn, &frame)).await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                node.connections.lock().await.remove(&peer);
                return Outcome::Retry(e.to_string());
            }
            Err(_) => {
                node.connections.lock().await.remove(&peer);
                return Outcome::Retry(format!(
                    "no answer from {peer} within {} s",
                    EXCHANGE_TIMEOUT.as_secs()
                ));
            }
        };
    // Attachments follow their envelope, chunk by chunk, from wherever
    // the peer says it stopped; the receipt answers the last one.
    let answer = match Response::decode(&answer) {
        Ok(Response::NeedChunks(next)) => match node.send_chunks(&conn, peer, id, next).await {
            Ok(a) => a,
            Err(e) => {
                node.connections.lock().await.remove(&peer);
                return Outcome::Retry(format!("attachments: {e}"));
            }
        },
        _ => answer,
    };
    let decoded = match Response::decode(&answer) {
        Ok(Response::ReceiptCosigned(receipt, line)) => {
            if let Some((cp, _)) = &offered {
                node.keep_cosignature(peer, &p.card, cp, &line);
            }
            Ok(Response::Receipt(receipt))
        }
        Ok(Response::ReceiptKnownSize(receipt, size)) => {
            // Start the next proof from the size the peer holds, if it is a
            // size this node's log has reached.
            let (ours, _) = node.store.audit_snapshot();
            if size <= ours {
                lock(&node.witness_hint).insert(peer, size);
            }
            Ok(Response::Receipt(receipt))
        }
        other => other,
    };
    match decoded {
        Ok(
            Response::ReceiptCosigned(..)
            | Response::ReceiptKnownSize(..)
            | Response::RotationConfirmed(..)
            | Response::NeedChunks(..)
            | Response::ChunkStored,
        ) => Outcome::Retry("unexpected response".into()),
        Ok(Response::Receipt(receipt)) => {
            match envelope::verify_receipt(
                &receipt,
                peer,
                &p.card.signing_keys_at(node.now().as_second()),
                node.me,
                id,
                &env,
            ) {
                Ok(r) => {
                    let at = node.now().as_second();
                    let delivered = Record {
                        peer: Some(peer),
                        message: Some(id),
                        envelope: Some(sha256(&env)),
                        detail: Some(format!(
                            "receipt {} received {}",
                            hex::encode(sha256(&receipt)),
                            jiff::Timestamp::from_second(r.received)
                                .map(|t| t.to_string())
                                .unwrap_or_else(|_| r.received.to_string())
                        )),
                    };
                    // The deadline this node now awaits, with the due time
                    // signed in the receipt, is written with the receipt.
                    let times = jiff::Timestamp::from_second(r.received)
                        .ok()
                        .zip(r.due.and_then(|d| jiff::Timestamp::from_second(d).ok()));
                    let awaited = |rec: &crate::store::MessageRecord| {
                        times.and_then(|(received, due)| node.awaited_record(rec, received, due))
                    };
                    if let Err(e) = node.store.mark_delivered(
                        id,
                        &receipt,
                        at,
                        awaited,
                        (Event::MessageDelivered, delivered, at),
                    ) {
                        return Outcome::Retry(e.to_string());
                    }
                    node.metrics
                        .delivered(node.now_ms().saturating_sub(id.unix_millis()));
                    // No sync wait here: the receipt is in the journal
                    // (a crash of the process loses nothing), and if a
                    // power loss took it, the message goes again and the
                    // peer answers the duplicate with the same receipt.
                    tracing::info!(%peer, msg_id = %id, "delivered; receipt verified");
                    Outcome::Delivered
                }
                Err(e) => {
                    node.audit(
                        Event::ReceiptRejected,
                        Record {
                            peer: Some(peer),
                            message: Some(id),
                            envelope: Some(sha256(&env)),
                            detail: Some(format!(
                                "{}; receipt {}",
                                e.rejection().code.as_str(),
                                hex::encode(sha256(&receipt))
                            )),
                        },
                    );
                    // The peer stored the message and will return the same
                    // receipt every time: retrying cannot help. The operator
                    // sees why; the peer's card is probably wrong.
                    Outcome::Refused(format!("receipt-rejected: {e}"))
                }
            }
        }
        Ok(Response::Reject(r)) if r.code.retryable() => {
            Outcome::Retry(format!("{}: {}", r.code.as_str(), r.message))
        }
        Ok(Response::Reject(r)) => Outcome::Refused(format!("{}: {}", r.code.as_str(), r.message)),
        Err(e) => Outcome::Retry(format!("unreadable response: {e}")),
    }
}
