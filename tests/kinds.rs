//! Every message kind travels between two real nodes, threads by case and
//! reply, and is refused at `send` when it does not fit what it answers.

mod common;

use common::*;
use std::path::PathBuf;

const KINDS: &[&str] = &[
    "social-inquiry-request",
    "social-inquiry-report",
    "security-assessment-request",
    "security-assessment-report",
    "continuity-of-care",
    "missing-child-notice",
    "missing-child-update",
    "follow-up-request",
    "follow-up-report",
    "case-update",
    "acknowledgement",
    "case-closure",
];

fn example(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("config/forms/{kind}.json"))
}

fn send(
    from: &TestNode,
    to: &str,
    kind: &str,
    case: &str,
    reply_to: Option<&str>,
) -> std::process::Output {
    from.open_case(case);
    let form = example(kind);
    let mut args = vec![
        "send",
        "--home",
        from.home_str(),
        "--to",
        to,
        "--kind",
        kind,
        "--case",
        case,
        "--form",
        form.to_str().unwrap(),
    ];
    if let Some(r) = reply_to {
        args.extend(["--reply-to", r]);
    }
    run(&args)
}

#[test]
fn every_example_form_validates_offline() {
    for kind in KINDS {
        let o = run(&["form", "validate", kind, example(kind).to_str().unwrap()]);
        assert!(o.status.success(), "{kind}: {}{}", stdout(&o), stderr(&o));
        let o = run(&["form", "template", kind]);
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
        let _: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    }
    let o = run(&["form", "kinds"]);
    // The operators' kinds, plus the reminder nodes send on their own.
    assert_eq!(stdout(&o).lines().count(), KINDS.len() + 1);
    // A bad form names the field and exits 2.
    let dir = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example("missing-child-update")).unwrap())
            .unwrap();
    v["status"] = "found".into();
    v.as_object_mut().unwrap().remove("location");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, v.to_string()).unwrap();
    let o = run(&[
        "form",
        "validate",
        "missing-child-update",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains(": location: "), "{}", stdout(&o));
}

#[test]
fn every_kind_travels_and_threads_by_case() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    // Both sides hold the case; the consents continuity of care needs are
    // recorded, so every kind can travel.
    for n in [&p.gr, &p.al] {
        n.open_case("GR-THREAD-1");
        for by in ["child", "guardian"] {
            let o = run(&[
                "case",
                "consent",
                "--home",
                n.home_str(),
                "--case",
                "GR-THREAD-1",
                "--purpose",
                "continuity-of-care",
                "--by",
                by,
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
        }
    }
    let mut sent = Vec::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let (from, to) = if i % 2 == 0 {
            (&p.gr, "AL")
        } else {
            (&p.al, "GR")
        };
        let o = send(from, to, kind, "GR-THREAD-1", None);
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
        sent.push((
            from.country.clone(),
            kind.to_string(),
            stdout(&o).trim().to_string(),
        ));
    }
    for (from, kind, id) in &sent {
        let node = if from == "GR" { &p.gr } else { &p.al };
        let m = node.wait_state(id, "delivered", 30);
        assert_eq!(m["kind"], kind.as_str());
    }
    // Replies that fit.
    let request = sent
        .iter()
        .find(|s| s.1 == "social-inquiry-request")
        .unwrap()
        .2
        .clone();
    let o = send(
        &p.al,
        "GR",
        "social-inquiry-report",
        "GR-THREAD-1",
        Some(&request),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let report = stdout(&o).trim().to_string();
    p.al.wait_state(&report, "delivered", 30);
    let o = send(&p.gr, "AL", "acknowledgement", "GR-THREAD-1", Some(&report));
    assert_eq!(
        o.status.code(),
        Some(2),
        "an acknowledgement does not answer a report: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("cannot answer"), "{}", stderr(&o));
    // A reply whose kind does not fit is refused at send, nothing queued.
    let before = p.al.messages().len();
    let o = send(
        &p.al,
        "GR",
        "follow-up-report",
        "GR-THREAD-1",
        Some(&request),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot answer a social-inquiry-request"),
        "{}",
        stderr(&o)
    );
    assert_eq!(p.al.messages().len(), before);

    // Every kind the example set holds arrived at the other side, and the
    // thread lists in order.
    let o = run(&[
        "messages",
        "--home",
        p.gr.home_str(),
        "--case",
        "GR-THREAD-1",
        "--json",
    ]);
    let thread: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = thread.iter().map(|m| m["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "thread in order");
    let at_gr = thread
        .iter()
        .find(|m| m["id"] == report)
        .expect("report at GR");
    assert_eq!(at_gr["reply_to"], request);
    let kinds_seen: std::collections::BTreeSet<&str> =
        thread.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds_seen.len(), KINDS.len(), "{kinds_seen:?}");
    // A language the agreement does not list is refused, naming the agreed ones.
    let o = run(&[
        "send",
        "--home",
        p.gr.home_str(),
        "--to",
        "AL",
        "--kind",
        "case-update",
        "--case",
        "GR-THREAD-1",
        "--form",
        example("case-update").to_str().unwrap(),
        "--lang",
        "fr",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("en, sq, el"), "{}", stderr(&o));
    // The receiver shows each form exactly as sent.
    for (_, kind, id) in &sent {
        let receiver = if p.al.message(id).unwrap()["direction"] == "in" {
            &p.al
        } else {
            &p.gr
        };
        let o = run(&["show", "--home", receiver.home_str(), id, "--json"]);
        let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let original: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(example(kind)).unwrap()).unwrap();
        assert_eq!(shown["form"], original, "{kind}");
    }
}
