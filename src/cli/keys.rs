//! `keys rotate|revoke|status`: through the running node's API, which
//! makes the keys, announces them to every partner and reports who has
//! confirmed.

use super::{Failure, KeysCommand};
use crate::api::client::Client;
use crate::home::Home;
use serde_json::{Value, json};

fn print_rotation(v: &Value, what: &str) {
    eprintln!(
        "{what}: rotation {}; partners accept the old keys until {}",
        v["serial"],
        v["old_keys_accepted_until"].as_str().unwrap_or("?")
    );
    println!(
        "signing key       {}",
        v["signing_key"].as_str().unwrap_or("")
    );
    println!(
        "encryption key    {}",
        v["encryption_key"].as_str().unwrap_or("")
    );
    println!(
        "tls spki sha256   {}",
        v["tls_spki_sha256"].as_str().unwrap_or("")
    );
    let pending: Vec<&str> = v["pending"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !pending.is_empty() {
        eprintln!(
            "announced to {}; `nfp-node keys status` shows who has confirmed",
            pending.join(", ")
        );
    }
}

pub(super) async fn run(cmd: KeysCommand) -> Result<(), Failure> {
    match cmd {
        KeysCommand::Rotate {
            home,
            tls,
            signing,
            encryption,
            json,
        } => {
            let client = Client::for_home(&Home::new(home))?;
            let v = client
                .post(
                    "/v1/keys/rotate",
                    &json!({"tls": tls, "signing": signing, "encryption": encryption}),
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print_rotation(&v, "keys rotated");
            }
            Ok(())
        }
        KeysCommand::Revoke {
            home,
            reason,
            from,
            json,
        } => {
            let from = match from {
                Some(t) => Some(t.parse::<jiff::Timestamp>().map_err(|_| {
                    Failure::invalid(format!(
                        "--from: {t:?} is not a time (RFC 3339, e.g. 2026-11-30T08:00:00Z)"
                    ))
                })?),
                None => None,
            };
            let client = Client::for_home(&Home::new(home))?;
            let v = client
                .post(
                    "/v1/keys/revoke",
                    &json!({"reason": reason, "compromised_from": from}),
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print_rotation(&v, "old keys revoked and replaced");
            }
            Ok(())
        }
        KeysCommand::Status { home, json } => {
            let client = Client::for_home(&Home::new(home))?;
            let v = client.get("/v1/keys").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                return Ok(());
            }
            println!("rotation          {}", v["rotation"]);
            println!(
                "signing key       {}",
                v["signing_key"].as_str().unwrap_or("")
            );
            println!(
                "keys since        {} ({} days)",
                v["keys_since"].as_str().unwrap_or("node set-up"),
                v["age_days"]
            );
            println!(
                "certificate       expires {} ({} days left){}",
                v["certificate_expires"].as_str().unwrap_or("?"),
                v["certificate_days_left"],
                if v["certificate_expires_soon"] == true {
                    "  WARNING: expires within 30 days; it is renewed by a rotation"
                } else {
                    ""
                }
            );
            if let Some(u) = v["old_keys_accepted_until"].as_str() {
                println!("old keys until    {u}");
            }
            for p in v["partners"].as_array().into_iter().flatten() {
                println!(
                    "partner {}        rotation {}, {} our latest rotation{}",
                    p["country"].as_str().unwrap_or(""),
                    p["rotation"],
                    if p["confirmed_our_rotation"] == true {
                        "confirmed"
                    } else {
                        "has NOT confirmed"
                    },
                    p["certificate_expires"]
                        .as_str()
                        .map(|e| format!(", certificate expires {e}"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}
