//! Figures: `GET /cron-executions/stats` (per cron, stuck runs, the 7-day timeline) and
//! `GET /cron-executions/batches`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use cronmon_core::batch::{BatchKindReport, RecordedBatchKind};
use cronmon_core::rules;
use cronmon_core::{CronStats, StuckRun, TimelineDay};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::extract::QueryParams;
use crate::params::parse_number;
use crate::validate::refused_query;

/// Query of `GET /cron-executions/stats`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatsQuery {
    /// Window in hours, 1 to 8784 (default 24).
    #[param(value_type = Option<u32>)]
    pub hours: Option<String>,
}

/// Answer of `GET /cron-executions/stats`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatsResponse {
    /// Always true.
    pub success: bool,
    /// Per cron over the window.
    pub stats: Vec<CronStats>,
    /// Runs past their max runtime or heartbeat timeout.
    pub stuck_crons: Vec<StuckRun>,
    /// The last 7 days (UTC), oldest first.
    pub timeline: Vec<TimelineDay>,
}

/// Answer of `GET /cron-executions/batches`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchesResponse {
    /// Always true.
    pub success: bool,
    /// Batch kinds by name, each a `BatchKindReport` (`pending`, `processing`,
    /// `completedToday`, `failedToday`, `successRate`, `throughputPerMin`, `running`, …), or
    /// `{"error": "…"}` when the kind's source failed or was too slow.
    #[schema(value_type = Object)]
    pub batches: BTreeMap<String, serde_json::Value>,
}

/// Figures per cron, stuck runs and the 7-day timeline.
#[utoipa::path(
    get, path = "/cron-executions/stats", tag = "executions",
    params(StatsQuery),
    responses(
        (status = 200, description = "Figures", body = StatsResponse),
        (status = 400, description = "Bad hours", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn stats(
    State(api): State<Api>,
    QueryParams(q): QueryParams<StatsQuery>,
) -> Result<Json<StatsResponse>, ApiError> {
    let hours = match q.hours.as_deref() {
        None => 24,
        Some(h) => parse_number::<u32>("hours", h)?,
    };
    rules::stats_hours(hours).map_err(refused_query)?;
    let store = api.reader();
    let (stats, stuck, timeline) =
        tokio::try_join!(store.stats(hours), store.stuck_runs(), store.timeline(7))?;
    Ok(Json(StatsResponse {
        success: true,
        stats,
        stuck_crons: stuck,
        timeline,
    }))
}

/// Batch kinds and their figures: each kind's source asked at once, each bounded by the
/// batch timeout (2 s by default), and the runs recorded through cronmon read from their
/// roll-ups. A kind with a source takes its four figures from it; a kind without one takes
/// them from its recorded runs; both show the recorded runs' throughput and running runs with
/// their progress. A kind whose source fails or is too slow answers `{"error": "…"}` in its
/// place, and the others answer all the same. What the sources said is stored afterwards
/// (without holding up the answer) for `vw_batch_executions_unified`.
#[utoipa::path(
    get, path = "/cron-executions/batches", tag = "executions",
    responses(
        (status = 200, description = "Batch kinds", body = BatchesResponse),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn batches(State(api): State<Api>) -> Result<Json<BatchesResponse>, ApiError> {
    let reports = batch_reports(&api).await?;
    Ok(Json(BatchesResponse {
        success: true,
        batches: reports
            .into_iter()
            .map(|(kind, report)| {
                let value = match report {
                    Ok(report) => serde_json::to_value(report)
                        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
                    Err(error) => serde_json::json!({ "error": error }),
                };
                (kind, value)
            })
            .collect(),
    }))
}

/// Every batch kind's report (or its source's error), by kind: what `GET
/// /cron-executions/batches` and `/metrics` show.
pub(crate) async fn batch_reports(
    api: &Api,
) -> Result<BTreeMap<String, Result<BatchKindReport, String>>, ApiError> {
    let timeout = api.config().batch_timeout;
    let asked = api
        .batch_sources()
        .into_iter()
        .map(|(kind, source)| async move {
            let answer = match tokio::time::timeout(timeout, source.figures()).await {
                Ok(Ok(figures)) => Ok(figures),
                Ok(Err(e)) => {
                    tracing::warn!(kind = %kind, error = %e, "batch source failed");
                    Err(e.to_string())
                }
                Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
            };
            (kind, answer)
        });
    let reader = api.reader();
    let (asked, recorded) = tokio::join!(
        futures_util::future::join_all(asked),
        reader.batch_kinds_recorded(Utc::now())
    );
    let mut recorded: BTreeMap<String, RecordedBatchKind> =
        recorded?.into_iter().map(|k| (k.kind.clone(), k)).collect();
    // Every dashboard and every scrape asks; the view needs no more than a write each 10 s.
    if !asked.is_empty() && api.reports_due(Utc::now()) {
        let store = api.store().clone();
        let said = asked.clone();
        tokio::spawn(async move {
            if let Err(e) = store.put_batch_reports(&said, Utc::now()).await {
                tracing::warn!(error = %e, "batch source reports not stored");
            }
        });
    }
    let mut reports = BTreeMap::new();
    for (kind, answer) in asked {
        let runs = recorded.remove(&kind);
        reports.insert(kind, answer.map(|f| BatchKindReport::new(Some(f), runs)));
    }
    for (kind, runs) in recorded {
        reports.insert(kind, Ok(BatchKindReport::new(None, Some(runs))));
    }
    Ok(reports)
}
