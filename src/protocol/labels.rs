//! Label catalogues: the words an operator sees for kinds, fields and codes,
//! one TOML file per language. English is built in and complete; other
//! languages are data files (`HOME/labels/xx.toml`) that may cover only part
//! and fall back to English for the rest. Structured fields travel as
//! language-neutral codes; only labels are translated.

use crate::protocol::FieldError;
use crate::protocol::card::toml_error;
use std::collections::BTreeMap;

const ENGLISH: &str = include_str!("../../config/labels/en.toml");

/// A label catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// ISO 639-1 code of the catalogue's language.
    pub language: String,
    /// Kind name → label.
    #[serde(default)]
    pub kinds: BTreeMap<String, String>,
    /// Field path (no list indices, e.g. `child.sex`) → label.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Code (e.g. `below-expectations`) → label.
    #[serde(default)]
    pub codes: BTreeMap<String, String>,
    /// Interface words (e.g. `optional`) → label.
    #[serde(default)]
    pub words: BTreeMap<String, String>,
    #[serde(skip)]
    fallback: Option<Box<Catalogue>>,
}

impl Catalogue {
    /// The built-in English catalogue.
    pub fn english() -> Catalogue {
        Catalogue::from_toml(ENGLISH).unwrap_or_default()
    }

    /// Parses a catalogue; unknown keys are errors.
    pub fn from_toml(text: &str) -> Result<Catalogue, FieldError> {
        let c: Catalogue = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        if crate::protocol::language::Language::parse(&c.language).is_err() {
            return Err(FieldError::new(
                "language",
                format!("{:?} is not an ISO 639-1 code", c.language),
            ));
        }
        Ok(c)
    }

    /// This catalogue, falling back to English where it has no label.
    pub fn over_english(mut self) -> Catalogue {
        if self.language != "en" {
            self.fallback = Some(Box::new(Catalogue::english()));
        }
        self
    }

    /// The label of a kind.
    pub fn kind(&self, kind: &str) -> String {
        self.kinds
            .get(kind)
            .cloned()
            .or_else(|| self.fallback.as_ref().map(|f| f.kind(kind)))
            .unwrap_or_else(|| kind.to_string())
    }

    /// The label of a field of `kind` at `path` (no indices): a
    /// kind-specific label (`kind:path`) wins over the shared one.
    pub fn field(&self, kind: &str, path: &str) -> String {
        self.fields
            .get(&format!("{kind}:{path}"))
            .or_else(|| self.fields.get(path))
            .cloned()
            .or_else(|| self.fallback.as_ref().map(|f| f.field(kind, path)))
            .unwrap_or_else(|| path.rsplit('.').next().unwrap_or(path).replace('_', " "))
    }

    /// The label of a code.
    pub fn code(&self, code: &str) -> Option<String> {
        self.codes
            .get(code)
            .cloned()
            .or_else(|| self.fallback.as_ref().and_then(|f| f.code(code)))
    }

    /// An interface word.
    pub fn word(&self, w: &str) -> Option<String> {
        self.words
            .get(w)
            .cloned()
            .or_else(|| self.fallback.as_ref().and_then(|f| f.word(w)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::forms::Kind;
    use crate::protocol::forms::template::fields;

    /// Every kind, field and code has an English label. Set
    /// `NFP_WRITE_LABELS=1` to append draft labels for anything missing to
    /// `config/labels/en.toml` (then review them by hand).
    #[test]
    fn english_is_complete() {
        let en = Catalogue::from_toml(ENGLISH).expect("en.toml parses");
        let mut missing_kinds = Vec::new();
        let mut missing_fields = std::collections::BTreeSet::new();
        let mut missing_codes = std::collections::BTreeSet::new();
        for kind in Kind::ALL {
            if !en.kinds.contains_key(kind.as_str()) {
                missing_kinds.push(kind.as_str().to_string());
            }
            for f in fields(&kind.schema()) {
                if !en.fields.contains_key(&f.path)
                    && !en.fields.contains_key(&format!("{kind}:{}", f.path))
                {
                    missing_fields.insert(f.path.clone());
                }
                for c in f.codes {
                    if !en.codes.contains_key(&c) {
                        missing_codes.insert(c);
                    }
                }
            }
        }
        if std::env::var("NFP_WRITE_LABELS").is_ok() {
            let draft = |s: &str| {
                let t = s.rsplit('.').next().unwrap_or(s).replace(['_', '-'], " ");
                let mut c = t.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            };
            let mut out = String::new();
            for k in &missing_kinds {
                out.push_str(&format!("# kinds: {k:?} = {:?}\n", draft(k)));
            }
            for f in &missing_fields {
                out.push_str(&format!("# fields: {f:?} = {:?}\n", draft(f)));
            }
            for c in &missing_codes {
                out.push_str(&format!("# codes: {c:?} = {:?}\n", draft(c)));
            }
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/target/missing-labels.txt"),
                out,
            )
            .expect("write draft");
        }
        assert!(
            missing_kinds.is_empty() && missing_fields.is_empty() && missing_codes.is_empty(),
            "missing English labels: kinds {missing_kinds:?}, fields {missing_fields:?}, codes {missing_codes:?}"
        );
    }

    #[test]
    fn other_languages_fall_back_to_english() {
        let sq = Catalogue::from_toml("language = \"sq\"\n[codes]\nfemale = \"Femër\"\n")
            .unwrap()
            .over_english();
        assert_eq!(sq.code("female").as_deref(), Some("Femër"));
        assert_eq!(sq.code("male"), Catalogue::english().code("male"));
        assert!(Catalogue::from_toml("language = \"xx\"\n").is_err());
        assert!(Catalogue::from_toml("language = \"sq\"\ncolour = 1\n").is_err());
    }
}
