//! Key rotation between partners: the `key-rotation` announcement a node
//! sends when it replaces its keys, signed by the old and the new signing
//! key (a COSE_Sign with two signers, RFC 9052 §4.1), the partner's signed
//! confirmation (a COSE_Sign1), and what a partner does with a verified
//! announcement: the new keys become current and the old ones stay
//! accepted until the agreed overlap ends — or not at all after a
//! compromise.
//!
//! Pure: times are passed in; nothing here reads a clock or a file.

use crate::protocol::UnixTime;
use crate::protocol::card::{PeerCard, RetiredKeys};
use crate::protocol::country::Country;
use crate::protocol::envelope::sha256;
use crate::protocol::keys::{EncryptionKey, SigningKey, SpkiPin, VerifyingKey};
use coset::{
    CoseSign, CoseSign1, CoseSign1Builder, CoseSignBuilder, CoseSignatureBuilder, HeaderBuilder,
    TaggedCborSerializable as _, iana,
};
use serde_bytes::ByteArray;

/// Content type of an announcement's payload.
pub const CT_ANNOUNCEMENT: &str = "application/nfp-key-rotation+cbor";
/// Content type of a confirmation's payload.
pub const CT_CONFIRMATION: &str = "application/nfp-key-rotation-confirmation+cbor";
/// Format version of both.
pub const VERSION: u8 = 1;
/// Largest announcement or confirmation accepted, in bytes.
pub const MAX_LEN: usize = 4096;

/// Why an announcement or confirmation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    /// Not well-formed COSE or CBOR, or not the expected shape.
    #[error("malformed key rotation: {0}")]
    Malformed(String),
    /// A version this node does not know.
    #[error("key rotation version {0} is not supported")]
    Unsupported(u8),
    /// Not signed by the key this node holds for the sender.
    #[error("the key rotation from {0} is not signed by the signing key this node holds for it")]
    NotByCurrentKey(Country),
    /// The new key's signature (proof of possession) is missing or wrong.
    #[error("the key rotation from {0} is not signed by the new key it announces")]
    NoProofOfPossession(Country),
    /// Sent over a connection from another country than it names.
    #[error("key rotation names {claimed} but came from {peer}")]
    WrongSender {
        /// Country in the announcement.
        claimed: Country,
        /// Country of the connection.
        peer: Country,
    },
    /// The announced old keys are not the ones this node holds.
    #[error("the key rotation from {0} replaces keys this node does not hold for it")]
    NotCurrent(Country),
    /// An older or repeated serial with other content.
    #[error("key rotation {serial} from {peer} is older than the one this node holds ({held})")]
    Stale {
        /// Sender.
        peer: Country,
        /// Serial received.
        serial: u32,
        /// Serial held.
        held: u32,
    },
    /// The log origin would change.
    #[error("the key rotation from {0} changes its log origin")]
    OriginChanged(Country),
    /// The new keys equal the old ones.
    #[error("the key rotation from {0} keeps the same signing key")]
    SameKey(Country),
    /// A confirmation that does not match.
    #[error("key rotation confirmation: {0}")]
    BadConfirmation(String),
}

fn malformed(e: impl std::fmt::Display) -> RotationError {
    RotationError::Malformed(e.to_string())
}

/// The three public keys of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeySet {
    /// Ed25519 key that signs envelopes, receipts and checkpoints.
    pub signing_key: ByteArray<32>,
    /// X25519 key envelopes are sealed to.
    pub encryption_key: ByteArray<32>,
    /// SHA-256 of the TLS certificate's SubjectPublicKeyInfo.
    pub tls_spki_sha256: ByteArray<32>,
}

impl KeySet {
    /// The keys a card names.
    pub fn of_card(card: &PeerCard) -> KeySet {
        KeySet {
            signing_key: ByteArray::new(card.signing_key.to_bytes()),
            encryption_key: ByteArray::new(card.encryption_key.to_bytes()),
            tls_spki_sha256: ByteArray::new(card.tls_spki_sha256.0),
        }
    }

    /// The signing key.
    pub fn signing(&self) -> Result<VerifyingKey, RotationError> {
        VerifyingKey::from_bytes(&self.signing_key).map_err(malformed)
    }

    /// The encryption key.
    pub fn encryption(&self) -> Result<EncryptionKey, RotationError> {
        EncryptionKey::from_bytes(self.encryption_key.as_slice()).map_err(malformed)
    }

    /// The TLS pin.
    pub fn pin(&self) -> SpkiPin {
        SpkiPin(*self.tls_spki_sha256)
    }
}

/// What a rotating node tells each partner.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Announcement {
    /// Format version, [`VERSION`].
    pub v: u8,
    /// The rotating node's country.
    pub country: Country,
    /// 1 for the node's first rotation, then 2, 3 …
    pub serial: u32,
    /// The node's audit log origin, which a rotation never changes.
    pub origin: String,
    /// When the rotation was made.
    pub at: UnixTime,
    /// The keys replaced.
    pub old: KeySet,
    /// The keys from now on.
    pub new: KeySet,
    /// For a revocation: from when the old keys are compromised. Partners
    /// then accept nothing more signed by them (no overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compromised_from: Option<UnixTime>,
}

fn cbor<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, RotationError> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).map_err(malformed)?;
    Ok(out)
}

fn signer(key: &VerifyingKey) -> coset::CoseSignature {
    CoseSignatureBuilder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .key_id(key.key_id().to_vec())
                .build(),
        )
        .build()
}

impl Announcement {
    /// Signs the announcement with the old and the new signing key, in that
    /// order.
    pub fn sign(&self, old: &SigningKey, new: &SigningKey) -> Result<Vec<u8>, RotationError> {
        let payload = cbor(self)?;
        let sign = CoseSignBuilder::new()
            .protected(
                HeaderBuilder::new()
                    .content_type(CT_ANNOUNCEMENT.to_string())
                    .build(),
            )
            .payload(payload)
            .add_created_signature(signer(&old.verifying_key()), b"", |d| old.sign(d).to_vec())
            .add_created_signature(signer(&new.verifying_key()), b"", |d| new.sign(d).to_vec())
            .build();
        sign.to_tagged_vec().map_err(malformed)
    }

    /// Reads an announcement and checks that both of its keys signed it:
    /// the old key named inside and the new one. Says nothing about
    /// whether the old key is trusted; see [`Announcement::verify_from`].
    pub fn verify_self_consistent(bytes: &[u8]) -> Result<Announcement, RotationError> {
        if bytes.len() > MAX_LEN {
            return Err(malformed("too large"));
        }
        let sign = CoseSign::from_tagged_slice(bytes).map_err(malformed)?;
        let ct_ok = matches!(
            &sign.protected.header.content_type,
            Some(coset::ContentType::Text(t)) if t == CT_ANNOUNCEMENT
        );
        if !ct_ok || sign.signatures.len() != 2 {
            return Err(malformed("expected a COSE_Sign with two signatures"));
        }
        let payload = sign
            .payload
            .as_deref()
            .ok_or_else(|| malformed("no payload"))?;
        let a: Announcement = ciborium::from_reader(payload).map_err(malformed)?;
        if a.v != VERSION {
            return Err(RotationError::Unsupported(a.v));
        }
        if cbor(&a)? != payload {
            return Err(malformed("payload is not canonical"));
        }
        for s in &sign.signatures {
            if s.protected.header.alg
                != Some(coset::RegisteredLabelWithPrivate::Assigned(
                    iana::Algorithm::EdDSA,
                ))
            {
                return Err(malformed("a signature is not EdDSA"));
            }
        }
        let old = a.old.signing()?;
        let new = a.new.signing()?;
        if old == new {
            return Err(RotationError::SameKey(a.country));
        }
        sign.verify_signature(0, b"", |sig, d| old.verify(d, sig))
            .map_err(|_| RotationError::NotByCurrentKey(a.country))?;
        sign.verify_signature(1, b"", |sig, d| new.verify(d, sig))
            .map_err(|_| RotationError::NoProofOfPossession(a.country))?;
        Ok(a)
    }

    /// Verifies an announcement received from `peer`, whose card this node
    /// holds as `card`, having applied rotations up to `held_serial`.
    /// Returns the announcement when it is new (a higher serial); `Ok(None)`
    /// when it is the very rotation already applied (the partner did not
    /// see the confirmation: confirm again).
    pub fn verify_from(
        bytes: &[u8],
        peer: Country,
        card: &PeerCard,
        held_serial: u32,
    ) -> Result<Option<Announcement>, RotationError> {
        let a = Announcement::verify_self_consistent(bytes)?;
        if a.country != peer {
            return Err(RotationError::WrongSender {
                claimed: a.country,
                peer,
            });
        }
        if a.origin != card.log_origin() {
            return Err(RotationError::OriginChanged(peer));
        }
        let current = KeySet::of_card(card);
        if a.serial == held_serial && a.new == current {
            return Ok(None);
        }
        if a.serial <= held_serial {
            return Err(RotationError::Stale {
                peer,
                serial: a.serial,
                held: held_serial,
            });
        }
        if a.old != current {
            return Err(RotationError::NotCurrent(peer));
        }
        Ok(Some(a))
    }

    /// The partner's card once this rotation is applied at `now`: the new
    /// keys are current; the old ones are kept as retired, accepted until
    /// `now + overlap` (or, after a compromise, not at all from
    /// `compromised_from`).
    pub fn apply(
        &self,
        card: &PeerCard,
        now: UnixTime,
        overlap_secs: i64,
    ) -> Result<PeerCard, RotationError> {
        let mut next = card.clone();
        next.signing_key = self.new.signing()?;
        next.encryption_key = self.new.encryption()?;
        next.tls_spki_sha256 = self.new.pin();
        next.log_origin = Some(self.origin.clone());
        next.rotation = self.serial;
        let until = match self.compromised_from {
            Some(c) => c.min(now),
            None => now.saturating_add(overlap_secs.max(0)),
        };
        next.previous.push(RetiredKeys {
            signing_key: self.old.signing()?,
            encryption_key: self.old.encryption()?,
            tls_spki_sha256: self.old.pin(),
            retired_at: now,
            accepted_until: until,
            compromised_from: self.compromised_from,
        });
        Ok(next)
    }
}

/// What a partner signs to confirm it applied a rotation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Confirmation {
    /// Format version.
    pub v: u8,
    /// The confirming partner.
    pub from: Country,
    /// The rotating node.
    pub rotated: Country,
    /// The rotation's serial.
    pub serial: u32,
    /// SHA-256 of the announcement bytes.
    pub announcement: ByteArray<32>,
    /// When it was applied.
    pub at: UnixTime,
}

impl Confirmation {
    /// The confirmation of `announcement` (its bytes) by `from`.
    pub fn of(from: Country, a: &Announcement, announcement: &[u8], at: UnixTime) -> Confirmation {
        Confirmation {
            v: VERSION,
            from,
            rotated: a.country,
            serial: a.serial,
            announcement: ByteArray::new(sha256(announcement)),
            at,
        }
    }

    /// Signs it.
    pub fn sign(&self, key: &SigningKey) -> Result<Vec<u8>, RotationError> {
        CoseSign1Builder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(iana::Algorithm::EdDSA)
                    .key_id(key.verifying_key().key_id().to_vec())
                    .content_type(CT_CONFIRMATION.to_string())
                    .build(),
            )
            .payload(cbor(self)?)
            .create_signature(b"", |d| key.sign(d).to_vec())
            .build()
            .to_tagged_vec()
            .map_err(malformed)
    }

    /// Verifies that `peer` (signing with any of `keys`) confirmed exactly
    /// `announcement`.
    pub fn verify(
        bytes: &[u8],
        peer: Country,
        keys: &[VerifyingKey],
        announcement: &[u8],
    ) -> Result<Confirmation, RotationError> {
        if bytes.len() > MAX_LEN {
            return Err(malformed("confirmation too large"));
        }
        let s = CoseSign1::from_tagged_slice(bytes).map_err(malformed)?;
        let ct_ok = matches!(
            &s.protected.header.content_type,
            Some(coset::ContentType::Text(t)) if t == CT_CONFIRMATION
        );
        if !ct_ok {
            return Err(malformed("not a key rotation confirmation"));
        }
        let kid = s.protected.header.key_id.as_slice();
        let key = keys
            .iter()
            .find(|k| k.key_id().as_slice() == kid)
            .ok_or_else(|| RotationError::BadConfirmation(format!("not signed by {peer}")))?;
        s.verify_signature(b"", |sig, d| key.verify(d, sig))
            .map_err(|_| RotationError::BadConfirmation(format!("bad signature by {peer}")))?;
        let payload = s
            .payload
            .as_deref()
            .ok_or_else(|| malformed("no payload"))?;
        let c: Confirmation = ciborium::from_reader(payload).map_err(malformed)?;
        if c.from != peer || *c.announcement != sha256(announcement) {
            return Err(RotationError::BadConfirmation(
                "confirms another rotation".into(),
            ));
        }
        Ok(c)
    }
}

/// Every signing key of `country` reachable from `trusted` through
/// verified announcements, in either direction (each is signed by both of
/// its keys): what an auditor uses to check checkpoints signed before and
/// after rotations. Announcements of other countries, or that do not
/// verify, are ignored.
pub fn key_history(
    country: Country,
    trusted: &VerifyingKey,
    announcements: &[Vec<u8>],
) -> Vec<VerifyingKey> {
    let links: Vec<(VerifyingKey, VerifyingKey)> = announcements
        .iter()
        .filter_map(|b| Announcement::verify_self_consistent(b).ok())
        .filter(|a| a.country == country)
        .filter_map(|a| Some((a.old.signing().ok()?, a.new.signing().ok()?)))
        .collect();
    let mut keys = vec![*trusted];
    loop {
        let before = keys.len();
        for (old, new) in &links {
            if keys.contains(old) && !keys.contains(new) {
                keys.push(*new);
            } else if keys.contains(new) && !keys.contains(old) {
                keys.push(*old);
            }
        }
        if keys.len() == before {
            return keys;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::keys::DecryptionKey;

    fn gr() -> Country {
        "GR".parse().unwrap()
    }
    fn al() -> Country {
        "AL".parse().unwrap()
    }

    fn card(sk: &SigningKey, seed: u8) -> PeerCard {
        PeerCard {
            country: gr(),
            name: "NFP Greece".into(),
            endpoint: "127.0.0.1:4433".into(),
            signing_key: sk.verifying_key(),
            encryption_key: DecryptionKey::from_bytes(&[seed; 32]).unwrap().public(),
            tls_spki_sha256: SpkiPin([seed; 32]),
            previous: Vec::new(),
            log_origin: None,
            rotation: 0,
        }
    }

    fn rotation(old_sk: &SigningKey, new_sk: &SigningKey, serial: u32) -> (Announcement, PeerCard) {
        let old_card = card(old_sk, 1);
        let new_card = card(new_sk, 2);
        let a = Announcement {
            v: VERSION,
            country: gr(),
            serial,
            origin: old_card.log_origin(),
            at: 1_800_000_000,
            old: KeySet::of_card(&old_card),
            new: KeySet::of_card(&new_card),
            compromised_from: None,
        };
        (a, old_card)
    }

    #[test]
    fn an_announcement_signed_by_both_keys_applies_with_an_overlap() {
        let (old, new) = (
            SigningKey::from_seed(&[1; 32]),
            SigningKey::from_seed(&[2; 32]),
        );
        let (a, held) = rotation(&old, &new, 1);
        let bytes = a.sign(&old, &new).unwrap();
        let got = Announcement::verify_from(&bytes, gr(), &held, 0)
            .unwrap()
            .unwrap();
        assert_eq!(got, a);
        let next = got.apply(&held, 1_800_000_100, 3600).unwrap();
        assert_eq!(next.signing_key, new.verifying_key());
        assert_eq!(next.rotation, 1);
        assert_eq!(next.log_origin(), held.log_origin(), "the origin stays");
        // Both keys are accepted within the overlap, only the new after.
        assert_eq!(next.signing_keys_at(1_800_000_200).len(), 2);
        assert_eq!(
            next.signing_keys_at(1_800_003_700),
            vec![new.verifying_key()]
        );
        assert_eq!(next.pins_at(1_800_000_200).len(), 2);
        assert_eq!(next.pins_at(1_800_003_700).len(), 1);
        // The same announcement again: already applied, confirm again.
        assert_eq!(
            Announcement::verify_from(&bytes, gr(), &next, 1).unwrap(),
            None
        );
        // And the confirmation round-trips.
        let al_key = SigningKey::from_seed(&[9; 32]);
        let c = Confirmation::of(al(), &a, &bytes, 1_800_000_100);
        let cb = c.sign(&al_key).unwrap();
        assert_eq!(
            Confirmation::verify(&cb, al(), &[al_key.verifying_key()], &bytes).unwrap(),
            c
        );
        assert!(Confirmation::verify(&cb, al(), &[al_key.verifying_key()], b"other").is_err());
        assert!(Confirmation::verify(&cb, gr(), &[al_key.verifying_key()], &bytes).is_err());
        assert!(Confirmation::verify(&cb, al(), &[new.verifying_key()], &bytes).is_err());
    }

    #[test]
    fn forged_stale_or_foreign_announcements_are_refused() {
        let (old, new) = (
            SigningKey::from_seed(&[1; 32]),
            SigningKey::from_seed(&[2; 32]),
        );
        let thief = SigningKey::from_seed(&[7; 32]);
        let (a, held) = rotation(&old, &new, 1);
        // Signed by a key the partner does not hold for GR.
        let (mut forged, _) = rotation(&thief, &new, 1);
        forged.origin = held.log_origin();
        let bytes = forged.sign(&thief, &new).unwrap();
        assert_eq!(
            Announcement::verify_from(&bytes, gr(), &held, 0),
            Err(RotationError::NotCurrent(gr()))
        );
        // The old key signed twice: no proof the new key is held.
        let bytes = a.sign(&old, &old).unwrap();
        assert_eq!(
            Announcement::verify_from(&bytes, gr(), &held, 0),
            Err(RotationError::NoProofOfPossession(gr()))
        );
        // Over another country's connection.
        let bytes = a.sign(&old, &new).unwrap();
        assert!(matches!(
            Announcement::verify_from(&bytes, al(), &held, 0),
            Err(RotationError::WrongSender { .. })
        ));
        // An older serial than held.
        assert!(matches!(
            Announcement::verify_from(&bytes, gr(), &held, 3),
            Err(RotationError::Stale { .. })
        ));
        // Garbage.
        assert!(Announcement::verify_from(b"\x01\x02", gr(), &held, 0).is_err());
        // A changed origin.
        let mut moved = a.clone();
        moved.origin = "nfp-node/GR/ffffffff".into();
        let bytes = moved.sign(&old, &new).unwrap();
        assert_eq!(
            Announcement::verify_from(&bytes, gr(), &held, 0),
            Err(RotationError::OriginChanged(gr()))
        );
    }

    #[test]
    fn a_compromised_key_is_refused_from_the_compromise() {
        let (old, new) = (
            SigningKey::from_seed(&[1; 32]),
            SigningKey::from_seed(&[2; 32]),
        );
        let (mut a, held) = rotation(&old, &new, 1);
        a.compromised_from = Some(1_799_999_000);
        let next = a.apply(&held, 1_800_000_000, 86_400).unwrap();
        assert_eq!(
            next.signing_keys_at(1_800_000_001),
            vec![new.verifying_key()]
        );
        assert_eq!(next.previous[0].compromised_from, Some(1_799_999_000));
        assert_eq!(next.pins_at(1_800_000_001).len(), 1);
    }

    #[test]
    fn the_key_history_follows_rotations_both_ways() {
        let k: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_seed(&[i; 32])).collect();
        let (a1, _) = rotation(&k[0], &k[1], 1);
        let (a2, _) = rotation(&k[1], &k[2], 2);
        let anns = vec![
            a2.sign(&k[1], &k[2]).unwrap(),
            a1.sign(&k[0], &k[1]).unwrap(),
        ];
        // From the newest key back to the first, and from the first on.
        for start in [&k[2], &k[0]] {
            let h = key_history(gr(), &start.verifying_key(), &anns);
            assert_eq!(h.len(), 3, "{h:?}");
        }
        // A forged link does not extend it.
        let thief = SigningKey::from_seed(&[7; 32]);
        let (f, _) = rotation(&k[2], &thief, 3);
        let mut bad = f.sign(&k[2], &thief).unwrap();
        let n = bad.len();
        bad[n - 1] ^= 1;
        let h = key_history(gr(), &k[2].verifying_key(), &[bad]);
        assert_eq!(h, vec![k[2].verifying_key()]);
    }
}
