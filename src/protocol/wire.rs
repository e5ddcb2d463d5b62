//! The bytes on a QUIC stream: one request frame from the sender, one
//! response frame back, both CBOR; and the canonical CBOR encoding used
//! wherever a hash or signature must be reproducible.

use ciborium::value::Value;

/// Largest frame a node reads from a stream, in bytes.
pub const MAX_FRAME: usize = 256 * 1024;

/// A frame that could not be read or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// Not well-formed CBOR, or not the expected shape.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Larger than [`MAX_FRAME`].
    #[error("frame of {0} bytes is larger than the limit of {MAX_FRAME}")]
    TooLarge(usize),
    /// A value could not be encoded.
    #[error("cannot encode: {0}")]
    Encode(String),
}

/// The sender's log state offered for witnessing with a delivery: its
/// latest signed checkpoint (a C2SP signed note) and a consistency proof
/// from the size this peer last cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessing {
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// RFC 6962 consistency proof hashes.
    pub proof: Vec<[u8; 32]>,
    /// The size the proof starts from: what the sender believes the
    /// receiver last cosigned (0: nothing yet).
    pub from_size: u64,
}

/// Largest checkpoint note accepted, in bytes.
pub const MAX_NOTE: usize = 8 * 1024;
/// Most hashes in a consistency proof (enough for 2^64 entries).
pub const MAX_PROOF: usize = 130;

/// What a sending node asks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Deliver one sealed envelope (COSE_Encrypt0 bytes).
    Deliver(Vec<u8>),
    /// Deliver an envelope and offer the sender's checkpoint for witnessing.
    DeliverWitnessed(Vec<u8>, Witnessing),
    /// Announce a key rotation (the COSE_Sign bytes; see
    /// [`crate::protocol::rotation`]).
    Rotate(Vec<u8>),
    /// One sealed chunk of an attachment of a message whose envelope the
    /// receiver holds (see [`crate::protocol::attachment`]).
    Chunk(Chunk),
}

/// One sealed attachment chunk on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The message.
    pub id: crate::protocol::id::MessageId,
    /// Attachment position in the envelope.
    pub attachment: u32,
    /// Chunk position.
    pub index: u32,
    /// The sealed chunk.
    pub data: Vec<u8>,
}

/// Why a receiver refused an envelope. The code is stable; the message is
/// for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectCode {
    /// The frame or envelope is not well-formed CBOR/COSE.
    Malformed,
    /// A protocol version, algorithm or kind this node does not support.
    Unsupported,
    /// The envelope is addressed to another country.
    WrongRecipient,
    /// The envelope's sender is not the peer on this connection.
    SenderMismatch,
    /// The envelope cannot be decrypted with this node's key.
    NotForUs,
    /// The signature does not verify with the sender's key.
    BadSignature,
    /// Outer and inner headers differ.
    Tampered,
    /// Another agreement, version or hash than the one this node holds.
    AgreementMismatch,
    /// The language is not agreed.
    LanguageNotAgreed,
    /// The form does not validate.
    InvalidForm,
    /// A message id already used for different content.
    Replay,
    /// `reply_to` names a message this node does not know, of another
    /// case, or of a kind the message cannot answer.
    BadReply,
    /// The receiver could not store the message; try again later.
    Unavailable,
}

impl RejectCode {
    /// Every code.
    pub const ALL: &'static [RejectCode] = &[
        RejectCode::Malformed,
        RejectCode::Unsupported,
        RejectCode::WrongRecipient,
        RejectCode::SenderMismatch,
        RejectCode::NotForUs,
        RejectCode::BadSignature,
        RejectCode::Tampered,
        RejectCode::AgreementMismatch,
        RejectCode::LanguageNotAgreed,
        RejectCode::InvalidForm,
        RejectCode::Replay,
        RejectCode::BadReply,
        RejectCode::Unavailable,
    ];

    /// The code as sent on the wire and written in audit entries.
    pub fn as_str(&self) -> &'static str {
        match self {
            RejectCode::Malformed => "malformed",
            RejectCode::Unsupported => "unsupported",
            RejectCode::WrongRecipient => "wrong-recipient",
            RejectCode::SenderMismatch => "sender-mismatch",
            RejectCode::NotForUs => "not-for-us",
            RejectCode::BadSignature => "bad-signature",
            RejectCode::Tampered => "tampered",
            RejectCode::AgreementMismatch => "agreement-mismatch",
            RejectCode::LanguageNotAgreed => "language-not-agreed",
            RejectCode::InvalidForm => "invalid-form",
            RejectCode::Replay => "replay",
            RejectCode::BadReply => "bad-reply",
            RejectCode::Unavailable => "unavailable",
        }
    }

    /// Whether the sender should try again later. Every other refusal is
    /// final for that envelope.
    pub fn retryable(&self) -> bool {
        matches!(self, RejectCode::Unavailable)
    }

    fn parse(s: &str) -> Option<RejectCode> {
        RejectCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

/// A refusal: code and a message for people (no personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable code.
    pub code: RejectCode,
    /// Plain-language reason.
    pub message: String,
}

/// What a receiving node answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// Accepted and durably stored: the signed receipt (COSE_Sign1 bytes).
    Receipt(Vec<u8>),
    /// A receipt plus the receiver's cosignature of the sender's checkpoint
    /// (a C2SP tlog-cosignature signature line).
    ReceiptCosigned(Vec<u8>, String),
    /// A receipt, without a cosignature because the offered proof did not
    /// start from the size the receiver last cosigned: that size, so the
    /// sender can offer a proof from it next time.
    ReceiptKnownSize(Vec<u8>, u64),
    /// A key rotation applied: the signed confirmation (COSE_Sign1 bytes).
    RotationConfirmed(Vec<u8>),
    /// The envelope is valid but its attachments are not all here: for
    /// each attachment, the next chunk to send (its chunk count when
    /// complete).
    NeedChunks(Vec<u32>),
    /// A chunk was stored; more are expected.
    ChunkStored,
    /// Refused.
    Reject(Rejection),
}

const T_DELIVER: u64 = 1;
const T_RECEIPT: u64 = 1;
const T_REJECT: u64 = 2;
const T_ROTATE: u64 = 3;
const T_CONFIRMED: u64 = 3;
const T_CHUNK: u64 = 4;
const T_NEED: u64 = 4;
const T_STORED: u64 = 5;

impl Request {
    /// `[1, envelope: bstr]` or `[1, envelope: bstr, checkpoint: tstr,
    /// proof: [* bstr .size 32]]`.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        match self {
            Request::Deliver(env) => encode_value(&Value::Array(vec![
                Value::Integer(T_DELIVER.into()),
                Value::Bytes(env.clone()),
            ])),
            Request::DeliverWitnessed(env, w) => encode_value(&Value::Array(vec![
                Value::Integer(T_DELIVER.into()),
                Value::Bytes(env.clone()),
                Value::Text(w.checkpoint.clone()),
                Value::Array(w.proof.iter().map(|h| Value::Bytes(h.to_vec())).collect()),
                Value::Integer(w.from_size.into()),
            ])),
            Request::Rotate(a) => encode_value(&Value::Array(vec![
                Value::Integer(T_ROTATE.into()),
                Value::Bytes(a.clone()),
            ])),
            Request::Chunk(c) => encode_value(&Value::Array(vec![
                Value::Integer(T_CHUNK.into()),
                Value::Text(c.id.to_string()),
                Value::Integer(c.attachment.into()),
                Value::Integer(c.index.into()),
                Value::Bytes(c.data.clone()),
            ])),
        }
    }

    /// Reads a request frame.
    pub fn decode(bytes: &[u8]) -> Result<Request, WireError> {
        let items = decode_array(bytes)?;
        match items.as_slice() {
            [Value::Integer(t), Value::Bytes(env)] if u64::try_from(*t) == Ok(T_DELIVER) => {
                Ok(Request::Deliver(env.clone()))
            }
            [Value::Integer(t), Value::Bytes(a)] if u64::try_from(*t) == Ok(T_ROTATE) => {
                Ok(Request::Rotate(a.clone()))
            }
            [
                Value::Integer(t),
                Value::Text(id),
                Value::Integer(att),
                Value::Integer(idx),
                Value::Bytes(data),
            ] if u64::try_from(*t) == Ok(T_CHUNK) => {
                let id = crate::protocol::id::MessageId::parse(id)
                    .map_err(|e| WireError::Malformed(e.to_string()))?;
                let (Ok(attachment), Ok(index)) = (u32::try_from(*att), u32::try_from(*idx)) else {
                    return Err(WireError::Malformed("bad chunk position".into()));
                };
                Ok(Request::Chunk(Chunk {
                    id,
                    attachment,
                    index,
                    data: data.clone(),
                }))
            }
            [
                Value::Integer(t),
                Value::Bytes(env),
                Value::Text(note),
                Value::Array(proof),
                Value::Integer(from),
            ] if u64::try_from(*t) == Ok(T_DELIVER) => {
                let from_size = u64::try_from(*from)
                    .map_err(|_| WireError::Malformed("bad proof start size".into()))?;
                if note.len() > MAX_NOTE || proof.len() > MAX_PROOF {
                    return Err(WireError::Malformed("witnessing data too large".into()));
                }
                let mut hashes = Vec::with_capacity(proof.len());
                for h in proof {
                    match h {
                        Value::Bytes(b) if b.len() == 32 => {
                            let mut a = [0u8; 32];
                            a.copy_from_slice(b);
                            hashes.push(a);
                        }
                        _ => {
                            return Err(WireError::Malformed(
                                "a proof hash is not 32 bytes".into(),
                            ));
                        }
                    }
                }
                Ok(Request::DeliverWitnessed(
                    env.clone(),
                    Witnessing {
                        checkpoint: note.clone(),
                        proof: hashes,
                        from_size,
                    },
                ))
            }
            _ => Err(WireError::Malformed(
                "expected [1, envelope] (a deliver request) or [3, announcement] (a key rotation)"
                    .into(),
            )),
        }
    }
}

impl Response {
    /// `[1, receipt: bstr]`, `[1, receipt: bstr, cosignature: tstr]` or
    /// `[2, code: tstr, message: tstr, retryable: bool]`.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let v = match self {
            Response::Receipt(r) => Value::Array(vec![
                Value::Integer(T_RECEIPT.into()),
                Value::Bytes(r.clone()),
            ]),
            Response::ReceiptCosigned(r, c) => Value::Array(vec![
                Value::Integer(T_RECEIPT.into()),
                Value::Bytes(r.clone()),
                Value::Text(c.clone()),
            ]),
            Response::ReceiptKnownSize(r, n) => Value::Array(vec![
                Value::Integer(T_RECEIPT.into()),
                Value::Bytes(r.clone()),
                Value::Integer((*n).into()),
            ]),
            Response::RotationConfirmed(c) => Value::Array(vec![
                Value::Integer(T_CONFIRMED.into()),
                Value::Bytes(c.clone()),
            ]),
            Response::NeedChunks(next) => Value::Array(vec![
                Value::Integer(T_NEED.into()),
                Value::Array(next.iter().map(|n| Value::Integer((*n).into())).collect()),
            ]),
            Response::ChunkStored => Value::Array(vec![Value::Integer(T_STORED.into())]),
            Response::Reject(r) => Value::Array(vec![
                Value::Integer(T_REJECT.into()),
                Value::Text(r.code.as_str().into()),
                Value::Text(r.message.clone()),
                Value::Bool(r.code.retryable()),
            ]),
        };
        encode_value(&v)
    }

    /// Reads a response frame. An unknown reject code is read as
    /// `unavailable` only if the peer marked it retryable, else `unsupported`.
    pub fn decode(bytes: &[u8]) -> Result<Response, WireError> {
        let items = decode_array(bytes)?;
        match items.as_slice() {
            [Value::Integer(t), Value::Bytes(r)] if u64::try_from(*t) == Ok(T_RECEIPT) => {
                Ok(Response::Receipt(r.clone()))
            }
            [Value::Integer(t), Value::Bytes(c)] if u64::try_from(*t) == Ok(T_CONFIRMED) => {
                Ok(Response::RotationConfirmed(c.clone()))
            }
            [Value::Integer(t), Value::Array(next)]
                if u64::try_from(*t) == Ok(T_NEED)
                    && next.len() <= crate::protocol::attachment::MAX_ATTACHMENTS =>
            {
                let mut out = Vec::with_capacity(next.len());
                for n in next {
                    match n {
                        Value::Integer(i) => out.push(
                            u32::try_from(*i)
                                .map_err(|_| WireError::Malformed("bad chunk number".into()))?,
                        ),
                        _ => return Err(WireError::Malformed("bad chunk number".into())),
                    }
                }
                Ok(Response::NeedChunks(out))
            }
            [Value::Integer(t)] if u64::try_from(*t) == Ok(T_STORED) => Ok(Response::ChunkStored),
            [Value::Integer(t), Value::Bytes(r), Value::Text(c)]
                if u64::try_from(*t) == Ok(T_RECEIPT) && c.len() <= MAX_NOTE =>
            {
                Ok(Response::ReceiptCosigned(r.clone(), c.clone()))
            }
            [Value::Integer(t), Value::Bytes(r), Value::Integer(n)]
                if u64::try_from(*t) == Ok(T_RECEIPT) =>
            {
                let n = u64::try_from(*n)
                    .map_err(|_| WireError::Malformed("bad witness size".into()))?;
                Ok(Response::ReceiptKnownSize(r.clone(), n))
            }
            [
                Value::Integer(t),
                Value::Text(code),
                Value::Text(message),
                Value::Bool(retry),
            ] if u64::try_from(*t) == Ok(T_REJECT) => {
                let code = RejectCode::parse(code).unwrap_or(if *retry {
                    RejectCode::Unavailable
                } else {
                    RejectCode::Unsupported
                });
                let message: String = message.chars().take(1000).collect();
                Ok(Response::Reject(Rejection { code, message }))
            }
            _ => Err(WireError::Malformed(
                "expected a receipt [1, bstr] or a rejection [2, code, message, retryable]".into(),
            )),
        }
    }
}

fn decode_array(bytes: &[u8]) -> Result<Vec<Value>, WireError> {
    if bytes.len() > MAX_FRAME {
        return Err(WireError::TooLarge(bytes.len()));
    }
    let mut rest = bytes;
    let v: Value = ciborium::from_reader(&mut rest)
        .map_err(|e| WireError::Malformed(format!("not CBOR ({e})")))?;
    if !rest.is_empty() {
        return Err(WireError::Malformed(format!(
            "{} bytes after the frame",
            rest.len()
        )));
    }
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(WireError::Malformed("frame is not a CBOR array".into())),
    }
}

/// Encodes a CBOR value.
pub fn encode_value(v: &Value) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).map_err(|e| WireError::Encode(e.to_string()))?;
    Ok(out)
}

/// The RFC 8949 §4.2.1 core deterministic encoding of `v`: map keys sorted
/// by the bytewise order of their encodings, at every depth. (ciborium
/// already writes integers and lengths in their shortest form.)
pub fn canonical_cbor<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, WireError> {
    let value = Value::serialized(v).map_err(|e| WireError::Encode(e.to_string()))?;
    encode_value(&canonicalize(value)?)
}

fn canonicalize(v: Value) -> Result<Value, WireError> {
    Ok(match v {
        Value::Map(entries) => {
            let mut keyed = Vec::with_capacity(entries.len());
            for (k, val) in entries {
                let k = canonicalize(k)?;
                keyed.push((encode_value(&k)?, k, canonicalize(val)?));
            }
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(canonicalize)
                .collect::<Result<_, _>>()?,
        ),
        Value::Tag(t, inner) => Value::Tag(t, Box::new(canonicalize(*inner)?)),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_round_trip() {
        let r = Request::Deliver(vec![1, 2, 3]);
        assert_eq!(Request::decode(&r.encode().unwrap()).unwrap(), r);
        let w = Request::DeliverWitnessed(
            vec![1],
            Witnessing {
                checkpoint: "o\n1\nAAAA\n".into(),
                proof: vec![[7; 32], [8; 32]],
                from_size: 3,
            },
        );
        assert_eq!(Request::decode(&w.encode().unwrap()).unwrap(), w);
        let c = Response::ReceiptCosigned(vec![2], "— w AAAA".into());
        assert_eq!(Response::decode(&c.encode().unwrap()).unwrap(), c);
        let k = Response::ReceiptKnownSize(vec![2], 40);
        assert_eq!(Response::decode(&k.encode().unwrap()).unwrap(), k);
        let rot = Request::Rotate(vec![4; 40]);
        assert_eq!(Request::decode(&rot.encode().unwrap()).unwrap(), rot);
        let chunk = Request::Chunk(Chunk {
            id: crate::protocol::id::MessageId::new(5, [1; 10]),
            attachment: 2,
            index: 7,
            data: vec![3; 100],
        });
        assert_eq!(Request::decode(&chunk.encode().unwrap()).unwrap(), chunk);
        for resp in [Response::NeedChunks(vec![0, 5]), Response::ChunkStored] {
            assert_eq!(Response::decode(&resp.encode().unwrap()).unwrap(), resp);
        }
        for resp in [
            Response::Receipt(vec![9; 10]),
            Response::RotationConfirmed(vec![5; 12]),
            Response::Reject(Rejection {
                code: RejectCode::AgreementMismatch,
                message: "hash differs".into(),
            }),
        ] {
            assert_eq!(Response::decode(&resp.encode().unwrap()).unwrap(), resp);
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        assert!(Request::decode(&[0xff, 0x00]).is_err());
        assert!(Request::decode(&[0x80]).is_err());
        assert!(Request::decode(&encode_value(&Value::Integer(1.into())).unwrap()).is_err());
        let mut ok = Request::Deliver(vec![1]).encode().unwrap();
        ok.push(0);
        assert!(Request::decode(&ok).is_err());
        assert!(matches!(
            Request::decode(&vec![0u8; MAX_FRAME + 1]),
            Err(WireError::TooLarge(_))
        ));
    }

    #[test]
    fn canonical_sorts_keys_by_encoding() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("bb", 1);
        m.insert("a", 2);
        m.insert("c", 3);
        let bytes = canonical_cbor(&m).unwrap();
        // {"a": 2, "c": 3, "bb": 1}: shorter keys first.
        assert_eq!(
            bytes,
            vec![
                0xa3, 0x61, b'a', 0x02, 0x61, b'c', 0x03, 0x62, b'b', b'b', 0x01
            ]
        );
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Request::decode(&bytes);
            let _ = Response::decode(&bytes);
        }
    }
}
