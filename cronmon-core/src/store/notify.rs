//! The statements of notifications (see [`crate::notify`]): channels and the outbox, the same
//! on both databases, and the operations built from them. The outbox rows themselves are
//! written by triggers (migration 0005) in the transactions that record what they are about;
//! what is written here is what only time makes due (reminders, stuck runs) and the claims.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::sql::Dialect;
use crate::notify::{
    Channel, ChannelHealth, ChannelSettings, ChannelSource, Notification, NotificationKind,
    NotificationStatus, NotifyOn,
};

/// The statements, built for one [`Dialect`].
#[derive(Debug)]
pub(super) struct NotifySql {
    pub(super) channels: String,
    pub(super) channel: String,
    pub(super) channel_upsert: String,
    pub(super) channel_delete: String,
    pub(super) patterns_clear: String,
    pub(super) pattern_insert: String,
    pub(super) config_channels: String,
    pub(super) enqueue_reminders: String,
    pub(super) enqueue_stuck: String,
    pub(super) claim: String,
    pub(super) finish: String,
    pub(super) channel_delivered: String,
    pub(super) channel_failed: String,
    pub(super) notifications_select: String,
    pub(super) notifications_count: String,
    pub(super) notification_by_id: String,
}

const CHANNEL_COLUMNS: &str = "name, CAST(settings AS TEXT) AS settings, on_mask, \
CAST(crons AS TEXT) AS crons, repeat_every_ms, muted_until, source, consecutive_failures, \
failing_since, last_error, last_delivered_at";

const NOTIFICATION_COLUMNS: &str = "id, channel, kind, cron_name, incident_id, execution_id, \
incident_event_id, created_at, status, attempts, due_ms, delivered_at, last_status, last_error";

impl NotifySql {
    pub(super) fn new<D: Dialect>() -> Self {
        let s = D::SCHEMA.map_or(String::new(), |schema| format!("{schema}."));
        let channels = format!("{s}notification_channels");
        let patterns = format!("{s}notification_channel_crons");
        let outbox = format!("{s}notifications");
        let incidents = format!("{s}incidents");
        let wants = |cron: &str| {
            format!(
                "(c.all_crons OR EXISTS (SELECT 1 FROM {patterns} p
                    WHERE p.channel = c.name AND {}))",
                D::matches(cron, "p.pattern")
            )
        };
        NotifySql {
            channels: format!("SELECT {CHANNEL_COLUMNS} FROM {channels} ORDER BY name"),
            channel: format!("SELECT {CHANNEL_COLUMNS} FROM {channels} WHERE name = $1"),
            channel_upsert: format!(
                "INSERT INTO {channels} (name, kind, settings, on_mask, crons, all_crons,
    repeat_every_ms, muted_until, source, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, settings = EXCLUDED.settings,
    on_mask = EXCLUDED.on_mask, crons = EXCLUDED.crons, all_crons = EXCLUDED.all_crons,
    repeat_every_ms = EXCLUDED.repeat_every_ms, muted_until = EXCLUDED.muted_until,
    source = EXCLUDED.source, updated_at = EXCLUDED.updated_at
RETURNING created_at = updated_at"
            ),
            channel_delete: format!("DELETE FROM {channels} WHERE name = $1"),
            patterns_clear: format!("DELETE FROM {patterns} WHERE channel = $1"),
            pattern_insert: format!(
                "INSERT INTO {patterns} (channel, pattern) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            ),
            config_channels: format!("SELECT name FROM {channels} WHERE source = 'config'"),
            // `$1` now (epoch ms), `$2` now. One reminder per elapsed period, its number in
            // the key, so any number of notifiers write it once.
            enqueue_reminders: format!(
                "INSERT INTO {outbox} (id, channel, dedup_key, kind, cron_name, incident_id,
    created_at, due_ms)
SELECT {new_id}, c.name,
       'reminder:' || {incident_id} || ':'
           || CAST(($1 - {opened_ms}) / c.repeat_every_ms AS TEXT),
       'incident_reminder', i.cron_name, i.id, $2, $1
FROM {incidents} i
JOIN {channels} c ON c.repeat_every_ms IS NOT NULL AND (c.on_mask & 1) <> 0
WHERE i.resolved_at IS NULL
  AND $1 - {opened_ms} >= c.repeat_every_ms
  AND {wants_incident}
ON CONFLICT (channel, dedup_key) DO NOTHING",
                new_id = D::NEW_UUID,
                incident_id = D::uuid_text("i.id"),
                opened_ms = D::epoch_ms("i.opened_at"),
                wants_incident = wants("i.cron_name"),
            ),
            enqueue_stuck: format!(
                "INSERT INTO {outbox} (id, channel, dedup_key, kind, cron_name, execution_id,
    created_at, due_ms)
SELECT {new_id}, c.name, 'run:' || {run_id} || ':stuck', 'stuck', r.cron_name,
       r.execution_id, $2, $1
FROM {stuck} r
JOIN {channels} c ON (c.on_mask & 16) <> 0
WHERE {wants_run}
ON CONFLICT (channel, dedup_key) DO NOTHING",
                new_id = D::NEW_UUID,
                run_id = D::uuid_text("r.execution_id"),
                stuck = D::stuck_runs(),
                wants_run = wants("r.cron_name"),
            ),
            // `$1` the claim, `$2` now (epoch ms), `$3` the lease's end, `$4` how many.
            claim: format!(
                "UPDATE {outbox} SET status = 'sending', claim = $1, attempts = attempts + 1,
    due_ms = $3
WHERE id IN (SELECT id FROM {outbox}
             WHERE status IN ('pending', 'sending') AND due_ms <= $2
             ORDER BY due_ms LIMIT $4{skip})
RETURNING {NOTIFICATION_COLUMNS}",
                skip = D::SKIP_LOCKED,
            ),
            // Only under the claim: a notifier whose lease ended (and whose row another one
            // claimed since) records nothing.
            finish: format!(
                "UPDATE {outbox} SET status = $3, claim = NULL, due_ms = $4, delivered_at = $5,
    last_status = $6, last_error = $7
WHERE id = $1 AND claim = $2"
            ),
            channel_delivered: format!(
                "UPDATE {channels} SET consecutive_failures = 0, failing_since = NULL,
    last_error = NULL, last_delivered_at = $2
WHERE name = $1"
            ),
            channel_failed: format!(
                "UPDATE {channels} SET consecutive_failures = consecutive_failures + 1,
    failing_since = coalesce(failing_since, $2), last_error = $3
WHERE name = $1"
            ),
            notifications_select: format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM {outbox} WHERE 1 = 1"
            ),
            notifications_count: format!("SELECT count(*) FROM {outbox} WHERE 1 = 1"),
            notification_by_id: format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM {outbox} WHERE id = $1"
            ),
        }
    }
}

/// A channel as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct ChannelRow {
    name: String,
    settings: String,
    on_mask: i32,
    crons: String,
    repeat_every_ms: Option<i64>,
    muted_until: Option<DateTime<Utc>>,
    source: String,
    consecutive_failures: i32,
    failing_since: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_delivered_at: Option<DateTime<Utc>>,
}

impl ChannelRow {
    /// The channel, or `None` for a row whose settings no longer decode (logged): one bad row
    /// hides itself, not every channel.
    pub(crate) fn into_channel(self) -> Option<Channel> {
        let settings: ChannelSettings = match serde_json::from_str(&self.settings) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(channel = %self.name, error = %e, "stored channel settings do not decode; skipped");
                return None;
            }
        };
        Some(Channel {
            name: self.name,
            settings,
            on: NotifyOn::from_mask(self.on_mask),
            crons: serde_json::from_str(&self.crons).unwrap_or_default(),
            repeat_every_ms: self.repeat_every_ms,
            muted_until: self.muted_until,
            source: self.source.parse().unwrap_or(ChannelSource::Api),
            health: ChannelHealth {
                consecutive_failures: self.consecutive_failures,
                failing_since: self.failing_since,
                last_error: self.last_error,
                last_delivered_at: self.last_delivered_at,
            },
        })
    }
}

/// A notification as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct NotificationRow {
    id: Uuid,
    channel: String,
    #[sqlx(try_from = "String")]
    kind: NotificationKind,
    cron_name: Option<String>,
    incident_id: Option<Uuid>,
    execution_id: Option<Uuid>,
    pub(crate) incident_event_id: Option<i64>,
    created_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    status: NotificationStatus,
    attempts: i32,
    due_ms: i64,
    delivered_at: Option<DateTime<Utc>>,
    last_status: Option<i32>,
    last_error: Option<String>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        let next_attempt_at = match r.status {
            NotificationStatus::Pending | NotificationStatus::Sending => {
                DateTime::from_timestamp_millis(r.due_ms)
            }
            _ => None,
        };
        Notification {
            id: r.id,
            channel: r.channel,
            kind: r.kind,
            cron_name: r.cron_name,
            incident_id: r.incident_id,
            execution_id: r.execution_id,
            created_at: r.created_at,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at,
            delivered_at: r.delivered_at,
            last_status: r.last_status,
            last_error: r.last_error,
        }
    }
}

/// Notification operations, written once for each pool type.
macro_rules! notify_ops {
    ($Db:ty, $sql:path, $dialect:ty) => {
        mod notify_ops {
            use std::time::Duration;

            use chrono::{DateTime, Utc};
            use uuid::Uuid;

            use $crate::error::Result;
            use $crate::model::{Page, PageRequest};
            use $crate::notify::{
                Attempt, Channel, ChannelSource, Claimed, Notification, NotificationFilter,
                NotificationStatus, NotifyOn,
            };
            use $crate::store::db::Db as _;
            use $crate::store::notify::{ChannelRow, NotificationRow};
            use $crate::store::sql::Dialect as _;

            type Pool = sqlx::Pool<$Db>;

            pub(crate) async fn channels(pool: &Pool) -> Result<Vec<Channel>> {
                let rows: Vec<ChannelRow> = sqlx::query_as($sql.channels.as_str())
                    .fetch_all(pool)
                    .await
                    .db()?;
                Ok(rows
                    .into_iter()
                    .filter_map(ChannelRow::into_channel)
                    .collect())
            }

            pub(crate) async fn channel(pool: &Pool, name: &str) -> Result<Option<Channel>> {
                let row: Option<ChannelRow> = sqlx::query_as($sql.channel.as_str())
                    .bind(name)
                    .fetch_optional(pool)
                    .await
                    .db()?;
                Ok(row.and_then(ChannelRow::into_channel))
            }

            async fn upsert(
                tx: &mut sqlx::Transaction<'_, $Db>,
                channel: &Channel,
                source: ChannelSource,
                now: DateTime<Utc>,
            ) -> Result<bool> {
                let created: bool = sqlx::query_scalar($sql.channel_upsert.as_str())
                    .bind(&channel.name)
                    .bind(channel.settings.kind().as_str())
                    .bind(sqlx::types::Json(&channel.settings))
                    .bind(NotifyOn::mask(&channel.on))
                    .bind(sqlx::types::Json(&channel.crons))
                    .bind(channel.crons.is_empty())
                    .bind(channel.repeat_every_ms)
                    .bind(channel.muted_until)
                    .bind(source.as_str())
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await
                    .db()?;
                sqlx::query($sql.patterns_clear.as_str())
                    .bind(&channel.name)
                    .execute(&mut **tx)
                    .await
                    .db()?;
                for glob in &channel.crons {
                    sqlx::query($sql.pattern_insert.as_str())
                        .bind(&channel.name)
                        .bind(<$dialect>::pattern_of(glob))
                        .execute(&mut **tx)
                        .await
                        .db()?;
                }
                Ok(created)
            }

            pub(crate) async fn put_channel(
                pool: &Pool,
                channel: &Channel,
                now: DateTime<Utc>,
            ) -> Result<bool> {
                channel.validate(now)?;
                let mut tx = pool.begin().await.db()?;
                let created = upsert(&mut tx, channel, ChannelSource::Api, now).await?;
                tx.commit().await.db()?;
                Ok(created)
            }

            pub(crate) async fn delete_channel(pool: &Pool, name: &str) -> Result<bool> {
                let done = sqlx::query($sql.channel_delete.as_str())
                    .bind(name)
                    .execute(pool)
                    .await
                    .db()?;
                Ok(done.rows_affected() > 0)
            }

            pub(crate) async fn replace_config_channels(
                pool: &Pool,
                channels: &[Channel],
                now: DateTime<Utc>,
            ) -> Result<()> {
                for c in channels {
                    c.validate(now)?;
                }
                let mut tx = pool.begin().await.db()?;
                let before: Vec<String> = sqlx::query_scalar($sql.config_channels.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .db()?;
                for name in before {
                    if !channels.iter().any(|c| c.name == name) {
                        sqlx::query($sql.channel_delete.as_str())
                            .bind(name)
                            .execute(&mut *tx)
                            .await
                            .db()?;
                    }
                }
                for c in channels {
                    upsert(&mut tx, c, ChannelSource::Config, now).await?;
                }
                tx.commit().await.db()
            }

            pub(crate) async fn enqueue_due(pool: &Pool, now: DateTime<Utc>) -> Result<u64> {
                let mut written = 0;
                for sql in [&$sql.enqueue_reminders, &$sql.enqueue_stuck] {
                    let done = sqlx::query(sql.as_str())
                        .bind(now.timestamp_millis())
                        .bind(now)
                        .execute(pool)
                        .await
                        .db()?;
                    written += done.rows_affected();
                }
                Ok(written)
            }

            pub(crate) async fn claim_notifications(
                pool: &Pool,
                now: DateTime<Utc>,
                lease: Duration,
                limit: u32,
            ) -> Result<Vec<Claimed>> {
                let claim = Uuid::now_v7();
                let now_ms = now.timestamp_millis();
                let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
                let rows: Vec<NotificationRow> = sqlx::query_as($sql.claim.as_str())
                    .bind(claim)
                    .bind(now_ms)
                    .bind(now_ms.saturating_add(lease_ms))
                    .bind(i64::from(limit.clamp(1, 1000)))
                    .fetch_all(pool)
                    .await
                    .db()?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        let incident_event_id = r.incident_event_id;
                        Claimed {
                            notification: r.into(),
                            claim,
                            incident_event_id,
                        }
                    })
                    .collect())
            }

            pub(crate) async fn record_attempt(
                pool: &Pool,
                claimed: &Claimed,
                attempt: &Attempt,
            ) -> Result<bool> {
                let n = &claimed.notification;
                let (status, due, delivered_at, code, error) = match attempt {
                    Attempt::Delivered { at, status } => (
                        NotificationStatus::Delivered,
                        at.timestamp_millis(),
                        Some(*at),
                        *status,
                        None,
                    ),
                    Attempt::Failed {
                        at,
                        retry_at,
                        status,
                        error,
                    } => match retry_at {
                        Some(retry) => (
                            NotificationStatus::Pending,
                            retry.timestamp_millis(),
                            None,
                            *status,
                            Some(error.as_str()),
                        ),
                        None => (
                            NotificationStatus::GivenUp,
                            at.timestamp_millis(),
                            None,
                            *status,
                            Some(error.as_str()),
                        ),
                    },
                    Attempt::Muted => (
                        NotificationStatus::Muted,
                        Utc::now().timestamp_millis(),
                        None,
                        None,
                        None,
                    ),
                };
                let mut tx = pool.begin().await.db()?;
                let done = sqlx::query($sql.finish.as_str())
                    .bind(n.id)
                    .bind(claimed.claim)
                    .bind(status.as_str())
                    .bind(due)
                    .bind(delivered_at)
                    .bind(code)
                    .bind(error)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                match attempt {
                    Attempt::Delivered { at, .. } => {
                        sqlx::query($sql.channel_delivered.as_str())
                            .bind(&n.channel)
                            .bind(*at)
                            .execute(&mut *tx)
                            .await
                            .db()?;
                    }
                    Attempt::Failed { at, error, .. } => {
                        sqlx::query($sql.channel_failed.as_str())
                            .bind(&n.channel)
                            .bind(*at)
                            .bind(error.as_str())
                            .execute(&mut *tx)
                            .await
                            .db()?;
                    }
                    Attempt::Muted => {}
                }
                tx.commit().await.db()?;
                Ok(true)
            }

            fn push_filters(qb: &mut sqlx::QueryBuilder<$Db>, f: &NotificationFilter) {
                if let Some(channel) = &f.channel {
                    qb.push(" AND channel = ").push_bind(channel.clone());
                }
                if let Some(status) = f.status {
                    qb.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(cron) = &f.cron_name {
                    qb.push(" AND cron_name = ").push_bind(cron.clone());
                }
            }

            pub(crate) async fn notifications(
                pool: &Pool,
                filter: &NotificationFilter,
                page: PageRequest,
            ) -> Result<Page<Notification>> {
                $crate::rules::page(page.page, page.limit)?;
                let mut count = sqlx::QueryBuilder::<$Db>::new($sql.notifications_count.as_str());
                push_filters(&mut count, filter);
                let total: i64 = count.build_query_scalar().fetch_one(pool).await.db()?;
                let mut qb = sqlx::QueryBuilder::<$Db>::new($sql.notifications_select.as_str());
                push_filters(&mut qb, filter);
                qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                    .push(page.limit)
                    .push(" OFFSET ")
                    .push(page.offset());
                let rows: Vec<NotificationRow> = qb.build_query_as().fetch_all(pool).await.db()?;
                Ok($crate::store::page_of(
                    $crate::store::rows::into_model(rows),
                    page,
                    total,
                ))
            }

            pub(crate) async fn notification(
                pool: &Pool,
                id: Uuid,
            ) -> Result<Option<Notification>> {
                let row: Option<NotificationRow> = sqlx::query_as($sql.notification_by_id.as_str())
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .db()?;
                Ok(row.map(Into::into))
            }
        }
    };
}

pub(super) use notify_ops;
