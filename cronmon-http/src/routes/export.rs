//! `GET /cron-executions/export.csv`: the runs matching the list's filters as RFC 4180 CSV
//! (written by the `csv` crate), newest first, streamed page by page from the store. The CSV
//! writing and the keyset streaming ([`csv_response`], [`Pages`]) serve every export (batch
//! runs' too, `routes/batch_runs.rs`).

use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::pin::Pin;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use cronmon_core::{Execution, PageRequest};
use uuid::Uuid;

use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::extract::QueryParams;
use crate::params::FilterQuery;

/// Most rows an export holds; past it the answer carries `X-Cronmon-Truncated: true`.
pub(crate) const MAX_EXPORT_ROWS: usize = 100_000;

/// Rows read from the store at a time.
pub(crate) const CHUNK: u32 = PageRequest::MAX_LIMIT;

/// The columns, in order.
pub(crate) const COLUMNS: [&str; 14] = [
    "id",
    "cron_name",
    "status",
    "reason",
    "trigger_type",
    "started_at",
    "completed_at",
    "duration_ms",
    "exit_code",
    "host",
    "pid",
    "version",
    "error_message",
    "output",
];

/// The matching runs as CSV, newest first.
#[utoipa::path(
    get, path = "/cron-executions/export.csv", tag = "executions",
    params(FilterQuery),
    responses(
        (status = 200, description = "RFC 4180 CSV with a header row; columns id, cron_name, \
            status, reason, trigger_type, started_at, completed_at, duration_ms, exit_code, host, \
            pid, version, error_message, output (JSON text). Text fields starting with =, +, -, \
            @, tab or CR get a leading ' (spreadsheet formula guard). At most 100,000 rows; \
            header X-Cronmon-Truncated: true when more matched.",
            content_type = "text/csv; charset=utf-8", body = String),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn export_csv(
    State(api): State<Api>,
    QueryParams(filter): QueryParams<FilterQuery>,
) -> Result<Response, ApiError> {
    let filter = filter.into_filter()?;
    let store = api.reader();
    // The first page is read before answering, so a failing database is a 503, not a cut body.
    let first = store
        .list_executions(&filter, PageRequest::new(1, CHUNK)?)
        .await?;
    let truncated = first.total > MAX_EXPORT_ROWS as i64;
    let pages = Pages {
        next: Box::new(move |after| {
            let (store, filter) = (store.clone(), filter.clone());
            Box::pin(async move { store.executions_after(&filter, after, CHUNK).await })
        }),
        key: |e: &Execution| (e.started_at, e.id),
        write: write_execution,
        after: None,
        pending: Some(first.items),
        sent: 0,
        max: MAX_EXPORT_ROWS,
        done: false,
    };
    let mut response = csv_response("cron-executions.csv", &COLUMNS, pages);
    if truncated {
        response.headers_mut().insert(
            "x-cronmon-truncated",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// A CSV attachment named `filename`: the header row of `columns`, then the rows of `pages`
/// as they are read. What every CSV export answers.
pub(crate) fn csv_response<R: Send + 'static>(
    filename: &'static str,
    columns: &[&str],
    pages: Pages<R>,
) -> Response {
    let mut out = CsvOut::new();
    let head = out
        .row(columns.iter().map(|c| Field::Plain(c)))
        .and_then(|()| out.finish());
    let head = futures_util::stream::once(async move { head });
    let rows = futures_util::stream::unfold(pages, Pages::next_chunk);
    let body = Body::from_stream(futures_util::StreamExt::chain(head, rows));
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// Where a keyset is in its order: `started_at`, then id (newest first).
pub(crate) type Key = (DateTime<Utc>, Uuid);

/// Reads the page after a key: at most [`CHUNK`] rows.
pub(crate) type NextPage<R> = Box<
    dyn Fn(Option<Key>) -> Pin<Box<dyn Future<Output = cronmon_core::Result<Vec<R>>> + Send>>
        + Send
        + Sync,
>;

/// An export's progress through the store: a first page (if read already), then every later
/// one read after the last row sent (keyset), so a row that leaves the filter or changes
/// meanwhile moves no other row across a page boundary.
pub(crate) struct Pages<R> {
    /// The page after a key.
    pub(crate) next: NextPage<R>,
    /// A row's key.
    pub(crate) key: fn(&R) -> Key,
    /// Writes one row.
    pub(crate) write: fn(&mut CsvOut, &R) -> io::Result<()>,
    /// The last row sent.
    pub(crate) after: Option<Key>,
    /// A page read before answering.
    pub(crate) pending: Option<Vec<R>>,
    pub(crate) sent: usize,
    /// Most rows sent.
    pub(crate) max: usize,
    pub(crate) done: bool,
}

impl<R> Pages<R> {
    async fn next_chunk(mut self) -> Option<(io::Result<Vec<u8>>, Self)> {
        if self.done || self.sent >= self.max {
            return None;
        }
        let items = match self.pending.take() {
            Some(items) => items,
            None => match (self.next)(self.after).await {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(error = %e, "CSV export cut short by a database error");
                    self.done = true;
                    return Some((Err(io::Error::other(e.to_string())), self));
                }
            },
        };
        if items.len() < CHUNK as usize {
            self.done = true;
        }
        let mut out = CsvOut::new();
        for row in &items {
            if self.sent >= self.max {
                break;
            }
            if let Err(e) = (self.write)(&mut out, row) {
                self.done = true;
                return Some((Err(e), self));
            }
            self.sent += 1;
        }
        self.after = items.last().map(self.key);
        Some((out.finish(), self))
    }
}

/// A field of a record: `Plain` as the server wrote it (numbers, times, ids, enum texts), `Text`
/// from a client (names, messages), guarded against spreadsheet formulas.
#[derive(Clone, Copy)]
pub(crate) enum Field<'a> {
    Plain(&'a str),
    Text(&'a str),
}

impl<'a> Field<'a> {
    /// The bytes to write: a `Text` starting like a spreadsheet formula (`=`, `+`, `-`, `@`,
    /// tab, CR) gets a leading `'`, so a spreadsheet shows it as text instead of running it.
    fn bytes(self) -> Cow<'a, [u8]> {
        match self {
            Field::Text(v) if v.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
                Cow::Owned(format!("'{v}").into_bytes())
            }
            Field::Plain(v) | Field::Text(v) => Cow::Borrowed(v.as_bytes()),
        }
    }
}

/// A chunk of CSV records as RFC 4180 has them (CRLF line ends; a field in double quotes,
/// its quotes doubled, only when it holds a comma, a quote, CR or LF), gathered in memory.
pub(crate) struct CsvOut(csv::Writer<Vec<u8>>);

impl CsvOut {
    fn new() -> Self {
        Self(
            csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .quote_style(csv::QuoteStyle::Necessary)
                .from_writer(Vec::new()),
        )
    }

    /// Appends one record.
    pub(crate) fn row<'a>(
        &mut self,
        fields: impl IntoIterator<Item = Field<'a>>,
    ) -> io::Result<()> {
        Ok(self.0.write_record(fields.into_iter().map(Field::bytes))?)
    }

    /// The bytes written.
    pub(crate) fn finish(self) -> io::Result<Vec<u8>> {
        self.0.into_inner().map_err(|e| e.into_error())
    }
}

fn write_execution(out: &mut CsvOut, e: &Execution) -> io::Result<()> {
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let num = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let id = e.id.to_string();
    let reason = e.reason.map(|r| r.as_str()).unwrap_or_default();
    let started = time(&e.started_at);
    let completed = e.completed_at.as_ref().map(time).unwrap_or_default();
    let duration = num(e.duration_ms);
    let exit_code = num(e.exit_code.map(i64::from));
    let pid = num(e.pid.map(i64::from));
    let output = e.output.as_ref().map(|o| o.to_string()).unwrap_or_default();
    out.row([
        Field::Plain(&id),
        Field::Text(&e.cron_name),
        Field::Plain(e.status.as_str()),
        Field::Plain(reason),
        Field::Plain(e.trigger_type.as_str()),
        Field::Plain(&started),
        Field::Plain(&completed),
        Field::Plain(&duration),
        Field::Plain(&exit_code),
        Field::Text(e.host.as_deref().unwrap_or_default()),
        Field::Plain(&pid),
        Field::Text(e.version.as_deref().unwrap_or_default()),
        Field::Text(e.error_message.as_deref().unwrap_or_default()),
        Field::Text(&output),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `v` as written in a record (the record's second field, `end`, is cut off).
    fn field(v: &str, guard: bool) -> String {
        let mut out = CsvOut::new();
        let f = if guard {
            Field::Text(v)
        } else {
            Field::Plain(v)
        };
        out.row([f, Field::Plain("end")]).unwrap();
        let text = String::from_utf8(out.finish().unwrap()).unwrap();
        text.strip_suffix(",end\r\n").unwrap().to_owned()
    }

    #[test]
    fn rfc4180_quoting() {
        assert_eq!(field("plain", true), "plain");
        assert_eq!(field("", true), "");
        assert_eq!(field("a,b", true), "\"a,b\"");
        assert_eq!(field("say \"hi\"", true), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines", true), "\"two\nlines\"");
        assert_eq!(field("cr\rhere", true), "\"cr\rhere\"");
    }

    #[test]
    fn formula_guard() {
        for v in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx"] {
            assert_eq!(field(v, true), format!("'{v}"), "{v}");
        }
        assert_eq!(
            field("=HYPERLINK(\"x\",\"y\")", true),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        // Numbers the server writes keep their sign.
        assert_eq!(field("-1", false), "-1");
        assert_eq!(field("a=b", true), "a=b");
    }

    #[test]
    fn rows_end_in_crlf() {
        let mut out = CsvOut::new();
        out.row([Field::Plain("a"), Field::Text("=b"), Field::Plain("")])
            .unwrap();
        out.row([Field::Plain("c"), Field::Text("d"), Field::Plain("e")])
            .unwrap();
        assert_eq!(out.finish().unwrap(), b"a,'=b,\r\nc,d,e\r\n");
    }
}
