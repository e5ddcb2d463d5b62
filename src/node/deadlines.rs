//! Deadlines in operation: opened when a request is received (what this NFP
//! owes) or its receipt verified (what it awaits), closed by an answer of
//! the right kind, watched every second for reminder points (a signed
//! `reminder` to the peer) and for overdue escalation (audit entry, warning
//! and the configured command hook).

use super::Node;
use super::access::Caller;
use crate::protocol::audit::{Event, Record};
use crate::protocol::country::Country;
use crate::protocol::deadline::{self, Deadline, DeadlineState};
use crate::protocol::forms::{Form, Kind};
use crate::protocol::id::MessageId;
use crate::store::{DeadlineRecord, MessageRecord};
use std::sync::Arc;
use std::time::Duration;

impl Node {
    /// The deadline this node owes for an incoming message, if the agreement
    /// sets one (the red-flag lane for a follow-up report with a red flag).
    pub(crate) fn owed_deadline(
        &self,
        peer: Country,
        kind: Kind,
        form: &Form,
        now: jiff::Timestamp,
    ) -> Option<Deadline> {
        let p = self.peer(peer)?;
        if let Form::FollowUpReport(r) = form
            && r.has_red_flag()
            && let Some(d) = deadline::red_flag_deadline(&p.agreement, self.me, now)
        {
            return Some(d);
        }
        deadline::deadline_for(&p.agreement, self.me, kind, now)
    }

    fn answered_by(&self, peer: Country, d: &Deadline, red_flag: bool) -> Vec<Kind> {
        match self.peer(peer) {
            Some(p) if red_flag => p.agreement.red_flag_answered_by(),
            Some(p) => p.agreement.answered_by(d.kind),
            None => Vec::new(),
        }
    }

    /// The record of what this node owes for an incoming request; the
    /// store writes it with the message (`Store::put_incoming`).
    pub(crate) fn owed_record(
        &self,
        rec: &MessageRecord,
        d: Deadline,
        red_flag: bool,
    ) -> DeadlineRecord {
        let answered_by = self.answered_by(rec.peer, &d, red_flag);
        DeadlineRecord {
            request: rec.id,
            peer: rec.peer,
            case: rec.case.clone(),
            owed: true,
            deadline: d,
            answered_by,
            reminders_sent: 0,
            escalated: false,
            answer: None,
            answered_at: None,
            schedule: None,
        }
    }

    /// The record of what this node awaits, with the due time the peer
    /// signed in its receipt; the store writes it with the receipt
    /// (`Store::mark_delivered`).
    pub(crate) fn awaited_record(
        &self,
        rec: &MessageRecord,
        received: jiff::Timestamp,
        due: jiff::Timestamp,
    ) -> Option<DeadlineRecord> {
        let p = self.peer(rec.peer)?;
        let red_flag = false;
        let mut d = match deadline::deadline_for(&p.agreement, rec.peer, rec.kind, received) {
            Some(d) => d,
            None => Deadline {
                owed_by: rec.peer,
                kind: rec.kind,
                start: received,
                due,
                reminders: Vec::new(),
                lane: deadline::Lane::Routine,
            },
        };
        if d.due != due {
            // The party that owes the answer computed it: its figure binds.
            let percents = p.agreement.reminders(rec.kind);
            d.reminders = deadline::reminder_points(received, due, &percents);
            d.due = due;
        }
        let answered_by = self.answered_by(rec.peer, &d, red_flag);
        Some(DeadlineRecord {
            request: rec.id,
            peer: rec.peer,
            case: rec.case.clone(),
            owed: false,
            deadline: d,
            answered_by,
            reminders_sent: 0,
            escalated: false,
            answer: None,
            answered_at: None,
            schedule: None,
        })
    }

    /// Closes the deadline on `reply_to` if `kind` answers it.
    pub(crate) fn close_deadline(
        &self,
        reply_to: MessageId,
        kind: Kind,
        answer: MessageId,
        at: jiff::Timestamp,
    ) {
        let Ok(Some(mut d)) = self.store.deadline(reply_to) else {
            return;
        };
        if d.answer.is_some() || !d.answered_by.contains(&kind) {
            return;
        }
        d.answer = Some(answer);
        d.answered_at = Some(at);
        let state = d.deadline.state(at, Some(at));
        if let Err(e) = self.store.put_deadline(&d) {
            tracing::error!(error = %e, "cannot close deadline");
            return;
        }
        self.audit(
            Event::DeadlineClosed,
            Record {
                peer: Some(d.peer),
                message: Some(reply_to),
                envelope: None,
                detail: Some(format!("{} by {answer}", state.as_str())),
            },
        );
    }

    /// Every deadline with its state now.
    pub fn deadline_views(
        &self,
    ) -> Result<Vec<(DeadlineRecord, DeadlineState)>, crate::store::StoreError> {
        let now = self.now();
        Ok(self
            .store
            .deadlines()?
            .into_iter()
            .map(|d| {
                let s = d.deadline.state(now, d.answered_at);
                (d, s)
            })
            .collect())
    }
}

/// Watches open deadlines: reminders for what the peer owes, escalation for
/// anything overdue.
pub(super) async fn watch(node: Arc<Node>) {
    let mut stop = node.stopping();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {},
            _ = stop.changed() => break,
        }
        let now = node.now();
        let Ok(open) = node.store.open_deadlines() else {
            continue;
        };
        for mut d in open {
            let mut changed = false;
            // Scheduled follow-ups have no message the peer could look up;
            // their one reminder point only marks them due soon here.
            if !d.owed && d.schedule.is_none() {
                let due = d.deadline.reminders_due(now, d.reminders_sent as usize);
                for _ in 0..due {
                    d.reminders_sent += 1;
                    changed = true;
                    send_reminder(&node, &d, now).await;
                }
            }
            if d.deadline.state(now, None) == DeadlineState::Overdue && !d.escalated {
                d.escalated = true;
                changed = true;
                escalate(&node, &d).await;
            }
            if changed && let Err(e) = node.store.put_deadline(&d) {
                tracing::error!(error = %e, "cannot update deadline");
            }
        }
    }
}

async fn send_reminder(node: &Arc<Node>, d: &DeadlineRecord, now: jiff::Timestamp) {
    let form = serde_json::json!({
        "about": d.request,
        "about_kind": d.deadline.kind,
        "due": d.deadline.due,
        "reminder": d.reminders_sent,
        "overdue": now >= d.deadline.due,
    });
    let req = super::SendRequest {
        to: d.peer,
        kind: Kind::Reminder,
        case: d.case.clone(),
        lang: None,
        reply_to: Some(d.request),
        form,
        family_tracing: false,
        override_reason: None,
        attachments: Vec::new(),
        translations: Vec::new(),
    };
    match node.send(&Caller::node_admin(), req).await {
        Ok(id) => tracing::info!(peer = %d.peer, about = %d.request, msg_id = %id, "reminder sent"),
        Err(e) => {
            tracing::warn!(peer = %d.peer, about = %d.request, error = %e, "reminder not sent")
        }
    }
}

async fn escalate(node: &Arc<Node>, d: &DeadlineRecord) {
    let who = if d.owed {
        "owed by this NFP"
    } else {
        "awaited from the peer"
    };
    tracing::warn!(peer = %d.peer, msg_id = %d.request, kind = %d.deadline.kind, due = %d.deadline.due, "deadline overdue ({who})");
    node.audit(
        Event::DeadlineOverdue,
        Record {
            peer: Some(d.peer),
            message: Some(d.request),
            envelope: None,
            detail: Some(format!(
                "{}{} due {} ({who})",
                d.deadline.kind,
                d.schedule
                    .as_deref()
                    .map(|s| format!(" [{s}]"))
                    .unwrap_or_default(),
                d.deadline.due
            )),
        },
    );
    let Some((program, args)) = node.escalation_command.split_first() else {
        return;
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env("NFP_DEADLINE_MESSAGE", d.request.to_string())
        .env("NFP_DEADLINE_PEER", d.peer.as_str())
        .env("NFP_DEADLINE_KIND", d.deadline.kind.as_str())
        .env("NFP_DEADLINE_DUE", d.deadline.due.to_string())
        .env("NFP_DEADLINE_OWED", if d.owed { "1" } else { "0" })
        .env("NFP_DEADLINE_SCHEDULE", d.schedule.as_deref().unwrap_or(""))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(30), cmd.status()).await {
        Ok(Ok(s)) if s.success() => {}
        Ok(Ok(s)) => tracing::warn!(status = %s, "escalation command failed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot run the escalation command"),
        Err(_) => tracing::warn!("escalation command timed out"),
    }
}

/// One deadline as the API shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeadlineView {
    /// The message to be answered.
    pub message: MessageId,
    /// `owed` (this NFP must answer) or `awaited` (the peer must).
    pub direction: String,
    /// The other party.
    pub peer: Country,
    /// The case.
    pub case: String,
    /// The kind to be answered.
    pub kind: Kind,
    /// `routine` or `urgent`.
    pub lane: String,
    /// When the clock started (UTC).
    pub start: String,
    /// When the answer is due (UTC).
    pub due: String,
    /// `pending`, `due-soon`, `overdue`, `met` or `met-late`.
    pub state: DeadlineState,
    /// Reminders sent.
    pub reminders_sent: u32,
    /// The answer, once given.
    pub answer: Option<MessageId>,
    /// When it was answered.
    pub answered_at: Option<String>,
    /// For a scheduled follow-up, the schedule and position (then
    /// `message` is the follow-up's own id, not a message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

impl DeadlineView {
    /// The view of a record in a state.
    pub fn of(d: &DeadlineRecord, state: DeadlineState) -> DeadlineView {
        DeadlineView {
            message: d.request,
            direction: if d.owed { "owed" } else { "awaited" }.into(),
            peer: d.peer,
            case: d.case.clone(),
            kind: d.deadline.kind,
            lane: d.deadline.lane.as_str().into(),
            start: d.deadline.start.to_string(),
            due: d.deadline.due.to_string(),
            state,
            reminders_sent: d.reminders_sent,
            answer: d.answer,
            answered_at: d.answered_at.map(|t| t.to_string()),
            schedule: d.schedule.clone(),
        }
    }
}

/// Order for `deadlines`: overdue first, then due-soon, then the rest;
/// earliest due first within each.
pub fn urgency(s: DeadlineState) -> u8 {
    match s {
        DeadlineState::Overdue => 0,
        DeadlineState::DueSoon => 1,
        DeadlineState::Pending => 2,
        DeadlineState::MetLate => 3,
        DeadlineState::Met => 4,
    }
}

/// SLA compliance for one peer and kind.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SlaLine {
    /// Peer.
    pub peer: String,
    /// Kind answered.
    pub kind: String,
    /// `owed` or `awaited`.
    pub direction: String,
    /// Deadlines counted.
    pub count: usize,
    /// Answered in time.
    pub met: usize,
    /// Answered late.
    pub met_late: usize,
    /// Still open and overdue.
    pub open_overdue: usize,
    /// Still open, not yet due.
    pub open: usize,
    /// Share answered in time of those answered or overdue.
    pub on_time_share: Option<f64>,
    /// Median response time, seconds.
    pub median_response_s: Option<i64>,
    /// 90th-percentile response time, seconds.
    pub p90_response_s: Option<i64>,
}

/// Compliance per peer, kind and direction for deadlines started in
/// `[from, to)`.
pub fn sla_report(
    all: &[(DeadlineRecord, DeadlineState)],
    peer: Option<Country>,
    from: Option<jiff::Timestamp>,
    to: Option<jiff::Timestamp>,
) -> Vec<SlaLine> {
    use std::collections::BTreeMap;
    type Group<'a> = Vec<&'a (DeadlineRecord, DeadlineState)>;
    let mut groups: BTreeMap<(String, String, String), Group<'_>> = BTreeMap::new();
    for item in all {
        let d = &item.0;
        if peer.is_some_and(|p| p != d.peer)
            || from.is_some_and(|f| d.deadline.start < f)
            || to.is_some_and(|t| d.deadline.start >= t)
        {
            continue;
        }
        let key = (
            d.peer.to_string(),
            d.deadline.kind.to_string(),
            if d.owed { "owed" } else { "awaited" }.to_string(),
        );
        groups.entry(key).or_default().push(item);
    }
    groups
        .into_iter()
        .map(|((peer, kind, direction), items)| {
            let mut line = SlaLine {
                peer,
                kind,
                direction,
                count: items.len(),
                ..SlaLine::default()
            };
            let mut times: Vec<i64> = Vec::new();
            for (d, s) in &items {
                match s {
                    DeadlineState::Met => line.met += 1,
                    DeadlineState::MetLate => line.met_late += 1,
                    DeadlineState::Overdue => line.open_overdue += 1,
                    _ => line.open += 1,
                }
                if let Some(a) = d.answered_at {
                    times.push(a.as_second() - d.deadline.start.as_second());
                }
            }
            let judged = line.met + line.met_late + line.open_overdue;
            if judged > 0 {
                line.on_time_share = Some(line.met as f64 / judged as f64);
            }
            times.sort_unstable();
            if !times.is_empty() {
                line.median_response_s = Some(times[(times.len() - 1) / 2]);
                let idx = ((times.len() as f64) * 0.9).ceil() as usize;
                line.p90_response_s = Some(times[idx.saturating_sub(1).min(times.len() - 1)]);
            }
            line
        })
        .collect()
}
