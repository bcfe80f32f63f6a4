//! Due slots of a schedule: every time a cron expression is due in its IANA time zone, and the
//! slot a start serves.
//!
//! A *slot* is one due time of a schedule, as an instant (UTC). Slots come from the schedule
//! alone, never from the last run, so a run that starts a little early or late does not shift
//! the slots after it.
//!
//! The rules, daylight saving time included, are on [`CronSchedule`].

use std::iter::FusedIterator;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::Result;
use crate::cron::{parsed_expression, parsed_timezone};

/// A cron expression in its time zone, parsed once: what [`slots_between`] and
/// [`slot_for_start`] compute with, for a caller that asks one schedule many questions.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use cronmon_rules::CronSchedule;
///
/// let daily = CronSchedule::new("0 9 * * *", "Europe/Paris").unwrap();
/// let start = Utc.with_ymd_and_hms(2026, 2, 14, 7, 59, 57).unwrap(); // 08:59:57 in Paris
/// let slot = Utc.with_ymd_and_hms(2026, 2, 14, 8, 0, 0).unwrap(); // 09:00 in Paris
/// assert_eq!(daily.slot_for_start(start, TimeDelta::seconds(60)), Some(slot));
/// assert_eq!(daily.slots_between(start, slot).collect::<Vec<_>>(), [slot]);
/// ```
///
/// # Daylight saving time
///
/// Slots are computed on the wall clock of the time zone by `croner`, which decides what a
/// wall clock time that does not exist, or exists twice, means:
///
/// - **Spring forward** (a wall clock time skipped): a *fixed-time* schedule — one minute and one
///   hour, such as `30 2 * * *` or `@daily` — whose time falls in the gap is due once, at the
///   first instant after the gap. `30 2 * * *` in Europe/Paris on 2026-03-29 (02:00 CET jumps to
///   03:00 CEST) is due at 03:00 CEST (01:00 UTC), and nowhere else that day. Any other schedule
///   (`*/15 * * * *`, `@hourly`, `30 1,2 * * *`) has no slot in the gap: the skipped wall clock
///   times never happen, so `@hourly` has 23 slots that day.
/// - **Fall back** (a wall clock range repeated): a fixed-time schedule is due once, at the
///   earlier of the two instants. `30 1 * * *` in America/New_York on 2026-11-01 (01:00–01:59
///   happens in EDT, then again in EST) is due at 01:30 EDT (05:30 UTC) only. Any other
///   schedule is due at both instants, which are real times an hour apart: `@hourly` has 25
///   slots that day. This includes lists such as `30 1,13 * * *`, due at 01:30 EDT *and* 01:30
///   EST that day.
///
/// The expression and the time zone are parsed and checked as [`cron_expression`] and
/// [`timezone`] do (an unknown zone is an error here, not UTC).
///
/// [`cron_expression`]: crate::cron_expression
/// [`timezone`]: crate::timezone
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    tz: Tz,
}

impl CronSchedule {
    /// Parses `expression` (5 fields or an alias, as [`cron_expression`] accepts) and `timezone`
    /// (an IANA name). A bad expression is a [`RuleError`] on `cronExpression`, a bad zone one
    /// on `timezone`. An expression that never fires (`0 0 31 2 *`) is accepted and has no
    /// slots.
    ///
    /// ```
    /// use cronmon_rules::CronSchedule;
    /// assert!(CronSchedule::new("@hourly", "America/New_York").is_ok());
    /// assert_eq!(CronSchedule::new("61 * * * *", "UTC").unwrap_err().field, "cronExpression");
    /// assert_eq!(CronSchedule::new("* * * * *", "Mars/Base").unwrap_err().field, "timezone");
    /// ```
    ///
    /// [`cron_expression`]: crate::cron_expression
    /// [`RuleError`]: crate::RuleError
    pub fn new(expression: &str, timezone: &str) -> Result<Self> {
        Ok(Self {
            cron: parsed_expression(expression.trim())?,
            tz: parsed_timezone(timezone)?,
        })
    }

    /// Every slot strictly after `after` and at or before `until`, in order; see
    /// [`slots_between`].
    pub fn slots_between(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Slots {
        Slots {
            schedule: self.clone(),
            cursor: after,
            until,
            done: after >= until,
        }
    }

    /// The slot a start at `started_at` serves; see [`slot_for_start`].
    pub fn slot_for_start(
        &self,
        started_at: DateTime<Utc>,
        tolerance: TimeDelta,
    ) -> Option<DateTime<Utc>> {
        let previous = self.latest_at_or_before(started_at);
        if let Some(next) = self.first_after(started_at) {
            let early = next - started_at;
            if early <= tolerance && previous.is_none_or(|p| early < started_at - p) {
                return Some(next);
            }
        }
        previous
    }

    /// The first slot strictly after `t` (slots are whole seconds: a `t` with a fraction of a
    /// second is after the slot at its whole second).
    pub fn first_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = self
            .cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()?
            .with_timezone(&Utc);
        // croner promises this; an iterator built on it must never stand still.
        (next > t).then_some(next)
    }

    /// The latest slot at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let previous = self
            .cron
            .find_previous_occurrence(&t.with_timezone(&self.tz), true)
            .ok()?
            .with_timezone(&Utc);
        (previous <= t).then_some(previous)
    }
}

/// The slots of a schedule in a window, in order, as [`slots_between`] and
/// [`CronSchedule::slots_between`] answer them. Each is computed when asked for, so a window
/// of years costs nothing until it is read; [`Slots::at_most`] reads a bounded number.
#[derive(Debug, Clone)]
pub struct Slots {
    schedule: CronSchedule,
    /// The last slot answered (or the window's start): the next one is strictly after it.
    cursor: DateTime<Utc>,
    until: DateTime<Utc>,
    done: bool,
}

impl Slots {
    /// At most `cap` slots, and whether the window holds more: a job every minute that was
    /// down for three days has 4,320 slots, and a caller that records a handful asks for that
    /// many and learns that more exist (it may go on reading this iterator, or count them).
    ///
    /// ```
    /// use chrono::{TimeDelta, TimeZone, Utc};
    /// let after = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    /// let until = after + TimeDelta::days(3);
    /// let mut slots = cronmon_rules::slots_between("* * * * *", "UTC", after, until).unwrap();
    /// let first = slots.at_most(10);
    /// assert_eq!(first.slots.len(), 10);
    /// assert!(first.more);
    /// assert_eq!(slots.count(), 4_320 - 10);
    /// ```
    pub fn at_most(&mut self, cap: usize) -> CappedSlots {
        let slots: Vec<_> = self.by_ref().take(cap).collect();
        let more = !self.done && self.peek().is_some();
        CappedSlots { slots, more }
    }

    /// The next slot in the window without taking it.
    fn peek(&self) -> Option<DateTime<Utc>> {
        if self.done {
            return None;
        }
        self.schedule
            .first_after(self.cursor)
            .filter(|slot| *slot <= self.until)
    }
}

impl Iterator for Slots {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        if self.done {
            return None;
        }
        match self.peek() {
            Some(slot) => {
                self.cursor = slot;
                Some(slot)
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

impl FusedIterator for Slots {}

/// At most a given number of slots, in order, and whether the window holds more after them
/// ([`Slots::at_most`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CappedSlots {
    /// The slots, oldest first.
    pub slots: Vec<DateTime<Utc>>,
    /// Whether the window holds at least one slot after the last of `slots`.
    pub more: bool,
}

/// Every slot (due time) of `expression` in `timezone` strictly after `after` and at or before
/// `until`, in UTC and in order, computed on the wall clock of the zone (DST: see the
/// [`CronSchedule`](CronSchedule#daylight-saving-time); each skipped or repeated fixed time counts once). Nothing when
/// `until` is not after `after`. Take [`Slots::at_most`] to bound the number read.
///
/// A bad expression is a [`RuleError`](crate::RuleError) on `cronExpression`, a bad zone one on
/// `timezone`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let after = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
/// let until = Utc.with_ymd_and_hms(2026, 3, 29, 12, 0, 0).unwrap();
/// // 02:30 does not exist in Paris on 2026-03-29: the job is due once, at 03:00 CEST.
/// let slots: Vec<_> = cronmon_rules::slots_between("30 2 * * *", "Europe/Paris", after, until)
///     .unwrap()
///     .collect();
/// assert_eq!(slots, [Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap()]);
/// ```
pub fn slots_between(
    expression: &str,
    timezone: &str,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Slots> {
    Ok(CronSchedule::new(expression, timezone)?.slots_between(after, until))
}

/// The slot that a run started at `started_at` serves, or `None` when the schedule has no slot
/// near it (an expression that never fires).
///
/// The rule, with `next` the first slot strictly after `started_at` and `previous` the latest
/// slot at or before it:
///
/// 1. A start early for `next` serves it: when `next - started_at <= tolerance` **and** the
///    start is strictly closer to `next` than to `previous`. A job that starts 3 s before its
///    slot because of clock drift serves the coming slot, not the one before (the mistake of
///    computing the next due time from the last ping).
/// 2. Otherwise it serves `previous`, however late it is: a start exactly on a slot serves that
///    slot, and how late is too late (the grace) is the caller's judgement, not this function's.
///
/// The second condition of rule 1 matters when slots are closer together than twice the
/// tolerance: with a slot every minute and a tolerance of 90 s, a start 20 s after 10:00 serves
/// 10:00 (late), one 40 s after serves 10:01 (early), and one exactly 30 s after (halfway)
/// serves 10:00. The early window of a slot is thus the tolerance or half the time since the
/// slot before it, whichever is smaller. A negative tolerance counts as zero.
///
/// Around DST the slots are those of [`slots_between`]: a start at 01:45 EST on the night New
/// York falls back serves the 01:30 EDT slot of `30 1 * * *`, the only one that night.
///
/// A bad expression is a [`RuleError`](crate::RuleError) on `cronExpression`, a bad zone one on
/// `timezone`. [`SLOT_TOLERANCE_DEFAULT_MS`](crate::limits::SLOT_TOLERANCE_DEFAULT_MS) is the
/// tolerance to use unless told.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use cronmon_rules::slot_for_start;
///
/// let nine = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap();
/// let tolerance = TimeDelta::seconds(60);
/// let serves = |started_at| slot_for_start("0 9 * * *", "UTC", started_at, tolerance).unwrap();
/// assert_eq!(serves(nine - TimeDelta::seconds(3)), Some(nine)); // early: the coming slot
/// assert_eq!(serves(nine + TimeDelta::minutes(7)), Some(nine)); // late: the slot before
/// assert_eq!(serves(nine - TimeDelta::minutes(5)), Some(nine - TimeDelta::days(1)));
/// ```
pub fn slot_for_start(
    expression: &str,
    timezone: &str,
    started_at: DateTime<Utc>,
    tolerance: TimeDelta,
) -> Result<Option<DateTime<Utc>>> {
    Ok(CronSchedule::new(expression, timezone)?.slot_for_start(started_at, tolerance))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::SLOT_TOLERANCE_DEFAULT_MS;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn all(
        expression: &str,
        tz: &str,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        slots_between(expression, tz, after, until)
            .unwrap()
            .collect()
    }

    fn default_tolerance() -> TimeDelta {
        TimeDelta::milliseconds(SLOT_TOLERANCE_DEFAULT_MS)
    }

    fn serves(expression: &str, tz: &str, started_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        slot_for_start(expression, tz, started_at, default_tolerance()).unwrap()
    }

    #[test]
    fn slots_are_strictly_after_and_at_most_until() {
        let nine = utc(2026, 6, 1, 9, 0, 0);
        let day = TimeDelta::days(1);
        // `after` on a slot excludes it, `until` on a slot includes it.
        assert_eq!(all("0 9 * * *", "UTC", nine, nine + day), [nine + day]);
        assert_eq!(
            all("0 9 * * *", "UTC", nine - TimeDelta::seconds(1), nine + day),
            [nine, nine + day]
        );
        // A fraction of a second past a slot is after it.
        assert_eq!(
            all(
                "0 9 * * *",
                "UTC",
                nine + TimeDelta::milliseconds(400),
                nine + day
            ),
            [nine + day]
        );
        // Times in the zone, answered in UTC.
        assert_eq!(
            all("0 9 * * *", "Europe/Paris", nine - day, nine),
            [utc(2026, 6, 1, 7, 0, 0)]
        );
        // An empty or reversed window has none.
        assert!(all("* * * * *", "UTC", nine, nine).is_empty());
        assert!(all("* * * * *", "UTC", nine + day, nine).is_empty());
        // An expression that never fires has none, and says so quickly.
        assert!(all("0 0 31 2 *", "UTC", nine, nine + day).is_empty());
    }

    #[test]
    fn early_start_serves_the_coming_slot() {
        let nine = utc(2026, 6, 1, 9, 0, 0);
        // 3 s early (clock drift): the coming slot, not yesterday's.
        assert_eq!(
            serves("0 9 * * *", "UTC", nine - TimeDelta::seconds(3)),
            Some(nine)
        );
        // As early as the tolerance, still the coming one; a millisecond more, the one before.
        assert_eq!(
            serves("0 9 * * *", "UTC", nine - default_tolerance()),
            Some(nine)
        );
        assert_eq!(
            serves(
                "0 9 * * *",
                "UTC",
                nine - default_tolerance() - TimeDelta::milliseconds(1)
            ),
            Some(nine - TimeDelta::days(1))
        );
        // Every 5 minutes: 2 s before 10:05 serves 10:05.
        assert_eq!(
            serves("*/5 * * * *", "UTC", utc(2026, 6, 1, 10, 4, 58)),
            Some(utc(2026, 6, 1, 10, 5, 0))
        );
    }

    #[test]
    fn late_start_serves_the_slot_before() {
        let nine = utc(2026, 6, 1, 9, 0, 0);
        for late in [
            TimeDelta::milliseconds(1),
            TimeDelta::seconds(5),
            TimeDelta::hours(3),
            TimeDelta::hours(23),
        ] {
            assert_eq!(
                serves("0 9 * * *", "UTC", nine + late),
                Some(nine),
                "{late}"
            );
        }
        // A zero tolerance never serves the coming slot.
        let zero = slot_for_start(
            "0 9 * * *",
            "UTC",
            nine - TimeDelta::seconds(1),
            TimeDelta::zero(),
        );
        assert_eq!(zero, Ok(Some(nine - TimeDelta::days(1))));
        let negative = slot_for_start(
            "0 9 * * *",
            "UTC",
            nine - TimeDelta::seconds(1),
            TimeDelta::seconds(-5),
        );
        assert_eq!(negative, Ok(Some(nine - TimeDelta::days(1))));
    }

    #[test]
    fn exact_start_serves_its_slot() {
        let nine = utc(2026, 6, 1, 9, 0, 0);
        assert_eq!(serves("0 9 * * *", "UTC", nine), Some(nine));
        assert_eq!(serves("* * * * *", "UTC", nine), Some(nine));
        assert_eq!(serves("@hourly", "Europe/Paris", nine), Some(nine));
    }

    #[test]
    fn every_minute_with_a_tolerance_wider_than_the_slots() {
        let ten = utc(2026, 6, 1, 10, 0, 0);
        let one_past = ten + TimeDelta::minutes(1);
        let wide = TimeDelta::seconds(90);
        let served = |s: i64| {
            slot_for_start("* * * * *", "UTC", ten + TimeDelta::seconds(s), wide)
                .unwrap()
                .unwrap()
        };
        assert_eq!(served(0), ten);
        assert_eq!(served(20), ten, "20 s late, not 40 s early");
        assert_eq!(served(30), ten, "halfway goes to the slot before");
        assert_eq!(served(40), one_past, "20 s early, not 40 s late");
        assert_eq!(served(-3), ten);
        // With the default tolerance (60 s) the split is the same: half the gap is smaller.
        assert_eq!(
            serves("* * * * *", "UTC", ten + TimeDelta::seconds(29)),
            Some(ten)
        );
        assert_eq!(
            serves("* * * * *", "UTC", ten + TimeDelta::seconds(31)),
            Some(one_past)
        );
    }

    #[test]
    fn every_minute_over_three_days_is_capped() {
        let after = utc(2026, 5, 1, 0, 0, 0);
        let until = after + TimeDelta::days(3);
        let mut slots = slots_between("* * * * *", "UTC", after, until).unwrap();
        let first = slots.at_most(100);
        assert_eq!(first.slots.len(), 100);
        assert!(first.more);
        assert_eq!(first.slots[0], after + TimeDelta::minutes(1));
        assert_eq!(first.slots[99], after + TimeDelta::minutes(100));
        // Reading on continues after the last one taken.
        let rest = slots.at_most(10_000);
        assert_eq!(rest.slots.len(), 4_320 - 100);
        assert!(!rest.more);
        assert_eq!(rest.slots.last(), Some(&until));
        assert_eq!(
            slots.at_most(5),
            CappedSlots {
                slots: vec![],
                more: false
            }
        );
        // A cap exactly the count: no more.
        let exact = slots_between("* * * * *", "UTC", after, until)
            .unwrap()
            .at_most(4_320);
        assert_eq!(exact.slots.len(), 4_320);
        assert!(!exact.more);
        // A cap of zero still says whether any exist.
        let none = slots_between("* * * * *", "UTC", after, until)
            .unwrap()
            .at_most(0);
        assert!(none.slots.is_empty() && none.more);
    }

    #[test]
    fn spring_forward_in_paris_counts_once() {
        // 2026-03-29: 02:00 CET (01:00 UTC) jumps to 03:00 CEST; 02:30 does not exist.
        let slots = all(
            "30 2 * * *",
            "Europe/Paris",
            utc(2026, 3, 27, 12, 0, 0),
            utc(2026, 3, 30, 12, 0, 0),
        );
        assert_eq!(
            slots,
            [
                utc(2026, 3, 28, 1, 30, 0), // 02:30 CET
                utc(2026, 3, 29, 1, 0, 0),  // 03:00 CEST, the first instant after the gap
                utc(2026, 3, 30, 0, 30, 0), // 02:30 CEST
            ]
        );
        // A start at 03:00:20 CEST, or 5 s before 03:00 CEST, serves that one slot.
        let slot = utc(2026, 3, 29, 1, 0, 0);
        assert_eq!(
            serves("30 2 * * *", "Europe/Paris", slot + TimeDelta::seconds(20)),
            Some(slot)
        );
        assert_eq!(
            serves("30 2 * * *", "Europe/Paris", slot - TimeDelta::seconds(5)),
            Some(slot)
        );
        assert_eq!(
            serves("30 2 * * *", "Europe/Paris", utc(2026, 3, 29, 20, 0, 0)),
            Some(slot)
        );
        // @hourly has 23 slots that day (local midnight to midnight), none in the gap.
        let hourly = all(
            "@hourly",
            "Europe/Paris",
            utc(2026, 3, 28, 23, 0, 0),
            utc(2026, 3, 29, 22, 0, 0),
        );
        assert_eq!(hourly.len(), 23);
        assert!(
            hourly
                .windows(2)
                .all(|w| w[1] - w[0] == TimeDelta::hours(1))
        );
    }

    #[test]
    fn fall_back_in_new_york_counts_once() {
        // 2026-11-01: 02:00 EDT (06:00 UTC) goes back to 01:00 EST; 01:30 happens twice.
        let slots = all(
            "30 1 * * *",
            "America/New_York",
            utc(2026, 10, 31, 0, 0, 0),
            utc(2026, 11, 3, 0, 0, 0),
        );
        assert_eq!(
            slots,
            [
                utc(2026, 10, 31, 5, 30, 0), // 01:30 EDT
                utc(2026, 11, 1, 5, 30, 0),  // 01:30 EDT, the earlier of the two
                utc(2026, 11, 2, 6, 30, 0),  // 01:30 EST
            ]
        );
        // Starting from inside the repeated hour changes nothing.
        for after in [utc(2026, 11, 1, 5, 30, 0), utc(2026, 11, 1, 6, 15, 0)] {
            assert!(
                all(
                    "30 1 * * *",
                    "America/New_York",
                    after,
                    utc(2026, 11, 2, 0, 0, 0)
                )
                .is_empty()
            );
        }
        // A start at the second 01:30 (EST) serves the one slot of the night, and one 3 s
        // before the second 01:30 is not early for a slot that does not exist.
        let slot = utc(2026, 11, 1, 5, 30, 0);
        for started_at in [utc(2026, 11, 1, 6, 30, 0), utc(2026, 11, 1, 6, 29, 57)] {
            assert_eq!(
                serves("30 1 * * *", "America/New_York", started_at),
                Some(slot)
            );
        }
        // @hourly has 25 slots that day, an hour apart.
        let hourly = all(
            "@hourly",
            "America/New_York",
            utc(2026, 11, 1, 3, 0, 0),
            utc(2026, 11, 2, 4, 0, 0),
        );
        assert_eq!(hourly.len(), 25);
        assert!(
            hourly
                .windows(2)
                .all(|w| w[1] - w[0] == TimeDelta::hours(1))
        );
    }

    #[test]
    fn dst_for_schedules_that_are_not_fixed_time() {
        // Pins croner's behaviour the module documentation describes: only a single minute
        // and hour is carried past a gap and kept once in a repeated range.
        // A list: the 02:30 in the gap has no slot, 14:30 has its own.
        assert_eq!(
            all(
                "30 2,14 * * *",
                "Europe/Paris",
                utc(2026, 3, 28, 23, 0, 0),
                utc(2026, 3, 29, 22, 0, 0),
            ),
            [utc(2026, 3, 29, 12, 30, 0)]
        );
        // A list: 01:30 EDT and 01:30 EST are both slots, then 13:30 EST.
        assert_eq!(
            all(
                "30 1,13 * * *",
                "America/New_York",
                utc(2026, 11, 1, 4, 0, 0),
                utc(2026, 11, 2, 4, 0, 0),
            ),
            [
                utc(2026, 11, 1, 5, 30, 0),
                utc(2026, 11, 1, 6, 30, 0),
                utc(2026, 11, 1, 18, 30, 0),
            ]
        );
    }

    #[test]
    fn aliases() {
        let after = utc(2026, 6, 1, 0, 0, 0);
        let until = after + TimeDelta::days(1);
        let hourly = all("@hourly", "UTC", after, until);
        assert_eq!(hourly.len(), 24);
        assert_eq!(hourly[0], after + TimeDelta::hours(1));
        assert_eq!(all("@daily", "UTC", after, until), [until]);
        assert_eq!(
            all("@daily", "Europe/Paris", after, until),
            [utc(2026, 6, 1, 22, 0, 0)]
        );
        assert_eq!(
            serves("@daily", "UTC", until - TimeDelta::seconds(3)),
            Some(until)
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_errors() {
        let t = utc(2026, 6, 1, 0, 0, 0);
        for expression in ["61 * * * *", "not cron", "0 0 0 * * *", ""] {
            let e = slots_between(expression, "UTC", t, t).unwrap_err();
            assert_eq!(e.field, "cronExpression", "{expression}");
            let e = slot_for_start(expression, "UTC", t, default_tolerance()).unwrap_err();
            assert_eq!(e.field, "cronExpression", "{expression}");
        }
        for zone in ["Mars/Base", "", "CEST+2"] {
            let e = slots_between("* * * * *", zone, t, t).unwrap_err();
            assert_eq!(e.field, "timezone", "{zone}");
            let e = slot_for_start("* * * * *", zone, t, default_tolerance()).unwrap_err();
            assert_eq!(e.field, "timezone", "{zone}");
        }
        // White space around either is ignored, as the checks ignore it.
        assert!(slots_between(" @daily ", " UTC ", t, t).is_ok());
        // An expression that never fires serves nothing.
        assert_eq!(
            slot_for_start("0 0 31 2 *", "UTC", t, default_tolerance()),
            Ok(None)
        );
    }
}
