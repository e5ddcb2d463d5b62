//! The verifiable log end to end: checkpoints signed and cosigned by the
//! peer through normal traffic, an exported bundle verified offline from
//! cards alone (and tampering found at the right entry), an inclusion proof
//! a third party checks, and a peer's rollback detected by its witness.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn exchange(p: &Pair, n: usize, case: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (from, to) = if i % 2 == 0 {
            (&p.gr, "AL")
        } else {
            (&p.al, "GR")
        };
        let o = from.send(to, &format!("{case}-{i}"), &p.form);
        assert!(o.status.success(), "{}", stderr(&o));
        let id = stdout(&o).trim().to_string();
        from.wait_state(&id, "delivered", 20);
        ids.push(id);
    }
    ids
}

fn verify_json(args: &[&str]) -> (bool, serde_json::Value) {
    let o = run(args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    (o.status.success(), v)
}

/// Waits until GR's log has a checkpoint cosigned by AL.
fn wait_cosigned(p: &Pair) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Traffic carries checkpoints to the witness; keep some flowing.
        exchange(p, 2, "W");
        let (ok, v) = verify_json(&["audit", "verify", "--home", p.gr.home_str(), "--json"]);
        assert!(ok, "{v}");
        if v["cosignatures"].as_u64().unwrap_or(0) > 0 {
            return v;
        }
        assert!(Instant::now() < deadline, "no cosignature came back: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn checkpoints_are_cosigned_exported_and_verified_offline() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    let ids = exchange(&p, 6, "A");
    let live = wait_cosigned(&p);
    assert!(live["checkpoints"].as_u64().unwrap() > 0);

    // Export while running, with ciphertexts, and verify offline from cards.
    let bundle = p.dir.path().join("gr-bundle");
    let o = run(&[
        "audit",
        "export",
        "--home",
        p.gr.home_str(),
        "--out",
        bundle.to_str().unwrap(),
        "--ciphertexts",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let gr_card = p.gr.card_file(p.dir.path());
    let al_card = p.al.card_file(p.dir.path());
    let (ok, v) = verify_json(&[
        "audit",
        "verify",
        "--bundle",
        bundle.to_str().unwrap(),
        "--trust",
        gr_card.to_str().unwrap(),
        "--trust",
        al_card.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{v}");
    assert!(v["cosignatures"].as_u64().unwrap() > 0, "{v}");
    assert!(v["ciphertexts"].as_u64().unwrap() > 0, "{v}");
    // Without the log's own card there is nothing to trust.
    let o = run(&[
        "audit",
        "verify",
        "--bundle",
        bundle.to_str().unwrap(),
        "--trust",
        al_card.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // The bundle holds no form content.
    for f in [
        "entries.cbor",
        "checkpoints.json",
        "log.json",
        "witnessed.json",
    ] {
        let text = String::from_utf8_lossy(&std::fs::read(bundle.join(f)).unwrap()).into_owned();
        assert!(
            !text.contains("Child-Demo") && !text.contains("Example"),
            "{f}"
        );
    }

    // Tampering with one entry is found at that entry.
    let entries = std::fs::read(bundle.join("entries.cbor")).unwrap();
    let mut items: Vec<serde_bytes::ByteBuf> = Vec::new();
    let mut rest = entries.as_slice();
    while !rest.is_empty() {
        items.push(ciborium::from_reader(&mut rest).unwrap());
    }
    let write = |items: &[serde_bytes::ByteBuf]| {
        let mut out = Vec::new();
        for i in items {
            ciborium::into_writer(i, &mut out).unwrap();
        }
        std::fs::write(bundle.join("entries.cbor"), out).unwrap();
    };
    let verify = || {
        verify_json(&[
            "audit",
            "verify",
            "--bundle",
            bundle.to_str().unwrap(),
            "--trust",
            gr_card.to_str().unwrap(),
            "--trust",
            al_card.to_str().unwrap(),
            "--json",
        ])
    };
    let original = items.clone();
    let k = 3;
    let mut e: nfp_node::protocol::audit::Entry =
        ciborium::from_reader(items[k].as_slice()).unwrap();
    e.detail = Some("altered".into());
    items[k] = serde_bytes::ByteBuf::from(nfp_node::protocol::wire::canonical_cbor(&e).unwrap());
    write(&items);
    let (ok, v) = verify();
    assert!(!ok);
    assert_eq!(v["kind"], "changed", "{v}");
    assert_eq!(v["entry"], k as u64, "{v}");
    // Truncated behind a cosigned checkpoint.
    let cosigned = live["cosigned_size"].as_u64().unwrap() as usize;
    write(&original[..cosigned - 1]);
    let (ok, v) = verify();
    assert!(!ok);
    assert_eq!(v["kind"], "truncated", "{v}");
    write(&original);
    assert!(verify().0);

    // An inclusion proof a third party checks with GR's card alone.
    let o = run(&["audit", "proof", "--home", p.gr.home_str(), &ids[0]]);
    assert!(o.status.success(), "{}", stderr(&o));
    let proof = p.dir.path().join("proof.json");
    std::fs::write(&proof, &o.stdout).unwrap();
    let o = run(&[
        "audit",
        "check-proof",
        "--proof",
        proof.to_str().unwrap(),
        "--trust",
        gr_card.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("the proof holds"));
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    v["index"] = (v["index"].as_u64().unwrap() + 1).into();
    std::fs::write(&proof, v.to_string()).unwrap();
    let o = run(&[
        "audit",
        "check-proof",
        "--proof",
        proof.to_str().unwrap(),
        "--trust",
        gr_card.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
}

#[test]
fn a_peer_that_rolls_back_its_log_is_caught_by_its_witness() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    exchange(&p, 4, "B");
    let backup = p.dir.path().join("gr-old.backup");
    let o = run(&[
        "backup",
        "--home",
        p.gr.home_str(),
        "--out",
        backup.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, v) = verify_json(&["audit", "verify", "--home", p.gr.home_str(), "--json"]);
    let backed_up = v["size"].as_u64().unwrap();
    // AL cosigns a state of GR's log later than the backup.
    let client =
        nfp_node::api::client::Client::for_home(&nfp_node::home::Home::new(&p.al.home)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        exchange(&p, 2, "C");
        let peers = rt.block_on(client.get("/v1/peers")).unwrap();
        if peers["peers"][0]["log_witness"]["size"]
            .as_u64()
            .unwrap_or(0)
            > backed_up + 2
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "AL never witnessed past the backup: {peers}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // GR quietly restores its old store: its history is rewritten.
    assert!(p.gr.stop());
    let o = run(&[
        "restore",
        "--home",
        p.gr.home_str(),
        "--from",
        backup.to_str().unwrap(),
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    p.gr.serve();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = p.gr.send("AL", "D", &p.form);
        let id = stdout(&o).trim().to_string();
        p.gr.wait_state(&id, "delivered", 20);
        if p.al.audit_events().contains(&"peer-log-fork".to_string()) {
            break;
        }
        assert!(Instant::now() < deadline, "AL did not notice GR's rollback");
        std::thread::sleep(Duration::from_millis(500));
    }
    // It shows in AL's peer list, and AL's own log still verifies.
    let client =
        nfp_node::api::client::Client::for_home(&nfp_node::home::Home::new(&p.al.home)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peers = rt.block_on(client.get("/v1/peers")).unwrap();
    assert!(
        peers["peers"][0]["log_witness"]["fork"].is_string(),
        "{peers}"
    );
    let o = run(&["audit", "verify", "--home", p.al.home_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn erasing_a_case_removes_its_content_and_the_log_still_verifies() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    let o = p.gr.send("AL", "ER/1", &p.form);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    p.gr.wait_state(&id, "delivered", 20);
    let o = run(&["case", "erase", "--home", p.gr.home_str(), "--case", "ER/1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["show", "--home", p.gr.home_str(), &id, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["form"]["erased"], true);
    let raw = std::fs::read(p.gr.home.join("store/db")).unwrap();
    assert!(
        !raw.windows(10).any(|w| w == b"Child-Demo"),
        "no plaintext at rest"
    );
    assert!(p.gr.audit_events().contains(&"case-erased".to_string()));
    let o = run(&["audit", "verify", "--home", p.gr.home_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["case", "show", "--home", p.gr.home_str(), "--case", "ER/1"]);
    assert!(!o.status.success());
}

/// Rewrites a backup without the items of `tree`, with a fresh checksum.
fn backup_without(path: &std::path::Path, tree: &str) {
    let bytes = std::fs::read(path).unwrap();
    let magic = b"nfp-node backup 1\n";
    let mut rest = &bytes[magic.len()..];
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let before = rest;
        let v: ciborium::value::Value = ciborium::from_reader(&mut rest).unwrap();
        let raw = before[..before.len() - rest.len()].to_vec();
        let a = v.as_array().unwrap();
        if a[0].as_text() == Some("end") {
            break;
        }
        if a[0].as_text() != Some(tree) {
            kept.push(raw);
        }
    }
    let mut out = magic.to_vec();
    for k in &kept {
        out.extend_from_slice(k);
    }
    let digest = nfp_node::protocol::envelope::sha256(&out);
    let mut end = Vec::new();
    ciborium::into_writer(
        &("end", kept.len() as u64, serde_bytes::Bytes::new(&digest)),
        &mut end,
    )
    .unwrap();
    out.extend_from_slice(&end);
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_sender_that_lost_its_cosignatures_is_not_taken_for_a_fork() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    exchange(&p, 4, "L");
    wait_cosigned(&p);
    // GR loses the cosignatures AL returned (as after a crash before its
    // sync), but its log is intact.
    let backup = p.dir.path().join("gr.backup");
    let o = run(&[
        "backup",
        "--home",
        p.gr.home_str(),
        "--out",
        backup.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(p.gr.stop());
    backup_without(&backup, "cosignatures");
    let o = run(&[
        "restore",
        "--home",
        p.gr.home_str(),
        "--from",
        backup.to_str().unwrap(),
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    p.gr.serve();
    // Traffic goes on; AL tells GR the size it holds and cosigns again.
    let (ok, v) = verify_json(&["audit", "verify", "--home", p.gr.home_str(), "--json"]);
    assert!(ok, "{v}");
    assert_eq!(v["cosignatures"], 0, "{v}");
    wait_cosigned(&p);
    assert!(
        !p.al.audit_events().contains(&"peer-log-fork".to_string()),
        "an honest sender was taken for a fork"
    );
}
