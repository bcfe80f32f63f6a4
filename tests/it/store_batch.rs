//! Group commit (`Store::record_batch`) with large mixed batches: the multi-row paths of both
//! databases give the per-event path's results, event by event, and a batch a database refuses
//! half-way is recorded event by event without a transaction left open.

use std::sync::Arc;

use chrono::Utc;
use cronmon::store::Store;
use cronmon::{CronName, Error, Event, Finish, Outcome, Reason, Start, Status};
use serde_json::json;

use crate::common::TestDb;

fn start(cron: &str, ago_ms: i64) -> Start {
    let mut s = Start::now(CronName::new(cron).unwrap());
    s.started_at = Utc::now() - chrono::Duration::milliseconds(ago_ms);
    s
}

fn finish(id: uuid::Uuid, status: Status) -> Finish {
    let mut f = Finish::now(id, status);
    f.duration_ms = Some(7);
    if status == Status::Failed {
        f.reason = Some(Reason::Error);
        f.error_message = Some("boom".into());
    }
    f
}

async fn big_mixed_batch(store: Arc<dyn Store>) {
    let mut events = Vec::new();
    let mut ids = Vec::new();
    for i in 0..120 {
        let s = start(&format!("cron-{}", i % 9), 1_000);
        ids.push(s.id);
        events.push(Event::Start(s));
    }
    for (i, id) in ids.iter().enumerate() {
        let status = if i % 4 == 0 {
            Status::Failed
        } else {
            Status::Completed
        };
        events.push(Event::Finish(finish(*id, status)));
    }
    let results = store.record_batch(&events).await.unwrap();
    assert_eq!(results.len(), 240);
    assert!(results.iter().all(|r| matches!(r, Ok(Outcome::Recorded))));
    let stats = store.stats(1).await.unwrap();
    assert_eq!(stats.iter().map(|s| s.total_executions).sum::<i64>(), 120);
    assert_eq!(stats.iter().map(|s| s.failed_count).sum::<i64>(), 30);
    assert_eq!(stats.iter().map(|s| s.running_count).sum::<i64>(), 0);
    let day = store.timeline(1).await.unwrap();
    assert_eq!(
        (day[0].total, day[0].completed, day[0].failed),
        (120, 90, 30)
    );
    // The same batch again changes nothing.
    let again = store.record_batch(&events).await.unwrap();
    assert!(
        again
            .iter()
            .all(|r| matches!(r, Ok(Outcome::AlreadyRecorded)))
    );
    let day = store.timeline(1).await.unwrap();
    assert_eq!(day[0].total, 120);
}

async fn repeats_conflicts_and_bad_events_in_one_batch(store: Arc<dyn Store>) {
    let a = start("a", 2_000);
    let b = start("b", 2_000);
    let c = start("c", 1_500);
    store.record_start(&c).await.unwrap();
    let mut no_duration = Finish::now(c.id, Status::Completed);
    no_duration.duration_ms = None;
    let unknown = uuid::Uuid::now_v7();
    let mut whole = finish(uuid::Uuid::now_v7(), Status::Completed);
    whole.start = Some(start("late", 3_000));
    let mut running = finish(b.id, Status::Completed);
    running.status = Status::Running;
    let events = vec![
        Event::Start(a.clone()),
        Event::Start(a.clone()),
        Event::Start(b.clone()),
        Event::Finish(finish(a.id, Status::Completed)),
        Event::Finish(finish(a.id, Status::Completed)),
        Event::Finish(finish(a.id, Status::Failed)),
        Event::Finish(running),
        Event::Finish(no_duration),
        Event::Finish(finish(unknown, Status::Failed)),
        Event::Finish(whole.clone()),
    ];
    let r = store.record_batch(&events).await.unwrap();
    assert!(matches!(r[0], Ok(Outcome::Recorded)), "{:?}", r[0]);
    assert!(matches!(r[1], Ok(Outcome::AlreadyRecorded)), "{:?}", r[1]);
    assert!(matches!(r[2], Ok(Outcome::Recorded)), "{:?}", r[2]);
    assert!(matches!(r[3], Ok(Outcome::Recorded)), "{:?}", r[3]);
    assert!(matches!(r[4], Ok(Outcome::AlreadyRecorded)), "{:?}", r[4]);
    assert!(
        matches!(r[5], Err(Error::ConflictingOutcome { .. })),
        "{:?}",
        r[5]
    );
    assert!(
        matches!(r[6], Err(Error::InvalidField { .. })),
        "{:?}",
        r[6]
    );
    assert!(matches!(r[7], Ok(Outcome::Recorded)), "{:?}", r[7]);
    assert!(
        matches!(r[8], Err(Error::UnknownExecution(id)) if id == unknown),
        "{:?}",
        r[8]
    );
    assert!(matches!(r[9], Ok(Outcome::Recorded)), "{:?}", r[9]);

    let c = store.execution(c.id).await.unwrap().unwrap();
    assert!(
        c.duration_ms.unwrap() >= 1_500,
        "computed from the start: {c:?}"
    );
    let w = store.execution(whole.id).await.unwrap().unwrap();
    assert_eq!(
        (w.cron_name.as_str(), w.status),
        ("late", Status::Completed)
    );
    assert_eq!(
        store.execution(b.id).await.unwrap().unwrap().status,
        Status::Running
    );
}

async fn a_refused_value_costs_only_its_event(store: Arc<dyn Store>) {
    let a = start("ok", 100);
    let b = start("nul", 100);
    store.record_start(&b).await.unwrap();
    let mut bad = finish(b.id, Status::Completed);
    bad.output = Some(json!({"text": "a\u{0}b"})); // PostgreSQL's jsonb refuses NUL
    let events = vec![
        Event::Start(a.clone()),
        Event::Finish(bad),
        Event::Finish(finish(a.id, Status::Completed)),
    ];
    let r = store.record_batch(&events).await.unwrap();
    assert!(matches!(r[0], Ok(Outcome::Recorded)), "{:?}", r[0]);
    assert!(matches!(r[2], Ok(Outcome::Recorded)), "{:?}", r[2]);
    assert_eq!(
        store.execution(a.id).await.unwrap().unwrap().status,
        Status::Completed
    );
}

async fn a_timed_out_run_takes_its_real_end(store: Arc<dyn Store>) {
    let s = start("slow", 5_000);
    store.record_start(&s).await.unwrap();
    let mut closed = Finish::now(s.id, Status::Failed);
    closed.reason = Some(Reason::TimedOut);
    assert!(store.close_run(&closed).await.unwrap());
    let r = store
        .record_batch(&[Event::Finish(finish(s.id, Status::Completed))])
        .await
        .unwrap();
    assert!(matches!(r[0], Ok(Outcome::Recorded)), "{:?}", r[0]);
    let e = store.execution(s.id).await.unwrap().unwrap();
    assert_eq!((e.status, e.reason), (Status::Completed, None));
}

/// A start and its end in one batch: PostgreSQL inserts the run ended, and it must read as a
/// start followed by its end would (the duration from the start when none is given); when the
/// start was stored already, the end still applies to it.
async fn a_start_and_its_end_in_one_batch(store: Arc<dyn Store>) {
    let fresh = start("pair", 2_500);
    let mut end = Finish::now(fresh.id, Status::Failed);
    end.reason = Some(Reason::Error);
    end.error_message = Some("exit 3".into());
    end.exit_code = Some(3);
    let known = start("pair", 1_200);
    store.record_start(&known).await.unwrap();
    let mut known_end = Finish::now(known.id, Status::Completed);
    known_end.duration_ms = None;
    let events = vec![
        Event::Start(fresh.clone()),
        Event::Finish(end),
        Event::Start(known.clone()),
        Event::Finish(known_end),
    ];
    let r = store.record_batch(&events).await.unwrap();
    assert!(matches!(r[0], Ok(Outcome::Recorded)), "{:?}", r[0]);
    assert!(matches!(r[1], Ok(Outcome::Recorded)), "{:?}", r[1]);
    assert!(matches!(r[2], Ok(Outcome::AlreadyRecorded)), "{:?}", r[2]);
    assert!(matches!(r[3], Ok(Outcome::Recorded)), "{:?}", r[3]);
    let e = store.execution(fresh.id).await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.reason, e.exit_code, e.error_message.as_deref()),
        (Status::Failed, Some(Reason::Error), Some(3), Some("exit 3"))
    );
    let took = e.duration_ms.unwrap();
    assert!((2_500..60_000).contains(&took), "from its start: {took}");
    let k = store.execution(known.id).await.unwrap().unwrap();
    assert_eq!(k.status, Status::Completed);
    assert!(k.duration_ms.unwrap() >= 1_200, "{k:?}");
    let stats = store.stats(1).await.unwrap();
    let pair = stats
        .iter()
        .find(|s| s.cron_name.as_str() == "pair")
        .unwrap();
    assert_eq!(
        (pair.total_executions, pair.failed_count, pair.running_count),
        (2, 1, 0)
    );
}

/// A batch the database refuses half-way (a trigger of the host's refuses one cron) is
/// recorded event by event instead, and leaves no transaction open behind it: the next
/// batches are written at once (an open transaction would hold the write lock for the busy
/// timeout), and what was acknowledged is there for a new connection.
async fn a_refused_batch_leaves_no_transaction_open(db: &TestDb) {
    if db.url.starts_with("sqlite") {
        db.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON cron_executions WHEN NEW.cron_name = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        )
        .await;
    } else {
        db.execute(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'poisoned'; END $$;
             CREATE TRIGGER poison BEFORE INSERT ON cronmon.cron_executions
             FOR EACH ROW WHEN (NEW.cron_name = 'poison') EXECUTE FUNCTION poison();",
        )
        .await;
    }
    let store = &db.store;
    let before = start("ok", 2_000);
    store.record_start(&before).await.unwrap();
    let fine = start("ok", 1_000);
    let events = vec![
        Event::Start(fine.clone()),
        Event::Start(start("poison", 1_000)),
        Event::Finish(finish(before.id, Status::Completed)),
    ];
    let r = store.record_batch(&events).await.unwrap();
    assert!(matches!(r[0], Ok(Outcome::Recorded)), "{:?}", r[0]);
    assert!(r[1].is_err(), "{:?}", r[1]);
    assert!(matches!(r[2], Ok(Outcome::Recorded)), "{:?}", r[2]);

    let mut ids = vec![before.id, fine.id];
    for _ in 0..8 {
        let s = start("after", 500);
        ids.push(s.id);
        let batch = [
            Event::Start(s.clone()),
            Event::Finish(finish(s.id, Status::Completed)),
        ];
        let written = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            store.record_batch(&batch),
        )
        .await
        .expect("no transaction left open holds the write lock")
        .unwrap();
        assert!(written.iter().all(|r| matches!(r, Ok(Outcome::Recorded))));
    }
    let fresh = cronmon::store::connect(&db.url).await.unwrap();
    for id in ids {
        assert!(
            fresh.execution(id).await.unwrap().is_some(),
            "{id} committed"
        );
    }
    assert_eq!(
        fresh.execution(before.id).await.unwrap().unwrap().status,
        Status::Completed
    );
    fresh.close().await;
}

/// Heartbeats in a batch of other runs' starts and ends: every event gets its own result, and
/// the progress lands on its run, whether it ends in the same batch or keeps running.
async fn heartbeats_among_starts_and_ends(store: Arc<dyn Store>) {
    let beat = |id, done| {
        Event::Heartbeat(cronmon::Heartbeat {
            id,
            at: Utc::now(),
            done: Some(done),
            total: Some(10),
        })
    };
    let old = start("beats-old", 60_000);
    store.record_start(&old).await.unwrap();
    let (a, b) = (start("beats-a", 1_000), start("beats-b", 1_000));
    let unknown = uuid::Uuid::now_v7();
    let mut events = vec![
        Event::Start(a.clone()),
        Event::Finish(finish(a.id, Status::Completed)),
        Event::Start(b.clone()),
        beat(b.id, 1),
        beat(old.id, 5),
        beat(unknown, 7),
    ];
    for i in 0..40 {
        let s = start(&format!("beats-{}", i % 6), 500);
        let id = s.id;
        events.push(Event::Start(s));
        events.push(Event::Finish(finish(id, Status::Failed)));
    }
    let results = store.record_batch(&events).await.unwrap();
    assert_eq!(results.len(), events.len());
    for (i, r) in results.iter().enumerate() {
        if i == 5 {
            assert!(
                matches!(r, Err(Error::UnknownExecution(id)) if *id == unknown),
                "{r:?}"
            );
        } else {
            assert!(matches!(r, Ok(Outcome::Recorded)), "event {i}: {r:?}");
        }
    }
    let progress = |id| {
        let store = store.clone();
        async move {
            let e = store.execution(id).await.unwrap().unwrap();
            (e.status, e.progress_done, e.progress_total)
        }
    };
    assert_eq!(progress(a.id).await, (Status::Completed, None, None));
    assert_eq!(progress(b.id).await, (Status::Running, Some(1), Some(10)));
    assert_eq!(progress(old.id).await, (Status::Running, Some(5), Some(10)));

    // A run that starts, beats and ends in one batch keeps the progress it reported.
    let c = start("beats-c", 1_000);
    let events = [
        Event::Start(c.clone()),
        beat(c.id, 9),
        Event::Finish(finish(c.id, Status::Completed)),
        beat(old.id, 6),
    ];
    let results = store.record_batch(&events).await.unwrap();
    assert!(
        results.iter().all(|r| matches!(r, Ok(Outcome::Recorded))),
        "{results:?}"
    );
    assert_eq!(progress(c.id).await, (Status::Completed, Some(9), Some(10)));
    assert_eq!(progress(old.id).await, (Status::Running, Some(6), Some(10)));
    let stats = store.stats(1).await.unwrap();
    assert_eq!(stats.iter().map(|s| s.failed_count).sum::<i64>(), 40);
    assert_eq!(stats.iter().map(|s| s.completed_count).sum::<i64>(), 2);
}

/// Batch-run reports in a batch of cron runs' starts and ends (what a server's group commit
/// makes of jobs of both kinds reporting at once): each event gets the result it would get
/// alone, the reports' run ends as reported, and the cron runs land whole.
async fn batch_reports_among_starts_and_ends(store: Arc<dyn Store>) {
    use cronmon::batch::BatchEvent;
    let report = |run: &BatchEvent, status, done| {
        Event::Batch(BatchEvent {
            status,
            done,
            at: Utc::now(),
            error_message: (status == Status::Failed).then(|| "locked".to_owned()),
            ..run.clone()
        })
    };
    let run = BatchEvent::start("reindex", Some(100));
    let ended = BatchEvent::start("reindex", Some(10));
    store
        .record_batch(&[report(&ended, Status::Completed, 10)])
        .await
        .unwrap();
    let mut events = vec![
        Event::Batch(run.clone()),
        report(&run, Status::Running, 40),
        report(&ended, Status::Failed, 3),
    ];
    for i in 0..30 {
        let s = start(&format!("mixed-{}", i % 4), 500);
        let id = s.id;
        events.push(Event::Start(s));
        if i % 3 > 0 {
            events.push(Event::Finish(finish(id, Status::Completed)));
        }
    }
    events.push(report(&run, Status::Completed, 100));
    let results = store.record_batch(&events).await.unwrap();
    assert_eq!(results.len(), events.len());
    for (i, r) in results.iter().enumerate() {
        if i == 2 {
            assert!(
                matches!(r, Err(Error::ConflictingOutcome { .. })),
                "an ended run's other end: {r:?}"
            );
        } else {
            assert!(matches!(r, Ok(Outcome::Recorded)), "event {i}: {r:?}");
        }
    }
    let stored = store.batch_run(run.id).await.unwrap().expect("stored");
    assert_eq!((stored.status, stored.done), (Status::Completed, 100));
    let kept = store.batch_run(ended.id).await.unwrap().expect("stored");
    assert_eq!((kept.status, kept.done), (Status::Completed, 10));
    let stats = store.stats(1).await.unwrap();
    assert_eq!(stats.iter().map(|s| s.total_executions).sum::<i64>(), 30);
    assert_eq!(stats.iter().map(|s| s.completed_count).sum::<i64>(), 20);
    assert_eq!(stats.iter().map(|s| s.running_count).sum::<i64>(), 10);
}

crate::on_both_test_dbs!(
    mods refused_sqlite, refused_postgres;
    a_refused_batch_leaves_no_transaction_open
);

on_both_databases!(
    heartbeats_among_starts_and_ends,
    batch_reports_among_starts_and_ends,
    a_start_and_its_end_in_one_batch,
    big_mixed_batch,
    repeats_conflicts_and_bad_events_in_one_batch,
    a_refused_value_costs_only_its_event,
    a_timed_out_run_takes_its_real_end,
);

/// Every figure the dashboard reads from the roll-ups, in one comparable value.
async fn figures(
    store: &dyn Store,
) -> (
    Vec<(String, i64, i64, i64, i64, Option<i64>, Option<String>)>,
    Vec<(i64, i64, i64)>,
    i64,
    Vec<(
        String,
        Option<f64>,
        Option<chrono::DateTime<Utc>>,
        Option<String>,
        i64,
    )>,
) {
    let mut stats: Vec<_> = store
        .stats(24)
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.cron_name,
                s.total_executions,
                s.completed_count,
                s.failed_count,
                s.running_count,
                s.p95_duration_ms,
                s.last_status,
            )
        })
        .collect();
    stats.sort();
    let days = store
        .timeline(7)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.total, d.completed, d.failed))
        .collect();
    let total = store
        .list_executions(&cronmon::ExecutionFilter::default(), Default::default())
        .await
        .unwrap()
        .total;
    let mut rates: Vec<_> = store
        .schedules()
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.cron_name.to_string(),
                s.success_rate_7d,
                s.last_execution_at,
                s.last_status,
                s.consecutive_failures,
            )
        })
        .collect();
    rates.sort_by(|a, b| a.0.cmp(&b.0));
    (stats, days, total, rates)
}

/// On PostgreSQL, writes leave roll-up changes pending and a fold moves them (migration 0007):
/// reads count both, so a fold changes no figure, concurrent writers and folders lose or
/// double nothing, and retention's removals are folded before emptied rows are dropped.
#[tokio::test]
async fn pending_rollups_fold_without_changing_a_figure() {
    let db = crate::common::TestDb::postgres().await;
    let store = db.store.clone();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let pending = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT count(*) FROM cronmon.cron_rollup_pending)
                  + (SELECT count(*) FROM cronmon.cron_durations_pending)
                  + (SELECT count(*) FROM cronmon.cron_latest_pending)",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let fold = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT cronmon.cron_rollup_fold() + cronmon.cron_latest_fold()",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };

    // Four writers, 25 batches each of 8 runs over 5 crons (a quarter failed, one in eight
    // left running), while a folder folds as fast as it can.
    let writing = (0..4).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            for b in 0..25 {
                let mut events = Vec::new();
                for i in 0..8 {
                    let s = start(&format!("fold-{}", (w + b + i) % 5), 60_000);
                    let id = s.id;
                    events.push(Event::Start(s));
                    match i {
                        0 | 4 => events.push(Event::Finish(finish(id, Status::Failed))),
                        7 => {}
                        _ => events.push(Event::Finish(finish(id, Status::Completed))),
                    }
                }
                let results = store.record_batch(&events).await.unwrap();
                assert!(results.iter().all(|r| matches!(r, Ok(Outcome::Recorded))));
            }
        })
    });
    let writers: Vec<_> = writing.collect();
    let folding = {
        let url = db.url.clone();
        tokio::spawn(async move {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let mut folded = 0;
            for _ in 0..50 {
                folded += sqlx::query_scalar::<_, i64>("SELECT cronmon.cron_rollup_fold()")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            }
            folded
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    folding.await.unwrap();

    // A start on its own (no batch, so no fold of the writer's) is certainly pending.
    store.record_start(&start("fold-0", 1_000)).await.unwrap();
    assert!(
        pending().await > 0,
        "a write leaves its roll-up change pending"
    );
    let before = figures(store.as_ref()).await;
    let (stats, days, total, rates) = &before;
    assert_eq!(*total, 801);
    assert_eq!(days.iter().map(|d| d.0).sum::<i64>(), 801);
    assert_eq!(days.iter().map(|d| d.2).sum::<i64>(), 200);
    assert_eq!(stats.iter().map(|s| s.1).sum::<i64>(), 801);
    assert_eq!(stats.iter().map(|s| s.2).sum::<i64>(), 500);
    assert_eq!(stats.iter().map(|s| s.3).sum::<i64>(), 200);
    assert_eq!(stats.iter().map(|s| s.4).sum::<i64>(), 101);
    assert!(stats.iter().all(|s| s.5.is_some()), "{stats:?}");
    assert_eq!(rates.len(), 5);
    assert!(rates.iter().all(|r| r.1 == Some(71.43)), "{rates:?}");
    assert!(
        rates.iter().all(|r| r.2.is_some() && r.3.is_some()),
        "{rates:?}"
    );

    assert!(fold().await > 0);
    assert_eq!(pending().await, 0);
    assert_eq!(
        figures(store.as_ref()).await,
        before,
        "a fold changes no figure"
    );

    // Retention takes every ended run out; its removals are folded, then the rows it emptied go.
    store
        .record_batch(&[Event::Start(start("fold-1", 1_000))])
        .await
        .unwrap();
    store
        .cleanup(std::time::Duration::from_millis(1), 1000)
        .await
        .unwrap();
    let (stats, _, total, _) = figures(store.as_ref()).await;
    assert_eq!(total, 102, "the running runs stay");
    assert_eq!(stats.iter().map(|s| s.2 + s.3).sum::<i64>(), 0);
    pool.close().await;
    db.finish().await;
}

/// A cron's figures over a window: name, total, completed, failed, running, avg, p95.
type Figures = (String, i64, i64, i64, i64, Option<i64>, Option<i64>);

/// What `stats(hours)` should say of the runs `(cron, started_at, status, duration)`, counted
/// from the runs themselves: per cron, (total, completed, failed, running, avg, p95) over the
/// runs started since the start of the hour `hours` ago.
fn expected_stats(
    runs: &[(String, chrono::DateTime<Utc>, Status, i64)],
    hours: i64,
) -> Vec<Figures> {
    use chrono::DurationRound;
    let since = (Utc::now() - chrono::Duration::hours(hours))
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap();
    let mut by_cron: std::collections::BTreeMap<&str, Vec<&(String, _, Status, i64)>> =
        Default::default();
    for run in runs.iter().filter(|r| r.1 >= since) {
        by_cron.entry(run.0.as_str()).or_default().push(run);
    }
    by_cron
        .into_iter()
        .map(|(cron, runs)| {
            let count = |s: Status| runs.iter().filter(|r| r.2 == s).count() as i64;
            let ended: Vec<i64> = runs
                .iter()
                .filter(|r| r.2 != Status::Running)
                .map(|r| r.3)
                .collect();
            let avg = (!ended.is_empty())
                .then(|| (ended.iter().sum::<i64>() as f64 / ended.len() as f64).round() as i64);
            // The histogram's p95, from the runs' own buckets (floor(4 log2(ms + 1))).
            let mut buckets = std::collections::BTreeMap::<i64, f64>::new();
            for ms in &ended {
                *buckets
                    .entry((4.0 * ((*ms + 1) as f64).log2()).floor() as i64)
                    .or_default() += 1.0;
            }
            let total = ended.len() as f64;
            let mut before = 0.0;
            let mut p95 = None;
            for (le, n) in buckets {
                if (before + n) * 20.0 >= total * 19.0 {
                    let low = 2f64.powf(le as f64 / 4.0);
                    let high = 2f64.powf((le + 1) as f64 / 4.0);
                    p95 = Some(
                        ((low - 1.0) + (high - low) * ((0.95 * total - before) / n)).round() as i64,
                    );
                    break;
                }
                before += n;
            }
            (
                cron.to_owned(),
                runs.len() as i64,
                count(Status::Completed),
                count(Status::Failed),
                count(Status::Running),
                avg,
                p95,
            )
        })
        .collect()
}

/// The window roll-ups (a cumulative row per cron and day, migration 0008) give the figures of
/// any window, whole hours back, as the runs themselves do: across midnight, with the first
/// day's earlier hours left out, pending or folded, and after retention. The dashboard view's
/// failed runs of the last 24 hours (to the second, not whole hours) agree with the runs too.
#[tokio::test]
async fn window_rollups_count_any_window_as_the_runs_do() {
    let db = crate::common::TestDb::postgres().await;
    let store = db.store.clone();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let fold = || async {
        while sqlx::query_scalar::<_, i64>("SELECT cronmon.cron_rollup_fold()")
            .fetch_one(&pool)
            .await
            .unwrap()
            > 0
        {}
    };
    // Three crons over the last 80 hours: a run every 47 minutes, durations spread over three
    // orders of magnitude, one in five failed; the newest of each left running.
    let mut runs = Vec::new();
    let mut events = Vec::new();
    for i in 0..300i64 {
        let cron = format!("win-{}", i % 3);
        let s = start(&cron, i * 47 * 60_000 + 30_000);
        let duration = 5 + (i * 7919) % 4000 * (1 + i % 3) * 10;
        let status = match i {
            0..3 => Status::Running,
            _ if i % 5 == 0 => Status::Failed,
            _ => Status::Completed,
        };
        runs.push((cron, s.started_at, status, duration));
        let id = s.id;
        events.push(Event::Start(s));
        if status != Status::Running {
            let mut f = finish(id, status);
            f.duration_ms = Some(duration);
            events.push(Event::Finish(f));
        }
    }
    // Failed runs either side of the dashboard's 24 hours, and either side of the first whole
    // hour in it: the view counts the whole hours from the roll-ups and the part of an hour
    // before them from the runs.
    let day_ago = Utc::now() - chrono::Duration::hours(24);
    let first_whole_hour = {
        use chrono::DurationRound;
        day_ago.duration_trunc(chrono::Duration::hours(1)).unwrap() + chrono::Duration::hours(1)
    };
    let mut edges = vec![
        day_ago + chrono::Duration::seconds(60),
        day_ago - chrono::Duration::seconds(60),
        first_whole_hour + chrono::Duration::seconds(30),
    ];
    if first_whole_hour - day_ago > chrono::Duration::seconds(120) {
        edges.push(first_whole_hour - chrono::Duration::seconds(30));
    }
    for at in edges {
        let mut s = start("win-edge", 0);
        s.started_at = at;
        runs.push(("win-edge".into(), at, Status::Failed, 7));
        let id = s.id;
        events.push(Event::Start(s));
        events.push(Event::Finish(finish(id, Status::Failed)));
    }
    for chunk in events.chunks(97) {
        let results = store.record_batch(chunk).await.unwrap();
        assert!(results.iter().all(|r| matches!(r, Ok(Outcome::Recorded))));
    }
    let failures = || async {
        let mut got: Vec<_> = store
            .schedules()
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.cron_name.to_string(), s.failures_24h))
            .collect();
        got.sort();
        got
    };
    let expected_failures = |runs: &[(String, chrono::DateTime<Utc>, Status, i64)]| {
        let since = Utc::now() - chrono::Duration::hours(24);
        let mut by_cron = std::collections::BTreeMap::<String, i64>::new();
        for (cron, at, status, _) in runs {
            *by_cron.entry(cron.clone()).or_default() +=
                i64::from(*status == Status::Failed && *at >= since);
        }
        by_cron.into_iter().collect::<Vec<_>>()
    };
    let figures = || async {
        let mut got = Vec::new();
        for hours in [1, 5, 23, 24, 25, 47, 72, 200] {
            let stats = store.stats(hours).await.unwrap();
            got.push((
                hours,
                stats
                    .into_iter()
                    .map(|s| {
                        (
                            s.cron_name,
                            s.total_executions,
                            s.completed_count,
                            s.failed_count,
                            s.running_count,
                            s.avg_duration_ms,
                            s.p95_duration_ms,
                        )
                    })
                    .collect::<Vec<_>>(),
            ));
        }
        got
    };
    let expected = |runs: &[(String, chrono::DateTime<Utc>, Status, i64)]| {
        [1, 5, 23, 24, 25, 47, 72, 200]
            .map(|h| (h, expected_stats(runs, i64::from(h))))
            .to_vec()
    };
    // Partly pending (the writers fold at most once a second), then all folded.
    assert_eq!(figures().await, expected(&runs));
    assert_eq!(failures().await, expected_failures(&runs));
    fold().await;
    assert_eq!(figures().await, expected(&runs));
    let folded = failures().await;
    assert_eq!(folded, expected_failures(&runs));
    assert_eq!(
        folded.iter().find(|f| f.0 == "win-edge").map(|f| f.1),
        Some(runs.iter().filter(|r| r.0 == "win-edge").count() as i64 - 1),
        "the run a minute before the 24 hours is left out"
    );

    // Retention takes the ended runs older than 30 hours out of every window.
    store
        .cleanup(std::time::Duration::from_secs(30 * 3600), 1000)
        .await
        .unwrap();
    fold().await;
    let cutoff = Utc::now() - chrono::Duration::hours(30);
    runs.retain(|r| r.1 >= cutoff || r.2 == Status::Running);
    assert_eq!(figures().await, expected(&runs));
    assert_eq!(failures().await, expected_failures(&runs));

    // A fold adds a cron and day with one hour pending from that hour's sums, and one with
    // several hours pending position by position (migration 0014): runs in one hour of days
    // already folded, and a cron with runs in two hours of one day, folded together.
    let two_days_ago = {
        use chrono::DurationRound;
        (Utc::now() - chrono::Duration::hours(48))
            .duration_trunc(chrono::Duration::days(1))
            .unwrap()
    };
    let mut later = Vec::new();
    for (cron, at, status, duration) in [
        (
            "win-0",
            Utc::now() - chrono::Duration::hours(5),
            Status::Completed,
            40,
        ),
        (
            "win-1",
            Utc::now() - chrono::Duration::hours(26),
            Status::Failed,
            900,
        ),
        (
            "win-2",
            two_days_ago + chrono::Duration::hours(3),
            Status::Completed,
            12,
        ),
        (
            "win-2",
            two_days_ago + chrono::Duration::hours(7),
            Status::Failed,
            30_000,
        ),
    ] {
        let mut s = start(cron, 0);
        s.started_at = at;
        runs.push((cron.into(), at, status, duration));
        let mut f = finish(s.id, status);
        f.duration_ms = Some(duration);
        later.extend([Event::Start(s), Event::Finish(f)]);
    }
    fold().await;
    let results = store.record_batch(&later).await.unwrap();
    assert!(results.iter().all(|r| matches!(r, Ok(Outcome::Recorded))));
    fold().await;
    assert_eq!(figures().await, expected(&runs));
    assert_eq!(failures().await, expected_failures(&runs));
    pool.close().await;
    db.finish().await;
}

/// A run leaves the running runs' index only at the next vacuum, which on a large table comes
/// after millions of runs have ended. Reading the stuck runs (the sweep, the stuck-run
/// notifications, the statistics) marks the entries of runs ended since the read before as
/// dead (a plain index scan does, a bitmap or sequential scan does not), so the next read skips
/// them instead of visiting their heap pages again: its cost follows the runs ended since, not
/// those ended since the last vacuum. Counted with `pageinspect`.
#[tokio::test]
async fn reading_stuck_runs_marks_ended_runs_dead_in_their_index() {
    let db = crate::common::TestDb::postgres().await;
    let store = db.store.clone();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pageinspect")
        .execute(&pool)
        .await
        .unwrap();
    let dead_entries = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FILTER (WHERE i.dead)
             FROM generate_series(1, pg_relation_size('cronmon.cron_executions_running_idx')
                                     / current_setting('block_size')::int - 1) b,
                  bt_page_items('cronmon.cron_executions_running_idx', b::int) i",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    // 400 runs started, then ended in other batches: each leaves a dead entry; 3 keep running.
    let starts: Vec<Start> = (0..403)
        .map(|i| start(&format!("idx-{}", i % 7), 5_000))
        .collect();
    for chunk in starts.chunks(100) {
        let events: Vec<Event> = chunk.iter().cloned().map(Event::Start).collect();
        store.record_batch(&events).await.unwrap();
    }
    let ends: Vec<Event> = starts[..400]
        .iter()
        .map(|s| Event::Finish(finish(s.id, Status::Completed)))
        .collect();
    for chunk in ends.chunks(100) {
        store.record_batch(chunk).await.unwrap();
    }
    assert_eq!(dead_entries().await, 0, "nothing has read the index yet");
    // Statistics as autovacuum keeps them: with them, the planner would read a small table
    // whole and a large one by a bitmap scan, neither of which marks an entry.
    sqlx::query("ANALYZE cronmon.cron_executions")
        .execute(&pool)
        .await
        .unwrap();
    // A fold started before the ends committed keeps their old versions visible to it, and
    // an entry is marked only once no one can see its run running: read again until then.
    let mut dead = 0;
    for _ in 0..20 {
        assert!(store.stuck_runs().await.unwrap().is_empty());
        dead = dead_entries().await;
        if dead == 400 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(dead, 400, "the reads marked every ended run's entry");
    assert_eq!(
        store
            .stats(1)
            .await
            .unwrap()
            .iter()
            .map(|s| s.running_count)
            .sum::<i64>(),
        3
    );
    pool.close().await;
    db.finish().await;
}

/// The common batch's statement is planned once per connection (PostgreSQL migration 0015), so
/// a connection keeps the plan it made when the runs table was empty. That plan must still look
/// each run up by its id once the table has grown, never read the table whole: counted with the
/// transaction's own scan statistics after 20,000 runs were added.
#[tokio::test]
async fn the_batch_plan_made_on_an_empty_table_looks_runs_up_by_id() {
    use sqlx::Connection as _;
    let db = TestDb::postgres().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    // Starts (`$1` their crons, `$2` their ids) or finishes (`$3` the ids), one event each.
    let record = "SELECT count(*) FROM cronmon.cron_record_runs(
        $1, '{}', 1668444014,
        $2, $1, array_fill('manual'::text, ARRAY[cardinality($2)]),
        array_fill(now(), ARRAY[cardinality($2)]), array_fill(NULL::text, ARRAY[cardinality($2)]),
        array_fill(NULL::int4, ARRAY[cardinality($2)]), array_fill(NULL::text, ARRAY[cardinality($2)]),
        array_fill(NULL::text, ARRAY[cardinality($2)]), array_fill(NULL::timestamptz, ARRAY[cardinality($2)]),
        array_fill('running'::text, ARRAY[cardinality($2)]), array_fill(NULL::text, ARRAY[cardinality($2)]),
        array_fill(NULL::timestamptz, ARRAY[cardinality($2)]), array_fill(NULL::int8, ARRAY[cardinality($2)]),
        array_fill(NULL::text, ARRAY[cardinality($2)]), array_fill(false, ARRAY[cardinality($2)]),
        array_fill(NULL::text, ARRAY[cardinality($2)]), array_fill(NULL::int4, ARRAY[cardinality($2)]),
        array_fill(NULL::int8, ARRAY[cardinality($2)]), array_fill(NULL::int8, ARRAY[cardinality($2)]),
        $3, array_fill('completed'::text, ARRAY[cardinality($3)]),
        array_fill(NULL::text, ARRAY[cardinality($3)]), array_fill(now(), ARRAY[cardinality($3)]),
        array_fill(5::int8, ARRAY[cardinality($3)]), array_fill(NULL::text, ARRAY[cardinality($3)]),
        array_fill(false, ARRAY[cardinality($3)]), array_fill(NULL::text, ARRAY[cardinality($3)]),
        array_fill(NULL::int4, ARRAY[cardinality($3)]), array_fill(NULL::int8, ARRAY[cardinality($3)]),
        array_fill(NULL::int8, ARRAY[cardinality($3)]))";
    let none: Vec<uuid::Uuid> = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..6 {
        let id = uuid::Uuid::now_v7();
        let written: i64 = sqlx::query_scalar(record)
            .bind(vec!["young"])
            .bind(vec![id])
            .bind(&none)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(written, 1);
        ids.push(id);
    }
    sqlx::query(
        "INSERT INTO cronmon.cron_executions (id, cron_name, status, started_at, completed_at,
                                               duration_ms)
         SELECT gen_random_uuid(), 'grown-' || (i % 5000), 'completed',
                now() - i * interval '1 second', now(), 10
         FROM generate_series(1, 20000) i",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    let mut tx = conn.begin().await.unwrap();
    let written: i64 = sqlx::query_scalar(record)
        .bind(Vec::<&str>::new())
        .bind(&none)
        .bind(&ids[..2])
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(written, 2);
    // A start of a cron not seen yet: its trigger looks its schedule row up among 5,000.
    let written: i64 = sqlx::query_scalar(record)
        .bind(vec!["later"])
        .bind(vec![uuid::Uuid::now_v7()])
        .bind(&none)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(written, 1);
    let read_whole: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, seq_scan, seq_tup_read FROM pg_stat_xact_user_tables
         WHERE relid IN ('cronmon.cron_executions'::regclass, 'cronmon.cron_schedules'::regclass)
           AND seq_tup_read > 0
         ORDER BY 1",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(read_whole, [], "the batches read a table whole");
    tx.commit().await.unwrap();
    // The triggers those writes fire plan with the usual joins, not under the function's
    // settings: they join a statement's old and new rows by id.
    let settings: Vec<Vec<String>> = sqlx::query_scalar(
        "SELECT proconfig FROM pg_proc
         WHERE oid IN ('cronmon.cron_executions_rollup()'::regprocedure,
                       'cronmon.cron_executions_notify()'::regprocedure)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(settings.len(), 2);
    for s in settings {
        assert!(s.contains(&"enable_hashjoin=on".to_owned()), "{s:?}");
    }
    conn.close().await.unwrap();
    db.finish().await;
}

/// A function that turns sequential scans off turns JIT off too (PostgreSQL migration 0015): a
/// table that can only be read whole is then priced at the planner's "disabled" cost, and a
/// connection with JIT on (a host application's pool) would compile such a statement at every
/// call, the triggers' statements included: 31-34 ms a call of one event instead of 0.3 ms.
#[tokio::test]
async fn functions_that_turn_seq_scans_off_turn_jit_off() {
    let db = TestDb::postgres().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let settings: Vec<(String, bool)> = sqlx::query_as(
        "SELECT p.oid::regprocedure::text, 'jit=off' = ANY(p.proconfig)
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'cronmon' AND 'enable_seqscan=off' = ANY(p.proconfig)
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let names: Vec<&str> = settings.iter().map(|(f, _)| f.as_str()).collect();
    // The batch statement, the sweep's marks and the stuck-run read at least.
    assert!(
        names
            .iter()
            .any(|f| f.starts_with("cronmon.cron_record_runs("))
            && names.contains(&"cronmon.cron_mark_dirty(text[])")
            && names.contains(&"cronmon.detect_stuck_crons()"),
        "{names:?}"
    );
    let compiled: Vec<&str> = settings
        .iter()
        .filter(|(_, jit_off)| !jit_off)
        .map(|(f, _)| f.as_str())
        .collect();
    assert_eq!(
        compiled,
        Vec::<&str>::new(),
        "may JIT-compile at every call"
    );
    pool.close().await;
    db.finish().await;
}

/// Each fold takes its pending rows by a join on their row ids (PostgreSQL migration 0014). A
/// fold's plan is made once per connection, often while its pending table is small, and with
/// `ctid = ANY(ARRAY(…))` that plan filtered every row against every id taken: a fold grew with
/// the square of its pending rows. The plans of the folds' own deletions, on empty tables,
/// compare no row with a list of ids.
#[tokio::test]
async fn the_folds_take_pending_rows_by_a_join_on_their_ids() {
    let db = TestDb::postgres().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let mut deletions = Vec::new();
    for fold in [
        "cron_rollup_fold_plain",
        "cron_rollup_fold_saturating",
        "cron_latest_fold",
    ] {
        let definition: String = sqlx::query_scalar(
            "SELECT pg_get_functiondef(('cronmon.' || $1 || '()')::regprocedure)",
        )
        .bind(fold)
        .fetch_one(&pool)
        .await
        .unwrap();
        for part in definition.split("DELETE FROM ").skip(1) {
            let statement = part.split("RETURNING").next().unwrap();
            deletions.push(format!("DELETE FROM {statement}"));
        }
    }
    assert_eq!(deletions.len(), 5, "{deletions:#?}");
    for deletion in deletions {
        let plan: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {deletion}")))
                .fetch_all(&pool)
                .await
                .unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("= ANY ("), "{deletion}\n{plan}");
    }
    pool.close().await;
    db.finish().await;
}
