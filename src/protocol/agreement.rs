//! Bilateral agreements: the parties and their calendars, the agreed
//! languages, response times, follow-up schedules and validity, and the
//! canonical hash both nodes must hold before they exchange envelopes under
//! it.

use crate::protocol::FieldError;
use crate::protocol::card::toml_error;
use crate::protocol::country::Country;
use crate::protocol::deadline::{
    Calendar, DEFAULT_REMINDERS, Lane, OfficeHours, Percent, SlaDuration,
};
use crate::protocol::forms::Kind;
use crate::protocol::forms::followup::{DEFAULT_DOMAINS, ScoreDomain};
use crate::protocol::language::Language;
use crate::protocol::schedule::{FollowUp, MAX_FOLLOW_UPS, Until, is_date_duration};
use crate::protocol::wire::canonical_cbor;
use jiff::SignedDuration;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// Most public holidays listed for one party.
pub const MAX_HOLIDAYS: usize = 2000;
/// Most reminder points for one kind.
pub const MAX_REMINDERS: usize = 10;
/// Most follow-up schedules in one agreement.
pub const MAX_SCHEDULES: usize = 32;

/// A bilateral agreement, as written in its TOML file. Both parties use the
/// same file; its canonical hash identifies the exact text agreed.
///
/// Every key added after the first version is optional and left out of the
/// canonical encoding when absent, so older documents keep their hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    /// Identifier, e.g. `AL-GR`: upper-case letters, digits and `-`.
    pub id: String,
    /// Version; an amendment is a new version.
    pub version: u32,
    /// The two parties.
    pub parties: Vec<Country>,
    /// Languages agreed for messages.
    pub languages: Vec<Language>,
    /// First day the agreement is in force (inclusive).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_date"
    )]
    pub valid_from: Option<Date>,
    /// Last day the agreement is in force (inclusive).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_date"
    )]
    pub valid_until: Option<Date>,
    /// Day a denunciation takes effect: from that day the agreement is no
    /// longer in force.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_opt_date"
    )]
    pub denounced: Option<Date>,
    /// Score-card domains reported on; default: the eight standard ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_domains: Option<Vec<ScoreDomain>>,
    /// The message kinds this agreement covers; absent: every kind. A
    /// node refuses to send or accept a kind not covered (reminders, which
    /// nodes send on their own about covered messages, always are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<Kind>>,
    /// Each party's calendar and availability, keyed by country.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub party: BTreeMap<Country, Party>,
    /// The urgent lane for a follow-up report that raises a red flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub red_flag: Option<RedFlag>,
    /// How long undelivered messages may wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryTerms>,
    /// Key rotation terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeyTerms>,
    /// Attachment size limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<AttachmentTerms>,
    /// Which text prevails when a message carries translations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translations: Option<TranslationTerms>,
    /// Follow-up schedules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_up: Vec<FollowUp>,
    /// Agreed response times per message kind. Declared last so that the
    /// normalised TOML ends with the SLA tables.
    #[serde(default)]
    pub sla: BTreeMap<String, Sla>,
}

/// One party's calendar and availability (`[party.CC]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// IANA time zone name, e.g. `Europe/Athens`.
    pub time_zone: String,
    /// Days of the week off; default Saturday and Sunday.
    #[serde(
        default = "default_weekend",
        skip_serializing_if = "is_default_weekend",
        serialize_with = "sorted_days"
    )]
    pub weekend: Vec<DayName>,
    /// Public holidays.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_dates",
        serialize_with = "sorted_dates"
    )]
    pub holidays: Vec<Date>,
    /// When the party can be reached.
    pub availability: Availability,
    /// Office hours, required with `availability = "office-hours"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_hours: Option<OfficeHours>,
}

/// A day of the week, written in lower case (`saturday`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DayName {
    /// `monday`
    Monday,
    /// `tuesday`
    Tuesday,
    /// `wednesday`
    Wednesday,
    /// `thursday`
    Thursday,
    /// `friday`
    Friday,
    /// `saturday`
    Saturday,
    /// `sunday`
    Sunday,
}

impl DayName {
    /// The weekday.
    pub fn weekday(self) -> Weekday {
        match self {
            DayName::Monday => Weekday::Monday,
            DayName::Tuesday => Weekday::Tuesday,
            DayName::Wednesday => Weekday::Wednesday,
            DayName::Thursday => Weekday::Thursday,
            DayName::Friday => Weekday::Friday,
            DayName::Saturday => Weekday::Saturday,
            DayName::Sunday => Weekday::Sunday,
        }
    }
}

fn default_weekend() -> Vec<DayName> {
    vec![DayName::Saturday, DayName::Sunday]
}

fn is_default_weekend(days: &[DayName]) -> bool {
    let mut v = days.to_vec();
    v.sort();
    v == default_weekend()
}

fn sorted_days<S: serde::Serializer>(days: &[DayName], s: S) -> Result<S::Ok, S::Error> {
    let mut v = days.to_vec();
    v.sort();
    serde::Serialize::serialize(&v, s)
}

fn sorted_dates<S: serde::Serializer>(dates: &[Date], s: S) -> Result<S::Ok, S::Error> {
    let mut v = dates.to_vec();
    v.sort();
    serde::Serialize::serialize(&v, s)
}

/// When a party can be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Availability {
    /// `"24/7"`: round the clock.
    #[serde(rename = "24/7")]
    RoundTheClock,
    /// `"office-hours"`: on working days within `office_hours`.
    #[serde(rename = "office-hours")]
    OfficeHours,
}

/// The agreed service level for one message kind (`[sla.KIND]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    /// How long the receiving NFP has to respond.
    pub respond_within: SlaDuration,
    /// Kinds whose arrival answers it; default: see
    /// [`Agreement::default_answered_by`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<Vec<Kind>>,
    /// Reminder points; default 50% and 100%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminders: Option<Vec<Percent>>,
    /// Routine (default) or urgent.
    #[serde(default, skip_serializing_if = "Lane::is_routine")]
    pub lane: Lane,
}

/// The urgent lane for a `follow-up-report` with a red flag (`[red_flag]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedFlag {
    /// How long the receiver of the report has to respond (s, minutes or
    /// hours).
    pub respond_within: SlaDuration,
    /// Kinds that answer it; default `case-update` and `case-closure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<Vec<Kind>>,
    /// Reminder points; default 50% and 100%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminders: Option<Vec<Percent>>,
}

/// Delivery terms (`[delivery]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryTerms {
    /// How long an undelivered message may wait before it fails (s,
    /// minutes, hours or days).
    pub max_age: SlaDuration,
}

/// Key rotation terms (`[keys]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyTerms {
    /// How long a partner's replaced keys stay accepted after it announced
    /// new ones (s, minutes, hours or days).
    pub overlap: SlaDuration,
}

/// Attachment limits (`[attachments]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentTerms {
    /// Largest file, e.g. `"50 MiB"`.
    pub max_file: String,
    /// Largest total per message, e.g. `"100 MiB"`.
    pub max_message: String,
}

/// Which text prevails (`[translations]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslationTerms {
    /// `"original"`, or an agreed language whose translation prevails.
    pub prevails: String,
}

/// Attachment limits when an agreement sets none: 10 MiB a file, 25 MiB a
/// message.
pub const DEFAULT_ATTACHMENT_LIMITS: crate::protocol::attachment::Limits =
    crate::protocol::attachment::Limits {
        max_file: 10 * 1024 * 1024,
        max_message: 25 * 1024 * 1024,
    };

/// Largest attachment limit an agreement may set (1 GiB).
pub const MAX_ATTACHMENT_LIMIT: u64 = 1024 * 1024 * 1024;

/// The overlap when an agreement sets none.
pub const DEFAULT_KEY_OVERLAP_SECS: i64 = 7 * 24 * 3600;

/// Longest overlap an agreement may set: a long window keeps a replaced
/// (perhaps leaked) key alive.
pub const MAX_KEY_OVERLAP_SECS: i64 = 90 * 24 * 3600;

/// What an envelope names of the agreement it travels under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgreementRef<'a> {
    /// Agreement id.
    pub id: &'a str,
    /// Agreement version.
    pub version: u32,
    /// Canonical hash.
    pub hash: [u8; 32],
}

impl Agreement {
    /// Parses and validates an agreement from TOML.
    pub fn from_toml(text: &str) -> Result<Agreement, Vec<FieldError>> {
        let a: Agreement = toml::from_str(text).map_err(|e| vec![toml_error(text, &e)])?;
        let problems = a.validate();
        if problems.is_empty() {
            Ok(a)
        } else {
            Err(problems)
        }
    }

    /// The agreement as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Every problem serde cannot catch, each naming its field.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut p = Vec::new();
        if let Some(kinds) = &self.kinds {
            if kinds.is_empty() {
                p.push(FieldError::new(
                    "kinds",
                    "list at least one kind, or leave the key out for all",
                ));
            }
            for k in self.sla.keys() {
                if let Some(kind) = Kind::parse(k)
                    && !kinds.contains(&kind)
                {
                    p.push(FieldError::new(
                        format!("sla.{k}"),
                        "sets a response time for a kind the agreement does not cover (see `kinds`)",
                    ));
                }
            }
        }
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        {
            p.push(FieldError::new(
                "id",
                "must be 1 to 64 upper-case letters, digits or '-', e.g. \"AL-GR\"",
            ));
        }
        if self.version == 0 {
            p.push(FieldError::new("version", "must be 1 or more"));
        }
        if self.parties.len() != 2 || self.parties[0] == self.parties[1] {
            p.push(FieldError::new(
                "parties",
                "must name exactly two different countries",
            ));
        }
        if self.languages.is_empty() {
            p.push(FieldError::new(
                "languages",
                "must name at least one language",
            ));
        }
        let mut seen = Vec::new();
        for l in &self.languages {
            if seen.contains(l) {
                p.push(FieldError::new("languages", format!("{l} is listed twice")));
            }
            seen.push(*l);
        }
        self.validate_validity(&mut p);
        self.validate_parties(&mut p);
        self.validate_slas(&mut p);
        self.validate_red_flag(&mut p);
        self.validate_follow_ups(&mut p);
        if let Some(domains) = &self.score_domains {
            if domains.is_empty() {
                p.push(FieldError::new(
                    "score_domains",
                    "must name at least one domain (leave it out for the standard eight)",
                ));
            }
            for (i, d) in domains.iter().enumerate() {
                if domains[..i].contains(d) {
                    p.push(FieldError::new(
                        format!("score_domains[{i}]"),
                        "is listed twice",
                    ));
                }
            }
        }
        if let Some(a) = &self.attachments {
            use crate::protocol::attachment::parse_size;
            let mut sizes = [0u64; 2];
            for (i, (name, v)) in [("max_file", &a.max_file), ("max_message", &a.max_message)]
                .into_iter()
                .enumerate()
            {
                match parse_size(v) {
                    Ok(0) => p.push(FieldError::new(
                        format!("attachments.{name}"),
                        "must be more than 0",
                    )),
                    Ok(n) if n > MAX_ATTACHMENT_LIMIT => p.push(FieldError::new(
                        format!("attachments.{name}"),
                        format!("{v} is more than 1 GiB"),
                    )),
                    Ok(n) => sizes[i] = n,
                    Err(e) => p.push(FieldError::new(format!("attachments.{name}"), e)),
                }
            }
            if sizes[0] > 0 && sizes[1] > 0 && sizes[0] > sizes[1] {
                p.push(FieldError::new(
                    "attachments.max_file",
                    "is more than max_message",
                ));
            }
        }
        if let Some(t) = &self.translations
            && t.prevails != "original"
            && !self
                .languages
                .iter()
                .any(|l| l.as_str() == t.prevails.as_str())
        {
            p.push(FieldError::new(
                "translations.prevails",
                format!(
                    "{:?} is neither \"original\" nor an agreed language",
                    t.prevails
                ),
            ));
        }
        if let Some(k) = &self.keys {
            match k.overlap.fixed_length() {
                None => p.push(FieldError::new(
                    "keys.overlap",
                    format!(
                        "{} has no fixed length: use s, minutes, hours or days",
                        k.overlap
                    ),
                )),
                Some(d) if d.as_secs() > MAX_KEY_OVERLAP_SECS => p.push(FieldError::new(
                    "keys.overlap",
                    format!("{} is longer than 90 days", k.overlap),
                )),
                Some(_) => {}
            }
        }
        if let Some(d) = &self.delivery
            && d.max_age.fixed_length().is_none()
        {
            p.push(FieldError::new(
                "delivery.max_age",
                format!(
                    "{} has no fixed length: use s, minutes, hours or days",
                    d.max_age
                ),
            ));
        }
        p
    }

    fn validate_validity(&self, p: &mut Vec<FieldError>) {
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until < from
        {
            p.push(FieldError::new(
                "valid_until",
                format!("{until} is before valid_from ({from})"),
            ));
        }
        if let (Some(from), Some(den)) = (self.valid_from, self.denounced)
            && den < from
        {
            p.push(FieldError::new(
                "denounced",
                format!("{den} is before valid_from ({from})"),
            ));
        }
    }

    fn validate_parties(&self, p: &mut Vec<FieldError>) {
        // An agreement written before party calendars existed has no
        // [party] table at all; it keeps the default calendar (UTC,
        // Saturday and Sunday off, no holidays, 24/7). Once any party has a
        // section, every party needs one.
        if !self.party.is_empty() {
            for c in &self.parties {
                if !self.party.contains_key(c) {
                    p.push(FieldError::new(
                        format!("party.{c}"),
                        format!(
                            "missing: every party needs a [party.{c}] section with its time_zone and availability"
                        ),
                    ));
                }
            }
        }
        for (c, party) in &self.party {
            let at = |f: &str| format!("party.{c}.{f}");
            if !self.parties.contains(c) {
                p.push(FieldError::new(
                    format!("party.{c}"),
                    format!("{c} is not one of the parties"),
                ));
            }
            if TimeZone::get(&party.time_zone).is_err() {
                p.push(FieldError::new(
                    at("time_zone"),
                    format!(
                        "{:?} is not a known IANA time zone name, e.g. \"Europe/Athens\"",
                        party.time_zone
                    ),
                ));
            }
            for (i, d) in party.weekend.iter().enumerate() {
                if party.weekend[..i].contains(d) {
                    p.push(FieldError::new(
                        format!("party.{c}.weekend[{i}]"),
                        "is listed twice",
                    ));
                }
            }
            let mut days = party.weekend.clone();
            days.sort();
            days.dedup();
            if days.len() >= 7 {
                p.push(FieldError::new(
                    at("weekend"),
                    "must leave at least one working day",
                ));
            }
            if party.holidays.len() > MAX_HOLIDAYS {
                p.push(FieldError::new(
                    at("holidays"),
                    format!("lists more than {MAX_HOLIDAYS} days"),
                ));
            }
            for (i, d) in party.holidays.iter().enumerate() {
                if party.holidays[..i].contains(d) {
                    p.push(FieldError::new(
                        format!("party.{c}.holidays[{i}]"),
                        format!("{d} is listed twice"),
                    ));
                }
            }
            match (party.availability, party.office_hours) {
                (Availability::OfficeHours, None) => p.push(FieldError::new(
                    at("office_hours"),
                    "required with availability = \"office-hours\", e.g. \"08:00-16:00\"",
                )),
                (Availability::RoundTheClock, Some(_)) => p.push(FieldError::new(
                    at("office_hours"),
                    "only allowed with availability = \"office-hours\"",
                )),
                _ => {}
            }
        }
    }

    fn validate_slas(&self, p: &mut Vec<FieldError>) {
        for (name, sla) in &self.sla {
            let Some(kind) = Kind::parse(name) else {
                p.push(FieldError::new(
                    format!("sla.{name}"),
                    format!(
                        "unknown message kind; known kinds: {}",
                        Kind::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                continue;
            };
            let at = format!("sla.{name}");
            if let Some(kinds) = &sla.answered_by {
                check_answers(p, &at, kind, kinds);
            }
            if let Some(r) = &sla.reminders {
                check_reminders(p, &at, r);
            }
            if sla.lane == Lane::Urgent && !sla.respond_within.is_clock_time() {
                p.push(FieldError::new(
                    format!("{at}.respond_within"),
                    format!(
                        "{} is too long for the urgent lane: use s, minutes or hours",
                        sla.respond_within
                    ),
                ));
            }
        }
    }

    fn validate_red_flag(&self, p: &mut Vec<FieldError>) {
        let Some(rf) = &self.red_flag else { return };
        if !rf.respond_within.is_clock_time() {
            p.push(FieldError::new(
                "red_flag.respond_within",
                format!(
                    "{} is too long for the urgent lane: use s, minutes or hours",
                    rf.respond_within
                ),
            ));
        }
        if let Some(kinds) = &rf.answered_by {
            check_answers(p, "red_flag", Kind::FollowUpReport, kinds);
        }
        if let Some(r) = &rf.reminders {
            check_reminders(p, "red_flag", r);
        }
    }

    fn validate_follow_ups(&self, p: &mut Vec<FieldError>) {
        if self.follow_up.len() > MAX_SCHEDULES {
            p.push(FieldError::new(
                "follow_up",
                format!("lists more than {MAX_SCHEDULES} schedules"),
            ));
        }
        for (i, s) in self.follow_up.iter().enumerate() {
            let at = |f: &str| format!("follow_up[{i}].{f}");
            let name_ok = !s.name.is_empty()
                && s.name.len() <= 64
                && s.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !name_ok {
                p.push(FieldError::new(
                    at("name"),
                    "must be 1 to 64 lower-case letters, digits or '-', e.g. \"post-return\"",
                ));
            }
            if self.follow_up[..i].iter().any(|o| o.name == s.name) {
                p.push(FieldError::new(
                    at("name"),
                    format!("{:?} names another schedule too", s.name),
                ));
            }
            match (s.after.is_empty(), s.every) {
                (true, None) | (false, Some(_)) => p.push(FieldError::new(
                    format!("follow_up[{i}]"),
                    "write either after = [...] or every = \"...\" with until = \"age 18\"",
                )),
                _ => {}
            }
            if s.after.len() > MAX_FOLLOW_UPS {
                p.push(FieldError::new(
                    at("after"),
                    format!("lists more than {MAX_FOLLOW_UPS} points"),
                ));
            }
            for (j, a) in s.after.iter().enumerate() {
                if !is_date_duration(a) {
                    p.push(FieldError::new(
                        format!("follow_up[{i}].after[{j}]"),
                        format!("{a} is not in days or months"),
                    ));
                }
                if s.after[..j].contains(a) {
                    p.push(FieldError::new(
                        format!("follow_up[{i}].after[{j}]"),
                        format!("{a} is listed twice"),
                    ));
                }
            }
            if let Some(e) = s.every
                && !is_date_duration(&e)
            {
                p.push(FieldError::new(
                    at("every"),
                    format!("{e} is not in days or months"),
                ));
            }
            match (s.every, s.until) {
                (Some(_), None) => p.push(FieldError::new(
                    at("until"),
                    "required with every, e.g. \"age 18\"",
                )),
                (None, Some(_)) => p.push(FieldError::new(at("until"), "only allowed with every")),
                (Some(_), Some(u)) if u != Until::ADULTHOOD => p.push(FieldError::new(
                    at("until"),
                    format!("{u} is not supported: write \"age 18\""),
                )),
                _ => {}
            }
        }
    }

    /// SHA-256 of the agreement's canonical CBOR encoding (RFC 8949 §4.2.1
    /// core deterministic encoding of the parsed document). Formatting and
    /// comments in the TOML do not change it; any agreed value does.
    pub fn hash(&self) -> [u8; 32] {
        let bytes = canonical_cbor(self).unwrap_or_default();
        let mut out = [0u8; 32];
        out.copy_from_slice(&Sha256::digest(&bytes));
        out
    }

    /// What an envelope under this agreement names.
    pub fn reference(&self) -> AgreementRef<'_> {
        AgreementRef {
            id: &self.id,
            version: self.version,
            hash: self.hash(),
        }
    }

    /// The party that is not `me`, if `me` is a party.
    pub fn other_party(&self, me: Country) -> Option<Country> {
        if self.parties.contains(&me) {
            self.parties.iter().copied().find(|c| *c != me)
        } else {
            None
        }
    }

    /// Whether the agreement covers message kind `kind`.
    pub fn covers(&self, kind: Kind) -> bool {
        kind == Kind::Reminder || self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
    }

    /// Whether `lang` is agreed.
    pub fn allows_language(&self, lang: Language) -> bool {
        self.languages.contains(&lang)
    }

    /// Whether the agreement is in force on `today`: on or after
    /// `valid_from`, on or before `valid_until`, and before the day a
    /// denunciation takes effect. The error says why not.
    pub fn in_force(&self, today: Date) -> Result<(), String> {
        let name = format!("agreement {} v{}", self.id, self.version);
        if let Some(d) = self.denounced
            && today >= d
        {
            return Err(format!("{name} was denounced with effect from {d}"));
        }
        if let Some(d) = self.valid_from
            && today < d
        {
            return Err(format!("{name} is not in force before {d}"));
        }
        if let Some(d) = self.valid_until
            && today > d
        {
            return Err(format!("{name} expired after {d}"));
        }
        Ok(())
    }

    /// The last day the agreement is in force, if it ends: the earlier of
    /// `valid_until` and the day before the denunciation takes effect.
    pub fn last_day(&self) -> Option<Date> {
        let den = self.denounced.and_then(|d| d.yesterday().ok());
        match (self.valid_until, den) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether some day is in force under both `self` and `other` (say, two
    /// versions of one agreement).
    pub fn overlaps(&self, other: &Agreement) -> bool {
        let start = |a: &Agreement| a.valid_from.unwrap_or(Date::MIN);
        let end = |a: &Agreement| a.last_day().unwrap_or(Date::MAX);
        start(self).max(start(other)) <= end(self).min(end(other))
    }

    /// `party`'s section, if it has one.
    pub fn party(&self, party: Country) -> Option<&Party> {
        self.party.get(&party)
    }

    /// The calendar deadlines owed by `party` are counted in: its time zone,
    /// weekend, holidays and office hours. A party without a section (an
    /// agreement from before party calendars) gets [`Calendar::default`].
    pub fn calendar(&self, party: Country) -> Calendar {
        let Some(p) = self.party.get(&party) else {
            return Calendar::default();
        };
        let mut holidays = p.holidays.clone();
        holidays.sort();
        Calendar {
            tz: TimeZone::get(&p.time_zone).unwrap_or(TimeZone::UTC),
            weekend: p.weekend.iter().map(|d| d.weekday()).collect(),
            holidays,
            office_hours: match p.availability {
                Availability::OfficeHours => p.office_hours,
                Availability::RoundTheClock => None,
            },
        }
    }

    /// The service level agreed for `kind`, if any.
    pub fn sla_for(&self, kind: Kind) -> Option<&Sla> {
        self.sla.get(kind.as_str())
    }

    /// The agreed response time for `kind`, if any.
    pub fn respond_within(&self, kind: Kind) -> Option<SlaDuration> {
        self.sla_for(kind).map(|s| s.respond_within)
    }

    /// The lane of `kind`'s deadline, if it has a response time.
    pub fn lane(&self, kind: Kind) -> Option<Lane> {
        self.sla_for(kind).map(|s| s.lane)
    }

    /// The reminder points of `kind`'s deadline (empty without a response
    /// time).
    pub fn reminders(&self, kind: Kind) -> Vec<Percent> {
        match self.sla_for(kind) {
            Some(s) => s.reminders.clone().unwrap_or(DEFAULT_REMINDERS.to_vec()),
            None => Vec::new(),
        }
    }

    /// The kinds that answer a message of `kind`: as agreed, or else
    /// [`Agreement::default_answered_by`].
    pub fn answered_by(&self, kind: Kind) -> Vec<Kind> {
        self.sla_for(kind)
            .and_then(|s| s.answered_by.clone())
            .unwrap_or_else(|| Agreement::default_answered_by(kind))
    }

    /// The kinds that answer a red-flag report: as agreed, or else
    /// `case-update` and `case-closure`.
    pub fn red_flag_answered_by(&self) -> Vec<Kind> {
        self.red_flag
            .as_ref()
            .and_then(|r| r.answered_by.clone())
            .unwrap_or_else(|| vec![Kind::CaseUpdate, Kind::CaseClosure])
    }

    /// The kinds that answer `kind` unless an agreement says otherwise:
    /// those that may reply to it, leaving out `case-update` and
    /// `acknowledgement`, which reply to anything. Where only those two may
    /// reply (e.g. to `continuity-of-care`), both count.
    pub fn default_answered_by(kind: Kind) -> Vec<Kind> {
        let all: Vec<Kind> = Kind::ALL
            .iter()
            .copied()
            .filter(|k| k.may_answer(kind) && *k != Kind::Reminder)
            .collect();
        let specific: Vec<Kind> = all
            .iter()
            .copied()
            .filter(|k| !matches!(k, Kind::CaseUpdate | Kind::Acknowledgement))
            .collect();
        if specific.is_empty() { all } else { specific }
    }

    /// The score-card domains reported on.
    pub fn score_domains(&self) -> &[ScoreDomain] {
        self.score_domains.as_deref().unwrap_or(DEFAULT_DOMAINS)
    }

    /// How long an undelivered message may wait before it fails, if agreed.
    pub fn max_age(&self) -> Option<SignedDuration> {
        self.delivery
            .as_ref()
            .and_then(|d| d.max_age.fixed_length())
    }

    /// The attachment limits in force.
    pub fn attachment_limits(&self) -> crate::protocol::attachment::Limits {
        use crate::protocol::attachment::{Limits, parse_size};
        match &self.attachments {
            Some(a) => Limits {
                max_file: parse_size(&a.max_file).unwrap_or(DEFAULT_ATTACHMENT_LIMITS.max_file),
                max_message: parse_size(&a.max_message)
                    .unwrap_or(DEFAULT_ATTACHMENT_LIMITS.max_message),
            },
            None => DEFAULT_ATTACHMENT_LIMITS,
        }
    }

    /// Which text prevails: `original` or a language code.
    pub fn prevailing_text(&self) -> &str {
        self.translations
            .as_ref()
            .map(|t| t.prevails.as_str())
            .unwrap_or("original")
    }

    /// How long a partner's replaced keys stay accepted, in seconds.
    pub fn key_overlap_secs(&self) -> i64 {
        self.keys
            .as_ref()
            .and_then(|k| k.overlap.fixed_length())
            .map(|d| d.as_secs().clamp(0, MAX_KEY_OVERLAP_SECS))
            .unwrap_or(DEFAULT_KEY_OVERLAP_SECS)
    }

    /// The follow-up schedule named `name`.
    pub fn follow_up_schedule(&self, name: &str) -> Option<&FollowUp> {
        self.follow_up.iter().find(|s| s.name == name)
    }
}

fn check_answers(p: &mut Vec<FieldError>, at: &str, kind: Kind, kinds: &[Kind]) {
    if kinds.is_empty() {
        p.push(FieldError::new(
            format!("{at}.answered_by"),
            "must name at least one kind (leave it out for the default)",
        ));
    }
    for (i, k) in kinds.iter().enumerate() {
        let field = format!("{at}.answered_by[{i}]");
        if let Some(why) = k.reply_error(kind) {
            p.push(FieldError::new(field, why));
        } else if kinds[..i].contains(k) {
            p.push(FieldError::new(field, format!("{k} is listed twice")));
        }
    }
}

fn check_reminders(p: &mut Vec<FieldError>, at: &str, r: &[Percent]) {
    if r.len() > MAX_REMINDERS {
        p.push(FieldError::new(
            format!("{at}.reminders"),
            format!("lists more than {MAX_REMINDERS} points"),
        ));
    }
    for (i, w) in r.windows(2).enumerate() {
        if w[1] <= w[0] {
            p.push(FieldError::new(
                format!("{at}.reminders[{}]", i + 1),
                format!("{} must be larger than the point before ({})", w[1], w[0]),
            ));
        }
    }
}

/// A date written as a TOML date (`2026-12-25`) or a string
/// (`"2026-12-25"`).
struct DateIn(Date);

impl<'de> serde::Deserialize<'de> for DateIn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = DateIn;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a date such as 2026-12-25")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DateIn, E> {
                parse_date(s).map(DateIn).map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<DateIn, A::Error> {
                use serde::Deserialize as _;
                let dt = toml::value::Datetime::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                parse_date(&dt.to_string())
                    .map(DateIn)
                    .map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_date(s: &str) -> Result<Date, String> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(format!(
            "{s:?} is not a date: write YYYY-MM-DD, e.g. 2026-12-25"
        ));
    }
    s.parse::<Date>()
        .map_err(|e| format!("{s:?} is not a valid date: {e}"))
}

fn de_opt_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
    use serde::Deserialize as _;
    Ok(Some(DateIn::deserialize(d)?.0))
}

fn de_dates<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Date>, D::Error> {
    use serde::Deserialize as _;
    Ok(Vec::<DateIn>::deserialize(d)?
        .into_iter()
        .map(|x| x.0)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const AL_GR: &str = r#"
id = "AL-GR"
version = 1
parties = ["AL", "GR"]
languages = ["en", "sq", "el"]
[sla.social-inquiry-request]
respond_within = "30 working days"
"#;

    /// A full agreement using every key.
    const FULL: &str = r#"
id = "AL-GR"
version = 2
parties = ["AL", "GR"]
languages = ["en", "sq", "el"]
valid_from = 2026-01-01
valid_until = "2030-12-31"
score_domains = ["education-work", "housing", "safety"]

[party.AL]
time_zone = "Europe/Tirane"
holidays = [2026-11-28, 2026-11-29, 2026-12-25]
availability = "24/7"

[party.GR]
time_zone = "Europe/Athens"
weekend = ["saturday", "sunday"]
holidays = ["2026-12-25", "2026-12-26"]
availability = "office-hours"
office_hours = "08:00-16:00"

[red_flag]
respond_within = "4 hours"

[delivery]
max_age = "7 days"

[keys]
overlap = "7 days"

[attachments]
max_file = "50 MiB"
max_message = "100 MiB"

[translations]
prevails = "original"

[[follow_up]]
name = "post-return"
anchor = "return"
after = ["3 months", "9 months"]

[[follow_up]]
name = "twice-yearly"
anchor = "return"
every = "6 months"
until = "age 18"
kind = "follow-up-request"

[sla.social-inquiry-request]
respond_within = "30 working days"
reminders = ["50%", "90%", "100%"]

[sla.missing-child-notice]
respond_within = "2 hours"
lane = "urgent"
answered_by = ["missing-child-update", "acknowledgement"]

[sla.follow-up-request]
respond_within = "1 month"
"#;

    fn fields(e: &[FieldError]) -> Vec<&str> {
        e.iter().map(|e| e.field.as_str()).collect()
    }

    fn errors(text: &str) -> Vec<FieldError> {
        Agreement::from_toml(text).unwrap_err()
    }

    fn al() -> Country {
        "AL".parse().unwrap()
    }

    fn gr() -> Country {
        "GR".parse().unwrap()
    }

    #[test]
    fn parses_the_issue_example() {
        let a = Agreement::from_toml(AL_GR).unwrap();
        assert_eq!(a.id, "AL-GR");
        assert_eq!(
            a.respond_within(Kind::SocialInquiryRequest)
                .unwrap()
                .to_string(),
            "30 working days"
        );
        assert_eq!(a.other_party(al()), Some(gr()));
        assert_eq!(a.other_party("FR".parse().unwrap()), None);
    }

    #[test]
    fn hash_ignores_formatting_but_not_values() {
        let a = Agreement::from_toml(AL_GR).unwrap();
        let reformatted = Agreement::from_toml(&a.to_toml()).unwrap();
        assert_eq!(a.hash(), reformatted.hash());
        let b = Agreement::from_toml(&AL_GR.replace("30 working", "20 working")).unwrap();
        assert_ne!(a.hash(), b.hash());
        let c = Agreement::from_toml(&AL_GR.replace("version = 1", "version = 2")).unwrap();
        assert_ne!(a.hash(), c.hash());
    }

    #[test]
    fn older_documents_keep_their_hash() {
        // The canonical encoding of a document without the newer keys is
        // exactly what it was before they existed: id, languages, parties,
        // sla, version.
        let a = Agreement::from_toml(AL_GR).unwrap();
        let bytes = canonical_cbor(&a).unwrap();
        let v: ciborium::value::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
        let keys: Vec<String> = v
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_text().unwrap().to_string())
            .collect();
        assert_eq!(keys, ["id", "sla", "parties", "version", "languages"]);
        let sla = &v.as_map().unwrap()[1].1;
        let inner = &sla.as_map().unwrap()[0].1;
        assert_eq!(inner.as_map().unwrap().len(), 1);
        assert_eq!(hex::encode(a.hash()), hex::encode(Sha256::digest(&bytes)),);
    }

    #[test]
    fn the_full_example_parses_and_round_trips() {
        let a = Agreement::from_toml(FULL).unwrap();
        assert_eq!(a.valid_from, Some(jiff::civil::date(2026, 1, 1)));
        assert_eq!(a.valid_until, Some(jiff::civil::date(2030, 12, 31)));
        let text = a.to_toml();
        let b = Agreement::from_toml(&text).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.hash(), b.hash());
        // The normalised text ends with the SLA tables.
        let last_table = text.lines().rfind(|l| l.starts_with('[')).unwrap();
        assert_eq!(last_table, "[sla.social-inquiry-request]", "{text}");
        // Defaults written out hash the same as defaults left out.
        let explicit = FULL.replace(
            "[party.AL]\n",
            "[party.AL]\nweekend = [\"sunday\", \"saturday\"]\n",
        );
        assert_eq!(Agreement::from_toml(&explicit).unwrap().hash(), a.hash());
        let lane = FULL.replace(
            "respond_within = \"1 month\"\n",
            "respond_within = \"1 month\"\nlane = \"routine\"\n",
        );
        assert_eq!(Agreement::from_toml(&lane).unwrap().hash(), a.hash());
        // Holiday order does not matter; holidays do.
        let reordered = FULL.replace(
            "[2026-11-28, 2026-11-29, 2026-12-25]",
            "[2026-12-25, 2026-11-28, 2026-11-29]",
        );
        assert_eq!(Agreement::from_toml(&reordered).unwrap().hash(), a.hash());
        let fewer = FULL.replace("[2026-11-28, 2026-11-29, 2026-12-25]", "[2026-12-25]");
        assert_ne!(Agreement::from_toml(&fewer).unwrap().hash(), a.hash());
    }

    #[test]
    fn accessors_apply_defaults() {
        let a = Agreement::from_toml(FULL).unwrap();
        assert_eq!(
            a.answered_by(Kind::SocialInquiryRequest),
            [Kind::SocialInquiryReport]
        );
        assert_eq!(
            a.answered_by(Kind::MissingChildNotice),
            [Kind::MissingChildUpdate, Kind::Acknowledgement]
        );
        assert_eq!(a.answered_by(Kind::FollowUpRequest), [Kind::FollowUpReport]);
        assert_eq!(
            Agreement::default_answered_by(Kind::ContinuityOfCare),
            [Kind::CaseUpdate, Kind::Acknowledgement]
        );
        // Requests and notices may follow up a case update.
        assert_eq!(
            Agreement::default_answered_by(Kind::CaseUpdate),
            [
                Kind::SocialInquiryRequest,
                Kind::SecurityAssessmentRequest,
                Kind::ContinuityOfCare,
                Kind::MissingChildNotice,
                Kind::FollowUpRequest,
                Kind::CaseClosure
            ]
        );
        for k in Kind::ALL {
            let d = Agreement::default_answered_by(*k);
            assert!(!d.is_empty(), "{k}");
            assert!(d.iter().all(|a| a.may_answer(*k)), "{k}");
        }
        assert_eq!(
            a.red_flag_answered_by(),
            [Kind::CaseUpdate, Kind::CaseClosure]
        );
        assert_eq!(
            a.reminders(Kind::SocialInquiryRequest)
                .iter()
                .map(|p| p.get())
                .collect::<Vec<_>>(),
            [50, 90, 100]
        );
        assert_eq!(a.reminders(Kind::FollowUpRequest), DEFAULT_REMINDERS);
        assert!(a.reminders(Kind::CaseClosure).is_empty());
        assert_eq!(a.lane(Kind::MissingChildNotice), Some(Lane::Urgent));
        assert_eq!(a.lane(Kind::SocialInquiryRequest), Some(Lane::Routine));
        assert_eq!(a.lane(Kind::CaseClosure), None);
        assert_eq!(a.score_domains().len(), 3);
        assert_eq!(
            Agreement::from_toml(AL_GR).unwrap().score_domains(),
            DEFAULT_DOMAINS
        );
        assert_eq!(a.max_age(), Some(SignedDuration::from_hours(7 * 24)));
        assert_eq!(Agreement::from_toml(AL_GR).unwrap().max_age(), None);
        assert_eq!(
            a.follow_up_schedule("twice-yearly").unwrap().until,
            Some(Until::ADULTHOOD)
        );
        assert!(a.follow_up_schedule("nope").is_none());
    }

    #[test]
    fn calendars_come_from_the_party_sections() {
        let a = Agreement::from_toml(FULL).unwrap();
        let g = a.calendar(gr());
        assert_eq!(g.tz.iana_name(), Some("Europe/Athens"));
        assert_eq!(g.weekend, [Weekday::Saturday, Weekday::Sunday]);
        assert_eq!(g.holidays.len(), 2);
        assert_eq!(g.office_hours.unwrap().to_string(), "08:00-16:00");
        let l = a.calendar(al());
        assert_eq!(l.tz.iana_name(), Some("Europe/Tirane"));
        assert!(l.office_hours.is_none());
        assert!(!l.is_working_day(jiff::civil::date(2026, 11, 30).yesterday().unwrap()));
        // Without party sections: the default calendar.
        let old = Agreement::from_toml(AL_GR).unwrap();
        assert_eq!(old.calendar(al()).tz, TimeZone::UTC);
        assert!(old.party(al()).is_none());
    }

    #[test]
    fn validity_and_denunciation() {
        let d = jiff::civil::date;
        let a = Agreement::from_toml(FULL).unwrap();
        assert!(
            a.in_force(d(2025, 12, 31))
                .unwrap_err()
                .contains("not in force before 2026-01-01")
        );
        assert!(a.in_force(d(2026, 1, 1)).is_ok());
        assert!(a.in_force(d(2030, 12, 31)).is_ok());
        assert!(a.in_force(d(2031, 1, 1)).unwrap_err().contains("expired"));
        let den = Agreement::from_toml(&FULL.replace(
            "valid_from = 2026-01-01\n",
            "valid_from = 2026-01-01\ndenounced = 2027-03-01\n",
        ))
        .unwrap();
        assert!(den.in_force(d(2027, 2, 28)).is_ok());
        let e = den.in_force(d(2027, 3, 1)).unwrap_err();
        assert!(e.contains("denounced with effect from 2027-03-01"), "{e}");
        assert_eq!(den.last_day(), Some(d(2027, 2, 28)));
        assert!(
            Agreement::from_toml(AL_GR)
                .unwrap()
                .in_force(d(1990, 1, 1))
                .is_ok()
        );
        // Overlap of versions.
        let v3 = Agreement::from_toml(
            &FULL
                .replace("version = 2", "version = 3")
                .replace("valid_from = 2026-01-01", "valid_from = 2027-03-01")
                .replace("valid_until = \"2030-12-31\"\n", ""),
        )
        .unwrap();
        assert!(!den.overlaps(&v3));
        assert!(a.overlaps(&v3));
        assert!(v3.overlaps(&Agreement::from_toml(AL_GR).unwrap()));
    }

    #[test]
    fn problems_name_their_field() {
        let e = errors(&format!("extra = 1\n{AL_GR}"));
        assert_eq!(e[0].field, "extra");
        let e = errors(&AL_GR.replace("[\"AL\", \"GR\"]", "[\"AL\", \"AL\"]"));
        assert_eq!(e[0].field, "parties");
        let e = errors(&AL_GR.replace("social-inquiry-request", "tea-request"));
        assert_eq!(e[0].field, "sla.tea-request");
        let e = errors(&AL_GR.replace("30 working days", "30 fortnights"));
        assert!(e[0].message.contains("not a duration"), "{e:?}");
        assert_eq!(e[0].field, "sla.social-inquiry-request.respond_within");
        let e = errors(&format!("{AL_GR}colour = 1\n"));
        assert_eq!(e[0].field, "sla.social-inquiry-request.colour");
        let e = errors(&AL_GR.replace("\"el\"", "\"greek\""));
        assert!(e[0].message.contains("ISO 639-1"), "{e:?}");
    }

    /// Replaces `from` in the full example (which must contain it) and
    /// returns the fields of the problems found.
    fn problems(from: &str, to: &str) -> Vec<String> {
        assert!(FULL.contains(from), "{from}");
        match Agreement::from_toml(&FULL.replacen(from, to, 1)) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn validity_dates_are_checked() {
        assert_eq!(
            problems("valid_until = \"2030-12-31\"", "valid_until = 2025-12-31"),
            ["valid_until"]
        );
        assert_eq!(
            problems(
                "valid_from = 2026-01-01",
                "valid_from = 2026-01-01\ndenounced = 2025-06-01"
            ),
            ["denounced"]
        );
        // Malformed dates are refused while parsing, naming the key.
        assert_eq!(
            problems(
                "valid_until = \"2030-12-31\"",
                "valid_until = \"2030-02-30\""
            ),
            ["valid_until"]
        );
        assert_eq!(
            problems(
                "valid_until = \"2030-12-31\"",
                "valid_until = \"31/12/2030\""
            ),
            ["valid_until"]
        );
        assert_eq!(
            problems(
                "valid_until = \"2030-12-31\"",
                "valid_until = 2030-12-31T10:00:00"
            ),
            ["valid_until"]
        );
    }

    #[test]
    fn party_sections_are_checked() {
        // Missing one party, or an extra one.
        assert_eq!(
            problems("[party.GR]", "[party.FR]"),
            ["party.GR", "party.FR"]
        );
        assert_eq!(
            problems(
                "time_zone = \"Europe/Athens\"",
                "time_zone = \"Europe/Atlantis\""
            ),
            ["party.GR.time_zone"]
        );
        assert_eq!(
            problems(
                "weekend = [\"saturday\", \"sunday\"]",
                "weekend = [\"saturday\", \"sunday\", \"saturday\"]"
            ),
            ["party.GR.weekend[2]"]
        );
        assert_eq!(
            problems(
                "weekend = [\"saturday\", \"sunday\"]",
                "weekend = [\"monday\", \"tuesday\", \"wednesday\", \"thursday\", \"friday\", \"saturday\", \"sunday\"]"
            ),
            ["party.GR.weekend"]
        );
        assert!(problems("weekend = [\"saturday\", \"sunday\"]", "weekend = []").is_empty());
        assert_eq!(
            problems(
                "weekend = [\"saturday\", \"sunday\"]",
                "weekend = [\"caturday\"]"
            ),
            ["party.GR.weekend"]
        );
        assert_eq!(
            problems(
                "[\"2026-12-25\", \"2026-12-26\"]",
                "[\"2026-12-25\", \"2026-12-25\"]"
            ),
            ["party.GR.holidays[1]"]
        );
        assert_eq!(
            problems(
                "[\"2026-12-25\", \"2026-12-26\"]",
                "[\"2026-12-25\", \"2026-13-26\"]"
            ),
            ["party.GR.holidays"]
        );
        assert_eq!(
            problems("office_hours = \"08:00-16:00\"\n", ""),
            ["party.GR.office_hours"]
        );
        assert_eq!(
            problems(
                "office_hours = \"08:00-16:00\"",
                "office_hours = \"16:00-08:00\""
            ),
            ["party.GR.office_hours"]
        );
        assert_eq!(
            problems(
                "availability = \"24/7\"",
                "availability = \"24/7\"\noffice_hours = \"09:00-17:00\""
            ),
            ["party.AL.office_hours"]
        );
        assert_eq!(
            problems("availability = \"24/7\"", "availability = \"sometimes\""),
            ["party.AL.availability"]
        );
        assert_eq!(
            problems(
                "availability = \"24/7\"",
                "availability = \"24/7\"\ncolour = 1"
            ),
            ["party.AL.colour"]
        );
        assert_eq!(
            problems(
                "[party.AL]\ntime_zone = \"Europe/Tirane\"\n",
                "[party.AL]\n"
            ),
            ["time_zone"]
        );
    }

    #[test]
    fn sla_sections_are_checked() {
        assert_eq!(
            problems(
                "answered_by = [\"missing-child-update\", \"acknowledgement\"]",
                "answered_by = [\"missing-child-update\", \"social-inquiry-report\"]"
            ),
            ["sla.missing-child-notice.answered_by[1]"]
        );
        assert_eq!(
            problems(
                "answered_by = [\"missing-child-update\", \"acknowledgement\"]",
                "answered_by = [\"missing-child-update\", \"missing-child-update\"]"
            ),
            ["sla.missing-child-notice.answered_by[1]"]
        );
        assert_eq!(
            problems(
                "answered_by = [\"missing-child-update\", \"acknowledgement\"]",
                "answered_by = []"
            ),
            ["sla.missing-child-notice.answered_by"]
        );
        assert_eq!(
            problems(
                "answered_by = [\"missing-child-update\", \"acknowledgement\"]",
                "answered_by = [\"tea\"]"
            ),
            ["sla.missing-child-notice.answered_by"]
        );
        assert_eq!(
            problems(
                "[\"50%\", \"90%\", \"100%\"]",
                "[\"50%\", \"40%\", \"100%\"]"
            ),
            ["sla.social-inquiry-request.reminders[1]"]
        );
        assert_eq!(
            problems("[\"50%\", \"90%\", \"100%\"]", "[\"50%\", \"50%\"]"),
            ["sla.social-inquiry-request.reminders[1]"]
        );
        assert_eq!(
            problems("[\"50%\", \"90%\", \"100%\"]", "[\"half\"]"),
            ["sla.social-inquiry-request.reminders"]
        );
        let many: Vec<String> = (1..=11).map(|p| format!("\"{}%\"", p * 10)).collect();
        assert_eq!(
            problems(
                "[\"50%\", \"90%\", \"100%\"]",
                &format!("[{}]", many.join(", "))
            ),
            ["sla.social-inquiry-request.reminders"]
        );
        assert!(problems("[\"50%\", \"90%\", \"100%\"]", "[]").is_empty());
        assert_eq!(
            problems(
                "respond_within = \"2 hours\"",
                "respond_within = \"2 days\""
            ),
            ["sla.missing-child-notice.respond_within"]
        );
        assert_eq!(
            problems(
                "respond_within = \"2 hours\"",
                "respond_within = \"1 working day\""
            ),
            ["sla.missing-child-notice.respond_within"]
        );
        assert!(
            problems(
                "respond_within = \"2 hours\"",
                "respond_within = \"90 minutes\""
            )
            .is_empty()
        );
        assert_eq!(
            problems("lane = \"urgent\"", "lane = \"fast\""),
            ["sla.missing-child-notice.lane"]
        );
    }

    #[test]
    fn red_flag_delivery_and_domains_are_checked() {
        assert_eq!(
            problems(
                "respond_within = \"4 hours\"",
                "respond_within = \"2 days\""
            ),
            ["red_flag.respond_within"]
        );
        assert_eq!(
            problems(
                "respond_within = \"4 hours\"",
                "respond_within = \"4 hours\"\nanswered_by = [\"follow-up-request\"]"
            ),
            ["red_flag.answered_by[0]"]
        );
        assert_eq!(
            problems(
                "respond_within = \"4 hours\"",
                "respond_within = \"4 hours\"\nreminders = [\"90%\", \"10%\"]"
            ),
            ["red_flag.reminders[1]"]
        );
        assert_eq!(
            problems("max_age = \"7 days\"", "max_age = \"7 working days\""),
            ["delivery.max_age"]
        );
        assert_eq!(
            problems("max_age = \"7 days\"", "max_age = \"1 month\""),
            ["delivery.max_age"]
        );
        assert_eq!(
            problems("overlap = \"7 days\"", "overlap = \"7 working days\""),
            ["keys.overlap"]
        );
        assert_eq!(
            problems("max_file = \"50 MiB\"", "max_file = \"50MB\""),
            ["attachments.max_file"]
        );
        assert_eq!(
            problems("max_file = \"50 MiB\"", "max_file = \"200 MiB\""),
            ["attachments.max_file"]
        );
        assert_eq!(
            problems("prevails = \"original\"", "prevails = \"fr\""),
            ["translations.prevails"]
        );
        assert_eq!(
            problems("overlap = \"7 days\"", "overlap = \"91 days\""),
            ["keys.overlap"]
        );
        assert_eq!(
            problems("max_age = \"7 days\"", "max_age = \"7 days\"\nretries = 3"),
            ["delivery.retries"]
        );
        assert_eq!(
            problems(
                "[\"education-work\", \"housing\", \"safety\"]",
                "[\"education-work\", \"housing\", \"housing\"]"
            ),
            ["score_domains[2]"]
        );
        assert_eq!(
            problems("[\"education-work\", \"housing\", \"safety\"]", "[]"),
            ["score_domains"]
        );
        assert_eq!(
            problems(
                "[\"education-work\", \"housing\", \"safety\"]",
                "[\"astrology\"]"
            ),
            ["score_domains"]
        );
    }

    #[test]
    fn follow_up_schedules_are_checked() {
        assert_eq!(
            problems("name = \"twice-yearly\"", "name = \"post-return\""),
            ["follow_up[1].name"]
        );
        assert_eq!(
            problems("name = \"twice-yearly\"", "name = \"Twice Yearly\""),
            ["follow_up[1].name"]
        );
        assert_eq!(
            problems("after = [\"3 months\", \"9 months\"]\n", ""),
            ["follow_up[0]"]
        );
        assert_eq!(
            problems(
                "after = [\"3 months\", \"9 months\"]",
                "after = [\"3 months\"]\nevery = \"6 months\"\nuntil = \"age 18\""
            ),
            ["follow_up[0]"]
        );
        assert_eq!(
            problems(
                "after = [\"3 months\", \"9 months\"]",
                "after = [\"3 months\", \"4 hours\"]"
            ),
            ["follow_up[0].after[1]"]
        );
        assert_eq!(
            problems(
                "after = [\"3 months\", \"9 months\"]",
                "after = [\"3 months\", \"3 months\"]"
            ),
            ["follow_up[0].after[1]"]
        );
        assert_eq!(
            problems(
                "after = [\"3 months\", \"9 months\"]",
                "after = [\"3 months\"]\nuntil = \"age 18\""
            ),
            ["follow_up[0].until"]
        );
        assert_eq!(
            problems("every = \"6 months\"", "every = \"6 working days\""),
            ["follow_up[1].every"]
        );
        assert_eq!(problems("until = \"age 18\"\n", ""), ["follow_up[1].until"]);
        assert_eq!(
            problems("until = \"age 18\"", "until = \"age 16\""),
            ["follow_up[1].until"]
        );
        assert_eq!(
            problems("until = \"age 18\"", "until = \"adulthood\""),
            ["follow_up.until"]
        );
        assert_eq!(
            problems("anchor = \"return\"", "anchor = \"arrival\""),
            ["follow_up.anchor"]
        );
        assert_eq!(
            problems("kind = \"follow-up-request\"", "kind = \"tea\""),
            ["follow_up.kind"]
        );
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../config/agreements/AL-GR.toml");
        let a = Agreement::from_toml(text).unwrap();
        assert_eq!(a.calendar(gr()).tz.iana_name(), Some("Europe/Athens"));
        assert_eq!(a.calendar(al()).tz.iana_name(), Some("Europe/Tirane"));
        assert_eq!(a.follow_up.len(), 3);
        assert_eq!(a.lane(Kind::MissingChildNotice), Some(Lane::Urgent));
        // Integration tests derive an AL-FR agreement by renaming GR; the
        // quoted party keys keep that valid.
        let fr = text.replace("AL-GR", "AL-FR").replace("\"GR\"]", "\"FR\"]");
        assert!(Agreement::from_toml(&fr).is_ok());
        // The normalised text ends with the social-inquiry-request SLA.
        let last = a
            .to_toml()
            .lines()
            .rfind(|l| l.starts_with('['))
            .map(str::to_string);
        assert_eq!(last.as_deref(), Some("[sla.social-inquiry-request]"));
    }

    #[test]
    fn legacy_documents_need_no_party_sections() {
        assert!(Agreement::from_toml(AL_GR).is_ok());
        // But a party section for a country that is not a party is refused.
        let e = errors(&format!(
            "{AL_GR}[party.FR]\ntime_zone = \"Europe/Paris\"\navailability = \"24/7\"\n"
        ));
        assert_eq!(fields(&e), ["party.AL", "party.GR", "party.FR"]);
    }
}

#[cfg(test)]
mod coverage_tests {
    use super::*;

    #[test]
    fn a_kinds_list_limits_what_the_agreement_covers() {
        let base =
            "id = \"AL-GR\"\nversion = 1\nparties = [\"AL\", \"GR\"]\nlanguages = [\"en\"]\n";
        let all = Agreement::from_toml(base).unwrap();
        assert!(all.covers(Kind::CaseClosure));
        let some = Agreement::from_toml(&format!(
            "{base}kinds = [\"social-inquiry-request\", \"social-inquiry-report\"]\n"
        ))
        .unwrap();
        assert!(some.covers(Kind::SocialInquiryRequest));
        assert!(!some.covers(Kind::MissingChildNotice));
        assert!(some.covers(Kind::Reminder));
        assert_ne!(all.hash(), some.hash());
        let e = Agreement::from_toml(&format!(
            "{base}kinds = [\"social-inquiry-request\"]\n[sla.case-update]\nrespond_within = \"3 days\"\n"
        ))
        .unwrap_err();
        assert_eq!(e[0].field, "sla.case-update");
    }
}
