//! Operator commands: `send`, `messages`, `show`. All go through the API of
//! the running node.

use super::Failure;
use crate::api::client::Client;
use crate::home::Home;
use crate::node::{MessageView, Shown};
use std::path::PathBuf;

pub(super) struct SendArgs {
    pub home: PathBuf,
    pub to: String,
    pub kind: String,
    pub case: String,
    pub form: PathBuf,
    pub lang: Option<String>,
    pub reply_to: Option<String>,
    pub json: bool,
    pub family_tracing: bool,
    pub override_reason: Option<String>,
    pub attach: Vec<PathBuf>,
    pub translation: Vec<PathBuf>,
}

/// A media type from a file name's extension.
fn media_type(path: &std::path::Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "tif" | "tiff" => "image/tiff",
        "txt" => "text/plain",
        "json" => "application/json",
        "xml" => "application/xml",
        "odt" => "application/vnd.oasis.opendocument.text",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

fn read_translation(path: &std::path::Path) -> Result<serde_json::Value, Failure> {
    let text = std::fs::read(path)
        .map_err(|e| Failure::invalid(format!("--translation {}: {e}", path.display())))?;
    let t: crate::protocol::attachment::Translation = serde_json::from_slice(&text)
        .map_err(|e| Failure::invalid(format!("--translation {}: {e}", path.display())))?;
    serde_json::to_value(t).map_err(|e| Failure::failed(e.to_string()))
}

pub(super) async fn send(a: SendArgs) -> Result<(), Failure> {
    let to = crate::protocol::country::Country::parse(&a.to)
        .map_err(|e| Failure::invalid(format!("--to: {e}")))?;
    let kind = crate::protocol::forms::Kind::parse(&a.kind).ok_or_else(|| {
        Failure::invalid(format!(
            "--kind: unknown kind {:?}; known kinds: {}",
            a.kind,
            crate::protocol::forms::Kind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let text = std::fs::read(&a.form)
        .map_err(|e| Failure::invalid(format!("--form {}: {e}", a.form.display())))?;
    let form: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| Failure::invalid(format!("--form {}: not JSON: {e}", a.form.display())))?;
    let translations = a
        .translation
        .iter()
        .map(|p| read_translation(p))
        .collect::<Result<Vec<_>, _>>()?;
    let home = Home::new(a.home);
    let client = Client::for_home(&home)?;
    // Each file streams up first and is sealed as it arrives; the message
    // then names the uploads.
    let mut uploads = Vec::new();
    for path in &a.attach {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Failure::invalid(format!("--attach {}: no file name", path.display()))
        })?;
        if !path.is_file() {
            return Err(Failure::invalid(format!(
                "--attach {}: not a readable file",
                path.display()
            )));
        }
        let v = client
            .upload(
                &format!(
                    "/v1/attachments?to={to}&name={}&type={}",
                    urlencode(name),
                    urlencode(media_type(path))
                ),
                path,
            )
            .await?;
        uploads.push(v["upload"].clone());
    }
    let body = serde_json::json!({
        "to": to,
        "kind": kind,
        "case": a.case,
        "lang": a.lang,
        "reply_to": a.reply_to,
        "form": form,
        "family_tracing": a.family_tracing,
        "override_reason": a.override_reason,
        "attachments": uploads,
        "translations": translations,
    });
    let v = client.post("/v1/messages", &body).await?;
    if a.json {
        println!("{v}");
    } else {
        println!("{}", v["id"].as_str().unwrap_or_default());
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, Failure> {
    serde_json::from_value(v).map_err(|e| Failure::failed(format!("unexpected API answer: {e}")))
}

pub(super) async fn messages(
    home: PathBuf,
    case: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    let client = Client::for_home(&Home::new(home))?;
    let path = match &case {
        Some(c) => format!("/v1/messages?case={}", urlencode(c)),
        None => "/v1/messages".to_string(),
    };
    let v = client.get(&path).await?;
    let list: Vec<MessageView> = decode(v["messages"].clone())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(());
    }
    if list.is_empty() {
        eprintln!("no messages");
        return Ok(());
    }
    println!(
        "{:<26}  {:<3}  {:<4}  {:<24}  {:<16}  {:<9}  {:<20}  {:<20}",
        "ID", "DIR", "PEER", "KIND", "CASE", "STATE", "CREATED", "DUE/DELIVERED"
    );
    for m in list {
        let dir = serde_json::to_value(m.direction).ok();
        let state = serde_json::to_value(m.state).ok();
        let when = m.delivered.clone().or(m.due.clone()).unwrap_or_default();
        println!(
            "{:<26}  {:<3}  {:<4}  {:<24}  {:<16}  {:<9}  {:<20}  {:<20}",
            m.id.to_string(),
            dir.as_ref().and_then(|v| v.as_str()).unwrap_or("?"),
            m.peer.as_str(),
            m.kind.as_str(),
            m.case,
            state.as_ref().and_then(|v| v.as_str()).unwrap_or("?"),
            m.created,
            when
        );
        if let Some(e) = &m.last_error {
            println!("{:<26}  last error: {e}", "");
        }
    }
    Ok(())
}

pub(super) async fn show(home: PathBuf, id: &str, json: bool) -> Result<(), Failure> {
    let id =
        crate::protocol::id::MessageId::parse(id).map_err(|e| Failure::invalid(e.to_string()))?;
    let client = Client::for_home(&Home::new(home))?;
    let v = client.get(&format!("/v1/messages/{id}")).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    let s: Shown = decode(v)?;
    let m = &s.message;
    println!("message   {}", m.id);
    println!(
        "direction {}",
        serde_json::to_value(m.direction)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    );
    println!("peer      {}", m.peer);
    println!("kind      {}", m.kind);
    println!("case      {}", m.case);
    println!("language  {}", m.lang);
    println!(
        "state     {}",
        serde_json::to_value(m.state)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    );
    println!("created   {}", m.created);
    if let Some(d) = &m.delivered {
        println!("delivered {d}");
    }
    if let Some(d) = &m.received {
        println!("received  {d}");
    }
    if let Some(d) = &m.due {
        println!("due       {d}");
    }
    println!("form:");
    println!(
        "{}",
        serde_json::to_string_pretty(&s.form).unwrap_or_default()
    );
    for a in &s.attachments {
        println!(
            "attachment {:?} {} {} bytes sha256:{}",
            a.name, a.media_type, a.size, a.sha256
        );
    }
    print_translations(&s);
    Ok(())
}

/// Each translated field: the original beside each translation, marked
/// as such, and which text prevails.
fn print_translations(s: &Shown) {
    use crate::protocol::attachment::side_by_side;
    if s.translations.is_empty() && s.local_translations.is_empty() {
        return;
    }
    let prevails = if s.prevails == "original" {
        format!("the original ({}) prevails", s.message.lang)
    } else {
        format!("the {} translation prevails", s.prevails)
    };
    println!("translations ({prevails} under the agreement):");
    for (label, list) in [
        ("translation, signed by the sender", &s.translations),
        (
            "translation, local annotation (not sent, not signed)",
            &s.local_translations,
        ),
    ] {
        for (path, (original, items)) in side_by_side(&s.form, list) {
            println!("  {path}");
            println!(
                "    original [{}]:   {}",
                s.message.lang,
                original.unwrap_or("(no text)")
            );
            for (t, text) in items {
                println!(
                    "    {label} [{}] by {} on {}:   {text}",
                    t.lang, t.by, t.date
                );
            }
        }
    }
}

pub(super) async fn attachment_get(
    home: PathBuf,
    id: &str,
    name: &str,
    out: PathBuf,
) -> Result<(), Failure> {
    let id =
        crate::protocol::id::MessageId::parse(id).map_err(|e| Failure::invalid(e.to_string()))?;
    let client = Client::for_home(&Home::new(home))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&out)
        .map_err(|e| Failure::invalid(format!("--out {}: {e}", out.display())))?;
    let result = client
        .download(
            &format!("/v1/messages/{id}/attachments/{}", urlencode(name)),
            &mut f,
        )
        .await;
    match result {
        Ok(n) => {
            use std::io::Write as _;
            f.flush()
                .and_then(|()| f.sync_all())
                .map_err(|e| Failure::failed(format!("{}: {e}", out.display())))?;
            eprintln!("wrote {n} bytes to {}", out.display());
            Ok(())
        }
        Err(e) => {
            drop(f);
            let _ = std::fs::remove_file(&out);
            Err(e.into())
        }
    }
}

pub(super) async fn translate(home: PathBuf, id: &str, file: PathBuf) -> Result<(), Failure> {
    let id =
        crate::protocol::id::MessageId::parse(id).map_err(|e| Failure::invalid(e.to_string()))?;
    let t = read_translation(&file)?;
    let client = Client::for_home(&Home::new(home))?;
    client
        .post(&format!("/v1/messages/{id}/translations"), &t)
        .await?;
    eprintln!("translation added to message {id} as a local annotation");
    Ok(())
}

/// Percent-encodes `s` for a URL path segment or query value.
pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(super) async fn retry(home: PathBuf, id: &str) -> Result<(), Failure> {
    let id =
        crate::protocol::id::MessageId::parse(id).map_err(|e| Failure::invalid(e.to_string()))?;
    let client = Client::for_home(&Home::new(home))?;
    let v = client
        .post(&format!("/v1/messages/{id}/retry"), &serde_json::json!({}))
        .await?;
    eprintln!(
        "message {id} is queued again for {}",
        v["peer"].as_str().unwrap_or("?")
    );
    Ok(())
}
