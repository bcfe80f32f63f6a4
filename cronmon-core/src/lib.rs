//! The core of cronmon: the data model, storage on PostgreSQL and SQLite, and recording.
//!
//! Most users depend on the `cronmon` facade crate instead, which re-exports this one.

#![warn(missing_docs)]

pub mod error;
pub mod model;
pub mod store;

pub use error::{Error, Result};
pub use model::{
    CronName, CronStats, Event, Execution, ExecutionFilter, Finish, Heartbeat, Outcome, Page,
    PageRequest, Reason, Schedule, ScheduleUpdate, Start, Status, StuckRun, TimelineDay,
    TriggerType,
};
pub use store::{Backend, Store, connect};
