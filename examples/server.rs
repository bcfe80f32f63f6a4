//! The standalone cronmon server: API at `/api/admin`, dashboard at `/api/admin/dashboard`.
//!
//! Run with
//! ```sh
//! cargo run --release --example server                         # sqlite://cronmon.db, 127.0.0.1:8080
//! cargo run --release --example server -- --demo               # plus six demo crons and a week of history
//! CRONMON_URL=postgres://postgres@127.0.0.1/cronmon cargo run --release --example server
//! ```
//! Without `CRON_SECRET`, a random secret is made and printed once.

use std::time::Duration;

use clap::Parser;
use cronmon_http::server::{ServerConfig, serve, shutdown_signal};

/// cronmon: monitor cron jobs and batch jobs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Database: sqlite://FILE or postgres://… (falls back to DATABASE_URL).
    #[arg(long, env = "CRONMON_URL")]
    database_url: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "CRONMON_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Days of history to keep (1 to 3660).
    #[arg(long, env = "CRONMON_RETENTION_DAYS", default_value_t = 7,
          value_parser = clap::value_parser!(u64).range(1..=3660))]
    retention_days: u64,
    /// Seconds between sweeps: schedules judged (late and missed slots, incidents), stuck runs
    /// looked for, orphans closed (1 to 86400).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    sweep_secs: u64,
    /// After cronmon's own downtime, how long slots due while it was down wait before they are
    /// judged, so runs spooled meanwhile arrive first ("5m", "90s", "0s"; 0 to 1 day).
    #[arg(long, env = "CRONMON_SETTLE", default_value = "5m", value_parser = settle)]
    settle: Duration,
    /// Minutes after which a stuck run is closed as failed/timed_out (1 to 527040, 366 days).
    #[arg(long, default_value_t = 24 * 60,
          value_parser = clap::value_parser!(u64).range(1..=527_040))]
    orphan_after_mins: u64,
    /// Group-commit writer tasks (events are sharded by cron name among them).
    #[arg(long, env = "CRONMON_WRITERS", value_parser = clap::value_parser!(u16).range(1..=64))]
    writers: Option<u16>,
    /// Fill an empty database with six demo crons and a week of history.
    #[arg(long)]
    demo: bool,
    /// Seconds a client has to send a request's head before its connection is closed (1 to
    /// 3600).
    #[arg(long, env = "CRONMON_HEADER_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout_secs: u64,
}

/// `--settle`: a duration of 0 to 1 day (clap names the flag in its refusal).
fn settle(text: &str) -> Result<Duration, String> {
    const DAY_MS: i64 = cronmon_core::rules::limits::DAY_MS;
    let ms = cronmon_core::rules::parse_duration_ms("settle", text).map_err(|e| e.message)?;
    if !(0..=DAY_MS).contains(&ms) {
        return Err("must be from 0 to 1 day (\"1d\")".into());
    }
    Ok(Duration::from_millis(ms.unsigned_abs()))
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CRONMON_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = ServerConfig {
        database_url: args
            .database_url
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .unwrap_or_else(|| "sqlite://cronmon.db".into()),
        bind: args.bind,
        // The secret comes from the environment only: never on a command line.
        secret: std::env::var("CRON_SECRET").ok().filter(|s| !s.is_empty()),
        retention: Duration::from_secs(args.retention_days * 24 * 3600),
        sweep_every: Duration::from_secs(args.sweep_secs),
        settle: args.settle,
        orphan_after: Duration::from_secs(args.orphan_after_mins * 60),
        demo: args.demo,
        writers: args.writers.map(usize::from),
        header_read_timeout: Duration::from_secs(args.header_timeout_secs),
        ..ServerConfig::default()
    };
    if let Err(e) = serve(config, shutdown_signal()).await {
        eprintln!("cronmon: {e}");
        std::process::exit(1);
    }
}
