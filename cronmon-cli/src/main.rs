//! `cronmon`: the command to run and watch cron jobs and batch jobs.
//!
//! ```sh
//! cronmon exec nightly-report --schedule "0 3 * * *" -- ./report.sh
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod exec;
mod tail;

/// cronmon: monitor cron jobs and batch jobs.
#[derive(Debug, Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// Where runs go: a database (sqlite://FILE, postgres://…) or a cronmon server
    /// (http://HOST:PORT/api/admin). Falls back to DATABASE_URL.
    #[arg(long, env = "CRONMON_URL", global = true, value_name = "URL")]
    url: Option<String>,
    /// The server's secret (for a server URL).
    #[arg(
        long,
        env = "CRON_SECRET",
        global = true,
        hide_env_values = true,
        value_name = "SECRET"
    )]
    secret: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a command as one run of a cron: its output passes through, its exit code is kept.
    Exec(exec::ExecArgs),
}

/// The monitor the flags and the environment name; a warning and an unmonitored job when none
/// or a bad one is given (monitoring never stops the job).
fn monitor(cli: &Cli) -> cronmon::Monitor {
    let url = cli
        .url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .filter(|u| !u.trim().is_empty());
    let Some(url) = url else {
        return cronmon::Monitor::from_env();
    };
    let mut builder = cronmon::Monitor::builder(&url);
    if let Some(secret) = &cli.secret {
        builder = builder.secret(secret.clone());
    }
    match builder.build() {
        Ok(monitor) => monitor,
        Err(e) => {
            eprintln!("cronmon: {e}; the command runs unmonitored");
            cronmon::Monitor::disabled()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Exec(ref _args) => {
            let monitor = monitor(&cli);
            let Command::Exec(args) = cli.command;
            exec::exec(&monitor, args)
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
