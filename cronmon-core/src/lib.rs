//! The core of cronmon: the data model, storage on PostgreSQL and SQLite, and recording.
//!
//! Most users depend on the `cronmon` facade crate instead, which re-exports this one.

#![warn(missing_docs)]

pub mod batch;
pub mod error;
pub mod health;
pub mod model;
pub mod notify;
pub mod store;

mod monitor;
mod process;
mod recorder;
mod run;
mod sys;
mod validate;

#[doc(hidden)]
#[allow(missing_docs, missing_debug_implementations)]
pub mod __private;

/// The validation rules (cron names, cron expressions and time zones, durations, limits),
/// which the store applies before it writes and the HTTP API and the attribute apply too.
pub use cronmon_rules as rules;

pub use error::{Error, Result};
pub use model::{
    CronName, CronStats, Event, Execution, ExecutionFilter, Finish, Heartbeat, Outcome, Page,
    PageRequest, Reason, RunningRun, Schedule, ScheduleUpdate, Start, Status, StuckRun,
    TimelineDay, TriggerType,
};
pub use monitor::{DEFAULT_FLUSH_TIMEOUT, Monitor, MonitorBuilder};
pub use process::signal::install_signal_handlers;
pub use recorder::{QUEUE_CAPACITY, RecorderStats};
pub use run::{CronRun, RunBuilder, RunEnd, RunHandle, RunResult, current_run, error_chain};
pub use store::{Backend, Store, connect};
