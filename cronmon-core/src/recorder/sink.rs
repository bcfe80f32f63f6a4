//! Where the worker delivers: a database directly, or a cronmon server over HTTP.

use std::sync::Arc;

use chrono::Utc;

use crate::error::Error;
use crate::model::{CronName, Event, Finish, Reason, ScheduleUpdate, Status};
use crate::store::{self, Store};
use crate::sys::{self, PidState};

/// A destination as configured.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `postgres://…` or `sqlite://…`.
    Database { url: String },
    /// A cronmon server's API base, `http(s)://host:port/api/admin`.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    Server {
        base: String,
        secret: Option<String>,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Target {
    /// The destination for messages: never a password or secret.
    pub(crate) fn describe(&self) -> String {
        match self {
            Target::Database { url } | Target::Server { base: url, .. } => store::redact(url),
        }
    }

    /// What names this destination's spool files (not the secret: it may change between runs).
    pub(crate) fn spool_identity(&self) -> String {
        match self {
            Target::Database { url } | Target::Server { base: url, .. } => url.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) enum SinkError {
    /// Down, busy or unreachable: try again later.
    Transient(String),
    /// Refused for a reason retrying soon will not fix (a wrong secret, a bad URL): spool and
    /// warn.
    Refused(String),
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkError::Transient(m) | SinkError::Refused(m) => f.write_str(m),
        }
    }
}

impl From<Error> for SinkError {
    fn from(e: Error) -> Self {
        match e {
            Error::UnsupportedUrl(_) | Error::InvalidField { .. } | Error::InvalidName(_) => {
                SinkError::Refused(e.to_string())
            }
            // A migration that failed half-way, a database that is restarting: all worth
            // another try.
            other => SinkError::Transient(other.to_string()),
        }
    }
}

pub(crate) enum EventResult {
    Done,
    Transient,
    Rejected(String),
}

#[derive(Clone)]
pub(crate) enum Sink {
    Store(Arc<dyn Store>),
    #[cfg(feature = "remote")]
    Server(crate::remote::Client),
}

impl Sink {
    pub(crate) async fn open(target: &Target) -> Result<Sink, SinkError> {
        match target {
            Target::Database { url } => Ok(Sink::Store(store::connect(url).await?)),
            #[cfg(feature = "remote")]
            Target::Server { base, secret } => Ok(Sink::Server(
                crate::remote::Client::new(base, secret.as_deref())
                    .map_err(|e| SinkError::Refused(e.to_string()))?,
            )),
            #[cfg(not(feature = "remote"))]
            Target::Server { .. } => Err(SinkError::Refused(
                "reporting over HTTP needs cronmon's `remote` feature".into(),
            )),
        }
    }

    pub(crate) async fn deliver(&self, events: &[Event]) -> Result<Vec<EventResult>, SinkError> {
        match self {
            Sink::Store(store) => {
                let results = store.record_batch(events).await?;
                Ok(results
                    .into_iter()
                    .map(|r| match r {
                        Ok(_) => EventResult::Done,
                        Err(e) if e.is_transient() => EventResult::Transient,
                        // A heartbeat of a run closed meanwhile: nothing to keep.
                        Err(Error::UnknownExecution(_)) => EventResult::Done,
                        Err(e) => EventResult::Rejected(e.to_string()),
                    })
                    .collect())
            }
            #[cfg(feature = "remote")]
            Sink::Server(client) => client.deliver(events).await,
        }
    }

    pub(crate) async fn upsert_schedule(
        &self,
        name: &CronName,
        update: &ScheduleUpdate,
    ) -> Result<(), SinkError> {
        match self {
            Sink::Store(store) => Ok(store.upsert_schedule(name, update).await?),
            #[cfg(feature = "remote")]
            Sink::Server(client) => client.upsert_schedule(name, update).await,
        }
    }

    /// Closes as `crashed` the runs started on this host (since its last boot) whose process
    /// is gone, or whose pid now belongs to a younger process. Over HTTP the server's own
    /// sweeps do this.
    // Without the `remote` feature a store is the only sink.
    #[allow(irrefutable_let_patterns)]
    pub(crate) async fn close_crashed(&self) -> Result<u64, SinkError> {
        let Sink::Store(store) = self else {
            return Ok(0);
        };
        let me = sys::process();
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
