//! Example nodes on loopback for `demo` and `bench`: create homes, link
//! two of them under a signed agreement, and pick free ports.

use super::Failure;
use crate::home::{Home, InitParams};
use crate::protocol::audit::{Event, Record};
use crate::protocol::card::PeerCard;
use std::path::Path;

/// Ports this process has already handed out: the nodes bind them only
/// later, so the operating system may offer one again meanwhile.
static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A port free for both UDP (QUIC) and TCP (API) on loopback, never the
/// same one twice in this process.
pub(super) fn free_port() -> Result<u16, Failure> {
    for _ in 0..200 {
        let udp =
            std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| Failure::failed(e.to_string()))?;
        let port = udp
            .local_addr()
            .map_err(|e| Failure::failed(e.to_string()))?
            .port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            let mut given = match HANDED_OUT.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if given.insert(port) {
                return Ok(port);
            }
        }
    }
    Err(Failure::failed("no free loopback port"))
}

/// Creates a node home for `cc` under `base` with free loopback ports.
pub(super) fn node(base: &Path, cc: &str, name: &str) -> Result<(Home, PeerCard), Failure> {
    let port = free_port()?;
    let api = free_port()?;
    let home = Home::new(base.join(cc.to_ascii_lowercase()));
    let card = home.init(&InitParams {
        country: cc
            .parse()
            .map_err(|e: crate::protocol::country::CountryError| Failure::failed(e.to_string()))?,
        name: name.into(),
        endpoint: format!("127.0.0.1:{port}"),
        api: format!("127.0.0.1:{api}")
            .parse()
            .map_err(|_| Failure::failed("bad api address"))?,
        listen: None,
    })?;
    super::admin::offline_audit(
        &home,
        Event::NodeInitialised,
        Record {
            detail: Some(format!("pin {}", card.tls_spki_sha256)),
            ..Record::default()
        },
    )?;
    Ok((home, card))
}

/// Registers `a` and `b` with each other under `agreement` and has both
/// sign it, as two admins would by mail.
pub(super) fn link(
    a: (&Home, &PeerCard),
    b: (&Home, &PeerCard),
    agreement: &str,
) -> Result<(), Failure> {
    for ((home, _), (_, other)) in [(a, b), (b, a)] {
        let (card, agreement) = home.add_peer(&other.to_toml(), agreement)?;
        super::admin::offline_audit(
            home,
            Event::PeerAdded,
            Record {
                peer: Some(card.country),
                detail: Some(crate::home::peer_added_detail(&card, &agreement)),
                ..Record::default()
            },
        )?;
    }
    let (_, sig_a) = a.0.sign_agreement(agreement)?;
    let (_, sig_b) = b.0.sign_agreement(agreement)?;
    b.0.add_signature(&sig_a)?;
    a.0.add_signature(&sig_b)?;
    Ok(())
}
