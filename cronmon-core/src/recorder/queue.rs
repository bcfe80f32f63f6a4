//! The job's side of the recorder: a bounded std channel to the worker, the messages on it,
//! and the flushes that wait for the worker to catch up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use super::{Counters, Destination, spool};
use crate::model::{CronName, Event, ScheduleUpdate};

/// What a job thread asks of the worker.
pub(super) enum Msg {
    Event(Arc<Destination>, Event),
    Schedule(Arc<Destination>, CronName, ScheduleUpdate),
    /// Replay the spool files of a destination, then close the runs of dead processes on this
    /// host.
    Startup(Arc<Destination>),
    Flush(Ack),
}

/// How the worker tells a waiting flush that everything queued before it is done.
pub(super) enum Ack {
    Blocking(SyncSender<()>),
    Async(tokio::sync::oneshot::Sender<()>),
}

impl Ack {
    pub(super) fn send(self) {
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

/// While a flush waits: the instant by which everything queued must be delivered or spooled.
/// Shared by the flushes (which set it) and the worker (which gives up delivering at it).
#[derive(Debug)]
pub(super) struct FlushDeadline {
    /// Milliseconds after `epoch`; 0 when no flush waits.
    ms: AtomicU64,
    epoch: Instant,
}

impl Default for FlushDeadline {
    fn default() -> Self {
        Self {
            ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl FlushDeadline {
    /// The deadline of the flush waiting now, if any (the earliest when several wait).
    pub(super) fn get(&self) -> Option<Instant> {
        match self.ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms)),
        }
    }

    /// Whether a waiting flush's deadline has passed.
    pub(super) fn passed(&self) -> bool {
        self.get().is_some_and(|d| Instant::now() >= d)
    }

    fn arm(&self, at: Instant) -> u64 {
        let ms = (at.saturating_duration_since(self.epoch).as_millis() as u64).max(1);
        let _ = self
            .ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                Some(if cur == 0 { ms } else { cur.min(ms) })
            });
        ms
    }

    fn disarm(&self, ms: u64) {
        let _ = self
            .ms
            .compare_exchange(ms, 0, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// The sending end of the recorder's channel.
pub(super) struct Queue {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    deadline: Arc<FlushDeadline>,
}

impl Queue {
    pub(super) fn new(
        tx: SyncSender<Msg>,
        counters: Arc<Counters>,
        deadline: Arc<FlushDeadline>,
    ) -> Self {
        Self {
            tx,
            counters,
            deadline,
        }
    }

    pub(super) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Queues an event; never blocks. A full queue sends it straight to the spool file.
    // Inlined (with `Recorder::send` and `Route::send`) so the channel's `try_send` is too:
    // without it `CronRun::start` ran ~100 instructions more (callgrind on start_bench).
    #[inline]
    pub(super) fn send(&self, destination: &Arc<Destination>, event: Event) {
        match self.tx.try_send(Msg::Event(destination.clone(), event)) {
            Ok(()) => Counters::add(&self.counters.enqueued, 1),
            Err(TrySendError::Full(Msg::Event(destination, event)))
            | Err(TrySendError::Disconnected(Msg::Event(destination, event))) => {
                Counters::add(&self.counters.overflowed, 1);
                spool::spool_from_job(&destination, &[event], &self.counters);
            }
            Err(_) => {}
        }
    }

    /// Queues a control message; dropped if the queue is full (they are best effort).
    pub(super) fn control(&self, msg: Msg) {
        let _ = self.tx.try_send(msg);
    }

    /// The worker's own budget for a flush of `timeout`: a little less, so spooling what is
    /// left fits in the time the caller waits.
    fn worker_budget(timeout: Duration) -> Duration {
        timeout.saturating_sub((timeout / 5).min(Duration::from_millis(300)))
    }

    /// Waits until everything queued before this call is delivered or spooled, at most
    /// `timeout`. Returns whether that happened in time.
    pub(super) fn flush_blocking(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let armed = self
            .deadline
            .arm(Instant::now() + Self::worker_budget(timeout));
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
        self.deadline.disarm(armed);
        done
    }

    /// [`Queue::flush_blocking`] for async code: waits without blocking the executor.
    /// Needs no tokio timer (nor tokio at all): a runtime built without its time driver, or
    /// another executor, must not turn a flush into a panic.
    pub(super) async fn flush(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let armed = self
            .deadline
            .arm(Instant::now() + Self::worker_budget(timeout));
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
                    self.deadline.disarm(armed);
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
        self.deadline.disarm(armed);
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
