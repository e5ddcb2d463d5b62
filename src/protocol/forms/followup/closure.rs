//! `case-closure`: either NFP proposes to close a case, or confirms the
//! other's proposal (domain brief §1, message 20). Closure criteria are
//! agreed jointly per agreement, so they travel as short texts.

use crate::protocol::FieldError;
use crate::protocol::forms::common::{PROSE_MAX, SHORT_MAX, opt_text, text_list};
use crate::protocol::id::MessageId;
use jiff::civil::Date;

/// Most closure criteria listed.
const CRITERIA_MAX: usize = 30;

/// The closure proposal or confirmation.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct CaseClosure {
    /// Whether this proposes closure or confirms it.
    pub stage: ClosureStage,
    /// Why the case is to be closed.
    pub reason: ClosureReason,
    /// The agreed closure criteria that are met.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria_met: Vec<String>,
    /// The message id of the last follow-up report with a score card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_score_card: Option<String>,
    /// Anything else; required when the reason is `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// Whether closure is proposed or confirmed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClosureStage {
    /// The sender proposes to close the case.
    Proposal,
    /// The sender confirms the other NFP's proposal.
    Confirmation,
}

/// Why a case is closed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClosureReason {
    /// The reintegration objectives were met.
    ObjectivesMet,
    /// The child reached majority and no Pathway Plan keeps the case open.
    ChildReachedMajority,
    /// The case passed to another authority or country.
    Transferred,
    /// Contact with the child was lost.
    LostContact,
    /// The child died.
    ChildDeceased,
    /// Another reason, explained in the notes.
    Other,
}

impl CaseClosure {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, _today: Date, errors: &mut Vec<FieldError>) {
        text_list(
            errors,
            "criteria_met",
            &self.criteria_met,
            0,
            CRITERIA_MAX,
            SHORT_MAX,
        );
        if let Some(id) = &self.last_score_card
            && let Err(e) = MessageId::parse(id)
        {
            errors.push(FieldError::new("last_score_card", e.to_string()));
        }
        if self.reason == ClosureReason::Other && self.notes.is_none() {
            errors.push(FieldError::new("notes", "explain the reason for closing"));
        }
        opt_text(errors, "notes", &self.notes, PROSE_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const EXAMPLE: &str = include_str!("../../../../config/forms/case-closure.json");

    fn today() -> Date {
        date(2026, 11, 23)
    }

    fn parse(json: &str) -> Result<CaseClosure, String> {
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(json))
            .map_err(|e| format!("{} at {}", e.inner(), e.path()))
    }

    fn edited(change: impl FnOnce(&mut serde_json::Value)) -> Vec<FieldError> {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        change(&mut v);
        let mut errors = Vec::new();
        parse(&v.to_string())
            .unwrap()
            .validate(today(), &mut errors);
        errors
    }

    #[test]
    fn the_example_validates() {
        assert_eq!(edited(|_| {}), vec![]);
    }

    #[test]
    fn cbor_round_trip() {
        let f = parse(EXAMPLE).unwrap();
        let mut bytes = Vec::new();
        ciborium::into_writer(&f, &mut bytes).unwrap();
        let back: CaseClosure = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn broken_forms_name_the_field() {
        let e = edited(|v| v["last_score_card"] = "not-an-id".into());
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "last_score_card");
        // Crockford base32 has no U.
        let e = edited(|v| v["last_score_card"] = "01JUUUUUUUUUUUUUUUUUUUUUUU".into());
        assert_eq!(e[0].field, "last_score_card");
        let e = edited(|v| {
            v["reason"] = "other".into();
            v.as_object_mut().unwrap().remove("notes");
        });
        assert_eq!(e[0].field, "notes");
        let e = edited(|v| v["criteria_met"][2] = "".into());
        assert_eq!(e[0].field, "criteria_met[2]");
        let e = edited(|v| v["criteria_met"] = vec!["Met"; 31].into());
        assert_eq!(e[0].field, "criteria_met");
    }

    #[test]
    fn optional_fields_may_be_left_out() {
        let e = edited(|v| {
            let o = v.as_object_mut().unwrap();
            o.remove("criteria_met");
            o.remove("last_score_card");
            o.remove("notes");
        });
        assert_eq!(e, vec![]);
    }

    #[test]
    fn serde_rejects_unknown_keys_and_values() {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["closed_on"] = "2026-11-20".into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(e.contains("closed_on"), "{e}");

        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["reason"] = "objectives_met".into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(e.ends_with("at reason"), "{e}");
    }
}
