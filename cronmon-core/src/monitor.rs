//! [`Monitor`]: where a job's runs are reported.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::{CronName, ScheduleUpdate};
use crate::process;
use crate::recorder::{self, DestinationConfig, RecorderStats, Route};

/// A cheap, clonable handle to where runs are reported: a PostgreSQL or SQLite database
/// directly, or a cronmon server over HTTP. A disabled monitor records nothing.
///
/// Building one never connects: the connection is made by the recorder thread (one per
/// process, shared by every monitor unless [`MonitorBuilder::own_recorder`] says otherwise),
/// which also replays what earlier processes could not deliver, and closes as `crashed` the
/// runs of this host whose process died without a word.
///
/// Runs start with [`Monitor::start`] and [`Monitor::track`] (see [`CronRun`]).
///
/// ```no_run
/// use cronmon_core::{CronRun, Monitor};
///
/// let monitor = Monitor::new("sqlite://cronmon.db")?;
/// let run = CronRun::start(&monitor, "nightly-report");
/// // … the job …
/// run.complete();
/// monitor.flush_blocking(std::time::Duration::from_secs(5));
/// # Ok::<(), cronmon_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Monitor {
    /// The destination and the recorder that serves it; `None` for a disabled monitor.
    pub(crate) route: Option<Route>,
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.route {
            Some(r) => f
                .debug_tuple("Monitor")
                .field(&r.destination.config)
                .finish(),
            None => f.write_str("Monitor(disabled)"),
        }
    }
}

/// How long [`Monitor::flush`] waits unless told: enough for a healthy database, short enough
/// that a job whose monitor is down still exits promptly (what is left goes to the spool).
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl Monitor {
    /// A monitor for `url`: `postgres://…`, `sqlite://…`, or a cronmon server's API base
    /// `http(s)://host:port/api/admin` (feature `remote`; the secret comes from `CRON_SECRET`).
    ///
    /// ```
    /// assert!(cronmon_core::Monitor::new("sqlite://cronmon.db").is_ok());
    /// assert!(cronmon_core::Monitor::new("mysql://db/x").is_err());
    /// ```
    pub fn new(url: &str) -> Result<Self> {
        Self::builder(url).build()
    }

    /// A builder, to set the secret or the spool folder.
    ///
    /// ```
    /// let monitor = cronmon_core::Monitor::builder("sqlite://cronmon.db")
    ///     .spool_dir(std::env::temp_dir().join("my-spool"))
    ///     .build()?;
    /// # Ok::<(), cronmon_core::Error>(())
    /// ```
    pub fn builder(url: &str) -> MonitorBuilder {
        MonitorBuilder {
            url: url.trim().to_owned(),
            secret: std::env::var("CRON_SECRET").ok().filter(|s| !s.is_empty()),
            spool_dir: None,
            own_recorder: false,
        }
    }

    /// The monitor the environment names: `CRONMON_URL`, else `DATABASE_URL`, with
    /// `CRON_SECRET` for a server and `CRONMON_SPOOL_DIR` for the spool. With nothing usable
    /// configured, a disabled monitor, and one warning on stderr: the job runs unmonitored
    /// rather than failing.
    ///
    /// ```
    /// let monitor = cronmon_core::Monitor::from_env();
    /// println!("monitoring: {}", monitor.is_enabled());
    /// ```
    pub fn from_env() -> Self {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        let Some((name, url)) = var("CRONMON_URL")
            .map(|u| ("CRONMON_URL", u))
            .or_else(|| var("DATABASE_URL").map(|u| ("DATABASE_URL", u)))
        else {
            warn_disabled("CRONMON_URL (or DATABASE_URL) is not set");
            return Self::disabled();
        };
        match Self::new(&url) {
            Ok(m) => m,
            Err(e) => {
                warn_disabled(&format!("{name} is not usable: {e}"));
                Self::disabled()
            }
        }
    }

    /// A monitor that records nothing.
    ///
    /// ```
    /// assert!(!cronmon_core::Monitor::disabled().is_enabled());
    /// ```
    pub fn disabled() -> Self {
        Self { route: None }
    }

    /// Whether runs are recorded.
    pub fn is_enabled(&self) -> bool {
        self.route.is_some()
    }

    /// Declares or changes the settings of cron `name` (schedule, limits); sent by the
    /// recorder like any event.
    ///
    /// ```no_run
    /// use cronmon_core::{Monitor, ScheduleUpdate};
    /// Monitor::from_env().upsert_schedule("nightly-report", ScheduleUpdate {
    ///     cron_expression: Some("0 3 * * *".into()),
    ///     timeout_ms: Some(30 * 60_000),
    ///     ..ScheduleUpdate::default()
    /// });
    /// ```
    pub fn upsert_schedule(&self, name: &str, update: ScheduleUpdate) {
        let Some(route) = &self.route else { return };
        match CronName::new(name) {
            Ok(name) => route.recorder.schedule(&route.destination, name, update),
            Err(e) => eprintln!("cronmon: schedule not declared: {e}"),
        }
    }

    /// Waits until everything reported so far (by any monitor sharing this one's recorder:
    /// every monitor of the process, unless built with [`MonitorBuilder::own_recorder`]) is
    /// delivered or written to the spool, at most `timeout`; returns whether that happened in time.
    /// Never blocks the async runtime.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// let monitor = cronmon_core::Monitor::from_env();
    /// if !monitor.flush(std::time::Duration::from_secs(5)).await {
    ///     eprintln!("some runs are still on their way");
    /// }
    /// # }
    /// ```
    pub async fn flush(&self, timeout: Duration) -> bool {
        match &self.route {
            Some(route) => route.recorder.flush(timeout).await,
            None => true,
        }
    }

    /// [`Monitor::flush`] for sync code (and `Drop`), blocking the thread.
    ///
    /// ```
    /// let monitor = cronmon_core::Monitor::disabled();
    /// assert!(monitor.flush_blocking(std::time::Duration::from_secs(5)));
    /// ```
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        match &self.route {
            Some(route) => route.recorder.flush_blocking(timeout),
            None => true,
        }
    }

    /// Closes as `crashed` the runs of this host whose process is gone, then replays the
    /// spool files of this monitor's destination (from any process). A monitor does this
    /// once by itself when it is first built; call this to do it again, e.g. in a long-running
    /// process. Queued like any event; the replay runs after the job's own events, a second
    /// at a time, and goes on in the background: [`Monitor::flush`] waits for its first
    /// second (of slices that fit before the flush's deadline).
    pub fn replay_spool(&self) {
        if let Some(route) = &self.route {
            route.recorder.replay(&route.destination);
        }
    }

    /// Counters of this monitor's recorder (the process-wide one, unless built with
    /// [`MonitorBuilder::own_recorder`]; for a disabled monitor, the process-wide one): events
    /// queued, delivered, spooled, replayed, overflowed (queue full) and dropped.
    pub fn stats(&self) -> RecorderStats {
        match &self.route {
            Some(route) => route.recorder.stats(),
            None => process::recorders::shared_stats(),
        }
    }
}

fn warn_disabled(why: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!("cronmon: {why}; this job runs unmonitored");
    }
}

/// Settings of a [`Monitor`].
#[derive(Clone)]
pub struct MonitorBuilder {
    url: String,
    secret: Option<String>,
    spool_dir: Option<PathBuf>,
    own_recorder: bool,
}

impl fmt::Debug for MonitorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitorBuilder")
            .field("url", &crate::store::redact(&self.url))
            .field("spool_dir", &self.spool_dir)
            .field("own_recorder", &self.own_recorder)
            .finish_non_exhaustive()
    }
}

impl MonitorBuilder {
    /// The server's secret, sent as `X-Cron-Secret` (default: `CRON_SECRET`).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Where undeliverable events wait (default: `CRONMON_SPOOL_DIR`, else
    /// `$XDG_STATE_HOME/cronmon/spool`, else `~/.local/state/cronmon/spool`; on platforms
    /// without a state folder, `cronmon/spool` in the local data folder).
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// Gives the monitor (and its clones) a recorder thread of its own, with its own queue,
    /// counters ([`Monitor::stats`]) and flushes, instead of the one every other monitor of the
    /// process shares: a destination that is down then holds up only its own runs. The exit
    /// flush and the signal handler flush it too. Monitors of one destination should share a
    /// recorder (their spool files are replayed by whichever recorder serves it).
    ///
    /// ```
    /// let monitor = cronmon_core::Monitor::builder("sqlite://cronmon.db")
    ///     .own_recorder()
    ///     .build()?;
    /// assert_eq!(monitor.stats().enqueued, 0);
    /// # Ok::<(), cronmon_core::Error>(())
    /// ```
    pub fn own_recorder(mut self) -> Self {
        self.own_recorder = true;
        self
    }

    /// Checks the URL and makes the monitor. Connecting happens later, in the background.
    pub fn build(self) -> Result<Monitor> {
        let scheme = self
            .url
            .split_once("://")
            .map(|(s, _)| s)
            .unwrap_or_else(|| self.url.split_once(':').map_or("", |(s, _)| s));
        let config = match scheme {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => DestinationConfig::Database { url: self.url },
            #[cfg(feature = "sqlite")]
            "sqlite" => DestinationConfig::Database { url: self.url },
            #[cfg(feature = "remote")]
            "http" => DestinationConfig::Server {
                base: self.url,
                secret: self.secret,
            },
            #[cfg(feature = "rustls")]
            "https" => DestinationConfig::Server {
                base: self.url,
                secret: self.secret,
            },
            _ => return Err(Error::UnsupportedUrl(crate::store::redact(&self.url))),
        };
        let spool_dir = self.spool_dir.or_else(recorder::default_spool_dir);
        process::panic::install_panic_hook();
        let recorder = if self.own_recorder {
            process::recorders::own()
        } else {
            process::recorders::shared()
        };
        let destination = recorder.destination(config, spool_dir);
        Ok(Monitor {
            route: Some(Route {
                recorder,
                destination,
            }),
        })
    }
}
