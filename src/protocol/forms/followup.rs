//! Forms exchanged once a case is under way and after the child's return:
//! follow-up requests and reports with their score card, case updates
//! (guardian, decision, return agreement, legal proceedings, transfer),
//! acknowledgements and case closure (domain brief §1, messages 2, 3, 9, 10,
//! 12, 15, 16, 17 and 20).
//!
//! | Kind | Type |
//! |---|---|
//! | `follow-up-request` | [`FollowUpRequest`] |
//! | `follow-up-report` | [`FollowUpReport`] |
//! | `case-update` | [`CaseUpdate`] |
//! | `acknowledgement` | [`Acknowledgement`] |
//! | `case-closure` | [`CaseClosure`] |

mod acknowledgement;
mod case_update;
mod closure;
mod report;
mod request;

pub use acknowledgement::Acknowledgement;
pub use case_update::{
    AccompanyingAdult, CaseUpdate, Decision, DecisionOutcome, GuardianAppointed, GuardianType,
    LegalProceedingsUpdate, LegalStage, ReturnAgreement, ReturnPosition, TransferArrangements,
};
pub use closure::{CaseClosure, ClosureReason, ClosureStage};
pub use report::{DEFAULT_DOMAINS, DomainScore, FollowUpReport, Progress, Score, ScoreDomain};
pub use request::FollowUpRequest;

/// Which point in the follow-up schedule a request or report concerns
/// (domain brief §2: 3 and 9 months, spot checks at 6, 12 and 18 months,
/// twice a year or yearly until 18, or outside any schedule).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
// serde's kebab-case would give `month3`, so the month variants are named
// explicitly.
#[serde(rename_all = "kebab-case")]
pub enum FollowUpPoint {
    /// Three months after return.
    #[serde(rename = "month-3")]
    Month3,
    /// Six months after return.
    #[serde(rename = "month-6")]
    Month6,
    /// Nine months after return.
    #[serde(rename = "month-9")]
    Month9,
    /// Twelve months after return.
    #[serde(rename = "month-12")]
    Month12,
    /// Eighteen months after return.
    #[serde(rename = "month-18")]
    Month18,
    /// One of the reports due twice a year until the child turns 18.
    TwiceYearly,
    /// One of the yearly reports (e.g. after relocation to a third country).
    Annual,
    /// Outside the agreed schedule.
    AdHoc,
}
