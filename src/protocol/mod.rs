//! The pure protocol core: envelopes, forms, agreements, deadlines and the
//! audit trail's maths.
//!
//! Nothing in here performs I/O, reads a clock or touches global state. Time
//! and randomness are passed in by the caller, so every function is
//! deterministic and testable without a socket, a disk or a runtime.

pub mod agreement;
pub mod attachment;
pub mod audit;
pub mod card;
pub mod case;
pub mod country;
pub mod deadline;
pub mod envelope;
pub mod forms;
pub mod gate;
pub mod hpke;
pub mod id;
pub mod keys;
pub mod labels;
pub mod language;
pub mod rotation;
pub mod schedule;
pub mod signature;
pub mod wire;

/// A point in time, as the protocol sees it: whole seconds since the Unix
/// epoch, UTC. The caller's clock supplies it.
pub type UnixTime = i64;

/// One problem found while validating a document (form, agreement, card or
/// configuration), named by the path of the field it is in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `child.date_of_birth` or `sla.social-inquiry-request`.
    pub field: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl FieldError {
    /// A problem at `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
