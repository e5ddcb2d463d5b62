//! `security-assessment-request`: R asks H for a police assessment of the
//! dangers the child would face on return (domain brief §1, message 8). H
//! passes it to its police, apart from the social inquiry.

use crate::protocol::FieldError;
use crate::protocol::forms::common::{
    Child, NAME_MAX, PROSE_MAX, max_items, opt_text, text, text_list,
};
use jiff::civil::Date;

/// Most questions one request asks.
const QUESTIONS_MAX: usize = 50;
/// Longest question, in characters.
const QUESTION_LEN: usize = 2_000;
/// Most persons of concern one request names.
const PERSONS_MAX: usize = 30;
/// Longest note about one person, in characters.
const NOTES_MAX: usize = 4_000;

/// The request, as R's operator fills it in.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SecurityAssessmentRequest {
    /// Who the child is.
    pub child: Child,
    /// What R knows of how the child was recruited, moved and exploited.
    pub trafficking_situation: String,
    /// What R asks H's police to find out.
    pub questions: Vec<String>,
    /// People R believes may threaten the child or relatives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub persons_of_concern: Vec<PersonOfConcern>,
}

/// Someone who may be a danger to the child (personal data, sensitive).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct PersonOfConcern {
    /// Given names, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_names: Option<String>,
    /// Family name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// How the person is connected to the child.
    pub relationship: ConcernRelationship,
    /// What is known: nicknames, description, whereabouts, part played.
    pub notes: String,
}

/// How a person of concern is connected to the child.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ConcernRelationship {
    /// Mother, father or step-parent.
    Parent,
    /// Brother or sister.
    Sibling,
    /// Another relative.
    OtherRelative,
    /// A friend of the family.
    FamilyFriend,
    /// The child's boyfriend, girlfriend or partner.
    Partner,
    /// A neighbour or acquaintance.
    Acquaintance,
    /// Someone who recruited the child.
    Recruiter,
    /// Someone who moved or held the child.
    Trafficker,
    /// Someone who profited from the child's exploitation.
    Exploiter,
    /// Another connection, explained in the notes.
    Other,
    /// Not known.
    Unknown,
}

impl SecurityAssessmentRequest {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        self.child.validate("child", today, errors);
        text(
            errors,
            "trafficking_situation",
            &self.trafficking_situation,
            PROSE_MAX,
        );
        text_list(
            errors,
            "questions",
            &self.questions,
            1,
            QUESTIONS_MAX,
            QUESTION_LEN,
        );
        max_items(
            errors,
            "persons_of_concern",
            &self.persons_of_concern,
            PERSONS_MAX,
        );
        for (i, p) in self.persons_of_concern.iter().enumerate() {
            p.validate(&format!("persons_of_concern[{i}]"), errors);
        }
    }
}

impl PersonOfConcern {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        opt_text(
            errors,
            &format!("{at}.given_names"),
            &self.given_names,
            NAME_MAX,
        );
        opt_text(
            errors,
            &format!("{at}.family_name"),
            &self.family_name,
            NAME_MAX,
        );
        text(errors, &format!("{at}.notes"), &self.notes, NOTES_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use serde_json::json;

    const EXAMPLE: &str = include_str!("../../../../config/forms/security-assessment-request.json");

    fn today() -> Date {
        date(2026, 11, 23)
    }

    fn example() -> serde_json::Value {
        serde_json::from_str(EXAMPLE).unwrap()
    }

    fn parse(v: &serde_json::Value) -> Result<SecurityAssessmentRequest, String> {
        let bytes = serde_json::to_vec(v).unwrap();
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&bytes))
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    fn fields(v: &serde_json::Value) -> Vec<String> {
        let mut errors = Vec::new();
        parse(v).unwrap().validate(today(), &mut errors);
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn the_example_validates() {
        assert_eq!(fields(&example()), Vec::<String>::new());
    }

    #[test]
    fn cbor_round_trip() {
        let f = parse(&example()).unwrap();
        let mut out = Vec::new();
        ciborium::into_writer(&f, &mut out).unwrap();
        let back: SecurityAssessmentRequest = ciborium::from_reader(out.as_slice()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn at_least_one_question() {
        let mut v = example();
        v["questions"] = json!([]);
        assert_eq!(fields(&v), ["questions"]);
    }

    #[test]
    fn at_most_fifty_questions() {
        let mut v = example();
        v["questions"] = json!(vec!["Is the uncle known to police?"; 51]);
        assert_eq!(fields(&v), ["questions"]);
    }

    #[test]
    fn a_blank_question_is_refused() {
        let mut v = example();
        v["questions"][1] = "  ".into();
        assert_eq!(fields(&v), ["questions[1]"]);
    }

    #[test]
    fn the_child_is_born_in_the_past() {
        let mut v = example();
        v["child"]["date_of_birth"] = "2026-12-01".into();
        assert_eq!(fields(&v), ["child.date_of_birth"]);
    }

    #[test]
    fn persons_of_concern_are_checked() {
        let mut v = example();
        v["persons_of_concern"][0]["given_names"] = "".into();
        v["persons_of_concern"][1]["notes"] = "\n".into();
        assert_eq!(
            fields(&v),
            [
                "persons_of_concern[0].given_names",
                "persons_of_concern[1].notes"
            ]
        );
        let mut v = example();
        v["persons_of_concern"] = json!(vec![v["persons_of_concern"][0].clone(); 31]);
        assert_eq!(fields(&v), ["persons_of_concern"]);
    }

    #[test]
    fn persons_of_concern_may_be_left_out() {
        let mut v = example();
        v.as_object_mut().unwrap().remove("persons_of_concern");
        assert_eq!(fields(&v), Vec::<String>::new());
    }

    #[test]
    fn type_errors_name_the_field() {
        let mut v = example();
        v["persons_of_concern"][1]["relationship"] = "boss".into();
        let e = parse(&v).unwrap_err();
        assert!(e.starts_with("persons_of_concern[1].relationship:"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let mut v = example();
        v["persons_of_concern"][0]["phone"] = "000".into();
        let e = parse(&v).unwrap_err();
        assert!(e.starts_with("persons_of_concern[0]"), "{e}");
        assert!(e.contains("phone"), "{e}");
        let mut v = example();
        v["deadline"] = "2026-12-01".into();
        assert!(parse(&v).unwrap_err().contains("deadline"));
    }
}
