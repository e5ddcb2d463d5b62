//! The node's own configuration file, `node.toml`: who this node is, where
//! it listens, and how it retries. Unknown keys are errors.

use crate::protocol::FieldError;
use crate::protocol::card::{toml_error, validate_endpoint};
use crate::protocol::country::Country;
use crate::protocol::deadline::{SlaDuration, Unit};
use std::net::SocketAddr;

/// `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This NFP's country (ISO 3166-1 alpha-2).
    pub country: Country,
    /// This NFP's name, as shown to peers.
    pub name: String,
    /// The QUIC endpoint peers reach, `HOST:PORT` (published in the card).
    pub endpoint: String,
    /// The UDP address to bind; defaults to `endpoint` when it is an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// The loopback address of the local operator API.
    pub api: SocketAddr,
    /// Delivery tuning.
    #[serde(default)]
    pub delivery: Delivery,
    /// Audit checkpoints.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Deadline escalation.
    #[serde(default, skip_serializing_if = "DeadlinesConfig::is_empty")]
    pub deadlines: DeadlinesConfig,
}

impl DeadlinesConfig {
    fn is_empty(&self) -> bool {
        self.escalation_command.is_empty()
    }
}

/// What the node does when a deadline is overdue.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlinesConfig {
    /// A program and its arguments, run (without a shell) for each overdue
    /// deadline, with NFP_DEADLINE_MESSAGE, _PEER, _KIND, _DUE and _OWED in
    /// its environment. No personal data is passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalation_command: Vec<String>,
}

/// When the node signs checkpoints of its audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Sign a checkpoint after this many new entries ...
    #[serde(default = "default_checkpoint_entries")]
    pub checkpoint_entries: u64,
    /// ... or after this long, whichever comes first.
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval: SlaDuration,
}

fn default_checkpoint_entries() -> u64 {
    100
}
fn default_checkpoint_interval() -> SlaDuration {
    SlaDuration {
        amount: 60,
        unit: Unit::Seconds,
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_entries: default_checkpoint_entries(),
            checkpoint_interval: default_checkpoint_interval(),
        }
    }
}

/// How the outbox retries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// First retry delay.
    #[serde(default = "default_retry_initial")]
    pub retry_initial: SlaDuration,
    /// Longest retry delay.
    #[serde(default = "default_retry_max")]
    pub retry_max: SlaDuration,
    /// Envelopes in flight per peer.
    #[serde(default = "default_in_flight")]
    pub in_flight: u32,
}

fn default_retry_initial() -> SlaDuration {
    SlaDuration {
        amount: 1,
        unit: Unit::Seconds,
    }
}
fn default_retry_max() -> SlaDuration {
    SlaDuration {
        amount: 5,
        unit: Unit::Minutes,
    }
}
fn default_in_flight() -> u32 {
    32
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            retry_initial: default_retry_initial(),
            retry_max: default_retry_max(),
            in_flight: default_in_flight(),
        }
    }
}

/// Seconds in a duration used for retries (working days count as days).
pub fn seconds(d: SlaDuration) -> u64 {
    let n = u64::from(d.amount);
    match d.unit {
        Unit::Seconds => n,
        Unit::Minutes => n * 60,
        Unit::Hours => n * 3600,
        _ => n * 86_400,
    }
}

impl NodeConfig {
    /// Parses and validates `node.toml`.
    pub fn from_toml(text: &str) -> Result<NodeConfig, Vec<FieldError>> {
        let c: NodeConfig = toml::from_str(text).map_err(|e| vec![toml_error(text, &e)])?;
        let p = c.validate();
        if p.is_empty() { Ok(c) } else { Err(p) }
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Problems serde cannot catch.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut p = Vec::new();
        if self.name.trim().is_empty() || self.name.len() > 200 {
            p.push(FieldError::new("name", "must be 1 to 200 characters"));
        }
        if let Err(m) = validate_endpoint(&self.endpoint) {
            p.push(FieldError::new("endpoint", m));
        }
        if self.listen.is_none() && self.endpoint.parse::<SocketAddr>().is_err() {
            p.push(FieldError::new(
                "listen",
                "endpoint is a host name, so give the address to bind in `listen`",
            ));
        }
        if !self.api.ip().is_loopback() {
            p.push(FieldError::new(
                "api",
                "the operator API must listen on a loopback address (127.0.0.1 or ::1)",
            ));
        }
        if self.delivery.in_flight == 0 || self.delivery.in_flight > 1024 {
            p.push(FieldError::new("delivery.in_flight", "must be 1 to 1024"));
        }
        if self.audit.checkpoint_entries == 0 {
            p.push(FieldError::new(
                "audit.checkpoint_entries",
                "must be 1 or more",
            ));
        }
        if seconds(self.delivery.retry_initial) > seconds(self.delivery.retry_max) {
            p.push(FieldError::new(
                "delivery.retry_initial",
                "must not be longer than delivery.retry_max",
            ));
        }
        p
    }

    /// The UDP address to bind.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.or_else(|| self.endpoint.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "country = \"GR\"\nname = \"Hellenic NFP\"\nendpoint = \"127.0.0.1:7401\"\napi = \"127.0.0.1:7402\"\n";

    #[test]
    fn parses_minimal_config_with_defaults() {
        let c = NodeConfig::from_toml(OK).unwrap();
        assert_eq!(c.delivery, Delivery::default());
        assert_eq!(c.listen_addr().unwrap().port(), 7401);
        assert_eq!(NodeConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn problems_name_the_field() {
        let e = NodeConfig::from_toml(&format!("{OK}colour = 1\n")).unwrap_err();
        assert_eq!(e[0].field, "colour");
        let e = NodeConfig::from_toml(&OK.replace("127.0.0.1:7402", "0.0.0.0:7402")).unwrap_err();
        assert_eq!(e[0].field, "api");
        let e = NodeConfig::from_toml(&format!("{OK}[delivery]\nin_flight = 0\n")).unwrap_err();
        assert_eq!(e[0].field, "delivery.in_flight");
        let e =
            NodeConfig::from_toml(&format!("{OK}[delivery]\nretry_max = \"soon\"\n")).unwrap_err();
        assert!(e[0].message.contains("not a duration"));
    }
}
