//! Key rotation between two running nodes: messages in flight both ways
//! are all delivered exactly once, the partner confirms, the old key is
//! accepted during the agreed overlap and refused after it, and audit
//! exports made before and after the rotation verify offline. Also a
//! revocation (no overlap at all) and an expired certificate refused in
//! the handshake with a clear error.

mod common;

use common::*;
use nfp_node::protocol::envelope;
use nfp_node::protocol::id::MessageId;
use nfp_node::protocol::keys::SigningKey;
use nfp_node::protocol::wire::{RejectCode, Response};
use std::time::{Duration, Instant};

fn json(args: &[&str]) -> serde_json::Value {
    let o = run(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Waits until every partner of `n` confirmed its latest rotation.
fn wait_confirmed(n: &TestNode) {
    wait_for("the partner to confirm the rotation", 30, || {
        json(&["keys", "status", "--home", n.home_str(), "--json"])["pending"]
            == serde_json::json!([])
    });
}

fn inbound(n: &TestNode) -> Vec<String> {
    n.messages()
        .iter()
        .filter(|m| m["direction"] == "in")
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// Sends `n` messages from `from` to `to`, returning their ids.
fn send_many(from: &TestNode, to: &str, p: &Pair, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let o = from.send(to, "K-1", &p.form);
            assert!(o.status.success(), "{}", stderr(&o));
            stdout(&o).trim().to_string()
        })
        .collect()
}

/// A forged delivery from GR to AL signed with `key`.
fn deliver_signed_by(p: &Pair, key: SigningKey) -> Response {
    let mut f = Forger::new(p);
    f.gr_sign = key;
    let id = MessageId::new(jiff::Timestamp::now().as_millisecond() as u64, rand_bytes());
    let env = envelope::seal(&f.meta(id), &f.form(), &f.gr_sign, &f.al_enc, [7; 32]).unwrap();
    f.deliver(env)
}

fn rand_bytes() -> [u8; 10] {
    let mut b = [0u8; 10];
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_le_bytes();
    b.copy_from_slice(&t[..10]);
    b
}

fn old_signing_key(node: &TestNode, serial: u32) -> SigningKey {
    let seed = std::fs::read(node.home.join(format!("keys/retired/{serial}/signing.key"))).unwrap();
    SigningKey::from_seed(&seed.try_into().unwrap())
}

#[test]
fn a_rotation_with_messages_in_flight_loses_nothing_and_ends_the_old_key() {
    let overlap = 15;
    let agreement = AGREEMENT.replace(
        "overlap = \"7 days\"",
        &format!("overlap = \"{overlap} s\""),
    );
    let mut p = pair_with(&agreement);
    p.al.serve();
    p.gr.serve();
    let old_card = p.dir.path().join("GR-old.card");
    std::fs::write(
        &old_card,
        stdout(&run(&["card", "--home", p.gr.home_str()])),
    )
    .unwrap();
    let al_card = p.al.card_file(p.dir.path());

    // Traffic both ways, and an export, before the rotation.
    let mut to_al = send_many(&p.gr, "AL", &p, 10);
    let mut to_gr = send_many(&p.al, "GR", &p, 10);
    for id in &to_al {
        p.gr.wait_state(id, "delivered", 30);
    }
    let before = p.dir.path().join("export-before");
    let o = run(&[
        "audit",
        "export",
        "--home",
        p.gr.home_str(),
        "--out",
        before.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // GR rotates every key while more messages are queued both ways.
    to_al.extend(send_many(&p.gr, "AL", &p, 10));
    let rotated_at = Instant::now();
    let v = json(&["keys", "rotate", "--home", p.gr.home_str(), "--json"]);
    assert_eq!(v["serial"], 1);
    assert_eq!(v["pending"], serde_json::json!(["AL"]));
    to_al.extend(send_many(&p.gr, "AL", &p, 10));
    to_gr.extend(send_many(&p.al, "GR", &p, 10));

    // AL confirms; every message arrives exactly once.
    wait_confirmed(&p.gr);
    for id in &to_al {
        p.gr.wait_state(id, "delivered", 30);
    }
    for id in &to_gr {
        p.al.wait_state(id, "delivered", 30);
    }
    let mut at_al = inbound(&p.al);
    let mut at_gr = inbound(&p.gr);
    at_al.sort();
    at_gr.sort();
    to_al.sort();
    to_gr.sort();
    assert_eq!(at_al, to_al, "each message to AL once");
    assert_eq!(at_gr, to_gr, "each message to GR once");

    // AL holds GR's new card, and GR's own card tells its history.
    let gr_card = stdout(&run(&["card", "--home", p.gr.home_str()]));
    assert!(gr_card.contains("rotation = 1"), "{gr_card}");
    assert!(gr_card.contains("[[previous]]"), "{gr_card}");
    let held = std::fs::read_to_string(p.al.home.join("peers/GR.toml")).unwrap();
    let new_key = gr_card
        .lines()
        .find(|l| l.starts_with("signing_key"))
        .unwrap();
    assert!(held.contains(new_key), "AL holds {held}");
    assert!(p.gr.audit_events().contains(&"keys-rotated".to_string()));
    assert!(
        p.gr.audit_events()
            .contains(&"rotation-confirmed".to_string())
    );
    assert!(
        p.al.audit_events()
            .contains(&"peer-keys-rotated".to_string())
    );

    // Within the overlap the old signing key is still accepted...
    let old = old_signing_key(&p.gr, 1);
    if rotated_at.elapsed() < Duration::from_secs(overlap - 5) {
        let r = deliver_signed_by(&p, SigningKey::from_seed(&old.seed()));
        assert!(
            matches!(r, Response::Receipt(_) | Response::ReceiptCosigned(..)),
            "{r:?}"
        );
    }
    // ...and refused once it is over; the new key is accepted.
    let end = Duration::from_secs(overlap + 1);
    if let Some(left) = end.checked_sub(rotated_at.elapsed()) {
        std::thread::sleep(left);
    }
    match deliver_signed_by(&p, old) {
        Response::Reject(r) => assert_eq!(r.code, RejectCode::BadSignature, "{}", r.message),
        other => panic!("the old key was accepted after the overlap: {other:?}"),
    }
    let gr_keys = nfp_node::home::Home::new(&p.gr.home)
        .current_keys()
        .unwrap();
    let r = deliver_signed_by(&p, gr_keys.signing);
    assert!(
        matches!(r, Response::Receipt(_) | Response::ReceiptCosigned(..)),
        "{r:?}"
    );

    // Both trails verify; the export from before the rotation verifies
    // with the old card and with the new one; a new export verifies with
    // the old card alone (the rotation in it links the keys).
    for n in [&p.al, &p.gr] {
        let o = run(&["audit", "verify", "--home", n.home_str()]);
        assert!(o.status.success(), "{}: {}", n.country, stderr(&o));
    }
    let new_card = p.dir.path().join("GR-new.card");
    std::fs::write(&new_card, &gr_card).unwrap();
    let after = p.dir.path().join("export-after");
    let o = run(&[
        "audit",
        "export",
        "--home",
        p.gr.home_str(),
        "--out",
        after.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (bundle, card) in [
        (&before, &old_card),
        (&before, &new_card),
        (&after, &old_card),
        (&after, &new_card),
    ] {
        let o = run(&[
            "audit",
            "verify",
            "--bundle",
            bundle.to_str().unwrap(),
            "--trust",
            card.to_str().unwrap(),
            "--trust",
            al_card.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "{} with {}: {}{}",
            bundle.display(),
            card.display(),
            stdout(&o),
            stderr(&o)
        );
    }
}

#[test]
fn a_revoked_key_is_refused_at_once() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    let id = &send_many(&p.gr, "AL", &p, 1)[0];
    p.gr.wait_state(id, "delivered", 30);
    let o = run(&[
        "keys",
        "revoke",
        "--home",
        p.gr.home_str(),
        "--reason",
        "laptop stolen",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["revoked"], true);
    wait_confirmed(&p.gr);
    // No overlap: the compromised key is refused straight away.
    match deliver_signed_by(&p, old_signing_key(&p.gr, 1)) {
        Response::Reject(r) => assert_eq!(r.code, RejectCode::BadSignature, "{}", r.message),
        other => panic!("a revoked key was accepted: {other:?}"),
    }
    // Traffic goes on under the new keys.
    let id = &send_many(&p.gr, "AL", &p, 1)[0];
    p.gr.wait_state(id, "delivered", 30);
    let events = p.gr.audit_events();
    assert!(events.contains(&"keys-revoked".to_string()), "{events:?}");
    let al = p.al.audit();
    assert!(al.iter().any(|e| e["event"] == "peer-keys-rotated"
        && e["detail"].as_str().unwrap_or("").contains("compromised")));
    // Nobody but an admin may rotate.
    let o = run(&["keys", "status", "--home", p.gr.home_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("partner AL"), "{}", stdout(&o));
}

#[test]
fn an_expired_certificate_is_refused_in_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let al = TestNode::init(dir.path(), "AL");
    let mut gr = TestNode::init(dir.path(), "GR");
    // GR's certificate ran out yesterday (written as a careless admin
    // might have left it); AL pins its key.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["gr.nfp-node.invalid".into()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2025, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(gr.home.join("keys/tls.crt"), cert.pem()).unwrap();
    let key_path = gr.home.join("keys/tls.key");
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let agreement = dir.path().join("AL-GR.toml");
    std::fs::write(&agreement, AGREEMENT).unwrap();
    let al_card = al.card_file(dir.path());
    let gr_card = gr.card_file(dir.path());
    assert!(al.peer_add(&gr_card, &agreement).status.success());
    assert!(gr.peer_add(&al_card, &agreement).status.success());
    sign_and_exchange(&al, &gr, &agreement, dir.path());
    // `check` says so.
    let o = run(&["check", "--home", gr.home_str()]);
    assert!(stdout(&o).contains("expired"), "{}", stdout(&o));
    let mut al = al;
    al.serve();
    gr.serve();
    let form = dir.path().join("form.json");
    std::fs::write(&form, FORM).unwrap();
    let o = gr.send("AL", "X-1", &form);
    assert!(o.status.success(), "{}", stderr(&o));
    wait_for("AL to refuse GR's certificate", 30, || {
        al.audit().iter().any(|e| {
            e["event"] == "handshake-refused"
                && e["detail"].as_str().unwrap_or("").contains("expired")
        })
    });
}
