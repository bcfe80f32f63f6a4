//! Group commit: start, complete and heartbeat requests do not each run a transaction. Each
//! handler sends its event with a reply channel to a small pool of writer tasks; a writer
//! takes every event waiting (up to a batch size), records them with one
//! [`Store::record_batch`] call (one transaction), and answers each request with its own
//! result. Under load, batches grow by themselves; when idle, an event is written at once.

use std::sync::Arc;
use std::time::Duration;

use cronmon_core::{Event, Outcome, Store};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::ApiError;

type Reply = oneshot::Sender<Result<Outcome, ApiError>>;

/// Handle to the writer tasks; cheap to clone. The writers stop once every handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Ingest {
    tx: mpsc::Sender<(Event, Reply)>,
}

impl Ingest {
    /// Spawns `writers` writer tasks on the current tokio runtime.
    pub(crate) fn spawn(
        store: Arc<dyn Store>,
        writers: usize,
        max_batch: usize,
        queue: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            tokio::spawn(writer(store.clone(), rx.clone(), max_batch.max(1)));
        }
        Self { tx }
    }

    /// Records `event` with the next batch and waits for its own result.
    pub(crate) async fn submit(&self, event: Event) -> Result<Outcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((event, reply))
            .await
            .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
        answer
            .await
            .map_err(|_| ApiError::unavailable("the write was interrupted; retry"))?
    }
}

async fn writer(
    store: Arc<dyn Store>,
    rx: Arc<Mutex<mpsc::Receiver<(Event, Reply)>>>,
    max_batch: usize,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    loop {
        {
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut jobs, max_batch).await == 0 {
                return; // every sender is gone
            }
        }
        let (events, replies): (Vec<Event>, Vec<Reply>) = jobs.drain(..).unzip();
        let mut result = store.record_batch(&events).await;
        if matches!(&result, Err(e) if e.is_transient()) {
            // A deadlock, a serialization failure or a dropped connection: once more.
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
