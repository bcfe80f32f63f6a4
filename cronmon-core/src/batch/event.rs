//! [`BatchEvent`]: what a batch run reports, as the recorder queues it and the store writes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Result;
use crate::model::{MAX_TEXT_BYTES, Status, cut_text, scrub_text};
use crate::rules;

/// One report of a batch run: its start, its progress, or its end. Each report carries the
/// run's whole state so far (counts since the start, not increments), so any one of them
/// stores the run, in any order and any number of times: a retried or replayed report stores
/// nothing twice, and a start that arrives after the progress changes nothing it reported.
///
/// ```
/// use cronmon_core::batch::BatchEvent;
/// let start = BatchEvent::start("kbIndexation", Some(245));
/// assert!(start.validate(chrono::Utc::now()).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchEvent {
    /// The batch run's id, a UUIDv7 made by the client.
    pub id: Uuid,
    /// The batch kind (`kbIndexation`). Named so, not `kind`, which tells events apart.
    pub batch_kind: String,
    /// `running` for a start or progress, `completed` or `failed` for the end.
    pub status: Status,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When this report was made (the time of the progress, or the end).
    pub at: DateTime<Utc>,
    /// Items in all, when known.
    pub total: Option<i64>,
    /// Items done so far.
    pub done: i64,
    /// Items failed so far.
    pub failed: i64,
    /// Host name of the job's machine.
    pub host: Option<String>,
    /// Why the run failed, when it did.
    pub error_message: Option<String>,
}

impl BatchEvent {
    /// The start of a run of `kind` now, with a fresh UUIDv7.
    pub fn start(kind: impl Into<String>, total: Option<i64>) -> Self {
        let now = Utc::now();
        BatchEvent {
            id: crate::run::ids::next(now),
            batch_kind: kind.into(),
            status: Status::Running,
            started_at: now,
            at: now,
            total,
            done: 0,
            failed: 0,
            host: None,
            error_message: None,
        }
    }

    /// Checks the report against cronmon's limits, `now` being the checker's clock: the kind's
    /// name ([`batch_kind`](super::batch_kind), refused as `batchKind`), its times within a day ahead and ten years
    /// back, counts from 0 to 10^15, a short host name.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        super::batch_kind_named("batchKind", &self.batch_kind)?;
        rules::sent_time("startedAt", self.started_at, now)?;
        rules::sent_time("at", self.at, now)?;
        rules::progress("done", self.done)?;
        rules::progress("failed", self.failed)?;
        if let Some(total) = self.total {
            rules::progress("total", total)?;
        }
        if let Some(host) = &self.host {
            rules::short_text("host", host)?;
        }
        Ok(())
    }

    /// Makes the texts storable everywhere: no NUL, the host and the error cut to their limits.
    pub fn sanitize(&mut self) {
        if let Some(host) = &mut self.host {
            scrub_text(host);
            cut_text(host, rules::limits::SHORT_TEXT_MAX_BYTES);
        }
        if let Some(error) = &mut self.error_message {
            scrub_text(error);
            cut_text(error, MAX_TEXT_BYTES);
        }
    }

    /// The error as stored: cut and scrubbed (an event that skipped [`sanitize`](Self::sanitize)
    /// is stored all the same).
    pub(crate) fn stored_error(&self) -> Option<String> {
        self.error_message.clone().map(|mut e| {
            cut_text(&mut e, MAX_TEXT_BYTES);
            scrub_text(&mut e);
            e
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn bounds_name_their_field() {
        let field = |e: BatchEvent| match e.validate(Utc::now()) {
            Err(Error::InvalidField { field, .. }) => Some(field),
            Ok(()) => None,
            Err(other) => panic!("unexpected {other}"),
        };
        let ok = BatchEvent::start("crawl", Some(10));
        assert_eq!(field(ok.clone()), None);
        assert_eq!(
            field(BatchEvent {
                batch_kind: "a b".into(),
                ..ok.clone()
            }),
            Some("batchKind")
        );
        assert_eq!(
            field(BatchEvent {
                done: -1,
                ..ok.clone()
            }),
            Some("done")
        );
        assert_eq!(
            field(BatchEvent {
                total: Some(rules::limits::PROGRESS_MAX + 1),
                ..ok.clone()
            }),
            Some("total")
        );
        assert_eq!(
            field(BatchEvent {
                at: ok.at + chrono::TimeDelta::days(3),
                ..ok
            }),
            Some("at")
        );
    }

    #[test]
    fn sanitize_cuts_and_scrubs() {
        let mut e = BatchEvent::start("crawl", None);
        e.error_message = Some(format!("a\0{}", "é".repeat(MAX_TEXT_BYTES)));
        e.sanitize();
        let error = e.error_message.unwrap();
        assert!(error.len() <= MAX_TEXT_BYTES && !error.contains('\0'));
    }
}
