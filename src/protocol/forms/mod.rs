//! Message kinds and their typed forms: parsing from the operator's JSON,
//! the CBOR carried inside envelopes, and validation with field paths.
//!
//! Each kind lives in its own module. Validation is pure: the caller passes
//! today's date so rules such as "a date of birth is not in the future" need
//! no clock.

pub mod assessment;
pub mod care;
pub mod common;
pub mod followup;
pub mod reminder;
pub mod social_inquiry_request;
pub mod template;

use crate::protocol::FieldError;
use jiff::civil::Date;
pub use social_inquiry_request::SocialInquiryRequest;

/// The largest form, in bytes of JSON or CBOR, a node accepts.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Declares every kind: its enum variant, its command-line name, and the
/// form type that carries it. Adding a kind is one line here plus its module.
macro_rules! kinds {
    ($( $variant:ident => $name:literal, $form:ty, $doc:literal; )+) => {
        /// A kind of message, named as on the command line and in agreements.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Kind {
            $( #[doc = $doc] $variant, )+
        }

        impl Kind {
            /// Every kind this node can send and receive.
            pub const ALL: &'static [Kind] = &[ $( Kind::$variant, )+ ];

            /// The JSON Schema (draft 2020-12) of the kind's form, as an
            /// operator writes it.
            pub fn schema(&self) -> serde_json::Value {
                let schema = match self { $( Kind::$variant => schemars::schema_for!($form), )+ };
                serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
            }

            /// The kind's name, e.g. `social-inquiry-request`.
            pub fn as_str(&self) -> &'static str {
                match self { $( Kind::$variant => $name, )+ }
            }
        }

        /// A validated form of some kind.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Form {
            $( #[doc = $doc] $variant($form), )+
        }

        impl Form {
            /// The form's kind.
            pub fn kind(&self) -> Kind {
                match self { $( Form::$variant(_) => Kind::$variant, )+ }
            }

            fn parse_json(kind: Kind, json: &[u8]) -> Result<Form, Vec<FieldError>> {
                let de = &mut serde_json::Deserializer::from_slice(json);
                Ok(match kind {
                    $( Kind::$variant => Form::$variant(
                        serde_path_to_error::deserialize(de).map_err(json_error)?,
                    ), )+
                })
            }

            fn parse_json_with(
                kind: Kind,
                de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
            ) -> Result<Form, serde_path_to_error::Error<serde_json::Error>> {
                Ok(match kind {
                    $( Kind::$variant => Form::$variant(serde_path_to_error::deserialize(de)?), )+
                })
            }

            /// Decodes CBOR through a JSON view, so errors name their
            /// field path exactly as for the operator's JSON. Forms hold
            /// no byte strings, so the view loses nothing they may hold.
            fn parse_cbor(kind: Kind, cbor: &[u8]) -> Result<Form, Vec<FieldError>> {
                let value: ciborium::value::Value = ciborium::from_reader(cbor)
                    .map_err(|e| vec![FieldError::new("(document)", cbor_error(&e))])?;
                let json = serde_json::to_vec(&value)
                    .map_err(|e| vec![FieldError::new("(document)", e.to_string())])?;
                let de = &mut serde_json::Deserializer::from_slice(&json);
                Form::parse_json_with(kind, de).map_err(json_error)
            }

            /// The CBOR carried inside an envelope.
            pub fn to_cbor(&self) -> Vec<u8> {
                let mut out = Vec::new();
                let r = match self { $( Form::$variant(f) => ciborium::into_writer(f, &mut out), )+ };
                if r.is_err() {
                    out.clear();
                }
                out
            }

            /// The form as JSON, as an operator wrote it.
            pub fn to_json(&self) -> serde_json::Value {
                match self { $( Form::$variant(f) => serde_json::to_value(f), )+ }
                    .unwrap_or(serde_json::Value::Null)
            }

            fn check(&self, today: Date, errors: &mut Vec<FieldError>) {
                match self { $( Form::$variant(f) => f.validate(today, errors), )+ }
            }
        }
    };
}

kinds! {
    SocialInquiryRequest => "social-inquiry-request", SocialInquiryRequest,
        "R asks H to assess the child's family and community.";
    SocialInquiryReport => "social-inquiry-report", assessment::SocialInquiryReport,
        "H reports on the family (part 1) and the community (part 2).";
    SecurityAssessmentRequest => "security-assessment-request", assessment::SecurityAssessmentRequest,
        "R asks H for a police security assessment.";
    SecurityAssessmentReport => "security-assessment-report", assessment::SecurityAssessmentReport,
        "H's police assessment of the risks to the child.";
    ContinuityOfCare => "continuity-of-care", care::ContinuityOfCare,
        "R tells H, before a transfer, what care the child has had and needs.";
    MissingChildNotice => "missing-child-notice", care::MissingChildNotice,
        "A child has gone missing (urgent).";
    MissingChildUpdate => "missing-child-update", care::MissingChildUpdate,
        "News on a missing child: missing, sighted, found or closed.";
    FollowUpRequest => "follow-up-request", followup::FollowUpRequest,
        "R asks H for a follow-up report after the child's return.";
    FollowUpReport => "follow-up-report", followup::FollowUpReport,
        "H reports on the child after return, with a score card.";
    CaseUpdate => "case-update", followup::CaseUpdate,
        "A guardian appointed, a decision, a return agreement or objection, legal proceedings or transfer arrangements.";
    Acknowledgement => "acknowledgement", followup::Acknowledgement,
        "A person has taken the case; names the responsible officer.";
    CaseClosure => "case-closure", followup::CaseClosure,
        "A proposal or confirmation to close the case.";
    Reminder => "reminder", reminder::Reminder,
        "Sent by a node on its own: an answer the peer owes is due or overdue.";
}

impl Kind {
    /// The kinds a message of this kind may answer with `--reply-to`.
    pub fn answers(&self) -> &'static [Kind] {
        use Kind::*;
        match self {
            SocialInquiryReport => &[SocialInquiryRequest],
            SecurityAssessmentReport => &[SecurityAssessmentRequest],
            FollowUpReport => &[FollowUpRequest],
            MissingChildUpdate => &[MissingChildNotice, MissingChildUpdate],
            Acknowledgement => &[
                SocialInquiryRequest,
                SecurityAssessmentRequest,
                ContinuityOfCare,
                MissingChildNotice,
                FollowUpRequest,
                CaseUpdate,
                CaseClosure,
            ],
            CaseUpdate | Reminder => Kind::ALL,
            CaseClosure => &[CaseClosure, FollowUpReport, CaseUpdate],
            // Requests and notices open a thread; they may follow up a case update.
            SocialInquiryRequest
            | SecurityAssessmentRequest
            | ContinuityOfCare
            | MissingChildNotice
            | FollowUpRequest => &[CaseUpdate],
        }
    }

    /// Whether a message of this kind may answer one of kind `other`.
    pub fn may_answer(&self, other: Kind) -> bool {
        self.answers().contains(&other)
    }

    /// Why this kind may not answer `other`, in plain words.
    pub fn reply_error(&self, other: Kind) -> Option<String> {
        if self.may_answer(other) {
            return None;
        }
        let fits: Vec<&str> = self.answers().iter().map(|k| k.as_str()).collect();
        Some(format!(
            "a {self} cannot answer a {other}; it may answer: {}",
            if fits.is_empty() {
                "nothing".to_string()
            } else {
                fits.join(", ")
            }
        ))
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Kind::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown kind {s:?}")))
    }
}

impl Form {
    /// Parses and validates the operator's JSON for `kind`.
    pub fn from_json(kind: Kind, json: &[u8], today: Date) -> Result<Form, Vec<FieldError>> {
        if json.len() > MAX_FORM_BYTES {
            return Err(vec![too_big()]);
        }
        let form = Form::parse_json(kind, json)?;
        form.validate(today)?;
        Ok(form)
    }

    /// Decodes and validates the CBOR carried in an envelope.
    pub fn from_cbor(kind: Kind, cbor: &[u8], today: Date) -> Result<Form, Vec<FieldError>> {
        if cbor.len() > MAX_FORM_BYTES {
            return Err(vec![too_big()]);
        }
        let form = Form::parse_cbor(kind, cbor)?;
        form.validate(today)?;
        Ok(form)
    }

    /// Decodes a form from a peer that speaks a newer minor version of the
    /// protocol: fields this node does not know are skipped instead of
    /// refused, and their paths are returned. The caller keeps the original
    /// bytes, so nothing the peer sent is lost.
    pub fn from_cbor_lenient(
        kind: Kind,
        cbor: &[u8],
        today: Date,
    ) -> Result<(Form, Vec<String>), Vec<FieldError>> {
        if cbor.len() > MAX_FORM_BYTES {
            return Err(vec![too_big()]);
        }
        let value: ciborium::value::Value = ciborium::from_reader(cbor)
            .map_err(|e| vec![FieldError::new("(document)", cbor_error(&e))])?;
        // Forms hold no byte strings, so JSON is a lossless view of them.
        let mut json = serde_json::to_value(&value)
            .map_err(|e| vec![FieldError::new("(document)", e.to_string())])?;
        let mut skipped = Vec::new();
        // Each pass removes one unknown field; a form has at most a few.
        for _ in 0..64 {
            let bytes = serde_json::to_vec(&json)
                .map_err(|e| vec![FieldError::new("(document)", e.to_string())])?;
            let de = &mut serde_json::Deserializer::from_slice(&bytes);
            let attempt = Form::parse_json_with(kind, de);
            match attempt {
                Ok(form) => {
                    form.validate(today)?;
                    return Ok((form, skipped));
                }
                Err(e) => {
                    let msg = e.inner().to_string();
                    let Some(name) = msg
                        .strip_prefix("unknown field `")
                        .and_then(|r| r.split('`').next())
                    else {
                        return Err(json_error(e));
                    };
                    let name = name.to_string();
                    let removed = remove_at(&mut json, e.path(), &name);
                    let path = e.path().to_string();
                    skipped.push(if path.is_empty() || path == "." {
                        name
                    } else if path.ends_with(&format!(".{name}")) || path == name {
                        path
                    } else {
                        format!("{path}.{name}")
                    });
                    if !removed {
                        return Err(json_error(e));
                    }
                }
            }
        }
        Err(vec![FieldError::new(
            "(document)",
            "too many unknown fields",
        )])
    }

    /// Whether the message goes in the urgent lane: missing-child notices
    /// and updates, and follow-up reports with a red flag.
    pub fn is_urgent(&self) -> bool {
        match self {
            Form::MissingChildNotice(_) | Form::MissingChildUpdate(_) => true,
            Form::FollowUpReport(r) => r.has_red_flag(),
            _ => false,
        }
    }

    /// Every rule the types cannot express.
    pub fn validate(&self, today: Date) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        self.check(today, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn too_big() -> FieldError {
    FieldError::new(
        "(document)",
        format!("form is larger than {MAX_FORM_BYTES} bytes"),
    )
}

/// A JSON error as a field error. serde names a missing field in its
/// message, not in the path, so the path is completed here.
fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> Vec<FieldError> {
    let msg = e.inner().to_string();
    let mut path = e.path().to_string();
    if let Some(rest) = msg.strip_prefix("missing field `")
        && let Some(name) = rest.split('`').next()
    {
        path = if path.is_empty() || path == "." {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
    }
    vec![FieldError::new(path_or_document(&path), msg)]
}

/// Removes key `name` from the object at `path` in `v`.
fn remove_at(v: &mut serde_json::Value, path: &serde_path_to_error::Path, name: &str) -> bool {
    use serde_path_to_error::Segment;
    let mut cur = v;
    let segs: Vec<&Segment> = path.iter().collect();
    // The path may end with the unknown key itself.
    let segs = match segs.split_last() {
        Some((Segment::Map { key }, rest)) if key == name => rest.to_vec(),
        _ => segs,
    };
    for seg in segs {
        cur = match seg {
            Segment::Map { key } => match cur.get_mut(key.as_str()) {
                Some(next) => next,
                None => return false,
            },
            Segment::Seq { index } => match cur.get_mut(*index) {
                Some(next) => next,
                None => return false,
            },
            Segment::Enum { .. } | Segment::Unknown => return false,
        };
    }
    cur.as_object_mut()
        .map(|o| o.remove(name).is_some())
        .unwrap_or(false)
}

fn path_or_document(p: &str) -> String {
    if p.is_empty() || p == "." {
        "(document)".to_string()
    } else {
        p.to_string()
    }
}

fn cbor_error<T: std::fmt::Debug>(e: &ciborium::de::Error<T>) -> String {
    match e {
        ciborium::de::Error::Semantic(_, m) => m.clone(),
        ciborium::de::Error::Syntax(at) => format!("malformed CBOR at byte {at}"),
        other => format!("unreadable CBOR: {other:?}"),
    }
}

pub(crate) use common::text;

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../config/forms/social-inquiry-request.json");

    #[test]
    fn a_newer_minor_version_keeps_working_and_reports_unknown_fields() {
        let today = jiff::civil::date(2026, 11, 23);
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        v["future_field"] = "x".into();
        v["child"]["eye_colour"] = "brown".into();
        v["family"][0]["phone"] = "000".into();
        let mut cbor = Vec::new();
        ciborium::into_writer(&v, &mut cbor).unwrap();
        // Strict decoding refuses it ...
        assert!(Form::from_cbor(Kind::SocialInquiryRequest, &cbor, today).is_err());
        // ... lenient decoding skips and names the unknown fields.
        let (form, skipped) =
            Form::from_cbor_lenient(Kind::SocialInquiryRequest, &cbor, today).unwrap();
        assert_eq!(form.kind(), Kind::SocialInquiryRequest);
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(
            skipped.contains(&"child.eye_colour".to_string()),
            "{skipped:?}"
        );
        assert!(
            skipped.contains(&"family[0].phone".to_string())
                || skipped.contains(&"family.0.phone".to_string()),
            "{skipped:?}"
        );
        // A broken known field is still an error.
        v["child"]["sex"] = "x".into();
        let mut cbor = Vec::new();
        ciborium::into_writer(&v, &mut cbor).unwrap();
        assert!(Form::from_cbor_lenient(Kind::SocialInquiryRequest, &cbor, today).is_err());
    }
}
