//! Follow-up schedules and the 18th birthday.
//!
//! An agreement lists schedules such as "3 and 9 months after return" or
//! "every 6 months after return until the child turns 18". Given the anchor
//! date recorded on the case (the return date or the date of birth) and the
//! child's 18th birthday, [`follow_up_dates`] gives the dates on which a
//! follow-up falls. Pure: dates are passed in.

use crate::protocol::country::Country;
use crate::protocol::deadline::{SlaDuration, Unit};
use crate::protocol::forms::Kind;
use jiff::civil::Date;
use std::fmt;

/// Most dates one schedule produces for one case.
pub const MAX_FOLLOW_UPS: usize = 100;

/// The case event a schedule counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    /// The day the child returned.
    Return,
    /// The child's date of birth.
    Birth,
}

impl Anchor {
    /// The anchor's name, `return` or `birth`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Anchor::Return => "return",
            Anchor::Birth => "birth",
        }
    }
}

/// When a repeating schedule stops: at an age, written `"age 18"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Until {
    /// The age in years.
    pub age: u8,
}

impl Until {
    /// The only age the engine computes today: adulthood.
    pub const ADULTHOOD: Until = Until { age: 18 };

    /// Parses `"age N"`, N from 1 to 30.
    pub fn parse(s: &str) -> Result<Until, String> {
        let bad = || format!("{s:?} is not an end: write \"age 18\"");
        let words: Vec<&str> = s.split_whitespace().collect();
        match words.as_slice() {
            ["age", n] if n.bytes().all(|b| b.is_ascii_digit()) => n
                .parse::<u8>()
                .ok()
                .filter(|a| (1..=30).contains(a))
                .map(|age| Until { age })
                .ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "age {}", self.age)
    }
}

impl serde::Serialize for Until {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Until {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Until::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One `[[follow_up]]` schedule of an agreement: either fixed points
/// (`after`) or a repeating period (`every`, with `until`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// Name of the schedule, unique within the agreement, e.g. `post-return`.
    pub name: String,
    /// What the schedule counts from.
    pub anchor: Anchor,
    /// Fixed points after the anchor, e.g. `["3 months", "9 months"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<SlaDuration>,
    /// A repeating period, e.g. `"6 months"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<SlaDuration>,
    /// When a repeating schedule ends, e.g. `"age 18"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Until>,
    /// The kind of message each date calls for.
    #[serde(
        default = "default_follow_up_kind",
        skip_serializing_if = "is_default_follow_up_kind"
    )]
    pub kind: Kind,
}

fn default_follow_up_kind() -> Kind {
    Kind::FollowUpRequest
}

fn is_default_follow_up_kind(k: &Kind) -> bool {
    *k == Kind::FollowUpRequest
}

/// Whether a duration can be added to a date (days or months).
pub fn is_date_duration(d: &SlaDuration) -> bool {
    matches!(d.unit, Unit::Days | Unit::Months)
}

/// The day the child becomes an adult. With a known date of birth, the 18th
/// anniversary; a child born on 29 February becomes an adult on 1 March in a
/// year without 29 February (the later reading, so protection lasts). With
/// only the year of birth known, 31 December of the year of the 18th
/// birthday (domain brief §4.6). `None` when neither is known.
pub fn eighteenth_birthday(dob: Option<Date>, birth_year: Option<i16>) -> Option<Date> {
    if let Some(d) = dob {
        let year = d.year().checked_add(18)?;
        return match Date::new(year, d.month(), d.day()) {
            Ok(day) => Some(day),
            // 29 February in a common year.
            Err(_) => Date::new(year, 3, 1).ok(),
        };
    }
    let year = birth_year?.checked_add(18)?;
    Date::new(year, 12, 31).ok()
}

/// The dates `schedule` gives for a case whose anchor event fell on
/// `anchor`, in order, at most [`MAX_FOLLOW_UPS`].
///
/// - `after`: the anchor plus each duration (each counted from the anchor).
/// - `every` with `until = "age 18"`: the anchor plus 1, 2, 3 … periods,
///   each counted from the anchor (no drift at month ends), for every date
///   before `eighteenth`. When the 18th birthday is unknown the schedule
///   yields nothing: record at least a year of birth.
pub fn follow_up_dates(schedule: &FollowUp, anchor: Date, eighteenth: Option<Date>) -> Vec<Date> {
    let mut out = Vec::new();
    if let Some(every) = schedule.every {
        let end = match schedule.until {
            Some(_) => match eighteenth {
                Some(e) => Some(e),
                None => return out,
            },
            None => None,
        };
        for k in 1..=MAX_FOLLOW_UPS {
            let Ok(times) = u32::try_from(k) else { break };
            let Some(d) = every.add_to_date(anchor, times) else {
                break;
            };
            if end.is_some_and(|e| d >= e) {
                break;
            }
            out.push(d);
        }
    } else {
        out = schedule
            .after
            .iter()
            .filter_map(|a| a.add_to_date(anchor, 1))
            .collect();
        out.sort();
        out.dedup();
        out.truncate(MAX_FOLLOW_UPS);
    }
    out
}

/// A child's return, the event `return`-anchored schedules count from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Return {
    /// The day the child arrived back.
    pub date: Date,
    /// The country the child left (where the child was found).
    pub from: Country,
    /// The country the child returned to.
    pub to: Country,
}

/// Who sends a follow-up message of `kind` after `ret`: the country the
/// child left asks (`follow-up-request`); the country the child returned to
/// reports (`follow-up-report`, and any other kind).
pub fn follow_up_sender(kind: Kind, ret: &Return) -> Country {
    if kind == Kind::FollowUpRequest {
        ret.from
    } else {
        ret.to
    }
}

/// One follow-up that a schedule calls for on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The schedule's name.
    pub schedule: String,
    /// 1-based position within the schedule.
    pub position: usize,
    /// How many the schedule gives in all for this case.
    pub of: usize,
    /// The kind of message due.
    pub kind: Kind,
    /// The day it is due.
    pub date: Date,
    /// The party that must send it.
    pub owed_by: Country,
}

impl Planned {
    /// A short label, e.g. `post-return 1/2`.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.schedule, self.position, self.of)
    }
}

/// Every follow-up `schedules` call for after `ret`, in schedule order then
/// date order. `return` schedules count from the return; `birth` schedules
/// count from the date of birth (skipped when it is unknown) and keep only
/// dates after the return.
pub fn plan(
    schedules: &[FollowUp],
    ret: &Return,
    dob: Option<Date>,
    eighteenth: Option<Date>,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for s in schedules {
        let dates: Vec<Date> = match s.anchor {
            Anchor::Return => follow_up_dates(s, ret.date, eighteenth),
            Anchor::Birth => match dob {
                Some(b) => follow_up_dates(s, b, eighteenth)
                    .into_iter()
                    .filter(|d| *d > ret.date)
                    .collect(),
                None => Vec::new(),
            },
        };
        let of = dates.len();
        let owed_by = follow_up_sender(s.kind, ret);
        out.extend(dates.into_iter().enumerate().map(|(i, date)| Planned {
            schedule: s.name.clone(),
            position: i + 1,
            of,
            kind: s.kind,
            date,
            owed_by,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn schedule(toml_text: &str) -> FollowUp {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn the_31_december_rule() {
        assert_eq!(
            eighteenth_birthday(None, Some(2010)),
            Some(date(2028, 12, 31))
        );
        assert_eq!(
            eighteenth_birthday(Some(date(2010, 5, 17)), Some(2010)),
            Some(date(2028, 5, 17))
        );
        // A known date wins over the year.
        assert_eq!(
            eighteenth_birthday(Some(date(2010, 5, 17)), Some(2011)),
            Some(date(2028, 5, 17))
        );
        // Leap day.
        assert_eq!(
            eighteenth_birthday(Some(date(2008, 2, 29)), None),
            Some(date(2026, 3, 1))
        );
        assert_eq!(
            eighteenth_birthday(Some(date(2010, 2, 28)), None),
            Some(date(2028, 2, 28))
        );
        assert_eq!(
            eighteenth_birthday(Some(date(2012, 2, 29)), None),
            Some(date(2030, 3, 1))
        );
        assert_eq!(
            eighteenth_birthday(Some(date(2014, 2, 28)), None),
            Some(date(2032, 2, 28))
        );
        assert_eq!(eighteenth_birthday(None, None), None);
        assert_eq!(eighteenth_birthday(None, Some(9990)), None);
    }

    #[test]
    fn plan_assigns_each_follow_up_to_its_sender() {
        let gr = Country::parse("GR").unwrap();
        let al = Country::parse("AL").unwrap();
        let ret = Return {
            date: date(2026, 11, 30),
            from: gr,
            to: al,
        };
        let schedules = vec![
            schedule(
                "name = \"post-return\"\nanchor = \"return\"\nafter = [\"3 months\", \"9 months\"]\n",
            ),
            schedule(
                "name = \"score-cards\"\nanchor = \"return\"\nafter = [\"6 months\"]\nkind = \"follow-up-report\"\n",
            ),
            schedule(
                "name = \"yearly\"\nanchor = \"birth\"\nevery = \"12 months\"\nuntil = \"age 18\"\n",
            ),
        ];
        let dob = date(2011, 5, 10);
        let planned = plan(
            &schedules,
            &ret,
            Some(dob),
            eighteenth_birthday(Some(dob), None),
        );
        let got: Vec<(String, Date, Country)> = planned
            .iter()
            .map(|p| (p.label(), p.date, p.owed_by))
            .collect();
        assert_eq!(
            got,
            vec![
                ("post-return 1/2".to_string(), date(2027, 2, 28), gr),
                ("post-return 2/2".to_string(), date(2027, 8, 30), gr),
                ("score-cards 1/1".to_string(), date(2027, 5, 30), al),
                // Birthdays after the return and before the 18th.
                ("yearly 1/2".to_string(), date(2027, 5, 10), gr),
                ("yearly 2/2".to_string(), date(2028, 5, 10), gr),
            ]
        );
        // Without a date of birth a birth-anchored schedule gives nothing.
        assert_eq!(plan(&schedules, &ret, None, None).len(), 3);
    }

    #[test]
    fn fixed_points_after_return() {
        let s = schedule(
            "name = \"post-return\"\nanchor = \"return\"\nafter = [\"9 months\", \"3 months\"]\n",
        );
        assert_eq!(s.kind, Kind::FollowUpRequest);
        assert_eq!(
            follow_up_dates(&s, date(2026, 11, 30), None),
            vec![date(2027, 2, 28), date(2027, 8, 30)]
        );
        let s = schedule(
            "name = \"spot-checks\"\nanchor = \"return\"\nafter = [\"6 months\", \"12 months\", \"18 months\"]\nkind = \"follow-up-report\"\n",
        );
        assert_eq!(s.kind, Kind::FollowUpReport);
        assert_eq!(
            follow_up_dates(&s, date(2027, 8, 31), Some(date(2028, 1, 1))),
            vec![date(2028, 2, 29), date(2028, 8, 31), date(2029, 2, 28)]
        );
    }

    #[test]
    fn twice_a_year_until_18() {
        let s = schedule(
            "name = \"to-18\"\nanchor = \"return\"\nevery = \"6 months\"\nuntil = \"age 18\"\n",
        );
        // Born 2010 (exact date unknown): adult on 31 December 2028.
        let eighteenth = eighteenth_birthday(None, Some(2010));
        let dates = follow_up_dates(&s, date(2026, 8, 31), eighteenth);
        assert_eq!(
            dates,
            vec![
                date(2027, 2, 28),
                date(2027, 8, 31),
                date(2028, 2, 29),
                date(2028, 8, 31),
            ]
        );
        // A date on the 18th birthday itself is not a child's follow-up.
        let dates = follow_up_dates(&s, date(2026, 6, 30), Some(date(2028, 6, 30)));
        assert_eq!(dates.last(), Some(&date(2027, 12, 30)));
        // Unknown age: nothing.
        assert!(follow_up_dates(&s, date(2026, 6, 30), None).is_empty());
        // Returned as an adult: nothing.
        assert!(follow_up_dates(&s, date(2029, 6, 30), eighteenth).is_empty());
    }

    #[test]
    fn schedules_are_bounded() {
        let s = schedule(
            "name = \"weekly\"\nanchor = \"birth\"\nevery = \"1 day\"\nuntil = \"age 18\"\n",
        );
        let dob = date(2010, 1, 1);
        let dates = follow_up_dates(&s, dob, eighteenth_birthday(Some(dob), None));
        assert_eq!(dates.len(), MAX_FOLLOW_UPS);
        // Near the end of the supported range the dates stop.
        let s = schedule("name = \"x\"\nanchor = \"birth\"\nevery = \"100000 months\"\n");
        assert!(follow_up_dates(&s, dob, None).len() < 2);
    }

    #[test]
    fn until_parses_strictly() {
        assert_eq!(Until::parse("age 18").unwrap(), Until::ADULTHOOD);
        assert_eq!(Until::parse(" age  16 ").unwrap().to_string(), "age 16");
        for bad in [
            "18",
            "age",
            "age eighteen",
            "age 0",
            "age 31",
            "age -1",
            "years 18",
        ] {
            assert!(Until::parse(bad).is_err(), "{bad}");
        }
    }

    fn any_date() -> impl Strategy<Value = Date> {
        (1990i16..2060, 1i8..=12, 1i8..=31).prop_map(|(y, m, d)| {
            let first = date(y, m, 1);
            date(y, m, d.min(first.days_in_month()))
        })
    }

    proptest! {
        #[test]
        fn eighteenth_is_in_the_18th_year(dob in any_date(), year_only in any::<bool>()) {
            let e = if year_only {
                eighteenth_birthday(None, Some(dob.year())).unwrap()
            } else {
                eighteenth_birthday(Some(dob), None).unwrap()
            };
            prop_assert_eq!(e.year(), dob.year() + 18);
            if year_only {
                prop_assert_eq!(e, e.last_of_year());
            } else {
                // Never before the anniversary.
                prop_assert!(e >= dob.checked_add(jiff::Span::new().years(18)).unwrap());
                prop_assert!(e.month() == dob.month() || (dob.month() == 2 && dob.day() == 29));
            }
        }

        #[test]
        fn repeating_schedules_stay_in_order_and_before_18(
            anchor in any_date(),
            months in 1u32..25,
            dob in any_date(),
        ) {
            let s = FollowUp {
                name: "p".into(),
                anchor: Anchor::Return,
                after: Vec::new(),
                every: Some(SlaDuration { amount: months, unit: Unit::Months }),
                until: Some(Until::ADULTHOOD),
                kind: Kind::FollowUpRequest,
            };
            let e = eighteenth_birthday(Some(dob), None);
            let dates = follow_up_dates(&s, anchor, e);
            prop_assert!(dates.len() <= MAX_FOLLOW_UPS);
            prop_assert!(dates.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(dates.iter().all(|d| *d > anchor && Some(*d) < e));
            // Nothing is missing: the next date would be on or after the
            // 18th birthday, or the cap was reached.
            if dates.len() < MAX_FOLLOW_UPS {
                let next = s.every.unwrap().add_to_date(anchor, dates.len() as u32 + 1).unwrap();
                prop_assert!(Some(next) >= e);
            }
            for (i, d) in dates.iter().enumerate() {
                // Each date is k periods from the anchor, clamped.
                let want = crate::protocol::deadline::add_months(anchor, i64::from(months) * (i as i64 + 1)).unwrap();
                prop_assert_eq!(*d, want);
            }
        }

        #[test]
        fn fixed_schedules_are_sorted_and_unique(
            anchor in any_date(),
            after in prop::collection::vec((1u32..40, any::<bool>()), 1..8),
        ) {
            let after: Vec<SlaDuration> = after
                .into_iter()
                .map(|(n, m)| SlaDuration { amount: n, unit: if m { Unit::Months } else { Unit::Days } })
                .collect();
            let s = FollowUp {
                name: "p".into(),
                anchor: Anchor::Return,
                after: after.clone(),
                every: None,
                until: None,
                kind: Kind::FollowUpRequest,
            };
            let dates = follow_up_dates(&s, anchor, None);
            prop_assert!(dates.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(dates.iter().all(|d| *d > anchor));
            for a in &after {
                prop_assert!(dates.contains(&a.add_to_date(anchor, 1).unwrap()));
            }
        }
    }
}
