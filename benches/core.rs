//! Micro-benchmarks of the hot path's pieces, on the standard toolchain
//! (no external harness): `cargo bench --bench core`. Each line prints the
//! mean time per operation over a fixed wall-clock budget.

use nfp_node::protocol::agreement::Agreement;
use nfp_node::protocol::audit::{
    Chain, Checkpoint, CompactRange, Event, Hash, Record, SignedCheckpoint, Trust, Witness, cosign,
    leaf_hash, sign_checkpoint, verify_bundle,
};
use nfp_node::protocol::deadline::{Calendar, SlaDuration, due};
use nfp_node::protocol::envelope::{self, Meta, Receipt, sha256};
use nfp_node::protocol::forms::{Form, Kind};
use nfp_node::protocol::id::MessageId;
use nfp_node::protocol::keys::{DecryptionKey, SigningKey};
use nfp_node::store::Store;
use std::hint::black_box;
use std::time::{Duration, Instant};

const FORM: &str = include_str!("../config/forms/social-inquiry-request.json");
const AGREEMENT: &str = include_str!("../config/agreements/AL-GR.toml");

fn bench(name: &str, mut f: impl FnMut()) {
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
    f();
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    let per = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
    println!("{name:<44} {per:>10.2} ms/op   ({runs} ops)");
}

/// The verifiable log: a million-leaf root, and a full offline check.
fn log_benches() {
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
    drop(leaves);

    // 100,000 entries, a checkpoint every 1,000 cosigned by one witness.
    const N: usize = 100_000;
    const EVERY: usize = 1_000;
    let origin = "nfp.example/GR/audit";
    let log_key = SigningKey::from_seed(&[21; 32]);
    let witness_key = SigningKey::from_seed(&[22; 32]);
    let mut chain = Chain::empty();
    let mut range = CompactRange::new();
    let mut entries = Vec::with_capacity(N);
    let mut checkpoints = Vec::new();
    for i in 0..N {
        let rec = Record {
            peer: Some("AL".parse().expect("AL")),
            message: Some(MessageId::new(1_795_392_000_000 + i as u64, [9; 10])),
            envelope: Some([7; 32]),
            detail: None,
        };
        let (_, bytes, next) = chain
            .append(Event::MessageDelivered, rec, 1_795_392_000 + i as i64)
            .expect("append");
        range.append(next.head);
        entries.push(bytes);
        chain = next;
        if (i + 1) % EVERY == 0 {
            let cp = Checkpoint {
                origin: origin.into(),
                size: range.size(),
                root: range.root(),
            };
            checkpoints.push(SignedCheckpoint {
                note: sign_checkpoint(&cp, origin, &log_key).expect("sign"),
                cosignatures: vec![
                    cosign(&cp, "nfp.example/AL/witness", &witness_key, 1_795_400_000)
                        .expect("cosign"),
                ],
            });
        }
    }
    let trust = Trust {
        origin: origin.into(),
        log_name: origin.into(),
        log_keys: vec![log_key.verifying_key()],
        witnesses: vec![Witness {
            name: "nfp.example/AL/witness".into(),
            key: witness_key.verifying_key(),
        }],
        max_lag: None,
    };
    bench_runs("offline verify, 100k entries, 100 checkpoints", 3, || {
        let v = verify_bundle(&entries, &checkpoints, &trust).expect("verifies");
        black_box(v);
    });
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

    log_benches();

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), &[8; 32]).expect("store");
    let mut k: u64 = 0;
    bench("store: audit append + flush + fsync", || {
        k += 1;
        store
            .append_audit(Event::MessageReceived, Record::default(), k as i64)
            .expect("append");
        store.sync().expect("sync");
    });
    bench("store: audit append, no sync", || {
        k += 1;
        store
            .append_audit(Event::MessageReceived, Record::default(), k as i64)
            .expect("append");
    });
}
