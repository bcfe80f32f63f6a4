//! Batch runs in the store, on real SQLite and PostgreSQL: each report carries the run's whole
//! state, so reports stored twice, late or out of order change nothing they should not; the
//! roll-ups give today's items, the last hour's throughput and the running runs; the history
//! lists and pages; a run whose process died is closed as failed.

use chrono::{TimeDelta, Utc};
use cronmon::batch::{BatchEvent, BatchRunFilter};
use cronmon::{Error, Event, Outcome, Status};

use crate::common::TestDb;

crate::on_both_test_dbs!(
    mods store_sqlite, store_postgres;
    reports_are_idempotent_and_order_free,
    recorded_figures_come_from_the_rollups,
    history_filters_and_pages,
    stale_runs_are_failed,
    retention_deletes_old_ended_runs,
);

async fn record(db: &TestDb, e: &BatchEvent) -> cronmon::Result<Outcome> {
    let mut results = db
        .store
        .record_batch(&[Event::Batch(e.clone())])
        .await
        .expect("batch");
    results.pop().expect("one result")
}

fn progress(start: &BatchEvent, done: i64, failed: i64) -> BatchEvent {
    BatchEvent {
        done,
        failed,
        at: Utc::now(),
        ..start.clone()
    }
}

fn end(start: &BatchEvent, status: Status, done: i64, failed: i64) -> BatchEvent {
    BatchEvent {
        status,
        error_message: (status == Status::Failed).then(|| "the index is locked".to_owned()),
        ..progress(start, done, failed)
    }
}

async fn reports_are_idempotent_and_order_free(db: &TestDb) {
    let start = BatchEvent::start("kbIndexation", Some(245));
    // Progress before its start (a replay out of order) stores the run.
    assert_eq!(
        record(db, &progress(&start, 10, 1)).await.unwrap(),
        Outcome::Recorded
    );
    assert_eq!(record(db, &start).await.unwrap(), Outcome::Recorded);
    let run = db.store.batch_run(start.id).await.unwrap().expect("stored");
    assert_eq!((run.done, run.failed, run.total), (10, 1, Some(245)));
    assert_eq!(run.status, Status::Running);
    // An older report never lowers the counts.
    record(db, &progress(&start, 5, 0)).await.unwrap();
    record(db, &progress(&start, 200, 3)).await.unwrap();
    let done = end(&start, Status::Completed, 242, 3);
    assert_eq!(record(db, &done).await.unwrap(), Outcome::Recorded);
    assert_eq!(record(db, &done).await.unwrap(), Outcome::AlreadyRecorded);
    // Progress after the end, and another end, leave the run as it ended.
    assert_eq!(
        record(db, &progress(&start, 244, 3)).await.unwrap(),
        Outcome::AlreadyRecorded
    );
    assert!(matches!(
        record(db, &end(&start, Status::Failed, 1, 1)).await,
        Err(Error::ConflictingOutcome { .. })
    ));
    let run = db.store.batch_run(start.id).await.unwrap().expect("stored");
    assert_eq!(
        (run.status, run.done, run.failed),
        (Status::Completed, 242, 3)
    );
    assert!(run.completed_at.is_some() && run.duration_ms.is_some());
    // The same id for another kind is refused, naming the field.
    let other = BatchEvent {
        batch_kind: "webCrawls".into(),
        ..progress(&start, 1, 0)
    };
    assert!(matches!(
        record(db, &other).await,
        Err(Error::InvalidField {
            field: "batchKind",
            ..
        })
    ));
    // Out of bounds: refused alone.
    let bad = BatchEvent {
        done: -3,
        ..BatchEvent::start("kbIndexation", None)
    };
    assert!(matches!(
        record(db, &bad).await,
        Err(Error::InvalidField { field: "done", .. })
    ));
    // Counted once in today's roll-up, whatever was sent twice.
    let kinds = db.store.batch_kinds_recorded(Utc::now()).await.unwrap();
    let kb = kinds
        .iter()
        .find(|k| k.kind == "kbIndexation")
        .expect("kind");
    assert_eq!((kb.items_done_today, kb.items_failed_today), (242, 3));
    assert_eq!((kb.runs_completed_today, kb.runs_failed_today), (1, 0));
}

async fn recorded_figures_come_from_the_rollups(db: &TestDb) {
    let a = BatchEvent::start("webCrawls", Some(5000));
    let b = BatchEvent::start("webCrawls", None);
    let c = BatchEvent::start("qualityAnalysis", Some(10));
    for e in [&a, &b, &c] {
        record(db, e).await.unwrap();
    }
    record(db, &progress(&a, 1200, 14)).await.unwrap();
    record(db, &progress(&b, 30, 0)).await.unwrap();
    record(db, &end(&c, Status::Failed, 4, 6)).await.unwrap();
    // A run of yesterday counts for its own day, not today's.
    let old = BatchEvent {
        started_at: Utc::now() - TimeDelta::days(1) - TimeDelta::hours(1),
        at: Utc::now() - TimeDelta::days(1),
        ..BatchEvent::start("webCrawls", Some(7))
    };
    record(db, &old).await.unwrap();
    let old_end = BatchEvent {
        at: Utc::now() - TimeDelta::days(1),
        ..end(&old, Status::Completed, 7, 0)
    };
    record(db, &old_end).await.unwrap();

    let kinds = db.store.batch_kinds_recorded(Utc::now()).await.unwrap();
    let crawl = kinds
        .iter()
        .find(|k| k.kind == "webCrawls")
        .expect("crawls");
    assert_eq!(crawl.running_count, 2);
    assert_eq!(crawl.items_left, 5000 - 1200 - 14);
    assert_eq!(crawl.items_done_today, 1230);
    assert_eq!(crawl.items_failed_today, 14);
    assert!(crawl.throughput_per_min > 0.0);
    assert_eq!(crawl.running.len(), 2);
    assert_eq!(crawl.running[0].id, b.id, "newest first");
    let quality = kinds
        .iter()
        .find(|k| k.kind == "qualityAnalysis")
        .expect("quality");
    assert_eq!((quality.runs_failed_today, quality.running_count), (1, 0));
    assert_eq!(quality.items_failed_today, 6);
}

async fn history_filters_and_pages(db: &TestDb) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut e = BatchEvent::start(if i % 2 == 0 { "even" } else { "odd" }, Some(1));
        e.started_at = Utc::now() - TimeDelta::minutes(10 - i);
        record(db, &e).await.unwrap();
        if i == 4 {
            record(db, &end(&e, Status::Failed, 0, 1)).await.unwrap();
        }
        ids.push(e.id);
    }
    let all = db
        .store
        .batch_runs(&BatchRunFilter::default(), None, 100)
        .await
        .unwrap();
    let listed: Vec<_> = all.iter().map(|r| r.id).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    let even = BatchRunFilter {
        kind: Some("even".into()),
        ..BatchRunFilter::default()
    };
    assert_eq!(
        db.store.batch_runs(&even, None, 100).await.unwrap().len(),
        3
    );
    let failed = BatchRunFilter {
        status: Some(Status::Failed),
        ..BatchRunFilter::default()
    };
    let failed = db.store.batch_runs(&failed, None, 100).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].error_message.as_deref(),
        Some("the index is locked")
    );
    let first = db
        .store
        .batch_runs(&BatchRunFilter::default(), None, 2)
        .await
        .unwrap();
    let last = first.last().expect("two");
    let next = db
        .store
        .batch_runs(
            &BatchRunFilter::default(),
            Some((last.started_at, last.id)),
            2,
        )
        .await
        .unwrap();
    assert_eq!(next[0].id, newest_first[2]);
    assert!(
        db.store
            .batch_runs(&BatchRunFilter::default(), None, 0)
            .await
            .is_err()
    );
}

async fn stale_runs_are_failed(db: &TestDb) {
    let mut dead = BatchEvent::start("kbIndexation", Some(10));
    dead.started_at = Utc::now() - TimeDelta::hours(3);
    dead.at = dead.started_at;
    let alive = BatchEvent::start("kbIndexation", Some(10));
    record(db, &dead).await.unwrap();
    record(db, &alive).await.unwrap();
    let closed = db
        .store
        .fail_stale_batch_runs(
            Utc::now() - TimeDelta::hours(1),
            Utc::now(),
            "no report for 1h",
        )
        .await
        .unwrap();
    assert_eq!(closed, 1);
    let run = db.store.batch_run(dead.id).await.unwrap().expect("stored");
    assert_eq!(run.status, Status::Failed);
    assert_eq!(run.error_message.as_deref(), Some("no report for 1h"));
    // Its job's own end, arriving later, conflicts with nothing lost: the run stays failed.
    let late = end(&dead, Status::Completed, 10, 0);
    assert!(matches!(
        record(db, &late).await,
        Err(Error::ConflictingOutcome { .. })
    ));
    let kinds = db.store.batch_kinds_recorded(Utc::now()).await.unwrap();
    assert_eq!(kinds[0].running_count, 1);
}

async fn retention_deletes_old_ended_runs(db: &TestDb) {
    let old = |status| {
        let mut e = BatchEvent::start("kbIndexation", Some(3));
        e.started_at = Utc::now() - TimeDelta::days(10);
        e.at = e.started_at + TimeDelta::minutes(5);
        e.status = status;
        e.done = 3;
        e
    };
    let ended = old(Status::Completed);
    let still_running = old(Status::Running);
    let recent = BatchEvent::start("kbIndexation", Some(3));
    for e in [&ended, &still_running, &recent] {
        record(db, e).await.unwrap();
    }
    db.store
        .cleanup(std::time::Duration::from_secs(7 * 86_400), 1)
        .await
        .unwrap();
    assert!(db.store.batch_run(ended.id).await.unwrap().is_none());
    // A running run is never deleted by age (the stale sweep closes it first).
    assert!(
        db.store
            .batch_run(still_running.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(db.store.batch_run(recent.id).await.unwrap().is_some());
}
