//! The validation rules of cronmon, each written once: cron names, cron expressions with
//! their time zone, durations, and the limits on numbers and text.
//!
//! Three places apply them: `cronmon-core` before it stores anything (it re-exports this crate
//! as `cronmon_core::rules`), the HTTP API on every request, and the `#[tracked_cron]`
//! attribute at compile time. The attribute is a proc-macro crate, which cannot depend on
//! `cronmon-core` without building sqlx, tokio and the database drivers a second time, for the
//! compiler, in every build that uses the attribute; so the rules live here, in a crate with
//! no dependency beyond what they need: `croner` for cron expressions, `chrono-tz` for time zones,
//! `humantime` for durations and `chrono` for times.
//!
//! Every check answers a [`RuleError`] naming the field as the HTTP API names it
//! (`cronExpression`, `timeoutMs`, …) and saying what is wrong.
//!
//! ```
//! use cronmon_rules as rules;
//!
//! assert!(rules::cron_name("nightly-report").is_ok());
//! assert!(rules::cron_expression("*/5 * * * *").is_ok());
//! let e = rules::cron_expression("61 * * * *").unwrap_err();
//! assert_eq!(e.field, "cronExpression");
//! assert_eq!(rules::parse_duration_ms("timeoutMs", "1h30m"), Ok(5_400_000));
//! ```

#![warn(missing_docs)]

mod cron;
mod duration;
pub mod limits;
mod name;
mod numbers;
mod slots;

use std::fmt;

pub use cron::{cron_expression, next_run_at, timezone};
pub use duration::{
    grace_ms, heartbeat_timeout_ms, parse_duration_ms, positive_ms, run_duration_ms, timeout_ms,
};
pub use name::cron_name;
pub use numbers::{
    anomaly_factor, completed_after_start, cpu_ms, display_name, maintenance_duration_ms,
    max_rss_kb, non_negative, page, pause_until, pid, positive, progress, sent_time, short_text,
    stats_hours, threshold, year,
};
pub use slots::{CappedSlots, CronSchedule, Slots, slot_for_start, slots_between};

/// A value a rule refuses: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The field, as the HTTP API names it (`cronName`, `cronExpression`, `timeoutMs`, …).
    pub field: &'static str,
    /// What is wrong with the value, for people (without the field name).
    pub message: String,
}

impl RuleError {
    /// A refusal of `field` because of `message`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for RuleError {}

/// What every rule answers.
pub type Result<T = (), E = RuleError> = std::result::Result<T, E>;
