//! Checkpoints of the audit log as C2SP signed notes, and witnesses'
//! cosignatures on them (c2sp.org/signed-note, c2sp.org/tlog-checkpoint,
//! c2sp.org/tlog-cosignature, Ed25519 only).
//!
//! A signed note is a text ending in a newline, a blank line, and one or more
//! signature lines `— <key name> <base64(key id || signature)>`, where the
//! dash is U+2014. The key id is the first four bytes of
//! `SHA-256(key name || "\n" || type || public key)`, with type 0x01 for a
//! plain Ed25519 note signature and 0x04 for a timestamped cosignature. A
//! checkpoint's text is exactly three lines: origin, tree size in decimal,
//! base64 of the root hash. A cosignature signs
//! `"cosignature/v1\ntime <seconds>\n"` followed by that text, and its
//! signature blob is key id, time as 8 big-endian bytes, then the 64-byte
//! signature; it is an ordinary signature line, so a witness's line can be
//! appended to the log's note as it is.
//!
//! Parsing is strict and never panics: notes must be valid UTF-8 (a `&str`),
//! hold no control character other than newline, split at their last blank
//! line, and carry at most [`MAX_SIGNATURES`] well-formed signature lines.
//! Lines by keys the verifier does not know (another name or key id) are
//! ignored; a line that names the verifier's key and id but does not verify
//! rejects the whole note. Checkpoint sizes must be canonical decimal and
//! roots canonical base64 of 32 bytes, so a parsed checkpoint re-serialises
//! to the very bytes that were signed. Extension lines are refused: this
//! node never writes them and a witness makes no statement about them.

use super::merkle::Hash;
use crate::protocol::keys::{SigningKey, VerifyingKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest as _, Sha256};

/// Signature type byte of a plain Ed25519 note signature.
pub const SIG_TYPE_ED25519: u8 = 0x01;
/// Signature type byte of a timestamped Ed25519 cosignature (cosignature/v1).
pub const SIG_TYPE_COSIGNATURE_V1: u8 = 0x04;
/// Most signature lines a note may carry (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;
/// Length of a cosignature/v1 blob: key id, time, Ed25519 signature.
pub const COSIGNATURE_LEN: usize = 4 + 8 + 64;

/// Em dash (U+2014) and a space: the start of every signature line.
const SIG_PREFIX: &str = "\u{2014} ";
/// Largest cosignature time the format allows (2^63 - 1).
const MAX_TIME: u64 = i64::MAX as u64;

/// A note, checkpoint or cosignature that is malformed or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A control character other than newline, at this byte offset.
    #[error("control character at byte {0} (only newline is allowed)")]
    ControlCharacter(usize),
    /// No blank line separates the text from the signatures.
    #[error("no blank line separates the text from the signatures")]
    NoSeparator,
    /// Nothing after the blank line.
    #[error("the note has no signature lines")]
    NoSignatures,
    /// A signature line that does not follow the format, by line number
    /// (from 1) in the note.
    #[error("line {0} is not a well-formed signature line: {1}")]
    BadSignatureLine(usize, &'static str),
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("more than {MAX_SIGNATURES} signature lines")]
    TooManySignatures,
    /// A key name that is empty or holds a space or a plus sign.
    #[error("key name {0:?} is empty or contains a space or a plus sign")]
    BadKeyName(String),
    /// No signature line by this key name and key id.
    #[error("no signature by key {0:?}")]
    NotSignedByKey(String),
    /// A signature line by this key that does not verify.
    #[error("the signature by key {0:?} does not verify")]
    BadSignature(String),
    /// The text is not a checkpoint: line number (from 1) and why.
    #[error("checkpoint line {line}: {reason}")]
    BadCheckpoint {
        /// Line of the note text, from 1.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A cosignature blob that is not key id, time and signature.
    #[error("cosignature is malformed: {0}")]
    BadCosignature(&'static str),
    /// A cosignature time above 2^63 - 1.
    #[error("cosignature time {0} is above 2^63 - 1")]
    TimeOutOfRange(u64),
}

/// The C2SP key id: the first four bytes of
/// `SHA-256(name || "\n" || sig_type || public key)`.
pub fn key_id(name: &str, sig_type: u8, key: &VerifyingKey) -> [u8; 4] {
    let d: Hash = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([sig_type])
        .chain_update(key.to_bytes())
        .finalize()
        .into();
    [d[0], d[1], d[2], d[3]]
}

/// Whether `name` may name a key: non-empty, no Unicode space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn check_controls(s: &str) -> Result<(), NoteError> {
    match s.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(at) => Err(NoteError::ControlCharacter(at)),
        None => Ok(()),
    }
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::BadKeyName(name.to_string()))
    }
}

/// One signature line of a note, decoded but not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id (the first four bytes of the blob).
    pub key_id: [u8; 4],
    /// The rest of the blob: the signature, or for a cosignature the time
    /// and the signature.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// Parses one signature line, with or without its final newline.
    pub fn parse(line: &str) -> Result<NoteSignature, NoteError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        check_controls(line)?;
        parse_sig_line(line, 1)
    }

    /// The line, newline included.
    pub fn to_line(&self) -> String {
        let mut blob = Vec::with_capacity(4 + self.signature.len());
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }
}

fn parse_sig_line(line: &str, number: usize) -> Result<NoteSignature, NoteError> {
    let bad = |why| NoteError::BadSignatureLine(number, why);
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(bad("does not start with an em dash and a space"))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(bad("no space between key name and signature"))?;
    if !is_valid_key_name(name) {
        return Err(bad("key name is empty or holds a space or a plus sign"));
    }
    let blob = B64
        .decode(b64)
        .map_err(|_| bad("signature is not canonical base64"))?;
    if blob.len() < 5 {
        return Err(bad("signature is shorter than a key id and one byte"));
    }
    let (id, sig) = blob.split_at(4);
    Ok(NoteSignature {
        name: name.to_string(),
        key_id: [id[0], id[1], id[2], id[3]],
        signature: sig.to_vec(),
    })
}

/// A signed note split into its text and its signature lines, nothing
/// verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, final newline included.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

/// Splits a signed note into text and signature lines, checking the format.
pub fn parse_note(note: &str) -> Result<Note, NoteError> {
    check_controls(note)?;
    let split = note.rfind("\n\n").ok_or(NoteError::NoSeparator)?;
    let text = &note[..=split];
    let block = &note[split + 2..];
    if block.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let first_line = text.matches('\n').count() + 2;
    let Some(block) = block.strip_suffix('\n') else {
        let last = first_line + block.matches('\n').count();
        return Err(NoteError::BadSignatureLine(
            last,
            "the last signature line does not end in a newline",
        ));
    };
    let mut signatures = Vec::new();
    for (i, line) in block.split('\n').enumerate() {
        if i == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        signatures.push(parse_sig_line(line, first_line + i)?);
    }
    Ok(Note {
        text: text.to_string(),
        signatures,
    })
}

impl Note {
    /// Checks the note's Ed25519 signatures by `name`/`key`: at least one
    /// line must carry that name and key id, and every such line must
    /// verify. Lines by other keys are ignored.
    pub fn verify(&self, name: &str, key: &VerifyingKey) -> Result<(), NoteError> {
        check_name(name)?;
        let id = key_id(name, SIG_TYPE_ED25519, key);
        let mut found = false;
        for sig in self
            .signatures
            .iter()
            .filter(|s| s.name == name && s.key_id == id)
        {
            key.verify(self.text.as_bytes(), &sig.signature)
                .map_err(|_| NoteError::BadSignature(name.to_string()))?;
            found = true;
        }
        if found {
            Ok(())
        } else {
            Err(NoteError::NotSignedByKey(name.to_string()))
        }
    }

    /// [`Note::verify`] with any of `keys` (a log's key now and the keys
    /// rotations replaced); the error is the last key's.
    pub fn verify_any(&self, name: &str, keys: &[VerifyingKey]) -> Result<(), NoteError> {
        let mut result = Err(NoteError::NoSignatures);
        for key in keys {
            result = self.verify(name, key);
            if result.is_ok() {
                break;
            }
        }
        result
    }
}

/// A log's tree head: which log, how many leaves, and the Merkle root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (first line), e.g. `nfp.example/GR/audit`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root of the first `size` leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint text (the note text, final newline included).
    pub fn parse_body(text: &str) -> Result<Checkpoint, NoteError> {
        check_controls(text)?;
        let bad = |line, reason| NoteError::BadCheckpoint { line, reason };
        let Some(body) = text.strip_suffix('\n') else {
            return Err(bad(1, "the text does not end in a newline"));
        };
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad(1, "the origin is empty"));
        }
        let size = lines.next().ok_or(bad(2, "the tree size is missing"))?;
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        if !size_ok {
            return Err(bad(
                2,
                "the tree size is not a decimal without leading zeros",
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| bad(2, "the tree size does not fit in 64 bits"))?;
        let root = lines.next().ok_or(bad(3, "the root hash is missing"))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(bad(3, "the root hash is not canonical base64 of 32 bytes"))?;
        if lines.next().is_some() {
            return Err(bad(4, "extension lines are not accepted"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    fn check_origin(&self) -> Result<(), NoteError> {
        if self.origin.is_empty() {
            return Err(NoteError::BadCheckpoint {
                line: 1,
                reason: "the origin is empty",
            });
        }
        if self.origin.contains('\n') {
            return Err(NoteError::BadCheckpoint {
                line: 1,
                reason: "the origin holds a newline",
            });
        }
        check_controls(&self.origin)
    }
}

/// The signed note of `cp` under the log's key `name`: the body, a blank
/// line and one signature line.
pub fn sign_checkpoint(cp: &Checkpoint, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    check_name(name)?;
    cp.check_origin()?;
    let body = cp.body();
    let line = NoteSignature {
        name: name.to_string(),
        key_id: key_id(name, SIG_TYPE_ED25519, &key.verifying_key()),
        signature: key.sign(body.as_bytes()).to_vec(),
    }
    .to_line();
    Ok(format!("{body}\n{line}"))
}

/// Verifies a checkpoint note signed by the log key `name`/`key` and
/// returns the checkpoint. Signature lines by other keys (witnesses, an
/// older log key) are ignored; at least one by this key must be present,
/// and all of them must verify. The origin is not compared with anything:
/// that is the caller's policy.
pub fn verify_checkpoint(
    note: &str,
    name: &str,
    key: &VerifyingKey,
) -> Result<Checkpoint, NoteError> {
    let parsed = parse_note(note)?;
    parsed.verify(name, key)?;
    Checkpoint::parse_body(&parsed.text)
}

/// [`verify_checkpoint`] with any of `keys`: the note is parsed once.
pub fn verify_checkpoint_any(
    note: &str,
    name: &str,
    keys: &[VerifyingKey],
) -> Result<Checkpoint, NoteError> {
    let parsed = parse_note(note)?;
    parsed.verify_any(name, keys)?;
    Checkpoint::parse_body(&parsed.text)
}

/// [`verify_cosignature`] by a witness with any of `keys`; the error is the
/// last key's.
pub fn verify_cosignature_any(
    cp: &Checkpoint,
    line: &str,
    witness_name: &str,
    keys: &[VerifyingKey],
) -> Result<u64, NoteError> {
    let mut result = Err(NoteError::NoSignatures);
    for key in keys {
        result = verify_cosignature(cp, line, witness_name, key);
        if result.is_ok() {
            break;
        }
    }
    result
}

/// The message a cosignature/v1 signs at `time`.
pub fn cosignature_message(cp: &Checkpoint, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{}", cp.body())
}

/// A cosigner (witness) the verifier knows: key name and Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// Key name, e.g. `nfp.example/AL/witness`.
    pub name: String,
    /// Public key.
    pub key: VerifyingKey,
}

impl Witness {
    /// The cosignature/v1 key id of this witness.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, SIG_TYPE_COSIGNATURE_V1, &self.key)
    }

    /// Whether a signature line carries this witness's name and key id.
    pub fn is_signer_of(&self, sig: &NoteSignature) -> bool {
        sig.name == self.name && sig.key_id == self.key_id()
    }

    /// Verifies a cosignature line of this witness on `cp` and returns its
    /// time. A line by another key is [`NoteError::NotSignedByKey`].
    pub fn verify(&self, cp: &Checkpoint, sig: &NoteSignature) -> Result<u64, NoteError> {
        if !self.is_signer_of(sig) {
            return Err(NoteError::NotSignedByKey(self.name.clone()));
        }
        if sig.signature.len() != COSIGNATURE_LEN - 4 {
            return Err(NoteError::BadCosignature(
                "not 8 bytes of time and a 64-byte signature",
            ));
        }
        let (t, s) = sig.signature.split_at(8);
        let mut tb = [0u8; 8];
        tb.copy_from_slice(t);
        let time = u64::from_be_bytes(tb);
        if time > MAX_TIME {
            return Err(NoteError::TimeOutOfRange(time));
        }
        self.key
            .verify(cosignature_message(cp, time).as_bytes(), s)
            .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
        Ok(time)
    }
}

/// A witness's cosignature/v1 line on `cp` at `time` (Unix seconds), to be
/// appended to the checkpoint's note or kept beside it.
pub fn cosign(
    cp: &Checkpoint,
    witness_name: &str,
    key: &SigningKey,
    time: u64,
) -> Result<String, NoteError> {
    check_name(witness_name)?;
    cp.check_origin()?;
    if time > MAX_TIME {
        return Err(NoteError::TimeOutOfRange(time));
    }
    let sig = key.sign(cosignature_message(cp, time).as_bytes());
    let mut blob = Vec::with_capacity(COSIGNATURE_LEN - 4);
    blob.extend_from_slice(&time.to_be_bytes());
    blob.extend_from_slice(&sig);
    Ok(NoteSignature {
        name: witness_name.to_string(),
        key_id: key_id(witness_name, SIG_TYPE_COSIGNATURE_V1, &key.verifying_key()),
        signature: blob,
    }
    .to_line())
}

/// Verifies one cosignature line (with or without its newline) by the
/// witness `witness_name`/`key` on `cp`, and returns the time it states.
pub fn verify_cosignature(
    cp: &Checkpoint,
    line: &str,
    witness_name: &str,
    key: &VerifyingKey,
) -> Result<u64, NoteError> {
    check_name(witness_name)?;
    let sig = NoteSignature::parse(line)?;
    Witness {
        name: witness_name.to_string(),
        key: *key,
    }
    .verify(cp, &sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "nfp.example/GR/audit".into(),
            size: 12345,
            root: [0xab; 32],
        }
    }

    fn log_key() -> SigningKey {
        SigningKey::from_seed(&[11; 32])
    }

    fn witness_key() -> SigningKey {
        SigningKey::from_seed(&[22; 32])
    }

    /// The key and note of the Go reference implementation's tests
    /// (golang.org/x/mod/sumdb/note): an interoperability vector.
    #[test]
    fn go_reference_vector() {
        let skey = B64
            .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
            .unwrap();
        let vkey = B64
            .decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .unwrap();
        assert_eq!((skey[0], vkey[0]), (SIG_TYPE_ED25519, SIG_TYPE_ED25519));
        let sk = SigningKey::from_seed(&skey[1..].try_into().unwrap());
        let vk = sk.verifying_key();
        assert_eq!(vk.to_bytes().as_slice(), &vkey[1..]);
        assert_eq!(
            key_id("PeterNeumann", SIG_TYPE_ED25519, &vk),
            [0xc7, 0x4f, 0x20, 0xa3]
        );
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let line = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let mine = NoteSignature {
            name: "PeterNeumann".into(),
            key_id: key_id("PeterNeumann", SIG_TYPE_ED25519, &vk),
            signature: sk.sign(text.as_bytes()).to_vec(),
        };
        assert_eq!(mine.to_line(), line);
        let note = parse_note(&format!("{text}\n{line}")).unwrap();
        assert_eq!(note.text, text);
        note.verify("PeterNeumann", &vk).unwrap();
    }

    /// The example cosignature line of the tlog-cosignature spec decodes to
    /// its key id and the time shown in its example signed message.
    #[test]
    fn spec_example_cosignature_layout() {
        let line = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
        let sig = NoteSignature::parse(line).unwrap();
        assert_eq!(sig.name, "witness.example.com/w1");
        assert_eq!(sig.key_id, [0x8d, 0x66, 0xcf, 0x3f]);
        assert_eq!(sig.signature.len(), COSIGNATURE_LEN - 4);
        let t = u64::from_be_bytes(sig.signature[..8].try_into().unwrap());
        assert_eq!(t, 1_679_315_147);
        assert_eq!(sig.to_line(), format!("{line}\n"));
    }

    #[test]
    fn checkpoint_round_trip_and_layout() {
        let note = sign_checkpoint(&cp(), "nfp.example/GR/audit", &log_key()).unwrap();
        let (body, sigs) = note.split_once("\n\n").unwrap();
        assert_eq!(
            format!("{body}\n"),
            format!("nfp.example/GR/audit\n12345\n{}\n", B64.encode([0xab; 32]))
        );
        assert!(sigs.starts_with("\u{2014} nfp.example/GR/audit "));
        assert!(sigs.ends_with('\n') && sigs.matches('\n').count() == 1);
        let vk = log_key().verifying_key();
        assert_eq!(
            verify_checkpoint(&note, "nfp.example/GR/audit", &vk),
            Ok(cp())
        );
        // Blob = key id || 64-byte signature.
        let sig = NoteSignature::parse(sigs).unwrap();
        assert_eq!(sig.key_id, key_id("nfp.example/GR/audit", 1, &vk));
        assert_eq!(sig.signature.len(), 64);
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let note = sign_checkpoint(&cp(), "log", &log_key()).unwrap();
        let vk = log_key().verifying_key();
        let bytes = note.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] ^= 0x01;
            let Ok(s) = String::from_utf8(b) else {
                continue;
            };
            assert!(verify_checkpoint(&s, "log", &vk).is_err(), "byte {i}");
        }
        // Another key under the same name is an unknown key.
        let other = SigningKey::from_seed(&[99; 32]).verifying_key();
        assert_eq!(
            verify_checkpoint(&note, "log", &other),
            Err(NoteError::NotSignedByKey("log".into()))
        );
        assert_eq!(
            verify_checkpoint(&note, "other", &vk),
            Err(NoteError::NotSignedByKey("other".into()))
        );
    }

    #[test]
    fn unknown_signature_lines_are_ignored_known_bad_ones_are_not() {
        let vk = log_key().verifying_key();
        let note = sign_checkpoint(&cp(), "log", &log_key()).unwrap();
        let stranger =
            sign_checkpoint(&cp(), "stranger", &SigningKey::from_seed(&[5; 32])).unwrap();
        let stranger_line = stranger.split_once("\n\n").unwrap().1;
        // Same name, other key id: unknown, ignored.
        let impostor = sign_checkpoint(&cp(), "log", &SigningKey::from_seed(&[6; 32])).unwrap();
        let impostor_line = impostor.split_once("\n\n").unwrap().1;
        let garbage = "\u{2014} someone AAAAAAAA\n";
        let both = format!("{note}{stranger_line}{impostor_line}{garbage}");
        assert_eq!(verify_checkpoint(&both, "log", &vk), Ok(cp()));
        let before = format!(
            "{}\n\n{stranger_line}{}",
            cp().body().trim_end(),
            note.split_once("\n\n").unwrap().1
        );
        assert_eq!(verify_checkpoint(&before, "log", &vk), Ok(cp()));
        // Only unknown signatures: refused.
        assert_eq!(
            verify_checkpoint(&stranger, "log", &vk),
            Err(NoteError::NotSignedByKey("log".into()))
        );
        // A line with the right name and key id whose signature is wrong
        // rejects the whole note even when a good one is present.
        let mut bad = NoteSignature::parse(note.split_once("\n\n").unwrap().1).unwrap();
        bad.signature[0] ^= 1;
        let with_bad = format!("{note}{}", bad.to_line());
        assert_eq!(
            verify_checkpoint(&with_bad, "log", &vk),
            Err(NoteError::BadSignature("log".into()))
        );
    }

    #[test]
    fn malformed_notes_are_refused_precisely() {
        let vk = log_key().verifying_key();
        let good = sign_checkpoint(&cp(), "log", &log_key()).unwrap();
        let sig_line = good.split_once("\n\n").unwrap().1;
        let body = cp().body();
        let cases: Vec<(String, NoteError)> = vec![
            (body.clone(), NoteError::NoSeparator),
            (format!("{body}\n"), NoteError::NoSignatures),
            (
                format!("{body}\n{}", sig_line.trim_end()),
                NoteError::BadSignatureLine(5, "the last signature line does not end in a newline"),
            ),
            (
                format!("{body}\n- log AAAAAAAA\n"),
                NoteError::BadSignatureLine(5, "does not start with an em dash and a space"),
            ),
            (
                format!("{body}\n\u{2014} logAAAAAAAA\n"),
                NoteError::BadSignatureLine(5, "no space between key name and signature"),
            ),
            (
                format!("{body}\n\u{2014} l+g AAAAAAAA\n"),
                NoteError::BadSignatureLine(5, "key name is empty or holds a space or a plus sign"),
            ),
            (
                format!("{body}\n\u{2014} log AAAA AAAA\n"),
                NoteError::BadSignatureLine(5, "signature is not canonical base64"),
            ),
            (
                format!("{body}\n\u{2014} log AAAAAA==\n"),
                NoteError::BadSignatureLine(5, "signature is shorter than a key id and one byte"),
            ),
            (format!("{body}\n{sig_line}\n"), NoteError::NoSignatures),
            (
                format!("{body}\r\n{sig_line}"),
                NoteError::ControlCharacter(body.len()),
            ),
            (
                format!("{body}\n{}", sig_line.repeat(MAX_SIGNATURES + 1)),
                NoteError::TooManySignatures,
            ),
        ];
        for (note, want) in cases {
            assert_eq!(verify_checkpoint(&note, "log", &vk), Err(want), "{note:?}");
        }
        // Exactly the maximum is fine.
        let many = format!("{body}\n{}", sig_line.repeat(MAX_SIGNATURES));
        assert_eq!(verify_checkpoint(&many, "log", &vk), Ok(cp()));
    }

    #[test]
    fn malformed_checkpoint_bodies_are_refused() {
        let root = B64.encode([1u8; 32]);
        let cases: Vec<(String, usize)> = vec![
            (format!("\n5\n{root}\n"), 1),
            ("o\n".to_string(), 2),
            (format!("o\n\n{root}\n"), 2),
            (format!("o\n05\n{root}\n"), 2),
            (format!("o\n+5\n{root}\n"), 2),
            (format!("o\n-5\n{root}\n"), 2),
            (format!("o\n 5\n{root}\n"), 2),
            (format!("o\n18446744073709551616\n{root}\n"), 2),
            ("o\n5\n".to_string(), 3),
            ("o\n5\nAAAA\n".to_string(), 3),
            (format!("o\n5\n{}\n", root.trim_end_matches('=')), 3),
            (format!("o\n5\n{root}\nextension\n"), 4),
        ];
        for (text, line) in cases {
            match Checkpoint::parse_body(&text) {
                Err(NoteError::BadCheckpoint { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(Checkpoint::parse_body(&format!("o\n5\n{root}")).is_err());
        let zero = Checkpoint::parse_body(&format!("o\n0\n{root}\n")).unwrap();
        assert_eq!(zero.size, 0);
        let max = Checkpoint::parse_body(&format!("o\n18446744073709551615\n{root}\n")).unwrap();
        assert_eq!(max.size, u64::MAX);
    }

    #[test]
    fn a_valid_signature_over_a_non_checkpoint_is_still_refused() {
        let sk = log_key();
        let text = "just some text\n";
        let line = NoteSignature {
            name: "log".into(),
            key_id: key_id("log", SIG_TYPE_ED25519, &sk.verifying_key()),
            signature: sk.sign(text.as_bytes()).to_vec(),
        }
        .to_line();
        let note = format!("{text}\n{line}");
        assert!(matches!(
            verify_checkpoint(&note, "log", &sk.verifying_key()),
            Err(NoteError::BadCheckpoint { line: 2, .. })
        ));
    }

    #[test]
    fn signing_refuses_bad_names_and_origins() {
        assert_eq!(
            sign_checkpoint(&cp(), "a b", &log_key()),
            Err(NoteError::BadKeyName("a b".into()))
        );
        assert_eq!(
            sign_checkpoint(&cp(), "", &log_key()),
            Err(NoteError::BadKeyName("".into()))
        );
        let mut c = cp();
        c.origin = "two\nlines".into();
        assert!(sign_checkpoint(&c, "log", &log_key()).is_err());
        c.origin = String::new();
        assert!(sign_checkpoint(&c, "log", &log_key()).is_err());
        c.origin = "tab\there".into();
        assert!(cosign(&c, "w", &witness_key(), 1).is_err());
        assert_eq!(
            cosign(&cp(), "w", &witness_key(), 1 << 63),
            Err(NoteError::TimeOutOfRange(1 << 63))
        );
    }

    #[test]
    fn cosignatures_round_trip_and_bind_everything() {
        let wk = witness_key();
        let wv = wk.verifying_key();
        let line = cosign(&cp(), "nfp.example/AL/witness", &wk, 1_700_000_000).unwrap();
        assert!(line.starts_with("\u{2014} nfp.example/AL/witness "));
        let sig = NoteSignature::parse(&line).unwrap();
        assert_eq!(sig.key_id, key_id("nfp.example/AL/witness", 0x04, &wv));
        assert_eq!(&sig.signature[..8], &1_700_000_000u64.to_be_bytes());
        // The signed message, spelled out.
        let msg = format!(
            "cosignature/v1\ntime 1700000000\nnfp.example/GR/audit\n12345\n{}\n",
            B64.encode([0xab; 32])
        );
        assert_eq!(cosignature_message(&cp(), 1_700_000_000), msg);
        wv.verify(msg.as_bytes(), &sig.signature[8..]).unwrap();
        assert_eq!(
            verify_cosignature(&cp(), &line, "nfp.example/AL/witness", &wv),
            Ok(1_700_000_000)
        );
        // Another checkpoint, another witness, a changed time.
        let mut other = cp();
        other.size += 1;
        assert_eq!(
            verify_cosignature(&other, &line, "nfp.example/AL/witness", &wv),
            Err(NoteError::BadSignature("nfp.example/AL/witness".into()))
        );
        assert_eq!(
            verify_cosignature(&cp(), &line, "nfp.example/AL/other", &wv),
            Err(NoteError::NotSignedByKey("nfp.example/AL/other".into()))
        );
        let mut moved = sig.clone();
        moved.signature[7] ^= 1;
        assert_eq!(
            verify_cosignature(&cp(), &moved.to_line(), "nfp.example/AL/witness", &wv),
            Err(NoteError::BadSignature("nfp.example/AL/witness".into()))
        );
        let mut short = sig.clone();
        short.signature.pop();
        assert!(matches!(
            verify_cosignature(&cp(), &short.to_line(), "nfp.example/AL/witness", &wv),
            Err(NoteError::BadCosignature(_))
        ));
        let mut future = sig;
        future.signature[0] = 0x80;
        assert!(matches!(
            verify_cosignature(&cp(), &future.to_line(), "nfp.example/AL/witness", &wv),
            Err(NoteError::TimeOutOfRange(_))
        ));
        // A plain note signature by the same key and name is not a
        // cosignature (type byte 0x01 gives another key id).
        let plain = sign_checkpoint(&cp(), "nfp.example/AL/witness", &wk).unwrap();
        let plain_line = plain.split_once("\n\n").unwrap().1;
        assert_eq!(
            verify_cosignature(&cp(), plain_line, "nfp.example/AL/witness", &wv),
            Err(NoteError::NotSignedByKey("nfp.example/AL/witness".into()))
        );
    }

    #[test]
    fn a_cosigned_note_still_verifies_for_the_log() {
        let note = sign_checkpoint(&cp(), "log", &log_key()).unwrap();
        let line = cosign(&cp(), "witness", &witness_key(), 5).unwrap();
        let cosigned = format!("{note}{line}");
        assert_eq!(
            verify_checkpoint(&cosigned, "log", &log_key().verifying_key()),
            Ok(cp())
        );
        let parsed = parse_note(&cosigned).unwrap();
        let w = Witness {
            name: "witness".into(),
            key: witness_key().verifying_key(),
        };
        let found: Vec<u64> = parsed
            .signatures
            .iter()
            .filter(|s| w.is_signer_of(s))
            .map(|s| w.verify(&cp(), s).unwrap())
            .collect();
        assert_eq!(found, vec![5]);
    }

    fn mutated_note() -> impl Strategy<Value = String> {
        let note = sign_checkpoint(&cp(), "log", &log_key()).unwrap()
            + &cosign(&cp(), "witness", &witness_key(), 7).unwrap();
        let chars: Vec<char> = note.chars().collect();
        (
            0..chars.len(),
            0..chars.len(),
            prop::sample::select(vec![
                '\n', ' ', '\u{2014}', '+', '=', 'A', '0', '\u{0}', 'é',
            ]),
            0u8..3,
        )
            .prop_map(move |(at, cut, c, op)| {
                let mut v = chars.clone();
                match op {
                    0 => v.insert(at, c),
                    1 => {
                        v.remove(at);
                    }
                    _ => v.truncate(cut),
                }
                v.into_iter().collect()
            })
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in any::<String>(), line in "\\PC{0,80}") {
            let vk = log_key().verifying_key();
            let _ = parse_note(&s);
            let _ = verify_checkpoint(&s, "log", &vk);
            let _ = Checkpoint::parse_body(&s);
            let _ = NoteSignature::parse(&s);
            let _ = verify_cosignature(&cp(), &s, "witness", &vk);
            let with_dash = format!("\u{2014} {line}");
            let _ = NoteSignature::parse(&with_dash);
            let _ = verify_checkpoint(&format!("{}\n{with_dash}\n", cp().body()), "log", &vk);
        }

        #[test]
        fn mutated_notes_never_panic_and_never_verify_changed(s in mutated_note()) {
            let vk = log_key().verifying_key();
            if let Ok(c) = verify_checkpoint(&s, "log", &vk) {
                // Only changes to the signature block's unknown lines can
                // keep a note valid, and the checkpoint is then unchanged.
                prop_assert_eq!(c, cp());
            }
            let wv = witness_key().verifying_key();
            for line in s.split('\n') {
                if let Ok(t) = verify_cosignature(&cp(), line, "witness", &wv) {
                    prop_assert_eq!(t, 7);
                }
            }
        }
    }
}
