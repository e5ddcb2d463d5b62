//! The safeguards the node enforces for the child, through the binary: the
//! asylum barrier in the brief's three scenarios (no override), the
//! social-inquiry bar, consent gates with an admin override that is
//! audited, need-to-know access by role, read auditing, and age.

mod common;

use common::*;
use std::path::Path;

fn case_open(n: &TestNode, case: &str, flags: &[&str]) {
    let mut args = vec!["case", "open", "--home", n.home_str(), "--case", case];
    args.extend_from_slice(flags);
    let o = run(&args);
    assert!(o.status.success(), "case open: {}", stderr(&o));
}

fn send_kind(
    n: &TestNode,
    to: &str,
    kind: &str,
    case: &str,
    extra: &[&str],
) -> std::process::Output {
    let form = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("config/forms/{kind}.json"));
    let mut args = vec![
        "send",
        "--home",
        n.home_str(),
        "--to",
        to,
        "--kind",
        kind,
        "--case",
        case,
        "--form",
        form.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn refused(o: &std::process::Output, rule: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    assert!(stderr(o).contains(rule), "expected {rule}: {}", stderr(o));
}

#[test]
fn the_asylum_barrier_holds_in_the_three_scenarios() {
    let mut p = pair();
    p.gr.serve();
    // Scenario 1: an Albanian child, trafficked AL -> GR, seeks asylum in GR
    // fearing AL. GR must make no contact at all with AL, override or not.
    case_open(
        &p.gr,
        "S1",
        &[
            "--nationality",
            "AL",
            "--resides",
            "AL",
            "--asylum",
            "--fears",
            "AL",
            "--born",
            "2012-01-01",
        ],
    );
    refused(
        &send_kind(&p.gr, "AL", "case-update", "S1", &[]),
        "feared-country",
    );
    refused(
        &send_kind(
            &p.gr,
            "AL",
            "case-update",
            "S1",
            &["--override-reason", "the director insists on it"],
        ),
        "no override",
    );
    // Scenario 2: an Italian child long resident in AL, trafficked to GR,
    // seeks asylum in GR fearing IT. GR may contact AL only if the child
    // agrees; never IT.
    case_open(
        &p.gr,
        "S2",
        &[
            "--nationality",
            "IT",
            "--resides",
            "AL",
            "--asylum",
            "--fears",
            "IT",
            "--born",
            "2012-01-01",
        ],
    );
    refused(
        &send_kind(&p.gr, "AL", "case-update", "S2", &[]),
        "contact-not-agreed",
    );
    let o = run(&[
        "case",
        "update",
        "--home",
        p.gr.home_str(),
        "--case",
        "S2",
        "--agrees-contact",
        "AL",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = send_kind(&p.gr, "AL", "case-update", "S2", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // ... but never a social inquiry request for a child who seeks asylum.
    refused(
        &send_kind(&p.gr, "AL", "social-inquiry-request", "S2", &[]),
        "social-inquiry",
    );
    // Scenario 3: an Italian child, recognised refugee in AL, trafficked to
    // GR, not seeking asylum in GR but fearing IT: AL only with agreement.
    case_open(
        &p.gr,
        "S3",
        &[
            "--nationality",
            "IT",
            "--refugee-in",
            "AL",
            "--fears",
            "IT",
            "--born",
            "2012-01-01",
        ],
    );
    refused(
        &send_kind(&p.gr, "AL", "case-update", "S3", &[]),
        "contact-not-agreed",
    );
    let o = run(&[
        "case",
        "update",
        "--home",
        p.gr.home_str(),
        "--case",
        "S3",
        "--agrees-contact",
        "AL",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        send_kind(&p.gr, "AL", "case-update", "S3", &[])
            .status
            .success()
    );
    // Refusals are audited; nothing was queued for S1.
    let audit = p.gr.audit();
    let refusals: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|e| e["event"] == "send-refused")
        .collect();
    assert!(refusals.len() >= 5, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("feared-country"))
    );
    assert!(p.gr.messages().iter().all(|m| m["case"] != "S1"));
    // The audit trail names no case reference.
    assert!(!serde_json::to_string(&audit).unwrap().contains("\"S1\""));
}

#[test]
fn consent_gates_and_an_audited_admin_override() {
    let mut p = pair();
    p.gr.serve();
    case_open(
        &p.gr,
        "C1",
        &[
            "--nationality",
            "AL",
            "--resides",
            "AL",
            "--born",
            "2011-05-05",
        ],
    );
    refused(
        &send_kind(&p.gr, "AL", "continuity-of-care", "C1", &[]),
        "continuity-of-care-consent",
    );
    for by in ["child", "guardian"] {
        let o = run(&[
            "case",
            "consent",
            "--home",
            p.gr.home_str(),
            "--case",
            "C1",
            "--purpose",
            "continuity-of-care",
            "--by",
            by,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = send_kind(&p.gr, "AL", "continuity-of-care", "C1", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A withdrawal closes the gate again.
    let o = run(&[
        "case",
        "consent",
        "--home",
        p.gr.home_str(),
        "--case",
        "C1",
        "--purpose",
        "continuity-of-care",
        "--by",
        "guardian",
        "--withdraw",
    ]);
    assert!(o.status.success());
    refused(
        &send_kind(&p.gr, "AL", "continuity-of-care", "C1", &[]),
        "continuity-of-care-consent",
    );

    // Family tracing: needs the child's consent, refused on complicity.
    case_open(
        &p.gr,
        "C2",
        &[
            "--nationality",
            "AL",
            "--resides",
            "AL",
            "--born",
            "2011-05-05",
            "--complicity-suspected",
        ],
    );
    refused(
        &send_kind(
            &p.gr,
            "AL",
            "social-inquiry-request",
            "C2",
            &["--family-tracing"],
        ),
        "family",
    );
    // An operator may not override; the admin may, with a written reason.
    let o = run(&[
        "user",
        "add",
        "--home",
        p.gr.home_str(),
        "--name",
        "eleni",
        "--role",
        "operator",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o).trim().to_string();
    let o = std::process::Command::new(bin())
        .args([
            "case",
            "update",
            "--home",
            p.gr.home_str(),
            "--case",
            "C2",
            "--access",
            "eleni",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let form =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/forms/social-inquiry-request.json");
    let o = std::process::Command::new(bin())
        .env("NFP_TOKEN", &token)
        .args([
            "send",
            "--home",
            p.gr.home_str(),
            "--to",
            "AL",
            "--kind",
            "social-inquiry-request",
            "--case",
            "C2",
            "--form",
            form.to_str().unwrap(),
            "--family-tracing",
            "--override-reason",
            "court order 12/2026 requires tracing",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("only an admin"), "{}", stderr(&o));
    let o = send_kind(
        &p.gr,
        "AL",
        "social-inquiry-request",
        "C2",
        &[
            "--family-tracing",
            "--override-reason",
            "court order 12/2026 requires tracing",
        ],
    );
    // Complicity and missing consent are both overridable; both lift.
    assert!(o.status.success(), "{}", stderr(&o));
    let overridden =
        p.gr.audit()
            .into_iter()
            .find(|e| e["event"] == "gate-overridden")
            .expect("audited");
    assert!(
        overridden["detail"]
            .as_str()
            .unwrap()
            .contains("node-admin"),
        "{overridden}"
    );
    assert!(
        overridden["detail"]
            .as_str()
            .unwrap()
            .contains("court order"),
        "{overridden}"
    );
}

#[test]
fn need_to_know_access_and_read_auditing() {
    let mut p = pair();
    p.gr.serve();
    p.al.serve();
    let add = |name: &str, role: &str| {
        let o = run(&[
            "user",
            "add",
            "--home",
            p.gr.home_str(),
            "--name",
            name,
            "--role",
            role,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).trim().to_string()
    };
    let eleni = add("eleni", "operator");
    let nikos = add("nikos", "operator");
    let audrey = add("audrey", "auditor");
    let as_user = |token: &str, args: &[&str]| {
        std::process::Command::new(bin())
            .env("NFP_TOKEN", token)
            .args(args)
            .output()
            .unwrap()
    };
    // Eleni opens a case: she is on its access list; Nikos is not.
    let o = as_user(
        &eleni,
        &[
            "case",
            "open",
            "--home",
            p.gr.home_str(),
            "--case",
            "N1",
            "--nationality",
            "AL",
            "--resides",
            "AL",
            "--born",
            "2011-01-01",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let form = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/forms/case-update.json");
    let send = |token: &str| {
        as_user(
            token,
            &[
                "send",
                "--home",
                p.gr.home_str(),
                "--to",
                "AL",
                "--kind",
                "case-update",
                "--case",
                "N1",
                "--form",
                form.to_str().unwrap(),
            ],
        )
    };
    let o = send(&eleni);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert_eq!(send(&nikos).status.code(), Some(2));
    assert_eq!(send(&audrey).status.code(), Some(2));
    // Nikos sees nothing of the case; the auditor sees metadata, not forms.
    let list = |token: &str| {
        let o = as_user(token, &["messages", "--home", p.gr.home_str(), "--json"]);
        let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
        v.len()
    };
    assert_eq!(list(&eleni), 1);
    assert_eq!(list(&nikos), 0);
    assert_eq!(list(&audrey), 1);
    assert_eq!(
        as_user(&nikos, &["show", "--home", p.gr.home_str(), &id])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        as_user(&audrey, &["show", "--home", p.gr.home_str(), &id])
            .status
            .code(),
        Some(2)
    );
    assert!(
        as_user(&eleni, &["show", "--home", p.gr.home_str(), &id])
            .status
            .success()
    );
    // Every read of a form names the reader.
    let reads: Vec<String> =
        p.gr.audit()
            .into_iter()
            .filter(|e| e["event"] == "form-read")
            .map(|e| e["detail"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(reads[0].contains("eleni"));
    // The auditor verifies the log; an operator may not.
    assert!(
        as_user(&audrey, &["audit", "verify", "--home", p.gr.home_str()])
            .status
            .success()
    );
    assert_eq!(
        as_user(&eleni, &["audit", "list", "--home", p.gr.home_str()])
            .status
            .code(),
        Some(2)
    );
    // A revoked token no longer works.
    assert!(
        run(&[
            "user",
            "revoke",
            "--home",
            p.gr.home_str(),
            "--name",
            "eleni"
        ])
        .status
        .success()
    );
    assert_eq!(list_status(&eleni, &p), Some(1));
    // An edit of the accounts file from outside the node takes effect at
    // once too, even when it keeps the file's modification time (two
    // writes within one tick of the file system's clock do): the node
    // compares the file's text, not its time.
    assert_eq!(list_status(&nikos, &p), Some(0));
    let path = p.gr.home.join("users.toml");
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mut found = 0;
    for u in doc["user"].as_array_mut().unwrap() {
        if u["name"].as_str() == Some("nikos") {
            u.as_table_mut()
                .unwrap()
                .insert("revoked".into(), toml::Value::Boolean(true));
            found += 1;
        }
    }
    assert_eq!(found, 1);
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(written)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        written
    );
    assert_eq!(list_status(&nikos, &p), Some(1));
    assert_eq!(list_status(&audrey, &p), Some(0));
}

fn list_status(token: &str, p: &Pair) -> Option<i32> {
    std::process::Command::new(bin())
        .env("NFP_TOKEN", token)
        .args(["messages", "--home", p.gr.home_str()])
        .output()
        .unwrap()
        .status
        .code()
}

#[test]
fn age_facts_use_the_31_december_rule_and_flag_ageing_out() {
    let mut p = pair();
    p.gr.serve();
    let year_now = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .year();
    case_open(&p.gr, "A1", &["--born-year", &(year_now - 10).to_string()]);
    let o = run(&[
        "case",
        "show",
        "--home",
        p.gr.home_str(),
        "--case",
        "A1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["eighteenth_birthday"], format!("{}-12-31", year_now + 8));
    assert_eq!(v["is_child"], true);
    // Turning 18 within 90 days is flagged.
    let soon = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(30))
        .unwrap()
        .checked_sub(jiff::Span::new().years(18))
        .unwrap();
    case_open(&p.gr, "A2", &["--born", &soon.to_string()]);
    let o = run(&["case", "show", "--home", p.gr.home_str(), "--case", "A2"]);
    assert!(stdout(&o).contains("AGES OUT"), "{}", stdout(&o));
    let o = run(&["deadlines", "--home", p.gr.home_str()]);
    assert!(stdout(&o).contains("AGES OUT  case A2"), "{}", stdout(&o));
    // A presumed child stays a child.
    case_open(&p.gr, "A3", &["--presumed-child"]);
    let o = run(&[
        "case",
        "show",
        "--home",
        p.gr.home_str(),
        "--case",
        "A3",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["is_child"], true);
}

#[test]
fn statistics_are_anonymised_and_small_counts_suppressed() {
    let mut p = pair();
    p.gr.serve();
    p.al.serve();
    for i in 0..6 {
        let case = format!("ST-{i}");
        case_open(
            &p.gr,
            &case,
            &[
                "--nationality",
                "AL",
                "--resides",
                "AL",
                "--born",
                "2012-03-03",
            ],
        );
        let o = p.gr.send("AL", &case, &p.form);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    case_open(
        &p.gr,
        "ST-X",
        &[
            "--nationality",
            "AL",
            "--resides",
            "AL",
            "--born",
            "2009-03-03",
        ],
    );
    let o = run(&["report", "stats", "--home", p.gr.home_str(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["cases"], 7);
    assert_eq!(v["messages_by_partner"]["counts"]["AL out"], 6);
    assert_eq!(v["cases_by_sex_and_age"]["counts"]["female 12-14"], 6);
    assert_eq!(v["cases_by_sex_and_age"]["counts"]["unknown 15-17"], "<5");
    assert!(!text.contains("ST-"), "no case reference in statistics");
}
