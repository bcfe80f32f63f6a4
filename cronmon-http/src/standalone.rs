//! The standalone server as a program: its flags ([`ServeArgs`]), the `schedule` command
//! ([`ScheduleArgs`]), and [`run_server`], which `cronmon serve` and `cargo run --example
//! server` both call, so there is one server. Feature `standalone`.

use std::time::Duration;

use cronmon_core::notify::{Channel, NotifierConfig};
use cronmon_core::{CronName, ScheduleUpdate};

use crate::config_file::ConfigFile;
use crate::server::{ServerConfig, serve, shutdown_signal};

/// The standalone server's flags (`cronmon serve`, `cargo run --example server`).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A read replica of the PostgreSQL database (postgres://…): the dashboard's lists and
    /// figures are read there, writes go to the primary.
    #[arg(long, env = "CRONMON_READ_URL", value_name = "URL")]
    read_database_url: Option<String>,
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
    /// A batch run with no report (start, progress) for this long is closed as failed ("6h",
    /// "90m"; 1 minute to 366 days).
    #[arg(long, env = "CRONMON_BATCH_STALE_AFTER", default_value = "6h", value_parser = batch_stale_after)]
    batch_stale_after: Duration,
    /// Group-commit writer tasks (lone events on the first; many-event requests sharded by
    /// cron name among them all).
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
    /// TOML config file: public URL, notifier settings, notification channels.
    #[arg(long, env = "CRONMON_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Where the dashboard is served (`https://cron.example.com/`): messages link into it.
    #[arg(long, env = "CRONMON_PUBLIC_URL", value_parser = public_url)]
    public_url: Option<url::Url>,
    /// How often the notifier looks for notifications due ("1s").
    #[arg(long, value_parser = notify_duration)]
    notify_poll: Option<Duration>,
    /// How long one attempt to send a notification may take ("10s").
    #[arg(long, value_parser = notify_duration)]
    notify_timeout: Option<Duration>,
    /// The first retry's delay, doubled at each failure up to the file's `retry_max` ("30s").
    #[arg(long, value_parser = notify_duration)]
    notify_retry_base: Option<Duration>,
    /// Attempts before a notification is given up (1 to 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    notify_max_attempts: Option<u32>,
    /// How long a claimed notification stays with the server that claimed it: if that server
    /// dies mid-send, another one (or itself, restarted) sends it again after this, with the
    /// same idempotency key (default 60 s, at least twice the timeout).
    #[arg(long, value_parser = notify_duration)]
    notify_lease: Option<Duration>,
    /// Log lines as text (colours only on a terminal) or as one JSON object a line (for log
    /// shippers).
    #[arg(long, env = "CRONMON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How the server writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text, coloured only on a terminal.
    Text,
    /// One JSON object a line.
    Json,
}

/// Declares or changes a cron's schedule and limits in the database, prints the cron as
/// stored, and exits (what is not given is kept). Checked by the same rules as the API.
#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    /// The cron's name.
    name: String,
    /// 5-field crontab expression or alias (`0 3 * * *`, `@hourly`).
    #[arg(long = "cron")]
    cron_expression: Option<String>,
    /// IANA time zone of the expression.
    #[arg(long)]
    timezone: Option<String>,
    /// Start deadline after each due time ("5m").
    #[arg(long)]
    grace: Option<String>,
    /// Max runtime ("1h").
    #[arg(long)]
    timeout: Option<String>,
    /// Longest silence of a running run ("10m").
    #[arg(long)]
    heartbeat_timeout: Option<String>,
    /// Consecutive failures that open an incident (1 to 100).
    #[arg(long)]
    failure_threshold: Option<i32>,
    /// Consecutive successes that resolve it (1 to 100).
    #[arg(long)]
    recovery_threshold: Option<i32>,
    /// Slow-run factor over the p95 of the last 7 days (1 to 1000).
    #[arg(long)]
    anomaly_factor: Option<f64>,
    /// A completed run shorter than this is flagged fast ("2s").
    #[arg(long)]
    min_duration: Option<String>,
    /// Whether flagged runs count as failures.
    #[arg(long)]
    anomaly_incidents: Option<bool>,
    /// Whether the cron is monitored at all.
    #[arg(long)]
    enabled: Option<bool>,
}

/// What `schedule` was given, as the update the store checks and applies.
fn update_of(command: ScheduleArgs) -> Result<(String, ScheduleUpdate), String> {
    let ScheduleArgs {
        name,
        cron_expression,
        timezone,
        grace,
        timeout,
        heartbeat_timeout,
        failure_threshold,
        recovery_threshold,
        anomaly_factor,
        min_duration,
        anomaly_incidents,
        enabled,
    } = command;
    let ms = |field: &'static str, text: Option<String>| {
        text.map(|t| cronmon_core::rules::parse_duration_ms(field, &t))
            .transpose()
            .map_err(|e| format!("--{}: {}", flag_of(field), e.message))
    };
    Ok((
        name,
        ScheduleUpdate {
            cron_expression,
            timezone,
            grace_ms: ms("graceMs", grace)?,
            timeout_ms: ms("timeoutMs", timeout)?,
            heartbeat_timeout_ms: ms("heartbeatTimeoutMs", heartbeat_timeout)?,
            failure_threshold,
            recovery_threshold,
            anomaly_factor,
            min_duration_ms: ms("minDurationMs", min_duration)?,
            anomaly_incidents,
            is_enabled: enabled,
            ..ScheduleUpdate::default()
        },
    ))
}

/// The flag of an API field, for messages (`graceMs` → `grace`).
fn flag_of(field: &str) -> &str {
    match field {
        "cronExpression" => "cron",
        "timezone" => "timezone",
        "graceMs" => "grace",
        "timeoutMs" => "timeout",
        "heartbeatTimeoutMs" => "heartbeat-timeout",
        "failureThreshold" => "failure-threshold",
        "recoveryThreshold" => "recovery-threshold",
        "anomalyFactor" => "anomaly-factor",
        "minDurationMs" => "min-duration",
        other => other,
    }
}

/// `schedule`: one upsert, then the cron as stored on stdout.
async fn declare(database_url: &str, command: ScheduleArgs) -> Result<(), String> {
    let (name, update) = update_of(command)?;
    let name = CronName::new(name).map_err(|e| e.to_string())?;
    let store = cronmon_core::store::connect(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let stored = async {
        store.upsert_schedule(&name, &update).await?;
        store.schedule(&name).await
    }
    .await;
    store.close().await;
    match stored {
        Ok(Some(schedule)) => {
            let json = serde_json::to_string_pretty(&schedule).map_err(|e| e.to_string())?;
            println!("{json}");
            Ok(())
        }
        Ok(None) => Err(format!("{name}: not stored")),
        Err(cronmon_core::Error::InvalidField { field, message }) => {
            Err(format!("--{}: {message}", flag_of(field)))
        }
        Err(e) => Err(e.to_string()),
    }
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

/// `--batch-stale-after`: a duration of 1 minute to 366 days.
fn batch_stale_after(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(60) || d > Duration::from_secs(366 * 86_400) {
        return Err("must be from 1 minute to 366 days (\"366d\")".into());
    }
    Ok(d)
}

/// `--public-url`: an http(s) URL.
fn public_url(text: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(text).map_err(|e| e.to_string())?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    Ok(u)
}

/// The notifier's durations: 10 ms to 1 day.
fn notify_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(10) || d > Duration::from_secs(86_400) {
        return Err("must be from 10ms to 1 day".into());
    }
    Ok(d)
}

/// Batch kinds and their queries, from the config file.
type BatchSources = Vec<(String, String)>;

/// The notifier's settings, the channels and the batch sources: the config file's, then the
/// flags over them.
fn notify_settings(
    args: &ServeArgs,
) -> Result<(NotifierConfig, Vec<Channel>, BatchSources), String> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path).map_err(|e| e.to_string())?,
        None => ConfigFile::default(),
    };
    let mut notifier = NotifierConfig {
        public_url: args.public_url.clone().or(file.public_url),
        ..NotifierConfig::default()
    };
    if let Some(t) = args.notify_timeout.or(file.timeout) {
        notifier.timeout = t;
    }
    if let Some(b) = args.notify_retry_base.or(file.retry_base) {
        notifier.retry_base = b;
    }
    if let Some(m) = file.retry_max {
        notifier.retry_max = m;
    }
    // A base given on the command line above the file's maximum raises it.
    notifier.retry_max = notifier.retry_max.max(notifier.retry_base);
    if let Some(a) = args.notify_max_attempts.or(file.max_attempts) {
        notifier.max_attempts = a;
    }
    if let Some(p) = args.notify_poll {
        notifier.poll = p;
    }
    match args.notify_lease {
        Some(lease) => notifier.lease = lease,
        // A claim outlives an attempt twice over, whatever the timeout.
        None => notifier.lease = notifier.lease.max(notifier.timeout.saturating_mul(2)),
    }
    notifier
        .validate()
        .map_err(|e| format!("notifier settings: {e}"))?;
    Ok((notifier, file.channels, file.batch_sources))
}

/// The database URL given, else `DATABASE_URL`, else `sqlite://cronmon.db`.
fn database_url(given: Option<String>) -> String {
    given
        .filter(|u| !u.trim().is_empty())
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| "sqlite://cronmon.db".into())
}

/// `schedule`: declares a cron's settings in the database, prints it, and returns the exit
/// code (0, or 2 with the reason on stderr).
pub async fn run_schedule(database_url: Option<String>, args: ScheduleArgs) -> i32 {
    match declare(&self::database_url(database_url), args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cronmon: {e}");
            2
        }
    }
}

/// Starts logging as `format` says: colours only when stdout is a terminal.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CRONMON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // `try_init`: a host program that set up its own logging keeps it.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stdout().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

/// The standalone server (`cronmon serve`): reads the config file (a bad one is exit code 2
/// before anything listens), logs, serves until SIGTERM or Ctrl-C. Returns the exit code.
///
/// ```no_run
/// # async fn demo() {
/// use clap::Parser;
/// #[derive(clap::Parser)]
/// struct Args {
///     #[command(flatten)]
///     serve: cronmon_http::standalone::ServeArgs,
/// }
/// let args = Args::parse();
/// std::process::exit(cronmon_http::standalone::run_server(None, args.serve).await);
/// # }
/// ```
pub async fn run_server(database_url: Option<String>, args: ServeArgs) -> i32 {
    let (notifier, channels, batch_sources) = match notify_settings(&args) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("cronmon: {e}");
            return 2;
        }
    };
    init_logging(args.log_format);
    let config = ServerConfig {
        database_url: self::database_url(database_url),
        read_database_url: args.read_database_url.filter(|u| !u.trim().is_empty()),
        bind: args.bind,
        // The secret comes from the environment only: never on a command line.
        secret: std::env::var("CRON_SECRET").ok().filter(|s| !s.is_empty()),
        retention: Duration::from_secs(args.retention_days * 24 * 3600),
        sweep_every: Duration::from_secs(args.sweep_secs),
        settle: args.settle,
        orphan_after: Duration::from_secs(args.orphan_after_mins * 60),
        batch_stale_after: args.batch_stale_after,
        demo: args.demo,
        writers: args.writers.map(usize::from),
        header_read_timeout: Duration::from_secs(args.header_timeout_secs),
        channels,
        batch_sources,
        notifier,
        ..ServerConfig::default()
    };
    match serve(config, shutdown_signal()).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cronmon: {e}");
            1
        }
    }
}
