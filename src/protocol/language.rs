//! ISO 639-1 language codes used in agreements and envelopes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Every ISO 639-1 two-letter language code currently in the standard
/// (183 entries), sorted ascending so that membership can be checked with a
/// binary search.
///
/// Deprecated codes are deliberately absent: `sh` (Serbo-Croatian, withdrawn
/// from ISO 639-1 in 2000) and `bh` (Bihari, a collective code withdrawn from
/// ISO 639-1); as are the retired codes `in`, `iw`, `ji` (replaced in 1989)
/// and `mo` (withdrawn in 2008).
#[rustfmt::skip]
pub const ASSIGNED: &[&str] = &[
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az",
    "ba", "be", "bg", "bi", "bm", "bn", "bo", "br", "bs",
    "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy",
    "da", "de", "dv", "dz",
    "ee", "el", "en", "eo", "es", "et", "eu",
    "fa", "ff", "fi", "fj", "fo", "fr", "fy",
    "ga", "gd", "gl", "gn", "gu", "gv",
    "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz",
    "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu",
    "ja", "jv",
    "ka", "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky",
    "la", "lb", "lg", "li", "ln", "lo", "lt", "lu", "lv",
    "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my",
    "na", "nb", "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny",
    "oc", "oj", "om", "or", "os",
    "pa", "pi", "pl", "ps", "pt",
    "qu",
    "rm", "rn", "ro", "ru", "rw",
    "sa", "sc", "sd", "se", "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw",
    "ta", "te", "tg", "th", "ti", "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty",
    "ug", "uk", "ur", "uz",
    "ve", "vi", "vo",
    "wa", "wo",
    "xh",
    "yi", "yo",
    "za", "zh", "zu",
];

/// A validated ISO 639-1 language code.
///
/// The only way to obtain a value is [`Language::parse`] (or its `FromStr` /
/// `Deserialize` wrappers), so every `Language` holds two ASCII lower-case
/// letters that appear in [`ASSIGNED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Language([u8; 2]);

/// Why a string was rejected as a language code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LanguageError {
    /// The input is not exactly two ASCII lower-case letters.
    #[error("language code {0:?} is not two lower-case letters (ISO 639-1, e.g. \"en\")")]
    Format(String),
    /// The input is well-formed but not a code in ISO 639-1.
    #[error("language code {0:?} is not an assigned ISO 639-1 code (e.g. \"en\")")]
    Unassigned(String),
}

impl Language {
    /// Parses an ISO 639-1 code.
    ///
    /// Accepts exactly two ASCII lower-case letters forming a code listed in
    /// [`ASSIGNED`]; no case folding, trimming or region subtags (`en-GB`)
    /// are accepted.
    pub fn parse(s: &str) -> Result<Language, LanguageError> {
        let &[a, b] = s.as_bytes() else {
            return Err(LanguageError::Format(s.to_owned()));
        };
        if !a.is_ascii_lowercase() || !b.is_ascii_lowercase() {
            return Err(LanguageError::Format(s.to_owned()));
        }
        if ASSIGNED.binary_search(&s).is_err() {
            return Err(LanguageError::Unassigned(s.to_owned()));
        }
        Ok(Language([a, b]))
    }

    /// The code as a two-letter string, e.g. `"en"`.
    pub fn as_str(&self) -> &str {
        // The bytes are always ASCII lower-case letters (checked in `parse`),
        // so the fallback is unreachable; it merely avoids a panic path.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = LanguageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Language::parse(s)
    }
}

impl Serialize for Language {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Language::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Language {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Language".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z]{2}$",
            "description": "ISO 639-1 language code, e.g. en"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_unique_and_well_formed() {
        assert_eq!(ASSIGNED.len(), 183);
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
            assert!(code.bytes().all(|b| b.is_ascii_lowercase()), "{code:?}");
        }
    }

    #[test]
    fn every_listed_code_parses_and_round_trips() {
        for code in ASSIGNED {
            let language = Language::parse(code).expect("listed code must parse");
            assert_eq!(language.as_str(), *code);
        }
    }

    #[test]
    fn accepts_assigned_codes() {
        for good in ["en", "sq", "el", "fr", "de", "zu", "aa"] {
            let language = Language::parse(good).expect(good);
            assert_eq!(language.as_str(), good);
            assert_eq!(language.to_string(), good);
        }
        let en: Language = "en".parse().expect("en");
        assert_eq!(en.as_str(), "en");
    }

    #[test]
    fn rejects_malformed_codes() {
        for bad in ["EN", "En", "eN", "eng", "e", "", " en", "en-GB", "e1", "ελ"] {
            assert_eq!(
                Language::parse(bad),
                Err(LanguageError::Format(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_unassigned_codes() {
        for bad in ["xx", "qq", "zz", "sh", "iw", "bh"] {
            assert_eq!(
                Language::parse(bad),
                Err(LanguageError::Unassigned(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn error_messages_are_helpful() {
        let msg = Language::parse("EN").unwrap_err().to_string();
        assert!(msg.contains("ISO 639-1"), "{msg}");
        assert!(msg.contains("\"en\""), "{msg}");
        let msg = Language::parse("xx").unwrap_err().to_string();
        assert!(msg.contains("not an assigned"), "{msg}");
    }

    #[test]
    fn serde_round_trip() {
        let el = Language::parse("el").expect("el");
        let json = serde_json::to_string(&el).expect("serialize");
        assert_eq!(json, "\"el\"");
        let back: Language = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, el);

        let list: Vec<Language> = serde_json::from_str(r#"["en","sq"]"#).expect("list");
        assert_eq!(list.len(), 2);

        assert!(serde_json::from_str::<Language>("\"xx\"").is_err());
        assert!(serde_json::from_str::<Language>("\"EN\"").is_err());
        assert!(serde_json::from_str::<Language>("12").is_err());
    }
}
