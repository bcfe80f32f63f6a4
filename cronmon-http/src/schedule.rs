//! Cron expressions (5-field crontab, with croner) and time zones (chrono-tz): validation and
//! the next due time.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::error::ApiError;

fn parse(expression: &str) -> Result<Cron, croner::errors::CronError> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
}

/// Checks a 5-field crontab expression (`0 9 * * *`, `*/5 * * * *`, `@daily`).
pub fn validate_expression(expression: &str) -> Result<(), ApiError> {
    if expression.len() > 256 {
        return Err(ApiError::unprocessable(
            "cronExpression",
            "at most 256 bytes",
        ));
    }
    let cron = parse(expression).map_err(|e| {
        ApiError::unprocessable(
            "cronExpression",
            format!("not a 5-field cron expression: {e}"),
        )
    })?;
    // An expression that never fires (`0 0 31 2 *`) is refused too.
    if cron
        .find_next_occurrence(&Utc::now(), false)
        .ok()
        .is_none_or(|t| t.timestamp() > Utc::now().timestamp() + 10 * 366 * 86400)
    {
        return Err(ApiError::unprocessable(
            "cronExpression",
            "this expression never fires",
        ));
    }
    Ok(())
}

/// Checks an IANA time zone name (`Europe/Paris`, `UTC`).
pub fn validate_timezone(timezone: &str) -> Result<(), ApiError> {
    Tz::from_str(timezone.trim())
        .map(|_| ())
        .map_err(|_| ApiError::unprocessable("timezone", "not an IANA time zone (Europe/Paris)"))
}

/// The next time after `now` that `expression` fires in `timezone`; `None` without an
/// expression or with an invalid one.
pub fn next_run_at(
    expression: Option<&str>,
    timezone: &str,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let cron = parse(expression?.trim()).ok()?;
    let tz = Tz::from_str(timezone.trim()).unwrap_or(Tz::UTC);
    cron.find_next_occurrence(&now.with_timezone(&tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_run_in_a_time_zone() {
        let now = Utc.with_ymd_and_hms(2026, 2, 13, 21, 0, 0).unwrap();
        let next = next_run_at(Some("0 9 * * *"), "Europe/Paris", now).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 2, 14, 8, 0, 0).unwrap());
        assert_eq!(
            next_run_at(Some("*/5 * * * *"), "UTC", now).unwrap(),
            now + chrono::Duration::minutes(5)
        );
        assert!(next_run_at(None, "UTC", now).is_none());
        assert!(next_run_at(Some("not cron"), "UTC", now).is_none());
    }

    #[test]
    fn validation_names_the_field() {
        assert!(validate_expression("0 10 * * 0").is_ok());
        assert!(validate_expression("@daily").is_ok());
        assert_eq!(
            validate_expression("61 * * * *")
                .unwrap_err()
                .field
                .as_deref(),
            Some("cronExpression")
        );
        assert!(
            validate_expression("0 0 0 * * *").is_err(),
            "6 fields are refused"
        );
        assert!(validate_expression("0 0 31 2 *").is_err(), "never fires");
        assert!(validate_timezone("Europe/Paris").is_ok());
        assert_eq!(
            validate_timezone("Mars/Olympus")
                .unwrap_err()
                .field
                .as_deref(),
            Some("timezone")
        );
    }
}
