//! The recorder thread: takes messages off the queue in batches, delivers each destination's
//! events in one transaction, retries transient failures with backoff, pauses a destination
//! that keeps failing, and spools what it cannot deliver.
//!
//! Spooled events are replayed after the job's own: in slices of [`REPLAY_SLICE`] events, for
//! at most [`REPLAY_WINDOW`] after each batch of the job's events, and on while the queue is
//! idle. Where a window stops, what is left of the file is written back and what was delivered
//! is never sent again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::queue::{FlushDeadline, Msg};
use super::sinks::{EventResult, Sink, SinkError};
use super::{Counters, Destination, spool};
use crate::model::{CronName, Event, ScheduleUpdate};

/// Most events taken off the queue for one delivery: a store writes them in transactions of
/// [`STORE_BATCH`](super::sinks::store::STORE_BATCH), a server receives them in requests
/// sent side by side.
const MAX_BATCH: usize = 2048;
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
/// Most spooled events sent in one delivery attempt: a slow link loses at most this much
/// progress to a timeout, and the job's own events wait at most one slice.
const REPLAY_SLICE: usize = 64;
/// How long a replay may hold up the job's own events; a slice that started runs to its end.
const REPLAY_WINDOW: Duration = Duration::from_secs(1);

/// What the worker knows about one destination: the sink it opened, and how healthy the
/// destination has been lately.
#[derive(Default)]
struct DestinationHealth {
    sink: Option<Sink>,
    /// After failures, events are spooled without trying until then.
    paused_until: Option<Instant>,
    failures: u32,
    /// Why the last attempt failed, for the one warning.
    last_error: Option<String>,
    /// How long the last replay slice took: while a flush waits, a slice starts only if it
    /// should end well before the flush's deadline (a slice cut short is sent again).
    slice_time: Duration,
}

/// The recorder thread's state. Everything it shares with job threads (counters, the flush
/// deadline) is handed to it when it starts; destinations come with each message.
pub(super) struct Worker {
    rx: Receiver<Msg>,
    counters: Arc<Counters>,
    deadline: Arc<FlushDeadline>,
    /// Keyed by the destination's address: destinations live as long as their recorder.
    health: HashMap<usize, DestinationHealth>,
    /// Destinations whose spool may hold events to replay.
    due: Vec<Arc<Destination>>,
}

impl Worker {
    pub(super) fn new(
        rx: Receiver<Msg>,
        counters: Arc<Counters>,
        deadline: Arc<FlushDeadline>,
    ) -> Self {
        Self {
            rx,
            counters,
            deadline,
            health: HashMap::new(),
            due: Vec::new(),
        }
    }

    /// The thread's body: returns once every sender is gone and the queue is drained.
    pub(super) fn run(mut self) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("cronmon: cannot start the recorder runtime ({e}); runs go to the spool");
                return self.spool_forever();
            }
        };
        // While events keep coming, the worker polls the queue every millisecond instead of
        // blocking on it: a sender then never has to wake it (a futex call costing microseconds
        // on the job's thread), and events group into bigger batches. After a quiet spell it
        // blocks again, so an idle process costs nothing.
        let mut last_busy = Instant::now();
        loop {
            let first = match self.rx.try_recv() {
                Ok(m) => m,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    if last_busy.elapsed() < IDLE_AFTER {
                        std::thread::sleep(POLL);
                        continue;
                    }
                    // Idle: replay what waits in the spool, a window at a time, looking at the
                    // queue in between.
                    match self.replay_wait() {
                        None => match self.rx.recv() {
                            Ok(m) => m,
                            Err(_) => return,
                        },
                        Some(wait) => match self.rx.recv_timeout(wait) {
                            Ok(m) => m,
                            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                                rt.block_on(self.replay_due());
                                continue;
                            }
                            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                        },
                    }
                }
            };
            let mut batch = vec![first];
            // Past a flush's deadline nothing is delivered any more: everything waiting goes
            // to the spool at once, in one write and one fsync instead of one per batch, so
            // the flush is done before its caller gives up on it.
            let limit = if self.deadline.passed() {
                usize::MAX
            } else {
                MAX_BATCH
            };
            while batch.len() < limit {
                match self.rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            rt.block_on(self.handle(batch));
            last_busy = Instant::now();
        }
    }

    /// Without a runtime nothing can be delivered: every event goes to the spool.
    fn spool_forever(self) {
        for msg in &self.rx {
            match msg {
                Msg::Event(destination, e) => {
                    spool::spool(&destination, &[e], &self.counters);
                }
                Msg::Flush(ack) => ack.send(),
                Msg::Schedule(..) | Msg::Startup(_) => {}
            }
        }
    }

    async fn handle(&mut self, batch: Vec<Msg>) {
        // Group events by destination, keeping their order (a run's start before its end).
        let mut groups: Vec<(Arc<Destination>, Vec<Event>)> = Vec::new();
        let mut acks = Vec::new();
        let mut startups = Vec::new();
        for msg in batch {
            match msg {
                Msg::Event(destination, event) => {
                    match groups
                        .iter_mut()
                        .find(|(d, _)| Arc::ptr_eq(d, &destination))
                    {
                        Some((_, events)) => events.push(event),
                        None => groups.push((destination, vec![event])),
                    }
                }
                Msg::Schedule(destination, name, update) => {
                    self.schedule(&destination, &name, &update).await;
                }
                Msg::Startup(destination) => {
                    // Asked for now (a new monitor, `replay_spool`): an earlier failure's
                    // pause does not hold it back, though a failure of this batch would.
                    self.health(&destination).paused_until = None;
                    startups.push(destination);
                }
                Msg::Flush(ack) => acks.push(ack),
            }
        }
        // The job's own events first: old spool never holds up new runs.
        for (destination, events) in groups {
            self.deliver_or_spool(&destination, events).await;
        }
        for destination in startups {
            self.sweep_crashed(&destination).await;
            self.mark_due(destination);
        }
        self.replay_due().await;
        for ack in acks {
            ack.send();
        }
    }

    fn health(&mut self, destination: &Arc<Destination>) -> &mut DestinationHealth {
        self.health
            .entry(Arc::as_ptr(destination) as usize)
            .or_default()
    }

    /// Runs `fut` until it ends, `limit` passes, or a waiting flush's deadline passes.
    async fn bounded<F: Future>(
        deadline: &FlushDeadline,
        limit: Duration,
        fut: F,
    ) -> Option<F::Output> {
        let give_up = Instant::now() + limit;
        let mut fut = std::pin::pin!(fut);
        loop {
            let until = deadline.get().map_or(give_up, |d| d.min(give_up));
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

    /// The open sink of `destination`, opened now if there is none.
    async fn sink(&mut self, destination: &Arc<Destination>) -> Result<Sink, SinkError> {
        if let Some(sink) = &self.health(destination).sink {
            return Ok(sink.clone());
        }
        let opened = Self::bounded(
            &self.deadline,
            ATTEMPT_TIMEOUT,
            Sink::open(&destination.config),
        )
        .await;
        let sink = opened
            .unwrap_or_else(|| Err(SinkError::Transient("timed out connecting".into())))
            .inspect_err(|e| {
                if let SinkError::Transient(why) = e {
                    self.health(destination).last_error = Some(why.clone());
                }
            })?;
        self.health(destination).sink = Some(sink.clone());
        Ok(sink)
    }

    /// Delivers `events`, retrying what failed transiently; returns what is still undelivered.
    async fn deliver(
        &mut self,
        destination: &Arc<Destination>,
        mut events: Vec<Event>,
    ) -> Vec<Event> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                let pause = Duration::from_millis(200 * 4u64.pow(attempt - 1));
                if Self::bounded(&self.deadline, pause, std::future::pending::<()>())
                    .await
                    .is_none()
                    && self.deadline.passed()
                {
                    break;
                }
            }
            let sink = match self.sink(destination).await {
                Ok(sink) => sink,
                Err(SinkError::Transient(why)) => {
                    self.health(destination).last_error = Some(why);
                    continue;
                }
                Err(SinkError::Refused(why)) => {
                    destination.warn_once(&why);
                    break;
                }
            };
            let Some(result) =
                Self::bounded(&self.deadline, ATTEMPT_TIMEOUT, sink.deliver(&events)).await
            else {
                self.health(destination).last_error = Some("no answer in time".into());
                continue;
            };
            match result {
                Ok(results) => {
                    let mut retry = Vec::new();
                    for (event, result) in events.into_iter().zip(results) {
                        match result {
                            EventResult::Done => Counters::add(&self.counters.delivered, 1),
                            EventResult::Transient => retry.push(event),
                            EventResult::Conflict(why) => {
                                Counters::add(&self.counters.dropped, 1);
                                eprintln!(
                                    "cronmon: {} already holds run {} with another outcome: \
                                     {why}",
                                    destination.config.describe(),
                                    event.execution_id()
                                );
                            }
                            EventResult::Invalid(why) => {
                                spool::dead_letter(destination, &event, &why, &self.counters);
                            }
                        }
                    }
                    events = retry;
                    if events.is_empty() {
                        return events;
                    }
                }
                Err(SinkError::Transient(why)) => {
                    let health = self.health(destination);
                    health.last_error = Some(why);
                    // A pool may hold dead connections after an outage; a fresh one is cheap.
                    health.sink = None;
                }
                Err(SinkError::Refused(why)) => {
                    destination.warn_once(&why);
                    break;
                }
            }
        }
        events
    }

    async fn deliver_or_spool(&mut self, destination: &Arc<Destination>, events: Vec<Event>) {
        if self.paused(destination) || self.deadline.passed() {
            if spool::spool(destination, &events, &self.counters) {
                self.warn_spooled(destination);
            }
            self.mark_due(destination.clone());
            return;
        }
        let left = self.deliver(destination, events).await;
        if left.is_empty() {
            let health = self.health(destination);
            health.failures = 0;
            health.paused_until = None;
            if destination.spool_pending.load(Ordering::Relaxed) {
                self.mark_due(destination.clone());
            }
        } else {
            if spool::spool(destination, &left, &self.counters) {
                self.warn_spooled(destination);
            }
            self.pause(destination);
            self.mark_due(destination.clone());
        }
    }

    /// Notes that `destination`'s spool is to be replayed once it is not paused.
    fn mark_due(&mut self, destination: Arc<Destination>) {
        if !self.due.iter().any(|d| Arc::ptr_eq(d, &destination)) {
            self.due.push(destination);
        }
    }

    /// With replays due: how long until one may run (zero: now); `None` when none is due.
    fn replay_wait(&self) -> Option<Duration> {
        let now = Instant::now();
        self.due
            .iter()
            .map(|d| {
                self.health
                    .get(&(Arc::as_ptr(d) as usize))
                    .and_then(|h| h.paused_until)
                    .map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
            })
            .min()
    }

    /// One replay window for each due destination that is not paused.
    async fn replay_due(&mut self) {
        for destination in std::mem::take(&mut self.due) {
            let more = self.paused(&destination)
                || self.deadline.passed()
                || self.replay(&destination).await;
            if more {
                self.mark_due(destination);
            }
        }
    }

    /// After a failed delivery: leave the destination alone for a while (2 s, 4 s, … 60 s),
    /// spooling what comes meanwhile, so a job whose monitor is down never waits on it.
    fn pause(&mut self, destination: &Arc<Destination>) {
        let health = self.health(destination);
        health.failures += 1;
        let pause = Duration::from_secs(1 << health.failures.min(6)).min(MAX_PAUSE);
        health.paused_until = Some(Instant::now() + pause);
    }

    /// One warning per process and destination that runs wait in the spool.
    fn warn_spooled(&mut self, destination: &Arc<Destination>) {
        let why = self
            .health(destination)
            .last_error
            .take()
            .unwrap_or_else(|| "not reached before the flush deadline".into());
        let dir = destination
            .spool_dir
            .as_ref()
            .map_or_else(|| "nowhere".to_owned(), |d| d.display().to_string());
        destination.warn_once(&format!(
            "unreachable ({why}); runs are kept in the spool ({dir}) and sent later"
        ));
    }

    fn paused(&mut self, destination: &Arc<Destination>) -> bool {
        self.health(destination)
            .paused_until
            .is_some_and(|t| Instant::now() < t)
    }

    /// Replays spooled events of `destination` (from any process), oldest file first, for at
    /// most [`REPLAY_WINDOW`]: returns whether some may be left. Each file's events go in
    /// slices of [`REPLAY_SLICE`]; where the window ends or the destination fails, the rest of
    /// the file is written back in its place, so nothing delivered is sent twice.
    async fn replay(&mut self, destination: &Arc<Destination>) -> bool {
        let until = Instant::now() + REPLAY_WINDOW;
        destination.spool_pending.store(false, Ordering::Relaxed);
        let Ok(dir) = destination.spool.dir(destination.spool_dir.as_deref()) else {
            return false;
        };
        // Our own file joins the others: closed (and its lock released) under the mutex that
        // appends take, so the next spool opens a fresh file and nothing lands in this one.
        destination.spool.close(&self.counters);
        loop {
            if Instant::now() >= until {
                return true;
            }
            let Some(mut file) = spool::claim_next(dir, destination.key) else {
                return destination.spool_pending.load(Ordering::Relaxed);
            };
            let contents = match file.read() {
                Ok(contents) => contents,
                Err(e) => {
                    eprintln!(
                        "cronmon: cannot read spool file {} ({e})",
                        file.path().display()
                    );
                    file.release();
                    return false;
                }
            };
            spool::dead_letter_damaged(destination, &contents.damaged, file.path(), &self.counters);
            let events = contents.events;
            let mut at = 0;
            let mut left = Vec::new();
            while at < events.len() && Instant::now() < until && self.may_start_slice(destination) {
                let end = (at + REPLAY_SLICE).min(events.len());
                let before = self.counters.delivered.load(Ordering::Relaxed);
                let began = Instant::now();
                let undelivered = self.deliver(destination, events[at..end].to_vec()).await;
                self.health(destination).slice_time = began.elapsed();
                let delivered = self.counters.delivered.load(Ordering::Relaxed) - before;
                Counters::add(&self.counters.replayed, delivered as usize);
                at = end;
                if !undelivered.is_empty() {
                    left = undelivered;
                    break;
                }
            }
            if at == 0 && !events.is_empty() && contents.damaged.is_empty() {
                // Nothing sent (a flush's deadline is near): the file goes back as it was.
                file.release();
                return true;
            }
            let failed = !left.is_empty() && !self.deadline.passed();
            left.extend_from_slice(&events[at..]);
            let done = left.is_empty();
            if let Err(e) = file.put_back(&left) {
                eprintln!(
                    "cronmon: cannot write back what is left of a spool file ({e}); it will be \
                     replayed whole"
                );
                return false;
            }
            if failed {
                self.pause(destination);
                return true;
            }
            if !done {
                return true;
            }
            // Delivered: the destination is back, whatever an earlier failure said.
            let health = self.health(destination);
            health.failures = 0;
            health.paused_until = None;
        }
    }

    /// Whether a replay slice may start now: always, unless a flush waits and the last slice
    /// took more than half the time left before its deadline.
    fn may_start_slice(&mut self, destination: &Arc<Destination>) -> bool {
        match self.deadline.get() {
            None => true,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                left > self.health(destination).slice_time * 2
            }
        }
    }

    async fn schedule(
        &mut self,
        destination: &Arc<Destination>,
        name: &CronName,
        update: &ScheduleUpdate,
    ) {
        if self.paused(destination) {
            return;
        }
        let Ok(sink) = self.sink(destination).await else {
            return;
        };
        match Self::bounded(
            &self.deadline,
            ATTEMPT_TIMEOUT,
            sink.upsert_schedule(name, update),
        )
        .await
        {
            Some(Ok(())) => {}
            Some(Err(SinkError::Refused(why))) => {
                eprintln!("cronmon: cannot declare the schedule of `{name}`: {why}");
            }
            // Down: the events that follow say so once; the next run declares it again.
            Some(Err(SinkError::Transient(why))) => {
                self.health(destination).last_error = Some(why);
            }
            None => {}
        }
    }

    /// Closes as `crashed` the runs of this host whose process is gone.
    async fn sweep_crashed(&mut self, destination: &Arc<Destination>) {
        if self.paused(destination) {
            return;
        }
        let Ok(sink) = self.sink(destination).await else {
            return;
        };
        if let Some(Err(e)) =
            Self::bounded(&self.deadline, ATTEMPT_TIMEOUT, sink.close_crashed()).await
        {
            eprintln!(
                "cronmon: cannot look for crashed runs at {}: {e}",
                destination.config.describe()
            );
        }
    }
}
