//! Limits on numbers, texts and times (their values are in [`crate::limits`]).

use chrono::{DateTime, Datelike, Utc};

use crate::limits::{
    DISPLAY_NAME_MAX_BYTES, PAGE_LIMIT_MAX, SHORT_TEXT_MAX_BYTES, STATS_HOURS_MAX, YEAR_MAX,
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

/// Checks a time a client sends: its year is from [`YEAR_MIN`] to [`YEAR_MAX`].
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
    }
}
