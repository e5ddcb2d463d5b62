//! Building blocks shared by several forms: the child's identity, family
//! members, officers, and the validation helpers every form uses.

use crate::protocol::FieldError;
use crate::protocol::country::Country;
use jiff::civil::Date;

/// Longest name, in characters.
pub const NAME_MAX: usize = 200;
/// Longest free-text field, in characters.
pub const PROSE_MAX: usize = 20_000;
/// Longest short free-text field (an address, a reference), in characters.
pub const SHORT_MAX: usize = 1_000;

/// Identity of the child (personal data).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Child {
    /// Given names.
    pub given_names: String,
    /// Family name.
    pub family_name: String,
    /// Other names the child is known by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Sex.
    pub sex: Sex,
    /// Date of birth, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::protocol::forms::common::DateText>")]
    pub date_of_birth: Option<Date>,
    /// Estimated year of birth, when the date is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_year: Option<i16>,
    /// Nationality (ISO 3166-1 alpha-2).
    pub nationality: Country,
}

/// Sex as recorded.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Not known.
    Unknown,
}

/// A family member the child named.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct FamilyMember {
    /// Relationship to the child.
    pub relationship: Relationship,
    /// Given names.
    pub given_names: String,
    /// Family name.
    pub family_name: String,
    /// Last known address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Relationship of a family member to the child.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Relationship {
    /// Mother.
    Mother,
    /// Father.
    Father,
    /// Brother or sister.
    Sibling,
    /// Grandparent.
    Grandparent,
    /// Aunt or uncle.
    AuntOrUncle,
    /// Another relative.
    OtherRelative,
    /// Legal guardian who is not a relative.
    LegalGuardian,
}

/// Schema stand-in for a calendar date written `YYYY-MM-DD`.
pub struct DateText;

impl schemars::JsonSchema for DateText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Date".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "date" })
    }
}

/// Schema stand-in for an RFC 3339 time, e.g. `2026-11-20T18:30:00Z`.
pub struct TimestampText;

impl schemars::JsonSchema for TimestampText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "date-time" })
    }
}

/// Who wrote or is responsible for something.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Officer {
    /// Full name.
    pub name: String,
    /// Role.
    pub role: OfficerRole,
    /// Organisation or authority.
    pub organisation: String,
}

/// The role of an officer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum OfficerRole {
    /// Social worker.
    SocialWorker,
    /// Case manager.
    CaseManager,
    /// NFP officer.
    NfpOfficer,
    /// Police officer.
    PoliceOfficer,
    /// Guardian.
    Guardian,
    /// Psychologist or health professional.
    HealthProfessional,
    /// Other role.
    Other,
}

/// Yes, no, or not known.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum YesNoUnknown {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Not known.
    Unknown,
}

impl Child {
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
        for (i, a) in self.aliases.iter().enumerate() {
            text(errors, &format!("{at}.aliases[{i}]"), a, NAME_MAX);
        }
        match (self.date_of_birth, self.birth_year) {
            (Some(_), Some(_)) => errors.push(FieldError::new(
                format!("{at}.birth_year"),
                "give either date_of_birth or birth_year, not both",
            )),
            (None, None) => errors.push(FieldError::new(
                format!("{at}.date_of_birth"),
                "give date_of_birth, or birth_year when the date is unknown",
            )),
            (Some(d), None) => {
                if d > today {
                    errors.push(FieldError::new(
                        format!("{at}.date_of_birth"),
                        "is in the future",
                    ));
                } else if i32::from(today.year()) - i32::from(d.year()) > 30 {
                    errors.push(FieldError::new(
                        format!("{at}.date_of_birth"),
                        "is more than 30 years ago; this channel is for children",
                    ));
                }
            }
            (None, Some(y)) => {
                let now = today.year();
                if y > now || i32::from(now) - i32::from(y) > 30 {
                    errors.push(FieldError::new(
                        format!("{at}.birth_year"),
                        format!("must be between {} and {now}", now - 30),
                    ));
                }
            }
        }
    }
}

impl FamilyMember {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
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
        if let Some(a) = &self.address {
            text(errors, &format!("{at}.address"), a, SHORT_MAX);
        }
    }
}

impl Officer {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        text(errors, &format!("{at}.name"), &self.name, NAME_MAX);
        text(
            errors,
            &format!("{at}.organisation"),
            &self.organisation,
            NAME_MAX,
        );
    }
}

/// Checks one free-text field: present, not blank, not longer than `max`,
/// no control characters other than newline and tab.
pub fn text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(FieldError::new(field, "contains control characters"));
    }
}

/// Checks an optional free-text field when present.
pub fn opt_text(errors: &mut Vec<FieldError>, field: &str, value: &Option<String>, max: usize) {
    if let Some(v) = value {
        text(errors, field, v, max);
    }
}

/// Checks every entry of a list of free texts and the list's length.
pub fn text_list(
    errors: &mut Vec<FieldError>,
    field: &str,
    values: &[String],
    min: usize,
    max_items: usize,
    max_len: usize,
) {
    if values.len() < min {
        errors.push(FieldError::new(field, format!("give at least {min}")));
    }
    if values.len() > max_items {
        errors.push(FieldError::new(
            field,
            format!("at most {max_items} entries"),
        ));
    }
    for (i, v) in values.iter().enumerate() {
        text(errors, &format!("{field}[{i}]"), v, max_len);
    }
}

/// Checks that a date is not after today.
pub fn not_future(errors: &mut Vec<FieldError>, field: &str, date: Date, today: Date) {
    if date > today {
        errors.push(FieldError::new(field, "is in the future"));
    }
}

/// Checks that a list is not longer than `max`.
pub fn max_items<T>(errors: &mut Vec<FieldError>, field: &str, values: &[T], max: usize) {
    if values.len() > max {
        errors.push(FieldError::new(field, format!("at most {max} entries")));
    }
}
