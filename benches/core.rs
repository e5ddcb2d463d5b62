//! Micro-benchmarks of the hot path's pieces, on the standard toolchain
//! (no external harness): `cargo bench --bench core [-- PATTERN]`, where
//! PATTERN keeps only the benchmarks whose name contains it. Each line
//! prints the mean time per operation over a fixed wall-clock budget, or
//! the median of a few runs for the slow ones.

use nfp_node::protocol::agreement::Agreement;
use nfp_node::protocol::audit::{
    Chain, Checkpoint, CompactRange, Event, Hash, Record, SignedCheckpoint, Trust, Witness, cosign,
    leaf_hash, sign_checkpoint, verify_bundle,
};
use nfp_node::protocol::card::PeerCard;
use nfp_node::protocol::deadline::{Calendar, SlaDuration, due};
use nfp_node::protocol::envelope::{self, Meta, Receipt, sha256};
use nfp_node::protocol::forms::{Form, Kind};
use nfp_node::protocol::id::MessageId;
use nfp_node::protocol::keys::{DecryptionKey, SigningKey, SpkiPin};
use nfp_node::store::Store;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const FORM: &str = include_str!("../config/forms/social-inquiry-request.json");
const AGREEMENT: &str = include_str!("../config/agreements/AL-GR.toml");

fn bench(name: &str, mut f: impl FnMut()) {
    if !wanted(name) {
        return;
    }
    // Warm up, then run for about half a second.
    for _ in 0..10 {
        f();
    }
    let budget = Duration::from_millis(500);
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..10 {
            f();
        }
        n += 10;
    }
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    let (v, unit) = if per >= 1_000_000.0 {
        (per / 1_000_000.0, "ms")
    } else if per >= 1_000.0 {
        (per / 1_000.0, "µs")
    } else {
        (per, "ns")
    };
    println!("{name:<44} {v:>10.2} {unit}/op   ({n} ops)");
}

/// Times `f` over a fixed number of runs, for operations too slow for
/// [`bench`]'s half-second budget.
fn bench_runs(name: &str, runs: u32, mut f: impl FnMut()) {
    if !wanted(name) {
        return;
    }
    f();
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    let per = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
    println!("{name:<44} {per:>10.2} ms/op   ({runs} ops)");
}

/// The first command-line argument that is not a flag: only benchmarks
/// whose name contains it run (`cargo bench --bench core -- audit`).
fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

fn wanted(name: &str) -> bool {
    filter().is_none_or(|f| name.contains(&f))
}

/// The median of `runs` timings of `f`, in seconds, after one warm-up run.
fn median_secs(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn per_entry(name: &str, n: usize, secs: f64) {
    println!(
        "{name:<44} {:>10.3} µs/entry   ({n} entries: {:.3} s)",
        secs * 1e6 / n as f64,
        secs
    );
}

/// A node's two cards (the log's, GR, and its witness's, AL) and keys.
struct Parties {
    gr: PeerCard,
    al: PeerCard,
    gr_key: SigningKey,
    al_key: SigningKey,
}

fn card(country: &str, key: &SigningKey, seed: u8) -> PeerCard {
    PeerCard {
        country: country.parse().expect("country"),
        name: format!("NFP {country}"),
        endpoint: format!("{}.nfp.example:4433", country.to_lowercase()),
        signing_key: key.verifying_key(),
        encryption_key: DecryptionKey::from_bytes(&[seed; 32])
            .expect("key")
            .public(),
        tls_spki_sha256: SpkiPin([seed; 32]),
        log_origin: None,
        rotation: 0,
        previous: Vec::new(),
    }
}

fn parties() -> Parties {
    let gr_key = SigningKey::from_seed(&[21; 32]);
    let al_key = SigningKey::from_seed(&[22; 32]);
    Parties {
        gr: card("GR", &gr_key, 23),
        al: card("AL", &al_key, 24),
        gr_key,
        al_key,
    }
}

/// A log of `n` entries, each like a delivery entry of a real node (peer,
/// message id, envelope hash), and a checkpoint every `every` entries
/// cosigned by the witness; plus the mean time of one pure append.
struct Log {
    entries: Vec<Vec<u8>>,
    checkpoints: Vec<SignedCheckpoint>,
    append_secs: f64,
}

fn build_log(p: &Parties, n: usize, every: usize) -> Log {
    let origin = p.gr.log_origin();
    let witness = p.al.log_origin();
    let mut chain = Chain::empty();
    let mut range = CompactRange::new();
    let mut entries = Vec::with_capacity(n);
    let mut checkpoints = Vec::new();
    let mut appending = Duration::ZERO;
    for i in 0..n {
        let rec = Record {
            peer: Some("AL".parse().expect("AL")),
            message: Some(MessageId::new(1_795_392_000_000 + i as u64, [9; 10])),
            envelope: Some([7; 32]),
            detail: None,
        };
        let t = Instant::now();
        let (_, bytes, next) = chain
            .append(Event::MessageDelivered, rec, 1_795_392_000 + i as i64)
            .expect("append");
        appending += t.elapsed();
        range.append(next.head);
        entries.push(bytes);
        chain = next;
        if (i + 1) % every == 0 {
            let cp = Checkpoint {
                origin: origin.clone(),
                size: range.size(),
                root: range.root(),
            };
            checkpoints.push(SignedCheckpoint {
                note: sign_checkpoint(&cp, &origin, &p.gr_key).expect("sign"),
                cosignatures: vec![
                    cosign(&cp, &witness, &p.al_key, 1_795_400_000).expect("cosign"),
                ],
            });
        }
    }
    Log {
        entries,
        checkpoints,
        append_secs: appending.as_secs_f64() / n.max(1) as f64,
    }
}

/// Writes `log` as `audit export` would, into the new directory `dir`.
fn write_bundle(p: &Parties, log: &Log, every: usize, dir: &Path) {
    std::fs::create_dir_all(dir).expect("bundle dir");
    let mut cbor = Vec::new();
    for e in &log.entries {
        ciborium::into_writer(&serde_bytes::Bytes::new(e), &mut cbor).expect("cbor");
    }
    std::fs::write(dir.join("entries.cbor"), cbor).expect("entries.cbor");
    let cps: Vec<serde_json::Value> = log
        .checkpoints
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let lines: Vec<serde_json::Value> = c
                .cosignatures
                .iter()
                .map(|l| serde_json::json!({"peer": "AL", "line": l}))
                .collect();
            serde_json::json!({"size": (k + 1) * every, "note": c.note, "cosignatures": lines})
        })
        .collect();
    let json = |name: &str, v: serde_json::Value| {
        std::fs::write(dir.join(name), v.to_string()).expect("json file");
    };
    json("checkpoints.json", serde_json::Value::Array(cps));
    json("witnessed.json", serde_json::json!([]));
    json("rotations.json", serde_json::json!([]));
    json(
        "log.json",
        serde_json::json!({
            "format": nfp_node::bundle::FORMAT,
            "origin": p.gr.log_origin(),
            "country": "GR",
            "log_key": p.gr.signing_key.to_string(),
            "size": log.entries.len(),
        }),
    );
}

/// The verifiable log as it grows: a million-leaf root, then for 10^4,
/// 10^5 and 10^6 entries (a checkpoint every 1,000, cosigned) the cost per
/// entry of appending, of verifying in memory, and of verifying an
/// exported bundle from disk as `audit verify --bundle` does (read the
/// file, split it, verify). With `NFP_BENCH_KEEP=DIR`, the largest bundle
/// and both cards are left in DIR for timing the command itself;
/// `NFP_BENCH_LOG_SIZES` (comma-separated) replaces the three sizes.
fn log_benches() {
    if wanted("merkle root") {
        let leaves: Vec<Hash> = (0..1_000_000u64)
            .map(|i| leaf_hash(&i.to_be_bytes()))
            .collect();
        bench_runs("merkle root, 1M leaves (compact range)", 3, || {
            let mut range = CompactRange::new();
            for leaf in &leaves {
                range.append(*leaf);
            }
            black_box(range.root());
        });
    }
    if !wanted("audit log") {
        return;
    }
    let p = parties();
    let cards = [p.gr.clone(), p.al.clone()];
    let trust = Trust {
        origin: p.gr.log_origin(),
        log_name: p.gr.log_origin(),
        log_keys: vec![p.gr.signing_key],
        witnesses: vec![Witness {
            name: p.al.log_origin(),
            key: p.al.signing_key,
        }],
        max_lag: None,
    };
    let keep = std::env::var_os("NFP_BENCH_KEEP").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().expect("tempdir");
    // NFP_BENCH_LOG_SIZES=10000,20000 measures other sizes (for a profile).
    let sizes: Vec<usize> = std::env::var("NFP_BENCH_LOG_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let largest = sizes.iter().copied().max().unwrap_or(0);
    for n in sizes {
        let log = build_log(&p, n, 1_000);
        let runs = if n >= 1_000_000 { 3 } else { 9 };
        println!(
            "{:<44} {:>10.3} µs/entry   ({n} entries)",
            format!("audit log {n}: append (pure)"),
            log.append_secs * 1e6
        );
        let secs = median_secs(runs, || {
            let v = verify_bundle(&log.entries, &log.checkpoints, &trust).expect("verifies");
            assert_eq!(v.chain.size, n as u64);
            black_box(v);
        });
        per_entry(&format!("audit log {n}: verify in memory"), n, secs);
        let dir = match &keep {
            Some(k) if n == largest => k.join("bundle"),
            _ => tmp.path().join(format!("bundle-{n}")),
        };
        let _ = std::fs::remove_dir_all(&dir);
        write_bundle(&p, &log, 1_000, &dir);
        drop(log);
        let secs = median_secs(runs, || {
            let r = nfp_node::bundle::verify(&dir, &cards).expect("bundle verifies");
            assert_eq!(r.verified.chain.size, n as u64);
            black_box(r);
        });
        per_entry(&format!("audit log {n}: verify bundle from disk"), n, secs);
    }
    if let Some(k) = &keep {
        std::fs::write(k.join("GR.toml"), p.gr.to_toml()).expect("card");
        std::fs::write(k.join("AL.toml"), p.al.to_toml()).expect("card");
        println!(
            "kept: nfp-node audit verify --bundle {0}/bundle --trust {0}/GR.toml --trust {0}/AL.toml",
            k.display()
        );
    }
}

/// The example social-inquiry request with its free text lengthened until
/// its CBOR is about `target` bytes (the child's account up to its limit,
/// then questions of up to 2,000 characters).
fn form_of_size(target: usize, today: jiff::civil::Date) -> (Form, Vec<u8>, Vec<u8>) {
    let mut json: serde_json::Value = serde_json::from_str(FORM).expect("example form");
    let base = Form::from_json(Kind::SocialInquiryRequest, FORM.as_bytes(), today)
        .expect("form")
        .to_cbor()
        .len();
    let mut need = target.saturating_sub(base);
    let account = json["child_account"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let grow = need.min(20_000 - account.len());
    json["child_account"] = format!("{account}{}", "a".repeat(grow)).into();
    need -= grow;
    while need > 0 {
        // Each question costs its text plus a three-byte head.
        let len = need.saturating_sub(3).clamp(1, 2_000);
        if let Some(q) = json["questions"].as_array_mut() {
            q.push("q".repeat(len).into());
        }
        need = need.saturating_sub(len + 3);
    }
    let text = serde_json::to_vec(&json).expect("json");
    let form = Form::from_json(Kind::SocialInquiryRequest, &text, today).expect("form");
    let cbor = form.to_cbor();
    (form, cbor, text)
}

/// Seal, open and validation as the form grows: 1 KiB and 64 KiB (the
/// largest form a node accepts, `MAX_FORM_BYTES`), and the cryptography
/// alone on a 1 MiB payload, which no node sends or opens (a form over
/// 64 KiB is refused before sealing, an envelope over `MAX_ENVELOPE` is
/// refused before opening).
fn form_size_benches(meta: &Meta, agreement: &Agreement, today: jiff::civil::Date) {
    let sender = SigningKey::from_seed(&[1; 32]);
    let recipient = DecryptionKey::from_bytes(&[2; 32]).expect("key");
    let recipient_pub = recipient.public();
    let vk = sender.verifying_key();
    let al = "AL".parse().expect("AL");
    let gr = "GR".parse().expect("GR");
    for (label, target) in [("1 KiB", 1024usize), ("64 KiB", 64 * 1024 - 64)] {
        let (_, cbor, json) = form_of_size(target, today);
        let env = envelope::seal(meta, &cbor, &sender, &recipient_pub, [3; 32]).expect("seal");
        let name = |what: &str| format!("form {label}: {what}");
        if wanted(&name("")) {
            println!(
                "form {label}: {} bytes CBOR, {} bytes JSON, envelope {} bytes",
                cbor.len(),
                json.len(),
                env.len()
            );
        }
        bench(&name("envelope seal"), || {
            black_box(envelope::seal(meta, &cbor, &sender, &recipient_pub, [3; 32]).ok());
        });
        bench(&name("envelope open"), || {
            let outer = envelope::read_outer(black_box(&env)).expect("outer");
            outer.meta.check_agreement(agreement).expect("agreement");
            black_box(outer.open(al, &recipient, gr, &[vk]).ok());
        });
        bench(&name("validate from JSON"), || {
            black_box(Form::from_json(Kind::SocialInquiryRequest, &json, today).ok());
        });
        bench(&name("decode + validate from CBOR"), || {
            black_box(Form::from_cbor(Kind::SocialInquiryRequest, &cbor, today).ok());
        });
    }
    // 1 MiB: a CBOR byte string of that size, sealed (sign + HPKE).
    let mut big = Vec::new();
    ciborium::into_writer(&serde_bytes::Bytes::new(&vec![0x61; 1 << 20]), &mut big).expect("cbor");
    bench("form 1 MiB: envelope seal (crypto only)", || {
        black_box(envelope::seal(meta, &big, &sender, &recipient_pub, [3; 32]).ok());
    });
    let env = envelope::seal(meta, &big, &sender, &recipient_pub, [3; 32]).expect("seal");
    if wanted("form 1 MiB") {
        println!(
            "form 1 MiB: envelope {} bytes; opening it is refused ({})",
            env.len(),
            envelope::read_outer(&env)
                .err()
                .map_or("accepted".into(), |e| e.to_string())
        );
    }
}

fn main() {
    let today = jiff::civil::date(2026, 11, 23);
    let agreement = Agreement::from_toml(AGREEMENT).expect("example agreement");
    let sender = SigningKey::from_seed(&[1; 32]);
    let recipient = DecryptionKey::from_bytes(&[2; 32]).expect("key");
    let recipient_pub = recipient.public();
    let form = Form::from_json(Kind::SocialInquiryRequest, FORM.as_bytes(), today).expect("form");
    let form_cbor = form.to_cbor();
    let meta = Meta {
        v: 1,
        id: MessageId::new(1_795_392_000_000, [9; 10]),
        to: "AL".parse().expect("AL"),
        case: "GR-2026-0001".into(),
        from: "GR".parse().expect("GR"),
        kind: Kind::SocialInquiryRequest,
        lang: "en".parse().expect("en"),
        created: 1_795_392_000,
        minor: 0,
        reply_to: None,
        agreement: (
            agreement.id.clone(),
            agreement.version,
            serde_bytes::ByteBuf::from(agreement.hash().to_vec()),
        ),
    };
    let env = envelope::seal(&meta, &form_cbor, &sender, &recipient_pub, [3; 32]).expect("seal");
    println!(
        "form: {} bytes CBOR; envelope: {} bytes",
        form_cbor.len(),
        env.len()
    );

    bench("envelope seal (social-inquiry-request)", || {
        black_box(envelope::seal(&meta, &form_cbor, &sender, &recipient_pub, [3; 32]).ok());
    });
    let al = "AL".parse().expect("AL");
    let gr = "GR".parse().expect("GR");
    let vk = sender.verifying_key();
    bench("envelope open (read, agreement, decrypt, verify)", || {
        let outer = envelope::read_outer(black_box(&env)).expect("outer");
        outer.meta.check_agreement(&agreement).expect("agreement");
        black_box(outer.open(al, &recipient, gr, &[vk]).ok());
    });
    bench("form validate from JSON", || {
        black_box(Form::from_json(Kind::SocialInquiryRequest, FORM.as_bytes(), today).ok());
    });
    bench("form decode + validate from CBOR", || {
        black_box(Form::from_cbor(Kind::SocialInquiryRequest, &form_cbor, today).ok());
    });
    let receipt = Receipt {
        v: 1,
        id: meta.id,
        to: gr,
        due: None,
        from: al,
        envelope: serde_bytes::ByteBuf::from(sha256(&env).to_vec()),
        received: 1_795_392_001,
    };
    let al_key = SigningKey::from_seed(&[5; 32]);
    let signed = envelope::sign_receipt(&receipt, &al_key).expect("receipt");
    bench("receipt sign", || {
        black_box(envelope::sign_receipt(&receipt, &al_key).ok());
    });
    let al_vk = al_key.verifying_key();
    bench("receipt verify", || {
        black_box(envelope::verify_receipt(&signed, al, &[al_vk], gr, meta.id, &env).ok());
    });
    let mut chain = Chain::empty();
    let mut entries = Vec::new();
    bench("audit entry append (pure)", || {
        let rec = Record {
            peer: Some(gr),
            message: Some(meta.id),
            envelope: Some([7; 32]),
            detail: Some("social-inquiry-request".into()),
        };
        let (_, bytes, next) = chain
            .append(Event::MessageReceived, rec, 1_795_392_000)
            .expect("append");
        chain = next;
        if entries.len() < 100_000 {
            entries.push(bytes);
        }
    });
    let mut i = 0usize;
    let mut vchain = Chain::empty();
    bench("audit entry verify (in order)", || {
        if i == entries.len() {
            i = 0;
            vchain = Chain::empty();
        }
        vchain = vchain.verify_next(&entries[i]).expect("verify").1;
        i += 1;
    });
    let start = jiff::Timestamp::from_second(1_795_392_000).expect("ts");
    let thirty = SlaDuration::parse("30 working days").expect("duration");
    let cal = Calendar::default();
    bench("deadline: 30 working days", || {
        black_box(due(start, thirty, &cal).ok());
    });

    form_size_benches(&meta, &agreement, today);
    log_benches();
    store_benches();
}

/// The store: one durable audit append, one without a sync, on an empty
/// store; then the same, and reopening the store, with the log pre-filled
/// to 10^4, 10^5 and 10^6 entries (the `store growth` lines).
fn store_benches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path(), &[8; 32]).expect("store");
    let mut k: u64 = 0;
    let rec = || Record {
        peer: Some("AL".parse().expect("AL")),
        message: Some(MessageId::new(1_795_392_000_000, [9; 10])),
        envelope: Some([7; 32]),
        detail: None,
    };
    let mut append = |store: &Store, sync: bool| {
        k += 1;
        store
            .append_audit(Event::MessageDelivered, rec(), k as i64)
            .expect("append");
        if sync {
            store.sync().expect("sync");
        }
    };
    bench("store: audit append + flush + fsync", || {
        append(&store, true)
    });
    bench("store: audit append, no sync", || append(&store, false));
    if !wanted("store growth") {
        return;
    }
    for n in [10_000u64, 100_000, 1_000_000] {
        while store.audit_head().size < n {
            append(&store, false);
        }
        store.sync().expect("sync");
        let label = |what: &str| format!("store growth {n}: {what}");
        bench(&label("append + flush + fsync"), || append(&store, true));
        bench(&label("append, no sync"), || append(&store, false));
        drop(store);
        let t = Instant::now();
        store = Store::open(dir.path(), &[8; 32]).expect("store");
        println!(
            "{:<44} {:>10.2} ms",
            label("reopen the store"),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}
