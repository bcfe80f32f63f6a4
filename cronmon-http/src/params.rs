//! Query and path parameters shared by the handlers: the run filters of the list and the CSV
//! export ([`FilterQuery`]), paging ([`PageQuery`]), numbers and run ids. Each parameter is
//! read as text and parsed here, so a bad value is answered with a 400 that names it.

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use cronmon_core::rules;
use cronmon_core::{ExecutionFilter, PageRequest, Status};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::ApiError;
use crate::validate::refused_query;

/// Paging of `GET /cron-executions/list` (its filters are [`FilterQuery`]).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// 1-based page (default 1).
    #[param(value_type = Option<u32>)]
    pub page: Option<String>,
    /// Rows a page, 1 to 200 (default 50); more is a 400.
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
}

impl PageQuery {
    /// The page asked for, or a 400 naming the bad parameter (an empty one too: the
    /// document says a number).
    pub(crate) fn into_request(self) -> Result<PageRequest, ApiError> {
        let page = match self.page.as_deref() {
            None => 1,
            Some(p) => parse_number::<u32>("page", p)?,
        };
        let limit = match self.limit.as_deref() {
            None => PageRequest::DEFAULT_LIMIT,
            Some(l) => parse_number::<u32>("limit", l)?,
        };
        // The core checks the bounds; in a query string they are a 400.
        PageRequest::new(page, limit).map_err(|e| match e {
            cronmon_core::Error::InvalidField { field, message } => {
                ApiError::bad_query(field, message)
            }
            other => other.into(),
        })
    }
}

/// The run filters of `/cron-executions/list` and `/cron-executions/export.csv`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FilterQuery {
    /// `running`, `completed` or `failed` (`all` or empty: any).
    pub status: Option<String>,
    /// Only this cron (no NUL character).
    pub cron_name: Option<String>,
    /// Started at or after: RFC 3339, or a date (`2026-02-13`, start of that day UTC).
    pub from: Option<String>,
    /// Started before: RFC 3339, or a date (inclusive: up to the end of that day UTC).
    pub to: Option<String>,
}

/// A run id from the path, or a 400 naming `id`.
pub(crate) fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", "id: not a UUID").with_field("id")
    })
}

/// A number from the query (spaces around it ignored), or a 400 naming `field`.
pub(crate) fn parse_number<T: std::str::FromStr>(field: &str, v: &str) -> Result<T, ApiError> {
    v.trim()
        .parse()
        .map_err(|_| ApiError::bad_query(field, "not a valid number in range"))
}

/// A time bound of the filters: RFC 3339, or a date meaning the start of that day (UTC) or,
/// with `end_of_day`, the start of the next one.
fn parse_bound(field: &'static str, v: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    let v = v.trim();
    let t = if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        t.with_timezone(&Utc)
    } else if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let start = d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        // The year is the date's own: the end of 9999-12-31 is a valid bound.
        rules::year(field, start).map_err(refused_query)?;
        return Ok(if end_of_day {
            start + chrono::Duration::days(1)
        } else {
            start
        });
    } else {
        return Err(ApiError::bad_query(
            field,
            "expected RFC 3339 (2026-02-13T21:47:17Z) or a date (2026-02-13)",
        ));
    };
    rules::year(field, t).map_err(refused_query)?;
    Ok(t)
}

impl FilterQuery {
    /// The filter these parameters name (empty means absent), or a 400 naming the bad one.
    pub(crate) fn into_filter(self) -> Result<ExecutionFilter, ApiError> {
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("" | "all") => None,
            Some(s) => Some(s.parse::<Status>().map_err(|_| {
                ApiError::bad_query("status", "expected running, completed or failed")
            })?),
        };
        let bound = |field: &'static str, v: Option<&str>, end_of_day: bool| {
            v.filter(|v| !v.trim().is_empty())
                .map(|v| parse_bound(field, v, end_of_day))
                .transpose()
        };
        if self.cron_name.as_deref().is_some_and(|n| n.contains('\0')) {
            // No stored name holds one, and PostgreSQL cannot even compare text with it.
            return Err(ApiError::bad_query(
                "cronName",
                "cannot hold a NUL character",
            ));
        }
        Ok(ExecutionFilter {
            cron_name: self.cron_name.filter(|n| !n.is_empty()),
            status,
            from: bound("from", self.from.as_deref(), false)?,
            to: bound("to", self.to.as_deref(), true)?,
        })
    }
}
