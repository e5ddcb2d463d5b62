//! Auditor commands: `audit list`, `audit verify` (live or offline bundle),
//! `audit export`, `audit proof` and `audit check-proof`. Live commands ask
//! the running node, or read the store directly when it is stopped.

use super::Failure;
use super::progress::{Progress, phase};
use crate::api::client::{Client, ClientError};
use crate::home::Home;
use crate::protocol::audit::{self, Entry, leaf_hash};
use crate::protocol::card::PeerCard;
use crate::store::Store;
use std::path::PathBuf;

fn open_store(home: &Home) -> Result<(Store, crate::home::Setup), Failure> {
    let setup = home.load()?;
    let store = Store::open(&home.store_dir(), &setup.storage_key)
        .map_err(|e| Failure::failed(e.to_string()))?;
    Ok((store, setup))
}

async fn entries(home: &Home) -> Result<serde_json::Value, Failure> {
    match Client::for_home(home)?.get("/v1/audit").await {
        Ok(v) => Ok(v),
        Err(ClientError::Unreachable(_)) => {
            let (store, _) = open_store(home)?;
            let mut list = Vec::new();
            for bytes in store.audit_entries() {
                let bytes = bytes.map_err(|e| Failure::failed(e.to_string()))?;
                let e: Entry = ciborium::from_reader(bytes.as_slice())
                    .map_err(|e| Failure::failed(format!("corrupt audit entry: {e}")))?;
                list.push(crate::api::server::entry_json(&e, &leaf_hash(&bytes)));
            }
            let head = store.audit_head();
            Ok(
                serde_json::json!({"size": head.size, "head": hex::encode(head.head), "entries": list}),
            )
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn list(home: PathBuf, json: bool) -> Result<(), Failure> {
    let v = entries(&Home::new(home)).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    for e in v["entries"].as_array().into_iter().flatten() {
        println!(
            "{:>6}  {}  {:<20}  {:<4}  {:<26}  {}",
            e["seq"],
            e["time"].as_str().unwrap_or(""),
            e["event"].as_str().unwrap_or(""),
            e["peer"].as_str().unwrap_or("-"),
            e["message"].as_str().unwrap_or("-"),
            e["detail"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

fn report(result: &serde_json::Value, json: bool) -> Result<(), Failure> {
    if json {
        println!("{result}");
    } else if result["ok"] == true {
        println!(
            "the log verifies: {} entries, root {}, {} checkpoint(s), {} cosignature(s); witnessed up to entry {}",
            result["size"],
            result["root"].as_str().unwrap_or(""),
            result["checkpoints"],
            result["cosignatures"],
            result["cosigned_size"]
        );
    }
    if result["ok"] == true {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "the log does NOT verify: {}",
            result["error"].as_str().unwrap_or("unknown")
        )))
    }
}

pub(super) async fn verify(home: PathBuf, json: bool) -> Result<(), Failure> {
    let home = Home::new(home);
    let client = Client::for_home(&home)?;
    if client.get("/v1/health").await.is_ok() {
        phase("verifying the audit log on the running node");
    }
    let result = match client.get("/v1/audit/verify").await {
        Ok(v) => v,
        Err(ClientError::Unreachable(_)) => {
            let (store, setup) = open_store(&home)?;
            let peers: Vec<PeerCard> = setup.peers.values().map(|p| p.card.clone()).collect();
            let total = store.audit_snapshot().0;
            let checkpoints = store.checkpoints().map_or(0, |c| c.len());
            let mut progress = Progress::stderr("read", "audit entries", Some(total));
            let mut on_entry = |n: u64| {
                progress.set(n);
                if n == total {
                    progress.finish();
                    progress.phase(&format!(
                        "checking the hash chain, the Merkle tree and {checkpoints} checkpoint(s) with their cosignatures"
                    ));
                }
            };
            let verified =
                crate::bundle::verify_store_with(&store, &setup.card(), &peers, &mut on_entry);
            progress.finish();
            crate::api::server::verify_json(verified)
        }
        Err(e) => return Err(e.into()),
    };
    report(&result, json)
}

fn read_card(path: &PathBuf) -> Result<PeerCard, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::invalid(format!("--trust {}: {e}", path.display())))?;
    PeerCard::from_toml(&text)
        .map_err(|e| Failure::invalid(format!("--trust {}: {e}", path.display())))
}

pub(super) fn verify_bundle(
    bundle: PathBuf,
    trust: Vec<PathBuf>,
    json: bool,
) -> Result<(), Failure> {
    let cards = trust.iter().map(read_card).collect::<Result<Vec<_>, _>>()?;
    // The size the bundle claims, for the progress total only.
    let total = std::fs::read_to_string(bundle.join("log.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["size"].as_u64());
    let mut progress = Progress::stderr("read", "audit entries", total);
    let mut on_entry = |n: u64| {
        progress.set(n);
        if Some(n) == total {
            progress.finish();
            progress
                .phase("checking the hash chain, the Merkle tree, checkpoints and cosignatures");
        }
    };
    let outcome = crate::bundle::verify_with(&bundle, &cards, &mut on_entry);
    progress.finish();
    match outcome {
        Ok(r) => {
            let v = &r.verified;
            let out = serde_json::json!({
                "ok": true, "origin": r.origin, "size": v.chain.size, "root": hex::encode(v.root),
                "checkpoints": v.checkpoints, "cosignatures": v.cosignatures,
                "cosigned_size": v.cosigned_size, "ciphertexts": r.ciphertexts, "peer_forks": r.forks,
            });
            if !json {
                for f in &r.forks {
                    println!("warning: this node saw a peer's log fork or roll back: {f}");
                }
            }
            report(&out, json)
        }
        Err(crate::bundle::BundleError::Verify(f)) => {
            let out = serde_json::json!({
                "ok": false, "kind": f.kind.as_str(), "entry": f.entry, "checkpoint": f.checkpoint,
                "error": f.to_string(),
            });
            report(&out, json)
        }
        Err(e @ crate::bundle::BundleError::Trust(_)) => Err(Failure::invalid(e.to_string())),
        Err(e) => Err(Failure::failed(e.to_string())),
    }
}

pub(super) async fn export(home: PathBuf, out: PathBuf, ciphertexts: bool) -> Result<(), Failure> {
    let home = Home::new(home);
    let out = std::path::absolute(&out).map_err(|e| Failure::invalid(e.to_string()))?;
    let body = serde_json::json!({"out": out, "ciphertexts": ciphertexts});
    let client = Client::for_home(&home)?;
    if client.get("/v1/health").await.is_ok() {
        phase(&format!(
            "the running node is writing the bundle to {}",
            out.display()
        ));
    }
    let summary = match client.post("/v1/audit/export", &body).await {
        Ok(v) => v["summary"].clone(),
        Err(ClientError::Unreachable(_)) => {
            let (store, setup) = open_store(&home)?;
            drop(setup);
            let card = home.own_card()?;
            let total = store.audit_snapshot().0;
            let mut progress = Progress::stderr("exported", "audit entries", Some(total));
            let s = crate::bundle::export_with(&store, &card, &out, ciphertexts, &mut |n| {
                progress.set(n)
            })
            .map_err(|e| Failure::failed(e.to_string()))?;
            progress.finish();
            serde_json::to_value(s).unwrap_or_default()
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!(
        "bundle written to {}: {} entries, {} checkpoints, {} cosignatures, {} ciphertexts",
        out.display(),
        summary["entries"],
        summary["checkpoints"],
        summary["cosignatures"],
        summary["ciphertexts"]
    );
    Ok(())
}

pub(super) async fn proof(home: PathBuf, id: &str) -> Result<(), Failure> {
    let id =
        crate::protocol::id::MessageId::parse(id).map_err(|e| Failure::invalid(e.to_string()))?;
    let home = Home::new(home);
    let v = match Client::for_home(&home)?
        .get(&format!("/v1/audit/proof/{id}"))
        .await
    {
        Ok(v) => v,
        Err(ClientError::Unreachable(_)) => {
            let (store, _setup) = open_store(&home)?;
            let origin = home.own_card()?.log_origin();
            crate::node::audit_proof(&store, &origin, id)
                .map_err(|e| Failure::failed(e.to_string()))?
                .ok_or_else(|| Failure::invalid(format!("no audit entry names message {id}")))?
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(e) = v["error"].as_str() {
        return Err(Failure::failed(e.to_string()));
    }
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

pub(super) fn check_proof(proof: PathBuf, trust: PathBuf) -> Result<(), Failure> {
    let card = read_card(&trust)?;
    let text = std::fs::read_to_string(&proof)
        .map_err(|e| Failure::invalid(format!("--proof {}: {e}", proof.display())))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Failure::invalid(format!("--proof: {e}")))?;
    let bad = |m: &str| Failure::failed(format!("the proof does NOT hold: {m}"));
    let origin = card.log_origin();
    let note = v["checkpoint"].as_str().unwrap_or("");
    let cp = audit::verify_checkpoint_any(note, &origin, &card.all_signing_keys())
        .map_err(|e| bad(&format!("checkpoint: {e}")))?;
    let entry =
        hex::decode(v["entry"].as_str().unwrap_or("")).map_err(|_| bad("entry is not hex"))?;
    let index = v["index"].as_u64().ok_or_else(|| bad("no index"))?;
    let mut path = Vec::new();
    for h in v["proof"].as_array().into_iter().flatten() {
        let b = hex::decode(h.as_str().unwrap_or("")).map_err(|_| bad("proof hash is not hex"))?;
        path.push(
            <[u8; 32]>::try_from(b.as_slice()).map_err(|_| bad("proof hash is not 32 bytes"))?,
        );
    }
    audit::verify_inclusion(&leaf_hash(&entry), index, cp.size, &path, &cp.root)
        .map_err(|e| bad(&e.to_string()))?;
    let e: Entry =
        ciborium::from_reader(entry.as_slice()).map_err(|_| bad("entry does not decode"))?;
    let claimed = v["message"].as_str().unwrap_or("");
    if e.message.map(|m| m.to_string()).as_deref() != Some(claimed) {
        return Err(bad("the entry is about another message"));
    }
    println!(
        "the proof holds: entry {index} ({} at {}) is in {}'s log of {} entries signed by its key",
        e.event,
        jiff::Timestamp::from_second(e.time)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        card.country,
        cp.size
    );
    Ok(())
}
