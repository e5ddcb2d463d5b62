//! `nfp-node demo`: two example nodes, Albania and Greece, on loopback. GR
//! sends a social inquiry request to AL over real QUIC with real keys and
//! real sled stores, and the demo narrates each step.

use super::Failure;
use crate::api::client::Client;
use crate::home::Home;
use crate::node::{self, MessageView, clock::SystemClock};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const AGREEMENT: &str = include_str!("../../config/agreements/AL-GR.toml");
const FORM: &str = include_str!("../../config/forms/social-inquiry-request.json");

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

pub(super) async fn run(keep: Option<PathBuf>) -> Result<(), Failure> {
    let tmp;
    let base = match keep {
        Some(dir) => dir,
        None => {
            tmp = tempfile::Builder::new()
                .prefix("nfp-demo-")
                .tempdir()
                .map_err(|e| Failure::failed(e.to_string()))?;
            tmp.path().to_path_buf()
        }
    };
    println!("nfp-node demo: two National Focal Points on this machine, talking over QUIC.");
    println!(
        "All data in this demo is made up. Homes are under {}",
        base.display()
    );

    step(
        1,
        "Each country's admin creates its node: keys, TLS certificate, config.",
    );
    let mut homes = Vec::new();
    for (cc, name) in [("AL", "NFP Albania (demo)"), ("GR", "NFP Greece (demo)")] {
        let (home, card) = super::lab::node(&base, cc, name)?;
        println!(
            "    {cc}: QUIC endpoint {}, TLS pin {}",
            card.endpoint, card.tls_spki_sha256
        );
        homes.push((home, card));
    }
    let (al, al_card) = &homes[0];
    let (gr, gr_card) = &homes[1];

    step(
        2,
        "The admins swap peer cards out of band, register them under agreement AL-GR v1, and both sign it.",
    );
    super::lab::link((al, al_card), (gr, gr_card), AGREEMENT)?;
    let agreement = crate::protocol::agreement::Agreement::from_toml(AGREEMENT)
        .map_err(|_| Failure::failed("example agreement is invalid"))?;
    println!(
        "    both nodes hold AL-GR v1, hash {}, signed by both; each pins only the other's certificate",
        hex::encode(agreement.hash())
    );

    step(
        3,
        "Both nodes start serving: QUIC with mutual TLS 1.3, and a local API each.",
    );
    let al_node = node::start(al, Arc::new(SystemClock))
        .await
        .map_err(|e| Failure::failed(e.to_string()))?;
    let gr_node = node::start(gr, Arc::new(SystemClock))
        .await
        .map_err(|e| Failure::failed(e.to_string()))?;
    println!(
        "    AL API on {}, GR API on {}",
        al_node.api_addr, gr_node.api_addr
    );

    let outcome = exchange(al, gr).await;
    gr_node.stop().await;
    al_node.stop().await;
    outcome?;

    step(
        8,
        "Both nodes stopped cleanly. Every step above is in each node's audit trail.",
    );
    println!("\nDemo complete.");
    Ok(())
}

async fn exchange(al: &Home, gr: &Home) -> Result<(), Failure> {
    let gr_api = Client::for_home(gr)?;
    let al_api = Client::for_home(al)?;
    step(
        4,
        "A Greek case manager opens case GR-DEMO-0001; an operator sends a social inquiry request to Albania.",
    );
    gr_api
        .post(
            "/v1/cases",
            &serde_json::json!({"case": "GR-DEMO-0001", "fields": {
                "nationality": "AL", "resides": "AL", "born": "2011-04-02"
            }}),
        )
        .await?;
    println!(
        "    the case record: an Albanian national living in Albania, no asylum claim, no feared country;"
    );
    println!("    the send gate checks these facts before anything leaves the node");
    let form: serde_json::Value =
        serde_json::from_str(FORM).map_err(|e| Failure::failed(e.to_string()))?;
    let sent = gr_api
        .post(
            "/v1/messages",
            &serde_json::json!({
                "to": "AL", "kind": "social-inquiry-request", "case": "GR-DEMO-0001",
                "lang": "en", "form": form
            }),
        )
        .await?;
    let id = sent["id"].as_str().unwrap_or_default().to_string();
    println!("    the form validated; GR signed it (Ed25519), encrypted it to AL's key (HPKE),");
    println!("    stored it durably and queued it: message {id}");

    step(
        5,
        "GR delivers it over QUIC; AL checks the pin, the agreement, the signature and the form.",
    );
    let mut delivered = None;
    for _ in 0..200 {
        let v = gr_api.get("/v1/messages").await?;
        let list: Vec<MessageView> = serde_json::from_value(v["messages"].clone())
            .map_err(|e| Failure::failed(e.to_string()))?;
        if let Some(m) = list.into_iter().find(|m| m.id.to_string() == id)
            && m.state == crate::store::State::Delivered
        {
            delivered = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered =
        delivered.ok_or_else(|| Failure::failed("the message was not delivered within 20 s"))?;

    let v = al_api.get("/v1/messages").await?;
    let inbox: Vec<MessageView> = serde_json::from_value(v["messages"].clone())
        .map_err(|e| Failure::failed(e.to_string()))?;
    let received = inbox
        .iter()
        .find(|m| m.id.to_string() == id)
        .ok_or_else(|| Failure::failed("AL has no record of the message"))?;
    println!(
        "    AL decrypted and verified it, stored it and synced it to disk at {}",
        received.received.clone().unwrap_or_default()
    );
    println!(
        "    under AL-GR the answer is due within 30 working days: by {}",
        received.due.clone().unwrap_or_default()
    );

    step(
        6,
        "AL signed a delivery receipt; GR verified it and marked the message delivered.",
    );
    println!(
        "    GR: message {id} state delivered at {}",
        delivered.delivered.clone().unwrap_or_default()
    );
    let shown = al_api.get(&format!("/v1/messages/{id}")).await?;
    println!(
        "    AL's operator opens the form: {} question(s), reason {}",
        shown["form"]["questions"]
            .as_array()
            .map(|q| q.len())
            .unwrap_or(0),
        shown["form"]["reason"].as_str().unwrap_or("?")
    );

    step(
        7,
        "An auditor checks both audit trails (hash chains, no personal data in them).",
    );
    for (cc, api) in [("GR", &gr_api), ("AL", &al_api)] {
        let v = api.get("/v1/audit/verify").await?;
        if v["ok"] != true {
            return Err(Failure::failed(format!(
                "{cc} audit trail does not verify: {v}"
            )));
        }
        println!(
            "    {cc}: {} entries verify, head {}",
            v["size"],
            v["head"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
