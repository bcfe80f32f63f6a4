//! The process-wide recorder: one background thread that delivers what jobs report.
//!
//! Jobs only push onto a bounded std channel, so recording never waits on the network and works
//! from sync code, from any tokio runtime, and after the caller's runtime has shut down. The
//! thread `cronmon-recorder` owns a current-thread runtime and the pools or HTTP clients it
//! made on it (sqlx and hyper connections die with the runtime that created them). It groups
//! queued events into one transaction per destination, retries transient errors with backoff,
//! and appends what it still cannot deliver to a spool file that a later `Monitor` replays.

pub(crate) mod sink;
mod spool;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::model::{CronName, Event, ScheduleUpdate};

pub(crate) use sink::Target;
use sink::{EventResult, Sink, SinkError};
pub(crate) use spool::default_spool_dir;

/// Events the queue holds before reporting goes straight to the spool file.
pub const QUEUE_CAPACITY: usize = 8192;
/// Most events delivered in one transaction.
const MAX_BATCH: usize = 512;
/// Longest a single delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per batch before it is spooled.
const MAX_ATTEMPTS: u32 = 3;
/// How often the worker looks at the queue while busy.
const POLL: Duration = Duration::from_millis(1);
/// Quiet time after which the worker blocks on the queue instead of polling it.
const IDLE_AFTER: Duration = Duration::from_millis(200);
/// Longest pause before a destination that failed is tried again.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Counters of the process-wide recorder, since the process started.
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
    /// Events lost: refused by their destination as invalid (a conflicting outcome), or not
    /// even writable to the spool.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    spooled: AtomicU64,
    replayed: AtomicU64,
    overflowed: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// One place runs are reported to, shared by every `Monitor` built with the same settings.
#[derive(Debug)]
pub(crate) struct Dest {
    pub(crate) target: Target,
    /// Spool files of this destination start with this (a hash of the URL, so the file names
    /// never carry credentials).
    pub(crate) key: u64,
    pub(crate) spool_dir: Option<PathBuf>,
    spool: spool::SpoolFile,
    /// Something was spooled since the last replay.
    spool_pending: AtomicBool,
    warned: AtomicBool,
}

impl Dest {
    fn warn_once(&self, message: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            eprintln!("cronmon: {} — {message}", self.target.describe());
        }
    }
}

pub(crate) enum Msg {
    Event(Arc<Dest>, Event),
    Schedule(Arc<Dest>, CronName, ScheduleUpdate),
    /// Replay the spool files of a destination, then close the runs of dead processes on this
    /// host.
    Startup(Arc<Dest>),
    Flush(Ack),
}

pub(crate) enum Ack {
    Blocking(SyncSender<()>),
    Async(tokio::sync::oneshot::Sender<()>),
}

impl Ack {
    fn send(self) {
        match self {
            Ack::Blocking(tx) => {
                let _ = tx.try_send(());
            }
            Ack::Async(tx) => {
                let _ = tx.send(());
            }
        }
    }
}

pub(crate) struct Recorder {
    tx: SyncSender<Msg>,
    counters: Counters,
    dests: Mutex<Vec<Arc<Dest>>>,
    /// While a flush waits: the instant (ms after `epoch`) by which everything queued must be
    /// delivered or spooled; 0 when no flush waits.
    deadline_ms: AtomicU64,
    epoch: Instant,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

/// The recorder of this process, started on first use.
static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// The recorder's counters, without starting it (all zero when it never started).
pub(crate) fn stats() -> RecorderStats {
    RECORDER.get().map(Recorder::stats).unwrap_or_default()
}

pub(crate) fn recorder() -> &'static Recorder {
    RECORDER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
        let spawned = std::thread::Builder::new()
            .name("cronmon-recorder".into())
            .spawn(move || Worker::run(rx));
        if let Err(e) = spawned {
            // The receiver is gone with the closure: every send fails over to the spool.
            eprintln!("cronmon: cannot start the recorder thread ({e}); runs go to the spool");
        }
        flush_at_exit();
        Recorder {
            tx,
            counters: Counters::default(),
            dests: Mutex::new(Vec::new()),
            deadline_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    })
}

/// Flushes when the process exits normally (`main` returns, `std::process::exit`), so a run
/// ended just before is not lost with the recorder thread even if nobody called `flush`.
#[cfg(unix)]
#[allow(unsafe_code)]
fn flush_at_exit() {
    extern "C" fn at_exit() {
        // Unwinding out of an `extern "C"` function aborts: contain any panic.
        let _ = std::panic::catch_unwind(|| {
            if let Some(rec) = RECORDER.get() {
                rec.flush_blocking(crate::signal::exit_flush_timeout());
            }
        });
    }
    // SAFETY: `at_exit` is a plain `extern "C" fn()` that never unwinds (panics are caught)
    // and only uses process-wide state that lives until exit.
    let rc = unsafe { libc::atexit(at_exit) };
    if rc != 0 {
        eprintln!("cronmon: cannot register the exit flush; call Monitor::flush before exiting");
    }
}

#[cfg(not(unix))]
fn flush_at_exit() {}

impl Recorder {
    /// The destination for these settings, made (and its spool replayed) on first use.
    pub(crate) fn dest(&'static self, target: Target, spool_dir: Option<PathBuf>) -> Arc<Dest> {
        let key = spool::key_of(&target.spool_identity());
        let mut dests = self.dests.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = dests
            .iter()
            .find(|d| d.target == target && d.spool_dir == spool_dir)
        {
            return d.clone();
        }
        let dest = Arc::new(Dest {
            target,
            key,
            spool: spool::SpoolFile::default(),
            spool_dir,
            spool_pending: AtomicBool::new(false),
            warned: AtomicBool::new(false),
        });
        dests.push(dest.clone());
        drop(dests);
        self.control(Msg::Startup(dest.clone()));
        dest
    }

    /// Queues an event; never blocks. A full queue sends it straight to the spool file.
    pub(crate) fn send(&self, dest: &Arc<Dest>, event: Event) {
        match self.tx.try_send(Msg::Event(dest.clone(), event)) {
            Ok(()) => Counters::add(&self.counters.enqueued, 1),
            Err(TrySendError::Full(Msg::Event(dest, event)))
            | Err(TrySendError::Disconnected(Msg::Event(dest, event))) => {
                Counters::add(&self.counters.overflowed, 1);
                self.spool(&dest, &[event]);
            }
            Err(_) => {}
        }
    }

    /// Queues a control message; dropped if the queue is full (they are best effort).
    pub(crate) fn control(&self, msg: Msg) {
        let _ = self.tx.try_send(msg);
    }

    pub(crate) fn stats(&self) -> RecorderStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RecorderStats {
            enqueued: get(&c.enqueued),
            delivered: get(&c.delivered),
            spooled: get(&c.spooled),
            replayed: get(&c.replayed),
            overflowed: get(&c.overflowed),
            dropped: get(&c.dropped),
        }
    }

    fn spool(&self, dest: &Dest, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        match dest.spool.append(dest, events) {
            Ok(()) => {
                dest.spool_pending.store(true, Ordering::Relaxed);
                Counters::add(&self.counters.spooled, events.len());
            }
            Err(e) => {
                Counters::add(&self.counters.dropped, events.len());
                eprintln!(
                    "cronmon: {} events for {} lost: cannot write the spool file ({e})",
                    events.len(),
                    dest.target.describe()
                );
            }
        }
    }

    /// How much of the time left to the waiting flush (if any) the worker may still use.
    fn deadline(&self) -> Option<Instant> {
        match self.deadline_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms)),
        }
    }

    fn arm_deadline(&self, at: Instant) -> u64 {
        let ms = (at.saturating_duration_since(self.epoch).as_millis() as u64).max(1);
        let _ = self
            .deadline_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                Some(if cur == 0 { ms } else { cur.min(ms) })
            });
        ms
    }

    fn disarm_deadline(&self, ms: u64) {
        let _ = self
            .deadline_ms
            .compare_exchange(ms, 0, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The worker's own budget for a flush of `timeout`: a little less, so spooling what is
    /// left fits in the time the caller waits.
    fn worker_budget(timeout: Duration) -> Duration {
        timeout.saturating_sub((timeout / 5).min(Duration::from_millis(300)))
    }

    /// Waits until everything queued before this call is delivered or spooled, at most
    /// `timeout`. Returns whether that happened in time.
    pub(crate) fn flush_blocking(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let armed = self.arm_deadline(Instant::now() + Self::worker_budget(timeout));
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let mut msg = Msg::Flush(Ack::Blocking(tx));
        let done = loop {
            match self.tx.try_send(msg) {
                Ok(()) => {
                    break rx
                        .recv_timeout(until.saturating_duration_since(Instant::now()))
                        .is_ok();
                }
                Err(TrySendError::Full(m)) if Instant::now() < until => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => break false,
            }
        };
        self.disarm_deadline(armed);
        done
    }

    /// [`Recorder::flush_blocking`] for async code: waits without blocking the executor.
    /// Needs no tokio timer (nor tokio at all): a runtime built without its time driver, or
    /// another executor, must not turn a flush into a panic.
    pub(crate) async fn flush(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let armed = self.arm_deadline(Instant::now() + Self::worker_budget(timeout));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut msg = Msg::Flush(Ack::Async(tx));
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                // Only when the queue is full (rare): a short nap beats a timer we may lack.
                Err(TrySendError::Full(m)) if Instant::now() < until => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => {
                    self.disarm_deadline(armed);
                    return false;
                }
            }
        }
        // The timeout comes from a short-lived thread, told to stop as soon as the ack came.
        let (timer_tx, timer_rx) = tokio::sync::oneshot::channel::<()>();
        let (cancel_tx, cancel_rx) = std::sync::mpsc::channel::<()>();
        let remaining = until.saturating_duration_since(Instant::now());
        let timer = std::thread::Builder::new()
            .name("cronmon-flush-timer".into())
            .spawn(move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    cancel_rx.recv_timeout(remaining)
                {
                    let _ = timer_tx.send(());
                }
            });
        let done = if timer.is_ok() {
            AckOrTimeout {
                ack: rx,
                timer: timer_rx,
            }
            .await
        } else {
            // No thread for the timer: wait for the ack alone; the worker's own deadline
            // bounds it.
            rx.await.is_ok()
        };
        drop(cancel_tx);
        self.disarm_deadline(armed);
        done
    }
}

/// Resolves to whether the flush was acknowledged before the timer fired.
struct AckOrTimeout {
    ack: tokio::sync::oneshot::Receiver<()>,
    timer: tokio::sync::oneshot::Receiver<()>,
}

impl Future for AckOrTimeout {
    type Output = bool;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<bool> {
        use std::task::Poll;
        if let Poll::Ready(r) = std::pin::Pin::new(&mut self.ack).poll(cx) {
            return Poll::Ready(r.is_ok());
        }
        if std::pin::Pin::new(&mut self.timer).poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        Poll::Pending
    }
}

/// What the worker knows about one destination.
#[derive(Default)]
struct DestState {
    sink: Option<Sink>,
    /// After failures, events are spooled without trying until then.
    paused_until: Option<Instant>,
    failures: u32,
    /// Why the last attempt failed, for the one warning.
    last_error: Option<String>,
}

struct Worker {
    states: HashMap<usize, DestState>,
}

impl Worker {
    fn run(rx: Receiver<Msg>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("cronmon: cannot start the recorder runtime ({e}); runs go to the spool");
                return Self::spool_forever(rx);
            }
        };
        let mut worker = Worker {
            states: HashMap::new(),
        };
        // While events keep coming, the worker polls the queue every millisecond instead of
        // blocking on it: a sender then never has to wake it (a futex call costing microseconds
        // on the job's thread), and events group into bigger batches. After a quiet spell it
        // blocks again, so an idle process costs nothing.
        let mut last_busy = Instant::now();
        loop {
            let first = match rx.try_recv() {
                Ok(m) => m,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    if last_busy.elapsed() < IDLE_AFTER {
                        std::thread::sleep(POLL);
                        continue;
                    }
                    match rx.recv() {
                        Ok(m) => m,
                        Err(_) => return,
                    }
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            rt.block_on(worker.handle(batch));
            last_busy = Instant::now();
        }
    }

    fn spool_forever(rx: Receiver<Msg>) {
        let rec = recorder();
        for msg in rx {
            match msg {
                Msg::Event(dest, e) => rec.spool(&dest, &[e]),
                Msg::Flush(ack) => ack.send(),
                Msg::Schedule(..) | Msg::Startup(_) => {}
            }
        }
    }

    async fn handle(&mut self, batch: Vec<Msg>) {
        // Group events by destination, keeping their order (a run's start before its end).
        let mut groups: Vec<(Arc<Dest>, Vec<Event>)> = Vec::new();
        let mut acks = Vec::new();
        let mut startups = Vec::new();
        for msg in batch {
            match msg {
                Msg::Event(dest, event) => {
                    match groups.iter_mut().find(|(d, _)| Arc::ptr_eq(d, &dest)) {
                        Some((_, events)) => events.push(event),
                        None => groups.push((dest, vec![event])),
                    }
                }
                Msg::Schedule(dest, name, update) => self.schedule(&dest, &name, &update).await,
                Msg::Startup(dest) => startups.push(dest),
                Msg::Flush(ack) => acks.push(ack),
            }
        }
        for dest in startups {
            self.replay(&dest).await;
            self.sweep_crashed(&dest).await;
        }
        for (dest, events) in groups {
            self.deliver_or_spool(&dest, events).await;
        }
        for ack in acks {
            ack.send();
        }
    }

    fn state(&mut self, dest: &Arc<Dest>) -> &mut DestState {
        self.states.entry(Arc::as_ptr(dest) as usize).or_default()
    }

    /// Runs `fut` until it ends, `limit` passes, or a waiting flush's deadline passes.
    async fn bounded<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
        let give_up = Instant::now() + limit;
        let mut fut = std::pin::pin!(fut);
        loop {
            let until = recorder().deadline().map_or(give_up, |d| d.min(give_up));
            let now = Instant::now();
            if now >= until {
                return None;
            }
            // Look at the deadline again now and then: a flush may start while we wait.
            let step = (until - now).min(Duration::from_millis(50));
            if let Ok(out) = tokio::time::timeout(step, &mut fut).await {
                return Some(out);
            }
        }
    }

    async fn sink(&mut self, dest: &Arc<Dest>) -> Result<Sink, SinkError> {
        if let Some(sink) = &self.state(dest).sink {
            return Ok(sink.clone());
        }
        let sink = Self::bounded(ATTEMPT_TIMEOUT, Sink::open(&dest.target))
            .await
            .unwrap_or_else(|| Err(SinkError::Transient("timed out connecting".into())))
            .inspect_err(|e| {
                if let SinkError::Transient(why) = e {
                    self.state(dest).last_error = Some(why.clone());
                }
            })?;
        self.state(dest).sink = Some(sink.clone());
        Ok(sink)
    }

    /// Delivers `events`, retrying what failed transiently; returns what is still undelivered.
    async fn deliver(&mut self, dest: &Arc<Dest>, mut events: Vec<Event>) -> Vec<Event> {
        let rec = recorder();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                let pause = Duration::from_millis(200 * 4u64.pow(attempt - 1));
                if Self::bounded(pause, std::future::pending::<()>())
                    .await
                    .is_none()
                    && rec.deadline().is_some_and(|d| Instant::now() >= d)
                {
                    break;
                }
            }
            let sink = match self.sink(dest).await {
                Ok(sink) => sink,
                Err(SinkError::Transient(why)) => {
                    self.state(dest).last_error = Some(why);
                    continue;
                }
                Err(SinkError::Refused(why)) => {
                    dest.warn_once(&why);
                    break;
                }
            };
            let Some(result) = Self::bounded(ATTEMPT_TIMEOUT, sink.deliver(&events)).await else {
                self.state(dest).last_error = Some("no answer in time".into());
                continue;
            };
            match result {
                Ok(results) => {
                    let mut retry = Vec::new();
                    for (event, result) in events.into_iter().zip(results) {
                        match result {
                            EventResult::Done => Counters::add(&rec.counters.delivered, 1),
                            EventResult::Transient => retry.push(event),
                            EventResult::Rejected(why) => {
                                Counters::add(&rec.counters.dropped, 1);
                                eprintln!(
                                    "cronmon: {} refused an event of run {}: {why}",
                                    dest.target.describe(),
                                    event.execution_id()
                                );
                            }
                        }
                    }
                    events = retry;
                    if events.is_empty() {
                        return events;
                    }
                }
                Err(SinkError::Transient(why)) => {
                    self.state(dest).last_error = Some(why);
                    // A pool may hold dead connections after an outage; a fresh one is cheap.
                    self.state(dest).sink = None;
                }
                Err(SinkError::Refused(why)) => {
                    dest.warn_once(&why);
                    break;
                }
            }
        }
        events
    }

    async fn deliver_or_spool(&mut self, dest: &Arc<Dest>, events: Vec<Event>) {
        let rec = recorder();
        let paused = self.paused(dest);
        let past_deadline = rec.deadline().is_some_and(|d| Instant::now() >= d);
        if paused || past_deadline {
            rec.spool(dest, &events);
            self.warn_spooled(dest);
            return;
        }
        let left = self.deliver(dest, events).await;
        if left.is_empty() {
            let state = self.state(dest);
            state.failures = 0;
            state.paused_until = None;
            if dest.spool_pending.load(Ordering::Relaxed) {
                self.replay(dest).await;
            }
        } else {
            rec.spool(dest, &left);
            self.pause(dest);
            self.warn_spooled(dest);
        }
    }

    /// After a failed delivery: leave the destination alone for a while (2 s, 4 s, … 60 s),
    /// spooling what comes meanwhile, so a job whose monitor is down never waits on it.
    fn pause(&mut self, dest: &Arc<Dest>) {
        let state = self.state(dest);
        state.failures += 1;
        let pause = Duration::from_secs(1 << state.failures.min(6)).min(MAX_PAUSE);
        state.paused_until = Some(Instant::now() + pause);
    }

    /// One warning per process and destination that runs wait in the spool.
    fn warn_spooled(&mut self, dest: &Arc<Dest>) {
        let why = self
            .state(dest)
            .last_error
            .take()
            .unwrap_or_else(|| "not reached before the flush deadline".into());
        let dir = dest
            .spool_dir
            .as_ref()
            .map_or_else(|| "nowhere".to_owned(), |d| d.display().to_string());
        dest.warn_once(&format!(
            "unreachable ({why}); runs are kept in the spool ({dir}) and sent later"
        ));
    }

    fn paused(&mut self, dest: &Arc<Dest>) -> bool {
        self.state(dest)
            .paused_until
            .is_some_and(|t| Instant::now() < t)
    }

    /// Sends every spooled event of `dest` (from any process) again; what still fails goes
    /// back to this process's spool file.
    async fn replay(&mut self, dest: &Arc<Dest>) {
        let rec = recorder();
        dest.spool_pending.store(false, Ordering::Relaxed);
        let Some(dir) = &dest.spool_dir else { return };
        // Our own file joins the others: close it so the next spool opens a fresh one.
        dest.spool.close();
        for file in spool::claim_all(dir, dest.key) {
            let events = match file.read() {
                Ok(events) => events,
                Err(e) => {
                    eprintln!(
                        "cronmon: cannot read spool file {} ({e})",
                        file.path().display()
                    );
                    file.release();
                    continue;
                }
            };
            let mut failed = Vec::new();
            let mut chunks = events.chunks(MAX_BATCH);
            for chunk in chunks.by_ref() {
                let before = rec.counters.delivered.load(Ordering::Relaxed);
                let left = self.deliver(dest, chunk.to_vec()).await;
                let delivered = rec.counters.delivered.load(Ordering::Relaxed) - before;
                Counters::add(&rec.counters.replayed, delivered as usize);
                if !left.is_empty() {
                    failed = left;
                    break;
                }
            }
            for rest in chunks {
                failed.extend_from_slice(rest);
            }
            if !failed.is_empty() {
                // Still down: back into our spool; the claimed file is no longer needed.
                if dest.spool.append(dest, &failed).is_err() {
                    file.release();
                    return;
                }
                dest.spool_pending.store(true, Ordering::Relaxed);
            }
            file.delete();
            if !failed.is_empty() {
                self.pause(dest);
                return;
            }
            // Delivered: the destination is back, whatever an earlier failure said.
            let state = self.state(dest);
            state.failures = 0;
            state.paused_until = None;
        }
    }

    async fn schedule(&mut self, dest: &Arc<Dest>, name: &CronName, update: &ScheduleUpdate) {
        if self.paused(dest) {
            return;
        }
        let Ok(sink) = self.sink(dest).await else {
            return;
        };
        match Self::bounded(ATTEMPT_TIMEOUT, sink.upsert_schedule(name, update)).await {
            Some(Ok(())) => {}
            Some(Err(SinkError::Refused(why))) => {
                eprintln!("cronmon: cannot declare the schedule of `{name}`: {why}");
            }
            // Down: the events that follow say so once; the next run declares it again.
            Some(Err(SinkError::Transient(why))) => self.state(dest).last_error = Some(why),
            None => {}
        }
    }

    /// Closes as `crashed` the runs of this host whose process is gone.
    async fn sweep_crashed(&mut self, dest: &Arc<Dest>) {
        if self.paused(dest) {
            return;
        }
        let Ok(sink) = self.sink(dest).await else {
            return;
        };
        if let Some(Err(e)) = Self::bounded(ATTEMPT_TIMEOUT, sink.close_crashed()).await {
            eprintln!(
                "cronmon: cannot look for crashed runs at {}: {e}",
                dest.target.describe()
            );
        }
    }
}
