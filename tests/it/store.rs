//! Every storage operation, on real SQLite and real PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cronmon::store::Store;
use cronmon::{
    CronName, Error, Event, ExecutionFilter, Finish, Heartbeat, Outcome, PageRequest, Reason,
    ScheduleUpdate, Start, Status, TriggerType,
};
use serde_json::json;
use uuid::Uuid;

fn name(s: &str) -> CronName {
    CronName::new(s).expect("valid name")
}

fn start_at(cron: &str, at: DateTime<Utc>) -> Start {
    let mut s = Start::now(name(cron));
    s.started_at = at;
    s.host = Some("host-a".into());
    s.pid = Some(4242);
    s
}

fn finish(id: Uuid, status: Status, duration_ms: i64) -> Finish {
    let mut f = Finish::now(id, status);
    f.duration_ms = Some(duration_ms);
    f.exit_code = Some(if status == Status::Completed { 0 } else { 1 });
    if status == Status::Failed {
        f.reason = Some(Reason::Error);
        f.error_message = Some("boom".into());
    }
    f
}

/// Records a finished run that started `ago` before now.
async fn run(
    store: &dyn Store,
    cron: &str,
    ago: chrono::Duration,
    status: Status,
    ms: i64,
) -> Uuid {
    let s = start_at(cron, Utc::now() - ago);
    store.record_start(&s).await.expect("start");
    if status != Status::Running {
        store
            .record_finish(&finish(s.id, status, ms))
            .await
            .expect("finish");
    }
    s.id
}

async fn start_is_idempotent_and_registers_the_cron(store: Arc<dyn Store>) {
    let s = start_at("nightly-report", Utc::now());
    assert_eq!(store.record_start(&s).await.unwrap(), Outcome::Recorded);
    assert_eq!(
        store.record_start(&s).await.unwrap(),
        Outcome::AlreadyRecorded
    );

    let e = store.execution(s.id).await.unwrap().expect("stored");
    assert_eq!(e.status, Status::Running);
    assert_eq!(e.cron_name, "nightly-report");
    assert_eq!(e.trigger_type, TriggerType::Scheduled);
    assert_eq!(e.host.as_deref(), Some("host-a"));
    assert_eq!(e.pid, Some(4242));
    assert_eq!(
        e.started_at.timestamp_micros(),
        s.started_at.timestamp_micros()
    );

    let schedules = store.schedules().await.unwrap();
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0].cron_name, "nightly-report");
    assert_eq!(schedules[0].running_count, 1);
    assert_eq!(schedules[0].timeout_ms, 3_600_000);
}

async fn finish_is_idempotent_and_rejects_another_outcome(store: Arc<dyn Store>) {
    let s = start_at("etl", Utc::now());
    store.record_start(&s).await.unwrap();
    let mut f = finish(s.id, Status::Completed, 1398);
    f.output = Some(json!({"processed": 50}));
    assert_eq!(store.record_finish(&f).await.unwrap(), Outcome::Recorded);
    assert_eq!(
        store.record_finish(&f).await.unwrap(),
        Outcome::AlreadyRecorded
    );

    let e = store.execution(s.id).await.unwrap().unwrap();
    assert_eq!(e.status, Status::Completed);
    assert_eq!(e.duration_ms, Some(1398));
    assert_eq!(e.output, Some(json!({"processed": 50})));
    assert_eq!(e.exit_code, Some(0));
    assert!(e.completed_at.is_some());

    let other = finish(s.id, Status::Failed, 10);
    match store.record_finish(&other).await {
        Err(Error::ConflictingOutcome {
            existing,
            requested,
            ..
        }) => {
            assert_eq!((existing, requested), (Status::Completed, Status::Failed));
        }
        r => panic!("expected a conflict, got {r:?}"),
    }

    let unknown = Uuid::now_v7();
    assert!(matches!(
        store.record_finish(&finish(unknown, Status::Completed, 1)).await,
        Err(Error::UnknownExecution(id)) if id == unknown
    ));
    assert!(matches!(
        store
            .record_finish(&Finish::now(s.id, Status::Running))
            .await,
        Err(Error::InvalidField {
            field: "status",
            ..
        })
    ));
}

async fn completion_before_start_is_stored_whole(store: Arc<dyn Store>) {
    let s = start_at("early-bird", Utc::now() - chrono::Duration::seconds(5));
    let mut f = finish(s.id, Status::Failed, 5000);
    f.start = Some(s.clone());
    assert_eq!(store.record_finish(&f).await.unwrap(), Outcome::Recorded);
    // The start arrives late: nothing changes.
    assert_eq!(
        store.record_start(&s).await.unwrap(),
        Outcome::AlreadyRecorded
    );
    let e = store.execution(s.id).await.unwrap().unwrap();
    assert_eq!(e.status, Status::Failed);
    assert_eq!(e.reason, Some(Reason::Error));
    assert_eq!(e.error_message.as_deref(), Some("boom"));
    assert_eq!(e.host.as_deref(), Some("host-a"));
    let stats = store.stats(24).await.unwrap();
    assert_eq!(stats[0].total_executions, 1);
    assert_eq!(stats[0].failed_count, 1);
}

async fn heartbeat_records_progress(store: Arc<dyn Store>) {
    let s = start_at("crawler", Utc::now());
    store.record_start(&s).await.unwrap();
    let hb = Heartbeat {
        id: s.id,
        at: Utc::now(),
        done: Some(40),
        total: Some(100),
    };
    assert!(store.heartbeat(&hb).await.unwrap());
    let e = store.execution(s.id).await.unwrap().unwrap();
    assert_eq!((e.progress_done, e.progress_total), (Some(40), Some(100)));
    assert!(e.last_heartbeat_at.is_some());

    // A bare heartbeat keeps the progress.
    let bare = Heartbeat {
        done: None,
        total: None,
        ..hb.clone()
    };
    assert!(store.heartbeat(&bare).await.unwrap());
    let e = store.execution(s.id).await.unwrap().unwrap();
    assert_eq!(e.progress_done, Some(40));

    store
        .record_finish(&finish(s.id, Status::Completed, 5))
        .await
        .unwrap();
    assert!(!store.heartbeat(&hb).await.unwrap());
    let unknown = Heartbeat {
        id: Uuid::now_v7(),
        ..hb
    };
    assert!(matches!(
        store.heartbeat(&unknown).await,
        Err(Error::UnknownExecution(_))
    ));
}

async fn list_filters_and_pages_newest_first(store: Arc<dyn Store>) {
    let h = chrono::Duration::hours;
    for i in 0..5 {
        run(&*store, "a", h(i + 1), Status::Completed, 100).await;
    }
    run(&*store, "a", h(10), Status::Failed, 100).await;
    run(
        &*store,
        "b",
        h(2) + chrono::Duration::minutes(30),
        Status::Failed,
        100,
    )
    .await;
    run(&*store, "b", h(48), Status::Running, 0).await;

    let all = store
        .list_executions(&ExecutionFilter::default(), PageRequest::new(1, 3).unwrap())
        .await
        .unwrap();
    assert_eq!((all.total, all.total_pages, all.items.len()), (8, 3, 3));
    assert!(
        all.items
            .windows(2)
            .all(|w| w[0].started_at >= w[1].started_at)
    );
    let last = store
        .list_executions(&ExecutionFilter::default(), PageRequest::new(3, 3).unwrap())
        .await
        .unwrap();
    assert_eq!(last.items.len(), 2);
    assert_eq!(last.items[1].status, Status::Running);

    let failed = ExecutionFilter {
        status: Some(Status::Failed),
        ..Default::default()
    };
    let page = store
        .list_executions(&failed, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert!(page.items.iter().all(|e| e.status == Status::Failed));

    let b = ExecutionFilter {
        cron_name: Some("b".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_executions(&b, PageRequest::default())
            .await
            .unwrap()
            .total,
        2
    );

    let window = ExecutionFilter {
        from: Some(Utc::now() - h(3) - chrono::Duration::minutes(30)),
        to: Some(Utc::now() - h(1) - chrono::Duration::minutes(30)),
        ..Default::default()
    };
    let page = store
        .list_executions(&window, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 3, "a at -2h and -3h, b at -2h30");

    // Input that looks like SQL is only ever a value.
    let sneaky = ExecutionFilter {
        cron_name: Some("a' OR '1'='1".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_executions(&sneaky, PageRequest::default())
            .await
            .unwrap()
            .total,
        0
    );

    assert!(PageRequest::new(0, 10).is_err());
    assert!(PageRequest::new(1, 201).is_err());
}

async fn stats_give_rates_averages_and_p95(store: Arc<dyn Store>) {
    // 20 finished runs of 100..=2000 ms: 18 completed, 2 failed; one running; one too old.
    for i in 1..=20 {
        let status = if i % 10 == 0 {
            Status::Failed
        } else {
            Status::Completed
        };
        run(
            &*store,
            "report",
            chrono::Duration::minutes(i),
            status,
            i * 100,
        )
        .await;
    }
    run(
        &*store,
        "report",
        chrono::Duration::seconds(5),
        Status::Running,
        0,
    )
    .await;
    run(
        &*store,
        "report",
        chrono::Duration::hours(30),
        Status::Failed,
        99_999,
    )
    .await;

    let stats = store.stats(24).await.unwrap();
    assert_eq!(stats.len(), 1);
    let s = &stats[0];
    assert_eq!(s.cron_name, "report");
    assert_eq!(s.total_executions, 21);
    assert_eq!(s.completed_count, 18);
    assert_eq!(s.failed_count, 2);
    assert_eq!(s.running_count, 1);
    assert_eq!(s.success_rate, Some(90.0));
    assert_eq!(s.avg_duration_ms, Some(1050));
    // Exactly (SQLite: interpolation at 0.95 * 19 = 18.05 between 1900 and 2000), or from
    // the duration histogram within its 19 % buckets (PostgreSQL).
    let p95 = s.p95_duration_ms.expect("a p95");
    match store.backend() {
        cronmon::Backend::Sqlite => assert_eq!(p95, 1905),
        _ => assert!((1800..=2000).contains(&p95), "p95 {p95}"),
    }
    assert_eq!(s.last_status.as_deref(), Some("running"));

    assert_eq!(store.stats(48).await.unwrap()[0].total_executions, 22);
    assert!(matches!(
        store.stats(0).await,
        Err(Error::InvalidField { field: "hours", .. })
    ));
}

async fn timeline_has_seven_days_by_status(store: Arc<dyn Store>) {
    let now = Utc::now();
    let today_start = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let since_midnight = now - today_start;
    let minute = chrono::Duration::minutes(1);
    // Today (at least a minute after midnight when possible).
    let today = (since_midnight / 2).max(chrono::Duration::zero());
    run(&*store, "t", today, Status::Completed, 10).await;
    run(&*store, "t", today, Status::Failed, 10).await;
    run(&*store, "t", today, Status::Running, 0).await;
    // Three days ago, and ten days ago (outside the window).
    run(
        &*store,
        "t",
        since_midnight + chrono::Duration::days(2) + minute,
        Status::Completed,
        10,
    )
    .await;
    run(
        &*store,
        "t",
        since_midnight + chrono::Duration::days(9) + minute,
        Status::Completed,
        10,
    )
    .await;

    let t = store.timeline(7).await.unwrap();
    assert_eq!(t.len(), 7);
    assert_eq!(t[6].date, now.date_naive());
    assert_eq!(
        (t[6].completed, t[6].failed, t[6].running, t[6].total),
        (1, 1, 1, 3)
    );
    assert_eq!((t[3].completed, t[3].total), (1, 1));
    assert_eq!(t.iter().map(|d| d.total).sum::<i64>(), 4);
}

async fn schedules_derive_health(store: Arc<dyn Store>) {
    let m = chrono::Duration::minutes;
    run(&*store, "flaky", m(50), Status::Completed, 10).await;
    run(&*store, "flaky", m(40), Status::Failed, 10).await;
    run(&*store, "flaky", m(30), Status::Failed, 10).await;
    run(&*store, "flaky", m(20), Status::Failed, 10).await;
    run(&*store, "flaky", m(10), Status::Running, 0).await;
    run(
        &*store,
        "flaky",
        chrono::Duration::days(3),
        Status::Failed,
        10,
    )
    .await;
    run(&*store, "steady", m(5), Status::Completed, 10).await;

    store
        .upsert_schedule(
            &name("steady"),
            &ScheduleUpdate {
                display_name: Some("Steady job".into()),
                cron_expression: Some("*/5 * * * *".into()),
                timeout_ms: Some(60_000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // A later update changes only what it names.
    store
        .upsert_schedule(
            &name("steady"),
            &ScheduleUpdate {
                grace_ms: Some(1000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .upsert_schedule(&name("declared-only"), &ScheduleUpdate::default())
        .await
        .unwrap();

    let s = store.schedules().await.unwrap();
    let names: Vec<_> = s.iter().map(|s| s.cron_name.as_str()).collect();
    assert_eq!(names, ["declared-only", "flaky", "steady"]);
    let flaky = &s[1];
    assert_eq!(flaky.running_count, 1);
    assert_eq!(flaky.failures_24h, 3);
    assert_eq!(flaky.consecutive_failures, 3);
    assert_eq!(flaky.success_rate_7d, Some(20.0));
    assert_eq!(flaky.last_status.as_deref(), Some("running"));
    let steady = &s[2];
    assert_eq!(steady.display_name.as_deref(), Some("Steady job"));
    assert_eq!(steady.cron_expression.as_deref(), Some("*/5 * * * *"));
    assert_eq!((steady.timeout_ms, steady.grace_ms), (60_000, 1000));
    assert_eq!(steady.consecutive_failures, 0);
    assert_eq!(steady.success_rate_7d, Some(100.0));
    assert!(steady.last_execution_at.is_some());
    assert_eq!(s[0].last_execution_at, None);
    assert_eq!(s[0].success_rate_7d, None);

    let bad = ScheduleUpdate {
        timeout_ms: Some(0),
        ..Default::default()
    };
    assert!(matches!(
        store.upsert_schedule(&name("steady"), &bad).await,
        Err(Error::InvalidField {
            field: "timeoutMs",
            ..
        })
    ));

    // What the HTTP API refuses, the store refuses too, and stores nothing of it.
    let never = ScheduleUpdate {
        cron_expression: Some("61 * * * *".into()),
        timeout_ms: Some(5_000),
        ..Default::default()
    };
    assert!(matches!(
        store.upsert_schedule(&name("minute-61"), &never).await,
        Err(Error::InvalidField {
            field: "cronExpression",
            ..
        })
    ));
    let zone = ScheduleUpdate {
        timezone: Some("Mars/Base".into()),
        ..Default::default()
    };
    assert!(matches!(
        store.upsert_schedule(&name("steady"), &zone).await,
        Err(Error::InvalidField {
            field: "timezone",
            ..
        })
    ));
    let after = store.schedules().await.unwrap();
    assert!(after.iter().all(|s| s.cron_name != "minute-61"));
    let steady = after.iter().find(|s| s.cron_name == "steady").unwrap();
    assert_eq!(steady.timezone, s[2].timezone);
}

async fn stuck_runs_are_found_and_orphans_closed_once(store: Arc<dyn Store>) {
    let m = chrono::Duration::minutes;
    store
        .upsert_schedule(
            &name("short"),
            &ScheduleUpdate {
                timeout_ms: Some(600_000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let short = run(&*store, "short", m(15), Status::Running, 0).await;
    let default_old = run(&*store, "long", m(90), Status::Running, 0).await;
    run(&*store, "long", m(30), Status::Running, 0).await;

    let stuck = store.stuck_runs().await.unwrap();
    let ids: Vec<_> = stuck.iter().map(|s| s.execution_id).collect();
    assert_eq!(ids, [default_old, short]);
    assert_eq!(stuck[1].timeout_ms, 600_000);
    // julianday() arithmetic is floating point: allow a second of rounding.
    assert!(stuck[1].running_ms >= 15 * 60_000 - 1000);

    // Orphans older than an hour are closed; the 15-minute one is stuck but kept open.
    assert_eq!(
        store.fail_orphans(Duration::from_secs(3600)).await.unwrap(),
        1
    );
    assert_eq!(
        store.fail_orphans(Duration::from_secs(3600)).await.unwrap(),
        0
    );
    let e = store.execution(default_old).await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.reason),
        (Status::Failed, Some(Reason::TimedOut))
    );
    assert!(e.duration_ms.unwrap() >= 90 * 60_000);
    let message = e.error_message.unwrap();
    let seconds: i64 = message
        .strip_prefix("closed by cronmon: still running after ")
        .and_then(|m| m.strip_suffix(" s with no end reported"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    assert!(seconds >= 90 * 60, "{message}");

    // Another guess of cronmon's (a crash) does not replace the first.
    let mut crashed = Finish::now(default_old, Status::Failed);
    crashed.reason = Some(Reason::Crashed);
    assert_eq!(
        store.record_finish(&crashed).await.unwrap(),
        Outcome::AlreadyRecorded
    );
    let e = store.execution(default_old).await.unwrap().unwrap();
    assert_eq!(e.reason, Some(Reason::TimedOut));

    // The job's real end, arriving late, replaces cronmon's guess.
    let late = finish(default_old, Status::Completed, 5_400_000);
    assert_eq!(store.record_finish(&late).await.unwrap(), Outcome::Recorded);
    let e = store.execution(default_old).await.unwrap().unwrap();
    assert_eq!((e.status, e.reason), (Status::Completed, None));
    let s = store.stats(24).await.unwrap();
    let long = s.iter().find(|s| s.cron_name == "long").unwrap();
    assert_eq!((long.completed_count, long.failed_count), (1, 0));
}

async fn cleanup_deletes_old_finished_runs_in_batches(store: Arc<dyn Store>) {
    let d = chrono::Duration::days;
    for _ in 0..7 {
        run(&*store, "old", d(10), Status::Completed, 1).await;
    }
    let old_running = run(&*store, "old", d(10), Status::Running, 0).await;
    let recent = run(&*store, "old", d(1), Status::Completed, 1).await;
    let deleted = store
        .cleanup(Duration::from_secs(7 * 86400), 3)
        .await
        .unwrap();
    assert_eq!(deleted, 7);
    assert!(store.execution(old_running).await.unwrap().is_some());
    assert!(store.execution(recent).await.unwrap().is_some());
    assert_eq!(
        store
            .cleanup(Duration::from_secs(7 * 86400), 3)
            .await
            .unwrap(),
        0
    );
}

async fn big_output_is_truncated_not_rejected(store: Arc<dyn Store>) {
    let s = start_at("chatty", Utc::now());
    store.record_start(&s).await.unwrap();
    let mut f = finish(s.id, Status::Completed, 1);
    f.output = Some(json!({"log": "é".repeat(100_000)}));
    f.error_message = Some("x".repeat(200_000));
    assert_eq!(store.record_finish(&f).await.unwrap(), Outcome::Recorded);
    let e = store.execution(s.id).await.unwrap().unwrap();
    assert!(e.output_truncated);
    let text = e.output.unwrap();
    let text = text.as_str().expect("kept as a JSON string");
    assert!(text.len() <= 64 * 1024 && text.starts_with("{\"log\":\"é"));
    assert_eq!(e.error_message.unwrap().len(), 64 * 1024);
    // Retrying the same big completion is still a no-op, not a conflict.
    assert_eq!(
        store.record_finish(&f).await.unwrap(),
        Outcome::AlreadyRecorded
    );
}

async fn many_writers_lose_nothing(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let s = start_at(&format!("w{w}"), Utc::now());
                store.record_start(&s).await.unwrap();
                store
                    .record_finish(&finish(s.id, Status::Completed, i))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let page = store
        .list_executions(&ExecutionFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 200);
    let stats = store.stats(1).await.unwrap();
    assert_eq!(stats.len(), 8);
    assert!(stats.iter().all(|s| s.completed_count == 25));
}

async fn batches_commit_together_with_results_per_event(store: Arc<dyn Store>) {
    use cronmon::Event;
    let a = start_at("batch", Utc::now());
    let b = start_at("batch", Utc::now());
    let unknown = Uuid::now_v7();
    let events = vec![
        Event::Start(a.clone()),
        Event::Start(b.clone()),
        Event::Finish(finish(a.id, Status::Completed, 5)),
        Event::Heartbeat(Heartbeat {
            id: b.id,
            at: Utc::now(),
            done: Some(1),
            total: Some(2),
        }),
        Event::Finish(finish(unknown, Status::Completed, 5)),
        Event::Start(a.clone()),
    ];
    let results = store.record_batch(&events).await.unwrap();
    assert_eq!(results.len(), 6);
    assert!(matches!(results[0], Ok(Outcome::Recorded)));
    assert!(matches!(results[2], Ok(Outcome::Recorded)));
    assert!(matches!(results[3], Ok(Outcome::Recorded)));
    assert!(matches!(results[4], Err(Error::UnknownExecution(id)) if id == unknown));
    assert!(matches!(results[5], Ok(Outcome::AlreadyRecorded)));
    assert_eq!(
        store.execution(a.id).await.unwrap().unwrap().status,
        Status::Completed
    );
    assert_eq!(
        store.execution(b.id).await.unwrap().unwrap().progress_done,
        Some(1)
    );
    // Replaying the whole batch doubles nothing (a heartbeat of a running run just renews).
    let again = store.record_batch(&events).await.unwrap();
    assert!(
        again[..3]
            .iter()
            .all(|r| matches!(r, Ok(Outcome::AlreadyRecorded)))
    );
}

async fn one_schedule_and_ping(store: Arc<dyn Store>) {
    store.ping().await.expect("the database answers");
    assert_eq!(store.schedule(&name("nightly")).await.unwrap(), None);
    run(
        &*store,
        "nightly",
        chrono::Duration::minutes(5),
        Status::Failed,
        10,
    )
    .await;
    store
        .upsert_schedule(
            &name("other"),
            &ScheduleUpdate {
                timeout_ms: Some(60_000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let one = store.schedule(&name("nightly")).await.unwrap().unwrap();
    let all = store.schedules().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(Some(&one), all.iter().find(|s| s.cron_name == "nightly"));
    // A registered cron takes the table's defaults: one hour max runtime, five minutes grace.
    assert_eq!((one.timeout_ms, one.grace_ms), (3_600_000, 300_000));
    assert_eq!((one.failure_threshold, one.recovery_threshold), (3, 1));
    assert_eq!((one.timezone.as_str(), one.is_enabled), ("UTC", true));
    assert_eq!(one.failures_24h, 1);
    let other = store.schedule(&name("other")).await.unwrap().unwrap();
    assert_eq!((other.timeout_ms, other.grace_ms), (60_000, 300_000));
}

/// Keyset paging reads every match once, in order, even when runs share a start time and
/// when runs leave the filter between two pages (OFFSET paging would skip the runs that
/// slide into the pages already read).
async fn keyset_pages_miss_nothing_when_runs_change_meanwhile(store: Arc<dyn Store>) {
    let same_time = Utc::now() - chrono::Duration::minutes(5);
    let mut starts = Vec::new();
    for i in 0..250 {
        // Ties on started_at: 50 runs in each of five instants.
        let at = same_time - chrono::Duration::seconds(i / 50);
        starts.push(start_at("keyset", at));
    }
    let events: Vec<Event> = starts.iter().cloned().map(Event::Start).collect();
    for r in store.record_batch(&events).await.unwrap() {
        r.unwrap();
    }
    let running = ExecutionFilter {
        status: Some(Status::Running),
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.executions_after(&running, after, 100).await.unwrap();
        if seen.is_empty() {
            // Between the first and second page, the 30 newest runs (all on the first page)
            // finish and leave the filter.
            let done: Vec<Event> = page[..30]
                .iter()
                .map(|e| Event::Finish(finish(e.id, Status::Completed, 5)))
                .collect();
            for r in store.record_batch(&done).await.unwrap() {
                r.unwrap();
            }
        }
        seen.extend(page.iter().map(|e| (e.started_at, e.id)));
        match page.last() {
            Some(last) if page.len() == 100 => after = Some((last.started_at, last.id)),
            _ => break,
        }
    }
    let mut want: Vec<_> = starts.iter().map(|s| (s.started_at, s.id)).collect();
    want.sort_by(|a, b| b.cmp(a));
    let got: Vec<_> = seen
        .iter()
        .map(|(t, id)| (t.timestamp_micros(), *id))
        .collect();
    let want: Vec<_> = want
        .iter()
        .map(|(t, id)| (t.timestamp_micros(), *id))
        .collect();
    assert_eq!(got, want, "every run once, newest first, none skipped");
    assert!(store.executions_after(&running, None, 0).await.is_err());
    assert!(store.executions_after(&running, None, 201).await.is_err());
}

/// A cron's newest run, as the schedules and the statistics show it: set by its start, its end
/// and only its own end, by an older run stored late not at all, and after retention took it,
/// by what is left.
async fn the_newest_run_follows_starts_ends_and_retention(store: Arc<dyn Store>) {
    let newest = |store: Arc<dyn Store>| async move {
        let schedule = store.schedule(&name("newest")).await.unwrap().unwrap();
        let stats = store.stats(24 * 30).await.unwrap();
        let stat = stats.iter().find(|s| s.cron_name == "newest").unwrap();
        assert_eq!(
            (stat.last_execution_at, stat.last_status.clone()),
            (schedule.last_execution_at, schedule.last_status.clone()),
            "the statistics and the schedule agree"
        );
        (
            schedule.last_execution_at.map(|t| t.timestamp_micros()),
            schedule.last_status,
        )
    };
    let old = run(
        store.as_ref(),
        "newest",
        chrono::Duration::days(20),
        Status::Completed,
        5,
    )
    .await;
    let at = |id: Uuid| {
        let store = store.clone();
        async move {
            let e = store.execution(id).await.unwrap().unwrap();
            Some(e.started_at.timestamp_micros())
        }
    };
    assert_eq!(
        newest(store.clone()).await,
        (at(old).await, Some("completed".into()))
    );

    // A new run, running; then an older one stored late, ended: the newest stays.
    let current = run(
        store.as_ref(),
        "newest",
        chrono::Duration::minutes(5),
        Status::Running,
        0,
    )
    .await;
    assert_eq!(
        newest(store.clone()).await,
        (at(current).await, Some("running".into()))
    );
    let late = run(
        store.as_ref(),
        "newest",
        chrono::Duration::hours(1),
        Status::Failed,
        5,
    )
    .await;
    let stuck = run(
        store.as_ref(),
        "newest",
        chrono::Duration::hours(2),
        Status::Running,
        0,
    )
    .await;
    assert_eq!(
        newest(store.clone()).await,
        (at(current).await, Some("running".into()))
    );

    // Its end is the newest run's end.
    store
        .record_finish(&finish(current, Status::Failed, 9))
        .await
        .unwrap();
    assert_eq!(
        newest(store.clone()).await,
        (at(current).await, Some("failed".into()))
    );
    let streak = || {
        let store = store.clone();
        async move {
            let schedule = store.schedule(&name("newest")).await.unwrap().unwrap();
            schedule.consecutive_failures
        }
    };
    assert_eq!(
        streak().await,
        2,
        "the two failures since the 20-day-old success"
    );
    // A success stored late ends the streak where it started, and an older one changes nothing.
    for (ago, want) in [(30, 1), (180, 1)] {
        run(
            store.as_ref(),
            "newest",
            chrono::Duration::minutes(ago),
            Status::Completed,
            5,
        )
        .await;
        assert_eq!(streak().await, want);
    }

    // Retention of 10 days takes the oldest run only; of a minute, every ended run, the newest
    // with them.
    store
        .cleanup(Duration::from_secs(10 * 86_400), 100)
        .await
        .unwrap();
    assert!(store.execution(old).await.unwrap().is_none());
    assert_eq!(
        newest(store.clone()).await,
        (at(current).await, Some("failed".into()))
    );
    store.cleanup(Duration::from_secs(60), 100).await.unwrap();
    assert!(store.execution(current).await.unwrap().is_none());
    assert!(store.execution(late).await.unwrap().is_none());
    assert_eq!(
        newest(store.clone()).await,
        (at(stuck).await, Some("running".into())),
        "the newest run left"
    );
    assert_eq!(streak().await, 0);
}

/// A failure streak is counted after the newest completion, over the cron's newest 1,000
/// runs: a cron failing for weeks reads as 1,000, not as a read of its whole history.
async fn a_failure_streak_is_counted_over_the_newest_runs(store: Arc<dyn Store>) {
    let streak = |s: Vec<cronmon::Schedule>, cron: &str| {
        s.iter()
            .find(|s| s.cron_name.as_str() == cron)
            .map(|s| s.consecutive_failures)
    };
    let now = Utc::now();
    let mut events = Vec::new();
    let mut ended = |cron: &str, minutes_ago: i64, status: Status| {
        let s = start_at(cron, now - chrono::Duration::minutes(minutes_ago));
        let f = finish(s.id, status, 10);
        events.push(Event::Start(s));
        events.push(Event::Finish(f));
    };
    ended("failing", 2_000, Status::Completed);
    for i in 0..1_200 {
        ended("failing", 1_500 - i, Status::Failed);
    }
    ended("flaky", 20, Status::Failed);
    ended("flaky", 10, Status::Completed);
    ended("flaky", 5, Status::Failed);
    ended("flaky", 4, Status::Failed);
    for chunk in events.chunks(500) {
        let written = store.record_batch(chunk).await.unwrap();
        assert!(written.iter().all(|r| matches!(r, Ok(Outcome::Recorded))));
    }
    let s = store.schedules().await.unwrap();
    assert_eq!(streak(s.clone(), "failing"), Some(1_000));
    assert_eq!(streak(s, "flaky"), Some(2));
    // A run still running does not end the streak; a completion does.
    run(
        &*store,
        "flaky",
        chrono::Duration::minutes(1),
        Status::Running,
        0,
    )
    .await;
    assert_eq!(streak(store.schedules().await.unwrap(), "flaky"), Some(2));
    run(
        &*store,
        "failing",
        chrono::Duration::seconds(30),
        Status::Completed,
        5,
    )
    .await;
    assert_eq!(streak(store.schedules().await.unwrap(), "failing"), Some(0));
}

on_both_databases!(
    a_failure_streak_is_counted_over_the_newest_runs,
    the_newest_run_follows_starts_ends_and_retention,
    keyset_pages_miss_nothing_when_runs_change_meanwhile,
    one_schedule_and_ping,
    batches_commit_together_with_results_per_event,
    start_is_idempotent_and_registers_the_cron,
    finish_is_idempotent_and_rejects_another_outcome,
    completion_before_start_is_stored_whole,
    heartbeat_records_progress,
    list_filters_and_pages_newest_first,
    stats_give_rates_averages_and_p95,
    timeline_has_seven_days_by_status,
    schedules_derive_health,
    stuck_runs_are_found_and_orphans_closed_once,
    cleanup_deletes_old_finished_runs_in_batches,
    big_output_is_truncated_not_rejected,
    many_writers_lose_nothing,
);

#[test]
fn cron_names_are_checked() {
    assert!(CronName::new("monitor-openai").is_ok());
    assert!(CronName::new("x".repeat(128)).is_ok());
    assert!(CronName::new("x".repeat(129)).is_err());
    assert!(CronName::new("").is_err());
    assert!(CronName::new("tab\there").is_err());
    assert!(CronName::new(" padded").is_err());
    assert!("runing".parse::<Status>().is_err());
}

#[tokio::test]
async fn bad_urls_are_clear_errors() {
    assert!(matches!(
        cronmon::store::connect("mysql://x").await,
        Err(Error::UnsupportedUrl(_))
    ));
    let err = cronmon::store::connect("postgres://u:hunter2@127.0.0.1:1/db")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable(_)), "{err:?}");
    assert!(err.is_transient());
}

/// A PostgreSQL database of a host application's, with the pool the application made: no
/// `search_path` naming cronmon's schema, and in `public` a table of the application's own
/// named like cronmon's, which cronmon must neither read nor write.
struct HostDb {
    name: String,
    pool: sqlx::PgPool,
}

impl HostDb {
    async fn new() -> Self {
        let admin = crate::common::pg_admin_url();
        let name = format!("cronmon_test_host_{}", Uuid::now_v7().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("PostgreSQL must run for these tests");
        sqlx::Executor::execute(
            &mut conn,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await
        .expect("create database");
        let (base, _) = admin.rsplit_once('/').expect("admin url has a database");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&format!("{base}/{name}"))
            .await
            .expect("host pool");
        let path: String = sqlx::query_scalar("SHOW search_path")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(!path.contains("cronmon"), "{path}");
        sqlx::query("CREATE TABLE public.cron_executions (id INTEGER PRIMARY KEY, note TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO public.cron_executions VALUES (1, 'the app''s own')")
            .execute(&pool)
            .await
            .unwrap();
        Self { name, pool }
    }

    /// Checks that the application's table is as it was, then drops the database.
    async fn finish(self) {
        let rows: Vec<(i32, String)> =
            sqlx::query_as("SELECT id, note FROM public.cron_executions")
                .fetch_all(&self.pool)
                .await
                .unwrap();
        assert_eq!(rows, [(1, "the app's own".to_owned())]);
        self.pool.close().await;
        let mut conn =
            <sqlx::PgConnection as sqlx::Connection>::connect(&crate::common::pg_admin_url())
                .await
                .expect("reconnect");
        sqlx::Executor::execute(
            &mut conn,
            sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )),
        )
        .await
        .expect("drop database");
    }
}

/// Runs each listed `async fn(Arc<dyn Store>)` on a store made from a host application's
/// PostgreSQL pool.
macro_rules! on_a_host_pool {
    ($($name:ident),* $(,)?) => {
        mod host_pool {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::HostDb::new().await;
                    let store = cronmon::store::PgStore::from_pool(db.pool.clone())
                        .await
                        .expect("migrate on the host pool");
                    super::$name(std::sync::Arc::new(store)).await;
                    db.finish().await;
                }
            )*
        }
    };
}

on_a_host_pool!(
    the_newest_run_follows_starts_ends_and_retention,
    one_schedule_and_ping,
    batches_commit_together_with_results_per_event,
    start_is_idempotent_and_registers_the_cron,
    finish_is_idempotent_and_rejects_another_outcome,
    completion_before_start_is_stored_whole,
    heartbeat_records_progress,
    list_filters_and_pages_newest_first,
    stats_give_rates_averages_and_p95,
    timeline_has_seven_days_by_status,
    schedules_derive_health,
    stuck_runs_are_found_and_orphans_closed_once,
    cleanup_deletes_old_finished_runs_in_batches,
    big_output_is_truncated_not_rejected,
    many_writers_lose_nothing,
);

#[tokio::test]
async fn a_host_pool_migrates_once_and_keeps_its_own_migrations_apart() {
    let db = HostDb::new().await;
    // Twice, as two processes of the application would: the second finds nothing to do.
    for _ in 0..2 {
        cronmon::store::PgStore::from_pool(db.pool.clone())
            .await
            .expect("migrate");
    }
    let table = format!("cronmon.{}", cronmon::store::MIGRATIONS_TABLE);
    let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE success"
    )))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(applied, migrations_of("postgres"));
    let sqlx_default: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations')::text")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(sqlx_default, None);
    db.finish().await;
}

#[tokio::test]
async fn sqlite_store_from_a_host_pool() {
    let path = std::env::temp_dir().join(format!("cronmon-host-{}.db", Uuid::now_v7().simple()));
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let store = Arc::new(
        cronmon::store::SqliteStore::from_pool(pool.clone())
            .await
            .unwrap(),
    );
    one_schedule_and_ping(store.clone()).await;
    finish_is_idempotent_and_rejects_another_outcome(store).await;
    let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}",
        cronmon::store::MIGRATIONS_TABLE
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(applied, migrations_of("sqlite"));
    pool.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// How many migrations cronmon ships for `backend`: each applied once.
fn migrations_of(backend: &str) -> i64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    std::fs::read_dir(dir).unwrap().count() as i64
}
