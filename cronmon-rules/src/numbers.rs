//! Limits on numbers, texts and times (their values are in [`crate::limits`]).

use chrono::{DateTime, Datelike, TimeDelta, Utc};

use crate::limits::{
    CPU_MS_MAX, DISPLAY_NAME_MAX_BYTES, MAX_RSS_KB_MAX, PAGE_LIMIT_MAX, PID_MIN, PROGRESS_MAX,
    SHORT_TEXT_MAX_BYTES, STATS_HOURS_MAX, TIME_FUTURE_MAX_MS, TIME_PAST_MAX_MS, YEAR_MAX,
    YEAR_MIN,
};
use crate::{Result, RuleError};

/// Checks that `value` of `field` is greater than 0.
///
/// ```
/// assert!(cronmon_rules::positive("failureThreshold", 3).is_ok());
/// assert!(cronmon_rules::positive("failureThreshold", 0).is_err());
/// ```
pub fn positive(field: &'static str, value: i64) -> Result {
    if value <= 0 {
        return Err(RuleError::new(field, "must be greater than 0"));
    }
    Ok(())
}

/// Checks that `value` of `field` is 0 or more (durations, CPU time, progress counts).
///
/// ```
/// assert!(cronmon_rules::non_negative("durationMs", 0).is_ok());
/// assert!(cronmon_rules::non_negative("durationMs", -1).is_err());
/// ```
pub fn non_negative(field: &'static str, value: i64) -> Result {
    if value < 0 {
        return Err(RuleError::new(field, "cannot be negative"));
    }
    Ok(())
}

/// Checks that `value` of `field` is at most `max` (`human` says it for people: "30 days").
pub(crate) fn at_most(field: &'static str, value: i64, max: i64, human: &str) -> Result {
    if value > max {
        return Err(RuleError::new(field, format!("at most {max} ({human})")));
    }
    Ok(())
}

/// Checks the CPU time a run reports, in milliseconds: 0 to [`CPU_MS_MAX`]. The field is
/// `cpuMs`.
///
/// ```
/// assert!(cronmon_rules::cpu_ms(1_500).is_ok());
/// assert!(cronmon_rules::cpu_ms(-1).is_err());
/// assert!(cronmon_rules::cpu_ms(i64::MAX).is_err());
/// ```
pub fn cpu_ms(ms: i64) -> Result {
    non_negative("cpuMs", ms)?;
    at_most("cpuMs", ms, CPU_MS_MAX, "366 days on 1024 CPUs")
}

/// Checks the peak memory a run reports, in KiB: 0 to [`MAX_RSS_KB_MAX`] (1 PiB). The field
/// is `maxRssKb`.
///
/// ```
/// assert!(cronmon_rules::max_rss_kb(20_480).is_ok());
/// assert!(cronmon_rules::max_rss_kb(i64::MAX).is_err());
/// ```
pub fn max_rss_kb(kb: i64) -> Result {
    non_negative("maxRssKb", kb)?;
    at_most("maxRssKb", kb, MAX_RSS_KB_MAX, "1 PiB")
}

/// Checks a progress count of a heartbeat (field `done` or `total`): 0 to [`PROGRESS_MAX`].
///
/// ```
/// assert!(cronmon_rules::progress("done", 0).is_ok());
/// assert_eq!(cronmon_rules::progress("total", -1).unwrap_err().field, "total");
/// ```
pub fn progress(field: &'static str, count: i64) -> Result {
    non_negative(field, count)?;
    at_most(field, count, PROGRESS_MAX, "10^15")
}

/// Checks a process id a run reports: at least [`PID_MIN`]. The field is `pid`.
///
/// ```
/// assert!(cronmon_rules::pid(4242).is_ok());
/// assert!(cronmon_rules::pid(0).is_err());
/// ```
pub fn pid(pid: i32) -> Result {
    if pid < PID_MIN {
        return Err(RuleError::new("pid", format!("at least {PID_MIN}")));
    }
    Ok(())
}

/// Checks a time a client sends (`startedAt`, `completedAt`, `scheduledFor`, a heartbeat's
/// time) against `now`, the clock of whoever checks: at most [`TIME_FUTURE_MAX_MS`] (1 day)
/// after it, at most [`TIME_PAST_MAX_MS`] (3660 days) before it.
///
/// ```
/// use chrono::{TimeDelta, Utc};
/// let now = Utc::now();
/// assert!(cronmon_rules::sent_time("startedAt", now - TimeDelta::hours(5), now).is_ok());
/// assert!(cronmon_rules::sent_time("startedAt", now + TimeDelta::days(2), now).is_err());
/// ```
pub fn sent_time(field: &'static str, time: DateTime<Utc>, now: DateTime<Utc>) -> Result {
    if time > now + TimeDelta::milliseconds(TIME_FUTURE_MAX_MS) {
        return Err(RuleError::new(
            field,
            "more than 1 day in the future (is the sender's clock right?)",
        ));
    }
    if time < now - TimeDelta::milliseconds(TIME_PAST_MAX_MS) {
        return Err(RuleError::new(
            field,
            "more than 3660 days (about ten years) in the past",
        ));
    }
    Ok(())
}

/// Checks that a run's end is not before its start, give or take [`TIME_FUTURE_MAX_MS`] (1
/// day) of clocks that disagree. The field is `completedAt`.
///
/// ```
/// use chrono::{TimeDelta, Utc};
/// let start = Utc::now();
/// assert!(cronmon_rules::completed_after_start(start + TimeDelta::seconds(3), start).is_ok());
/// assert!(cronmon_rules::completed_after_start(start - TimeDelta::days(2), start).is_err());
/// ```
pub fn completed_after_start(completed_at: DateTime<Utc>, started_at: DateTime<Utc>) -> Result {
    if completed_at < started_at - TimeDelta::milliseconds(TIME_FUTURE_MAX_MS) {
        return Err(RuleError::new(
            "completedAt",
            "more than 1 day before `startedAt`",
        ));
    }
    Ok(())
}

/// Checks a text of `field` stored as is: at most `max` bytes, no NUL character (which
/// PostgreSQL's text columns refuse).
fn text(field: &'static str, value: &str, max: usize) -> Result {
    if value.contains('\0') {
        return Err(RuleError::new(field, "cannot hold a NUL character"));
    }
    if value.len() > max {
        return Err(RuleError::new(field, format!("at most {max} bytes")));
    }
    Ok(())
}

/// Checks a cron's display name: at most [`DISPLAY_NAME_MAX_BYTES`], no NUL character. The
/// field is `displayName`.
///
/// ```
/// assert!(cronmon_rules::display_name("Nightly report").is_ok());
/// assert!(cronmon_rules::display_name(&"x".repeat(257)).is_err());
/// ```
pub fn display_name(value: &str) -> Result {
    text("displayName", value, DISPLAY_NAME_MAX_BYTES)
}

/// Checks a short text of a run (host name, boot id, program version): at most
/// [`SHORT_TEXT_MAX_BYTES`], no NUL character.
///
/// ```
/// assert!(cronmon_rules::short_text("host", "web-1").is_ok());
/// assert!(cronmon_rules::short_text("host", "a\0b").is_err());
/// ```
pub fn short_text(field: &'static str, value: &str) -> Result {
    text(field, value, SHORT_TEXT_MAX_BYTES)
}

/// Checks the window of the statistics, in hours: 1 to [`STATS_HOURS_MAX`]. The field is
/// `hours`.
///
/// ```
/// assert!(cronmon_rules::stats_hours(24).is_ok());
/// assert!(cronmon_rules::stats_hours(0).is_err());
/// ```
pub fn stats_hours(hours: u32) -> Result {
    if hours == 0 || hours > STATS_HOURS_MAX {
        return Err(RuleError::new(
            "hours",
            format!("hours is from 1 to {STATS_HOURS_MAX}"),
        ));
    }
    Ok(())
}

/// Checks a page request: pages start at 1 (field `page`), and a page holds 1 to
/// [`PAGE_LIMIT_MAX`] rows (field `limit`).
///
/// ```
/// assert!(cronmon_rules::page(1, 50).is_ok());
/// assert_eq!(cronmon_rules::page(0, 50).unwrap_err().field, "page");
/// assert_eq!(cronmon_rules::page(1, 201).unwrap_err().field, "limit");
/// ```
pub fn page(page: u32, limit: u32) -> Result {
    if page == 0 {
        return Err(RuleError::new("page", "pages start at 1"));
    }
    if limit == 0 || limit > PAGE_LIMIT_MAX {
        return Err(RuleError::new(
            "limit",
            format!("limit is from 1 to {PAGE_LIMIT_MAX}"),
        ));
    }
    Ok(())
}

/// Checks a date of a query (`from`, `to`): its year is from [`YEAR_MIN`] to [`YEAR_MAX`].
///
/// ```
/// use chrono::Utc;
/// assert!(cronmon_rules::year("startedAt", Utc::now()).is_ok());
/// assert!(cronmon_rules::year("startedAt", chrono::DateTime::UNIX_EPOCH - chrono::Duration::days(1)).is_err());
/// ```
pub fn year(field: &'static str, time: DateTime<Utc>) -> Result {
    if !(YEAR_MIN..=YEAR_MAX).contains(&time.year()) {
        return Err(RuleError::new(
            field,
            format!("the year must be from {YEAR_MIN} to {YEAR_MAX}"),
        ));
    }
    Ok(())
}

/// Checks a `failureThreshold` or `recoveryThreshold`: 1 to [`THRESHOLD_MAX`](crate::limits::THRESHOLD_MAX).
///
/// ```
/// assert!(cronmon_rules::threshold("failureThreshold", 3).is_ok());
/// assert!(cronmon_rules::threshold("failureThreshold", 0).is_err());
/// assert!(cronmon_rules::threshold("recoveryThreshold", 101).is_err());
/// ```
pub fn threshold(field: &'static str, value: i64) -> Result {
    let max = crate::limits::THRESHOLD_MAX;
    if !(1..=max).contains(&value) {
        return Err(RuleError::new(field, format!("must be from 1 to {max}")));
    }
    Ok(())
}

/// Checks an `anomalyFactor`: a finite number from
/// [`ANOMALY_FACTOR_MIN`](crate::limits::ANOMALY_FACTOR_MIN) to
/// [`ANOMALY_FACTOR_MAX`](crate::limits::ANOMALY_FACTOR_MAX).
///
/// ```
/// assert!(cronmon_rules::anomaly_factor(3.0).is_ok());
/// assert!(cronmon_rules::anomaly_factor(0.5).is_err());
/// assert!(cronmon_rules::anomaly_factor(f64::NAN).is_err());
/// ```
pub fn anomaly_factor(value: f64) -> Result {
    use crate::limits::{ANOMALY_FACTOR_MAX, ANOMALY_FACTOR_MIN};
    if !(ANOMALY_FACTOR_MIN..=ANOMALY_FACTOR_MAX).contains(&value) {
        return Err(RuleError::new(
            "anomalyFactor",
            format!("must be from {ANOMALY_FACTOR_MIN} to {ANOMALY_FACTOR_MAX}"),
        ));
    }
    Ok(())
}

/// Checks a maintenance window's length, in milliseconds: 1 to
/// [`MAINTENANCE_DURATION_MAX_MS`](crate::limits::MAINTENANCE_DURATION_MAX_MS).
///
/// ```
/// assert!(cronmon_rules::maintenance_duration_ms(3_600_000).is_ok());
/// assert!(cronmon_rules::maintenance_duration_ms(0).is_err());
/// ```
pub fn maintenance_duration_ms(value: i64) -> Result {
    let max = crate::limits::MAINTENANCE_DURATION_MAX_MS;
    if !(1..=max).contains(&value) {
        return Err(RuleError::new(
            "durationMs",
            format!("must be from 1 to {max} (30 days)"),
        ));
    }
    Ok(())
}

/// Checks the end of a pause: after `now`, and at most 366 days ahead.
///
/// ```
/// use chrono::{TimeDelta, Utc};
/// let now = Utc::now();
/// assert!(cronmon_rules::pause_until(now + TimeDelta::hours(2), now).is_ok());
/// assert!(cronmon_rules::pause_until(now - TimeDelta::hours(2), now).is_err());
/// ```
pub fn pause_until(until: DateTime<Utc>, now: DateTime<Utc>) -> Result {
    if until <= now {
        return Err(RuleError::new("until", "must be in the future"));
    }
    if until - now > TimeDelta::days(366) {
        return Err(RuleError::new("until", "must be within 366 days"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert!(display_name(&"x".repeat(DISPLAY_NAME_MAX_BYTES)).is_ok());
        let e = display_name(&"x".repeat(DISPLAY_NAME_MAX_BYTES + 1)).unwrap_err();
        assert_eq!(
            (e.field, e.message.as_str()),
            ("displayName", "at most 256 bytes")
        );
        assert_eq!(
            display_name("a\0b").unwrap_err().message,
            "cannot hold a NUL character"
        );
        assert!(short_text("version", &"x".repeat(SHORT_TEXT_MAX_BYTES)).is_ok());
        assert!(short_text("version", &"x".repeat(SHORT_TEXT_MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn numbers() {
        assert!(stats_hours(STATS_HOURS_MAX).is_ok());
        assert_eq!(
            stats_hours(STATS_HOURS_MAX + 1).unwrap_err().message,
            "hours is from 1 to 8784"
        );
        assert!(page(3, PAGE_LIMIT_MAX).is_ok());
        assert_eq!(page(1, 0).unwrap_err().message, "limit is from 1 to 200");
        assert_eq!(
            positive("x", -3).unwrap_err().message,
            "must be greater than 0"
        );
        assert!(non_negative("x", 0).is_ok());
        assert!(cpu_ms(CPU_MS_MAX).is_ok());
        assert_eq!(cpu_ms(CPU_MS_MAX + 1).unwrap_err().field, "cpuMs");
        assert!(max_rss_kb(MAX_RSS_KB_MAX).is_ok());
        assert!(max_rss_kb(MAX_RSS_KB_MAX + 1).is_err());
        assert!(progress("done", PROGRESS_MAX).is_ok());
        assert_eq!(
            progress("done", PROGRESS_MAX + 1).unwrap_err().message,
            "at most 1000000000000000 (10^15)"
        );
        assert!(pid(1).is_ok());
        assert_eq!(pid(-7).unwrap_err().field, "pid");
    }

    #[test]
    fn times() {
        let now = Utc::now();
        let day = TimeDelta::milliseconds(TIME_FUTURE_MAX_MS);
        let past = TimeDelta::milliseconds(TIME_PAST_MAX_MS);
        assert!(sent_time("startedAt", now + day, now).is_ok());
        assert!(sent_time("startedAt", now - past, now).is_ok());
        let late = TimeDelta::milliseconds(1);
        assert_eq!(
            sent_time("scheduledFor", now + day + late, now)
                .unwrap_err()
                .field,
            "scheduledFor"
        );
        assert!(sent_time("startedAt", now - past - late, now).is_err());
        assert!(completed_after_start(now - day, now).is_ok());
        assert!(completed_after_start(now - day - late, now).is_err());
    }
}
