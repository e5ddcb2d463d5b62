//! Attachments and translations: what a message carries beside its form.
//!
//! Both travel in the signed and encrypted body of the envelope (its
//! optional third element, [`Extras`]). An attachment's content does not:
//! it is split into chunks of [`CHUNK`] bytes, each sealed with
//! ChaCha20-Poly1305 under a key of its own (the content key, random per
//! attachment, named only inside the envelope), with the upload id, the
//! chunk's position and whether it is the last one as associated data, so
//! a chunk cannot be changed, moved, dropped or cut short unseen. The
//! descriptor in the envelope binds the name, media type, size and SHA-256
//! of the whole file under the sender's signature.
//!
//! A translation gives, for some free-text fields of the form, their text
//! in another agreed language, marked with who translated and when.
//!
//! Pure: keys and nonces are passed in.

use crate::protocol::FieldError;
use crate::protocol::language::Language;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use serde_bytes::ByteArray;
use std::collections::BTreeMap;

/// Plaintext bytes per chunk (the last may be shorter). A sealed chunk is
/// 16 bytes longer and fits one frame with room to spare.
pub const CHUNK: usize = 192 * 1024;
/// Bytes a sealed full chunk takes.
pub const SEALED_CHUNK: usize = CHUNK + 16;
/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 20;
/// Most translations on one message.
pub const MAX_TRANSLATIONS: usize = 10;
/// Most bytes of translated text on one message.
pub const MAX_TRANSLATED_BYTES: usize = 64 * 1024;

/// Why an attachment or translation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// A chunk that does not open under its key and position.
    #[error("attachment {attachment}, chunk {chunk}: does not verify (changed, moved or cut)")]
    BadChunk {
        /// Attachment position.
        attachment: usize,
        /// Chunk position.
        chunk: u32,
    },
    /// The whole file differs from its descriptor.
    #[error("attachment {0}: its size or SHA-256 differs from the signed descriptor")]
    Mismatch(usize),
    /// Sealing failed.
    #[error("cannot seal an attachment chunk")]
    Seal,
}

/// One attachment as the signed envelope describes it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Descriptor {
    /// File name as the sender gave it (no path).
    pub name: String,
    /// Media type, e.g. `application/pdf`.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: ByteArray<32>,
    /// Number of chunks.
    pub chunks: u32,
    /// The upload id, bound into every chunk.
    pub upload: ByteArray<16>,
    /// The content key.
    pub key: ByteArray<32>,
}

impl std::fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key, nor the name (it may name a person).
        f.debug_struct("Descriptor")
            .field("size", &self.size)
            .field("chunks", &self.chunks)
            .field("sha256", &hex::encode(self.sha256.as_slice()))
            .finish()
    }
}

/// A translation of some free-text fields of the form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Translation {
    /// The language translated into.
    pub lang: Language,
    /// The translator or service.
    pub by: String,
    /// When it was translated (`YYYY-MM-DD`).
    pub date: jiff::civil::Date,
    /// Translated text by field path (as in field errors, e.g.
    /// `family.history`).
    pub fields: BTreeMap<String, String>,
}

/// What an envelope carries beside its form.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extras {
    /// Attachments, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Descriptor>,
    /// Translations made by the sender.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub translations: Vec<Translation>,
}

impl Extras {
    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.attachments.is_empty() && self.translations.is_empty()
    }
}

/// How many chunks `size` bytes take (at least one).
pub fn chunks_for(size: u64) -> u32 {
    let n = size.div_ceil(CHUNK as u64).max(1);
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The sealed length of chunk `index` of an attachment of `size` bytes.
pub fn sealed_len(size: u64, index: u32) -> u64 {
    let start = u64::from(index) * CHUNK as u64;
    size.saturating_sub(start).min(CHUNK as u64) + 16
}

fn aad(upload: &[u8; 16], index: u32, last: bool) -> [u8; 32] {
    let mut a = [0u8; 32];
    a[..11].copy_from_slice(b"nfp-chunk-1");
    a[11..27].copy_from_slice(upload);
    a[27..31].copy_from_slice(&index.to_be_bytes());
    a[31] = u8::from(last);
    a
}

fn nonce(index: u32) -> chacha20poly1305::Nonce {
    let mut n = [0u8; 12];
    n[8..].copy_from_slice(&index.to_be_bytes());
    n.into()
}

/// Seals chunk `index` of an attachment.
pub fn seal_chunk(
    key: &[u8; 32],
    upload: &[u8; 16],
    index: u32,
    last: bool,
    plain: &[u8],
) -> Result<Vec<u8>, AttachmentError> {
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(key.into());
    cipher
        .encrypt(
            &nonce(index),
            Payload {
                msg: plain,
                aad: &aad(upload, index, last),
            },
        )
        .map_err(|_| AttachmentError::Seal)
}

/// Opens chunk `index` of attachment `attachment` as `d` describes it.
pub fn open_chunk(
    d: &Descriptor,
    attachment: usize,
    index: u32,
    sealed: &[u8],
) -> Result<Vec<u8>, AttachmentError> {
    let bad = AttachmentError::BadChunk {
        attachment,
        chunk: index,
    };
    if index >= d.chunks || sealed.len() as u64 != sealed_len(d.size, index) {
        return Err(bad);
    }
    let cipher = chacha20poly1305::ChaCha20Poly1305::new((&*d.key).into());
    cipher
        .decrypt(
            &nonce(index),
            Payload {
                msg: sealed,
                aad: &aad(&d.upload, index, index + 1 == d.chunks),
            },
        )
        .map_err(|_| bad)
}

/// What limits attachments: per file and per message, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file.
    pub max_file: u64,
    /// Largest total per message.
    pub max_message: u64,
}

fn field(errors: &mut Vec<FieldError>, path: String, msg: impl Into<String>) {
    errors.push(FieldError::new(path, msg));
}

/// Checks the descriptors against the rules and `limits`.
pub fn check_attachments(d: &[Descriptor], limits: Limits) -> Result<(), Vec<FieldError>> {
    let mut e = Vec::new();
    if d.len() > MAX_ATTACHMENTS {
        field(
            &mut e,
            "attachments".into(),
            format!("more than {MAX_ATTACHMENTS} attachments"),
        );
    }
    let mut total = 0u64;
    for (i, a) in d.iter().enumerate() {
        let at = |f: &str| format!("attachments[{i}].{f}");
        let name_ok = !a.name.is_empty()
            && a.name.len() <= 200
            && a.name != "."
            && a.name != ".."
            && !a
                .name
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control());
        if !name_ok {
            field(
                &mut e,
                at("name"),
                "must be a file name of 1 to 200 characters, without a path",
            );
        }
        if d[..i].iter().any(|o| o.name == a.name) {
            field(&mut e, at("name"), "names another attachment too");
        }
        let mt_ok = a.media_type.len() <= 100
            && a.media_type.split_once('/').is_some_and(|(t, s)| {
                let tok = |x: &str| {
                    !x.is_empty()
                        && x.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
                };
                tok(t) && tok(s)
            });
        if !mt_ok {
            field(
                &mut e,
                at("media_type"),
                "must be a media type such as application/pdf",
            );
        }
        if a.size > limits.max_file {
            field(
                &mut e,
                at("size"),
                format!(
                    "{} bytes is more than the agreed {} per file",
                    a.size,
                    show_size(limits.max_file)
                ),
            );
        }
        if a.chunks != chunks_for(a.size) {
            field(&mut e, at("chunks"), "does not match the size");
        }
        total = total.saturating_add(a.size);
    }
    if total > limits.max_message {
        field(
            &mut e,
            "attachments".into(),
            format!(
                "{total} bytes in all is more than the agreed {} per message",
                show_size(limits.max_message)
            ),
        );
    }
    if e.is_empty() { Ok(()) } else { Err(e) }
}

/// Checks translations: agreed languages other than the original's, a
/// translator named, text only for fields that hold text in `form_json`.
pub fn check_translations(
    t: &[Translation],
    original: Language,
    agreed: &[Language],
    form_json: &serde_json::Value,
) -> Result<(), Vec<FieldError>> {
    let mut e = Vec::new();
    if t.len() > MAX_TRANSLATIONS {
        field(
            &mut e,
            "translations".into(),
            format!("more than {MAX_TRANSLATIONS}"),
        );
    }
    let mut bytes = 0usize;
    for (i, tr) in t.iter().enumerate() {
        let at = |f: &str| format!("translations[{i}].{f}");
        if tr.lang == original {
            field(&mut e, at("lang"), "is the language of the original");
        } else if !agreed.contains(&tr.lang) {
            field(
                &mut e,
                at("lang"),
                format!("{} is not a language of the agreement", tr.lang),
            );
        }
        if t[..i].iter().any(|o| o.lang == tr.lang) {
            field(&mut e, at("lang"), "is translated twice");
        }
        if tr.by.trim().is_empty() || tr.by.len() > 200 {
            field(
                &mut e,
                at("by"),
                "name the translator or service (1 to 200 characters)",
            );
        }
        if tr.fields.is_empty() {
            field(&mut e, at("fields"), "translates no field");
        }
        for (path, text) in &tr.fields {
            bytes = bytes.saturating_add(text.len()).saturating_add(path.len());
            match text_at(form_json, path) {
                Some(_) => {}
                None => field(
                    &mut e,
                    format!("translations[{i}].fields.{path}"),
                    "is not a text field of the form",
                ),
            }
        }
    }
    if bytes > MAX_TRANSLATED_BYTES {
        field(
            &mut e,
            "translations".into(),
            format!("more than {MAX_TRANSLATED_BYTES} bytes of text"),
        );
    }
    if e.is_empty() { Ok(()) } else { Err(e) }
}

/// The text at a dotted path (`a.b`, `list[2].c`) of a form's JSON.
pub fn text_at<'a>(form: &'a serde_json::Value, path: &str) -> Option<&'a str> {
    let mut v = form;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, Some(rest.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (part, None),
        };
        if !name.is_empty() {
            v = v.get(name)?;
        }
        if let Some(i) = index {
            v = v.get(i)?;
        }
    }
    v.as_str()
}

/// A size for people: `50 MiB`, `300 KiB`, `12 bytes`.
pub fn show_size(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Parses a size: a whole number and `bytes`, `KiB`, `MiB` or `GiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a size: write e.g. \"50 MiB\" (bytes, KiB, MiB or GiB)");
    let (n, unit) = s.trim().split_once(' ').ok_or_else(bad)?;
    let n: u64 = n.parse().map_err(|_| bad())?;
    let mult = match unit.trim() {
        "bytes" | "byte" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        "GiB" => 1024 * 1024 * 1024,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// One translated field for display: the original text (if the form has
/// it) and each translation of it with its text.
pub type SideBySide<'a> = (Option<&'a str>, Vec<(&'a Translation, &'a str)>);

/// Translations grouped for display: for each translated field, the
/// original text and each translation of it.
pub fn side_by_side<'a>(
    form: &'a serde_json::Value,
    translations: &'a [Translation],
) -> BTreeMap<&'a str, SideBySide<'a>> {
    let mut out: BTreeMap<&str, SideBySide<'a>> = BTreeMap::new();
    for t in translations {
        for (path, text) in &t.fields {
            let entry = out
                .entry(path.as_str())
                .or_insert_with(|| (text_at(form, path), Vec::new()));
            entry.1.push((t, text.as_str()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn descriptor(size: u64) -> Descriptor {
        Descriptor {
            name: "report.pdf".into(),
            media_type: "application/pdf".into(),
            size,
            sha256: ByteArray::new([0; 32]),
            chunks: chunks_for(size),
            upload: ByteArray::new([7; 16]),
            key: ByteArray::new([9; 32]),
        }
    }

    #[test]
    fn chunks_open_only_in_place() {
        let d = descriptor((CHUNK + 10) as u64);
        assert_eq!(d.chunks, 2);
        let first = vec![1u8; CHUNK];
        let last = vec![2u8; 10];
        let s0 = seal_chunk(&d.key, &d.upload, 0, false, &first).unwrap();
        let s1 = seal_chunk(&d.key, &d.upload, 1, true, &last).unwrap();
        assert_eq!(s0.len(), SEALED_CHUNK);
        assert_eq!(open_chunk(&d, 0, 0, &s0).unwrap(), first);
        assert_eq!(open_chunk(&d, 0, 1, &s1).unwrap(), last);
        // Moved, flipped, or the wrong "last" flag: refused.
        assert!(open_chunk(&d, 0, 1, &s0).is_err());
        let mut t = s1.clone();
        t[3] ^= 1;
        assert!(open_chunk(&d, 0, 1, &t).is_err());
        let early_end = seal_chunk(&d.key, &d.upload, 0, true, &first).unwrap();
        assert!(open_chunk(&d, 0, 0, &early_end).is_err());
        // Another upload's chunk.
        let other = seal_chunk(&d.key, &[8; 16], 1, true, &last).unwrap();
        assert!(open_chunk(&d, 0, 1, &other).is_err());
        assert!(open_chunk(&d, 0, 2, &s1).is_err());
    }

    #[test]
    fn limits_and_names_are_checked() {
        let limits = Limits {
            max_file: 1000,
            max_message: 1500,
        };
        assert!(check_attachments(&[descriptor(900)], limits).is_ok());
        let mut two = vec![descriptor(900), descriptor(900)];
        two[1].name = "b.pdf".into();
        let e = check_attachments(&two, limits).unwrap_err();
        assert_eq!(e[0].field, "attachments");
        let e = check_attachments(&[descriptor(1001)], limits).unwrap_err();
        assert_eq!(e[0].field, "attachments[0].size");
        let mut bad = descriptor(10);
        bad.name = "../../etc/passwd".into();
        bad.media_type = "pdf".into();
        let fields: Vec<String> = check_attachments(&[bad], limits)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["attachments[0].name", "attachments[0].media_type"]);
        assert_eq!(parse_size("50 MiB"), Ok(50 * 1024 * 1024));
        assert_eq!(parse_size("12 bytes"), Ok(12));
        assert!(parse_size("50MB").is_err());
        assert_eq!(show_size(50 * 1024 * 1024), "50 MiB");
    }

    #[test]
    fn translations_name_text_fields_in_agreed_languages() {
        let form =
            serde_json::json!({"family": {"history": "Text"}, "items": [{"note": "x"}], "n": 3});
        let en: Language = "en".parse().unwrap();
        let el: Language = "el".parse().unwrap();
        let sq: Language = "sq".parse().unwrap();
        let t = |lang: Language, path: &str| Translation {
            lang,
            by: "Certified translator".into(),
            date: jiff::civil::date(2026, 11, 30),
            fields: [(path.to_string(), "Κείμενο".to_string())].into(),
        };
        assert!(check_translations(&[t(el, "family.history")], en, &[en, el], &form).is_ok());
        assert!(check_translations(&[t(el, "items[0].note")], en, &[en, el], &form).is_ok());
        let fields = |r: Result<(), Vec<FieldError>>| -> Vec<String> {
            r.unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(
            fields(check_translations(
                &[t(sq, "family.history")],
                en,
                &[en, el],
                &form
            )),
            ["translations[0].lang"]
        );
        assert_eq!(
            fields(check_translations(&[t(el, "n")], en, &[en, el], &form)),
            ["translations[0].fields.n"]
        );
        assert_eq!(
            fields(check_translations(
                &[t(en, "family.history")],
                en,
                &[en, el],
                &form
            )),
            ["translations[0].lang"]
        );
        let ts = vec![t(el, "family.history")];
        let sbs = side_by_side(&form, &ts);
        let (orig, tr) = &sbs["family.history"];
        assert_eq!(*orig, Some("Text"));
        assert_eq!(tr[0].1, "Κείμενο");
    }

    proptest! {
        #[test]
        fn sealed_lengths_add_up(size in 0u64..(5 * CHUNK as u64)) {
            let n = chunks_for(size);
            let total: u64 = (0..n).map(|i| sealed_len(size, i)).sum();
            prop_assert_eq!(total, size + 16 * u64::from(n));
        }

        #[test]
        fn opening_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), idx in 0u32..4) {
            let d = descriptor(100);
            prop_assert!(open_chunk(&d, 0, idx, &bytes).is_err());
        }
    }
}
