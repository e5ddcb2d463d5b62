//! `social-inquiry-request`: the NFP where the child was found (R) asks the
//! NFP of the child's home country (H) to assess the family and community
//! (domain brief §1, message 5).

use crate::protocol::FieldError;
use crate::protocol::forms::common::{Child, FamilyMember, PROSE_MAX};
use crate::protocol::forms::text;
use jiff::civil::Date;

/// The request, as the operator fills it in.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SocialInquiryRequest {
    /// Who the child is.
    pub child: Child,
    /// Why the inquiry is requested.
    pub reason: Reason,
    /// Whether return to H is an option being considered.
    pub return_is_option: ReturnOption,
    /// The child's own account of their family and home.
    pub child_account: String,
    /// Family members the child named, for H to visit.
    #[serde(default)]
    pub family: Vec<FamilyMember>,
    /// What R asks H to find out.
    pub questions: Vec<String>,
}

/// Why a social inquiry is requested.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// To assess whether return to the family is in the child's best interests.
    AssessReturn,
    /// To assess the family's ability to care for the child.
    AssessFamilyCare,
    /// To support a best-interests determination already under way.
    BestInterestsDetermination,
    /// Another reason, explained in the questions.
    Other,
}

/// Whether return is an option.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ReturnOption {
    /// Return is an option.
    Yes,
    /// Return is not an option.
    No,
    /// Not yet decided.
    Undecided,
}

impl SocialInquiryRequest {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        self.child.validate("child", today, errors);
        text(errors, "child_account", &self.child_account, PROSE_MAX);
        if self.family.len() > 50 {
            errors.push(FieldError::new("family", "at most 50 family members"));
        }
        for (i, m) in self.family.iter().enumerate() {
            m.validate(&format!("family[{i}]"), errors);
        }
        if self.questions.is_empty() {
            errors.push(FieldError::new("questions", "ask at least one question"));
        }
        if self.questions.len() > 50 {
            errors.push(FieldError::new("questions", "at most 50 questions"));
        }
        for (i, q) in self.questions.iter().enumerate() {
            text(errors, &format!("questions[{i}]"), q, 2000);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::forms::{Form, Kind};
    use jiff::civil::date;
    use proptest::prelude::*;

    pub(crate) const EXAMPLE: &str =
        include_str!("../../../config/forms/social-inquiry-request.json");

    fn today() -> jiff::civil::Date {
        date(2026, 11, 23)
    }

    #[test]
    fn the_example_form_validates() {
        let f = Form::from_json(Kind::SocialInquiryRequest, EXAMPLE.as_bytes(), today()).unwrap();
        let back = Form::from_cbor(Kind::SocialInquiryRequest, &f.to_cbor(), today()).unwrap();
        assert_eq!(back, f);
    }

    fn edit(f: impl FnOnce(&mut serde_json::Value)) -> Vec<crate::protocol::FieldError> {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        f(&mut v);
        Form::from_json(
            Kind::SocialInquiryRequest,
            &serde_json::to_vec(&v).unwrap(),
            today(),
        )
        .unwrap_err()
    }

    #[test]
    fn errors_name_the_field() {
        let e = edit(|v| v["child"]["nationality"] = "Albania".into());
        assert_eq!(e[0].field, "child.nationality");
        let e = edit(|v| v["child"]["sex"] = "x".into());
        assert_eq!(e[0].field, "child.sex");
        let e = edit(|v| v["child"]["date_of_birth"] = "2031-01-01".into());
        assert_eq!(e[0].field, "child.date_of_birth");
        let e = edit(|v| v["questions"] = serde_json::json!([]));
        assert_eq!(e[0].field, "questions");
        let e = edit(|v| v["questions"][0] = "   ".into());
        assert_eq!(e[0].field, "questions[0]");
        let e = edit(|v| v["family"][0]["relationship"] = "cousin".into());
        assert_eq!(e[0].field, "family[0].relationship");
        let e = edit(|v| v["favourite_colour"] = "blue".into());
        assert!(e[0].message.contains("favourite_colour"), "{e:?}");
        let e = edit(|v| {
            v["child"].as_object_mut().unwrap().remove("given_names");
        });
        assert_eq!(e[0].field, "child.given_names");
        let e = edit(|v| {
            v["child"].as_object_mut().unwrap().remove("date_of_birth");
        });
        assert_eq!(e[0].field, "child.date_of_birth");
    }

    proptest! {
        #[test]
        fn cbor_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Form::from_cbor(Kind::SocialInquiryRequest, &bytes, today());
        }

        #[test]
        fn cbor_round_trips(q in "[a-zA-Z ]{1,40}", y in 2009i16..2026) {
            let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
            v["questions"][0] = q.clone().into();
            v["child"].as_object_mut().unwrap().remove("date_of_birth");
            v["child"]["birth_year"] = y.into();
            if let Ok(f) = Form::from_json(Kind::SocialInquiryRequest, &serde_json::to_vec(&v).unwrap(), today()) {
                let back = Form::from_cbor(Kind::SocialInquiryRequest, &f.to_cbor(), today()).unwrap();
                prop_assert_eq!(back, f);
            } else {
                prop_assert!(q.trim().is_empty());
            }
        }
    }
}
