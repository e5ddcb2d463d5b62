//! Deadline arithmetic: agreed response times (`"30 working days"`,
//! `"4 hours"`) and the due time they give from a start, over a calendar.
//!
//! Pure: the start time is passed in. Working days are counted in the
//! calendar's time zone, skipping its weekend days and public holidays; a
//! deadline of N working days falls at the end of the N-th working day after
//! the day the clock started.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
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
}

/// An agreed response time: a positive number and a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlaDuration {
    /// How many units.
    pub amount: u32,
    /// Which unit.
    pub unit: Unit,
}

/// A response time that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadlineError {
    /// Not "<number> <unit>".
    #[error(
        "{0:?} is not a duration: write a number and a unit (s, minutes, hours, days, working days), e.g. \"30 working days\""
    )]
    Format(String),
    /// Zero or too large.
    #[error("{0:?} is out of range: the number must be between 1 and 100000")]
    Range(String),
    /// The date arithmetic left the supported range.
    #[error("the due time is outside the supported date range")]
    Overflow,
}

const MAX_AMOUNT: u32 = 100_000;

impl SlaDuration {
    /// Parses `"<number> <unit>"`. Units: `s`/`second(s)`, `minute(s)`,
    /// `hour(s)`, `day(s)`, `working day(s)`.
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
            _ => return Err(DeadlineError::Format(s.to_string())),
        };
        Ok(SlaDuration { amount, unit })
    }
}

impl fmt::Display for SlaDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (one, many) = match self.unit {
            Unit::Seconds => ("s", "s"),
            Unit::Minutes => ("minute", "minutes"),
            Unit::Hours => ("hour", "hours"),
            Unit::Days => ("day", "days"),
            Unit::WorkingDays => ("working day", "working days"),
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

/// Whose days count: a time zone, the weekend days and public holidays.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// The time zone working days are counted in.
    pub tz: TimeZone,
    /// Days of the week that are not working days.
    pub weekend: Vec<Weekday>,
    /// Public holidays (not working days).
    pub holidays: Vec<Date>,
}

impl Default for Calendar {
    /// UTC, Saturday and Sunday off, no holidays.
    fn default() -> Self {
        Calendar {
            tz: TimeZone::UTC,
            weekend: vec![Weekday::Saturday, Weekday::Sunday],
            holidays: Vec::new(),
        }
    }
}

impl Calendar {
    /// Whether `d` is a working day.
    pub fn is_working_day(&self, d: Date) -> bool {
        !self.weekend.contains(&d.weekday()) && !self.holidays.contains(&d)
    }
}

/// When a response started at `start` is due under `within`.
pub fn due(
    start: Timestamp,
    within: SlaDuration,
    cal: &Calendar,
) -> Result<Timestamp, DeadlineError> {
    let secs = |n: i64| {
        start
            .checked_add(jiff::SignedDuration::from_secs(n))
            .map_err(|_| DeadlineError::Overflow)
    };
    let n = i64::from(within.amount);
    match within.unit {
        Unit::Seconds => secs(n),
        Unit::Minutes => secs(n * 60),
        Unit::Hours => secs(n * 3600),
        Unit::Days => secs(n * 86_400),
        Unit::WorkingDays => {
            // A calendar with no working day at all would loop for ever.
            if cal.weekend.len() >= 7 {
                return Err(DeadlineError::Overflow);
            }
            let mut day = start.to_zoned_datetime(cal.tz.clone()).date();
            let mut left = within.amount;
            let mut guard: u32 = 0;
            while left > 0 {
                day = day.tomorrow().map_err(|_| DeadlineError::Overflow)?;
                if cal.is_working_day(day) {
                    left -= 1;
                }
                guard += 1;
                if guard > MAX_AMOUNT * 8 {
                    return Err(DeadlineError::Overflow);
                }
            }
            // End of that day = start of the next day in the calendar's zone.
            let end = day.tomorrow().map_err(|_| DeadlineError::Overflow)?;
            end.to_zoned_datetime(cal.tz.clone())
                .map(|z| z.timestamp())
                .map_err(|_| DeadlineError::Overflow)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn working_days_skip_the_weekend() {
        // Friday 2026-11-20 10:00 UTC + 1 working day = end of Monday 23rd.
        let start: Timestamp = "2026-11-20T10:00:00Z".parse().unwrap();
        let d = SlaDuration::parse("1 working day").unwrap();
        let due = due(start, d, &Calendar::default()).unwrap();
        assert_eq!(due.to_string(), "2026-11-24T00:00:00Z");
    }

    #[test]
    fn holidays_and_time_zones_count() {
        let start: Timestamp = "2026-12-24T12:00:00Z".parse().unwrap();
        let cal = Calendar {
            tz: TimeZone::get("Europe/Athens").unwrap(),
            weekend: vec![Weekday::Saturday, Weekday::Sunday],
            holidays: vec!["2026-12-25".parse().unwrap()],
        };
        let d = SlaDuration::parse("1 working day").unwrap();
        // Thu 24th -> Fri 25th is a holiday, weekend -> Monday 28th ends at
        // midnight Athens time (UTC+2).
        assert_eq!(
            due(start, d, &cal).unwrap().to_string(),
            "2026-12-28T22:00:00Z"
        );
    }

    fn any_duration() -> impl Strategy<Value = SlaDuration> {
        (
            1u32..400,
            prop_oneof![
                Just(Unit::Seconds),
                Just(Unit::Minutes),
                Just(Unit::Hours),
                Just(Unit::Days),
                Just(Unit::WorkingDays)
            ],
        )
            .prop_map(|(amount, unit)| SlaDuration { amount, unit })
    }

    proptest! {
        #[test]
        fn text_round_trips(d in any_duration()) {
            prop_assert_eq!(SlaDuration::parse(&d.to_string()).unwrap(), d);
        }

        #[test]
        fn due_is_after_start_and_monotonic(
            secs in 1_600_000_000i64..2_000_000_000,
            d in any_duration(),
        ) {
            let start = Timestamp::from_second(secs).unwrap();
            let cal = Calendar::default();
            let a = due(start, d, &cal).unwrap();
            prop_assert!(a > start);
            let longer = SlaDuration { amount: d.amount + 1, unit: d.unit };
            let b = due(start, longer, &cal).unwrap();
            prop_assert!(b > a);
            if d.unit == Unit::WorkingDays {
                // The last day counted is a working day, and at least N
                // calendar days pass.
                let last = a.to_zoned_datetime(TimeZone::UTC).date().yesterday().unwrap();
                prop_assert!(cal.is_working_day(last));
                prop_assert!(a.as_second() - secs >= i64::from(d.amount) * 86_400);
            }
        }
    }
}
