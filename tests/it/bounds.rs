//! Bounds: every number and time a run or a cron's settings carry is checked once, in core,
//! and refused naming its field (through the store and through the API alike); outputs and
//! errors are cut and scrubbed in core before any destination sees them; and rows no version
//! of cronmon would write now (older versions, direct SQL) never break a read.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cronmon::rules::limits;
use cronmon::store::{Backend, Store};
use cronmon::{
    CronName, CronRun, Error, Event, Finish, Heartbeat, Outcome, ScheduleUpdate, Start, Status,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::http::{app, get, get_text, post, put};
use crate::common::{Kind, TestDb};

fn start_of(name: &str) -> Start {
    Start::now(CronName::new(name).unwrap())
}

/// The field a refusal names.
fn field_of<T: std::fmt::Debug>(r: cronmon::Result<T>) -> &'static str {
    match r {
        Err(Error::InvalidField { field, .. }) => field,
        other => panic!("expected a refused field, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Each bound, refused by the store naming its field; the others of a batch still written.

async fn store_refuses_out_of_bounds_values(store: Arc<dyn Store>) {
    let now = Utc::now();
    let mut s = start_of("bounded");
    s.started_at = now + TimeDelta::days(2);
    assert_eq!(field_of(store.record_start(&s).await), "startedAt");
    s.started_at = now - TimeDelta::days(3661);
    assert_eq!(field_of(store.record_start(&s).await), "startedAt");
    s.started_at = now;
    s.scheduled_for = Some(Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap());
    assert_eq!(field_of(store.record_start(&s).await), "scheduledFor");
    s.scheduled_for = None;
    s.pid = Some(0);
    assert_eq!(field_of(store.record_start(&s).await), "pid");
    s.pid = Some(4242);
    s.host = Some("h".repeat(limits::SHORT_TEXT_MAX_BYTES + 1));
    assert_eq!(field_of(store.record_start(&s).await), "host");
    s.host = Some("web-1".into());
    assert_eq!(store.record_start(&s).await.unwrap(), Outcome::Recorded);

    let finish = |f: fn(&mut Finish)| {
        let mut finish = Finish::now(s.id, Status::Completed);
        f(&mut finish);
        finish
    };
    let cases: [(Change, &str); 7] = [
        (|f| f.duration_ms = Some(i64::MAX - 1), "durationMs"),
        (
            |f| f.duration_ms = Some(limits::RUN_DURATION_MAX_MS + 1),
            "durationMs",
        ),
        (|f| f.duration_ms = Some(-1), "durationMs"),
        (|f| f.cpu_ms = Some(limits::CPU_MS_MAX + 1), "cpuMs"),
        (|f| f.max_rss_kb = Some(-5), "maxRssKb"),
        (
            |f| f.completed_at = Utc::now() + TimeDelta::days(3),
            "completedAt",
        ),
        (|f| f.status = Status::Running, "status"),
    ];
    for (change, field) in cases {
        assert_eq!(field_of(store.record_finish(&finish(change)).await), field);
    }
    // A finish carrying a start that ended two days before it began.
    let mut carried = Finish::now(Uuid::now_v7(), Status::Completed);
    carried.completed_at = now - TimeDelta::days(2);
    carried.start = Some(Start {
        id: carried.id,
        ..start_of("bounded")
    });
    assert_eq!(field_of(store.record_finish(&carried).await), "completedAt");

    let beat = |done: i64| Heartbeat {
        id: s.id,
        at: Utc::now(),
        done: Some(done),
        total: None,
    };
    assert_eq!(field_of(store.heartbeat(&beat(-1)).await), "done");
    assert_eq!(
        field_of(store.heartbeat(&beat(limits::PROGRESS_MAX + 1)).await),
        "done"
    );
    assert!(store.heartbeat(&beat(limits::PROGRESS_MAX)).await.unwrap());

    // A batch: the invalid events are refused where they stand, the valid ones written.
    let good = start_of("bounded");
    let mut far = start_of("bounded");
    far.started_at = now + TimeDelta::days(30);
    let mut huge = Finish::now(good.id, Status::Completed);
    huge.duration_ms = Some(i64::MAX - 1);
    let mut fine = Finish::now(good.id, Status::Completed);
    fine.duration_ms = Some(1_500);
    let results = store
        .record_batch(&[
            Event::Start(good.clone()),
            Event::Start(far.clone()),
            Event::Finish(huge),
            Event::Finish(fine),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 4);
    assert!(matches!(results[0], Ok(Outcome::Recorded)), "{results:?}");
    assert_eq!(
        field_of(results[1].as_ref().map(|_| ()).map_err(clone_err)),
        "startedAt"
    );
    assert_eq!(
        field_of(results[2].as_ref().map(|_| ()).map_err(clone_err)),
        "durationMs"
    );
    assert!(matches!(results[3], Ok(Outcome::Recorded)), "{results:?}");
    let stored = store.execution(good.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.duration_ms),
        (Status::Completed, Some(1_500))
    );
    assert!(store.execution(far.id).await.unwrap().is_none());

    // A cron's durations: 30 days at most.
    let name = CronName::new("bounded").unwrap();
    let too_long = limits::SCHEDULE_DURATION_MAX_MS + 1;
    for (update, field) in [
        (
            ScheduleUpdate {
                timeout_ms: Some(1_000_000_000_000_000),
                ..Default::default()
            },
            "timeoutMs",
        ),
        (
            ScheduleUpdate {
                grace_ms: Some(too_long),
                ..Default::default()
            },
            "graceMs",
        ),
        (
            ScheduleUpdate {
                heartbeat_timeout_ms: Some(too_long),
                ..Default::default()
            },
            "heartbeatTimeoutMs",
        ),
    ] {
        assert_eq!(field_of(store.upsert_schedule(&name, &update).await), field);
    }
    let longest = ScheduleUpdate {
        timeout_ms: Some(limits::SCHEDULE_DURATION_MAX_MS),
        ..Default::default()
    };
    store.upsert_schedule(&name, &longest).await.unwrap();
}

/// A change that takes a finish out of bounds.
type Change = fn(&mut Finish);

fn clone_err(e: &Error) -> Error {
    match e {
        Error::InvalidField { field, message } => Error::InvalidField {
            field,
            message: message.clone(),
        },
        other => panic!("expected a refused field, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The same bounds through the API: 422 naming the field.

async fn api_answers_422_naming_the_field(store: Arc<dyn Store>) {
    let app = app(store);
    let in_days = |d: i64| (Utc::now() + TimeDelta::days(d)).to_rfc3339();
    let (s, b) = post(
        &app,
        "/cron-executions/start",
        json!({"cronName": "api-bounds"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = b["executionId"].as_str().unwrap().to_owned();
    let starts = [
        (
            json!({"cronName": "x", "startedAt": in_days(2)}),
            "startedAt",
        ),
        (
            json!({"cronName": "x", "startedAt": "9999-12-31T00:00:00Z"}),
            "startedAt",
        ),
        (
            json!({"cronName": "x", "startedAt": in_days(-4000)}),
            "startedAt",
        ),
        (
            json!({"cronName": "x", "scheduledFor": in_days(5)}),
            "scheduledFor",
        ),
        (json!({"cronName": "x", "pid": 0}), "pid"),
    ];
    for (body, field) in starts {
        let (s, b) = post(&app, "/cron-executions/start", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {b}");
        assert_eq!(b["error"]["field"], field, "{body} -> {b}");
    }
    let completes = [
        (
            json!({"durationMs": 9_223_372_036_854_775_806_i64}),
            "durationMs",
        ),
        (json!({"durationMs": -1}), "durationMs"),
        (json!({"cpuMs": i64::MAX}), "cpuMs"),
        (json!({"maxRssKb": limits::MAX_RSS_KB_MAX + 1}), "maxRssKb"),
        (json!({"completedAt": in_days(2)}), "completedAt"),
        (
            json!({"cronName": "x", "startedAt": in_days(0), "completedAt": in_days(-3)}),
            "completedAt",
        ),
        (
            json!({"cronName": "x", "startedAt": in_days(0), "pid": -3}),
            "pid",
        ),
    ];
    for (extra, field) in completes {
        let mut body = json!({"executionId": id, "status": "completed"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (s, b) = post(&app, "/cron-executions/complete", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {b}");
        assert_eq!(b["error"]["field"], field, "{body} -> {b}");
    }
    for (body, field) in [
        (json!({"done": -1}), "done"),
        (json!({"total": 1_000_000_000_000_001_i64}), "total"),
    ] {
        let (s, b) = post(&app, &format!("/cron-executions/{id}/heartbeat"), body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["error"]["field"], field, "{b}");
    }
    for (body, field) in [
        (json!({"timeoutMs": 1_000_000_000_000_000_i64}), "timeoutMs"),
        (json!({"graceMs": 2_592_000_001_i64}), "graceMs"),
        (
            json!({"heartbeatTimeoutMs": i64::MAX}),
            "heartbeatTimeoutMs",
        ),
    ] {
        let (s, b) = put(&app, "/cron-schedules/api-bounds", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {b}");
        assert_eq!(b["error"]["field"], field, "{body} -> {b}");
    }
    // The bounds themselves are accepted.
    let (s, b) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": id, "status": "completed", "durationMs": limits::RUN_DURATION_MAX_MS}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

// ---------------------------------------------------------------------------------------------
// Rows no current version writes: every read still answers, the sweep still runs, and a
// legitimate completion in the same cron and hour is still recorded.

/// A connection of the test's own to the store's database, for SQL the store would refuse.
enum Raw {
    Pg(sqlx::PgPool),
    Lite(sqlx::SqlitePool),
}

macro_rules! raw_sql {
    ($raw:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        match &$raw {
            Raw::Pg(pool) => {
                sqlx::query(sqlx::AssertSqlSafe($sql.replace("{s}", "cronmon.")))
                    $(.bind($bind))*
                    .execute(pool)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", $sql));
            }
            Raw::Lite(pool) => {
                sqlx::query(sqlx::AssertSqlSafe($sql.replace("{s}", "")))
                    $(.bind($bind))*
                    .execute(pool)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", $sql));
            }
        }
    };
}

struct ExtremeRow {
    cron: &'static str,
    status: &'static str,
    started_at: DateTime<Utc>,
    duration_ms: Option<i64>,
    output: Option<String>,
}

async fn insert_extreme(raw: &Raw, row: ExtremeRow) -> Uuid {
    let id = Uuid::now_v7();
    let json = match raw {
        Raw::Pg(_) => "CAST($6 AS JSONB)",
        Raw::Lite(_) => "$6",
    };
    let sql = format!(
        "INSERT INTO {{s}}cron_executions
            (id, cron_name, status, started_at, completed_at, duration_ms, output, error_message,
             exit_code, pid, cpu_ms, max_rss_kb, last_heartbeat_at, progress_done, progress_total)
         VALUES ($1, $2, $3, $4, $5, $7, {json}, $8, $9, $10, $11, $11, $4, $11, $11)"
    );
    let completed_at = (row.status != "running").then_some(row.started_at);
    raw_sql!(
        raw,
        sql,
        id,
        row.cron,
        row.status,
        row.started_at,
        completed_at,
        row.output,
        row.duration_ms,
        "\u{FFFD}".repeat(70_000),
        i32::MIN,
        -5_i32,
        i64::MAX,
    );
    id
}

/// Every read of the API, each of which must answer 200.
async fn every_read_answers(store: &Arc<dyn Store>, ids: &[Uuid]) {
    let app = app(store.clone());
    for path in [
        "/cron-executions/list?limit=200",
        "/cron-executions/list?status=running",
        "/cron-executions/list?from=1970-01-01&to=9999-12-30",
        "/cron-executions/stats",
        "/cron-executions/stats?hours=8784",
        "/cron-executions/batches",
        "/cron-schedules",
    ] {
        let (s, b) = get(&app, path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
    }
    for id in ids {
        let (s, b) = get(&app, &format!("/cron-executions/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{id}: {b}");
    }
    for path in [
        "/metrics",
        "/cron-executions/export.csv",
        "/dashboard",
        "/openapi.json",
    ] {
        let (s, _, text) = get_text(&app, path).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "{path}: {}",
            &text[..text.len().min(300)]
        );
    }
    store.timeline(limits::TIMELINE_DAYS_MAX).await.unwrap();
    store.stuck_runs().await.unwrap();
}

async fn extreme_rows_never_break_reads(db: &TestDb) {
    let store = db.store.clone();
    let raw = match store.backend() {
        Backend::Postgres => Raw::Pg(sqlx::PgPool::connect(&db.url).await.unwrap()),
        Backend::Sqlite => Raw::Lite(sqlx::SqlitePool::connect(&db.url).await.unwrap()),
    };
    let now = Utc::now();
    if let Raw::Pg(pg) = &raw {
        // Times no client can decode ('infinity', year 294276) never get in, even by hand.
        for time in ["infinity", "-infinity", "294276-01-01 00:00:00+00"] {
            let e = sqlx::query(
                "INSERT INTO cronmon.cron_executions (id, cron_name, status, started_at)
                 VALUES ($1, 'x', 'running', CAST($2 AS TIMESTAMPTZ))",
            )
            .bind(Uuid::now_v7())
            .bind(time)
            .execute(pg)
            .await
            .expect_err(time);
            assert!(e.to_string().contains("times_finite"), "{time}: {e}");
        }
    }
    let deep = format!("{}1{}", "[".repeat(400), "]".repeat(400));
    let odd_outputs: Vec<Option<String>> = match raw {
        Raw::Pg(_) => vec![Some(deep), Some("1e400".into()), Some("\"\\u0001\"".into())],
        Raw::Lite(_) => vec![Some(deep), Some("1e400".into()), Some("not JSON {".into())],
    };
    let mut ids = Vec::new();
    // Two completions of i64::MAX - 1 ms in the same cron and hour: the roll-up sums would
    // overflow a 64-bit integer.
    for (i, output) in odd_outputs.into_iter().enumerate() {
        ids.push(
            insert_extreme(
                &raw,
                ExtremeRow {
                    cron: "extreme",
                    status: if i == 1 { "failed" } else { "completed" },
                    started_at: now - TimeDelta::seconds(1),
                    duration_ms: Some(i64::MAX - 1),
                    output,
                },
            )
            .await,
        );
    }
    for (cron, started_at) in [
        (
            "far-future",
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 0, 0).unwrap(),
        ),
        ("far-past", Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap()),
        ("endless", now - TimeDelta::hours(2)),
    ] {
        ids.push(
            insert_extreme(
                &raw,
                ExtremeRow {
                    cron,
                    status: "running",
                    started_at,
                    duration_ms: None,
                    output: None,
                },
            )
            .await,
        );
    }
    ids.push(
        insert_extreme(
            &raw,
            ExtremeRow {
                cron: "far-future",
                status: "completed",
                started_at: Utc.with_ymd_and_hms(9999, 12, 31, 22, 0, 0).unwrap(),
                duration_ms: Some(-7),
                output: Some("{}".into()),
            },
        )
        .await,
    );
    // A schedule no check lets through any more: timeouts of 10^15 ms and i64::MAX.
    raw_sql!(
        raw,
        "UPDATE {s}cron_schedules SET timeout_ms = $1, grace_ms = $1, heartbeat_timeout_ms = $2
         WHERE cron_name = 'endless'",
        1_000_000_000_000_000_i64,
        i64::MAX,
    );
    raw_sql!(
        raw,
        "UPDATE {s}cron_schedules SET timeout_ms = $1, heartbeat_timeout_ms = $1
         WHERE cron_name = 'far-future'",
        i64::MAX,
    );
    // Roll-ups as an older version could leave them: sums at the edge of a 64-bit integer.
    raw_sql!(
        raw,
        "UPDATE {s}cron_stats_hourly SET duration_sum_ms = $1 WHERE cron_name = 'extreme'",
        i64::MAX - 10,
    );
    raw_sql!(
        raw,
        "UPDATE {s}cron_stats_daily SET duration_sum_ms = $1 WHERE cron_name = 'extreme'",
        i64::MAX - 10,
    );
    if let Raw::Pg(_) = raw {
        raw_sql!(
            raw,
            "INSERT INTO {s}cron_durations_hourly (cron_name, bucket, le, n)
             VALUES ('extreme', date_trunc('hour', now()), 32767, 5), ('extreme', date_trunc('hour', now()), 252, 1)
             ON CONFLICT (cron_name, bucket, le) DO UPDATE SET n = EXCLUDED.n",
        );
        // The window roll-ups (migration 0008) the statistics read: sums of durations past
        // what a float holds once added, buckets at the edge of a SMALLINT.
        raw_sql!(
            raw,
            "INSERT INTO {s}cron_stats_window
                 (day, cron_name, started, completed, failed, duration_sum_ms, duration_count)
             VALUES ((now() AT TIME ZONE 'UTC')::date, 'extreme', array_fill(0::bigint, ARRAY[24]),
                     array_fill(0::bigint, ARRAY[24]), array_fill(0::bigint, ARRAY[24]),
                     array_fill(1.7e308::float8, ARRAY[24]), array_fill(0::bigint, ARRAY[24])),
                    ((now() AT TIME ZONE 'UTC')::date - 1, 'extreme', array_fill(0::bigint, ARRAY[24]),
                     array_fill(0::bigint, ARRAY[24]), array_fill(0::bigint, ARRAY[24]),
                     array_fill(1.7e308::float8, ARRAY[24]), array_fill(0::bigint, ARRAY[24]))
             ON CONFLICT (day, cron_name) DO UPDATE SET duration_sum_ms = EXCLUDED.duration_sum_ms",
        );
        raw_sql!(
            raw,
            "INSERT INTO {s}cron_durations_window (day, cron_name, le, n)
             VALUES ((now() AT TIME ZONE 'UTC')::date, 'extreme', 32767, array_fill(5::bigint, ARRAY[24])),
                    ((now() AT TIME ZONE 'UTC')::date, 'extreme', -32768, array_fill(1::bigint, ARRAY[24]))
             ON CONFLICT (day, cron_name, le) DO UPDATE SET n = EXCLUDED.n",
        );
    }

    every_read_answers(&store, &ids).await;
    cronmon_http::server::sweep_once(store.as_ref(), Duration::ZERO)
        .await
        .unwrap();
    every_read_answers(&store, &ids).await;

    // What an odd output reads as: the JSON as stored when it is JSON cronmon can hold, its
    // text otherwise.
    let deep = store.execution(ids[0]).await.unwrap().unwrap();
    assert!(
        deep.output.as_ref().is_some_and(Value::is_string),
        "{:?}",
        deep.output
    );

    // A legitimate run of the same cron in the same hour is still recorded, and counted.
    let s = start_of("extreme");
    assert_eq!(store.record_start(&s).await.unwrap(), Outcome::Recorded);
    let mut f = Finish::now(s.id, Status::Completed);
    f.duration_ms = Some(1_234);
    assert_eq!(store.record_finish(&f).await.unwrap(), Outcome::Recorded);
    let stats = store.stats(24).await.unwrap();
    let extreme = stats.iter().find(|c| c.cron_name == "extreme").unwrap();
    assert_eq!(extreme.total_executions, 4, "{extreme:?}");
    assert_eq!(extreme.completed_count, 3, "{extreme:?}");
    every_read_answers(&store, &[s.id]).await;
    if let Raw::Pg(pg) = &raw {
        // Folded onto the window rows at the edge, the sums saturate and no figure moves.
        let folded: i64 =
            sqlx::query_scalar("SELECT cronmon.cron_rollup_fold() + cronmon.cron_latest_fold()")
                .fetch_one(pg)
                .await
                .unwrap();
        assert!(folded > 0);
        let sums: Vec<f64> = sqlx::query_scalar(
            "SELECT duration_sum_ms[24] FROM cronmon.cron_stats_window
             WHERE cron_name = 'extreme' AND day = (now() AT TIME ZONE 'UTC')::date",
        )
        .fetch_all(pg)
        .await
        .unwrap();
        assert_eq!(sums, [1e308]);
        let after = store.stats(24).await.unwrap();
        let folded_extreme = after.iter().find(|c| c.cron_name == "extreme").unwrap();
        assert_eq!(folded_extreme, extreme);
        every_read_answers(&store, &[s.id]).await;

        // A count at BIGINT's edge overflows the fold's plain addition (migration 0014): the
        // fold is undone and done again with the saturating one, and the count stays there.
        let bucket: DateTime<Utc> = sqlx::query_scalar(
            "UPDATE cronmon.cron_stats_hourly SET started = 9223372036854775807
             WHERE cron_name = 'extreme' RETURNING bucket",
        )
        .fetch_one(pg)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO cronmon.cron_rollup_pending
                 (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
             VALUES ('extreme', $1, 1, 0, 0, 0, 0)",
        )
        .bind(bucket)
        .execute(pg)
        .await
        .unwrap();
        let folded: i64 = sqlx::query_scalar("SELECT cronmon.cron_rollup_fold()")
            .fetch_one(pg)
            .await
            .unwrap();
        assert!(folded >= 1);
        let started: i64 = sqlx::query_scalar(
            "SELECT started FROM cronmon.cron_stats_hourly
             WHERE cron_name = 'extreme' AND bucket = $1",
        )
        .bind(bucket)
        .fetch_one(pg)
        .await
        .unwrap();
        assert_eq!(started, i64::MAX);
        every_read_answers(&store, &[s.id]).await;
    }

    // Deleting them all keeps every read answering too (the roll-ups follow deletions).
    raw_sql!(raw, "DELETE FROM {s}cron_executions");
    every_read_answers(&store, &[]).await;
    store.cleanup(Duration::ZERO, 100).await.unwrap();
}

crate::on_both_test_dbs!(mods raw_sqlite, raw_postgres; extreme_rows_never_break_reads);

on_both_databases!(
    store_refuses_out_of_bounds_values,
    api_answers_422_naming_the_field,
);

// ---------------------------------------------------------------------------------------------
// Truncation and scrubbing in core: the same bytes stored whatever the destination.

use crate::common::Recording as Setup;

async fn huge_output_and_error_with_nul_are_stored_cut_and_scrubbed(s: &Setup) {
    let two_mib = 2 * 1024 * 1024;
    let mut text = "é\0".repeat(two_mib / 3);
    text.push_str("end");
    let run = CronRun::start(&s.monitor, "huge");
    let id = run.id();
    run.set_output(json!({"log": text, "nul\0key": [1, "\0"]}));
    run.fail(format!("boom\0{}", "x".repeat(two_mib)), Some(3));
    s.flush().await;

    let e = s.dest.db.store.execution(id).await.unwrap().unwrap();
    assert_eq!(e.status, Status::Failed);
    assert!(e.output_truncated);
    let output = e.output.unwrap();
    let written = output.to_string();
    assert!(written.len() <= limits::MAX_TEXT_BYTES, "{}", written.len());
    assert!(
        written.len() > limits::MAX_TEXT_BYTES - 64,
        "{}",
        written.len()
    );
    assert!(!written.contains('\0') && !written.contains("\\u0000"));
    assert!(output.as_str().unwrap().contains('\u{FFFD}'));
    let error = e.error_message.unwrap();
    assert!(error.len() <= limits::MAX_TEXT_BYTES, "{}", error.len());
    assert!(error.starts_with("boom\u{FFFD}x"), "{}", &error[..20]);
    assert!(!error.contains('\0'));
    assert_eq!(s.monitor.stats().dropped, 0);
    assert_eq!(s.monitor.stats().dead_lettered, 0);
}

on_all_destinations!(huge_output_and_error_with_nul_are_stored_cut_and_scrubbed);
