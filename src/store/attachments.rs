//! Attachments on disk: one file per attachment under `HOME/attachments/`,
//! holding the sealed chunks back to back exactly as they travel (so the
//! content stays encrypted at rest under its own content key), and the
//! descriptors (with those keys) sealed with the storage key in the
//! `attachments` tree. Uploads waiting to be sent and transfers still
//! arriving are `.part` files; a finished, verified attachment is a
//! `.att` file, fsynced before the message that names it is committed.
//!
//! Memory stays bounded: chunks are read, written and checked one at a
//! time.

use super::{Store, StoreError, io};
use crate::protocol::attachment::{self, Descriptor, SEALED_CHUNK};
use crate::protocol::country::Country;
use crate::protocol::id::MessageId;
use sha2::Digest as _;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

fn upload_key(upload: &[u8; 16]) -> Vec<u8> {
    let mut k = b"upload:".to_vec();
    k.extend_from_slice(upload);
    k
}

fn message_key(id: MessageId) -> Vec<u8> {
    let mut k = b"message:".to_vec();
    k.extend_from_slice(&id.to_bytes());
    k
}

fn open_rw(path: &std::path::Path) -> Result<std::fs::File, StoreError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))
}

impl Store {
    /// The directory of attachment files, beside the store.
    pub fn attachments_dir(&self) -> PathBuf {
        self.path.with_file_name("attachments")
    }

    fn ensure_attachments_dir(&self) -> Result<PathBuf, StoreError> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = self.attachments_dir();
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(io)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        Ok(dir)
    }

    /// Where an upload's sealed chunks are written.
    pub fn upload_path(&self, upload: &[u8; 16]) -> Result<PathBuf, StoreError> {
        Ok(self
            .ensure_attachments_dir()?
            .join(format!("upload-{}.part", hex::encode(upload))))
    }

    fn file(&self, id: MessageId, index: usize, done: bool) -> PathBuf {
        self.attachments_dir().join(format!(
            "{id}-{index}.{}",
            if done { "att" } else { "part" }
        ))
    }

    /// Writes one sealed chunk at its place in the upload file.
    pub fn write_upload_chunk(
        &self,
        upload: &[u8; 16],
        index: u32,
        sealed: &[u8],
    ) -> Result<(), StoreError> {
        let _w = self.writing();
        let path = self.upload_path(upload)?;
        let mut f = open_rw(&path)?;
        f.seek(SeekFrom::Start(u64::from(index) * SEALED_CHUNK as u64))
            .map_err(io)?;
        f.write_all(sealed).map_err(io)
    }

    /// Records a finished upload (its descriptor sealed at rest) after
    /// syncing its file.
    pub fn put_upload(&self, d: &Descriptor, nonce: [u8; 24]) -> Result<(), StoreError> {
        let path = self.upload_path(&d.upload)?;
        open_rw(&path)?.sync_all().map_err(io)?;
        let _w = self.writing();
        let mut bytes = Vec::new();
        ciborium::into_writer(d, &mut bytes).map_err(io)?;
        let key = upload_key(&d.upload);
        self.attachments
            .insert(&key, self.seal(&key, &bytes, nonce)?)
            .map_err(io)?;
        Ok(())
    }

    /// A finished upload not yet sent.
    pub fn upload(&self, upload: &[u8; 16]) -> Result<Option<Descriptor>, StoreError> {
        let key = upload_key(upload);
        let Some(sealed) = self.attachments.get(&key).map_err(io)? else {
            return Ok(None);
        };
        let plain = self.unseal("upload", hex::encode(upload), &key, &sealed)?;
        ciborium::from_reader(plain.as_slice())
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: "upload",
                key: hex::encode(upload),
                reason: e.to_string(),
            })
    }

    /// Stores the descriptors of message `id`, sealed at rest.
    pub fn put_attachments(
        &self,
        id: MessageId,
        descriptors: &[Descriptor],
        nonce: [u8; 24],
    ) -> Result<(), StoreError> {
        let _w = self.writing();
        let mut bytes = Vec::new();
        ciborium::into_writer(&descriptors, &mut bytes).map_err(io)?;
        let key = message_key(id);
        self.attachments
            .insert(&key, self.seal(&key, &bytes, nonce)?)
            .map_err(io)?;
        Ok(())
    }

    /// The attachments of message `id` (none if it has none, or they were
    /// erased).
    pub fn attachments(&self, id: MessageId) -> Result<Vec<Descriptor>, StoreError> {
        let key = message_key(id);
        let Some(sealed) = self.attachments.get(&key).map_err(io)? else {
            return Ok(Vec::new());
        };
        let plain = self.unseal("attachments", id.to_string(), &key, &sealed)?;
        ciborium::from_reader(plain.as_slice()).map_err(|e| StoreError::Corrupt {
            what: "attachments",
            key: id.to_string(),
            reason: e.to_string(),
        })
    }

    /// Moves finished uploads to message `id` (sender side).
    pub fn claim_uploads(&self, id: MessageId, d: &[Descriptor]) -> Result<(), StoreError> {
        let _w = self.writing();
        for (i, a) in d.iter().enumerate() {
            let from = self.upload_path(&a.upload)?;
            std::fs::rename(&from, self.file(id, i, true)).map_err(io)?;
        }
        self.sync_attachments_dir()?;
        for a in d {
            self.attachments.remove(upload_key(&a.upload)).map_err(io)?;
        }
        Ok(())
    }

    fn sync_attachments_dir(&self) -> Result<(), StoreError> {
        std::fs::File::open(self.attachments_dir())
            .and_then(|d| d.sync_all())
            .map_err(io)
    }

    /// Stages an incoming envelope whose attachments are still arriving.
    pub fn stage(&self, id: MessageId, peer: Country, envelope: &[u8]) -> Result<(), StoreError> {
        let _w = self.writing();
        let mut v = peer.as_str().as_bytes().to_vec();
        v.extend_from_slice(envelope);
        self.staged.insert(id.to_bytes(), v).map_err(io)?;
        Ok(())
    }

    /// A staged envelope and the peer it came from.
    pub fn staged(&self, id: MessageId) -> Result<Option<(Country, Vec<u8>)>, StoreError> {
        let Some(v) = self.staged.get(id.to_bytes()).map_err(io)? else {
            return Ok(None);
        };
        let peer = std::str::from_utf8(v.get(..2).unwrap_or_default())
            .ok()
            .and_then(|s| Country::parse(s).ok())
            .ok_or_else(|| StoreError::Corrupt {
                what: "staged envelope",
                key: id.to_string(),
                reason: "no peer".into(),
            })?;
        Ok(Some((peer, v[2..].to_vec())))
    }

    /// Drops a staged envelope.
    pub fn unstage(&self, id: MessageId) -> Result<(), StoreError> {
        let _w = self.writing();
        self.staged.remove(id.to_bytes()).map_err(io)?;
        Ok(())
    }

    /// How many chunks of attachment `index` of message `id` are here.
    pub fn chunks_here(&self, id: MessageId, index: usize, d: &Descriptor) -> u32 {
        if self.file(id, index, true).exists() {
            return d.chunks;
        }
        match std::fs::metadata(self.file(id, index, false)) {
            // Only whole chunks count; a chunk cut short by a crash is
            // written again.
            Ok(m) => {
                let full = m.len() / SEALED_CHUNK as u64;
                let n = u32::try_from(full).unwrap_or(u32::MAX).min(d.chunks);
                // The last chunk is shorter: count it when the size says
                // the file is complete.
                let all: u64 = (0..d.chunks)
                    .map(|c| attachment::sealed_len(d.size, c))
                    .sum();
                if m.len() == all { d.chunks } else { n }
            }
            Err(_) => 0,
        }
    }

    /// Writes chunk `chunk` of attachment `index` of message `id` at its
    /// place (receiver side); the caller has checked it opens.
    pub fn write_chunk(
        &self,
        id: MessageId,
        index: usize,
        chunk: u32,
        sealed: &[u8],
    ) -> Result<(), StoreError> {
        let _w = self.writing();
        self.ensure_attachments_dir()?;
        let path = self.file(id, index, false);
        let mut f = open_rw(&path)?;
        let at = u64::from(chunk) * SEALED_CHUNK as u64;
        f.set_len(at).map_err(io)?;
        f.seek(SeekFrom::Start(at)).map_err(io)?;
        f.write_all(sealed).map_err(io)
    }

    /// Reads sealed chunk `chunk` of attachment `index` of message `id`.
    pub fn read_chunk(
        &self,
        id: MessageId,
        index: usize,
        d: &Descriptor,
        chunk: u32,
    ) -> Result<Vec<u8>, StoreError> {
        let path = self.file(id, index, true);
        let mut f = std::fs::File::open(&path)
            .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        f.seek(SeekFrom::Start(u64::from(chunk) * SEALED_CHUNK as u64))
            .map_err(io)?;
        let len = usize::try_from(attachment::sealed_len(d.size, chunk)).unwrap_or(SEALED_CHUNK);
        let mut buf = vec![0u8; len];
        f.read_exact(&mut buf).map_err(io)?;
        Ok(buf)
    }

    /// Checks a fully arrived attachment against its descriptor, one chunk
    /// at a time (size and SHA-256), then syncs it and marks it done.
    /// `Ok(false)` when it does not match: the partial file is removed.
    pub fn finish_attachment(
        &self,
        id: MessageId,
        index: usize,
        d: &Descriptor,
    ) -> Result<bool, StoreError> {
        let _w = self.writing();
        let done = self.file(id, index, true);
        if done.exists() {
            return Ok(true);
        }
        let part = self.file(id, index, false);
        let mut f = std::fs::File::open(&part).map_err(io)?;
        let mut hash = sha2::Sha256::new();
        let mut size = 0u64;
        for c in 0..d.chunks {
            let len = usize::try_from(attachment::sealed_len(d.size, c)).unwrap_or(SEALED_CHUNK);
            let mut buf = vec![0u8; len];
            if f.read_exact(&mut buf).is_err() {
                return Ok(false);
            }
            match attachment::open_chunk(d, index, c, &buf) {
                Ok(plain) => {
                    size += plain.len() as u64;
                    hash.update(&plain);
                }
                Err(_) => {
                    let _ = std::fs::remove_file(&part);
                    return Ok(false);
                }
            }
        }
        if size != d.size || hash.finalize().as_slice() != d.sha256.as_slice() {
            let _ = std::fs::remove_file(&part);
            return Ok(false);
        }
        f.sync_all().map_err(io)?;
        std::fs::rename(&part, &done).map_err(io)?;
        self.sync_attachments_dir()?;
        Ok(true)
    }

    /// The translations the sender signed into message `id`.
    pub fn signed_translations(
        &self,
        id: MessageId,
    ) -> Result<Vec<attachment::Translation>, StoreError> {
        self.sealed_list(b"translations:", id)
    }

    /// Keeps the translations the sender signed into message `id`.
    pub fn put_signed_translations(
        &self,
        id: MessageId,
        all: &[attachment::Translation],
        nonce: [u8; 24],
    ) -> Result<(), StoreError> {
        self.put_sealed_list(b"translations:", id, all, nonce)
    }

    fn sealed_list(
        &self,
        prefix: &[u8],
        id: MessageId,
    ) -> Result<Vec<attachment::Translation>, StoreError> {
        let mut key = prefix.to_vec();
        key.extend_from_slice(&id.to_bytes());
        let Some(sealed) = self.attachments.get(&key).map_err(io)? else {
            return Ok(Vec::new());
        };
        let plain = self.unseal("translations", id.to_string(), &key, &sealed)?;
        ciborium::from_reader(plain.as_slice()).map_err(|e| StoreError::Corrupt {
            what: "translations",
            key: id.to_string(),
            reason: e.to_string(),
        })
    }

    fn put_sealed_list(
        &self,
        prefix: &[u8],
        id: MessageId,
        all: &[attachment::Translation],
        nonce: [u8; 24],
    ) -> Result<(), StoreError> {
        let _w = self.writing();
        let mut bytes = Vec::new();
        ciborium::into_writer(&all, &mut bytes).map_err(io)?;
        let mut key = prefix.to_vec();
        key.extend_from_slice(&id.to_bytes());
        self.attachments
            .insert(&key, self.seal(&key, &bytes, nonce)?)
            .map_err(io)?;
        Ok(())
    }

    /// Translations added locally to message `id`.
    pub fn annotations(&self, id: MessageId) -> Result<Vec<attachment::Translation>, StoreError> {
        self.sealed_list(b"annotation:", id)
    }

    /// Replaces the local translations of message `id`, sealed at rest.
    pub fn put_annotations(
        &self,
        id: MessageId,
        all: &[attachment::Translation],
        nonce: [u8; 24],
    ) -> Result<(), StoreError> {
        self.put_sealed_list(b"annotation:", id, all, nonce)
    }

    /// Erases the attachments of message `id`: files and keys.
    pub fn erase_attachments(&self, id: MessageId) -> Result<usize, StoreError> {
        let d = self.attachments(id).unwrap_or_default();
        let mut n = 0;
        for i in 0..d.len().max(MAX_SCAN) {
            for done in [true, false] {
                if std::fs::remove_file(self.file(id, i, done)).is_ok() {
                    n += 1;
                }
            }
        }
        let _w = self.writing();
        self.attachments.remove(message_key(id)).map_err(io)?;
        for prefix in [b"annotation:".as_slice(), b"translations:".as_slice()] {
            let mut key = prefix.to_vec();
            key.extend_from_slice(&id.to_bytes());
            self.attachments.remove(key).map_err(io)?;
        }
        self.staged.remove(id.to_bytes()).map_err(io)?;
        Ok(n)
    }
}

/// Attachment positions checked for leftover files when erasing.
const MAX_SCAN: usize = attachment::MAX_ATTACHMENTS;
