//! cronmon's integration tests: one test binary (one link step), one module per area, all over
//! real parts — SQLite files, PostgreSQL databases made per test, the real router over
//! loopback, real job processes, real bash and curl, headless Chromium.
//!
//! `bash scripts/test.sh` runs them with everything they need; `cargo test --test it store::`
//! runs one area.

#[macro_use]
mod common;

mod batch_jobs;
mod batch_runs;
mod batches;
mod bounds;
mod cli_crontab;
mod cli_exec;
mod cli_read;
mod dashboard;
mod faults;
mod health;
mod http_api;
mod http_batch_runs;
mod http_events;
mod http_export;
mod http_fuzz;
mod http_health;
mod http_notify;
mod http_server;
mod jobs;
mod macro_ui;
mod notify;
mod read_replica;
mod recorder;
mod spool;
mod sql_surface;
mod store;
mod store_batch;
