//! Where the core applies the rules of [`cronmon_rules`] to what it is asked to store: a
//! refused value becomes [`Error::InvalidField`] naming the field as the HTTP API does.

use crate::error::Error;
use crate::model::ScheduleUpdate;
use crate::rules::{self, RuleError};

impl From<RuleError> for Error {
    fn from(e: RuleError) -> Self {
        Error::InvalidField {
            field: e.field,
            message: e.message,
        }
    }
}

impl ScheduleUpdate {
    /// Checks every setting given against cronmon's rules: the cron expression
    /// ([`rules::cron_expression`]), the time zone ([`rules::timezone`]), the durations
    /// ([`rules::timeout_ms`], [`rules::heartbeat_timeout_ms`], [`rules::grace_ms`]), the
    /// thresholds (greater than 0) and the display name ([`rules::display_name`]).
    ///
    /// Every store runs it before it writes a schedule, so a monitor writing straight to the
    /// database refuses what the HTTP API refuses; the API runs it before it answers.
    ///
    /// ```
    /// use cronmon_core::{Error, ScheduleUpdate};
    ///
    /// let ok = ScheduleUpdate {
    ///     cron_expression: Some("*/5 * * * *".into()),
    ///     timezone: Some("Europe/Paris".into()),
    ///     ..ScheduleUpdate::default()
    /// };
    /// assert!(ok.validate().is_ok());
    ///
    /// let bad = ScheduleUpdate {
    ///     cron_expression: Some("61 * * * *".into()),
    ///     ..ScheduleUpdate::default()
    /// };
    /// assert!(matches!(
    ///     bad.validate(),
    ///     Err(Error::InvalidField { field: "cronExpression", .. })
    /// ));
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(e) = &self.cron_expression {
            rules::cron_expression(e)?;
        }
        if let Some(tz) = &self.timezone {
            rules::timezone(tz)?;
        }
        if let Some(ms) = self.timeout_ms {
            rules::timeout_ms(ms)?;
        }
        if let Some(ms) = self.heartbeat_timeout_ms {
            rules::heartbeat_timeout_ms(ms)?;
        }
        if let Some(n) = self.failure_threshold {
            rules::positive("failureThreshold", n.into())?;
        }
        if let Some(n) = self.recovery_threshold {
            rules::positive("recoveryThreshold", n.into())?;
        }
        if let Some(ms) = self.grace_ms {
            rules::grace_ms(ms)?;
        }
        if let Some(name) = &self.display_name {
            rules::display_name(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(u: ScheduleUpdate) -> Option<&'static str> {
        match u.validate() {
            Err(Error::InvalidField { field, .. }) => Some(field),
            Ok(()) => None,
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn each_setting_names_its_field() {
        assert_eq!(field_of(ScheduleUpdate::default()), None);
        let u = ScheduleUpdate::default;
        let cases = [
            (
                ScheduleUpdate {
                    cron_expression: Some("61 * * * *".into()),
                    ..u()
                },
                "cronExpression",
            ),
            (
                ScheduleUpdate {
                    timezone: Some("Mars/Base".into()),
                    ..u()
                },
                "timezone",
            ),
            (
                ScheduleUpdate {
                    timeout_ms: Some(0),
                    ..u()
                },
                "timeoutMs",
            ),
            (
                ScheduleUpdate {
                    heartbeat_timeout_ms: Some(-1),
                    ..u()
                },
                "heartbeatTimeoutMs",
            ),
            (
                ScheduleUpdate {
                    failure_threshold: Some(0),
                    ..u()
                },
                "failureThreshold",
            ),
            (
                ScheduleUpdate {
                    recovery_threshold: Some(0),
                    ..u()
                },
                "recoveryThreshold",
            ),
            (
                ScheduleUpdate {
                    grace_ms: Some(-1),
                    ..u()
                },
                "graceMs",
            ),
            (
                ScheduleUpdate {
                    display_name: Some("x".repeat(257)),
                    ..u()
                },
                "displayName",
            ),
        ];
        for (update, field) in cases {
            assert_eq!(field_of(update), Some(field));
        }
        let fine = ScheduleUpdate {
            display_name: Some("Nightly".into()),
            cron_expression: Some("@daily".into()),
            timezone: Some("UTC".into()),
            is_enabled: Some(true),
            timeout_ms: Some(1),
            grace_ms: Some(0),
            heartbeat_timeout_ms: Some(1),
            failure_threshold: Some(1),
            recovery_threshold: Some(1),
        };
        assert_eq!(field_of(fine), None);
    }
}
