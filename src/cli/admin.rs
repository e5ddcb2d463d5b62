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
    let setup = Home::new(home).load()?;
    print!("{}", setup.card().to_toml());
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

pub(super) fn check(home: PathBuf) -> Result<(), Failure> {
    let home = Home::new(home);
    let problems = home.check();
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
            let s = store
                .backup(&out)
                .map_err(|e| Failure::failed(e.to_string()))?;
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
    if store_dir.exists() {
        if !force {
            return Err(Failure::invalid(format!(
                "{} exists; pass --force to move it aside and restore",
                store_dir.display()
            )));
        }
        let aside = home.dir.join(format!(
            "store.before-restore-{}",
            jiff::Timestamp::now().as_second()
        ));
        std::fs::rename(&store_dir, &aside)
            .map_err(|e| Failure::failed(format!("cannot move the store aside: {e}")))?;
        eprintln!("moved the current store to {}", aside.display());
    }
    let s = crate::store::restore(&from, &store_dir, &setup.storage_key).map_err(|e| match e {
        crate::store::StoreError::Corrupt { .. } | crate::store::StoreError::Audit(_) => {
            Failure::invalid(e.to_string())
        }
        other => Failure::failed(other.to_string()),
    })?;
    eprintln!(
        "restored {} items; the audit trail ({} entries) verifies",
        s.items, s.audit_entries
    );
    Ok(())
}
