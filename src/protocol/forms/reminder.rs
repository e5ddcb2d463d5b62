//! `reminder`: sent by a node on its own when a deadline the peer owes
//! passes a reminder point agreed in the SLA. It names what is outstanding
//! and carries no personal data.

use crate::protocol::FieldError;
use crate::protocol::forms::Kind;
use crate::protocol::forms::common::{TimestampText, opt_text};
use crate::protocol::id::MessageId;
use jiff::civil::Date;

/// What is outstanding.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Reminder {
    /// The message still waiting for an answer.
    pub about: MessageId,
    /// Its kind.
    pub about_kind: Kind,
    /// When the answer is (or was) due.
    #[schemars(with = "TimestampText")]
    pub due: jiff::Timestamp,
    /// Which reminder this is (1 for the first).
    pub reminder: u32,
    /// Whether the deadline has passed.
    pub overdue: bool,
    /// A short note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl schemars::JsonSchema for Kind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Kind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        schemars::json_schema!({ "type": "string", "enum": names })
    }
}

impl Reminder {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, _today: Date, errors: &mut Vec<FieldError>) {
        if self.reminder == 0 || self.reminder > 100 {
            errors.push(FieldError::new("reminder", "must be between 1 and 100"));
        }
        opt_text(errors, "note", &self.note, 2000);
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::forms::{Form, Kind};

    #[test]
    fn the_example_validates_and_round_trips() {
        let today = jiff::civil::date(2026, 11, 23);
        let f = Form::from_json(
            Kind::Reminder,
            include_str!("../../../config/forms/reminder.json").as_bytes(),
            today,
        )
        .unwrap();
        assert_eq!(
            Form::from_cbor(Kind::Reminder, &f.to_cbor(), today).unwrap(),
            f
        );
        let bad = r#"{"about":"01M84RVHMSV890PY66W28100EF","about_kind":"case-update","due":"2026-11-20T10:00:00Z","reminder":0,"overdue":false}"#;
        let e = Form::from_json(Kind::Reminder, bad.as_bytes(), today).unwrap_err();
        assert_eq!(e[0].field, "reminder");
    }
}
