//! Field checks of request bodies: text length and NUL bytes, the years a time may have, cron
//! names, enum values and non-negative numbers. Each failure is a 422 (or a 400 for an
//! unknown enum value) naming the field.

use chrono::{DateTime, Datelike, Utc};
use cronmon_core::CronName;

use crate::error::ApiError;

/// Longest host, boot id, version or display name accepted, in bytes.
pub(crate) const MAX_SHORT_TEXT: usize = 1024;

/// `value` unless it holds a NUL byte (which PostgreSQL text refuses) or is over `max` bytes.
pub(crate) fn text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.contains('\0') => Err(ApiError::unprocessable(
            field,
            "cannot hold a NUL character",
        )),
        Some(v) if v.len() > max => Err(ApiError::unprocessable(
            field,
            format!("at most {max} bytes"),
        )),
        v => Ok(v),
    }
}

/// `t` unless its year is outside 1970..=9999 (what both databases store).
pub(crate) fn time(
    field: &str,
    t: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    match t {
        Some(t) if !(1970..=9999).contains(&t.year()) => Err(ApiError::unprocessable(
            field,
            "the year must be from 1970 to 9999",
        )),
        t => Ok(t),
    }
}

/// `name` as a cron name, or a 422 naming `field`.
pub(crate) fn cron_name(field: &str, name: String) -> Result<CronName, ApiError> {
    CronName::new(name).map_err(|e| match e {
        cronmon_core::Error::InvalidName(m) => ApiError::unprocessable(field, m),
        other => ApiError::from(other),
    })
}

/// `value` as one of an enum's texts (`status`, `reason`, `triggerType`), or a 400 listing them.
pub(crate) fn parse_enum<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| {
        let message = e.to_string();
        let message = message
            .split_once(": ")
            .map_or(message.as_str(), |(_, m)| m)
            .to_owned();
        ApiError::bad_field(field, message)
    })
}

/// `v` unless it is negative.
pub(crate) fn non_negative(field: &str, v: Option<i64>) -> Result<Option<i64>, ApiError> {
    match v {
        Some(v) if v < 0 => Err(ApiError::unprocessable(field, "cannot be negative")),
        v => Ok(v),
    }
}
