//! Every refusal the issue names, against a real serving node: an unpinned
//! peer (through the binary), and crafted envelopes sent over a real,
//! pinned QUIC connection with the library's own transport.

mod common;

use common::*;
use nfp_node::protocol::agreement::Agreement;
use nfp_node::protocol::envelope;
use nfp_node::protocol::id::MessageId;
use nfp_node::protocol::keys::{DecryptionKey, SigningKey};
use nfp_node::protocol::wire::{RejectCode, Response};

#[test]
fn an_unpinned_peer_is_refused_in_the_handshake() {
    let mut p = pair();
    let dir = p.dir.path();
    // FR holds AL's card and an AL-FR agreement; AL never registered FR.
    let mut fr = TestNode::init(dir, "FR");
    let al_card = p.al.card_file(dir);
    let al_fr = dir.join("AL-FR.toml");
    std::fs::write(
        &al_fr,
        AGREEMENT
            .replace("AL-GR", "AL-FR")
            .replace("\"GR\"]", "\"FR\"]"),
    )
    .unwrap();
    let o = fr.peer_add(&al_card, &al_fr);
    assert!(o.status.success(), "{}", stderr(&o));
    // Both sign AL-FR (AL's admin signed it on paper), but AL never
    // registered FR's card: FR's certificate is not pinned at AL.
    sign_and_exchange(&p.al, &fr, &al_fr, dir);
    p.al.serve();
    fr.serve();
    let o = fr.send("AL", "FR-1", &p.form);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let refused =
            p.al.audit()
                .into_iter()
                .find(|e| e["event"] == "handshake-refused");
        if let Some(e) = refused {
            let detail = e["detail"].as_str().unwrap();
            assert!(detail.contains("not pinned"), "{detail}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal audited: {}",
            p.al.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let m = fr.message(&id).unwrap();
    assert_eq!(m["state"], "queued");
    assert!(p.al.messages().is_empty(), "nothing from FR was stored");
}

fn new_id(n: u8) -> MessageId {
    MessageId::new(
        u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap(),
        [n; 10],
    )
}

fn rejected(r: Response) -> (RejectCode, String) {
    match r {
        Response::Reject(r) => (r.code, r.message),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn crafted_envelopes_are_refused_with_reason_and_audit() {
    let mut p = pair();
    p.al.serve();
    let f = Forger::new(&p);

    // 1. Signed with the wrong key.
    let impostor = SigningKey::from_seed(&[0x42; 32]);
    let env = envelope::seal(&f.meta(new_id(1)), &f.form(), &impostor, &f.al_enc, [1; 32]).unwrap();
    let (code, msg) = rejected(f.deliver(env));
    assert_eq!(code, RejectCode::BadSignature, "{msg}");
    assert!(msg.contains("signature does not verify"), "{msg}");

    // 2. Encrypted to another node.
    let other = DecryptionKey::from_bytes(&[0x43; 32]).unwrap().public();
    let env = envelope::seal(&f.meta(new_id(2)), &f.form(), &f.gr_sign, &other, [2; 32]).unwrap();
    let (code, msg) = rejected(f.deliver(env));
    assert_eq!(code, RejectCode::NotForUs, "{msg}");

    // 3. Another agreement version: the error shows both hashes.
    let v2 = Agreement {
        version: 2,
        ..f.agreement.clone()
    };
    let mut meta = f.meta(new_id(3));
    meta.agreement = (
        v2.id.clone(),
        2,
        serde_bytes::ByteBuf::from(v2.hash().to_vec()),
    );
    let env = envelope::seal(&meta, &f.form(), &f.gr_sign, &f.al_enc, [3; 32]).unwrap();
    let (code, msg) = rejected(f.deliver(env));
    assert_eq!(code, RejectCode::AgreementMismatch, "{msg}");
    assert!(
        msg.contains(&hex::encode(v2.hash())) && msg.contains(&hex::encode(f.agreement.hash())),
        "{msg}"
    );
    // ... and another agreement id.
    let mut meta = f.meta(new_id(4));
    meta.agreement.0 = "AL-FR".into();
    let env = envelope::seal(&meta, &f.form(), &f.gr_sign, &f.al_enc, [4; 32]).unwrap();
    assert_eq!(rejected(f.deliver(env)).0, RejectCode::AgreementMismatch);

    // 4. Malformed CBOR, as a frame and as an envelope.
    assert_eq!(
        rejected(f.frame(&[0xff, 0x13, 0x37])).0,
        RejectCode::Malformed
    );
    assert_eq!(
        rejected(f.deliver(vec![0xa1, 0x01])).0,
        RejectCode::Malformed
    );

    // 5. A form that does not validate.
    let bad_form = {
        let mut v: serde_json::Value = serde_json::from_str(FORM).unwrap();
        v["questions"] = serde_json::json!([]);
        let mut out = Vec::new();
        ciborium::into_writer(&v, &mut out).unwrap();
        out
    };
    let env = envelope::seal(
        &f.meta(new_id(5)),
        &bad_form,
        &f.gr_sign,
        &f.al_enc,
        [5; 32],
    )
    .unwrap();
    let (code, msg) = rejected(f.deliver(env));
    assert_eq!(code, RejectCode::InvalidForm);
    assert!(msg.contains("questions"), "{msg}");

    // 6. The same envelope twice: stored once, the same receipt again.
    let id = new_id(6);
    let env = envelope::seal(&f.meta(id), &f.form(), &f.gr_sign, &f.al_enc, [6; 32]).unwrap();
    let first = f.deliver(env.clone());
    let second = f.deliver(env.clone());
    let (Response::Receipt(r1), Response::Receipt(r2)) = (&first, &second) else {
        panic!("expected receipts, got {first:?} / {second:?}");
    };
    assert_eq!(r1, r2);
    let receipt = envelope::verify_receipt(
        r1,
        "AL".parse().unwrap(),
        &[f.al_sign],
        "GR".parse().unwrap(),
        id,
        &env,
    )
    .unwrap();
    assert_eq!(receipt.id, id);
    let stored: Vec<_> =
        p.al.messages()
            .into_iter()
            .filter(|m| m["id"] == id.to_string())
            .collect();
    assert_eq!(stored.len(), 1);

    // 7. A replay: the same id with other content.
    let env2 = envelope::seal(&f.meta(id), &f.form(), &f.gr_sign, &f.al_enc, [7; 32]).unwrap();
    let (code, _) = rejected(f.deliver(env2));
    assert_eq!(code, RejectCode::Replay);

    // Every refusal is in AL's audit trail with its code, and the trail verifies.
    let details: Vec<String> =
        p.al.audit()
            .iter()
            .filter(|e| e["event"] == "inbound-rejected")
            .map(|e| e["detail"].as_str().unwrap().to_string())
            .collect();
    for code in [
        "bad-signature",
        "not-for-us",
        "agreement-mismatch",
        "malformed",
        "invalid-form",
        "replay",
    ] {
        assert!(
            details.iter().any(|d| d == code),
            "{code} missing from {details:?}"
        );
    }
    assert!(
        p.al.audit_events()
            .contains(&"duplicate-received".to_string())
    );
    let o = run(&["audit", "verify", "--home", p.al.home_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Only the one good envelope was stored.
    assert_eq!(p.al.messages().len(), 1);
}
