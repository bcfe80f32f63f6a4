//! Cron expressions (5-field crontab, parsed by croner) and IANA time zones (chrono-tz): the
//! checks, and the next time an expression fires.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::limits::{CRON_EXPRESSION_MAX_BYTES, NEVER_FIRES_AFTER_SECS};
use crate::{Result, RuleError};

/// Parses 5 fields (minute hour day-of-month month day-of-week) or an alias (`@daily`): no
/// seconds field and no year field, as crontab writes them.
fn parse(expression: &str) -> std::result::Result<Cron, croner::errors::CronError> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
}

/// Checks a cron expression: 5 fields as crontab writes them (`0 9 * * *`, `*/5 * * * 1-5`)
/// or an alias (`@daily`), at most [`CRON_EXPRESSION_MAX_BYTES`], and firing at least once in
/// the next ten years (`0 0 31 2 *` never does). The field is `cronExpression`.
///
/// ```
/// use cronmon_rules::cron_expression;
/// assert!(cron_expression("0 9 * * 1-5").is_ok());
/// assert!(cron_expression("@hourly").is_ok());
/// assert!(cron_expression("61 * * * *").is_err());
/// assert!(cron_expression("0 0 0 * * *").is_err(), "6 fields");
/// ```
pub fn cron_expression(expression: &str) -> Result {
    let cron = parsed_expression(expression)?;
    let now = Utc::now();
    let fires = cron
        .find_next_occurrence(&now, false)
        .ok()
        .is_some_and(|t| t.timestamp() <= now.timestamp() + NEVER_FIRES_AFTER_SECS);
    if !fires {
        return Err(RuleError::new(
            "cronExpression",
            "this expression never fires",
        ));
    }
    Ok(())
}

/// The expression parsed, with the checks of [`cron_expression`] but the last (whether it ever
/// fires): at most [`CRON_EXPRESSION_MAX_BYTES`], 5 fields or an alias. The field is
/// `cronExpression`.
pub(crate) fn parsed_expression(expression: &str) -> Result<Cron> {
    let refuse = |message: String| Err(RuleError::new("cronExpression", message));
    if expression.len() > CRON_EXPRESSION_MAX_BYTES {
        return refuse(format!("at most {CRON_EXPRESSION_MAX_BYTES} bytes"));
    }
    match parse(expression) {
        Ok(cron) => Ok(cron),
        Err(e) => refuse(format!("not a 5-field cron expression: {e}")),
    }
}

/// The time zone parsed, with the check of [`timezone`]. The field is `timezone`.
pub(crate) fn parsed_timezone(timezone: &str) -> Result<Tz> {
    Tz::from_str(timezone.trim())
        .map_err(|_| RuleError::new("timezone", "not an IANA time zone (Europe/Paris)"))
}

/// Checks an IANA time zone name (`Europe/Paris`, `UTC`); white space around it is ignored.
/// The field is `timezone`.
///
/// ```
/// use cronmon_rules::timezone;
/// assert!(timezone("Europe/Paris").is_ok());
/// assert_eq!(timezone("Mars/Base").unwrap_err().field, "timezone");
/// ```
pub fn timezone(timezone: &str) -> Result {
    parsed_timezone(timezone).map(|_| ())
}

/// The next time after `now` that `expression` fires in `timezone` (UTC when the zone is not
/// known); `None` without an expression or with an invalid one.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let now = Utc.with_ymd_and_hms(2026, 2, 13, 21, 0, 0).unwrap();
/// let next = cronmon_rules::next_run_at(Some("0 9 * * *"), "Europe/Paris", now);
/// assert_eq!(next, Some(Utc.with_ymd_and_hms(2026, 2, 14, 8, 0, 0).unwrap()));
/// ```
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
        // An unknown zone falls back to UTC rather than hiding the next run.
        assert_eq!(
            next_run_at(Some("*/5 * * * *"), "Mars/Base", now),
            Some(now + chrono::Duration::minutes(5))
        );
    }

    #[test]
    fn expressions_and_zones_name_their_field() {
        assert!(cron_expression("0 10 * * 0").is_ok());
        assert!(cron_expression("@daily").is_ok());
        assert!(cron_expression(" 0 9 * * * ").is_ok());
        let e = cron_expression("61 * * * *").unwrap_err();
        assert_eq!(e.field, "cronExpression");
        assert!(
            e.message.starts_with("not a 5-field cron expression"),
            "{e}"
        );
        assert!(
            cron_expression("0 0 0 * * *").is_err(),
            "6 fields are refused"
        );
        assert!(cron_expression("0 0 0 * * * 2030").is_err(), "7 fields too");
        assert_eq!(
            cron_expression("0 0 31 2 *").unwrap_err().message,
            "this expression never fires"
        );
        let long = format!("0 0 * * *{}", " ".repeat(CRON_EXPRESSION_MAX_BYTES));
        assert_eq!(
            cron_expression(&long).unwrap_err().message,
            "at most 256 bytes"
        );
        assert!(timezone("Europe/Paris").is_ok());
        assert!(timezone(" UTC ").is_ok());
        assert!(timezone("").is_err());
        assert_eq!(timezone("Mars/Olympus").unwrap_err().field, "timezone");
    }
}
