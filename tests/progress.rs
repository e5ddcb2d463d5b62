//! Long commands report progress on stderr. Under a test stderr is a pipe,
//! not a terminal, so the binary writes plain lines (no `\r` redraws):
//! counts while the node is stopped and the command does the work itself,
//! and a line naming the stage while a running node does it.

mod common;

use common::*;

/// The number N in the last line `<verb> N/N <unit>` or `<verb> N <unit>`.
fn counted(stderr: &str, verb: &str, unit: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with(&format!("{verb} ")) && l.ends_with(&format!(" {unit}")))
        .map(|l| l[verb.len() + 1..l.len() - unit.len() - 1].to_string())
        .collect()
}

fn plain(o: &std::process::Output) -> String {
    let e = stderr(o);
    assert!(o.status.success(), "{e}");
    assert!(!e.contains('\r'), "no bar redraws off a terminal: {e:?}");
    assert!(
        !e.contains('\x1b'),
        "no terminal escapes off a terminal: {e:?}"
    );
    e
}

#[test]
fn offline_commands_print_counts_as_plain_lines() {
    let mut p = pair();
    let home = p.al.home_str().to_string();
    let size = p.al.audit().len();
    assert!(size >= 2, "the test needs a few entries, has {size}");

    // audit verify on the stopped node's store.
    let o = run(&["audit", "verify", "--home", &home]);
    let e = plain(&o);
    let counts = counted(&e, "read", "audit entries");
    assert_eq!(
        counts.first().map(String::as_str),
        Some(&*format!("1/{size}")),
        "{e}"
    );
    assert_eq!(
        counts.last().map(String::as_str),
        Some(&*format!("{size}/{size}")),
        "{e}"
    );
    assert!(e.contains("checking the hash chain"), "{e}");
    assert!(stdout(&o).contains("the log verifies"), "{}", stdout(&o));

    // audit export, then the bundle verified offline.
    let bundle = p.dir.path().join("al-bundle");
    let o = run(&[
        "audit",
        "export",
        "--home",
        &home,
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let e = plain(&o);
    let counts = counted(&e, "exported", "audit entries");
    // Exporting from the store appends nothing, so the size is the same.
    assert_eq!(
        counts.last().map(String::as_str),
        Some(&*format!("{size}/{size}")),
        "{e}"
    );
    assert!(counts.len() >= 2, "intermediate lines too: {e}");
    assert!(e.contains("bundle written to"), "{e}");

    let al_card = p.al.card_file(p.dir.path());
    let gr_card = p.gr.card_file(p.dir.path());
    let o = run(&[
        "audit",
        "verify",
        "--bundle",
        bundle.to_str().unwrap(),
        "--trust",
        al_card.to_str().unwrap(),
        "--trust",
        gr_card.to_str().unwrap(),
        "--json",
    ]);
    let e = plain(&o);
    let counts = counted(&e, "read", "audit entries");
    assert_eq!(
        counts.last().map(String::as_str),
        Some(&*format!("{size}/{size}")),
        "{e}"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true, "stdout stays clean JSON: {v}");

    // backup: the item count is not known in advance.
    let out = p.dir.path().join("al.backup");
    let o = run(&["backup", "--home", &home, "--out", out.to_str().unwrap()]);
    let e = plain(&o);
    let counts = counted(&e, "backed up", "items");
    let last: u64 = counts
        .last()
        .unwrap_or_else(|| panic!("{e}"))
        .parse()
        .unwrap();
    assert!(last as usize >= size, "{e}");
    assert!(
        e.contains(&format!(
            "backup written to {}: {last} items",
            out.display()
        )),
        "{e}"
    );

    // While the node runs, it does the work; the command names the stage.
    p.al.serve();
    let out = p.dir.path().join("al-online.backup");
    let o = run(&["backup", "--home", &home, "--out", out.to_str().unwrap()]);
    let e = plain(&o);
    assert!(
        e.contains("the running node is writing the backup to"),
        "{e}"
    );
    let o = run(&["audit", "verify", "--home", &home]);
    let e = plain(&o);
    assert!(
        e.contains("verifying the audit log on the running node"),
        "{e}"
    );
    let bundle = p.dir.path().join("al-online-bundle");
    let o = run(&[
        "audit",
        "export",
        "--home",
        &home,
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let e = plain(&o);
    assert!(
        e.contains("the running node is writing the bundle to"),
        "{e}"
    );
    assert!(p.al.stop());
}
