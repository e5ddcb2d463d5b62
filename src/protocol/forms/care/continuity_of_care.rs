//! `continuity-of-care`: the pre-repatriation form R sends H before the
//! transfer, so that care, treatment and protection carry on without a gap
//! after the child arrives (domain brief §1, message 13; §4, safeguard 3).

use crate::protocol::FieldError;
use crate::protocol::country::Country;
use crate::protocol::forms::common::{
    Child, PROSE_MAX, SHORT_MAX, max_items, not_future, opt_text, text,
};
use crate::protocol::language::Language;
use jiff::civil::Date;

/// Most languages listed for one child.
const LANGUAGES_MAX: usize = 20;
/// Most placements in the care history.
const PLACEMENTS_MAX: usize = 50;
/// Most services listed.
const SERVICES_MAX: usize = 50;
/// Most health-care entries.
const HEALTH_CARE_MAX: usize = 30;
/// Most legal proceedings listed.
const PROCEEDINGS_MAX: usize = 20;
/// Longest identity-document number, in characters.
const DOCUMENT_NUMBER_MAX: usize = 100;

/// The continuity-of-care form, as the operator fills it in.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ContinuityOfCare {
    /// The consent that allows this form to be sent at all.
    pub consent: Consent,
    /// Who the child is.
    pub child: Child,
    /// Languages the child speaks (ISO 639-1), the best one first.
    pub languages: Vec<Language>,
    /// The identity document the child holds, if that is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_document: Option<IdentityDocument>,
    /// Where the child has been cared for since being found, the current
    /// placement included.
    pub care_history: Vec<Placement>,
    /// Conclusions of the needs assessment.
    pub needs_assessment: String,
    /// Services the child has received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
    /// Current physical and mental health care.
    pub health: Health,
    /// Legal proceedings the child takes part in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legal_proceedings: Vec<LegalProceeding>,
    /// What H must know to keep the child safe after return.
    pub protection_concerns: ProtectionConcerns,
}

/// The consent of the child and of the temporary guardian to share this
/// form with the home country.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// The child agreed that this information is shared.
    pub child_consented: bool,
    /// The temporary guardian agreed that this information is shared.
    pub guardian_consented: bool,
    /// The day the consents were recorded.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub recorded_on: Date,
}

/// Facts about the child's identity document.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct IdentityDocument {
    /// What kind of document it is.
    pub document_type: DocumentType,
    /// The document's number, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

/// A kind of identity document.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentType {
    /// Passport.
    Passport,
    /// National identity card.
    IdCard,
    /// Birth certificate.
    BirthCertificate,
    /// The child holds no identity document.
    None,
    /// Another document.
    Other,
}

/// One placement in the child's care history.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// What kind of placement it was.
    pub placement_type: PlacementType,
    /// First day in the placement.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub from: Date,
    /// Last day in the placement; absent while it goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::protocol::forms::common::DateText>")]
    pub to: Option<Date>,
    /// How the child fared there; required for `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// A kind of care placement.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum PlacementType {
    /// Foster family.
    FosterFamily,
    /// Shelter.
    Shelter,
    /// Residential institution.
    ResidentialInstitution,
    /// With relatives.
    Relatives,
    /// Supervised independent living.
    SupervisedIndependent,
    /// Another placement, described in the notes.
    Other,
}

/// A service the child has received.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// What kind of service.
    pub service_type: ServiceType,
    /// Who provides it.
    pub provider: String,
    /// When it started.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub from: Date,
}

/// A kind of service.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceType {
    /// Psychosocial support or counselling.
    PsychosocialSupport,
    /// Medical care.
    Medical,
    /// Schooling or other education.
    Education,
    /// Legal aid or representation.
    LegalAid,
    /// Accommodation.
    Shelter,
    /// Vocational training.
    Vocational,
    /// Another service.
    Other,
}

/// The child's current health care (sensitive data).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Conditions being or recently treated; empty when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub care: Vec<HealthCare>,
    /// Medication the child takes, with doses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medication: Option<String>,
}

/// One condition and its treatment.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct HealthCare {
    /// Physical or mental health.
    pub area: HealthArea,
    /// The condition, in a few words.
    pub condition: String,
    /// The treatment given.
    pub treatment: String,
    /// Whether the treatment is still going on.
    pub ongoing: bool,
}

/// Area of health.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum HealthArea {
    /// Physical health.
    Physical,
    /// Mental health.
    Mental,
}

/// A legal proceeding the child takes part in (sensitive data).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct LegalProceeding {
    /// The child's role in it.
    pub role: ProceedingRole,
    /// How far it has got.
    pub status: ProceedingStatus,
    /// The country where it takes place.
    pub country: Country,
    /// What H should know about it, e.g. hearings the child must attend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The child's role in a legal proceeding.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProceedingRole {
    /// Victim.
    Victim,
    /// Witness.
    Witness,
    /// Defendant.
    Defendant,
}

/// How far a legal proceeding has got.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProceedingStatus {
    /// Under police or prosecutor investigation.
    Investigation,
    /// Before a court.
    Trial,
    /// Finished.
    Concluded,
    /// No proceeding is open.
    None,
}

/// Protection concerns before repatriation, by group. At least one group
/// must be filled in.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ProtectionConcerns {
    /// The main concerns for the child's protection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_protection: Option<String>,
    /// Medical concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medical: Option<String>,
    /// Concerns about mental health or behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mental_health_behaviour: Option<String>,
    /// Legal or security concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_security: Option<String>,
    /// Any other concern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
}

impl ContinuityOfCare {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        self.consent.validate("consent", today, errors);
        self.child.validate("child", today, errors);
        self.validate_languages(errors);
        if let Some(d) = &self.identity_document {
            d.validate("identity_document", errors);
        }
        self.validate_care_history(today, errors);
        text(
            errors,
            "needs_assessment",
            &self.needs_assessment,
            PROSE_MAX,
        );
        max_items(errors, "services", &self.services, SERVICES_MAX);
        for (i, s) in self.services.iter().enumerate() {
            s.validate(&format!("services[{i}]"), today, errors);
        }
        self.health.validate("health", errors);
        max_items(
            errors,
            "legal_proceedings",
            &self.legal_proceedings,
            PROCEEDINGS_MAX,
        );
        for (i, p) in self.legal_proceedings.iter().enumerate() {
            opt_text(
                errors,
                &format!("legal_proceedings[{i}].notes"),
                &p.notes,
                PROSE_MAX,
            );
        }
        self.protection_concerns
            .validate("protection_concerns", errors);
    }

    fn validate_languages(&self, errors: &mut Vec<FieldError>) {
        if self.languages.is_empty() {
            errors.push(FieldError::new(
                "languages",
                "give at least one language the child speaks",
            ));
        }
        max_items(errors, "languages", &self.languages, LANGUAGES_MAX);
        for (i, l) in self.languages.iter().enumerate() {
            if self.languages[..i].contains(l) {
                errors.push(FieldError::new(
                    format!("languages[{i}]"),
                    format!("{l} is listed more than once"),
                ));
            }
        }
    }

    fn validate_care_history(&self, today: Date, errors: &mut Vec<FieldError>) {
        if self.care_history.is_empty() {
            errors.push(FieldError::new(
                "care_history",
                "give at least the current placement",
            ));
        }
        max_items(errors, "care_history", &self.care_history, PLACEMENTS_MAX);
        let mut open_seen = false;
        for (i, p) in self.care_history.iter().enumerate() {
            let at = format!("care_history[{i}]");
            p.validate(&at, today, self.child.date_of_birth, errors);
            if p.to.is_none() {
                if open_seen {
                    errors.push(FieldError::new(
                        format!("{at}.to"),
                        "only one placement can be ongoing; give the day this one ended",
                    ));
                }
                open_seen = true;
            }
        }
    }
}

impl Consent {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, today: Date, errors: &mut Vec<FieldError>) {
        if !self.child_consented {
            errors.push(FieldError::new(
                format!("{at}.child_consented"),
                "the child has not consented; continuity-of-care data may be sent \
                 only with the consent of both the child and the temporary guardian",
            ));
        }
        if !self.guardian_consented {
            errors.push(FieldError::new(
                format!("{at}.guardian_consented"),
                "the temporary guardian has not consented; continuity-of-care data may be \
                 sent only with the consent of both the child and the temporary guardian",
            ));
        }
        not_future(
            errors,
            &format!("{at}.recorded_on"),
            self.recorded_on,
            today,
        );
    }
}

impl IdentityDocument {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        let field = format!("{at}.number");
        match (&self.number, self.document_type) {
            (Some(_), DocumentType::None) => errors.push(FieldError::new(
                field,
                "the document type is none, so there is no number to give",
            )),
            (n, _) => opt_text(errors, &field, n, DOCUMENT_NUMBER_MAX),
        }
    }
}

impl Placement {
    /// Pushes every rule broken, with paths under `at`. `born` is the
    /// child's date of birth, when known.
    pub fn validate(
        &self,
        at: &str,
        today: Date,
        born: Option<Date>,
        errors: &mut Vec<FieldError>,
    ) {
        not_future(errors, &format!("{at}.from"), self.from, today);
        if born.is_some_and(|b| self.from < b) {
            errors.push(FieldError::new(
                format!("{at}.from"),
                "is before the child's date of birth",
            ));
        }
        if let Some(to) = self.to {
            if to < self.from {
                errors.push(FieldError::new(
                    format!("{at}.to"),
                    "is before the placement's start (from)",
                ));
            } else {
                not_future(errors, &format!("{at}.to"), to, today);
            }
        }
        if self.placement_type == PlacementType::Other && self.notes.is_none() {
            errors.push(FieldError::new(
                format!("{at}.notes"),
                "describe the placement when its type is other",
            ));
        }
        opt_text(errors, &format!("{at}.notes"), &self.notes, PROSE_MAX);
    }
}

impl Service {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, today: Date, errors: &mut Vec<FieldError>) {
        text(errors, &format!("{at}.provider"), &self.provider, SHORT_MAX);
        not_future(errors, &format!("{at}.from"), self.from, today);
    }
}

impl Health {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        let list = format!("{at}.care");
        max_items(errors, &list, &self.care, HEALTH_CARE_MAX);
        for (i, c) in self.care.iter().enumerate() {
            text(
                errors,
                &format!("{list}[{i}].condition"),
                &c.condition,
                SHORT_MAX,
            );
            text(
                errors,
                &format!("{list}[{i}].treatment"),
                &c.treatment,
                PROSE_MAX,
            );
        }
        opt_text(
            errors,
            &format!("{at}.medication"),
            &self.medication,
            PROSE_MAX,
        );
    }
}

impl ProtectionConcerns {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        let groups = [
            ("key_protection", &self.key_protection),
            ("medical", &self.medical),
            ("mental_health_behaviour", &self.mental_health_behaviour),
            ("legal_security", &self.legal_security),
            ("other", &self.other),
        ];
        if groups.iter().all(|(_, v)| v.is_none()) {
            errors.push(FieldError::new(
                at,
                "fill in at least one group of concerns (key_protection, medical, \
                 mental_health_behaviour, legal_security or other)",
            ));
        }
        for (name, value) in groups {
            opt_text(errors, &format!("{at}.{name}"), value, PROSE_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ContinuityOfCare;
    use crate::protocol::FieldError;
    use jiff::civil::date;
    use serde_json::{Value, json};

    const EXAMPLE: &str = include_str!("../../../../config/forms/continuity-of-care.json");

    fn today() -> jiff::civil::Date {
        date(2026, 11, 23)
    }

    fn parse(bytes: &[u8]) -> Result<ContinuityOfCare, (String, String)> {
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
            .map_err(|e| (e.path().to_string(), e.inner().to_string()))
    }

    fn example() -> ContinuityOfCare {
        parse(EXAMPLE.as_bytes()).unwrap()
    }

    /// The example with one edit, parsed and validated; returns the errors.
    fn errors_after(edit: impl FnOnce(&mut Value)) -> Vec<FieldError> {
        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        edit(&mut v);
        let form = parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        let mut errors = Vec::new();
        form.validate(today(), &mut errors);
        errors
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn the_example_form_validates() {
        let mut errors = Vec::new();
        example().validate(today(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn cbor_round_trips() {
        let f = example();
        let mut bytes = Vec::new();
        ciborium::into_writer(&f, &mut bytes).unwrap();
        let back: ContinuityOfCare = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn both_consents_are_required() {
        let e = errors_after(|v| v["consent"]["guardian_consented"] = false.into());
        assert_eq!(fields(&e), ["consent.guardian_consented"]);
        assert!(e[0].message.contains("guardian"), "{e:?}");
        let e = errors_after(|v| v["consent"]["child_consented"] = false.into());
        assert_eq!(fields(&e), ["consent.child_consented"]);
        let e = errors_after(|v| v["consent"]["recorded_on"] = "2026-11-24".into());
        assert_eq!(fields(&e), ["consent.recorded_on"]);
    }

    #[test]
    fn placement_dates_are_checked() {
        let e = errors_after(|v| v["care_history"][0]["to"] = "2026-01-01".into());
        assert_eq!(fields(&e), ["care_history[0].to"]);
        let e = errors_after(|v| v["care_history"][1]["from"] = "2027-01-01".into());
        assert_eq!(fields(&e), ["care_history[1].from"]);
        let e = errors_after(|v| {
            v["care_history"][0].as_object_mut().unwrap().remove("to");
        });
        assert_eq!(fields(&e), ["care_history[1].to"]);
        let e = errors_after(|v| v["care_history"][0]["from"] = "2010-01-01".into());
        assert_eq!(fields(&e), ["care_history[0].from"]);
        let e = errors_after(|v| v["care_history"] = json!([]));
        assert_eq!(fields(&e), ["care_history"]);
        let e = errors_after(|v| {
            v["care_history"][1]["placement_type"] = "other".into();
            v["care_history"][1]
                .as_object_mut()
                .unwrap()
                .remove("notes");
        });
        assert_eq!(fields(&e), ["care_history[1].notes"]);
    }

    #[test]
    fn other_rules_name_the_field() {
        let e = errors_after(|v| v["protection_concerns"] = json!({}));
        assert_eq!(fields(&e), ["protection_concerns"]);
        let e = errors_after(|v| v["protection_concerns"]["medical"] = " ".into());
        assert_eq!(fields(&e), ["protection_concerns.medical"]);
        let e = errors_after(|v| v["health"]["care"][1]["condition"] = "".into());
        assert_eq!(fields(&e), ["health.care[1].condition"]);
        let e = errors_after(|v| v["services"][0]["from"] = "2026-12-01".into());
        assert_eq!(fields(&e), ["services[0].from"]);
        let e = errors_after(|v| v["languages"] = json!(["sq", "el", "sq"]));
        assert_eq!(fields(&e), ["languages[2]"]);
        let e = errors_after(|v| v["languages"] = json!([]));
        assert_eq!(fields(&e), ["languages"]);
        let e = errors_after(|v| v["identity_document"]["document_type"] = "none".into());
        assert_eq!(fields(&e), ["identity_document.number"]);
        let e = errors_after(|v| v["needs_assessment"] = "a\u{7}b".into());
        assert_eq!(fields(&e), ["needs_assessment"]);
        let e = errors_after(|v| v["services"] = json!(vec![v["services"][0].clone(); 51]));
        assert_eq!(fields(&e), ["services"]);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected_by_serde() {
        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["health"]["blood_type"] = "0+".into();
        let (path, msg) = parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(msg.contains("blood_type"), "{msg}");
        assert_eq!(path, "health.blood_type");

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["favourite_colour"] = "blue".into();
        let (_, msg) = parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(msg.contains("favourite_colour"), "{msg}");

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["care_history"][0]["placement_type"] = "hotel".into();
        let (path, _) = parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(path, "care_history[0].placement_type");

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["languages"][1] = "english".into();
        let (path, _) = parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(path, "languages[1]");

        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        v["legal_proceedings"][0]["role"] = "suspect".into();
        let (path, _) = parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(path, "legal_proceedings[0].role");
    }
}
