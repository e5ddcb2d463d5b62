//! How a peer looks from here, for the dashboard: whether a QUIC
//! connection to or from it is open, when this node last heard from it
//! (a delivered receipt, a received message or a cosignature), and when
//! the TLS certificate it last presented expires (recorded by the node at
//! each handshake). Read-only; computed per request from the node's
//! connection tables and the message records.

use crate::node::Node;
use crate::protocol::country::Country;
use crate::store::{Direction, State};
use serde_json::json;

/// The health fields of `peer` as JSON: `connected` (`null` when the
/// connection table is busy), `connections_in`, `last_contact` (RFC 3339 or
/// `null`) and `certificate_expires` (RFC 3339, once the peer has
/// completed a handshake with this node since it started).
pub fn peer_health(node: &Node, peer: Country) -> serde_json::Value {
    let inbound = match node.peer_connections.lock() {
        Ok(g) => g.get(&peer).copied().unwrap_or(0),
        Err(p) => p.into_inner().get(&peer).copied().unwrap_or(0),
    };
    let outgoing = match node.connections.try_lock() {
        Ok(conns) => Some(conns.get(&peer).is_some_and(|c| c.close_reason().is_none())),
        Err(_) => None,
    };
    let connected = match outgoing {
        Some(o) => json!(o || inbound > 0),
        None if inbound > 0 => json!(true),
        None => json!(null),
    };
    let expires = match node.peer_cert_expiry.lock() {
        Ok(g) => g.get(&peer).copied(),
        Err(p) => p.into_inner().get(&peer).copied(),
    };
    json!({
        "connected": connected,
        "connections_in": inbound,
        "last_contact": last_contact(node, peer),
        "certificate_expires": expires
            .and_then(|t| jiff::Timestamp::from_second(t).ok())
            .map(|t| t.to_string()),
    })
}

/// The latest time a receipt or a message from `peer` arrived, or this
/// node cosigned a checkpoint of the peer's log (which came with a
/// delivery from it).
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
