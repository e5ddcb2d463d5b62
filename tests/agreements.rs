//! Co-signed agreements through the binary: an agreement is in force only
//! once both nodes signed its canonical hash; `agreement status` shows
//! signatures and state; a bad agreement is refused at signing, naming the
//! field; and an amendment switches over once both sides hold it.

mod common;

use common::*;

fn status(n: &TestNode) -> Vec<serde_json::Value> {
    let o = run(&["agreement", "status", "--home", n.home_str(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn an_agreement_is_active_only_once_both_have_signed() {
    let dir = tempfile::tempdir().unwrap();
    let mut al = TestNode::init(dir.path(), "AL");
    let mut gr = TestNode::init(dir.path(), "GR");
    let agreement = dir.path().join("AL-GR.toml");
    std::fs::write(&agreement, AGREEMENT).unwrap();
    let form = dir.path().join("form.json");
    std::fs::write(&form, FORM).unwrap();
    assert!(
        al.peer_add(&gr.card_file(dir.path()), &agreement)
            .status
            .success()
    );
    assert!(
        gr.peer_add(&al.card_file(dir.path()), &agreement)
            .status
            .success()
    );
    al.serve();
    gr.serve();
    let s = status(&gr);
    assert_eq!(s[0]["state"], "awaiting-signature");
    let o = gr.send("AL", "AG-1", &form);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("awaits the signature"),
        "{}",
        stderr(&o)
    );
    // GR signs; still one signature short.
    let o = run(&[
        "agreement",
        "sign",
        "--home",
        gr.home_str(),
        "--agreement",
        agreement.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let gr_sig = dir.path().join("gr.sig");
    std::fs::write(&gr_sig, &o.stdout).unwrap();
    let s = status(&gr);
    assert_eq!(s[0]["signatures"][1]["valid"], true, "{s:?}");
    assert_eq!(s[0]["state"], "awaiting-signature");
    // A signature file altered in transit is refused.
    let forged = dir.path().join("forged.sig");
    std::fs::write(
        &forged,
        std::fs::read_to_string(&gr_sig)
            .unwrap()
            .replace("version = 1", "version = 7"),
    )
    .unwrap();
    // (the version no longer matches the registered one, so it cannot count)
    let o = run(&[
        "agreement",
        "add-signature",
        "--home",
        al.home_str(),
        "--signature",
        forged.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert_eq!(status(&al)[0]["state"], "awaiting-signature");
    sign_and_exchange(&al, &gr, &agreement, dir.path());
    assert_eq!(status(&al)[0]["state"], "active");
    assert_eq!(status(&gr)[0]["state"], "active");
    let o = gr.send("AL", "AG-1", &form);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    gr.wait_state(&id, "delivered", 20);
    // Status also shows the peer's log as witnessed.
    let s = status(&al);
    assert!(s[0]["hash"].as_str().unwrap().len() == 64);
}

#[test]
fn a_bad_agreement_is_refused_at_signing_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let al = TestNode::init(dir.path(), "AL");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, AGREEMENT.replace("Europe/Tirane", "Europe/Atlantis")).unwrap();
    let o = run(&[
        "agreement",
        "sign",
        "--home",
        al.home_str(),
        "--agreement",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("time_zone"), "{}", stderr(&o));
    std::fs::write(&bad, AGREEMENT.replace("30 working days", "30 moons")).unwrap();
    let o = run(&[
        "agreement",
        "sign",
        "--home",
        al.home_str(),
        "--agreement",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("respond_within"), "{}", stderr(&o));
}

#[test]
fn a_kind_the_agreement_does_not_cover_is_refused_at_send() {
    let kinds = "kinds = [\"social-inquiry-request\", \"social-inquiry-report\", \"security-assessment-request\", \"security-assessment-report\", \"continuity-of-care\", \"missing-child-notice\", \"missing-child-update\", \"follow-up-request\", \"follow-up-report\", \"case-update\", \"acknowledgement\"]\n";
    let mut p = pair_with(&format!("{kinds}{AGREEMENT}"));
    p.gr.serve();
    p.gr.open_case("K-1");
    let closure =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/forms/case-closure.json");
    let o = run(&[
        "send",
        "--home",
        p.gr.home_str(),
        "--to",
        "AL",
        "--kind",
        "case-closure",
        "--case",
        "K-1",
        "--form",
        closure.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("does not cover case-closure"),
        "{}",
        stderr(&o)
    );
    let o = p.gr.send("AL", "K-1", &p.form);
    assert!(o.status.success(), "{}", stderr(&o));
}
