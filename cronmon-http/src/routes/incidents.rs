//! Incidents: `GET /incidents` (filtered, paged, newest first), `GET /incidents/{id}`, and
//! `GET /incident-events`, the openings and resolutions in the order they happened (what
//! notifications are sent from). Rows go out as stored (snake_case).

use axum::Json;
use axum::extract::State;
use cronmon_core::health::{Incident, IncidentEvent};
use serde::Serialize;
use utoipa::ToSchema;

use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{PathParams, QueryParams};
use crate::params::{EventsQuery, IncidentQuery, PageQuery, parse_id};
use crate::routes::executions::Pagination;

/// Answer of `GET /incidents`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IncidentsResponse {
    /// Always true.
    pub success: bool,
    /// Newest first (by opening).
    pub incidents: Vec<Incident>,
    /// Page figures.
    pub pagination: Pagination,
}

/// Answer of `GET /incidents/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IncidentResponse {
    /// Always true.
    pub success: bool,
    /// The incident.
    pub incident: Incident,
}

/// Answer of `GET /incident-events`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IncidentEventsResponse {
    /// Always true.
    pub success: bool,
    /// Oldest first; empty when there is nothing after `after` yet.
    pub events: Vec<IncidentEvent>,
}

/// Incidents, newest first, filtered and paged. An incident opens when a cron crosses its
/// failure threshold and resolves after its recovery threshold; at most one is open per cron.
#[utoipa::path(
    get, path = "/incidents", tag = "incidents",
    params(PageQuery, IncidentQuery),
    responses(
        (status = 200, description = "A page of incidents", body = IncidentsResponse),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn list(
    State(api): State<Api>,
    QueryParams(q): QueryParams<PageQuery>,
    QueryParams(filter): QueryParams<IncidentQuery>,
) -> Result<Json<IncidentsResponse>, ApiError> {
    let request = q.into_request()?;
    let filter = filter.into_filter()?;
    let found = api.reader().incidents(&filter, request).await?;
    Ok(Json(IncidentsResponse {
        success: true,
        pagination: Pagination::of(&found),
        incidents: found.items,
    }))
}

/// One incident.
#[utoipa::path(
    get, path = "/incidents/{id}", tag = "incidents",
    params(("id" = Uuid, Path, description = "The incident")),
    responses(
        (status = 200, description = "The incident", body = IncidentResponse),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn incident(
    State(api): State<Api>,
    PathParams(id): PathParams<String>,
) -> Result<Json<IncidentResponse>, ApiError> {
    let id = parse_id(&id)?;
    match api.store().incident(id).await? {
        Some(incident) => Ok(Json(IncidentResponse {
            success: true,
            incident,
        })),
        None => Err(ApiError::not_found(format!("unknown incident {id}"))),
    }
}

/// Openings, resolutions and outage summaries with an id greater than `after`, oldest first:
/// read on from the last id handled to see each event once.
#[utoipa::path(
    get, path = "/incident-events", tag = "incidents",
    params(EventsQuery),
    responses(
        (status = 200, description = "The events after `after`", body = IncidentEventsResponse),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn events(
    State(api): State<Api>,
    QueryParams(q): QueryParams<EventsQuery>,
) -> Result<Json<IncidentEventsResponse>, ApiError> {
    let (after, limit) = q.parse()?;
    let events = api.reader().incident_events(after, limit).await?;
    Ok(Json(IncidentEventsResponse {
        success: true,
        events,
    }))
}
