//! `follow-up-request`: R asks H for a follow-up report on a child who has
//! returned (domain brief §1, message 15).

use super::FollowUpPoint;
use crate::protocol::FieldError;
use crate::protocol::forms::common::{not_future, text_list};
use jiff::civil::Date;

/// Longest question, in characters.
const QUESTION_MAX: usize = 2_000;
/// Most questions in one request.
const QUESTIONS_MAX: usize = 50;

/// The request, as the operator fills it in.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct FollowUpRequest {
    /// The day the child returned to H; the schedule counts from it.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub return_date: Date,
    /// Which follow-up in the schedule this is.
    pub follow_up: FollowUpPoint,
    /// The day by which R asks for the report.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub report_due: Date,
    /// What R especially wants to know; required for an ad-hoc request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<String>,
    /// Whether R asks for an on-site visit to the child.
    pub on_site_visit: bool,
}

impl FollowUpRequest {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        not_future(errors, "return_date", self.return_date, today);
        if self.report_due < self.return_date {
            errors.push(FieldError::new("report_due", "is before the return date"));
        }
        if self.follow_up == FollowUpPoint::AdHoc && self.questions.is_empty() {
            errors.push(FieldError::new(
                "questions",
                "an ad-hoc follow-up must say what it asks",
            ));
        }
        text_list(
            errors,
            "questions",
            &self.questions,
            0,
            QUESTIONS_MAX,
            QUESTION_MAX,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FieldError;
    use jiff::civil::date;

    const EXAMPLE: &str = include_str!("../../../../config/forms/follow-up-request.json");

    fn today() -> Date {
        date(2026, 11, 23)
    }

    fn parse(json: &str) -> Result<FollowUpRequest, String> {
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(json))
            .map_err(|e| format!("{} at {}", e.inner(), e.path()))
    }

    fn errors_of(f: &FollowUpRequest) -> Vec<FieldError> {
        let mut errors = Vec::new();
        f.validate(today(), &mut errors);
        errors
    }

    fn edited(change: impl FnOnce(&mut serde_json::Value)) -> Vec<FieldError> {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        change(&mut v);
        errors_of(&parse(&v.to_string()).unwrap())
    }

    #[test]
    fn the_example_validates() {
        let f = parse(EXAMPLE).unwrap();
        assert_eq!(errors_of(&f), vec![]);
    }

    #[test]
    fn cbor_round_trip() {
        let f = parse(EXAMPLE).unwrap();
        let mut bytes = Vec::new();
        ciborium::into_writer(&f, &mut bytes).unwrap();
        let back: FollowUpRequest = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn broken_forms_name_the_field() {
        let e = edited(|v| v["return_date"] = "2027-01-01".into());
        assert_eq!(e[0].field, "return_date");
        let e = edited(|v| v["report_due"] = "2020-01-01".into());
        assert_eq!(e[0].field, "report_due");
        let e = edited(|v| {
            v["follow_up"] = "ad-hoc".into();
            v.as_object_mut().unwrap().remove("questions");
        });
        assert_eq!(e[0].field, "questions");
        let e = edited(|v| v["questions"][1] = " ".into());
        assert_eq!(e[0].field, "questions[1]");
        let e = edited(|v| v["questions"] = vec!["Why?"; 51].into());
        assert_eq!(e[0].field, "questions");
    }

    #[test]
    fn questions_are_optional_on_a_scheduled_follow_up() {
        let e = edited(|v| {
            v["follow_up"] = "month-9".into();
            v.as_object_mut().unwrap().remove("questions");
        });
        assert_eq!(e, vec![]);
    }

    #[test]
    fn serde_rejects_unknown_keys_and_values() {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["urgent"] = true.into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(e.contains("urgent"), "{e}");

        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["follow_up"] = "month3".into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(e.ends_with("at follow_up"), "{e}");
    }

    #[test]
    fn schedule_points_are_kebab_case() {
        let all = [
            (FollowUpPoint::Month3, "month-3"),
            (FollowUpPoint::Month6, "month-6"),
            (FollowUpPoint::Month9, "month-9"),
            (FollowUpPoint::Month12, "month-12"),
            (FollowUpPoint::Month18, "month-18"),
            (FollowUpPoint::TwiceYearly, "twice-yearly"),
            (FollowUpPoint::Annual, "annual"),
            (FollowUpPoint::AdHoc, "ad-hoc"),
        ];
        for (p, s) in all {
            assert_eq!(serde_json::to_value(p).unwrap(), s);
            assert_eq!(
                serde_json::from_value::<FollowUpPoint>(s.into()).unwrap(),
                p
            );
        }
    }
}
