//! Admin commands through the binary: init, card, peer add and check, with
//! their refusals and exit codes.

mod common;

use common::*;

#[test]
fn init_validates_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("x");
    let h = home.to_str().unwrap();
    for bad in ["Greece", "gr", "XX", "UK", ""] {
        let o = run(&[
            "init",
            "--home",
            h,
            "--country",
            bad,
            "--name",
            "n",
            "--endpoint",
            "127.0.0.1:1",
            "--api",
            "127.0.0.1:2",
        ]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(!home.join("node.toml").exists());
    }
    let o = run(&[
        "init",
        "--home",
        h,
        "--country",
        "GR",
        "--name",
        "n",
        "--endpoint",
        "127.0.0.1:1",
        "--api",
        "10.1.2.3:2",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "API must be loopback: {}",
        stderr(&o)
    );
    let node = TestNode::init(dir.path(), "GR");
    let o = run(&[
        "init",
        "--home",
        node.home_str(),
        "--country",
        "GR",
        "--name",
        "n",
        "--endpoint",
        "127.0.0.1:1",
        "--api",
        "127.0.0.1:2",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"));
    use std::os::unix::fs::PermissionsExt;
    for k in [
        "signing.key",
        "encryption.key",
        "tls.key",
        "storage.key",
        "api.token",
    ] {
        let mode = std::fs::metadata(node.home.join("keys").join(k))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{k}");
    }
    // The card is TOML with every public field.
    let o = run(&["card", "--home", node.home_str()]);
    let card: toml::Table = toml::from_str(&stdout(&o)).unwrap();
    for k in [
        "country",
        "name",
        "endpoint",
        "signing_key",
        "encryption_key",
        "tls_spki_sha256",
    ] {
        assert!(card.contains_key(k), "{k}");
    }
    assert!(
        card["tls_spki_sha256"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn check_names_file_and_field_and_exits_2() {
    let p = pair();
    let o = run(&["check", "--home", p.al.home_str()]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("GR under AL-GR v1"));
    // An unknown key in the stored agreement.
    let stored = p.al.home.join("agreements/AL-GR.toml");
    let text = std::fs::read_to_string(&stored).unwrap();
    std::fs::write(&stored, format!("{text}\ncolour = \"blue\"\n")).unwrap();
    let o = run(&["check", "--home", p.al.home_str()]);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(
        out.contains("agreements/AL-GR.toml: sla.social-inquiry-request.colour"),
        "{out}"
    );
    std::fs::write(&stored, text.replace("30 working days", "30 fortnights")).unwrap();
    let o = run(&["check", "--home", p.al.home_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("sla.social-inquiry-request.respond_within: "),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("not a duration"), "{}", stdout(&o));
    std::fs::write(&stored, text).unwrap();
    // A bad node.toml.
    let cfg = p.al.home.join("node.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("country = \"AL\"", "country = \"Albania\""),
    )
    .unwrap();
    let o = run(&["check", "--home", p.al.home_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("node.toml"), "{}", stdout(&o));
}

#[test]
fn peer_add_refuses_bad_cards_and_agreements() {
    let p = pair();
    let dir = p.dir.path();
    let gr_card = p.gr.card_file(dir);
    let al_card = p.al.card_file(dir);
    // Own card.
    let o = p.al.peer_add(&al_card, &p.agreement);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Agreement that does not name the peer.
    let other = dir.join("AL-FR.toml");
    std::fs::write(
        &other,
        AGREEMENT
            .replace("\"GR\"]", "\"FR\"]")
            .replace("AL-GR", "AL-FR"),
    )
    .unwrap();
    let o = p.al.peer_add(&gr_card, &other);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Changed text without a new version.
    let changed = dir.join("changed.toml");
    std::fs::write(
        &changed,
        AGREEMENT.replace("30 working days", "20 working days"),
    )
    .unwrap();
    let o = p.al.peer_add(&gr_card, &changed);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("higher version"), "{}", stderr(&o));
    // A card with an unknown key.
    let bad_card = dir.join("bad.card.toml");
    std::fs::write(
        &bad_card,
        format!("{}extra = 1\n", std::fs::read_to_string(&gr_card).unwrap()),
    )
    .unwrap();
    let o = p.al.peer_add(&bad_card, &p.agreement);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("extra"), "{}", stderr(&o));
}
