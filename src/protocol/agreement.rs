//! Bilateral agreements: the parties, their agreed languages and response
//! times, and the canonical hash both nodes must hold before they exchange
//! envelopes under it.

use crate::protocol::FieldError;
use crate::protocol::card::toml_error;
use crate::protocol::country::Country;
use crate::protocol::deadline::SlaDuration;
use crate::protocol::forms::Kind;
use crate::protocol::language::Language;
use crate::protocol::wire::canonical_cbor;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// A bilateral agreement, as written in its TOML file. Both parties use the
/// same file; its canonical hash identifies the exact text agreed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    /// Identifier, e.g. `AL-GR`: upper-case letters, digits and `-`.
    pub id: String,
    /// Version; an amendment is a new version.
    pub version: u32,
    /// The two parties.
    pub parties: Vec<Country>,
    /// Languages agreed for messages.
    pub languages: Vec<Language>,
    /// Agreed response times per message kind.
    #[serde(default)]
    pub sla: BTreeMap<String, Sla>,
}

/// The agreed service level for one message kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    /// How long the receiving NFP has to respond.
    pub respond_within: SlaDuration,
}

/// What an envelope names of the agreement it travels under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgreementRef<'a> {
    /// Agreement id.
    pub id: &'a str,
    /// Agreement version.
    pub version: u32,
    /// Canonical hash.
    pub hash: [u8; 32],
}

impl Agreement {
    /// Parses and validates an agreement from TOML.
    pub fn from_toml(text: &str) -> Result<Agreement, Vec<FieldError>> {
        let a: Agreement = toml::from_str(text).map_err(|e| vec![toml_error(text, &e)])?;
        let problems = a.validate();
        if problems.is_empty() {
            Ok(a)
        } else {
            Err(problems)
        }
    }

    /// The agreement as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Every problem serde cannot catch, each naming its field.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut p = Vec::new();
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        {
            p.push(FieldError::new(
                "id",
                "must be 1 to 64 upper-case letters, digits or '-', e.g. \"AL-GR\"",
            ));
        }
        if self.version == 0 {
            p.push(FieldError::new("version", "must be 1 or more"));
        }
        if self.parties.len() != 2 || self.parties[0] == self.parties[1] {
            p.push(FieldError::new(
                "parties",
                "must name exactly two different countries",
            ));
        }
        if self.languages.is_empty() {
            p.push(FieldError::new(
                "languages",
                "must name at least one language",
            ));
        }
        let mut seen = Vec::new();
        for l in &self.languages {
            if seen.contains(l) {
                p.push(FieldError::new("languages", format!("{l} is listed twice")));
            }
            seen.push(*l);
        }
        for kind in self.sla.keys() {
            if Kind::parse(kind).is_none() {
                p.push(FieldError::new(
                    format!("sla.{kind}"),
                    format!(
                        "unknown message kind; known kinds: {}",
                        Kind::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        p
    }

    /// SHA-256 of the agreement's canonical CBOR encoding (RFC 8949 §4.2.1
    /// core deterministic encoding of the parsed document). Formatting and
    /// comments in the TOML do not change it; any agreed value does.
    pub fn hash(&self) -> [u8; 32] {
        let bytes = canonical_cbor(self).unwrap_or_default();
        let mut out = [0u8; 32];
        out.copy_from_slice(&Sha256::digest(&bytes));
        out
    }

    /// What an envelope under this agreement names.
    pub fn reference(&self) -> AgreementRef<'_> {
        AgreementRef {
            id: &self.id,
            version: self.version,
            hash: self.hash(),
        }
    }

    /// The party that is not `me`, if `me` is a party.
    pub fn other_party(&self, me: Country) -> Option<Country> {
        if self.parties.contains(&me) {
            self.parties.iter().copied().find(|c| *c != me)
        } else {
            None
        }
    }

    /// Whether `lang` is agreed.
    pub fn allows_language(&self, lang: Language) -> bool {
        self.languages.contains(&lang)
    }

    /// The agreed response time for `kind`, if any.
    pub fn respond_within(&self, kind: Kind) -> Option<SlaDuration> {
        self.sla.get(kind.as_str()).map(|s| s.respond_within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const AL_GR: &str = r#"
id = "AL-GR"
version = 1
parties = ["AL", "GR"]
languages = ["en", "sq", "el"]
[sla.social-inquiry-request]
respond_within = "30 working days"
"#;

    #[test]
    fn parses_the_issue_example() {
        let a = Agreement::from_toml(AL_GR).unwrap();
        assert_eq!(a.id, "AL-GR");
        assert_eq!(
            a.respond_within(Kind::SocialInquiryRequest)
                .unwrap()
                .to_string(),
            "30 working days"
        );
        assert_eq!(
            a.other_party("AL".parse().unwrap()),
            Some("GR".parse().unwrap())
        );
        assert_eq!(a.other_party("FR".parse().unwrap()), None);
    }

    #[test]
    fn hash_ignores_formatting_but_not_values() {
        let a = Agreement::from_toml(AL_GR).unwrap();
        let reformatted = Agreement::from_toml(&a.to_toml()).unwrap();
        assert_eq!(a.hash(), reformatted.hash());
        let b = Agreement::from_toml(&AL_GR.replace("30 working", "20 working")).unwrap();
        assert_ne!(a.hash(), b.hash());
        let c = Agreement::from_toml(&AL_GR.replace("version = 1", "version = 2")).unwrap();
        assert_ne!(a.hash(), c.hash());
    }

    #[test]
    fn problems_name_their_field() {
        let e = Agreement::from_toml(&format!("extra = 1\n{AL_GR}")).unwrap_err();
        assert_eq!(e[0].field, "extra");
        let e = Agreement::from_toml(&AL_GR.replace("[\"AL\", \"GR\"]", "[\"AL\", \"AL\"]"))
            .unwrap_err();
        assert_eq!(e[0].field, "parties");
        let e = Agreement::from_toml(&AL_GR.replace("social-inquiry-request", "tea-request"))
            .unwrap_err();
        assert_eq!(e[0].field, "sla.tea-request");
        let e =
            Agreement::from_toml(&AL_GR.replace("30 working days", "30 fortnights")).unwrap_err();
        assert!(e[0].message.contains("not a duration"), "{e:?}");
        assert_eq!(e[0].field, "sla.social-inquiry-request.respond_within");
        let e = Agreement::from_toml(&format!("{AL_GR}colour = 1\n")).unwrap_err();
        assert_eq!(e[0].field, "sla.social-inquiry-request.colour");
        let e = Agreement::from_toml(&AL_GR.replace("\"el\"", "\"greek\"")).unwrap_err();
        assert!(e[0].message.contains("ISO 639-1"), "{e:?}");
    }
}
