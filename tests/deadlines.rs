//! Deadlines against a seconds-long SLA between two real nodes: the owing
//! node signs the due time into its receipt so both show the same clock,
//! the waiting node sends reminders, the deadline goes overdue and is
//! escalated (audit entry and command hook), and a late answer ends it as
//! `met-late` on both sides; the SLA report counts it.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn deadlines(n: &TestNode) -> Vec<serde_json::Value> {
    let o = run(&["deadlines", "--home", n.home_str(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_deadline_is_reminded_escalated_and_met_late() {
    let agreement = format!(
        "{AGREEMENT}\n[sla.case-update]\nrespond_within = \"3 s\"\nanswered_by = [\"acknowledgement\"]\nreminders = [\"50%\", \"100%\"]\n"
    );
    let mut p = pair_with(&agreement);
    // AL's escalation hook writes what is overdue (no personal data).
    let hook_out = p.dir.path().join("escalated.txt");
    let cfg = p.al.home.join("node.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "{text}\n[deadlines]\nescalation_command = [\"sh\", \"-c\", \"echo $NFP_DEADLINE_KIND $NFP_DEADLINE_OWED >> {}\"]\n",
            hook_out.display()
        ),
    )
    .unwrap();
    p.al.serve();
    p.gr.serve();
    let form =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/forms/case-update.json");
    p.gr.open_case("D-1");
    let o = run(&[
        "send",
        "--home",
        p.gr.home_str(),
        "--to",
        "AL",
        "--kind",
        "case-update",
        "--case",
        "D-1",
        "--form",
        form.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    p.gr.wait_state(&id, "delivered", 20);

    // Both sides show the same deadline: AL owes it, GR awaits it.
    let al = deadlines(&p.al);
    let gr = deadlines(&p.gr);
    assert_eq!(al.len(), 1, "{al:?}");
    assert_eq!(gr.len(), 1, "{gr:?}");
    assert_eq!(al[0]["direction"], "owed");
    assert_eq!(gr[0]["direction"], "awaited");
    assert_eq!(al[0]["due"], gr[0]["due"], "one clock for both");
    assert_eq!(al[0]["message"], id);

    // Reminders reach AL; the deadline goes overdue and AL escalates.
    wait_for("two reminders at AL", 20, || {
        p.al.messages()
            .iter()
            .filter(|m| m["kind"] == "reminder" && m["direction"] == "in")
            .count()
            >= 2
    });
    wait_for("overdue at AL", 10, || {
        deadlines(&p.al)[0]["state"] == "overdue"
    });
    wait_for("the escalation hook", 10, || {
        std::fs::read_to_string(&hook_out)
            .map(|t| t.contains("case-update 1"))
            .unwrap_or(false)
    });
    assert!(
        p.al.audit_events()
            .contains(&"deadline-overdue".to_string())
    );
    let o = run(&["deadlines", "--home", p.al.home_str(), "--overdue"]);
    assert!(stdout(&o).contains("overdue"), "{}", stdout(&o));

    // A late answer of the right kind closes it as met-late on both sides
    // (answers are timed in whole seconds: be clearly past the due time).
    std::thread::sleep(Duration::from_millis(1500));
    p.al.open_case("D-1");
    let ack =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/forms/acknowledgement.json");
    let o = run(&[
        "send",
        "--home",
        p.al.home_str(),
        "--to",
        "GR",
        "--kind",
        "acknowledgement",
        "--case",
        "D-1",
        "--form",
        ack.to_str().unwrap(),
        "--reply-to",
        &id,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let answer = stdout(&o).trim().to_string();
    p.al.wait_state(&answer, "delivered", 20);
    assert_eq!(deadlines(&p.al)[0]["state"], "met-late");
    wait_for("met-late at GR", 10, || {
        deadlines(&p.gr)[0]["state"] == "met-late"
    });
    assert_eq!(deadlines(&p.gr)[0]["answer"], answer);

    // The SLA report counts it.
    let o = run(&["report", "sla", "--home", p.gr.home_str(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let line = lines
        .iter()
        .find(|l| l["kind"] == "case-update")
        .expect("case-update line");
    assert_eq!(line["met_late"], 1);
    assert_eq!(line["on_time_share"], 0.0);
    assert!(line["median_response_s"].as_i64().unwrap() >= 3);
}
