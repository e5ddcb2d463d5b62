//! Deadline arithmetic and the deadline engine.
//!
//! An agreed response time (`"30 working days"`, `"4 hours"`, `"3 months"`)
//! gives a due time from a start over the responding party's [`Calendar`];
//! a [`Deadline`] adds reminder points and tells its [`DeadlineState`] at a
//! given moment.
//!
//! Pure: no clock is read. Every start time and every "now" is passed in.
//!
//! How each unit counts:
//! - seconds, minutes, hours: elapsed time; for a party available only in
//!   office hours (routine lane only), only time inside its office hours on
//!   its working days counts;
//! - days: 24 hours each;
//! - working days: counted in the calendar's time zone, skipping weekend
//!   days and public holidays; the deadline falls at the end (local
//!   midnight) of the N-th working day after the day the clock started;
//! - months: calendar months in the calendar's time zone, same local time,
//!   the day of the month clamped at month ends (31 January + 1 month =
//!   28 or 29 February).

use crate::protocol::agreement::Agreement;
use crate::protocol::country::Country;
use crate::protocol::forms::Kind;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use std::fmt;

/// The unit of an agreed response time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Unit {
    /// Seconds (meant for tests).
    Seconds,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Calendar days of 24 hours.
    Days,
    /// Working days of the calendar.
    WorkingDays,
    /// Calendar months in the calendar's time zone.
    Months,
}

/// An agreed response time: a positive number and a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlaDuration {
    /// How many units.
    pub amount: u32,
    /// Which unit.
    pub unit: Unit,
}

/// A response time that could not be read, or a due time that could not be
/// computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadlineError {
    /// Not "<number> <unit>".
    #[error(
        "{0:?} is not a duration: write a number and a unit (s, minutes, hours, days, working days, months), e.g. \"30 working days\""
    )]
    Format(String),
    /// Zero or too large.
    #[error("{0:?} is out of range: the number must be between 1 and 100000")]
    Range(String),
    /// The date arithmetic left the supported range.
    #[error("the due time is outside the supported date range")]
    Overflow,
    /// The calendar has no working day (or no office time) at all.
    #[error("the calendar has no working time at all")]
    NoWorkingTime,
}

const MAX_AMOUNT: u32 = 100_000;

/// Most days scanned for office time before giving up (about 1,300 years).
const MAX_SCAN_DAYS: u32 = 500_000;

impl SlaDuration {
    /// Parses `"<number> <unit>"`. Units: `s`/`second(s)`, `minute(s)`,
    /// `hour(s)`, `day(s)`, `working day(s)`, `month(s)`.
    pub fn parse(s: &str) -> Result<SlaDuration, DeadlineError> {
        let t = s.trim();
        let split = t
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| DeadlineError::Format(s.to_string()))?;
        let (num, rest) = t.split_at(split);
        if num.is_empty() {
            return Err(DeadlineError::Format(s.to_string()));
        }
        let amount: u32 = num
            .parse()
            .map_err(|_| DeadlineError::Range(s.to_string()))?;
        if amount == 0 || amount > MAX_AMOUNT {
            return Err(DeadlineError::Range(s.to_string()));
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        let unit = match words.as_slice() {
            ["s"] | ["second"] | ["seconds"] => Unit::Seconds,
            ["minute"] | ["minutes"] => Unit::Minutes,
            ["hour"] | ["hours"] => Unit::Hours,
            ["day"] | ["days"] => Unit::Days,
            ["working", "day"] | ["working", "days"] => Unit::WorkingDays,
            ["month"] | ["months"] => Unit::Months,
            _ => return Err(DeadlineError::Format(s.to_string())),
        };
        Ok(SlaDuration { amount, unit })
    }

    /// Whether the unit is a clock unit (seconds, minutes or hours), as the
    /// urgent lane requires.
    pub fn is_clock_time(&self) -> bool {
        matches!(self.unit, Unit::Seconds | Unit::Minutes | Unit::Hours)
    }

    /// The fixed length of the duration, for units that have one (seconds,
    /// minutes, hours, days of 24 hours); `None` for working days and months.
    pub fn fixed_length(&self) -> Option<SignedDuration> {
        let n = i64::from(self.amount);
        let secs = match self.unit {
            Unit::Seconds => n,
            Unit::Minutes => n * 60,
            Unit::Hours => n * 3600,
            Unit::Days => n * 86_400,
            Unit::WorkingDays | Unit::Months => return None,
        };
        Some(SignedDuration::from_secs(secs))
    }

    /// `date` plus `times` × this duration, for the date units (days and
    /// months); `None` for other units or outside the supported range.
    /// Months are added from `date` in one step, so repeated use does not
    /// drift: 31 August + 6 months is 28 February, + 12 months is 31 August.
    pub fn add_to_date(&self, date: Date, times: u32) -> Option<Date> {
        let n = i64::from(self.amount).checked_mul(i64::from(times))?;
        match self.unit {
            Unit::Days => date.checked_add(Span::new().try_days(n).ok()?).ok(),
            Unit::Months => add_months(date, n),
            _ => None,
        }
    }
}

/// `date` plus `months` calendar months, the day clamped to the end of the
/// target month (31 January + 1 month = 28 or 29 February).
pub fn add_months(date: Date, months: i64) -> Option<Date> {
    date.checked_add(Span::new().try_months(months).ok()?).ok()
}

impl fmt::Display for SlaDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (one, many) = match self.unit {
            Unit::Seconds => ("s", "s"),
            Unit::Minutes => ("minute", "minutes"),
            Unit::Hours => ("hour", "hours"),
            Unit::Days => ("day", "days"),
            Unit::WorkingDays => ("working day", "working days"),
            Unit::Months => ("month", "months"),
        };
        let word = if self.amount == 1 { one } else { many };
        write!(f, "{} {}", self.amount, word)
    }
}

impl serde::Serialize for SlaDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SlaDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SlaDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A reminder point: a share of the time between start and due, written
/// `"50%"`. From 1% to 1000% (points after 100% remind again once overdue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Percent(u16);

impl Percent {
    /// The largest reminder point.
    pub const MAX: u16 = 1000;

    /// A percentage from 1 to [`Percent::MAX`].
    pub fn new(p: u16) -> Option<Percent> {
        (1..=Percent::MAX).contains(&p).then_some(Percent(p))
    }

    /// The number of percent.
    pub fn get(self) -> u16 {
        self.0
    }

    /// Parses `"50%"`.
    pub fn parse(s: &str) -> Result<Percent, String> {
        let bad = || {
            format!(
                "{s:?} is not a reminder point: write a whole percentage from 1% to {}%, e.g. \"50%\"",
                Percent::MAX
            )
        };
        let digits = s.trim().strip_suffix('%').ok_or_else(bad)?.trim_end();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits
            .parse::<u16>()
            .ok()
            .and_then(Percent::new)
            .ok_or_else(bad)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl serde::Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Percent::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The reminder points used when an agreement names none: 50% and 100%.
pub const DEFAULT_REMINDERS: [Percent; 2] = [Percent(50), Percent(100)];

/// Which lane a deadline runs in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Lane {
    /// Ordinary requests: the responder's office hours apply.
    #[default]
    Routine,
    /// Missing children and red flags: the clock runs round the clock,
    /// whatever the responder's availability, and response times are in
    /// seconds, minutes or hours.
    Urgent,
}

impl Lane {
    /// Whether this is the routine lane (the default).
    pub fn is_routine(&self) -> bool {
        *self == Lane::Routine
    }

    /// The lane's name, `routine` or `urgent`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Lane::Routine => "routine",
            Lane::Urgent => "urgent",
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Daily office hours, `"08:00-16:00"` in the party's time zone. Opening is
/// before closing; a window never spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OfficeHours {
    /// When the office opens.
    pub open: Time,
    /// When the office closes.
    pub close: Time,
}

impl OfficeHours {
    /// Parses `"HH:MM-HH:MM"` (24-hour clock, opening before closing).
    pub fn parse(s: &str) -> Result<OfficeHours, String> {
        let bad = || {
            format!(
                "{s:?} is not office hours: write opening and closing time as HH:MM-HH:MM, opening first, e.g. \"08:00-16:00\""
            )
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let open = hh_mm(a.trim()).ok_or_else(bad)?;
        let close = hh_mm(b.trim()).ok_or_else(bad)?;
        if open >= close {
            return Err(bad());
        }
        Ok(OfficeHours { open, close })
    }
}

fn hh_mm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

impl fmt::Display for OfficeHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.open.hour(),
            self.open.minute(),
            self.close.hour(),
            self.close.minute()
        )
    }
}

impl serde::Serialize for OfficeHours {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for OfficeHours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OfficeHours::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Whose days count: a time zone, the weekend days, public holidays and,
/// for a party not reachable round the clock, its office hours.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// The time zone days and hours are counted in.
    pub tz: TimeZone,
    /// Days of the week that are not working days.
    pub weekend: Vec<Weekday>,
    /// Public holidays (not working days).
    pub holidays: Vec<Date>,
    /// Office hours on working days; `None` when reachable 24/7.
    pub office_hours: Option<OfficeHours>,
}

impl Default for Calendar {
    /// UTC, Saturday and Sunday off, no holidays, reachable 24/7.
    fn default() -> Self {
        Calendar {
            tz: TimeZone::UTC,
            weekend: vec![Weekday::Saturday, Weekday::Sunday],
            holidays: Vec::new(),
            office_hours: None,
        }
    }
}

impl Calendar {
    /// Whether `d` is a working day.
    pub fn is_working_day(&self, d: Date) -> bool {
        !self.weekend.contains(&d.weekday()) && !self.holidays.contains(&d)
    }

    /// Whether some day of the week is not a weekend day.
    pub fn has_working_weekday(&self) -> bool {
        let all = [
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
            Weekday::Saturday,
            Weekday::Sunday,
        ];
        all.iter().any(|d| !self.weekend.contains(d))
    }

    /// The same calendar, reachable round the clock (for the urgent lane).
    pub fn round_the_clock(&self) -> Calendar {
        Calendar {
            office_hours: None,
            ..self.clone()
        }
    }
}

/// When a response started at `start` is due under `within`, over `cal`.
pub fn due(
    start: Timestamp,
    within: SlaDuration,
    cal: &Calendar,
) -> Result<Timestamp, DeadlineError> {
    let after = |d: SignedDuration| start.checked_add(d).map_err(|_| DeadlineError::Overflow);
    match within.unit {
        Unit::Seconds | Unit::Minutes | Unit::Hours => {
            let len = within.fixed_length().ok_or(DeadlineError::Overflow)?;
            match cal.office_hours {
                None => after(len),
                Some(hours) => office_due(start, len, cal, hours),
            }
        }
        Unit::Days => after(within.fixed_length().ok_or(DeadlineError::Overflow)?),
        Unit::WorkingDays => working_days_due(start, within.amount, cal),
        Unit::Months => {
            let span = Span::new()
                .try_months(i64::from(within.amount))
                .map_err(|_| DeadlineError::Overflow)?;
            start
                .to_zoned_datetime(cal.tz.clone())
                .checked_add(span)
                .map(|z| z.timestamp())
                .map_err(|_| DeadlineError::Overflow)
        }
    }
}

/// End (local midnight) of the `n`-th working day after the start's day.
fn working_days_due(start: Timestamp, n: u32, cal: &Calendar) -> Result<Timestamp, DeadlineError> {
    if !cal.has_working_weekday() {
        return Err(DeadlineError::NoWorkingTime);
    }
    let mut day = start.to_zoned_datetime(cal.tz.clone()).date();
    let mut left = n;
    let mut guard: u32 = 0;
    while left > 0 {
        day = day.tomorrow().map_err(|_| DeadlineError::Overflow)?;
        if cal.is_working_day(day) {
            left -= 1;
        }
        guard += 1;
        if guard > MAX_SCAN_DAYS {
            return Err(DeadlineError::Overflow);
        }
    }
    // End of that day = start of the next day in the calendar's zone (which
    // is not midnight where a DST change skips midnight).
    start_of(day.tomorrow().map_err(|_| DeadlineError::Overflow)?, cal)
}

fn start_of(day: Date, cal: &Calendar) -> Result<Timestamp, DeadlineError> {
    day.to_zoned_datetime(cal.tz.clone())
        .map(|z| z.timestamp())
        .map_err(|_| DeadlineError::Overflow)
}

/// `len` of office time from `start`: only time inside office hours on
/// working days counts. The result is inside office hours (it may equal the
/// closing time).
fn office_due(
    start: Timestamp,
    len: SignedDuration,
    cal: &Calendar,
    hours: OfficeHours,
) -> Result<Timestamp, DeadlineError> {
    if !cal.has_working_weekday() {
        return Err(DeadlineError::NoWorkingTime);
    }
    let at = |day: Date, t: Time| {
        day.to_datetime(t)
            .to_zoned_datetime(cal.tz.clone())
            .map(|z| z.timestamp())
            .map_err(|_| DeadlineError::Overflow)
    };
    let mut left = len;
    let mut day = start.to_zoned_datetime(cal.tz.clone()).date();
    for _ in 0..MAX_SCAN_DAYS {
        if cal.is_working_day(day) {
            let open = at(day, hours.open)?;
            let close = at(day, hours.close)?;
            let from = open.max(start);
            if from < close {
                let available = from.duration_until(close);
                if left <= available {
                    return from.checked_add(left).map_err(|_| DeadlineError::Overflow);
                }
                left -= available;
            }
        }
        day = day.tomorrow().map_err(|_| DeadlineError::Overflow)?;
    }
    Err(DeadlineError::Overflow)
}

/// The moments `percents` of the way from `start` to `due`, in order.
pub fn reminder_points(start: Timestamp, due: Timestamp, percents: &[Percent]) -> Vec<Timestamp> {
    let span = due.as_nanosecond() - start.as_nanosecond();
    let mut out: Vec<Timestamp> = percents
        .iter()
        .filter_map(|p| {
            let at = start.as_nanosecond() + span * i128::from(p.get()) / 100;
            Timestamp::from_nanosecond(at).ok()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// How far through its time a response came: 0.0 at the start, 1.0 exactly
/// at the due time, above 1.0 when late. Never negative. A deadline with no
/// time at all counts its span as one nanosecond.
pub fn response_ratio(start: Timestamp, due: Timestamp, answered: Timestamp) -> f64 {
    let span = (due.as_nanosecond() - start.as_nanosecond()).max(1);
    let taken = (answered.as_nanosecond() - start.as_nanosecond()).max(0);
    // Both fit easily in an f64's range; precision loss is far below a second.
    taken as f64 / span as f64
}

/// Where a deadline stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DeadlineState {
    /// Open, with time to spare.
    Pending,
    /// Open, past the first reminder point before the due time (or in the
    /// last 20% of the time when there is none).
    DueSoon,
    /// Open, past the due time.
    Overdue,
    /// Answered on time.
    Met,
    /// Answered after the due time.
    MetLate,
}

impl DeadlineState {
    /// The state's name: `pending`, `due-soon`, `overdue`, `met`, `met-late`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeadlineState::Pending => "pending",
            DeadlineState::DueSoon => "due-soon",
            DeadlineState::Overdue => "overdue",
            DeadlineState::Met => "met",
            DeadlineState::MetLate => "met-late",
        }
    }

    /// The state named `s`, if any.
    pub fn parse(s: &str) -> Option<DeadlineState> {
        [
            DeadlineState::Pending,
            DeadlineState::DueSoon,
            DeadlineState::Overdue,
            DeadlineState::Met,
            DeadlineState::MetLate,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether the deadline is still waiting for its answer.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            DeadlineState::Pending | DeadlineState::DueSoon | DeadlineState::Overdue
        )
    }
}

impl fmt::Display for DeadlineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one party owes the other: an answer to a message of `kind`, due at
/// `due` (UTC), with reminder points.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Deadline {
    /// The party that must answer.
    pub owed_by: Country,
    /// The kind of message to be answered.
    pub kind: Kind,
    /// When the clock started (the verified delivery receipt).
    pub start: Timestamp,
    /// When the answer is due.
    pub due: Timestamp,
    /// Reminder points, in order; points after `due` remind once overdue.
    pub reminders: Vec<Timestamp>,
    /// The lane the deadline runs in.
    pub lane: Lane,
}

impl Deadline {
    /// The state at `now`, given when (if ever) the answer came.
    pub fn state(&self, now: Timestamp, answered_at: Option<Timestamp>) -> DeadlineState {
        if let Some(at) = answered_at {
            return if at <= self.due {
                DeadlineState::Met
            } else {
                DeadlineState::MetLate
            };
        }
        if now > self.due {
            DeadlineState::Overdue
        } else if now >= self.due_soon_from() {
            DeadlineState::DueSoon
        } else {
            DeadlineState::Pending
        }
    }

    /// From when an open deadline is due soon: its first reminder point
    /// before the due time, or else 80% of the way to the due time.
    pub fn due_soon_from(&self) -> Timestamp {
        self.reminders
            .iter()
            .copied()
            .find(|r| *r < self.due)
            .unwrap_or_else(|| {
                reminder_points(self.start, self.due, &[Percent(80)])
                    .first()
                    .copied()
                    .unwrap_or(self.due)
            })
    }

    /// How many reminder points have passed at `now` beyond the
    /// `already_sent` reminders.
    pub fn reminders_due(&self, now: Timestamp, already_sent: usize) -> usize {
        self.reminders
            .iter()
            .filter(|r| **r <= now)
            .count()
            .saturating_sub(already_sent)
    }
}

/// The deadline for `responder` to answer a message of `kind` whose clock
/// started at `started`, under `agreement`. The responder's calendar
/// applies; in the urgent lane it runs round the clock. `None` when the
/// agreement sets no response time for `kind`, `responder` is not a party,
/// or the due time is out of range.
pub fn deadline_for(
    agreement: &Agreement,
    responder: Country,
    kind: Kind,
    started: Timestamp,
) -> Option<Deadline> {
    let sla = agreement.sla_for(kind)?;
    build(
        agreement,
        responder,
        kind,
        started,
        sla.respond_within,
        sla.lane,
        &agreement.reminders(kind),
    )
}

/// The urgent deadline for `responder` to answer a `follow-up-report` that
/// carries a red flag, if the agreement has a `[red_flag]` section.
pub fn red_flag_deadline(
    agreement: &Agreement,
    responder: Country,
    started: Timestamp,
) -> Option<Deadline> {
    let rf = agreement.red_flag.as_ref()?;
    let reminders = rf.reminders.clone().unwrap_or(DEFAULT_REMINDERS.to_vec());
    build(
        agreement,
        responder,
        Kind::FollowUpReport,
        started,
        rf.respond_within,
        Lane::Urgent,
        &reminders,
    )
}

/// How long before a scheduled follow-up's date it counts as due soon.
pub const SCHEDULED_DUE_SOON_DAYS: i64 = 14;

/// The deadline for a planned follow-up: due at the end of its date in the
/// owing party's time zone, running from `recorded` (when the anchor event
/// was recorded), due soon two weeks before. `None` when the owing party is
/// not a party of `agreement` or the date is out of range.
pub fn scheduled_deadline(
    agreement: &Agreement,
    planned: &crate::protocol::schedule::Planned,
    recorded: Timestamp,
) -> Option<Deadline> {
    if !agreement.parties.contains(&planned.owed_by) {
        return None;
    }
    let cal = agreement.calendar(planned.owed_by);
    let next_day = planned.date.tomorrow().ok()?;
    let due = next_day.to_zoned_datetime(cal.tz.clone()).ok()?.timestamp();
    let soon = due
        .checked_sub(SignedDuration::from_hours(24 * SCHEDULED_DUE_SOON_DAYS))
        .ok()?
        .max(recorded);
    Some(Deadline {
        owed_by: planned.owed_by,
        kind: planned.kind,
        start: recorded,
        due,
        reminders: vec![soon],
        lane: Lane::Routine,
    })
}

fn build(
    agreement: &Agreement,
    responder: Country,
    kind: Kind,
    started: Timestamp,
    within: SlaDuration,
    lane: Lane,
    percents: &[Percent],
) -> Option<Deadline> {
    if !agreement.parties.contains(&responder) {
        return None;
    }
    let mut cal = agreement.calendar(responder);
    if lane == Lane::Urgent {
        cal = cal.round_the_clock();
    }
    let due = due(started, within, &cal).ok()?;
    Some(Deadline {
        owed_by: responder,
        kind,
        start: started,
        due,
        reminders: reminder_points(started, due, percents),
        lane,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    #[test]
    fn parses_the_issue_examples() {
        let d = SlaDuration::parse("30 working days").unwrap();
        assert_eq!(
            d,
            SlaDuration {
                amount: 30,
                unit: Unit::WorkingDays
            }
        );
        assert_eq!(d.to_string(), "30 working days");
        assert_eq!(SlaDuration::parse("5 s").unwrap().unit, Unit::Seconds);
        assert_eq!(SlaDuration::parse("5s").unwrap().unit, Unit::Seconds);
        assert_eq!(SlaDuration::parse("2 minutes").unwrap().unit, Unit::Minutes);
        assert_eq!(SlaDuration::parse("1 hour").unwrap().unit, Unit::Hours);
        assert_eq!(SlaDuration::parse("1 day").unwrap().to_string(), "1 day");
        let m = SlaDuration::parse("3 months").unwrap();
        assert_eq!(m.unit, Unit::Months);
        assert_eq!(m.to_string(), "3 months");
        assert_eq!(
            SlaDuration::parse("1 month").unwrap().to_string(),
            "1 month"
        );
        assert!(SlaDuration::parse("4 hours").unwrap().is_clock_time());
        assert!(!m.is_clock_time());
        assert_eq!(m.fixed_length(), None);
    }

    #[test]
    fn refuses_bad_durations() {
        for bad in [
            "",
            "days",
            "30",
            "30 weeks",
            "-1 days",
            "1.5 days",
            "30 working",
            "3 working months",
        ] {
            assert!(
                matches!(SlaDuration::parse(bad), Err(DeadlineError::Format(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            SlaDuration::parse("0 days"),
            Err(DeadlineError::Range(_))
        ));
        assert!(matches!(
            SlaDuration::parse("99999999999 s"),
            Err(DeadlineError::Range(_))
        ));
    }

    #[test]
    fn percents_and_office_hours_parse_strictly() {
        assert_eq!(Percent::parse("50%").unwrap().get(), 50);
        assert_eq!(Percent::parse(" 150 %").unwrap().to_string(), "150%");
        for bad in ["50", "0%", "1001%", "-5%", "5.5%", "%", "x%"] {
            assert!(Percent::parse(bad).is_err(), "{bad}");
        }
        let h = OfficeHours::parse("08:00-16:00").unwrap();
        assert_eq!(h.to_string(), "08:00-16:00");
        assert_eq!(
            OfficeHours::parse("08:30 - 17:15").unwrap().to_string(),
            "08:30-17:15"
        );
        for bad in [
            "8:00-16:00",
            "16:00-08:00",
            "08:00-08:00",
            "08:00",
            "24:00-25:00",
            "08:60-09:00",
        ] {
            assert!(OfficeHours::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn working_days_skip_the_weekend() {
        // Friday 2026-11-20 10:00 UTC + 1 working day = end of Monday 23rd.
        let start = ts("2026-11-20T10:00:00Z");
        let d = SlaDuration::parse("1 working day").unwrap();
        let due = due(start, d, &Calendar::default()).unwrap();
        assert_eq!(due.to_string(), "2026-11-24T00:00:00Z");
    }

    #[test]
    fn holidays_and_time_zones_count() {
        let start = ts("2026-12-24T12:00:00Z");
        let cal = Calendar {
            tz: tz("Europe/Athens"),
            holidays: vec![jiff::civil::date(2026, 12, 25)],
            ..Calendar::default()
        };
        let d = SlaDuration::parse("1 working day").unwrap();
        // Thu 24th -> Fri 25th is a holiday, weekend -> Monday 28th ends at
        // midnight Athens time (UTC+2).
        assert_eq!(
            due(start, d, &cal).unwrap().to_string(),
            "2026-12-28T22:00:00Z"
        );
    }

    #[test]
    fn a_calendar_without_working_days_is_an_error() {
        let cal = Calendar {
            weekend: vec![
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
                Weekday::Saturday,
                Weekday::Sunday,
            ],
            ..Calendar::default()
        };
        let start = ts("2026-11-20T10:00:00Z");
        let d = SlaDuration::parse("1 working day").unwrap();
        assert_eq!(due(start, d, &cal), Err(DeadlineError::NoWorkingTime));
        // Duplicates do not hide a working day.
        let cal = Calendar {
            weekend: vec![Weekday::Sunday; 7],
            ..Calendar::default()
        };
        assert!(due(start, d, &cal).is_ok());
    }

    #[test]
    fn months_clamp_at_month_ends_in_the_local_zone() {
        let athens = Calendar {
            tz: tz("Europe/Athens"),
            ..Calendar::default()
        };
        let one = SlaDuration::parse("1 month").unwrap();
        // 31 January 10:00 Athens (08:00 UTC) + 1 month = 28 February 10:00.
        assert_eq!(
            due(ts("2027-01-31T08:00:00Z"), one, &athens).unwrap(),
            ts("2027-02-28T08:00:00Z")
        );
        // Leap year: 29 February.
        assert_eq!(
            due(ts("2028-01-31T08:00:00Z"), one, &athens).unwrap(),
            ts("2028-02-29T08:00:00Z")
        );
        // Across the March DST change the local time stays 10:00 (now UTC+3).
        assert_eq!(
            due(ts("2027-03-15T08:00:00Z"), one, &athens).unwrap(),
            ts("2027-04-15T07:00:00Z")
        );
        assert_eq!(
            add_months(jiff::civil::date(2026, 8, 31), 6),
            Some(jiff::civil::date(2027, 2, 28))
        );
        assert_eq!(
            add_months(jiff::civil::date(2026, 8, 31), 12),
            Some(jiff::civil::date(2027, 8, 31))
        );
        assert_eq!(
            SlaDuration::parse("6 months")
                .unwrap()
                .add_to_date(jiff::civil::date(2026, 8, 31), 2),
            Some(jiff::civil::date(2027, 8, 31))
        );
        assert_eq!(
            SlaDuration::parse("10 days")
                .unwrap()
                .add_to_date(jiff::civil::date(2028, 2, 25), 1),
            Some(jiff::civil::date(2028, 3, 6))
        );
        assert_eq!(
            SlaDuration::parse("4 hours")
                .unwrap()
                .add_to_date(jiff::civil::date(2028, 2, 25), 1),
            None
        );
    }

    #[test]
    fn office_hours_count_only_office_time() {
        let cal = Calendar {
            tz: tz("Europe/Athens"),
            office_hours: Some(OfficeHours::parse("08:00-16:00").unwrap()),
            ..Calendar::default()
        };
        let four = SlaDuration::parse("4 hours").unwrap();
        // Friday 2026-11-20 15:00 Athens (13:00 UTC): one hour on Friday,
        // three on Monday from 08:00 = Monday 11:00 Athens (09:00 UTC).
        assert_eq!(
            due(ts("2026-11-20T13:00:00Z"), four, &cal).unwrap(),
            ts("2026-11-23T09:00:00Z")
        );
        // Saturday night: the clock starts on Monday at 08:00.
        assert_eq!(
            due(ts("2026-11-21T22:00:00Z"), four, &cal).unwrap(),
            ts("2026-11-23T10:00:00Z")
        );
        // Exactly a full day ends at closing time.
        let eight = SlaDuration::parse("8 hours").unwrap();
        assert_eq!(
            due(ts("2026-11-23T06:00:00Z"), eight, &cal).unwrap(),
            ts("2026-11-23T14:00:00Z")
        );
        // The urgent lane ignores office hours.
        assert_eq!(
            due(ts("2026-11-20T13:00:00Z"), four, &cal.round_the_clock()).unwrap(),
            ts("2026-11-20T17:00:00Z")
        );
        // Working days and calendar days are not affected.
        let one = SlaDuration::parse("1 working day").unwrap();
        assert_eq!(
            due(ts("2026-11-20T13:00:00Z"), one, &cal).unwrap(),
            due(ts("2026-11-20T13:00:00Z"), one, &cal.round_the_clock()).unwrap()
        );
    }

    fn deadline(start: &str, due: &str, percents: &[u16]) -> Deadline {
        let (start, due) = (ts(start), ts(due));
        let p: Vec<Percent> = percents.iter().map(|p| Percent::new(*p).unwrap()).collect();
        Deadline {
            owed_by: "AL".parse().unwrap(),
            kind: Kind::SocialInquiryRequest,
            start,
            due,
            reminders: reminder_points(start, due, &p),
            lane: Lane::Routine,
        }
    }

    #[test]
    fn states_follow_the_reminders() {
        let d = deadline("2026-11-01T00:00:00Z", "2026-11-11T00:00:00Z", &[50, 100]);
        assert_eq!(d.reminders, vec![ts("2026-11-06T00:00:00Z"), d.due]);
        let at = |s: &str| d.state(ts(s), None);
        assert_eq!(at("2026-11-01T00:00:00Z"), DeadlineState::Pending);
        assert_eq!(at("2026-11-05T23:59:59Z"), DeadlineState::Pending);
        assert_eq!(at("2026-11-06T00:00:00Z"), DeadlineState::DueSoon);
        assert_eq!(at("2026-11-11T00:00:00Z"), DeadlineState::DueSoon);
        assert_eq!(at("2026-11-11T00:00:01Z"), DeadlineState::Overdue);
        let answered = |s: &str| d.state(ts("2026-12-01T00:00:00Z"), Some(ts(s)));
        assert_eq!(answered("2026-11-11T00:00:00Z"), DeadlineState::Met);
        assert_eq!(answered("2026-11-11T00:00:01Z"), DeadlineState::MetLate);
        // Reminders: none, then one, then both.
        assert_eq!(d.reminders_due(ts("2026-11-02T00:00:00Z"), 0), 0);
        assert_eq!(d.reminders_due(ts("2026-11-07T00:00:00Z"), 0), 1);
        assert_eq!(d.reminders_due(ts("2026-11-07T00:00:00Z"), 1), 0);
        assert_eq!(d.reminders_due(ts("2026-11-12T00:00:00Z"), 1), 1);
        assert_eq!(d.reminders_due(ts("2026-11-12T00:00:00Z"), 5), 0);
        // Without a reminder before 100%, due-soon is the last 20%.
        let d = deadline("2026-11-01T00:00:00Z", "2026-11-11T00:00:00Z", &[100, 200]);
        assert_eq!(d.due_soon_from(), ts("2026-11-09T00:00:00Z"));
        assert_eq!(
            d.state(ts("2026-11-08T23:00:00Z"), None),
            DeadlineState::Pending
        );
        assert_eq!(
            d.state(ts("2026-11-09T00:00:00Z"), None),
            DeadlineState::DueSoon
        );
        assert_eq!(d.reminders_due(ts("2026-11-30T00:00:00Z"), 1), 1);
        let d = deadline("2026-11-01T00:00:00Z", "2026-11-11T00:00:00Z", &[]);
        assert_eq!(d.due_soon_from(), ts("2026-11-09T00:00:00Z"));
        assert_eq!(d.reminders_due(ts("2026-11-30T00:00:00Z"), 0), 0);
    }

    #[test]
    fn state_names_are_kebab_case() {
        for (s, name) in [
            (DeadlineState::Pending, "pending"),
            (DeadlineState::DueSoon, "due-soon"),
            (DeadlineState::Overdue, "overdue"),
            (DeadlineState::Met, "met"),
            (DeadlineState::MetLate, "met-late"),
        ] {
            assert_eq!(s.to_string(), name);
            assert_eq!(serde_json::to_value(s).unwrap(), name);
            assert_eq!(DeadlineState::parse(name), Some(s));
        }
        assert!(DeadlineState::Overdue.is_open());
        assert!(!DeadlineState::MetLate.is_open());
        let d = deadline("2026-11-01T00:00:00Z", "2026-11-11T00:00:00Z", &[50]);
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"lane\":\"routine\""), "{json}");
        assert_eq!(serde_json::from_str::<Deadline>(&json).unwrap(), d);
    }

    #[test]
    fn response_ratios() {
        let (s, d) = (ts("2026-11-01T00:00:00Z"), ts("2026-11-11T00:00:00Z"));
        assert_eq!(response_ratio(s, d, s), 0.0);
        assert_eq!(response_ratio(s, d, ts("2026-11-06T00:00:00Z")), 0.5);
        assert_eq!(response_ratio(s, d, d), 1.0);
        assert_eq!(response_ratio(s, d, ts("2026-11-21T00:00:00Z")), 2.0);
        assert_eq!(response_ratio(s, d, ts("2026-10-01T00:00:00Z")), 0.0);
        assert!(response_ratio(s, s, d).is_finite());
    }

    const AGREEMENT: &str = r#"
id = "AL-GR"
version = 1
parties = ["AL", "GR"]
languages = ["en"]

[party.AL]
time_zone = "Europe/Tirane"
holidays = [2026-11-30]
availability = "24/7"

[party.GR]
time_zone = "Europe/Athens"
availability = "office-hours"
office_hours = "08:00-16:00"

[red_flag]
respond_within = "4 hours"
reminders = ["75%"]

[sla.social-inquiry-request]
respond_within = "1 working day"

[sla.follow-up-request]
respond_within = "2 hours"

[sla.missing-child-notice]
respond_within = "2 hours"
lane = "urgent"
reminders = ["50%", "100%", "150%"]
"#;

    #[test]
    fn scheduled_follow_ups_fall_due_at_midnight_where_the_sender_is() {
        use crate::protocol::schedule::Planned;
        let a = Agreement::from_toml(AGREEMENT).unwrap();
        let recorded = ts("2026-11-30T10:00:00Z");
        let planned = Planned {
            schedule: "post-return".into(),
            position: 1,
            of: 2,
            kind: Kind::FollowUpRequest,
            date: jiff::civil::date(2027, 2, 28),
            owed_by: "GR".parse().unwrap(),
        };
        let d = scheduled_deadline(&a, &planned, recorded).unwrap();
        // The end of 28 February in Athens (UTC+2 in winter).
        assert_eq!(d.due, ts("2027-02-28T22:00:00Z"));
        assert_eq!(d.start, recorded);
        assert_eq!(d.lane, Lane::Routine);
        assert_eq!(d.reminders, vec![ts("2027-02-14T22:00:00Z")]);
        assert_eq!(
            d.state(ts("2027-02-01T00:00:00Z"), None),
            DeadlineState::Pending
        );
        assert_eq!(
            d.state(ts("2027-02-20T00:00:00Z"), None),
            DeadlineState::DueSoon
        );
        assert_eq!(
            d.state(ts("2027-03-01T00:00:00Z"), None),
            DeadlineState::Overdue
        );
        // A date within two weeks is due soon at once.
        let near = Planned {
            date: jiff::civil::date(2026, 12, 2),
            ..planned.clone()
        };
        let d = scheduled_deadline(&a, &near, recorded).unwrap();
        assert_eq!(d.reminders, vec![recorded]);
        // A sender outside the agreement owes nothing under it.
        let stranger = Planned {
            owed_by: "IT".parse().unwrap(),
            ..planned
        };
        assert!(scheduled_deadline(&a, &stranger, recorded).is_none());
    }

    #[test]
    fn deadlines_use_the_responders_calendar() {
        let a = Agreement::from_toml(AGREEMENT).unwrap();
        let (al, gr) = ("AL".parse().unwrap(), "GR".parse().unwrap());
        // Friday 27 November 2026, 15:00 UTC.
        let start = ts("2026-11-27T15:00:00Z");
        // AL answers: Monday 30th is an Albanian holiday, so the working day
        // is Tuesday 1 December, ending at midnight in Tirane (UTC+1).
        let d = deadline_for(&a, al, Kind::SocialInquiryRequest, start).unwrap();
        assert_eq!(d.owed_by, al);
        assert_eq!(d.kind, Kind::SocialInquiryRequest);
        assert_eq!(d.lane, Lane::Routine);
        assert_eq!(d.due, ts("2026-12-01T23:00:00Z"));
        assert_eq!(d.reminders.len(), 2);
        assert_eq!(d.reminders[1], d.due);
        // GR answers: Monday 30th counts, midnight in Athens (UTC+2).
        let d = deadline_for(&a, gr, Kind::SocialInquiryRequest, start).unwrap();
        assert_eq!(d.due, ts("2026-11-30T22:00:00Z"));
        // Routine hours at GR count office time only: Friday 17:00 Athens is
        // after closing, so Monday 08:00-10:00 Athens.
        let d = deadline_for(&a, gr, Kind::FollowUpRequest, start).unwrap();
        assert_eq!(d.due, ts("2026-11-30T08:00:00Z"));
        // The urgent lane runs round the clock.
        let d = deadline_for(&a, gr, Kind::MissingChildNotice, start).unwrap();
        assert_eq!(d.lane, Lane::Urgent);
        assert_eq!(d.due, ts("2026-11-27T17:00:00Z"));
        assert_eq!(
            d.reminders,
            [
                ts("2026-11-27T16:00:00Z"),
                ts("2026-11-27T17:00:00Z"),
                ts("2026-11-27T18:00:00Z")
            ]
        );
        assert_eq!(
            d.state(ts("2026-11-27T16:30:00Z"), None),
            DeadlineState::DueSoon
        );
        assert_eq!(d.reminders_due(ts("2026-11-27T18:30:00Z"), 1), 2);
        // Red flags are urgent too.
        let d = red_flag_deadline(&a, gr, start).unwrap();
        assert_eq!(d.kind, Kind::FollowUpReport);
        assert_eq!(d.lane, Lane::Urgent);
        assert_eq!(d.due, ts("2026-11-27T19:00:00Z"));
        assert_eq!(d.reminders, [ts("2026-11-27T18:00:00Z")]);
        // No SLA, or not a party: no deadline.
        assert!(deadline_for(&a, gr, Kind::CaseClosure, start).is_none());
        assert!(
            deadline_for(&a, "FR".parse().unwrap(), Kind::SocialInquiryRequest, start).is_none()
        );
        let bare = Agreement::from_toml(&AGREEMENT.replace(
            "[red_flag]\nrespond_within = \"4 hours\"\nreminders = [\"75%\"]\n",
            "",
        ))
        .unwrap();
        assert!(red_flag_deadline(&bare, gr, start).is_none());
    }

    // ----- property tests -----

    const ZONES: &[&str] = &[
        "UTC",
        "Europe/Athens",
        "Europe/Tirane",
        "America/New_York",
        "America/Santiago",
        "Asia/Jerusalem",
        "Australia/Lord_Howe",
        "Pacific/Apia",
    ];

    fn any_zone() -> impl Strategy<Value = TimeZone> {
        prop::sample::select(ZONES).prop_map(tz)
    }

    fn any_weekday() -> impl Strategy<Value = Weekday> {
        (1i8..=7).prop_map(|n| Weekday::from_monday_one_offset(n).unwrap())
    }

    /// Start times spread over 2020-2035, half of them within a few days of
    /// a DST change, a year end or a leap day.
    fn any_start() -> impl Strategy<Value = Timestamp> {
        let anywhere =
            (1_577_836_800i64..2_082_758_400).prop_map(|s| Timestamp::from_second(s).unwrap());
        let near = (
            2020i16..2036,
            prop::sample::select(vec![
                (3i8, 8i8),
                (3, 27),
                (10, 25),
                (11, 1),
                (12, 30),
                (2, 28),
                (4, 5),
                (9, 26),
            ]),
            -3i64..4,
            0i64..86_400,
        )
            .prop_map(|(y, (m, d), shift, secs)| {
                let day = jiff::civil::date(y, m, d)
                    .checked_add(Span::new().days(shift))
                    .unwrap();
                day.to_zoned_datetime(TimeZone::UTC).unwrap().timestamp()
                    + SignedDuration::from_secs(secs)
            });
        prop_oneof![anywhere, near]
    }

    fn any_calendar() -> impl Strategy<Value = Calendar> {
        (
            any_zone(),
            prop::collection::vec(any_weekday(), 0..4),
            prop::collection::vec((2020i16..2037, 1i8..=12, 1i8..=28), 0..40),
        )
            .prop_map(|(tz, weekend, holidays)| Calendar {
                tz,
                weekend,
                holidays: holidays
                    .into_iter()
                    .map(|(y, m, d)| jiff::civil::date(y, m, d))
                    .collect(),
                office_hours: None,
            })
    }

    fn any_office_hours() -> impl Strategy<Value = OfficeHours> {
        (0i8..23, 0i8..60, 1i16..600).prop_map(|(h, m, len)| {
            let open = Time::new(h, m, 0, 0).unwrap();
            let end_min = (i16::from(h) * 60 + i16::from(m) + len).min(23 * 60 + 59);
            let close = Time::new((end_min / 60) as i8, (end_min % 60) as i8, 0, 0).unwrap();
            OfficeHours { open, close }
        })
    }

    fn any_duration() -> impl Strategy<Value = SlaDuration> {
        (
            1u32..400,
            prop_oneof![
                Just(Unit::Seconds),
                Just(Unit::Minutes),
                Just(Unit::Hours),
                Just(Unit::Days),
                Just(Unit::WorkingDays),
                Just(Unit::Months)
            ],
        )
            .prop_map(|(amount, unit)| SlaDuration { amount, unit })
    }

    fn local_date(t: Timestamp, cal: &Calendar) -> Date {
        t.to_zoned_datetime(cal.tz.clone()).date()
    }

    fn working_days_between(after: Date, through: Date, cal: &Calendar) -> u32 {
        let mut n = 0;
        let mut d = after;
        while d < through {
            d = d.tomorrow().unwrap();
            if cal.is_working_day(d) {
                n += 1;
            }
        }
        n
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn text_round_trips(d in any_duration()) {
            prop_assert_eq!(SlaDuration::parse(&d.to_string()).unwrap(), d);
        }

        #[test]
        fn due_is_after_start_and_monotonic(
            start in any_start(),
            d in any_duration(),
            cal in any_calendar(),
        ) {
            let a = due(start, d, &cal).unwrap();
            prop_assert!(a > start);
            let longer = SlaDuration { amount: d.amount + 1, unit: d.unit };
            let b = due(start, longer, &cal).unwrap();
            prop_assert!(b > a, "{} then {}", a, b);
        }

        #[test]
        fn working_days_end_after_exactly_n_working_days(
            start in any_start(),
            n in 1u32..120,
            cal in any_calendar(),
        ) {
            let d = SlaDuration { amount: n, unit: Unit::WorkingDays };
            let end = due(start, d, &cal).unwrap();
            prop_assert!(end > start);
            // The due time is the start of a local day ...
            let z = end.to_zoned_datetime(cal.tz.clone());
            prop_assert_eq!(z.start_of_day().unwrap().timestamp(), end);
            // ... whose previous day, the last one counted, is a working day ...
            let last = z.date().yesterday().unwrap();
            prop_assert!(cal.is_working_day(last), "{} is not a working day", last);
            // ... and exactly n working days lie after the start's day.
            prop_assert_eq!(working_days_between(local_date(start, &cal), last, &cal), n);
            // At least n calendar days pass (a day may be 23 hours long).
            prop_assert!(end.as_second() - start.as_second() >= i64::from(n) * 86_400 - 3600);
        }

        #[test]
        fn a_holiday_never_brings_a_deadline_forward(
            start in any_start(),
            d in any_duration(),
            cal in any_calendar(),
            office in prop::option::of(any_office_hours()),
            extra in (2020i16..2037, 1i8..=12, 1i8..=28),
        ) {
            let cal = Calendar { office_hours: office, ..cal };
            let before = due(start, d, &cal).unwrap();
            let mut more = cal.clone();
            more.holidays.push(jiff::civil::date(extra.0, extra.1, extra.2));
            let after = due(start, d, &more).unwrap();
            prop_assert!(after >= before);
            // The start's own day as a holiday does not matter either.
            let mut today_off = cal.clone();
            today_off.holidays.push(local_date(start, &cal));
            prop_assert!(due(start, d, &today_off).unwrap() >= before);
        }

        #[test]
        fn office_time_lands_inside_office_hours(
            start in any_start(),
            amount in 1u32..200,
            unit in prop_oneof![Just(Unit::Minutes), Just(Unit::Hours)],
            cal in any_calendar(),
            office in any_office_hours(),
        ) {
            let cal = Calendar { office_hours: Some(office), ..cal };
            let d = SlaDuration { amount, unit };
            let end = due(start, d, &cal).unwrap();
            // At least the elapsed length passes.
            prop_assert!(end >= start + d.fixed_length().unwrap());
            let z = end.to_zoned_datetime(cal.tz.clone());
            prop_assert!(cal.is_working_day(z.date()));
            // Within the day's window (DST may shift a boundary by an hour).
            let open = z.date().to_datetime(office.open).to_zoned_datetime(cal.tz.clone()).unwrap().timestamp();
            let close = z.date().to_datetime(office.close).to_zoned_datetime(cal.tz.clone()).unwrap().timestamp();
            prop_assert!(open < end && end <= close, "{} not in {}..{}", end, open, close);
            let longer = SlaDuration { amount: amount + 1, unit };
            prop_assert!(due(start, longer, &cal).unwrap() > end);
        }

        #[test]
        fn months_keep_the_local_day_clamped(
            start in any_start(),
            n in 1u32..60,
            zone in any_zone(),
        ) {
            let cal = Calendar { tz: zone, ..Calendar::default() };
            let d = SlaDuration { amount: n, unit: Unit::Months };
            let end = due(start, d, &cal).unwrap();
            let from = start.to_zoned_datetime(cal.tz.clone());
            let to = end.to_zoned_datetime(cal.tz.clone());
            let months = |dt: Date| i64::from(dt.year()) * 12 + i64::from(dt.month());
            prop_assert_eq!(months(to.date()) - months(from.date()), i64::from(n));
            prop_assert_eq!(to.date().day(), from.date().day().min(to.date().days_in_month()));
            // Same local time, unless it falls in a DST gap.
            let shift = to.time().duration_since(from.time()).abs();
            prop_assert!(shift <= SignedDuration::from_hours(1), "{} vs {}", from, to);
            prop_assert_eq!(Some(to.date()), add_months(from.date(), i64::from(n)));
        }

        #[test]
        fn date_months_are_monotonic_and_clamped(
            y in 1990i16..2100, m in 1i8..=12, day in 1i8..=31, n in 0i64..400,
        ) {
            let d = jiff::civil::date(y, m, 1);
            let d = d.with().day(day.min(d.days_in_month())).build().unwrap();
            let a = add_months(d, n).unwrap();
            let b = add_months(d, n + 1).unwrap();
            prop_assert!(b > a);
            prop_assert_eq!(a.day(), d.day().min(a.days_in_month()));
            prop_assert!(a.day() == d.day() || a == a.last_of_month());
        }

        #[test]
        fn states_only_move_forward(
            start in any_start(),
            d in any_duration(),
            cal in any_calendar(),
            percents in prop::collection::btree_set(1u16..300, 0..4),
            probes in prop::collection::vec(0i64..4_000_000_000, 1..12),
        ) {
            let due = due(start, d, &cal).unwrap();
            let p: Vec<Percent> = percents.into_iter().filter_map(Percent::new).collect();
            let dl = Deadline {
                owed_by: "GR".parse().unwrap(),
                kind: Kind::FollowUpRequest,
                start,
                due,
                reminders: reminder_points(start, due, &p),
                lane: Lane::Routine,
            };
            prop_assert_eq!(dl.state(start, None), DeadlineState::Pending);
            prop_assert_eq!(dl.state(due + SignedDuration::from_secs(1), None), DeadlineState::Overdue);
            let mut probes: Vec<Timestamp> = probes
                .into_iter()
                .map(|s| start + SignedDuration::from_secs(s % (2 * (due.as_second() - start.as_second()) + 2)))
                .collect();
            probes.sort();
            let rank = |s: DeadlineState| match s {
                DeadlineState::Pending => 0,
                DeadlineState::DueSoon => 1,
                DeadlineState::Overdue => 2,
                _ => 9,
            };
            let mut last = 0;
            let mut sent = 0;
            for t in probes {
                let s = dl.state(t, None);
                prop_assert!(rank(s) >= last && rank(s) <= 2);
                last = rank(s);
                sent += dl.reminders_due(t, sent);
                prop_assert!(sent <= dl.reminders.len());
                prop_assert_eq!(dl.reminders_due(t, sent), 0);
                let answered = dl.state(t, Some(t));
                prop_assert_eq!(answered, if t <= due { DeadlineState::Met } else { DeadlineState::MetLate });
                let r = response_ratio(start, due, t);
                prop_assert_eq!(r <= 1.0, t <= due);
            }
        }
    }
}
