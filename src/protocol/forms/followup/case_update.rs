//! `case-update`: one of several case events either NFP reports to the
//! other: a guardian appointed, the decision on the child's future, H's
//! agreement or objection to return, news of legal proceedings, and transfer
//! arrangements (domain brief §1, messages 3, 9, 10, 12 and 17).
//!
//! In JSON and CBOR the form is a single map whose `type` key names the
//! event and whose other keys are that event's fields, e.g.
//! `{"type": "return-agreement", "position": "agree"}`. Unknown keys are
//! rejected by each event's own struct, as serde cannot combine
//! `deny_unknown_fields` with an internally tagged enum. Because serde reads
//! such a map into a buffer before choosing the event, a type error inside
//! an event's fields carries the field in its message rather than in its
//! path; the rules checked by [`CaseUpdate::validate`] name the field.

use crate::protocol::FieldError;
use crate::protocol::forms::common::{
    NAME_MAX, OfficerRole, PROSE_MAX, SHORT_MAX, not_future, opt_text, text, text_list,
};
use jiff::civil::Date;

/// Most documents listed for a transfer.
const DOCUMENTS_MAX: usize = 30;

/// A case event, tagged by `type`.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum CaseUpdate {
    /// R tells H that a guardian was appointed.
    GuardianAppointed(GuardianAppointed),
    /// R tells H what was decided for the child.
    Decision(Decision),
    /// H agrees to the child's return, or objects to it.
    ReturnAgreement(ReturnAgreement),
    /// Either NFP reports on investigations, trials or compensation.
    LegalProceedingsUpdate(LegalProceedingsUpdate),
    /// Either NFP proposes or confirms how the child travels.
    TransferArrangements(TransferArrangements),
}

/// A guardian was appointed for the child.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct GuardianAppointed {
    /// What kind of guardian.
    pub guardian_type: GuardianType,
    /// The authority that appointed the guardian.
    pub authority: String,
    /// The day of the appointment.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub appointed_on: Date,
    /// Whether the child's parents may be told of plans; yes unless that is
    /// not in the child's best interests.
    pub may_inform_parents: bool,
}

/// What kind of guardian was appointed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum GuardianType {
    /// A legal guardian.
    LegalGuardian,
    /// A temporary guardian, until the child's situation is settled.
    TemporaryGuardian,
    /// An institution acting as guardian.
    Institution,
}

/// The decision on the child's future.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// What was decided.
    pub decision: DecisionOutcome,
    /// Whether a formal best-interests determination was held.
    pub best_interests_determination_held: bool,
    /// The panel or body that decided.
    pub panel: String,
    /// The child's own view, as heard.
    pub child_view: String,
}

/// Where the child's future lies.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionOutcome {
    /// The child stays in the country where they were found.
    Stay,
    /// The child returns to the country of habitual residence.
    Return,
    /// The child moves to a third country.
    ThirdCountry,
}

/// H's answer on the child's return.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ReturnAgreement {
    /// Agree or object. An objection blocks the return.
    pub position: ReturnPosition,
    /// Why; required when objecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<String>,
}

/// Whether H agrees to the return.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ReturnPosition {
    /// H agrees to the return.
    Agree,
    /// H objects to the return.
    Object,
}

/// News of legal proceedings in which the child is involved.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct LegalProceedingsUpdate {
    /// The stage the proceedings have reached.
    pub stage: LegalStage,
    /// What happened.
    pub summary: String,
}

/// A stage of legal proceedings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum LegalStage {
    /// Police or prosecutor's investigation.
    Investigation,
    /// Trial under way.
    Trial,
    /// A verdict was given.
    Verdict,
    /// An appeal is under way.
    Appeal,
    /// Compensation proceedings or payment.
    Compensation,
    /// Proceedings are over.
    Closed,
}

/// How the child is to travel.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct TransferArrangements {
    /// The day of the transfer.
    #[schemars(with = "crate::protocol::forms::common::DateText")]
    pub date: Date,
    /// Where the child crosses the border or is handed over.
    pub border_point: String,
    /// The adult who travels with the child.
    pub accompanying_adult: AccompanyingAdult,
    /// Documents that travel with the child, including the handover
    /// document.
    pub documents: Vec<String>,
}

/// The adult who accompanies the child.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct AccompanyingAdult {
    /// Full name.
    pub name: String,
    /// Role.
    pub role: OfficerRole,
}

impl CaseUpdate {
    /// Pushes every rule broken onto `errors`. Paths are the event's field
    /// names, which sit at the top of the form beside `type`.
    pub fn validate(&self, today: Date, errors: &mut Vec<FieldError>) {
        match self {
            CaseUpdate::GuardianAppointed(g) => {
                text(errors, "authority", &g.authority, SHORT_MAX);
                not_future(errors, "appointed_on", g.appointed_on, today);
            }
            CaseUpdate::Decision(d) => {
                text(errors, "panel", &d.panel, SHORT_MAX);
                text(errors, "child_view", &d.child_view, PROSE_MAX);
            }
            CaseUpdate::ReturnAgreement(r) => {
                if r.position == ReturnPosition::Object && r.reasons.is_none() {
                    errors.push(FieldError::new("reasons", "give the reasons for objecting"));
                }
                opt_text(errors, "reasons", &r.reasons, PROSE_MAX);
            }
            CaseUpdate::LegalProceedingsUpdate(l) => {
                text(errors, "summary", &l.summary, PROSE_MAX);
            }
            CaseUpdate::TransferArrangements(t) => {
                text(errors, "border_point", &t.border_point, SHORT_MAX);
                text(
                    errors,
                    "accompanying_adult.name",
                    &t.accompanying_adult.name,
                    NAME_MAX,
                );
                text_list(
                    errors,
                    "documents",
                    &t.documents,
                    1,
                    DOCUMENTS_MAX,
                    SHORT_MAX,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use serde_json::json;

    const EXAMPLE: &str = include_str!("../../../../config/forms/case-update.json");

    fn today() -> Date {
        date(2026, 11, 23)
    }

    fn parse(json: &str) -> Result<CaseUpdate, String> {
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(json))
            .map_err(|e| format!("{} at {}", e.inner(), e.path()))
    }

    fn errors_of(f: &CaseUpdate) -> Vec<FieldError> {
        let mut errors = Vec::new();
        f.validate(today(), &mut errors);
        errors
    }

    fn check(v: &serde_json::Value) -> Vec<FieldError> {
        errors_of(&parse(&v.to_string()).unwrap())
    }

    /// One valid form of every event.
    fn every_event() -> Vec<serde_json::Value> {
        vec![
            serde_json::from_str(EXAMPLE).unwrap(),
            json!({
                "type": "guardian-appointed",
                "guardian_type": "temporary-guardian",
                "authority": "Fictional District Court, Demo city",
                "appointed_on": "2026-06-02",
                "may_inform_parents": true
            }),
            json!({
                "type": "decision",
                "decision": "return",
                "best_interests_determination_held": true,
                "panel": "Demo city best-interests panel (fictional)",
                "child_view": "MADE-UP DEMO DATA. She wants to go home if she can finish her course there."
            }),
            json!({ "type": "return-agreement", "position": "agree" }),
            json!({
                "type": "return-agreement",
                "position": "object",
                "reasons": "The family assessment found the household unable to protect the child."
            }),
            json!({
                "type": "legal-proceedings-update",
                "stage": "trial",
                "summary": "MADE-UP DEMO DATA. The trial of two suspects opened; the child's recorded statement was admitted."
            }),
        ]
    }

    #[test]
    fn the_example_and_every_event_validate() {
        for v in every_event() {
            let f = parse(&v.to_string()).unwrap();
            assert_eq!(errors_of(&f), vec![], "{v}");
            // Serialising gives back the same JSON.
            assert_eq!(serde_json::to_value(&f).unwrap(), v);
        }
        assert!(matches!(
            parse(EXAMPLE).unwrap(),
            CaseUpdate::TransferArrangements(_)
        ));
    }

    #[test]
    fn cbor_round_trip_of_every_event() {
        for v in every_event() {
            let f = parse(&v.to_string()).unwrap();
            let mut bytes = Vec::new();
            ciborium::into_writer(&f, &mut bytes).unwrap();
            let back: CaseUpdate = ciborium::from_reader(bytes.as_slice()).unwrap();
            assert_eq!(back, f);
        }
    }

    #[test]
    fn type_errors_inside_an_event_name_the_field_in_the_message() {
        // serde buffers the map before picking the event, so the path stops
        // at the top; the message says which value is wrong.
        let e = parse(r#"{"type": "decision", "decision": "stay-abroad"}"#).unwrap_err();
        assert!(
            e.contains("unknown variant `stay-abroad`") && e.ends_with(" at ."),
            "{e}"
        );
        let e = parse(r#"{"type": "return-agreement"}"#).unwrap_err();
        assert!(e.starts_with("missing field `position`"), "{e}");
    }

    #[test]
    fn the_tag_may_come_last() {
        let f = parse(r#"{"position": "agree", "type": "return-agreement"}"#).unwrap();
        assert_eq!(
            f,
            CaseUpdate::ReturnAgreement(ReturnAgreement {
                position: ReturnPosition::Agree,
                reasons: None
            })
        );
    }

    #[test]
    fn an_objection_needs_reasons() {
        let e = check(&json!({ "type": "return-agreement", "position": "object" }));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "reasons");
        let e =
            check(&json!({ "type": "return-agreement", "position": "object", "reasons": "  " }));
        assert_eq!(e[0].field, "reasons");
    }

    #[test]
    fn broken_events_name_the_field() {
        let mut v = every_event();
        v[0]["documents"] = json!([]);
        v[0]["accompanying_adult"]["name"] = "".into();
        let e = check(&v[0].clone());
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["accompanying_adult.name", "documents"]);

        v[0]["accompanying_adult"]["name"] = "Demo Escort-Example".into();
        v[0]["documents"] = json!(["Travel document", "\u{1b}[31m"]);
        assert_eq!(check(&v[0].clone())[0].field, "documents[1]");

        v[1]["appointed_on"] = "2026-12-01".into();
        assert_eq!(check(&v[1].clone())[0].field, "appointed_on");

        v[2]["child_view"] = "".into();
        assert_eq!(check(&v[2].clone())[0].field, "child_view");

        v[5]["summary"] = " \n ".into();
        assert_eq!(check(&v[5].clone())[0].field, "summary");
    }

    #[test]
    fn serde_rejects_unknown_keys_events_and_values() {
        for mut v in every_event() {
            v["extra"] = "x".into();
            let e = parse(&v.to_string()).unwrap_err();
            assert!(e.contains("unknown field `extra`"), "{e}");
        }
        let mut v = every_event();
        v[0]["accompanying_adult"]["phone"] = "000".into();
        let e = parse(&v[0].to_string()).unwrap_err();
        assert!(e.contains("unknown field `phone`"), "{e}");

        let e = parse(r#"{"type": "return-refusal", "position": "object"}"#).unwrap_err();
        assert!(e.contains("return-refusal"), "{e}");
        let e = parse(r#"{"position": "object"}"#).unwrap_err();
        assert!(e.contains("type"), "{e}");
        let e = parse(r#"{"type": "decision", "decision": "stay-abroad"}"#).unwrap_err();
        assert!(e.contains("stay-abroad"), "{e}");
    }
}
