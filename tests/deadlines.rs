//! Deadlines against a seconds-long SLA between two real nodes: the owing
//! node signs the due time into its receipt so both show the same clock,
//! the waiting node sends reminders, the deadline goes overdue and is
//! escalated (audit entry and command hook), and a late answer ends it as
//! `met-late` on both sides; the SLA report counts it.

mod common;

use common::*;
use std::time::Duration;

fn deadlines(n: &TestNode) -> Vec<serde_json::Value> {
    let o = run(&["deadlines", "--home", n.home_str(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
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

fn scheduled(n: &TestNode) -> Vec<serde_json::Value> {
    deadlines(n)
        .into_iter()
        .filter(|d| d["schedule"].is_string())
        .collect()
}

fn find<'a>(list: &'a [serde_json::Value], schedule: &str) -> &'a serde_json::Value {
    list.iter()
        .find(|d| d["schedule"] == schedule)
        .unwrap_or_else(|| panic!("no follow-up {schedule} in {list:?}"))
}

#[test]
fn a_recorded_return_schedules_follow_ups_on_both_sides() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();
    for n in [&p.al, &p.gr] {
        let o = run(&[
            "case",
            "open",
            "--home",
            n.home_str(),
            "--case",
            "F-1",
            "--born",
            "2012-05-10",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // The child went home from GR to AL 100 days ago: the 3-month
    // follow-up is already overdue.
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let returned = today.checked_sub(jiff::Span::new().days(100)).unwrap();
    let returned_s = returned.to_string();
    let o = run(&[
        "case",
        "return",
        "--home",
        p.gr.home_str(),
        "--case",
        "F-1",
        "--date",
        &returned_s,
        "--to",
        "AL",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("follow-up(s) scheduled"),
        "{}",
        stderr(&o)
    );

    let gr = scheduled(&p.gr);
    // post-return 2 + spot-checks 3 + twice-yearly until the 18th birthday
    // (10 May 2030).
    let twice_yearly = gr
        .iter()
        .filter(|d| d["schedule"].as_str().unwrap().starts_with("twice-yearly"))
        .count();
    assert!((6..=8).contains(&twice_yearly), "{gr:?}");
    assert_eq!(gr.len(), 5 + twice_yearly);
    // GR (the country the child left) asks; AL (home) reports.
    let first = find(&gr, "post-return 1/2");
    assert_eq!(first["direction"], "owed");
    assert_eq!(first["kind"], "follow-up-request");
    assert_eq!(first["peer"], "AL");
    assert_eq!(first["state"], "overdue");
    assert_eq!(find(&gr, "post-return 2/2")["state"], "pending");
    let card = find(&gr, "spot-checks 1/3");
    assert_eq!(card["direction"], "awaited");
    assert_eq!(card["kind"], "follow-up-report");
    // Escalated as overdue by the watcher.
    wait_for("escalation of the overdue follow-up", 10, || {
        p.gr.audit().iter().any(|e| {
            e["event"] == "deadline-overdue"
                && e["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("post-return 1/2")
        })
    });
    assert!(
        p.gr.audit_events()
            .contains(&"follow-ups-scheduled".to_string())
    );

    // AL records the same return from its side: the mirror image.
    let o = run(&[
        "case",
        "return",
        "--home",
        p.al.home_str(),
        "--case",
        "F-1",
        "--date",
        &returned_s,
        "--from",
        "GR",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let al = scheduled(&p.al);
    assert_eq!(al.len(), gr.len());
    assert_eq!(find(&al, "post-return 1/2")["direction"], "awaited");
    assert_eq!(find(&al, "spot-checks 1/3")["direction"], "owed");
    assert_eq!(
        find(&al, "post-return 1/2")["due"],
        first["due"],
        "one clock for both"
    );

    // GR sends its follow-up request: the earliest open one closes, late,
    // on both sides.
    let o = p.gr.send_example("AL", "follow-up-request", "F-1", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    p.gr.wait_state(&id, "delivered", 20);
    let gr = scheduled(&p.gr);
    assert_eq!(find(&gr, "post-return 1/2")["state"], "met-late");
    assert_eq!(find(&gr, "post-return 1/2")["answer"], id);
    assert_eq!(find(&gr, "post-return 2/2")["state"], "pending");
    wait_for("met-late at AL", 10, || {
        find(&scheduled(&p.al), "post-return 1/2")["state"] == "met-late"
    });

    // Recording a corrected date replaces what is unanswered and keeps the
    // answered follow-up.
    let o = run(&[
        "case",
        "return",
        "--home",
        p.gr.home_str(),
        "--case",
        "F-1",
        "--date",
        &returned_s,
        "--to",
        "AL",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = scheduled(&p.gr);
    assert_eq!(again.len(), gr.len(), "no duplicates: {again:?}");
    assert_eq!(find(&again, "post-return 1/2")["state"], "met-late");

    // Erasing the case takes its deadlines with it.
    let o = run(&["case", "erase", "--home", p.gr.home_str(), "--case", "F-1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(deadlines(&p.gr).is_empty());
}

#[test]
fn a_return_that_breaks_a_rule_is_refused() {
    let mut p = pair();
    p.gr.serve();
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let week_ago = today
        .checked_sub(jiff::Span::new().days(7))
        .unwrap()
        .to_string();
    let next_week = today
        .checked_add(jiff::Span::new().days(7))
        .unwrap()
        .to_string();
    let o = run(&[
        "case",
        "open",
        "--home",
        p.gr.home_str(),
        "--case",
        "R-1",
        "--fears",
        "AL",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (args, want) in [
        (vec!["--to", "AL", "--date", week_ago.as_str()], "fears AL"),
        (
            vec!["--to", "IT", "--date", week_ago.as_str()],
            "no agreement with IT",
        ),
        (
            vec!["--to", "GR", "--date", week_ago.as_str()],
            "returned.to",
        ),
        (
            vec!["--from", "AL", "--date", next_week.as_str()],
            "returned.date",
        ),
        (vec!["--to", "AL", "--date", "2026-02-30"], "--date"),
        (vec!["--date", week_ago.as_str()], "--to"),
    ] {
        let mut argv = vec!["case", "return", "--home", p.gr.home_str(), "--case", "R-1"];
        argv.extend(args.iter().copied());
        let o = run(&argv);
        assert!(!o.status.success(), "{argv:?} was accepted");
        assert!(stderr(&o).contains(want), "{argv:?}: {}", stderr(&o));
    }
    let o = run(&[
        "case",
        "return",
        "--home",
        p.gr.home_str(),
        "--case",
        "NOPE",
        "--to",
        "AL",
        "--date",
        &week_ago,
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no case NOPE"), "{}", stderr(&o));
    assert!(scheduled(&p.gr).is_empty());
}
