//! About the API itself: `GET /health` (open to all), `GET /openapi.json`, and the JSON
//! answers for unknown paths (404) and methods (405).

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cronmon_core::health::SweeperStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Api;
use crate::error::{ApiError, ErrorBody};

/// Answer of `GET /health`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct HealthResponse {
    /// True when the database answers.
    pub success: bool,
    /// `ok`, or `degraded` when the sweeper that judges schedules has stalled (the API still
    /// serves: taking it out of a load balancer would not restart the sweeper).
    #[schema(example = "ok")]
    pub status: String,
    /// `postgres` or `sqlite`.
    pub database: String,
    /// The sweeper shared by every instance on this database.
    pub sweeper: SweeperProbe,
}

/// The sweeper's part of `GET /health`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SweeperProbe {
    /// `ok`, `stalled` (no beat for three sweep intervals, and at least 30 s) or `not_started`
    /// (no sweep ever ran on this database).
    pub status: SweeperHealth,
    /// The last sweep of any instance; null before the first.
    pub last_beat_at: Option<DateTime<Utc>>,
}

/// The sweeper that judges schedules, as a probe sees it: one heartbeat shared by every
/// instance on a database (see [`cronmon_core::health`]).
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeDelta, Utc};
/// use cronmon_http::SweeperHealth;
/// let now = Utc::now();
/// assert_eq!(SweeperHealth::of(None, Duration::from_secs(10), now), SweeperHealth::NotStarted);
/// assert!(SweeperHealth::of(Some(now - TimeDelta::minutes(5)), Duration::from_secs(10), now).is_stalled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SweeperHealth {
    /// It beat recently.
    Ok,
    /// Its last beat is older than three sweep intervals (and at least 30 s).
    Stalled,
    /// No sweep ever ran on this database.
    NotStarted,
}

impl SweeperHealth {
    /// Judges the last beat (`None`: never) at `now`, for a sweeper that runs every
    /// `sweep_every`: stalled past three intervals, and never under 30 s (the same silence
    /// after which the sweeper itself counts a gap).
    pub fn of(
        last_beat_at: Option<DateTime<Utc>>,
        sweep_every: Duration,
        now: DateTime<Utc>,
    ) -> Self {
        let Some(last) = last_beat_at else {
            return Self::NotStarted;
        };
        let allowed = (sweep_every.saturating_mul(3)).max(Duration::from_secs(30));
        let allowed = chrono::TimeDelta::from_std(allowed).unwrap_or(chrono::TimeDelta::MAX);
        // A beat ahead of this clock (another instance's clock) is recent.
        match now.signed_duration_since(last) {
            silence if silence > allowed => Self::Stalled,
            _ => Self::Ok,
        }
    }

    /// Whether the sweeper has stalled.
    pub fn is_stalled(self) -> bool {
        self == Self::Stalled
    }

    /// `ok`, `stalled` or `not_started`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Stalled => "stalled",
            Self::NotStarted => "not_started",
        }
    }
}

/// How long a health check's result is answered before the database is asked again: the
/// probe needs no secret, so its rate is the caller's to choose, not the database's load.
pub(crate) const HEALTH_CACHE: Duration = Duration::from_secs(2);

/// Longest a health check waits for the database: past it, the database counts as down.
pub(crate) const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// What a health check read: the sweeper's last beat when the database answered, `None`
/// when it did not.
type Probe = Option<Option<DateTime<Utc>>>;

/// The last health check: when it ran and what it read. Behind an async mutex so that one
/// request at a time checks, and the others wait for its result instead of each asking the
/// database.
#[derive(Debug, Default)]
pub(crate) struct HealthCache {
    last: tokio::sync::Mutex<Option<(Instant, Probe)>>,
}

impl HealthCache {
    /// The last result if fresh, else a new bounded check: whether the database answers, and
    /// the sweeper's last beat.
    async fn check(&self, store: &dyn cronmon_core::Store) -> Probe {
        let mut last = self.last.lock().await;
        if let Some((at, probe)) = *last
            && at.elapsed() < HEALTH_CACHE
        {
            return probe;
        }
        let read = async {
            store.ping().await?;
            store.sweeper_status().await
        };
        let probe = match tokio::time::timeout(HEALTH_TIMEOUT, read).await {
            Ok(Ok(status)) => Some(status.map(|s: SweeperStatus| s.last_beat_at)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health check failed");
                None
            }
            Err(_) => {
                tracing::warn!("health check: the database did not answer in time");
                None
            }
        };
        *last = Some((Instant::now(), probe));
        probe
    }
}

/// Health probe: whether the database answers, and whether the sweeper that judges schedules
/// beats (both checked at most once every two seconds, whatever the request rate). A stalled
/// sweeper makes the answer `degraded`, still a 200. Needs no secret.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "The database answers (`status` is `degraded` when the sweeper stalled)", body = HealthResponse),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn health(State(api): State<Api>) -> Result<Json<HealthResponse>, ApiError> {
    let store = api.store();
    let Some(last_beat_at) = api.health().check(store.as_ref()).await else {
        return Err(ApiError::unavailable("the database is unavailable"));
    };
    let sweeper = SweeperHealth::of(last_beat_at, api.config().sweep_every, Utc::now());
    Ok(Json(HealthResponse {
        success: true,
        status: if sweeper.is_stalled() {
            "degraded"
        } else {
            "ok"
        }
        .into(),
        database: match store.backend() {
            cronmon_core::Backend::Postgres => "postgres",
            cronmon_core::Backend::Sqlite => "sqlite",
        }
        .into(),
        sweeper: SweeperProbe {
            status: sweeper,
            last_beat_at,
        },
    }))
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get, path = "/openapi.json", tag = "meta",
    responses(
        (status = 200, description = "OpenAPI 3 document", content_type = "application/json"),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::document_json(),
    )
        .into_response()
}

/// JSON 404 for paths the API does not have.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// JSON 405 for a known path with another method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method",
    )
}
