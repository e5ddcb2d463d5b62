//! `missing-child-notice` and `missing-child-update`: a child has gone
//! missing from a placement. The case manager tells the NFP at once, the NFP
//! tells its peer, and updates follow until the case is closed (domain brief
//! §1, message 14; §2, "immediate").

use crate::protocol::FieldError;
use crate::protocol::forms::common::{Child, PROSE_MAX, SHORT_MAX, opt_text, text};
use jiff::Timestamp;
use jiff::civil::Date;

/// The urgent notice that a child has gone missing.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct MissingChildNotice {
    /// Who the child is.
    pub child: Child,
    /// When the child was last seen (RFC 3339, e.g. `2026-11-22T18:30:00Z`).
    #[schemars(with = "crate::protocol::forms::common::TimestampText")]
    pub last_seen_at: Timestamp,
    /// Where the child was last seen.
    pub last_seen_where: String,
    /// The placement the child went missing from.
    pub missing_from: MissingFrom,
    /// The police's reference for the missing-person report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub police_reference: Option<String>,
    /// How to recognise the child: appearance, clothes, belongings.
    pub description: String,
    /// Known risks: who the child may be with, threats, health needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_notes: Option<String>,
    /// How much immediate danger the child is thought to be in.
    pub immediate_risk: RiskLevel,
}

/// The placement a child went missing from.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct MissingFrom {
    /// What kind of placement it was.
    pub placement_type: MissingFromPlacement,
    /// Its name or other details; required for `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// A kind of placement a child can go missing from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum MissingFromPlacement {
    /// Shelter.
    Shelter,
    /// Foster family.
    FosterFamily,
    /// Residential institution.
    ResidentialInstitution,
    /// The child's own family.
    Family,
    /// Another place, described in the details.
    Other,
}

/// How much immediate danger a missing child is thought to be in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum RiskLevel {
    /// High.
    High,
    /// Medium.
    Medium,
    /// Low.
    Low,
}

/// Later news about a missing child.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct MissingChildUpdate {
    /// The child's status now.
    pub status: MissingStatus,
    /// When the status was established, e.g. when the child was sighted or
    /// found (RFC 3339).
    #[schemars(with = "crate::protocol::forms::common::TimestampText")]
    pub when: Timestamp,
    /// Where the child was sighted or found; required for those statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// What happened, what is being done, and why a case is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// The police's reference, if new or changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub police_reference: Option<String>,
}

/// The status of a missing child.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum MissingStatus {
    /// Still missing.
    Missing,
    /// Seen somewhere, but not yet back in care.
    Sighted,
    /// Found and safe in someone's care.
    Found,
    /// The missing-child case is closed.
    Closed,
}

impl MissingChildNotice {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        self.child.validate("child", today, errors);
        not_future_instant(errors, "last_seen_at", self.last_seen_at, today);
        text(errors, "last_seen_where", &self.last_seen_where, SHORT_MAX);
        self.missing_from.validate("missing_from", errors);
        opt_text(
            errors,
            "police_reference",
            &self.police_reference,
            SHORT_MAX,
        );
        text(errors, "description", &self.description, PROSE_MAX);
        opt_text(errors, "risk_notes", &self.risk_notes, PROSE_MAX);
    }
}

impl MissingFrom {
    /// Pushes every rule broken, with paths under `at`.
    pub fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        let field = format!("{at}.details");
        if self.placement_type == MissingFromPlacement::Other && self.details.is_none() {
            errors.push(FieldError::new(
                field,
                "say what the placement was when its type is other",
            ));
        } else {
            opt_text(errors, &field, &self.details, SHORT_MAX);
        }
    }
}

impl MissingChildUpdate {
    /// Pushes every rule broken onto `errors`.
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        not_future_instant(errors, "when", self.when, today);
        let needs_place = matches!(self.status, MissingStatus::Sighted | MissingStatus::Found);
        if needs_place && self.location.is_none() {
            let what = if self.status == MissingStatus::Found {
                "found"
            } else {
                "sighted"
            };
            errors.push(FieldError::new(
                "location",
                format!("say where the child was {what}"),
            ));
        } else {
            opt_text(errors, "location", &self.location, SHORT_MAX);
        }
        opt_text(errors, "details", &self.details, PROSE_MAX);
        opt_text(
            errors,
            "police_reference",
            &self.police_reference,
            SHORT_MAX,
        );
    }
}

/// Checks that an instant is not after the end of `today`.
///
/// `today` is a calendar date in the node's own time zone, which this pure
/// check does not know. The instant is therefore read on the clock of the
/// westernmost zone in use (UTC−12): if even there its date is after
/// `today`, `today` has ended everywhere and the instant is in the future.
/// This never rejects a real past instant, whatever the node's zone.
fn not_future_instant(errors: &mut Vec<FieldError>, field: &str, at: Timestamp, today: Date) {
    if jiff::tz::offset(-12).to_datetime(at).date() > today {
        errors.push(FieldError::new(field, "is in the future"));
    }
}

#[cfg(test)]
mod tests {
    use super::{MissingChildNotice, MissingChildUpdate};
    use crate::protocol::FieldError;
    use jiff::civil::date;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    const NOTICE: &str = include_str!("../../../../config/forms/missing-child-notice.json");
    const UPDATE: &str = include_str!("../../../../config/forms/missing-child-update.json");

    fn today() -> jiff::civil::Date {
        date(2026, 11, 23)
    }

    fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, (String, String)> {
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
            .map_err(|e| (e.path().to_string(), e.inner().to_string()))
    }

    fn edited(example: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut v: Value = serde_json::from_str(example).unwrap();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    fn notice_errors(edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let f: MissingChildNotice = parse(&edited(NOTICE, edit)).unwrap();
        let mut errors = Vec::new();
        f.validate(today(), &mut errors);
        fields(errors)
    }

    fn update_errors(edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let f: MissingChildUpdate = parse(&edited(UPDATE, edit)).unwrap();
        let mut errors = Vec::new();
        f.validate(today(), &mut errors);
        fields(errors)
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    fn cbor_round_trip<T>(f: &T) -> T
    where
        T: serde::Serialize + DeserializeOwned,
    {
        let mut bytes = Vec::new();
        ciborium::into_writer(f, &mut bytes).unwrap();
        ciborium::from_reader(bytes.as_slice()).unwrap()
    }

    #[test]
    fn the_example_notice_validates_and_round_trips() {
        let f: MissingChildNotice = parse(NOTICE.as_bytes()).unwrap();
        let mut errors = Vec::new();
        f.validate(today(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cbor_round_trip(&f), f);
    }

    #[test]
    fn the_example_update_validates_and_round_trips() {
        let f: MissingChildUpdate = parse(UPDATE.as_bytes()).unwrap();
        let mut errors = Vec::new();
        f.validate(today(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cbor_round_trip(&f), f);
    }

    #[test]
    fn notice_errors_name_the_field() {
        let e = notice_errors(|v| v["last_seen_at"] = "2026-11-25T12:00:00Z".into());
        assert_eq!(e, ["last_seen_at"]);
        let e = notice_errors(|v| v["last_seen_where"] = "  ".into());
        assert_eq!(e, ["last_seen_where"]);
        let e = notice_errors(|v| {
            v["missing_from"] = serde_json::json!({ "placement_type": "other" });
        });
        assert_eq!(e, ["missing_from.details"]);
        let e = notice_errors(|v| v["description"] = "".into());
        assert_eq!(e, ["description"]);
        let e = notice_errors(|v| v["child"]["birth_year"] = 2027.into());
        assert_eq!(e, ["child.birth_year"]);
        let e = notice_errors(|v| v["police_reference"] = "x".repeat(1001).into());
        assert_eq!(e, ["police_reference"]);
    }

    #[test]
    fn update_errors_name_the_field() {
        let e = update_errors(|v| {
            v["status"] = "found".into();
            v.as_object_mut().unwrap().remove("location");
        });
        assert_eq!(e, ["location"]);
        let e = update_errors(|v| {
            v["status"] = "sighted".into();
            v.as_object_mut().unwrap().remove("location");
        });
        assert_eq!(e, ["location"]);
        let e = update_errors(|v| v["when"] = "2026-12-01T00:00:00+01:00".into());
        assert_eq!(e, ["when"]);
        let e = update_errors(|v| v["details"] = "a\u{0}b".into());
        assert_eq!(e, ["details"]);
        let e = update_errors(|v| {
            v["status"] = "missing".into();
            v.as_object_mut().unwrap().remove("location");
        });
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn the_future_means_after_today_has_ended_everywhere() {
        // 23 November has not ended in UTC-12 until 24 November 12:00 UTC.
        let e = update_errors(|v| v["when"] = "2026-11-24T11:59:59Z".into());
        assert!(e.is_empty(), "{e:?}");
        let e = update_errors(|v| v["when"] = "2026-11-24T12:00:00Z".into());
        assert_eq!(e, ["when"]);
        // A local time with an offset is read as the instant it names.
        let e = update_errors(|v| v["when"] = "2026-11-23T23:30:00-05:00".into());
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn serde_rejects_unknown_keys_and_bad_values() {
        let (_, msg) = parse::<MissingChildNotice>(&edited(NOTICE, |v| {
            v["reward"] = "none".into();
        }))
        .unwrap_err();
        assert!(msg.contains("reward"), "{msg}");
        let (path, msg) = parse::<MissingChildNotice>(&edited(NOTICE, |v| {
            v["missing_from"]["address"] = "x".into();
        }))
        .unwrap_err();
        assert_eq!(path, "missing_from.address");
        assert!(msg.contains("address"), "{msg}");
        let (_, msg) = parse::<MissingChildUpdate>(&edited(UPDATE, |v| {
            v["where"] = "x".into();
        }))
        .unwrap_err();
        assert!(msg.contains("where"), "{msg}");

        let (path, _) = parse::<MissingChildNotice>(&edited(NOTICE, |v| {
            v["immediate_risk"] = "extreme".into();
        }))
        .unwrap_err();
        assert_eq!(path, "immediate_risk");
        let (path, _) = parse::<MissingChildNotice>(&edited(NOTICE, |v| {
            v["last_seen_at"] = "yesterday evening".into();
        }))
        .unwrap_err();
        assert_eq!(path, "last_seen_at");
        let (path, _) = parse::<MissingChildUpdate>(&edited(UPDATE, |v| {
            v["status"] = "returned".into();
        }))
        .unwrap_err();
        assert_eq!(path, "status");
    }
}
