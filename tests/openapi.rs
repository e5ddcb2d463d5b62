//! `docs/api.yaml` against the code and a running node.
//!
//! 1. The routes registered in `src/api/*.rs` (read from the source with a
//!    small scanner of `.route("PATH", get(..).post(..))` calls) are
//!    exactly the paths and methods of the spec: a route added without
//!    documentation, or documented without a route, fails.
//! 2. The spec itself holds together: every `$ref` resolves, every schema
//!    uses only the keywords the checker below understands, and every JSON
//!    error response is the shared `Error` object.
//! 3. Two real nodes exchange a real message; then every operation of the
//!    spec is called on a running node (with and without a token, and in
//!    the error cases that are safe to provoke), and every answer's status,
//!    media type and JSON body are checked against the spec.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

const JSON: &str = "application/json";
const OCTETS: &str = "application/octet-stream";

const METHODS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load_spec() -> Value {
    let text = std::fs::read_to_string(manifest_dir().join("docs/api.yaml")).unwrap();
    let spec: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(
        spec["openapi"], "3.1.0",
        "docs/api.yaml must be OpenAPI 3.1.0"
    );
    spec
}

// ---------------------------------------------------------------------------
// The routes in the code
// ---------------------------------------------------------------------------

/// `(method, path)` of every `.route(...)` call in `src/api/*.rs`.
fn code_routes() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(manifest_dir().join("src/api"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        scan_routes(
            &without_comments(&text),
            &file.display().to_string(),
            &mut out,
        );
    }
    out
}

/// The text with every line comment (including doc comments) removed.
fn without_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn scan_routes(text: &str, file: &str, out: &mut BTreeSet<(String, String)>) {
    for unsupported in [
        ".nest(",
        ".nest_service(",
        ".route_service(",
        "Router::new().nest",
    ] {
        assert!(
            !text.contains(unsupported),
            "{file}: `{unsupported}` is not understood by this test's route scanner; extend it"
        );
    }
    let mut rest = text;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let args = rest.trim_start();
        let path = args
            .strip_prefix('"')
            .and_then(|a| a.split_once('"'))
            .map(|(p, _)| p.to_string())
            .unwrap_or_else(|| panic!("{file}: a .route( whose path is not a string literal"));
        let after_path = &args[path.len() + 2..];
        let methods = methods_of_call(after_path);
        assert!(
            !methods.is_empty(),
            "{file}: route {path} has no method router"
        );
        for m in methods {
            out.insert((m, path.clone()));
        }
    }
}

/// The method routers (`get(`, `.post(` ...) at the top level of a call's
/// remaining arguments, up to the call's closing parenthesis.
fn methods_of_call(s: &str) -> Vec<String> {
    let mut methods = Vec::new();
    let mut depth = 1usize;
    let mut ident = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                ident.clear();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '(' => {
                if depth == 1 {
                    assert!(
                        ident != "any" && !ident.ends_with("_service") && ident != "on",
                        "method router `{ident}` is not understood by this test's route scanner"
                    );
                    if METHODS.contains(&ident.as_str()) {
                        methods.push(ident.clone());
                    }
                }
                depth += 1;
                ident.clear();
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
                ident.clear();
            }
            c if c.is_alphanumeric() || c == '_' => ident.push(c),
            _ => ident.clear(),
        }
    }
    methods
}

/// `(method, path)` of every operation in the spec.
fn spec_routes(spec: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (key, _) in item.as_object().unwrap() {
            if METHODS.contains(&key.as_str()) {
                out.insert((key.clone(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_scanner_reads_route_calls() {
    let src = r#"
        // .route("/commented", get(nothing))
        Router::new()
            .route("/a", post(send).get(list))
            .route(
                "/b/{id}",
                get(|| async { asset("text/html; charset=utf-8 (x)", X) }),
            )
            .route("/c", get(f("(", ")")).delete(g))
    "#;
    let mut out = BTreeSet::new();
    scan_routes(&without_comments(src), "example", &mut out);
    let want: BTreeSet<(String, String)> = [
        ("post", "/a"),
        ("get", "/a"),
        ("get", "/b/{id}"),
        ("get", "/c"),
        ("delete", "/c"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(out, want);
}

#[test]
fn every_route_in_the_code_is_in_the_spec_and_back() {
    let spec = load_spec();
    let code = code_routes();
    let documented = spec_routes(&spec);
    assert!(code.len() >= 40, "the scanner found only {code:?}");
    let undocumented: Vec<_> = code.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&code).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes in src/api without an operation in docs/api.yaml: {undocumented:?}\n\
         operations in docs/api.yaml without a route: {unrouted:?}"
    );
}

// ---------------------------------------------------------------------------
// A JSON Schema checker for the subset the spec uses
// ---------------------------------------------------------------------------

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &["description", "title", "default", "examples", "deprecated"];
/// Keywords that `Checker::check` enforces.
const ASSERTIONS: &[&str] = &[
    "$ref",
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "minLength",
    "maxLength",
    "minimum",
    "oneOf",
    "anyOf",
    "format",
];

struct Checker<'a> {
    spec: &'a Value,
}

impl<'a> Checker<'a> {
    /// Follows `$ref`s (`#/a/b/c`) until a value that is not one.
    fn resolve(&self, mut v: &'a Value) -> &'a Value {
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local $refs are supported: {r}"));
            v = self
                .spec
                .pointer(pointer)
                .unwrap_or_else(|| panic!("$ref {r} does not resolve"));
        }
        panic!("$ref chain too long");
    }

    /// Checks `v` against `schema`; each problem is pushed as `at: what`.
    fn check(&self, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(s) = schema.as_object() else {
            errors.push(format!("{at}: schema is not an object: {schema}"));
            return;
        };
        if s.contains_key("$ref") {
            self.check(self.resolve(schema), v, at, errors);
        }
        if let Some(t) = s.get("type") {
            let names: Vec<&str> = match t {
                Value::String(n) => vec![n.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !names.iter().any(|n| is_type(v, n)) {
                errors.push(format!("{at}: expected type {t}, got {}", short(v)));
                return;
            }
        }
        if let Some(c) = s.get("const")
            && c != v
        {
            errors.push(format!("{at}: expected {c}, got {}", short(v)));
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array)
            && !e.contains(v)
        {
            errors.push(format!("{at}: {} is not one of {}", short(v), json!(e)));
        }
        if let Some(obj) = v.as_object() {
            for r in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = r.as_str().unwrap_or_default();
                if !obj.contains_key(key) {
                    errors.push(format!("{at}: required key `{key}` is missing"));
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (k, val) in obj {
                let here = format!("{at}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => self.check(ps, val, &here, errors),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errors.push(format!("{at}: key `{k}` is not in the spec"))
                        }
                        Some(extra @ Value::Object(_)) => self.check(extra, val, &here, errors),
                        _ => {}
                    },
                }
            }
        }
        if let Some(arr) = v.as_array() {
            if let Some(items) = s.get("items") {
                for (i, item) in arr.iter().enumerate() {
                    self.check(items, item, &format!("{at}[{i}]"), errors);
                }
            }
            if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                && (arr.len() as u64) < min
            {
                errors.push(format!("{at}: fewer than {min} items"));
            }
        }
        if let Some(text) = v.as_str() {
            let n = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64)
                && n < min
            {
                errors.push(format!("{at}: {text:?} is shorter than {min}"));
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
                && n > max
            {
                errors.push(format!("{at}: {text:?} is longer than {max}"));
            }
            match s.get("format").and_then(Value::as_str) {
                Some("date-time") if text.parse::<jiff::Timestamp>().is_err() => {
                    errors.push(format!("{at}: {text:?} is not an RFC 3339 time"))
                }
                Some("date") if text.parse::<jiff::civil::Date>().is_err() => {
                    errors.push(format!("{at}: {text:?} is not a date"))
                }
                _ => {}
            }
        }
        if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
            && n < min
        {
            errors.push(format!("{at}: {n} is below {min}"));
        }
        if let Some(branches) = s.get("oneOf").and_then(Value::as_array) {
            let mut why = Vec::new();
            let matched = branches
                .iter()
                .filter(|b| {
                    let mut e = Vec::new();
                    self.check(b, v, at, &mut e);
                    why.extend(e.iter().cloned());
                    e.is_empty()
                })
                .count();
            if matched != 1 {
                errors.push(format!(
                    "{at}: matches {matched} of the oneOf branches, not 1 ({})",
                    why.join("; ")
                ));
            }
        }
        if let Some(branches) = s.get("anyOf").and_then(Value::as_array) {
            let any = branches.iter().any(|b| {
                let mut e = Vec::new();
                self.check(b, v, at, &mut e);
                e.is_empty()
            });
            if !any {
                errors.push(format!("{at}: matches none of the anyOf branches"));
            }
        }
    }

    /// Every keyword of `schema` and the schemas inside it is one this
    /// checker enforces or an annotation; `at` names the place.
    fn lint(&self, schema: &Value, at: &str, problems: &mut Vec<String>) {
        let Some(s) = schema.as_object() else {
            problems.push(format!("{at}: a schema must be an object"));
            return;
        };
        for (k, v) in s {
            let here = format!("{at}/{k}");
            if !ASSERTIONS.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str()) {
                problems.push(format!(
                    "{here}: keyword not understood by tests/openapi.rs"
                ));
                continue;
            }
            match k.as_str() {
                "$ref" => {
                    let target = v.as_str().and_then(|r| r.strip_prefix('#'));
                    if target.and_then(|p| self.spec.pointer(p)).is_none() {
                        problems.push(format!("{here}: {v} does not resolve"));
                    }
                }
                "properties" => {
                    for (name, sub) in v.as_object().into_iter().flatten() {
                        self.lint(sub, &format!("{here}/{name}"), problems);
                    }
                }
                "items" => self.lint(v, &here, problems),
                "additionalProperties" if v.is_object() => self.lint(v, &here, problems),
                "oneOf" | "anyOf" => {
                    for (i, sub) in v.as_array().into_iter().flatten().enumerate() {
                        self.lint(sub, &format!("{here}/{i}"), problems);
                    }
                }
                "format" if !matches!(v.as_str(), Some("date-time" | "date")) => {
                    problems.push(format!("{here}: format {v} is not checked"));
                }
                _ => {}
            }
        }
    }
}

fn is_type(v: &Value, name: &str) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => false,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}...", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

/// The operations of the spec: `(method, path, operation)`.
fn operations(spec: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op));
            }
        }
    }
    out
}

#[test]
fn the_spec_is_consistent() {
    let spec = load_spec();
    let c = Checker { spec: &spec };
    let mut problems = Vec::new();
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        c.lint(
            schema,
            &format!("#/components/schemas/{name}"),
            &mut problems,
        );
    }
    assert!(
        spec["components"]["securitySchemes"]["bearerAuth"]
            == json!({"type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"]}),
        "bearerAuth must be an http bearer scheme"
    );
    assert_eq!(spec["security"], json!([{"bearerAuth": []}]));
    let error_ref = json!({"$ref": "#/components/schemas/Error"});
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&spec) {
        let at = format!("{method} {path}");
        assert!(op["summary"].is_string(), "{at}: no summary");
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no operationId"));
        assert!(
            ids.insert(id.to_string()),
            "{at}: operationId {id} is used twice"
        );
        for p in op["parameters"]
            .as_array()
            .into_iter()
            .chain(spec["paths"][&path]["parameters"].as_array())
            .flatten()
        {
            let p = c.resolve(p);
            c.lint(
                &p["schema"],
                &format!("{at} parameter {}", p["name"]),
                &mut problems,
            );
            if p["in"] == "path" {
                assert!(
                    path.contains(&format!("{{{}}}", p["name"].as_str().unwrap())),
                    "{at}: path parameter {} is not in the path",
                    p["name"]
                );
            }
        }
        if let Some(body) = op.get("requestBody") {
            for (media, m) in body["content"].as_object().unwrap() {
                c.lint(
                    &m["schema"],
                    &format!("{at} request {media}"),
                    &mut problems,
                );
            }
        }
        let responses = op["responses"].as_object().unwrap();
        assert!(!responses.is_empty(), "{at}: no responses");
        for (status, r) in responses {
            let r = c.resolve(r);
            let code: u16 = status
                .parse()
                .unwrap_or_else(|_| panic!("{at}: status {status}"));
            for (media, m) in r["content"].as_object().into_iter().flatten() {
                c.lint(
                    &m["schema"],
                    &format!("{at} {status} {media}"),
                    &mut problems,
                );
                // The one JSON answer over 400 that is not an error: the
                // readiness probe's "not ready".
                let readiness = path == "/healthz" && code == 503;
                if code >= 400
                    && !readiness
                    && media == "application/json"
                    && m["schema"] != error_ref
                {
                    problems.push(format!(
                        "{at} {status}: a JSON error must be the Error object"
                    ));
                }
            }
            if code == 401 && op.get("security") == Some(&json!([])) {
                problems.push(format!("{at}: needs no token but documents 401"));
            }
        }
        if op.get("security") != Some(&json!([])) && !responses.contains_key("401") {
            problems.push(format!("{at}: needs a token but documents no 401"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/api.yaml:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_refuses_what_the_spec_does_not_allow() {
    let spec = load_spec();
    let c = Checker { spec: &spec };
    let error = json!({"$ref": "#/components/schemas/Error"});
    let mut e = Vec::new();
    c.check(
        &error,
        &json!({"code": "not-found", "message": "no"}),
        "$",
        &mut e,
    );
    assert!(e.is_empty(), "{e:?}");
    for bad in [
        json!({"code": "not-found"}),
        json!({"code": "no-such-code", "message": "x"}),
        json!({"code": "not-found", "message": "x", "extra": 1}),
        json!({"code": "not-found", "message": "x", "fields": []}),
        json!({"code": "not-found", "message": "x", "fields": [{"field": "a"}]}),
        json!(["not", "an", "object"]),
    ] {
        let mut e = Vec::new();
        c.check(&error, &bad, "$", &mut e);
        assert!(!e.is_empty(), "accepted {bad}");
    }
    let nullable_time = json!({"$ref": "#/components/schemas/NullableTime"});
    for (v, ok) in [
        (json!(null), true),
        (json!("2026-11-30T20:18:40Z"), true),
        (json!("yesterday"), false),
        (json!(3), false),
    ] {
        let mut e = Vec::new();
        c.check(&nullable_time, &v, "$", &mut e);
        assert_eq!(e.is_empty(), ok, "{v}: {e:?}");
    }
    let log_witness = json!({"$ref": "#/components/schemas/LogWitness"});
    let mut e = Vec::new();
    c.check(&log_witness, &json!({"size": 1}), "$", &mut e);
    assert!(!e.is_empty(), "oneOf accepted an incomplete object");
}

// ---------------------------------------------------------------------------
// The running node
// ---------------------------------------------------------------------------

struct Answer {
    status: u16,
    media: String,
    body: Vec<u8>,
}

/// One HTTP/1.1 exchange on a fresh connection; `body` is sent as `media`.
fn http(
    port: u16,
    method: &str,
    target: &str,
    token: Option<&str>,
    media: &str,
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: {media}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    // A refused body may be cut short by the server; its answer still counts.
    let _ = s.write_all(&request);
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if raw.is_empty() => panic!("{method} {target}: {e}"),
            Err(_) => break,
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {target}: no HTTP head in {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let rest = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: bad status line in {head}"));
    let mut media = String::new();
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-type" {
                media = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
            }
            if k == "transfer-encoding" && v.contains("chunked") {
                chunked = true;
            }
        }
    }
    let body = if chunked { dechunk(&rest) } else { rest };
    Answer {
        status,
        media,
        body,
    }
}

fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = s.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&s[..eol]).trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&s[eol + 2..eol + 2 + size]);
        s = &s[eol + 2 + size + 2..];
    }
    out
}

/// A node to call, and as whom.
#[derive(Clone, Copy)]
struct On<'t> {
    port: u16,
    token: Option<&'t str>,
}

/// Calls operations and checks each answer against the spec; keeps the
/// problems (so one run reports them all) and which operations were
/// called.
struct Contract<'a> {
    checker: Checker<'a>,
    called: BTreeSet<(String, String)>,
    problems: Vec<String>,
}

impl Contract<'_> {
    /// Calls `method template` (path parameters filled from `params`, with
    /// `query` appended) and checks the answer: its status is one of
    /// `expect` and documented, its media type is documented for that
    /// status, and a JSON body matches the documented schema. Returns the
    /// JSON body (`null` for other media types).
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        on: On,
        method: &str,
        template: &str,
        params: &[(&str, &str)],
        query: &str,
        body: Option<&[u8]>,
        expect: &[u16],
    ) -> Value {
        let sent = body.map(|b| (JSON, b));
        self.exchange(on, method, template, params, query, sent, expect)
            .1
    }

    /// As [`Contract::call`], with the request body sent as the given
    /// media type; returns the answer itself (for a body that is not JSON)
    /// beside its JSON value.
    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &mut self,
        on: On,
        method: &str,
        template: &str,
        params: &[(&str, &str)],
        query: &str,
        body: Option<(&str, &[u8])>,
        expect: &[u16],
    ) -> (Answer, Value) {
        let (media, body) = body.unwrap_or((JSON, b""));
        let mut target = template.to_string();
        for (k, v) in params {
            target = target.replace(&format!("{{{k}}}"), v);
        }
        assert!(
            !target.contains('{'),
            "{template}: a path parameter is not filled"
        );
        if !query.is_empty() {
            target = format!("{target}?{query}");
        }
        let a = http(
            on.port,
            &method.to_uppercase(),
            &target,
            on.token,
            media,
            body,
        );
        let at = format!("{} {target} -> {}", method.to_uppercase(), a.status);
        self.called
            .insert((method.to_string(), template.to_string()));
        if !expect.contains(&a.status) {
            self.problems.push(format!(
                "{at}: expected {expect:?}; body {}",
                String::from_utf8_lossy(&a.body)
            ));
        }
        let op = &self.checker.spec["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is not in the spec");
        // A body the node accepted must be of a documented media type and
        // fit the documented request body.
        let documented = &op["requestBody"]["content"];
        if (200..300).contains(&a.status) && documented.is_object() && !body.is_empty() {
            let mut errors = Vec::new();
            match &documented[media]["schema"] {
                Value::Null => errors.push(format!(
                    "request: accepted a body of media type {media}, which is not documented"
                )),
                schema if media == JSON => match serde_json::from_slice::<Value>(body) {
                    Ok(v) => self.checker.check(schema, &v, "request", &mut errors),
                    Err(e) => {
                        errors.push(format!("request: accepted a body that is not JSON: {e}"))
                    }
                },
                _ => {}
            }
            for e in errors {
                self.problems.push(format!("{at}: {e}"));
            }
        }
        let v = self.check_answer(&at, &op["responses"], &a);
        (a, v)
    }

    /// Checks an answer against a `responses` object.
    fn check_answer(&mut self, at: &str, responses: &Value, a: &Answer) -> Value {
        let Some(r) = responses.get(a.status.to_string()) else {
            self.problems
                .push(format!("{at}: status {} is not documented", a.status));
            return Value::Null;
        };
        let r = self.checker.resolve(r);
        // The answer's media type, else a documented range that covers it
        // (`image/*`, `*/*`).
        let range = format!("{}/*", a.media.split('/').next().unwrap_or_default());
        let Some((key, m)) = [a.media.as_str(), range.as_str(), "*/*"]
            .into_iter()
            .find_map(|k| r["content"].get(k).map(|m| (k, m)))
        else {
            self.problems.push(format!(
                "{at}: media type {:?} is not documented for {} (body {})",
                a.media,
                a.status,
                String::from_utf8_lossy(&a.body)
            ));
            return Value::Null;
        };
        if key != JSON {
            return Value::Null;
        }
        let v: Value = match serde_json::from_slice(&a.body) {
            Ok(v) => v,
            Err(e) => {
                self.problems.push(format!("{at}: body is not JSON: {e}"));
                return Value::Null;
            }
        };
        let mut errors = Vec::new();
        self.checker.check(&m["schema"], &v, "$", &mut errors);
        for e in errors {
            self.problems.push(format!("{at}: {e}"));
        }
        v
    }

    fn get(&mut self, on: On, template: &str, params: &[(&str, &str)], expect: &[u16]) -> Value {
        self.call(on, "get", template, params, "", None, expect)
    }

    fn post(
        &mut self,
        on: On,
        template: &str,
        params: &[(&str, &str)],
        body: Value,
        expect: &[u16],
    ) -> Value {
        let bytes = body.to_string().into_bytes();
        self.call(on, "post", template, params, "", Some(&bytes), expect)
    }
}

fn admin_token(node: &TestNode) -> String {
    std::fs::read_to_string(node.home.join("keys/api.token"))
        .unwrap()
        .trim()
        .to_string()
}

fn today_minus(days: i64) -> String {
    let d = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .checked_sub(jiff::Span::new().days(days))
        .unwrap();
    d.to_string()
}

#[test]
fn the_running_api_matches_the_spec() {
    let spec = load_spec();
    // A small per-file limit for attachments, so that a file over it is
    // cheap to upload.
    let agreement = AGREEMENT.replace("max_file = \"64 MiB\"", "max_file = \"4 KiB\"");
    assert_ne!(
        agreement, AGREEMENT,
        "the example agreement's max_file moved"
    );
    let mut p = pair_with(&agreement);
    p.al.serve();
    p.gr.serve();
    let (gr_token, al_token) = (admin_token(&p.gr), admin_token(&p.al));
    let gr = On {
        port: p.gr.api_port,
        token: Some(&gr_token),
    };
    let al = On {
        port: p.al.api_port,
        token: Some(&al_token),
    };
    let anonymous = On {
        port: p.gr.api_port,
        token: None,
    };
    let mut c = Contract {
        checker: Checker { spec: &spec },
        called: BTreeSet::new(),
        problems: Vec::new(),
    };
    let dir = p.dir.path().to_path_buf();

    // Without a token: every operation but the public ones is 401, in JSON.
    let dummy = [
        ("id", "01M82V7M008H248H248H248H24"),
        ("case", "GR-NONE"),
        ("kind", "social-inquiry-request"),
        ("lang", "en"),
        ("name", "nobody"),
    ];
    for (method, path, op) in operations(&spec) {
        let public = op.get("security") == Some(&json!([]));
        let expect: &[u16] = if public { &[200] } else { &[401] };
        c.call(anonymous, &method, &path, &dummy, "", None, expect);
    }
    c.called.clear();

    // Health, metrics and the web files.
    let health = c.get(anonymous, "/v1/health", &[], &[200]);
    assert_eq!(health["country"], "GR");
    c.get(anonymous, "/healthz", &[], &[200]);
    c.call(
        anonymous,
        "get",
        "/healthz",
        &[],
        "ready=1",
        None,
        &[200, 503],
    );
    c.call(
        anonymous,
        "get",
        "/healthz",
        &[],
        "ready=1&ready=0",
        None,
        &[400],
    );
    c.get(gr, "/metrics", &[], &[200]);
    for file in [
        "/",
        "/index.html",
        "/app.css",
        "/app.js",
        "/favicon.svg",
        "/favicon.ico",
    ] {
        c.get(anonymous, file, &[], &[200]);
    }

    // A case, and a real message from GR to AL.
    let case = "GR-OPENAPI-1";
    let opened = c.post(
        gr,
        "/v1/cases",
        &[],
        json!({"case": case, "fields": {"nationality": "AL", "resides": "AL", "born": "2012-03-04"}}),
        &[201],
    );
    assert_eq!(opened["record"]["case"], case);
    c.post(gr, "/v1/cases", &[], json!({"case": case}), &[409]);
    c.post(gr, "/v1/cases", &[], json!({"case": "bad ref!"}), &[422]);
    c.post(gr, "/v1/cases", &[], json!({"bogus": 1}), &[422]);
    let form: Value = serde_json::from_str(FORM).unwrap();

    // A file to attach, uploaded as it is (not JSON), and the refusals.
    let content = b"MADE-UP DEMO DATA. School report, first term.\n".repeat(20);
    let file_name = "school report.txt";
    let upload_query = "to=AL&name=school%20report.txt&type=text/plain";
    let uploaded = c
        .exchange(
            gr,
            "post",
            "/v1/attachments",
            &[],
            upload_query,
            Some((OCTETS, &content)),
            &[201],
        )
        .1;
    assert_eq!(uploaded["name"], file_name, "{uploaded}");
    assert_eq!(uploaded["media_type"], "text/plain");
    assert_eq!(uploaded["size"], content.len());
    let upload = uploaded["upload"].as_str().unwrap_or_default().to_string();
    let over_limit = vec![b'x'; 5 * 1024];
    for (query, body, code) in [
        (
            "to=AL&name=big.bin&type=application/octet-stream",
            &over_limit,
            "invalid-attachment",
        ),
        (
            "to=AL&name=..&type=text/plain",
            &content,
            "invalid-attachment",
        ),
        ("to=AL&name=a.txt&type=text", &content, "invalid-attachment"),
        (
            "to=FR&name=a.txt&type=text/plain",
            &content,
            "invalid-attachment",
        ),
        (
            "to=GREECE&name=a.txt&type=text/plain",
            &content,
            "invalid-request",
        ),
    ] {
        let refused = c
            .exchange(
                gr,
                "post",
                "/v1/attachments",
                &[],
                query,
                Some((OCTETS, body)),
                &[422],
            )
            .1;
        assert_eq!(refused["code"], code, "{query}: {refused}");
    }
    c.exchange(
        gr,
        "post",
        "/v1/attachments",
        &[],
        "to=AL&name=a.txt",
        Some((OCTETS, &content)),
        &[400],
    );
    c.exchange(
        anonymous,
        "post",
        "/v1/attachments",
        &[],
        upload_query,
        Some((OCTETS, &content)),
        &[401],
    );

    // The message, with the file and a translation signed into it.
    let translation = json!({
        "lang": "el",
        "by": "Sworn translator (demo)",
        "date": today_minus(0),
        "fields": {"child_account": "ΦΤΙΑΧΤΑ ΔΕΔΟΜΕΝΑ. Το παιδί λέει ότι ζούσε με τη μητέρα του."},
    });
    let sent = c.post(
        gr,
        "/v1/messages",
        &[],
        json!({"to": "AL", "kind": "social-inquiry-request", "case": case, "form": form,
               "attachments": [upload], "translations": [translation]}),
        &[201],
    );
    let id = sent["id"].as_str().unwrap_or_default().to_string();
    assert!(!id.is_empty(), "the send gave no id: {sent}");
    // An upload goes out once.
    let again = c.post(
        gr,
        "/v1/messages",
        &[],
        json!({"to": "AL", "kind": "social-inquiry-request", "case": case, "form": form,
               "attachments": [upload]}),
        &[422],
    );
    assert_eq!(again["code"], "invalid-form", "{again}");
    c.post(
        gr,
        "/v1/messages",
        &[],
        json!({"to": "FR", "kind": "social-inquiry-request", "case": case, "form": form}),
        &[422],
    );
    c.post(gr, "/v1/messages", &[], json!({"to": "AL"}), &[422]);
    wait_for("delivery to AL", 60, || {
        let list = c.call(
            gr,
            "get",
            "/v1/messages",
            &[],
            &format!("case={case}"),
            None,
            &[200],
        );
        list["messages"][0]["state"] == "delivered"
    });

    // Messages, on both sides.
    let listed = c.get(al, "/v1/messages", &[], &[200]);
    assert_eq!(listed["messages"][0]["id"], id.as_str());
    assert_eq!(listed["messages"][0]["state"], "received");
    let shown = c.get(al, "/v1/messages/{id}", &[("id", &id)], &[200]);
    assert_eq!(shown["message"]["direction"], "in");
    assert_eq!(shown["attachments"][0]["name"], file_name, "{shown}");
    assert_eq!(shown["attachments"][0]["sha256"], uploaded["sha256"]);
    assert_eq!(shown["translations"][0]["lang"], "el");
    assert_eq!(shown["prevails"], "original");
    assert!(shown.get("local_translations").is_none(), "{shown}");

    // The file, on the receiving node and on the sender.
    let attachment = "/v1/messages/{id}/attachments/{name}";
    let named = [("id", id.as_str()), ("name", "school%20report.txt")];
    for on in [al, gr] {
        let (a, _) = c.exchange(on, "get", attachment, &named, "", None, &[200]);
        assert_eq!(a.media, "text/plain");
        assert!(a.body == content, "the file came back changed");
    }
    c.get(
        al,
        attachment,
        &[("id", &id), ("name", "no-such.pdf")],
        &[404],
    );
    let nobody = "01M82V7M008H248H248H248H24";
    c.get(al, attachment, &[("id", nobody), ("name", "a.txt")], &[404]);
    c.get(
        al,
        attachment,
        &[("id", "not-an-id"), ("name", "a.txt")],
        &[422],
    );

    // A translation added on the receiving node, beside the original.
    let translations = "/v1/messages/{id}/translations";
    let local = json!({
        "lang": "sq",
        "by": "AL duty officer",
        "date": today_minus(0),
        "fields": {"questions[0]": "A është nëna e aftë të kujdeset për fëmijën?"},
    });
    let added = c.post(al, translations, &[("id", &id)], local.clone(), &[201]);
    assert_eq!(added, json!({"message": id, "added": true}));
    for (body, code) in [
        (local.clone(), "invalid-attachment"),
        (
            json!({"lang": "sq", "by": "x", "date": today_minus(0), "fields": {"child.no_such_field": "y"}}),
            "invalid-attachment",
        ),
        (
            json!({"lang": "en", "by": "x", "date": today_minus(0), "fields": {"child_account": "y"}}),
            "invalid-attachment",
        ),
        (json!({"lang": "sq", "bogus": 1}), "invalid-request"),
    ] {
        let refused = c.post(al, translations, &[("id", &id)], body, &[422]);
        assert_eq!(refused["code"], code, "{refused}");
    }
    c.post(al, translations, &[("id", nobody)], local.clone(), &[404]);
    c.post(
        al,
        translations,
        &[("id", "not-an-id")],
        local.clone(),
        &[422],
    );
    let shown = c.get(al, "/v1/messages/{id}", &[("id", &id)], &[200]);
    assert_eq!(shown["local_translations"][0]["by"], "AL duty officer");
    c.get(gr, "/v1/messages/{id}", &[("id", "not-an-id")], &[422]);
    c.get(
        gr,
        "/v1/messages/{id}",
        &[("id", "01M82V7M008H248H248H248H24")],
        &[404],
    );
    c.call(
        gr,
        "get",
        "/v1/messages",
        &[],
        "case=a&case=b",
        None,
        &[400],
    );
    c.post(
        gr,
        "/v1/messages/{id}/retry",
        &[("id", &id)],
        json!({}),
        &[422],
    );

    // Cases.
    c.get(gr, "/v1/cases/{case}", &[("case", case)], &[200]);
    c.get(gr, "/v1/cases/{case}", &[("case", "GR-NO-SUCH")], &[404]);
    c.post(
        gr,
        "/v1/cases/{case}",
        &[("case", case)],
        json!({"identified": true}),
        &[200],
    );
    c.post(
        gr,
        "/v1/cases/{case}",
        &[("case", case)],
        json!({"born": "someday"}),
        &[422],
    );
    let consented = c.post(
        gr,
        "/v1/cases/{case}/consents",
        &[("case", case)],
        json!({"purpose": "information", "by": "guardian"}),
        &[200],
    );
    assert_eq!(consented["record"]["consents"][0]["purpose"], "information");
    let returned = c.post(
        gr,
        "/v1/cases/{case}/return",
        &[("case", case)],
        json!({"date": today_minus(1), "from": "GR", "to": "AL"}),
        &[200],
    );
    assert!(
        returned["follow_ups"]
            .as_array()
            .is_some_and(|f| !f.is_empty()),
        "no follow-ups scheduled: {returned}"
    );
    c.post(
        gr,
        "/v1/cases/{case}/return",
        &[("case", case)],
        json!({"date": today_minus(1), "from": "GR", "to": "GR"}),
        &[422],
    );
    c.post(
        gr,
        "/v1/cases",
        &[],
        json!({"case": "GR-OPENAPI-2"}),
        &[201],
    );
    c.post(
        gr,
        "/v1/cases/{case}/erase",
        &[("case", "GR-OPENAPI-2")],
        json!({}),
        &[200],
    );
    c.post(
        gr,
        "/v1/cases/{case}/erase",
        &[("case", "GR-NO-SUCH")],
        json!({}),
        &[404],
    );

    // Deadlines and reports.
    let owed = c.get(al, "/v1/deadlines", &[], &[200]);
    assert!(
        owed["deadlines"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["message"] == id.as_str())),
        "AL owes no answer to {id}: {owed}"
    );
    c.get(gr, "/v1/deadlines", &[], &[200]);
    c.call(
        al,
        "get",
        "/v1/deadlines",
        &[],
        "overdue=true&peer=GR",
        None,
        &[200],
    );
    c.call(
        al,
        "get",
        "/v1/deadlines",
        &[],
        "overdue=maybe",
        None,
        &[400],
    );
    c.call(al, "get", "/v1/deadlines", &[], "peer=GREECE", None, &[422]);
    c.get(gr, "/v1/reports/sla", &[], &[200]);
    let range = format!("peer=AL&from={}&to={}", today_minus(30), today_minus(-30));
    c.call(gr, "get", "/v1/reports/sla", &[], &range, None, &[200]);
    c.call(
        gr,
        "get",
        "/v1/reports/sla",
        &[],
        "from=yesterday",
        None,
        &[422],
    );
    c.get(gr, "/v1/reports/stats", &[], &[200]);

    // Peers and agreements.
    let peers = c.get(gr, "/v1/peers", &[], &[200]);
    assert_eq!(peers["peers"][0]["country"], "AL");
    c.post(
        gr,
        "/v1/peers",
        &[],
        json!({"card": "x", "agreement": "y"}),
        &[422],
    );
    c.post(gr, "/v1/peers", &[], json!({"card": "x"}), &[422]);
    let agreements = c.get(gr, "/v1/agreements", &[], &[200]);
    assert_eq!(agreements["agreements"][0]["state"], "active");
    c.call(gr, "post", "/v1/agreements/reload", &[], "", None, &[200]);
    c.post(
        gr,
        "/v1/agreements/reload",
        &[],
        json!({"bogus": 1}),
        &[422],
    );

    // Users and roles.
    let added = c.post(
        gr,
        "/v1/users",
        &[],
        json!({"name": "olga", "role": "auditor"}),
        &[201],
    );
    let auditor_token = added["token"].as_str().unwrap_or_default().to_string();
    let auditor = On {
        port: p.gr.api_port,
        token: Some(&auditor_token),
    };
    c.post(
        gr,
        "/v1/users",
        &[],
        json!({"name": "olga", "role": "auditor"}),
        &[422],
    );
    c.post(
        gr,
        "/v1/users",
        &[],
        json!({"name": "pavlos", "role": "chief"}),
        &[422],
    );
    c.get(gr, "/v1/users", &[], &[200]);
    c.get(auditor, "/v1/users", &[], &[403]);
    c.get(auditor, "/v1/messages/{id}", &[("id", &id)], &[403]);
    c.exchange(
        auditor,
        "post",
        "/v1/attachments",
        &[],
        upload_query,
        Some((OCTETS, &content)),
        &[403],
    );
    c.get(auditor, attachment, &named, &[403]);
    c.post(auditor, translations, &[("id", &id)], local.clone(), &[403]);
    // An operator may handle files, but not those of a case not theirs.
    let added = c.post(
        gr,
        "/v1/users",
        &[],
        json!({"name": "petros", "role": "operator"}),
        &[201],
    );
    let operator_token = added["token"].as_str().unwrap_or_default().to_string();
    let operator = On {
        port: p.gr.api_port,
        token: Some(&operator_token),
    };
    c.get(operator, attachment, &named, &[403]);
    c.post(
        operator,
        translations,
        &[("id", &id)],
        local.clone(),
        &[403],
    );
    c.get(auditor, "/v1/keys", &[], &[200]);
    let me = c.get(auditor, "/v1/whoami", &[], &[200]);
    assert_eq!(me["role"], "auditor");
    c.post(
        gr,
        "/v1/users/{name}/revoke",
        &[("name", "olga")],
        json!({}),
        &[200],
    );
    c.post(
        gr,
        "/v1/users/{name}/revoke",
        &[("name", "nobody")],
        json!({}),
        &[422],
    );
    c.get(auditor, "/v1/whoami", &[], &[401]);

    // Audit, backup and export.
    let log = c.get(gr, "/v1/audit", &[], &[200]);
    assert!(log["size"].as_u64().is_some_and(|n| n > 0));
    let verified = c.get(gr, "/v1/audit/verify", &[], &[200]);
    assert_eq!(verified["ok"], true, "{verified}");
    c.get(gr, "/v1/audit/checkpoint", &[], &[200]);
    c.get(gr, "/v1/audit/proof/{id}", &[("id", &id)], &[200]);
    c.get(
        gr,
        "/v1/audit/proof/{id}",
        &[("id", "01M82V7M008H248H248H248H24")],
        &[404],
    );
    c.get(gr, "/v1/audit/proof/{id}", &[("id", "nope")], &[422]);
    let backup = dir.join("gr.backup");
    let out = backup.to_str().unwrap();
    c.post(gr, "/v1/backup", &[], json!({"out": out}), &[200]);
    c.post(gr, "/v1/backup", &[], json!({"out": out}), &[422]);
    c.post(
        gr,
        "/v1/backup",
        &[],
        json!({"out": "relative.backup"}),
        &[422],
    );
    let bundle = dir.join("gr-bundle");
    let out = bundle.to_str().unwrap();
    c.post(
        gr,
        "/v1/audit/export",
        &[],
        json!({"out": out, "ciphertexts": true}),
        &[200],
    );
    c.post(gr, "/v1/audit/export", &[], json!({"out": out}), &[422]);

    // Forms and labels.
    let kinds = c.get(gr, "/v1/forms", &[], &[200]);
    c.call(gr, "get", "/v1/forms", &[], "lang=en", None, &[200]);
    c.call(gr, "get", "/v1/forms", &[], "lang=fr", None, &[404]);
    c.call(gr, "get", "/v1/forms", &[], "lang=french", None, &[422]);
    let names: Vec<String> = kinds["kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["kind"].as_str().map(String::from))
        .collect();
    assert_eq!(names.len(), 13, "{kinds}");
    for kind in &names {
        c.get(gr, "/v1/forms/{kind}/schema", &[("kind", kind)], &[200]);
        c.get(gr, "/v1/forms/{kind}/template", &[("kind", kind)], &[200]);
    }
    c.get(
        gr,
        "/v1/forms/{kind}/schema",
        &[("kind", "no-such-kind")],
        &[404],
    );
    c.call(
        gr,
        "get",
        "/v1/forms/{kind}/template",
        &[("kind", "case-update")],
        "lang=fr",
        None,
        &[404],
    );
    let sir = [("kind", "social-inquiry-request")];
    let valid = c.post(gr, "/v1/forms/{kind}/validate", &sir, form.clone(), &[200]);
    assert_eq!(valid["valid"], true);
    let invalid = c.post(
        gr,
        "/v1/forms/{kind}/validate",
        &sir,
        json!({"child": {"sex": "x"}}),
        &[422],
    );
    assert_eq!(invalid["code"], "invalid-form");
    let huge = vec![b' '; 300 * 1024];
    c.call(
        gr,
        "post",
        "/v1/forms/{kind}/validate",
        &sir,
        "",
        Some(&huge),
        &[413],
    );
    c.post(
        gr,
        "/v1/forms/{kind}/validate",
        &[("kind", "nope")],
        json!({}),
        &[404],
    );
    c.get(gr, "/v1/labels/{lang}", &[("lang", "en")], &[200]);
    c.get(gr, "/v1/labels/{lang}", &[("lang", "fr")], &[404]);
    c.get(gr, "/v1/labels/{lang}", &[("lang", "english")], &[422]);
    c.get(gr, "/v1/whoami", &[], &[200]);

    // Keys, last: a rotation changes this node's keys.
    c.get(al, "/v1/keys", &[], &[200]);
    c.post(al, "/v1/keys/rotate", &[], json!({"bogus": true}), &[422]);
    c.post(al, "/v1/keys/revoke", &[], json!({"reason": "  "}), &[422]);
    let rotated = c.call(al, "post", "/v1/keys/rotate", &[], "", None, &[200]);
    assert_eq!(rotated["serial"], 1, "{rotated}");
    c.post(
        al,
        "/v1/keys/revoke",
        &[],
        json!({"reason": "checking the API contract"}),
        &[200, 409],
    );
    c.get(al, "/v1/keys", &[], &[200]);

    // An unknown path is a JSON not-found, with or without a token.
    for on in [gr, anonymous] {
        let a = http(on.port, "GET", "/v1/no-such-endpoint", on.token, JSON, b"");
        assert_eq!(a.status, 404);
        let not_found = json!({"404": {"$ref": "#/components/responses/NotFound"}});
        let v = c.check_answer("GET /v1/no-such-endpoint", &not_found, &a);
        assert_eq!(v["code"], "not-found");
    }

    let uncalled: Vec<_> = spec_routes(&spec).difference(&c.called).cloned().collect();
    assert!(
        c.problems.is_empty() && uncalled.is_empty(),
        "the running API does not match docs/api.yaml:\n{}\noperations this test never called (add a call above): {uncalled:?}",
        c.problems.join("\n")
    );
}
