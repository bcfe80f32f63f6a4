//! Group commit (`Store::record_batch`) with large mixed batches: the PostgreSQL multi-row
//! path and SQLite's per-event path give the same results, event by event.

use std::sync::Arc;

use chrono::Utc;
use cronmon::store::Store;
use cronmon::{CronName, Error, Event, Finish, Outcome, Reason, Start, Status};
use serde_json::json;

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

on_both_databases!(
    big_mixed_batch,
    repeats_conflicts_and_bad_events_in_one_batch,
    a_refused_value_costs_only_its_event,
    a_timed_out_run_takes_its_real_end,
);
