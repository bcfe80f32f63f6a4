//! `cronmon`: the command to run and watch cron jobs and batch jobs.
//!
//! ```sh
//! cronmon exec nightly-report --schedule "0 3 * * *" -- ./report.sh
//! cronmon status            # exit 0 healthy, 1 failing/late/stuck, 2 monitor unreachable
//! ```

use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use clap::{CommandFactory, Parser, Subcommand};
use cronmon::Status;

mod crontab;
mod exec;
mod reader;
mod show;
mod tail;

use reader::{Reader, RunQuery};

/// cronmon: monitor cron jobs and batch jobs.
#[derive(Debug, Parser)]
#[command(name = "cronmon", version, about, propagate_version = true)]
struct Cli {
    /// Where runs go and are read from: a database (sqlite://FILE, postgres://…) or a cronmon
    /// server (http://HOST:PORT/api/admin). Falls back to DATABASE_URL.
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
    /// The standalone server: API at /api/admin, dashboard at /api/admin/dashboard, on the
    /// database of --url (default sqlite://cronmon.db).
    #[command(
        after_help = "Examples:\n  cronmon serve --demo\n  CRONMON_URL=postgres://cronmon@db/cronmon CRON_SECRET=… cronmon serve --bind 0.0.0.0:8080 --config /etc/cronmon.toml --log-format json"
    )]
    Serve(Box<cronmon_http::standalone::ServeArgs>),
    /// Declares or changes a cron's schedule and limits in the database, prints it as stored.
    #[command(
        after_help = "Example:\n  cronmon schedule nightly-report --cron \"0 3 * * *\" --timezone Europe/Paris --grace 10m"
    )]
    Schedule(cronmon_http::standalone::ScheduleArgs),
    /// Runs a command as one run of a cron: its output passes through, its exit code is kept.
    Exec(exec::ExecArgs),
    /// Puts a whole crontab under monitoring: each job wrapped in `cronmon exec`, its schedule
    /// registered.
    Crontab(crontab::CrontabArgs),
    /// Every cron with its state, last run, next run and 7-day success rate; exits 0 when all
    /// are healthy, 1 when one is failing, late or stuck, 2 when the monitor cannot be read.
    #[command(
        after_help = "Examples:\n  cronmon status\n  cronmon status --json | jq '.crons[] | select(.state != \"up\")'\n  cronmon status >/dev/null || echo 'a cron needs a look'"
    )]
    Status {
        /// One JSON object, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Recent runs, newest first.
    #[command(after_help = "Example:\n  cronmon runs nightly-report --status failed --since 2d")]
    Runs {
        /// Only this cron's.
        name: Option<String>,
        /// Only runs with this status: running, completed or failed.
        #[arg(long, value_parser = parse_status)]
        status: Option<Status>,
        /// Only runs started within this long (`2h`, `3d`).
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        since: Option<Duration>,
        /// How many (1 to 500).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// JSON lines, one run each.
        #[arg(long)]
        json: bool,
    },
    /// One run with its error and output.
    #[command(after_help = "Example:\n  cronmon run 0193a1b2-…")]
    Run {
        /// The run's id (as `cronmon runs` shows it).
        id: uuid::Uuid,
        /// The run as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Applies the database migrations and exits (for deploy pipelines).
    #[command(after_help = "Example:\n  CRONMON_URL=postgres://cronmon@db/cronmon cronmon migrate")]
    Migrate,
    /// Delivers what waits in the spool (runs recorded while the monitor was down) now.
    #[command(after_help = "Example:\n  cronmon replay --url http://monitor:8080/api/admin")]
    Replay {
        /// Longest time to spend delivering.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s", value_name = "DURATION")]
        timeout: Duration,
    },
    /// Prints a shell completion script.
    #[command(after_help = "Example:\n  cronmon completions bash > /etc/bash_completion.d/cronmon")]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

fn parse_status(s: &str) -> Result<Status, String> {
    s.parse::<Status>().map_err(|e| e.to_string())
}

/// The URL the flags or the environment give.
fn url(cli: &Cli) -> Option<String> {
    cli.url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .filter(|u| !u.trim().is_empty())
}

/// The monitor the flags and the environment name; a warning and an unmonitored job when none
/// or a bad one is given (monitoring never stops the job).
fn monitor(cli: &Cli) -> cronmon::Monitor {
    let Some(url) = url(cli) else {
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

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))
}

/// Runs a reading command; its errors are "cannot reach the monitor" (exit 2).
fn read<F, Fut>(cli: &Cli, f: F) -> i32
where
    F: FnOnce(Reader) -> Fut,
    Fut: std::future::Future<Output = Result<i32, reader::Unreachable>>,
{
    let Some(url) = url(cli) else {
        eprintln!("cronmon: no monitor given: set CRONMON_URL or pass --url");
        return 2;
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cronmon: {e}");
            return 2;
        }
    };
    rt.block_on(async {
        let reader = Reader::open(&url, cli.secret.clone()).await;
        match reader {
            Ok(reader) => f(reader).await,
            Err(e) => Err(e),
        }
    })
    .unwrap_or_else(|e| {
        eprintln!("cronmon: cannot read the monitor: {e}");
        2
    })
}

fn run(cli: Cli) -> i32 {
    if let Command::Serve(_) | Command::Schedule(_) = &cli.command {
        let database_url = url(&cli);
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("cronmon: cannot start: {e}");
                return 1;
            }
        };
        return match cli.command {
            Command::Serve(args) => {
                rt.block_on(cronmon_http::standalone::run_server(database_url, *args))
            }
            Command::Schedule(args) => {
                rt.block_on(cronmon_http::standalone::run_schedule(database_url, args))
            }
            _ => 2,
        };
    }
    match &cli.command {
        Command::Serve(_) | Command::Schedule(_) => 2,
        Command::Exec(_) => {
            let monitor = monitor(&cli);
            let Command::Exec(args) = cli.command else {
                return 2;
            };
            exec::exec(&monitor, args)
        }
        Command::Status { json } => {
            let json = *json;
            read(&cli, |reader| async move {
                let schedules = reader.schedules().await?;
                if json {
                    println!("{}", show::status_json(&schedules));
                } else {
                    print!(
                        "{}",
                        show::status_table(&schedules, Utc::now(), show::colours())
                    );
                }
                let unhealthy = schedules.iter().any(|s| {
                    show::UNHEALTHY.contains(&s.get("state").and_then(|v| v.as_str()).unwrap_or(""))
                });
                Ok(i32::from(unhealthy))
            })
        }
        Command::Runs {
            name,
            status,
            since,
            limit,
            json,
        } => {
            let query = RunQuery {
                cron: name.clone(),
                status: *status,
                since: since
                    .and_then(|d| chrono::TimeDelta::from_std(d).ok())
                    .map(|d| Utc::now() - d),
                limit: *limit,
            };
            let json = *json;
            read(&cli, |reader| async move {
                let runs = reader.runs(&query).await?;
                if json {
                    for r in &runs {
                        println!("{r}");
                    }
                } else {
                    print!("{}", show::runs_table(&runs, Utc::now(), show::colours()));
                }
                Ok(0)
            })
        }
        Command::Run { id, json } => {
            let (id, json) = (*id, *json);
            read(&cli, |reader| async move {
                match reader.run(id).await? {
                    Some(r) if json => println!("{r}"),
                    Some(r) => print!("{}", show::run_detail(&r, Utc::now(), show::colours())),
                    None => {
                        eprintln!("cronmon: no run {id}");
                        return Ok(1);
                    }
                }
                Ok(0)
            })
        }
        Command::Crontab(args) => crontab_command(&cli, args),
        Command::Migrate => migrate(&cli),
        Command::Replay { timeout } => replay(&cli, *timeout),
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "cronmon",
                &mut std::io::stdout(),
            );
            0
        }
    }
}

fn crontab_command(cli: &Cli, args: &crontab::CrontabArgs) -> i32 {
    let old = match crontab::read(args) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("cronmon: {e}");
            return 1;
        }
    };
    let program = args.cronmon.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.canonicalize().ok())
            .map_or_else(|| "cronmon".into(), |p| p.display().to_string())
    });
    let system = args.system
        || args.file.as_deref().is_some_and(|f| {
            f.starts_with("/etc/cron.d") || f == std::path::Path::new("/etc/crontab")
        });
    let mut env = Vec::new();
    if let Some(url) = url(cli) {
        let server = url.starts_with("http://") || url.starts_with("https://");
        env.push(("CRONMON_URL", url));
        if let (true, Some(secret)) = (server, &cli.secret) {
            env.push(("CRON_SECRET", secret.clone()));
        }
    }
    let wrapped = crontab::wrap(&old, &program, system, &env);
    for (line, why) in &wrapped.skipped {
        eprintln!("cronmon: line {line} kept as it is: {why}");
    }
    match (args.action, args.dry_run) {
        (crontab::Action::Print, _) => {
            print!("{}", wrapped.text);
            0
        }
        (crontab::Action::Install, true) => {
            let d = crontab::diff(&old, &wrapped.text);
            if d.is_empty() {
                println!("nothing to change: every job is monitored already");
            } else {
                print!("{d}");
            }
            0
        }
        (crontab::Action::Install, false) => {
            if wrapped.text == old {
                println!("nothing to change: every job is monitored already");
                return 0;
            }
            let backup = match crontab::write(args, &old, &wrapped.text) {
                Ok(backup) => backup,
                Err(e) => {
                    eprintln!("cronmon: {e}");
                    return 1;
                }
            };
            println!(
                "{} jobs now monitored ({} already were); the old crontab is in {}",
                wrapped.jobs.len(),
                wrapped.kept,
                backup.display()
            );
            register(cli, &wrapped.jobs)
        }
    }
}

/// Registers the jobs' schedules with the monitor, so a run that never happens is seen from
/// the first day (each run registers its schedule again anyway).
fn register(cli: &Cli, jobs: &[crontab::Job]) -> i32 {
    let monitor = monitor(cli);
    if !monitor.is_enabled() {
        eprintln!(
            "cronmon: no monitor given (CRONMON_URL): schedules are registered by each job's first run"
        );
        return 0;
    }
    for job in jobs {
        let update = cronmon::ScheduleUpdate {
            cron_expression: job.schedule.clone(),
            timezone: job.timezone.clone(),
            ..cronmon::ScheduleUpdate::default()
        };
        monitor.upsert_schedule(&job.name, update);
    }
    if monitor.flush_blocking(Duration::from_secs(10)) {
        println!("{} schedules registered", jobs.len());
    } else {
        eprintln!(
            "cronmon: the monitor did not answer: schedules are registered by each job's first run"
        );
    }
    0
}

fn migrate(cli: &Cli) -> i32 {
    let Some(url) = url(cli) else {
        eprintln!("cronmon: no database given: set CRONMON_URL or pass --url");
        return 2;
    };
    if url.starts_with("http://") || url.starts_with("https://") {
        eprintln!(
            "cronmon: migrate needs a database URL (sqlite://… or postgres://…); a server migrates its own database when it starts"
        );
        return 2;
    }
    let done = runtime().and_then(|rt| {
        rt.block_on(async {
            let store = cronmon::store::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            store.close().await;
            Ok::<_, String>(())
        })
    });
    match done {
        Ok(()) => {
            println!("migrations applied: the database is up to date");
            0
        }
        Err(e) => {
            eprintln!("cronmon: {e}");
            1
        }
    }
}

fn replay(cli: &Cli, timeout: Duration) -> i32 {
    let Some(url) = url(cli) else {
        eprintln!("cronmon: no monitor given: set CRONMON_URL or pass --url");
        return 2;
    };
    let monitor = monitor(cli);
    if !monitor.is_enabled() {
        return 2;
    }
    // Built, the monitor replays a first slice; each flush waits for what it queued, and
    // another replay is asked for while the last one still found runs to deliver.
    let deadline = std::time::Instant::now() + timeout;
    let mut replayed = 0;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let flushed = monitor.flush_blocking(left.min(Duration::from_secs(10)));
        let now = monitor.stats().replayed;
        if (now == replayed && flushed) || left.is_zero() {
            break;
        }
        replayed = now;
        monitor.replay_spool();
    }
    let stats = monitor.stats();
    println!(
        "replayed {} events to {}{}",
        stats.replayed,
        redact(&url),
        if stats.spooled > 0 {
            format!(
                "; {} still wait in the spool (the monitor did not take them)",
                stats.spooled
            )
        } else {
            String::new()
        }
    );
    i32::from(stats.spooled > 0)
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn main() -> ExitCode {
    let code = run(Cli::parse());
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
