//! `GET /metrics` and `GET /healthz` on two real nodes that exchange a real
//! message: the values move, every line is valid Prometheus text format
//! 0.0.4, no case reference or message id leaks into a label, and the
//! health endpoints answer without a token.

mod common;

use common::*;
use nfp_node::home::Home;
use nfp_node::transport::{Pins, Transport};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An HTTP answer: status, headers (lower-case names) and body.
struct Http {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// A plain HTTP/1.1 GET on loopback, `Connection: close`.
fn get(port: u16, path: &str, token: Option<&str>) -> Http {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Http {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
}

fn token(node: &TestNode) -> String {
    std::fs::read_to_string(node.home.join("keys/api.token"))
        .unwrap()
        .trim()
        .to_string()
}

/// One parsed sample.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader of the Prometheus text format 0.0.4 as this node writes
/// it: every line is a HELP, a TYPE or a sample; every sample belongs to a
/// family declared before it with both HELP and TYPE; histogram buckets
/// are cumulative and end with `+Inf` equal to `_count`.
fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the exposition ends with a line feed");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        assert!(!line.is_empty(), "{at}: empty line");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(valid_name(name), "{at}: metric name");
            check_help_escapes(help, &at);
            assert!(
                helps.insert(name.into(), help.into()).is_none(),
                "{at}: HELP twice"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(valid_name(name), "{at}: metric name");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{at}: type"
            );
            assert!(helps.contains_key(name), "{at}: TYPE before HELP");
            assert!(
                types.insert(name.into(), kind.into()).is_none(),
                "{at}: TYPE twice"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "{at}: unknown comment");
        let s = parse_sample(line, &at);
        let family = family_of(&s.name, &types);
        let family = family.unwrap_or_else(|| panic!("{at}: no TYPE for {}", s.name));
        if types[&family] == "histogram" {
            assert!(
                s.name.ends_with("_bucket")
                    || s.name.ends_with("_sum")
                    || s.name.ends_with("_count"),
                "{at}: histogram sample name"
            );
        }
        if types[&family] == "counter" {
            assert!(s.name.ends_with("_total"), "{at}: counter without _total");
        }
        samples.push(s);
    }
    // Histograms: cumulative buckets, +Inf last and equal to _count.
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
            .collect();
        assert!(!buckets.is_empty(), "{family}: no buckets");
        for w in buckets.windows(2) {
            assert!(w[0].value <= w[1].value, "{family}: buckets not cumulative");
            let le = |s: &Sample| -> f64 {
                match s.labels["le"].as_str() {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().unwrap(),
                }
            };
            assert!(le(w[0]) < le(w[1]), "{family}: bounds not ascending");
        }
        let last = buckets.last().unwrap();
        assert_eq!(last.labels["le"], "+Inf", "{family}: last bucket");
        let count = samples
            .iter()
            .find(|s| s.name == format!("{family}_count"))
            .unwrap();
        assert_eq!(last.value, count.value, "{family}: +Inf != _count");
        assert!(
            samples.iter().any(|s| s.name == format!("{family}_sum")),
            "{family}: no _sum"
        );
    }
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn check_help_escapes(help: &str, at: &str) {
    let mut it = help.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            let next = it.next();
            assert!(
                matches!(next, Some('\\') | Some('n')),
                "{at}: bad escape in HELP"
            );
        }
    }
}

fn family_of(sample: &str, types: &HashMap<String, String>) -> Option<String> {
    if types.contains_key(sample) {
        return Some(sample.to_string());
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix)
            && types.get(base).is_some_and(|k| k == "histogram")
        {
            return Some(base.to_string());
        }
    }
    None
}

fn parse_sample(line: &str, at: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("{at}: no value"));
    let name = &line[..name_end];
    assert!(valid_name(name), "{at}: metric name");
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let end;
        loop {
            // Label name up to '='.
            let (start, first) = chars.next().unwrap_or_else(|| panic!("{at}: open labels"));
            if first == '}' {
                end = start + 1;
                break;
            }
            let mut key = String::from(first);
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            assert!(valid_label_name(&key), "{at}: label name {key:?}");
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{at}: quote");
            let mut value = String::new();
            loop {
                let (_, c) = chars.next().unwrap_or_else(|| panic!("{at}: open value"));
                match c {
                    '"' => break,
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("{at}: bad escape {other:?}"),
                    },
                    '\n' => panic!("{at}: raw line feed"),
                    c => value.push(c),
                }
            }
            assert!(
                labels.insert(key.clone(), value).is_none(),
                "{at}: label {key} twice"
            );
            match chars.next() {
                Some((_, ',')) => continue,
                Some((i, '}')) => {
                    end = i + 1;
                    break;
                }
                other => panic!("{at}: after a label value: {other:?}"),
            }
        }
        rest = &body[end..];
    }
    let rest = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("{at}: no space before value"));
    let mut parts = rest.split(' ');
    let value = match parts.next().unwrap() {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("{at}: value {v:?}")),
    };
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .unwrap_or_else(|_| panic!("{at}: timestamp"));
    }
    assert!(parts.next().is_none(), "{at}: trailing fields");
    Sample {
        name: name.into(),
        labels,
        value,
    }
}

/// The value of the sample with exactly these labels.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map(|s| s.value)
}

fn scrape(node: &TestNode) -> (String, Vec<Sample>) {
    let r = get(node.api_port, "/metrics", Some(&token(node)));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = parse_exposition(&r.body);
    (r.body, samples)
}

/// Opens a QUIC connection to `to` with the TLS identity of a node `to`
/// never registered: the handshake is refused.
fn unpinned_handshake(stranger: &TestNode, to: &TestNode) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let setup = Home::new(&stranger.home).load().unwrap();
    let target = Home::new(&to.home).load().unwrap().card();
    rt.block_on(async {
        let t = Transport::bind(
            "127.0.0.1:0".parse().unwrap(),
            &setup.tls,
            Arc::new(Pins::default()),
        )
        .unwrap();
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            t.connect(&target.endpoint, target.tls_spki_sha256),
        )
        .await;
        if let Ok(Ok(conn)) = r {
            // The server refuses after the client thinks it is done; a
            // stream then fails.
            let _ = conn.open_bi().await;
        }
        t.close().await;
    });
}

#[test]
fn metrics_and_health_follow_a_real_exchange() {
    let mut p = pair();
    p.al.serve();
    p.gr.serve();

    // Health: no token needed.
    let h = get(p.al.api_port, "/healthz", None);
    assert_eq!(h.status, 200);
    let v: serde_json::Value = serde_json::from_str(&h.body).unwrap();
    assert_eq!(v["status"], "ok");
    let h = get(p.al.api_port, "/healthz?ready=1", None);
    assert_eq!(h.status, 200, "{}", h.body);
    let v: serde_json::Value = serde_json::from_str(&h.body).unwrap();
    assert_eq!(v["status"], "ready");
    for check in ["store", "quic", "audit", "running"] {
        assert_eq!(v["checks"][check], "ok", "{check}: {v}");
    }
    assert_eq!(get(p.al.api_port, "/v1/health", None).status, 200);

    // Metrics need a token of any role.
    let r = get(p.al.api_port, "/metrics", None);
    assert_eq!(r.status, 401);
    let r = get(p.al.api_port, "/metrics", Some("0123"));
    assert_eq!(r.status, 401);

    let (_, before) = scrape(&p.al);
    assert_eq!(
        value(&before, "nfp_delivery_latency_seconds_count", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(&before, "nfp_outbox_queue_length", &[("peer", "GR")]),
        Some(0.0)
    );
    let audit_before = value(&before, "nfp_audit_entries", &[]).unwrap();
    assert!(audit_before > 0.0);
    assert_eq!(
        value(&before, "nfp_tls_handshake_failures_total", &[]),
        Some(0.0)
    );

    // A real message, AL to GR.
    let case = "AL-METRICS-0001";
    let o = p.al.send("GR", case, &p.form);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    p.al.wait_state(&id, "delivered", 30);

    let (text, after) = scrape(&p.al);
    assert_eq!(
        value(
            &after,
            "nfp_messages",
            &[
                ("direction", "out"),
                ("kind", "social-inquiry-request"),
                ("state", "delivered")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    let count = value(&after, "nfp_delivery_latency_seconds_count", &[]).unwrap();
    assert!(count >= 1.0, "{text}");
    assert!(value(&after, "nfp_delivery_latency_seconds_sum", &[]).unwrap() >= 0.0);
    assert!(value(&after, "nfp_audit_entries", &[]).unwrap() > audit_before);
    assert_eq!(
        value(
            &after,
            "nfp_deadlines_open",
            &[("direction", "awaited"), ("state", "pending")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &after,
            "nfp_deadlines_overdue",
            &[("direction", "awaited"), ("peer", "GR")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &after,
            "nfp_node_info",
            &[("country", "AL"), ("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    // Certificates: this node's own, and GR's as seen in the handshake.
    let now = jiff::Timestamp::now().as_second() as f64;
    let own = value(
        &after,
        "nfp_certificate_expiry_seconds",
        &[("party", "self")],
    );
    assert!(own.is_some_and(|t| t > now), "{text}");
    let gr_cert = value(&after, "nfp_certificate_expiry_seconds", &[("party", "GR")]);
    assert!(gr_cert.is_some_and(|t| t > now), "{text}");
    assert!(!text.contains(case), "a case reference leaked: {text}");
    assert!(!text.contains(&id), "a message id leaked: {text}");

    let (text, gr) = scrape(&p.gr);
    assert_eq!(
        value(
            &gr,
            "nfp_messages",
            &[
                ("direction", "in"),
                ("kind", "social-inquiry-request"),
                ("state", "received")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &gr,
            "nfp_deadlines_open",
            &[("direction", "owed"), ("state", "pending")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains(case));

    // A stranger's handshake is refused and counted.
    let stranger = TestNode::init(p.dir.path(), "FR");
    unpinned_handshake(&stranger, &p.al);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, s) = scrape(&p.al);
        if value(&s, "nfp_tls_handshake_failures_total", &[]).unwrap() >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no handshake failure counted");
        std::thread::sleep(Duration::from_millis(200));
    }

    // With GR down, a second message waits in AL's queue.
    assert!(p.gr.stop());
    let o = p.al.send("GR", case, &p.form);
    assert!(o.status.success(), "{}", stderr(&o));
    let (text, queued) = scrape(&p.al);
    assert_eq!(
        value(&queued, "nfp_outbox_queue_length", &[("peer", "GR")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &queued,
            "nfp_messages",
            &[
                ("direction", "out"),
                ("kind", "social-inquiry-request"),
                ("state", "queued")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(p.al.stop());
}

#[test]
fn the_parser_refuses_what_prometheus_would() {
    let ok = "# HELP a_total A counter.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\n";
    let s = parse_exposition(ok);
    assert_eq!(s[0].labels["x"], "q\"\\\n");
    for bad in [
        "a_total 1\n",                                   // no TYPE
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} one\n", // value
        "# HELP a A.\n# TYPE a gauge\na{x=\"\\q\"} 1\n", // escape
        "# HELP a A.\n# TYPE a gauge\na{1x=\"1\"} 1\n",  // label name
        "# HELP a A.\n# TYPE a gauge\na 1",              // no final LF
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
    ] {
        let r = std::panic::catch_unwind(|| parse_exposition(bad));
        assert!(r.is_err(), "accepted: {bad:?}");
    }
}
