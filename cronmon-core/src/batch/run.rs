//! [`BatchRun`]: the guard of one batch run, which records its end when dropped.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::BatchEvent;
use crate::model::{Event, Status};
use crate::monitor::Monitor;
use crate::process::panic::take_last_panic;
use crate::process::runs::{self, ActiveRun};
use crate::recorder::Route;
use crate::rules::limits::PROGRESS_MAX;
use crate::sys;

/// No total known.
const NO_TOTAL: i64 = -1;

/// What a batch run's guard and its handles share.
struct BatchShared {
    route: Option<Route>,
    id: Uuid,
    kind: String,
    started_at: DateTime<Utc>,
    host: Option<String>,
    total: AtomicI64,
    done: AtomicI64,
    failed: AtomicI64,
    began: Instant,
    /// Milliseconds after `began` of the last report sent, to send at most one a second.
    last_sent_ms: AtomicI64,
    ended: AtomicBool,
}

impl BatchShared {
    fn event(&self, status: Status, error_message: Option<String>) -> BatchEvent {
        let total = self.total.load(Ordering::Acquire);
        BatchEvent {
            id: self.id,
            batch_kind: self.kind.clone(),
            status,
            started_at: self.started_at,
            at: Utc::now(),
            total: (total >= 0).then_some(total),
            done: self.done.load(Ordering::Acquire),
            failed: self.failed.load(Ordering::Acquire),
            host: self.host.clone(),
            error_message,
        }
    }

    fn advance(&self, ok: u64, failed: u64) {
        let add = |counter: &AtomicI64, n: u64| {
            let n = i64::try_from(n).unwrap_or(PROGRESS_MAX);
            // Clamped rather than refused: a run is never lost for its own figures.
            let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_add(n).min(PROGRESS_MAX))
            });
        };
        if ok > 0 {
            add(&self.done, ok);
        }
        if failed > 0 {
            add(&self.failed, failed);
        }
        if self.route.is_none() || self.ended.load(Ordering::Acquire) {
            return;
        }
        let total = self.total.load(Ordering::Acquire);
        let finished = total >= 0
            && self
                .done
                .load(Ordering::Acquire)
                .saturating_add(self.failed.load(Ordering::Acquire))
                >= total;
        self.send_throttled(finished);
    }

    /// Sends the state at most once a second (a loop may advance millions of times), and
    /// always when `force`.
    fn send_throttled(&self, force: bool) {
        let Some(route) = &self.route else {
            return;
        };
        let now_ms = i64::try_from(self.began.elapsed().as_millis()).unwrap_or(i64::MAX);
        let last = self.last_sent_ms.load(Ordering::Relaxed);
        if !force && now_ms.saturating_sub(last) < 1000 {
            return;
        }
        // One thread of many sends; the others see the new time and skip.
        if self
            .last_sent_ms
            .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
            && !force
        {
            return;
        }
        route.send(Event::Batch(self.event(Status::Running, None)));
    }

    /// Records the end, once: whoever comes first (guard, signal handler) wins.
    fn end(&self, status: Status, error: Option<String>) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        runs::unregister(self);
        if let Some(route) = &self.route {
            route.send(Event::Batch(self.event(status, error)));
        }
    }
}

impl ActiveRun for BatchShared {
    fn is_current(&self) -> bool {
        false
    }

    fn interrupt(&self, signal: &str, _number: i32) {
        self.end(Status::Failed, Some(format!("interrupted by {signal}")));
    }
}

/// The guard of one run of a batch kind (a crawl of 5,000 pages, an indexation of 245
/// documents): created by [`BatchRun::builder`] or [`BatchRun::start`], it reports progress
/// with [`advance`](BatchRun::advance) and records its end when consumed or dropped.
///
/// Its reports go through the same recorder as [`CronRun`](crate::CronRun)'s (grouped,
/// retried, spooled when the monitor is down, replayed later) and carry the run's whole state,
/// so a report delivered twice stores nothing twice. Like a run, a batch run is `completed`
/// only if [`complete`](BatchRun::complete) is called; dropped otherwise it is `failed` with a
/// reason (an early return, a `?`, a panic), and SIGTERM or Ctrl-C fails it as interrupted.
///
/// Nothing here does I/O on the job's thread: `advance` counts, and sends a report (queues an
/// event) at most once a second and when the last item is counted.
///
/// ```no_run
/// use cronmon_core::{Monitor, batch::BatchRun};
///
/// let monitor = Monitor::from_env();
/// let docs = vec!["a.pdf", "b.pdf"];
/// let run = BatchRun::builder(&monitor, "kbIndexation")
///     .total(docs.len() as u64)
///     .start();
/// for doc in &docs {
///     let indexed = !doc.is_empty(); // index it
///     if indexed { run.advance(1, 0) } else { run.advance(0, 1) }
/// }
/// run.complete();
/// monitor.flush_blocking(std::time::Duration::from_secs(5));
/// ```
#[must_use = "a batch run dropped at once is recorded as failed"]
pub struct BatchRun {
    shared: Arc<BatchShared>,
}

impl fmt::Debug for BatchRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchRun")
            .field("id", &self.shared.id)
            .field("kind", &self.shared.kind)
            .finish_non_exhaustive()
    }
}

impl BatchRun {
    /// Starts a run of the batch kind `kind` now, its total unknown. An invalid kind (see
    /// [`batch_kind`](super::batch_kind)) gives a run that records nothing, with a warning on
    /// stderr: monitoring never makes the job fail.
    pub fn start(monitor: &Monitor, kind: &str) -> BatchRun {
        Self::builder(monitor, kind).start()
    }

    /// A batch run with its total or its host set before it starts.
    pub fn builder(monitor: &Monitor, kind: &str) -> BatchRunBuilder {
        BatchRunBuilder {
            monitor: monitor.clone(),
            kind: kind.to_owned(),
            total: None,
            host: sys::this_process().host.clone(),
        }
    }

    /// The batch run's id (a UUIDv7 made here; nil for a run that records nothing).
    pub fn id(&self) -> Uuid {
        self.shared.id
    }

    /// Counts `ok` more items done and `failed` more failed. Also a sign of life.
    pub fn advance(&self, ok: u64, failed: u64) {
        self.shared.advance(ok, failed);
    }

    /// Sets the number of items in all, once it is known (a crawl that finds its pages).
    pub fn set_total(&self, total: u64) {
        let total = i64::try_from(total).map_or(PROGRESS_MAX, |t| t.min(PROGRESS_MAX));
        self.shared.total.store(total, Ordering::Release);
        self.shared.send_throttled(true);
    }

    /// Items done so far.
    pub fn done(&self) -> u64 {
        self.shared.done.load(Ordering::Acquire).unsigned_abs()
    }

    /// Items failed so far.
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::Acquire).unsigned_abs()
    }

    /// A clonable handle to advance the run from other threads or tasks (workers of a pool),
    /// while the guard stays where the run's end is decided.
    pub fn handle(&self) -> BatchHandle {
        BatchHandle {
            shared: self.shared.clone(),
        }
    }

    /// Ends the run as `completed` (its failed items stay counted).
    pub fn complete(self) {
        self.shared.end(Status::Completed, None);
    }

    /// Ends the run as `failed` with `error` (its `{:#}` form, so an `anyhow::Error` keeps its
    /// chain).
    pub fn fail(self, error: impl fmt::Display) {
        self.shared.end(Status::Failed, Some(format!("{error:#}")));
    }

    /// Ends the run from a result: `Ok` completed, `Err` failed with its message.
    pub fn finish<T, E: fmt::Display>(self, result: &Result<T, E>) {
        match result {
            Ok(_) => self.complete(),
            Err(e) => self.fail(e),
        }
    }
}

impl Drop for BatchRun {
    fn drop(&mut self) {
        if self.shared.ended.load(Ordering::Acquire) {
            return;
        }
        let message = if std::thread::panicking() {
            format!(
                "panicked: {}",
                take_last_panic().unwrap_or_else(|| "panicked".to_owned())
            )
        } else {
            "ended without completion".to_owned()
        };
        self.shared.end(Status::Failed, Some(message));
    }
}

/// A clonable handle to a batch run in progress; see [`BatchRun::handle`].
///
/// ```
/// use cronmon_core::{Monitor, batch::BatchRun};
/// let run = BatchRun::start(&Monitor::disabled(), "webCrawls");
/// let handle = run.handle();
/// std::thread::spawn(move || handle.advance(10, 1)).join().unwrap();
/// run.complete();
/// ```
#[derive(Clone)]
pub struct BatchHandle {
    shared: Arc<BatchShared>,
}

impl fmt::Debug for BatchHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchHandle")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl BatchHandle {
    /// See [`BatchRun::advance`].
    pub fn advance(&self, ok: u64, failed: u64) {
        self.shared.advance(ok, failed);
    }
}

/// Settings of a batch run before it starts; see [`BatchRun::builder`].
#[derive(Debug)]
pub struct BatchRunBuilder {
    monitor: Monitor,
    kind: String,
    total: Option<u64>,
    host: Option<String>,
}

impl BatchRunBuilder {
    /// Items in all.
    pub fn total(mut self, total: u64) -> Self {
        self.total = Some(total);
        self
    }

    /// Host name recorded (default: this machine's).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Starts the run: builds its start and queues it. No I/O.
    pub fn start(self) -> BatchRun {
        let mut route = self.monitor.route.clone();
        if let (Some(_), Err(e)) = (&route, super::batch_kind(&self.kind)) {
            eprintln!("cronmon: this batch run is not recorded: {e}");
            route = None;
        }
        let started_at = Utc::now();
        let shared = Arc::new(BatchShared {
            id: if route.is_some() {
                crate::run::ids::next(started_at)
            } else {
                Uuid::nil()
            },
            route,
            kind: self.kind,
            started_at,
            host: self.host,
            total: AtomicI64::new(self.total.map_or(NO_TOTAL, |t| {
                i64::try_from(t).map_or(PROGRESS_MAX, |t| t.min(PROGRESS_MAX))
            })),
            done: AtomicI64::new(0),
            failed: AtomicI64::new(0),
            began: Instant::now(),
            last_sent_ms: AtomicI64::new(0),
            ended: AtomicBool::new(false),
        });
        if let Some(route) = &shared.route {
            route.send(Event::Batch(shared.event(Status::Running, None)));
            runs::register(shared.clone());
        }
        BatchRun { shared }
    }
}

/// Starting batch runs from a [`Monitor`].
impl Monitor {
    /// Starts a run of the batch kind `kind` (see [`BatchRun::start`]).
    pub fn batch(&self, kind: &str) -> BatchRun {
        BatchRun::start(self, kind)
    }
}
