//! Group commit: start, complete and heartbeat requests do not each run a transaction. Each
//! handler sends its event with a reply channel to a writer task; a writer takes every event
//! waiting (up to a batch size), records them with one [`Store::record_batch`] call (one
//! transaction), and answers each request with its own result. Under load, batches grow by
//! themselves; when idle, an event is written at once. No read happens before a write.
//!
//! With several writers, the events of a many-event request are sharded by cron name, so
//! several database connections write a large load at once without waiting on each other's
//! cron locks. A request of one event goes to the first writer: lone events gain more from
//! being grouped together (one statement for all of them) than from a second connection,
//! which would halve every group (measured: a quarter to two fifths more events a second at
//! one event a request, with the batch endpoint's rate unchanged). A finish or heartbeat
//! follows its start's writer, remembered for the runs this process saw start, so a run's
//! events are written in order; a batch run's reports go by kind, whose roll-up rows one
//! writer holds.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cronmon_core::{Event, Outcome, Store};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::error::ApiError;

type Reply = oneshot::Sender<Result<Outcome, ApiError>>;

/// Runs remembered for routing; past this, the memory starts over (a finish whose start is
/// forgotten goes to the shard of its id: correct, merely not deadlock-proof).
const MAX_REMEMBERED: usize = 200_000;

/// Longest a request waits for its write, queueing included: past it the answer is 503 (with
/// `Retry-After`), never a hang.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// A batch that failed transiently faster than this is tried once more at once (a connection
/// dropped by a restarted database); one that failed slower already waited out a timeout, and
/// its requests are answered 503 instead of waiting for another.
const QUICK_FAILURE: Duration = Duration::from_secs(1);

/// Handle to the writer tasks; cheap to clone. The writers stop once every handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Ingest {
    shards: Arc<[mpsc::Sender<(Event, Reply)>]>,
    routes: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl Ingest {
    /// Spawns `writers` writer tasks on the current tokio runtime.
    pub(crate) fn spawn(
        store: Arc<dyn Store>,
        writers: usize,
        max_batch: usize,
        queue: usize,
    ) -> Self {
        let writers = writers.max(1);
        let per_shard = (queue / writers).max(1);
        let shards: Vec<_> = (0..writers)
            .map(|_| {
                let (tx, rx) = mpsc::channel(per_shard);
                tokio::spawn(writer(store.clone(), rx, max_batch.max(1)));
                tx
            })
            .collect();
        Self {
            shards: shards.into(),
            routes: Arc::default(),
        }
    }

    /// The writer of `event`; `alone` when its request carries no other event.
    fn shard_of(&self, event: &Event, alone: bool) -> usize {
        let n = self.shards.len();
        if n == 1 {
            return 0;
        }
        let by_name = |name: &str| {
            let mut h = DefaultHasher::new();
            name.hash(&mut h);
            (h.finish() % n as u64) as usize
        };
        let by_id = |id: Uuid| (id.as_u128() % n as u128) as usize;
        // A run no earlier event routed: with its request's other events, by its shard;
        // alone, to the first writer.
        let unrouted = |shard: usize| if alone { 0 } else { shard };
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Start(s) => {
                let shard = unrouted(by_name(s.cron_name.as_str()));
                if routes.len() >= MAX_REMEMBERED {
                    routes.clear();
                }
                routes.insert(s.id, shard);
                shard
            }
            Event::Finish(f) => match (routes.remove(&f.id), &f.start) {
                (Some(shard), _) => shard,
                (None, Some(s)) => unrouted(by_name(s.cron_name.as_str())),
                (None, None) => unrouted(by_id(f.id)),
            },
            Event::Heartbeat(h) => routes
                .get(&h.id)
                .copied()
                .unwrap_or_else(|| unrouted(by_id(h.id))),
            // By kind, alone or not: one writer holds a kind's roll-up rows.
            Event::Batch(b) => by_name(&b.batch_kind),
        }
    }

    /// Records `event` with the next batch of its shard and waits for its own result.
    pub(crate) async fn submit(&self, event: Event) -> Result<Outcome, ApiError> {
        let mut results = self.submit_many(vec![event]).await;
        results
            .pop()
            .unwrap_or_else(|| Err(ApiError::unavailable("the write was interrupted; retry")))
    }

    /// Records `events` (in their order within each shard, so a run's start goes before its
    /// end) and waits for each one's result, one per event, in order. Enqueueing and writing
    /// share one deadline: a full queue or a database that hangs answers 503, never a hang.
    /// A write may still land after its 503; a retry with the same executionId is idempotent.
    pub(crate) async fn submit_many(&self, events: Vec<Event>) -> Vec<Result<Outcome, ApiError>> {
        let deadline = tokio::time::Instant::now() + WRITE_TIMEOUT;
        let mut pending = Vec::with_capacity(events.len());
        let alone = events.len() == 1;
        for event in events {
            let (reply, answer) = oneshot::channel();
            let shard = self.shard_of(&event, alone);
            let queued =
                tokio::time::timeout_at(deadline, self.shards[shard].send((event, reply))).await;
            pending.push(match queued {
                Ok(Ok(())) => Ok(answer),
                Ok(Err(_)) => Err(ApiError::unavailable("the server is shutting down")),
                Err(_) => Err(ApiError::unavailable(
                    "the server is too busy to take the write; retry",
                )),
            });
        }
        let mut results = Vec::with_capacity(pending.len());
        for answer in pending {
            results.push(match answer {
                Err(e) => Err(e),
                Ok(answer) => match tokio::time::timeout_at(deadline, answer).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(ApiError::unavailable("the write was interrupted; retry")),
                    Err(_) => Err(ApiError::unavailable(
                        "the database is slow to answer; retry",
                    )),
                },
            });
        }
        results
    }
}

async fn writer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<(Event, Reply)>, max_batch: usize) {
    let mut jobs = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        // A request that timed out while queued behind a stalled database has been answered
        // 503 and will be retried by its client: writing it now would only delay the others.
        jobs.retain(|(_, reply)| !reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let (events, replies): (Vec<Event>, Vec<Reply>) = jobs.drain(..).unzip();
        let began = Instant::now();
        let mut result = store.record_batch(&events).await;
        if matches!(&result, Err(e) if e.is_transient()) && began.elapsed() < QUICK_FAILURE {
            tokio::time::sleep(Duration::from_millis(20)).await;
            result = store.record_batch(&events).await;
        }
        match result {
            Ok(results) => {
                let mut results = results.into_iter();
                for reply in replies {
                    let r = match results.next() {
                        Some(r) => r.map_err(ApiError::from),
                        None => {
                            tracing::error!("record_batch returned fewer results than events");
                            Err(ApiError::internal())
                        }
                    };
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                let e = ApiError::from(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cronmon_core::{CronName, Finish, Start, Status};

    use super::*;

    fn four_writers() -> Ingest {
        let shards: Vec<_> = (0..4).map(|_| mpsc::channel(1).0).collect();
        Ingest {
            shards: shards.into(),
            routes: Arc::default(),
        }
    }

    fn start(cron: &str) -> Start {
        Start::now(CronName::new(cron).expect("a valid name"))
    }

    #[test]
    fn lone_events_share_the_first_writer_and_many_spread_by_cron() {
        let ingest = four_writers();
        let lone: Vec<_> = (0..20)
            .map(|i| ingest.shard_of(&Event::Start(start(&format!("job-{i}"))), true))
            .collect();
        assert!(lone.iter().all(|&s| s == 0), "{lone:?}");

        let many: Vec<_> = (0..20)
            .map(|i| start(&format!("job-{i}")))
            .map(|s| {
                (
                    s.cron_name.clone(),
                    ingest.shard_of(&Event::Start(s), false),
                )
            })
            .collect();
        let used: std::collections::HashSet<_> = many.iter().map(|(_, s)| *s).collect();
        assert!(used.len() > 1, "{many:?}");
        // One cron, one writer, whatever the request.
        for (name, shard) in &many {
            let again = ingest.shard_of(&Event::Start(Start::now(name.clone())), false);
            assert_eq!(again, *shard);
        }
    }

    #[test]
    fn a_lone_end_follows_its_start() {
        let ingest = four_writers();
        let (s, shard) = (0..20)
            .map(|i| start(&format!("job-{i}")))
            .map(|s| {
                let shard = ingest.shard_of(&Event::Start(s.clone()), false);
                (s, shard)
            })
            .find(|(_, shard)| *shard != 0)
            .expect("some cron off the first writer");
        let end = Finish::now(s.id, Status::Completed);
        assert_eq!(ingest.shard_of(&Event::Finish(end), true), shard);
        // An unknown run's lone end goes to the first writer.
        let unknown = Finish::now(uuid::Uuid::now_v7(), Status::Completed);
        assert_eq!(ingest.shard_of(&Event::Finish(unknown), true), 0);
    }
}
