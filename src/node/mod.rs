//! The serving process: loads the home, opens the store, binds QUIC and the
//! local API, and runs the inbound handler and one delivery worker per peer
//! until SIGINT or SIGTERM.
//!
//! Every decision is made by the pure core ([`crate::protocol`],
//! [`crate::outbox`]); this module wires it to the store and the network.

pub mod access;
pub mod attachments;
pub mod cases;
pub mod clock;
pub mod deadlines;
mod delivery;
mod follow_up;
mod inbound;
pub mod metrics;
mod operations;
pub mod rotation;
mod stats;
pub mod witness;

pub use operations::{MessageView, SendError, SendRequest, Shown};

use crate::home::{Home, HomeError, Peer};
use crate::outbox::{Backoff, Queue};
use crate::protocol::audit::{Event, Record};
use crate::protocol::country::Country;
use crate::store::{GroupSync, Store, StoreError};
use crate::transport::{Pins, Transport, TransportError};
use clock::Clock;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{Notify, watch};
use zeroize::Zeroizing;

/// Errors of the serving process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The home is incomplete or wrong.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// QUIC could not start.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The API could not start.
    #[error("cannot serve the API on {addr}: {reason}")]
    Api {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        reason: String,
    },
    /// No address to bind.
    #[error("node.toml: endpoint is not an address and `listen` is not set")]
    NoListen,
}

/// A cached consistency proof: peer, checkpoint size, start size, hashes.
pub(crate) type ProofCacheEntry = (Country, u64, u64, Vec<[u8; 32]>);

/// A running node's shared state.
pub struct Node {
    pub(crate) home: Home,
    pub(crate) me: Country,
    pub(crate) keys: RwLock<Arc<rotation::OwnKeys>>,
    pub(crate) rotation_lock: tokio::sync::Mutex<()>,
    pub(crate) peer_cert_expiry: Mutex<HashMap<Country, i64>>,
    pub(crate) peers: RwLock<BTreeMap<Country, Arc<Peer>>>,
    pub(crate) store: Arc<Store>,
    pub(crate) sync: GroupSync,
    pub(crate) transport: Transport,
    pub(crate) queue: Mutex<Queue>,
    pub(crate) wake: Mutex<HashMap<Country, Arc<Notify>>>,
    pub(crate) backoff: Backoff,
    pub(crate) in_flight: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) inbound_lock: tokio::sync::Mutex<()>,
    pub(crate) connections: tokio::sync::Mutex<HashMap<Country, quinn::Connection>>,
    pub(crate) api_token: Zeroizing<String>,
    pub(crate) refusals: Mutex<inbound::RefusalLimiter>,
    pub(crate) handshakes: Arc<tokio::sync::Semaphore>,
    pub(crate) origin: String,
    pub(crate) users: Mutex<access::UserCache>,
    pub(crate) escalation_command: Vec<String>,
    /// Every message whose receipt was verified, as it happens.
    pub delivered: tokio::sync::broadcast::Sender<crate::protocol::id::MessageId>,
    pub(crate) checkpoint_entries: u64,
    pub(crate) checkpoint_interval: std::time::Duration,
    pub(crate) witness_hint: Mutex<HashMap<Country, u64>>,
    pub(crate) proof_cache: Mutex<HashMap<Country, ProofCacheEntry>>,
    pub(crate) peer_connections: Mutex<HashMap<Country, usize>>,
    /// Counters and the latency histogram behind `GET /metrics`.
    pub metrics: metrics::Metrics,
    shutdown: watch::Receiver<bool>,
}

/// A started node: its addresses and the handle that stops it.
pub struct Running {
    /// The node.
    pub node: Arc<Node>,
    /// Where QUIC listens.
    pub quic_addr: Option<SocketAddr>,
    /// Where the API listens.
    pub api_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match m.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Node {
    /// Now, from the node's clock.
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.now().as_millisecond()).unwrap_or(0)
    }

    /// Appends an audit entry; a failure is logged, never hidden.
    pub(crate) fn audit(&self, event: Event, rec: Record) {
        if let Err(e) = self.store.append_audit(event, rec, self.now().as_second()) {
            tracing::error!(event = event.as_str(), error = %e, "cannot append audit entry");
        }
    }

    pub(crate) fn peer(&self, c: Country) -> Option<Arc<Peer>> {
        read(&self.peers).get(&c).cloned()
    }

    pub(crate) fn notify_for(&self, peer: Country) -> Arc<Notify> {
        lock(&self.wake).entry(peer).or_default().clone()
    }

    /// The peer was seen (it connected to us): retry its queue now.
    pub(crate) fn peer_seen(&self, peer: Country) {
        let now = self.now_ms();
        lock(&self.queue).wake(peer, now);
        self.notify_for(peer).notify_one();
    }

    /// Messages waiting for `peer`.
    pub fn queue_len(&self, peer: Country) -> usize {
        lock(&self.queue).len_for(peer)
    }

    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }
}

/// The TLS pins of `peers`: each current pin, and the pins their key
/// rotations replaced, accepted until the overlap ends.
pub(crate) fn pins_of(
    peers: &BTreeMap<Country, Peer>,
) -> Vec<(crate::protocol::keys::SpkiPin, Country, Option<i64>)> {
    let mut out = Vec::new();
    for p in peers.values() {
        out.push((p.card.tls_spki_sha256, p.card.country, None));
        for r in &p.card.previous {
            out.push((r.tls_spki_sha256, p.card.country, Some(r.accepted_until)));
        }
    }
    out
}

/// Starts the node in `home` with `clock`: QUIC, the API and the workers.
pub async fn start(home: &Home, clock: Arc<dyn Clock>) -> Result<Running, NodeError> {
    let mut setup = home.load()?;
    let listen = setup.config.listen_addr().ok_or(NodeError::NoListen)?;
    let store = Arc::new(Store::open(&home.store_dir(), &setup.storage_key)?);
    if rotation::recover_staged(home, &store, setup.config.country)? {
        setup = home.load()?;
    }
    let sync = GroupSync::start(store.clone())?;
    let pins = Arc::new(Pins::default());
    pins.replace(pins_of(&setup.peers));
    let now_s = clock.now().as_second();
    let own = rotation::load_own(
        home,
        &store,
        home.current_keys()?,
        setup.card(),
        &setup.peers,
        now_s,
    )?;
    let transport = Transport::bind(listen, &setup.tls, pins)?;
    if let Some(r) = &own.retired {
        transport.set_identities(&setup.tls, Some(r.tls()), !own.pending.is_empty())?;
    }
    let quic_addr = transport.local_addr();
    let d = &setup.config.delivery;
    let backoff = Backoff {
        initial_ms: crate::config::seconds(d.retry_initial) * 1000,
        max_ms: crate::config::seconds(d.retry_max) * 1000,
    };
    let now_ms = u64::try_from(clock.now().as_millisecond()).unwrap_or(0);
    let mut queue = Queue::new();
    for (id, peer, urgent) in store.outbox_entries()? {
        queue.push(id, peer, urgent, now_ms);
    }
    let api_listener = tokio::net::TcpListener::bind(setup.config.api)
        .await
        .map_err(|e| NodeError::Api {
            addr: setup.config.api,
            reason: e.to_string(),
        })?;
    let api_addr = api_listener.local_addr().map_err(|e| NodeError::Api {
        addr: setup.config.api,
        reason: e.to_string(),
    })?;
    let (stop, shutdown) = watch::channel(false);
    let peer_list: Vec<Country> = setup.peers.keys().copied().collect();
    let origin = own.card.log_origin();
    let node = Arc::new(Node {
        home: home.clone(),
        me: setup.config.country,
        keys: RwLock::new(Arc::new(own)),
        rotation_lock: tokio::sync::Mutex::new(()),
        peer_cert_expiry: Mutex::new(HashMap::new()),
        peers: RwLock::new(
            setup
                .peers
                .into_iter()
                .map(|(c, p)| (c, Arc::new(p)))
                .collect(),
        ),
        store,
        sync,
        transport,
        queue: Mutex::new(queue),
        wake: Mutex::new(HashMap::new()),
        backoff,
        in_flight: usize::try_from(d.in_flight).unwrap_or(32),
        clock,
        inbound_lock: tokio::sync::Mutex::new(()),
        connections: tokio::sync::Mutex::new(HashMap::new()),
        api_token: setup.api_token,
        refusals: Mutex::new(inbound::RefusalLimiter::default()),
        handshakes: Arc::new(tokio::sync::Semaphore::new(inbound::HANDSHAKES_IN_PROGRESS)),
        origin,
        users: Mutex::new(access::UserCache::default()),
        escalation_command: setup.config.deadlines.escalation_command.clone(),
        delivered: tokio::sync::broadcast::channel(4096).0,
        checkpoint_entries: setup.config.audit.checkpoint_entries,
        checkpoint_interval: std::time::Duration::from_secs(crate::config::seconds(
            setup.config.audit.checkpoint_interval,
        )),
        proof_cache: Mutex::new(HashMap::new()),
        witness_hint: Mutex::new(HashMap::new()),
        peer_connections: Mutex::new(HashMap::new()),
        metrics: metrics::Metrics::default(),
        shutdown,
    });
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(inbound::accept_loop(node.clone()));
    for peer in peer_list {
        tasks.spawn(delivery::peer_worker(node.clone(), peer));
    }
    tasks.spawn(crate::api::server::run(node.clone(), api_listener));
    tasks.spawn(witness::checkpointer(node.clone()));
    tasks.spawn(deadlines::watch(node.clone()));
    tasks.spawn(rotation::watch(node.clone()));
    if let Some(m) = node.store.migrated() {
        node.audit(
            Event::StoreMigrated,
            Record {
                detail: Some(format!(
                    "schema {} -> {}; backup {}",
                    m.from,
                    m.to,
                    m.backup
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                )),
                ..Record::default()
            },
        );
    }
    tracing::info!(country = %node.me, quic = ?quic_addr, api = %api_addr, "node started");
    Ok(Running {
        node,
        quic_addr,
        api_addr,
        stop,
        tasks,
    })
}

impl Running {
    /// Stops every task, closes connections and syncs the store.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        self.node.transport.close().await;
        let deadline = tokio::time::sleep(std::time::Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = self.tasks.join_next() => if next.is_none() { break },
                _ = &mut deadline => { self.tasks.abort_all(); break }
            }
        }
        if let Err(e) = self.node.store.checkpoint() {
            tracing::error!(error = %e, "final checkpoint failed");
        }
        tracing::info!(country = %self.node.me, "node stopped");
    }
}

/// Runs the node in `home` until SIGINT or SIGTERM.
pub async fn serve(home: &Home) -> Result<(), NodeError> {
    let running = start(home, Arc::new(clock::SystemClock)).await?;
    tracing::info!(
        curve_backend = crate::protocol::keys::curve_backend(),
        "curve arithmetic"
    );
    eprintln!(
        "nfp-node {} serving: QUIC on {}, API on http://{}",
        running.node.me,
        running
            .quic_addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "?".into()),
        running.api_addr
    );
    wait_for_signal().await;
    eprintln!("stopping...");
    running.stop().await;
    Ok(())
}

async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

impl Node {
    /// This node's card and its peers' cards: the keys an audit trusts.
    pub fn audit_cards(
        &self,
    ) -> (
        crate::protocol::card::PeerCard,
        Vec<crate::protocol::card::PeerCard>,
    ) {
        let peers = read(&self.peers).values().map(|p| p.card.clone()).collect();
        (self.own().card.clone(), peers)
    }

    /// An inclusion proof for the first audit entry about message `id`,
    /// against the latest checkpoint that covers it.
    pub fn audit_proof(
        &self,
        id: crate::protocol::id::MessageId,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        audit_proof(&self.store, &self.origin, id)
    }
}

/// An inclusion proof (as JSON a third party can check) for the first
/// audit entry about message `id`.
pub fn audit_proof(
    store: &Store,
    origin: &str,
    id: crate::protocol::id::MessageId,
) -> Result<Option<serde_json::Value>, StoreError> {
    let mut index = None;
    for (i, bytes) in store.audit_entries().enumerate() {
        let bytes = bytes?;
        if let Ok(e) = ciborium::from_reader::<crate::protocol::audit::Entry, _>(bytes.as_slice())
            && e.message == Some(id)
        {
            index = Some((i as u64, bytes));
            break;
        }
    }
    let Some((index, entry)) = index else {
        return Ok(None);
    };
    let checkpoint = store
        .checkpoints()?
        .into_iter()
        .find(|(size, _)| *size > index);
    let Some((size, note)) = checkpoint else {
        return Ok(Some(serde_json::json!({
            "message": id, "index": index,
            "error": "no checkpoint covers this entry yet; try again after the next checkpoint"
        })));
    };
    let proof = store.inclusion_proof(index, size)?;
    Ok(Some(serde_json::json!({
        "format": "nfp-node inclusion proof 1",
        "origin": origin,
        "message": id,
        "index": index,
        "entry": hex::encode(&entry),
        "leaf_hash": hex::encode(crate::protocol::audit::leaf_hash(&entry)),
        "checkpoint": note,
        "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
    })))
}

/// A JSON summary of each peer: country, name, endpoint, agreement, queue.
pub fn peer_summaries(node: &Node) -> Vec<serde_json::Value> {
    read(&node.peers)
        .values()
        .map(|p| {
            serde_json::json!({
                "country": p.card.country,
                "name": p.card.name,
                "endpoint": p.card.endpoint,
                "tls_spki_sha256": p.card.tls_spki_sha256,
                "agreement": {
                    "id": p.agreement.id,
                    "version": p.agreement.version,
                    "hash": hex::encode(p.agreement.hash()),
                },
                "queued": node.queue_len(p.card.country),
                "log_witness": node.store.witnessed(p.card.country).ok().flatten().map(|w| serde_json::json!({
                    "size": w.size,
                    "cosigned_at": jiff::Timestamp::from_second(w.cosigned_at).map(|t| t.to_string()).unwrap_or_default(),
                    "fork": w.fork,
                })),
                "cosigned_our_log_to": node.store.cosigned_by(p.card.country).unwrap_or(0),
                "health": crate::api::peer_health::peer_health(node, p.card.country),
            })
        })
        .collect()
}
