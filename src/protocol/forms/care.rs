//! Forms about the child's care and safety while the case is open:
//!
//! - `continuity-of-care` ([`ContinuityOfCare`]): before a transfer, the NFP
//!   where the child was found (R) tells the NFP of the home country (H) what
//!   care the child has had and still needs (domain brief §1, message 13).
//!   It may be sent only after the child and the temporary guardian consented.
//! - `missing-child-notice` ([`MissingChildNotice`]): urgent notice that a
//!   child has gone missing from a placement (message 14).
//! - `missing-child-update` ([`MissingChildUpdate`]): later news on a missing
//!   child: still missing, sighted, found, or case closed (message 14).

pub mod continuity_of_care;
pub mod missing_child;

pub use continuity_of_care::{
    Consent, ContinuityOfCare, DocumentType, Health, HealthArea, HealthCare, IdentityDocument,
    LegalProceeding, Placement, PlacementType, ProceedingRole, ProceedingStatus,
    ProtectionConcerns, Service, ServiceType,
};
pub use missing_child::{
    MissingChildNotice, MissingChildUpdate, MissingFrom, MissingFromPlacement, MissingStatus,
    RiskLevel,
};
