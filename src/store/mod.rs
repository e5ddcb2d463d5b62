//! The sled store: every sled call in the crate lives here.
//!
//! Trees: `messages` (id → record), `envelopes` (id → the envelope as
//! sent or received, joined with its form CBOR sealed with the node's
//! storage key: `content`), `audit` (sequence → entry). A message's signed
//! receipt is in its record. Both are schema 3; schema 2 kept forms in a
//! `forms` tree and receipts in a `receipts` tree, which the migration
//! empties.
//! The outbox (queued outgoing messages) is an index in memory, built
//! from the message records on open: a queued outgoing record is the
//! outbox entry, so the queue costs no writes of its own. (Older binaries
//! kept it in an `outbox` tree; it is emptied on open, and an older
//! binary rebuilds it from the records the same way.) All of a message's
//! writes, with its audit entry and deadline, are one journal record, so a
//! crash leaves none of them without the others.
//!
//! Durability: every write goes through the write-ahead journal
//! (`journal`) before sled sees it, and [`Store::sync`] is one `fdatasync`
//! of the journal. [`Store::checkpoint`] flushes sled and fsyncs its files
//! itself (sled's `flush()` does not fsync on Linux): the log file, every
//! blob file it has not synced before (sled writes any log item above its
//! blob threshold, segment size / 4 = 128 KiB, to its own file under
//! `blobs/`) and the directory; then it deletes the journal files this made
//! redundant.

mod attachments;
mod backup;
mod content;
mod durable;
mod journal;
mod records;
mod rotations;

pub use backup::{BackupSummary, restore};

pub use durable::{Coming, GroupSync};
pub use records::{Direction, MessageRecord, State};
pub use rotations::RotationRecord;

use crate::protocol::UnixTime;
use crate::protocol::audit::{self, Chain, Event, Record};
use crate::protocol::country::Country;
use crate::protocol::id::MessageId;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use journal::{Journal, Op, Table};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be opened: corrupt, locked or unreadable.
    #[error(
        "cannot open the store at {path}: {reason}. If another `nfp-node serve` uses this home, stop it first; if the store is corrupt, restore the latest backup into {path}"
    )]
    Open {
        /// Store directory.
        path: PathBuf,
        /// Cause.
        reason: String,
    },
    /// A read or write failed.
    #[error("store I/O failed: {0}")]
    Io(String),
    /// Stored bytes do not decode.
    #[error("stored {what} {key} is corrupt: {reason}")]
    Corrupt {
        /// Which kind of value.
        what: &'static str,
        /// Its key.
        key: String,
        /// Cause.
        reason: String,
    },
    /// The audit trail does not verify.
    #[error("audit trail does not verify: {0}")]
    Audit(#[from] audit::AuditError),
}

/// The store layout this binary writes. A newer binary migrates older
/// layouts on open, after a backup; an older binary refuses a newer one.
///
/// - 1: the first layout.
/// - 2: key rotations (`rotations` tree); deadlines may name a follow-up
///   schedule; case records may hold the child's return. A schema 1
///   binary cannot read the last two, hence the new number.
/// - 3: a message's receipt is in its record, no longer in the `receipts`
///   tree, and its sealed form is in the same value as its envelope
///   (`content`), no longer in the `forms` tree: two writes less per
///   message each way. A schema 2 binary would not find either.
pub const SCHEMA_VERSION: u64 = 3;

fn io<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Locks `m`; a panic elsewhere while it was held does not poison the
/// store's in-memory state, which every holder leaves consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// An accepted incoming message as [`Store::put_incoming`] writes it.
pub struct Incoming<'a> {
    /// Its record.
    pub record: &'a MessageRecord,
    /// The envelope as received.
    pub envelope: &'a [u8],
    /// The form, stored sealed.
    pub form_cbor: &'a [u8],
    /// The signed receipt.
    pub receipt: &'a [u8],
    /// The deadline this node now owes for it, if any.
    pub owed: Option<&'a DeadlineRecord>,
}

/// An audit entry written together with the store write it records:
/// event, record, time.
pub type Audited = (Event, Record, UnixTime);

/// A migration made when the store was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Schema found.
    pub from: u64,
    /// Schema now.
    pub to: u64,
    /// The backup taken first.
    pub backup: PathBuf,
}

/// The store of one node.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    journal: Arc<Journal>,
    meta: Table,
    messages: Table,
    envelopes: Table,
    forms: Table,
    receipts: Table,
    outbox: Table,
    audit: Table,
    log: Mutex<LogState>,
    checkpoints: Table,
    cosignatures: Table,
    witnessed: Table,
    cases: Table,
    deadlines: Table,
    rotations: Table,
    attachments: Table,
    staged: Table,
    form_key: Zeroizing<[u8; 32]>,
    synced_blobs: Mutex<std::collections::HashSet<std::ffi::OsString>>,
    /// The log file, kept open for fdatasync.
    db_file: std::sync::OnceLock<Option<std::fs::File>>,
    /// Whether the directory entries have been synced since open.
    dir_synced: std::sync::atomic::AtomicBool,
    /// The migration this open made, if any.
    migrated: Option<Migration>,
    /// Every write holds this shared; a backup holds it exclusively.
    write_gate: std::sync::RwLock<()>,
    /// The largest size each peer has cosigned, once first asked.
    cosigned: Mutex<Option<std::collections::HashMap<Country, u64>>>,
    /// The ids of unanswered deadlines, once first asked.
    open_deadlines: Mutex<Option<std::collections::BTreeSet<MessageId>>>,
    /// The outbox: every queued outgoing message, with its peer and
    /// whether it is urgent.
    queued: Mutex<std::collections::BTreeMap<MessageId, (Country, bool)>>,
}

impl Drop for Store {
    fn drop(&mut self) {
        // Leave sled complete and the journal empty, so the next open has
        // nothing to replay.
        if let Err(e) = self.checkpoint() {
            tracing::warn!(error = %e, "final store checkpoint failed; the journal will be replayed on the next open");
        }
    }
}

impl Store {
    /// Opens (or creates) the store in `path`. `form_key` seals forms at
    /// rest. The audit trail's tail is checked on open, and a store of an
    /// older schema is backed up beside itself and migrated.
    pub fn open(path: &Path, form_key: &[u8; 32]) -> Result<Store, StoreError> {
        Store::open_with(path, form_key, None)
    }

    /// [`Store::open`] for a store just restored from the backup `from`:
    /// a migration takes no new backup, since `from` is one.
    fn open_restored(path: &Path, form_key: &[u8; 32], from: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, form_key, Some(from))
    }

    fn open_with(
        path: &Path,
        form_key: &[u8; 32],
        restored_from: Option<&Path>,
    ) -> Result<Store, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        // sled's own flusher is off: the journal makes writes durable,
        // and checkpoints flush sled (see `journal`).
        let config = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None);
        // sled releases its lock on the files a moment after the last
        // handle to a store is dropped (its I/O threads let go of the file
        // last), so opening again right after a close can find it still
        // held. Wait up to a second for that; a store another process
        // holds is still refused, after that second.
        let mut tries = 0;
        let db = loop {
            match config.open() {
                // sled reports it as an `Other` error with this text.
                Err(sled::Error::Io(e))
                    if tries < 20 && e.to_string().starts_with("could not acquire lock") =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other.map_err(|e| open_err(e.to_string()))?,
            }
        };
        let (journal, replay) = Journal::open(&path.join("journal"), &db).map_err(open_err)?;
        if replay.applied > 0 || replay.torn.is_some() {
            tracing::warn!(
                applied = replay.applied,
                torn = replay.torn.is_some(),
                "store journal replayed after an unclean stop"
            );
        }
        let journal = Arc::new(journal);
        let tree = |name: &str| {
            db.open_tree(name)
                .map(|t| Table::new(t, journal.clone()))
                .map_err(|e| open_err(e.to_string()))
        };
        let store = Store {
            path: path.to_path_buf(),
            meta: tree("meta")?,
            messages: tree("messages")?,
            envelopes: tree("envelopes")?,
            forms: tree("forms")?,
            receipts: tree("receipts")?,
            outbox: tree("outbox")?,
            audit: tree("audit")?,
            checkpoints: tree("checkpoints")?,
            cosignatures: tree("cosignatures")?,
            witnessed: tree("witnessed")?,
            cases: tree("cases")?,
            deadlines: tree("deadlines")?,
            rotations: tree("rotations")?,
            attachments: tree("attachments")?,
            staged: tree("staged")?,
            db,
            journal,
            log: Mutex::new(LogState::default()),
            form_key: Zeroizing::new(*form_key),
            synced_blobs: Mutex::new(std::collections::HashSet::new()),
            write_gate: std::sync::RwLock::new(()),
            cosigned: Mutex::new(None),
            open_deadlines: Mutex::new(None),
            queued: Mutex::new(std::collections::BTreeMap::new()),
            db_file: std::sync::OnceLock::new(),
            dir_synced: std::sync::atomic::AtomicBool::new(false),
            migrated: None,
        };
        let found = store.check_schema().map_err(|e| open_err(e.to_string()))?;
        let chain = store.recover_chain().map_err(|e| open_err(e.to_string()))?;
        let log = store
            .rebuild_log(chain)
            .map_err(|e| open_err(e.to_string()))?;
        *lock(&store.log) = log;
        store
            .reconcile_outbox()
            .map_err(|e| open_err(e.to_string()))?;
        let mut store = store;
        if found < SCHEMA_VERSION {
            store.migrated = Some(store.migrate(found, restored_from).map_err(|e| {
                open_err(format!(
                    "migrating the store from schema {found} to {SCHEMA_VERSION} failed: {e}"
                ))
            })?);
        }
        Ok(store)
    }

    /// The migration this open made, if it found an older layout.
    pub fn migrated(&self) -> Option<&Migration> {
        self.migrated.as_ref()
    }

    /// Brings a store of schema `from` to [`SCHEMA_VERSION`]: first a
    /// backup beside the store (restorable with `nfp-node restore` by the
    /// old binary), unless the store was just restored from `restored`,
    /// then each step, then the new version, synced.
    fn migrate(&self, from: u64, restored: Option<&Path>) -> Result<Migration, StoreError> {
        let backup = match restored {
            Some(b) => b.to_path_buf(),
            None => {
                let stamp = jiff::Timestamp::now().as_second();
                let name = self
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "store".into());
                let backup = self
                    .path
                    .with_file_name(format!("{name}-schema{from}-{stamp}.backup"));
                self.backup(&backup)?;
                backup
            }
        };
        for version in from..SCHEMA_VERSION {
            // One step per version; each leaves the data readable by the
            // next.
            if version == 1 {
                self.check_deadlines_decode()?;
            }
            if version == 2 {
                self.move_receipts_into_records()?;
                self.join_forms_to_envelopes()?;
            }
        }
        self.meta
            .insert(b"schema", SCHEMA_VERSION.to_be_bytes())
            .map_err(io)?;
        self.sync()?;
        tracing::warn!(from, to = SCHEMA_VERSION, backup = %backup.display(), "store migrated");
        Ok(Migration {
            from,
            to: SCHEMA_VERSION,
            backup,
        })
    }

    /// Schema 1 to 2: every deadline record must read under the new
    /// layout (which only adds a field with a default); a record that does
    /// not stops the migration before anything changes.
    fn check_deadlines_decode(&self) -> Result<(), StoreError> {
        self.deadlines().map(|_| ())
    }

    /// Schema 2 to 3: each receipt moves from the `receipts` tree into its
    /// message's record. A record is written before its receipt is
    /// removed, so a crash part way leaves every receipt readable, and the
    /// next open repeats the step (the schema is still 2).
    fn move_receipts_into_records(&self) -> Result<(), StoreError> {
        for entry in self.receipts.iter() {
            let (k, receipt) = entry.map_err(io)?;
            let id = key_id(&k)?;
            if let Some(mut rec) = self.message(id)? {
                rec.receipt = Some(serde_bytes::ByteBuf::from(receipt.to_vec()));
                self.messages.insert(&k, rec.encode()?).map_err(io)?;
            }
            self.receipts.remove(&k).map_err(io)?;
        }
        Ok(())
    }

    /// Schema 2 to 3: each sealed form joins its envelope in one value.
    /// The joined value is written before the form is removed, and a
    /// joined value is recognised, so a crash part way is repaired by the
    /// next open repeating the step. A form left without an envelope
    /// belongs to no message (schema 2 dropped an unfinished send's
    /// envelope and form in two writes, so a crash could leave the form):
    /// it is deleted, as the rest of that send was.
    fn join_forms_to_envelopes(&self) -> Result<(), StoreError> {
        for entry in self.envelopes.iter() {
            let (k, value) = entry.map_err(io)?;
            if !content::is_joined(&value) {
                let form = self.forms.get(&k).map_err(io)?;
                let joined = content::join(&value, form.as_deref().unwrap_or_default())?;
                self.envelopes.insert(&k, joined).map_err(io)?;
            }
            self.forms.remove(&k).map_err(io)?;
        }
        let mut orphans = 0u64;
        for k in self.forms.iter().keys() {
            self.forms.remove(k.map_err(io)?).map_err(io)?;
            orphans += 1;
        }
        if orphans > 0 {
            tracing::warn!(
                orphans,
                "deleted sealed forms of unfinished sends (no envelope, no record)"
            );
        }
        Ok(())
    }

    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        match self.write_gate.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn pause_writers(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        match self.write_gate.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The schema version this store is at (before an open's migration
    /// finishes, the one it was found at).
    fn schema(&self) -> Result<u64, StoreError> {
        match self.meta.get(b"schema").map_err(io)? {
            Some(v) => be_u64(&v),
            None => Ok(SCHEMA_VERSION),
        }
    }

    /// Checks the store's schema version: writes it into a new store, and
    /// refuses a store written by a newer version of the node.
    /// Returns the version found (a new store gets the current one).
    fn check_schema(&self) -> Result<u64, StoreError> {
        match self.meta.get(b"schema").map_err(io)? {
            None => {
                self.meta
                    .insert(b"schema", SCHEMA_VERSION.to_be_bytes())
                    .map_err(io)?;
                Ok(SCHEMA_VERSION)
            }
            Some(v) => {
                let found = be_u64(&v)?;
                if found > SCHEMA_VERSION {
                    Err(StoreError::Io(format!(
                        "the store was written by a newer nfp-node (schema {found}); this binary reads schema {SCHEMA_VERSION} and older: upgrade the binary"
                    )))
                } else {
                    Ok(found)
                }
            }
        }
    }

    /// Reads every entry's leaf hash into memory for the Merkle tree, and
    /// checks the count against the chain.
    fn rebuild_log(&self, chain: Chain) -> Result<LogState, StoreError> {
        let mut log = LogState {
            chain,
            ..LogState::default()
        };
        for v in self.audit.iter().values() {
            log.push_leaf(audit::leaf_hash(&v.map_err(io)?));
        }
        if log.leaves.len() as u64 != chain.size {
            return Err(StoreError::Corrupt {
                what: "audit trail",
                key: "(all)".into(),
                reason: format!(
                    "holds {} entries but the last says {}",
                    log.leaves.len(),
                    chain.size
                ),
            });
        }
        Ok(log)
    }

    /// Rebuilds the chain state from the last two entries, checking that
    /// the last one links to the one before it.
    fn recover_chain(&self) -> Result<Chain, StoreError> {
        let mut tail = self.audit.iter().rev();
        let Some(last) = tail.next() else {
            return Ok(Chain::empty());
        };
        let (_, last) = last.map_err(io)?;
        let before = match tail.next() {
            None => Chain::empty(),
            Some(r) => {
                let (k, v) = r.map_err(io)?;
                let entry: audit::Entry =
                    ciborium::from_reader(v.as_ref()).map_err(|e| StoreError::Corrupt {
                        what: "audit entry",
                        key: hex::encode(&k),
                        reason: e.to_string(),
                    })?;
                Chain {
                    size: entry.seq + 1,
                    head: audit::leaf_hash(&v),
                    last_time: entry.time,
                }
            }
        };
        Ok(before.verify_next(&last)?.1)
    }

    /// Builds the outbox from the message records. A store written by an
    /// older binary also has an `outbox` tree: an entry there without a
    /// record (a send that never completed, so the operator never got its
    /// id) is dropped with its envelope and form, and the tree is emptied.
    fn reconcile_outbox(&self) -> Result<(), StoreError> {
        let queued: std::collections::BTreeMap<MessageId, (Country, bool)> = self
            .messages(None)?
            .into_iter()
            .filter(|r| r.direction == Direction::Out && r.state == State::Queued)
            .map(|r| (r.id, (r.peer, r.urgent)))
            .collect();
        for k in self.outbox.iter().keys() {
            let k = k.map_err(io)?;
            self.outbox.remove(&k).map_err(io)?;
            if self.messages.get(&k).map_err(io)?.is_none() {
                self.envelopes.remove(&k).map_err(io)?;
                self.forms.remove(&k).map_err(io)?;
            }
        }
        *lock(&self.queued) = queued;
        Ok(())
    }

    /// Makes every write made before the call durable: after this
    /// returns, it survives a crash or power loss. One `fdatasync` of the
    /// journal.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.journal.sync().map_err(io)
    }

    /// Bytes written to the journal since the last checkpoint.
    pub fn journal_pending(&self) -> u64 {
        self.journal.pending()
    }

    /// Flushes sled into its own files, fsyncs them, and deletes the
    /// journal files this made redundant. Runs about once a second on the
    /// checkpoint thread, and when the store is dropped.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let Some(current) = self.journal.rotate().map_err(io)? else {
            return Ok(());
        };
        self.flush_sled()?;
        self.journal.retire(current).map_err(io)
    }

    /// Flushes sled and fsyncs its files.
    fn flush_sled(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(io)?;
        let blobs = self.path.join("blobs");
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            let mut synced = lock(&self.synced_blobs);
            let mut any = false;
            for e in entries.flatten() {
                let name = e.file_name();
                if !synced.contains(&name) {
                    std::fs::File::open(e.path())
                        .and_then(|f| f.sync_all())
                        .map_err(io)?;
                    synced.insert(name);
                    any = true;
                }
            }
            if any {
                std::fs::File::open(&blobs)
                    .and_then(|d| d.sync_all())
                    .map_err(io)?;
                self.dir_synced
                    .store(false, std::sync::atomic::Ordering::Release);
            }
        }
        // The log file holds every write; fdatasync makes it durable. The
        // directory entries (db, conf) only need syncing once, after they
        // were created, and again whenever a new blob file appeared.
        let db = self
            .db_file
            .get_or_init(|| std::fs::File::open(self.path.join("db")).ok());
        match db {
            Some(f) => f.sync_data().map_err(io)?,
            None => {
                return Err(StoreError::Io(
                    "cannot open the store's db file to sync it".into(),
                ));
            }
        }
        if !self
            .dir_synced
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            let conf = self.path.join("conf");
            if conf.exists() {
                std::fs::File::open(&conf)
                    .and_then(|f| f.sync_all())
                    .map_err(io)?;
            }
            std::fs::File::open(&self.path)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }

    /// Appends an audit entry and returns its sequence number.
    pub fn append_audit(
        &self,
        event: Event,
        rec: Record,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let _w = self.writing();
        self.apply_audited(&[], (event, rec, now))
    }

    /// Applies `ops` and appends the audit entry `note` in the same journal
    /// record, so neither survives a crash without the other. Returns the
    /// entry's sequence number.
    fn apply_audited(&self, ops: &[Op<'_>], note: Audited) -> Result<u64, StoreError> {
        let (event, rec, now) = note;
        let mut log = lock(&self.log);
        let (entry, bytes, next) = log.chain.append(event, rec, now)?;
        let leaf = audit::leaf_hash(&bytes);
        let key = entry.seq.to_be_bytes();
        let mut all = Vec::with_capacity(ops.len() + 1);
        all.extend_from_slice(ops);
        all.push(Op::Insert(&self.audit, &key, &bytes));
        self.journal.apply(&all).map_err(io)?;
        log.chain = next;
        log.push_leaf(leaf);
        Ok(entry.seq)
    }

    /// Every audit entry's bytes, in order.
    pub fn audit_entries(&self) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        self.audit
            .iter()
            .values()
            .map(|r| r.map(|v| v.to_vec()).map_err(io))
    }

    /// The current chain state.
    pub fn audit_head(&self) -> Chain {
        lock(&self.log).chain
    }

    fn form_cipher(&self) -> chacha20poly1305::XChaCha20Poly1305 {
        let key: &[u8; 32] = &self.form_key;
        chacha20poly1305::XChaCha20Poly1305::new(key.into())
    }

    /// Seals `plain` at rest with the storage key, bound to `aad` (the
    /// record's key), under a fresh 24-byte nonce.
    fn seal(&self, aad: &[u8], plain: &[u8], nonce: [u8; 24]) -> Result<Vec<u8>, StoreError> {
        let ct = self
            .form_cipher()
            .encrypt(&nonce.into(), Payload { msg: plain, aad })
            .map_err(|_| StoreError::Io("encryption at rest failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unseal(
        &self,
        what: &'static str,
        key: String,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt {
            what,
            key: key.clone(),
            reason: reason.into(),
        };
        if sealed.len() < 24 {
            return Err(corrupt("too short"));
        }
        let (nonce, ct) = sealed.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| corrupt("bad nonce"))?;
        self.form_cipher()
            .decrypt(&nonce.into(), Payload { msg: ct, aad })
            .map_err(|_| corrupt("does not decrypt with this node's storage key"))
    }

    fn seal_form(
        &self,
        id: MessageId,
        form: &[u8],
        nonce: [u8; 24],
    ) -> Result<Vec<u8>, StoreError> {
        self.seal(&id.to_bytes(), form, nonce)
    }

    fn open_form(&self, id: MessageId, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.unseal("form", id.to_string(), &id.to_bytes(), sealed)
    }

    /// A keyed commitment to `value` under this node's storage key: the
    /// same value always gives the same commitment, and nobody without the
    /// key can test guesses against it.
    pub fn commit_to(&self, domain: &[u8], value: &[u8]) -> String {
        use sha2::Digest as _;
        let d = sha2::Sha256::new()
            .chain_update(b"nfp-node commitment v1\0")
            .chain_update(self.form_key.as_slice())
            .chain_update(domain)
            .chain_update([0u8])
            .chain_update(value)
            .finalize();
        hex::encode(&d[..16])
    }

    /// Stores a case record (CBOR), sealed at rest.
    pub fn put_case(&self, case: &str, record: &[u8], nonce: [u8; 24]) -> Result<(), StoreError> {
        let _w = self.writing();
        let aad = format!("case:{case}");
        self.cases
            .insert(case.as_bytes(), self.seal(aad.as_bytes(), record, nonce)?)
            .map_err(io)?;
        Ok(())
    }

    /// A case record's CBOR, unsealed.
    pub fn case(&self, case: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.cases.get(case.as_bytes()).map_err(io)? {
            None => Ok(None),
            Some(v) => {
                let aad = format!("case:{case}");
                self.unseal("case record", case.to_string(), aad.as_bytes(), &v)
                    .map(Some)
            }
        }
    }

    /// Every case reference.
    pub fn case_refs(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for k in self.cases.iter().keys() {
            out.push(String::from_utf8_lossy(&k.map_err(io)?).into_owned());
        }
        Ok(out)
    }

    /// Deletes the sealed form of a message for good (erasure).
    pub fn erase_content(&self, id: MessageId) -> Result<bool, StoreError> {
        // Every other writer waits: reading the content and writing it
        // back is then one step, and only one erasure reports it.
        let _w = self.pause_writers();
        let key = id.to_bytes();
        let mut had = false;
        if let Some(value) = self.envelopes.get(key).map_err(io)? {
            let (envelope, form) = content::split(&id.to_string(), &value)?;
            had = form.is_some();
            // An incoming envelope could be opened again with this node's
            // key: it goes too. The envelope hash stays in the audit trail.
            let incoming = self
                .message(id)?
                .is_some_and(|r| r.direction == Direction::In);
            if incoming {
                self.envelopes.remove(key).map_err(io)?;
            } else if had {
                self.envelopes
                    .insert(key, content::join(envelope, &[])?)
                    .map_err(io)?;
            }
        }
        drop(_w);
        let files = self.erase_attachments(id)?;
        Ok(had || files > 0)
    }

    /// Stores a deadline (keyed by the message that must be answered).
    pub fn put_deadline(&self, d: &DeadlineRecord) -> Result<(), StoreError> {
        let _w = self.writing();
        self.deadlines
            .insert(d.request.to_bytes(), encode_deadline(d)?)
            .map_err(io)?;
        self.track_open(d);
        Ok(())
    }

    /// Keeps the set of open deadlines (once read) in step with a write of
    /// `d`.
    fn track_open(&self, d: &DeadlineRecord) {
        if let Some(open) = lock(&self.open_deadlines).as_mut() {
            if d.answer.is_none() {
                open.insert(d.request);
            } else {
                open.remove(&d.request);
            }
        }
    }

    /// The deadlines not yet answered. The first call reads them all; the
    /// store then keeps the set of open ones in memory, so the deadline
    /// watcher's work each second follows the open deadlines, not every
    /// deadline the node ever had.
    pub fn open_deadlines(&self) -> Result<Vec<DeadlineRecord>, StoreError> {
        let mut open = lock(&self.open_deadlines);
        if open.is_none() {
            let all = self.deadlines()?;
            *open = Some(
                all.iter()
                    .filter(|d| d.answer.is_none())
                    .map(|d| d.request)
                    .collect(),
            );
            return Ok(all.into_iter().filter(|d| d.answer.is_none()).collect());
        }
        let mut out = Vec::new();
        for id in open.iter().flatten() {
            if let Some(d) = self.deadline(*id)?
                && d.answer.is_none()
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// The deadline on message `id`, if any.
    pub fn deadline(&self, id: MessageId) -> Result<Option<DeadlineRecord>, StoreError> {
        match self.deadlines.get(id.to_bytes()).map_err(io)? {
            None => Ok(None),
            Some(v) => {
                ciborium::from_reader(v.as_ref())
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        what: "deadline",
                        key: id.to_string(),
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// Every deadline.
    pub fn deadlines(&self) -> Result<Vec<DeadlineRecord>, StoreError> {
        let mut out = Vec::new();
        for v in self.deadlines.iter().values() {
            let v = v.map_err(io)?;
            out.push(
                ciborium::from_reader(v.as_ref()).map_err(|e| StoreError::Corrupt {
                    what: "deadline",
                    key: "(scan)".into(),
                    reason: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// Deletes the deadline on `id`.
    pub fn remove_deadline(&self, id: MessageId) -> Result<(), StoreError> {
        let _w = self.writing();
        self.deadlines.remove(id.to_bytes()).map_err(io)?;
        if let Some(open) = lock(&self.open_deadlines).as_mut() {
            open.remove(&id);
        }
        Ok(())
    }

    /// Deletes a case record for good.
    pub fn erase_case(&self, case: &str) -> Result<bool, StoreError> {
        let _w = self.writing();
        Ok(self.cases.remove(case.as_bytes()).map_err(io)?.is_some())
    }

    /// Stores an outgoing message and queues it, as one journal record
    /// with its audit entry.
    pub fn put_outgoing(
        &self,
        rec: &MessageRecord,
        envelope: &[u8],
        form_cbor: &[u8],
        urgent: bool,
        nonce: [u8; 24],
        note: Audited,
    ) -> Result<(), StoreError> {
        let _w = self.writing();
        let key = rec.id.to_bytes();
        let content = content::join(envelope, &self.seal_form(rec.id, form_cbor, nonce)?)?;
        let record = rec.encode()?;
        self.apply_audited(
            &[
                Op::Insert(&self.envelopes, &key, &content),
                Op::Insert(&self.messages, &key, &record),
            ],
            note,
        )?;
        lock(&self.queued).insert(rec.id, (rec.peer, urgent));
        Ok(())
    }

    /// Stores an accepted incoming message with its receipt, the deadline
    /// this node now owes for it (if any) and its audit entry, as one
    /// journal record.
    pub fn put_incoming(
        &self,
        m: Incoming<'_>,
        nonce: [u8; 24],
        note: Audited,
    ) -> Result<(), StoreError> {
        let Incoming {
            record: rec,
            envelope,
            form_cbor,
            receipt,
            owed,
        } = m;
        let _w = self.writing();
        let key = rec.id.to_bytes();
        let content = content::join(envelope, &self.seal_form(rec.id, form_cbor, nonce)?)?;
        let record = MessageRecord {
            receipt: Some(serde_bytes::ByteBuf::from(receipt)),
            ..rec.clone()
        }
        .encode()?;
        let mut ops = vec![
            Op::Insert(&self.envelopes, &key, &content),
            Op::Insert(&self.messages, &key, &record),
        ];
        let deadline = deadline_entry(owed)?;
        if let Some((k, v)) = &deadline {
            ops.push(Op::Insert(&self.deadlines, k, v));
        }
        self.apply_audited(&ops, note)?;
        if let Some(d) = owed {
            self.track_open(d);
        }
        Ok(())
    }

    /// Records a verified receipt for a sent message and takes it off the
    /// outbox.
    pub fn mark_delivered(
        &self,
        id: MessageId,
        receipt: &[u8],
        at: UnixTime,
        awaited: impl FnOnce(&MessageRecord) -> Option<DeadlineRecord>,
        note: Audited,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let _w = self.writing();
        let key = id.to_bytes();
        let Some(mut rec) = self.message(id)? else {
            self.apply_audited(&[], note)?;
            return Ok(None);
        };
        rec.state = State::Delivered;
        rec.delivered = Some(at);
        rec.last_error = None;
        rec.receipt = Some(serde_bytes::ByteBuf::from(receipt));
        let record = rec.encode()?;
        let awaited = awaited(&rec);
        let deadline = deadline_entry(awaited.as_ref())?;
        let mut ops = vec![Op::Insert(&self.messages, &key, &record)];
        if let Some((k, v)) = &deadline {
            ops.push(Op::Insert(&self.deadlines, k, v));
        }
        self.apply_audited(&ops, note)?;
        lock(&self.queued).remove(&id);
        if let Some(d) = &awaited {
            self.track_open(d);
        }
        Ok(Some(rec))
    }

    /// Marks a sent message failed for good and takes it off the outbox.
    pub fn mark_failed(&self, id: MessageId, reason: &str) -> Result<(), StoreError> {
        let _w = self.writing();
        let key = id.to_bytes();
        if let Some(mut rec) = self.message(id)? {
            rec.state = State::Failed;
            rec.last_error = Some(reason.chars().take(500).collect());
            self.messages.insert(key, rec.encode()?).map_err(io)?;
        }
        lock(&self.queued).remove(&id);
        Ok(())
    }

    /// Notes a failed attempt (the message stays queued).
    pub fn note_attempt(&self, id: MessageId, error: &str) -> Result<(), StoreError> {
        let _w = self.writing();
        if let Some(mut rec) = self.message(id)? {
            rec.attempts = rec.attempts.saturating_add(1);
            rec.last_error = Some(error.chars().take(500).collect());
            self.messages
                .insert(id.to_bytes(), rec.encode()?)
                .map_err(io)?;
        }
        Ok(())
    }

    /// One message record.
    pub fn message(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError> {
        match self.messages.get(id.to_bytes()).map_err(io)? {
            None => Ok(None),
            Some(v) => MessageRecord::decode(id, &v).map(Some),
        }
    }

    /// Every message record, oldest first, optionally for one case.
    pub fn messages(&self, case: Option<&str>) -> Result<Vec<MessageRecord>, StoreError> {
        let mut out = Vec::new();
        for r in self.messages.iter() {
            let (k, v) = r.map_err(io)?;
            let id = key_id(&k)?;
            let rec = MessageRecord::decode(id, &v)?;
            if case.is_none_or(|c| c == rec.case) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// The envelope bytes of a message.
    pub fn envelope(&self, id: MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        match self.envelopes.get(id.to_bytes()).map_err(io)? {
            None => Ok(None),
            Some(v) => Ok(Some(content::split(&id.to_string(), &v)?.0.to_vec())),
        }
    }

    /// The stored receipt of a message.
    pub fn receipt(&self, id: MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .message(id)?
            .and_then(|r| r.receipt)
            .map(serde_bytes::ByteBuf::into_vec))
    }

    /// The form CBOR of a message, decrypted.
    pub fn form(&self, id: MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(v) = self.envelopes.get(id.to_bytes()).map_err(io)? else {
            return Ok(None);
        };
        match content::split(&id.to_string(), &v)?.1 {
            None => Ok(None),
            Some(sealed) => self.open_form(id, sealed).map(Some),
        }
    }

    /// Every queued message with its peer and whether it is urgent.
    pub fn outbox_entries(&self) -> Result<Vec<(MessageId, Country, bool)>, StoreError> {
        Ok(lock(&self.queued)
            .iter()
            .map(|(id, (peer, urgent))| (*id, *peer, *urgent))
            .collect())
    }

    /// Every queued message with its peer.
    pub fn outbox(&self) -> Result<Vec<(MessageId, Country)>, StoreError> {
        Ok(self
            .outbox_entries()?
            .into_iter()
            .map(|(id, peer, _)| (id, peer))
            .collect())
    }

    /// Puts a failed outgoing message back in the queue. Returns the record,
    /// or `None` when there is no such outgoing message.
    pub fn requeue(&self, id: MessageId) -> Result<Option<MessageRecord>, StoreError> {
        let _w = self.writing();
        let Some(mut rec) = self.message(id)? else {
            return Ok(None);
        };
        if rec.direction != Direction::Out {
            return Ok(None);
        }
        rec.state = State::Queued;
        rec.attempts = 0;
        let key = id.to_bytes();
        self.messages.insert(key, rec.encode()?).map_err(io)?;
        lock(&self.queued).insert(id, (rec.peer, rec.urgent));
        Ok(Some(rec))
    }
}

/// The audit trail in memory: its chain state, the Merkle tree's compact
/// range and every leaf hash (32 bytes an entry) for proofs.
#[derive(Debug)]
struct LogState {
    chain: Chain,
    range: audit::CompactRange,
    leaves: Vec<audit::Hash>,
}

impl Default for LogState {
    fn default() -> Self {
        LogState {
            chain: Chain::empty(),
            range: audit::CompactRange::new(),
            leaves: Vec::new(),
        }
    }
}

impl LogState {
    fn push_leaf(&mut self, leaf: audit::Hash) {
        self.range.append(leaf);
        self.leaves.push(leaf);
    }
}

/// A deadline as the node tracks it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeadlineRecord {
    /// The message that must be answered.
    pub request: MessageId,
    /// The other party.
    pub peer: Country,
    /// The case.
    pub case: String,
    /// True when this NFP owes the answer; false when it awaits it.
    pub owed: bool,
    /// The deadline.
    pub deadline: crate::protocol::deadline::Deadline,
    /// Kinds that answer it.
    pub answered_by: Vec<crate::protocol::forms::Kind>,
    /// Reminders sent (awaited) or received (owed).
    pub reminders_sent: u32,
    /// Whether the node escalated it as overdue.
    pub escalated: bool,
    /// The answer, once there is one.
    pub answer: Option<MessageId>,
    /// When the answer was made (its creation time).
    pub answered_at: Option<jiff::Timestamp>,
    /// For a follow-up a schedule called for: the schedule and position,
    /// e.g. `post-return 1/2`. `request` is then a stable id derived from
    /// the case and schedule, not a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// What this node knows of a peer's log, as its witness.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WitnessState {
    /// The size last cosigned.
    pub size: u64,
    /// The root at that size.
    pub root: serde_bytes::ByteBuf,
    /// The checkpoint note as the peer signed it.
    pub note: String,
    /// When this node cosigned it (Unix seconds).
    pub cosigned_at: i64,
    /// Evidence of a fork or rollback, if one was seen (kept for ever).
    #[serde(default)]
    pub fork: Option<String>,
}

impl Store {
    /// The size and Merkle root of the audit trail now.
    pub fn audit_snapshot(&self) -> (u64, audit::Hash) {
        let log = lock(&self.log);
        (log.range.size(), log.range.root())
    }

    /// The leaf hash of entry `index`.
    pub fn audit_leaf(&self, index: u64) -> Option<audit::Hash> {
        let log = lock(&self.log);
        usize::try_from(index)
            .ok()
            .and_then(|i| log.leaves.get(i).copied())
    }

    /// The bytes of entry `index`.
    pub fn audit_entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .audit
            .get(index.to_be_bytes())
            .map_err(io)?
            .map(|v| v.to_vec()))
    }

    /// An inclusion proof of entry `index` in the tree of `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<audit::Hash>, StoreError> {
        let log = lock(&self.log);
        let n = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .min(log.leaves.len());
        audit::inclusion_proof(&log.leaves[..n], index).map_err(|e| StoreError::Io(e.to_string()))
    }

    /// A consistency proof from `old` entries to `new` entries.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<audit::Hash>, StoreError> {
        let log = lock(&self.log);
        let n = usize::try_from(new)
            .unwrap_or(usize::MAX)
            .min(log.leaves.len());
        audit::consistency_proof(&log.leaves[..n], old).map_err(|e| StoreError::Io(e.to_string()))
    }

    /// Stores a signed checkpoint of `size` entries.
    pub fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        let _w = self.writing();
        self.checkpoints
            .insert(size.to_be_bytes(), note.as_bytes())
            .map_err(io)?;
        Ok(())
    }

    /// The latest signed checkpoint: its size and note.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        match self.checkpoints.last().map_err(io)? {
            None => Ok(None),
            Some((k, v)) => Ok(Some((
                be_u64(&k)?,
                String::from_utf8_lossy(&v).into_owned(),
            ))),
        }
    }

    /// Every signed checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let mut out = Vec::new();
        for r in self.checkpoints.iter() {
            let (k, v) = r.map_err(io)?;
            out.push((be_u64(&k)?, String::from_utf8_lossy(&v).into_owned()));
        }
        Ok(out)
    }

    /// Stores a peer's cosignature of this node's checkpoint of `size`.
    pub fn put_cosignature(&self, peer: Country, size: u64, line: &str) -> Result<(), StoreError> {
        let _w = self.writing();
        let mut key = size.to_be_bytes().to_vec();
        key.extend_from_slice(peer.as_str().as_bytes());
        self.cosignatures.insert(key, line.as_bytes()).map_err(io)?;
        if let Some(known) = lock(&self.cosigned).as_mut() {
            let e = known.entry(peer).or_insert(0);
            *e = (*e).max(size);
        }
        Ok(())
    }

    /// Every cosignature of this node's checkpoints: (size, peer, line).
    pub fn cosignatures(&self) -> Result<Vec<(u64, Country, String)>, StoreError> {
        let mut out = Vec::new();
        for r in self.cosignatures.iter() {
            let (k, v) = r.map_err(io)?;
            let size = be_u64(k.get(..8).unwrap_or(&[]))?;
            let peer = k
                .get(8..)
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    what: "cosignature",
                    key: hex::encode(&k),
                    reason: "no peer".into(),
                })?;
            out.push((size, peer, String::from_utf8_lossy(&v).into_owned()));
        }
        Ok(out)
    }

    /// The largest size of this node's log that `peer` has cosigned.
    /// Every delivery asks this, so the answer comes from memory: the
    /// cosignatures are read once, then kept up to date as they arrive.
    pub fn cosigned_by(&self, peer: Country) -> Result<u64, StoreError> {
        let mut known = lock(&self.cosigned);
        if known.is_none() {
            let mut map = std::collections::HashMap::new();
            for (size, p, _) in self.cosignatures()? {
                let e = map.entry(p).or_insert(0);
                *e = size.max(*e);
            }
            *known = Some(map);
        }
        Ok(known
            .as_ref()
            .and_then(|m| m.get(&peer).copied())
            .unwrap_or(0))
    }

    /// What this node last cosigned of `peer`'s log.
    pub fn witnessed(&self, peer: Country) -> Result<Option<WitnessState>, StoreError> {
        match self.witnessed.get(peer.as_str().as_bytes()).map_err(io)? {
            None => Ok(None),
            Some(v) => {
                ciborium::from_reader(v.as_ref())
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        what: "witness state",
                        key: peer.to_string(),
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// Every peer log this node witnesses.
    pub fn witnessed_all(&self) -> Result<Vec<(Country, WitnessState)>, StoreError> {
        let mut out = Vec::new();
        for r in self.witnessed.iter() {
            let (k, _) = r.map_err(io)?;
            if let Some(c) = std::str::from_utf8(&k).ok().and_then(|s| s.parse().ok())
                && let Some(w) = self.witnessed(c)?
            {
                out.push((c, w));
            }
        }
        Ok(out)
    }

    /// Records the new state of `peer`'s log (sync before answering).
    pub fn put_witnessed(&self, peer: Country, state: &WitnessState) -> Result<(), StoreError> {
        let _w = self.writing();
        let mut bytes = Vec::new();
        ciborium::into_writer(state, &mut bytes).map_err(io)?;
        self.witnessed
            .insert(peer.as_str().as_bytes(), bytes)
            .map_err(io)?;
        Ok(())
    }
}

fn be_u64(b: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = b.try_into().map_err(|_| StoreError::Corrupt {
        what: "key",
        key: hex::encode(b),
        reason: "not 8 bytes".into(),
    })?;
    Ok(u64::from_be_bytes(arr))
}

fn encode_deadline(d: &DeadlineRecord) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    ciborium::into_writer(d, &mut bytes).map_err(io)?;
    Ok(bytes)
}

/// A deadline's key and encoded record.
type DeadlineEntry = ([u8; 16], Vec<u8>);

/// The key and value of a deadline written in a message's journal record.
fn deadline_entry(d: Option<&DeadlineRecord>) -> Result<Option<DeadlineEntry>, StoreError> {
    d.map(|d| Ok((d.request.to_bytes(), encode_deadline(d)?)))
        .transpose()
}

fn key_id(k: &[u8]) -> Result<MessageId, StoreError> {
    let arr: [u8; 16] = k.try_into().map_err(|_| StoreError::Corrupt {
        what: "key",
        key: hex::encode(k),
        reason: "not 16 bytes".into(),
    })?;
    let v = u128::from_be_bytes(arr);
    Ok(MessageId::from_u128(v))
}

#[cfg(test)]
mod tests;
