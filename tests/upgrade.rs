//! Upgrading: two homes written by the previous release (store schema 1,
//! `tests/fixtures/schema1-homes.tar.gz`) are served by this binary. Each
//! store is backed up and migrated on start, the old case, message,
//! deadline and audit trail are all still there and verify, and the two
//! nodes go on exchanging messages under their old agreement signatures.

mod common;

use common::*;
use std::path::Path;

/// Moves the fixture's fixed ports to free ones in every file that names
/// them.
fn move_ports(homes: &Path, ports: &[(u16, u16)]) {
    for home in ["al", "gr"] {
        let mut files = vec![homes.join(home).join("node.toml")];
        for e in std::fs::read_dir(homes.join(home).join("peers")).unwrap() {
            files.push(e.unwrap().path());
        }
        for f in files {
            let mut text = std::fs::read_to_string(&f).unwrap();
            for (old, new) in ports {
                text = text.replace(&format!("127.0.0.1:{old}"), &format!("127.0.0.1:{new}"));
            }
            std::fs::write(&f, text).unwrap();
        }
    }
}

#[test]
fn a_schema_1_store_is_backed_up_and_migrated_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1-homes.tar.gz");
    let o = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (al_quic, al_api, gr_quic, gr_api) = (free_port(), free_port(), free_port(), free_port());
    move_ports(
        dir.path(),
        &[
            (47311, al_quic),
            (47312, al_api),
            (47321, gr_quic),
            (47322, gr_api),
        ],
    );
    let mut al = TestNode::existing(dir.path().join("al"), "AL", al_api, al_quic);
    let mut gr = TestNode::existing(dir.path().join("gr"), "GR", gr_api, gr_quic);
    al.serve();
    gr.serve();

    for n in [&al, &gr] {
        // A backup was taken before the migration, beside the store.
        let backups: Vec<_> = std::fs::read_dir(&n.home)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("store-schema1-")
            })
            .collect();
        assert_eq!(backups.len(), 1, "{}: one backup", n.country);
        let events = n.audit_events();
        assert!(events.contains(&"store-migrated".to_string()), "{events:?}");
        // The old trail and the new entries verify together.
        let o = run(&["audit", "verify", "--home", n.home_str()]);
        assert!(o.status.success(), "{}: {}", n.country, stderr(&o));
    }

    // What the old binary stored is all there.
    let old = gr.messages();
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(old[0]["state"], "delivered");
    let received = al.messages();
    assert_eq!(received[0]["id"], old[0]["id"]);
    let o = run(&["deadlines", "--home", al.home_str(), "--json"]);
    let deadlines: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(deadlines.len(), 1, "{deadlines:?}");
    assert_eq!(deadlines[0]["message"], old[0]["id"]);
    let o = run(&[
        "case",
        "show",
        "--home",
        gr.home_str(),
        "--case",
        "V1-CASE-1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // And the nodes go on working: a reply to the old request, and a new
    // message, under the agreement signed by the old binary.
    al.open_case("V1-CASE-1");
    let form = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/forms/acknowledgement.json");
    let o = run(&[
        "send",
        "--home",
        al.home_str(),
        "--to",
        "GR",
        "--kind",
        "acknowledgement",
        "--case",
        "V1-CASE-1",
        "--form",
        form.to_str().unwrap(),
        "--reply-to",
        old[0]["id"].as_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ack = stdout(&o).trim().to_string();
    al.wait_state(&ack, "delivered", 30);
    let o = gr.send_example("AL", "case-update", "V1-CASE-1", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    gr.wait_state(stdout(&o).trim(), "delivered", 30);

    // A second start finds nothing to migrate.
    gr.stop();
    gr.serve();
    let migrations = gr
        .audit_events()
        .iter()
        .filter(|e| *e == "store-migrated")
        .count();
    assert_eq!(migrations, 1);
}
