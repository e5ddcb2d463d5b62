//! The send gate: the safeguards of the brief's §4 that every message about
//! a case must pass before it is queued (issue 7).
//!
//! # What is enforced
//!
//! The **asylum barrier** (§4.1), which no one can override:
//! - nothing goes to a country the child fears;
//! - for a child who seeks asylum or is a recognised refugee, nothing goes
//!   to the country of nationality, or of habitual residence when the child
//!   is stateless; if the record does not name that country the gate fails
//!   closed and refuses everything until it is recorded;
//! - for such a child, no other country is contacted unless the child has
//!   agreed to it (`agrees_contact`).
//!
//! A `social-inquiry-request` about a child who seeks asylum or is a refugee
//! is barred (brief §2, message 5). The brief says *barred*, so this rule
//! cannot be overridden either.
//!
//! The **consent gates** (§4.3), which an admin may override with a written
//! reason:
//! - a `continuity-of-care` form needs the child's and the guardian's
//!   consent for continuity of care;
//! - a family-tracing request needs the child's consent for family tracing;
//! - a family-tracing request is refused when family complicity is
//!   suspected.
//!
//! A consent counts when the latest entry for that person and purpose is not
//! withdrawn ([`CaseRecord::has_consent`]).
//!
//! # What is not enforced here
//!
//! - **Collecting information** needs the child's and the guardian's
//!   permission and an explanation of how the information will be shared.
//!   The brief does not say which messages collect information, and the case
//!   record holds no trace of the explanation, so [`check`] does not apply
//!   this rule to any kind. [`check_information_collection`] checks the two
//!   consents for a caller that knows it is about to collect information;
//!   the explanation remains the operator's duty.
//! - The **danger test** (§4.2) needs a judgement on the risk assessments;
//!   the node cannot make it.
//! - Parents being told of plans unless the child or guardian objects, the
//!   return gate (§4.7) and consular notification are outside this gate.
//! - Whether an override's author really is an admin is for the caller,
//!   which knows the accounts; this module only checks the written reason.
//!
//! Refusal reasons name countries by code and message kinds by name, and
//! nothing else: no case reference, no names.

use crate::protocol::case::{AsylumStatus, CaseRecord, ConsentBy, Purpose};
use crate::protocol::country::Country;
use crate::protocol::forms::Kind;
use jiff::civil::Date;

/// Shortest written reason an override must give, in characters (leading
/// and trailing spaces not counted).
pub const MIN_OVERRIDE_REASON: usize = 10;

/// Which safeguard refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateRule {
    /// Asylum barrier: the destination is a country the child fears.
    FearedCountry,
    /// Asylum barrier: the destination is the country of nationality (or of
    /// habitual residence, if stateless) of an asylum-seeking or refugee
    /// child.
    ProtectedCountry,
    /// Asylum barrier: the child seeks asylum or is a refugee, and the
    /// record does not name the country to protect the child from.
    ProtectedCountryUnknown,
    /// Asylum barrier: the child seeks asylum or is a refugee and has not
    /// agreed to contact with the destination.
    ContactNotAgreed,
    /// A social inquiry about a child who seeks asylum or is a refugee.
    SocialInquiryAsylum,
    /// A continuity-of-care form without the consent of both the child and
    /// the guardian.
    ContinuityOfCareConsent,
    /// Family tracing without the child's consent.
    FamilyTracingConsent,
    /// Family tracing while family complicity is suspected.
    FamilyComplicity,
    /// Collecting information without the child's and guardian's consent
    /// (only from [`check_information_collection`]).
    InformationConsent,
}

impl GateRule {
    /// The rule's name, as in the audit log.
    pub fn as_str(&self) -> &'static str {
        match self {
            GateRule::FearedCountry => "feared-country",
            GateRule::ProtectedCountry => "protected-country",
            GateRule::ProtectedCountryUnknown => "protected-country-unknown",
            GateRule::ContactNotAgreed => "contact-not-agreed",
            GateRule::SocialInquiryAsylum => "social-inquiry-asylum",
            GateRule::ContinuityOfCareConsent => "continuity-of-care-consent",
            GateRule::FamilyTracingConsent => "family-tracing-consent",
            GateRule::FamilyComplicity => "family-complicity",
            GateRule::InformationConsent => "information-consent",
        }
    }

    /// Part of the asylum barrier, which has no override.
    pub fn is_asylum_barrier(&self) -> bool {
        matches!(
            self,
            GateRule::FearedCountry
                | GateRule::ProtectedCountry
                | GateRule::ProtectedCountryUnknown
                | GateRule::ContactNotAgreed
        )
    }

    /// Whether an admin may override a refusal under this rule.
    pub fn overridable(&self) -> bool {
        match self {
            GateRule::FearedCountry
            | GateRule::ProtectedCountry
            | GateRule::ProtectedCountryUnknown
            | GateRule::ContactNotAgreed
            | GateRule::SocialInquiryAsylum => false,
            GateRule::ContinuityOfCareConsent
            | GateRule::FamilyTracingConsent
            | GateRule::FamilyComplicity
            | GateRule::InformationConsent => true,
        }
    }
}

impl std::fmt::Display for GateRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the gate refused a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("refused ({rule}): {reason}")]
pub struct Refusal {
    /// The safeguard that refused.
    pub rule: GateRule,
    /// Plain words for the operator. Holds no personal data other than
    /// country codes.
    pub reason: String,
    /// Whether an admin may override it with a written reason.
    pub overridable: bool,
}

impl Refusal {
    fn new(rule: GateRule, reason: String) -> Refusal {
        Refusal {
            rule,
            reason,
            overridable: rule.overridable(),
        }
    }
}

/// An admin's decision to send despite an overridable refusal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// User name of the admin who overrides.
    pub by_admin: String,
    /// The written reason, kept in the audit log.
    pub reason: String,
}

impl Override {
    /// Why this override cannot be accepted, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        if self.by_admin.trim().is_empty() {
            Some("an override must name the admin who gives it")
        } else if self.reason.trim().chars().count() < MIN_OVERRIDE_REASON {
            Some("an override needs a written reason of at least 10 characters")
        } else {
            None
        }
    }
}

/// Checks a message of `kind` about `case` to country `to`. `family_tracing`
/// says the message asks for the child's family to be traced. Returns the
/// first refusal: a refusal under the asylum barrier comes before any other.
pub fn check(
    case: &CaseRecord,
    to: Country,
    kind: Kind,
    family_tracing: bool,
    today: Date,
) -> Result<(), Refusal> {
    match check_all(case, to, kind, family_tracing, today)
        .into_iter()
        .next()
    {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

/// Every refusal the message meets, in order: at most one from the asylum
/// barrier first, then the others. Empty when the message may go. Use this
/// to record every lifted rule when an override is accepted.
pub fn check_all(
    case: &CaseRecord,
    to: Country,
    kind: Kind,
    family_tracing: bool,
    today: Date,
) -> Vec<Refusal> {
    // No rule depends on the date yet: the barrier and the consent gates
    // hold whatever the child's age. The date is taken so that callers need
    // not change when one does.
    let _ = today;
    let mut out = Vec::new();
    if let Some(refusal) = asylum_barrier(case, to) {
        out.push(refusal);
    }
    if kind == Kind::SocialInquiryRequest && case.seeks_protection() {
        out.push(Refusal::new(
            GateRule::SocialInquiryAsylum,
            format!(
                "a {kind} is barred for a child who {}",
                protection_words(case.asylum)
            ),
        ));
    }
    if kind == Kind::ContinuityOfCare {
        let child = case.has_consent(ConsentBy::Child, Purpose::ContinuityOfCare);
        let guardian = case.has_consent(ConsentBy::Guardian, Purpose::ContinuityOfCare);
        let missing = match (child, guardian) {
            (true, true) => None,
            (false, true) => Some("the child's"),
            (true, false) => Some("the guardian's"),
            (false, false) => Some("the child's and the guardian's"),
        };
        if let Some(missing) = missing {
            out.push(Refusal::new(
                GateRule::ContinuityOfCareConsent,
                format!(
                    "a {kind} form needs the consent of both the child and the guardian for continuity of care; {missing} is not recorded or was withdrawn"
                ),
            ));
        }
    }
    if family_tracing {
        if !case.has_consent(ConsentBy::Child, Purpose::FamilyTracing) {
            out.push(Refusal::new(
                GateRule::FamilyTracingConsent,
                "family tracing needs the child's informed consent, given after hearing the child's views; it is not recorded or was withdrawn".to_string(),
            ));
        }
        if case.family_complicity_suspected {
            out.push(Refusal::new(
                GateRule::FamilyComplicity,
                "family tracing is skipped because the family is suspected of complicity in the trafficking".to_string(),
            ));
        }
    }
    out
}

/// Like [`check`], with an admin's override. An override with a written
/// reason lifts overridable refusals; it never lifts the asylum barrier or
/// another rule that cannot be overridden.
///
/// `Ok(None)`: nothing needed overriding. `Ok(Some(rule))`: the override was
/// used; `rule` is the first rule it lifted (call [`check_all`] for all of
/// them, for the audit log). `Err`: refused, either by a rule with no
/// override, or because no valid override was given.
pub fn check_with_override(
    case: &CaseRecord,
    to: Country,
    kind: Kind,
    family_tracing: bool,
    today: Date,
    override_: Option<&Override>,
) -> Result<Option<GateRule>, Refusal> {
    let refusals = check_all(case, to, kind, family_tracing, today);
    let Some(first) = refusals.first() else {
        return Ok(None);
    };
    if let Some(hard) = refusals.iter().find(|r| !r.overridable) {
        return Err(hard.clone());
    }
    let Some(o) = override_ else {
        return Err(first.clone());
    };
    match o.problem() {
        None => Ok(Some(first.rule)),
        Some(problem) => Err(Refusal {
            reason: format!("{}; {problem}", first.reason),
            ..first.clone()
        }),
    }
}

/// The consent gate for collecting information about the child: the
/// child's permission and the guardian's, for purpose `information`. Not
/// applied by [`check`] (see the module notes); a caller that is about to
/// collect information applies it. The explanation of how the information
/// will be shared is not recorded, so it is not checked.
pub fn check_information_collection(case: &CaseRecord) -> Result<(), Refusal> {
    let child = case.has_consent(ConsentBy::Child, Purpose::Information);
    let guardian = case.has_consent(ConsentBy::Guardian, Purpose::Information);
    let missing = match (child, guardian) {
        (true, true) => return Ok(()),
        (false, true) => "the child's",
        (true, false) => "the guardian's",
        (false, false) => "the child's and the guardian's",
    };
    Err(Refusal::new(
        GateRule::InformationConsent,
        format!(
            "collecting information needs the child's permission and the guardian's consent; {missing} is not recorded or was withdrawn"
        ),
    ))
}

/// The asylum barrier's verdict on sending to `to`, if it refuses.
fn asylum_barrier(case: &CaseRecord, to: Country) -> Option<Refusal> {
    if case.fears.contains(&to) {
        return Some(Refusal::new(
            GateRule::FearedCountry,
            format!("the child fears {to}; nothing about this case may go to {to}"),
        ));
    }
    if !case.seeks_protection() {
        return None;
    }
    let who = protection_words(case.asylum);
    let whose = if case.stateless {
        "habitual residence (the child is stateless)"
    } else {
        "nationality"
    };
    match case.protected_country() {
        None => {
            return Some(Refusal::new(
                GateRule::ProtectedCountryUnknown,
                format!(
                    "the child {who}, and the case does not record the country of {whose}; record it before anything about this case is sent"
                ),
            ));
        }
        Some(home) if home == to => {
            return Some(Refusal::new(
                GateRule::ProtectedCountry,
                format!(
                    "the child {who}; nothing about this case may go to {to}, the country of {whose}"
                ),
            ));
        }
        Some(_) => {}
    }
    if !case.agrees_contact.contains(&to) {
        return Some(Refusal::new(
            GateRule::ContactNotAgreed,
            format!(
                "the child {who} and has not agreed to contact with {to}; record the child's agreement first"
            ),
        ));
    }
    None
}

fn protection_words(asylum: AsylumStatus) -> &'static str {
    match asylum {
        AsylumStatus::Refugee { .. } => "is a recognised refugee",
        AsylumStatus::Seeking | AsylumStatus::None => "seeks asylum",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::case::tests::{consent, country, plain};
    use crate::protocol::case::{Birth, Consent};
    use ConsentBy::{Child, Guardian};
    use jiff::civil::date;
    use proptest::prelude::*;

    fn today() -> Date {
        date(2026, 11, 23)
    }

    const A: &str = "AL";
    const B: &str = "GR";
    const C: &str = "IT";
    const D: &str = "DE";

    fn rule(case: &CaseRecord, to: &str, kind: Kind, family_tracing: bool) -> Result<(), GateRule> {
        check(case, country(to), kind, family_tracing, today()).map_err(|r| r.rule)
    }

    fn admin(reason: &str) -> Override {
        Override {
            by_admin: "root".into(),
            reason: reason.into(),
        }
    }

    const GOOD_REASON: &str = "court order 12/2026 requires the transfer";

    /// Scenario 1: national of A, trafficked A→B, seeks asylum in B (this
    /// node) fearing A. No contact at all with A.
    #[test]
    fn scenario_1_asylum_in_b_no_contact_with_a() {
        let mut c = plain();
        c.nationality = Some(country(A));
        c.habitual_residence = Some(country(A));
        c.asylum = AsylumStatus::Seeking;
        c.fears = vec![country(A)];
        assert!(c.validate(today()).is_ok());
        for &kind in Kind::ALL {
            for tracing in [false, true] {
                let r = check(&c, country(A), kind, tracing, today()).unwrap_err();
                assert_eq!(r.rule, GateRule::FearedCountry);
                assert!(!r.overridable);
                let o = check_with_override(
                    &c,
                    country(A),
                    kind,
                    tracing,
                    today(),
                    Some(&admin(GOOD_REASON)),
                );
                assert_eq!(o.map_err(|r| r.rule), Err(GateRule::FearedCountry));
            }
        }
        // Even if the fear were not recorded, A is the country of
        // nationality of an asylum seeker.
        c.fears.clear();
        assert_eq!(
            rule(&c, A, Kind::CaseUpdate, false),
            Err(GateRule::ProtectedCountry)
        );
    }

    /// Scenario 2: national of A, long resident in B, trafficked to C (this
    /// node), seeks asylum in C fearing A. C may keep contacting B if the
    /// child wishes; never A.
    #[test]
    fn scenario_2_asylum_in_c_may_contact_b_if_the_child_agrees_never_a() {
        let mut c = plain();
        c.nationality = Some(country(A));
        c.habitual_residence = Some(country(B));
        c.asylum = AsylumStatus::Seeking;
        c.fears = vec![country(A)];
        c.consents = vec![consent(
            Child,
            Purpose::FamilyTracing,
            "2026-11-02T10:00:00Z",
            false,
        )];
        assert!(c.validate(today()).is_ok());
        // Without the child's agreement, B is refused.
        assert_eq!(
            rule(&c, B, Kind::CaseUpdate, true),
            Err(GateRule::ContactNotAgreed)
        );
        // With it, C may trace family in B.
        c.agrees_contact = vec![country(B)];
        assert!(c.validate(today()).is_ok());
        assert_eq!(rule(&c, B, Kind::CaseUpdate, true), Ok(()));
        assert_eq!(rule(&c, B, Kind::MissingChildNotice, false), Ok(()));
        // A never; nor anyone else the child has not agreed to.
        assert_eq!(
            rule(&c, A, Kind::CaseUpdate, true),
            Err(GateRule::FearedCountry)
        );
        assert_eq!(
            rule(&c, D, Kind::CaseUpdate, false),
            Err(GateRule::ContactNotAgreed)
        );
        // Had the fear not been recorded, A is still barred as the country
        // of nationality, and agreeing to it changes nothing.
        c.fears.clear();
        c.agrees_contact.push(country(A));
        assert_eq!(
            rule(&c, A, Kind::CaseUpdate, false),
            Err(GateRule::ProtectedCountry)
        );
        assert_eq!(
            check_with_override(
                &c,
                country(A),
                Kind::CaseUpdate,
                false,
                today(),
                Some(&admin(GOOD_REASON))
            )
            .map_err(|r| r.rule),
            Err(GateRule::ProtectedCountry)
        );
    }

    /// Scenario 3: national of A, recognised refugee in B, trafficked to C
    /// (this node), not seeking asylum in C but fearing A. No contact with
    /// A; B only with the child's agreement.
    #[test]
    fn scenario_3_refugee_in_b_no_contact_with_a_b_only_if_agreed() {
        let mut c = plain();
        c.nationality = Some(country(A));
        c.habitual_residence = Some(country(B));
        c.asylum = AsylumStatus::Refugee {
            recognised_in: country(B),
        };
        c.fears = vec![country(A)];
        assert!(c.validate(today()).is_ok());
        assert_eq!(
            rule(&c, A, Kind::CaseUpdate, false),
            Err(GateRule::FearedCountry)
        );
        assert_eq!(
            rule(&c, B, Kind::CaseUpdate, false),
            Err(GateRule::ContactNotAgreed)
        );
        assert_eq!(
            check_with_override(
                &c,
                country(B),
                Kind::CaseUpdate,
                false,
                today(),
                Some(&admin(GOOD_REASON))
            )
            .map_err(|r| r.rule),
            Err(GateRule::ContactNotAgreed)
        );
        c.agrees_contact = vec![country(B)];
        assert_eq!(rule(&c, B, Kind::CaseUpdate, false), Ok(()));
        assert_eq!(
            rule(&c, A, Kind::CaseUpdate, false),
            Err(GateRule::FearedCountry)
        );
        // Without the recorded fear, A is still the country of nationality.
        c.fears.clear();
        assert_eq!(
            rule(&c, A, Kind::CaseUpdate, false),
            Err(GateRule::ProtectedCountry)
        );
    }

    #[test]
    fn a_feared_country_is_barred_even_without_asylum() {
        let mut c = plain();
        c.fears = vec![country(B)];
        assert_eq!(
            rule(&c, B, Kind::CaseUpdate, false),
            Err(GateRule::FearedCountry)
        );
        // Without asylum, other countries need no agreement.
        assert_eq!(rule(&c, A, Kind::CaseUpdate, false), Ok(()));
        assert_eq!(rule(&c, D, Kind::CaseUpdate, false), Ok(()));
    }

    #[test]
    fn a_stateless_asylum_seeker_is_protected_from_the_country_of_residence() {
        let mut c = plain();
        c.nationality = None;
        c.stateless = true;
        c.habitual_residence = Some(country("RS"));
        c.asylum = AsylumStatus::Seeking;
        c.agrees_contact = vec![country("RS"), country(B)];
        let r = check(&c, country("RS"), Kind::CaseUpdate, false, today()).unwrap_err();
        assert_eq!(r.rule, GateRule::ProtectedCountry);
        assert!(r.reason.contains("stateless"), "{}", r.reason);
        assert_eq!(rule(&c, B, Kind::CaseUpdate, false), Ok(()));
    }

    #[test]
    fn an_unrecorded_protected_country_refuses_everything() {
        let mut c = plain();
        c.asylum = AsylumStatus::Seeking;
        c.nationality = None;
        c.agrees_contact = vec![country(B)];
        assert_eq!(
            rule(&c, B, Kind::CaseUpdate, false),
            Err(GateRule::ProtectedCountryUnknown)
        );
        c.stateless = true;
        c.habitual_residence = None;
        assert_eq!(
            rule(&c, B, Kind::CaseUpdate, false),
            Err(GateRule::ProtectedCountryUnknown)
        );
        c.habitual_residence = Some(country(A));
        assert_eq!(rule(&c, B, Kind::CaseUpdate, false), Ok(()));
    }

    #[test]
    fn no_social_inquiry_about_an_asylum_seeker_or_refugee() {
        let mut c = plain();
        c.nationality = Some(country(A));
        c.agrees_contact = vec![country(B)];
        assert_eq!(rule(&c, B, Kind::SocialInquiryRequest, false), Ok(()));
        for asylum in [
            AsylumStatus::Seeking,
            AsylumStatus::Refugee {
                recognised_in: country(C),
            },
        ] {
            c.asylum = asylum;
            let r = check(&c, country(B), Kind::SocialInquiryRequest, false, today()).unwrap_err();
            assert_eq!(r.rule, GateRule::SocialInquiryAsylum);
            assert!(!r.overridable);
            assert_eq!(
                check_with_override(
                    &c,
                    country(B),
                    Kind::SocialInquiryRequest,
                    false,
                    today(),
                    Some(&admin(GOOD_REASON))
                )
                .map_err(|r| r.rule),
                Err(GateRule::SocialInquiryAsylum)
            );
            // Other kinds to an agreed country still go.
            assert_eq!(rule(&c, B, Kind::CaseUpdate, false), Ok(()));
        }
    }

    #[test]
    fn continuity_of_care_needs_child_and_guardian_consent() {
        let coc = Purpose::ContinuityOfCare;
        let mut c = plain();
        let r = check(&c, country(A), Kind::ContinuityOfCare, false, today()).unwrap_err();
        assert_eq!(r.rule, GateRule::ContinuityOfCareConsent);
        assert!(r.overridable);
        assert!(
            r.reason.contains("the child's and the guardian's"),
            "{}",
            r.reason
        );
        // Other kinds do not need it.
        assert_eq!(rule(&c, A, Kind::CaseUpdate, false), Ok(()));

        c.consents
            .push(consent(Child, coc, "2026-11-02T10:00:00Z", false));
        let r = check(&c, country(A), Kind::ContinuityOfCare, false, today()).unwrap_err();
        assert!(r.reason.contains("the guardian's is"), "{}", r.reason);
        // Consent for another purpose does not count.
        c.consents.push(consent(
            Guardian,
            Purpose::Information,
            "2026-11-02T10:00:00Z",
            false,
        ));
        assert_eq!(
            rule(&c, A, Kind::ContinuityOfCare, false),
            Err(GateRule::ContinuityOfCareConsent)
        );
        c.consents
            .push(consent(Guardian, coc, "2026-11-02T11:00:00Z", false));
        assert_eq!(rule(&c, A, Kind::ContinuityOfCare, false), Ok(()));

        // Withdrawal by either closes the gate again.
        let mut w = c.clone();
        w.consents
            .push(consent(Guardian, coc, "2026-11-03T10:00:00Z", true));
        assert_eq!(
            rule(&w, A, Kind::ContinuityOfCare, false),
            Err(GateRule::ContinuityOfCareConsent)
        );
        let mut w = c.clone();
        w.consents[0].withdrawn = true;
        assert_eq!(
            rule(&w, A, Kind::ContinuityOfCare, false),
            Err(GateRule::ContinuityOfCareConsent)
        );
    }

    #[test]
    fn family_tracing_needs_the_childs_consent() {
        let mut c = plain();
        assert_eq!(
            rule(&c, A, Kind::CaseUpdate, true),
            Err(GateRule::FamilyTracingConsent)
        );
        // Not a tracing request: no consent needed.
        assert_eq!(rule(&c, A, Kind::CaseUpdate, false), Ok(()));
        // The guardian's consent is not the child's.
        c.consents.push(consent(
            Guardian,
            Purpose::FamilyTracing,
            "2026-11-02T10:00:00Z",
            false,
        ));
        assert_eq!(
            rule(&c, A, Kind::SocialInquiryRequest, true),
            Err(GateRule::FamilyTracingConsent)
        );
        c.consents.push(consent(
            Child,
            Purpose::FamilyTracing,
            "2026-11-02T10:00:00Z",
            false,
        ));
        assert_eq!(rule(&c, A, Kind::SocialInquiryRequest, true), Ok(()));
        c.consents.push(consent(
            Child,
            Purpose::FamilyTracing,
            "2026-11-04T10:00:00Z",
            true,
        ));
        assert_eq!(
            rule(&c, A, Kind::SocialInquiryRequest, true),
            Err(GateRule::FamilyTracingConsent)
        );
    }

    #[test]
    fn family_tracing_is_skipped_when_complicity_is_suspected() {
        let mut c = plain();
        c.consents.push(consent(
            Child,
            Purpose::FamilyTracing,
            "2026-11-02T10:00:00Z",
            false,
        ));
        c.family_complicity_suspected = true;
        let r = check(&c, country(A), Kind::CaseUpdate, true, today()).unwrap_err();
        assert_eq!(r.rule, GateRule::FamilyComplicity);
        assert!(r.overridable);
        // Complicity blocks tracing only.
        assert_eq!(rule(&c, A, Kind::CaseUpdate, false), Ok(()));
    }

    #[test]
    fn an_override_lifts_only_overridable_rules() {
        let mut c = plain();
        c.family_complicity_suspected = true;
        let go = |c: &CaseRecord, kind, tracing, o: Option<&Override>| {
            check_with_override(c, country(A), kind, tracing, today(), o).map_err(|r| r.rule)
        };
        // Nothing to override.
        assert_eq!(go(&c, Kind::CaseUpdate, false, None), Ok(None));
        assert_eq!(
            go(&c, Kind::CaseUpdate, false, Some(&admin(GOOD_REASON))),
            Ok(None)
        );
        // Overridable: refused without an override, lifted with one.
        assert_eq!(
            go(&c, Kind::ContinuityOfCare, false, None),
            Err(GateRule::ContinuityOfCareConsent)
        );
        assert_eq!(
            go(&c, Kind::ContinuityOfCare, false, Some(&admin(GOOD_REASON))),
            Ok(Some(GateRule::ContinuityOfCareConsent))
        );
        // Both tracing rules are lifted together; the first is reported,
        // check_all lists both.
        assert_eq!(
            go(&c, Kind::CaseUpdate, true, Some(&admin(GOOD_REASON))),
            Ok(Some(GateRule::FamilyTracingConsent))
        );
        let all: Vec<GateRule> = check_all(&c, country(A), Kind::CaseUpdate, true, today())
            .into_iter()
            .map(|r| r.rule)
            .collect();
        assert_eq!(
            all,
            [GateRule::FamilyTracingConsent, GateRule::FamilyComplicity]
        );
        // A reason too short, or no admin named: refused, and told why.
        for bad in [
            admin("because"),
            admin("    ok      "),
            Override {
                by_admin: " ".into(),
                reason: GOOD_REASON.into(),
            },
        ] {
            let r = check_with_override(
                &c,
                country(A),
                Kind::ContinuityOfCare,
                false,
                today(),
                Some(&bad),
            )
            .unwrap_err();
            assert_eq!(r.rule, GateRule::ContinuityOfCareConsent);
            assert!(r.reason.contains("override"), "{}", r.reason);
        }
        assert_eq!(
            go(
                &c,
                Kind::ContinuityOfCare,
                false,
                Some(&admin("ten chars!"))
            ),
            Ok(Some(GateRule::ContinuityOfCareConsent))
        );
        // An overridable refusal alongside the barrier: the barrier wins.
        c.fears = vec![country(A)];
        assert_eq!(
            go(&c, Kind::ContinuityOfCare, true, Some(&admin(GOOD_REASON))),
            Err(GateRule::FearedCountry)
        );
    }

    #[test]
    fn rules_know_whether_they_can_be_overridden() {
        for r in [
            GateRule::FearedCountry,
            GateRule::ProtectedCountry,
            GateRule::ProtectedCountryUnknown,
            GateRule::ContactNotAgreed,
        ] {
            assert!(r.is_asylum_barrier() && !r.overridable(), "{r}");
        }
        assert!(!GateRule::SocialInquiryAsylum.overridable());
        for r in [
            GateRule::ContinuityOfCareConsent,
            GateRule::FamilyTracingConsent,
            GateRule::FamilyComplicity,
            GateRule::InformationConsent,
        ] {
            assert!(!r.is_asylum_barrier() && r.overridable(), "{r}");
        }
        assert_eq!(
            serde_json::to_value(GateRule::ContactNotAgreed).unwrap(),
            "contact-not-agreed"
        );
    }

    #[test]
    fn information_collection_needs_child_and_guardian() {
        let info = Purpose::Information;
        let mut c = plain();
        assert_eq!(
            check_information_collection(&c).map_err(|r| r.rule),
            Err(GateRule::InformationConsent)
        );
        c.consents
            .push(consent(Child, info, "2026-11-02T10:00:00Z", false));
        assert!(check_information_collection(&c).is_err());
        c.consents
            .push(consent(Guardian, info, "2026-11-02T10:00:00Z", false));
        assert_eq!(check_information_collection(&c), Ok(()));
        c.consents
            .push(consent(Child, info, "2026-11-03T10:00:00Z", true));
        assert!(check_information_collection(&c).is_err());
        // Not applied by the send gate.
        c.consents.clear();
        assert_eq!(rule(&c, A, Kind::SocialInquiryRequest, false), Ok(()));
    }

    const POOL: [&str; 5] = ["AL", "GR", "IT", "DE", "RS"];

    fn any_country() -> impl Strategy<Value = Country> {
        prop::sample::select(POOL.to_vec()).prop_map(country)
    }

    fn any_countries() -> impl Strategy<Value = Vec<Country>> {
        prop::sample::subsequence(POOL.to_vec(), 0..=POOL.len())
            .prop_map(|v| v.into_iter().map(country).collect())
    }

    fn any_consent() -> impl Strategy<Value = Consent> {
        (any::<bool>(), 0u8..3, 0i64..1_000_000, any::<bool>()).prop_map(
            |(child, p, secs, withdrawn)| Consent {
                by: if child { Child } else { Guardian },
                purpose: match p {
                    0 => Purpose::ContinuityOfCare,
                    1 => Purpose::FamilyTracing,
                    _ => Purpose::Information,
                },
                recorded_at: jiff::Timestamp::from_second(1_790_000_000 + secs).unwrap(),
                recorded_by: "Eleni Papadopoulou".into(),
                withdrawn,
            },
        )
    }

    fn any_case() -> impl Strategy<Value = CaseRecord> {
        (
            (
                proptest::option::of(any_country()),
                proptest::option::of(any_country()),
                any::<bool>(),
                (0u8..3, any_country()),
            ),
            any_countries(),
            any_countries(),
            proptest::collection::vec(any_consent(), 0..6),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(
                    (nationality, residence, stateless, (asylum, recognised_in)),
                    fears,
                    agrees,
                    consents,
                    complicity,
                    presumed,
                )| {
                    let mut c = plain();
                    c.case = "SECRET-REF-42".into();
                    c.birth = Birth::EstimatedYear(2010);
                    c.nationality = nationality;
                    c.habitual_residence = residence;
                    c.stateless = stateless;
                    c.asylum = match asylum {
                        0 => AsylumStatus::None,
                        1 => AsylumStatus::Seeking,
                        _ => AsylumStatus::Refugee { recognised_in },
                    };
                    c.fears = fears;
                    c.agrees_contact = agrees;
                    c.consents = consents;
                    c.family_complicity_suspected = complicity;
                    c.presumed_child = presumed;
                    c
                },
            )
    }

    proptest! {
        /// Whatever the record (valid or not), whatever the override:
        /// nothing allowed goes to a feared country, nor, for an asylum
        /// seeker or refugee, to the protected country or to a country the
        /// child has not agreed to; and no social inquiry is sent about
        /// such a child.
        #[test]
        fn the_barrier_holds_for_any_case(
            case in any_case(),
            to in any_country(),
            kind in prop::sample::select(Kind::ALL.to_vec()),
            tracing in any::<bool>(),
            with_override in any::<bool>(),
        ) {
            let o = admin(GOOD_REASON);
            let o = with_override.then_some(&o);
            let verdict = check_with_override(&case, to, kind, tracing, today(), o);
            match &verdict {
                Ok(_) => {
                    prop_assert!(!case.fears.contains(&to));
                    if case.seeks_protection() {
                        let home = case.protected_country();
                        prop_assert!(home.is_some());
                        prop_assert_ne!(home, Some(to));
                        prop_assert!(case.agrees_contact.contains(&to));
                        prop_assert_ne!(kind, Kind::SocialInquiryRequest);
                    }
                }
                Err(r) => {
                    prop_assert_eq!(r.overridable, r.rule.overridable());
                    // With a valid override, only rules without one refuse.
                    if with_override {
                        prop_assert!(!r.overridable);
                    }
                    // Reasons carry no personal data.
                    prop_assert!(!r.reason.contains("SECRET"));
                    prop_assert!(!r.reason.contains("Eleni"));
                    prop_assert!(!r.reason.contains("maria"));
                }
            }
            // Without an override, check and check_with_override agree.
            let plain_check = check(&case, to, kind, tracing, today());
            let no_override = check_with_override(&case, to, kind, tracing, today(), None);
            prop_assert_eq!(plain_check.clone().map(|()| None), no_override);
            if plain_check.is_ok() {
                prop_assert_eq!(verdict, Ok(None));
            }
        }
    }
}
