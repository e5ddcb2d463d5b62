//! ISO 3166-1 alpha-2 country codes: the only country identifiers a node accepts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Every officially assigned ISO 3166-1 alpha-2 code (249 entries), sorted
/// ascending so that membership can be checked with a binary search.
///
/// User-assigned codes (e.g. `XK`, `ZZ`), exceptionally or transitionally
/// reserved codes (e.g. `UK`, `EU`) and withdrawn codes are deliberately absent.
#[rustfmt::skip]
pub const ASSIGNED: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ",
    "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ",
    "DE", "DJ", "DK", "DM", "DO", "DZ",
    "EC", "EE", "EG", "EH", "ER", "ES", "ET",
    "FI", "FJ", "FK", "FM", "FO", "FR",
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY",
    "HK", "HM", "HN", "HR", "HT", "HU",
    "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT",
    "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ",
    "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY",
    "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
    "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM",
    "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY",
    "QA",
    "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ",
    "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ",
    "UA", "UG", "UM", "US", "UY", "UZ",
    "VA", "VC", "VE", "VG", "VI", "VN", "VU",
    "WF", "WS",
    "YE", "YT",
    "ZA", "ZM", "ZW",
];

/// A validated, officially assigned ISO 3166-1 alpha-2 country code.
///
/// The only way to obtain a value is [`Country::parse`] (or its `FromStr` /
/// `Deserialize` wrappers), so every `Country` holds two ASCII upper-case
/// letters that appear in [`ASSIGNED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country([u8; 2]);

/// Why a string was rejected as a country code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CountryError {
    /// The input is not exactly two ASCII upper-case letters.
    #[error("country code {0:?} is not two upper-case letters (ISO 3166-1 alpha-2, e.g. \"GR\")")]
    Format(String),
    /// The input is well-formed but not an officially assigned code.
    #[error("country code {0:?} is not an assigned ISO 3166-1 alpha-2 code")]
    Unassigned(String),
}

impl Country {
    /// Parses an ISO 3166-1 alpha-2 code.
    ///
    /// Accepts exactly two ASCII upper-case letters forming a code listed in
    /// [`ASSIGNED`]; no case folding or trimming is performed.
    pub fn parse(s: &str) -> Result<Country, CountryError> {
        let &[a, b] = s.as_bytes() else {
            return Err(CountryError::Format(s.to_owned()));
        };
        if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
            return Err(CountryError::Format(s.to_owned()));
        }
        if ASSIGNED.binary_search(&s).is_err() {
            return Err(CountryError::Unassigned(s.to_owned()));
        }
        Ok(Country([a, b]))
    }

    /// The code as a two-letter string, e.g. `"GR"`.
    pub fn as_str(&self) -> &str {
        // The bytes are always ASCII upper-case letters (checked in `parse`),
        // so the fallback is unreachable; it merely avoids a panic path.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Country {
    type Err = CountryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Country::parse(s)
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Country::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Country {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Country".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Z]{2}$",
            "description": "ISO 3166-1 alpha-2 country code, e.g. GR"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_unique_and_well_formed() {
        assert_eq!(ASSIGNED.len(), 249);
        for pair in ASSIGNED.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{:?} must sort before {:?}",
                pair[0],
                pair[1]
            );
        }
        for code in ASSIGNED {
            assert_eq!(code.len(), 2, "{code:?}");
            assert!(code.bytes().all(|b| b.is_ascii_uppercase()), "{code:?}");
        }
    }

    #[test]
    fn every_listed_code_parses_and_round_trips() {
        for code in ASSIGNED {
            let country = Country::parse(code).expect("listed code must parse");
            assert_eq!(country.as_str(), *code);
        }
    }

    #[test]
    fn accepts_assigned_codes() {
        let gr = Country::parse("GR").expect("GR");
        assert_eq!(gr.as_str(), "GR");
        assert_eq!(gr.to_string(), "GR");
        let al: Country = "AL".parse().expect("AL");
        assert_eq!(al.as_str(), "AL");
        assert!(Country::parse("GB").is_ok());
    }

    #[test]
    fn rejects_malformed_codes() {
        for bad in ["gr", "Gr", "gR", "GRC", "G", "", " GR", "GR ", "G1", "ΓΡ"] {
            assert_eq!(
                Country::parse(bad),
                Err(CountryError::Format(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_unassigned_codes() {
        for bad in ["XX", "ZZ", "UK", "XK", "EU", "AA"] {
            assert_eq!(
                Country::parse(bad),
                Err(CountryError::Unassigned(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn error_messages_are_helpful() {
        let msg = Country::parse("gr").unwrap_err().to_string();
        assert!(msg.contains("ISO 3166-1 alpha-2"), "{msg}");
        assert!(msg.contains("\"GR\""), "{msg}");
        let msg = Country::parse("UK").unwrap_err().to_string();
        assert!(msg.contains("not an assigned"), "{msg}");
    }

    #[test]
    fn serde_round_trip() {
        let gr = Country::parse("GR").expect("GR");
        let json = serde_json::to_string(&gr).expect("serialize");
        assert_eq!(json, "\"GR\"");
        let back: Country = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, gr);

        let list: Vec<Country> = serde_json::from_str(r#"["AL","GR"]"#).expect("list");
        assert_eq!(list.len(), 2);

        assert!(serde_json::from_str::<Country>("\"UK\"").is_err());
        assert!(serde_json::from_str::<Country>("\"gr\"").is_err());
        assert!(serde_json::from_str::<Country>("12").is_err());
    }
}
