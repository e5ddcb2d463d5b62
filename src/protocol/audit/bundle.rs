//! Offline verification of an exported audit log: the entries, the log's
//! signed checkpoints and the witnesses' cosignatures on them. Pure: the
//! caller reads the export and supplies the keys.
//!
//! # What is checked, in order
//!
//! 1. Every checkpoint, in the order given (the order the log issued them):
//!    a well-formed note, signed by the log key, of a well-formed
//!    checkpoint of the expected origin; every cosignature line by a known
//!    witness verifies (lines by unknown keys are ignored); sizes never go
//!    down, and two checkpoints of one size have one root.
//! 2. The entries, streamed in order: each is canonical, numbered by its
//!    position and linked to the one before ([`Chain::verify_next`]); its
//!    leaf hash goes into a [`CompactRange`], and at every checkpoint size
//!    the range's root must equal the checkpoint's root.
//! 3. No checkpoint is larger than the number of entries.
//!
//! The first failure in that order is reported, with the entry index and/or
//! the checkpoint index (position in the list given).
//!
//! # How each kind of tampering is told apart
//!
//! Entries carry their own number (`seq`) and the leaf hash of their
//! predecessor (`prev`), so the first entry at which the chain breaks says
//! what happened, at the position `p` where it breaks:
//!
//! | Observation at position `p` | Kind, index |
//! |---|---|
//! | bytes are not a canonical entry, or unknown version or event | [`FailureKind::Malformed`], `p` |
//! | right number, `prev` is not the leaf hash of entry `p-1` | [`FailureKind::Changed`], `p-1`: entry `p-1` is not the one `p` was chained to (at `p = 0`: entry 0's link was changed) |
//! | right number, `prev` is the leaf hash of entry `p-2` | [`FailureKind::Inserted`], `p-1`: entry `p` skips over it |
//! | number `s > p`, and no later entry is number `p` | [`FailureKind::Removed`], `p`: entries `p..s` are gone |
//! | number `s > p`, entry number `p` appears later, number `s` occurs once and its `prev` is the leaf hash of entry number `s-1` | [`FailureKind::Reordered`], `p`: a genuine entry out of place |
//! | number `s > p`, otherwise | [`FailureKind::Inserted`], `p` |
//! | number `s < p`, byte-identical to the entry at `s` | [`FailureKind::Inserted`], `p`: a replayed copy |
//! | number `s < p`, `prev` is the leaf hash of the entry at `s-1` | [`FailureKind::Inserted`], `s`: positions `s..p` were slipped in before the genuine entry `s` |
//! | number `s < p`, otherwise | [`FailureKind::Inserted`], `p`: a reused number |
//! | dated before entry `p-1` | [`FailureKind::BackDated`], `p` |
//! | dated more than `max_lag` before a witness cosigned a checkpoint of size `<= p` | [`FailureKind::BackDated`], `p` |
//!
//! A tamperer who rebuilds the chain (renumbers and relinks every entry
//! after the change) passes the chain checks; the Merkle root at the next
//! checkpoint then differs. The difference lies after the last checkpoint
//! whose root matched (`g`) and before the failing one (`s`): if that is
//! one entry, or if entry `s` does not link to entry `s-1`, it is
//! [`FailureKind::Changed`] at `s-1`; otherwise [`FailureKind::Rewritten`]
//! at `g`, the first entry that may differ. Fewer entries than a signed
//! checkpoint's size is [`FailureKind::Truncated`] at the first missing
//! index: a witness keeps the checkpoints it cosigned, so a log cut back
//! behind a cosigned checkpoint cannot hide it by leaving that checkpoint
//! out of its export.
//!
//! Checkpoint failures: a note that cannot be parsed, or whose text is not a
//! checkpoint, is [`FailureKind::MalformedCheckpoint`]; no valid signature
//! by the log key, or a bad one, is [`FailureKind::ForgedCheckpoint`]; a
//! validly signed checkpoint of another origin is
//! [`FailureKind::WrongOrigin`]; a known witness's cosignature line that
//! does not verify (or a supplied line that is not a signature line) is
//! [`FailureKind::BadCosignature`]; a size below the previous checkpoint's
//! is [`FailureKind::RolledBack`]; the same size with another root is
//! [`FailureKind::Fork`].
//!
//! # What is not detected
//!
//! Entries after the last cosigned checkpoint are protected only by the
//! log's own signature, and a log can re-sign a rewritten tail that no
//! witness has seen ([`Verified::cosigned_size`] says how far the witnessed
//! part goes). A log colluding with all its witnesses, and events never
//! logged, are out of reach. One log key is trusted; key rotation is the
//! caller's to handle by verifying each key's span separately.

use super::merkle::{self, CompactRange, EMPTY_ROOT, Hash, MerkleError};
use super::note::{Checkpoint, NoteError, NoteSignature, Witness, parse_note};
use super::{AuditError, Chain, Entry, Prepared, leaf_hash, prepare};
use crate::protocol::keys::VerifyingKey;

/// One checkpoint as exported: the log's signed note (which may already
/// carry witnesses' signature lines) and any cosignature lines kept apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The signed note.
    pub note: String,
    /// Further cosignature lines, each a note signature line.
    pub cosignatures: Vec<String>,
}

/// What the verifier trusts: the log's identity and key, and the witnesses.
#[derive(Debug, Clone)]
pub struct Trust {
    /// Expected checkpoint origin.
    pub origin: String,
    /// Key name of the log's checkpoint signatures.
    pub log_name: String,
    /// The log's checkpoint keys: its key now and the keys key rotations
    /// replaced (a checkpoint signed by any of them verifies).
    pub log_keys: Vec<VerifyingKey>,
    /// Witnesses whose cosignatures count (typically the peers' keys).
    pub witnesses: Vec<Witness>,
    /// If set, an entry appended after a cosigned checkpoint may be dated at
    /// most this many seconds before the witness's cosignature time: the
    /// longest delay between the log signing a checkpoint and a witness
    /// cosigning it, plus clock skew.
    pub max_lag: Option<u64>,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// An entry is not a canonical entry of the current format.
    Malformed,
    /// An entry's content differs from the one the log committed to.
    Changed,
    /// Entries are missing from the middle of the log.
    Removed,
    /// Entries appear out of order.
    Reordered,
    /// An entry that does not belong was added.
    Inserted,
    /// An entry is dated earlier than it can have been written.
    BackDated,
    /// The log has fewer entries than a signed checkpoint covers.
    Truncated,
    /// The entries chain correctly but differ from a signed checkpoint.
    Rewritten,
    /// A checkpoint note or text that is not well-formed.
    MalformedCheckpoint,
    /// A checkpoint not validly signed by the log key.
    ForgedCheckpoint,
    /// A checkpoint of another log.
    WrongOrigin,
    /// A known witness's cosignature that does not verify.
    BadCosignature,
    /// A checkpoint smaller than the one before it.
    RolledBack,
    /// Two signed checkpoints of the same size with different roots.
    Fork,
}

impl FailureKind {
    /// Stable lower-case code.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureKind::Malformed => "malformed",
            FailureKind::Changed => "changed",
            FailureKind::Removed => "removed",
            FailureKind::Reordered => "reordered",
            FailureKind::Inserted => "inserted",
            FailureKind::BackDated => "back-dated",
            FailureKind::Truncated => "truncated",
            FailureKind::Rewritten => "rewritten",
            FailureKind::MalformedCheckpoint => "malformed-checkpoint",
            FailureKind::ForgedCheckpoint => "forged-checkpoint",
            FailureKind::WrongOrigin => "wrong-origin",
            FailureKind::BadCosignature => "bad-cosignature",
            FailureKind::RolledBack => "rolled-back",
            FailureKind::Fork => "fork",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first failure found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind.
    pub kind: FailureKind,
    /// The entry concerned, by index from 0.
    pub entry: Option<u64>,
    /// The checkpoint concerned, by position in the list given.
    pub checkpoint: Option<usize>,
    /// Plain-words detail.
    pub detail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(e) = self.entry {
            write!(f, " at entry {e}")?;
        }
        if let Some(c) = self.checkpoint {
            write!(f, " (checkpoint {c})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

impl std::error::Error for Failure {}

/// A log that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Chain state after the last entry.
    pub chain: Chain,
    /// Merkle root of all entries.
    pub root: Hash,
    /// Number of checkpoints checked.
    pub checkpoints: usize,
    /// Number of valid cosignatures by known witnesses.
    pub cosignatures: usize,
    /// Largest checkpoint size with at least one valid cosignature: the
    /// entries below it are witnessed, those above only signed by the log.
    pub cosigned_size: u64,
}

fn failure(
    kind: FailureKind,
    entry: Option<u64>,
    checkpoint: Option<usize>,
    detail: impl Into<String>,
) -> Failure {
    Failure {
        kind,
        entry,
        checkpoint,
        detail: detail.into(),
    }
}

/// A checkpoint that passed step 1.
struct Accepted {
    cp: Checkpoint,
    /// Earliest valid cosignature time, if any.
    first_cosigned: Option<u64>,
}

fn check_checkpoints(
    checkpoints: &[SignedCheckpoint],
    trust: &Trust,
) -> Result<(Vec<Accepted>, usize), Failure> {
    let witness_ids: Vec<[u8; 4]> = trust.witnesses.iter().map(Witness::key_id).collect();
    let mut accepted: Vec<Accepted> = Vec::with_capacity(checkpoints.len());
    let mut cosignatures = 0;
    for (k, sc) in checkpoints.iter().enumerate() {
        let at = |kind, detail: String| failure(kind, None, Some(k), detail);
        let note = parse_note(&sc.note)
            .map_err(|e| at(FailureKind::MalformedCheckpoint, e.to_string()))?;
        note.verify_any(&trust.log_name, &trust.log_keys)
            .map_err(|e| at(FailureKind::ForgedCheckpoint, e.to_string()))?;
        let cp = Checkpoint::parse_body(&note.text)
            .map_err(|e| at(FailureKind::MalformedCheckpoint, e.to_string()))?;
        if cp.origin != trust.origin {
            return Err(at(
                FailureKind::WrongOrigin,
                format!("origin {:?}, expected {:?}", cp.origin, trust.origin),
            ));
        }
        if cp.size == 0 && cp.root != EMPTY_ROOT {
            return Err(at(
                FailureKind::MalformedCheckpoint,
                "a tree of no leaves must have the empty root".into(),
            ));
        }
        let mut extra = Vec::with_capacity(sc.cosignatures.len());
        for (j, line) in sc.cosignatures.iter().enumerate() {
            let sig = NoteSignature::parse(line).map_err(|e| {
                at(
                    FailureKind::BadCosignature,
                    format!("cosignature line {j}: {e}"),
                )
            })?;
            extra.push(sig);
        }
        let mut first_cosigned: Option<u64> = None;
        for sig in note.signatures.iter().chain(&extra) {
            for (w, id) in trust.witnesses.iter().zip(&witness_ids) {
                if sig.name != w.name || sig.key_id != *id {
                    continue;
                }
                let time = w.verify(&cp, sig).map_err(|e: NoteError| {
                    at(
                        FailureKind::BadCosignature,
                        format!("witness {}: {e}", w.name),
                    )
                })?;
                first_cosigned = Some(first_cosigned.map_or(time, |t| t.min(time)));
                cosignatures += 1;
            }
        }
        if let Some(prev) = accepted.last() {
            if cp.size < prev.cp.size {
                return Err(at(
                    FailureKind::RolledBack,
                    format!(
                        "size {} after a checkpoint of size {}",
                        cp.size, prev.cp.size
                    ),
                ));
            }
            if cp.size == prev.cp.size && cp.root != prev.cp.root {
                return Err(at(
                    FailureKind::Fork,
                    format!("a second root for size {} (checkpoint {})", cp.size, k - 1),
                ));
            }
        }
        accepted.push(Accepted { cp, first_cosigned });
    }
    Ok((accepted, cosignatures))
}

fn decode(bytes: &[u8]) -> Option<Entry> {
    ciborium::from_reader(bytes).ok()
}

fn prev_of(bytes: &[u8]) -> Option<Vec<u8>> {
    decode(bytes).map(|e| e.prev.into_vec())
}

/// Names the tampering behind a chain error at position `chain.size`;
/// `before` is the leaf hash of the entry before the last one verified
/// (zeros when there is none).
fn classify<E: AsRef<[u8]>>(
    entries: &[E],
    chain: &Chain,
    before: &Hash,
    err: AuditError,
) -> Failure {
    let p = chain.size;
    let at = |kind, entry: u64, detail: String| failure(kind, Some(entry), None, detail);
    let bytes = |i: u64| -> &[u8] {
        usize::try_from(i)
            .ok()
            .and_then(|i| entries.get(i))
            .map_or(&[][..], |e| e.as_ref())
    };
    match err {
        AuditError::Malformed(_, why) => at(FailureKind::Malformed, p, why),
        AuditError::UnknownEvent(_, event) => at(
            FailureKind::Malformed,
            p,
            format!("unknown event {event:?}"),
        ),
        AuditError::Encode(why) => at(FailureKind::Malformed, p, why),
        AuditError::Time(_) => at(
            FailureKind::BackDated,
            p,
            format!("entry {p} is dated before the entry before it"),
        ),
        AuditError::Link(_) => {
            if p == 0 {
                return at(
                    FailureKind::Changed,
                    0,
                    "the first entry's link is not all zeros".into(),
                );
            }
            if prev_of(bytes(p)).as_deref() == Some(&before[..]) {
                return at(
                    FailureKind::Inserted,
                    p - 1,
                    format!("entry {p} links past entry {}, which was slipped in", p - 1),
                );
            }
            at(
                FailureKind::Changed,
                p - 1,
                format!(
                    "entry {} is not the entry that entry {p} was chained to",
                    p - 1
                ),
            )
        }
        AuditError::Sequence { seq, .. } if seq < p => {
            let here = bytes(p);
            if bytes(seq) == here {
                return at(
                    FailureKind::Inserted,
                    p,
                    format!("entry {p} is a copy of entry {seq}"),
                );
            }
            let before_seq = match seq.checked_sub(1) {
                Some(i) => leaf_hash(bytes(i)),
                None => [0; 32],
            };
            if prev_of(here).as_deref() == Some(&before_seq[..]) {
                return at(
                    FailureKind::Inserted,
                    seq,
                    format!(
                        "entries {seq} to {} were slipped in before the genuine entry {seq}, now at {p}",
                        p - 1
                    ),
                );
            }
            at(
                FailureKind::Inserted,
                p,
                format!("entry {p} reuses number {seq}"),
            )
        }
        AuditError::Sequence { seq, .. } => {
            // seq > p: find where number p went, how often number `seq`
            // occurs, and the leaf hash of entry number `seq - 1`.
            let mut found = None;
            let mut copies = 1u64;
            let mut pred = None;
            for (q, e) in entries.iter().enumerate().skip(p as usize + 1) {
                let Some(entry) = decode(e.as_ref()) else {
                    continue;
                };
                if entry.seq == p && found.is_none() {
                    found = Some(q as u64);
                }
                if entry.seq == seq {
                    copies += 1;
                }
                if entry.seq.checked_add(1) == Some(seq) && pred.is_none() {
                    pred = Some(leaf_hash(e.as_ref()));
                }
            }
            match found {
                None if seq == p + 1 => at(
                    FailureKind::Removed,
                    p,
                    format!("entry {p} is missing (the entry here is number {seq})"),
                ),
                None => at(
                    FailureKind::Removed,
                    p,
                    format!(
                        "entries {p} to {} are missing (the entry here is number {seq})",
                        seq - 1
                    ),
                ),
                Some(q) => {
                    let linked = pred.is_some_and(|h| prev_of(bytes(p)).as_deref() == Some(&h[..]));
                    if copies == 1 && linked {
                        at(
                            FailureKind::Reordered,
                            p,
                            format!("entry {seq} is at position {p}, entry {p} at position {q}"),
                        )
                    } else {
                        at(
                            FailureKind::Inserted,
                            p,
                            format!(
                                "entry {p} (numbered {seq}) does not belong; entry {p} follows at position {q}"
                            ),
                        )
                    }
                }
            }
        }
    }
}

/// Verifies an exported log: `entries` in order, `checkpoints` in the order
/// the log issued them, against `trust`. See the module documentation for
/// what is checked and how failures are named. Memory beyond the inputs is
/// O(log n) for the tree and O(number of checkpoints).
///
/// The work on each entry that does not depend on the ones before it
/// (decoding, the canonical check, the leaf hash) runs on every core the
/// machine offers, a batch of entries at a time and at most two batches
/// ahead of the chain checks, which follow in order on the calling thread.
pub fn verify_bundle<E: AsRef<[u8]> + Sync>(
    entries: &[E],
    checkpoints: &[SignedCheckpoint],
    trust: &Trust,
) -> Result<Verified, Failure> {
    let (accepted, cosignatures) = check_checkpoints(checkpoints, trust)?;
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    if workers < 2 || entries.len() < 2 * BATCH {
        return verify_entries(
            entries,
            &accepted,
            cosignatures,
            trust,
            entries.iter().map(|e| prepare(e.as_ref())),
        );
    }
    std::thread::scope(|scope| {
        let mut batches = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Prepared<'_>>>(1);
            batches.push(rx);
            scope.spawn(move || {
                for chunk in entries.chunks(BATCH).skip(w).step_by(workers) {
                    let batch = chunk.iter().map(|e| prepare(e.as_ref())).collect();
                    if tx.send(batch).is_err() {
                        // The checks stopped at a failure.
                        break;
                    }
                }
            });
        }
        // Batch b comes from worker b % workers, so taking one batch from
        // each in turn yields the entries in order.
        let in_order = (0..)
            .map_while(|b| batches[b % workers].recv().ok())
            .flatten();
        verify_entries(entries, &accepted, cosignatures, trust, in_order)
    })
}

/// Entries per batch handed to a worker thread by [`verify_bundle`].
const BATCH: usize = 4096;

/// Step 2 and 3 of the verification, with `prepared` giving [`prepare`]
/// of each entry in order.
fn verify_entries<'a, E: AsRef<[u8]>>(
    entries: &'a [E],
    accepted: &[Accepted],
    cosignatures: usize,
    trust: &Trust,
    mut prepared: impl Iterator<Item = Prepared<'a>>,
) -> Result<Verified, Failure> {
    let lag = trust.max_lag.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
    let n = entries.len() as u64;
    let mut chain = Chain::empty();
    let mut before = [0u8; 32];
    let mut tree = CompactRange::new();
    let mut next = 0usize;
    // Size of the last checkpoint whose root matched.
    let mut good = 0u64;
    // Earliest date allowed from here on, and the checkpoint it comes from.
    let mut floor: Option<(i64, usize)> = None;
    for (i, bytes) in entries
        .iter()
        .map(|e| e.as_ref())
        .chain(std::iter::once(&[][..]))
        .enumerate()
    {
        let i = i as u64;
        while let Some(a) = accepted.get(next)
            && a.cp.size == i
        {
            if tree.root() != a.cp.root {
                return Err(root_mismatch(entries, &chain, &before, good, next));
            }
            good = i;
            if let (Some(lag), Some(t)) = (lag, a.first_cosigned) {
                let earliest = i64::try_from(t).unwrap_or(i64::MAX).saturating_sub(lag);
                if floor.is_none_or(|(f, _)| earliest > f) {
                    floor = Some((earliest, next));
                }
            }
            next += 1;
        }
        if i == n {
            break;
        }
        // (The workers never stop short while this runs; if one did, the
        // entry is prepared here instead.)
        let prepared = prepared.next().unwrap_or_else(|| prepare(bytes));
        let (time, after) = chain
            .verify_prepared(bytes, &prepared)
            .map_err(|e| classify(entries, &chain, &before, e))?;
        if let Some((earliest, k)) = floor
            && time < earliest
        {
            return Err(failure(
                FailureKind::BackDated,
                Some(i),
                Some(k),
                format!(
                    "entry {i} is dated {time}, more than the allowed lag before checkpoint {k} was cosigned"
                ),
            ));
        }
        tree.append(after.head);
        before = chain.head;
        chain = after;
    }
    if let Some(a) = accepted.get(next) {
        let witnessed = if a.first_cosigned.is_some() {
            "cosigned"
        } else {
            "signed"
        };
        return Err(failure(
            FailureKind::Truncated,
            Some(n),
            Some(next),
            format!(
                "a {witnessed} checkpoint covers {} entries, only {n} are present",
                a.cp.size
            ),
        ));
    }
    let cosigned_size = accepted
        .iter()
        .filter(|a| a.first_cosigned.is_some())
        .map(|a| a.cp.size)
        .max()
        .unwrap_or(0);
    Ok(Verified {
        chain,
        root: tree.root(),
        checkpoints: accepted.len(),
        cosignatures,
        cosigned_size,
    })
}

/// The failure when the entries before `chain.size` chain correctly but do
/// not have checkpoint `k`'s root; `good` is the size of the last
/// checkpoint that matched, so the difference lies in `good..chain.size`.
/// If the next entry breaks the chain in a way that names an entry in that
/// window, that is the more precise answer.
fn root_mismatch<E: AsRef<[u8]>>(
    entries: &[E],
    chain: &Chain,
    before: &Hash,
    good: u64,
    k: usize,
) -> Failure {
    let s = chain.size;
    if let Some(e) = usize::try_from(s).ok().and_then(|i| entries.get(i))
        && let Err(err) = chain.verify_next(e.as_ref())
    {
        let f = classify(entries, chain, before, err);
        if f.entry.is_some_and(|i| (good..s).contains(&i)) {
            return Failure {
                checkpoint: Some(k),
                ..f
            };
        }
    }
    if s == good + 1 {
        return failure(
            FailureKind::Changed,
            Some(s - 1),
            Some(k),
            format!("entry {} is not the entry checkpoint {k} signed", s - 1),
        );
    }
    failure(
        FailureKind::Rewritten,
        Some(good),
        Some(k),
        format!(
            "entries {good} to {} chain correctly but are not the ones checkpoint {k} signed",
            s.saturating_sub(1)
        ),
    )
}

/// Why two checkpoints of one log are a fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForkEvidence {
    /// Same size, different roots.
    SameSizeDifferentRoots,
    /// The consistency proof from the smaller to the larger fails.
    Inconsistent(MerkleError),
}

/// What two checkpoints say about each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForkVerdict {
    /// One is a prefix of the other (or they are the same tree head).
    Consistent,
    /// Two histories.
    Fork(ForkEvidence),
    /// Different sizes and no proof to relate them.
    NeedProof,
    /// Different origins: not the same log.
    DifferentLogs,
}

/// Compares two checkpoints of a log, both already verified with
/// [`super::note::verify_checkpoint`] (this function checks no signature).
/// `proof` is the consistency proof from the smaller to the larger. Equal
/// sizes with different roots are a fork outright. Different sizes are a
/// fork when the proof fails: conclusive when the proof is the log's own
/// answer (an honest log can always produce a valid one); a proof damaged
/// in transit looks the same, so ask the log again before accusing it.
pub fn detect_fork(a: &Checkpoint, b: &Checkpoint, proof: Option<&[Hash]>) -> ForkVerdict {
    if a.origin != b.origin {
        return ForkVerdict::DifferentLogs;
    }
    let (old, new) = if a.size <= b.size { (a, b) } else { (b, a) };
    if old.size == new.size {
        return if old.root == new.root {
            ForkVerdict::Consistent
        } else {
            ForkVerdict::Fork(ForkEvidence::SameSizeDifferentRoots)
        };
    }
    let proof = match (old.size, proof) {
        (0, _) => &[][..],
        (_, Some(p)) => p,
        (_, None) => return ForkVerdict::NeedProof,
    };
    match merkle::verify_consistency(old.size, new.size, &old.root, &new.root, proof) {
        Ok(()) => ForkVerdict::Consistent,
        Err(e) => ForkVerdict::Fork(ForkEvidence::Inconsistent(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::audit::merkle::{consistency_proof, root};
    use crate::protocol::audit::note::{cosign, sign_checkpoint};
    use crate::protocol::audit::{Event, Record};
    use crate::protocol::keys::SigningKey;
    use crate::protocol::wire::canonical_cbor;
    use proptest::prelude::*;

    const ORIGIN: &str = "nfp.example/GR/audit";
    const WITNESS: &str = "nfp.example/AL/witness";

    fn log_sk() -> SigningKey {
        SigningKey::from_seed(&[1; 32])
    }

    fn wit_sk() -> SigningKey {
        SigningKey::from_seed(&[2; 32])
    }

    fn trust() -> Trust {
        Trust {
            origin: ORIGIN.into(),
            log_name: ORIGIN.into(),
            log_keys: vec![log_sk().verifying_key()],
            witnesses: vec![Witness {
                name: WITNESS.into(),
                key: wit_sk().verifying_key(),
            }],
            max_lag: None,
        }
    }

    fn trail_at(times: impl IntoIterator<Item = i64>) -> Vec<Vec<u8>> {
        let mut chain = Chain::empty();
        let mut out = Vec::new();
        for (i, t) in times.into_iter().enumerate() {
            let rec = Record {
                peer: Some("AL".parse().unwrap()),
                detail: Some(format!("d{i}")),
                ..Record::default()
            };
            let (_, bytes, next) = chain.append(Event::MessageDelivered, rec, t).unwrap();
            out.push(bytes);
            chain = next;
        }
        out
    }

    fn trail(n: usize) -> Vec<Vec<u8>> {
        trail_at((0..n as i64).map(|i| 1000 + i))
    }

    fn checkpoint(entries: &[Vec<u8>], size: usize) -> Checkpoint {
        let leaves: Vec<Hash> = entries[..size].iter().map(|e| leaf_hash(e)).collect();
        Checkpoint {
            origin: ORIGIN.into(),
            size: size as u64,
            root: root(&leaves),
        }
    }

    fn signed(cp: &Checkpoint, cosigned_at: Option<u64>) -> SignedCheckpoint {
        SignedCheckpoint {
            note: sign_checkpoint(cp, ORIGIN, &log_sk()).unwrap(),
            cosignatures: cosigned_at
                .map(|t| cosign(cp, WITNESS, &wit_sk(), t).unwrap())
                .into_iter()
                .collect(),
        }
    }

    /// Checkpoints of the honest log at `sizes`, cosigned at 1_000_000.
    fn checkpoints(entries: &[Vec<u8>], sizes: &[usize]) -> Vec<SignedCheckpoint> {
        sizes
            .iter()
            .map(|&s| signed(&checkpoint(entries, s), Some(1_000_000)))
            .collect()
    }

    fn edit(bytes: &[u8], f: impl FnOnce(&mut Entry)) -> Vec<u8> {
        let mut e: Entry = ciborium::from_reader(bytes).unwrap();
        f(&mut e);
        canonical_cbor(&e).unwrap()
    }

    /// What a tamperer who rebuilds the chain does: renumber and relink
    /// every entry from `from` on.
    fn rechain(entries: &mut [Vec<u8>], from: usize) {
        for i in from..entries.len() {
            let prev = if i == 0 {
                [0; 32]
            } else {
                leaf_hash(&entries[i - 1])
            };
            entries[i] = edit(&entries[i], |e| {
                e.seq = i as u64;
                e.prev = serde_bytes::ByteBuf::from(prev.to_vec());
            });
        }
    }

    fn check(entries: &[Vec<u8>], cps: &[SignedCheckpoint]) -> Result<Verified, Failure> {
        verify_bundle(entries, cps, &trust())
    }

    fn kind_at(r: Result<Verified, Failure>) -> (FailureKind, Option<u64>, Option<usize>) {
        let f = r.unwrap_err();
        assert!(!f.detail.is_empty());
        (f.kind, f.entry, f.checkpoint)
    }

    use FailureKind as K;

    #[test]
    fn an_honest_log_verifies() {
        let t = trail(20);
        let mut cps = checkpoints(&t, &[0, 5, 12]);
        cps.push(signed(&checkpoint(&t, 20), None));
        let v = check(&t, &cps).unwrap();
        assert_eq!(v.chain.size, 20);
        assert_eq!(v.chain.head, leaf_hash(&t[19]));
        let leaves: Vec<Hash> = t.iter().map(|e| leaf_hash(e)).collect();
        assert_eq!(v.root, root(&leaves));
        assert_eq!((v.checkpoints, v.cosignatures, v.cosigned_size), (4, 3, 12));
        // Cosignature lines may also sit inside the note.
        let cp = checkpoint(&t, 12);
        let inline = SignedCheckpoint {
            note: sign_checkpoint(&cp, ORIGIN, &log_sk()).unwrap()
                + &cosign(&cp, WITNESS, &wit_sk(), 7).unwrap(),
            cosignatures: vec![],
        };
        let v = check(&t, &[inline]).unwrap();
        assert_eq!((v.cosignatures, v.cosigned_size), (1, 12));
        // No checkpoints at all: the chain alone.
        assert_eq!(check(&t, &[]).unwrap().cosigned_size, 0);
        assert_eq!(check(&Vec::<Vec<u8>>::new(), &[]).unwrap().root, EMPTY_ROOT);
    }

    #[test]
    fn a_changed_entry() {
        let t = trail(20);
        let cps = checkpoints(&t, &[5, 12]);
        let mut bad = t.clone();
        bad[3] = edit(&bad[3], |e| e.detail = Some("other".into()));
        assert_eq!(kind_at(check(&bad, &cps)), (K::Changed, Some(3), None));
        // The last entry before a checkpoint: caught by its root.
        let mut bad = t.clone();
        bad[11] = edit(&bad[11], |e| e.detail = Some("other".into()));
        assert_eq!(kind_at(check(&bad, &cps)), (K::Changed, Some(11), Some(1)));
        // The first entry's link.
        let mut bad = t.clone();
        bad[0] = edit(&bad[0], |e| {
            e.prev = serde_bytes::ByteBuf::from(vec![1; 32])
        });
        assert_eq!(kind_at(check(&bad, &cps)), (K::Changed, Some(0), None));
        // Changed and the chain rebuilt after it: the next checkpoint's
        // root catches it, and names the window after the last good one.
        let mut bad = t.clone();
        bad[7] = edit(&bad[7], |e| e.detail = Some("other".into()));
        rechain(&mut bad, 8);
        assert_eq!(kind_at(check(&bad, &cps)), (K::Rewritten, Some(5), Some(1)));
        // ... or the entry itself when the window is one entry.
        let cps1 = checkpoints(&t, &[7, 8]);
        assert_eq!(kind_at(check(&bad, &cps1)), (K::Changed, Some(7), Some(1)));
    }

    #[test]
    fn a_deleted_entry() {
        let t = trail(20);
        let cps = checkpoints(&t, &[5, 12]);
        let mut bad = t.clone();
        bad.remove(3);
        assert_eq!(kind_at(check(&bad, &cps)), (K::Removed, Some(3), None));
        let mut bad = t.clone();
        bad.drain(6..9);
        assert_eq!(kind_at(check(&bad, &cps)), (K::Removed, Some(6), None));
        // Deleted and the chain rebuilt: the checkpoint root catches it.
        let mut bad = t.clone();
        bad.remove(8);
        rechain(&mut bad, 8);
        assert_eq!(kind_at(check(&bad, &cps)), (K::Rewritten, Some(5), Some(1)));
    }

    #[test]
    fn two_swapped_entries() {
        let t = trail(20);
        let cps = checkpoints(&t, &[5, 12]);
        let mut bad = t.clone();
        bad.swap(2, 3);
        assert_eq!(kind_at(check(&bad, &cps)), (K::Reordered, Some(2), None));
        let mut bad = t.clone();
        bad.swap(6, 10);
        assert_eq!(kind_at(check(&bad, &cps)), (K::Reordered, Some(6), None));
        // Moved from later to earlier.
        let mut bad = t.clone();
        let e = bad.remove(15);
        bad.insert(9, e);
        assert_eq!(kind_at(check(&bad, &cps)), (K::Reordered, Some(9), None));
    }

    #[test]
    fn an_inserted_entry() {
        let t = trail(20);
        let cps = checkpoints(&t, &[5, 12]);
        // A replayed copy.
        let mut bad = t.clone();
        bad.insert(6, t[2].clone());
        assert_eq!(kind_at(check(&bad, &cps)), (K::Inserted, Some(6), None));
        // A forged entry numbered and linked to fit at 4.
        let forged = edit(&t[4], |e| e.detail = Some("forged".into()));
        let mut bad = t.clone();
        bad.insert(4, forged.clone());
        // (Found where the checkpoint at 5 fails, from the entry after it.)
        assert_eq!(kind_at(check(&bad, &cps)), (K::Inserted, Some(4), Some(0)));
        assert_eq!(kind_at(check(&bad, &[])), (K::Inserted, Some(4), None));
        // ... with the entries after it renumbered but not relinked.
        let mut renumbered = bad.clone();
        for (i, e) in renumbered.iter_mut().enumerate().skip(5) {
            *e = edit(e, |x| x.seq = i as u64);
        }
        assert_eq!(
            kind_at(check(&renumbered, &cps)),
            (K::Inserted, Some(4), Some(0))
        );
        assert_eq!(
            kind_at(check(&renumbered, &[])),
            (K::Inserted, Some(4), None)
        );
        // A stray number.
        let mut bad = t.clone();
        bad.insert(8, edit(&t[8], |e| e.seq = 500));
        assert_eq!(kind_at(check(&bad, &cps)), (K::Inserted, Some(8), None));
        // Inserted, plausibly dated, and the chain rebuilt.
        let mut bad = t.clone();
        bad.insert(9, edit(&t[8], |e| e.detail = Some("forged".into())));
        rechain(&mut bad, 9);
        assert_eq!(kind_at(check(&bad, &cps)), (K::Rewritten, Some(5), Some(1)));
    }

    #[test]
    fn truncated_behind_a_cosigned_checkpoint() {
        let t = trail(20);
        let cps = checkpoints(&t, &[5, 12]);
        let f = check(&t[..10], &cps).unwrap_err();
        assert_eq!(
            (f.kind, f.entry, f.checkpoint),
            (K::Truncated, Some(10), Some(1))
        );
        assert!(f.detail.contains("cosigned"), "{f}");
        // Cut back and regrown past the checkpoint: rewritten.
        let mut regrown = t[..10].to_vec();
        regrown.extend(trail_at((0..6).map(|i| 5000 + i)).into_iter().take(6));
        rechain(&mut regrown, 10);
        assert_eq!(
            kind_at(check(&regrown, &cps)),
            (K::Rewritten, Some(5), Some(1))
        );
        // Truncation behind the log's own, uncosigned checkpoint too.
        let own = vec![signed(&checkpoint(&t, 12), None)];
        assert_eq!(
            kind_at(check(&t[..12 - 1], &own)),
            (K::Truncated, Some(11), Some(0))
        );
        // Truncation after the last checkpoint is not detectable.
        assert!(check(&t[..13], &cps).is_ok());
    }

    #[test]
    fn a_back_dated_entry() {
        let t = trail(20);
        let cps = checkpoints(&t, &[5, 12]);
        let mut bad = t.clone();
        bad[4] = edit(&bad[4], |e| e.time = 10);
        assert_eq!(kind_at(check(&bad, &cps)), (K::BackDated, Some(4), None));
        // Back-dated with the chain rebuilt, so that times stay ordered:
        // every entry from 8 on is dated long before a witness cosigned
        // the checkpoint at 8.
        let times = (0..8).map(|i| 1_000 + i).chain((8..20).map(|i| 2_000 + i));
        let old = trail_at(times);
        let cps = vec![
            signed(&checkpoint(&old, 8), Some(100_000)),
            signed(&checkpoint(&old, 15), Some(100_200)),
        ];
        assert!(check(&old, &cps).is_ok(), "no lag policy: accepted");
        let strict = Trust {
            max_lag: Some(3_600),
            ..trust()
        };
        let f = verify_bundle(&old, &cps, &strict).unwrap_err();
        assert_eq!(
            (f.kind, f.entry, f.checkpoint),
            (K::BackDated, Some(8), Some(0))
        );
        // Dated within the lag: fine.
        let honest = trail_at((0..8).map(|i| 1_000 + i).chain((8..20).map(|i| 99_000 + i)));
        let cps = vec![signed(&checkpoint(&honest, 8), Some(100_000))];
        assert!(verify_bundle(&honest, &cps, &strict).is_ok());
    }

    #[test]
    fn a_forged_checkpoint() {
        let t = trail(20);
        let mut cps = checkpoints(&t, &[5, 12]);
        // Signed by another key under the log's name.
        let cp = checkpoint(&t, 12);
        cps[1].note = sign_checkpoint(&cp, ORIGIN, &SigningKey::from_seed(&[9; 32])).unwrap();
        assert_eq!(
            kind_at(check(&t, &cps)),
            (K::ForgedCheckpoint, None, Some(1))
        );
        // A genuine note with its size edited.
        let mut cps = checkpoints(&t, &[5, 12]);
        cps[0].note = cps[0].note.replacen("\n5\n", "\n6\n", 1);
        assert_eq!(
            kind_at(check(&t, &cps)),
            (K::ForgedCheckpoint, None, Some(0))
        );
        // Not a note at all.
        cps[0].note = "hello".into();
        assert_eq!(
            kind_at(check(&t, &cps)),
            (K::MalformedCheckpoint, None, Some(0))
        );
        // Another log's checkpoint, validly signed.
        let mut other = checkpoint(&t, 5);
        other.origin = "nfp.example/IT/audit".into();
        let cps = vec![signed(&other, None)];
        assert_eq!(kind_at(check(&t, &cps)), (K::WrongOrigin, None, Some(0)));
        // An empty tree with a root.
        let mut empty = checkpoint(&t, 0);
        empty.root = [1; 32];
        assert_eq!(
            kind_at(check(&t, &[signed(&empty, None)])),
            (K::MalformedCheckpoint, None, Some(0))
        );
    }

    #[test]
    fn bad_cosignatures() {
        let t = trail(20);
        let mut cps = checkpoints(&t, &[5, 12]);
        // A witness's cosignature of another checkpoint.
        cps[1].cosignatures = vec![cosign(&checkpoint(&t, 11), WITNESS, &wit_sk(), 5).unwrap()];
        assert_eq!(kind_at(check(&t, &cps)), (K::BadCosignature, None, Some(1)));
        // A line that is not a signature line.
        cps[1].cosignatures = vec!["witness says ok".into()];
        assert_eq!(kind_at(check(&t, &cps)), (K::BadCosignature, None, Some(1)));
        // Lines by unknown witnesses are ignored and do not count.
        let stranger = SigningKey::from_seed(&[7; 32]);
        cps[1].cosignatures = vec![
            cosign(&checkpoint(&t, 12), "nfp.example/XX/witness", &stranger, 5).unwrap(),
            cosign(&checkpoint(&t, 12), WITNESS, &stranger, 5).unwrap(),
        ];
        let v = check(&t, &cps).unwrap();
        assert_eq!((v.cosignatures, v.cosigned_size), (1, 5));
    }

    #[test]
    fn forks_and_rollbacks_between_checkpoints() {
        let t = trail(20);
        let mut other = t.clone();
        other[10] = edit(&other[10], |e| e.detail = Some("other".into()));
        rechain(&mut other, 11);
        let cps = vec![
            signed(&checkpoint(&t, 12), Some(1)),
            signed(&checkpoint(&other, 12), Some(2)),
        ];
        assert_eq!(kind_at(check(&t, &cps)), (K::Fork, None, Some(1)));
        let cps = checkpoints(&t, &[12, 8]);
        assert_eq!(kind_at(check(&t, &cps)), (K::RolledBack, None, Some(1)));
        // The same checkpoint twice is fine.
        assert!(check(&t, &checkpoints(&t, &[12, 12])).is_ok());
    }

    #[test]
    fn malformed_entries() {
        let t = trail(10);
        let mut bad = t.clone();
        bad[6] = vec![0xff, 0x00];
        assert_eq!(kind_at(check(&bad, &[])), (K::Malformed, Some(6), None));
        let mut bad = t.clone();
        bad[2] = edit(&bad[2], |e| e.event = "made-up".into());
        assert_eq!(kind_at(check(&bad, &[])), (K::Malformed, Some(2), None));
    }

    #[test]
    fn failures_read_well() {
        let t = trail(10);
        let mut bad = t.clone();
        bad.remove(3);
        let f = check(&bad, &[]).unwrap_err();
        assert_eq!(
            f.to_string(),
            "removed at entry 3: entry 3 is missing (the entry here is number 4)"
        );
    }

    #[test]
    fn forks_between_two_checkpoints() {
        let t = trail(20);
        let leaves: Vec<Hash> = t.iter().map(|e| leaf_hash(e)).collect();
        let a = checkpoint(&t, 8);
        let b = checkpoint(&t, 20);
        let proof = consistency_proof(&leaves, 8).unwrap();
        assert_eq!(detect_fork(&a, &b, Some(&proof)), ForkVerdict::Consistent);
        assert_eq!(detect_fork(&b, &a, Some(&proof)), ForkVerdict::Consistent);
        assert_eq!(detect_fork(&a, &b, None), ForkVerdict::NeedProof);
        assert_eq!(detect_fork(&a, &a.clone(), None), ForkVerdict::Consistent);
        let mut c = a.clone();
        c.root[0] ^= 1;
        assert_eq!(
            detect_fork(&a, &c, None),
            ForkVerdict::Fork(ForkEvidence::SameSizeDifferentRoots)
        );
        assert!(matches!(
            detect_fork(&c, &b, Some(&proof)),
            ForkVerdict::Fork(ForkEvidence::Inconsistent(_))
        ));
        let mut d = b.clone();
        d.origin = "elsewhere".into();
        assert_eq!(
            detect_fork(&a, &d, Some(&proof)),
            ForkVerdict::DifferentLogs
        );
        let empty = checkpoint(&t, 0);
        assert_eq!(detect_fork(&empty, &b, None), ForkVerdict::Consistent);
    }

    /// [`verify_bundle`] without worker threads.
    fn in_one_thread(entries: &[Vec<u8>], cps: &[SignedCheckpoint]) -> Result<Verified, Failure> {
        let (accepted, cosignatures) = check_checkpoints(cps, &trust())?;
        let prepared = entries.iter().map(|e| prepare(e));
        verify_entries(entries, &accepted, cosignatures, &trust(), prepared)
    }

    #[test]
    fn worker_threads_change_no_verdict() {
        let n = 2 * BATCH + BATCH / 2 + 3;
        let t = trail(n);
        let cps = checkpoints(&t, &[1_000, BATCH, 2 * BATCH + 7]);
        let mut cases = vec![t.clone()];
        let mut bad = t.clone();
        bad.remove(BATCH + 1);
        cases.push(bad);
        let mut bad = t.clone();
        bad.swap(2 * BATCH - 1, 2 * BATCH);
        cases.push(bad);
        let mut bad = t.clone();
        bad[2 * BATCH + 1] = edit(&bad[2 * BATCH + 1], |e| e.detail = Some("x".into()));
        cases.push(bad);
        let mut bad = t.clone();
        bad[n - 2] = vec![0xa1, 0x61];
        cases.push(bad);
        let mut bad = t.clone();
        bad[BATCH + 3] = edit(&bad[BATCH + 3], |e| e.detail = Some("x".into()));
        rechain(&mut bad, BATCH + 4);
        cases.push(bad);
        cases.push(t[..2 * BATCH].to_vec());
        for (k, case) in cases.iter().enumerate() {
            let threaded = check(case, &cps);
            assert_eq!(threaded, in_one_thread(case, &cps), "case {k}");
            assert_eq!(threaded.is_ok(), k == 0, "case {k}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn single_tamperings_are_named_at_their_index(
            n in 4usize..40,
            a in any::<prop::sample::Index>(),
            b in any::<prop::sample::Index>(),
            op in 0u8..4,
        ) {
            let t = trail(n);
            let cps = checkpoints(&t, &[n / 2, n]);
            prop_assert!(check(&t, &cps).is_ok());
            let i = a.index(n - 1);
            let mut bad = t.clone();
            let want = match op {
                0 => {
                    bad.remove(i);
                    (K::Removed, i)
                }
                1 => {
                    bad.swap(i, i + 1);
                    (K::Reordered, i)
                }
                2 => {
                    let j = i + 1 + b.index(n - i);
                    bad.insert(j, t[i].clone());
                    (K::Inserted, j)
                }
                _ => {
                    bad[i] = edit(&bad[i], |e| e.detail = Some("x".into()));
                    (K::Changed, i)
                }
            };
            let f = check(&bad, &cps).unwrap_err();
            prop_assert_eq!((f.kind, f.entry), (want.0, Some(want.1 as u64)));
        }
    }
}
