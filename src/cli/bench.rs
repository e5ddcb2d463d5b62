//! `nfp-node bench`: real nodes on loopback — one hub and N peers, real
//! QUIC, crypto and durable sled stores — driven with K messages in flight
//! per peer. Reports delivered, receipted envelopes per second, end-to-end
//! latency percentiles (send to verified receipt), CPU time per envelope
//! and peak memory, next to the floor measured in the same run: Ed25519
//! sign and verify, HPKE seal and open, and fdatasync.

use super::Failure;
use crate::node::access::Caller;
use crate::node::clock::SystemClock;
use crate::node::{self, SendRequest};
use crate::protocol::forms::Kind;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const AGREEMENT: &str = include_str!("../../config/agreements/AL-GR.toml");
const FORM: &str = include_str!("../../config/forms/social-inquiry-request.json");
const PEERS: &[&str] = &[
    "GR", "IT", "FR", "DE", "ES", "PT", "NL", "BE", "AT", "CH", "PL", "CZ", "SK", "HU", "RO", "BG",
    "RS", "ME", "MK", "BA", "HR", "SI", "TR", "CY", "MT", "IE", "GB", "DK", "SE", "NO", "FI", "EE",
    "LV", "LT", "UA", "MD", "GE", "AM", "AZ", "IS", "LU", "LI", "MC", "SM", "AD", "BY", "KZ", "UZ",
    "TN", "MA",
];

/// Seconds of CPU this process has used (user + system), from /proc.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak resident memory of this process, MiB, from /proc.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[idx.saturating_sub(1).min(sorted.len() - 1)]
}

/// The per-envelope floor: what the cryptography and one fdatasync cost.
fn floor(dir: &std::path::Path) -> serde_json::Value {
    use crate::protocol::envelope;
    use crate::protocol::keys::{DecryptionKey, SigningKey};
    let n = 300;
    let sk = SigningKey::from_seed(&[1; 32]);
    let vk = sk.verifying_key();
    let msg = vec![7u8; 1024];
    let t = Instant::now();
    let mut sig = [0u8; 64];
    for _ in 0..n {
        sig = sk.sign(&msg);
    }
    let sign_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for _ in 0..n {
        let _ = vk.verify(&msg, &sig);
    }
    let verify_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    // HPKE alone: seal an envelope's worth of bytes, then open it.
    let dk = DecryptionKey::from_bytes(&[2; 32]).ok();
    let (mut seal_us, mut open_us) = (f64::NAN, f64::NAN);
    if let (Some(dk), Ok(agreement)) = (
        dk,
        crate::protocol::agreement::Agreement::from_toml(AGREEMENT),
    ) {
        let today = jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date();
        if let Ok(form) = crate::protocol::forms::Form::from_json(
            Kind::SocialInquiryRequest,
            FORM.as_bytes(),
            today,
        ) {
            let meta = envelope::Meta {
                v: envelope::VERSION,
                id: crate::protocol::id::MessageId::new(1, [1; 10]),
                to: "AL".parse().unwrap_or_else(|_| agreement.parties[0]),
                case: "BENCH".into(),
                from: agreement.parties[1],
                kind: Kind::SocialInquiryRequest,
                lang: agreement.languages[0],
                minor: 0,
                created: 1,
                reply_to: None,
                agreement: (
                    agreement.id.clone(),
                    agreement.version,
                    serde_bytes::ByteBuf::from(agreement.hash().to_vec()),
                ),
            };
            let cbor = form.to_cbor();
            let t = Instant::now();
            let mut env = Vec::new();
            for _ in 0..n {
                env = envelope::seal(&meta, &cbor, &sk, &dk.public(), [3; 32]).unwrap_or_default();
            }
            seal_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            let t = Instant::now();
            for _ in 0..n {
                if let Ok(o) = envelope::read_outer(&env) {
                    let _ = o.open(meta.to, &dk, meta.from, &[vk]);
                }
            }
            open_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        }
    }
    // fdatasync of a small write on the same file system as the stores.
    let path = dir.join("fsync-probe");
    let mut fsync_us = f64::NAN;
    if let Ok(mut f) = std::fs::File::create(&path) {
        use std::io::Write as _;
        let rounds = 50;
        let t = Instant::now();
        for _ in 0..rounds {
            let _ = f.write_all(&[0u8; 4096]);
            let _ = f.sync_data();
        }
        fsync_us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    }
    serde_json::json!({
        "ed25519_sign_us": sign_us,
        "ed25519_verify_us": verify_us,
        "envelope_seal_us": seal_us,
        "envelope_open_us": open_us,
        "fdatasync_us": fsync_us,
    })
}

pub(super) async fn run(
    peers: usize,
    in_flight: usize,
    messages: usize,
    json: bool,
) -> Result<(), Failure> {
    if peers == 0 || peers > PEERS.len() {
        return Err(Failure::invalid(format!(
            "--peers must be 1 to {}",
            PEERS.len()
        )));
    }
    if in_flight == 0 || in_flight > 1024 {
        return Err(Failure::invalid("--in-flight must be 1 to 1024"));
    }
    let dir = tempfile::Builder::new()
        .prefix("nfp-bench-")
        .tempdir()
        .map_err(|e| Failure::failed(e.to_string()))?;
    let base = dir.path();
    // One hub (AL) and N peers, each linked to the hub under its own agreement.
    let hub = super::lab::node(base, "AL", "hub (bench)")?;
    let mut spokes = Vec::new();
    for cc in &PEERS[..peers] {
        let (home, card) = super::lab::node(base, cc, &format!("peer {cc} (bench)"))?;
        let text = AGREEMENT
            .replace("AL-GR", &format!("AL-{cc}"))
            .replace("\"GR\"", &format!("\"{cc}\""));
        super::lab::link((&hub.0, &hub.1), (&home, &card), &text)?;
        spokes.push((home, card));
    }
    let fail = |e: node::NodeError| Failure::failed(e.to_string());
    let hub_node = node::start(&hub.0, Arc::new(SystemClock))
        .await
        .map_err(fail)?;
    let mut running = Vec::new();
    for (home, _) in &spokes {
        running.push(
            node::start(home, Arc::new(SystemClock))
                .await
                .map_err(fail)?,
        );
    }
    let form: serde_json::Value =
        serde_json::from_str(FORM).map_err(|e| Failure::failed(e.to_string()))?;
    let admin = Caller::node_admin();
    for r in &running {
        r.node
            .open_case("BENCH", &Default::default(), "bench")
            .await
            .map_err(|e| Failure::failed(e.to_string()))?;
    }
    let request = |to| SendRequest {
        to,
        kind: Kind::SocialInquiryRequest,
        case: "BENCH".into(),
        lang: None,
        reply_to: None,
        form: form.clone(),
        family_tracing: false,
        override_reason: None,
        attachments: Vec::new(),
        translations: Vec::new(),
    };
    // Warm up: connections, caches.
    for r in &running {
        let mut rx = r.node.delivered.subscribe();
        let id = r
            .node
            .send(&admin, request(hub.1.country))
            .await
            .map_err(|e| Failure::failed(e.to_string()))?;
        while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            if d == id {
                break;
            }
        }
    }
    let per_peer = messages.div_ceil(peers);
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for r in &running {
        let n = r.node.clone();
        let to = hub.1.country;
        let req = request(to);
        let admin = admin.clone();
        tasks.spawn(async move {
            // K messages in flight from the moment they are submitted:
            // sends run concurrently, as several operators' would, and a
            // message counts until its verified receipt is in.
            let mut rx = n.delivered.subscribe();
            let mut sending = tokio::task::JoinSet::new();
            let mut pending: HashMap<crate::protocol::id::MessageId, Instant> = HashMap::new();
            let mut early: HashMap<crate::protocol::id::MessageId, Instant> = HashMap::new();
            let mut latencies = Vec::with_capacity(per_peer);
            let mut submitted = 0usize;
            while latencies.len() < per_peer {
                while sending.len() + pending.len() < in_flight && submitted < per_peer {
                    let (n, admin, req) = (n.clone(), admin.clone(), req.clone());
                    sending.spawn(async move {
                        let started = Instant::now();
                        n.send(&admin, req).await.map(|id| (id, started))
                    });
                    submitted += 1;
                }
                tokio::select! {
                    Some(done) = sending.join_next(), if !sending.is_empty() => {
                        match done {
                            Ok(Ok((id, started))) => match early.remove(&id) {
                                Some(at) => latencies.push(
                                    at.duration_since(started).as_secs_f64() * 1000.0,
                                ),
                                None => {
                                    pending.insert(id, started);
                                }
                            },
                            Ok(Err(e)) => return Err(e.to_string()),
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                    got = tokio::time::timeout(Duration::from_secs(30), rx.recv()) => match got {
                        Ok(Ok(id)) => match pending.remove(&id) {
                            Some(t) => latencies.push(t.elapsed().as_secs_f64() * 1000.0),
                            // Delivered before its send call returned.
                            None => {
                                early.insert(id, Instant::now());
                            }
                        },
                        Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                            return Err("delivery events lagged; lower --in-flight".into());
                        }
                        Ok(Err(_)) | Err(_) => return Err("no delivery for 30 s".into()),
                    }
                }
            }
            Ok(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(l)) => all.extend(l),
            Ok(Err(e)) => return Err(Failure::failed(format!("bench failed: {e}"))),
            Err(e) => return Err(Failure::failed(e.to_string())),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (cpu0, cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    all.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let delivered = all.len();
    let rate = delivered as f64 / elapsed;
    let fl = floor(base);
    let floor_us = fl["envelope_seal_us"].as_f64().unwrap_or(0.0)
        + fl["envelope_open_us"].as_f64().unwrap_or(0.0)
        + fl["ed25519_sign_us"].as_f64().unwrap_or(0.0)
        + fl["ed25519_verify_us"].as_f64().unwrap_or(0.0);
    let cpu_per = cpu.map(|c| c * 1e6 / delivered.max(1) as f64);
    let report = serde_json::json!({
        "peers": peers,
        "in_flight": in_flight,
        "messages": delivered,
        "seconds": elapsed,
        "envelopes_per_second": rate,
        "latency_ms": {
            "p50": percentile(&all, 0.50),
            "p99": percentile(&all, 0.99),
            "max": all.last().copied().unwrap_or(f64::NAN),
        },
        "cpu_us_per_envelope": cpu_per,
        "peak_rss_mib_all_nodes_in_process": peak_rss_mib(),
        "nodes_in_process": peers + 1,
        "floor": fl,
        "floor_crypto_us_per_envelope": floor_us,
        "cpu_to_floor_ratio": cpu_per.map(|c| c / floor_us),
        "audit_entries_hub": hub_node.node.store.audit_head().size,
        "curve_backend": crate::protocol::keys::curve_backend(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    for r in running {
        r.stop().await;
    }
    hub_node.stop().await;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!(
            "{} peer(s) -> hub, {} in flight per peer: {} durable, receipted envelopes in {:.2} s = {:.0}/s",
            peers, in_flight, delivered, elapsed, rate
        );
        println!(
            "latency send -> verified receipt: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            all.last().copied().unwrap_or(f64::NAN)
        );
        if let Some(c) = cpu_per {
            println!(
                "CPU per envelope (all nodes): {c:.0} µs; crypto floor {floor_us:.0} µs (ratio {:.1})",
                c / floor_us
            );
        }
        println!(
            "floor: sign {:.1} µs, verify {:.1} µs, seal {:.1} µs, open {:.1} µs, fdatasync {:.0} µs (curve arithmetic: {})",
            fl["ed25519_sign_us"].as_f64().unwrap_or(f64::NAN),
            fl["ed25519_verify_us"].as_f64().unwrap_or(f64::NAN),
            fl["envelope_seal_us"].as_f64().unwrap_or(f64::NAN),
            fl["envelope_open_us"].as_f64().unwrap_or(f64::NAN),
            fl["fdatasync_us"].as_f64().unwrap_or(f64::NAN),
            crate::protocol::keys::curve_backend()
        );
        if let Some(m) = peak_rss_mib() {
            println!(
                "peak resident memory of the process ({} nodes in it): {m:.1} MiB",
                peers + 1
            );
        }
    }
    Ok(())
}
