//! Group commit: many writers wait on one flush-and-fsync. Each caller
//! writes, then awaits [`GroupSync::wait`]; a dedicated thread drains every
//! waiting caller, syncs once, and wakes them all. The receipt for a message
//! is sent only after its wait returns.

use super::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Waiter = oneshot::Sender<Result<(), String>>;

/// A handle to the sync thread.
#[derive(Clone)]
pub struct GroupSync {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl GroupSync {
    /// Starts the sync thread for `store`. It stops when every handle is
    /// dropped.
    pub fn start(store: Arc<Store>) -> Result<GroupSync, StoreError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter>();
        std::thread::Builder::new()
            .name("nfp-store-sync".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                    }
                    let result = store.sync().map_err(|e| e.to_string());
                    for w in batch {
                        let _ = w.send(result.clone());
                    }
                }
            })
            .map_err(|e| StoreError::Io(format!("cannot start the sync thread: {e}")))?;
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
