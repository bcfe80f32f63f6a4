//! The recorder: one background thread that delivers what jobs report.
//!
//! Jobs only push onto a bounded std channel ([`queue`]), so recording never waits on the
//! network and works from sync code, from any tokio runtime, and after the caller's runtime has
//! shut down. The thread `cronmon-recorder` ([`worker`]) owns a current-thread runtime and the
//! sinks it opened on it (sqlx and hyper connections die with the runtime that created them).
//! It groups queued events into one transaction per destination, retries transient errors with
//! backoff, and appends what it still cannot deliver to a [`spool`] file that a later `Monitor`
//! replays.
//!
//! One word per stage of a destination:
//! - a [`Destination`] is where runs go, as configured ([`DestinationConfig`]: a database URL
//!   or a server's API base), with its spool file; every `Monitor` built with the same settings
//!   on one recorder shares it;
//! - a `Sink` (`sinks/`) is the writer the worker opened to it: a store (`sinks/store.rs`,
//!   which also closes the runs of crashed processes) or an HTTP client (`sinks/server.rs`);
//! - the worker's `DestinationHealth` holds that sink and whether the destination is paused
//!   after failures.
//!
//! A [`Recorder`] is a handle: each `Monitor` holds the one it reports through. A process has
//! one by default (`crate::process::recorders`), which the exit flush and the signal handler
//! find; this module knows nothing of process-wide state.

mod queue;
mod sinks;
mod spool;
mod worker;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::model::{CronName, Event, ScheduleUpdate};
use queue::{FlushDeadline, Msg, Queue};

pub(crate) use spool::default_spool_dir;

/// Events the queue holds before reporting goes straight to the spool file.
pub const QUEUE_CAPACITY: usize = 8192;

/// Counters of a recorder, since it started.
///
/// ```
/// let stats = cronmon_core::Monitor::disabled().stats();
/// assert_eq!(stats.dropped, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecorderStats {
    /// Events put on the queue.
    pub enqueued: u64,
    /// Events stored by their destination (replays included).
    pub delivered: u64,
    /// Events written to a spool file, to be replayed later.
    pub spooled: u64,
    /// Events read back from spool files and delivered.
    pub replayed: u64,
    /// Events that found the queue full and went straight to the spool file from the job's
    /// thread (also counted in `spooled` or `dropped`).
    pub overflowed: u64,
    /// Events refused for good by their destination as invalid, kept in the dead-letter file
    /// next to the spool (`dead-letter-<key>.jsonl`) instead of being lost.
    pub dead_lettered: u64,
    /// Events dropped: the destination already holds the run with another outcome (the one
    /// refusal that is definitive), or the event could not even be written to a file.
    pub dropped: u64,
}

/// The live counters behind [`RecorderStats`], shared by the queue (job threads) and the
/// worker.
#[derive(Debug, Default)]
struct Counters {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    spooled: AtomicU64,
    replayed: AtomicU64,
    overflowed: AtomicU64,
    dead_lettered: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> RecorderStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RecorderStats {
            enqueued: get(&self.enqueued),
            delivered: get(&self.delivered),
            spooled: get(&self.spooled),
            replayed: get(&self.replayed),
            overflowed: get(&self.overflowed),
            dead_lettered: get(&self.dead_lettered),
            dropped: get(&self.dropped),
        }
    }
}

/// Where runs go, as configured.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum DestinationConfig {
    /// `postgres://…` or `sqlite://…`.
    Database { url: String },
    /// A cronmon server's API base, `http(s)://host:port/api/admin`.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    Server {
        base: String,
        secret: Option<String>,
    },
}

impl fmt::Debug for DestinationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl DestinationConfig {
    /// The destination for messages: never a password or secret.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Database { url } | Self::Server { base: url, .. } => crate::store::redact(url),
        }
    }

    /// What names this destination's spool files (not the secret: it may change between runs).
    fn spool_identity(&self) -> &str {
        match self {
            Self::Database { url } | Self::Server { base: url, .. } => url,
        }
    }
}

/// One place runs are reported to, shared by every `Monitor` built with the same settings on
/// the same recorder.
#[derive(Debug)]
pub(crate) struct Destination {
    pub(crate) config: DestinationConfig,
    /// Spool files of this destination start with this (a hash of the URL, so the file names
    /// never carry credentials).
    key: u64,
    spool_dir: Option<PathBuf>,
    spool: spool::SpoolFile,
    /// Something was spooled since the last replay.
    spool_pending: AtomicBool,
    warned: AtomicBool,
}

impl Destination {
    /// Prints `message` about this destination on stderr, once per process.
    fn warn_once(&self, message: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            eprintln!("cronmon: {} — {message}", self.config.describe());
        }
    }
}

/// A handle to one recorder thread: its queue, its counters, and the destinations it serves.
pub(crate) struct Recorder {
    queue: Queue,
    destinations: Mutex<Vec<Arc<Destination>>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    /// Starts a recorder thread. It ends once every handle is gone and its queue is drained.
    pub(crate) fn start() -> Arc<Recorder> {
        let counters = Arc::new(Counters::default());
        let deadline = Arc::new(FlushDeadline::default());
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
        let worker = worker::Worker::new(rx, counters.clone(), deadline.clone());
        let spawned = std::thread::Builder::new()
            .name("cronmon-recorder".into())
            .spawn(move || worker.run());
        if let Err(e) = spawned {
            // The receiver is gone with the closure: every send fails over to the spool.
            eprintln!("cronmon: cannot start the recorder thread ({e}); runs go to the spool");
        }
        Arc::new(Recorder {
            queue: Queue::new(tx, counters, deadline),
            destinations: Mutex::new(Vec::new()),
        })
    }

    /// The destination for these settings, made (and its spool replayed) on first use.
    pub(crate) fn destination(
        &self,
        config: DestinationConfig,
        spool_dir: Option<PathBuf>,
    ) -> Arc<Destination> {
        let mut destinations = self.destinations.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = destinations
            .iter()
            .find(|d| d.config == config && d.spool_dir == spool_dir)
        {
            return d.clone();
        }
        let destination = Arc::new(Destination {
            key: spool::key_of(config.spool_identity()),
            config,
            spool: spool::SpoolFile::default(),
            spool_dir,
            spool_pending: AtomicBool::new(false),
            warned: AtomicBool::new(false),
        });
        destinations.push(destination.clone());
        drop(destinations);
        self.queue.control(Msg::Startup(destination.clone()));
        destination
    }

    /// Queues an event; never blocks. A full queue sends it straight to the spool file.
    ///
    /// The event is sanitized first ([`Event::sanitize`]), so the queue, the spool and every
    /// destination get the same bytes, all storable.
    #[inline]
    pub(crate) fn send(&self, destination: &Arc<Destination>, mut event: Event) {
        event.sanitize();
        self.queue.send(destination, event);
    }

    /// Queues a schedule declaration (best effort: dropped if the queue is full).
    pub(crate) fn schedule(
        &self,
        destination: &Arc<Destination>,
        name: CronName,
        update: ScheduleUpdate,
    ) {
        self.queue
            .control(Msg::Schedule(destination.clone(), name, update));
    }

    /// Queues a replay of the destination's spool files and a crash sweep (best effort).
    pub(crate) fn replay(&self, destination: &Arc<Destination>) {
        self.queue.control(Msg::Startup(destination.clone()));
    }

    /// See [`Queue::flush_blocking`]; then syncs what job threads spooled.
    pub(crate) fn flush_blocking(&self, timeout: Duration) -> bool {
        let done = self.queue.flush_blocking(timeout);
        self.sync_spools();
        done
    }

    /// See [`Queue::flush`]; then syncs what job threads spooled.
    pub(crate) async fn flush(&self, timeout: Duration) -> bool {
        let done = self.queue.flush(timeout).await;
        self.sync_spools();
        done
    }

    /// Events a full queue sent to the spool are synced here rather than one by one on the
    /// job's thread: after a flush, they too are on disk.
    fn sync_spools(&self) {
        let destinations = self.destinations.lock().unwrap_or_else(|p| p.into_inner());
        for d in destinations.iter() {
            spool::sync(d, self.queue.counters());
        }
    }

    pub(crate) fn stats(&self) -> RecorderStats {
        self.queue.counters().snapshot()
    }
}

/// Where a monitor's events go: a destination, through the recorder that serves it.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) destination: Arc<Destination>,
}

impl Route {
    /// Queues an event for the destination; never blocks.
    #[inline]
    pub(crate) fn send(&self, event: Event) {
        self.recorder.send(&self.destination, event);
    }
}
