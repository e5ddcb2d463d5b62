//! `security-assessment-report`: H sends R its police's assessment of the
//! dangers the child would face on return (domain brief §1, message 8). Only
//! a police officer may author it, and it is kept apart from the social
//! inquiry (brief §4.5). R may not return the child unless this assessment
//! allows it (brief §4.7).

use crate::protocol::FieldError;
use crate::protocol::forms::common::{Officer, OfficerRole, PROSE_MAX, not_future, opt_text, text};
use jiff::civil::Date;

/// The report, as H's police officer fills it in.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SecurityAssessmentReport {
    /// The day the assessment was completed.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub assessment_date: Date,
    /// Who wrote it; always a police officer.
    pub author: Officer,
    /// Threats from traffickers to the child or the child's relatives.
    pub trafficker_threats: Risk,
    /// Risk that the child is trafficked again.
    pub re_trafficking_risk: Risk,
    /// Risk of crime or violence against the child in the community.
    pub community_violence_risk: Risk,
    /// Organised crime and other criminality in the community.
    pub community_criminality: String,
    /// Whether, from a security point of view, the child may return.
    pub recommendation: Recommendation,
    /// The protection the child or relatives would need. Required when the
    /// recommendation is `return-with-protection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_needed: Option<String>,
}

/// One assessed risk.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    /// How high the risk is.
    pub level: RiskLevel,
    /// What the level rests on.
    pub details: String,
}

/// How high a risk is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum RiskLevel {
    /// Nothing points to a risk.
    NoneKnown,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// The police recommendation on return.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Recommendation {
    /// Return is possible without special protection.
    ReturnPossible,
    /// Return is possible only with the protection described.
    ReturnWithProtection,
    /// Return is not advised.
    ReturnNotAdvised,
    /// No recommendation can be made yet.
    Undetermined,
}

impl SecurityAssessmentReport {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        not_future(errors, "assessment_date", self.assessment_date, today);
        self.author.validate("author", errors);
        if self.author.role != OfficerRole::PoliceOfficer {
            errors.push(FieldError::new(
                "author.role",
                "only a police officer may author the security assessment; the social \
                 worker's findings go in the social-inquiry-report",
            ));
        }
        let risks = [
            ("trafficker_threats", &self.trafficker_threats),
            ("re_trafficking_risk", &self.re_trafficking_risk),
            ("community_violence_risk", &self.community_violence_risk),
        ];
        for (name, risk) in risks {
            text(errors, &format!("{name}.details"), &risk.details, PROSE_MAX);
        }
        text(
            errors,
            "community_criminality",
            &self.community_criminality,
            PROSE_MAX,
        );
        if self.recommendation == Recommendation::ReturnPossible
            && let Some((name, _)) = risks.iter().find(|(_, r)| r.level == RiskLevel::High)
        {
            errors.push(FieldError::new(
                "recommendation",
                format!("{name} is high, so return cannot be recommended without protection"),
            ));
        }
        if self.recommendation == Recommendation::ReturnWithProtection
            && self.protection_needed.is_none()
        {
            errors.push(FieldError::new(
                "protection_needed",
                "describe the protection needed for a return-with-protection recommendation",
            ));
        }
        opt_text(
            errors,
            "protection_needed",
            &self.protection_needed,
            PROSE_MAX,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const EXAMPLE: &str = include_str!("../../../../config/forms/security-assessment-report.json");

    fn today() -> Date {
        date(2026, 11, 23)
    }

    fn example() -> serde_json::Value {
        serde_json::from_str(EXAMPLE).unwrap()
    }

    fn parse(v: &serde_json::Value) -> Result<SecurityAssessmentReport, String> {
        let bytes = serde_json::to_vec(v).unwrap();
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&bytes))
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    fn errors(v: &serde_json::Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        parse(v).unwrap().validate(today(), &mut errors);
        errors
    }

    fn fields(v: &serde_json::Value) -> Vec<String> {
        errors(v).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn the_example_validates() {
        let e = errors(&example());
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn cbor_round_trip() {
        let f = parse(&example()).unwrap();
        let mut out = Vec::new();
        ciborium::into_writer(&f, &mut out).unwrap();
        let back: SecurityAssessmentReport = ciborium::from_reader(out.as_slice()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn only_police_author_it() {
        for role in ["social-worker", "case-manager", "nfp-officer"] {
            let mut v = example();
            v["author"]["role"] = role.into();
            let e = errors(&v);
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].field, "author.role");
            assert!(e[0].message.contains("police officer"), "{e:?}");
        }
    }

    #[test]
    fn the_assessment_is_not_in_the_future() {
        let mut v = example();
        v["assessment_date"] = "2027-01-01".into();
        assert_eq!(fields(&v), ["assessment_date"]);
    }

    #[test]
    fn every_risk_is_explained() {
        let mut v = example();
        v["re_trafficking_risk"]["details"] = "".into();
        v["community_criminality"] = " \t ".into();
        assert_eq!(
            fields(&v),
            ["re_trafficking_risk.details", "community_criminality"]
        );
    }

    #[test]
    fn a_high_risk_needs_more_than_plain_return() {
        let mut v = example();
        v["recommendation"] = "return-possible".into();
        v["community_violence_risk"]["level"] = "high".into();
        let e = errors(&v);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "recommendation");
        assert!(e[0].message.contains("community_violence_risk"), "{e:?}");
    }

    #[test]
    fn return_with_protection_says_which() {
        let mut v = example();
        v.as_object_mut().unwrap().remove("protection_needed");
        assert_eq!(fields(&v), ["protection_needed"]);
        v["recommendation"] = "return-not-advised".into();
        assert_eq!(fields(&v), Vec::<String>::new());
    }

    #[test]
    fn type_errors_name_the_field() {
        let mut v = example();
        v["trafficker_threats"]["level"] = "severe".into();
        let e = parse(&v).unwrap_err();
        assert!(e.starts_with("trafficker_threats.level:"), "{e}");
        let mut v = example();
        v["assessment_date"] = "23/11/2026".into();
        let e = parse(&v).unwrap_err();
        assert!(e.starts_with("assessment_date:"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let mut v = example();
        v["trafficker_threats"]["score"] = 7.into();
        let e = parse(&v).unwrap_err();
        assert!(e.starts_with("trafficker_threats"), "{e}");
        assert!(e.contains("score"), "{e}");
        let mut v = example();
        v["family_risks"] = "none".into();
        assert!(parse(&v).unwrap_err().contains("family_risks"));
    }
}
