//! Group commit: many writers wait on one `fdatasync` of the journal. Each
//! caller writes, then awaits [`GroupSync::wait`]; a dedicated thread
//! drains every waiting caller, syncs once, and wakes them all. The
//! receipt for a message is sent only after its wait returns.
//!
//! The thread does not sync the moment the first writer asks when more
//! are on their way: a message being sealed or opened holds a [`Coming`]
//! from its start until it asks for its sync, and while any are held the
//! thread keeps gathering, up to [`GATHER`]. A burst of messages then
//! shares one sync, and a lone message never waits. When fewer writers
//! came than the previous sync served (a steady load, where more are
//! about to start), the thread waits out the rest of [`GATHER`] once.
//!
//! A second thread checkpoints the store (flushes sled into its own files
//! and retires journal files) about once a second while there are writes,
//! sooner when the journal grows past [`CHECKPOINT_BYTES`], and once more
//! when the last handle is dropped. It runs beside the sync thread, so a
//! checkpoint never holds up a waiting writer.

use super::journal::CHECKPOINT_BYTES;
use super::{Store, StoreError};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<(), String>>;

/// The longest the sync thread gathers while writers are on their way.
/// Each `fdatasync` costs CPU in the kernel and a wake-up of every waiting
/// task (about 80 µs in all here), so under load fewer, larger syncs
/// leave more of the two cores to the messages themselves; with 32
/// messages in flight a 1 ms limit gave the most envelopes per second of
/// 0.1, 0.3, 0.6, 1 and 2 ms (docs/performance.md).
const GATHER: Duration = Duration::from_millis(1);

/// How often the checkpoint thread looks for work.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// A handle to the sync thread.
#[derive(Clone)]
pub struct GroupSync {
    tx: mpsc::Sender<Waiter>,
    gather: Arc<Gather>,
}

/// What the sync thread and the writers on their way share.
#[derive(Default)]
struct Gather {
    /// Writers holding a [`Coming`].
    coming: AtomicUsize,
    /// The sync thread is parked until `coming` falls to zero.
    gathering: AtomicBool,
    /// The sync thread, to unpark.
    thread: OnceLock<std::thread::Thread>,
}

impl Gather {
    /// Waits until no writer is on its way, or until `until`. Woken by the
    /// last one to arrive, not by each: a wake-up per message would cost
    /// more than the syncs it saves.
    fn wait_for_arrivals(&self, until: Instant) {
        self.gathering.store(true, Ordering::SeqCst);
        while self.coming.load(Ordering::SeqCst) > 0 {
            let now = Instant::now();
            if now >= until {
                break;
            }
            std::thread::park_timeout(until - now);
        }
        self.gathering.store(false, Ordering::SeqCst);
    }
}

/// A writer on its way to a sync: taken when a message's work starts, and
/// given up when it asks for its sync ([`GroupSync::wait_coming`]) or is
/// dropped (the work failed). While any are held, the sync thread gathers.
pub struct Coming(Arc<Gather>);

impl Drop for Coming {
    fn drop(&mut self) {
        let g = &self.0;
        if g.coming.fetch_sub(1, Ordering::SeqCst) == 1
            && g.gathering.load(Ordering::SeqCst)
            && let Some(t) = g.thread.get()
        {
            t.unpark();
        }
    }
}

impl GroupSync {
    /// Starts the sync and checkpoint threads for `store`. They stop when
    /// every handle is dropped.
    pub fn start(store: Arc<Store>) -> Result<GroupSync, StoreError> {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let (nudge, nudged) = mpsc::sync_channel::<()>(1);
        let syncing = store.clone();
        let gather = Arc::new(Gather::default());
        let gathering = gather.clone();
        std::thread::Builder::new()
            .name("nfp-store-sync".into())
            .spawn(move || {
                let _ = gathering.thread.set(std::thread::current());
                let mut last_batch = 0usize;
                while let Ok(first) = rx.recv() {
                    // Writers on their way join this sync rather than the
                    // next.
                    let until = Instant::now() + GATHER;
                    gathering.wait_for_arrivals(until);
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    // Fewer than last time: under a steady load more are
                    // about to start, so wait out the rest of the window
                    // once (a burst that has all arrived does not wait).
                    if batch.len() < last_batch {
                        std::thread::sleep(until.saturating_duration_since(Instant::now()));
                        batch.extend(rx.try_iter());
                    }
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
        Ok(GroupSync { tx, gather })
    }

    /// Announces a writer that will ask for a sync.
    pub fn coming(&self) -> Coming {
        self.gather.coming.fetch_add(1, Ordering::SeqCst);
        Coming(self.gather.clone())
    }

    /// As [`GroupSync::wait`], for a writer that announced itself: it stops
    /// counting as on its way once its request is queued.
    pub async fn wait_coming(&self, coming: Coming) -> Result<(), StoreError> {
        let rx = self.request()?;
        drop(coming);
        Self::answer(rx).await
    }

    fn request(&self) -> Result<oneshot::Receiver<Result<(), String>>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(tx)
            .map_err(|_| StoreError::Io("sync thread stopped".into()))?;
        Ok(rx)
    }

    async fn answer(rx: oneshot::Receiver<Result<(), String>>) -> Result<(), StoreError> {
        rx.await
            .map_err(|_| StoreError::Io("sync thread stopped".into()))?
            .map_err(StoreError::Io)
    }

    /// Returns once everything written before the call is on disk.
    pub async fn wait(&self) -> Result<(), StoreError> {
        Self::answer(self.request()?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::audit::{Event, Record};

    fn store() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(Store::open(dir.path(), &[7; 32]).unwrap());
        (dir, s)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_on_their_way_are_counted_until_they_ask_and_every_wait_returns() {
        let (_dir, s) = store();
        let sync = GroupSync::start(s.clone()).unwrap();
        let on_way = |g: &GroupSync| g.gather.coming.load(Ordering::SeqCst);
        // A plain wait returns with nobody on the way.
        sync.wait().await.unwrap();
        // Announced writers count until their request is queued, or until
        // they give up.
        let a = sync.coming();
        let b = sync.coming();
        assert_eq!(on_way(&sync), 2);
        drop(b);
        assert_eq!(on_way(&sync), 1);
        // A wait by someone else still returns while `a` is on its way
        // (the thread gathers for at most GATHER).
        s.append_audit(Event::MessageQueued, Record::default(), 1)
            .unwrap();
        sync.wait().await.unwrap();
        sync.wait_coming(a).await.unwrap();
        assert_eq!(on_way(&sync), 0);
        // Many concurrent announced writers all get their sync.
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (g, s) = (sync.clone(), s.clone());
            tasks.push(tokio::spawn(async move {
                let c = g.coming();
                s.append_audit(Event::MessageQueued, Record::default(), 2)
                    .unwrap();
                g.wait_coming(c).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(on_way(&sync), 0);
    }
}
