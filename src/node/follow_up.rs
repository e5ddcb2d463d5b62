//! Follow-ups after a child's return: recording the return on a case makes
//! the agreement's follow-up schedules into deadlines, and a message of the
//! scheduled kind for that case closes the earliest one still open.
//!
//! The dates and due times come from the pure core
//! ([`crate::protocol::schedule::plan`],
//! [`crate::protocol::deadline::scheduled_deadline`]); this module stores
//! them and audits what it did.

use super::Node;
use super::cases::CaseError;
use crate::protocol::FieldError;
use crate::protocol::audit::{Event, Record};
use crate::protocol::country::Country;
use crate::protocol::deadline;
use crate::protocol::forms::Kind;
use crate::protocol::id::MessageId;
use crate::protocol::schedule::{self, Planned, Return};
use crate::store::DeadlineRecord;
use sha2::Digest as _;
use std::sync::Arc;

/// A stable id for one planned follow-up of one case: the due time in its
/// time part (so ids sort by due time) and a hash of case, peer and label.
fn planned_id(case: &str, peer: Country, p: &Planned, due: jiff::Timestamp) -> MessageId {
    let mut h = sha2::Sha256::new();
    for part in [
        "nfp-node follow-up",
        case,
        peer.as_str(),
        &p.label(),
        &p.date.to_string(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(due.as_millisecond()).unwrap_or(0);
    MessageId::new(millis, random)
}

impl Node {
    /// Records the child's return on `case` and schedules the follow-ups
    /// the agreement with the other country calls for. This node must be
    /// one side of the return. Recording again (a corrected date) replaces
    /// the follow-ups not yet answered. Returns the case and the
    /// follow-ups scheduled.
    pub async fn record_return(
        self: &Arc<Self>,
        case: &str,
        ret: Return,
        by: &str,
    ) -> Result<(super::cases::CaseView, Vec<DeadlineRecord>), CaseError> {
        let bad = |field: &str, m: String| CaseError::Invalid(vec![FieldError::new(field, m)]);
        if ret.from == ret.to {
            return Err(bad(
                "returned.to",
                format!(
                    "is {}, the country the child left; a return crosses a border",
                    ret.to
                ),
            ));
        }
        let peer = if ret.from == self.me {
            ret.to
        } else if ret.to == self.me {
            ret.from
        } else {
            return Err(bad(
                "returned",
                format!(
                    "this node is {}; record a return from or to it (--to CC or --from CC)",
                    self.me
                ),
            ));
        };
        let Some(p) = self.peer(peer) else {
            return Err(bad(
                "returned",
                format!("no agreement with {peer}; add the peer first"),
            ));
        };
        let mut r = self
            .case_record(case)?
            .ok_or_else(|| CaseError::NotFound(case.to_string()))?;
        r.returned = Some(ret);
        self.save_case(&r)?;

        // Replace what an earlier recording scheduled and nobody answered.
        for old in self.store.deadlines()? {
            if old.case == case && old.schedule.is_some() && old.answer.is_none() {
                self.store.remove_deadline(old.request)?;
            }
        }
        let now = self.now();
        let dob = match r.birth {
            crate::protocol::case::Birth::Date(d) => Some(d),
            _ => None,
        };
        let planned = schedule::plan(&p.agreement.follow_up, &ret, dob, r.eighteenth_birthday());
        let mut made = Vec::new();
        for item in &planned {
            let Some(d) = deadline::scheduled_deadline(&p.agreement, item, now) else {
                continue;
            };
            let id = planned_id(case, peer, item, d.due);
            if matches!(self.store.deadline(id)?, Some(old) if old.answer.is_some()) {
                continue;
            }
            let rec = DeadlineRecord {
                request: id,
                peer,
                case: case.to_string(),
                owed: item.owed_by == self.me,
                deadline: d,
                answered_by: vec![item.kind],
                reminders_sent: 0,
                escalated: false,
                answer: None,
                answered_at: None,
                schedule: Some(item.label()),
            };
            self.store.put_deadline(&rec)?;
            made.push(rec);
        }
        self.case_audit(
            Event::FollowUpsScheduled,
            case,
            by,
            Some(format!(
                "return {} -> {}; {} follow-up(s) scheduled under {} v{}",
                ret.from,
                ret.to,
                made.len(),
                p.agreement.id,
                p.agreement.version
            )),
        );
        self.sync.wait().await?;
        Ok((self.view(r), made))
    }

    /// Closes the earliest open scheduled follow-up that a message of
    /// `kind` about `case` fulfils: sent by this node (`sent`) or received
    /// from `peer`.
    pub(crate) fn close_scheduled(
        &self,
        peer: Country,
        case: &str,
        kind: Kind,
        sent: bool,
        answer: MessageId,
        at: jiff::Timestamp,
    ) {
        let scheduled_kind = self
            .peer(peer)
            .is_some_and(|p| p.agreement.follow_up.iter().any(|s| s.kind == kind));
        if !scheduled_kind {
            return;
        }
        let Ok(all) = self.store.open_deadlines() else {
            return;
        };
        let open = all
            .into_iter()
            .filter(|d| {
                d.schedule.is_some()
                    && d.answer.is_none()
                    && d.peer == peer
                    && d.case == case
                    && d.owed == sent
                    && d.answered_by.contains(&kind)
            })
            .min_by_key(|d| d.deadline.due);
        let Some(mut d) = open else { return };
        d.answer = Some(answer);
        d.answered_at = Some(at);
        let state = d.deadline.state(at, Some(at));
        if let Err(e) = self.store.put_deadline(&d) {
            tracing::error!(error = %e, "cannot close scheduled follow-up");
            return;
        }
        self.audit(
            Event::DeadlineClosed,
            Record {
                peer: Some(peer),
                message: Some(d.request),
                envelope: None,
                detail: Some(format!(
                    "{} {} by {answer}",
                    d.schedule.as_deref().unwrap_or("follow-up"),
                    state.as_str()
                )),
            },
        );
    }
}
