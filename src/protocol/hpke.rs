//! HPKE (RFC 9180) as envelopes use it: base mode, single shot, with the
//! suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305
//! (KEM 0x0020, KDF 0x0001, AEAD 0x0003).
//!
//! Only this suite and mode, so the code is short enough to read against
//! the RFC: sections 4.1 (DH-based KEM, with the all-zero check of 7.1.4),
//! 5.1 (key schedule) and 6.1 (single-shot APIs), and DeriveKeyPair
//! (7.1.3) for the ephemeral key, drawn from 32 bytes the caller supplies
//! so that sealing stays deterministic and testable.
//!
//! X25519 (RFC 7748) is computed, when the peer's u-coordinate lies on
//! the curve, as a scalar multiplication on the twisted Edwards form,
//! which curve25519-dalek vectorises (about 30 % faster here than the
//! Montgomery ladder), and with the ladder otherwise. Both give the same
//! u-coordinate: the scalar is the same clamped integer (not reduced), and
//! a point and its negation share their u-coordinate. Sealing multiplies
//! the ephemeral scalar by the recipient's key, which is the same for
//! every envelope to that peer, so a [`Recipient`] keeps a fixed-base
//! table of that point (30 KiB, built on first use) and the multiplication
//! costs about a third of a variable-base one; the table method takes the
//! unreduced clamped integer too, so a key with a small-order component
//! gives the same result. Unit tests compare all three paths, and the
//! whole suite against the `hpke` crate.

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use curve25519_dalek::edwards::EdwardsBasepointTable;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::traits::BasepointTable as _;
use sha2::Sha256;
use zeroize::Zeroizing;

/// KEM suite id: "KEM" || I2OSP(0x0020, 2).
const KEM_SUITE: &[u8] = b"KEM\x00\x20";
/// HPKE suite id: "HPKE" || KEM || KDF || AEAD.
const HPKE_SUITE: &[u8] = b"HPKE\x00\x20\x00\x01\x00\x03";
const VERSION_LABEL: &[u8] = b"HPKE-v1";
/// Mode base.
const MODE_BASE: u8 = 0x00;

/// Why HPKE failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HpkeError {
    /// The Diffie-Hellman result was all zeros (a small-order key).
    #[error("the X25519 shared secret is all zeros")]
    ZeroSharedSecret,
    /// The ciphertext did not authenticate.
    #[error("the ciphertext does not authenticate")]
    Open,
    /// The plaintext is too long to seal.
    #[error("the plaintext is too long")]
    Seal,
    /// HKDF refused a length (cannot happen with this suite's sizes).
    #[error("HKDF output length refused")]
    Kdf,
}

fn labeled_extract(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut e = hkdf::HkdfExtract::<Sha256>::new(Some(salt));
    e.input_ikm(VERSION_LABEL);
    e.input_ikm(suite);
    e.input_ikm(label);
    e.input_ikm(ikm);
    let (prk, _) = e.finalize();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&prk);
    out
}

fn labeled_expand<const L: usize>(
    prk: &[u8; 32],
    suite: &[u8],
    label: &[u8],
    info: &[u8],
) -> Result<Zeroizing<[u8; L]>, HpkeError> {
    let mut out = Zeroizing::new([0u8; L]);
    let len = u16::try_from(L).map_err(|_| HpkeError::Kdf)?.to_be_bytes();
    hkdf::Hkdf::<Sha256>::from_prk(prk)
        .map_err(|_| HpkeError::Kdf)?
        .expand_multi_info(&[&len, VERSION_LABEL, suite, label, info], &mut out[..])
        .map_err(|_| HpkeError::Kdf)?;
    Ok(out)
}

/// RFC 7748 X25519 of a secret scalar and a peer's u-coordinate.
fn x25519(secret: &[u8; 32], peer: &[u8; 32]) -> [u8; 32] {
    let u = MontgomeryPoint(*peer);
    match u.to_edwards(0) {
        Some(p) => p.mul_clamped(*secret).to_montgomery().to_bytes(),
        None => u.mul_clamped(*secret).to_bytes(),
    }
}

/// A recipient's public key, ready to seal to.
pub struct Recipient {
    public: [u8; 32],
    /// A fixed-base table of the key's Edwards point (either sign), or
    /// `None` for a u-coordinate on the twist, which takes the ladder.
    table: Option<Box<EdwardsBasepointTable>>,
}

impl Recipient {
    /// Precomputes the table for `public` (about as costly as three
    /// variable-base multiplications).
    pub fn new(public: [u8; 32]) -> Recipient {
        let table = MontgomeryPoint(public)
            .to_edwards(0)
            .map(|p| Box::new(EdwardsBasepointTable::create(&p)));
        Recipient { public, table }
    }

    /// The public key.
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The ephemeral public key of `secret` and X25519 of `secret` with
    /// this key, both in constant time in `secret`. With the table, the
    /// two conversions to the Montgomery form share one field inversion.
    fn encap(&self, secret: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        match &self.table {
            Some(t) => {
                let both = curve25519_dalek::EdwardsPoint::to_montgomery_batch(&[
                    curve25519_dalek::EdwardsPoint::mul_base_clamped(*secret),
                    t.mul_base_clamped(*secret),
                ]);
                match both.as_slice() {
                    [enc, dh] => (enc.to_bytes(), dh.to_bytes()),
                    _ => (public_key(secret), self.x25519(secret)),
                }
            }
            None => (public_key(secret), self.x25519(secret)),
        }
    }

    /// X25519 of `secret` and this key, in constant time in `secret`.
    fn x25519(&self, secret: &[u8; 32]) -> [u8; 32] {
        match &self.table {
            Some(t) => t.mul_base_clamped(*secret).to_montgomery().to_bytes(),
            None => MontgomeryPoint(self.public).mul_clamped(*secret).to_bytes(),
        }
    }
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

/// The public key (u-coordinate) of a secret scalar.
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint::mul_base_clamped(*secret).to_bytes()
}

/// DeriveKeyPair (RFC 9180 §7.1.3) for X25519: the secret from `ikm`.
fn derive_secret(ikm: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
    let prk = labeled_extract(KEM_SUITE, b"", b"dkp_prk", ikm);
    labeled_expand::<32>(&prk, KEM_SUITE, b"sk", b"")
}

/// ExtractAndExpand of the DH result with the KEM context `enc || pkR`.
fn shared_secret(
    dh: &[u8; 32],
    enc: &[u8; 32],
    recipient: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
    if dh.iter().all(|&b| b == 0) {
        return Err(HpkeError::ZeroSharedSecret);
    }
    let prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh);
    let mut context = [0u8; 64];
    context[..32].copy_from_slice(enc);
    context[32..].copy_from_slice(recipient);
    labeled_expand::<32>(&prk, KEM_SUITE, b"shared_secret", &context)
}

/// The key schedule in base mode (no PSK): the AEAD key and the nonce of
/// the first (and only) message.
fn key_schedule(
    shared: &[u8; 32],
    info: &[u8],
) -> Result<(Zeroizing<[u8; 32]>, [u8; 12]), HpkeError> {
    let psk_id_hash = labeled_extract(HPKE_SUITE, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(HPKE_SUITE, b"", b"info_hash", info);
    let mut context = [0u8; 65];
    context[0] = MODE_BASE;
    context[1..33].copy_from_slice(&psk_id_hash[..]);
    context[33..].copy_from_slice(&info_hash[..]);
    let secret = labeled_extract(HPKE_SUITE, &shared[..], b"secret", b"");
    let key = labeled_expand::<32>(&secret, HPKE_SUITE, b"key", &context)?;
    let nonce = labeled_expand::<12>(&secret, HPKE_SUITE, b"base_nonce", &context)?;
    Ok((key, *nonce))
}

fn cipher(key: &[u8; 32]) -> chacha20poly1305::ChaCha20Poly1305 {
    chacha20poly1305::ChaCha20Poly1305::new(key.into())
}

/// SealBase (single shot) to `recipient` with the ephemeral key derived
/// from `ikm`. Returns the encapsulated key and the ciphertext.
pub fn seal(
    recipient: &Recipient,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    ikm: &[u8; 32],
) -> Result<([u8; 32], Vec<u8>), HpkeError> {
    let ephemeral = derive_secret(ikm)?;
    let (enc, dh) = recipient.encap(&ephemeral);
    let dh = Zeroizing::new(dh);
    let shared = shared_secret(&dh, &enc, recipient.public())?;
    let (key, nonce) = key_schedule(&shared, info)?;
    let ct = cipher(&key)
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| HpkeError::Seal)?;
    Ok((enc, ct))
}

/// OpenBase (single shot) with the recipient's secret and public key.
pub fn open(
    secret: &[u8; 32],
    public: &[u8; 32],
    enc: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, HpkeError> {
    let dh = Zeroizing::new(x25519(secret, enc));
    let shared = shared_secret(&dh, enc, public)?;
    let (key, nonce) = key_schedule(&shared, info)?;
    cipher(&key)
        .decrypt(
            (&nonce).into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| HpkeError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&hex::decode(s).unwrap());
        out
    }

    /// Deterministic test bytes: SHA-256 of a label and a counter.
    fn bytes(label: &str, i: u32) -> [u8; 32] {
        Sha256::new()
            .chain_update(label)
            .chain_update(i.to_be_bytes())
            .finalize()
            .into()
    }

    #[test]
    fn rfc9180_kem_vector() {
        // RFC 9180 appendix A.1, DHKEM(X25519, HKDF-SHA256): the KEM part
        // is the same for every AEAD.
        let ikm_e = hex32("7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234");
        let sk_e = hex32("52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736");
        let pk_e = hex32("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431");
        let ikm_r = hex32("6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037");
        let sk_r = hex32("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8");
        let pk_r = hex32("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d");
        let shared = hex32("fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc");
        assert_eq!(*derive_secret(&ikm_e).unwrap(), sk_e);
        assert_eq!(*derive_secret(&ikm_r).unwrap(), sk_r);
        assert_eq!(public_key(&sk_e), pk_e);
        assert_eq!(public_key(&sk_r), pk_r);
        let sender = shared_secret(&x25519(&sk_e, &pk_r), &pk_e, &pk_r).unwrap();
        let receiver = shared_secret(&x25519(&sk_r, &pk_e), &pk_e, &pk_r).unwrap();
        assert_eq!(*sender, shared);
        assert_eq!(*receiver, shared);
    }

    #[test]
    fn the_edwards_and_table_paths_equal_the_ladder() {
        let mut specials: Vec<[u8; 32]> = vec![[0; 32], [0xff; 32]];
        let mut one = [0u8; 32];
        one[0] = 1;
        specials.push(one);
        // p - 1 (u = -1 has no Edwards point), and p itself (not reduced).
        let mut p_minus_1 = [0xffu8; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        specials.push(p_minus_1);
        let mut p = p_minus_1;
        p[0] = 0xed;
        specials.push(p);
        for i in 0..400u32 {
            let secret = bytes("secret", i);
            // Random bytes: about half are on the twist; the top bit is
            // set on some, which X25519 ignores.
            let peer = if (i as usize) < specials.len() {
                specials[i as usize]
            } else {
                bytes("peer", i)
            };
            let ladder = MontgomeryPoint(peer).mul_clamped(secret).to_bytes();
            assert_eq!(x25519(&secret, &peer), ladder, "case {i}");
            let recipient = Recipient::new(peer);
            assert_eq!(recipient.x25519(&secret), ladder, "table case {i}");
            assert_eq!(
                recipient.encap(&secret),
                (public_key(&secret), ladder),
                "encap case {i}"
            );
            // Points with a small-order component: the clamped scalar is
            // a multiple of 8, so both paths drop it.
            let mixed = (MontgomeryPoint(public_key(&secret)).to_edwards(0).unwrap()
                + curve25519_dalek::constants::EIGHT_TORSION[(i % 8) as usize])
                .to_montgomery()
                .to_bytes();
            let ladder = MontgomeryPoint(mixed).mul_clamped(secret).to_bytes();
            assert_eq!(x25519(&secret, &mixed), ladder, "mixed case {i}");
            assert_eq!(
                Recipient::new(mixed).x25519(&secret),
                ladder,
                "mixed table case {i}"
            );
        }
    }

    type Kem = ::hpke::kem::X25519HkdfSha256;
    type Aead = ::hpke::aead::ChaCha20Poly1305;
    type Kdf = ::hpke::kdf::HkdfSha256;

    /// An RNG that hands out `ikm` once: how the `hpke` crate derives its
    /// ephemeral key from the same input as [`seal`].
    struct Once([u8; 32]);
    impl rand_core::TryRng for Once {
        type Error = std::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(0)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            dst.copy_from_slice(&self.0[..dst.len()]);
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for Once {}

    #[test]
    fn agrees_with_the_hpke_crate_both_ways() {
        use ::hpke::{Deserializable as _, Kem as _, Serializable as _};
        for i in 0..20u32 {
            let sk = bytes("recipient", i);
            let pk = public_key(&sk);
            let their_sk = <Kem as ::hpke::Kem>::PrivateKey::from_bytes(&sk).unwrap();
            let their_pk = Kem::sk_to_pk(&their_sk);
            assert_eq!(their_pk.to_bytes().as_slice(), pk.as_slice());
            let ikm = bytes("ikm", i);
            let msg = vec![i as u8; 100 + i as usize * 37];
            let (enc, ct) = seal(&Recipient::new(pk), b"info", b"aad", &msg, &ikm).unwrap();
            let (their_enc, their_ct) = ::hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
                &::hpke::OpModeS::Base,
                &their_pk,
                b"info",
                &msg,
                b"aad",
                &mut Once(ikm),
            )
            .unwrap();
            assert_eq!(their_enc.to_bytes().as_slice(), enc.as_slice());
            assert_eq!(their_ct, ct);
            let their_enc = <Kem as ::hpke::Kem>::EncappedKey::from_bytes(&enc).unwrap();
            let opened = ::hpke::single_shot_open::<Aead, Kdf, Kem>(
                &::hpke::OpModeR::Base,
                &their_sk,
                &their_enc,
                b"info",
                &ct,
                b"aad",
            )
            .unwrap();
            assert_eq!(opened, msg);
            assert_eq!(open(&sk, &pk, &enc, b"info", b"aad", &ct).unwrap(), msg);
        }
    }

    #[test]
    fn wrong_inputs_and_small_order_keys_fail() {
        let sk = bytes("recipient", 0);
        let pk = public_key(&sk);
        let (enc, ct) = seal(
            &Recipient::new(pk),
            b"info",
            b"aad",
            b"message",
            &bytes("ikm", 0),
        )
        .unwrap();
        assert_eq!(
            open(&sk, &pk, &enc, b"other", b"aad", &ct),
            Err(HpkeError::Open)
        );
        assert_eq!(
            open(&sk, &pk, &enc, b"info", b"other", &ct),
            Err(HpkeError::Open)
        );
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(
            open(&sk, &pk, &enc, b"info", b"aad", &bad),
            Err(HpkeError::Open)
        );
        let other = bytes("other", 0);
        assert_eq!(
            open(&other, &public_key(&other), &enc, b"info", b"aad", &ct),
            Err(HpkeError::Open)
        );
        // Small-order encapsulated keys give an all-zero secret.
        for small in [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }] {
            assert_eq!(
                open(&sk, &pk, &small, b"info", b"aad", &ct),
                Err(HpkeError::ZeroSharedSecret)
            );
            assert_eq!(
                seal(
                    &Recipient::new(small),
                    b"info",
                    b"aad",
                    b"m",
                    &bytes("ikm", 1)
                )
                .map(|_| ()),
                Err(HpkeError::ZeroSharedSecret)
            );
        }
    }
}
