//! Batch runs over HTTP: the report a recorder sends in `POST /cron-executions/events` (item
//! kind `batch`), for jobs in other languages and shell.

use chrono::{DateTime, Utc};
use cronmon_core::Status;
use cronmon_core::batch::BatchEvent;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::validate::parse_enum;

/// A batch run's whole state so far, as the recorder reports it: counts since the start (not
/// increments), so a report sent twice stores nothing twice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchRunItem {
    /// The batch run (a UUIDv7 made by the client).
    pub batch_run_id: Uuid,
    /// The batch kind: 1 to 64 of letters, digits, `-`, `_`, `.`.
    #[schema(example = "kbIndexation")]
    pub batch_kind: String,
    /// `running` (a start or progress), `completed` or `failed` (the end).
    #[schema(example = "running")]
    pub status: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When this report was made; now when absent.
    pub at: Option<DateTime<Utc>>,
    /// Items in all, when known.
    pub total: Option<i64>,
    /// Items done so far.
    #[serde(default)]
    pub done: i64,
    /// Items failed so far.
    #[serde(default)]
    pub failed: i64,
    /// Host name of the job.
    pub host: Option<String>,
    /// Why the run failed.
    pub error_message: Option<String>,
}

impl BatchRunItem {
    /// The report as an event, its texts made storable. Its bounds are checked once, by the
    /// store that writes it ([`BatchEvent::validate`]): a 422 naming the field.
    pub(crate) fn into_event(self) -> Result<BatchEvent, ApiError> {
        let mut event = BatchEvent {
            id: self.batch_run_id,
            batch_kind: self.batch_kind,
            status: parse_enum::<Status>("status", &self.status)?,
            started_at: self.started_at,
            at: self.at.unwrap_or_else(Utc::now),
            total: self.total,
            done: self.done,
            failed: self.failed,
            host: self.host,
            error_message: self.error_message,
        };
        event.sanitize();
        Ok(event)
    }
}
