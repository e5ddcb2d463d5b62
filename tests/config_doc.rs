//! `docs/config.md` documents every key the node file and the agreement
//! file accept, and nothing else.
//!
//! The accepted keys come from the code, not from a list kept here: every
//! table of these files refuses unknown keys (`deny_unknown_fields`), and
//! serde's refusal names every key the table accepts. So the test takes a
//! fully populated example (the files in `config/` plus every optional key
//! set), slips an unknown key into each table in turn, and reads the
//! accepted keys from the error. A field added to `NodeConfig`,
//! `Agreement` or any table below them therefore fails this test until
//! `docs/config.md` has a row for it.

use nfp_node::config::NodeConfig;
use nfp_node::protocol::agreement::Agreement;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use toml::{Table, Value};

const DOC: &str = include_str!("../docs/config.md");
const PROBE: &str = "zz_undocumented_probe";

/// Optional node keys the example files leave out.
const NODE_EXTRA: &str = r#"
listen = "0.0.0.0:7401"
[audit]
checkpoint_entries = 100
checkpoint_interval = "60 s"
[deadlines]
escalation_command = ["/usr/local/bin/notify", "--overdue"]
"#;

/// Optional agreement keys the example file leaves out.
const AGREEMENT_EXTRA: &str = r#"
valid_from = 2026-01-01
valid_until = 2030-12-31
denounced = 2029-06-30
score_domains = ["safety", "housing"]
kinds = ["social-inquiry-request", "social-inquiry-report", "follow-up-request", "follow-up-report"]
[red_flag]
respond_within = "4 hours"
answered_by = ["case-update"]
reminders = ["50%", "100%"]
[party.GR]
time_zone = "Europe/Athens"
weekend = ["friday", "saturday"]
availability = "office-hours"
office_hours = "08:00-16:00"
[sla.social-inquiry-request]
respond_within = "30 working days"
answered_by = ["social-inquiry-report"]
reminders = ["50%", "80%", "100%"]
lane = "routine"
"#;

/// Tables keyed by data rather than by field name, and the placeholder
/// the documentation writes for their key.
const MAP_PLACEHOLDERS: &[(&str, &str)] = &[("party", "CC"), ("sla", "KIND")];

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn merge(into: &mut Table, from: &Table) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Table(a)), Value::Table(b)) => merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn at<'a>(root: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut v = root;
    for s in path {
        v = match s {
            Seg::Key(k) => v.as_table()?.get(k)?,
            Seg::Index(i) => v.as_array()?.get(*i)?,
        };
    }
    Some(v)
}

fn at_mut<'a>(root: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut v = root;
    for s in path {
        v = match s {
            Seg::Key(k) => v.as_table_mut()?.get_mut(k)?,
            Seg::Index(i) => v.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(v)
}

/// What the table at `path` answers to an unknown key.
enum Probe {
    /// A struct: the keys it accepts.
    Fields(Vec<String>),
    /// A table keyed by data (a country, a kind).
    Map,
}

fn probe<T: DeserializeOwned>(root: &Value, path: &[Seg], shown: &str) -> Probe {
    let mut doc = root.clone();
    let table = at_mut(&mut doc, path)
        .and_then(Value::as_table_mut)
        .unwrap_or_else(|| panic!("{shown}: not a table"));
    table.insert(PROBE.into(), Value::Boolean(true));
    let text = toml::to_string(&doc).unwrap();
    let message = match toml::from_str::<T>(&text) {
        Ok(_) => panic!(
            "the table `{shown}` accepts unknown keys: give its type #[serde(deny_unknown_fields)]"
        ),
        Err(e) => e.message().to_string(),
    };
    let Some(rest) = message.strip_prefix(&format!("unknown field `{PROBE}`")) else {
        return Probe::Map;
    };
    let expected = rest.split_once("expected").map_or("", |(_, e)| e);
    Probe::Fields(
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
    )
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk<T: DeserializeOwned>(
    root: &Value,
    path: Vec<Seg>,
    shown: &str,
    out: &mut BTreeSet<String>,
) {
    match probe::<T>(root, &path, shown) {
        Probe::Fields(fields) => {
            assert!(!fields.is_empty(), "{shown}: no fields read from serde");
            for f in fields {
                let dotted = join(shown, &f);
                out.insert(dotted.clone());
                let mut sub = path.clone();
                sub.push(Seg::Key(f.clone()));
                match at(root, &sub) {
                    Some(Value::Table(_)) => walk::<T>(root, sub, &dotted, out),
                    Some(Value::Array(a)) if a.first().is_some_and(Value::is_table) => {
                        sub.push(Seg::Index(0));
                        walk::<T>(root, sub, &dotted, out);
                    }
                    _ => {}
                }
            }
        }
        Probe::Map => {
            let placeholder = MAP_PLACEHOLDERS
                .iter()
                .find(|(k, _)| *k == shown)
                .map(|(_, p)| *p)
                .unwrap_or_else(|| {
                    panic!("`{shown}` is a table keyed by data: add its placeholder to MAP_PLACEHOLDERS and docs/config.md")
                });
            let first = at(root, &path)
                .and_then(Value::as_table)
                .and_then(|t| t.keys().next().cloned())
                .unwrap_or_else(|| panic!("the example has no entry under `{shown}`"));
            let mut sub = path.clone();
            sub.push(Seg::Key(first));
            let entry = join(shown, placeholder);
            out.insert(entry.clone());
            walk::<T>(root, sub, &entry, out);
        }
    }
}

fn accepted<T: DeserializeOwned>(example: Table) -> BTreeSet<String> {
    let root = Value::Table(example);
    let text = toml::to_string(&root).unwrap();
    if let Err(e) = toml::from_str::<T>(&text) {
        panic!("the populated example does not parse: {e}");
    }
    let mut out = BTreeSet::new();
    walk::<T>(&root, Vec::new(), "", &mut out);
    out
}

fn read(path: &str) -> Table {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full)
        .unwrap()
        .parse::<Table>()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn node_example() -> Table {
    let mut t = read("config/nodes/gr.toml");
    merge(&mut t, &read("config/nodes/al.toml"));
    merge(&mut t, &NODE_EXTRA.parse::<Table>().unwrap());
    // What `init` writes parses too, and serialising a parsed value gives
    // the same tables.
    let parsed = NodeConfig::from_toml(&toml::to_string(&t).unwrap()).unwrap();
    merge(&mut t, &Table::try_from(&parsed).unwrap());
    t
}

fn agreement_example() -> Table {
    let mut t = read("config/agreements/AL-GR.toml");
    merge(&mut t, &AGREEMENT_EXTRA.parse::<Table>().unwrap());
    let parsed: Agreement = toml::from_str(&toml::to_string(&t).unwrap()).unwrap();
    merge(&mut t, &Table::try_from(&parsed).unwrap());
    t
}

/// The documentation section under the `## ` heading that starts with
/// `heading`, up to the next `## ` heading.
fn section(heading: &str) -> &'static str {
    let start = DOC
        .find(&format!("\n## {heading}"))
        .unwrap_or_else(|| panic!("docs/config.md has no `## {heading}` section"));
    let body = &DOC[start + 1..];
    let end = body[3..].find("\n## ").map_or(body.len(), |i| i + 3);
    &body[..end]
}

/// The keys documented in a section: the first cell of each table row,
/// written as `` `dotted.key` ``.
fn documented(section: &str) -> BTreeSet<String> {
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |"))
        .map(|(k, _)| k.to_string())
        .collect()
}

fn compare(file: &str, heading: &str, accepted: &BTreeSet<String>) {
    let doc = documented(section(heading));
    let missing: Vec<_> = accepted.difference(&doc).collect();
    let stale: Vec<_> = doc.difference(accepted).collect();
    assert!(
        missing.is_empty(),
        "{file}: keys the code accepts but docs/config.md does not document (add a row \
         `| \\`key\\` | type | default | example | meaning |` under `## {heading}`): {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "{file}: docs/config.md documents keys the code does not accept: {stale:?}"
    );
}

#[test]
fn every_node_key_is_documented() {
    let keys = accepted::<NodeConfig>(node_example());
    for k in [
        "country",
        "api",
        "delivery.in_flight",
        "deadlines.escalation_command",
    ] {
        assert!(keys.contains(k), "the walk missed {k}: {keys:?}");
    }
    compare("node.toml", "The node file", &keys);
}

#[test]
fn every_agreement_key_is_documented() {
    let keys = accepted::<Agreement>(agreement_example());
    for k in [
        "party.CC.office_hours",
        "sla.KIND.lane",
        "follow_up.until",
        "red_flag.reminders",
        "delivery.max_age",
    ] {
        assert!(keys.contains(k), "the walk missed {k}: {keys:?}");
    }
    compare("agreement file", "The agreement file", &keys);
}

/// The walk notices a new field: a struct with one more key than the
/// documentation is caught, and a table without `deny_unknown_fields`
/// is refused outright.
#[test]
fn the_walk_catches_a_new_field() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: u32,
        #[serde(default)]
        added_later: Option<u32>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
        #[serde(default)]
        by_country: std::collections::BTreeMap<String, Inner>,
    }
    let example: Table = "name = \"x\"\n[inner]\na = 1\n[by_country.GR]\na = 2\n"
        .parse()
        .unwrap();
    let root = Value::Table(example);
    let mut out = BTreeSet::new();
    // `by_country` is keyed by data; without a placeholder the walk stops.
    let r = std::panic::catch_unwind(|| {
        let mut o = BTreeSet::new();
        walk::<Outer>(&root, Vec::new(), "", &mut o);
    });
    assert!(r.is_err());
    if let Probe::Fields(f) = probe::<Outer>(&root, &[], "") {
        out.extend(f);
    }
    if let Probe::Fields(f) = probe::<Outer>(&root, &[Seg::Key("inner".into())], "inner") {
        out.extend(f.into_iter().map(|k| format!("inner.{k}")));
    }
    assert!(out.contains("inner.added_later"), "{out:?}");
    assert!(matches!(
        probe::<Outer>(&root, &[Seg::Key("by_country".into())], "by_country"),
        Probe::Map
    ));

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Lax {
        a: u32,
    }
    let lax = Value::Table("a = 1\n".parse().unwrap());
    let r = std::panic::catch_unwind(|| probe::<Lax>(&lax, &[], ""));
    assert!(
        r.is_err(),
        "a table accepting unknown keys must fail the test"
    );
}
