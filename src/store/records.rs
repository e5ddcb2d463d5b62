//! What the store keeps about each message: direction, state, times and
//! its receipt. No form content: that is sealed separately.

use super::StoreError;
use crate::protocol::UnixTime;
use crate::protocol::country::Country;
use crate::protocol::forms::Kind;
use crate::protocol::id::MessageId;
use crate::protocol::language::Language;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Received from a peer.
    In,
    /// Sent by this node.
    Out,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Outgoing, stored and waiting for a receipt.
    Queued,
    /// Outgoing, with a verified receipt.
    Delivered,
    /// Outgoing, refused by the peer for good.
    Failed,
    /// Incoming, stored and receipted.
    Received,
}

/// A message's record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageRecord {
    /// Message id.
    pub id: MessageId,
    /// In or out.
    pub direction: Direction,
    /// The other country.
    pub peer: Country,
    /// Kind.
    pub kind: Kind,
    /// Case reference.
    pub case: String,
    /// Language.
    pub lang: Language,
    /// What it answers.
    pub reply_to: Option<MessageId>,
    /// State.
    pub state: State,
    /// Creation time from the envelope.
    pub created: UnixTime,
    /// When this node stored it.
    pub stored: UnixTime,
    /// When the receipt was verified (out).
    pub delivered: Option<UnixTime>,
    /// When it was received (in).
    pub received: Option<UnixTime>,
    /// When a response is due under the agreement's SLA.
    pub due: Option<UnixTime>,
    /// Delivery attempts that failed.
    pub attempts: u32,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// SHA-256 of the envelope bytes.
    pub envelope_sha256: serde_bytes::ByteBuf,
    /// Sent in the urgent lane (kept for retries and recovery).
    #[serde(default)]
    pub urgent: bool,
    /// The signed receipt: the one this node returned (in), or the
    /// peer's, once verified (out). Part of the record since schema 3, so
    /// a message's receipt costs no write of its own; schema 2 kept it in
    /// the `receipts` tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<serde_bytes::ByteBuf>,
}

impl MessageRecord {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        ciborium::into_writer(self, &mut out).map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(out)
    }

    pub(crate) fn decode(id: MessageId, bytes: &[u8]) -> Result<MessageRecord, StoreError> {
        ciborium::from_reader(bytes).map_err(|e| StoreError::Corrupt {
            what: "message record",
            key: id.to_string(),
            reason: e.to_string(),
        })
    }
}
