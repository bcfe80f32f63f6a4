//! Notifications: channels, and an outbox delivered at least once to each, deduplicated by a
//! key the receiver sees.
//!
//! A [`Channel`] says where messages go (a webhook, Slack, Discord, Teams, ntfy or email, its
//! [`ChannelSettings`]) and which ones it wants ([`NotifyOn`], cron name patterns). The
//! database writes one outbox row per notification and channel **in the transaction that
//! records what it is about** (an incident opening or resolving, a failed run, a missed slot,
//! a flagged duration): triggers match the channels, so nothing is decided in a process that
//! could die in between. A row's id is its idempotency key, the same on every retry.
//!
//! The [`Notifier`] (feature `notify`) claims due rows (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, a conditional update on SQLite, each claim a lease that a crash lets expire),
//! sends them, and marks them delivered only once the receiver accepted them; failures retry
//! with exponential backoff and jitter up to a bound, then are given up with their last error.
//! Several server instances on one database deliver each row once.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::text_enum;

mod channel;
mod message;
#[cfg(feature = "notify")]
mod notifier;
#[cfg(feature = "notify")]
mod send;

pub use channel::{
    CHANNEL_CRONS_MAX, CHANNEL_NAME_MAX_CHARS, Channel, ChannelSettings, ChannelSource,
    EMAIL_RECIPIENTS_MAX, MUTE_MAX_MS, REPEAT_MAX_MS, REPEAT_MIN_MS, SmtpTls, channel_name,
};
pub(crate) use channel::{glob_to_like, glob_to_sqlite};
pub use message::{Message, MessageIncident, MessageRun, WEBHOOK_SCHEMA};
#[cfg(feature = "notify")]
pub use notifier::{Notifier, NotifierConfig, NotifierReport};
#[cfg(feature = "notify")]
pub use send::{SendError, Sender, Sent, sign};

text_enum!(
    /// The kinds of channel.
    ChannelKind, "kind" {
        /// A generic webhook: the versioned JSON body, signed with HMAC-SHA256.
        Webhook = "webhook",
        /// A Slack incoming webhook.
        Slack = "slack",
        /// A Discord webhook.
        Discord = "discord",
        /// A Microsoft Teams workflow webhook (an Adaptive Card).
        Teams = "teams",
        /// An ntfy topic.
        Ntfy = "ntfy",
        /// Email over SMTP.
        Email = "email",
    }
);

text_enum!(
    /// What a channel is sent: incident openings and resolutions (the default), and, for a
    /// channel that asks, every failed run, missed slot, stuck run or flagged duration.
    NotifyOn, "on" {
        /// An incident opened (a cron crossed its failure threshold). Reminders of an incident
        /// still open and the summary after cronmon's own downtime come with it.
        Opened = "opened",
        /// An incident resolved.
        Resolved = "resolved",
        /// Each failed run (not missed slots), as it is recorded.
        FailedRun = "failed_run",
        /// Each slot nobody started, as the sweeper records it.
        Missed = "missed",
        /// Each run found past its max runtime or heartbeat timeout.
        Stuck = "stuck",
        /// Each run whose duration was flagged unusual.
        Anomaly = "anomaly",
    }
);

impl NotifyOn {
    /// The bit of this value in a channel's stored mask (the triggers test it).
    pub fn bit(self) -> i32 {
        match self {
            NotifyOn::Opened => 1,
            NotifyOn::Resolved => 2,
            NotifyOn::FailedRun => 4,
            NotifyOn::Missed => 8,
            NotifyOn::Stuck => 16,
            NotifyOn::Anomaly => 32,
        }
    }

    /// The stored mask of a list.
    pub fn mask(on: &[NotifyOn]) -> i32 {
        on.iter().fold(0, |m, o| m | o.bit())
    }

    /// The list a stored mask stands for, in declaration order.
    pub fn from_mask(mask: i32) -> Vec<NotifyOn> {
        NotifyOn::ALL
            .iter()
            .copied()
            .filter(|o| mask & o.bit() != 0)
            .collect()
    }

    /// What a channel is sent unless told: openings and resolutions.
    pub fn defaults() -> Vec<NotifyOn> {
        vec![NotifyOn::Opened, NotifyOn::Resolved]
    }
}

text_enum!(
    /// What a notification is about.
    NotificationKind, "kind" {
        /// An incident opened.
        IncidentOpened = "incident_opened",
        /// An incident resolved.
        IncidentResolved = "incident_resolved",
        /// An incident is still open (a channel's `repeatEvery`).
        IncidentReminder = "incident_reminder",
        /// What opened while cronmon itself was down, in one message.
        OutageSummary = "outage_summary",
        /// A run failed.
        FailedRun = "failed_run",
        /// A slot passed with no start.
        Missed = "missed",
        /// A run is past its limits, still running.
        Stuck = "stuck",
        /// A run's duration was flagged unusual.
        Anomaly = "anomaly",
        /// Sent by `POST /channels/{name}/test`.
        Test = "test",
    }
);

text_enum!(
    /// Where a notification is in its delivery.
    NotificationStatus, "status" {
        /// Waiting for its (next) attempt.
        Pending = "pending",
        /// Claimed by a notifier, being sent.
        Sending = "sending",
        /// The receiver accepted it.
        Delivered = "delivered",
        /// Every attempt failed; the last error is kept.
        GivenUp = "given_up",
        /// Not sent: its channel was muted when it was due.
        Muted = "muted",
    }
);

/// One notification to one channel, as `GET /notifications` lists it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// Notification id: the idempotency key the receiver sees, the same on every attempt.
    pub id: Uuid,
    /// The channel.
    pub channel: String,
    /// What it is about.
    pub kind: NotificationKind,
    /// The cron (none for a summary or a test).
    pub cron_name: Option<String>,
    /// The incident it is about.
    pub incident_id: Option<Uuid>,
    /// The run it is about.
    pub execution_id: Option<Uuid>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Where it is.
    pub status: NotificationStatus,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due (pending ones).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the receiver accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The receiver's last HTTP status (or SMTP reply code).
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// Which notifications to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotificationFilter {
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this status.
    pub status: Option<NotificationStatus>,
    /// Only about this cron.
    pub cron_name: Option<String>,
}

/// A notification a notifier claimed: what it needs to send it, and the claim that lets it
/// record the outcome (a lease: if the notifier dies, the row is claimed again once it ends).
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The row.
    pub notification: Notification,
    /// This claim (the outcome is recorded only under it).
    pub claim: Uuid,
    /// The incident event it came from (a summary's details are there).
    pub incident_event_id: Option<i64>,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The receiver accepted it.
    Delivered {
        /// When.
        at: DateTime<Utc>,
        /// Its status code.
        status: Option<i32>,
    },
    /// It failed; try again at `retry_at`, or never (`None`: given up).
    Failed {
        /// When.
        at: DateTime<Utc>,
        /// The next attempt; none gives the notification up.
        retry_at: Option<DateTime<Utc>>,
        /// The receiver's status code, if it answered.
        status: Option<i32>,
        /// Why.
        error: String,
    },
    /// Not sent: its channel is muted.
    Muted,
}

/// A channel's delivery health, as the API and the dashboard show it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelHealth {
    /// Failed attempts since the last delivery.
    pub consecutive_failures: i32,
    /// Failing since (the first failure after the last delivery).
    pub failing_since: Option<DateTime<Utc>>,
    /// The last failure.
    pub last_error: Option<String>,
    /// The last delivery.
    pub last_delivered_at: Option<DateTime<Utc>>,
}

impl ChannelHealth {
    /// Failed attempts in a row past which a channel shows as failing.
    pub const FAILING_AFTER: i32 = 3;

    /// Whether the channel shows as failing.
    pub fn is_failing(&self) -> bool {
        self.consecutive_failures >= Self::FAILING_AFTER
    }
}

/// Refuses a field with a message.
pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidField {
        field,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_round_trip() {
        for on in NotifyOn::ALL {
            assert_eq!(NotifyOn::from_mask(on.bit()), vec![*on]);
        }
        let all = NotifyOn::mask(NotifyOn::ALL);
        assert_eq!(NotifyOn::from_mask(all), NotifyOn::ALL.to_vec());
        assert_eq!(NotifyOn::mask(&NotifyOn::defaults()), 3);
    }

    #[test]
    fn failing_after_three() {
        let mut h = ChannelHealth::default();
        assert!(!h.is_failing());
        h.consecutive_failures = 3;
        assert!(h.is_failing());
    }
}
