//! Parsing of request fields: a cron name ([`cronmon_core::rules::cron_name`]) or a query
//! parameter refused by a rule, answered as a 422 naming the field in a body or a 400 in a
//! query; an unknown enum value, a 400 listing the known ones. Every other bound of an event is
//! checked by the core's own `validate` (the one the store applies), whose refusal is a 422
//! naming the field.

use cronmon_core::CronName;
use cronmon_core::rules::RuleError;

use crate::error::ApiError;

/// A refused body field: 422 naming it.
pub(crate) fn refused(e: RuleError) -> ApiError {
    ApiError::unprocessable(e.field, e.message)
}

/// A refused query parameter: 400 naming it.
pub(crate) fn refused_query(e: RuleError) -> ApiError {
    ApiError::bad_query(e.field, e.message)
}

/// `name` as a cron name ([`cronmon_core::rules::cron_name`]), or a 422 naming `field`.
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
