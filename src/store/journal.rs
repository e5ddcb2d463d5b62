//! The write-ahead journal in front of sled: what makes a store write
//! durable.
//!
//! sled's `flush` hands its buffer to its own I/O threads (waking all of
//! them), waits for `sync_file_range`, and still does not fsync, so a
//! flush-and-fsync per group sync cost more CPU than the cryptography of
//! a message (see `docs/performance.md`). Instead, every write is first
//! appended to a journal file, one `write` per batch of operations and
//! before sled sees them, and a group sync is one `fdatasync` of that
//! file. sled is flushed and fsynced only at checkpoints (about once a
//! second, or sooner after [`CHECKPOINT_BYTES`]), after which the older
//! journal files are deleted. On open, what the journal holds beyond sled
//! is applied again.
//!
//! Why that is correct. Every operation sets or removes one key. The
//! journal and sled see the operations in the same order (both under one
//! lock, the journal first). Each batch ends with a write that proves,
//! when sled holds it, that sled holds the whole batch: either the batch's
//! sequence number under [`APPLIED`] in the `meta` tree, or, for a batch
//! whose last operation appends an entry to the `audit` tree (every
//! message's batch), that entry itself: an audit entry is written once
//! and never changed, so no marker is needed (a marker per batch, always
//! the same key, cost about 2 % of the throughput). A rotation records the last
//! sequence number before the new file under [`APPLIED`], so a journal
//! whose older files were retired still starts right after it. After a
//! crash, sled holds a prefix of its writes, so the last batch whose proof
//! it holds says which batches it has in full; the journal
//! holds a prefix of its records (each record carries its length and a
//! hash, so a torn tail is recognised). Replaying the records after that
//! number, in order, gives the state after the last complete record, and
//! never reverts a key to an older value when sled happens to be further
//! ahead than the journal (possible only after a power loss). A batch
//! whose `fdatasync` returned is in the journal; a checkpoint deletes a
//! journal file only after sled's own files are fsynced.
//!
//! Files are zero-filled ahead of the writes, a mebibyte at a time, so a
//! sync writes the data alone and not the file's size as well; the zeros
//! after the last record mark its end.
//!
//! File format (`<store>/journal/<generation>.log`, mode 0600): records of
//! `u32 LE body length | first 8 bytes of SHA-256(body) | body`; body =
//! `u64 LE sequence | u16 LE operation count | operations`; operation =
//! `u8 kind (1 insert, 2 remove) | u8 tree-name length | tree name |
//! u32 LE key length | key | (insert only) u32 LE value length | value`.

use super::lock;
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Journal bytes after which the sync thread asks for an early checkpoint.
pub const CHECKPOINT_BYTES: u64 = 8 << 20;
/// The key in sled's `meta` tree holding the last applied sequence.
pub const APPLIED: &[u8] = b"journal-applied";
/// The tree of audit entries: a batch that ends with an insert into it
/// is recognised in sled by that entry, and writes no [`APPLIED`] marker.
const AUDIT_TREE: &[u8] = b"audit";

/// Whether the batch ends with an audit entry (and so needs no marker).
fn ends_audited(last: Option<(u8, &[u8])>) -> bool {
    matches!(last, Some((INSERT, name)) if name == AUDIT_TREE)
}

/// How much a file is zero-filled ahead of its writes.
const EXTEND_BYTES: u64 = 1 << 20;

const INSERT: u8 = 1;
const REMOVE: u8 = 2;
const HEAD: usize = 12;

/// One write of a batch.
#[derive(Clone, Copy)]
pub enum Op<'a> {
    /// Set `key` to `value` in the tree.
    Insert(&'a sled::Tree, &'a [u8], &'a [u8]),
    /// Remove `key` from the tree.
    Remove(&'a sled::Tree, &'a [u8]),
}

struct Active {
    file: Arc<File>,
    generation: u64,
    /// Where the next record goes.
    len: u64,
    /// Bytes zero-filled so far.
    allocated: u64,
    next_seq: u64,
    /// The file written before the last rotation, until it is fsynced.
    previous: Option<Arc<File>>,
    buf: Vec<u8>,
}

/// The journal of one store.
pub struct Journal {
    dir: PathBuf,
    meta: sled::Tree,
    active: Mutex<Active>,
    rotating: Mutex<()>,
    /// Files from before the open are still on disk.
    older: std::sync::atomic::AtomicBool,
}

/// What opening the journal found and applied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Records applied to sled again.
    pub applied: u64,
    /// Records skipped because sled already held them.
    pub skipped: u64,
    /// Where a torn tail was cut off (file and offset), if one was.
    pub torn: Option<(PathBuf, u64)>,
}

fn io_error(msg: String) -> sled::Error {
    sled::Error::Io(std::io::Error::other(msg))
}

fn digest8(body: &[u8]) -> [u8; 8] {
    let d = Sha256::digest(body);
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

fn file_name(generation: u64) -> String {
    format!("{generation:020}.log")
}

/// Creates the file of `generation`, zero-filled to [`EXTEND_BYTES`] and
/// synced with its directory entry.
fn create(dir: &Path, generation: u64) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(file_name(generation)))?;
    zero_fill(&f, 0, EXTEND_BYTES)?;
    f.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(f)
}

/// Writes `n` zero bytes at `from`.
fn zero_fill(f: &File, from: u64, n: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    const PIECE: usize = 64 << 10;
    let zeros = [0u8; PIECE];
    let mut at = from;
    let end = from + n;
    while at < end {
        let len = usize::try_from((end - at).min(PIECE as u64)).unwrap_or(PIECE);
        f.write_all_at(&zeros[..len], at)?;
        at += len as u64;
    }
    Ok(())
}

/// Journal files in `dir`, oldest first.
fn generations(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if let Ok(g) = stem.parse::<u64>() {
            out.push((g, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// One operation as read back: kind, tree name, key, value (empty for a
/// removal).
type ReadOp<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// Reads one operation from `b` at `*at`.
fn read_op<'a>(b: &'a [u8], at: &mut usize) -> Option<ReadOp<'a>> {
    fn take<'a>(b: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
        let s = b.get(*at..at.checked_add(n)?)?;
        *at += n;
        Some(s)
    }
    fn len32(b: &[u8], at: &mut usize) -> Option<usize> {
        let s = take(b, at, 4)?;
        usize::try_from(u32::from_le_bytes(s.try_into().ok()?)).ok()
    }
    let kind = *take(b, at, 1)?.first()?;
    let name_len = usize::from(*take(b, at, 1)?.first()?);
    let name = take(b, at, name_len)?;
    let key_len = len32(b, at)?;
    let key = take(b, at, key_len)?;
    let value = match kind {
        INSERT => {
            let n = len32(b, at)?;
            take(b, at, n)?
        }
        REMOVE => &[][..],
        _ => return None,
    };
    Some((kind, name, key, value))
}

/// A record's body split into sequence and operations, or `None` if it
/// does not parse.
fn parse_body(body: &[u8]) -> Option<(u64, Vec<ReadOp<'_>>)> {
    let seq = u64::from_le_bytes(body.get(..8)?.try_into().ok()?);
    let count = u16::from_le_bytes(body.get(8..10)?.try_into().ok()?);
    let mut at = 10;
    let mut ops = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        ops.push(read_op(body, &mut at)?);
    }
    (at == body.len()).then_some((seq, ops))
}

/// Splits `bytes` into complete records: (offset, body). Stops at the
/// first incomplete or damaged record and returns its offset too.
fn records(bytes: &[u8]) -> (Vec<(u64, &[u8])>, Option<u64>) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(head) = bytes.get(at..at + HEAD) else {
            return (out, Some(at as u64));
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let Some(body) = bytes.get(at + HEAD..at + HEAD + len) else {
            return (out, Some(at as u64));
        };
        if digest8(body) != head[4..12] {
            return (out, Some(at as u64));
        }
        out.push((at as u64, body));
        at += HEAD + len;
    }
    (out, None)
}

/// Where a record torn by a crash starts, given where the complete
/// records stop: zeros after the last record are the file's unused space;
/// any other bytes there are a torn record.
fn tear_at(bytes: &[u8], stop: Option<u64>) -> Option<u64> {
    stop.filter(|&at| {
        bytes
            .get(usize::try_from(at).unwrap_or(usize::MAX)..)
            .is_some_and(|rest| rest.iter().any(|&b| b != 0))
    })
}

/// The last record sled holds in full: the larger of the `marker` and
/// the last record ending with an audit entry that sled holds with the
/// same bytes. sled keeps a prefix of its writes, so every record up to
/// that one is in it too. Only complete records before the first damaged
/// one count.
fn applied_through(db: &sled::Db, marker: u64, contents: &[Vec<u8>]) -> Result<u64, String> {
    let audit = db.open_tree(AUDIT_TREE).map_err(|e| e.to_string())?;
    let mut applied = marker;
    for bytes in contents {
        let (recs, stop) = records(bytes);
        for (_, body) in recs {
            let Some((seq, ops)) = parse_body(body) else {
                return Ok(applied);
            };
            if seq <= applied {
                continue;
            }
            if let Some(&(kind, name, key, value)) = ops.last()
                && ends_audited(Some((kind, name)))
                && audit
                    .get(key)
                    .map_err(|e| e.to_string())?
                    .is_some_and(|held| held.as_ref() == value)
            {
                applied = seq;
            }
        }
        if tear_at(bytes, stop).is_some() {
            break;
        }
    }
    Ok(applied)
}

impl Journal {
    /// Opens the journal in `dir` for `db`: applies what sled lacks, cuts a
    /// torn tail off (and drops any later file, whose records were never
    /// acknowledged), and goes on writing after the last record.
    pub fn open(dir: &Path, db: &sled::Db) -> Result<(Journal, Replay), String> {
        use std::os::unix::fs::DirBuilderExt as _;
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let meta = db.open_tree("meta").map_err(|e| e.to_string())?;
        let marker = match meta.get(APPLIED).map_err(|e| e.to_string())? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| "the store's journal marker is not 8 bytes".to_string())?,
            ),
            None => 0,
        };
        let files = generations(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let contents = files
            .iter()
            .map(|(_, path)| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display())))
            .collect::<Result<Vec<_>, _>>()?;
        let applied = applied_through(db, marker, &contents)?;
        let mut replay = Replay::default();
        let mut last_seq = applied;
        let mut expected: Option<u64> = None;
        let mut torn_at: Option<usize> = None;
        // Where the last file read ends (its last record) and its size.
        let (mut last_end, mut last_size) = (0u64, 0u64);
        for (i, ((_, path), bytes)) in files.iter().zip(&contents).enumerate() {
            let (recs, stop) = records(bytes);
            last_size = bytes.len() as u64;
            last_end = stop.unwrap_or(last_size);
            let tear = tear_at(bytes, stop);
            for (offset, body) in recs {
                let Some((seq, ops)) = parse_body(body) else {
                    return Err(format!(
                        "journal record at {} offset {offset} has a valid hash but does not parse",
                        path.display()
                    ));
                };
                if let Some(e) = expected
                    && seq != e
                {
                    return Err(format!(
                        "journal sequence jumps from {} to {seq} at {} offset {offset}",
                        e - 1,
                        path.display()
                    ));
                }
                expected = Some(seq + 1);
                last_seq = last_seq.max(seq);
                if seq <= applied {
                    replay.skipped += 1;
                    continue;
                }
                if replay.applied == 0 && seq != applied + 1 {
                    return Err(format!(
                        "the journal resumes at record {seq} but the store holds records up to {applied} only: acknowledged writes are missing; restore the latest backup"
                    ));
                }
                for (kind, name, key, value) in ops {
                    let tree = db.open_tree(name).map_err(|e| e.to_string())?;
                    let r = if kind == INSERT {
                        tree.insert(key, value).map(|_| ())
                    } else {
                        tree.remove(key).map(|_| ())
                    };
                    r.map_err(|e| e.to_string())?;
                }
                meta.insert(APPLIED, &seq.to_be_bytes())
                    .map_err(|e| e.to_string())?;
                replay.applied += 1;
            }
            if let Some(offset) = tear {
                // Everything after a tear was written after the last
                // acknowledged sync of this file: the sync thread syncs a
                // file before it syncs the next one.
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| {
                        f.set_len(offset)?;
                        f.sync_all()
                    })
                    .map_err(|e| format!("cannot cut the torn tail of {}: {e}", path.display()))?;
                replay.torn = Some((path.clone(), offset));
                torn_at = Some(i);
                (last_end, last_size) = (offset, offset);
                break;
            }
        }
        // Every record the journal holds is now in sled, replayed or found
        // there: say so, so that retiring these files later leaves a
        // marker the next journal starts right after.
        if last_seq > marker {
            meta.insert(APPLIED, &last_seq.to_be_bytes())
                .map_err(|e| e.to_string())?;
        }
        if let Some(i) = torn_at {
            for (_, later) in &files[i + 1..] {
                std::fs::remove_file(later)
                    .map_err(|e| format!("cannot remove {}: {e}", later.display()))?;
            }
        }
        // Writing goes on in the last file read, after its last record (a
        // store opened and closed without writes leaves no new file); a
        // new file is made only for a new store.
        let kept = torn_at.unwrap_or(files.len().saturating_sub(1));
        let (generation, file, len, allocated) = match files.get(kept) {
            Some((g, path)) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                (*g, f, last_end, last_size.max(last_end))
            }
            None => {
                let f = create(dir, 1).map_err(|e| format!("{}: {e}", dir.display()))?;
                (1, f, 0, EXTEND_BYTES)
            }
        };
        Ok((
            Journal {
                dir: dir.to_path_buf(),
                meta,
                active: Mutex::new(Active {
                    file: Arc::new(file),
                    generation,
                    len,
                    allocated,
                    next_seq: last_seq + 1,
                    previous: None,
                    buf: Vec::with_capacity(4096),
                }),
                rotating: Mutex::new(()),
                older: std::sync::atomic::AtomicBool::new(kept > 0),
            },
            replay,
        ))
    }

    /// Appends `ops` as one record, then applies them to sled. Returns the
    /// previous value of the key of the last operation.
    pub fn apply(&self, ops: &[Op<'_>]) -> sled::Result<Option<sled::IVec>> {
        let count = u16::try_from(ops.len())
            .map_err(|_| io_error("more than 65,535 writes in one batch".into()))?;
        let mut a = lock(&self.active);
        let seq = a.next_seq;
        let mut buf = std::mem::take(&mut a.buf);
        buf.clear();
        buf.extend_from_slice(&[0u8; HEAD]);
        buf.extend_from_slice(&seq.to_le_bytes());
        buf.extend_from_slice(&count.to_le_bytes());
        for op in ops {
            let (kind, tree, key, value) = match op {
                Op::Insert(t, k, v) => (INSERT, t, k, Some(v)),
                Op::Remove(t, k) => (REMOVE, t, k, None),
            };
            let name = tree.name();
            let name_len = u8::try_from(name.len())
                .map_err(|_| io_error("tree name longer than 255 bytes".into()))?;
            let key_len =
                u32::try_from(key.len()).map_err(|_| io_error("key longer than 4 GiB".into()))?;
            buf.push(kind);
            buf.push(name_len);
            buf.extend_from_slice(&name);
            buf.extend_from_slice(&key_len.to_le_bytes());
            buf.extend_from_slice(key);
            if let Some(v) = value {
                let v_len = u32::try_from(v.len())
                    .map_err(|_| io_error("value longer than 4 GiB".into()))?;
                buf.extend_from_slice(&v_len.to_le_bytes());
                buf.extend_from_slice(v);
            }
        }
        let body_len = u32::try_from(buf.len() - HEAD)
            .map_err(|_| io_error("batch larger than 4 GiB".into()))?;
        let digest = digest8(&buf[HEAD..]);
        buf[..4].copy_from_slice(&body_len.to_le_bytes());
        buf[4..HEAD].copy_from_slice(&digest);
        let record_len = buf.len() as u64;
        let at = a.len;
        if at + record_len > a.allocated {
            let more = EXTEND_BYTES.max(record_len);
            let from = a.allocated;
            if let Err(e) = zero_fill(&a.file, from, more) {
                a.buf = buf;
                return Err(sled::Error::Io(e));
            }
            a.allocated += more;
        }
        // A failed write leaves `len` where it was: the next record
        // overwrites whatever part of this one reached the file.
        let written = std::os::unix::fs::FileExt::write_all_at(&*a.file, &buf, at);
        a.buf = buf;
        written.map_err(sled::Error::Io)?;
        a.len += record_len;
        a.next_seq += 1;
        let mut last = None;
        for op in ops {
            last = match op {
                Op::Insert(t, k, v) => t.insert(k, *v)?,
                Op::Remove(t, k) => t.remove(k)?,
            };
        }
        let tail = ops.last().map(|op| match op {
            Op::Insert(t, _, _) => (INSERT, t.name()),
            Op::Remove(t, _) => (REMOVE, t.name()),
        });
        if !ends_audited(tail.as_ref().map(|(k, n)| (*k, n.as_ref()))) {
            self.meta.insert(APPLIED, &seq.to_be_bytes())?;
        }
        Ok(last)
    }

    /// Makes every record appended before the call durable.
    pub fn sync(&self) -> std::io::Result<()> {
        let (file, previous) = {
            let a = lock(&self.active);
            (a.file.clone(), a.previous.clone())
        };
        if let Some(p) = previous {
            p.sync_data()?;
        }
        file.sync_data()
    }

    /// Bytes appended to the current file.
    pub fn pending(&self) -> u64 {
        lock(&self.active).len
    }

    /// Starts a new file if the current one holds anything; returns the
    /// generation of the new file (or of the current one, if only files
    /// from before the open are left). Files of older generations may be
    /// deleted once sled is flushed and fsynced.
    pub fn rotate(&self) -> std::io::Result<Option<u64>> {
        let _one = lock(&self.rotating);
        let generation = {
            let a = lock(&self.active);
            if a.len == 0 {
                // Nothing new; files left from before the open can go once
                // sled is flushed.
                let older = self.older.swap(false, std::sync::atomic::Ordering::AcqRel);
                return Ok(older.then_some(a.generation));
            }
            a.generation + 1
        };
        let file = Arc::new(create(&self.dir, generation)?);
        let old = {
            let mut a = lock(&self.active);
            // Every record before the new file is applied (under this
            // lock): say so, for when the older files are retired. The
            // checkpoint's flush makes this durable before they are.
            self.meta
                .insert(APPLIED, &(a.next_seq - 1).to_be_bytes())
                .map_err(std::io::Error::other)?;
            let old = std::mem::replace(&mut a.file, file);
            a.generation = generation;
            a.len = 0;
            a.allocated = EXTEND_BYTES;
            a.previous = Some(old.clone());
            old
        };
        old.sync_data()?;
        lock(&self.active).previous = None;
        Ok(Some(generation))
    }

    /// Deletes the files older than generation `below`.
    pub fn retire(&self, below: u64) -> std::io::Result<()> {
        for (g, path) in generations(&self.dir)? {
            if g < below {
                match std::fs::remove_file(path) {
                    // Another checkpoint (the final one at a stop) got there
                    // first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    other => other?,
                }
            }
        }
        Ok(())
    }
}

/// A sled tree whose writes go through the journal. Reads go to sled
/// directly (through `Deref`); writes must use [`Table::insert`] and
/// [`Table::remove`] (or [`Journal::apply`] for a batch), never a sled
/// method reached through `Deref`.
pub struct Table {
    tree: sled::Tree,
    journal: Arc<Journal>,
}

impl Table {
    /// Wraps `tree`.
    pub fn new(tree: sled::Tree, journal: Arc<Journal>) -> Table {
        Table { tree, journal }
    }

    /// Sets `key` to `value`; returns the previous value.
    pub fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> sled::Result<Option<sled::IVec>> {
        self.journal
            .apply(&[Op::Insert(&self.tree, key.as_ref(), value.as_ref())])
    }

    /// Removes `key`; returns the previous value.
    pub fn remove(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<sled::IVec>> {
        self.journal.apply(&[Op::Remove(&self.tree, key.as_ref())])
    }
}

impl std::ops::Deref for Table {
    type Target = sled::Tree;
    fn deref(&self) -> &sled::Tree {
        &self.tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dir: &Path) -> sled::Db {
        sled::Config::new().path(dir).open().unwrap()
    }

    #[test]
    fn records_replay_into_a_store_that_lost_them() {
        let tmp = tempfile::tempdir().unwrap();
        let jdir = tmp.path().join("journal");
        // Write through the journal, then throw sled's unflushed state
        // away by copying the journal into a fresh store.
        {
            let d = db(&tmp.path().join("a"));
            let (j, r) = Journal::open(&jdir, &d).unwrap();
            assert_eq!(r, Replay::default());
            let t = d.open_tree("things").unwrap();
            j.apply(&[Op::Insert(&t, b"k1", b"v1"), Op::Insert(&t, b"k2", b"v2")])
                .unwrap();
            j.apply(&[Op::Remove(&t, b"k1")]).unwrap();
            j.apply(&[Op::Insert(&t, b"k2", b"v3")]).unwrap();
            j.sync().unwrap();
        }
        let d = db(&tmp.path().join("b"));
        let (j, r) = Journal::open(&jdir, &d).unwrap();
        assert_eq!(r.applied, 3);
        assert!(r.torn.is_none());
        let t = d.open_tree("things").unwrap();
        assert!(t.get(b"k1").unwrap().is_none());
        assert_eq!(t.get(b"k2").unwrap().unwrap().as_ref(), b"v3");
        // Sequence numbers continue after the replayed ones.
        assert_eq!(lock(&j.active).next_seq, 4);
    }

    #[test]
    fn what_sled_holds_is_not_replayed_over() {
        let tmp = tempfile::tempdir().unwrap();
        let jdir = tmp.path().join("journal");
        let d = db(&tmp.path().join("a"));
        {
            let (j, _) = Journal::open(&jdir, &d).unwrap();
            let t = d.open_tree("things").unwrap();
            j.apply(&[Op::Insert(&t, b"k", b"old")]).unwrap();
            j.sync().unwrap();
            // A write sled has but the journal lost (a power loss between
            // sled's write-out and the journal's fdatasync).
            t.insert(b"k", b"newer").unwrap();
            d.open_tree("meta")
                .unwrap()
                .insert(APPLIED, &2u64.to_be_bytes())
                .unwrap();
        }
        let (_, r) = Journal::open(&jdir, &d).unwrap();
        assert_eq!((r.applied, r.skipped), (0, 1));
        let t = d.open_tree("things").unwrap();
        assert_eq!(t.get(b"k").unwrap().unwrap().as_ref(), b"newer");
    }

    fn marker(d: &sled::Db) -> Option<u64> {
        d.open_tree("meta")
            .unwrap()
            .get(APPLIED)
            .unwrap()
            .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap()))
    }

    #[test]
    fn audited_batches_write_no_marker_and_are_found_by_their_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let jdir = tmp.path().join("journal");
        {
            let d = db(&tmp.path().join("a"));
            let (j, _) = Journal::open(&jdir, &d).unwrap();
            let (t, a) = (
                d.open_tree("things").unwrap(),
                d.open_tree("audit").unwrap(),
            );
            j.apply(&[Op::Insert(&t, b"k1", b"v1"), Op::Insert(&a, b"1", b"e1")])
                .unwrap();
            j.apply(&[Op::Insert(&t, b"k2", b"v2"), Op::Insert(&a, b"2", b"e2")])
                .unwrap();
            assert_eq!(marker(&d), None, "an audited batch writes no marker");
            j.apply(&[Op::Insert(&t, b"k3", b"v3")]).unwrap();
            assert_eq!(marker(&d), Some(3), "any other batch does");
            j.sync().unwrap();
        }
        // A store that holds the first two records, and a later write the
        // journal lost (sled ahead of the journal, after a power loss):
        // neither record is applied again over it.
        let d = db(&tmp.path().join("b"));
        let (t, a) = (
            d.open_tree("things").unwrap(),
            d.open_tree("audit").unwrap(),
        );
        t.insert(b"k1", b"v1").unwrap();
        a.insert(b"1", b"e1").unwrap();
        t.insert(b"k2", b"v2").unwrap();
        a.insert(b"2", b"e2").unwrap();
        t.insert(b"k1", b"later").unwrap();
        let (_, r) = Journal::open(&jdir, &d).unwrap();
        assert_eq!((r.applied, r.skipped), (1, 2));
        assert_eq!(t.get(b"k1").unwrap().unwrap().as_ref(), b"later");
        assert_eq!(t.get(b"k3").unwrap().unwrap().as_ref(), b"v3");
        assert_eq!(marker(&d), Some(3));
        // An entry with other bytes under the same key proves nothing: a
        // store that holds only that replays everything.
        let d = db(&tmp.path().join("c"));
        d.open_tree("audit")
            .unwrap()
            .insert(b"2", b"other")
            .unwrap();
        let (_, r) = Journal::open(&jdir, &d).unwrap();
        assert_eq!((r.applied, r.skipped), (3, 0));
    }

    #[test]
    fn a_rotation_records_the_marker_that_retired_files_leave_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let jdir = tmp.path().join("journal");
        let d = db(&tmp.path().join("a"));
        {
            let (j, _) = Journal::open(&jdir, &d).unwrap();
            let a = d.open_tree("audit").unwrap();
            for n in 1..=3u8 {
                j.apply(&[Op::Insert(&a, &[n], b"e")]).unwrap();
            }
            assert_eq!(marker(&d), None);
            let next = j.rotate().unwrap().unwrap();
            assert_eq!(marker(&d), Some(3));
            d.flush().unwrap();
            j.retire(next).unwrap();
            j.apply(&[Op::Insert(&a, &[4], b"e")]).unwrap();
            j.sync().unwrap();
        }
        // The journal now starts at record 4, right after the marker.
        let (j, r) = Journal::open(&jdir, &d).unwrap();
        assert_eq!((r.applied, r.skipped), (0, 1));
        assert_eq!(lock(&j.active).next_seq, 5);
        assert_eq!(marker(&d), Some(4), "opening records what it found");
    }

    #[test]
    fn a_torn_tail_is_cut_and_later_files_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let jdir = tmp.path().join("journal");
        {
            let d = db(&tmp.path().join("a"));
            let (j, _) = Journal::open(&jdir, &d).unwrap();
            let t = d.open_tree("things").unwrap();
            j.apply(&[Op::Insert(&t, b"a", b"1")]).unwrap();
            j.apply(&[Op::Insert(&t, b"b", b"2")]).unwrap();
            j.sync().unwrap();
        }
        let files = generations(&jdir).unwrap();
        let (_, first) = &files[0];
        let mut bytes = std::fs::read(first).unwrap();
        // Tear the second record (its last byte never reached the disk)
        // and leave a later file behind it.
        let (recs, end) = records(&bytes);
        assert_eq!(recs.len(), 2);
        assert!(end.is_some(), "the zero-filled rest ends the records");
        let (offset, body) = recs[1];
        let last = offset as usize + HEAD + body.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(first, &bytes).unwrap();
        std::fs::write(jdir.join(file_name(7)), b"later").unwrap();
        let d = db(&tmp.path().join("b"));
        let (_, r) = Journal::open(&jdir, &d).unwrap();
        assert_eq!(r.applied, 1);
        assert!(r.torn.is_some());
        let t = d.open_tree("things").unwrap();
        assert!(t.get(b"a").unwrap().is_some());
        assert!(t.get(b"b").unwrap().is_none());
        assert!(!jdir.join(file_name(7)).exists());
    }

    #[test]
    fn rotation_and_retirement_keep_only_the_current_file() {
        let tmp = tempfile::tempdir().unwrap();
        let jdir = tmp.path().join("journal");
        let d = db(&tmp.path().join("a"));
        let (j, _) = Journal::open(&jdir, &d).unwrap();
        assert_eq!(j.rotate().unwrap(), None, "an empty file is kept");
        let t = d.open_tree("things").unwrap();
        j.apply(&[Op::Insert(&t, b"a", b"1")]).unwrap();
        let g = j.rotate().unwrap().unwrap();
        j.apply(&[Op::Insert(&t, b"b", b"2")]).unwrap();
        d.flush().unwrap();
        j.retire(g).unwrap();
        let left: Vec<u64> = generations(&jdir)
            .unwrap()
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        assert_eq!(left, vec![g]);
        assert!(j.pending() > 0);
    }

    #[test]
    fn records_beyond_the_zero_fill_and_across_files_replay() {
        let tmp = tempfile::tempdir().unwrap();
        let jdir = tmp.path().join("journal");
        let big = vec![7u8; (EXTEND_BYTES + EXTEND_BYTES / 2) as usize];
        {
            let d = db(&tmp.path().join("a"));
            let (j, _) = Journal::open(&jdir, &d).unwrap();
            let t = d.open_tree("things").unwrap();
            j.apply(&[Op::Insert(&t, b"small", b"1")]).unwrap();
            j.apply(&[Op::Insert(&t, b"big", &big)]).unwrap();
            j.rotate().unwrap();
            j.apply(&[Op::Insert(&t, b"after", b"2")]).unwrap();
            j.sync().unwrap();
        }
        let d = db(&tmp.path().join("b"));
        let (_, r) = Journal::open(&jdir, &d).unwrap();
        assert_eq!((r.applied, r.torn), (3, None));
        let t = d.open_tree("things").unwrap();
        assert_eq!(t.get(b"big").unwrap().unwrap().len(), big.len());
        assert!(t.get(b"after").unwrap().is_some());
    }

    #[test]
    fn a_reopened_journal_goes_on_in_its_last_file() {
        let tmp = tempfile::tempdir().unwrap();
        let jdir = tmp.path().join("journal");
        let d = db(&tmp.path().join("a"));
        {
            let (j, _) = Journal::open(&jdir, &d).unwrap();
            let t = d.open_tree("things").unwrap();
            j.apply(&[Op::Insert(&t, b"a", b"1")]).unwrap();
            j.sync().unwrap();
        }
        // An open without writes makes no file.
        drop(Journal::open(&jdir, &d).unwrap());
        let (j, r) = Journal::open(&jdir, &d).unwrap();
        assert_eq!(r.skipped, 1);
        assert_eq!(generations(&jdir).unwrap().len(), 1);
        let t = d.open_tree("things").unwrap();
        j.apply(&[Op::Insert(&t, b"b", b"2")]).unwrap();
        j.sync().unwrap();
        drop(j);
        // Both records read back in order, into a store that lost them.
        let fresh = db(&tmp.path().join("b"));
        let (_, r) = Journal::open(&jdir, &fresh).unwrap();
        assert_eq!((r.applied, r.torn), (2, None));
        let t = fresh.open_tree("things").unwrap();
        assert!(t.get(b"a").unwrap().is_some() && t.get(b"b").unwrap().is_some());
    }

    #[test]
    fn damaged_bytes_never_panic() {
        for n in 0..64u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            let (recs, _) = records(&bytes);
            for (_, body) in recs {
                let _ = parse_body(body);
            }
        }
    }
}
