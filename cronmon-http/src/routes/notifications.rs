//! The outbox: `GET /notifications` (filtered, paged, newest first) and
//! `GET /notifications/{id}`: what was sent to which channel, what is pending, what was given
//! up and why. Rows go out as stored (snake_case), like incidents.

use axum::Json;
use axum::extract::State;
use cronmon_core::notify::{Notification, NotificationFilter, NotificationStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{PathParams, QueryParams};
use crate::params::{PageQuery, parse_id};
use crate::routes::executions::Pagination;

/// The filters of `GET /notifications` (its paging is [`PageQuery`]).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NotificationQuery {
    /// Only this channel.
    pub channel: Option<String>,
    /// `pending`, `sending`, `delivered`, `given_up` or `muted` (`all` or empty: any).
    pub status: Option<String>,
    /// Only about this cron (`cron` is read too).
    #[serde(alias = "cron")]
    pub cron_name: Option<String>,
}

impl NotificationQuery {
    /// The filter these parameters name (empty means absent), or a 400 naming the bad one.
    fn into_filter(self) -> Result<NotificationFilter, ApiError> {
        let text = |field: &str, v: Option<String>| {
            if v.as_deref().is_some_and(|v| v.contains('\0')) {
                // No stored name holds one, and PostgreSQL cannot even compare text with it.
                return Err(ApiError::bad_query(field, "cannot hold a NUL character"));
            }
            Ok(v.filter(|v| !v.is_empty()))
        };
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("" | "all") => None,
            Some(s) => Some(s.parse::<NotificationStatus>().map_err(|_| {
                ApiError::bad_query(
                    "status",
                    format!(
                        "expected one of: {}",
                        NotificationStatus::ALL
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?),
        };
        Ok(NotificationFilter {
            channel: text("channel", self.channel)?,
            status,
            cron_name: text("cronName", self.cron_name)?,
        })
    }
}

/// Answer of `GET /notifications`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationsResponse {
    /// Always true.
    pub success: bool,
    /// Newest first.
    pub notifications: Vec<Notification>,
    /// Page figures.
    pub pagination: Pagination,
}

/// Answer of `GET /notifications/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationResponse {
    /// Always true.
    pub success: bool,
    /// The notification.
    pub notification: Notification,
}

/// Notifications, newest first, filtered and paged: one row per notification and channel,
/// with its delivery status, attempts and last error.
#[utoipa::path(
    get, path = "/notifications", tag = "notifications",
    params(PageQuery, NotificationQuery),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationsResponse),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn list(
    State(api): State<Api>,
    QueryParams(q): QueryParams<PageQuery>,
    QueryParams(filter): QueryParams<NotificationQuery>,
) -> Result<Json<NotificationsResponse>, ApiError> {
    let request = q.into_request()?;
    let filter = filter.into_filter()?;
    let found = api.reader().notifications(&filter, request).await?;
    Ok(Json(NotificationsResponse {
        success: true,
        pagination: Pagination::of(&found),
        notifications: found.items,
    }))
}

/// One notification.
#[utoipa::path(
    get, path = "/notifications/{id}", tag = "notifications",
    params(("id" = Uuid, Path, description = "The notification")),
    responses(
        (status = 200, description = "The notification", body = NotificationResponse),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown notification", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn notification(
    State(api): State<Api>,
    PathParams(id): PathParams<String>,
) -> Result<Json<NotificationResponse>, ApiError> {
    let id = parse_id(&id)?;
    match api.store().notification(id).await? {
        Some(notification) => Ok(Json(NotificationResponse {
            success: true,
            notification,
        })),
        None => Err(ApiError::not_found(format!("unknown notification {id}"))),
    }
}
