//! cronmon: monitor cron jobs and batch jobs.
//!
//! Annotate a job's `main` and every run is recorded — start, end, outcome, duration, output —
//! in PostgreSQL, SQLite, or a cronmon server:
//!
//! ```no_run
//! # #[cfg(feature = "macros")] mod demo {
//! #[cronmon::tracked_cron("nightly-report")]
//! fn main() -> Result<(), std::io::Error> {
//!     Ok(())
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! See [`Monitor`] and [`CronRun`] for the guard API.

pub use cronmon_core::*;

/// Records every call of a function as one run of a cron; see the crate's README.
#[cfg(feature = "macros")]
pub use cronmon_macros::tracked_cron;

/// The HTTP API as a mountable axum router, and the standalone server (feature `http`).
#[cfg(feature = "http")]
pub use cronmon_http as http;
