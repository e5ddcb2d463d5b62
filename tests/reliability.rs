//! Storage safety and delivery recovery through the binary: a refused
//! message fails and is retried, an online backup restores and verifies, a
//! tampered backup and a corrupt store are refused with clear messages,
//! and a peer that died and came back is reached again at once.

mod common;

use common::*;

#[test]
fn a_refused_message_fails_and_retry_requeues_it() {
    let mut p = pair();
    // GR holds an amended agreement (v2) that AL has not registered yet.
    let v2 = p.dir.path().join("AL-GR-v2.toml");
    std::fs::write(&v2, AGREEMENT.replace("version = 1", "version = 2")).unwrap();
    // Both sign the amendment; only GR has put it in force so far.
    sign_and_exchange(&p.al, &p.gr, &v2, p.dir.path());
    let al_card = p.al.card_file(p.dir.path());
    let o = p.gr.peer_add(&al_card, &v2);
    assert!(o.status.success(), "{}", stderr(&o));
    p.al.serve();
    p.gr.serve();
    let o = p.gr.send("AL", "GR-R-1", &p.form);
    let id = stdout(&o).trim().to_string();
    let m = p.gr.wait_state(&id, "failed", 20);
    assert!(
        m["last_error"]
            .as_str()
            .unwrap()
            .contains("agreement-mismatch"),
        "{m}"
    );
    assert!(p.gr.audit_events().contains(&"delivery-failed".to_string()));
    // AL registers v2 while running; GR's operator retries.
    let gr_card = p.gr.card_file(p.dir.path());
    let o = p.al.peer_add(&gr_card, &v2);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["retry", "--home", p.gr.home_str(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    p.gr.wait_state(&id, "delivered", 20);
    assert!(
        p.gr.audit_events()
            .contains(&"message-requeued".to_string())
    );
    // Retrying a delivered or unknown message is invalid input.
    let o = run(&["retry", "--home", p.gr.home_str(), &id]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_receiver_back_from_kill_9_resets_the_old_connection_and_delivery_resumes_at_once() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    let o = p.gr.send("AL", "GR-K-1", &p.form);
    let first = stdout(&o).trim().to_string();
    p.gr.wait_state(&first, "delivered", 20);
    // AL dies without closing its connections and comes back on the same
    // port. GR still holds the old connection: the next delivery goes on
    // it, and AL answers with a stateless reset GR recognises (AL's reset
    // key is derived from its TLS key, not drawn per process). Without
    // that, GR would wait out the 30 s idle timeout before reconnecting.
    p.al.kill9();
    p.al.serve();
    let o = p.gr.send("AL", "GR-K-1", &p.form);
    let second = stdout(&o).trim().to_string();
    p.gr.wait_state(&second, "delivered", 12);
}

#[test]
fn an_online_backup_restores_and_verifies() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    let mut ids = Vec::new();
    for i in 0..5 {
        let o = p.gr.send("AL", &format!("GR-B-{i}"), &p.form);
        ids.push(stdout(&o).trim().to_string());
    }
    for id in &ids {
        p.gr.wait_state(id, "delivered", 20);
    }
    let backup = p.dir.path().join("al.backup");
    let o = run(&[
        "backup",
        "--home",
        p.al.home_str(),
        "--out",
        backup.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("online backup"), "{}", stderr(&o));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(p.al.stop());

    // A tampered copy is refused.
    let mut bytes = std::fs::read(&backup).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let tampered = p.dir.path().join("tampered.backup");
    std::fs::write(&tampered, &bytes).unwrap();
    let o = run(&[
        "restore",
        "--home",
        p.al.home_str(),
        "--from",
        tampered.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // Lose the store; restore the real backup.
    let _ = std::fs::remove_dir_all(p.al.home.join("store"));
    for entry in std::fs::read_dir(&p.al.home).unwrap().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("store.before-restore")
        {
            std::fs::remove_dir_all(entry.path()).unwrap();
        }
    }
    let o = run(&[
        "restore",
        "--home",
        p.al.home_str(),
        "--from",
        backup.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    p.al.serve();
    for id in &ids {
        assert_eq!(p.al.message(id).unwrap()["state"], "received");
    }
    let o = run(&["audit", "verify", "--home", p.al.home_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The restored node keeps working.
    let o = p.gr.send("AL", "GR-B-after", &p.form);
    let id = stdout(&o).trim().to_string();
    p.gr.wait_state(&id, "delivered", 20);
}

#[test]
fn a_corrupt_store_refuses_to_start_and_says_what_to_do() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    let o = p.gr.send("AL", "GR-C-1", &p.form);
    let id = stdout(&o).trim().to_string();
    p.gr.wait_state(&id, "delivered", 20);
    assert!(p.al.stop());
    let db = p.al.home.join("store").join("db");
    let len = std::fs::metadata(&db).unwrap().len() as usize;
    std::fs::write(&db, vec![0x5a; len]).unwrap();
    let o = std::process::Command::new(bin())
        .args(["serve", "--home", p.al.home_str()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("cannot open the store") && err.contains("backup"),
        "{err}"
    );
}

#[test]
fn a_message_undelivered_past_the_agreed_maximum_age_fails() {
    let mut p = pair_with(&AGREEMENT.replace("max_age = \"7 days\"", "max_age = \"2 s\""));
    p.gr.serve();
    let o = p.gr.send("AL", "MAX-1", &p.form);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    let m = p.gr.wait_state(&id, "failed", 30);
    assert!(
        m["last_error"].as_str().unwrap().contains("maximum age"),
        "{m}"
    );
    // The operator can still retry once the peer is back.
    p.al.serve();
    let o = run(&["retry", "--home", p.gr.home_str(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = p.gr.wait_state(&id, "failed", 30);
    assert!(
        m["last_error"].as_str().unwrap().contains("maximum age"),
        "{m}"
    );
}
