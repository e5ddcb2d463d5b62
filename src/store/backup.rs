//! Online, consistent backups of the store, and restoring them.
//!
//! A backup is taken with every store writer paused (the store's write
//! gate), so it is one consistent point in time. File format, version 1:
//! the line `nfp-node backup 1\n`, then a CBOR sequence of items
//! `[tree: tstr, key: bstr, value: bstr]`, then `["end", count: uint,
//! sha256: bstr]` where the hash covers every byte before that last item.
//! Forms inside are still sealed with the node's storage key and envelopes
//! are still encrypted; keep `HOME/keys/` backed up separately and safely.
//!
//! The store's schema version travels as the first item, under the
//! pseudo-tree `store-schema`, from schema 3 on. A binary of schema 2 or
//! older refuses a backup holding it (an unknown tree), so it cannot
//! restore a layout it would misread; a backup of a schema 1 or 2 store
//! (such as the one a migration takes first) leaves it out, so the older
//! binary can still restore that one. A backup without it is restored as
//! schema 1 and migrated on the way in: every migration step is harmless
//! on a layout it has already been applied to.

use super::{Store, StoreError, io};
use crate::protocol::audit;
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::path::Path;

const MAGIC: &[u8] = b"nfp-node backup 1\n";
/// Pseudo-tree of the store's schema version (key `schema`, 8 bytes big
/// endian), in backups of schema 3 and later.
const SCHEMA: &str = "store-schema";
/// The first schema whose backups carry their version.
const SCHEMA_IN_BACKUPS: u64 = 3;
/// Pseudo-tree of attachment file pieces in a backup.
const FILES: &str = "attachment-files";
/// Bytes per attachment file piece in a backup.
const FILE_PIECE: usize = 1024 * 1024;
const TREES: &[&str] = &[
    "messages",
    "envelopes",
    "forms",
    "receipts",
    "outbox",
    "audit",
    "checkpoints",
    "cosignatures",
    "witnessed",
    "cases",
    "deadlines",
    "rotations",
    "attachments",
    "staged",
];

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    /// Key/value items.
    pub items: u64,
    /// Audit entries (all verified).
    pub audit_entries: u64,
}

fn item(tree: &str, k: &[u8], v: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    ciborium::into_writer(
        &(tree, serde_bytes::Bytes::new(k), serde_bytes::Bytes::new(v)),
        &mut out,
    )
    .map_err(io)?;
    Ok(out)
}

impl Store {
    /// Writes a consistent backup to `out` (created with mode 0600; it must
    /// not exist). Returns what it holds.
    pub fn backup(&self, out: &Path) -> Result<BackupSummary, StoreError> {
        self.backup_with(out, &mut |_| {})
    }

    /// [`Store::backup`], calling `progress` with the number of items
    /// written so far after each one (writers stay paused meanwhile, so
    /// keep it cheap).
    pub fn backup_with(
        &self,
        out: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BackupSummary, StoreError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(out)
            .map_err(|e| StoreError::Io(format!("{}: {e}", out.display())))?;
        let mut w = std::io::BufWriter::new(file);
        let mut hash = Sha256::new();
        let mut items = 0u64;
        let mut audit_entries = 0u64;
        {
            let _paused = self.pause_writers();
            w.write_all(MAGIC).map_err(io)?;
            hash.update(MAGIC);
            let schema = self.schema()?;
            if schema >= SCHEMA_IN_BACKUPS {
                let bytes = item(SCHEMA, b"schema", &schema.to_be_bytes())?;
                w.write_all(&bytes).map_err(io)?;
                hash.update(&bytes);
                items += 1;
            }
            for name in TREES {
                let tree = self.db.open_tree(name).map_err(io)?;
                for r in tree.iter() {
                    let (k, v) = r.map_err(io)?;
                    let bytes = item(name, &k, &v)?;
                    w.write_all(&bytes).map_err(io)?;
                    hash.update(&bytes);
                    items += 1;
                    progress(items);
                    if *name == "audit" {
                        audit_entries += 1;
                    }
                }
            }
            // Attachment files, a piece at a time: (file name + offset,
            // bytes) under the pseudo-tree FILES.
            let dir = self.attachments_dir();
            let mut names: Vec<String> = match std::fs::read_dir(&dir) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect(),
                Err(_) => Vec::new(),
            };
            names.sort();
            for name in names {
                let mut f = std::fs::File::open(dir.join(&name)).map_err(io)?;
                let mut offset = 0u64;
                let mut buf = vec![0u8; FILE_PIECE];
                loop {
                    use std::io::Read as _;
                    let n = f.read(&mut buf).map_err(io)?;
                    if n == 0 && offset > 0 {
                        break;
                    }
                    let mut key = name.as_bytes().to_vec();
                    key.push(0);
                    key.extend_from_slice(&offset.to_be_bytes());
                    let bytes = item(FILES, &key, &buf[..n])?;
                    w.write_all(&bytes).map_err(io)?;
                    hash.update(&bytes);
                    items += 1;
                    progress(items);
                    if n == 0 {
                        break;
                    }
                    offset += n as u64;
                }
            }
        }
        let digest = hash.finalize();
        let mut end = Vec::new();
        ciborium::into_writer(&("end", items, serde_bytes::Bytes::new(&digest)), &mut end)
            .map_err(io)?;
        w.write_all(&end).map_err(io)?;
        let file = w.into_inner().map_err(|e| StoreError::Io(e.to_string()))?;
        file.sync_all().map_err(io)?;
        Ok(BackupSummary {
            items,
            audit_entries,
        })
    }
}

/// Checks a backup file and restores it into `store_dir`, which must not
/// exist, and its attachment files into `<store_dir>.attachments`. The
/// audit trail in the backup must verify.
pub fn restore(
    backup: &Path,
    store_dir: &Path,
    form_key: &[u8; 32],
) -> Result<BackupSummary, StoreError> {
    let bytes =
        std::fs::read(backup).map_err(|e| StoreError::Io(format!("{}: {e}", backup.display())))?;
    let bad = |reason: String| StoreError::Corrupt {
        what: "backup",
        key: backup.display().to_string(),
        reason,
    };
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("not an nfp-node backup (version 1)".into()))?;
    let mut rest = body;
    let mut hash = Sha256::new();
    hash.update(MAGIC);
    let mut entries: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
    loop {
        let before = rest;
        let value: ciborium::value::Value =
            ciborium::from_reader(&mut rest).map_err(|e| bad(format!("unreadable item: {e}")))?;
        let consumed = &before[..before.len() - rest.len()];
        let arr = value
            .as_array()
            .ok_or_else(|| bad("item is not an array".into()))?;
        match arr.as_slice() {
            [t, n, d] if t.as_text() == Some("end") => {
                let count = n
                    .as_integer()
                    .and_then(|i| u64::try_from(i).ok())
                    .ok_or_else(|| bad("bad item count".into()))?;
                let digest = d.as_bytes().ok_or_else(|| bad("bad digest".into()))?;
                if count != entries.len() as u64 {
                    return Err(bad(format!(
                        "holds {} items but says {count}: truncated or altered",
                        entries.len()
                    )));
                }
                if digest.as_slice() != hash.clone().finalize().as_slice() {
                    return Err(bad("checksum does not match: the file was altered".into()));
                }
                if !rest.is_empty() {
                    return Err(bad("bytes after the end of the backup".into()));
                }
                break;
            }
            [t, k, v] if t.as_text().is_some() => {
                let tree = t.as_text().unwrap_or_default().to_string();
                if !TREES.contains(&tree.as_str()) && tree != FILES && tree != SCHEMA {
                    return Err(bad(format!("unknown tree {tree:?}")));
                }
                let (Some(k), Some(v)) = (k.as_bytes(), v.as_bytes()) else {
                    return Err(bad("item key or value is not bytes".into()));
                };
                hash.update(consumed);
                entries.push((tree, k.clone(), v.clone()));
            }
            _ => return Err(bad("unexpected item".into())),
        }
    }
    let audit_bytes: Vec<&[u8]> = entries
        .iter()
        .filter(|(t, _, _)| t == "audit")
        .map(|(_, _, v)| v.as_slice())
        .collect();
    let chain = audit::verify(audit_bytes.iter().copied())?;
    let schema = match entries.iter().find(|(t, _, _)| t == SCHEMA) {
        None => 1,
        Some((_, _, v)) => {
            let v: [u8; 8] = v
                .as_slice()
                .try_into()
                .map_err(|_| bad("the schema version is not 8 bytes".into()))?;
            u64::from_be_bytes(v)
        }
    };
    if schema > super::SCHEMA_VERSION {
        return Err(bad(format!(
            "the backup holds a store of schema {schema}, written by a newer nfp-node; this binary reads schema {} and older: upgrade the binary",
            super::SCHEMA_VERSION
        )));
    }
    if store_dir.exists() {
        return Err(StoreError::Io(format!(
            "{} already exists; move it away before restoring",
            store_dir.display()
        )));
    }
    {
        let db = sled::Config::new()
            .path(store_dir)
            .open()
            .map_err(|e| StoreError::Io(e.to_string()))?;
        for (tree, k, v) in entries.iter().filter(|(t, _, _)| t != FILES && t != SCHEMA) {
            db.open_tree(tree)
                .and_then(|t| t.insert(k.as_slice(), v.as_slice()))
                .map_err(io)?;
        }
        db.open_tree("meta")
            .and_then(|t| t.insert(b"schema", &schema.to_be_bytes()))
            .map_err(io)?;
        db.flush().map_err(io)?;
    }
    restore_files(store_dir, &entries)?;
    // Reopen through the normal path: recovery checks, the migration of an
    // older layout, and a real fsync.
    let store = Store::open_restored(store_dir, form_key, backup)?;
    store.flush_sled()?;
    if store.audit_head() != chain {
        return Err(bad("restored audit trail differs from the backup".into()));
    }
    Ok(BackupSummary {
        items: entries.len() as u64,
        audit_entries: chain.size,
    })
}

/// Writes the attachment files of a backup beside the restored store, in
/// `<store_dir>.attachments` (the caller moves it into place).
fn restore_files(
    store_dir: &Path,
    entries: &[(String, Vec<u8>, Vec<u8>)],
) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let files: Vec<&(String, Vec<u8>, Vec<u8>)> =
        entries.iter().filter(|(t, _, _)| t == FILES).collect();
    if files.is_empty() {
        return Ok(());
    }
    let dir = store_dir.with_extension("attachments");
    if dir.exists() && std::fs::read_dir(&dir).map_err(io)?.next().is_some() {
        return Err(StoreError::Io(format!(
            "{} is not empty; move it away before restoring",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(io)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    for (_, k, v) in files {
        let split = k.iter().position(|b| *b == 0).ok_or_else(|| {
            StoreError::Io("an attachment piece in the backup has no name".into())
        })?;
        let name = std::str::from_utf8(&k[..split])
            .ok()
            .filter(|n| {
                !n.is_empty() && !n.contains('/') && !n.contains('\\') && *n != "." && *n != ".."
            })
            .ok_or_else(|| StoreError::Io("an attachment piece has a bad name".into()))?;
        let offset: [u8; 8] = k[split + 1..]
            .try_into()
            .map_err(|_| StoreError::Io("an attachment piece has a bad offset".into()))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(name))
            .map_err(io)?;
        use std::io::{Seek as _, SeekFrom};
        f.seek(SeekFrom::Start(u64::from_be_bytes(offset)))
            .map_err(io)?;
        f.write_all(v).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backup file holding `items`, with a correct end item.
    fn backup_of(items: &[Vec<u8>]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for i in items {
            out.extend_from_slice(i);
        }
        let digest = Sha256::digest(&out);
        ciborium::into_writer(
            &("end", items.len() as u64, serde_bytes::Bytes::new(&digest)),
            &mut out,
        )
        .unwrap();
        out
    }

    #[test]
    fn a_backup_carries_the_schema_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("store"), &[7; 32]).unwrap();
        let file = dir.path().join("b");
        s.backup(&file).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        let first = item(
            SCHEMA,
            b"schema",
            &super::super::SCHEMA_VERSION.to_be_bytes(),
        )
        .unwrap();
        assert!(bytes[MAGIC.len()..].starts_with(&first));
        // Restored as it is: no migration.
        restore(&file, &dir.path().join("same"), &[7; 32]).unwrap();
        let back = Store::open(&dir.path().join("same"), &[7; 32]).unwrap();
        assert!(back.migrated().is_none());
        assert_eq!(back.schema().unwrap(), super::super::SCHEMA_VERSION);

        let newer = dir.path().join("newer");
        let version = super::super::SCHEMA_VERSION + 1;
        std::fs::write(
            &newer,
            backup_of(&[item(SCHEMA, b"schema", &version.to_be_bytes()).unwrap()]),
        )
        .unwrap();
        match restore(&newer, &dir.path().join("n"), &[7; 32]) {
            Err(StoreError::Corrupt { reason, .. }) => {
                assert!(reason.contains("newer nfp-node"), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(!dir.path().join("n").exists());
        let odd = dir.path().join("odd");
        std::fs::write(&odd, backup_of(&[item(SCHEMA, b"schema", &[3]).unwrap()])).unwrap();
        assert!(restore(&odd, &dir.path().join("o"), &[7; 32]).is_err());
    }
}
