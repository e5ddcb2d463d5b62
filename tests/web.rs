//! The web interface and the API endpoints behind its screens, on a real
//! serving node: the page and its assets with their security headers, and
//! each new endpoint with a token (right answer) and without (401 JSON).

mod common;

use common::*;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;

/// One HTTP/1.1 exchange: (status, lower-case headers, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, headers, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    h.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn json(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let (status, h, body) = http(port, method, path, Some(token), body);
    assert!(
        header(&h, "content-type").starts_with("application/json"),
        "{path}: {h:?}"
    );
    (status, serde_json::from_str(&body).unwrap())
}

#[test]
fn the_web_interface_and_its_endpoints() {
    let mut p = pair();
    // A second label catalogue in the home, partial: the rest falls back
    // to English.
    let labels = p.gr.home.join("labels");
    std::fs::create_dir_all(&labels).unwrap();
    std::fs::write(
        labels.join("el.toml"),
        "language = \"el\"\n[kinds]\n\"social-inquiry-request\" = \"Αίτημα κοινωνικής έρευνας\"\n",
    )
    .unwrap();
    p.gr.serve();
    let port = p.gr.api_port;
    let admin = std::fs::read_to_string(p.gr.home.join("keys/api.token"))
        .unwrap()
        .trim()
        .to_string();

    // The page and its assets, with headers that allow nothing from elsewhere.
    let (status, h, body) = http(port, "GET", "/", None, None);
    assert_eq!(status, 200);
    assert!(header(&h, "content-type").starts_with("text/html"), "{h:?}");
    let csp = header(&h, "content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert_eq!(header(&h, "referrer-policy"), "no-referrer");
    assert_eq!(header(&h, "cache-control"), "no-store");
    assert!(body.contains("<script src=\"/app.js\""), "{body}");
    assert!(!body.contains("<script>"), "no inline script");
    for (path, ty, marker) in [
        ("/app.js", "text/javascript", "sessionStorage"),
        ("/app.css", "text/css", "--brand"),
        ("/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let (status, h, body) = http(port, "GET", path, None, None);
        assert_eq!(status, 200, "{path}");
        assert!(header(&h, "content-type").starts_with(ty), "{path}: {h:?}");
        assert!(
            header(&h, "content-security-policy").contains("default-src 'self'"),
            "{path}"
        );
        assert!(body.contains(marker), "{path}");
        // The SVG namespace is a name, not something to load.
        let body = body.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !body.contains("https://") && !body.contains("http://"),
            "{path} loads nothing from elsewhere"
        );
    }

    // Every new endpoint refuses a request without a token, in JSON.
    for (method, path) in [
        ("GET", "/v1/whoami"),
        ("GET", "/v1/forms"),
        ("GET", "/v1/forms/social-inquiry-request/schema"),
        ("GET", "/v1/forms/social-inquiry-request/template"),
        ("POST", "/v1/forms/social-inquiry-request/validate"),
        ("GET", "/v1/labels/en"),
        ("GET", "/v1/agreements"),
        ("GET", "/v1/audit/checkpoint"),
    ] {
        let (status, h, body) = http(port, method, path, None, Some("{}"));
        assert_eq!(status, 401, "{method} {path}");
        assert!(header(&h, "content-type").starts_with("application/json"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], "unauthorized", "{path}");
        let (status, _, _) = http(port, method, path, Some(&"0".repeat(64)), Some("{}"));
        assert_eq!(status, 401, "wrong token: {method} {path}");
    }

    // Who is signed in.
    let (status, me) = json(port, "GET", "/v1/whoami", &admin, None);
    assert_eq!(status, 200);
    assert_eq!(me["name"], "node-admin");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["country"], "GR");
    assert_eq!(me["languages"], serde_json::json!(["el", "en"]));
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
    let eleni = stdout(&o).trim().to_string();
    let (_, me) = json(port, "GET", "/v1/whoami", &eleni, None);
    assert_eq!(me["name"], "eleni");
    assert_eq!(me["role"], "operator");

    // Kinds, schema, template.
    let (status, kinds) = json(port, "GET", "/v1/forms", &eleni, None);
    assert_eq!(status, 200);
    let kinds = kinds["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 13);
    let sir = kinds
        .iter()
        .find(|k| k["kind"] == "social-inquiry-request")
        .unwrap();
    assert_eq!(sir["label"], "Social inquiry request");
    assert!(
        sir["answers"]
            .as_array()
            .unwrap()
            .contains(&"case-update".into())
    );
    let (_, kinds_el) = json(port, "GET", "/v1/forms?lang=el", &eleni, None);
    assert_eq!(kinds_el["kinds"][0]["label"], "Αίτημα κοινωνικής έρευνας");
    let (status, schema) = json(
        port,
        "GET",
        "/v1/forms/social-inquiry-request/schema",
        &eleni,
        None,
    );
    assert_eq!(status, 200);
    assert!(schema["$defs"]["Child"].is_object(), "{schema}");
    let (status, e) = json(port, "GET", "/v1/forms/no-such-kind/schema", &eleni, None);
    assert_eq!(status, 404);
    assert_eq!(e["code"], "not-found");
    let (status, t) = json(
        port,
        "GET",
        "/v1/forms/social-inquiry-request/template",
        &eleni,
        None,
    );
    assert_eq!(status, 200);
    assert!(
        t["child"]["sex"].as_str().unwrap().contains("female"),
        "{t}"
    );

    // Validation: the example form is valid; a broken one names its fields.
    let (status, v) = json(
        port,
        "POST",
        "/v1/forms/social-inquiry-request/validate",
        &eleni,
        Some(FORM),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["valid"], true);
    let mut bad: serde_json::Value = serde_json::from_str(FORM).unwrap();
    bad["child"]["sex"] = "x".into();
    let (status, e) = json(
        port,
        "POST",
        "/v1/forms/social-inquiry-request/validate",
        &eleni,
        Some(&bad.to_string()),
    );
    assert_eq!(status, 422);
    assert_eq!(e["code"], "invalid-form");
    assert_eq!(e["fields"][0]["field"], "child.sex", "{e}");
    let (status, e) = json(
        port,
        "POST",
        "/v1/forms/social-inquiry-request/validate",
        &eleni,
        Some("{}"),
    );
    assert_eq!(status, 422);
    assert!(!e["fields"].as_array().unwrap().is_empty(), "{e}");

    // Labels: English complete, Greek over English, unknown refused.
    let (status, en) = json(port, "GET", "/v1/labels/en", &eleni, None);
    assert_eq!(status, 200);
    assert_eq!(en["fields"]["child.sex"], "Sex");
    let (_, el) = json(port, "GET", "/v1/labels/el", &eleni, None);
    assert_eq!(el["language"], "el");
    assert_eq!(
        el["kinds"]["social-inquiry-request"],
        "Αίτημα κοινωνικής έρευνας"
    );
    assert_eq!(el["kinds"]["case-update"], "Case update");
    let (status, e) = json(port, "GET", "/v1/labels/fr", &eleni, None);
    assert_eq!((status, e["code"].as_str()), (404, Some("not-found")));
    let (status, e) = json(port, "GET", "/v1/labels/zz-top", &eleni, None);
    assert_eq!((status, e["code"].as_str()), (422, Some("invalid-request")));

    // Agreements with their signatures and SLA tables.
    let (status, a) = json(port, "GET", "/v1/agreements", &eleni, None);
    assert_eq!(status, 200);
    let a = &a["agreements"][0];
    assert_eq!(a["id"], "AL-GR");
    assert_eq!(a["peer"], "AL");
    assert_eq!(a["state"], "active", "{a}");
    assert_eq!(a["signed_by"].as_array().unwrap().len(), 2);
    assert_eq!(a["hash"].as_str().unwrap().len(), 64);
    assert_eq!(
        a["terms"]["sla"]["social-inquiry-request"]["respond_within"],
        "30 working days"
    );

    // The audit log's checkpoint and the peers' witnessing.
    let (status, c) = json(port, "GET", "/v1/audit/checkpoint", &eleni, None);
    assert_eq!(status, 200);
    assert!(c["log_size"].as_u64().unwrap() > 0, "{c}");
    assert_eq!(c["head"].as_str().unwrap().len(), 64);
    assert_eq!(c["peers"][0]["country"], "AL");
    assert!(c["export_suggestion"].as_str().unwrap().starts_with('/'));

    // Peers carry their health.
    let (_, peers) = json(port, "GET", "/v1/peers", &eleni, None);
    let health = &peers["peers"][0]["health"];
    assert!(health.is_object(), "{peers}");
    assert_eq!(health["connections_in"], 0);
    assert!(health["last_contact"].is_null());

    // An unknown path under the web root is a JSON 404, like the API.
    let (status, _, body) = http(port, "GET", "/nothing-here", None, None);
    assert_eq!(status, 404);
    assert!(body.contains("not-found"));
    assert!(p.gr.stop());
}
