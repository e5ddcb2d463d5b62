//! Key material: Ed25519 signing keys, X25519 encryption keys for HPKE, the
//! SHA-256 pins of TLS certificates, and the text forms used in peer cards.
//!
//! Private keys zeroize themselves on drop. Public keys and pins have a
//! single text form each: `ed25519:<base64>`, `x25519:<base64>` and
//! `sha256:<hex>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// A key that could not be read or used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The text form has the wrong prefix, encoding or length.
    #[error("{what} must be written as {expected}")]
    Text {
        /// Which kind of key was expected.
        what: &'static str,
        /// The expected text form.
        expected: &'static str,
    },
    /// The bytes do not form a valid key.
    #[error("{0} is not a valid key")]
    Invalid(&'static str),
    /// A signature did not verify.
    #[error("signature does not verify")]
    BadSignature,
}

/// An Ed25519 signing key. Zeroized on drop.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key from its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, in a buffer that zeroizes itself.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }

    /// Signs `msg` (pure Ed25519, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.verifying_key())
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(b: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(b)
            .map(VerifyingKey)
            .map_err(|_| KeyError::Invalid("Ed25519 public key"))
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies `sig` over `msg`, refusing weak keys and malleable signatures.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| KeyError::BadSignature)?;
        self.0
            .verify_strict(msg, &sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// A short key id: the first 8 bytes of SHA-256 of the public key.
    pub fn key_id(&self) -> [u8; 8] {
        first8(&Sha256::digest(self.to_bytes()))
    }

    /// Parses `ed25519:<base64>`.
    pub fn parse(s: &str) -> Result<VerifyingKey, KeyError> {
        let err = KeyError::Text {
            what: "an Ed25519 public key",
            expected: "ed25519:<base64 of 32 bytes>",
        };
        let b = decode_prefixed(s, "ed25519:").ok_or(err.clone())?;
        let arr: [u8; 32] = b.try_into().map_err(|_| err)?;
        VerifyingKey::from_bytes(&arr)
    }
}

impl std::fmt::Display for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ed25519:{}", B64.encode(self.to_bytes()))
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// An X25519 private key for opening HPKE envelopes (RFC 9180
/// DHKEM(X25519, HKDF-SHA256), see [`crate::protocol::hpke`]). Zeroized on
/// drop. Keeps its public key, which every open compares key ids against
/// and HPKE's key derivation needs.
pub struct DecryptionKey {
    secret: Zeroizing<[u8; 32]>,
    public: EncryptionKey,
}

impl DecryptionKey {
    /// The key from 32 random bytes (RFC 9180 DeriveKeyPair is not applied:
    /// the bytes are the X25519 scalar itself, clamped when used).
    pub fn from_bytes(b: &[u8; 32]) -> Result<DecryptionKey, KeyError> {
        Ok(DecryptionKey {
            secret: Zeroizing::new(*b),
            public: EncryptionKey::new(crate::protocol::hpke::public_key(b)),
        })
    }

    /// The 32 private bytes, in a buffer that zeroizes itself.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.secret.clone()
    }

    /// The matching public key.
    pub fn public(&self) -> EncryptionKey {
        self.public.clone()
    }

    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    pub(crate) fn public_bytes(&self) -> &[u8; 32] {
        &self.public.0
    }
}

/// An X25519 public key that envelopes are sealed to. Clones share the
/// sealing precomputation ([`crate::protocol::hpke::Recipient`]), built
/// the first time an envelope is sealed to the key.
#[derive(Clone)]
pub struct EncryptionKey(
    [u8; 32],
    std::sync::Arc<std::sync::OnceLock<crate::protocol::hpke::Recipient>>,
);

impl PartialEq for EncryptionKey {
    fn eq(&self, other: &EncryptionKey) -> bool {
        self.0 == other.0
    }
}

impl Eq for EncryptionKey {}

impl EncryptionKey {
    fn new(bytes: [u8; 32]) -> EncryptionKey {
        EncryptionKey(bytes, Default::default())
    }

    /// The key from its 32 bytes (any 32 bytes are an X25519 public key;
    /// one of small order fails when used).
    pub fn from_bytes(b: &[u8]) -> Result<EncryptionKey, KeyError> {
        <[u8; 32]>::try_from(b)
            .map(EncryptionKey::new)
            .map_err(|_| KeyError::Invalid("X25519 public key"))
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The key ready to seal to.
    pub(crate) fn recipient(&self) -> &crate::protocol::hpke::Recipient {
        self.1
            .get_or_init(|| crate::protocol::hpke::Recipient::new(self.0))
    }

    /// A short key id: the first 8 bytes of SHA-256 of the public key.
    pub fn key_id(&self) -> [u8; 8] {
        first8(&Sha256::digest(self.to_bytes()))
    }

    /// Parses `x25519:<base64>`.
    pub fn parse(s: &str) -> Result<EncryptionKey, KeyError> {
        let err = KeyError::Text {
            what: "an X25519 public key",
            expected: "x25519:<base64 of 32 bytes>",
        };
        let b = decode_prefixed(s, "x25519:").ok_or(err.clone())?;
        if b.len() != 32 {
            return Err(err);
        }
        EncryptionKey::from_bytes(&b)
    }
}

impl std::fmt::Display for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "x25519:{}", B64.encode(self.to_bytes()))
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The SHA-256 of a certificate's DER SubjectPublicKeyInfo: how a peer's
/// TLS identity is pinned. Compared in constant time.
#[derive(Clone, Copy)]
pub struct SpkiPin(pub [u8; 32]);

impl SpkiPin {
    /// The pin of a DER-encoded SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> SpkiPin {
        let mut out = [0u8; 32];
        out.copy_from_slice(&Sha256::digest(spki_der));
        SpkiPin(out)
    }

    /// Parses `sha256:<64 hex digits>`.
    pub fn parse(s: &str) -> Result<SpkiPin, KeyError> {
        let err = KeyError::Text {
            what: "a TLS SPKI pin",
            expected: "sha256:<64 hex digits>",
        };
        let h = s.strip_prefix("sha256:").ok_or(err.clone())?;
        let b = hex::decode(h).map_err(|_| err.clone())?;
        let arr: [u8; 32] = b.try_into().map_err(|_| err)?;
        Ok(SpkiPin(arr))
    }
}

impl PartialEq for SpkiPin {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SpkiPin {}

impl std::fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl std::fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

macro_rules! text_serde {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
text_serde!(VerifyingKey);
text_serde!(EncryptionKey);
text_serde!(SpkiPin);

fn decode_prefixed(s: &str, prefix: &str) -> Option<Vec<u8>> {
    B64.decode(s.strip_prefix(prefix)?.trim()).ok()
}

fn first8(d: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

impl Clone for KeyError {
    fn clone(&self) -> Self {
        match self {
            KeyError::Text { what, expected } => KeyError::Text { what, expected },
            KeyError::Invalid(w) => KeyError::Invalid(w),
            KeyError::BadSignature => KeyError::BadSignature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        let sk = SigningKey::from_seed(&[7; 32]);
        let vk = sk.verifying_key();
        assert_eq!(VerifyingKey::parse(&vk.to_string()).unwrap(), vk);
        let dk = DecryptionKey::from_bytes(&[9; 32]).unwrap();
        let ek = dk.public();
        assert_eq!(EncryptionKey::parse(&ek.to_string()).unwrap(), ek);
        let pin = SpkiPin::of_spki(b"spki");
        assert_eq!(SpkiPin::parse(&pin.to_string()).unwrap(), pin);
    }

    #[test]
    fn bad_text_is_refused() {
        assert!(VerifyingKey::parse("ed25519:AAAA").is_err());
        assert!(VerifyingKey::parse("x25519:AAAA").is_err());
        assert!(EncryptionKey::parse("x25519:!!").is_err());
        assert!(SpkiPin::parse("sha256:zz").is_err());
        assert!(SpkiPin::parse("sha1:00").is_err());
    }

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let sk = SigningKey::from_seed(&[1; 32]);
        let sig = sk.sign(b"hello");
        sk.verifying_key().verify(b"hello", &sig).unwrap();
        assert_eq!(
            sk.verifying_key().verify(b"hellO", &sig),
            Err(KeyError::BadSignature)
        );
        let other = SigningKey::from_seed(&[2; 32]).verifying_key();
        assert_eq!(other.verify(b"hello", &sig), Err(KeyError::BadSignature));
        assert_eq!(
            sk.verifying_key().verify(b"hello", &sig[..10]),
            Err(KeyError::BadSignature)
        );
    }
}
