//! Field checks of requests, each one a rule of [`cronmon_core::rules`] (the same the store and
//! the attribute apply), answered as a 422 naming the field in a body, or a 400 in a query. An
//! unknown enum value is a 400 listing the known ones.

use chrono::{DateTime, Utc};
use cronmon_core::CronName;
use cronmon_core::rules::{self, RuleError};

use crate::error::ApiError;

/// A refused body field: 422 naming it.
pub(crate) fn refused(e: RuleError) -> ApiError {
    ApiError::unprocessable(e.field, e.message)
}

/// A refused query parameter: 400 naming it.
pub(crate) fn refused_query(e: RuleError) -> ApiError {
    ApiError::bad_query(e.field, e.message)
}

/// A host, boot id or version: no NUL, at most [`rules::limits::SHORT_TEXT_MAX_BYTES`].
pub(crate) fn short_text(
    field: &'static str,
    value: Option<String>,
) -> Result<Option<String>, ApiError> {
    if let Some(v) = &value {
        rules::short_text(field, v).map_err(refused)?;
    }
    Ok(value)
}

/// A time whose year both databases can store ([`rules::year`]).
pub(crate) fn time(
    field: &'static str,
    t: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    if let Some(t) = t {
        rules::year(field, t).map_err(refused)?;
    }
    Ok(t)
}

/// `name` as a cron name ([`rules::cron_name`]), or a 422 naming `field`.
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

/// `v` unless it is negative ([`rules::non_negative`]).
pub(crate) fn non_negative(field: &'static str, v: Option<i64>) -> Result<Option<i64>, ApiError> {
    if let Some(v) = v {
        rules::non_negative(field, v).map_err(refused)?;
    }
    Ok(v)
}
