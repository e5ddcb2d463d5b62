//! `acknowledgement`: the receiving NFP confirms that a named officer has
//! taken the case on (domain brief §1, message 2). The time of receipt is
//! in the envelope, not here.

use crate::protocol::FieldError;
use crate::protocol::forms::common::{Officer, PROSE_MAX, not_future, opt_text};
use jiff::civil::Date;

/// The acknowledgement, as the operator fills it in.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// The officer now responsible for the case.
    pub responsible_officer: Officer,
    /// The day the officer took the case on.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub taken_on: Date,
    /// Anything the sender should know, e.g. when a first answer can be
    /// expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Acknowledgement {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        self.responsible_officer
            .validate("responsible_officer", errors);
        not_future(errors, "taken_on", self.taken_on, today);
        opt_text(errors, "notes", &self.notes, PROSE_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const EXAMPLE: &str = include_str!("../../../../config/forms/acknowledgement.json");

    fn today() -> Date {
        date(2026, 11, 23)
    }

    fn parse(json: &str) -> Result<Acknowledgement, String> {
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
        let back: Acknowledgement = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn broken_forms_name_the_field() {
        let e = edited(|v| v["taken_on"] = "2026-11-24".into());
        assert_eq!(e[0].field, "taken_on");
        let e = edited(|v| v["responsible_officer"]["organisation"] = "".into());
        assert_eq!(e[0].field, "responsible_officer.organisation");
        let e = edited(|v| v["notes"] = "\u{0}".into());
        assert_eq!(e[0].field, "notes");
        let e = edited(|v| {
            v.as_object_mut().unwrap().remove("notes");
        });
        assert_eq!(e, vec![]);
    }

    #[test]
    fn serde_rejects_unknown_keys_and_values() {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["received_at"] = "2026-11-20T10:00:00Z".into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(e.contains("received_at"), "{e}");

        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["responsible_officer"]["role"] = "clerk".into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(e.ends_with("at responsible_officer.role"), "{e}");

        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["taken_on"] = "20 Nov 2026".into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(e.ends_with("at taken_on"), "{e}");
    }
}
