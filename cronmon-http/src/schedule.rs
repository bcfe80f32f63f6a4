//! Schedules as the API checks them: each check is the core's rule
//! ([`cronmon_core::rules`]), answered as a 422 naming the field.

use chrono::{DateTime, Utc};
use cronmon_core::ScheduleUpdate;
use cronmon_core::rules::{self, RuleError};

use crate::error::ApiError;

fn refused(e: RuleError) -> ApiError {
    ApiError::from(cronmon_core::Error::from(e))
}

/// Checks a 5-field crontab expression (`0 9 * * *`, `*/5 * * * *`, `@daily`) with
/// [`rules::cron_expression`].
pub fn validate_expression(expression: &str) -> Result<(), ApiError> {
    rules::cron_expression(expression).map_err(refused)
}

/// Checks an IANA time zone name (`Europe/Paris`, `UTC`) with [`rules::timezone`].
pub fn validate_timezone(timezone: &str) -> Result<(), ApiError> {
    rules::timezone(timezone).map_err(refused)
}

/// Checks every setting of a schedule with [`ScheduleUpdate::validate`], the check the store
/// also runs before it writes.
pub fn validate_update(update: &ScheduleUpdate) -> Result<(), ApiError> {
    update.validate().map_err(ApiError::from)
}

/// The next time after `now` that `expression` fires in `timezone`; `None` without an
/// expression or with an invalid one ([`rules::next_run_at`]).
pub fn next_run_at(
    expression: Option<&str>,
    timezone: &str,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    rules::next_run_at(expression, timezone, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn refusals_are_422_naming_the_field() {
        assert!(validate_expression("0 10 * * 0").is_ok());
        let e = validate_expression("61 * * * *").unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.code, "invalid_field");
        assert_eq!(e.field.as_deref(), Some("cronExpression"));
        assert!(e.message.starts_with("cronExpression: "), "{e}");
        assert_eq!(
            validate_timezone("Mars/Olympus")
                .unwrap_err()
                .field
                .as_deref(),
            Some("timezone")
        );
        let update = ScheduleUpdate {
            grace_ms: Some(-1),
            ..ScheduleUpdate::default()
        };
        let e = validate_update(&update).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("graceMs"));
        assert_eq!(e.message, "graceMs: cannot be negative");
    }
}
