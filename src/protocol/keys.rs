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

/// Which curve25519-dalek arithmetic this process runs: `"avx512ifma"`,
/// `"avx2"` or `"serial"`. The library chooses at run time among the
/// backends the build compiled in (`.cargo/config.toml` adds AVX-512 IFMA);
/// this repeats its choice so that benchmark figures say what they measured.
pub fn curve_backend() -> &'static str {
    #[cfg(all(target_arch = "x86_64", curve25519_dalek_backend = "avx512"))]
    if std::arch::is_x86_feature_detected!("avx512ifma")
        && std::arch::is_x86_feature_detected!("avx512vl")
    {
        return "avx512ifma";
    }
    // Without an explicit choice the library builds its AVX2 backend on
    // x86-64, unless the build forced the portable one.
    #[cfg(all(
        target_arch = "x86_64",
        not(any(curve25519_dalek_backend = "serial", curve25519_dalek_backend = "fiat"))
    ))]
    if std::arch::is_x86_feature_detected!("avx2") {
        return "avx2";
    }
    "serial"
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
    ///
    /// Accepts exactly what `verify_strict` accepts, for one field
    /// exponentiation less: `verify_strict` decompresses R only to ask
    /// whether it has small order. Plain verification accepts only when R
    /// equals the canonical encoding of the recomputed point, so an R it
    /// accepts is canonical, and a canonical R has small order exactly when
    /// it is one of the eight encodings in [`SMALL_ORDER`]. The test
    /// `strict_verification_is_unchanged` checks both the list and the
    /// equivalence.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        use ed25519_dalek::Verifier as _;
        let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| KeyError::BadSignature)?;
        if self.0.is_weak() || SMALL_ORDER.contains(sig.r_bytes()) {
            return Err(KeyError::BadSignature);
        }
        self.0.verify(msg, &sig).map_err(|_| KeyError::BadSignature)
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

/// The canonical encodings of the eight points of small order on
/// edwards25519 (the identity, the point of order 2, two of order 4 and
/// four of order 8).
const SMALL_ORDER: [[u8; 32]; 8] = [
    hex32("0100000000000000000000000000000000000000000000000000000000000000"),
    hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    hex32("0000000000000000000000000000000000000000000000000000000000000000"),
    hex32("0000000000000000000000000000000000000000000000000000000000000080"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
];

/// 32 bytes from 64 hex digits, at compile time.
const fn hex32(s: &str) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64, "64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = digit(b[2 * i]) << 4 | digit(b[2 * i + 1]);
        i += 1;
    }
    out
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

    /// `SMALL_ORDER` is the whole 8-torsion subgroup, and `verify` accepts
    /// exactly what ed25519-dalek's `verify_strict` accepts.
    #[test]
    fn strict_verification_is_unchanged() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        use curve25519_dalek::traits::IsIdentity as _;
        // The multiples of a point of order 8 are the eight encodings.
        let t = CompressedEdwardsY(SMALL_ORDER[4]).decompress().unwrap();
        let times = |k: u64| t * curve25519_dalek::Scalar::from(k);
        assert!(!times(4).is_identity() && times(8).is_identity());
        let mut multiples: Vec<[u8; 32]> = (0..8).map(|k| times(k).compress().to_bytes()).collect();
        let mut listed = SMALL_ORDER.to_vec();
        multiples.sort();
        listed.sort();
        assert_eq!(multiples, listed);

        let strict = |vk: &VerifyingKey, msg: &[u8], sig: &[u8; 64]| {
            vk.0.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
                .is_ok()
        };
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        for round in 0..300u64 {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&next().to_le_bytes());
            let sk = SigningKey::from_seed(&seed);
            let vk = sk.verifying_key();
            let msg = next().to_le_bytes();
            let mut sig = sk.sign(&msg);
            match round % 5 {
                0 => {}
                1 => sig[(next() % 32) as usize] ^= 1 << (next() % 8),
                2 => sig[32 + (next() % 32) as usize] ^= 1 << (next() % 8),
                3 => sig[..32].copy_from_slice(&SMALL_ORDER[(next() % 8) as usize]),
                _ => sig[63] |= 0x80,
            }
            let ours = vk.verify(&msg, &sig).is_ok();
            assert_eq!(ours, strict(&vk, &msg, &sig), "round {round}");
            accepted += usize::from(ours);
        }
        assert_eq!(accepted, 60);
        // A signature with a small-order R that plain verification accepts:
        // with the public key A = [a]B + T, T of order 8, and s = k·a, the
        // recomputed point is -[k]T, which is R for about one message in 8.
        use sha2::Sha512;
        let a = curve25519_dalek::Scalar::from(123_456_789u64);
        let public = (curve25519_dalek::constants::ED25519_BASEPOINT_POINT * a + t).compress();
        let vk = VerifyingKey::from_bytes(&public.to_bytes()).unwrap();
        let mut found = 0;
        for m in 0u32..200 {
            let msg = m.to_le_bytes();
            for r in SMALL_ORDER {
                let k = curve25519_dalek::Scalar::from_hash(
                    Sha512::new()
                        .chain_update(r)
                        .chain_update(public.as_bytes())
                        .chain_update(msg),
                );
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&r);
                sig[32..].copy_from_slice((k * a).as_bytes());
                let plain = ed25519_dalek::Verifier::verify(
                    &vk.0,
                    &msg,
                    &ed25519_dalek::Signature::from_bytes(&sig),
                )
                .is_ok();
                if plain {
                    found += 1;
                    assert!(vk.verify(&msg, &sig).is_err());
                    assert!(!strict(&vk, &msg, &sig));
                }
            }
        }
        assert!(found > 10, "{found}");
        // A weak (small-order) public key is refused with any signature.
        for weak in SMALL_ORDER {
            if let Ok(vk) = VerifyingKey::from_bytes(&weak) {
                assert!(vk.verify(b"m", &[0; 64]).is_err());
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&SMALL_ORDER[0]);
                assert!(vk.verify(b"m", &sig).is_err());
                assert!(!strict(&vk, b"m", &sig));
            }
        }
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
