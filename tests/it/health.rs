//! Schedule health on real SQLite and PostgreSQL: slots judged with an injected clock, missed
//! rows, incidents, pauses, maintenance windows, the settling delay after an outage, anomalies.
//!
//! The sweeper takes its clock as an argument, so no test waits: a schedule's cursor is moved
//! into the past with SQL (as if the cron had been declared then), runs are recorded at the
//! times a job would have sent, and the sweep is run "later".

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cronmon::health::{
    CronState, HealthChange, Incident, IncidentEventKind, IncidentFilter, IncidentKind,
    MaintenanceWindow, SweepConfig, Sweeper,
};
use cronmon::store::Store;
use cronmon::{
    CronName, Event, ExecutionFilter, Finish, PageRequest, Reason, ScheduleUpdate, Start, Status,
};
use uuid::Uuid;

use crate::common::TestDb;

crate::on_both_test_dbs!(
    early_and_late_starts_serve_their_slots,
    spring_forward_night_counts_once,
    fall_back_night_counts_once,
    two_sweepers_write_each_missed_slot_once,
    a_late_start_replaces_the_missed_row,
    threshold_one_opens_at_the_first_failure,
    threshold_three_and_recovery_two,
    one_open_incident_per_cron,
    paused_crons_are_not_judged,
    maintenance_windows_excuse_their_slots,
    an_outage_is_judged_after_the_settling_delay,
    slow_and_fast_runs_are_flagged,
    three_days_down_is_one_incident_and_a_readable_history,
    a_stuck_run_opens_an_incident,
    states_follow_runs_slots_and_pauses,
    each_cron_of_a_sweep_is_judged_on_its_own_runs,
    a_new_threshold_is_applied_to_the_runs_there_are,
    the_slow_baseline_is_the_newest_runs,
    the_slow_baseline_is_read_once_a_minute,
);

fn name(s: &str) -> CronName {
    CronName::new(s).expect("valid name")
}

/// Now, to the whole second, so times written and read back compare equal on both databases.
fn now_s() -> DateTime<Utc> {
    use chrono::Timelike;
    Utc::now()
        .with_nanosecond(0)
        .expect("0 is a valid nanosecond")
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

/// A sweeper whose heartbeat never looks like a gap, unless a test wants one.
fn sweeper(store: &Arc<dyn Store>) -> Sweeper {
    Sweeper::new(
        store.clone(),
        SweepConfig {
            every: Duration::from_secs(86_400 * 30),
            ..SweepConfig::default()
        },
    )
}

async fn declare(store: &dyn Store, cron: &str, update: ScheduleUpdate) {
    store
        .upsert_schedule(&name(cron), &update)
        .await
        .expect("upsert schedule");
}

fn hourly() -> ScheduleUpdate {
    ScheduleUpdate {
        cron_expression: Some("0 * * * *".into()),
        grace_ms: Some(300_000),
        ..ScheduleUpdate::default()
    }
}

/// Moves the judging cursor of `cron` to `t`, as if its schedule had been declared then.
pub(crate) async fn rewind(db: &TestDb, cron: &str, t: DateTime<Utc>) {
    if db.url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(
            "UPDATE cron_schedules SET judged_through = $1, next_deadline_at = $1 WHERE cron_name = $2",
        )
        .bind(t)
        .bind(cron)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(
            "UPDATE cronmon.cron_schedules SET judged_through = $1, next_deadline_at = $1 WHERE cron_name = $2",
        )
        .bind(t)
        .bind(cron)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
}

/// Records a run of `cron` started at `at`, ended one second later with `status` (or still
/// running); returns its id.
async fn run_at(store: &dyn Store, cron: &str, at: DateTime<Utc>, status: Status) -> Uuid {
    run_lasting(store, cron, at, status, 1000).await
}

async fn run_lasting(
    store: &dyn Store,
    cron: &str,
    at: DateTime<Utc>,
    status: Status,
    ms: i64,
) -> Uuid {
    let mut start = Start::now(name(cron));
    start.started_at = at;
    store.record_start(&start).await.expect("start");
    if status != Status::Running {
        let mut finish = Finish::now(start.id, status);
        finish.completed_at = at + TimeDelta::milliseconds(ms);
        finish.duration_ms = Some(ms);
        if status == Status::Failed {
            finish.reason = Some(Reason::Error);
            finish.error_message = Some("exit status 1".into());
        }
        store.record_finish(&finish).await.expect("finish");
    }
    start.id
}

/// The slots of `cron`'s `missed` rows, oldest first, with how many slots each stands for.
async fn missed(store: &dyn Store, cron: &str) -> Vec<(DateTime<Utc>, i64)> {
    let page = store
        .list_executions(
            &ExecutionFilter {
                cron_name: Some(cron.into()),
                status: Some(Status::Failed),
                ..ExecutionFilter::default()
            },
            PageRequest::new(1, 200).unwrap(),
        )
        .await
        .expect("list");
    let mut rows: Vec<(DateTime<Utc>, i64)> = page
        .items
        .iter()
        .filter(|e| e.reason == Some(Reason::Missed))
        .map(|e| {
            assert_eq!(
                e.started_at,
                e.scheduled_for.expect("a missed row names its slot")
            );
            (e.started_at, e.slots_missed.unwrap_or(1))
        })
        .collect();
    rows.sort();
    rows
}

async fn open_incidents(store: &dyn Store, cron: &str) -> Vec<Incident> {
    store
        .incidents(
            &IncidentFilter {
                cron_name: Some(cron.into()),
                open: Some(true),
                ..IncidentFilter::default()
            },
            PageRequest::default(),
        )
        .await
        .expect("incidents")
        .items
}

async fn state(store: &dyn Store, cron: &str) -> CronState {
    store
        .schedule(&name(cron))
        .await
        .expect("schedule")
        .expect("known cron")
        .state
}

async fn early_and_late_starts_serve_their_slots(db: &TestDb) {
    let store = &db.store;
    declare(store.as_ref(), "hourly", hourly()).await;
    let t0 = utc(2026, 11, 20, 10, 30, 0);
    rewind(db, "hourly", t0).await;
    // 10:59:57 serves 11:00 (a clock 3 s ahead), 12:04 serves 12:00 (late, within the grace),
    // nothing serves 13:00.
    run_at(
        store.as_ref(),
        "hourly",
        utc(2026, 11, 20, 10, 59, 57),
        Status::Completed,
    )
    .await;
    run_at(
        store.as_ref(),
        "hourly",
        utc(2026, 11, 20, 12, 4, 0),
        Status::Completed,
    )
    .await;
    let mut sweeper = sweeper(store);
    let before = sweeper.sweep(utc(2026, 11, 20, 13, 4, 59)).await.unwrap();
    assert_eq!(before.missed, 0, "13:00 is not late before 13:05");
    let report = sweeper.sweep(utc(2026, 11, 20, 13, 5, 0)).await.unwrap();
    assert_eq!(report.missed, 1);
    assert_eq!(
        missed(store.as_ref(), "hourly").await,
        [(utc(2026, 11, 20, 13, 0, 0), 1)]
    );
    // Judging again changes nothing.
    let again = sweeper.sweep(utc(2026, 11, 20, 13, 5, 0)).await.unwrap();
    assert_eq!(again.missed, 0);
    assert_eq!(missed(store.as_ref(), "hourly").await.len(), 1);
    let row = store
        .list_executions(
            &ExecutionFilter {
                cron_name: Some("hourly".into()),
                ..ExecutionFilter::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.reason == Some(Reason::Missed))
        .unwrap();
    assert_eq!(row.status, Status::Failed);
    assert_eq!(row.completed_at, Some(utc(2026, 11, 20, 13, 5, 0)));
    assert!(row.error_message.unwrap().contains("no start"));
    let schedule = store.schedule(&name("hourly")).await.unwrap().unwrap();
    assert_eq!(schedule.next_deadline_at, Some(utc(2026, 11, 20, 14, 5, 0)));
}

async fn spring_forward_night_counts_once(db: &TestDb) {
    let store = &db.store;
    // 02:30 does not exist in Paris on 2026-03-29: the job runs at 03:00 CEST (01:00 UTC).
    declare(
        store.as_ref(),
        "paris",
        ScheduleUpdate {
            cron_expression: Some("30 2 * * *".into()),
            timezone: Some("Europe/Paris".into()),
            grace_ms: Some(600_000),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    declare(
        store.as_ref(),
        "paris-idle",
        ScheduleUpdate {
            cron_expression: Some("30 2 * * *".into()),
            timezone: Some("Europe/Paris".into()),
            grace_ms: Some(600_000),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    for cron in ["paris", "paris-idle"] {
        rewind(db, cron, utc(2026, 3, 28, 12, 0, 0)).await;
    }
    run_at(
        store.as_ref(),
        "paris",
        utc(2026, 3, 29, 1, 0, 20),
        Status::Completed,
    )
    .await;
    run_at(
        store.as_ref(),
        "paris",
        utc(2026, 3, 30, 0, 30, 5),
        Status::Completed,
    )
    .await;
    sweeper(store)
        .sweep(utc(2026, 3, 31, 12, 0, 0))
        .await
        .unwrap();
    // The job that ran that night missed nothing; the idle one missed that night once, and
    // each night after once.
    assert_eq!(
        missed(store.as_ref(), "paris").await,
        [(utc(2026, 3, 31, 0, 30, 0), 1)]
    );
    assert_eq!(
        missed(store.as_ref(), "paris-idle").await,
        [
            (utc(2026, 3, 29, 1, 0, 0), 1),
            (utc(2026, 3, 30, 0, 30, 0), 1),
            (utc(2026, 3, 31, 0, 30, 0), 1)
        ]
    );
}

async fn fall_back_night_counts_once(db: &TestDb) {
    let store = &db.store;
    // 01:30 happens twice in New York on 2026-11-01 (EDT, then EST): due once, at 01:30 EDT.
    declare(
        store.as_ref(),
        "ny",
        ScheduleUpdate {
            cron_expression: Some("30 1 * * *".into()),
            timezone: Some("America/New_York".into()),
            grace_ms: Some(600_000),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    rewind(db, "ny", utc(2026, 10, 31, 12, 0, 0)).await;
    sweeper(store)
        .sweep(utc(2026, 11, 2, 12, 0, 0))
        .await
        .unwrap();
    assert_eq!(
        missed(store.as_ref(), "ny").await,
        [
            (utc(2026, 11, 1, 5, 30, 0), 1),
            (utc(2026, 11, 2, 6, 30, 0), 1)
        ],
        "once on the night the hour repeats, then at 01:30 EST"
    );
}

async fn two_sweepers_write_each_missed_slot_once(db: &TestDb) {
    let crons: Vec<String> = (0..40).map(|i| format!("job-{i:02}")).collect();
    for cron in &crons {
        declare(db.store.as_ref(), cron, hourly()).await;
        rewind(db, cron, utc(2026, 11, 20, 0, 30, 0)).await;
    }
    // Two server instances: two pools on one database, sweeping at the same moment.
    let other = cronmon::store::connect(&db.url).await.unwrap();
    let mut a = sweeper(&db.store).with_instance("a");
    let mut b = sweeper(&other).with_instance("b");
    let now = utc(2026, 11, 20, 5, 10, 0);
    let (ra, rb) = tokio::join!(a.sweep(now), b.sweep(now));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    // Five slots (01:00 … 05:00) per cron, each written by exactly one of them.
    assert_eq!(ra.missed + rb.missed, 40 * 5);
    for cron in &crons {
        let slots = missed(db.store.as_ref(), cron).await;
        assert_eq!(slots.len(), 5, "{cron}: {slots:?}");
    }
    let (ra, rb) = tokio::join!(a.sweep(now), b.sweep(now));
    assert_eq!(ra.unwrap().missed + rb.unwrap().missed, 0);
    other.close().await;
}

async fn a_late_start_replaces_the_missed_row(db: &TestDb) {
    let store = &db.store;
    declare(store.as_ref(), "late", hourly()).await;
    rewind(db, "late", utc(2026, 11, 20, 10, 30, 0)).await;
    let mut sweeper = sweeper(store);
    sweeper.sweep(utc(2026, 11, 20, 11, 6, 0)).await.unwrap();
    assert_eq!(missed(store.as_ref(), "late").await.len(), 1);
    // The job did run, seven minutes late; its start reaches cronmon only now (a spool).
    let id = run_at(
        store.as_ref(),
        "late",
        utc(2026, 11, 20, 11, 7, 0),
        Status::Completed,
    )
    .await;
    let report = sweeper.sweep(utc(2026, 11, 20, 11, 8, 0)).await.unwrap();
    assert_eq!(report.replaced, 1);
    assert!(missed(store.as_ref(), "late").await.is_empty());
    assert!(store.execution(id).await.unwrap().is_some());
    // The slot is not judged again.
    sweeper.sweep(utc(2026, 11, 20, 11, 9, 0)).await.unwrap();
    assert!(missed(store.as_ref(), "late").await.is_empty());
}

async fn threshold_one_opens_at_the_first_failure(db: &TestDb) {
    let store = &db.store;
    declare(
        store.as_ref(),
        "fragile",
        ScheduleUpdate {
            failure_threshold: Some(1),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    let now = now_s();
    let failed = run_at(
        store.as_ref(),
        "fragile",
        now - TimeDelta::minutes(5),
        Status::Failed,
    )
    .await;
    let report = sweeper(store).sweep(now).await.unwrap();
    assert_eq!(report.opened, 1);
    let open = open_incidents(store.as_ref(), "fragile").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, IncidentKind::Failed);
    assert_eq!(open[0].opening_execution_id, Some(failed));
    assert_eq!(open[0].error_message.as_deref(), Some("exit status 1"));
    let events = store.incident_events(0, 100).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, IncidentEventKind::Opened);
    assert_eq!(events[0].incident_id, Some(open[0].id));
    assert_eq!(state(store.as_ref(), "fragile").await, CronState::Failing);
    // Nothing new: the next round opens nothing more.
    assert_eq!(sweeper(store).sweep(now).await.unwrap().opened, 0);
}

async fn threshold_three_and_recovery_two(db: &TestDb) {
    let store = &db.store;
    declare(
        store.as_ref(),
        "flaky",
        ScheduleUpdate {
            failure_threshold: Some(3),
            recovery_threshold: Some(2),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    let now = now_s();
    let at = |minutes_ago: i64| now - TimeDelta::minutes(minutes_ago);
    let mut sweeper = sweeper(store);
    run_at(store.as_ref(), "flaky", at(60), Status::Failed).await;
    run_at(store.as_ref(), "flaky", at(50), Status::Failed).await;
    sweeper.sweep(now).await.unwrap();
    assert!(
        open_incidents(store.as_ref(), "flaky").await.is_empty(),
        "two failures of three"
    );
    let third = run_at(store.as_ref(), "flaky", at(40), Status::Failed).await;
    sweeper.sweep(now).await.unwrap();
    let open = open_incidents(store.as_ref(), "flaky").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].opening_execution_id, Some(third));
    assert_eq!(open[0].opened_from, at(60));
    run_at(store.as_ref(), "flaky", at(30), Status::Completed).await;
    sweeper.sweep(now).await.unwrap();
    assert_eq!(
        open_incidents(store.as_ref(), "flaky").await.len(),
        1,
        "one success of two"
    );
    let second = run_at(store.as_ref(), "flaky", at(20), Status::Completed).await;
    let report = sweeper.sweep(now).await.unwrap();
    assert_eq!(report.resolved, 1);
    assert!(open_incidents(store.as_ref(), "flaky").await.is_empty());
    let resolved = store.incident(open[0].id).await.unwrap().unwrap();
    assert_eq!(resolved.resolving_execution_id, Some(second));
    assert_eq!(resolved.resolved_at, Some(now));
    let kinds: Vec<_> = store
        .incident_events(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [IncidentEventKind::Opened, IncidentEventKind::Resolved]
    );
    assert_eq!(state(store.as_ref(), "flaky").await, CronState::Up);
}

async fn one_open_incident_per_cron(db: &TestDb) {
    let store = &db.store;
    declare(store.as_ref(), "twice", ScheduleUpdate::default()).await;
    let now = now_s();
    let incident = |id| Incident {
        id,
        cron_name: "twice".into(),
        kind: IncidentKind::Failed,
        opened_at: now,
        opening_execution_id: None,
        opened_from: now,
        error_message: None,
        resolved_at: None,
        resolving_execution_id: None,
        after_outage: false,
    };
    // Two sweepers deciding at once: the database keeps one.
    let changes: Vec<HealthChange> = [Uuid::now_v7(), Uuid::now_v7()]
        .into_iter()
        .map(|id| HealthChange {
            cron_name: "twice".into(),
            open: Some(incident(id)),
            ..HealthChange::default()
        })
        .collect();
    let opened = store.apply_health(&changes).await.unwrap();
    assert_eq!(opened.len(), 1);
    assert_eq!(open_incidents(store.as_ref(), "twice").await.len(), 1);
    assert_eq!(store.incident_events(0, 10).await.unwrap().len(), 1);
}

async fn paused_crons_are_not_judged(db: &TestDb) {
    let store = &db.store;
    declare(
        store.as_ref(),
        "paused",
        ScheduleUpdate {
            failure_threshold: Some(1),
            ..hourly()
        },
    )
    .await;
    rewind(db, "paused", utc(2026, 11, 20, 10, 30, 0)).await;
    let now = now_s();
    assert!(
        store
            .pause(&name("paused"), utc(2026, 11, 20, 10, 45, 0), None)
            .await
            .unwrap()
    );
    assert!(!store.pause(&name("unknown"), now, None).await.unwrap());
    let mut sweeper = sweeper(store);
    sweeper.sweep(utc(2026, 11, 20, 15, 10, 0)).await.unwrap();
    assert!(missed(store.as_ref(), "paused").await.is_empty());
    run_at(
        store.as_ref(),
        "paused",
        now - TimeDelta::minutes(1),
        Status::Failed,
    )
    .await;
    sweeper.sweep(now).await.unwrap();
    assert!(
        open_incidents(store.as_ref(), "paused").await.is_empty(),
        "no incident while paused"
    );
    assert_eq!(state(store.as_ref(), "paused").await, CronState::Paused);
    // A pause that ends by itself.
    let until = now + TimeDelta::hours(1);
    assert!(
        store
            .pause(&name("paused"), now, Some(until))
            .await
            .unwrap()
    );
    let schedule = store.schedule(&name("paused")).await.unwrap().unwrap();
    assert_eq!(schedule.paused_until, Some(until));
    assert!(
        store
            .pause(&name("paused"), now, Some(now - TimeDelta::hours(1)))
            .await
            .is_err()
    );
    // Resumed: judged and alerted again.
    assert!(store.resume(&name("paused"), now).await.unwrap());
    assert_ne!(state(store.as_ref(), "paused").await, CronState::Paused);
    sweeper.sweep(now).await.unwrap();
    run_at(
        store.as_ref(),
        "paused",
        now - TimeDelta::seconds(30),
        Status::Failed,
    )
    .await;
    sweeper.sweep(now).await.unwrap();
    assert_eq!(open_incidents(store.as_ref(), "paused").await.len(), 1);
}

async fn maintenance_windows_excuse_their_slots(db: &TestDb) {
    let store = &db.store;
    declare(store.as_ref(), "nightly", hourly()).await;
    declare(store.as_ref(), "other", hourly()).await;
    for cron in ["nightly", "other"] {
        rewind(db, cron, utc(2026, 11, 20, 0, 30, 0)).await;
    }
    // Every day 02:00–04:00 UTC for every cron, and 05:00–06:00 for "nightly" only.
    let global = MaintenanceWindow {
        id: Uuid::now_v7(),
        cron_name: None,
        cron_expression: "0 2 * * *".into(),
        timezone: "UTC".into(),
        duration_ms: 2 * 3_600_000,
        description: Some("backups".into()),
    };
    let own = MaintenanceWindow {
        id: Uuid::now_v7(),
        cron_name: Some("nightly".into()),
        cron_expression: "0 5 * * *".into(),
        duration_ms: 3_600_000,
        ..global.clone()
    };
    assert!(store.put_maintenance_window(&global).await.unwrap());
    assert!(store.put_maintenance_window(&own).await.unwrap());
    assert!(
        !store.put_maintenance_window(&own).await.unwrap(),
        "replaced, not created"
    );
    let bad = MaintenanceWindow {
        duration_ms: 0,
        ..global.clone()
    };
    assert!(store.put_maintenance_window(&bad).await.is_err());
    assert_eq!(store.maintenance_windows().await.unwrap().len(), 2);
    sweeper(store)
        .sweep(utc(2026, 11, 20, 6, 10, 0))
        .await
        .unwrap();
    let hours = |rows: Vec<(DateTime<Utc>, i64)>| {
        rows.into_iter()
            .map(|(t, _)| t.format("%H").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        hours(missed(store.as_ref(), "nightly").await),
        ["01", "04", "06"]
    );
    assert_eq!(
        hours(missed(store.as_ref(), "other").await),
        ["01", "04", "05", "06"]
    );
    assert!(store.delete_maintenance_window(own.id).await.unwrap());
    assert!(!store.delete_maintenance_window(own.id).await.unwrap());
}

async fn an_outage_is_judged_after_the_settling_delay(db: &TestDb) {
    let store = &db.store;
    declare(
        store.as_ref(),
        "every-10",
        ScheduleUpdate {
            cron_expression: Some("*/10 * * * *".into()),
            grace_ms: Some(60_000),
            failure_threshold: Some(1),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    let t0 = utc(2026, 11, 20, 9, 55, 0);
    rewind(db, "every-10", t0).await;
    let mut sweeper = Sweeper::new(
        store.clone(),
        SweepConfig {
            every: Duration::from_secs(10),
            settle: Duration::from_secs(300),
            ..SweepConfig::default()
        },
    );
    sweeper.sweep(t0).await.unwrap();
    // cronmon is down from 09:55 to 11:00. The job ran at 10:00 … 10:40 and spooled its runs;
    // it did not run at 10:50.
    let back = utc(2026, 11, 20, 11, 0, 0);
    let report = sweeper.sweep(back).await.unwrap();
    assert_eq!(
        report.missed, 0,
        "nothing judged before the spooled runs had time to arrive"
    );
    assert_eq!(report.holding_until, Some(t0));
    for minute in [0, 10, 20, 30, 40] {
        run_at(
            store.as_ref(),
            "every-10",
            utc(2026, 11, 20, 10, minute, 2),
            Status::Completed,
        )
        .await;
    }
    // Sweeps go on every 10 s, holding until the delay has passed.
    let mut t = back;
    let settled = loop {
        t += TimeDelta::seconds(10);
        let report = sweeper.sweep(t).await.unwrap();
        if t < back + TimeDelta::minutes(5) {
            assert_eq!(report.holding_until, Some(t0), "{t}");
            assert_eq!(report.missed, 0);
        } else {
            break report;
        }
    };
    assert_eq!(settled.holding_until, None);
    // 10:50 and 11:00 were missed; the runs that arrived late count.
    assert_eq!(
        missed(store.as_ref(), "every-10").await,
        [
            (utc(2026, 11, 20, 10, 50, 0), 1),
            (utc(2026, 11, 20, 11, 0, 0), 1)
        ]
    );
    assert_eq!(settled.opened, 1);
    let open = open_incidents(store.as_ref(), "every-10").await;
    assert!(
        open[0].after_outage,
        "opened by the judgement of the outage"
    );
    let events = store.incident_events(0, 100).await.unwrap();
    let summary = events
        .iter()
        .find(|e| e.kind == IncidentEventKind::OutageSummary)
        .expect("one summary of what the outage left open");
    let details = summary.details.as_ref().unwrap();
    assert_eq!(details["opened"].as_array().unwrap().len(), 1);
    assert!(details["gapFrom"].is_string());
    let status = store.sweeper_status().await.unwrap().unwrap();
    assert_eq!(status.gap_from, Some(t0));
    assert_eq!(status.gap_until, Some(back));
    // Only the first round after the delay writes a summary.
    sweeper.sweep(t + TimeDelta::seconds(10)).await.unwrap();
    let summaries = store
        .incident_events(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == IncidentEventKind::OutageSummary)
        .count();
    assert_eq!(summaries, 1);
}

async fn slow_and_fast_runs_are_flagged(db: &TestDb) {
    let store = &db.store;
    declare(
        store.as_ref(),
        "steady",
        ScheduleUpdate {
            failure_threshold: Some(1),
            min_duration_ms: Some(100),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    let now = now_s();
    for i in 0..20 {
        run_lasting(
            store.as_ref(),
            "steady",
            now - TimeDelta::hours(30 - i),
            Status::Completed,
            1000 + i * 10,
        )
        .await;
    }
    let mut sweeper = sweeper(store);
    sweeper.sweep(now).await.unwrap();
    let slow = run_lasting(
        store.as_ref(),
        "steady",
        now - TimeDelta::hours(2),
        Status::Completed,
        60_000,
    )
    .await;
    let fast = run_lasting(
        store.as_ref(),
        "steady",
        now - TimeDelta::hours(1),
        Status::Completed,
        5,
    )
    .await;
    let report = sweeper.sweep(now).await.unwrap();
    assert_eq!(report.anomalies, 2);
    let anomaly = |id| async move { store.execution(id).await.unwrap().unwrap().anomaly };
    assert_eq!(anomaly(slow).await.map(|a| a.as_str()), Some("slow"));
    assert_eq!(anomaly(fast).await.map(|a| a.as_str()), Some("fast"));
    assert!(
        open_incidents(store.as_ref(), "steady").await.is_empty(),
        "flagged, not failed"
    );
    // A cron that asks for it opens an incident on an anomaly.
    declare(
        store.as_ref(),
        "steady",
        ScheduleUpdate {
            anomaly_incidents: Some(true),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    run_lasting(
        store.as_ref(),
        "steady",
        now - TimeDelta::minutes(30),
        Status::Completed,
        90_000,
    )
    .await;
    sweeper.sweep(now).await.unwrap();
    let open = open_incidents(store.as_ref(), "steady").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, IncidentKind::Anomaly);
}

async fn three_days_down_is_one_incident_and_a_readable_history(db: &TestDb) {
    let store = &db.store;
    declare(
        store.as_ref(),
        "every-minute",
        ScheduleUpdate {
            cron_expression: Some("* * * * *".into()),
            grace_ms: Some(0),
            failure_threshold: Some(1),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    let t0 = utc(2026, 11, 17, 0, 0, 0);
    rewind(db, "every-minute", t0).await;
    let mut sweeper = sweeper(store);
    let mut now = t0;
    // Swept every six hours for three days.
    for _ in 0..12 {
        now += TimeDelta::hours(6);
        sweeper.sweep(now).await.unwrap();
    }
    let rows = missed(store.as_ref(), "every-minute").await;
    let cap = cronmon::rules::limits::MISSED_ROWS_MAX as usize;
    assert_eq!(
        rows.len(),
        cap + 1,
        "one row per slot up to the cap, then one that counts"
    );
    let counted: i64 = rows.iter().map(|(_, n)| n).sum();
    assert_eq!(counted, 3 * 24 * 60);
    assert_eq!(rows[cap].1, 3 * 24 * 60 - cap as i64);
    let all = store
        .incidents(&IncidentFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.total, 1);
    assert_eq!(all.items[0].kind, IncidentKind::Missed);
    assert_eq!(
        all.items[0].opened_from,
        t0 + TimeDelta::minutes(1),
        "the streak's first slot"
    );
    let schedule = store
        .schedule(&name("every-minute"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        schedule.consecutive_failures,
        3 * 24 * 60,
        "each slot counts"
    );
    // Back up: a start (for 00:01) resets the count.
    run_at(
        store.as_ref(),
        "every-minute",
        now + TimeDelta::seconds(61),
        Status::Completed,
    )
    .await;
    sweeper.sweep(now + TimeDelta::minutes(2)).await.unwrap();
    let after = missed(store.as_ref(), "every-minute").await;
    assert_eq!(
        after.len(),
        cap + 2,
        "the next miss is a row of its own again"
    );
}

async fn a_stuck_run_opens_an_incident(db: &TestDb) {
    let store = &db.store;
    declare(
        store.as_ref(),
        "hangs",
        ScheduleUpdate {
            timeout_ms: Some(60_000),
            failure_threshold: Some(1),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    let now = now_s();
    run_at(
        store.as_ref(),
        "hangs",
        now - TimeDelta::minutes(10),
        Status::Running,
    )
    .await;
    assert_eq!(state(store.as_ref(), "hangs").await, CronState::Stuck);
    let report = sweeper(store).sweep(now).await.unwrap();
    assert_eq!(report.stuck, 1);
    let open = open_incidents(store.as_ref(), "hangs").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, IncidentKind::Stuck);
}

async fn states_follow_runs_slots_and_pauses(db: &TestDb) {
    let store = &db.store;
    let now = now_s();
    declare(store.as_ref(), "fresh", ScheduleUpdate::default()).await;
    assert_eq!(state(store.as_ref(), "fresh").await, CronState::New);
    run_at(
        store.as_ref(),
        "fresh",
        now - TimeDelta::minutes(3),
        Status::Running,
    )
    .await;
    assert_eq!(state(store.as_ref(), "fresh").await, CronState::Running);
    run_at(
        store.as_ref(),
        "done",
        now - TimeDelta::minutes(3),
        Status::Completed,
    )
    .await;
    let done = store.schedule(&name("done")).await.unwrap().unwrap();
    assert_eq!(done.state, CronState::Up);
    assert_eq!(
        done.state_since,
        now - TimeDelta::minutes(3) + TimeDelta::seconds(1)
    );
    // A schedule whose slot passed, unjudged yet or judged missed: late either way.
    declare(store.as_ref(), "overdue", hourly()).await;
    rewind(db, "overdue", now - TimeDelta::hours(3)).await;
    sweeper(store).sweep(now).await.unwrap();
    assert_eq!(state(store.as_ref(), "overdue").await, CronState::Late);
    store.pause(&name("overdue"), now, None).await.unwrap();
    assert_eq!(
        state(store.as_ref(), "overdue").await,
        CronState::Paused,
        "never late when paused"
    );
    // A fresh schedule is not late before its first deadline.
    declare(store.as_ref(), "declared", hourly()).await;
    assert_eq!(state(store.as_ref(), "declared").await, CronState::New);
}

/// One sweep judges several crons at once (PostgreSQL reads and writes them all in one
/// statement each): every cron is judged on its own starts, and evaluated on its own runs.
async fn each_cron_of_a_sweep_is_judged_on_its_own_runs(db: &TestDb) {
    let store = &db.store;
    let slots: Vec<DateTime<Utc>> = (1..=5).map(|h| utc(2026, 11, 20, h, 0, 0)).collect();
    // Cron `job-i` started its first i slots (a few seconds late), and none after.
    for i in 0..=5 {
        let cron = format!("job-{i}");
        declare(
            store.as_ref(),
            &cron,
            ScheduleUpdate {
                failure_threshold: Some(1),
                ..hourly()
            },
        )
        .await;
        rewind(db, &cron, utc(2026, 11, 20, 0, 30, 0)).await;
        for slot in &slots[..i] {
            run_at(
                store.as_ref(),
                &cron,
                *slot + TimeDelta::seconds(4),
                Status::Completed,
            )
            .await;
        }
    }
    let report = sweeper(store)
        .sweep(utc(2026, 11, 20, 5, 10, 0))
        .await
        .unwrap();
    assert_eq!(report.judged, 6);
    assert_eq!(report.missed, 5 + 4 + 3 + 2 + 1);
    assert_eq!(report.opened, 5);
    for i in 0..=5 {
        let cron = format!("job-{i}");
        let rows: Vec<DateTime<Utc>> = missed(store.as_ref(), &cron)
            .await
            .into_iter()
            .map(|(slot, n)| {
                assert_eq!(n, 1);
                slot
            })
            .collect();
        assert_eq!(rows, slots[i..], "{cron}");
        let open = open_incidents(store.as_ref(), &cron).await;
        if i == 5 {
            assert!(open.is_empty(), "{cron}: {open:?}");
            continue;
        }
        assert_eq!(open.len(), 1, "{cron}");
        assert_eq!(open[0].kind, IncidentKind::Missed);
        let opening = open[0].opening_execution_id.expect("an opening run");
        let run = store.execution(opening).await.unwrap().expect("stored");
        assert_eq!(run.cron_name, cron);
        assert_eq!(run.reason, Some(Reason::Missed));
    }
}

async fn a_new_threshold_is_applied_to_the_runs_there_are(db: &TestDb) {
    let store = &db.store;
    declare(store.as_ref(), "tuned", ScheduleUpdate::default()).await;
    let now = now_s();
    for minutes in [20, 10] {
        run_at(
            store.as_ref(),
            "tuned",
            now - TimeDelta::minutes(minutes),
            Status::Failed,
        )
        .await;
    }
    let mut sweeper = sweeper(store);
    sweeper.sweep(now).await.unwrap();
    assert!(
        open_incidents(store.as_ref(), "tuned").await.is_empty(),
        "2 failures of 3"
    );
    // Lowered with no new run: the next round opens the incident.
    declare(
        store.as_ref(),
        "tuned",
        ScheduleUpdate {
            failure_threshold: Some(2),
            ..ScheduleUpdate::default()
        },
    )
    .await;
    sweeper.sweep(now).await.unwrap();
    assert_eq!(open_incidents(store.as_ref(), "tuned").await.len(), 1);
    // A cron marked by hand (what the sweep does when it could not write an evaluation) is
    // taken by the next round.
    store.mark_dirty(&["tuned".to_owned()]).await.unwrap();
    let taken = store.dirty_crons(10, &[]).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].cron_name, "tuned");
    assert!(
        store.dirty_crons(10, &[]).await.unwrap().is_empty(),
        "taken once"
    );
}

/// A cron's baseline for slow runs is the p95 of its newest finished runs of the last 7 days,
/// a bounded number of them: a cron every minute ends 10,080 runs a week, and each sweep that
/// sees one of them end would read them all.
async fn the_slow_baseline_is_the_newest_runs(db: &TestDb) {
    let store = &db.store;
    let newest = cronmon::rules::limits::ANOMALY_BASELINE_RUNS;
    let now = now_s();
    let mut events = Vec::new();
    // 300 slow runs six days ago, then the newest runs, quick.
    for i in 0..300 + newest {
        let (at, ms) = if i < 300 {
            (now - TimeDelta::days(6) + TimeDelta::minutes(i), 60_000)
        } else {
            (now - TimeDelta::hours(20) + TimeDelta::seconds(i), 1_000)
        };
        let mut start = Start::now(name("busy"));
        start.started_at = at;
        let mut finish = Finish::now(start.id, Status::Completed);
        finish.completed_at = at + TimeDelta::milliseconds(ms);
        finish.duration_ms = Some(ms);
        events.push(Event::Start(start));
        events.push(Event::Finish(finish));
    }
    for chunk in events.chunks(500) {
        for r in store.record_batch(chunk).await.unwrap() {
            r.unwrap();
        }
    }
    assert_eq!(
        store
            .duration_p95("busy", now - TimeDelta::days(7))
            .await
            .unwrap(),
        (newest, Some(1_000)),
        "the 300 slow runs before the newest are not read"
    );
    // With fewer runs than the bound, all of the 7 days count.
    assert_eq!(
        store
            .duration_p95(
                "busy",
                now - TimeDelta::hours(20) + TimeDelta::seconds(300 + newest - 40)
            )
            .await
            .unwrap(),
        (40, Some(1_000))
    );
}

/// A sweeper reads a cron's baseline for slow runs at most once a minute: a cron that ends runs
/// every second is marked again at every round, and each round would read it again.
async fn the_slow_baseline_is_read_once_a_minute(db: &TestDb) {
    let store = &db.store;
    declare(store.as_ref(), "wave", ScheduleUpdate::default()).await;
    let now = now_s();
    for i in 0..30 {
        let at = now - TimeDelta::hours(40 - i);
        run_lasting(store.as_ref(), "wave", at, Status::Completed, 1_000).await;
    }
    let mut sweeper = sweeper(store);
    sweeper.sweep(now).await.unwrap();
    // The runs since are slower: 2.5 s, within 3 × the baseline read (p95 1 s).
    for i in 0..100 {
        let at = now - TimeDelta::hours(10) + TimeDelta::minutes(5 * i);
        run_lasting(store.as_ref(), "wave", at, Status::Completed, 2_500).await;
    }
    let a = run_lasting(
        store.as_ref(),
        "wave",
        now - TimeDelta::minutes(30),
        Status::Completed,
        3_500,
    )
    .await;
    // Within the minute, the baseline read then still serves: 3.5 s is slow against 1 s.
    let report = sweeper.sweep(now).await.unwrap();
    assert_eq!(report.anomalies, 1);
    let anomaly = |id| async move { store.execution(id).await.unwrap().unwrap().anomaly };
    assert_eq!(anomaly(a).await.map(|a| a.as_str()), Some("slow"));
    // A minute later it is read again (p95 2.5 s): the same duration is not slow.
    let b = run_lasting(
        store.as_ref(),
        "wave",
        now - TimeDelta::minutes(10),
        Status::Completed,
        3_500,
    )
    .await;
    let report = sweeper.sweep(now + TimeDelta::seconds(61)).await.unwrap();
    assert_eq!(report.anomalies, 0);
    assert_eq!(anomaly(b).await, None);
}
