//! Durations: written as text (`"30m"`, `"1h30m"`, `"500ms"`, parsed by humantime) and the
//! bounds of the durations a cron's settings hold.

use crate::limits::{RUN_DURATION_MAX_MS, SCHEDULE_DURATION_MAX_MS};
use crate::numbers::{at_most, non_negative, positive};
use crate::{Result, RuleError};

/// Parses a duration written as text (`"30s"`, `"5m"`, `"1h30m"`, `"2h 15min"`, `"500ms"`,
/// `"1d"`) into whole milliseconds (anything under a millisecond is dropped). Refuses text
/// that is not a duration or one longer than [`DURATION_MAX_MS`](crate::limits::DURATION_MAX_MS);
/// whether the value suits the field is for the field's own rule ([`timeout_ms`], …).
///
/// ```
/// use cronmon_rules::parse_duration_ms;
/// assert_eq!(parse_duration_ms("timeoutMs", "30m"), Ok(1_800_000));
/// assert_eq!(parse_duration_ms("timeoutMs", "1h30m"), Ok(5_400_000));
/// assert_eq!(parse_duration_ms("graceMs", "0s"), Ok(0));
/// assert!(parse_duration_ms("timeoutMs", "forever").is_err());
/// ```
pub fn parse_duration_ms(field: &'static str, text: &str) -> Result<i64> {
    let duration = humantime::parse_duration(text.trim()).map_err(|e| {
        RuleError::new(
            field,
            format!(
                "not a duration ({e}); write one such as \"30s\", \"5m\", \"1h30m\" or \"500ms\""
            ),
        )
    })?;
    i64::try_from(duration.as_millis())
        .map_err(|_| RuleError::new(field, format!("the duration `{}` is too long", text.trim())))
}

/// Checks a cron's timeout (how long a run may go before it counts as stuck), in
/// milliseconds: greater than 0, at most [`SCHEDULE_DURATION_MAX_MS`] (30 days). The field is
/// `timeoutMs`.
///
/// ```
/// assert!(cronmon_rules::timeout_ms(60_000).is_ok());
/// assert_eq!(cronmon_rules::timeout_ms(0).unwrap_err().field, "timeoutMs");
/// assert!(cronmon_rules::timeout_ms(1_000_000_000_000_000).is_err());
/// ```
pub fn timeout_ms(ms: i64) -> Result {
    positive("timeoutMs", ms)?;
    at_most("timeoutMs", ms, SCHEDULE_DURATION_MAX_MS, "30 days")
}

/// Checks a cron's grace (how late after its due time a start may come), in milliseconds: 0
/// to [`SCHEDULE_DURATION_MAX_MS`] (30 days). The field is `graceMs`.
///
/// ```
/// assert!(cronmon_rules::grace_ms(0).is_ok());
/// assert!(cronmon_rules::grace_ms(-1).is_err());
/// ```
pub fn grace_ms(ms: i64) -> Result {
    non_negative("graceMs", ms)?;
    at_most("graceMs", ms, SCHEDULE_DURATION_MAX_MS, "30 days")
}

/// Checks a cron's heartbeat timeout (the longest silence of a running run), in milliseconds:
/// greater than 0, at most [`SCHEDULE_DURATION_MAX_MS`] (30 days). The field is
/// `heartbeatTimeoutMs`.
pub fn heartbeat_timeout_ms(ms: i64) -> Result {
    positive("heartbeatTimeoutMs", ms)?;
    at_most(
        "heartbeatTimeoutMs",
        ms,
        SCHEDULE_DURATION_MAX_MS,
        "30 days",
    )
}

/// Checks how long a run ran, in milliseconds: 0 to [`RUN_DURATION_MAX_MS`] (366 days). The
/// field is `durationMs`.
///
/// ```
/// assert!(cronmon_rules::run_duration_ms(0).is_ok());
/// assert!(cronmon_rules::run_duration_ms(-1).is_err());
/// assert!(cronmon_rules::run_duration_ms(i64::MAX - 1).is_err());
/// ```
pub fn run_duration_ms(ms: i64) -> Result {
    non_negative("durationMs", ms)?;
    at_most("durationMs", ms, RUN_DURATION_MAX_MS, "366 days")
}

/// Checks a duration that must be greater than 0 (such as how long a job waits for its runs
/// to be delivered before it exits), in milliseconds.
pub fn positive_ms(field: &'static str, ms: i64) -> Result {
    positive(field, ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_text() {
        assert_eq!(parse_duration_ms("f", "500ms"), Ok(500));
        assert_eq!(parse_duration_ms("f", "2h 15min"), Ok(8_100_000));
        assert_eq!(parse_duration_ms("f", " 1d "), Ok(86_400_000));
        assert_eq!(parse_duration_ms("f", "1500us"), Ok(1));
        for bad in ["", "forever", "five minutes", "5", "-5m", "5 parsecs"] {
            let e = parse_duration_ms("timeoutMs", bad).unwrap_err();
            assert_eq!(e.field, "timeoutMs", "{bad}");
            assert!(e.message.contains("\"1h30m\""), "{bad}: {e}");
        }
        let e = parse_duration_ms("f", "300000000y").unwrap_err();
        assert!(e.message.contains("too long"), "{e}");
    }

    #[test]
    fn bounds_of_the_settings() {
        assert_eq!(timeout_ms(0).unwrap_err().message, "must be greater than 0");
        assert!(timeout_ms(1).is_ok());
        assert_eq!(grace_ms(-1).unwrap_err().message, "cannot be negative");
        assert_eq!(
            heartbeat_timeout_ms(0).unwrap_err().field,
            "heartbeatTimeoutMs"
        );
        assert_eq!(
            positive_ms("flushTimeoutMs", 0).unwrap_err().field,
            "flushTimeoutMs"
        );
        for check in [timeout_ms, grace_ms, heartbeat_timeout_ms] {
            assert!(check(SCHEDULE_DURATION_MAX_MS).is_ok());
            let e = check(SCHEDULE_DURATION_MAX_MS + 1).unwrap_err();
            assert_eq!(e.message, "at most 2592000000 (30 days)");
        }
        assert!(run_duration_ms(RUN_DURATION_MAX_MS).is_ok());
        assert_eq!(
            run_duration_ms(RUN_DURATION_MAX_MS + 1).unwrap_err().field,
            "durationMs"
        );
    }
}
