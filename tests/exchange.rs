//! Two real nodes exchange a social inquiry request end to end through the
//! binary: init, card, peer add, check, serve, send, messages, show, audit.

mod common;

use common::*;

#[test]
fn gr_sends_al_receives_and_the_receipt_comes_back() {
    let mut p = pair();
    for n in [&p.al, &p.gr] {
        let o = run(&["check", "--home", n.home_str()]);
        assert!(o.status.success(), "check: {}{}", stdout(&o), stderr(&o));
    }
    p.al.serve();
    p.gr.serve();
    let o = p.gr.send("AL", "GR-2026-0001", &p.form);
    assert!(o.status.success(), "send: {}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 26, "the id alone on stdout: {id:?}");

    let out = p.gr.wait_state(&id, "delivered", 20);
    assert_eq!(out["direction"], "out");
    assert_eq!(out["peer"], "AL");
    assert_eq!(out["kind"], "social-inquiry-request");
    assert_eq!(out["case"], "GR-2026-0001");
    assert!(out["delivered"].is_string());

    let inbound = p.al.message(&id).expect("AL has the message");
    assert_eq!(inbound["direction"], "in");
    assert_eq!(inbound["state"], "received");
    assert_eq!(inbound["peer"], "GR");
    assert_eq!(inbound["envelope_sha256"], out["envelope_sha256"]);
    assert!(inbound["due"].is_string(), "SLA due time computed");

    // The receiver shows the form exactly as the sender wrote it.
    let o = run(&["show", "--home", p.al.home_str(), &id, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sent_form: serde_json::Value = serde_json::from_str(FORM).unwrap();
    assert_eq!(shown["form"], sent_form);
    assert_eq!(shown["message"]["id"], id);
    let o = run(&["show", "--home", p.gr.home_str(), &id]);
    assert!(stdout(&o).contains("state     delivered"), "{}", stdout(&o));

    // Filtering by case.
    let o = run(&[
        "messages",
        "--home",
        p.al.home_str(),
        "--case",
        "nope",
        "--json",
    ]);
    let none: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(none.is_empty());

    // Audit entries on both sides, and both chains verify.
    let gr_events = p.gr.audit_events();
    assert!(gr_events.contains(&"message-queued".to_string()));
    assert!(gr_events.contains(&"message-delivered".to_string()));
    assert!(
        p.al.audit_events()
            .contains(&"message-received".to_string())
    );
    for n in [&p.al, &p.gr] {
        let o = run(&["audit", "verify", "--home", n.home_str()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // The audit trail carries no form content.
    let audit_text = serde_json::to_string(&p.al.audit()).unwrap();
    assert!(!audit_text.contains("Child-Demo"));

    // --json on send gives an object with the id.
    let o = run(&[
        "send",
        "--home",
        p.gr.home_str(),
        "--to",
        "AL",
        "--kind",
        "social-inquiry-request",
        "--case",
        "GR-2026-0001",
        "--form",
        p.form.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["id"].as_str().unwrap().len(), 26);

    // Graceful stop on SIGTERM.
    assert!(p.gr.stop());
    assert!(p.al.stop());
    // Offline, the audit still verifies from the store.
    let o = run(&["audit", "verify", "--home", p.al.home_str(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_message_waits_for_a_peer_that_is_down_even_across_restarts() {
    let mut p = pair();
    p.gr.serve();
    let o = p.gr.send("AL", "GR-2026-0002", &p.form);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut m = p.gr.message(&id).unwrap();
    while m["last_error"].is_null() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        m = p.gr.message(&id).unwrap();
    }
    assert_eq!(m["state"], "queued");
    assert!(
        m["last_error"].is_string(),
        "the failed attempt is visible: {m}"
    );
    // The sender restarts (crash), then the peer comes up.
    p.gr.kill9();
    p.al.serve();
    p.gr.serve();
    p.gr.wait_state(&id, "delivered", 30);
    assert_eq!(p.al.message(&id).unwrap()["state"], "received");
}

#[test]
fn an_invalid_form_is_refused_at_send_naming_the_field() {
    let mut p = pair();
    p.gr.serve();
    let mut form: serde_json::Value = serde_json::from_str(FORM).unwrap();
    form["child"]["sex"] = "unknown-value".into();
    let bad = p.dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&form).unwrap()).unwrap();
    let o = p.gr.send("AL", "GR-2026-0003", &bad);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("child.sex"), "{}", stderr(&o));
    assert!(p.gr.messages().is_empty(), "nothing queued");
    let audit = p.gr.audit();
    let last = audit.last().unwrap();
    assert_eq!(last["event"], "send-refused");
    assert!(last["detail"].as_str().unwrap().contains("child.sex"));
    assert!(
        !serde_json::to_string(last)
            .unwrap()
            .contains("unknown-value")
    );
    // Unknown peer, bad kind, bad case: exit 2 as well.
    let o = p.gr.send("FR", "GR-2026-0003", &p.form);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = p.gr.send("AL", "name with spaces", &p.form);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(&[
        "send",
        "--home",
        p.gr.home_str(),
        "--to",
        "AL",
        "--kind",
        "tea-request",
        "--case",
        "C",
        "--form",
        p.form.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn commands_need_a_running_node_and_say_so() {
    let p = pair();
    let o = p.gr.send("AL", "GR-1", &p.form);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("serve"), "{}", stderr(&o));
}
