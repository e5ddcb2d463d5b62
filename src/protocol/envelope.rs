//! Sealing and opening envelopes, and signing and checking receipts.
//!
//! An envelope is a COSE_Encrypt0 (RFC 9052) whose ciphertext is made with
//! HPKE base mode (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//! ChaCha20-Poly1305) to the recipient's X25519 key. The plaintext is a
//! COSE_Sign1 made with the sender's Ed25519 key over `[meta, form]`. The
//! metadata travels in the outer protected header too, so the AEAD binds it
//! as associated data before the signature is even reached. See
//! `proto-spec/envelope.md`.

use crate::protocol::UnixTime;
use crate::protocol::agreement::Agreement;
use crate::protocol::attachment::Extras;
use crate::protocol::country::Country;
use crate::protocol::forms::{Kind, MAX_FORM_BYTES};
use crate::protocol::hpke;
use crate::protocol::id::MessageId;
use crate::protocol::keys::{DecryptionKey, EncryptionKey, SigningKey, VerifyingKey};
use crate::protocol::language::Language;
use crate::protocol::wire::{RejectCode, Rejection};
use ciborium::value::Value;
use coset::{
    CoseEncrypt0, CoseEncrypt0Builder, CoseSign1, CoseSign1Builder, EncryptionContext,
    HeaderBuilder, TaggedCborSerializable as _, iana,
};
use sha2::{Digest as _, Sha256};

/// Private-use COSE algorithm: HPKE base mode, X25519-HKDF-SHA256,
/// HKDF-SHA256, ChaCha20-Poly1305, integrated encryption.
pub const ALG_HPKE: i64 = -70_000;
/// Private-use header label carrying the metadata (bstr .cbor meta).
pub const LABEL_META: i64 = -70_001;
/// Private-use header label carrying the HPKE encapsulated key.
pub const LABEL_HPKE_ENC: i64 = -70_002;
/// HPKE `info` for envelopes.
pub const HPKE_INFO: &[u8] = b"nfp-node envelope v1";
/// Content type of a signed envelope body.
pub const CT_BODY: &str = "application/nfp-body+cbor; v=1";
/// Content type of a signed receipt.
pub const CT_RECEIPT: &str = "application/nfp-receipt+cbor; v=1";
/// Largest envelope a node accepts, in bytes.
pub const MAX_ENVELOPE: usize = 2 * MAX_FORM_BYTES + 24 * 1024;
/// Major protocol version in `meta.v` and `receipt.v`. A node refuses any
/// other major version.
pub const VERSION: u32 = 1;
/// Minor protocol version this node writes in `meta.minor` (absent when 0).
/// A newer minor version only adds optional fields; a node keeps them.
pub const MINOR: u32 = 0;
/// Every metadata key of this minor version.
const META_KEYS: &[&str] = &[
    "v",
    "id",
    "to",
    "case",
    "from",
    "kind",
    "lang",
    "minor",
    "created",
    "reply_to",
    "agreement",
];

/// Whether `minor` is newer than the minor version this node speaks.
pub fn is_newer_minor(minor: u32) -> bool {
    minor > MINOR
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Everything an envelope says about itself; signed and bound as AEAD
/// associated data. Field order is the canonical CBOR key order. Unknown
/// keys are refused unless the sender's minor version is newer than ours;
/// either way the original bytes are kept in the stored envelope.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// Protocol version, 1.
    pub v: u32,
    /// Message id.
    pub id: MessageId,
    /// Recipient country.
    pub to: Country,
    /// Shared, pseudonymous case reference.
    pub case: String,
    /// Sender country.
    pub from: Country,
    /// Message kind.
    pub kind: Kind,
    /// Language of the form's free text.
    pub lang: Language,
    /// Minor protocol version (0 when absent).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minor: u32,
    /// Creation time, Unix seconds.
    pub created: UnixTime,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// Agreement id, version and canonical hash.
    pub agreement: (String, u32, serde_bytes::ByteBuf),
}

/// A signed delivery receipt. Field order is the canonical CBOR key order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Protocol version, 1.
    pub v: u32,
    /// The message received.
    pub id: MessageId,
    /// The original sender (receipt recipient).
    pub to: Country,
    /// When the receiver's answer is due under the agreement, Unix seconds
    /// (absent when no response time is agreed). Signed by the party that
    /// owes the answer, so both nodes show the same deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<UnixTime>,
    /// The receiver (receipt signer).
    pub from: Country,
    /// SHA-256 of the envelope bytes as received.
    pub envelope: serde_bytes::ByteBuf,
    /// When the receiver accepted it, Unix seconds. The receipt itself is
    /// sent only after the message is durably stored.
    pub received: UnixTime,
}

/// Why an envelope or receipt was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Not well-formed.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// Unsupported version or algorithm.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Addressed elsewhere.
    #[error("envelope is addressed to {to}, but this node is {me}")]
    WrongRecipient {
        /// Named recipient.
        to: Country,
        /// This node.
        me: Country,
    },
    /// Sender differs from the authenticated peer.
    #[error("envelope claims to come from {claimed}, but the connection is from {peer}")]
    SenderMismatch {
        /// Claimed sender.
        claimed: Country,
        /// Authenticated peer.
        peer: Country,
    },
    /// Cannot be decrypted with this node's key.
    #[error("envelope is not encrypted to this node's key ({0})")]
    NotForUs(String),
    /// Signature does not verify.
    #[error("signature does not verify with {0}'s signing key")]
    BadSignature(Country),
    /// Inner and outer metadata differ.
    #[error("signed metadata differs from the envelope header")]
    Tampered,
    /// Agreement named differs from the one held.
    #[error(
        "envelope names agreement {theirs_id} v{theirs_version} (hash {theirs_hash}), but this node holds {ours_id} v{ours_version} (hash {ours_hash})"
    )]
    AgreementMismatch {
        /// Named id.
        theirs_id: String,
        /// Named version.
        theirs_version: u32,
        /// Named hash, hex.
        theirs_hash: String,
        /// Held id.
        ours_id: String,
        /// Held version.
        ours_version: u32,
        /// Held hash, hex.
        ours_hash: String,
    },
    /// Language not agreed.
    #[error("language {0} is not agreed for agreement {1}")]
    LanguageNotAgreed(Language, String),
    /// Case reference not acceptable.
    #[error("case reference {0}")]
    BadCase(&'static str),
    /// Receipt does not match what was sent.
    #[error("receipt does not match: {0}")]
    ReceiptMismatch(&'static str),
    /// Encoding failed (a bug, not bad input).
    #[error("cannot encode: {0}")]
    Encode(String),
}

impl EnvelopeError {
    /// The wire rejection for this error.
    pub fn rejection(&self) -> Rejection {
        let code = match self {
            EnvelopeError::Malformed(_) | EnvelopeError::BadCase(_) => RejectCode::Malformed,
            EnvelopeError::Unsupported(_) | EnvelopeError::Encode(_) => RejectCode::Unsupported,
            EnvelopeError::WrongRecipient { .. } => RejectCode::WrongRecipient,
            EnvelopeError::SenderMismatch { .. } => RejectCode::SenderMismatch,
            EnvelopeError::NotForUs(_) => RejectCode::NotForUs,
            EnvelopeError::BadSignature(_) | EnvelopeError::ReceiptMismatch(_) => {
                RejectCode::BadSignature
            }
            EnvelopeError::Tampered => RejectCode::Tampered,
            EnvelopeError::AgreementMismatch { .. } => RejectCode::AgreementMismatch,
            EnvelopeError::LanguageNotAgreed(..) => RejectCode::LanguageNotAgreed,
        };
        Rejection {
            code,
            message: self.to_string(),
        }
    }
}

/// Checks a case reference: 1 to 64 characters of `A-Z a-z 0-9 - _ / .`.
/// Case references must be pseudonymous: they travel in envelope headers.
pub fn check_case_ref(case: &str) -> Result<(), EnvelopeError> {
    if case.is_empty() || case.len() > 64 {
        return Err(EnvelopeError::BadCase("must be 1 to 64 characters"));
    }
    if !case
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_/.".contains(c))
    {
        return Err(EnvelopeError::BadCase(
            "may hold only letters, digits and - _ / .",
        ));
    }
    Ok(())
}

impl Meta {
    /// Checks the metadata against the agreement this node holds with the
    /// sender: same id, version and hash, and an agreed language.
    pub fn check_agreement(&self, held: &Agreement) -> Result<(), EnvelopeError> {
        self.check_agreement_hashed(held, held.hash())
    }

    /// As [`Meta::check_agreement`], with the agreement's hash computed
    /// beforehand (it is the same for every message under it).
    pub fn check_agreement_hashed(
        &self,
        held: &Agreement,
        ours: [u8; 32],
    ) -> Result<(), EnvelopeError> {
        let (id, version, hash) = &self.agreement;
        if *id != held.id || *version != held.version || hash.as_slice() != ours {
            return Err(EnvelopeError::AgreementMismatch {
                theirs_id: id.clone(),
                theirs_version: *version,
                theirs_hash: hex::encode(hash),
                ours_id: held.id.clone(),
                ours_version: held.version,
                ours_hash: hex::encode(ours),
            });
        }
        if !held.allows_language(self.lang) {
            return Err(EnvelopeError::LanguageNotAgreed(self.lang, held.id.clone()));
        }
        Ok(())
    }
}

fn cbor<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).map_err(|e| EnvelopeError::Encode(e.to_string()))?;
    Ok(out)
}

/// SHA-256 of bytes.
pub fn sha256(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(b));
    out
}

/// Seals `form_cbor` under `meta`: signs with `sender`, encrypts to
/// `recipient`. `ephemeral_seed` must be 32 fresh random bytes.
pub fn seal(
    meta: &Meta,
    form_cbor: &[u8],
    sender: &SigningKey,
    recipient: &EncryptionKey,
    ephemeral_seed: [u8; 32],
) -> Result<Vec<u8>, EnvelopeError> {
    seal_with(
        meta,
        form_cbor,
        &Extras::default(),
        sender,
        recipient,
        ephemeral_seed,
    )
}

/// As [`seal`], with attachments and translations in the signed body (its
/// third element, left out when there are none).
pub fn seal_with(
    meta: &Meta,
    form_cbor: &[u8],
    extras: &Extras,
    sender: &SigningKey,
    recipient: &EncryptionKey,
    ephemeral_seed: [u8; 32],
) -> Result<Vec<u8>, EnvelopeError> {
    check_case_ref(&meta.case)?;
    let meta_bytes = cbor(meta)?;
    let body = if extras.is_empty() {
        cbor(&(
            serde_bytes::Bytes::new(&meta_bytes),
            serde_bytes::Bytes::new(form_cbor),
        ))?
    } else {
        let extras_bytes = cbor(extras)?;
        cbor(&(
            serde_bytes::Bytes::new(&meta_bytes),
            serde_bytes::Bytes::new(form_cbor),
            serde_bytes::Bytes::new(&extras_bytes),
        ))?
    };
    let sign1 = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .key_id(sender.verifying_key().key_id().to_vec())
                .content_type(CT_BODY.to_string())
                .build(),
        )
        .payload(body)
        .create_signature(b"", |data| sender.sign(data).to_vec())
        .build()
        .to_tagged_vec()
        .map_err(|e| EnvelopeError::Encode(e.to_string()))?;

    let protected = HeaderBuilder::new()
        .algorithm_label(coset::RegisteredLabelWithPrivate::PrivateUse(ALG_HPKE))
        .value(LABEL_META, Value::Bytes(meta_bytes))
        .build();
    let aad = coset::enc_structure_data(
        EncryptionContext::CoseEncrypt0,
        coset::ProtectedHeader {
            original_data: None,
            header: protected.clone(),
        },
        b"",
    );
    let builder = CoseEncrypt0Builder::new().protected(protected);
    // The ephemeral key's input keying material: the first 32 bytes of the
    // seed's SHA-256 counter-mode stream (what earlier versions drew from
    // it, so the test vectors stay valid).
    let ikm: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(
        Sha256::new()
            .chain_update(ephemeral_seed)
            .chain_update(0u64.to_be_bytes())
            .finalize()
            .into(),
    );
    let (enc, ct) = hpke::seal(recipient.recipient(), HPKE_INFO, &aad, &sign1, &ikm)
        .map_err(|e| EnvelopeError::Encode(format!("HPKE seal failed: {e}")))?;
    builder
        .unprotected(
            HeaderBuilder::new()
                .key_id(recipient.key_id().to_vec())
                .value(LABEL_HPKE_ENC, Value::Bytes(enc.to_vec()))
                .build(),
        )
        .ciphertext(ct)
        .build()
        .to_tagged_vec()
        .map_err(|e| EnvelopeError::Encode(e.to_string()))
}

/// What the outer layer of an envelope says, read without decrypting.
#[derive(Debug, Clone)]
pub struct Outer {
    /// The metadata from the protected header.
    pub meta: Meta,
    meta_bytes: Vec<u8>,
    cose: CoseEncrypt0,
}

/// Reads the outer COSE_Encrypt0 and its metadata. Nothing is decrypted or
/// trusted yet.
pub fn read_outer(envelope: &[u8]) -> Result<Outer, EnvelopeError> {
    if envelope.len() > MAX_ENVELOPE {
        return Err(EnvelopeError::Malformed(format!(
            "{} bytes is larger than the limit of {MAX_ENVELOPE}",
            envelope.len()
        )));
    }
    let cose = CoseEncrypt0::from_tagged_slice(envelope)
        .map_err(|e| EnvelopeError::Malformed(format!("not a tagged COSE_Encrypt0 ({e})")))?;
    if cose.protected.header.alg != Some(coset::RegisteredLabelWithPrivate::PrivateUse(ALG_HPKE)) {
        return Err(EnvelopeError::Unsupported(
            "algorithm is not HPKE-X25519-SHA256-ChaCha20Poly1305".into(),
        ));
    }
    let meta_bytes = header_bytes(&cose.protected.header, LABEL_META)
        .ok_or_else(|| EnvelopeError::Malformed("no metadata in the protected header".into()))?;
    let generic: Value = ciborium::from_reader(meta_bytes.as_slice())
        .map_err(|e| EnvelopeError::Malformed(format!("metadata: {e}")))?;
    // The major version first: a later version may change any other key.
    let major = generic.as_map().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.as_text() == Some("v"))
            .and_then(|(_, v)| v.as_integer())
            .and_then(|i| u64::try_from(i).ok())
    });
    if let Some(v) = major
        && v != u64::from(VERSION)
    {
        return Err(EnvelopeError::Unsupported(format!(
            "protocol version {v}; this node speaks version {VERSION} (minor {MINOR})"
        )));
    }
    if let Some(kind) = generic.as_map().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.as_text() == Some("kind"))
            .and_then(|(_, v)| v.as_text())
    }) && Kind::parse(kind).is_none()
    {
        return Err(EnvelopeError::Unsupported(format!(
            "message kind {:?}; this node speaks: {}",
            kind.chars().take(40).collect::<String>(),
            Kind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let meta: Meta = generic
        .deserialized()
        .map_err(|e| EnvelopeError::Malformed(format!("metadata: {e}")))?;
    if meta.v != VERSION {
        return Err(EnvelopeError::Unsupported(format!(
            "protocol version {}; this node speaks version {VERSION} (minor {MINOR})",
            meta.v
        )));
    }
    if !is_newer_minor(meta.minor) {
        let unknown = generic.as_map().and_then(|m| {
            m.iter().find_map(|(k, _)| match k.as_text() {
                Some(t) if META_KEYS.contains(&t) => None,
                Some(t) => Some(t.to_string()),
                None => Some("(non-text key)".to_string()),
            })
        });
        if let Some(k) = unknown {
            return Err(EnvelopeError::Malformed(format!(
                "unknown metadata field {k:?} in minor version {}",
                meta.minor
            )));
        }
    }
    check_case_ref(&meta.case)?;
    Ok(Outer {
        meta,
        meta_bytes,
        cose,
    })
}

fn header_bytes(h: &coset::Header, label: i64) -> Option<Vec<u8>> {
    h.rest.iter().find_map(|(l, v)| match (l, v) {
        (coset::Label::Int(i), Value::Bytes(b)) if *i == label => Some(b.clone()),
        _ => None,
    })
}

/// An envelope that decrypted and verified.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The verified metadata.
    pub meta: Meta,
    /// The form's CBOR, not yet validated.
    pub form_cbor: Vec<u8>,
    /// Attachments and translations, not yet checked against the
    /// agreement.
    pub extras: Extras,
}

impl Outer {
    /// The key id of the encryption key the envelope is sealed to.
    pub fn recipient_key_id(&self) -> &[u8] {
        &self.cose.unprotected.key_id
    }

    /// Checks addressing, decrypts with `me_key` and verifies the signature
    /// with whichever of `sender_keys` the signature names (a sender has
    /// two during a key rotation's overlap). `me` is this node; `peer` is
    /// the country the TLS handshake authenticated.
    pub fn open(
        &self,
        me: Country,
        me_key: &DecryptionKey,
        peer: Country,
        sender_keys: &[VerifyingKey],
    ) -> Result<Opened, EnvelopeError> {
        if self.meta.to != me {
            return Err(EnvelopeError::WrongRecipient {
                to: self.meta.to,
                me,
            });
        }
        if self.meta.from != peer {
            return Err(EnvelopeError::SenderMismatch {
                claimed: self.meta.from,
                peer,
            });
        }
        let ours = me_key.public().key_id();
        if self.cose.unprotected.key_id.as_slice() != ours {
            return Err(EnvelopeError::NotForUs(format!(
                "sealed to key id {}, this node's is {}",
                hex::encode(&self.cose.unprotected.key_id),
                hex::encode(ours)
            )));
        }
        let enc_bytes = header_bytes(&self.cose.unprotected, LABEL_HPKE_ENC)
            .ok_or_else(|| EnvelopeError::Malformed("no HPKE encapsulated key".into()))?;
        let enc: [u8; 32] = enc_bytes
            .as_slice()
            .try_into()
            .map_err(|_| EnvelopeError::Malformed("bad HPKE encapsulated key".into()))?;
        let sign1_bytes = self.cose.decrypt_ciphertext(
            b"",
            || EnvelopeError::Malformed("no ciphertext".into()),
            |ct, aad| {
                hpke::open(
                    me_key.secret(),
                    me_key.public_bytes(),
                    &enc,
                    HPKE_INFO,
                    aad,
                    ct,
                )
                .map_err(|_| EnvelopeError::NotForUs("decryption failed".into()))
            },
        )?;
        let sign1 = CoseSign1::from_tagged_slice(&sign1_bytes)
            .map_err(|e| EnvelopeError::Malformed(format!("inner COSE_Sign1: {e}")))?;
        check_sign1_headers(&sign1, CT_BODY)?;
        let sender_key =
            key_named(&sign1, sender_keys).ok_or(EnvelopeError::BadSignature(self.meta.from))?;
        sign1
            .verify_signature(b"", |sig, data| sender_key.verify(data, sig))
            .map_err(|_| EnvelopeError::BadSignature(self.meta.from))?;
        let payload = sign1
            .payload
            .ok_or_else(|| EnvelopeError::Malformed("no signed payload".into()))?;
        let parts: Vec<serde_bytes::ByteBuf> = ciborium::from_reader(payload.as_slice())
            .map_err(|e| EnvelopeError::Malformed(format!("signed body: {e}")))?;
        let mut parts = parts.into_iter();
        let (Some(inner_meta), Some(form), extras, None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(EnvelopeError::Malformed(
                "signed body is not [meta, form] or [meta, form, extras]".into(),
            ));
        };
        if inner_meta.as_slice() != self.meta_bytes.as_slice() {
            return Err(EnvelopeError::Tampered);
        }
        let extras = match extras {
            None => Extras::default(),
            Some(b) => {
                let x: Extras = ciborium::from_reader(b.as_slice())
                    .map_err(|e| EnvelopeError::Malformed(format!("extras: {e}")))?;
                if x.is_empty() {
                    return Err(EnvelopeError::Malformed(
                        "empty extras: leave the element out".into(),
                    ));
                }
                x
            }
        };
        Ok(Opened {
            meta: self.meta.clone(),
            form_cbor: form.into_vec(),
            extras,
        })
    }
}

/// The key among `keys` whose id the signature's `kid` header names.
fn key_named<'a>(sign1: &CoseSign1, keys: &'a [VerifyingKey]) -> Option<&'a VerifyingKey> {
    let kid = sign1.protected.header.key_id.as_slice();
    keys.iter().find(|k| k.key_id().as_slice() == kid)
}

fn check_sign1_headers(sign1: &CoseSign1, content_type: &str) -> Result<(), EnvelopeError> {
    if sign1.protected.header.alg
        != Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::EdDSA,
        ))
    {
        return Err(EnvelopeError::Unsupported(
            "signature algorithm is not EdDSA".into(),
        ));
    }
    let ct_ok = matches!(
        &sign1.protected.header.content_type,
        Some(coset::ContentType::Text(t)) if t == content_type
    );
    if !ct_ok {
        return Err(EnvelopeError::Malformed(format!(
            "signed content type is not {content_type:?}"
        )));
    }
    Ok(())
}

/// Signs a receipt with the receiver's key.
pub fn sign_receipt(r: &Receipt, signer: &SigningKey) -> Result<Vec<u8>, EnvelopeError> {
    CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .key_id(signer.verifying_key().key_id().to_vec())
                .content_type(CT_RECEIPT.to_string())
                .build(),
        )
        .payload(cbor(r)?)
        .create_signature(b"", |data| signer.sign(data).to_vec())
        .build()
        .to_tagged_vec()
        .map_err(|e| EnvelopeError::Encode(e.to_string()))
}

/// Verifies a receipt from `peer` for the envelope `sent` (its bytes) with
/// id `id`, sent by `me`.
pub fn verify_receipt(
    receipt: &[u8],
    peer: Country,
    peer_keys: &[VerifyingKey],
    me: Country,
    id: MessageId,
    sent: &[u8],
) -> Result<Receipt, EnvelopeError> {
    if receipt.len() > 4096 {
        return Err(EnvelopeError::Malformed("receipt too large".into()));
    }
    let sign1 = CoseSign1::from_tagged_slice(receipt)
        .map_err(|e| EnvelopeError::Malformed(format!("receipt is not a COSE_Sign1 ({e})")))?;
    check_sign1_headers(&sign1, CT_RECEIPT)?;
    let peer_key = key_named(&sign1, peer_keys).ok_or(EnvelopeError::BadSignature(peer))?;
    sign1
        .verify_signature(b"", |sig, data| peer_key.verify(data, sig))
        .map_err(|_| EnvelopeError::BadSignature(peer))?;
    let payload = sign1
        .payload
        .ok_or_else(|| EnvelopeError::Malformed("receipt has no payload".into()))?;
    let r: Receipt = ciborium::from_reader(payload.as_slice())
        .map_err(|e| EnvelopeError::Malformed(format!("receipt: {e}")))?;
    if r.v != VERSION {
        return Err(EnvelopeError::Unsupported(format!(
            "receipt version {}",
            r.v
        )));
    }
    if r.id != id {
        return Err(EnvelopeError::ReceiptMismatch("message id"));
    }
    if r.from != peer || r.to != me {
        return Err(EnvelopeError::ReceiptMismatch("parties"));
    }
    if r.envelope.as_slice() != sha256(sent) {
        return Err(EnvelopeError::ReceiptMismatch("envelope hash"));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn meta(agreement: &Agreement) -> Meta {
        Meta {
            v: VERSION,
            id: MessageId::new(1_790_000_000_000, [7; 10]),
            to: "AL".parse().unwrap(),
            case: "GR-2026-0001".into(),
            from: "GR".parse().unwrap(),
            kind: Kind::SocialInquiryRequest,
            lang: "en".parse().unwrap(),
            created: 1_790_000_000,
            minor: 0,
            reply_to: None,
            agreement: (
                agreement.id.clone(),
                agreement.version,
                serde_bytes::ByteBuf::from(agreement.hash().to_vec()),
            ),
        }
    }

    fn agreement() -> Agreement {
        Agreement::from_toml(
            "id = \"AL-GR\"\nversion = 1\nparties = [\"AL\", \"GR\"]\nlanguages = [\"en\", \"sq\", \"el\"]\n",
        )
        .unwrap()
    }

    struct Keys {
        gr_sign: SigningKey,
        al_dec: DecryptionKey,
    }

    fn keys() -> Keys {
        Keys {
            gr_sign: SigningKey::from_seed(&[1; 32]),
            al_dec: DecryptionKey::from_bytes(&[2; 32]).unwrap(),
        }
    }

    fn al() -> Country {
        "AL".parse().unwrap()
    }
    fn gr() -> Country {
        "GR".parse().unwrap()
    }

    #[test]
    fn seal_open_round_trip() {
        let k = keys();
        let a = agreement();
        let m = meta(&a);
        let env = seal(&m, b"\xa0", &k.gr_sign, &k.al_dec.public(), [3; 32]).unwrap();
        let outer = read_outer(&env).unwrap();
        assert_eq!(outer.meta, m);
        outer.meta.check_agreement(&a).unwrap();
        let opened = outer
            .open(al(), &k.al_dec, gr(), &[k.gr_sign.verifying_key()])
            .unwrap();
        assert_eq!(opened.form_cbor, b"\xa0");
        // Deterministic for a given seed.
        let again = seal(&m, b"\xa0", &k.gr_sign, &k.al_dec.public(), [3; 32]).unwrap();
        assert_eq!(env, again);
    }

    #[test]
    fn wrong_keys_and_addresses_are_refused() {
        let k = keys();
        let a = agreement();
        let m = meta(&a);
        let env = seal(&m, b"\xa0", &k.gr_sign, &k.al_dec.public(), [3; 32]).unwrap();
        let outer = read_outer(&env).unwrap();
        let impostor = SigningKey::from_seed(&[9; 32]).verifying_key();
        assert_eq!(
            outer.open(al(), &k.al_dec, gr(), &[impostor]).unwrap_err(),
            EnvelopeError::BadSignature(gr())
        );
        let other = DecryptionKey::from_bytes(&[5; 32]).unwrap();
        assert!(matches!(
            outer.open(al(), &other, gr(), &[k.gr_sign.verifying_key()]),
            Err(EnvelopeError::NotForUs(_))
        ));
        assert!(matches!(
            outer.open(gr(), &k.al_dec, gr(), &[k.gr_sign.verifying_key()]),
            Err(EnvelopeError::WrongRecipient { .. })
        ));
        assert!(matches!(
            outer.open(
                al(),
                &k.al_dec,
                "FR".parse().unwrap(),
                &[k.gr_sign.verifying_key()]
            ),
            Err(EnvelopeError::SenderMismatch { .. })
        ));
        let a2 = Agreement {
            version: 2,
            ..a.clone()
        };
        let e = outer.meta.check_agreement(&a2).unwrap_err();
        assert_eq!(e.rejection().code, RejectCode::AgreementMismatch);
        assert!(e.to_string().contains(&hex::encode(a.hash())));
        assert!(e.to_string().contains(&hex::encode(a2.hash())));
    }

    #[test]
    fn versions_are_checked() {
        let k = keys();
        let a = agreement();
        let mut m = meta(&a);
        m.v = 2;
        let env = seal(&m, b"\xa0", &k.gr_sign, &k.al_dec.public(), [3; 32]).unwrap();
        let e = read_outer(&env).unwrap_err();
        assert!(e.to_string().contains("this node speaks version 1"), "{e}");
        assert_eq!(e.rejection().code, RejectCode::Unsupported);
        // A newer minor version is accepted.
        let mut m = meta(&a);
        m.minor = MINOR + 1;
        let env = seal(&m, b"\xa0", &k.gr_sign, &k.al_dec.public(), [3; 32]).unwrap();
        assert_eq!(read_outer(&env).unwrap().meta.minor, MINOR + 1);
    }

    #[test]
    fn any_flipped_bit_is_caught() {
        let k = keys();
        let a = agreement();
        let env = seal(&meta(&a), b"\xa0", &k.gr_sign, &k.al_dec.public(), [3; 32]).unwrap();
        for i in 0..env.len() {
            let mut bad = env.clone();
            bad[i] ^= 0x01;
            let res = read_outer(&bad).and_then(|o| {
                o.meta.check_agreement(&a)?;
                o.open(al(), &k.al_dec, gr(), &[k.gr_sign.verifying_key()])
            });
            if let Ok(opened) = res {
                // A flip in an unprotected, unauthenticated spot that still
                // yields the same meaning is the only acceptable outcome.
                assert_eq!(opened.form_cbor, b"\xa0", "byte {i}");
                panic!("flip at byte {i} was accepted");
            }
        }
    }

    #[test]
    fn receipts_verify_and_mismatches_fail() {
        let al_sign = SigningKey::from_seed(&[4; 32]);
        let env = b"envelope bytes";
        let id = MessageId::new(5, [1; 10]);
        let r = Receipt {
            v: VERSION,
            id,
            to: gr(),
            due: None,
            from: al(),
            envelope: serde_bytes::ByteBuf::from(sha256(env).to_vec()),
            received: 1_790_000_001,
        };
        let bytes = sign_receipt(&r, &al_sign).unwrap();
        let vk = al_sign.verifying_key();
        assert_eq!(
            verify_receipt(&bytes, al(), &[vk], gr(), id, env).unwrap(),
            r
        );
        assert!(verify_receipt(&bytes, al(), &[vk], gr(), id, b"other").is_err());
        assert!(
            verify_receipt(&bytes, al(), &[vk], gr(), MessageId::new(6, [1; 10]), env).is_err()
        );
        let wrong = SigningKey::from_seed(&[8; 32]).verifying_key();
        assert!(verify_receipt(&bytes, al(), &[wrong], gr(), id, env).is_err());
    }

    proptest::proptest! {
        #[test]
        fn outer_reader_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = read_outer(&bytes);
        }
    }
}
