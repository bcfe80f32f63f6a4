//! Sinks: the writers the worker opens to a destination — a database directly
//! ([`store`]), or a cronmon server over HTTP (`server`, feature `remote`).

#[cfg(feature = "remote")]
mod server;
mod store;

use super::DestinationConfig;
use crate::error::Error;
use crate::model::{CronName, Event, ScheduleUpdate};

/// Why a sink could not take what it was given.
#[derive(Debug, Clone)]
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

/// What became of one event of a delivered batch. A destination at fault for every event (a
/// wrong URL, a read-only database) is a [`SinkError::Refused`] of the whole batch instead, so
/// the batch is spooled.
pub(crate) enum EventResult {
    Done,
    Transient,
    /// The destination holds the run with another outcome: definitive, the one refusal after
    /// which an event is dropped.
    Conflict(String),
    /// The destination refuses this event for good as invalid: kept in the dead-letter file.
    Invalid(String),
}

/// A destination opened for writing, on the recorder thread's runtime.
#[derive(Clone)]
pub(crate) enum Sink {
    Store(store::StoreSink),
    #[cfg(feature = "remote")]
    Server(server::Client),
}

impl Sink {
    pub(crate) async fn open(config: &DestinationConfig) -> Result<Sink, SinkError> {
        match config {
            DestinationConfig::Database { url } => {
                Ok(Sink::Store(store::StoreSink::open(url).await?))
            }
            #[cfg(feature = "remote")]
            DestinationConfig::Server { base, secret } => Ok(Sink::Server(
                server::Client::new(base, secret.as_deref())
                    .map_err(|e| SinkError::Refused(e.to_string()))?,
            )),
            #[cfg(not(feature = "remote"))]
            DestinationConfig::Server { .. } => Err(SinkError::Refused(
                "reporting over HTTP needs cronmon's `remote` feature".into(),
            )),
        }
    }

    /// Writes `events` in order; one result per event, unless the whole batch failed.
    pub(crate) async fn deliver(&self, events: &[Event]) -> Result<Vec<EventResult>, SinkError> {
        match self {
            Sink::Store(store) => store.deliver(events).await,
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
            Sink::Store(store) => store.upsert_schedule(name, update).await,
            #[cfg(feature = "remote")]
            Sink::Server(client) => client.upsert_schedule(name, update).await,
        }
    }

    /// Closes as `crashed` the runs of this host whose process is gone (see
    /// [`store::StoreSink::close_crashed`]). Over HTTP the server's own sweeps do this.
    pub(crate) async fn close_crashed(&self) -> Result<u64, SinkError> {
        match self {
            Sink::Store(store) => store.close_crashed().await,
            #[cfg(feature = "remote")]
            Sink::Server(_) => Ok(0),
        }
    }
}
