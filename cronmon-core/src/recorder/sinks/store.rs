//! The sink of a database destination: a [`Store`], and the crash sweep that only a job on the
//! same host as its runs can do.

use std::sync::Arc;

use chrono::Utc;

use super::{EventResult, SinkError};
use crate::error::Error;
use crate::model::{CronName, Event, Finish, Reason, ScheduleUpdate, Status};
use crate::store::{self, Store};
use crate::sys::{self, PidState};

/// Most events written in one transaction: long enough to share a commit among many runs,
/// short enough that a transaction holds its crons' locks only briefly.
pub(crate) const STORE_BATCH: usize = 512;

/// A store opened by the recorder thread.
#[derive(Clone)]
pub(crate) struct StoreSink(Arc<dyn Store>);

impl StoreSink {
    pub(crate) async fn open(url: &str) -> Result<Self, SinkError> {
        Ok(Self(store::connect(url).await?))
    }

    /// Writes `events` in transactions of at most [`STORE_BATCH`]; one result per event. A
    /// failure of the first transaction is the destination's; of a later one, what is left
    /// comes back transient, to retry.
    pub(crate) async fn deliver(&self, events: &[Event]) -> Result<Vec<EventResult>, SinkError> {
        let mut out = Vec::with_capacity(events.len());
        for chunk in events.chunks(STORE_BATCH) {
            match self.deliver_chunk(chunk, &mut out).await {
                Err(SinkError::Transient(_)) if !out.is_empty() => {
                    out.resize_with(events.len(), || EventResult::Transient);
                    break;
                }
                r => r?,
            }
        }
        Ok(out)
    }

    async fn deliver_chunk(
        &self,
        events: &[Event],
        out: &mut Vec<EventResult>,
    ) -> Result<(), SinkError> {
        let results = self.0.record_batch(events).await?;
        for (event, result) in events.iter().zip(results) {
            out.push(match result {
                Ok(_) => EventResult::Done,
                Err(e) if e.is_transient() => EventResult::Transient,
                // A heartbeat of a run closed or not stored yet: a sign of life, nothing to keep.
                Err(Error::UnknownExecution(_)) if matches!(event, Event::Heartbeat(_)) => {
                    EventResult::Done
                }
                // A finish whose start has not arrived yet (it may wait in another process's
                // spool): retried, then spooled, never counted as delivered.
                Err(Error::UnknownExecution(_)) => EventResult::Transient,
                Err(e @ Error::ConflictingOutcome { .. }) => EventResult::Conflict(e.to_string()),
                Err(e @ (Error::InvalidField { .. } | Error::InvalidName(_))) => {
                    EventResult::Invalid(e.to_string())
                }
                Err(e) if e.is_invalid_data() => EventResult::Invalid(e.to_string()),
                // Permission denied, a read-only file, a missing table: the destination is at
                // fault, not the event. The whole batch waits in the spool (writes are
                // idempotent, so what this batch did store is not doubled by its replay).
                Err(e) => return Err(SinkError::Refused(e.to_string())),
            });
        }
        Ok(())
    }

    pub(crate) async fn upsert_schedule(
        &self,
        name: &CronName,
        update: &ScheduleUpdate,
    ) -> Result<(), SinkError> {
        Ok(self.0.upsert_schedule(name, update).await?)
    }

    /// Closes as `crashed` the runs started on this host (since its last boot) whose process
    /// is gone, or whose pid now belongs to a younger process.
    pub(crate) async fn close_crashed(&self) -> Result<u64, SinkError> {
        let store = &self.0;
        let me = sys::this_process();
        let (Some(host), Some(boot)) = (&me.host, &me.boot_id) else {
            return Ok(0);
        };
        let mut closed = 0;
        for run in store.running_on_host(host).await? {
            let (Some(pid), Some(run_boot)) = (run.pid, &run.boot_id) else {
                continue;
            };
            if run_boot != boot {
                // Another boot: its processes are all gone, but pids cannot tell us that here;
                // the timeout sweep closes those.
                continue;
            }
            let gone = match sys::pid_state(pid) {
                PidState::Gone => true,
                // A pid reused by a process started after the run: the run's process is gone.
                // The second of slack covers the coarse boot time.
                PidState::StartedAt(t) => t > run.started_at + chrono::Duration::seconds(1),
                PidState::Unknown => false,
            };
            if !gone {
                continue;
            }
            let now = Utc::now();
            let mut f = Finish::now(run.id, Status::Failed);
            f.reason = Some(Reason::Crashed);
            f.completed_at = now;
            f.duration_ms = Some((now - run.started_at).num_milliseconds().max(0));
            f.error_message = Some(format!(
                "the job's process (pid {pid} on {host}) ended without reporting an end: \
                 killed (SIGKILL, out of memory) or crashed"
            ));
            if store.close_run(&f).await? {
                closed += 1;
            }
        }
        Ok(closed)
    }
}
