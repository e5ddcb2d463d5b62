//! Audit bundles on disk: what `audit export` writes and what
//! `audit verify --bundle` reads. A bundle is self-contained: with the
//! peer cards of the node and its partners, an auditor verifies it offline
//! without any private key and without reading a child's data.
//!
//! ```text
//! BUNDLE/log.json          origin, country, log key, size, root, export time
//! BUNDLE/entries.cbor      every audit entry, a CBOR sequence of bstr
//! BUNDLE/checkpoints.json  signed checkpoints with the peers' cosignatures
//! BUNDLE/witnessed.json    the peers' checkpoints this node cosigned
//! BUNDLE/ciphertexts/      (optional) envelopes as sent or received, by SHA-256
//! ```

use crate::protocol::audit::{self, SignedCheckpoint, Trust, Verified, Witness};
use crate::protocol::card::PeerCard;
use crate::protocol::country::Country;
use crate::protocol::keys::VerifyingKey;
use crate::store::{Store, StoreError};
use std::borrow::Cow;
use std::io::Write as _;
use std::path::Path;

/// Format name written in `log.json`.
pub const FORMAT: &str = "nfp-node audit bundle 1";

/// Errors reading or writing a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// A file is not what a bundle holds.
    #[error("{file}: {reason}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trust given does not fit the bundle.
    #[error("{0}")]
    Trust(String),
    /// The log does not verify.
    #[error("the log does NOT verify: {0}")]
    Verify(audit::Failure),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |e| BundleError::Io(format!("{}: {e}", path.display()))
}

/// What an export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    /// Entries.
    pub entries: u64,
    /// Checkpoints.
    pub checkpoints: usize,
    /// Cosignatures.
    pub cosignatures: usize,
    /// Ciphertexts.
    pub ciphertexts: usize,
}

/// Writes a bundle of `store` into the new directory `out`.
pub fn export(
    store: &Store,
    card: &PeerCard,
    out: &Path,
    ciphertexts: bool,
) -> Result<ExportSummary, BundleError> {
    export_with(store, card, out, ciphertexts, &mut |_| {})
}

/// [`export`], calling `progress` with the number of entries written so
/// far after each one.
pub fn export_with(
    store: &Store,
    card: &PeerCard,
    out: &Path,
    ciphertexts: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<ExportSummary, BundleError> {
    let country = card.country;
    let log_key = &card.signing_key;
    if out.exists() {
        return Err(BundleError::Io(format!("{} already exists", out.display())));
    }
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    // Entries.
    let path = out.join("entries.cbor");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io_err(&path))?);
    let mut entries = 0u64;
    let mut envelope_hashes = Vec::new();
    for bytes in store.audit_entries() {
        let bytes = bytes?;
        if ciphertexts
            && let Ok(e) = ciborium::from_reader::<audit::Entry, _>(bytes.as_slice())
            && let Some(h) = e.envelope
        {
            envelope_hashes.push((e.message, h.into_vec()));
        }
        let mut item = Vec::new();
        ciborium::into_writer(&serde_bytes::Bytes::new(&bytes), &mut item)
            .map_err(|e| BundleError::Io(e.to_string()))?;
        f.write_all(&item).map_err(io_err(&path))?;
        entries += 1;
        progress(entries);
    }
    f.flush().map_err(io_err(&path))?;
    // Checkpoints with cosignatures.
    let cosigs = store.cosignatures()?;
    let cps = store.checkpoints()?;
    let cp_json: Vec<serde_json::Value> = cps
        .iter()
        .map(|(size, note)| {
            let lines: Vec<serde_json::Value> = cosigs
                .iter()
                .filter(|(s, _, _)| s == size)
                .map(|(_, peer, line)| serde_json::json!({"peer": peer, "line": line}))
                .collect();
            serde_json::json!({"size": size, "note": note, "cosignatures": lines})
        })
        .collect();
    write_json(
        &out.join("checkpoints.json"),
        &serde_json::Value::Array(cp_json),
    )?;
    // Peers' logs this node witnessed.
    let witnessed: Vec<serde_json::Value> = store
        .witnessed_all()?
        .into_iter()
        .map(|(peer, w)| {
            serde_json::json!({
                "peer": peer, "size": w.size, "root": hex::encode(&w.root),
                "note": w.note, "cosigned_at": w.cosigned_at, "fork": w.fork,
            })
        })
        .collect();
    write_json(
        &out.join("witnessed.json"),
        &serde_json::Value::Array(witnessed),
    )?;
    // Ciphertexts (still encrypted to their recipient: no plaintext here).
    let mut written = 0usize;
    if ciphertexts {
        let dir = out.join("ciphertexts");
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        for (message, hash) in envelope_hashes {
            if let Some(id) = message
                && let Some(env) = store.envelope(id)?
                && crate::protocol::envelope::sha256(&env).as_slice() == hash.as_slice()
            {
                let p = dir.join(format!("{}.cose", hex::encode(&hash)));
                if !p.exists() {
                    std::fs::write(&p, env).map_err(io_err(&p))?;
                    written += 1;
                }
            }
        }
    }
    // Key rotations (own and partners'): each signed by the old and the
    // new key, so a verifier holding any one key of a node can follow
    // them to the others.
    let rotations: Vec<serde_json::Value> = store
        .rotations()?
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "country": r.country, "serial": r.serial,
                "announcement": hex::encode(&r.announcement),
            })
        })
        .collect();
    write_json(
        &out.join("rotations.json"),
        &serde_json::Value::Array(rotations),
    )?;
    let (size, root) = store.audit_snapshot();
    let history: Vec<String> = card
        .all_signing_keys()
        .iter()
        .map(|k| k.to_string())
        .collect();
    write_json(
        &out.join("log.json"),
        &serde_json::json!({
            "format": FORMAT,
            "origin": card.log_origin(),
            "country": country,
            "log_key": log_key.to_string(),
            "key_history": history,
            "size": size,
            "root": hex::encode(root),
            "exported_at": jiff::Timestamp::now().to_string(),
        }),
    )?;
    Ok(ExportSummary {
        entries,
        checkpoints: cps.len(),
        cosignatures: cosigs.len(),
        ciphertexts: written,
    })
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<(), BundleError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| BundleError::Io(e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(io_err(path))
}

fn read_json(path: &Path) -> Result<serde_json::Value, BundleError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| BundleError::Format {
        file: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// What an offline verification found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The log's origin.
    pub origin: String,
    /// The verified state.
    pub verified: Verified,
    /// Ciphertexts checked against their entries.
    pub ciphertexts: usize,
    /// Peers' logs this node saw fork or roll back.
    pub forks: Vec<String>,
}

/// Every signing key of the node a card describes: those the card lists
/// and those key rotations link to them.
fn keys_of(card: &PeerCard, announcements: &[Vec<u8>]) -> Vec<VerifyingKey> {
    let mut keys = Vec::new();
    for k in card.all_signing_keys() {
        for h in crate::protocol::rotation::key_history(card.country, &k, announcements) {
            if !keys.contains(&h) {
                keys.push(h);
            }
        }
    }
    keys
}

fn trust_for(
    country: Country,
    cards: &[PeerCard],
    announcements: &[Vec<u8>],
) -> Result<Trust, BundleError> {
    let own = cards.iter().find(|c| c.country == country).ok_or_else(|| {
        BundleError::Trust(format!(
            "no trusted card for {country}, whose log this is: pass its card with --trust"
        ))
    })?;
    let name = own.log_origin();
    Ok(Trust {
        origin: name.clone(),
        log_name: name,
        log_keys: keys_of(own, announcements),
        witnesses: cards
            .iter()
            .filter(|c| c.country != country)
            .flat_map(|c| {
                let name = c.log_origin();
                keys_of(c, announcements)
                    .into_iter()
                    .map(move |key| Witness {
                        name: name.clone(),
                        key,
                    })
            })
            .collect(),
        max_lag: None,
    })
}

/// Verifies a live store: entries, checkpoints and cosignatures, trusting
/// the node's own card and its peers' cards.
pub fn verify_store(
    store: &Store,
    own: &PeerCard,
    peers: &[PeerCard],
) -> Result<Verified, BundleError> {
    verify_store_with(store, own, peers, &mut |_| {})
}

/// [`verify_store`], calling `progress` with the number of entries read so
/// far while it reads the log (the checks that follow are not counted).
pub fn verify_store_with(
    store: &Store,
    own: &PeerCard,
    peers: &[PeerCard],
    progress: &mut dyn FnMut(u64),
) -> Result<Verified, BundleError> {
    let mut cards = vec![own.clone()];
    cards.extend(peers.iter().cloned());
    let announcements: Vec<Vec<u8>> = store
        .rotations()?
        .into_iter()
        .map(|r| r.announcement.into_vec())
        .collect();
    let trust = trust_for(own.country, &cards, &announcements)?;
    let mut entries: Vec<Vec<u8>> = Vec::new();
    for e in store.audit_entries() {
        entries.push(e?);
        progress(entries.len() as u64);
    }
    let cosigs = store.cosignatures()?;
    let checkpoints: Vec<SignedCheckpoint> = store
        .checkpoints()?
        .into_iter()
        .map(|(size, note)| SignedCheckpoint {
            note,
            cosignatures: cosigs
                .iter()
                .filter(|(s, _, _)| *s == size)
                .map(|(_, _, l)| l.clone())
                .collect(),
        })
        .collect();
    audit::verify_bundle(&entries, &checkpoints, &trust).map_err(BundleError::Verify)
}

/// Splits `entries.cbor`, a CBOR sequence of byte strings, into entries,
/// calling `progress` with the count after each. A definite-length byte
/// string (what [`export`] writes) becomes a slice of `bytes`, without a
/// copy; any other item is decoded by ciborium as before, which also words
/// the error when there is one.
fn split_entries<'a>(
    bytes: &'a [u8],
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<Cow<'a, [u8]>>, BundleError> {
    let mut rest = bytes;
    let mut entries: Vec<Cow<'a, [u8]>> = Vec::new();
    while !rest.is_empty() {
        let entry = match definite_bytes(rest) {
            Some((entry, after)) => {
                rest = after;
                Cow::Borrowed(entry)
            }
            None => {
                let b: serde_bytes::ByteBuf =
                    ciborium::from_reader(&mut rest).map_err(|e| BundleError::Format {
                        file: "entries.cbor".into(),
                        reason: format!("entry {}: {e}", entries.len()),
                    })?;
                Cow::Owned(b.into_vec())
            }
        };
        entries.push(entry);
        progress(entries.len() as u64);
    }
    Ok(entries)
}

/// A definite-length CBOR byte string at the start of `b`: its content and
/// what follows it. `None` for any other item, or one cut short.
fn definite_bytes(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = b.split_first()?;
    if first >> 5 != 2 {
        return None;
    }
    let (len, rest) = match first & 0x1f {
        n @ 0..24 => (u64::from(n), rest),
        24 => rest.split_first().map(|(n, r)| (u64::from(*n), r))?,
        25 => rest
            .split_first_chunk()
            .map(|(n, r)| (u64::from(u16::from_be_bytes(*n)), r))?,
        26 => rest
            .split_first_chunk()
            .map(|(n, r)| (u64::from(u32::from_be_bytes(*n)), r))?,
        27 => rest
            .split_first_chunk()
            .map(|(n, r)| (u64::from_be_bytes(*n), r))?,
        _ => return None,
    };
    rest.split_at_checked(usize::try_from(len).ok()?)
}

/// Verifies the bundle in `dir` using only the public keys in `cards`: the
/// card of the node whose log it is, and its peers' cards (witnesses).
pub fn verify(dir: &Path, cards: &[PeerCard]) -> Result<Report, BundleError> {
    verify_with(dir, cards, &mut |_| {})
}

/// [`verify`], calling `progress` with the number of entries decoded so far
/// while it reads `entries.cbor` (the checks that follow are not counted).
pub fn verify_with(
    dir: &Path,
    cards: &[PeerCard],
    progress: &mut dyn FnMut(u64),
) -> Result<Report, BundleError> {
    let log = read_json(&dir.join("log.json"))?;
    if log["format"] != FORMAT {
        return Err(BundleError::Format {
            file: "log.json".into(),
            reason: format!("format is not {FORMAT:?}"),
        });
    }
    let country: Country = log["country"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| BundleError::Format {
            file: "log.json".into(),
            reason: "no country".into(),
        })?;
    // Key rotations, if the export has them (older exports do not).
    let announcements: Vec<Vec<u8>> = match read_json(&dir.join("rotations.json")) {
        Ok(v) => v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["announcement"].as_str())
            .filter_map(|h| hex::decode(h).ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    let trust = trust_for(country, cards, &announcements)?;
    let name = trust.origin.clone();
    // Entries: the file read in one go, each entry a slice of it.
    let path = dir.join("entries.cbor");
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    let entries = split_entries(&bytes, progress)?;
    // Checkpoints.
    let cps = read_json(&dir.join("checkpoints.json"))?;
    let mut checkpoints = Vec::new();
    for c in cps.as_array().into_iter().flatten() {
        checkpoints.push(SignedCheckpoint {
            note: c["note"].as_str().unwrap_or_default().to_string(),
            cosignatures: c["cosignatures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["line"].as_str().map(String::from))
                .collect(),
        });
    }
    let verified =
        audit::verify_bundle(&entries, &checkpoints, &trust).map_err(BundleError::Verify)?;
    // Ciphertexts, when present, must be the envelopes the entries name.
    let mut checked = 0usize;
    let cdir = dir.join("ciphertexts");
    if cdir.exists() {
        let named: std::collections::HashSet<String> = entries
            .iter()
            .filter_map(|b| audit::entry_envelope(b))
            .map(hex::encode)
            .collect();
        for f in std::fs::read_dir(&cdir).map_err(io_err(&cdir))?.flatten() {
            let bytes = std::fs::read(f.path()).map_err(io_err(&f.path()))?;
            let h = hex::encode(crate::protocol::envelope::sha256(&bytes));
            let file_name = f.file_name().to_string_lossy().into_owned();
            if file_name != format!("{h}.cose") || !named.contains(&h) {
                return Err(BundleError::Format {
                    file: format!("ciphertexts/{file_name}"),
                    reason: "does not match any entry's envelope hash".into(),
                });
            }
            checked += 1;
        }
    }
    let forks = read_json(&dir.join("witnessed.json"))
        .ok()
        .and_then(|w| w.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|w| !w["fork"].is_null())
        .map(|w| {
            format!(
                "{}: {}",
                w["peer"].as_str().unwrap_or("?"),
                w["fork"].as_str().unwrap_or("")
            )
        })
        .collect();
    Ok(Report {
        origin: name,
        verified,
        ciphertexts: checked,
        forks,
    })
}
