//! `follow-up-report`: H tells R how the returned child is doing, with a
//! score card over the agreed monitoring domains (domain brief §1, messages
//! 15 and 16).

use super::FollowUpPoint;
use crate::protocol::FieldError;
use crate::protocol::forms::common::{
    Officer, PROSE_MAX, YesNoUnknown, max_items, not_future, opt_text,
};
use jiff::civil::Date;

/// Most entries on one score card.
const CARD_MAX: usize = 32;

/// The eight monitoring domains scored unless an agreement says otherwise,
/// in the order they are usually reported.
pub const DEFAULT_DOMAINS: &[ScoreDomain] = &[
    ScoreDomain::EducationWork,
    ScoreDomain::SocialIntegration,
    ScoreDomain::Housing,
    ScoreDomain::HealthLifestyle,
    ScoreDomain::Legal,
    ScoreDomain::FamilyRelations,
    ScoreDomain::Safety,
    ScoreDomain::SocioEconomic,
];

/// The report, as H's officer fills it in.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct FollowUpReport {
    /// The day the report was written.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub report_date: Date,
    /// Which follow-up in the schedule the report answers.
    pub period: FollowUpPoint,
    /// Whether a reintegration plan is in place.
    pub plan_in_place: YesNoUnknown,
    /// How the child has progressed since the last report.
    pub progress: Progress,
    /// Whether reprisals against the child or stigma were observed.
    pub reprisals_or_stigma: YesNoUnknown,
    /// Whether local services and police see a risk of re-trafficking.
    pub re_trafficking_risk: YesNoUnknown,
    /// One score per monitoring domain.
    pub score_card: Vec<DomainScore>,
    /// What the author proposes to do next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposals: Option<String>,
    /// Extra resources the author asks for, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_resources: Option<String>,
    /// Who wrote the report.
    pub author: Officer,
}

/// How the child has progressed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Progress {
    /// Good progress.
    Good,
    /// Some progress.
    Some,
    /// No progress.
    None,
    /// The situation has become worse.
    Deteriorating,
}

/// One line of the score card.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct DomainScore {
    /// The domain scored.
    pub domain: ScoreDomain,
    /// The score given.
    pub score: Score,
    /// What lies behind the score; required for a red flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// A monitoring domain of the score card.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreDomain {
    /// Schooling, vocational training or work.
    EducationWork,
    /// Friends, community and social life.
    SocialIntegration,
    /// Where and how the child lives.
    Housing,
    /// Physical and mental health, habits.
    HealthLifestyle,
    /// Legal status and proceedings.
    Legal,
    /// Relations with parents and relatives.
    FamilyRelations,
    /// Threats to the child's safety.
    Safety,
    /// The household's economic conditions.
    SocioEconomic,
}

impl ScoreDomain {
    /// The code used in forms, e.g. `education-work`.
    fn code(self) -> &'static str {
        match self {
            ScoreDomain::EducationWork => "education-work",
            ScoreDomain::SocialIntegration => "social-integration",
            ScoreDomain::Housing => "housing",
            ScoreDomain::HealthLifestyle => "health-lifestyle",
            ScoreDomain::Legal => "legal",
            ScoreDomain::FamilyRelations => "family-relations",
            ScoreDomain::Safety => "safety",
            ScoreDomain::SocioEconomic => "socio-economic",
        }
    }
}

/// A score on the card. A red flag calls for urgent consultation between
/// the two NFPs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Score {
    /// Good.
    Good,
    /// Satisfactory.
    Satisfactory,
    /// Below expectations.
    BelowExpectations,
    /// Red flag: the child may be at risk.
    RedFlag,
}

impl FollowUpReport {
    /// Pushes every rule broken onto `errors`, scoring the card against
    /// [`DEFAULT_DOMAINS`].
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        not_future(errors, "report_date", self.report_date, today);
        max_items(errors, "score_card", &self.score_card, CARD_MAX);
        for (i, line) in self.score_card.iter().enumerate() {
            let at = format!("score_card[{i}].notes");
            if line.score == Score::RedFlag && line.notes.is_none() {
                errors.push(FieldError::new(at, "explain a red-flag score"));
            } else {
                opt_text(errors, &at, &line.notes, PROSE_MAX);
            }
        }
        self.check_domains(DEFAULT_DOMAINS, errors);
        opt_text(errors, "proposals", &self.proposals, PROSE_MAX);
        opt_text(errors, "extra_resources", &self.extra_resources, PROSE_MAX);
        self.author.validate("author", errors);
    }

    /// Checks that the score card scores exactly `domains`, each once.
    /// An agreement may set its own domains; [`validate`](Self::validate)
    /// uses [`DEFAULT_DOMAINS`].
    pub fn check_domains(&self, domains: &[ScoreDomain], errors: &mut Vec<FieldError>) {
        for (i, line) in self.score_card.iter().enumerate() {
            let at = format!("score_card[{i}].domain");
            if self.score_card[..i].iter().any(|l| l.domain == line.domain) {
                errors.push(FieldError::new(
                    at,
                    format!("{} is scored more than once", line.domain.code()),
                ));
            } else if !domains.contains(&line.domain) {
                errors.push(FieldError::new(
                    at,
                    format!("{} is not a domain of this agreement", line.domain.code()),
                ));
            }
        }
        for (i, d) in domains.iter().enumerate() {
            let first = !domains[..i].contains(d);
            if first && !self.score_card.iter().any(|l| l.domain == *d) {
                errors.push(FieldError::new(
                    "score_card",
                    format!("{} is not scored", d.code()),
                ));
            }
        }
    }

    /// Whether any domain is scored red flag, which calls for urgent
    /// consultation between the NFPs.
    #[must_use]
    pub fn has_red_flag(&self) -> bool {
        self.score_card.iter().any(|l| l.score == Score::RedFlag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const EXAMPLE: &str = include_str!("../../../../config/forms/follow-up-report.json");

    fn today() -> Date {
        date(2026, 11, 23)
    }

    fn parse(json: &str) -> Result<FollowUpReport, String> {
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(json))
            .map_err(|e| format!("{} at {}", e.inner(), e.path()))
    }

    fn errors_of(f: &FollowUpReport) -> Vec<FieldError> {
        let mut errors = Vec::new();
        f.validate(today(), &mut errors);
        errors
    }

    fn example() -> serde_json::Value {
        serde_json::from_str(EXAMPLE).unwrap()
    }

    fn edited(change: impl FnOnce(&mut serde_json::Value)) -> Vec<FieldError> {
        let mut v = example();
        change(&mut v);
        errors_of(&parse(&v.to_string()).unwrap())
    }

    fn card(v: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
        v["score_card"].as_array_mut().unwrap()
    }

    #[test]
    fn the_example_validates() {
        let f = parse(EXAMPLE).unwrap();
        assert_eq!(errors_of(&f), vec![]);
        assert!(!f.has_red_flag());
        let codes: Vec<ScoreDomain> = f.score_card.iter().map(|l| l.domain).collect();
        assert_eq!(codes, DEFAULT_DOMAINS);
    }

    #[test]
    fn cbor_round_trip() {
        let f = parse(EXAMPLE).unwrap();
        let mut bytes = Vec::new();
        ciborium::into_writer(&f, &mut bytes).unwrap();
        let back: FollowUpReport = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn a_domain_scored_twice() {
        let e = edited(|v| card(v)[3]["domain"] = "housing".into());
        assert_eq!(e[0].field, "score_card[3].domain");
        assert!(e[0].message.contains("more than once"), "{e:?}");
        // health-lifestyle, replaced above, is now missing.
        assert_eq!(e[1].field, "score_card");
        assert!(e[1].message.contains("health-lifestyle"), "{e:?}");
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn a_red_flag_needs_notes() {
        let e = edited(|v| {
            card(v)[6]["score"] = "red-flag".into();
            card(v)[6].as_object_mut().unwrap().remove("notes");
        });
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "score_card[6].notes");
        let e = edited(|v| card(v)[6]["notes"] = "".into());
        assert_eq!(e[0].field, "score_card[6].notes");
    }

    #[test]
    fn a_red_flag_with_notes_is_valid_and_flagged() {
        let mut v = example();
        card(&mut v)[6]["score"] = "red-flag".into();
        card(&mut v)[6]["notes"] = "A stranger asked neighbours where the girl lives.".into();
        let f = parse(&v.to_string()).unwrap();
        assert_eq!(errors_of(&f), vec![]);
        assert!(f.has_red_flag());
    }

    #[test]
    fn a_default_domain_missing() {
        let e = edited(|v| {
            card(v).remove(7);
        });
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "score_card");
        assert!(e[0].message.contains("socio-economic"), "{e:?}");
    }

    #[test]
    fn other_fields_are_checked() {
        let e = edited(|v| v["report_date"] = "2026-11-24".into());
        assert_eq!(e[0].field, "report_date");
        let e = edited(|v| v["author"]["name"] = " ".into());
        assert_eq!(e[0].field, "author.name");
        let e = edited(|v| v["proposals"] = "\u{7}".into());
        assert_eq!(e[0].field, "proposals");
        let e = edited(|v| {
            let line = card(v)[0].clone();
            card(v).extend(std::iter::repeat_n(line, 40));
        });
        assert_eq!(e[0].field, "score_card");
    }

    #[test]
    fn an_agreement_may_set_its_own_domains() {
        let mut v = example();
        card(&mut v).remove(7);
        let f = parse(&v.to_string()).unwrap();
        let seven = &DEFAULT_DOMAINS[..7];
        let mut e = Vec::new();
        f.check_domains(seven, &mut e);
        assert_eq!(e, vec![]);

        let f = parse(EXAMPLE).unwrap();
        let mut e = Vec::new();
        f.check_domains(seven, &mut e);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "score_card[7].domain");
    }

    #[test]
    fn serde_rejects_unknown_keys_and_values() {
        let mut v = example();
        v["mood"] = "fine".into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(e.contains("mood"), "{e}");

        let mut v = example();
        card(&mut v)[2]["weight"] = 3.into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(
            e.contains("weight") && e.ends_with("at score_card[2].weight"),
            "{e}"
        );

        let mut v = example();
        card(&mut v)[2]["score"] = "excellent".into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(e.ends_with("at score_card[2].score"), "{e}");

        let mut v = example();
        card(&mut v)[1]["domain"] = "education".into();
        let e = parse(&v.to_string()).unwrap_err();
        assert!(e.ends_with("at score_card[1].domain"), "{e}");
    }

    #[test]
    fn domain_codes_match_serde() {
        for d in DEFAULT_DOMAINS {
            assert_eq!(serde_json::to_value(d).unwrap(), d.code());
        }
        let scores = [
            (Score::Good, "good"),
            (Score::Satisfactory, "satisfactory"),
            (Score::BelowExpectations, "below-expectations"),
            (Score::RedFlag, "red-flag"),
        ];
        for (s, code) in scores {
            assert_eq!(serde_json::to_value(s).unwrap(), code);
        }
    }
}
