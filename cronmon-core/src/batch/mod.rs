//! Batch kinds: named streams of work items (a crawl of 5,000 pages, an indexation of 245
//! documents) and their figures, as `GET /cron-executions/batches` answers them.
//!
//! Two ways feed a kind: [`BatchRun`], a guard for one run of a kind recorded through the
//! same recorder as [`CronRun`](crate::CronRun) (its [`BatchEvent`]s are grouped, spooled and
//! replayed alike), and a [`BatchSource`], which reports a kind's figures from wherever the
//! application keeps them ([`SqlBatchSource`] is the ready one: a query over the application's
//! own tables, run on the store's database). [`BatchKindReport::new`] puts both together.

mod event;
mod run;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

pub use self::event::BatchEvent;
pub use self::run::{BatchHandle, BatchRun, BatchRunBuilder};
pub use crate::store::batch_runs::RUNNING_SHOWN_MAX;

use crate::Store;
use crate::error::{Error, Result};
use crate::model::Status;

/// Most characters of a batch kind's name.
pub const BATCH_KIND_MAX_CHARS: usize = 64;
/// Most bytes of a source's query.
pub const BATCH_SQL_MAX_BYTES: usize = 16 * 1024;

/// The columns a [`SqlBatchSource`]'s query returns (`oldest_pending_at` may be left out).
pub const BATCH_COLUMNS: [&str; 4] = ["pending", "processing", "completed_today", "failed_today"];

/// A batch kind's figures now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchFigures {
    /// Items waiting.
    pub pending: i64,
    /// Items being processed.
    pub processing: i64,
    /// Items completed since midnight UTC.
    pub completed_today: i64,
    /// Items failed since midnight UTC.
    pub failed_today: i64,
    /// Completed today out of completed and failed today, in % (none before the first).
    pub success_rate: Option<f64>,
    /// Since when the oldest pending item waits, when the source knows it.
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

impl BatchFigures {
    /// Figures with their success rate worked out.
    pub fn new(
        pending: i64,
        processing: i64,
        completed_today: i64,
        failed_today: i64,
        oldest_pending_at: Option<DateTime<Utc>>,
    ) -> Self {
        let ended = completed_today.saturating_add(failed_today);
        let success_rate = (ended > 0).then(|| {
            let rate = completed_today as f64 * 100.0 / ended as f64;
            (rate * 10.0).round() / 10.0
        });
        BatchFigures {
            pending,
            processing,
            completed_today,
            failed_today,
            success_rate,
            oldest_pending_at,
        }
    }
}

/// A batch run as stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRunRecord {
    /// The batch run's id.
    pub id: Uuid,
    /// Its kind.
    pub kind: String,
    /// `running`, `completed` or `failed`.
    pub status: Status,
    /// Items in all, when known.
    pub total: Option<i64>,
    /// Items done.
    pub done: i64,
    /// Items failed.
    pub failed: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// When it last reported.
    pub last_progress_at: Option<DateTime<Utc>>,
    /// Host name of the job's machine.
    pub host: Option<String>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// How long it ran, once ended.
    pub duration_ms: Option<i64>,
}

/// Which batch runs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchRunFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only runs with this status.
    pub status: Option<Status>,
    /// Only runs started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Only runs started before.
    pub to: Option<DateTime<Utc>>,
}

/// A kind's figures from the batch runs cronmon recorded (the store's roll-ups: no history
/// scanned).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordedBatchKind {
    /// The kind.
    pub kind: String,
    /// Items done today (UTC), by the time of the report that counted them.
    pub items_done_today: i64,
    /// Items failed today.
    pub items_failed_today: i64,
    /// Batch runs completed today.
    pub runs_completed_today: i64,
    /// Batch runs failed today.
    pub runs_failed_today: i64,
    /// Items done or failed a minute, over the last hour.
    pub throughput_per_min: f64,
    /// Batch runs running.
    pub running_count: i64,
    /// Items left in the running runs whose total is known.
    pub items_left: i64,
    /// The running runs, newest first, at most [`RUNNING_SHOWN_MAX`].
    pub running: Vec<BatchRunRecord>,
}

/// What `GET /cron-executions/batches` answers for one kind: the four figures from its
/// source when it has one (else from its recorded runs: items left in the running runs as
/// `pending`, the running runs as `processing`), and from its recorded runs the throughput
/// and the running runs with their progress.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchKindReport {
    /// The figures.
    #[serde(flatten)]
    pub figures: BatchFigures,
    /// Items done or failed a minute over the last hour, by recorded runs (null without any).
    pub throughput_per_min: Option<f64>,
    /// Batch runs completed today.
    pub runs_completed_today: i64,
    /// Batch runs failed today.
    pub runs_failed_today: i64,
    /// Batch runs running now.
    pub running_count: i64,
    /// The running runs, newest first (at most 20).
    pub running: Vec<BatchRunRecord>,
    /// Where the four figures come from: `source` or `runs`.
    pub figures_from: &'static str,
}

impl BatchKindReport {
    /// The report of a kind from its source's figures and its recorded runs (either may be
    /// missing).
    pub fn new(source: Option<BatchFigures>, recorded: Option<RecordedBatchKind>) -> Self {
        let recorded_figures = recorded.as_ref().map(|r| {
            BatchFigures::new(
                r.items_left,
                r.running_count,
                r.items_done_today,
                r.items_failed_today,
                None,
            )
        });
        let from_source = source.is_some();
        let figures = source.or(recorded_figures).unwrap_or_default();
        let recorded = recorded.unwrap_or_default();
        let has_runs = !recorded.kind.is_empty();
        BatchKindReport {
            figures,
            throughput_per_min: has_runs.then_some(recorded.throughput_per_min),
            runs_completed_today: recorded.runs_completed_today,
            runs_failed_today: recorded.runs_failed_today,
            running_count: recorded.running_count,
            running: recorded.running,
            figures_from: if from_source { "source" } else { "runs" },
        }
    }
}

/// Where a batch kind's figures come from: the application's own tables, a queue, another
/// service. Each call answers within the bound the router sets (2 s by default), or the kind
/// shows an error instead, without holding up the others.
///
/// ```
/// use cronmon_core::batch::{BatchFigures, BatchSource};
///
/// #[derive(Debug)]
/// struct Crawl;
///
/// #[async_trait::async_trait]
/// impl BatchSource for Crawl {
///     async fn figures(&self) -> cronmon_core::Result<BatchFigures> {
///         Ok(BatchFigures::new(5_000, 8, 1_200, 14, None))
///     }
/// }
/// ```
#[async_trait]
pub trait BatchSource: Send + Sync + fmt::Debug {
    /// The kind's figures now.
    async fn figures(&self) -> Result<BatchFigures>;
}

/// A batch source from one SQL query over the application's tables, run on the store's
/// database. The query returns one row with the integer columns `pending`, `processing`,
/// `completed_today` and `failed_today` (cast sums: `SUM(…)::bigint` on PostgreSQL), and
/// optionally the timestamp `oldest_pending_at`.
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<dyn cronmon_core::Store>) -> cronmon_core::Result<()> {
/// use cronmon_core::batch::SqlBatchSource;
/// let kb = SqlBatchSource::new(
///     store,
///     "SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
///             count(*) FILTER (WHERE status = 'indexing') AS processing,
///             count(*) FILTER (WHERE status = 'indexed' AND updated_at >= current_date) AS completed_today,
///             count(*) FILTER (WHERE status = 'error' AND updated_at >= current_date) AS failed_today
///      FROM kb_documents",
/// )
/// .await?; // runs it once: a missing column is an error naming it
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqlBatchSource {
    store: Arc<dyn Store>,
    sql: String,
}

impl SqlBatchSource {
    /// A source from `sql`, checked by running it once: an error names what is missing.
    pub async fn new(store: Arc<dyn Store>, sql: impl Into<String>) -> Result<Self> {
        let sql = sql.into();
        if sql.trim().is_empty() || sql.len() > BATCH_SQL_MAX_BYTES {
            return Err(Error::InvalidField {
                field: "sql",
                message: format!("a batch query is 1 to {BATCH_SQL_MAX_BYTES} bytes"),
            });
        }
        let source = SqlBatchSource { store, sql };
        source.figures().await?;
        Ok(source)
    }
}

#[async_trait]
impl BatchSource for SqlBatchSource {
    async fn figures(&self) -> Result<BatchFigures> {
        self.store.batch_figures(&self.sql).await
    }
}

/// Checks a batch kind's name: 1 to 64 of letters, digits, `-`, `_`, `.` (the seed's
/// `kbIndexation`, `webCrawl`).
pub fn batch_kind(kind: &str) -> Result<()> {
    batch_kind_named("kind", kind)
}

/// [`batch_kind`], the refusal naming `field` (a report's `batchKind`).
pub(crate) fn batch_kind_named(field: &'static str, kind: &str) -> Result<()> {
    let ok = !kind.is_empty()
        && kind.len() <= BATCH_KIND_MAX_CHARS
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidField {
            field,
            message: format!(
                "a batch kind is 1 to {BATCH_KIND_MAX_CHARS} of letters, digits, `-`, `_`, `.`"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_of_ended_items() {
        assert_eq!(
            BatchFigures::new(245, 2, 128, 3, None).success_rate,
            Some(97.7)
        );
        assert_eq!(BatchFigures::new(1, 0, 0, 0, None).success_rate, None);
        assert_eq!(BatchFigures::new(0, 0, 0, 5, None).success_rate, Some(0.0));
    }

    #[test]
    fn kinds() {
        assert!(batch_kind("kbIndexation").is_ok());
        assert!(batch_kind("").is_err());
        assert!(batch_kind("a b").is_err());
    }
}
