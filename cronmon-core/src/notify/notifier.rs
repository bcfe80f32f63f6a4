//! The delivery loop: claim due notifications, send each, record what happened.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::task::JoinSet;

use super::send::{SendError, Sender};
use super::{Attempt, Channel, Claimed, Message, NotificationKind};
use crate::Store;
use crate::error::Result;

/// How the [`Notifier`] delivers.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// How often it looks for due notifications (default 1 s).
    pub poll: Duration,
    /// Most notifications claimed (and sent at once) a round (default 32).
    pub batch: u32,
    /// Longest one send may take, connection included (default 10 s).
    pub timeout: Duration,
    /// How long a claim holds: a notifier that dies mid-send leaves its rows to others (or to
    /// itself after a restart) once it ends. At least twice `timeout` (default 60 s).
    pub lease: Duration,
    /// Wait before the first retry; doubled each attempt, with ±20 % jitter (default 30 s).
    pub retry_base: Duration,
    /// Longest wait between attempts (default 1 h).
    pub retry_max: Duration,
    /// Attempts before a notification is given up (default 10: about 8 hours of retries).
    pub max_attempts: u32,
    /// Where the dashboard is served, for links in messages.
    pub public_url: Option<url::Url>,
    /// How often reminders and stuck-run notifications are written (default 10 s).
    pub enqueue_every: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            poll: Duration::from_secs(1),
            batch: 32,
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            max_attempts: 10,
            public_url: None,
            enqueue_every: Duration::from_secs(10),
        }
    }
}

impl NotifierConfig {
    /// Most attempts a notification may be given.
    pub const MAX_ATTEMPTS_MAX: u32 = 100;

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<()> {
        let refuse = |field: &'static str, message: &str| Err(super::invalid(field, message));
        if self.poll.is_zero() || self.poll > Duration::from_secs(3600) {
            return refuse("poll", "is more than 0 and at most 1 h");
        }
        if self.batch == 0 || self.batch > 1000 {
            return refuse("batch", "is 1 to 1000");
        }
        if self.timeout < Duration::from_millis(10) || self.timeout > Duration::from_secs(300) {
            return refuse("timeout", "is 10 ms to 5 min");
        }
        if self.lease < self.timeout * 2 || self.lease > Duration::from_secs(86_400) {
            return refuse("lease", "is at least twice the timeout, and at most a day");
        }
        if self.retry_base.is_zero() || self.retry_base > self.retry_max {
            return refuse("retryBase", "is more than 0 and at most the longest wait");
        }
        if self.retry_max > Duration::from_secs(7 * 86_400) {
            return refuse("retryMax", "is at most 7 days");
        }
        if self.max_attempts == 0 || self.max_attempts > Self::MAX_ATTEMPTS_MAX {
            return refuse("maxAttempts", "is 1 to 100");
        }
        if self.enqueue_every.is_zero() {
            return refuse("enqueueEvery", "is more than 0");
        }
        Ok(())
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifierReport {
    /// Reminders and stuck-run notifications written.
    pub enqueued: u64,
    /// Notifications claimed.
    pub claimed: usize,
    /// Accepted by their receiver.
    pub delivered: usize,
    /// Failed, to be retried.
    pub retrying: usize,
    /// Failed for the last time.
    pub given_up: usize,
    /// Not sent: their channel is muted.
    pub muted: usize,
}

/// Delivers the outbox: each round claims due notifications, sends them concurrently (each
/// bounded by the timeout, so a slow receiver delays nobody else), and records each outcome
/// under its claim. Any number of notifiers may share a database.
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<dyn cronmon_core::Store>) -> cronmon_core::Result<()> {
/// use cronmon_core::notify::{Notifier, NotifierConfig};
/// let notifier = Notifier::new(store, NotifierConfig::default())?;
/// notifier.run(async { tokio::signal::ctrl_c().await.ok(); }).await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Notifier {
    store: Arc<dyn Store>,
    sender: Sender,
    config: Arc<NotifierConfig>,
}

impl Notifier {
    /// A notifier over `store`.
    pub fn new(store: Arc<dyn Store>, config: NotifierConfig) -> Result<Self> {
        config.validate()?;
        let sender = Sender::new(config.timeout)?;
        Ok(Notifier {
            store,
            sender,
            config: Arc::new(config),
        })
    }

    /// Its sender (for a test notification sent right away).
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// One round at `now`: writes what time made due (when `enqueue` is set), claims, sends,
    /// records.
    pub async fn round(&self, now: DateTime<Utc>) -> Result<NotifierReport> {
        self.round_with(now, true).await
    }

    async fn round_with(&self, now: DateTime<Utc>, enqueue: bool) -> Result<NotifierReport> {
        let mut report = NotifierReport::default();
        if enqueue {
            report.enqueued = self.store.enqueue_due_notifications(now).await?;
        }
        let claimed = self
            .store
            .claim_notifications(now, self.config.lease, self.config.batch)
            .await?;
        report.claimed = claimed.len();
        if claimed.is_empty() {
            return Ok(report);
        }
        let channels: HashMap<String, Channel> = self
            .store
            .channels()
            .await?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        let mut sends = JoinSet::new();
        for c in claimed {
            let channel = channels.get(&c.notification.channel).cloned();
            let this = self.clone();
            sends.spawn(async move {
                let attempt = this.attempt(&c, channel.as_ref(), now).await;
                let recorded = this.store.record_attempt(&c, &attempt).await;
                (c, attempt, recorded)
            });
        }
        while let Some(done) = sends.join_next().await {
            let Ok((c, attempt, recorded)) = done else {
                continue;
            };
            match recorded {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(notification = %c.notification.id, "claim lost before the outcome was recorded");
                    continue;
                }
                Err(e) => {
                    // The row stays claimed: once the lease ends it is sent again, with the
                    // same idempotency key.
                    tracing::warn!(notification = %c.notification.id, error = %e, "outcome not recorded");
                    continue;
                }
            }
            match attempt {
                Attempt::Delivered { .. } => report.delivered += 1,
                Attempt::Failed {
                    retry_at: Some(_), ..
                } => report.retrying += 1,
                Attempt::Failed { retry_at: None, .. } => report.given_up += 1,
                Attempt::Muted => report.muted += 1,
            }
        }
        Ok(report)
    }

    async fn attempt(&self, c: &Claimed, channel: Option<&Channel>, now: DateTime<Utc>) -> Attempt {
        let n = &c.notification;
        let Some(channel) = channel else {
            return Attempt::Failed {
                at: now,
                retry_at: None,
                status: None,
                error: format!("channel `{}` is gone or unreadable", n.channel),
            };
        };
        if channel.muted_until.is_some_and(|until| until > now) {
            return Attempt::Muted;
        }
        let message = match self.message(c).await {
            Ok(m) => m,
            Err(e) => return self.failed(c, now, None, format!("reading the notification: {e}")),
        };
        match self.sender.send(channel, &message).await {
            Ok(sent) => Attempt::Delivered {
                at: Utc::now(),
                status: sent.status,
            },
            Err(e) => {
                tracing::warn!(notification = %n.id, channel = %n.channel, attempt = n.attempts, error = %e, "notification not delivered");
                self.failed_send(c, &e)
            }
        }
    }

    fn failed_send(&self, c: &Claimed, e: &SendError) -> Attempt {
        let now = Utc::now();
        let mut attempt = self.failed(c, now, e.status, e.message.clone());
        if let (
            Attempt::Failed {
                retry_at: Some(retry),
                ..
            },
            Some(after),
        ) = (&mut attempt, e.retry_after)
        {
            let asked = now + to_delta(after.min(self.config.retry_max));
            if asked > *retry {
                *retry = asked;
            }
        }
        attempt
    }

    /// A failure: retried after the backoff of its attempt number, or given up after the last.
    fn failed(
        &self,
        c: &Claimed,
        now: DateTime<Utc>,
        status: Option<i32>,
        error: String,
    ) -> Attempt {
        let attempts = u32::try_from(c.notification.attempts.max(1)).unwrap_or(u32::MAX);
        let retry_at = (attempts < self.config.max_attempts)
            .then(|| now + to_delta(backoff(&self.config, attempts)));
        Attempt::Failed {
            at: now,
            retry_at,
            status,
            error,
        }
    }

    /// The message of a claimed notification, from its incident, run or summary as stored now.
    async fn message(&self, c: &Claimed) -> Result<Message> {
        let n = &c.notification;
        let incident = match n.incident_id {
            Some(id) => self.store.incident(id).await?,
            None => None,
        };
        let run_id = n.execution_id.or_else(|| {
            incident.as_ref().and_then(|i| match n.kind {
                NotificationKind::IncidentResolved => i.resolving_execution_id,
                _ => i.opening_execution_id,
            })
        });
        let run = match run_id {
            Some(id) => self.store.execution(id).await?,
            None => None,
        };
        let outage = match (n.kind, c.incident_event_id) {
            (NotificationKind::OutageSummary, Some(event)) => self
                .store
                .incident_events(event - 1, 1)
                .await?
                .into_iter()
                .find(|e| e.id == event)
                .and_then(|e| e.details),
            _ => None,
        };
        Ok(Message::new(
            n,
            incident.as_ref(),
            run.as_ref(),
            outage,
            self.config.public_url.as_ref(),
        ))
    }

    /// Runs rounds every `poll` until `shutdown` completes. A round that fails (the database
    /// is down) is logged and the next one tries again.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_enqueue: Option<tokio::time::Instant> = None;
        loop {
            let enqueue = last_enqueue.is_none_or(|t| t.elapsed() >= self.config.enqueue_every);
            if enqueue {
                last_enqueue = Some(tokio::time::Instant::now());
            }
            let round = self.round_with(Utc::now(), enqueue);
            let report = tokio::select! {
                r = round => r,
                () = &mut shutdown => return,
            };
            let busy = match report {
                Ok(r) => {
                    if r.claimed > 0 {
                        tracing::info!(
                            delivered = r.delivered,
                            retrying = r.retrying,
                            given_up = r.given_up,
                            muted = r.muted,
                            "notifications"
                        );
                    }
                    // A full batch: more may be due now.
                    r.claimed >= self.config.batch as usize
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notification round failed");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.poll) => {}
                () = &mut shutdown => return,
            }
        }
    }
}

/// The wait after failed attempt number `attempt` (1-based): `retry_base` × 2^(attempt−1),
/// at most `retry_max`, with ±20 % jitter so a receiver that comes back is not hit by every
/// retry at once.
fn backoff(config: &NotifierConfig, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let base = config
        .retry_base
        .saturating_mul(1u32 << exp)
        .min(config.retry_max);
    let jitter = 0.8 + fastrand::f64() * 0.4;
    base.mul_f64(jitter).min(config.retry_max)
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds() {
        let c = NotifierConfig {
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(100),
            ..NotifierConfig::default()
        };
        for _ in 0..50 {
            let first = backoff(&c, 1);
            assert!(
                first >= Duration::from_secs(8) && first <= Duration::from_secs(12),
                "{first:?}"
            );
            let third = backoff(&c, 3);
            assert!(
                third >= Duration::from_secs(32) && third <= Duration::from_secs(48),
                "{third:?}"
            );
            assert!(backoff(&c, 40) <= Duration::from_secs(100));
        }
    }

    #[test]
    fn config_is_checked() {
        assert!(NotifierConfig::default().validate().is_ok());
        let short_lease = NotifierConfig {
            lease: Duration::from_secs(5),
            ..NotifierConfig::default()
        };
        assert!(short_lease.validate().is_err());
        let no_attempts = NotifierConfig {
            max_attempts: 0,
            ..NotifierConfig::default()
        };
        assert!(no_attempts.validate().is_err());
    }
}
