//! Group commit: many writers wait on one `fdatasync` of the journal. Each
//! caller writes, then awaits [`GroupSync::wait`]; a dedicated thread
//! drains every waiting caller, syncs once, and wakes them all. The
//! receipt for a message is sent only after its wait returns.
//!
//! A second thread checkpoints the store (flushes sled into its own files
//! and retires journal files) about once a second while there are writes,
//! sooner when the journal grows past [`CHECKPOINT_BYTES`], and once more
//! when the last handle is dropped. It runs beside the sync thread, so a
//! checkpoint never holds up a waiting writer.

use super::journal::CHECKPOINT_BYTES;
use super::{Store, StoreError};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;
use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<(), String>>;

/// How long the sync thread waits for more writers when the previous
/// sync served more than one. A lone writer (one message at a time) never
/// waits. Under load, a longer wait means fewer, larger syncs: each
/// `fdatasync` costs CPU in the kernel and a wake-up per thread, and on
/// this 2-core machine 1 ms gave the most envelopes per second of
/// 0.1, 0.3, 0.6, 1 and 2 ms (docs/performance.md), with the 32-in-flight
/// p99 unchanged.
const GATHER: Duration = Duration::from_millis(1);

/// How often the checkpoint thread looks for work.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// A handle to the sync thread.
#[derive(Clone)]
pub struct GroupSync {
    tx: mpsc::Sender<Waiter>,
}

impl GroupSync {
    /// Starts the sync and checkpoint threads for `store`. They stop when
    /// every handle is dropped.
    pub fn start(store: Arc<Store>) -> Result<GroupSync, StoreError> {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let (nudge, nudged) = mpsc::sync_channel::<()>(1);
        let syncing = store.clone();
        std::thread::Builder::new()
            .name("nfp-store-sync".into())
            .spawn(move || {
                let mut last_batch = 0usize;
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    if last_batch > 1 {
                        // Writers are arriving together: give the others
                        // a moment to join this sync rather than the next.
                        std::thread::sleep(GATHER);
                    }
                    batch.extend(rx.try_iter());
                    last_batch = batch.len();
                    let result = syncing.sync().map_err(|e| e.to_string());
                    for w in batch {
                        let _ = w.send(result.clone());
                    }
                    if syncing.journal_pending() >= CHECKPOINT_BYTES {
                        let _ = nudge.try_send(());
                    }
                }
                // Dropping `nudge` tells the checkpoint thread to finish.
            })
            .map_err(|e| StoreError::Io(format!("cannot start the sync thread: {e}")))?;
        std::thread::Builder::new()
            .name("nfp-store-checkpoint".into())
            .spawn(move || {
                loop {
                    let last = match nudged.recv_timeout(CHECKPOINT_INTERVAL) {
                        Ok(()) | Err(RecvTimeoutError::Timeout) => false,
                        Err(RecvTimeoutError::Disconnected) => true,
                    };
                    if let Err(e) = store.checkpoint() {
                        tracing::error!(error = %e, "store checkpoint failed; the journal keeps every write");
                    }
                    if last {
                        break;
                    }
                }
            })
            .map_err(|e| StoreError::Io(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(GroupSync { tx })
    }

    /// Returns once everything written before the call is on disk.
    pub async fn wait(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(tx)
            .map_err(|_| StoreError::Io("sync thread stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Io("sync thread stopped".into()))?
            .map_err(StoreError::Io)
    }
}
