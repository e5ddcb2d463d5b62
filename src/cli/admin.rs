//! Admin commands: `init`, `card`, `peer add`, `check`, `serve`.

use super::Failure;
use crate::api::client::{Client, ClientError};
use crate::home::{Home, InitParams};
use crate::protocol::audit::{Event, Record};
use crate::protocol::country::Country;
use crate::store::Store;
use std::path::PathBuf;

pub(super) fn init(
    home: PathBuf,
    country: &str,
    name: String,
    endpoint: String,
    api: &str,
    listen: Option<&str>,
) -> Result<(), Failure> {
    let listen = match listen {
        None => None,
        Some(l) => Some(l.parse().map_err(|_| {
            Failure::invalid(format!("--listen: {l:?} is not an IP address and port"))
        })?),
    };
    let country =
        Country::parse(country).map_err(|e| Failure::invalid(format!("--country: {e}")))?;
    let api = api
        .parse()
        .map_err(|_| Failure::invalid(format!("--api: {api:?} is not an IP address and port")))?;
    let home = Home::new(home);
    let card = home.init(&InitParams {
        country,
        name,
        endpoint,
        api,
        listen,
    })?;
    offline_audit(
        &home,
        Event::NodeInitialised,
        Record {
            detail: Some(format!("pin {}", card.tls_spki_sha256)),
            ..Record::default()
        },
    )?;
    eprintln!(
        "created node home {} for {}; give the output of `nfp-node card --home {}` to your peers",
        home.dir.display(),
        card.country,
        home.dir.display()
    );
    Ok(())
}

/// Appends an audit entry with the node stopped (it owns the store when running).
pub(super) fn offline_audit(home: &Home, event: Event, rec: Record) -> Result<(), Failure> {
    let setup = home.load()?;
    let store = Store::open(&home.store_dir(), &setup.storage_key)
        .map_err(|e| Failure::failed(e.to_string()))?;
    store
        .append_audit(event, rec, jiff::Timestamp::now().as_second())
        .and_then(|_| store.sync())
        .map_err(|e| Failure::failed(e.to_string()))
}

pub(super) fn card(home: PathBuf) -> Result<(), Failure> {
    print!("{}", Home::new(home).own_card()?.to_toml());
    Ok(())
}

fn read_file(path: &PathBuf, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::invalid(format!("{what} {}: {e}", path.display())))
}

pub(super) async fn peer_add(
    home: PathBuf,
    card: PathBuf,
    agreement: PathBuf,
) -> Result<(), Failure> {
    let home = Home::new(home);
    let card_text = read_file(&card, "--card")?;
    let agreement_text = read_file(&agreement, "--agreement")?;
    let client = Client::for_home(&home)?;
    let body = serde_json::json!({"card": card_text, "agreement": agreement_text});
    match client.post("/v1/peers", &body).await {
        Ok(v) => {
            eprintln!(
                "registered peer {} under agreement {} (node is running: now in force)",
                v["peer"].as_str().unwrap_or("?"),
                v["agreement"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        Err(ClientError::Unreachable(_)) => {
            let (card, agreement) = home.add_peer(&card_text, &agreement_text)?;
            offline_audit(
                &home,
                Event::PeerAdded,
                Record {
                    peer: Some(card.country),
                    detail: Some(crate::home::peer_added_detail(&card, &agreement)),
                    ..Record::default()
                },
            )?;
            eprintln!(
                "registered peer {} under agreement {} v{} (hash {})",
                card.country,
                agreement.id,
                agreement.version,
                hex::encode(agreement.hash())
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A warning when this node's TLS certificate expires within the renewal
/// window (or has expired), for `check` and `agreement status`.
fn certificate_warning(home: &Home) -> Option<String> {
    let expiry = home.certificate_expiry().ok()?;
    let now = jiff::Timestamp::now().as_second();
    let when = jiff::Timestamp::from_second(expiry)
        .map(|t| t.to_string())
        .unwrap_or_default();
    if expiry < now {
        Some(format!(
            "this node's TLS certificate expired on {when}: partners refuse it; run `nfp-node keys rotate --tls`"
        ))
    } else if expiry - now <= crate::home::RENEW_BEFORE_DAYS * 86_400 {
        Some(format!(
            "this node's TLS certificate expires on {when} (within {} days); the running node renews it by a rotation, or run `nfp-node keys rotate --tls`",
            crate::home::RENEW_BEFORE_DAYS
        ))
    } else {
        None
    }
}

pub(super) fn check(home: PathBuf) -> Result<(), Failure> {
    let home = Home::new(home);
    let problems = home.check();
    if let Some(w) = certificate_warning(&home) {
        println!("warning: {w}");
        tracing::warn!("{w}");
    }
    if problems.is_empty() {
        let config = home.config()?;
        let (peers, _) = home.peers(config.country);
        println!(
            "ok: {} ({}) with {} peer(s): {}",
            config.country,
            config.name,
            peers.len(),
            peers
                .values()
                .map(|p| format!(
                    "{} under {} v{}",
                    p.card.country, p.agreement.id, p.agreement.version
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    } else {
        for p in &problems {
            println!("{p}");
        }
        Err(Failure::invalid(format!(
            "{} problem(s) found",
            problems.len()
        )))
    }
}

pub(super) async fn serve(home: PathBuf) -> Result<(), Failure> {
    let home = Home::new(home);
    crate::node::serve(&home).await.map_err(|e| match e {
        crate::node::NodeError::Home(h) => Failure::from(h),
        other => Failure::failed(other.to_string()),
    })
}

pub(super) async fn backup(home: PathBuf, out: PathBuf) -> Result<(), Failure> {
    let home = Home::new(home);
    let out = std::path::absolute(&out)
        .map_err(|e| Failure::invalid(format!("--out {}: {e}", out.display())))?;
    if out.exists() {
        return Err(Failure::invalid(format!(
            "{} already exists",
            out.display()
        )));
    }
    let client = Client::for_home(&home)?;
    if client.get("/v1/health").await.is_ok() {
        super::progress::phase(&format!(
            "the running node is writing the backup to {}",
            out.display()
        ));
    }
    match client
        .post("/v1/backup", &serde_json::json!({ "out": out }))
        .await
    {
        Ok(v) => {
            eprintln!(
                "online backup written to {}: {} items, {} audit entries",
                out.display(),
                v["items"],
                v["audit_entries"]
            );
            Ok(())
        }
        Err(ClientError::Unreachable(_)) => {
            let setup = home.load()?;
            let store = Store::open(&home.store_dir(), &setup.storage_key)
                .map_err(|e| Failure::failed(e.to_string()))?;
            let mut progress = super::progress::Progress::stderr("backed up", "items", None);
            let s = store
                .backup_with(&out, &mut |n| progress.set(n))
                .map_err(|e| Failure::failed(e.to_string()))?;
            progress.finish();
            store
                .append_audit(
                    Event::BackupWritten,
                    Record {
                        detail: Some(format!(
                            "{} items, {} audit entries",
                            s.items, s.audit_entries
                        )),
                        ..Record::default()
                    },
                    jiff::Timestamp::now().as_second(),
                )
                .and_then(|_| store.sync())
                .map_err(|e| Failure::failed(e.to_string()))?;
            eprintln!(
                "backup written to {}: {} items, {} audit entries",
                out.display(),
                s.items,
                s.audit_entries
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn restore(home: PathBuf, from: PathBuf, force: bool) -> Result<(), Failure> {
    let home = Home::new(home);
    if Client::for_home(&home)?.get("/v1/health").await.is_ok() {
        return Err(Failure::invalid(
            "the node is running; stop `nfp-node serve` before restoring",
        ));
    }
    let setup = home.load()?;
    let store_dir = home.store_dir();
    if store_dir.exists() && !force {
        return Err(Failure::invalid(format!(
            "{} exists; pass --force to move it aside and restore",
            store_dir.display()
        )));
    }
    // Restore beside the store first: the current store is moved aside
    // only once the backup has been read, checked and written in full.
    let staging = home.dir.join("store.restoring");
    for leftover in [staging.clone(), staging.with_extension("attachments")] {
        if leftover.exists() {
            std::fs::remove_dir_all(&leftover).map_err(|e| {
                Failure::failed(format!("cannot clear {}: {e}", leftover.display()))
            })?;
        }
    }
    let s = crate::store::restore(&from, &staging, &setup.storage_key).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staging);
        match e {
            crate::store::StoreError::Corrupt { .. } | crate::store::StoreError::Audit(_) => {
                Failure::invalid(e.to_string())
            }
            other => Failure::failed(other.to_string()),
        }
    })?;
    if store_dir.exists() {
        let aside = home.dir.join(format!(
            "store.before-restore-{}",
            jiff::Timestamp::now().as_second()
        ));
        std::fs::rename(&store_dir, &aside)
            .map_err(|e| Failure::failed(format!("cannot move the store aside: {e}")))?;
        eprintln!("moved the current store to {}", aside.display());
    }
    std::fs::rename(&staging, &store_dir)
        .map_err(|e| Failure::failed(format!("cannot put the restored store in place: {e}")))?;
    let restored_files = staging.with_extension("attachments");
    if restored_files.exists() {
        let files = home.dir.join("attachments");
        if files.exists() {
            let aside = home.dir.join(format!(
                "attachments.before-restore-{}",
                jiff::Timestamp::now().as_second()
            ));
            std::fs::rename(&files, &aside)
                .map_err(|e| Failure::failed(format!("cannot move the attachments aside: {e}")))?;
            eprintln!("moved the current attachments to {}", aside.display());
        }
        std::fs::rename(&restored_files, &files).map_err(|e| {
            Failure::failed(format!("cannot put the restored attachments in place: {e}"))
        })?;
    }
    eprintln!(
        "restored {} items; the audit trail ({} entries) verifies",
        s.items, s.audit_entries
    );
    Ok(())
}

/// Puts a signature change in force in the running node, and records it
/// in the audit trail (directly in the store when the node is stopped).
async fn reload_and_audit(home: &Home, what: String) -> Result<(), Failure> {
    let client = Client::for_home(home)?;
    match client
        .post(
            "/v1/agreements/reload",
            &serde_json::json!({ "signed": what }),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(ClientError::Unreachable(_)) => offline_audit(
            home,
            Event::AgreementSigned,
            Record {
                detail: Some(what),
                ..Record::default()
            },
        ),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn agreement_sign(home: PathBuf, agreement: PathBuf) -> Result<(), Failure> {
    let home = Home::new(home);
    let text = read_file(&agreement, "--agreement")?;
    let (path, sig) = home.sign_agreement(&text)?;
    let parsed = crate::protocol::signature::AgreementSignature::from_toml(&sig)
        .map_err(|e| Failure::failed(e.to_string()))?;
    reload_and_audit(
        &home,
        format!(
            "{} signed {} v{} {}",
            parsed.party, parsed.agreement, parsed.version, parsed.hash
        ),
    )
    .await?;
    eprintln!(
        "signed; send {} to the other party, who registers it with `nfp-node agreement add-signature`",
        path.display()
    );
    print!("{sig}");
    Ok(())
}

pub(super) async fn agreement_add_signature(
    home: PathBuf,
    signature: PathBuf,
) -> Result<(), Failure> {
    let home = Home::new(home);
    let text = read_file(&signature, "--signature")?;
    let sig = home.add_signature(&text)?;
    reload_and_audit(
        &home,
        format!(
            "registered {}'s signature of {} v{} {}",
            sig.party, sig.agreement, sig.version, sig.hash
        ),
    )
    .await?;
    eprintln!(
        "registered {}'s signature of {} v{} (hash {})",
        sig.party, sig.agreement, sig.version, sig.hash
    );
    Ok(())
}

pub(super) async fn agreement_status(home: PathBuf, json: bool) -> Result<(), Failure> {
    use crate::protocol::signature::{AgreementState, state};
    let home = Home::new(home);
    let config = home.config()?;
    let (peers, problems) = home.peers(config.country);
    for p in &problems {
        eprintln!("warning: {p}");
    }
    // Peer log witness status, when the node is running.
    let live = match Client::for_home(&home) {
        Ok(c) => c.get("/v1/peers").await.ok(),
        Err(_) => None,
    };
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let cert_warning = certificate_warning(&home);
    if let Some(w) = &cert_warning {
        eprintln!("warning: {w}");
    }
    let own_expiry = home
        .certificate_expiry()
        .ok()
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map(|t| t.to_string());
    let keys = match Client::for_home(&home) {
        Ok(c) => c.get("/v1/keys").await.ok(),
        Err(_) => None,
    };
    let mut out = Vec::new();
    for p in peers.values() {
        let peer_expiry = keys.as_ref().and_then(|k| {
            k["partners"]
                .as_array()
                .and_then(|l| l.iter().find(|x| x["country"] == p.card.country.as_str()))
                .map(|x| x["certificate_expires"].clone())
        });
        let a = &p.agreement;
        let st = state(a, &p.signed_by, today);
        let witness = live.as_ref().and_then(|v| {
            v["peers"]
                .as_array()
                .and_then(|l| l.iter().find(|x| x["country"] == p.card.country.as_str()))
                .map(|x| x["log_witness"].clone())
        });
        out.push(serde_json::json!({
            "agreement": a.id,
            "version": a.version,
            "hash": hex::encode(a.hash()),
            "peer": p.card.country,
            "signatures": a.parties.iter().map(|c| serde_json::json!({
                "party": c, "valid": p.signed_by.contains(c)
            })).collect::<Vec<_>>(),
            "valid_from": a.valid_from,
            "valid_until": a.valid_until,
            "denounced": a.denounced,
            "state": match &st {
                AgreementState::Active => "active".to_string(),
                AgreementState::AwaitingSignature(_) => "awaiting-signature".to_string(),
                AgreementState::NotInForce(_) => "not-in-force".to_string(),
            },
            "why": match &st {
                AgreementState::Active => serde_json::Value::Null,
                AgreementState::AwaitingSignature(m) => serde_json::json!(format!("awaits {}", m.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "))),
                AgreementState::NotInForce(w) => serde_json::json!(w),
            },
            "peer_log": witness,
            "certificate_expires": own_expiry,
            "certificate_warning": cert_warning,
            "peer_certificate_expires": peer_expiry,
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    for a in &out {
        println!(
            "{} v{} with {}: {}{}",
            a["agreement"].as_str().unwrap_or(""),
            a["version"],
            a["peer"].as_str().unwrap_or(""),
            a["state"].as_str().unwrap_or(""),
            a["why"]
                .as_str()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default()
        );
        println!("  hash {}", a["hash"].as_str().unwrap_or(""));
        for s in a["signatures"].as_array().into_iter().flatten() {
            println!(
                "  signed by {}: {}",
                s["party"].as_str().unwrap_or(""),
                if s["valid"] == true {
                    "yes, verified"
                } else {
                    "no"
                }
            );
        }
        if let Some(e) = a["peer_certificate_expires"].as_str() {
            let soon = e.parse::<jiff::Timestamp>().is_ok_and(|t| {
                t.as_second() - jiff::Timestamp::now().as_second()
                    <= crate::home::RENEW_BEFORE_DAYS * 86_400
            });
            println!(
                "  peer certificate expires {e}{}",
                if soon {
                    "  WARNING: within 30 days"
                } else {
                    ""
                }
            );
        }
        if let Some(f) = a["peer_log"]["fork"].as_str() {
            println!("  WARNING: the peer's log forked or rolled back: {f}");
        } else if let Some(n) = a["peer_log"]["size"].as_u64() {
            println!("  peer log witnessed up to entry {n}");
        }
    }
    Ok(())
}
