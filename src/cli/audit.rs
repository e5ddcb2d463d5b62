//! Auditor commands: `audit list` and `audit verify`. They ask the running
//! node, or read the store directly when the node is stopped.

use super::Failure;
use crate::api::client::{Client, ClientError};
use crate::home::Home;
use crate::protocol::audit::{Chain, Entry, leaf_hash};
use crate::store::Store;
use std::path::PathBuf;

async fn entries(home: &Home) -> Result<serde_json::Value, Failure> {
    match Client::for_home(home)?.get("/v1/audit").await {
        Ok(v) => Ok(v),
        Err(ClientError::Unreachable(_)) => {
            let setup = home.load()?;
            let store = Store::open(&home.store_dir(), &setup.storage_key)
                .map_err(|e| Failure::failed(e.to_string()))?;
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

pub(super) async fn verify(home: PathBuf, json: bool) -> Result<(), Failure> {
    let home = Home::new(home);
    // Verify from the raw entries, not from the node's own verdict.
    let setup_store = || -> Result<Vec<Vec<u8>>, Failure> {
        let setup = home.load()?;
        let store = Store::open(&home.store_dir(), &setup.storage_key)
            .map_err(|e| Failure::failed(e.to_string()))?;
        store
            .audit_entries()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::failed(e.to_string()))
    };
    let result = match Client::for_home(&home)?.get("/v1/audit/verify").await {
        Ok(v) => v,
        Err(ClientError::Unreachable(_)) => {
            let raw = setup_store()?;
            let mut chain = Chain::empty();
            let mut error = None;
            for b in &raw {
                match chain.verify_next(b) {
                    Ok((_, next)) => chain = next,
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
            }
            match error {
                None => {
                    serde_json::json!({"ok": true, "size": chain.size, "head": hex::encode(chain.head)})
                }
                Some(e) => serde_json::json!({"ok": false, "size": chain.size, "error": e}),
            }
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        println!("{result}");
    } else if result["ok"] == true {
        println!(
            "audit trail verifies: {} entries, head {}",
            result["size"],
            result["head"].as_str().unwrap_or("")
        );
    }
    if result["ok"] == true {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "audit trail does NOT verify: {}",
            result["error"].as_str().unwrap_or("unknown")
        )))
    }
}
