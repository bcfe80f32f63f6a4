//! Figures: `GET /cron-executions/stats` (per cron, stuck runs, the 7-day timeline) and
//! `GET /cron-executions/batches`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
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
    /// Batch kinds by name: `pending`, `processing`, `completedToday`, `failedToday`,
    /// `successRate` (%, null before the first ended item), `oldestPendingAt`; or `error` when
    /// the kind's source failed or was too slow.
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
    let store = api.store();
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
/// batch timeout (2 s by default); a kind whose source fails or is too slow answers
/// `{"error": "…"}` in its place, and the others answer all the same.
#[utoipa::path(
    get, path = "/cron-executions/batches", tag = "executions",
    responses(
        (status = 200, description = "Batch kinds", body = BatchesResponse),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn batches(State(api): State<Api>) -> Json<BatchesResponse> {
    let timeout = api.config().batch_timeout;
    let asked = api
        .batch_sources()
        .into_iter()
        .map(|(kind, source)| async move {
            let answer = match tokio::time::timeout(timeout, source.figures()).await {
                Ok(Ok(figures)) => serde_json::to_value(figures)
                    .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
                Ok(Err(e)) => {
                    tracing::warn!(kind = %kind, error = %e, "batch source failed");
                    serde_json::json!({ "error": e.to_string() })
                }
                Err(_) => serde_json::json!({
                    "error": format!("no answer within {} ms", timeout.as_millis())
                }),
            };
            (kind, answer)
        });
    Json(BatchesResponse {
        success: true,
        batches: futures_util::future::join_all(asked)
            .await
            .into_iter()
            .collect(),
    })
}
