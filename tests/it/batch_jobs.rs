//! Real batch job processes (`cronmon-test-batch-job`, in `test-jobs/`) recording `BatchRun`s
//! through the recorder, to real SQLite, real PostgreSQL and a cronmon server over HTTP: a run
//! that completes, one that returns early, one that panics, one stopped by SIGTERM, one shared
//! by worker threads; and a monitor that is down, whose spool the next job replays.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use cronmon::Status;
use cronmon::batch::{BatchRunFilter, BatchRunRecord};
use cronmon::store::Store;

use crate::common;
use crate::common::Kind;
use crate::common::output;
use crate::jobs::{Setup, job, stderr};

const BATCH_JOB: &str = "cronmon-test-batch-job";
const KIND: &str = "test-batch";

async fn runs(store: &dyn Store) -> Vec<BatchRunRecord> {
    let filter = BatchRunFilter {
        kind: Some(KIND.into()),
        ..BatchRunFilter::default()
    };
    let mut runs = store.batch_runs(&filter, None, 100).await.unwrap();
    runs.sort_by_key(|r| r.id);
    runs
}

async fn completed_failed_and_panicked(s: &Setup) {
    let ok = output(s.job(BATCH_JOB, "ok")).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let early = output(s.job(BATCH_JOB, "early")).await;
    // The job's own exit code, whatever the monitor did.
    assert_eq!(early.status.code(), Some(3), "{}", stderr(&early));
    let panicked = output(s.job(BATCH_JOB, "panic")).await;
    assert_eq!(panicked.status.code(), Some(101), "{}", stderr(&panicked));

    let runs = runs(s.store()).await;
    assert_eq!(runs.len(), 3, "{runs:#?}");
    let (ok, early, panicked) = (&runs[0], &runs[1], &runs[2]);
    assert_eq!(ok.status, Status::Completed);
    // Every 7th of 50 failed: 7 failed, 43 done.
    assert_eq!((ok.total, ok.done, ok.failed), (Some(50), 43, 7));
    assert!(ok.host.is_some() && ok.completed_at.is_some());
    assert_eq!(early.status, Status::Failed);
    assert_eq!(
        early.error_message.as_deref(),
        Some("ended without completion")
    );
    assert_eq!(early.done, 4);
    assert_eq!(panicked.status, Status::Failed);
    let message = panicked.error_message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("panicked: boom at item 3 (at test-jobs/src/bin/batch_job.rs:"),
        "{message}"
    );
    assert_eq!(panicked.done, 2);

    let kinds = s.store().batch_kinds_recorded(Utc::now()).await.unwrap();
    let kind = kinds
        .iter()
        .find(|k| k.kind == KIND)
        .expect("recorded kind");
    assert_eq!((kind.items_done_today, kind.items_failed_today), (49, 7));
    assert_eq!((kind.runs_completed_today, kind.runs_failed_today), (1, 2));
    assert_eq!(kind.running_count, 0);
}

async fn sigterm_fails_the_batch_run_as_interrupted(s: &Setup) {
    let mut child = s.job(BATCH_JOB, "sleep").spawn().unwrap();
    // Running, with its progress so far.
    let until = Instant::now() + Duration::from_secs(30);
    let running = loop {
        if let Some(r) = runs(s.store())
            .await
            .into_iter()
            .find(|r| r.status == Status::Running && r.done == 10)
        {
            break r;
        }
        assert!(
            Instant::now() < until,
            "the batch run never showed its progress"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let kinds = s.store().batch_kinds_recorded(Utc::now()).await.unwrap();
    let kind = kinds.iter().find(|k| k.kind == KIND).expect("kind");
    assert_eq!((kind.running_count, kind.items_left), (1, 90));
    assert_eq!(kind.running[0].id, running.id);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.signal(), Some(15), "{status:?}");
    let run = s.store().batch_run(running.id).await.unwrap().unwrap();
    assert_eq!(run.status, Status::Failed);
    assert_eq!(run.error_message.as_deref(), Some("interrupted by SIGTERM"));
    assert_eq!(run.done, 10);
}

async fn worker_threads_share_one_run(s: &Setup) {
    let o = output(s.job(BATCH_JOB, "workers")).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let runs = runs(s.store()).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].status, runs[0].done, runs[0].failed),
        (Status::Completed, 1000, 0)
    );
}

/// The monitor is down: each job exits with its own code at once, its reports wait in the
/// spool; the next job, once the monitor is back, replays them: every run appears once, with
/// its counts, and the roll-ups count each item once.
async fn monitor_down_then_replayed(kind: Kind) {
    let spool = common::spool_dir();
    let mut down = common::DownDest::new(kind).await;
    let began = Instant::now();
    let ok = output(job(BATCH_JOB, "ok", &down.url, &spool)).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let early = output(job(BATCH_JOB, "early", &down.url, &spool)).await;
    assert_eq!(early.status.code(), Some(3));
    assert!(began.elapsed() < Duration::from_secs(20));
    assert!(!common::spool_files(&spool).is_empty());

    let store = down.bring_up().await;
    let next = output(job(BATCH_JOB, "ok", &down.url, &spool)).await;
    assert!(next.status.success(), "{}", stderr(&next));

    let runs = runs(&*store).await;
    let outcomes: Vec<_> = runs.iter().map(|r| (r.status, r.done, r.failed)).collect();
    assert_eq!(
        outcomes,
        vec![
            (Status::Completed, 43, 7),
            (Status::Failed, 4, 0),
            (Status::Completed, 43, 7),
        ]
    );
    let kinds = store.batch_kinds_recorded(Utc::now()).await.unwrap();
    let k = kinds.iter().find(|k| k.kind == KIND).expect("kind");
    assert_eq!((k.items_done_today, k.items_failed_today), (90, 14));
    assert!(common::spool_files(&spool).is_empty());
    let _ = std::fs::remove_dir_all(&spool);
    down.finish().await;
}

/// A loop that advances a million times sends a report a second, not a million: the job's
/// cost is a count; the last item is always reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_advances_send_a_report_a_second() {
    let r = common::Recording::new(Kind::Sqlite).await;
    let before = r.monitor.stats().enqueued;
    let began = Instant::now();
    let run = cronmon::batch::BatchRun::builder(&r.monitor, KIND)
        .total(1_000_000)
        .start();
    for i in 0..1_000_000u64 {
        if i % 10 == 0 {
            run.advance(0, 1);
        } else {
            run.advance(1, 0);
        }
    }
    let seconds = began.elapsed().as_secs();
    let id = run.id();
    run.complete();
    r.flush().await;
    let reports = r.monitor.stats().enqueued - before;
    // The start, one a second at most, the last item, the end.
    assert!(reports <= seconds + 4, "{reports} reports in {seconds} s");
    let stored = r.store().batch_run(id).await.unwrap().expect("stored");
    assert_eq!(
        (stored.status, stored.done, stored.failed),
        (Status::Completed, 900_000, 100_000)
    );
    r.finish().await;
}

on_all_destinations!(
    completed_failed_and_panicked,
    sigterm_fails_the_batch_run_as_interrupted,
    worker_threads_share_one_run,
);

on_each_kind!(monitor_down_then_replayed);
