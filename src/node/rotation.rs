//! Key rotation in operation: this node's keys (swapped whole at a
//! rotation), rotating and revoking them, announcing a rotation to each
//! partner before anything else is delivered to it, applying a partner's
//! announcement, renewing the TLS certificate before it expires, and the
//! key status.
//!
//! The rules (what an announcement must carry, what a partner keeps
//! accepting and for how long) are in [`crate::protocol::rotation`].
//!
//! Until a partner confirms a rotation it still knows only the old keys,
//! so towards it this node keeps presenting the old TLS certificate and
//! signing receipts and cosignatures with the old key (a revoked key is
//! never used to sign again). Envelopes sealed to the old encryption key
//! are opened until the overlap ends.

use super::{Node, lock};
use crate::home::{HomeError, KeyChoice, KeyFiles, Peer};
use crate::protocol::audit::{Event, Record};
use crate::protocol::card::{PeerCard, RetiredKeys};
use crate::protocol::country::Country;
use crate::protocol::keys::{DecryptionKey, SigningKey};
use crate::protocol::rotation::{Announcement, Confirmation, KeySet, RotationError, VERSION};
use crate::protocol::wire::{RejectCode, Rejection, Request, Response};
use crate::store::{RotationRecord, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Why a rotation could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotateError {
    /// The previous rotation still awaits partners' confirmations.
    #[error(
        "rotation {serial} still awaits the confirmation of {waiting}; it is sent as soon as each partner is reachable (see `nfp-node keys status`)"
    )]
    Pending {
        /// The rotation waiting.
        serial: u32,
        /// Partners that have not confirmed.
        waiting: String,
    },
    /// Keys could not be made or saved.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The announcement could not be made.
    #[error(transparent)]
    Rotation(#[from] RotationError),
    /// TLS could not be reconfigured.
    #[error("cannot put the new TLS identity in force: {0}")]
    Tls(String),
}

/// The keys replaced by this node's latest rotation, kept while a partner
/// may still need them.
pub(crate) struct Retired {
    pub(crate) serial: u32,
    signing: SigningKey,
    decryption: DecryptionKey,
    tls: crate::home::TlsIdentity,
    /// Envelopes sealed to the old encryption key are opened until then.
    until: i64,
    compromised: bool,
}

impl Retired {
    /// The old TLS identity.
    pub(crate) fn tls(&self) -> &crate::home::TlsIdentity {
        &self.tls
    }
}

/// This node's own keys, swapped whole at a rotation.
pub(crate) struct OwnKeys {
    pub(crate) signing: Arc<SigningKey>,
    pub(crate) decryption: Arc<DecryptionKey>,
    /// This node's card, with its log origin and retired keys.
    pub(crate) card: PeerCard,
    pub(crate) retired: Option<Arc<Retired>>,
    /// Partners that have not confirmed the latest rotation.
    pub(crate) pending: BTreeSet<Country>,
    /// The latest rotation's signed announcement.
    pub(crate) announcement: Option<Vec<u8>>,
}

impl OwnKeys {
    /// The same keys with other retired keys and partners pending.
    fn with(&self, retired: Option<Arc<Retired>>, pending: BTreeSet<Country>) -> OwnKeys {
        OwnKeys {
            signing: self.signing.clone(),
            decryption: self.decryption.clone(),
            card: self.card.clone(),
            retired,
            pending,
            announcement: self.announcement.clone(),
        }
    }

    /// The decryption key an envelope sealed to key id `kid` needs at
    /// `now`, if this node still holds it.
    pub(crate) fn decryption_for(&self, kid: &[u8], now: i64) -> &DecryptionKey {
        match &self.retired {
            Some(r) if now < r.until && r.decryption.public().key_id().as_slice() == kid => {
                &r.decryption
            }
            _ => &self.decryption,
        }
    }

    /// The key to sign what `peer` will verify (receipts, cosignatures,
    /// confirmations): the old one until it confirmed the rotation, unless
    /// the old one is compromised.
    pub(crate) fn signer_for(&self, peer: Country) -> &SigningKey {
        match &self.retired {
            Some(r) if !r.compromised && self.pending.contains(&peer) => &r.signing,
            _ => &self.signing,
        }
    }

    /// Whether to present the old TLS certificate to `peer`.
    pub(crate) fn old_tls_for(&self, peer: Country) -> bool {
        self.retired.is_some() && self.pending.contains(&peer)
    }
}

/// The card of this node after its rotations: the current keys from the
/// home, the log origin and the retired keys from the store.
fn own_card(base: PeerCard, rotations: &[RotationRecord]) -> PeerCard {
    let mut card = base;
    let mut own: Vec<&RotationRecord> = rotations
        .iter()
        .filter(|r| r.country == card.country)
        .collect();
    own.sort_by_key(|r| r.serial);
    for r in own {
        let Ok(a) = Announcement::verify_self_consistent(&r.announcement) else {
            continue;
        };
        if card.log_origin.is_none() {
            card.log_origin = Some(a.origin.clone());
        }
        card.rotation = r.serial;
        if let (Ok(signing_key), Ok(encryption_key)) = (a.old.signing(), a.old.encryption()) {
            card.previous.push(RetiredKeys {
                signing_key,
                encryption_key,
                tls_spki_sha256: a.old.pin(),
                retired_at: r.at,
                accepted_until: r.compromised_from.unwrap_or(r.overlap_until),
                compromised_from: r.compromised_from,
            });
        }
    }
    card
}

fn key_set(k: &KeyFiles) -> KeySet {
    KeySet {
        signing_key: serde_bytes::ByteArray::new(k.signing.verifying_key().to_bytes()),
        encryption_key: serde_bytes::ByteArray::new(k.decryption.public().to_bytes()),
        tls_spki_sha256: serde_bytes::ByteArray::new(k.tls.pin.0),
    }
}

/// Finishes a rotation cut short by a crash: keys staged in the home are
/// put in force if the store recorded their rotation, else dropped.
/// Returns whether the keys in force changed.
pub(crate) fn recover_staged(
    home: &crate::home::Home,
    store: &Store,
    me: Country,
) -> Result<bool, super::NodeError> {
    let Some(staged) = home.staged_keys() else {
        home.discard_staged()?;
        return Ok(false);
    };
    let recorded = store.latest_rotation(me)?.and_then(|r| {
        Announcement::verify_self_consistent(&r.announcement)
            .ok()
            .map(|a| a.new)
    });
    if recorded == Some(key_set(&staged)) {
        home.commit_staged()?;
        tracing::warn!("finished a key rotation interrupted by a stop");
        Ok(true)
    } else {
        home.discard_staged()?;
        Ok(false)
    }
}

/// Loads this node's keys at start.
pub(crate) fn load_own(
    home: &crate::home::Home,
    store: &Store,
    keys: KeyFiles,
    base: PeerCard,
    peers: &BTreeMap<Country, Peer>,
    now: i64,
) -> Result<OwnKeys, super::NodeError> {
    let rotations = store.rotations()?;
    let card = own_card(base, &rotations);
    let latest = rotations
        .iter()
        .filter(|r| r.country == card.country)
        .max_by_key(|r| r.serial);
    let mut pending = BTreeSet::new();
    let mut retired = None;
    let mut announcement = None;
    if let Some(r) = latest {
        pending = peers
            .keys()
            .filter(|c| !r.confirmations.contains_key(c.as_str()))
            .copied()
            .collect();
        announcement = Some(r.announcement.to_vec());
        if (now < r.overlap_until || !pending.is_empty())
            && let Ok(old) = home.retired_keys(r.serial)
        {
            retired = Some(Arc::new(Retired {
                serial: r.serial,
                signing: old.signing,
                decryption: old.decryption,
                tls: old.tls,
                until: r.overlap_until,
                compromised: r.compromised_from.is_some(),
            }));
        }
    }
    Ok(OwnKeys {
        signing: Arc::new(keys.signing),
        decryption: Arc::new(keys.decryption),
        card,
        retired,
        pending,
        announcement,
    })
}

/// A key rotation as the API shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RotationView {
    /// The rotation's serial.
    pub serial: u32,
    /// Whether the old keys were revoked as compromised.
    pub revoked: bool,
    /// The new signing key.
    pub signing_key: String,
    /// The new encryption key.
    pub encryption_key: String,
    /// The new TLS pin.
    pub tls_spki_sha256: String,
    /// Until when partners accept the old keys.
    pub old_keys_accepted_until: String,
    /// Partners yet to confirm.
    pub pending: Vec<Country>,
}

fn text_time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.to_string())
}

impl Node {
    /// This node's card as it stands (after any key rotation).
    pub fn card(&self) -> PeerCard {
        self.own().card.clone()
    }

    /// This node's keys now.
    pub(crate) fn own(&self) -> Arc<OwnKeys> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_own(&self, k: OwnKeys) {
        let k = Arc::new(k);
        match self.keys.write() {
            Ok(mut g) => *g = k,
            Err(p) => *p.into_inner() = k,
        }
    }

    /// Rotates this node's keys (those `choice` names) and announces the
    /// new ones to every partner. With `compromised_from`, revokes the old
    /// keys as compromised from that time: partners then accept nothing
    /// more signed by them.
    pub async fn rotate_keys(
        self: &Arc<Self>,
        choice: KeyChoice,
        compromised_from: Option<i64>,
        reason: Option<&str>,
        by: &str,
    ) -> Result<RotationView, RotateError> {
        let _one = self.rotation_lock.lock().await;
        let own = self.own();
        if !own.pending.is_empty()
            && let Some(r) = &own.retired
        {
            return Err(RotateError::Pending {
                serial: r.serial,
                waiting: own
                    .pending
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let now = self.now().as_second();
        let peers = super::read(&self.peers).clone();
        let overlap = peers
            .values()
            .map(|p| p.agreement.key_overlap_secs())
            .max()
            .unwrap_or(crate::protocol::agreement::DEFAULT_KEY_OVERLAP_SECS);
        let serial = own.card.rotation.saturating_add(1);
        let staged = self.home.stage_rotation(choice)?;
        let announcement = Announcement {
            v: VERSION,
            country: self.me,
            serial,
            origin: self.origin.clone(),
            at: now,
            old: KeySet::of_card(&own.card),
            new: KeySet::of_card(&staged.card(&own.card)),
            compromised_from: compromised_from.map(|c| c.min(now)),
        };
        let bytes = announcement.sign(&own.signing, &staged.signing)?;
        self.home.retire_current(serial)?;
        let overlap_until = match announcement.compromised_from {
            Some(c) => c,
            None => now.saturating_add(overlap),
        };
        let record = RotationRecord {
            country: self.me,
            serial,
            announcement: serde_bytes::ByteBuf::from(bytes.clone()),
            at: now,
            compromised_from: announcement.compromised_from,
            overlap_until,
            confirmations: BTreeMap::new(),
        };
        // The record is the commit point: a crash after it finishes the
        // rotation on the next start (see `recover_staged`).
        self.store.put_rotation(&record)?;
        let which = [
            (choice.signing, "signing"),
            (choice.encryption, "encryption"),
            (choice.tls, "tls"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join("+");
        let (event, mut detail) = match announcement.compromised_from {
            Some(c) => (
                Event::KeysRevoked,
                format!(
                    "rotation {serial} ({which}) by {by}; old keys compromised from {}",
                    text_time(c)
                ),
            ),
            None => (
                Event::KeysRotated,
                format!("rotation {serial} ({which}) by {by}"),
            ),
        };
        detail.push_str(&format!(
            "; new signing key {}",
            hex::encode(staged.signing.verifying_key().key_id())
        ));
        if let Some(r) = reason {
            detail.push_str("; reason: ");
            detail.extend(r.chars().take(300));
        }
        self.audit(
            event,
            Record {
                detail: Some(detail),
                ..Record::default()
            },
        );
        self.sync.wait().await.map_err(RotateError::Store)?;
        self.home.commit_staged()?;
        let old = self.home.retired_keys(serial)?;
        let pending: BTreeSet<Country> = peers.keys().copied().collect();
        self.transport
            .set_identities(&staged.tls, Some(&old.tls), !pending.is_empty())
            .map_err(|e| RotateError::Tls(e.to_string()))?;
        let card = own_card(staged.card(&own.card), &self.store.rotations()?);
        if let Err(e) = self.home.write_own_card(&card) {
            tracing::warn!(error = %e, "cannot save the new card");
        }
        let view = RotationView {
            serial,
            revoked: announcement.compromised_from.is_some(),
            signing_key: card.signing_key.to_string(),
            encryption_key: card.encryption_key.to_string(),
            tls_spki_sha256: card.tls_spki_sha256.to_string(),
            old_keys_accepted_until: text_time(overlap_until),
            pending: pending.iter().copied().collect(),
        };
        self.set_own(OwnKeys {
            signing: Arc::new(staged.signing),
            decryption: Arc::new(staged.decryption),
            card,
            retired: Some(Arc::new(Retired {
                serial,
                signing: old.signing,
                decryption: old.decryption,
                tls: old.tls,
                until: overlap_until,
                compromised: announcement.compromised_from.is_some(),
            })),
            pending,
            announcement: Some(bytes),
        });
        tracing::warn!(serial, "keys rotated; announcing to every partner");
        for peer in peers.keys() {
            self.notify_for(*peer).notify_one();
        }
        Ok(view)
    }

    /// Sends the latest rotation to `peer` if it has not confirmed it.
    /// `Ok` once it has (deliveries to it may go on); `Err` with the reason
    /// otherwise (the caller waits and tries again).
    pub(crate) async fn announce_to(&self, peer: Country) -> Result<(), String> {
        let own = self.own();
        let Some(bytes) = own
            .announcement
            .clone()
            .filter(|_| own.pending.contains(&peer))
        else {
            return Ok(());
        };
        let frame = Request::Rotate(bytes.clone())
            .encode()
            .map_err(|e| e.to_string())?;
        let conn = super::delivery::connection(self, peer).await?;
        let answer = tokio::time::timeout(
            Duration::from_secs(30),
            crate::transport::exchange(&conn, &frame),
        )
        .await
        .map_err(|_| "no answer to the key rotation".to_string())?
        .map_err(|e| e.to_string())?;
        let p = self
            .peer(peer)
            .ok_or_else(|| format!("{peer} is no longer a partner"))?;
        match Response::decode(&answer) {
            Ok(Response::RotationConfirmed(c)) => {
                let keys = p.card.signing_keys_at(self.now().as_second());
                Confirmation::verify(&c, peer, &keys, &bytes).map_err(|e| e.to_string())?;
                self.record_confirmation(peer, c).await
            }
            Ok(Response::Reject(r)) => {
                self.audit(
                    Event::RotationRefused,
                    Record {
                        peer: Some(peer),
                        detail: Some(format!("{}: {}", r.code.as_str(), r.message)),
                        ..Record::default()
                    },
                );
                Err(format!("{peer} refused the key rotation: {}", r.message))
            }
            Ok(_) => Err("unexpected answer to a key rotation".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn record_confirmation(
        &self,
        peer: Country,
        confirmation: Vec<u8>,
    ) -> Result<(), String> {
        let own = self.own();
        let serial = own.card.rotation;
        let mut rec = self
            .store
            .latest_rotation(self.me)
            .map_err(|e| e.to_string())?
            .ok_or("no rotation recorded")?;
        rec.confirmations.insert(
            peer.as_str().to_string(),
            serde_bytes::ByteBuf::from(confirmation),
        );
        self.store.put_rotation(&rec).map_err(|e| e.to_string())?;
        self.audit(
            Event::RotationConfirmed,
            Record {
                peer: Some(peer),
                detail: Some(format!("rotation {serial} confirmed")),
                ..Record::default()
            },
        );
        let _ = self.sync.wait().await;
        let mut pending = own.pending.clone();
        pending.remove(&peer);
        if pending.is_empty() {
            self.transport.serve_previous(false);
        }
        // The connection was made with the old certificate.
        self.connections.lock().await.remove(&peer);
        self.set_own(own.with(own.retired.clone(), pending));
        tracing::info!(%peer, serial, "key rotation confirmed");
        Ok(())
    }

    /// Applies a partner's key rotation announcement and answers with a
    /// signed confirmation, or refuses it.
    pub(crate) async fn accept_rotation(&self, peer: Country, bytes: &[u8]) -> Response {
        let refuse = |code: RejectCode, message: String| {
            self.audit(
                Event::RotationRefused,
                Record {
                    peer: Some(peer),
                    detail: Some(message.clone()),
                    ..Record::default()
                },
            );
            Response::Reject(Rejection { code, message })
        };
        let Some(p) = self.peer(peer) else {
            return refuse(
                RejectCode::SenderMismatch,
                format!("{peer} is not a registered peer"),
            );
        };
        let now = self.now().as_second();
        let a = match Announcement::verify_from(bytes, peer, &p.card, p.card.rotation) {
            Ok(a) => a,
            Err(e @ RotationError::Malformed(_)) => {
                return refuse(RejectCode::Malformed, e.to_string());
            }
            Err(e @ RotationError::Unsupported(_)) => {
                return refuse(RejectCode::Unsupported, e.to_string());
            }
            Err(e) => return refuse(RejectCode::BadSignature, e.to_string()),
        };
        let applied = match a {
            None => Announcement::verify_self_consistent(bytes).ok(),
            Some(a) => {
                let next = match a.apply(&p.card, now, p.agreement.key_overlap_secs()) {
                    Ok(c) => c,
                    Err(e) => return refuse(RejectCode::Malformed, e.to_string()),
                };
                let done = self
                    .home
                    .write_peer_card(&next)
                    .map_err(|e| e.to_string())
                    .and_then(|()| self.reload_peers().map_err(|e| e.to_string()))
                    .and_then(|()| {
                        self.store
                            .put_rotation(&RotationRecord {
                                country: peer,
                                serial: a.serial,
                                announcement: serde_bytes::ByteBuf::from(bytes.to_vec()),
                                at: now,
                                compromised_from: a.compromised_from,
                                overlap_until: next
                                    .previous
                                    .last()
                                    .map(|r| r.accepted_until)
                                    .unwrap_or(now),
                                confirmations: BTreeMap::new(),
                            })
                            .map_err(|e| e.to_string())
                    });
                if let Err(e) = done {
                    return Response::Reject(Rejection {
                        code: RejectCode::Unavailable,
                        message: format!("cannot apply the key rotation now: {e}"),
                    });
                }
                self.audit(
                    Event::PeerKeysRotated,
                    Record {
                        peer: Some(peer),
                        detail: Some(format!(
                            "rotation {}{}; new signing key {}; old keys accepted until {}",
                            a.serial,
                            if a.compromised_from.is_some() {
                                " (old keys compromised)"
                            } else {
                                ""
                            },
                            hex::encode(a.new.signing_key.as_slice().get(..8).unwrap_or(&[])),
                            text_time(
                                next.previous
                                    .last()
                                    .map(|r| r.accepted_until)
                                    .unwrap_or(now)
                            )
                        )),
                        ..Record::default()
                    },
                );
                if self.sync.wait().await.is_err() {
                    return Response::Reject(Rejection {
                        code: RejectCode::Unavailable,
                        message: "cannot store the key rotation now".into(),
                    });
                }
                // Old connections were authenticated with the old keys.
                self.connections.lock().await.remove(&peer);
                tracing::warn!(%peer, serial = a.serial, "partner rotated its keys");
                Some(a)
            }
        };
        let Some(a) = applied else {
            return refuse(RejectCode::Malformed, "unreadable key rotation".into());
        };
        let own = self.own();
        match Confirmation::of(self.me, &a, bytes, now).sign(own.signer_for(peer)) {
            Ok(c) => Response::RotationConfirmed(c),
            Err(e) => Response::Reject(Rejection {
                code: RejectCode::Unavailable,
                message: e.to_string(),
            }),
        }
    }
}

/// Watches this node's keys: drops retired keys once every partner has
/// confirmed and the overlap is over, renews the TLS certificate before it
/// expires, and warns of expiry.
pub(super) async fn watch(node: Arc<Node>) {
    let mut stop = node.stopping();
    let mut warned_day = -1i64;
    loop {
        let now = node.now().as_second();
        let own = node.own();
        if let Some(r) = &own.retired
            && own.pending.is_empty()
            && now >= r.until
        {
            let serial = r.serial;
            if let Err(e) = node.home.forget_retired(serial) {
                tracing::warn!(error = %e, "cannot delete retired keys");
            }
            node.transport.serve_previous(false);
            node.set_own(own.with(None, own.pending.clone()));
            tracing::info!(serial, "overlap over; retired keys deleted");
        }
        match node.home.certificate_expiry() {
            Ok(expiry) => {
                let days_left = (expiry - now) / 86_400;
                if days_left <= crate::home::RENEW_BEFORE_DAYS {
                    let today = now / 86_400;
                    if warned_day != today {
                        warned_day = today;
                        tracing::warn!(days_left, "TLS certificate expires soon; renewing it");
                    }
                    let choice = KeyChoice {
                        tls: true,
                        signing: false,
                        encryption: false,
                    };
                    match node
                        .rotate_keys(choice, None, Some("certificate renewal"), "node")
                        .await
                    {
                        Ok(v) => tracing::warn!(serial = v.serial, "TLS certificate renewed"),
                        Err(e) => tracing::debug!(error = %e, "renewal waits"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the TLS certificate"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {},
            _ = stop.changed() => break,
        }
    }
}

/// The key status as `keys status` shows it.
pub fn status_json(node: &Node) -> serde_json::Value {
    let own = node.own();
    let now = node.now().as_second();
    let rotations = node.store.rotations().unwrap_or_default();
    let latest = rotations
        .iter()
        .filter(|r| r.country == node.me)
        .max_by_key(|r| r.serial);
    let since = latest.map(|r| r.at);
    let cert = node.home.certificate_expiry().ok();
    let peers = super::read(&node.peers).clone();
    let partners: Vec<serde_json::Value> = peers
        .values()
        .map(|p| {
            serde_json::json!({
                "country": p.card.country,
                "rotation": p.card.rotation,
                "signing_key": p.card.signing_key.to_string(),
                "tls_spki_sha256": p.card.tls_spki_sha256.to_string(),
                "certificate_expires": lock(&node.peer_cert_expiry).get(&p.card.country).map(|t| text_time(*t)),
                "old_keys": p.card.previous.iter().map(|r| serde_json::json!({
                    "signing_key": r.signing_key.to_string(),
                    "retired_at": text_time(r.retired_at),
                    "accepted_until": text_time(r.accepted_until),
                    "accepted_now": now < r.accepted_until,
                    "compromised_from": r.compromised_from.map(text_time),
                })).collect::<Vec<_>>(),
                "confirmed_our_rotation": own.card.rotation == 0 || !own.pending.contains(&p.card.country),
            })
        })
        .collect();
    serde_json::json!({
        "country": node.me,
        "rotation": own.card.rotation,
        "log_origin": own.card.log_origin(),
        "signing_key": own.card.signing_key.to_string(),
        "encryption_key": own.card.encryption_key.to_string(),
        "tls_spki_sha256": own.card.tls_spki_sha256.to_string(),
        "keys_since": since.map(text_time),
        "age_days": since.map(|s| (now - s) / 86_400),
        "certificate_expires": cert.map(text_time),
        "certificate_days_left": cert.map(|c| (c - now) / 86_400),
        "certificate_expires_soon": cert.is_some_and(|c| c - now <= crate::home::RENEW_BEFORE_DAYS * 86_400),
        "old_keys_accepted_until": own.retired.as_ref().map(|r| text_time(r.until)),
        "pending": own.pending.iter().collect::<Vec<_>>(),
        "confirmed": peers.keys().filter(|c| own.card.rotation > 0 && !own.pending.contains(c)).collect::<Vec<_>>(),
        "partners": partners,
    })
}
