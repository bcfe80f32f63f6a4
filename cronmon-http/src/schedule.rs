//! Schedules as the API checks and shows them: every check is the core's rule
//! ([`ScheduleUpdate::validate`], the one the store also runs before it writes), answered as a
//! 422 naming the field.

use chrono::{DateTime, Utc};
use cronmon_core::ScheduleUpdate;
use cronmon_core::rules;

use crate::error::ApiError;

/// Checks every setting of a schedule with [`ScheduleUpdate::validate`].
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
        let with = |expression: &str, timezone: &str| ScheduleUpdate {
            cron_expression: Some(expression.into()),
            timezone: Some(timezone.into()),
            ..ScheduleUpdate::default()
        };
        assert!(validate_update(&with("0 10 * * 0", "Europe/Paris")).is_ok());
        let e = validate_update(&with("61 * * * *", "UTC")).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.code, "invalid_field");
        assert_eq!(e.field.as_deref(), Some("cronExpression"));
        assert!(e.message.starts_with("cronExpression: "), "{e}");
        let e = validate_update(&with("0 10 * * 0", "Mars/Olympus")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("timezone"));
        let update = ScheduleUpdate {
            grace_ms: Some(-1),
            ..ScheduleUpdate::default()
        };
        let e = validate_update(&update).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("graceMs"));
        assert_eq!(e.message, "graceMs: cannot be negative");
    }
}
