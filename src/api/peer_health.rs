//! How a peer looks from here, for the dashboard: whether a QUIC
//! connection to or from it is open, when this node last heard from it
//! (a delivered receipt or a received message), and when the TLS
//! certificate it presented expires. Read-only; computed per request from
//! the node's connection tables and the message records.

use crate::node::Node;
use crate::protocol::country::Country;
use crate::store::{Direction, State};
use serde_json::json;

/// The health fields of `peer` as JSON: `connected` (`null` when the
/// connection table is busy), `connections_in`, `last_contact` (RFC 3339 or
/// `null`) and `certificate_expires` (RFC 3339, known only while an
/// outgoing connection is open).
pub fn peer_health(node: &Node, peer: Country) -> serde_json::Value {
    let inbound = match node.peer_connections.lock() {
        Ok(g) => g.get(&peer).copied().unwrap_or(0),
        Err(p) => p.into_inner().get(&peer).copied().unwrap_or(0),
    };
    let (outgoing, expires) = match node.connections.try_lock() {
        Ok(conns) => match conns.get(&peer) {
            Some(c) if c.close_reason().is_none() => (Some(true), certificate_expiry(c)),
            _ => (Some(false), None),
        },
        Err(_) => (None, None),
    };
    let connected = match outgoing {
        Some(o) => json!(o || inbound > 0),
        None if inbound > 0 => json!(true),
        None => json!(null),
    };
    json!({
        "connected": connected,
        "connections_in": inbound,
        "last_contact": last_contact(node, peer),
        "certificate_expires": expires,
    })
}

/// The latest time a receipt from, or a message from, `peer` arrived, or
/// the peer's last cosignature of this node's checkpoint was kept.
fn last_contact(node: &Node, peer: Country) -> Option<String> {
    let records = node.store.messages(None).ok()?;
    let latest = records
        .iter()
        .filter(|r| r.peer == peer)
        .filter_map(|r| match (r.direction, r.state) {
            (Direction::Out, State::Delivered) => r.delivered,
            (Direction::In, _) => r.received,
            _ => None,
        })
        .max();
    let witnessed = node
        .store
        .witnessed(peer)
        .ok()
        .flatten()
        .map(|w| w.cosigned_at);
    let t = latest.max(witnessed)?;
    jiff::Timestamp::from_second(t).ok().map(|t| t.to_string())
}

fn certificate_expiry(conn: &quinn::Connection) -> Option<String> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast_ref::<Vec<rustls::pki_types::CertificateDer<'static>>>()?;
    let t = not_after(certs.first()?.as_ref())?;
    Some(t.to_string())
}

/// One DER element: (tag, contents, rest).
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The `notAfter` of an X.509 certificate (RFC 5280 section 4.1.2.5).
pub fn not_after(der: &[u8]) -> Option<jiff::Timestamp> {
    let (_, cert, _) = element(der)?; // Certificate
    let (_, tbs, _) = element(cert)?; // TBSCertificate
    let mut rest = tbs;
    let (tag, _, r) = element(rest)?;
    rest = if tag == 0xa0 { r } else { rest }; // [0] version, optional
    let (_, _, r) = element(rest)?; // serialNumber
    let (_, _, r) = element(r)?; // signature
    let (_, _, r) = element(r)?; // issuer
    let (_, validity, _) = element(r)?;
    let (_, _, r) = element(validity)?; // notBefore
    let (tag, time, _) = element(r)?;
    let text = std::str::from_utf8(time).ok()?;
    let full = match tag {
        // UTCTime YYMMDDHHMMSSZ: 50-99 are 19xx, 00-49 are 20xx.
        0x17 => {
            let yy: u32 = text.get(..2)?.parse().ok()?;
            format!("{}{text}", if yy >= 50 { "19" } else { "20" })
        }
        // GeneralizedTime YYYYMMDDHHMMSSZ.
        0x18 => text.to_string(),
        _ => return None,
    };
    let digits = full.strip_suffix('Z')?;
    if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &digits[..4],
        &digits[4..6],
        &digits[6..8],
        &digits[8..10],
        &digits[10..12],
        &digits[12..14]
    );
    iso.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_not_after_of_a_generated_certificate() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["nfp.test".into()]).expect("params");
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let cert = params.self_signed(&key).expect("cert");
        let t = not_after(cert.der()).expect("notAfter");
        assert_eq!(t.to_string(), "2036-01-01T00:00:00Z");
        params.not_after = rcgen::date_time_ymd(2060, 6, 30);
        let cert = params.self_signed(&key).expect("cert");
        assert_eq!(
            not_after(cert.der()).map(|t| t.to_string()).as_deref(),
            Some("2060-06-30T00:00:00Z")
        );
        assert_eq!(not_after(&[0x30, 0x03, 0x01]), None);
    }
}
