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
    /// Batch kinds by name (empty until batch kinds are recorded).
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

/// Batch kinds and their figures (empty until batch kinds are recorded).
#[utoipa::path(
    get, path = "/cron-executions/batches", tag = "executions",
    responses(
        (status = 200, description = "Batch kinds", body = BatchesResponse),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn batches() -> Json<BatchesResponse> {
    Json(BatchesResponse {
        success: true,
        batches: BTreeMap::new(),
    })
}
