//! The recorder thread: takes messages off the queue in batches, delivers each destination's
//! events in one transaction, retries transient failures with backoff, pauses a destination
//! that keeps failing, and spools what it cannot deliver.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::queue::{FlushDeadline, Msg};
use super::sinks::{EventResult, Sink, SinkError};
use super::{Counters, Destination, spool};
use crate::model::{CronName, Event, ScheduleUpdate};

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
}

/// The recorder thread's state. Everything it shares with job threads (counters, the flush
/// deadline) is handed to it when it starts; destinations come with each message.
pub(super) struct Worker {
    rx: Receiver<Msg>,
    counters: Arc<Counters>,
    deadline: Arc<FlushDeadline>,
    /// Keyed by the destination's address: destinations live as long as their recorder.
    health: HashMap<usize, DestinationHealth>,
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
                    match self.rx.recv() {
                        Ok(m) => m,
                        Err(_) => return,
                    }
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
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
                Msg::Event(destination, e) => spool::spool(&destination, &[e], &self.counters),
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
                Msg::Startup(destination) => startups.push(destination),
                Msg::Flush(ack) => acks.push(ack),
            }
        }
        for destination in startups {
            self.replay(&destination).await;
            self.sweep_crashed(&destination).await;
        }
        for (destination, events) in groups {
            self.deliver_or_spool(&destination, events).await;
        }
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
            spool::spool(destination, &events, &self.counters);
            self.warn_spooled(destination);
            return;
        }
        let left = self.deliver(destination, events).await;
        if left.is_empty() {
            let health = self.health(destination);
            health.failures = 0;
            health.paused_until = None;
            if destination.spool_pending.load(Ordering::Relaxed) {
                self.replay(destination).await;
            }
        } else {
            spool::spool(destination, &left, &self.counters);
            self.pause(destination);
            self.warn_spooled(destination);
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

    /// Sends every spooled event of `destination` (from any process) again; what still fails
    /// goes back to this process's spool file.
    async fn replay(&mut self, destination: &Arc<Destination>) {
        destination.spool_pending.store(false, Ordering::Relaxed);
        let Some(dir) = &destination.spool_dir else {
            return;
        };
        // Our own file joins the others: close it so the next spool opens a fresh one.
        destination.spool.close();
        for file in spool::claim_all(dir, destination.key) {
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
                let before = self.counters.delivered.load(Ordering::Relaxed);
                let left = self.deliver(destination, chunk.to_vec()).await;
                let delivered = self.counters.delivered.load(Ordering::Relaxed) - before;
                Counters::add(&self.counters.replayed, delivered as usize);
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
                if destination.spool.append(destination, &failed).is_err() {
                    file.release();
                    return;
                }
                destination.spool_pending.store(true, Ordering::Relaxed);
            }
            file.delete();
            if !failed.is_empty() {
                self.pause(destination);
                return;
            }
            // Delivered: the destination is back, whatever an earlier failure said.
            let health = self.health(destination);
            health.failures = 0;
            health.paused_until = None;
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
