//! `social-inquiry-report`: H answers R's social inquiry request with a
//! family assessment (part 1) and a community assessment (part 2) (domain
//! brief §1, messages 6 and 7). Social workers write it; a police officer may
//! not (brief §4.5).

use crate::protocol::FieldError;
use crate::protocol::forms::common::{
    NAME_MAX, Officer, OfficerRole, PROSE_MAX, SHORT_MAX, max_items, not_future, opt_text, text,
    text_list,
};
use jiff::civil::Date;

/// Most household members one report lists.
const HOUSEHOLD_MAX: usize = 40;
/// Most support organisations one part of the report lists.
const ORGANISATIONS_MAX: usize = 30;
/// Highest age, in years, accepted for a household member.
const AGE_MAX: u8 = 120;

/// The report, as H's social worker fills it in.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SocialInquiryReport {
    /// Part 1: the family.
    pub part1: FamilyAssessment,
    /// Part 2: the community the child would return to.
    pub part2: CommunityAssessment,
}

/// Part 1 of the report: the family assessment.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct FamilyAssessment {
    /// Date of the home visit, or of the attempt when the family refused it.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub visit_date: Date,
    /// Who wrote this part; never a police officer.
    pub author: Officer,
    /// Whether the family refused the home visit. When it did, part 2 must
    /// say what was learned about the family from the community.
    pub family_refused_visit: bool,
    /// The people living in the household. May be empty only when the family
    /// refused the visit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub household: Vec<HouseholdMember>,
    /// Housing, income and daily life of the household.
    pub living_situation: String,
    /// Whether the family can meet the child's basic needs.
    pub basic_needs: BasicNeeds,
    /// Whether the family is willing to take the child back.
    pub willing_to_take_back: Willingness,
    /// Risks to the child from family members or their associates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_risks: Option<String>,
    /// Protection concerns found; each code at most once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protection_concerns: Vec<ProtectionConcern>,
    /// Whether the family is a suitable place for the child.
    pub suitability: Suitability,
    /// How the family and child should be prepared, and what support they need.
    pub preparation_and_support: String,
    /// Organisations that could support the family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub support_organisations: Vec<String>,
    /// The author's conclusions.
    pub conclusions: String,
}

/// A person living in the household (personal data).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct HouseholdMember {
    /// Relationship to the child.
    pub relationship: HouseholdRelationship,
    /// Given names.
    pub given_names: String,
    /// Family name.
    pub family_name: String,
    /// Age in years, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<u8>,
    /// Year of birth, when the age is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_year: Option<i16>,
    /// Occupation or main source of income.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupation: Option<String>,
}

/// Relationship of a household member to the child.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum HouseholdRelationship {
    /// Mother.
    Mother,
    /// Father.
    Father,
    /// Step-mother or step-father.
    StepParent,
    /// A parent's partner who is not a step-parent.
    ParentsPartner,
    /// Brother or sister, including half- and step-siblings.
    Sibling,
    /// Grandparent.
    Grandparent,
    /// Aunt or uncle.
    AuntOrUncle,
    /// Cousin.
    Cousin,
    /// Another relative.
    OtherRelative,
    /// Legal guardian who is not a relative.
    LegalGuardian,
    /// Someone living in the household who is not related to the child.
    NotRelated,
}

/// The family's ability to meet the child's basic needs.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct BasicNeeds {
    /// Overall judgement.
    pub ability: Ability,
    /// What the judgement rests on: food, shelter, health care, schooling.
    pub details: String,
}

/// How far the family can meet the child's basic needs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Ability {
    /// Able to meet them.
    Able,
    /// Able to meet some of them.
    PartlyAble,
    /// Unable to meet them.
    Unable,
}

/// Whether the family is willing to take the child back.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Willingness {
    /// Willing.
    Yes,
    /// Not willing.
    No,
    /// The family has not made up its mind.
    Undecided,
    /// Could not be found out, for instance because the family refused the visit.
    Unknown,
}

/// A protection concern found in the family, from the agreed checklist.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProtectionConcern {
    /// The child's needs are neglected.
    Neglect,
    /// The child is thrown out of the home or abandoned.
    EvictionOrAbandonment,
    /// The child is stigmatised.
    Stigma,
    /// The child is harassed.
    Harassment,
    /// Emotional abuse.
    EmotionalAbuse,
    /// Sexual abuse.
    SexualAbuse,
    /// Physical abuse.
    PhysicalAbuse,
    /// Bullying.
    Bullying,
    /// The child may be trafficked again.
    ReTrafficking,
    /// Housework beyond what suits the child's age.
    ExcessiveHousework,
    /// The child is kept out of school.
    NoSchooling,
    /// The child is sent to live or work elsewhere.
    SentElsewhere,
    /// The child is made to work instead of going to school.
    WorkInsteadOfSchool,
    /// Work that is hard or dangerous for a child.
    HarshWork,
    /// Forced or early marriage.
    ForcedMarriage,
    /// The child may be sold.
    Sale,
    /// Adults in the household behave in ways that harm the child.
    HarmfulAdultBehaviour,
}

impl ProtectionConcern {
    /// Every code on the checklist.
    pub const ALL: &'static [ProtectionConcern] = &[
        ProtectionConcern::Neglect,
        ProtectionConcern::EvictionOrAbandonment,
        ProtectionConcern::Stigma,
        ProtectionConcern::Harassment,
        ProtectionConcern::EmotionalAbuse,
        ProtectionConcern::SexualAbuse,
        ProtectionConcern::PhysicalAbuse,
        ProtectionConcern::Bullying,
        ProtectionConcern::ReTrafficking,
        ProtectionConcern::ExcessiveHousework,
        ProtectionConcern::NoSchooling,
        ProtectionConcern::SentElsewhere,
        ProtectionConcern::WorkInsteadOfSchool,
        ProtectionConcern::HarshWork,
        ProtectionConcern::ForcedMarriage,
        ProtectionConcern::Sale,
        ProtectionConcern::HarmfulAdultBehaviour,
    ];
}

/// Whether a family or community is a suitable place for the child.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Suitability {
    /// Suitable as it is.
    Suitable,
    /// Suitable if the support described is given.
    SuitableWithSupport,
    /// Not suitable.
    NotSuitable,
    /// Cannot be judged yet.
    Undetermined,
}

/// Part 2 of the report: the community assessment.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct CommunityAssessment {
    /// Schooling, vocational training and work open to the child.
    pub education_and_work: Opportunities,
    /// Local services set against the child's needs.
    pub services_vs_needs: NeedsCoverage,
    /// Risks to the child in the community, such as stigma.
    pub community_risks: String,
    /// What neighbours, school staff or local officials say about the family.
    /// Required when the family refused the home visit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_information: Option<String>,
    /// Whether the community is a suitable place for the child.
    pub suitability: Suitability,
    /// Organisations in the community that could support the child.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub support_organisations: Vec<String>,
}

/// Schooling, training and work open to the child.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Opportunities {
    /// Overall judgement.
    pub availability: Availability,
    /// Which schools, courses or jobs, and on what terms.
    pub details: String,
}

/// How available something is to the child.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Availability {
    /// Available.
    Available,
    /// Available with limits, such as distance, cost or waiting lists.
    Limited,
    /// Not available.
    NotAvailable,
    /// Not known.
    Unknown,
}

/// How local services meet the child's needs over time.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct NeedsCoverage {
    /// The first weeks after return.
    pub short_term: String,
    /// The first months after return.
    pub medium_term: String,
    /// Until the child is an adult and settled.
    pub long_term: String,
}

impl SocialInquiryReport {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        self.part1.validate("part1", today, errors);
        self.part2.validate("part2", errors);
        if self.part1.family_refused_visit && self.part2.community_information.is_none() {
            errors.push(FieldError::new(
                "part2.community_information",
                "the family refused the visit (part1.family_refused_visit), so say what \
                 was learned about the family from the community",
            ));
        }
    }
}

impl FamilyAssessment {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, today: Date, errors: &mut Vec<FieldError>) {
        not_future(errors, &format!("{at}.visit_date"), self.visit_date, today);
        self.author.validate(&format!("{at}.author"), errors);
        if self.author.role == OfficerRole::PoliceOfficer {
            errors.push(FieldError::new(
                format!("{at}.author.role"),
                "a police officer may not author the social inquiry report; a social \
                 worker writes it, and threats from traffickers go in the police \
                 security-assessment-report",
            ));
        }
        if self.household.is_empty() && !self.family_refused_visit {
            errors.push(FieldError::new(
                format!("{at}.household"),
                "list at least one household member (may be empty only when the family \
                 refused the visit)",
            ));
        }
        max_items(
            errors,
            &format!("{at}.household"),
            &self.household,
            HOUSEHOLD_MAX,
        );
        for (i, m) in self.household.iter().enumerate() {
            m.validate(&format!("{at}.household[{i}]"), today, errors);
        }
        text(
            errors,
            &format!("{at}.living_situation"),
            &self.living_situation,
            PROSE_MAX,
        );
        text(
            errors,
            &format!("{at}.basic_needs.details"),
            &self.basic_needs.details,
            PROSE_MAX,
        );
        opt_text(
            errors,
            &format!("{at}.family_risks"),
            &self.family_risks,
            PROSE_MAX,
        );
        for (i, code) in self.protection_concerns.iter().enumerate() {
            if let Some(first) = self.protection_concerns[..i].iter().position(|c| c == code) {
                errors.push(FieldError::new(
                    format!("{at}.protection_concerns[{i}]"),
                    format!("repeats the code at protection_concerns[{first}]"),
                ));
            }
        }
        if self.willing_to_take_back == Willingness::No
            && matches!(
                self.suitability,
                Suitability::Suitable | Suitability::SuitableWithSupport
            )
        {
            errors.push(FieldError::new(
                format!("{at}.suitability"),
                "a family that is not willing to take the child back cannot be suitable",
            ));
        }
        text(
            errors,
            &format!("{at}.preparation_and_support"),
            &self.preparation_and_support,
            PROSE_MAX,
        );
        text_list(
            errors,
            &format!("{at}.support_organisations"),
            &self.support_organisations,
            0,
            ORGANISATIONS_MAX,
            SHORT_MAX,
        );
        text(
            errors,
            &format!("{at}.conclusions"),
            &self.conclusions,
            PROSE_MAX,
        );
    }
}

impl HouseholdMember {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, today: Date, errors: &mut Vec<FieldError>) {
        text(
            errors,
            &format!("{at}.given_names"),
            &self.given_names,
            NAME_MAX,
        );
        text(
            errors,
            &format!("{at}.family_name"),
            &self.family_name,
            NAME_MAX,
        );
        match (self.age, self.birth_year) {
            (Some(_), Some(_)) => errors.push(FieldError::new(
                format!("{at}.birth_year"),
                "give either age or birth_year, not both",
            )),
            (None, None) => errors.push(FieldError::new(
                format!("{at}.age"),
                "give age, or birth_year when that is what is known",
            )),
            (Some(a), None) => {
                if a > AGE_MAX {
                    errors.push(FieldError::new(
                        format!("{at}.age"),
                        format!("must be at most {AGE_MAX}"),
                    ));
                }
            }
            (None, Some(y)) => {
                let now = i32::from(today.year());
                let oldest = now - i32::from(AGE_MAX);
                if !(oldest..=now).contains(&i32::from(y)) {
                    errors.push(FieldError::new(
                        format!("{at}.birth_year"),
                        format!("must be between {oldest} and {now}"),
                    ));
                }
            }
        }
        opt_text(
            errors,
            &format!("{at}.occupation"),
            &self.occupation,
            SHORT_MAX,
        );
    }
}

impl CommunityAssessment {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        text(
            errors,
            &format!("{at}.education_and_work.details"),
            &self.education_and_work.details,
            PROSE_MAX,
        );
        let needs = &self.services_vs_needs;
        for (name, value) in [
            ("short_term", &needs.short_term),
            ("medium_term", &needs.medium_term),
            ("long_term", &needs.long_term),
        ] {
            text(
                errors,
                &format!("{at}.services_vs_needs.{name}"),
                value,
                PROSE_MAX,
            );
        }
        text(
            errors,
            &format!("{at}.community_risks"),
            &self.community_risks,
            PROSE_MAX,
        );
        opt_text(
            errors,
            &format!("{at}.community_information"),
            &self.community_information,
            PROSE_MAX,
        );
        text_list(
            errors,
            &format!("{at}.support_organisations"),
            &self.support_organisations,
            0,
            ORGANISATIONS_MAX,
            SHORT_MAX,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FieldError;
    use jiff::civil::date;
    use serde_json::json;

    const EXAMPLE: &str = include_str!("../../../../config/forms/social-inquiry-report.json");

    fn today() -> Date {
        date(2026, 11, 23)
    }

    fn example() -> serde_json::Value {
        serde_json::from_str(EXAMPLE).unwrap()
    }

    fn parse(v: &serde_json::Value) -> Result<SocialInquiryReport, String> {
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
        let back: SocialInquiryReport = ciborium::from_reader(out.as_slice()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn a_police_officer_cannot_author_it() {
        let mut v = example();
        v["part1"]["author"]["role"] = "police-officer".into();
        let e = errors(&v);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "part1.author.role");
        assert!(e[0].message.contains("police officer"), "{e:?}");
    }

    #[test]
    fn a_concern_code_may_not_repeat() {
        let mut v = example();
        v["part1"]["protection_concerns"] = json!(["stigma", "no-schooling", "stigma"]);
        assert_eq!(fields(&v), ["part1.protection_concerns[2]"]);
    }

    #[test]
    fn the_visit_is_not_in_the_future() {
        let mut v = example();
        v["part1"]["visit_date"] = "2026-11-24".into();
        assert_eq!(fields(&v), ["part1.visit_date"]);
    }

    #[test]
    fn a_refused_visit_needs_community_information() {
        let mut v = example();
        v["part1"]["family_refused_visit"] = true.into();
        v["part1"]["household"] = json!([]);
        v["part2"]
            .as_object_mut()
            .unwrap()
            .remove("community_information");
        assert_eq!(fields(&v), ["part2.community_information"]);
        v["part2"]["community_information"] =
            "Neighbours say the family moved in last year.".into();
        assert_eq!(fields(&v), Vec::<String>::new());
    }

    #[test]
    fn the_household_is_empty_only_after_a_refused_visit() {
        let mut v = example();
        v["part1"]["household"] = json!([]);
        assert_eq!(fields(&v), ["part1.household"]);
    }

    #[test]
    fn household_members_give_an_age_or_a_birth_year() {
        let mut v = example();
        v["part1"]["household"][1]["age"] = 40.into();
        v["part1"]["household"][1]["birth_year"] = 1986.into();
        v["part1"]["household"][2]
            .as_object_mut()
            .unwrap()
            .remove("age");
        assert_eq!(
            fields(&v),
            ["part1.household[1].birth_year", "part1.household[2].age"]
        );
        v["part1"]["household"][1]
            .as_object_mut()
            .unwrap()
            .remove("age");
        v["part1"]["household"][1]["birth_year"] = 2027.into();
        v["part1"]["household"][2]["age"] = 121.into();
        assert_eq!(
            fields(&v),
            ["part1.household[1].birth_year", "part1.household[2].age"]
        );
    }

    #[test]
    fn an_unwilling_family_is_not_suitable() {
        let mut v = example();
        v["part1"]["willing_to_take_back"] = "no".into();
        assert_eq!(fields(&v), ["part1.suitability"]);
    }

    #[test]
    fn blank_prose_is_refused() {
        let mut v = example();
        v["part1"]["conclusions"] = " ".into();
        v["part2"]["services_vs_needs"]["medium_term"] = "".into();
        v["part2"]["support_organisations"][0] = "\u{7}".into();
        assert_eq!(
            fields(&v),
            [
                "part1.conclusions",
                "part2.services_vs_needs.medium_term",
                "part2.support_organisations[0]"
            ]
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let mut v = example();
        v["part1"]["household"][2]["relationship"] = "lodger".into();
        let e = parse(&v).unwrap_err();
        assert!(e.starts_with("part1.household[2].relationship:"), "{e}");
        let mut v = example();
        v["part1"]["protection_concerns"][0] = "re_trafficking".into();
        let e = parse(&v).unwrap_err();
        assert!(e.starts_with("part1.protection_concerns[0]:"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let mut v = example();
        v["part1"]["basic_needs"]["score"] = 3.into();
        let e = parse(&v).unwrap_err();
        assert!(e.starts_with("part1.basic_needs"), "{e}");
        assert!(e.contains("score"), "{e}");
        let mut v = example();
        v["part3"] = json!({});
        assert!(parse(&v).unwrap_err().contains("part3"));
    }

    #[test]
    fn concern_codes_are_the_agreed_ones() {
        let codes = serde_json::to_value(ProtectionConcern::ALL).unwrap();
        assert_eq!(
            codes,
            json!([
                "neglect",
                "eviction-or-abandonment",
                "stigma",
                "harassment",
                "emotional-abuse",
                "sexual-abuse",
                "physical-abuse",
                "bullying",
                "re-trafficking",
                "excessive-housework",
                "no-schooling",
                "sent-elsewhere",
                "work-instead-of-school",
                "harsh-work",
                "forced-marriage",
                "sale",
                "harmful-adult-behaviour"
            ])
        );
    }
}
