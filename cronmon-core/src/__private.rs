//! What `#[tracked_cron]` expansions call. Not a public API: names and signatures change
//! without notice.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use crate::run::{RunEnd, RunResult};
use crate::{CronRun, Monitor, ScheduleUpdate, TriggerType};

/// The attribute's options, as literals checked at compile time.
#[derive(Debug, Default)]
pub struct Options {
    pub trigger: Option<&'static str>,
    pub timeout_ms: Option<i64>,
    pub grace_ms: Option<i64>,
    pub heartbeat_timeout_ms: Option<i64>,
    pub failure_threshold: Option<i32>,
    pub recovery_threshold: Option<i32>,
    pub anomaly_factor: Option<f64>,
    pub min_duration_ms: Option<i64>,
    pub anomaly_incidents: Option<bool>,
    pub schedule: Option<&'static str>,
    pub timezone: Option<&'static str>,
    pub flush_timeout_ms: Option<u64>,
    pub version: Option<&'static str>,
}

/// A run started by the attribute, with what its end needs.
#[derive(Debug)]
pub struct MacroRun {
    run: CronRun,
    monitor: Monitor,
    flush: Duration,
}

pub fn start(name: &'static str, options: Options) -> MacroRun {
    let monitor = crate::process::env::monitor().clone();
    let flush = options
        .flush_timeout_ms
        .map_or(crate::monitor::DEFAULT_FLUSH_TIMEOUT, Duration::from_millis);
    if monitor.is_enabled() {
        crate::process::recorders::set_exit_flush_timeout(flush);
        crate::process::signal::install_signal_handlers();
    }
    let mut builder = CronRun::builder(&monitor, name).current();
    if let Some(trigger) = options.trigger.and_then(|t| t.parse::<TriggerType>().ok()) {
        builder = builder.trigger(trigger);
    }
    if let Some(version) = options.version {
        builder = builder.version(version);
    }
    let settings = ScheduleUpdate {
        cron_expression: options.schedule.map(str::to_owned),
        timezone: options.timezone.map(str::to_owned),
        timeout_ms: options.timeout_ms,
        grace_ms: options.grace_ms,
        heartbeat_timeout_ms: options.heartbeat_timeout_ms,
        failure_threshold: options.failure_threshold,
        recovery_threshold: options.recovery_threshold,
        anomaly_factor: options.anomaly_factor,
        min_duration_ms: options.min_duration_ms,
        anomaly_incidents: options.anomaly_incidents,
        ..ScheduleUpdate::default()
    };
    // Without settings, nothing to upsert: the cron's stored ones (set by the API, say) stay.
    if settings != ScheduleUpdate::default() {
        builder = builder.schedule(settings);
    }
    MacroRun {
        run: builder.start(),
        monitor,
        flush,
    }
}

/// Records the end and waits (bounded) for delivery, so a `main` that returns right after
/// loses nothing: what is not delivered in time is in the spool.
pub fn end(run: MacroRun, end: RunEnd) {
    run.run.end_with(end);
    run.monitor.flush_blocking(run.flush);
}

/// [`end`] for async functions: waits without blocking the runtime.
pub async fn end_async(run: MacroRun, end: RunEnd) {
    run.run.end_with(end);
    run.monitor.flush(run.flush).await;
}

/// A returned value, to describe through [`RunResult`] when it implements it, or as a plain
/// success otherwise (any other return type: the function returned, so it completed).
#[derive(Debug)]
pub struct Returned<'a, T: ?Sized>(pub &'a T);

pub trait ViaRunResult {
    fn cronmon_end(&self) -> RunEnd;
}

impl<T: RunResult> ViaRunResult for &Returned<'_, T> {
    fn cronmon_end(&self) -> RunEnd {
        self.0.run_end()
    }
}

pub trait ViaReturned {
    fn cronmon_end(&self) -> RunEnd;
}

impl<T: ?Sized> ViaReturned for Returned<'_, T> {
    fn cronmon_end(&self) -> RunEnd {
        RunEnd::Completed
    }
}

pub fn panicked(payload: &Box<dyn Any + Send>) -> RunEnd {
    RunEnd::panicked(&**payload)
}

pub fn catch_unwind<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
}

/// A future's output, or the panic it raised (to record, then resume).
pub struct CatchUnwind<F>(Pin<Box<F>>);

impl<F> fmt::Debug for CatchUnwind<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CatchUnwind")
    }
}

impl<F: Future> CatchUnwind<F> {
    pub fn new(future: F) -> Self {
        Self(Box::pin(future))
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// An `Err` value, to describe with its `source()` chain when it is a `std::error::Error`, or
/// with `{:#}` otherwise (autoref specialization: see the two traits).
#[derive(Debug)]
pub struct ErrMsg<'a, E: ?Sized>(pub &'a E);

pub trait ViaError {
    fn cronmon_message(&self) -> String;
}

impl<E: std::error::Error + 'static> ViaError for &ErrMsg<'_, E> {
    fn cronmon_message(&self) -> String {
        crate::run::error_chain(self.0)
    }
}

pub trait ViaDisplay {
    fn cronmon_message(&self) -> String;
}

impl<E: fmt::Display + ?Sized> ViaDisplay for ErrMsg<'_, E> {
    fn cronmon_message(&self) -> String {
        format!("{:#}", self.0)
    }
}

pub fn error(message: String) -> RunEnd {
    RunEnd::error(message)
}
