//! The node's verifiable log in operation: signing checkpoints once the
//! entries they cover are on disk, offering them to peers with each
//! delivery, witnessing peers' checkpoints (and spotting forks and
//! rollbacks), and keeping the cosignatures peers return.

use super::Node;
use crate::protocol::audit::{self, Checkpoint, Event, Record};
use crate::protocol::card::PeerCard;
use crate::protocol::country::Country;
use crate::protocol::keys::VerifyingKey;
use crate::protocol::wire::Witnessing;
use crate::store::WitnessState;
use std::sync::Arc;
use std::time::Duration;

/// What a witness answers about an offered checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessAnswer {
    /// A cosignature line.
    Cosign(String),
    /// No cosignature: the proof did not start from this size, which is
    /// what this node last cosigned.
    KnownSize(u64),
    /// No cosignature (refused, or a fork was recorded).
    Nothing,
}

/// The origin (and note key name) of a node's log: `nfp-node/CC/<key id>`.
/// Derived from the country and the signing key, so an auditor can compute
/// it from a peer card alone.
pub fn origin(country: Country, key: &VerifyingKey) -> String {
    crate::protocol::card::log_origin_of(country, key)
}

/// Signs checkpoints: every `checkpoint_entries` new entries or every
/// `checkpoint_interval`, whichever comes first, and only after a sync
/// has made every entry it covers durable.
pub(super) async fn checkpointer(node: Arc<Node>) {
    let mut stop = node.stopping();
    let every = node.checkpoint_entries.max(1);
    let interval = node.checkpoint_interval;
    let mut last_time = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {},
            _ = stop.changed() => break,
        }
        let (size, root) = node.store.audit_snapshot();
        let last = match node.store.latest_checkpoint() {
            Ok(c) => c.map(|(s, _)| s).unwrap_or(0),
            Err(e) => {
                tracing::error!(error = %e, "cannot read checkpoints");
                continue;
            }
        };
        if size == 0 || size <= last {
            continue;
        }
        if size - last < every && last_time.elapsed() < interval {
            continue;
        }
        // Everything up to `size` must be on disk before it is signed.
        if let Err(e) = node.sync.wait().await {
            tracing::error!(error = %e, "sync before checkpoint failed");
            continue;
        }
        let cp = Checkpoint {
            origin: node.origin.clone(),
            size,
            root,
        };
        match audit::sign_checkpoint(&cp, &node.origin, &node.own().signing) {
            Ok(note) => {
                if let Err(e) = node.store.put_checkpoint(size, &note) {
                    tracing::error!(error = %e, "cannot store checkpoint");
                    continue;
                }
                let _ = node.sync.wait().await;
                last_time = tokio::time::Instant::now();
                tracing::debug!(size, "checkpoint signed");
            }
            Err(e) => tracing::error!(error = %e, "cannot sign checkpoint"),
        }
    }
}

impl Node {
    /// The witnessing data to send to `peer` with a delivery, if there is a
    /// checkpoint newer than what `peer` last cosigned.
    pub(crate) fn witnessing_for(&self, peer: Country) -> Option<(Checkpoint, Witnessing)> {
        let (size, note) = self.store.latest_checkpoint().ok()??;
        // What the peer last cosigned, as far as this node knows: its own
        // record of cosignatures, or the size the peer said it holds.
        let hint = super::lock(&self.witness_hint)
            .get(&peer)
            .copied()
            .unwrap_or(0);
        let cosigned = self.store.cosigned_by(peer).ok()?.max(hint);
        if size <= cosigned {
            return None;
        }
        let own = self.own();
        let cp =
            audit::verify_checkpoint_any(&note, &self.origin, &own.card.all_signing_keys()).ok()?;
        let mut cache = super::lock(&self.proof_cache);
        if let Some((p, s, old, proof)) = cache.get(&peer)
            && *p == peer
            && *s == size
            && *old == cosigned
        {
            return Some((
                cp,
                Witnessing {
                    checkpoint: note,
                    proof: proof.clone(),
                    from_size: cosigned,
                },
            ));
        }
        let proof = if cosigned == 0 {
            Vec::new()
        } else {
            self.store.consistency_proof(cosigned, size).ok()?
        };
        cache.insert(peer, (peer, size, cosigned, proof.clone()));
        Some((
            cp,
            Witnessing {
                checkpoint: note,
                proof,
                from_size: cosigned,
            },
        ))
    }

    /// Checks and stores a cosignature `peer` returned for `cp`.
    pub(crate) fn keep_cosignature(
        &self,
        peer: Country,
        card: &PeerCard,
        cp: &Checkpoint,
        line: &str,
    ) {
        let keys = card.signing_keys_at(self.now().as_second());
        match audit::verify_cosignature_any(cp, line, &card.log_origin(), &keys) {
            Ok(_) => {
                if let Err(e) = self.store.put_cosignature(peer, cp.size, line) {
                    tracing::error!(error = %e, "cannot store cosignature");
                }
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cosignature does not verify");
                self.audit(
                    Event::WitnessRefused,
                    Record {
                        peer: Some(peer),
                        detail: Some(format!("cosignature of size {} refused: {e}", cp.size)),
                        ..Record::default()
                    },
                );
            }
        }
    }

    /// Witnesses `peer`'s checkpoint: verifies it and its consistency with
    /// what this node last cosigned, stores the new state, and returns the
    /// cosignature line — or records a fork or rollback and returns none.
    /// The caller syncs the store before answering.
    pub(crate) fn witness(&self, peer: Country, card: &PeerCard, w: &Witnessing) -> WitnessAnswer {
        match self.witness_inner(peer, card, w) {
            Ok(line) => WitnessAnswer::Cosign(line),
            Err(answer) => answer,
        }
    }

    fn witness_inner(
        &self,
        peer: Country,
        card: &PeerCard,
        w: &Witnessing,
    ) -> Result<String, WitnessAnswer> {
        use WitnessAnswer::Nothing;
        let keys = card.signing_keys_at(self.now().as_second());
        let cp = match audit::verify_checkpoint_any(&w.checkpoint, &card.log_origin(), &keys) {
            Ok(cp) => cp,
            Err(e) => {
                self.audit(
                    Event::WitnessRefused,
                    Record {
                        peer: Some(peer),
                        detail: Some(format!("checkpoint refused: {e}")),
                        ..Record::default()
                    },
                );
                return Err(Nothing);
            }
        };
        let prev = self.store.witnessed(peer).map_err(|_| Nothing)?;
        let fork = match &prev {
            Some(p) if p.fork.is_some() => return Err(Nothing),
            None => None,
            Some(p) if cp.size < p.size => Some(format!(
                "rollback: size {} after cosigning size {}",
                cp.size, p.size
            )),
            Some(p) if cp.size == p.size => (p.root.as_slice() != cp.root)
                .then(|| format!("fork: two roots for size {}", cp.size)),
            Some(p) if w.from_size != p.size => {
                // The proof starts elsewhere (the sender lost track of what
                // this node cosigned, e.g. after a crash): not evidence of
                // anything. Tell it the size this node holds.
                return Err(WitnessAnswer::KnownSize(p.size));
            }
            Some(p) => {
                let mut old_root = [0u8; 32];
                old_root.copy_from_slice(p.root.as_slice().get(..32).unwrap_or(&[0; 32]));
                audit::verify_consistency(p.size, cp.size, &old_root, &cp.root, &w.proof)
                    .err()
                    .map(|e| {
                        format!(
                            "fork: size {} is not consistent with cosigned size {} ({e})",
                            cp.size, p.size
                        )
                    })
            }
        };
        let now = self.now().as_second();
        if let Some(evidence) = fork {
            tracing::warn!(%peer, %evidence, "peer log fork or rollback detected");
            self.audit(
                Event::PeerLogFork,
                Record {
                    peer: Some(peer),
                    detail: Some(evidence.clone()),
                    ..Record::default()
                },
            );
            if let Some(mut p) = prev {
                p.fork = Some(format!(
                    "{evidence}; offending checkpoint:\n{}",
                    w.checkpoint
                ));
                let _ = self.store.put_witnessed(peer, &p);
            }
            return Err(Nothing);
        }
        let time = u64::try_from(now).unwrap_or(0);
        let own = self.own();
        let line =
            audit::cosign(&cp, &self.origin, own.signer_for(peer), time).map_err(|_| Nothing)?;
        let state = WitnessState {
            size: cp.size,
            root: serde_bytes::ByteBuf::from(cp.root.to_vec()),
            note: w.checkpoint.clone(),
            cosigned_at: now,
            fork: None,
        };
        if let Err(e) = self.store.put_witnessed(peer, &state) {
            tracing::error!(error = %e, "cannot store witness state");
            return Err(Nothing);
        }
        Ok(line)
    }
}
