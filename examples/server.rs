//! The standalone cronmon server: API at `/api/admin`, dashboard at `/api/admin/dashboard`.
//! The same program as `cronmon serve` (the `cronmon-cli` crate): both call
//! `cronmon_http::standalone::run_server`.
//!
//! Run with
//! ```sh
//! cargo run --release --example server                         # sqlite://cronmon.db, 127.0.0.1:8080
//! cargo run --release --example server -- --demo               # plus six demo crons and a week of history
//! CRONMON_URL=postgres://postgres@127.0.0.1/cronmon cargo run --release --example server
//! # declare a cron's schedule and limits in the database, print it, and exit:
//! cargo run --release --example server -- schedule nightly-report --cron "0 3 * * *" \
//!     --timezone Europe/Paris --grace 10m --timeout 2h --failure-threshold 2
//! ```
//! Without `CRON_SECRET`, a random secret is made and printed once. Notification channels and
//! the notifier's settings come from a TOML file (`--config cronmon.toml`, see the README's
//! "Notifications"); the flags win over it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cronmon_http::standalone::{ScheduleArgs, ServeArgs, run_schedule, run_server};

/// cronmon: monitor cron jobs and batch jobs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Database: sqlite://FILE or postgres://… (falls back to DATABASE_URL).
    #[arg(long, env = "CRONMON_URL")]
    database_url: Option<String>,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Declares or changes a cron's schedule and limits in the database, prints the cron as
    /// stored, and exits (what is not given is kept).
    Schedule(ScheduleArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let code = match args.command {
        Some(Command::Schedule(schedule)) => run_schedule(args.database_url, schedule).await,
        None => run_server(args.database_url, args.serve).await,
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
