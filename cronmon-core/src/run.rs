//! [`CronRun`]: the guard of one run, which records its end when dropped.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::{
    CronName, Event, Finish, Heartbeat, Reason, ScheduleUpdate, Start, Status, TriggerType,
};
use crate::monitor::Monitor;
use crate::process::panic::take_last_panic;
use crate::process::runs::{self, ActiveRun};
use crate::recorder::Route;
use crate::rules::limits;
use crate::sys;

/// What is shared between a run's guard, its handles, and the signal handler.
pub(crate) struct RunShared {
    route: Option<Route>,
    start: Option<Start>,
    began: Instant,
    cpu_at_start: Option<i64>,
    ended: AtomicBool,
    output: Mutex<Option<serde_json::Value>>,
    /// CPU time and peak memory to record instead of this process's (a wrapper's child's).
    usage: Mutex<Option<(i64, i64)>>,
    /// Milliseconds after `began` of the last heartbeat sent, to send at most one a second.
    last_beat_ms: AtomicI64,
    current: bool,
}

impl RunShared {
    fn id(&self) -> Uuid {
        self.start.as_ref().map_or(Uuid::nil(), |s| s.id)
    }

    /// Records the end, once: whoever comes first (guard, signal handler) wins.
    fn end(&self, end: RunEnd) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        runs::unregister(self);
        let (Some(route), Some(start)) = (&self.route, &self.start) else {
            return;
        };
        let mut usage = sys::usage();
        let mut cpu_at_start = self.cpu_at_start;
        if let Some((cpu_ms, max_rss_kb)) = *self.usage.lock().unwrap_or_else(|p| p.into_inner()) {
            usage.cpu_ms = Some(cpu_ms);
            usage.max_rss_kb = Some(max_rss_kb);
            cpu_at_start = Some(0);
        }
        let (status, reason, error, exit_code) = match end {
            RunEnd::Completed => (Status::Completed, None, None, Some(0)),
            RunEnd::Failed {
                reason,
                message,
                exit_code,
            } => (Status::Failed, Some(reason), Some(message), exit_code),
        };
        let finish = Finish {
            id: start.id,
            status,
            reason,
            completed_at: Utc::now(),
            // What the process measures is clamped to the limits rather than refused: a run
            // is never lost for its own figures.
            duration_ms: Some(
                i64::try_from(self.began.elapsed().as_millis())
                    .unwrap_or(i64::MAX)
                    .min(limits::RUN_DURATION_MAX_MS),
            ),
            output: self.output.lock().unwrap_or_else(|p| p.into_inner()).take(),
            output_truncated: false,
            error_message: error,
            exit_code,
            cpu_ms: usage
                .cpu_ms
                .zip(cpu_at_start)
                .map(|(now, then)| (now - then).clamp(0, limits::CPU_MS_MAX)),
            max_rss_kb: usage
                .max_rss_kb
                .map(|kb| kb.clamp(0, limits::MAX_RSS_KB_MAX)),
            start: Some(start.clone()),
        };
        route.send(Event::Finish(finish));
    }

    fn progress(&self, done: u64, total: u64) {
        let clamp =
            |v: u64| i64::try_from(v).map_or(limits::PROGRESS_MAX, |v| v.min(limits::PROGRESS_MAX));
        self.beat(Some(clamp(done)), Some(clamp(total)), false);
    }

    fn beat(&self, done: Option<i64>, total: Option<i64>, force: bool) {
        let (Some(route), Some(start)) = (&self.route, &self.start) else {
            return;
        };
        if self.ended.load(Ordering::Acquire) {
            return;
        }
        let now_ms = i64::try_from(self.began.elapsed().as_millis()).unwrap_or(i64::MAX);
        let last = self.last_beat_ms.load(Ordering::Relaxed);
        // A progress loop may call this millions of times: one a second is plenty, but the
        // last item (done == total) always goes out.
        let finished = done.is_some() && done == total;
        if !force && !finished && last >= 0 && now_ms - last < 1000 {
            return;
        }
        self.last_beat_ms.store(now_ms, Ordering::Relaxed);
        route.send(Event::Heartbeat(Heartbeat {
            id: start.id,
            at: Utc::now(),
            done,
            total,
        }));
    }

    fn set_output(&self, value: serde_json::Value) {
        *self.output.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
    }
}

impl ActiveRun for RunShared {
    fn is_current(&self) -> bool {
        self.current
    }

    fn interrupt(&self, signal: &str, number: i32) {
        self.end(RunEnd::Failed {
            reason: Reason::Interrupted,
            message: format!("interrupted by {signal}"),
            exit_code: Some(128 + number),
        });
    }
}

/// Starting runs from a [`Monitor`]. Written here rather than in `monitor.rs`, so that the
/// monitor does not depend on the run guard (the guard depends on the monitor).
impl Monitor {
    /// Starts a run of `name` (see [`CronRun::start`]).
    pub fn start(&self, name: &str) -> CronRun {
        CronRun::start(self, name)
    }

    /// Runs `future` as one run of `name`, recorded from its output (`Ok`/`()` completed,
    /// `Err` failed with the error's chain), `failed`/`panicked` if it panics, and
    /// `failed`/`abandoned` if it is dropped before it ends.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let monitor = cronmon_core::Monitor::from_env();
    /// let rows = monitor
    ///     .track("import", async { Ok::<_, std::io::Error>(42) })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn track<F>(&self, name: &str, future: F) -> F::Output
    where
        F: Future,
        F::Output: RunResult,
    {
        let run = CronRun::start(self, name);
        let out = future.await;
        run.end_with(out.run_end());
        out
    }
}

/// How a run ended, as the recorder writes it.
///
/// ```
/// use cronmon_core::{Monitor, CronRun, RunEnd};
/// let run = CronRun::start(&Monitor::disabled(), "import");
/// run.end_with(RunEnd::error("the source file is empty"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// `completed`, exit code 0.
    Completed,
    /// `failed`.
    Failed {
        /// Why.
        reason: Reason,
        /// The error with its chain, or the panic message.
        message: String,
        /// Exit code of the process, when it is known.
        exit_code: Option<i32>,
    },
}

impl RunEnd {
    /// `failed`/`error` with `message` and exit code 1.
    pub fn error(message: impl Into<String>) -> Self {
        RunEnd::Failed {
            reason: Reason::Error,
            message: message.into(),
            exit_code: Some(1),
        }
    }

    /// `failed`/`panicked` from a panic's payload, exit code 101 (as Rust's runtime exits).
    pub fn panicked(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .or_else(take_last_panic)
            .unwrap_or_else(|| "panicked".to_owned());
        RunEnd::Failed {
            reason: Reason::Panicked,
            message: format!("panicked: {message}"),
            exit_code: Some(101),
        }
    }
}

/// What a job's result says about its run: implemented for `()`, [`ExitCode`], and
/// `Result<T, E>` for any displayable `E` (`anyhow::Error` included, with its chain).
///
/// ```
/// use cronmon_core::{RunEnd, RunResult};
/// assert_eq!(().run_end(), RunEnd::Completed);
/// assert!(matches!(Err::<(), _>("boom").run_end(), RunEnd::Failed { .. }));
/// ```
pub trait RunResult {
    /// The run's end.
    fn run_end(&self) -> RunEnd;
}

impl RunResult for () {
    fn run_end(&self) -> RunEnd {
        RunEnd::Completed
    }
}

impl RunResult for ExitCode {
    fn run_end(&self) -> RunEnd {
        if *self == ExitCode::SUCCESS {
            return RunEnd::Completed;
        }
        // ExitCode hides its number; it is one of 256.
        let code = (0..=255u8)
            .find(|c| ExitCode::from(*c) == *self)
            .map(i32::from);
        RunEnd::Failed {
            reason: Reason::Error,
            message: format!(
                "exited with code {}",
                code.map_or_else(|| "≠ 0".to_owned(), |c| c.to_string())
            ),
            exit_code: code,
        }
    }
}

impl<T, E: fmt::Display> RunResult for Result<T, E> {
    fn run_end(&self) -> RunEnd {
        match self {
            Ok(_) => RunEnd::Completed,
            Err(e) => RunEnd::error(format!("{e:#}")),
        }
    }
}

/// The message of an error with its `source()` chain, `outer: inner: root`, skipping a cause
/// that the message above already quotes.
///
/// ```
/// let e = std::io::Error::other("disk full");
/// assert_eq!(cronmon_core::error_chain(&e), "disk full");
/// ```
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = format!("{e:#}");
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// The guard of one run: created by [`CronRun::start`], it records the run's end when it is
/// consumed or dropped.
///
/// Like a database transaction that rolls back unless committed, a run is `completed` only
/// if [`complete`](CronRun::complete) (or [`finish`](CronRun::finish) with `Ok`) is called;
/// dropped while panicking it is `failed`/`panicked` with the panic message, dropped otherwise
/// (an early return, a `?`, a cancelled future) it is `failed`/`abandoned`.
///
/// Starting only queues an event (no I/O): the recorder thread delivers it.
///
/// ```no_run
/// use cronmon_core::{CronRun, Monitor};
///
/// fn job() -> std::io::Result<u64> { Ok(42) }
///
/// let monitor = Monitor::from_env();
/// let run = CronRun::start(&monitor, "nightly-report");
/// let rows = job()?;                                  // an error here records `abandoned`
/// run.set_output(serde_json::json!({ "rows": rows }));
/// run.complete();
/// monitor.flush_blocking(std::time::Duration::from_secs(5));
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "a run dropped at once is recorded as abandoned"]
pub struct CronRun {
    shared: Arc<RunShared>,
}

impl fmt::Debug for CronRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronRun")
            .field("id", &self.shared.id())
            .finish_non_exhaustive()
    }
}

impl CronRun {
    /// Starts a run of `name` now. An invalid name (empty, over 128 characters, control
    /// characters) gives a run that records nothing, with a warning on stderr: monitoring
    /// never makes the job fail.
    pub fn start(monitor: &Monitor, name: &str) -> CronRun {
        Self::builder(monitor, name).start()
    }

    /// A run with more details: trigger type, host, pid, schedule slot, version, settings.
    ///
    /// ```no_run
    /// use cronmon_core::{CronRun, Monitor, TriggerType};
    /// let monitor = Monitor::from_env();
    /// let run = CronRun::builder(&monitor, "reindex")
    ///     .trigger(TriggerType::Manual)
    ///     .version(env!("CARGO_PKG_VERSION"))
    ///     .start();
    /// run.complete();
    /// ```
    pub fn builder(monitor: &Monitor, name: &str) -> RunBuilder {
        let me = sys::this_process();
        RunBuilder {
            monitor: monitor.clone(),
            name: name.to_owned(),
            trigger: TriggerType::Scheduled,
            host: me.host.clone(),
            pid: Some(me.pid),
            version: None,
            scheduled_for: None,
            schedule: None,
            current: false,
        }
    }

    /// The run's id (a UUIDv7 made here; nil for a run that records nothing).
    pub fn id(&self) -> Uuid {
        self.shared.id()
    }

    /// A clonable handle to report output and progress from elsewhere (another task).
    pub fn handle(&self) -> RunHandle {
        RunHandle {
            shared: self.shared.clone(),
        }
    }

    /// Ends the run as `completed`.
    pub fn complete(self) {
        self.shared.end(RunEnd::Completed);
    }

    /// Ends the run as `failed`/`error` with `error` (its `{:#}` form, so an `anyhow::Error`
    /// keeps its chain) and the process's exit code if known.
    pub fn fail(self, error: impl fmt::Display, exit_code: Option<i32>) {
        self.shared.end(RunEnd::Failed {
            reason: Reason::Error,
            message: format!("{error:#}"),
            exit_code,
        });
    }

    /// Ends the run from a job's result: `Ok` completed, `Err` failed with exit code 1.
    pub fn finish<T, E: fmt::Display>(self, result: &Result<T, E>) {
        self.shared.end(result.run_end());
    }

    /// Ends the run as `end` says.
    pub fn end_with(self, end: RunEnd) {
        self.shared.end(end);
    }

    /// Sets the JSON output stored with the run's end (replacing an earlier one).
    pub fn set_output(&self, output: serde_json::Value) {
        self.shared.set_output(output);
    }

    /// Records `cpu_ms` of CPU time and `max_rss_kb` KiB of peak memory for the run instead of
    /// this process's own: for a wrapper that runs the job as a child process and reads the
    /// child's usage when it ends (`cronmon exec`).
    pub fn set_usage(&self, cpu_ms: i64, max_rss_kb: i64) {
        *self.shared.usage.lock().unwrap_or_else(|p| p.into_inner()) = Some((cpu_ms, max_rss_kb));
    }

    /// Reports progress (`done` of `total` items), which also counts as a heartbeat. Sent at
    /// most once a second, and always when `done == total`.
    pub fn progress(&self, done: u64, total: u64) {
        self.shared.progress(done, total);
    }

    /// Reports that the run is alive (extends its heartbeat timeout).
    pub fn heartbeat(&self) {
        self.shared.beat(None, None, true);
    }
}

impl Drop for CronRun {
    fn drop(&mut self) {
        if self.shared.ended.load(Ordering::Acquire) {
            return;
        }
        // Drop never does I/O: `end` only queues the event.
        if std::thread::panicking() {
            let message = take_last_panic().unwrap_or_else(|| "panicked".to_owned());
            self.shared.end(RunEnd::Failed {
                reason: Reason::Panicked,
                message: format!("panicked: {message}"),
                exit_code: Some(101),
            });
        } else {
            self.shared.end(RunEnd::Failed {
                reason: Reason::Abandoned,
                message: "ended without completion".to_owned(),
                exit_code: None,
            });
        }
    }
}

/// Settings of a run before it starts; see [`CronRun::builder`].
#[derive(Debug)]
pub struct RunBuilder {
    monitor: Monitor,
    name: String,
    trigger: TriggerType,
    host: Option<String>,
    pid: Option<i32>,
    version: Option<String>,
    scheduled_for: Option<DateTime<Utc>>,
    schedule: Option<ScheduleUpdate>,
    current: bool,
}

impl RunBuilder {
    /// What started the run (default `scheduled`).
    pub fn trigger(mut self, trigger: TriggerType) -> Self {
        self.trigger = trigger;
        self
    }

    /// Host name recorded (default: this machine's). Crash detection only closes runs of
    /// its own host name.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Process id recorded (default: this process's).
    pub fn pid(mut self, pid: i32) -> Self {
        self.pid = Some(pid);
        self
    }

    /// Version of the job's program (`env!("CARGO_PKG_VERSION")`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The schedule slot this run serves.
    pub fn scheduled_for(mut self, at: DateTime<Utc>) -> Self {
        self.scheduled_for = Some(at);
        self
    }

    /// Settings of the cron (crontab expression, time zone, limits), upserted before the
    /// start. A setting left `None` keeps what the cron has; one given here replaces what an
    /// earlier call of this or of a single-setting method ([`timeout`](Self::timeout), …) gave.
    ///
    /// The settings are checked where they are stored, by the rules the HTTP API applies
    /// ([`ScheduleUpdate::validate`]): one out of bounds is reported on stderr and none of
    /// them is applied, but the run is recorded all the same.
    ///
    /// ```no_run
    /// use cronmon_core::{CronRun, Monitor, ScheduleUpdate};
    /// let monitor = Monitor::from_env();
    /// let run = CronRun::builder(&monitor, "nightly-report")
    ///     .schedule(ScheduleUpdate {
    ///         display_name: Some("Nightly report".into()),
    ///         cron_expression: Some("0 3 * * *".into()),
    ///         ..ScheduleUpdate::default()
    ///     })
    ///     .start();
    /// run.complete();
    /// ```
    pub fn schedule(mut self, update: ScheduleUpdate) -> Self {
        overlay(
            self.schedule.get_or_insert_with(ScheduleUpdate::default),
            update,
        );
        self
    }

    fn setting(mut self, set: impl FnOnce(&mut ScheduleUpdate)) -> Self {
        set(self.schedule.get_or_insert_with(ScheduleUpdate::default));
        self
    }

    /// The cron's 5-field crontab expression (`"0 3 * * *"`, `"@daily"`), in
    /// [`timezone`](Self::timezone) (default UTC); its slots are judged from then on.
    ///
    /// Like every setting below, it is upserted before the start and checked where it is
    /// stored (see [`schedule`](Self::schedule)); the attribute's option of the same name
    /// (`schedule = "…"` here) is checked at compile time instead.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use cronmon_core::{CronRun, Monitor};
    ///
    /// let monitor = Monitor::from_env();
    /// let run = CronRun::builder(&monitor, "nightly-report")
    ///     .cron_expression("30 2 * * *")
    ///     .timezone("Europe/Paris")
    ///     .grace(Duration::from_secs(10 * 60))      // start by 02:40, or the slot is missed
    ///     .timeout(Duration::from_secs(3600))       // running longer is stuck
    ///     .heartbeat_timeout(Duration::from_secs(300))
    ///     .failure_threshold(2)                     // two failures in a row open an incident
    ///     .recovery_threshold(1)
    ///     .anomaly_factor(3.0)
    ///     .min_duration(Duration::from_secs(5))     // done in under 5 s is suspicious
    ///     .anomaly_incidents(true)
    ///     .start();
    /// run.complete();
    /// ```
    pub fn cron_expression(self, expression: impl Into<String>) -> Self {
        let expression = expression.into();
        self.setting(|u| u.cron_expression = Some(expression))
    }

    /// The IANA time zone of the [`cron_expression`](Self::cron_expression)
    /// (`"Europe/Paris"`; default UTC).
    pub fn timezone(self, timezone: impl Into<String>) -> Self {
        let timezone = timezone.into();
        self.setting(|u| u.timezone = Some(timezone))
    }

    /// Max runtime of a run (default 1 h, at most 30 days): a run still running after it is
    /// stuck. In whole milliseconds, like every duration here.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.setting(|u| u.timeout_ms = Some(millis(timeout)))
    }

    /// Start deadline after each due time (default 5 min, at most 30 days): a slot with no
    /// start by then is missed.
    pub fn grace(self, grace: Duration) -> Self {
        self.setting(|u| u.grace_ms = Some(millis(grace)))
    }

    /// Longest silence of a running run (default none, at most 30 days): a run with no
    /// [`heartbeat`](CronRun::heartbeat) or [`progress`](CronRun::progress) for longer is
    /// stuck.
    pub fn heartbeat_timeout(self, timeout: Duration) -> Self {
        self.setting(|u| u.heartbeat_timeout_ms = Some(millis(timeout)))
    }

    /// Failures in a row (failed, missed, stuck or timed-out runs) that open an incident
    /// (default 3; 1 to 100).
    pub fn failure_threshold(self, failures: u32) -> Self {
        self.setting(|u| u.failure_threshold = Some(count(failures)))
    }

    /// Successes in a row that resolve an open incident (default 1; 1 to 100).
    pub fn recovery_threshold(self, successes: u32) -> Self {
        self.setting(|u| u.recovery_threshold = Some(count(successes)))
    }

    /// A finished run slower than this many times the p95 of the cron's last 7 days is
    /// flagged `slow` (default 3; 1 to 1000; judged once the cron has 20 runs in those days).
    pub fn anomaly_factor(self, factor: f64) -> Self {
        self.setting(|u| u.anomaly_factor = Some(factor))
    }

    /// A completed run shorter than this is flagged `fast` (default none; at most 366 days).
    pub fn min_duration(self, floor: Duration) -> Self {
        self.setting(|u| u.min_duration_ms = Some(millis(floor)))
    }

    /// Whether flagged runs (`slow`, `fast`) count as failures toward the
    /// [`failure_threshold`](Self::failure_threshold) (default false).
    pub fn anomaly_incidents(self, count_them: bool) -> Self {
        self.setting(|u| u.anomaly_incidents = Some(count_them))
    }

    /// Makes this run the one [`current_run`] returns while it runs.
    pub fn current(mut self) -> Self {
        self.current = true;
        self
    }

    /// Starts the run: builds its start and queues it. No I/O.
    pub fn start(self) -> CronRun {
        let began = Instant::now();
        let route = self.monitor.route.clone();
        let name = match CronName::new(self.name) {
            Ok(n) => Some(n),
            Err(e) => {
                if route.is_some() {
                    eprintln!("cronmon: this run is not recorded: {e}");
                }
                None
            }
        };
        let start = match (&route, name) {
            (Some(_), Some(cron_name)) => {
                let me = sys::this_process();
                let started_at = Utc::now();
                Some(Start {
                    id: ids::next(started_at),
                    cron_name,
                    trigger_type: self.trigger,
                    started_at,
                    host: self.host,
                    pid: self.pid,
                    boot_id: me.boot_id.clone(),
                    version: self.version,
                    scheduled_for: self.scheduled_for,
                })
            }
            _ => None,
        };
        let route = route.filter(|_| start.is_some());
        if let (Some(_), Some(start), Some(update)) = (&route, &start, self.schedule) {
            self.monitor
                .upsert_schedule(start.cron_name.as_str(), update);
        }
        let shared = Arc::new(RunShared {
            cpu_at_start: if start.is_some() {
                sys::usage().cpu_ms
            } else {
                None
            },
            route,
            start,
            began,
            ended: AtomicBool::new(false),
            output: Mutex::new(None),
            usage: Mutex::new(None),
            last_beat_ms: AtomicI64::new(-1),
            current: self.current,
        });
        if let (Some(route), Some(start)) = (&shared.route, &shared.start) {
            route.send(Event::Start(start.clone()));
            runs::register(shared.clone());
        } else if shared.current {
            runs::register(shared.clone());
        }
        CronRun { shared }
    }
}

/// A duration in whole milliseconds; one too long for an `i64` becomes `i64::MAX`, which the
/// store refuses as out of bounds (rather than wrapping into a small, valid one).
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A count as stored; one too large becomes `i32::MAX`, refused by the store as out of bounds.
fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Lays the settings given in `top` over `base`.
fn overlay(base: &mut ScheduleUpdate, top: ScheduleUpdate) {
    // Destructured whole, so a new setting cannot be forgotten here.
    let ScheduleUpdate {
        display_name,
        cron_expression,
        timezone,
        is_enabled,
        timeout_ms,
        grace_ms,
        heartbeat_timeout_ms,
        failure_threshold,
        recovery_threshold,
        anomaly_factor,
        min_duration_ms,
        anomaly_incidents,
    } = top;
    fn lay<T>(base: &mut Option<T>, top: Option<T>) {
        if top.is_some() {
            *base = top;
        }
    }
    lay(&mut base.display_name, display_name);
    lay(&mut base.cron_expression, cron_expression);
    lay(&mut base.timezone, timezone);
    lay(&mut base.is_enabled, is_enabled);
    lay(&mut base.timeout_ms, timeout_ms);
    lay(&mut base.grace_ms, grace_ms);
    lay(&mut base.heartbeat_timeout_ms, heartbeat_timeout_ms);
    lay(&mut base.failure_threshold, failure_threshold);
    lay(&mut base.recovery_threshold, recovery_threshold);
    lay(&mut base.anomaly_factor, anomaly_factor);
    lay(&mut base.min_duration_ms, min_duration_ms);
    lay(&mut base.anomaly_incidents, anomaly_incidents);
}

/// A clonable handle to a run in progress, to report output or progress from another thread
/// or task while the guard stays where the run's end is decided.
///
/// ```
/// use cronmon_core::{CronRun, Monitor};
/// let run = CronRun::start(&Monitor::disabled(), "crawl");
/// let handle = run.handle();
/// std::thread::spawn(move || handle.progress(10, 100)).join().unwrap();
/// run.complete();
/// ```
#[derive(Clone)]
pub struct RunHandle {
    shared: Arc<RunShared>,
}

impl fmt::Debug for RunHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunHandle")
            .field("id", &self.shared.id())
            .finish_non_exhaustive()
    }
}

impl RunHandle {
    /// The run's id.
    pub fn id(&self) -> Uuid {
        self.shared.id()
    }

    /// See [`CronRun::set_output`].
    pub fn set_output(&self, output: serde_json::Value) {
        self.shared.set_output(output);
    }

    /// See [`CronRun::progress`].
    pub fn progress(&self, done: u64, total: u64) {
        self.shared.progress(done, total);
    }

    /// See [`CronRun::heartbeat`].
    pub fn heartbeat(&self) {
        self.shared.beat(None, None, true);
    }
}

/// The run of the innermost `#[tracked_cron]` function (or [`RunBuilder::current`] run) still
/// in progress in this process, to set its output or progress from inside the job.
///
/// ```no_run
/// if let Some(run) = cronmon_core::current_run() {
///     run.set_output(serde_json::json!({ "rows": 42 }));
///     run.progress(42, 100);
/// }
/// ```
pub fn current_run() -> Option<RunHandle> {
    let run: Arc<dyn Any + Send + Sync> = runs::innermost_current()?;
    // Every registered run is a `RunShared`: only this module registers runs.
    let shared = run.downcast::<RunShared>().ok()?;
    Some(RunHandle { shared })
}

/// Run ids: UUIDv7 (RFC 9562) from the start's own timestamp, a 12-bit counter that keeps ids
/// of one process in order within a millisecond, and 62 random bits from `fastrand`'s
/// per-thread generator (seeded from std's randomly keyed hasher). `Uuid::now_v7()` makes the
/// same kind of id, but asks the OS for randomness and reads the clock again on every call:
/// most of `CronRun::start`'s budget.
pub(crate) mod ids {
    use std::sync::atomic::{AtomicU64, Ordering};

    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    /// Last (unix ms << 12 | counter) handed out in this process.
    static LAST: AtomicU64 = AtomicU64::new(0);

    pub(crate) fn next(at: DateTime<Utc>) -> Uuid {
        let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0) & ((1 << 48) - 1);
        let wanted = ms << 12;
        // Counter in the 12 bits after the timestamp; when a millisecond runs out of them the
        // timestamp moves on by one, as RFC 9562 allows.
        let stamp = match LAST.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(if wanted > last { wanted } else { last + 1 })
        }) {
            Ok(last) | Err(last) => {
                if wanted > last {
                    wanted
                } else {
                    last + 1
                }
            }
        };
        let ms = stamp >> 12;
        let counter = stamp & 0xfff;
        // Ids need uniqueness, not secrecy: a fast generator is enough.
        let rand = fastrand::u64(..);
        let hi = (ms << 16) | (0x7 << 12) | counter;
        let lo = (rand >> 2) | (0b10 << 62);
        Uuid::from_u64_pair(hi, lo)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_innermost_current_run_stays_current_when_an_outer_one_ends() {
            use crate::{CronRun, Monitor, current_run};
            let m = Monitor::disabled();
            let outer = CronRun::builder(&m, "outer").current().start();
            let middle = CronRun::builder(&m, "middle").current().start();
            let inner = CronRun::builder(&m, "inner").current().start();
            let inner_handle = inner.handle();
            outer.complete();
            let now = current_run().expect("a current run");
            assert!(std::sync::Arc::ptr_eq(&now.shared, &inner_handle.shared));
            inner.complete();
            let now = current_run().expect("a current run");
            assert!(std::sync::Arc::ptr_eq(&now.shared, &middle.handle().shared));
            middle.complete();
        }

        #[test]
        fn exit_codes_are_recovered() {
            use crate::run::{RunEnd, RunResult};
            use std::process::ExitCode;
            assert_eq!(ExitCode::SUCCESS.run_end(), RunEnd::Completed);
            match ExitCode::from(3).run_end() {
                RunEnd::Failed { exit_code, .. } => assert_eq!(exit_code, Some(3)),
                other => panic!("{other:?}"),
            }
        }

        #[test]
        fn ids_are_v7_and_ordered() {
            let now = chrono::Utc::now();
            let ids: Vec<_> = (0..10_000).map(|_| super::next(now)).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(ids[0].get_version_num(), 7);
            assert_eq!(ids[0].get_variant(), uuid::Variant::RFC4122);
            let (secs, _) = ids[0].get_timestamp().unwrap().to_unix();
            assert_eq!(secs as i64, now.timestamp());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{CronRun, Monitor, ScheduleUpdate};

    #[test]
    fn builder_settings_add_up() {
        let m = Monitor::disabled();
        let b = CronRun::builder(&m, "job")
            .timeout(Duration::from_secs(600))
            .failure_threshold(2)
            .schedule(ScheduleUpdate {
                cron_expression: Some("0 3 * * *".into()),
                failure_threshold: Some(5),
                ..ScheduleUpdate::default()
            })
            .grace(Duration::from_micros(90_999_999))
            .min_duration(Duration::ZERO)
            .anomaly_incidents(false);
        assert_eq!(
            b.schedule,
            Some(ScheduleUpdate {
                cron_expression: Some("0 3 * * *".into()),
                timeout_ms: Some(600_000),
                grace_ms: Some(90_999),
                failure_threshold: Some(5),
                min_duration_ms: Some(0),
                anomaly_incidents: Some(false),
                ..ScheduleUpdate::default()
            })
        );
        // Out of every bound stays out of bounds (for the store to refuse), never wraps.
        let b = CronRun::builder(&m, "job")
            .timeout(Duration::MAX)
            .recovery_threshold(u32::MAX);
        let s = b.schedule.expect("settings");
        assert_eq!(s.timeout_ms, Some(i64::MAX));
        assert_eq!(s.recovery_threshold, Some(i32::MAX));
        assert!(s.validate().is_err());
        assert_eq!(CronRun::builder(&m, "job").schedule, None);
    }
}
