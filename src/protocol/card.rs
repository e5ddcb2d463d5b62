//! The peer card: a node's public identity, handed to the other country's
//! admin out of band and registered there with `peer add`.

use crate::protocol::FieldError;
use crate::protocol::country::Country;
use crate::protocol::keys::{EncryptionKey, SpkiPin, VerifyingKey};

/// A node's public identity as TOML.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerCard {
    /// ISO 3166-1 alpha-2 country of the NFP.
    pub country: Country,
    /// Human-readable name of the NFP.
    pub name: String,
    /// The QUIC endpoint, `HOST:PORT`.
    pub endpoint: String,
    /// Ed25519 key that signs envelopes and receipts.
    pub signing_key: VerifyingKey,
    /// X25519 key that envelopes are sealed to (HPKE).
    pub encryption_key: EncryptionKey,
    /// SHA-256 of the TLS certificate's SubjectPublicKeyInfo.
    pub tls_spki_sha256: SpkiPin,
    /// The node's audit log origin, when it no longer follows from the
    /// signing key (after a key rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_origin: Option<String>,
    /// How many key rotations the keys above are the result of.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rotation: u32,
    /// Keys replaced by rotations, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<RetiredKeys>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Keys a node used before a rotation, kept so that messages and
/// checkpoints they signed still verify and, during the agreed overlap,
/// are still accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredKeys {
    /// The old signing key.
    pub signing_key: VerifyingKey,
    /// The old encryption key.
    pub encryption_key: EncryptionKey,
    /// The old TLS pin.
    pub tls_spki_sha256: SpkiPin,
    /// When the rotation was applied (Unix seconds).
    pub retired_at: i64,
    /// Accepted for new messages and connections until then (Unix
    /// seconds): the end of the overlap, or the compromise.
    pub accepted_until: i64,
    /// For a compromised key: from when (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compromised_from: Option<i64>,
}

/// The origin (and note key name) of a node's log: `nfp-node/CC/<key id>`,
/// from the country and its first signing key.
pub fn log_origin_of(country: Country, key: &VerifyingKey) -> String {
    format!("nfp-node/{}/{}", country, hex::encode(&key.key_id()[..4]))
}

impl PeerCard {
    /// Parses a card from TOML, refusing unknown keys.
    pub fn from_toml(text: &str) -> Result<PeerCard, FieldError> {
        let card: PeerCard = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        card.validate()?;
        Ok(card)
    }

    /// The card as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// The node's audit log origin.
    pub fn log_origin(&self) -> String {
        self.log_origin
            .clone()
            .unwrap_or_else(|| log_origin_of(self.country, &self.signing_key))
    }

    /// The signing keys accepted for new messages at `now`: the current
    /// one, then retired ones still inside their overlap.
    pub fn signing_keys_at(&self, now: i64) -> Vec<VerifyingKey> {
        let mut out = vec![self.signing_key];
        out.extend(
            self.previous
                .iter()
                .filter(|p| now < p.accepted_until)
                .map(|p| p.signing_key),
        );
        out
    }

    /// The TLS pins accepted at `now`, current first.
    pub fn pins_at(&self, now: i64) -> Vec<SpkiPin> {
        let mut out = vec![self.tls_spki_sha256];
        out.extend(
            self.previous
                .iter()
                .filter(|p| now < p.accepted_until)
                .map(|p| p.tls_spki_sha256),
        );
        out
    }

    /// Every signing key the node ever had, current first: for checking
    /// what old keys signed (checkpoints, cosignatures), never for
    /// accepting new messages.
    pub fn all_signing_keys(&self) -> Vec<VerifyingKey> {
        let mut out = vec![self.signing_key];
        out.extend(self.previous.iter().rev().map(|p| p.signing_key));
        out
    }

    /// Checks the fields serde cannot.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err(FieldError::new("name", "must be 1 to 200 characters"));
        }
        validate_endpoint(&self.endpoint).map_err(|m| FieldError::new("endpoint", m))
    }
}

/// Checks that `s` is `HOST:PORT` with a non-zero port.
pub fn validate_endpoint(s: &str) -> Result<(), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not HOST:PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
    {
        return Err(format!("{s:?} has no valid host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{s:?} has no valid port (1-65535)")),
    }
}

/// Turns a TOML error into a field error naming the dotted key (with its
/// table) and the line, found from the error's position in `text`.
pub fn toml_error(text: &str, e: &toml::de::Error) -> FieldError {
    let msg = e.message().to_string();
    let Some(span) = e.span() else {
        return FieldError::new("(document)", msg);
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[start..]
        .find('\n')
        .map(|i| start + i)
        .unwrap_or(text.len());
    let line = &text[line_start..line_end];
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    // The nearest table header above the line.
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let missing = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
        .map(str::to_string);
    let field = match (missing, key, table) {
        (Some(m), _, _) => m,
        (None, Some(k), Some(t)) => format!("{t}.{k}"),
        (None, Some(k), None) => k,
        (None, None, Some(t)) => t,
        (None, None, None) => "(document)".to_string(),
    };
    FieldError::new(field, format!("{msg} (line {line_no})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = r#"
country = "GR"
name = "Hellenic NFP"
endpoint = "127.0.0.1:7401"
signing_key = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
encryption_key = "x25519:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
tls_spki_sha256 = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
"#;

    #[test]
    fn parses_and_round_trips() {
        let card = PeerCard::from_toml(CARD).unwrap();
        assert_eq!(card.country.as_str(), "GR");
        let again = PeerCard::from_toml(&card.to_toml()).unwrap();
        assert_eq!(again, card);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = PeerCard::from_toml(&format!("{CARD}colour = \"blue\"\n")).unwrap_err();
        assert_eq!(e.field, "colour");
        let e = PeerCard::from_toml(&CARD.replace("country = \"GR\"\n", "")).unwrap_err();
        assert_eq!(e.field, "country");
    }

    #[test]
    fn bad_values_name_the_problem() {
        assert!(PeerCard::from_toml(&CARD.replace("\"GR\"", "\"Greece\"")).is_err());
        let e = PeerCard::from_toml(&CARD.replace("\"GR\"", "\"Greece\"")).unwrap_err();
        assert_eq!(e.field, "country");
        assert!(e.message.contains("line 2"), "{e:?}");
        let e = PeerCard::from_toml(&CARD.replace("127.0.0.1:7401", "127.0.0.1")).unwrap_err();
        assert_eq!(e.field, "endpoint");
        assert!(validate_endpoint("[::1]:7401").is_ok());
        assert!(validate_endpoint("nfp.example.gr:0").is_err());
    }
}
