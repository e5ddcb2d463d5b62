//! The audit trail's entries, their hash chain, and the verifiable log
//! built on them.
//!
//! Each entry is canonical CBOR holding codes, ids and hashes only: never a
//! form, a name or any other personal data. Its leaf hash is the RFC 6962
//! leaf hash `SHA-256(0x00 || entry)`, and each entry names the leaf hash of
//! the one before it, so the trail is a hash chain and, at the same time,
//! the leaves of an RFC 6962 Merkle tree:
//!
//! - [`merkle`]: tree roots, an O(log n) incremental [`CompactRange`], and
//!   inclusion and consistency proofs (RFC 9162 §2.1);
//! - [`note`]: checkpoints as C2SP signed notes and witnesses' C2SP
//!   cosignatures on them;
//! - [`bundle`]: offline verification of an exported log (entries,
//!   checkpoints, cosignatures), naming the first tampering found, and fork
//!   detection between two checkpoints.
//!
//! All of it is pure: no I/O, no clock.

pub mod bundle;
pub(crate) mod codec;
pub mod merkle;
pub mod note;

pub use bundle::{
    Failure, FailureKind, ForkEvidence, ForkVerdict, SignedCheckpoint, Trust, Verified,
    detect_fork, verify_bundle,
};
pub use merkle::{
    CompactRange, EMPTY_ROOT, Hash, MerkleError, consistency_proof, inclusion_proof, node_hash,
    root, verify_consistency, verify_inclusion,
};
pub use note::{
    Checkpoint, Note, NoteError, NoteSignature, Witness, cosign, cosignature_message, key_id,
    parse_note, sign_checkpoint, verify_checkpoint, verify_checkpoint_any, verify_cosignature,
    verify_cosignature_any,
};

use crate::protocol::UnixTime;
use crate::protocol::country::Country;
use crate::protocol::id::MessageId;
use crate::protocol::wire::canonical_cbor;
use codec::EntryRef;
use sha2::{Digest as _, Sha256};

/// Entry format version.
pub const ENTRY_VERSION: u32 = 1;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// The node was set up (first entry of every trail).
    NodeInitialised,
    /// A peer was registered under an agreement.
    PeerAdded,
    /// An operator's message was sealed, stored and queued.
    MessageQueued,
    /// A send was refused before anything was queued.
    SendRefused,
    /// A verified receipt came back for a sent message.
    MessageDelivered,
    /// The peer refused a sent message for good.
    DeliveryFailed,
    /// A receipt that did not verify.
    ReceiptRejected,
    /// An envelope was accepted, stored and receipted.
    MessageReceived,
    /// An envelope already stored arrived again; the receipt was re-sent.
    DuplicateReceived,
    /// An incoming envelope was refused.
    InboundRejected,
    /// A TLS handshake was refused (unpinned or unknown peer).
    HandshakeRefused,
    /// An operator put a failed message back in the queue.
    MessageRequeued,
    /// A backup of the store was written.
    BackupWritten,
    /// A peer showed a checkpoint inconsistent with one this node cosigned
    /// (a fork or a rollback of its log).
    PeerLogFork,
    /// A peer's checkpoint or a cosignature of ours did not verify.
    WitnessRefused,
    /// A case record was opened.
    CaseOpened,
    /// A case record was changed.
    CaseUpdated,
    /// A consent was recorded or withdrawn.
    ConsentRecorded,
    /// An admin lifted an overridable safeguard, with a written reason.
    GateOverridden,
    /// A case's content was erased for good.
    CaseErased,
    /// A person read a form.
    FormRead,
    /// An account was added or revoked.
    UsersChanged,
    /// A deadline was met (or met late) by an answer.
    DeadlineClosed,
    /// A deadline passed without an answer; the node escalated it.
    DeadlineOverdue,
    /// An agreement signature was made or registered.
    AgreementSigned,
    /// A child's return was recorded and follow-ups scheduled.
    FollowUpsScheduled,
    /// This node rotated its keys.
    KeysRotated,
    /// This node revoked its keys as compromised (and rotated them).
    KeysRevoked,
    /// A partner confirmed this node's key rotation.
    RotationConfirmed,
    /// A key rotation was refused (by a partner, or of a partner's).
    RotationRefused,
    /// A partner's key rotation was verified and applied.
    PeerKeysRotated,
    /// The store was migrated to a newer layout (after a backup).
    StoreMigrated,
    /// A person read an attachment.
    AttachmentRead,
    /// A translation was added to a received message as a local
    /// annotation.
    TranslationAdded,
}

impl Event {
    /// Every event.
    pub const ALL: &'static [Event] = &[
        Event::NodeInitialised,
        Event::PeerAdded,
        Event::MessageQueued,
        Event::SendRefused,
        Event::MessageDelivered,
        Event::DeliveryFailed,
        Event::ReceiptRejected,
        Event::MessageReceived,
        Event::DuplicateReceived,
        Event::InboundRejected,
        Event::HandshakeRefused,
        Event::MessageRequeued,
        Event::BackupWritten,
        Event::PeerLogFork,
        Event::WitnessRefused,
        Event::CaseOpened,
        Event::CaseUpdated,
        Event::ConsentRecorded,
        Event::GateOverridden,
        Event::CaseErased,
        Event::FormRead,
        Event::UsersChanged,
        Event::DeadlineClosed,
        Event::DeadlineOverdue,
        Event::AgreementSigned,
        Event::FollowUpsScheduled,
        Event::KeysRotated,
        Event::KeysRevoked,
        Event::RotationConfirmed,
        Event::RotationRefused,
        Event::PeerKeysRotated,
        Event::StoreMigrated,
        Event::AttachmentRead,
        Event::TranslationAdded,
    ];

    /// Stable code written in entries.
    pub fn as_str(&self) -> &'static str {
        match self {
            Event::NodeInitialised => "node-initialised",
            Event::PeerAdded => "peer-added",
            Event::MessageQueued => "message-queued",
            Event::SendRefused => "send-refused",
            Event::MessageDelivered => "message-delivered",
            Event::DeliveryFailed => "delivery-failed",
            Event::ReceiptRejected => "receipt-rejected",
            Event::MessageReceived => "message-received",
            Event::DuplicateReceived => "duplicate-received",
            Event::InboundRejected => "inbound-rejected",
            Event::HandshakeRefused => "handshake-refused",
            Event::MessageRequeued => "message-requeued",
            Event::BackupWritten => "backup-written",
            Event::PeerLogFork => "peer-log-fork",
            Event::WitnessRefused => "witness-refused",
            Event::CaseOpened => "case-opened",
            Event::CaseUpdated => "case-updated",
            Event::ConsentRecorded => "consent-recorded",
            Event::GateOverridden => "gate-overridden",
            Event::CaseErased => "case-erased",
            Event::FormRead => "form-read",
            Event::UsersChanged => "users-changed",
            Event::DeadlineClosed => "deadline-closed",
            Event::DeadlineOverdue => "deadline-overdue",
            Event::AgreementSigned => "agreement-signed",
            Event::FollowUpsScheduled => "follow-ups-scheduled",
            Event::KeysRotated => "keys-rotated",
            Event::KeysRevoked => "keys-revoked",
            Event::RotationConfirmed => "rotation-confirmed",
            Event::RotationRefused => "rotation-refused",
            Event::PeerKeysRotated => "peer-keys-rotated",
            Event::StoreMigrated => "store-migrated",
            Event::AttachmentRead => "attachment-read",
            Event::TranslationAdded => "translation-added",
        }
    }

    /// The event with code `s`.
    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.iter().copied().find(|e| e.as_str() == s)
    }
}

/// What the caller records; the chain adds sequence, time and link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Peer country involved.
    pub peer: Option<Country>,
    /// Message involved.
    pub message: Option<MessageId>,
    /// SHA-256 of the envelope bytes as sent or received.
    pub envelope: Option<[u8; 32]>,
    /// A code or short non-personal detail (a reject code, a field path, a
    /// hash, a remote address).
    pub detail: Option<String>,
}

/// One audit entry as stored and hashed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Format version.
    pub v: u32,
    /// Position in the trail, from 0.
    pub seq: u64,
    /// When, Unix seconds; never less than the previous entry's.
    pub time: UnixTime,
    /// Event code.
    pub event: String,
    /// Peer country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Country>,
    /// Message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageId>,
    /// Envelope hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<serde_bytes::ByteBuf>,
    /// Detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Leaf hash of the previous entry (32 zero bytes for the first).
    pub prev: serde_bytes::ByteBuf,
}

/// The state of a trail: how many entries, the last leaf hash and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// Number of entries.
    pub size: u64,
    /// Leaf hash of the last entry (zeros when empty).
    pub head: [u8; 32],
    /// Time of the last entry.
    pub last_time: UnixTime,
}

/// A trail that does not verify, or an entry that cannot be encoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditError {
    /// An entry is not canonical CBOR of the entry format.
    #[error("entry {0} is not a well-formed, canonical entry: {1}")]
    Malformed(u64, String),
    /// Sequence numbers are not 0, 1, 2, ...
    #[error("entry at position {position} says it is number {seq} (removed or reordered)")]
    Sequence {
        /// Where it is.
        position: u64,
        /// What it says.
        seq: u64,
    },
    /// The link to the previous entry is broken.
    #[error("entry {0} does not link to the entry before it (changed, removed or inserted)")]
    Link(u64),
    /// Time goes backwards.
    #[error("entry {0} is dated before the entry before it (back-dated)")]
    Time(u64),
    /// Unknown event code.
    #[error("entry {0} has unknown event {1:?}")]
    UnknownEvent(u64, String),
    /// Encoding failed.
    #[error("cannot encode entry: {0}")]
    Encode(String),
}

/// RFC 6962 leaf hash: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(
        &Sha256::new()
            .chain_update([0u8])
            .chain_update(entry)
            .finalize(),
    );
    out
}

impl Chain {
    /// An empty trail.
    pub fn empty() -> Chain {
        Chain {
            size: 0,
            head: [0; 32],
            last_time: i64::MIN,
        }
    }

    /// The next entry for `event` at `now`, its bytes, and the chain after it.
    pub fn append(
        &self,
        event: Event,
        rec: Record,
        now: UnixTime,
    ) -> Result<(Entry, Vec<u8>, Chain), AuditError> {
        let time = now.max(self.last_time);
        let entry = Entry {
            v: ENTRY_VERSION,
            seq: self.size,
            time,
            event: event.as_str().to_string(),
            peer: rec.peer,
            message: rec.message,
            envelope: rec.envelope.map(|h| serde_bytes::ByteBuf::from(h.to_vec())),
            detail: rec.detail,
            prev: serde_bytes::ByteBuf::from(self.head.to_vec()),
        };
        // The same bytes as `canonical_cbor(&entry)`, written directly.
        let bytes = codec::write(&EntryRef::of(&entry));
        let next = Chain {
            size: self.size + 1,
            head: leaf_hash(&bytes),
            last_time: time,
        };
        Ok((entry, bytes, next))
    }

    /// Checks the next stored entry against this chain and returns the
    /// chain after it.
    pub fn verify_next(&self, bytes: &[u8]) -> Result<(Entry, Chain), AuditError> {
        if let Some(e) = codec::read(bytes)
            && self.follows(&e)
        {
            return Ok((e.to_entry(), self.after(&e, leaf_hash(bytes))));
        }
        self.verify_next_general(bytes)
    }

    /// [`Chain::verify_next`] for an entry already [`prepare`]d from
    /// `bytes`; it returns the entry's time instead of the entry.
    pub(crate) fn verify_prepared(
        &self,
        bytes: &[u8],
        prepared: &Prepared<'_>,
    ) -> Result<(UnixTime, Chain), AuditError> {
        if let Some(l) = &prepared.linked
            && l.seq == self.size
            && l.prev == self.head
            && l.time >= self.last_time
        {
            return Ok((
                l.time,
                Chain {
                    size: self.size + 1,
                    head: prepared.leaf,
                    last_time: l.time,
                },
            ));
        }
        self.verify_next_general(bytes)
            .map(|(entry, next)| (entry.time, next))
    }

    /// Whether the canonical entry `e` passes every check of
    /// [`Chain::verify_next_general`] after the decoding.
    fn follows(&self, e: &EntryRef<'_>) -> bool {
        e.v == ENTRY_VERSION
            && e.seq == self.size
            && e.prev == self.head
            && e.time >= self.last_time
            && Event::parse(e.event).is_some()
    }

    fn after(&self, e: &EntryRef<'_>, leaf: Hash) -> Chain {
        Chain {
            size: self.size + 1,
            head: leaf,
            last_time: e.time,
        }
    }

    /// The general path of [`Chain::verify_next`]: serde decoding, the
    /// canonical check by re-encoding, then the chain checks in order. The
    /// fast path in `codec` accepts only entries this accepts; whatever it
    /// declines comes here, so the verdict and the error are this one's.
    fn verify_next_general(&self, bytes: &[u8]) -> Result<(Entry, Chain), AuditError> {
        let pos = self.size;
        let entry: Entry =
            ciborium::from_reader(bytes).map_err(|e| AuditError::Malformed(pos, e.to_string()))?;
        let again =
            canonical_cbor(&entry).map_err(|e| AuditError::Malformed(pos, e.to_string()))?;
        if again != bytes {
            return Err(AuditError::Malformed(pos, "not canonical".into()));
        }
        if entry.v != ENTRY_VERSION {
            return Err(AuditError::Malformed(pos, format!("version {}", entry.v)));
        }
        if entry.seq != pos {
            return Err(AuditError::Sequence {
                position: pos,
                seq: entry.seq,
            });
        }
        if entry.prev.as_slice() != self.head {
            return Err(AuditError::Link(pos));
        }
        if entry.time < self.last_time {
            return Err(AuditError::Time(pos));
        }
        if Event::parse(&entry.event).is_none() {
            return Err(AuditError::UnknownEvent(pos, entry.event.clone()));
        }
        let next = Chain {
            size: pos + 1,
            head: leaf_hash(bytes),
            last_time: entry.time,
        };
        Ok((entry, next))
    }
}

/// What the chain checks need of an entry that is canonical, of the
/// current version and of a known event: the checks that depend on the
/// entry alone are done.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linked<'a> {
    seq: u64,
    time: UnixTime,
    prev: &'a [u8],
}

/// An entry worked on before its turn in the chain (so possibly on another
/// thread): its leaf hash, and what [`Chain::verify_prepared`] compares
/// with the chain when the entry passed everything else.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared<'a> {
    leaf: Hash,
    linked: Option<Linked<'a>>,
}

/// Works out everything about the entry `bytes` that does not depend on
/// the entries before it.
pub(crate) fn prepare(bytes: &[u8]) -> Prepared<'_> {
    let linked = codec::read(bytes)
        .filter(|e| e.v == ENTRY_VERSION && Event::parse(e.event).is_some())
        .map(|e| Linked {
            seq: e.seq,
            time: e.time,
            prev: e.prev,
        });
    Prepared {
        leaf: leaf_hash(bytes),
        linked,
    }
}

/// The envelope hash an encoded entry names, if it decodes (leniently, as
/// `ciborium::from_reader` into [`Entry`] does) and names one.
pub fn entry_envelope(bytes: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    match codec::read(bytes) {
        Some(e) => e.envelope.map(std::borrow::Cow::Borrowed),
        None => ciborium::from_reader::<Entry, _>(bytes)
            .ok()?
            .envelope
            .map(|h| std::borrow::Cow::Owned(h.into_vec())),
    }
}

/// Verifies a whole trail given in order.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Chain, AuditError> {
    let mut chain = Chain::empty();
    for bytes in entries {
        chain = chain.verify_next(bytes)?.1;
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(n: usize) -> Vec<Vec<u8>> {
        let mut chain = Chain::empty();
        let mut out = Vec::new();
        for i in 0..n {
            let rec = Record {
                peer: Some("GR".parse().unwrap()),
                detail: Some(format!("d{i}")),
                ..Record::default()
            };
            let (_, bytes, next) = chain
                .append(Event::MessageReceived, rec, 1000 + i as i64)
                .unwrap();
            out.push(bytes);
            chain = next;
        }
        out
    }

    fn check(t: &[Vec<u8>]) -> Result<Chain, AuditError> {
        verify(t.iter().map(|b| b.as_slice()))
    }

    #[test]
    fn an_honest_trail_verifies() {
        let t = trail(5);
        let c = check(&t).unwrap();
        assert_eq!(c.size, 5);
        assert_eq!(c.head, leaf_hash(&t[4]));
    }

    #[test]
    fn tampering_is_detected() {
        let t = trail(5);
        let mut removed = t.clone();
        removed.remove(2);
        assert!(matches!(check(&removed), Err(AuditError::Sequence { .. })));
        let mut swapped = t.clone();
        swapped.swap(1, 2);
        assert!(check(&swapped).is_err());
        let mut changed = t.clone();
        let mut e: Entry = ciborium::from_reader(changed[3].as_slice()).unwrap();
        e.detail = Some("other".into());
        changed[3] = canonical_cbor(&e).unwrap();
        assert_eq!(check(&changed), Err(AuditError::Link(4)));
        let mut backdated = t.clone();
        let mut e: Entry = ciborium::from_reader(backdated[4].as_slice()).unwrap();
        e.time = 10;
        backdated[4] = canonical_cbor(&e).unwrap();
        assert_eq!(check(&backdated), Err(AuditError::Time(4)));
    }

    #[test]
    fn time_never_goes_backwards_on_append() {
        let (_, _, c) = Chain::empty()
            .append(Event::PeerAdded, Record::default(), 500)
            .unwrap();
        let (e, _, _) = c.append(Event::PeerAdded, Record::default(), 400).unwrap();
        assert_eq!(e.time, 500);
    }
}
