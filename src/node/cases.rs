//! Case records as operators keep them: open, update, record consent,
//! show (with the age facts the safeguards need), and erase. Records are
//! sealed at rest; the audit trail names a case only by a keyed commitment.

use super::Node;
use crate::protocol::FieldError;
use crate::protocol::audit::{Event, Record};
use crate::protocol::case::{
    AsylumStatus, Birth, CaseRecord, Consent, ConsentBy, Purpose, VictimStatus,
};
use crate::protocol::country::Country;
use crate::protocol::envelope::check_case_ref;
use crate::store::StoreError;
use jiff::civil::Date;
use std::sync::Arc;

/// Fields of a case as an operator gives them. On `open` absent means the
/// default; on `update` absent means unchanged.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseInput {
    /// The child seeks asylum.
    #[serde(default)]
    pub asylum: Option<bool>,
    /// The child is a recognised refugee in this country.
    #[serde(default)]
    pub refugee_in: Option<Country>,
    /// Countries the child fears.
    #[serde(default)]
    pub fears: Option<Vec<Country>>,
    /// Countries the child agrees to have contacted.
    #[serde(default)]
    pub agrees_contact: Option<Vec<Country>>,
    /// Date of birth.
    #[serde(default)]
    pub born: Option<Date>,
    /// Estimated year of birth.
    #[serde(default)]
    pub born_year: Option<i16>,
    /// Nationality.
    #[serde(default)]
    pub nationality: Option<Country>,
    /// Habitual residence.
    #[serde(default)]
    pub resides: Option<Country>,
    /// The child is stateless.
    #[serde(default)]
    pub stateless: Option<bool>,
    /// A presumed child (age not established).
    #[serde(default)]
    pub presumed_child: Option<bool>,
    /// Formally identified as a victim (else presumed).
    #[serde(default)]
    pub identified: Option<bool>,
    /// Family complicity is suspected.
    #[serde(default)]
    pub complicity_suspected: Option<bool>,
    /// The case manager.
    #[serde(default)]
    pub manager: Option<String>,
    /// User names allowed to see the case.
    #[serde(default)]
    pub access: Option<Vec<String>>,
}

/// Why a case operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaseError {
    /// Invalid input.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// No such case.
    #[error("no case {0}; open it with `nfp-node case open`")]
    NotFound(String),
    /// The case exists already.
    #[error("case {0} is already open")]
    Exists(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &str, message: impl Into<String>) -> CaseError {
    CaseError::Invalid(vec![FieldError::new(field, message)])
}

impl CaseInput {
    fn apply(&self, r: &mut CaseRecord) -> Result<(), CaseError> {
        if self.born.is_some() && self.born_year.is_some() {
            return Err(invalid("born_year", "give --born or --born-year, not both"));
        }
        if let Some(d) = self.born {
            r.birth = Birth::Date(d);
        }
        if let Some(y) = self.born_year {
            r.birth = Birth::EstimatedYear(y);
        }
        match (self.asylum, self.refugee_in) {
            (_, Some(cc)) => r.asylum = AsylumStatus::Refugee { recognised_in: cc },
            (Some(true), None) => r.asylum = AsylumStatus::Seeking,
            (Some(false), None) => r.asylum = AsylumStatus::None,
            (None, None) => {}
        }
        if let Some(f) = &self.fears {
            r.fears = f.clone();
        }
        if let Some(a) = &self.agrees_contact {
            r.agrees_contact = a.clone();
        }
        if let Some(n) = self.nationality {
            r.nationality = Some(n);
        }
        if let Some(h) = self.resides {
            r.habitual_residence = Some(h);
        }
        if let Some(s) = self.stateless {
            r.stateless = s;
        }
        if let Some(p) = self.presumed_child {
            r.presumed_child = p;
        }
        if let Some(i) = self.identified {
            r.victim_status = if i {
                VictimStatus::Identified
            } else {
                VictimStatus::Presumed
            };
        }
        if let Some(c) = self.complicity_suspected {
            r.family_complicity_suspected = c;
        }
        if let Some(m) = &self.manager {
            r.case_manager = Some(m.clone());
        }
        if let Some(a) = &self.access {
            r.access = a.clone();
        }
        Ok(())
    }
}

/// A case as shown: the record plus the age facts the safeguards use.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CaseView {
    /// The record.
    pub record: CaseRecord,
    /// The 18th birthday (31 December of that year when only the year is known).
    pub eighteenth_birthday: Option<Date>,
    /// Whether the child counts as a child today.
    pub is_child: bool,
    /// Set when the child turns 18 within 90 days: prepare a Pathway Plan.
    pub ages_out_soon: Option<Date>,
    /// The country the asylum barrier protects, if any.
    pub protected_country: Option<Country>,
}

/// Days ahead in which an ageing-out is flagged.
pub const AGES_OUT_WINDOW: u32 = 90;

impl Node {
    fn today(&self) -> Date {
        self.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
    }

    /// The case record `case`, if open.
    pub fn case_record(&self, case: &str) -> Result<Option<CaseRecord>, CaseError> {
        match self.store.case(case)? {
            None => Ok(None),
            Some(bytes) => ciborium::from_reader(bytes.as_slice())
                .map(Some)
                .map_err(|e| {
                    CaseError::Store(StoreError::Corrupt {
                        what: "case record",
                        key: "(case)".into(),
                        reason: e.to_string(),
                    })
                }),
        }
    }

    pub(super) fn save_case(&self, r: &CaseRecord) -> Result<(), CaseError> {
        r.validate(self.today()).map_err(CaseError::Invalid)?;
        let mut bytes = Vec::new();
        ciborium::into_writer(r, &mut bytes).map_err(|e| StoreError::Io(e.to_string()))?;
        let nonce = crate::home::random::<24>().map_err(|e| StoreError::Io(e.to_string()))?;
        self.store.put_case(&r.case, &bytes, *nonce)?;
        Ok(())
    }

    /// A keyed commitment to a case reference, for audit entries: it lets
    /// this node (and nobody without its storage key) link entries to a case.
    pub(crate) fn case_commitment(&self, case: &str) -> String {
        self.store.commit_to(b"case", case.as_bytes())
    }

    pub(super) fn case_audit(&self, event: Event, case: &str, by: &str, detail: Option<String>) {
        let mut d = format!("case {} by {by}", self.case_commitment(case));
        if let Some(x) = detail {
            d.push_str("; ");
            d.push_str(&x);
        }
        self.audit(
            event,
            Record {
                detail: Some(d),
                ..Record::default()
            },
        );
    }

    /// Opens a case record.
    pub async fn open_case(
        self: &Arc<Self>,
        case: &str,
        input: &CaseInput,
        by: &str,
    ) -> Result<CaseView, CaseError> {
        check_case_ref(case).map_err(|e| invalid("case", e.to_string()))?;
        if self.store.case(case)?.is_some() {
            return Err(CaseError::Exists(case.to_string()));
        }
        let mut r = CaseRecord {
            case: case.to_string(),
            victim_status: VictimStatus::Presumed,
            birth: Birth::Unknown,
            presumed_child: false,
            nationality: None,
            habitual_residence: None,
            stateless: false,
            asylum: AsylumStatus::None,
            fears: Vec::new(),
            agrees_contact: Vec::new(),
            consents: Vec::new(),
            family_complicity_suspected: false,
            case_manager: None,
            access: Vec::new(),
            created: self.now(),
            returned: None,
        };
        input.apply(&mut r)?;
        if r.access.is_empty() && by != "node-admin" {
            r.access.push(by.to_string());
        }
        self.save_case(&r)?;
        self.case_audit(Event::CaseOpened, case, by, None);
        let _ = self.sync.wait().await;
        Ok(self.view(r))
    }

    /// Changes a case record.
    pub async fn update_case(
        self: &Arc<Self>,
        case: &str,
        input: &CaseInput,
        by: &str,
    ) -> Result<CaseView, CaseError> {
        let mut r = self
            .case_record(case)?
            .ok_or_else(|| CaseError::NotFound(case.to_string()))?;
        input.apply(&mut r)?;
        self.save_case(&r)?;
        self.case_audit(Event::CaseUpdated, case, by, None);
        let _ = self.sync.wait().await;
        Ok(self.view(r))
    }

    /// Records (or withdraws) a consent.
    pub async fn record_consent(
        self: &Arc<Self>,
        case: &str,
        purpose: Purpose,
        by_whom: ConsentBy,
        withdrawn: bool,
        recorded_by: &str,
    ) -> Result<CaseView, CaseError> {
        let mut r = self
            .case_record(case)?
            .ok_or_else(|| CaseError::NotFound(case.to_string()))?;
        r.consents.push(Consent {
            by: by_whom,
            purpose,
            recorded_at: self.now(),
            recorded_by: recorded_by.to_string(),
            withdrawn,
        });
        self.save_case(&r)?;
        self.case_audit(
            Event::ConsentRecorded,
            case,
            recorded_by,
            Some(format!(
                "{} {} for {}",
                by_whom.as_str(),
                if withdrawn {
                    "withdrew consent"
                } else {
                    "consented"
                },
                purpose.as_str()
            )),
        );
        let _ = self.sync.wait().await;
        Ok(self.view(r))
    }

    /// A case with its age facts.
    pub fn view(&self, r: CaseRecord) -> CaseView {
        let today = self.today();
        CaseView {
            eighteenth_birthday: r.eighteenth_birthday(),
            is_child: r.is_child(today),
            ages_out_soon: r.ages_out_within(today, AGES_OUT_WINDOW),
            protected_country: r.protected_country(),
            record: r,
        }
    }

    /// Erases a case: its record, and the content (forms, incoming
    /// envelopes) of every message about it. Audit entries stay, with
    /// their hashes, so the log still verifies; the content is gone.
    pub async fn erase_case(self: &Arc<Self>, case: &str, by: &str) -> Result<usize, CaseError> {
        let messages = self.store.messages(Some(case))?;
        let mut erased = 0usize;
        for m in &messages {
            if self.store.erase_content(m.id)? {
                erased += 1;
            }
        }
        let had_record = self.store.erase_case(case)?;
        // Deadlines name the case: they go with it.
        for d in self.store.deadlines()? {
            if d.case == case {
                self.store.remove_deadline(d.request)?;
            }
        }
        if !had_record && messages.is_empty() {
            return Err(CaseError::NotFound(case.to_string()));
        }
        self.case_audit(
            Event::CaseErased,
            case,
            by,
            Some(format!(
                "{} message(s), content of {erased} erased",
                messages.len()
            )),
        );
        self.sync.wait().await?;
        Ok(erased)
    }
}
