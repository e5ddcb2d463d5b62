//! Assessments of whether a child can safely go home: the social inquiry
//! report that answers a `social-inquiry-request` (family and community,
//! written by social workers), and the police security assessment that R
//! asks H for separately (domain brief §1, messages 6–8).
//!
//! The two kinds of assessment are kept apart on purpose (brief §4.5): a
//! police officer may not author the social inquiry report, and only a
//! police officer may author the security assessment report. Threats from
//! traffickers belong in the latter.

pub mod security_assessment_report;
pub mod security_assessment_request;
pub mod social_inquiry_report;

pub use security_assessment_report::SecurityAssessmentReport;
pub use security_assessment_request::SecurityAssessmentRequest;
pub use social_inquiry_report::SocialInquiryReport;
