//! Where the core applies the rules of [`cronmon_rules`] to what it is asked to store: a
//! refused value becomes [`Error::InvalidField`] naming the field as the HTTP API does.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::model::{Event, Finish, Heartbeat, ScheduleUpdate, Start, Status};
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
    pub fn validate(&self) -> Result<()> {
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
            rules::threshold("failureThreshold", n.into())?;
        }
        if let Some(n) = self.recovery_threshold {
            rules::threshold("recoveryThreshold", n.into())?;
        }
        if let Some(k) = self.anomaly_factor {
            rules::anomaly_factor(k)?;
        }
        if let Some(ms) = self.min_duration_ms {
            rules::run_duration_ms(ms)
                .map_err(|e| rules::RuleError::new("minDurationMs", e.message))?;
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

impl Start {
    /// Checks the start against cronmon's limits, `now` being the checker's clock: its times
    /// within a day ahead and ten years back ([`rules::sent_time`]), the pid at least 1, the
    /// host, boot id and version short and free of NUL ([`rules::short_text`]).
    ///
    /// Every store runs it before it writes, and the HTTP API before it answers, so both refuse
    /// the same starts with the same [`Error::InvalidField`].
    ///
    /// ```
    /// use chrono::{TimeDelta, Utc};
    /// use cronmon_core::{CronName, Error, Start};
    ///
    /// let mut start = Start::now(CronName::new("nightly").unwrap());
    /// assert!(start.validate(Utc::now()).is_ok());
    /// start.started_at += TimeDelta::days(400);
    /// assert!(matches!(
    ///     start.validate(Utc::now()),
    ///     Err(Error::InvalidField { field: "startedAt", .. })
    /// ));
    /// ```
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        rules::sent_time("startedAt", self.started_at, now)?;
        if let Some(t) = self.scheduled_for {
            rules::sent_time("scheduledFor", t, now)?;
        }
        if let Some(pid) = self.pid {
            rules::pid(pid)?;
        }
        for (field, text) in self.short_texts() {
            if let Some(text) = text {
                rules::short_text(field, text)?;
            }
        }
        Ok(())
    }

    fn short_texts(&self) -> [(&'static str, Option<&String>); 3] {
        [
            ("host", self.host.as_ref()),
            ("bootId", self.boot_id.as_ref()),
            ("version", self.version.as_ref()),
        ]
    }
}

impl Finish {
    /// Checks the finish against cronmon's limits, `now` being the checker's clock: a status
    /// that ends a run, `completedAt` within a day ahead and ten years back and not more than a
    /// day before the start it carries, `durationMs` 0 to 366 days, `cpuMs` and `maxRssKb`
    /// within [`rules::cpu_ms`] and [`rules::max_rss_kb`], and the start it carries
    /// ([`Start::validate`]). Texts are not refused: [`Finish::sanitize`] makes them fit.
    ///
    /// Every store runs it before it writes, and the HTTP API before it answers.
    ///
    /// ```
    /// use chrono::Utc;
    /// use cronmon_core::{Error, Finish, Status};
    ///
    /// let mut finish = Finish::now(uuid::Uuid::now_v7(), Status::Completed);
    /// assert!(finish.validate(Utc::now()).is_ok());
    /// finish.duration_ms = Some(i64::MAX - 1);
    /// assert!(matches!(
    ///     finish.validate(Utc::now()),
    ///     Err(Error::InvalidField { field: "durationMs", .. })
    /// ));
    /// ```
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        if self.status == Status::Running {
            return Err(Error::InvalidField {
                field: "status",
                message: "a finished run is `completed` or `failed`, not `running`".into(),
            });
        }
        rules::sent_time("completedAt", self.completed_at, now)?;
        if let Some(d) = self.duration_ms {
            rules::run_duration_ms(d)?;
        }
        if let Some(ms) = self.cpu_ms {
            rules::cpu_ms(ms)?;
        }
        if let Some(kb) = self.max_rss_kb {
            rules::max_rss_kb(kb)?;
        }
        if let Some(start) = &self.start {
            start.validate(now)?;
            rules::completed_after_start(self.completed_at, start.started_at)?;
        }
        Ok(())
    }
}

impl Heartbeat {
    /// Checks the heartbeat against cronmon's limits, `now` being the checker's clock: its
    /// time (field `at`) within a day ahead and ten years back, `done` and `total` from 0 to
    /// 10^15 ([`rules::progress`]).
    ///
    /// ```
    /// use chrono::Utc;
    /// use cronmon_core::{Error, Heartbeat};
    ///
    /// let beat = Heartbeat { id: uuid::Uuid::now_v7(), at: Utc::now(), done: Some(-1), total: None };
    /// assert!(matches!(beat.validate(Utc::now()), Err(Error::InvalidField { field: "done", .. })));
    /// ```
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        rules::sent_time("at", self.at, now)?;
        if let Some(done) = self.done {
            rules::progress("done", done)?;
        }
        if let Some(total) = self.total {
            rules::progress("total", total)?;
        }
        Ok(())
    }
}

impl Event {
    /// Checks the event against cronmon's limits ([`Start::validate`], [`Finish::validate`],
    /// [`Heartbeat::validate`]), `now` being the checker's clock.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        match self {
            Event::Start(s) => s.validate(now),
            Event::Finish(f) => f.validate(now),
            Event::Heartbeat(h) => h.validate(now),
            Event::Batch(b) => b.validate(now),
        }
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
            recovery_threshold: Some(100),
            anomaly_factor: Some(1.5),
            min_duration_ms: Some(0),
            anomaly_incidents: Some(true),
        };
        assert_eq!(field_of(fine), None);
    }
}
