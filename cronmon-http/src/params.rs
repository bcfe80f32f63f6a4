//! Query and path parameters shared by the handlers: the run filters of the list and the CSV
//! export ([`FilterQuery`]), the incident filters ([`IncidentQuery`]) and the incident-event
//! cursor ([`EventsQuery`]), paging ([`PageQuery`]), numbers and ids. Each parameter is read as
//! text and parsed here, so a bad value is answered with a 400 that names it.

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use cronmon_core::health::IncidentFilter;
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

/// The filters of `GET /incidents` (its paging is [`PageQuery`]).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IncidentQuery {
    /// Only this cron (no NUL character).
    pub cron_name: Option<String>,
    /// `open` or `resolved` (`all` or empty: any).
    pub state: Option<String>,
    /// Opened at or after: RFC 3339, or a date (`2026-02-13`, start of that day UTC).
    pub from: Option<String>,
    /// Opened before: RFC 3339, or a date (inclusive: up to the end of that day UTC).
    pub to: Option<String>,
}

impl IncidentQuery {
    /// The filter these parameters name (empty means absent), or a 400 naming the bad one.
    pub(crate) fn into_filter(self) -> Result<IncidentFilter, ApiError> {
        let open = match self.state.as_deref().map(str::trim) {
            None | Some("" | "all") => None,
            Some("open") => Some(true),
            Some("resolved") => Some(false),
            Some(_) => return Err(ApiError::bad_query("state", "expected open or resolved")),
        };
        Ok(IncidentFilter {
            cron_name: cron_name_filter(self.cron_name)?,
            open,
            from: optional_bound("from", self.from.as_deref(), false)?,
            to: optional_bound("to", self.to.as_deref(), true)?,
        })
    }
}

/// Most incident events `GET /incident-events` answers at once.
pub(crate) const EVENTS_LIMIT_MAX: u32 = 1000;

/// Incident events answered when `limit` is absent.
pub(crate) const EVENTS_LIMIT_DEFAULT: u32 = 100;

/// The cursor of `GET /incident-events`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Only events with a greater id: the last one already handled (default 0, from the start).
    #[param(value_type = Option<i64>)]
    pub after: Option<String>,
    /// Events at most, 1 to 1000 (default 100); more is a 400.
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
}

impl EventsQuery {
    /// The cursor and the limit, or a 400 naming the bad parameter.
    pub(crate) fn parse(self) -> Result<(i64, u32), ApiError> {
        let after = match self.after.as_deref() {
            None => 0,
            Some(a) => parse_number::<i64>("after", a)?,
        };
        if after < 0 {
            return Err(ApiError::bad_query("after", "must be 0 or more"));
        }
        let limit = match self.limit.as_deref() {
            None => EVENTS_LIMIT_DEFAULT,
            Some(l) => parse_number::<u32>("limit", l)?,
        };
        if !(1..=EVENTS_LIMIT_MAX).contains(&limit) {
            return Err(ApiError::bad_query(
                "limit",
                format!("must be from 1 to {EVENTS_LIMIT_MAX}"),
            ));
        }
        Ok((after, limit))
    }
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
        if !end_of_day {
            return Ok(start);
        }
        // The end of 9999-12-31 would be written with a five-digit year, which SQLite, comparing
        // times as text, sorts before every stored time: the bound would match nothing. The
        // last instant of that day says the same and stays a four-digit year.
        let next = start + chrono::Duration::days(1);
        return Ok(if rules::year(field, next).is_ok() {
            next
        } else {
            next - chrono::Duration::nanoseconds(1)
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

/// A time bound that may be absent or empty (no bound).
pub(crate) fn optional_bound(
    field: &'static str,
    v: Option<&str>,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    v.filter(|v| !v.trim().is_empty())
        .map(|v| parse_bound(field, v, end_of_day))
        .transpose()
}

/// A `cronName` filter: empty means none; a NUL character is a 400.
fn cron_name_filter(name: Option<String>) -> Result<Option<String>, ApiError> {
    if name.as_deref().is_some_and(|n| n.contains('\0')) {
        // No stored name holds one, and PostgreSQL cannot even compare text with it.
        return Err(ApiError::bad_query(
            "cronName",
            "cannot hold a NUL character",
        ));
    }
    Ok(name.filter(|n| !n.is_empty()))
}

/// A `status` filter: `running`, `completed` or `failed`; absent, empty or `all` means any.
pub(crate) fn status_filter(status: Option<&str>) -> Result<Option<Status>, ApiError> {
    match status.map(str::trim) {
        None | Some("" | "all") => Ok(None),
        Some(s) => s
            .parse::<Status>()
            .map(Some)
            .map_err(|_| ApiError::bad_query("status", "expected running, completed or failed")),
    }
}

impl FilterQuery {
    /// The filter these parameters name (empty means absent), or a 400 naming the bad one.
    pub(crate) fn into_filter(self) -> Result<ExecutionFilter, ApiError> {
        Ok(ExecutionFilter {
            cron_name: cron_name_filter(self.cron_name)?,
            status: status_filter(self.status.as_deref())?,
            from: optional_bound("from", self.from.as_deref(), false)?,
            to: optional_bound("to", self.to.as_deref(), true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_bound_ends_within_the_years_stored() {
        let end = parse_bound("to", "9999-12-31", true).unwrap();
        assert_eq!(end.to_rfc3339(), "9999-12-31T23:59:59.999999999+00:00");
        let end = parse_bound("to", "2026-02-13", true).unwrap();
        assert_eq!(end.to_rfc3339(), "2026-02-14T00:00:00+00:00");
        let start = parse_bound("from", "9999-12-31", false).unwrap();
        assert_eq!(start.to_rfc3339(), "9999-12-31T00:00:00+00:00");
        assert!(parse_bound("to", "10000-01-01", true).is_err());
    }
}
