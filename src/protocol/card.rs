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
}

impl PeerCard {
    /// Parses a card from TOML, refusing unknown keys.
    pub fn from_toml(text: &str) -> Result<PeerCard, FieldError> {
        let card: PeerCard = toml::from_str(text).map_err(|e| toml_error(&e))?;
        card.validate()?;
        Ok(card)
    }

    /// The card as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
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

/// Turns a TOML error into a field error naming the key and line.
pub fn toml_error(e: &toml::de::Error) -> FieldError {
    let msg = e.message().to_string();
    // The toml crate names unknown keys in its message; it does not expose
    // the path, so we recover what we can from the span.
    let field = msg
        .split('`')
        .nth(1)
        .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"))
        .unwrap_or("(document)")
        .to_string();
    let loc = e
        .span()
        .map(|s| format!(" (at byte {})", s.start))
        .unwrap_or_default();
    FieldError::new(field, format!("{msg}{loc}"))
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
        let e = PeerCard::from_toml(&CARD.replace("127.0.0.1:7401", "127.0.0.1")).unwrap_err();
        assert_eq!(e.field, "endpoint");
        assert!(validate_endpoint("[::1]:7401").is_ok());
        assert!(validate_endpoint("nfp.example.gr:0").is_err());
    }
}
