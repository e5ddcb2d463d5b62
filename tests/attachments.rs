//! Attachments and translations between two real nodes: a 50 MiB file
//! crosses in chunks while both processes' memory stays bounded (RSS
//! measured, not timed), a transfer cut by killing the receiver resumes
//! where it stopped, a tampered chunk is refused, the agreed size limits
//! hold, erasure takes the files, and translations (signed by the sender,
//! or added later as a local annotation) are shown beside the original.

mod common;

use common::*;
use nfp_node::protocol::attachment::{self, Descriptor, Extras, Translation};
use nfp_node::protocol::envelope;
use nfp_node::protocol::id::MessageId;
use nfp_node::protocol::wire::{Chunk, RejectCode, Request, Response};
use sha2::Digest as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const MIB: usize = 1024 * 1024;

/// A file of `mib` MiB of varied bytes, and its SHA-256.
fn make_file(dir: &Path, name: &str, mib: usize, seed: u64) -> (PathBuf, String) {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut h = sha2::Sha256::new();
    let mut x = seed;
    let mut block = vec![0u8; MIB];
    for _ in 0..mib {
        for b in block.iter_mut() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (x >> 56) as u8;
        }
        f.write_all(&block).unwrap();
        h.update(&block);
    }
    f.flush().unwrap();
    (path, hex::encode(h.finalize()))
}

fn sha256_file(path: &Path) -> String {
    use std::io::Read as _;
    let mut h = sha2::Sha256::new();
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; MIB];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// VmRSS and VmHWM of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `attachment get` of `name` of message `id` at `n` into `out`.
fn get_attachment(n: &TestNode, id: &str, name: &str, out: &Path) -> std::process::Output {
    run(&[
        "attachment",
        "get",
        "--home",
        n.home_str(),
        id,
        name,
        "--out",
        out.to_str().unwrap(),
    ])
}

fn show(n: &TestNode, id: &str) -> serde_json::Value {
    let o = run(&["show", "--home", n.home_str(), id, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn send_with(p: &Pair, case: &str, extra: &[&str]) -> std::process::Output {
    p.gr.open_case(case);
    let mut args = vec![
        "send",
        "--home",
        p.gr.home_str(),
        "--to",
        "AL",
        "--kind",
        "social-inquiry-request",
        "--case",
        case,
        "--form",
        p.form.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn a_50_mib_attachment_crosses_with_bounded_memory_and_comes_back_out() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    let (big, big_hash) = make_file(p.dir.path(), "scan.pdf", 50, 7);
    let small = p.dir.path().join("note.txt");
    std::fs::write(&small, b"a short note").unwrap();
    // Let both settle, then take the memory baseline.
    wait_for("the nodes to settle", 10, || true);
    let al_pid = p.al.pid().unwrap();
    let gr_pid = p.gr.pid().unwrap();
    let (al_before, _) = memory_kib(al_pid);
    let (gr_before, _) = memory_kib(gr_pid);

    let o = send_with(
        &p,
        "ATT-1",
        &[
            "--attach",
            big.to_str().unwrap(),
            "--attach",
            small.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    p.gr.wait_state(&id, "delivered", 180);

    // Neither node held the file: peak memory grew by far less than it.
    let (_, al_peak) = memory_kib(al_pid);
    let (_, gr_peak) = memory_kib(gr_pid);
    let limit = 24 * 1024;
    assert!(
        al_peak < al_before + limit,
        "receiver peak {al_peak} KiB from {al_before} KiB"
    );
    assert!(
        gr_peak < gr_before + limit,
        "sender peak {gr_peak} KiB from {gr_before} KiB"
    );

    // The receiver lists both, with the signed hashes, and writes them out.
    let s = show(&p.al, &id);
    let list = s["attachments"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "scan.pdf");
    assert_eq!(list[0]["media_type"], "application/pdf");
    assert_eq!(list[0]["size"], 50 * MIB);
    assert_eq!(list[0]["sha256"], big_hash);
    let out = p.dir.path().join("scan-out.pdf");
    let o = get_attachment(&p.al, &id, "scan.pdf", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha256_file(&out), big_hash);
    let out2 = p.dir.path().join("note-out.txt");
    let o = get_attachment(&p.al, &id, "note.txt", &out2);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out2).unwrap(), b"a short note");
    // Stored encrypted: the plaintext is nowhere in the receiver's files.
    let stored = std::fs::read_dir(p.al.home.join("attachments")).unwrap();
    for f in stored {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(!bytes.windows(12).any(|w| w == b"a short note"));
    }
    // Audited: the entry commits to each hash; every read is recorded.
    let audit = p.al.audit();
    let received = audit
        .iter()
        .find(|e| e["event"] == "message-received" && e["message"] == id.as_str())
        .unwrap();
    assert!(received["detail"].as_str().unwrap().contains(&big_hash));
    let reads = audit
        .iter()
        .filter(|e| e["event"] == "attachment-read")
        .count();
    assert_eq!(reads, 2);
    // An unknown name, and a reader off the case, are refused.
    let o = get_attachment(&p.al, &id, "nope.pdf", &p.dir.path().join("x"));
    assert!(!o.status.success());

    // Erasing the case takes the files; the trail still verifies.
    let o = run(&[
        "case",
        "erase",
        "--home",
        p.al.home_str(),
        "--case",
        "ATT-1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let left = std::fs::read_dir(p.al.home.join("attachments"))
        .unwrap()
        .count();
    assert_eq!(left, 0);
    let o = run(&["audit", "verify", "--home", p.al.home_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_transfer_cut_by_killing_the_receiver_resumes() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    let (big, hash) = make_file(p.dir.path(), "photos.zip", 16, 11);
    let o = send_with(&p, "ATT-2", &["--attach", big.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    // Kill the receiver part-way.
    let part = p.al.home.join("attachments").join(format!("{id}-0.part"));
    wait_for("part of the file to arrive", 120, || {
        std::fs::metadata(&part).is_ok_and(|m| m.len() > 3 * MIB as u64)
    });
    p.al.kill9();
    let had = std::fs::metadata(&part).unwrap().len();
    assert!(
        had < 50 * MIB as u64,
        "the transfer finished before the kill"
    );
    p.al.serve();
    p.gr.wait_state(&id, "delivered", 180);
    assert!(
        p.gr.log().contains("attachment transfer resumed"),
        "the sender started over instead of resuming"
    );
    let out = p.dir.path().join("out.zip");
    let o = get_attachment(&p.al, &id, "photos.zip", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha256_file(&out), hash);
}

#[test]
fn a_tampered_chunk_is_refused_and_limits_hold() {
    let mut p = pair_with(&AGREEMENT.replace("max_file = \"64 MiB\"", "max_file = \"1 MiB\""));
    p.al.serve();
    p.gr.serve();
    // Over the agreed limit: refused at send, nothing queued.
    let (big, _) = make_file(p.dir.path(), "big.bin", 2, 3);
    let o = send_with(&p, "ATT-3", &["--attach", big.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("1 MiB per file"), "{}", stderr(&o));
    assert!(p.gr.messages().is_empty());

    // A forged sender with a known content key: a changed chunk is
    // refused, the right one completes the message.
    p.al.open_case("GR-FORGE-1");
    let f = Forger::new(&p);
    let content = vec![0x5a_u8; 1000];
    let d = Descriptor {
        name: "doc.txt".into(),
        media_type: "text/plain".into(),
        size: content.len() as u64,
        sha256: serde_bytes::ByteArray::new(sha2::Sha256::digest(&content).into()),
        chunks: 1,
        upload: serde_bytes::ByteArray::new([4; 16]),
        key: serde_bytes::ByteArray::new([6; 32]),
    };
    let sealed = attachment::seal_chunk(&d.key, &d.upload, 0, true, &content).unwrap();
    let id = MessageId::new(jiff::Timestamp::now().as_millisecond() as u64, [9; 10]);
    let extras = Extras {
        attachments: vec![d],
        translations: Vec::new(),
    };
    let env = envelope::seal_with(
        &f.meta(id),
        &f.form(),
        &extras,
        &f.gr_sign,
        &f.al_enc,
        [5; 32],
    )
    .unwrap();
    match f.deliver(env) {
        Response::NeedChunks(next) => assert_eq!(next, vec![0]),
        other => panic!("expected a request for chunks, got {other:?}"),
    }
    let mut bad = sealed.clone();
    bad[10] ^= 0x01;
    let chunk = |data: Vec<u8>| {
        Request::Chunk(Chunk {
            id,
            attachment: 0,
            index: 0,
            data,
        })
        .encode()
        .unwrap()
    };
    match f.frame(&chunk(bad)) {
        Response::Reject(r) => assert_eq!(r.code, RejectCode::Tampered, "{}", r.message),
        other => panic!("a tampered chunk was accepted: {other:?}"),
    }
    assert!(
        p.al.messages().is_empty(),
        "nothing is received before the chunks verify"
    );
    match f.frame(&chunk(sealed)) {
        Response::Receipt(_) | Response::ReceiptCosigned(..) => {}
        other => panic!("the right chunk did not complete the message: {other:?}"),
    }
    assert_eq!(p.al.messages().len(), 1);

    // A backup carries the attachment files; a restore puts them back.
    let backup = p.dir.path().join("al.backup");
    let o = run(&[
        "backup",
        "--home",
        p.al.home_str(),
        "--out",
        backup.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    p.al.stop();
    std::fs::remove_dir_all(p.al.home.join("attachments")).unwrap();
    let o = run(&[
        "restore",
        "--home",
        p.al.home_str(),
        "--from",
        backup.to_str().unwrap(),
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    p.al.serve();
    let shown = show(&p.al, &id.to_string());
    assert_eq!(shown["attachments"][0]["name"], "doc.txt");
    let out = p.dir.path().join("doc-out.txt");
    let o = get_attachment(&p.al, &id.to_string(), "doc.txt", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), content);
}

#[test]
fn translations_are_shown_beside_the_original() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    let tr = p.dir.path().join("el.json");
    std::fs::write(
        &tr,
        r#"{"lang": "el", "by": "Sworn translator (demo)", "date": "2026-11-30",
            "fields": {"child_account": "ΦΤΙΑΧΤΑ ΔΕΔΟΜΕΝΑ. Το παιδί λέει ότι ζούσε με τη μητέρα του."}}"#,
    )
    .unwrap();
    let o = send_with(&p, "TR-1", &["--translation", tr.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    p.gr.wait_state(&id, "delivered", 30);

    // AL adds its own translation of another field, locally.
    let local = p.dir.path().join("sq.json");
    std::fs::write(
        &local,
        r#"{"lang": "sq", "by": "AL duty officer", "date": "2026-11-30",
            "fields": {"questions[0]": "A është nëna e aftë dhe e gatshme të kujdeset për fëmijën?"}}"#,
    )
    .unwrap();
    let o = run(&[
        "translate",
        "--home",
        p.al.home_str(),
        &id,
        "--file",
        local.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A field that holds no text is refused.
    let bad = p.dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"lang": "sq", "by": "x", "date": "2026-11-30", "fields": {"child.date_of_birth_x": "y"}}"#,
    )
    .unwrap();
    let o = run(&[
        "translate",
        "--home",
        p.al.home_str(),
        &id,
        "--file",
        bad.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a text field"), "{}", stderr(&o));

    let o = run(&["show", "--home", p.al.home_str(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("the original (en) prevails"), "{text}");
    assert!(
        text.contains("original [en]:   MADE-UP DEMO DATA"),
        "{text}"
    );
    assert!(
        text.contains(
            "translation, signed by the sender [el] by Sworn translator (demo) on 2026-11-30"
        ),
        "{text}"
    );
    assert!(
        text.contains("local annotation (not sent, not signed) [sq] by AL duty officer"),
        "{text}"
    );
    // The signed original is unchanged.
    let s = show(&p.al, &id);
    assert_eq!(s["translations"].as_array().unwrap().len(), 1);
    assert_eq!(s["local_translations"].as_array().unwrap().len(), 1);
    let t: Vec<Translation> = serde_json::from_value(s["translations"].clone()).unwrap();
    assert_eq!(t[0].lang.as_str(), "el");
    assert!(
        p.al.audit_events()
            .contains(&"translation-added".to_string())
    );
}
