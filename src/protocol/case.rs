//! The minimal case record a node keeps about a child (issue 7): victim
//! status, age, nationality and residence, asylum or refugee status, the
//! countries the child fears or agrees to have contacted, recorded consents
//! and who may see the case.
//!
//! Everything here is pure. Validation and the age helpers take today's date
//! from the caller. The send gate that acts on this record lives in
//! [`crate::protocol::gate`].

use crate::protocol::FieldError;
use crate::protocol::country::Country;
use crate::protocol::forms::common::{NAME_MAX, max_items, opt_text, text};
use jiff::Timestamp;
use jiff::civil::Date;

/// Age at which a child becomes an adult (brief §4.6).
pub const AGE_OF_MAJORITY: i16 = 18;

/// How many years back a date or year of birth may lie, as in the forms.
const OLDEST_BIRTH_YEARS: i16 = 30;

/// Longest list of countries (there are 249 assigned codes).
const MAX_COUNTRIES: usize = 249;
/// Longest list of consents kept on one case.
const MAX_CONSENTS: usize = 1_000;
/// Longest access list.
const MAX_ACCESS: usize = 1_000;

/// The minimal record of one child's case.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRecord {
    /// The case reference.
    pub case: String,
    /// Whether the child is presumed or formally identified as a victim.
    pub victim_status: VictimStatus,
    /// Date of birth, estimated year of birth, or unknown.
    pub birth: Birth,
    /// The child's age is in doubt and the child is presumed to be a child.
    /// The presumption holds until age is established; clearing this flag is
    /// how the record says so.
    #[serde(default)]
    pub presumed_child: bool,
    /// Country of nationality, when known. `None` for a stateless child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nationality: Option<Country>,
    /// Country of habitual residence, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub habitual_residence: Option<Country>,
    /// The child has no nationality.
    #[serde(default)]
    pub stateless: bool,
    /// Asylum or refugee status, as flagged by the operator. The NFP does
    /// not decide refugee status; the node acts on the flag.
    #[serde(default)]
    pub asylum: AsylumStatus,
    /// Countries the child fears.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fears: Vec<Country>,
    /// Countries the child agrees to have contacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agrees_contact: Vec<Country>,
    /// Every consent recorded, oldest first. Withdrawals are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consents: Vec<Consent>,
    /// Family members are suspected of complicity in the trafficking.
    #[serde(default)]
    pub family_complicity_suspected: bool,
    /// User name of the case manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_manager: Option<String>,
    /// User names of the people allowed to see the case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access: Vec<String>,
    /// When the case was opened.
    pub created: Timestamp,
    /// The child's return, once recorded: what follow-up schedules count
    /// from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<crate::protocol::schedule::Return>,
}

/// Whether the child is a presumed or a formally identified victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VictimStatus {
    /// Presumed victim: identification is not complete.
    Presumed,
    /// Formally identified victim.
    Identified,
}

/// What is known of the child's birth. In JSON: `{"date": "2012-05-10"}`,
/// `{"estimated-year": 2012}` or `"unknown"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Birth {
    /// The date of birth.
    Date(Date),
    /// Only the (estimated) year of birth.
    EstimatedYear(i16),
    /// Nothing is known.
    Unknown,
}

/// Asylum or refugee status. In JSON: `"none"`, `"seeking"` or
/// `{"refugee": {"recognised_in": "IT"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AsylumStatus {
    /// Neither seeking asylum nor a refugee.
    #[default]
    None,
    /// The child seeks (or wishes to seek) asylum.
    Seeking,
    /// The child is a recognised refugee.
    Refugee {
        /// The country that recognised the child as a refugee.
        recognised_in: Country,
    },
}

/// One recorded consent (or its withdrawal).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// Who gave it.
    pub by: ConsentBy,
    /// What it is for.
    pub purpose: Purpose,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// User name of the person who recorded it.
    pub recorded_by: String,
    /// The consent has been withdrawn.
    #[serde(default)]
    pub withdrawn: bool,
}

/// Who consents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentBy {
    /// The child.
    Child,
    /// The child's (temporary) guardian.
    Guardian,
}

/// What a consent is for (brief §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Sharing continuity-of-care data before a transfer.
    ContinuityOfCare,
    /// Tracing the child's family.
    FamilyTracing,
    /// Collecting information about the child.
    Information,
}

impl ConsentBy {
    /// The name used in JSON and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConsentBy::Child => "child",
            ConsentBy::Guardian => "guardian",
        }
    }
}

impl Purpose {
    /// The name used in JSON and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Purpose::ContinuityOfCare => "continuity-of-care",
            Purpose::FamilyTracing => "family-tracing",
            Purpose::Information => "information",
        }
    }
}

impl std::fmt::Display for ConsentBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsylumStatus {
    /// The child seeks asylum or is a recognised refugee.
    pub fn seeks_protection(&self) -> bool {
        !matches!(self, AsylumStatus::None)
    }
}

impl CaseRecord {
    /// The child seeks asylum or is a recognised refugee.
    pub fn seeks_protection(&self) -> bool {
        self.asylum.seeks_protection()
    }

    /// The country an asylum-seeking or refugee child must be protected
    /// from: the country of nationality, or of habitual residence when the
    /// child is stateless. `None` when the child seeks no protection, or
    /// when the record does not name that country (the gate then refuses
    /// everything; see [`crate::protocol::gate`]).
    pub fn protected_country(&self) -> Option<Country> {
        if !self.seeks_protection() {
            return None;
        }
        if self.stateless {
            self.habitual_residence
        } else {
            self.nationality
        }
    }

    /// The day the child becomes an adult.
    ///
    /// - With a date of birth: the 18th anniversary. A child born on
    ///   29 February becomes an adult on 1 March when the 18th year is not a
    ///   leap year — the later of the two candidate days, so the child is
    ///   never treated as an adult early.
    /// - With only a year: 31 December of the year of the 18th birthday.
    /// - Unknown: `None`.
    ///
    /// Also `None` if the day would fall beyond the calendar's range.
    pub fn eighteenth_birthday(&self) -> Option<Date> {
        match self.birth {
            Birth::Date(d) => {
                let year = d.year().checked_add(AGE_OF_MAJORITY)?;
                match Date::new(year, d.month(), d.day()) {
                    Ok(day) => Some(day),
                    // Only 29 February in a common year gets here.
                    Err(_) => Date::new(year, 3, 1).ok(),
                }
            }
            Birth::EstimatedYear(y) => {
                let year = y.checked_add(AGE_OF_MAJORITY)?;
                Date::new(year, 12, 31).ok()
            }
            Birth::Unknown => None,
        }
    }

    /// Age in completed years on `today`, counting birthdays the way
    /// [`CaseRecord::eighteenth_birthday`] does (31 December of the year
    /// when only the year is known; 1 March for 29 February in common
    /// years). `None` when the birth is unknown, or `today` is before it.
    pub fn age(&self, today: Date) -> Option<i16> {
        let (year, month, day) = match self.birth {
            Birth::Date(d) => (d.year(), d.month(), d.day()),
            Birth::EstimatedYear(y) => (y, 12, 31),
            Birth::Unknown => return None,
        };
        let mut age = today.year().checked_sub(year)?;
        let birthday_this_year = match Date::new(today.year(), month, day) {
            Ok(b) => b,
            Err(_) => Date::new(today.year(), 3, 1).ok()?,
        };
        if today < birthday_this_year {
            age -= 1;
        }
        (age >= 0).then_some(age)
    }

    /// Whether the person counts as a child on `today`.
    ///
    /// True while under 18. A presumed child counts as a child whatever the
    /// estimate says, until age is established (brief §4.6). An unknown
    /// birth is an age that has not been established, so it also counts as
    /// a child.
    pub fn is_child(&self, today: Date) -> bool {
        if self.presumed_child {
            return true;
        }
        match self.eighteenth_birthday() {
            Some(day) => today < day,
            None => true,
        }
    }

    /// The 18th birthday, if it falls between `today` and `days` days from
    /// now (both ends included): the case is due to age out and a Pathway
    /// Plan should be prepared.
    ///
    /// `None` when the birthday is already past or further away, when the
    /// birth is unknown, and for a presumed child, who stays a child until
    /// age is established and so has no date to age out on.
    pub fn ages_out_within(&self, today: Date, days: u32) -> Option<Date> {
        if self.presumed_child {
            return None;
        }
        let day = self.eighteenth_birthday()?;
        let horizon = jiff::Span::new()
            .try_days(i64::from(days))
            .map(|span| today.saturating_add(span))
            .unwrap_or(Date::MAX);
        (today <= day && day <= horizon).then_some(day)
    }

    /// Whether `by` has consented to `purpose` and not withdrawn.
    ///
    /// Consents for the same person and purpose are read in order of
    /// `recorded_at` (ties in list order); the latest one decides. So a
    /// withdrawal recorded as a new entry cancels an earlier consent, and a
    /// fresh consent after a withdrawal counts again.
    pub fn has_consent(&self, by: ConsentBy, purpose: Purpose) -> bool {
        self.consents
            .iter()
            .enumerate()
            .filter(|(_, c)| c.by == by && c.purpose == purpose)
            .max_by_key(|(i, c)| (c.recorded_at, *i))
            .is_some_and(|(_, c)| !c.withdrawn)
    }

    /// Every rule the types cannot express, each named by its dotted field
    /// path.
    pub fn validate(&self, today: Date) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        self.check(today, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn check(&self, today: Date, errors: &mut Vec<FieldError>) {
        text(errors, "case", &self.case, NAME_MAX);
        self.check_birth(today, errors);

        if self.stateless && self.nationality.is_some() {
            errors.push(FieldError::new(
                "nationality",
                "a stateless child has no nationality; clear one or the other",
            ));
        }

        if let AsylumStatus::Refugee { recognised_in } = self.asylum {
            let own = if self.stateless {
                self.habitual_residence
            } else {
                self.nationality
            };
            if own == Some(recognised_in) {
                errors.push(FieldError::new(
                    "asylum.refugee.recognised_in",
                    format!(
                        "{recognised_in} is the child's own country; a refugee is recognised by another country"
                    ),
                ));
            }
        }

        countries(errors, "fears", &self.fears);
        countries(errors, "agrees_contact", &self.agrees_contact);
        let protected = self.protected_country();
        for (i, c) in self.agrees_contact.iter().enumerate() {
            if self.fears.contains(c) {
                errors.push(FieldError::new(
                    format!("agrees_contact[{i}]"),
                    format!("the child fears {c}; a country cannot be both feared and agreed"),
                ));
            } else if protected == Some(*c) {
                errors.push(FieldError::new(
                    format!("agrees_contact[{i}]"),
                    format!(
                        "{c} is the country an asylum-seeking or refugee child is protected from; it can never be contacted"
                    ),
                ));
            }
        }

        max_items(errors, "consents", &self.consents, MAX_CONSENTS);
        for (i, c) in self.consents.iter().enumerate() {
            let at = format!("consents[{i}]");
            text(
                errors,
                &format!("{at}.recorded_by"),
                &c.recorded_by,
                NAME_MAX,
            );
            not_future_instant(errors, &format!("{at}.recorded_at"), c.recorded_at, today);
        }

        opt_text(errors, "case_manager", &self.case_manager, NAME_MAX);
        max_items(errors, "access", &self.access, MAX_ACCESS);
        for (i, user) in self.access.iter().enumerate() {
            text(errors, &format!("access[{i}]"), user, NAME_MAX);
            if self.access[..i].contains(user) {
                errors.push(FieldError::new(format!("access[{i}]"), "listed twice"));
            }
        }
        not_future_instant(errors, "created", self.created, today);
        self.check_return(today, errors);
    }

    fn check_return(&self, today: Date, errors: &mut Vec<FieldError>) {
        let Some(r) = &self.returned else { return };
        // A day's grace: the return may be dated in a time zone ahead of UTC.
        if today.tomorrow().is_ok_and(|t| r.date > t) {
            errors.push(FieldError::new(
                "returned.date",
                "is in the future; record the return once the child has arrived",
            ));
        }
        if let Birth::Date(b) = self.birth
            && r.date < b
        {
            errors.push(FieldError::new(
                "returned.date",
                "is before the date of birth",
            ));
        }
        if r.from == r.to {
            errors.push(FieldError::new(
                "returned.to",
                "is the country the child left; a return crosses a border",
            ));
        }
        if self.seeks_protection() && self.protected_country().is_none() {
            errors.push(FieldError::new(
                "returned.to",
                "the child seeks protection and the record does not name the country it is from; no return can be recorded",
            ));
        } else if self.protected_country() == Some(r.to) || self.fears.contains(&r.to) {
            errors.push(FieldError::new(
                "returned.to",
                format!(
                    "the child fears {} or is protected from it; a return there cannot be recorded",
                    r.to
                ),
            ));
        }
    }

    fn check_birth(&self, today: Date, errors: &mut Vec<FieldError>) {
        let now = today.year();
        let oldest = now.saturating_sub(OLDEST_BIRTH_YEARS);
        match self.birth {
            Birth::Date(d) => {
                if d > today {
                    errors.push(FieldError::new("birth.date", "is in the future"));
                } else if d.year() < oldest {
                    errors.push(FieldError::new(
                        "birth.date",
                        format!(
                            "is more than {OLDEST_BIRTH_YEARS} years ago; this channel is for children"
                        ),
                    ));
                }
            }
            Birth::EstimatedYear(y) => {
                if y > now || y < oldest {
                    errors.push(FieldError::new(
                        "birth.estimated-year",
                        format!("must be between {oldest} and {now}"),
                    ));
                }
            }
            Birth::Unknown => {}
        }
    }
}

/// Checks a list of countries: not too long, no country twice.
fn countries(errors: &mut Vec<FieldError>, field: &str, list: &[Country]) {
    max_items(errors, field, list, MAX_COUNTRIES);
    for (i, c) in list.iter().enumerate() {
        if list[..i].contains(c) {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("{c} is listed twice"),
            ));
        }
    }
}

/// Checks that an instant is not after the end of `today` anywhere on
/// Earth: the instant is read on the westernmost clock (UTC−12), so a real
/// past instant is never rejected whatever the node's own time zone.
fn not_future_instant(errors: &mut Vec<FieldError>, field: &str, at: Timestamp, today: Date) {
    if jiff::tz::offset(-12).to_datetime(at).date() > today {
        errors.push(FieldError::new(field, "is in the future"));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jiff::civil::date;

    pub(crate) fn country(s: &str) -> Country {
        Country::parse(s).unwrap()
    }

    pub(crate) fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// A plain case: a child born 2012-05-10, national of AL, no asylum.
    pub(crate) fn plain() -> CaseRecord {
        CaseRecord {
            case: "GR-2026-0001".into(),
            victim_status: VictimStatus::Presumed,
            birth: Birth::Date(date(2012, 5, 10)),
            presumed_child: false,
            nationality: Some(country("AL")),
            habitual_residence: Some(country("AL")),
            stateless: false,
            asylum: AsylumStatus::None,
            fears: vec![],
            agrees_contact: vec![],
            consents: vec![],
            family_complicity_suspected: false,
            case_manager: Some("maria".into()),
            access: vec!["maria".into(), "nikos".into()],
            created: at("2026-11-01T09:00:00Z"),
            returned: None,
        }
    }

    pub(crate) fn consent(by: ConsentBy, purpose: Purpose, when: &str, withdrawn: bool) -> Consent {
        Consent {
            by,
            purpose,
            recorded_at: at(when),
            recorded_by: "maria".into(),
            withdrawn,
        }
    }

    fn today() -> Date {
        date(2026, 11, 23)
    }

    fn fields(case: &CaseRecord) -> Vec<String> {
        match case.validate(today()) {
            Ok(()) => vec![],
            Err(e) => e.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn returns_are_checked() {
        use crate::protocol::schedule::Return;
        let ret = |d: Date, from: &str, to: &str| Return {
            date: d,
            from: country(from),
            to: country(to),
        };
        let mut c = plain();
        c.returned = Some(ret(date(2026, 11, 20), "GR", "AL"));
        assert_eq!(fields(&c), Vec::<String>::new());
        // A day's grace for time zones ahead of UTC, not more.
        c.returned = Some(ret(date(2026, 11, 24), "GR", "AL"));
        assert_eq!(fields(&c), Vec::<String>::new());
        c.returned = Some(ret(date(2026, 11, 25), "GR", "AL"));
        assert_eq!(fields(&c), vec!["returned.date"]);
        c.returned = Some(ret(date(2011, 1, 1), "GR", "AL"));
        assert_eq!(fields(&c), vec!["returned.date"]);
        c.returned = Some(ret(date(2026, 11, 20), "AL", "AL"));
        assert_eq!(fields(&c), vec!["returned.to"]);
        // Never to a country the child fears or is protected from.
        c.returned = Some(ret(date(2026, 11, 20), "GR", "AL"));
        c.asylum = AsylumStatus::Seeking;
        assert_eq!(fields(&c), vec!["returned.to"]);
        c.asylum = AsylumStatus::None;
        c.fears = vec![country("AL")];
        assert_eq!(fields(&c), vec!["returned.to"]);
    }

    #[test]
    fn a_plain_case_validates_and_round_trips() {
        let mut c = plain();
        c.asylum = AsylumStatus::Refugee {
            recognised_in: country("IT"),
        };
        c.fears = vec![country("AL")];
        c.agrees_contact = vec![country("DE")];
        c.consents = vec![consent(
            ConsentBy::Child,
            Purpose::FamilyTracing,
            "2026-11-02T10:00:00Z",
            false,
        )];
        assert_eq!(c.validate(today()), Ok(()));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["victim_status"], "presumed");
        assert_eq!(json["birth"]["date"], "2012-05-10");
        assert_eq!(json["asylum"]["refugee"]["recognised_in"], "IT");
        assert_eq!(json["consents"][0]["purpose"], "family-tracing");
        assert_eq!(json["consents"][0]["by"], "child");
        let back: CaseRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        let mut cbor = Vec::new();
        ciborium::into_writer(&c, &mut cbor).unwrap();
        let back: CaseRecord = ciborium::from_reader(&cbor[..]).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn serde_spellings() {
        let c: CaseRecord = serde_json::from_str(
            r#"{"case":"X-1","victim_status":"identified","birth":{"estimated-year":2011},
                "asylum":"seeking","created":"2026-11-01T09:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(c.birth, Birth::EstimatedYear(2011));
        assert_eq!(c.asylum, AsylumStatus::Seeking);
        assert!(c.fears.is_empty() && !c.stateless && !c.presumed_child);
        let c: CaseRecord = serde_json::from_str(
            r#"{"case":"X-1","victim_status":"presumed","birth":"unknown","created":"2026-11-01T09:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(c.birth, Birth::Unknown);
        assert_eq!(c.asylum, AsylumStatus::None);
        let unknown_field = serde_json::from_str::<CaseRecord>(
            r#"{"case":"X-1","victim_status":"presumed","birth":"unknown","created":"2026-11-01T09:00:00Z","eyes":"brown"}"#,
        );
        assert!(unknown_field.is_err());
        let bad_consent = serde_json::from_str::<Consent>(
            r#"{"by":"child","purpose":"information","recorded_at":"2026-11-01T09:00:00Z","recorded_by":"m","note":"x"}"#,
        );
        assert!(bad_consent.is_err());
        assert!(serde_json::from_str::<Purpose>(r#""continuity-of-care""#).is_ok());
    }

    #[test]
    fn feared_and_agreed_is_an_error() {
        let mut c = plain();
        c.fears = vec![country("AL"), country("RS")];
        c.agrees_contact = vec![country("IT"), country("RS")];
        assert_eq!(fields(&c), ["agrees_contact[1]"]);
    }

    #[test]
    fn agreeing_to_the_protected_country_is_an_error() {
        let mut c = plain();
        c.asylum = AsylumStatus::Seeking;
        c.agrees_contact = vec![country("AL")];
        assert_eq!(fields(&c), ["agrees_contact[0]"]);
        // Without asylum, the same agreement is fine.
        c.asylum = AsylumStatus::None;
        assert!(fields(&c).is_empty());
    }

    #[test]
    fn birth_rules_name_their_field() {
        let mut c = plain();
        c.birth = Birth::Date(date(2026, 11, 24));
        assert_eq!(fields(&c), ["birth.date"]);
        c.birth = Birth::Date(date(1990, 1, 1));
        assert_eq!(fields(&c), ["birth.date"]);
        c.birth = Birth::EstimatedYear(2027);
        assert_eq!(fields(&c), ["birth.estimated-year"]);
        c.birth = Birth::EstimatedYear(1990);
        assert_eq!(fields(&c), ["birth.estimated-year"]);
        c.birth = Birth::Date(date(2026, 11, 23));
        assert!(fields(&c).is_empty());
        c.birth = Birth::Unknown;
        assert!(fields(&c).is_empty());
    }

    #[test]
    fn other_rules_name_their_field() {
        let mut c = plain();
        c.case = " ".into();
        c.stateless = true;
        c.fears = vec![country("AL"), country("AL")];
        c.consents = vec![Consent {
            recorded_by: "".into(),
            ..consent(
                ConsentBy::Guardian,
                Purpose::Information,
                "2026-11-25T12:00:00Z",
                false,
            )
        }];
        c.access = vec!["maria".into(), "maria".into()];
        c.case_manager = Some("".into());
        c.created = at("2026-11-26T00:00:00Z");
        assert_eq!(
            fields(&c),
            [
                "case",
                "nationality",
                "fears[1]",
                "consents[0].recorded_by",
                "consents[0].recorded_at",
                "case_manager",
                "access[1]",
                "created",
            ]
        );
    }

    #[test]
    fn a_refugee_is_not_recognised_by_their_own_country() {
        let mut c = plain();
        c.asylum = AsylumStatus::Refugee {
            recognised_in: country("AL"),
        };
        assert_eq!(fields(&c), ["asylum.refugee.recognised_in"]);
    }

    #[test]
    fn eighteenth_birthday_from_a_date() {
        let mut c = plain();
        assert_eq!(c.eighteenth_birthday(), Some(date(2030, 5, 10)));
        c.birth = Birth::Date(date(2008, 2, 29));
        assert_eq!(c.eighteenth_birthday(), Some(date(2026, 3, 1)));
        c.birth = Birth::Date(date(2012, 2, 29));
        assert_eq!(c.eighteenth_birthday(), Some(date(2030, 3, 1)));
        c.birth = Birth::Date(date(2010, 2, 29 - 1));
        assert_eq!(c.eighteenth_birthday(), Some(date(2028, 2, 28)));
    }

    #[test]
    fn thirty_first_december_rule_when_only_the_year_is_known() {
        let mut c = plain();
        c.birth = Birth::EstimatedYear(2008);
        assert_eq!(c.eighteenth_birthday(), Some(date(2026, 12, 31)));
        // Still a child on 30 December of the 18th year, an adult on 31 December.
        assert!(c.is_child(date(2026, 12, 30)));
        assert!(!c.is_child(date(2026, 12, 31)));
        assert_eq!(c.age(date(2026, 12, 30)), Some(17));
        assert_eq!(c.age(date(2026, 12, 31)), Some(18));
    }

    #[test]
    fn adult_on_the_eighteenth_birthday() {
        let mut c = plain();
        c.birth = Birth::Date(date(2008, 11, 23));
        assert!(c.is_child(date(2026, 11, 22)));
        assert!(!c.is_child(date(2026, 11, 23)));
        assert_eq!(c.age(date(2026, 11, 22)), Some(17));
        assert_eq!(c.age(date(2026, 11, 23)), Some(18));
        c.birth = Birth::Date(date(2008, 2, 29));
        assert!(c.is_child(date(2026, 2, 28)));
        assert!(!c.is_child(date(2026, 3, 1)));
        assert_eq!(c.age(date(2026, 2, 28)), Some(17));
        assert_eq!(c.age(date(2026, 3, 1)), Some(18));
    }

    #[test]
    fn unknown_birth_has_no_birthday_and_counts_as_a_child() {
        let mut c = plain();
        c.birth = Birth::Unknown;
        assert_eq!(c.eighteenth_birthday(), None);
        assert_eq!(c.age(today()), None);
        assert!(c.is_child(date(2090, 1, 1)));
        assert_eq!(c.ages_out_within(today(), 90), None);
    }

    #[test]
    fn a_presumed_child_stays_a_child_until_age_is_established() {
        let mut c = plain();
        c.birth = Birth::EstimatedYear(2005);
        assert!(!c.is_child(today()));
        c.presumed_child = true;
        assert!(c.is_child(today()));
        c.birth = Birth::Date(date(2000, 1, 1));
        assert!(c.is_child(today()));
        // No ageing-out date while the presumption holds ...
        c.birth = Birth::EstimatedYear(2008);
        assert_eq!(c.ages_out_within(today(), 90), None);
        // ... and one as soon as age is established.
        c.presumed_child = false;
        assert_eq!(c.ages_out_within(today(), 90), Some(date(2026, 12, 31)));
    }

    #[test]
    fn ages_out_window() {
        let mut c = plain();
        // 90 days after 2026-11-23 is 2027-02-21.
        c.birth = Birth::Date(date(2009, 2, 21));
        assert_eq!(c.ages_out_within(today(), 90), Some(date(2027, 2, 21)));
        c.birth = Birth::Date(date(2009, 2, 22));
        assert_eq!(c.ages_out_within(today(), 90), None);
        // Today is inside the window; yesterday is not.
        c.birth = Birth::Date(date(2008, 11, 23));
        assert_eq!(c.ages_out_within(today(), 90), Some(today()));
        assert_eq!(c.ages_out_within(today(), 0), Some(today()));
        c.birth = Birth::Date(date(2008, 11, 22));
        assert_eq!(c.ages_out_within(today(), 90), None);
        // The 31-December rule applies to the window too.
        c.birth = Birth::EstimatedYear(2008);
        assert_eq!(c.ages_out_within(today(), 90), Some(date(2026, 12, 31)));
        assert_eq!(c.ages_out_within(today(), 37), None);
        assert_eq!(c.ages_out_within(today(), 38), Some(date(2026, 12, 31)));
        // A huge window does not overflow.
        assert_eq!(
            c.ages_out_within(today(), u32::MAX),
            Some(date(2026, 12, 31))
        );
    }

    #[test]
    fn consent_latest_entry_decides() {
        use ConsentBy::*;
        use Purpose::*;
        let mut c = plain();
        assert!(!c.has_consent(Child, FamilyTracing));
        c.consents
            .push(consent(Child, FamilyTracing, "2026-11-02T10:00:00Z", false));
        assert!(c.has_consent(Child, FamilyTracing));
        assert!(!c.has_consent(Guardian, FamilyTracing));
        assert!(!c.has_consent(Child, ContinuityOfCare));
        // Withdrawn in place.
        c.consents[0].withdrawn = true;
        assert!(!c.has_consent(Child, FamilyTracing));
        // Given again later.
        c.consents
            .push(consent(Child, FamilyTracing, "2026-11-03T10:00:00Z", false));
        assert!(c.has_consent(Child, FamilyTracing));
        // Withdrawn by a later entry.
        c.consents
            .push(consent(Child, FamilyTracing, "2026-11-04T10:00:00Z", true));
        assert!(!c.has_consent(Child, FamilyTracing));
        // Order is by time, not by position.
        c.consents.insert(
            0,
            consent(Child, FamilyTracing, "2026-11-05T10:00:00Z", false),
        );
        assert!(c.has_consent(Child, FamilyTracing));
    }

    #[test]
    fn protected_country_is_nationality_or_residence_when_stateless() {
        let mut c = plain();
        c.habitual_residence = Some(country("IT"));
        assert_eq!(c.protected_country(), None);
        c.asylum = AsylumStatus::Seeking;
        assert_eq!(c.protected_country(), Some(country("AL")));
        c.nationality = None;
        c.stateless = true;
        assert_eq!(c.protected_country(), Some(country("IT")));
    }
}
