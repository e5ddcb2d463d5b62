//! Operational metrics and health: the counters and the delivery-latency
//! histogram the node bumps as things happen (relaxed atomics, no lock),
//! the gauges read from the store when `GET /metrics` is scraped, their
//! rendering in the Prometheus text exposition format 0.0.4, and the
//! readiness checks behind `GET /healthz?ready=1`.
//!
//! Labels carry only message kinds, states, directions, deadline states and
//! country codes: never a case reference, a message id, a name or anything
//! from a form.

use super::{Node, lock, read};
use crate::protocol::country::Country;
use crate::protocol::deadline::DeadlineState;
use crate::store::{Direction, State, StoreError};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the delivery-latency buckets, in milliseconds: from a
/// loopback round trip to a peer that was away for a day.
pub const LATENCY_BUCKETS_MS: [u64; 16] = [
    25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000,
    3_600_000, 21_600_000, 86_400_000,
];

/// A histogram with fixed bounds, safe to observe from many tasks at once.
#[derive(Debug)]
pub struct Histogram {
    bounds_ms: &'static [u64],
    /// One counter per bound plus one for everything above the last.
    buckets: Vec<AtomicU64>,
    sum_ms: AtomicU64,
}

/// A consistent-enough copy of a histogram: cumulative counts per bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// `(bound in ms, observations at or below it)`, bounds ascending.
    pub cumulative: Vec<(u64, u64)>,
    /// Every observation (the `+Inf` bucket).
    pub count: u64,
    /// Sum of the observations in milliseconds.
    pub sum_ms: u64,
}

impl Histogram {
    /// An empty histogram with the given ascending bounds.
    pub fn new(bounds_ms: &'static [u64]) -> Histogram {
        Histogram {
            bounds_ms,
            buckets: (0..=bounds_ms.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ms: AtomicU64::new(0),
        }
    }

    /// Records one observation of `ms` milliseconds.
    pub fn observe_ms(&self, ms: u64) {
        let i = self.bounds_ms.partition_point(|b| *b < ms);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// The cumulative counts. The total is the sum of the buckets, so the
    /// `+Inf` bucket always equals `_count`.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0u64;
        let mut cumulative = Vec::with_capacity(self.bounds_ms.len());
        for (i, bound) in self.bounds_ms.iter().enumerate() {
            running += self.buckets.get(i).map_or(0, |b| b.load(Ordering::Relaxed));
            cumulative.push((*bound, running));
        }
        let over = self
            .buckets
            .get(self.bounds_ms.len())
            .map_or(0, |b| b.load(Ordering::Relaxed));
        HistogramSnapshot {
            cumulative,
            count: running + over,
            sum_ms: self.sum_ms.load(Ordering::Relaxed),
        }
    }
}

/// What the node counts as it runs.
#[derive(Debug)]
pub struct Metrics {
    delivery_latency: Histogram,
    handshake_failures: AtomicU64,
    /// One scrape at a time reads the store.
    scrape: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            delivery_latency: Histogram::new(&LATENCY_BUCKETS_MS),
            handshake_failures: AtomicU64::new(0),
            scrape: tokio::sync::Mutex::new(()),
        }
    }
}

impl Metrics {
    /// A receipt was verified `latency_ms` after the message was queued.
    pub fn delivered(&self, latency_ms: u64) {
        self.delivery_latency.observe_ms(latency_ms);
    }

    /// A TLS handshake was refused.
    pub fn handshake_failed(&self) {
        self.handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The latency histogram as it stands.
    pub fn latency(&self) -> HistogramSnapshot {
        self.delivery_latency.snapshot()
    }

    /// TLS handshakes refused since start.
    pub fn handshake_failures(&self) -> u64 {
        self.handshake_failures.load(Ordering::Relaxed)
    }
}

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a HELP text: backslash and line feed.
pub fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Milliseconds as a decimal number of seconds, exactly (`2500` is `2.5`).
pub fn seconds_text(ms: u64) -> String {
    let (whole, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return whole.to_string();
    }
    let f = format!("{frac:03}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// A text exposition being written: families with HELP and TYPE lines,
/// then their samples.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a metric family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample. Label names are fixed identifiers; values are escaped.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(value);
        self.out.push('\n');
    }

    /// A histogram family's samples, in seconds.
    pub fn histogram(&mut self, name: &str, h: &HistogramSnapshot) {
        for (bound, n) in &h.cumulative {
            self.sample(
                &format!("{name}_bucket"),
                &[("le", &seconds_text(*bound))],
                &n.to_string(),
            );
        }
        self.sample(
            &format!("{name}_bucket"),
            &[("le", "+Inf")],
            &h.count.to_string(),
        );
        self.sample(&format!("{name}_sum"), &[], &seconds_text(h.sum_ms));
        self.sample(&format!("{name}_count"), &[], &h.count.to_string());
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
    }
}

fn state_str(s: State) -> &'static str {
    match s {
        State::Queued => "queued",
        State::Delivered => "delivered",
        State::Failed => "failed",
        State::Received => "received",
    }
}

/// What one scrape reads from the store and the node.
#[derive(Debug, Default)]
struct Gauges {
    messages: BTreeMap<(&'static str, &'static str, &'static str), u64>,
    queue: BTreeMap<Country, u64>,
    deadlines_open: BTreeMap<(&'static str, &'static str), u64>,
    overdue: BTreeMap<(&'static str, Country), u64>,
    audit_entries: u64,
    checkpoint_size: u64,
    /// Certificate expiry (Unix seconds) by party: `self` or a country.
    certificates: BTreeMap<String, i64>,
}

fn gather(node: &Node) -> Result<Gauges, StoreError> {
    let mut g = Gauges::default();
    for m in node.store.messages(None)? {
        *g.messages
            .entry((
                direction_str(m.direction),
                m.kind.as_str(),
                state_str(m.state),
            ))
            .or_default() += 1;
    }
    let peers: Vec<Country> = read(&node.peers).keys().copied().collect();
    for p in peers {
        g.queue.insert(p, node.queue_len(p) as u64);
    }
    let now = node.now();
    for owed in ["owed", "awaited"] {
        for s in [
            DeadlineState::Pending,
            DeadlineState::DueSoon,
            DeadlineState::Overdue,
        ] {
            g.deadlines_open.insert((owed, s.as_str()), 0);
        }
    }
    for d in node.store.deadlines()? {
        if d.answered_at.is_some() || d.answer.is_some() {
            continue;
        }
        let side = if d.owed { "owed" } else { "awaited" };
        let state = d.deadline.state(now, None);
        *g.deadlines_open.entry((side, state.as_str())).or_default() += 1;
        if state == DeadlineState::Overdue {
            *g.overdue.entry((side, d.peer)).or_default() += 1;
        }
    }
    g.audit_entries = node.store.audit_snapshot().0;
    g.checkpoint_size = node.store.latest_checkpoint()?.map_or(0, |(s, _)| s);
    // This node's certificate from its file; a peer's as last seen in a
    // handshake with it.
    if let Ok(t) = node.home.certificate_expiry() {
        g.certificates.insert("self".into(), t);
    }
    for (peer, t) in lock(&node.peer_cert_expiry).iter() {
        g.certificates.insert(peer.as_str().to_string(), *t);
    }
    Ok(g)
}

fn render(node: &Node, g: &Gauges) -> String {
    let mut e = Exposition::default();
    e.family(
        "nfp_node_info",
        "gauge",
        "This node: its country and the version of nfp-node.",
    );
    e.sample(
        "nfp_node_info",
        &[
            ("country", node.me.as_str()),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        "1",
    );
    e.family(
        "nfp_messages",
        "gauge",
        "Messages in the store by direction, kind and state.",
    );
    for ((dir, kind, state), n) in &g.messages {
        e.sample(
            "nfp_messages",
            &[("direction", dir), ("kind", kind), ("state", state)],
            &n.to_string(),
        );
    }
    e.family(
        "nfp_delivery_latency_seconds",
        "histogram",
        "Time from queueing an outgoing message to verifying its receipt.",
    );
    e.histogram("nfp_delivery_latency_seconds", &node.metrics.latency());
    e.family(
        "nfp_outbox_queue_length",
        "gauge",
        "Outgoing messages waiting for delivery, per peer.",
    );
    for (peer, n) in &g.queue {
        e.sample(
            "nfp_outbox_queue_length",
            &[("peer", peer.as_str())],
            &n.to_string(),
        );
    }
    e.family(
        "nfp_deadlines_open",
        "gauge",
        "Open deadlines, owed by this NFP or awaited from a peer, by state.",
    );
    for ((side, state), n) in &g.deadlines_open {
        e.sample(
            "nfp_deadlines_open",
            &[("direction", side), ("state", state)],
            &n.to_string(),
        );
    }
    e.family(
        "nfp_deadlines_overdue",
        "gauge",
        "Open deadlines past their due time, owed or awaited, per peer.",
    );
    let peers: Vec<Country> = g.queue.keys().copied().collect();
    for side in ["awaited", "owed"] {
        for peer in &peers {
            let n = g.overdue.get(&(side, *peer)).copied().unwrap_or(0);
            e.sample(
                "nfp_deadlines_overdue",
                &[("direction", side), ("peer", peer.as_str())],
                &n.to_string(),
            );
        }
    }
    e.family(
        "nfp_tls_handshake_failures_total",
        "counter",
        "Incoming TLS handshakes refused (unknown or unpinned peers, bad TLS) since start.",
    );
    e.sample(
        "nfp_tls_handshake_failures_total",
        &[],
        &node.metrics.handshake_failures().to_string(),
    );
    e.family("nfp_audit_entries", "gauge", "Entries in the audit log.");
    e.sample("nfp_audit_entries", &[], &g.audit_entries.to_string());
    e.family(
        "nfp_audit_checkpoint_size",
        "gauge",
        "Entries covered by the latest signed checkpoint.",
    );
    e.sample(
        "nfp_audit_checkpoint_size",
        &[],
        &g.checkpoint_size.to_string(),
    );
    e.family(
        "nfp_certificate_expiry_seconds",
        "gauge",
        "When a TLS certificate expires, as a Unix time: this node's own (party=\"self\") or a peer's.",
    );
    for (party, at) in &g.certificates {
        e.sample(
            "nfp_certificate_expiry_seconds",
            &[("party", party)],
            &at.to_string(),
        );
    }
    e.finish()
}

/// One readiness check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Readiness {
    /// The store answers reads.
    pub store: Result<(), String>,
    /// The QUIC endpoint is bound.
    pub quic: Result<(), String>,
    /// The audit trail's head entry can be read.
    pub audit: Result<(), String>,
    /// The node is not shutting down.
    pub running: Result<(), String>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        self.store.is_ok() && self.quic.is_ok() && self.audit.is_ok() && self.running.is_ok()
    }

    /// The JSON answer: `status` and each check as `ok` or its problem.
    pub fn to_json(&self) -> serde_json::Value {
        let one = |r: &Result<(), String>| match r {
            Ok(()) => serde_json::Value::from("ok"),
            Err(e) => serde_json::Value::from(e.as_str()),
        };
        serde_json::json!({
            "status": if self.ready() { "ready" } else { "not-ready" },
            "checks": {
                "store": one(&self.store),
                "quic": one(&self.quic),
                "audit": one(&self.audit),
                "running": one(&self.running),
            }
        })
    }
}

impl Node {
    /// The metrics in the Prometheus text format. Reads every message
    /// record and deadline, off the async threads, one scrape at a time.
    pub async fn metrics_text(self: &Arc<Self>) -> Result<String, StoreError> {
        let _one = self.metrics.scrape.lock().await;
        let node = self.clone();
        tokio::task::spawn_blocking(move || gather(&node).map(|g| render(&node, &g)))
            .await
            .map_err(|e| StoreError::Io(format!("metrics task: {e}")))?
    }

    /// The readiness checks: store, QUIC endpoint, audit head, not stopping.
    pub fn readiness(&self) -> Readiness {
        let (size, _) = self.store.audit_snapshot();
        let audit = match size.checked_sub(1) {
            None => Err("the audit trail is empty".to_string()),
            Some(last) => match self.store.audit_entry(last) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(format!("audit entry {last} is missing")),
                Err(e) => Err(e.to_string()),
            },
        };
        Readiness {
            store: self
                .store
                .latest_checkpoint()
                .map(|_| ())
                .map_err(|e| e.to_string()),
            quic: match self.transport.local_addr() {
                Some(_) => Ok(()),
                None => Err("the QUIC endpoint is not bound".into()),
            },
            audit,
            running: if *self.shutdown.borrow() {
                Err("the node is stopping".into())
            } else {
                Ok(())
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_places_observations_on_bounds() {
        static B: [u64; 3] = [10, 100, 1000];
        let h = Histogram::new(&B);
        for ms in [0, 10, 11, 100, 999, 1000, 1001, 50_000] {
            h.observe_ms(ms);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![(10, 2), (100, 4), (1000, 6)]);
        assert_eq!(s.count, 8);
        assert_eq!(s.sum_ms, 10 + 11 + 100 + 999 + 1000 + 1001 + 50_000);
    }

    #[test]
    fn histogram_is_shared_between_threads() {
        let m = Arc::new(Metrics::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        m.delivered(i);
                        m.handshake_failed();
                    }
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok());
        }
        assert_eq!(m.latency().count, 4000);
        assert_eq!(m.handshake_failures(), 4000);
        let last = m.latency().cumulative.last().copied();
        assert_eq!(last, Some((86_400_000, 4000)));
    }

    #[test]
    fn escaping_follows_the_text_format() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
    }

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds_text(0), "0");
        assert_eq!(seconds_text(25), "0.025");
        assert_eq!(seconds_text(50), "0.05");
        assert_eq!(seconds_text(2500), "2.5");
        assert_eq!(seconds_text(86_400_000), "86400");
        assert_eq!(seconds_text(1001), "1.001");
    }

    #[test]
    fn exposition_has_help_type_and_escaped_samples() {
        static B: [u64; 2] = [50, 1000];
        let h = Histogram::new(&B);
        h.observe_ms(40);
        h.observe_ms(5000);
        let mut e = Exposition::default();
        e.family("nfp_x", "gauge", "An example\nwith two lines.");
        e.sample("nfp_x", &[("peer", "G\"R"), ("kind", "a\\b")], "3");
        e.family("nfp_lat_seconds", "histogram", "Latency.");
        e.histogram("nfp_lat_seconds", &h.snapshot());
        let text = e.finish();
        let expected = "# HELP nfp_x An example\\nwith two lines.\n\
# TYPE nfp_x gauge\n\
nfp_x{peer=\"G\\\"R\",kind=\"a\\\\b\"} 3\n\
# HELP nfp_lat_seconds Latency.\n\
# TYPE nfp_lat_seconds histogram\n\
nfp_lat_seconds_bucket{le=\"0.05\"} 1\n\
nfp_lat_seconds_bucket{le=\"1\"} 1\n\
nfp_lat_seconds_bucket{le=\"+Inf\"} 2\n\
nfp_lat_seconds_sum 5.04\n\
nfp_lat_seconds_count 2\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn latency_bounds_ascend() {
        assert!(LATENCY_BUCKETS_MS.windows(2).all(|w| w[0] < w[1]));
    }
}
