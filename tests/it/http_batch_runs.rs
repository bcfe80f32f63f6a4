//! Batch runs over HTTP, on real SQLite and real PostgreSQL: start, advance and complete (and
//! their retries, 404, 409, 422), the history (filters, keyset cursor, CSV), the `batch` item of
//! the events endpoint, `GET /cron-executions/batches` and `/metrics` with a recorded kind next
//! to a SQL source kind, the unified view; the standalone server closing silent runs; the bash
//! client (`scripts/cron-logger.sh`) in real bash and curl.

use std::collections::HashSet;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use cronmon::batch::SqlBatchSource;
use cronmon::http::{Api, Config};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::batches::{FIGURES_SQL, kb_documents};
use crate::common::http::{app, assert_error, call, get, get_text, post};
use crate::common::server::Running;
use crate::common::{SECRET, TestDb};

crate::on_both_test_dbs!(
    start_advance_complete_and_their_retries,
    bad_input_is_refused_naming_the_field,
    the_history_filters_and_pages_by_cursor,
    the_csv_export_streams_every_matching_run,
    the_events_endpoint_takes_batch_items,
    batches_and_metrics_show_recorded_and_source_kinds,
    the_server_closes_silent_batch_runs,
);

fn id_of(body: &Value) -> String {
    body["batchRunId"]
        .as_str()
        .unwrap_or_else(|| panic!("no batchRunId in {body}"))
        .to_owned()
}

async fn run_of(app: &Router, id: &str) -> Value {
    let (s, b) = get(app, &format!("/batch-runs/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["batchRun"].clone()
}

async fn start_advance_complete_and_their_retries(db: &TestDb) {
    let app = app(db.store.clone());
    // The server makes the id when none is sent: a UUIDv7.
    let (s, b) = post(
        &app,
        "/batch-runs/start",
        json!({"batchKind": "kbIndexation", "total": 245, "host": "web-1"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["success"], true);
    assert_eq!(b["batchKind"], "kbIndexation");
    let id = id_of(&b);
    assert_eq!(Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    let started_at = b["startedAt"].as_str().unwrap().to_owned();

    // A start repeated with its id answers 200 and the run as stored.
    let again = json!({"batchKind": "kbIndexation", "batchRunId": id});
    let (s, b) = post(&app, "/batch-runs/start", again).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["startedAt"], started_at.as_str());

    // Counts so far: a retry changes nothing, an older report arriving late lowers nothing.
    let advance = format!("/batch-runs/{id}/advance");
    for _ in 0..2 {
        let (s, b) = post(&app, &advance, json!({"done": 120, "failed": 3})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            b,
            json!({"success": true, "batchRunId": id, "outcome": "recorded"})
        );
    }
    post(&app, &advance, json!({"done": 50, "failed": 1})).await;
    let run = run_of(&app, &id).await;
    assert_eq!(
        (&run["done"], &run["failed"], &run["total"]),
        (&json!(120), &json!(3), &json!(245)),
        "{run}"
    );
    assert_eq!(run["status"], "running");
    assert_eq!(run["host"], "web-1");
    assert!(run["lastProgressAt"].is_string(), "{run}");

    // The end, its retry, and the other end.
    let complete = format!("/batch-runs/{id}/complete");
    let (s, b) = post(&app, &complete, json!({"done": 242, "failed": 3})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b,
        json!({"success": true, "batchRunId": id, "status": "completed", "outcome": "recorded"})
    );
    let (s, b) = post(&app, &complete, json!({"status": "completed"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["outcome"], "already_recorded");
    let (s, b) = post(
        &app,
        &complete,
        json!({"status": "failed", "errorMessage": "late"}),
    )
    .await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    // Progress after the end: the end stands.
    let (s, b) = post(&app, &advance, json!({"done": 244})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["outcome"], "already_recorded");
    let run = run_of(&app, &id).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["done"], 242);
    assert!(
        run["completedAt"].is_string() && run["durationMs"].is_i64(),
        "{run}"
    );

    // Unknown runs: 404 without a kind; with one, the report stores the run (its start was
    // lost), and an empty body completes it.
    let unknown = Uuid::now_v7();
    for path in ["advance", "complete"] {
        let (s, b) = post(
            &app,
            &format!("/batch-runs/{unknown}/{path}"),
            json!({"done": 1}),
        )
        .await;
        assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    }
    let (s, b) = get(&app, &format!("/batch-runs/{unknown}")).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let lost = Uuid::now_v7();
    let started = (Utc::now() - TimeDelta::minutes(5)).to_rfc3339();
    let (s, b) = post(
        &app,
        &format!("/batch-runs/{lost}/advance"),
        json!({"done": 7, "total": 10, "batchKind": "webCrawl", "startedAt": started}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _, text) = call(
        &app,
        "POST",
        &format!("/batch-runs/{lost}/complete"),
        None,
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let run = run_of(&app, &lost.to_string()).await;
    assert_eq!(
        (&run["kind"], &run["status"], &run["done"], &run["total"]),
        (
            &json!("webCrawl"),
            &json!("completed"),
            &json!(7),
            &json!(10)
        )
    );
    let stored_start = DateTime::parse_from_rfc3339(run["startedAt"].as_str().unwrap()).unwrap();
    assert!(Utc::now() - stored_start.with_timezone(&Utc) >= TimeDelta::minutes(5));

    // A failed run keeps its message.
    let (_, b) = post(&app, "/batch-runs/start", json!({"batchKind": "webCrawl"})).await;
    let failed = id_of(&b);
    let (s, b) = post(
        &app,
        &format!("/batch-runs/{failed}/complete"),
        json!({"status": "failed", "errorMessage": "the index is locked", "done": 2, "failed": 1}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "failed");
    let run = run_of(&app, &failed).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["errorMessage"], "the index is locked");
}

async fn bad_input_is_refused_naming_the_field(db: &TestDb) {
    let app = app(db.store.clone());
    let (_, b) = post(&app, "/batch-runs/start", json!({"batchKind": "crawl"})).await;
    let id = id_of(&b);
    let field = |b: &Value| b["error"]["field"].as_str().unwrap_or_default().to_owned();

    let (s, b) = post(&app, "/batch-runs/start", json!({"batchKind": "a b"})).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(field(&b), "batchKind");
    // The same id for another kind.
    let (s, b) = post(
        &app,
        "/batch-runs/start",
        json!({"batchKind": "other", "batchRunId": id}),
    )
    .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(field(&b), "batchKind");
    let (s, b) = post(
        &app,
        &format!("/batch-runs/{id}/advance"),
        json!({"done": 1, "batchKind": "other"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "batchKind");
    let (s, b) = post(
        &app,
        "/batch-runs/start",
        json!({"batchKind": "crawl", "total": -1}),
    )
    .await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "total".into()),
        "{b}"
    );
    let (s, b) = post(
        &app,
        "/batch-runs/start",
        json!({"batchKind": "crawl", "startedAt": "2099-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "startedAt".into()),
        "{b}"
    );
    let advance = format!("/batch-runs/{id}/advance");
    let (s, b) = post(&app, &advance, json!({"done": -1})).await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "done".into()),
        "{b}"
    );
    let (s, b) = post(&app, &advance, json!({"done": 1, "failed": -4})).await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "failed".into()),
        "{b}"
    );
    let (s, b) = post(&app, &advance, json!({"done": "many"})).await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::BAD_REQUEST, "done".into()),
        "{b}"
    );
    let (s, b) = post(&app, &advance, json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a count is required: {b}");
    let complete = format!("/batch-runs/{id}/complete");
    for status in ["running", "bogus"] {
        let (s, b) = post(&app, &complete, json!({"status": status})).await;
        assert_eq!(
            (s, field(&b)),
            (StatusCode::BAD_REQUEST, "status".into()),
            "{b}"
        );
    }
    // Garbage JSON, a bad id in the path.
    let garbage = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/api/admin{advance}"))
        .header("x-cron-secret", SECRET)
        .body(axum::body::Body::from("{\"done\": 1,"))
        .unwrap();
    let (s, b) = crate::common::http::send(&app, garbage).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    for path in [
        "/batch-runs/not-a-uuid/advance",
        "/batch-runs/not-a-uuid/complete",
    ] {
        let (s, b) = post(&app, path, json!({"done": 1})).await;
        assert_eq!(
            (s, field(&b)),
            (StatusCode::BAD_REQUEST, "id".into()),
            "{b}"
        );
    }
    let (s, b) = get(&app, "/batch-runs/not-a-uuid").await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::BAD_REQUEST, "id".into()),
        "{b}"
    );
    // Nothing refused was stored.
    let (_, b) = get(&app, "/batch-runs").await;
    assert_eq!(b["batchRuns"].as_array().unwrap().len(), 1, "{b}");
    let run = run_of(&app, &id).await;
    assert_eq!((&run["kind"], &run["done"]), (&json!("crawl"), &json!(0)));
}

/// A batch run reported whole through the events endpoint, at a time of the test's choosing.
fn item(kind: &str, status: &str, started_at: DateTime<Utc>, error: Option<&str>) -> Value {
    json!({"kind": "batch", "batchRunId": Uuid::now_v7(), "batchKind": kind, "status": status,
           "startedAt": started_at, "at": started_at + TimeDelta::seconds(30),
           "total": 10, "done": 6, "failed": 1, "errorMessage": error})
}

async fn record(app: &Router, items: Vec<Value>) {
    let (s, b) = post(app, "/cron-executions/events", Value::Array(items)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for r in b["results"].as_array().unwrap() {
        assert!(r["status"] == 201 || r["status"] == 200, "{b}");
    }
}

async fn the_history_filters_and_pages_by_cursor(db: &TestDb) {
    let app = app(db.store.clone());
    let base = Utc::now() - TimeDelta::days(3);
    let mut items = Vec::new();
    for i in 0..7 {
        // Two runs at each time: the id breaks the tie.
        let at = base + TimeDelta::minutes(i / 2);
        items.push(item("crawl", "completed", at, None));
    }
    for i in 0..3 {
        items.push(item(
            "index",
            "failed",
            base + TimeDelta::hours(i),
            Some("boom"),
        ));
    }
    items.push(item("index", "running", Utc::now(), None));
    record(&app, items).await;

    // Paged two at a time: every run once, newest first, the cursor to the end.
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &before {
            Some(c) => format!("/batch-runs?limit=2&before={c}"),
            None => "/batch-runs?limit=2".to_owned(),
        };
        let (s, b) = get(&app, &path).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        pages += 1;
        let runs = b["batchRuns"].as_array().unwrap();
        assert!(runs.len() <= 2);
        seen.extend(runs.iter().map(|r| {
            (
                DateTime::parse_from_rfc3339(r["startedAt"].as_str().unwrap()).unwrap(),
                r["id"].as_str().unwrap().to_owned(),
            )
        }));
        match b["nextBefore"].as_str() {
            Some(c) => before = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 20, "the cursor moves on");
    }
    assert_eq!(seen.len(), 11);
    let unique: HashSet<_> = seen.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(unique.len(), 11, "no run twice");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, then by id");

    let count = |b: &Value| b["batchRuns"].as_array().unwrap().len();
    let (_, b) = get(&app, "/batch-runs?kind=index").await;
    assert_eq!(count(&b), 4);
    let (_, b) = get(&app, "/batch-runs?kind=index&status=failed").await;
    assert_eq!(count(&b), 3);
    assert!(b["nextBefore"].is_null(), "{b}");
    assert_eq!(b["batchRuns"][0]["errorMessage"], "boom");
    let (_, b) = get(&app, "/batch-runs?status=running").await;
    assert_eq!(count(&b), 1);
    let from = (base + TimeDelta::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (base + TimeDelta::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, b) = get(&app, &format!("/batch-runs?from={from}&to={to}")).await;
    // crawl runs at +2 min (2) and +3 min (1); index at +0 h is before `from`.
    assert_eq!(count(&b), 3, "{b}");
    let (_, b) = get(&app, "/batch-runs?kind=nothing").await;
    assert_eq!(count(&b), 0);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("status=done", "status"),
        ("kind=a%20b", "kind"),
        ("from=yesterday", "from"),
        ("before=garbage", "before"),
        (
            "before=1.000000000.0195f1d2-0000-7000-8000-000000000000",
            "before",
        ),
    ] {
        let (s, b) = get(&app, &format!("/batch-runs?{query}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {b}");
        assert_eq!(b["error"]["field"], field, "{query}: {b}");
    }
}

async fn the_csv_export_streams_every_matching_run(db: &TestDb) {
    let app = app(db.store.clone());
    // More than one page of the store (200 rows a page).
    let base = Utc::now() - TimeDelta::hours(5);
    let items: Vec<Value> = (0..450)
        .map(|i| {
            item(
                "crawl",
                "completed",
                base + TimeDelta::seconds(i % 97),
                None,
            )
        })
        .collect();
    record(&app, items).await;
    record(
        &app,
        vec![item(
            "index",
            "failed",
            Utc::now() - TimeDelta::minutes(1),
            Some("=HYPERLINK(\"http://evil\")"),
        )],
    )
    .await;

    let (s, headers, text) = get_text(&app, "/batch-runs/export.csv").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("batch-runs.csv")
    );
    let mut rows = crate::http_export::parse_csv(&text);
    let head = rows.remove(0);
    assert_eq!(
        head,
        [
            "id",
            "kind",
            "status",
            "total",
            "done",
            "failed",
            "started_at",
            "completed_at",
            "duration_ms",
            "last_progress_at",
            "host",
            "error_message"
        ]
    );
    assert_eq!(rows.len(), 451);
    let ids: HashSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids.len(), 451, "every run once across the pages");
    // Newest first: the failed index run; its message cannot run as a formula.
    assert_eq!(rows[0][1], "index");
    assert_eq!(rows[0][2], "failed");
    assert_eq!(rows[0][11], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(rows[0][3..6], ["10", "6", "1"]);

    let (_, _, text) = get_text(&app, "/batch-runs/export.csv?kind=index&status=failed").await;
    assert_eq!(text.lines().count(), 2, "{text}");
    let (s, _, text) = get_text(&app, "/batch-runs/export.csv?status=nope").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{text}");
}

async fn the_events_endpoint_takes_batch_items(db: &TestDb) {
    let app = app(db.store.clone());
    let id = Uuid::now_v7();
    let started = Utc::now() - TimeDelta::minutes(2);
    let report = |status: &str, done: i64| {
        json!({"kind": "batch", "batchRunId": id, "batchKind": "qualityAnalysis",
               "status": status, "startedAt": started, "total": 40, "done": done, "failed": 0})
    };
    let batch = json!([
        report("running", 0),
        report("running", 25),
        report("completed", 40),
        report("completed", 40),
        report("failed", 40),
        {"kind": "batch", "batchRunId": Uuid::now_v7(), "batchKind": "bad kind", "status": "running",
         "startedAt": started},
        {"kind": "batch", "batchRunId": Uuid::now_v7(), "batchKind": "x", "status": "sleeping",
         "startedAt": started},
    ]);
    let (s, b) = post(&app, "/cron-executions/events", batch).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let statuses: Vec<u64> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 409, 422, 400], "{b}");
    assert_eq!(b["results"][3]["outcome"], "already_recorded");
    let run = run_of(&app, &id.to_string()).await;
    assert_eq!(
        (&run["status"], &run["done"], &run["kind"]),
        (&json!("completed"), &json!(40), &json!("qualityAnalysis"))
    );
}

/// Rows of the unified view that a source reported for `kind`, with their `pending`.
async fn reported_in_view(db: &TestDb, kind: &str) -> Vec<Option<i64>> {
    if db.url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
        let rows = sqlx::query_scalar(
            "SELECT pending FROM vw_batch_executions_unified WHERE source = 'report' AND batch_type = ?",
        )
        .bind(kind)
        .fetch_all(&pool)
        .await
        .expect("view");
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("postgres");
        let rows = sqlx::query_scalar(
            "SELECT pending::bigint FROM cronmon.vw_batch_executions_unified WHERE source = 'report' AND batch_type = $1",
        )
        .bind(kind)
        .fetch_all(&pool)
        .await
        .expect("view");
        pool.close().await;
        rows
    }
}

async fn batches_and_metrics_show_recorded_and_source_kinds(db: &TestDb) {
    kb_documents(db).await;
    db.execute("CREATE TABLE crawl_pages (status TEXT)").await;
    let kb = SqlBatchSource::new(db.store.clone(), FIGURES_SQL)
        .await
        .expect("source");
    let crawl = SqlBatchSource::new(
        db.store.clone(),
        "SELECT count(*) AS pending, 0 AS processing, 0 AS completed_today, 0 AS failed_today FROM crawl_pages",
    )
    .await
    .expect("source");
    // The application drops the table: that source now fails.
    db.execute("DROP TABLE crawl_pages").await;
    let api = Api::new(db.store.clone(), Config::new(SECRET))
        .batch_source("kbIndexation", kb)
        .and_then(|a| a.batch_source("webCrawl", crawl))
        .expect("kinds");
    let app = Router::new().nest("/api/admin", cronmon::http::router(api));

    // A kind recorded through cronmon only, with a run going on.
    let (_, b) = post(
        &app,
        "/batch-runs/start",
        json!({"batchKind": "qualityAnalysis", "total": 40, "host": "worker-2"}),
    )
    .await;
    let running = id_of(&b);
    let (s, b) = post(
        &app,
        &format!("/batch-runs/{running}/advance"),
        json!({"done": 12, "failed": 2}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let (s, b) = get(&app, "/cron-executions/batches").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let batches = &b["batches"];
    let kb = &batches["kbIndexation"];
    assert_eq!(
        (
            &kb["pending"],
            &kb["processing"],
            &kb["completedToday"],
            &kb["failedToday"]
        ),
        (&json!(245), &json!(2), &json!(128), &json!(3)),
        "{b}"
    );
    assert_eq!(kb["figuresFrom"], "source");
    let qa = &batches["qualityAnalysis"];
    assert_eq!(qa["figuresFrom"], "runs", "{b}");
    assert_eq!(qa["runningCount"], 1);
    assert_eq!(qa["processing"], 1);
    assert_eq!(qa["pending"], 26, "items left in the running run");
    let run = &qa["running"][0];
    assert_eq!(run["id"], running.as_str());
    assert_eq!(
        (&run["done"], &run["failed"], &run["total"], &run["host"]),
        (&json!(12), &json!(2), &json!(40), &json!("worker-2"))
    );
    assert!(batches["webCrawl"]["error"].is_string(), "{b}");

    // What the sources said is stored after the answer, for psql's view.
    let mut reported = Vec::new();
    for _ in 0..100 {
        reported = reported_in_view(db, "kbIndexation").await;
        if !reported.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        reported,
        [Some(245)],
        "the source's row in vw_batch_executions_unified"
    );

    let (s, _, text) = get_text(&app, "/metrics").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    for line in [
        "# TYPE cronmon_batch_pending gauge",
        "cronmon_batch_pending{kind=\"kbIndexation\"} 245",
        "cronmon_batch_pending{kind=\"qualityAnalysis\"} 26",
        "cronmon_batch_processing{kind=\"kbIndexation\"} 2",
        "cronmon_batch_completed_today{kind=\"kbIndexation\"} 128",
        "cronmon_batch_failed_today{kind=\"kbIndexation\"} 3",
        "cronmon_batch_running_runs{kind=\"qualityAnalysis\"} 1",
        "cronmon_batch_source_up{kind=\"kbIndexation\"} 1",
        "cronmon_batch_source_up{kind=\"webCrawl\"} 0",
        "# HELP cronmon_batch_throughput_per_min ",
    ] {
        assert!(
            text.lines()
                .any(|l| l == line || (line.ends_with(' ') && l.starts_with(line))),
            "{line} in\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("cronmon_batch_throughput_per_min{kind=\"qualityAnalysis\"} ")),
        "{text}"
    );
    // A kind without a source has no source gauge; a failed source has no figures.
    assert!(!text.contains("cronmon_batch_source_up{kind=\"qualityAnalysis\"}"));
    assert!(!text.contains("cronmon_batch_pending{kind=\"webCrawl\"}"));
}

async fn the_server_closes_silent_batch_runs(db: &TestDb) {
    let server = Running::start(&db.url, |c| {
        c.sweep_every = Duration::from_millis(100);
        c.batch_stale_after = Duration::from_secs(3600);
    })
    .await;
    let (silent, fresh) = (Uuid::now_v7(), Uuid::now_v7());
    let two_hours_ago = Utc::now() - TimeDelta::hours(2);
    let (s, b) = crate::common::http::post_url(
        &server.base,
        "/cron-executions/events",
        json!([
            {"kind": "batch", "batchRunId": silent, "batchKind": "crawl", "status": "running",
             "startedAt": two_hours_ago, "at": two_hours_ago, "done": 3},
            {"kind": "batch", "batchRunId": fresh, "batchKind": "crawl", "status": "running",
             "startedAt": two_hours_ago, "done": 3},
        ]),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let mut closed = None;
    for _ in 0..100 {
        let run = db.store.batch_run(silent).await.unwrap().expect("stored");
        if run.status != cronmon::Status::Running {
            closed = Some(run);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed = closed.expect("the sweep closed the silent run");
    assert_eq!(closed.status, cronmon::Status::Failed);
    assert_eq!(closed.error_message.as_deref(), Some("no report for 1h"));
    // A run that reported recently is left running.
    let fresh = db.store.batch_run(fresh).await.unwrap().expect("stored");
    assert_eq!(fresh.status, cronmon::Status::Running);
    server.stop().await;
}

/// The bash client: `cron_batch_start`, `cron_batch_advance`, `cron_batch_complete` from real
/// bash with curl; a monitor that is down fails nothing, and a run whose start was lost is
/// stored from its next report.
#[tokio::test]
async fn the_bash_client_reports_batch_runs() {
    let db = TestDb::sqlite().await;
    let server = Running::start(&db.url, |_| {}).await;
    let root = server.base.trim_end_matches("/api/admin").to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cron-logger.sh");
    let tmp = std::env::temp_dir().join(format!("cronmon-batch-sh-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            r#"set -euo pipefail
source '{script}'
id=$(cron_batch_start kbIndexation 245)
echo "ok=$id"
cron_batch_advance "$id" 100 2
cron_batch_advance "$id" 100 2
cron_batch_advance "$id" 240 5
cron_batch_complete "$id"
bad=$(cron_batch_start webCrawl)
cron_batch_advance "$bad" 3
cron_batch_complete "$bad" failed 'proxy "down"
again'
lost=$(CRON_API_BASE=http://127.0.0.1:9 cron_batch_start qualityAnalysis 10)
echo "lost=$lost"
cron_batch_advance "$lost" 4 1
cron_batch_advance "$lost" many
cron_batch_advance not-an-id 1
CRON_API_BASE=http://127.0.0.1:9 cron_batch_complete "$lost"
echo done"#
        ))
        .env("CRON_API_BASE", &root)
        .env("CRON_SECRET", SECRET)
        .env("TMPDIR", &tmp)
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.trim_end().ends_with("done"), "{stdout}");
    assert!(
        stderr.contains("[CRON WARN] monitor unreachable"),
        "{stderr}"
    );
    assert!(stderr.contains("not a count"), "{stderr}");
    assert!(stderr.contains("needs the id"), "{stderr}");
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{prefix} in {stdout}"))
            .to_owned()
    };
    let ok = line("ok=");
    let (s, b) = crate::common::http::get_url(&server.base, &format!("/batch-runs/{ok}")).await;
    assert_eq!(s, 200, "{b}");
    let run = &b["batchRun"];
    assert_eq!(
        (
            &run["kind"],
            &run["status"],
            &run["done"],
            &run["failed"],
            &run["total"]
        ),
        (
            &json!("kbIndexation"),
            &json!("completed"),
            &json!(240),
            &json!(5),
            &json!(245)
        )
    );
    assert!(run["host"].is_string());
    let (_, b) = crate::common::http::get_url(&server.base, "/batch-runs?kind=webCrawl").await;
    let run = &b["batchRuns"][0];
    assert_eq!(run["status"], "failed", "{b}");
    assert_eq!(run["done"], 3);
    assert_eq!(run["errorMessage"], "proxy \"down\"\nagain");
    // Its start never arrived; its progress carried the kind and start: stored, still running
    // (its completion was lost too).
    let lost = line("lost=");
    let (s, b) = crate::common::http::get_url(&server.base, &format!("/batch-runs/{lost}")).await;
    assert_eq!(s, 200, "{b}");
    let run = &b["batchRun"];
    assert_eq!(
        (&run["kind"], &run["status"], &run["done"], &run["failed"]),
        (
            &json!("qualityAnalysis"),
            &json!("running"),
            &json!(4),
            &json!(1)
        )
    );
    // The ended runs' state files are gone.
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&tmp);
    server.stop().await;
    db.finish().await;
}

/// `--batch-stale-after` of the server program: a humantime duration of 1 minute to 366 days;
/// anything else stops it at start, naming the flag.
#[tokio::test]
async fn the_server_refuses_a_batch_stale_after_out_of_range() {
    for bad in ["10s", "400d", "soon"] {
        let out = tokio::process::Command::new(crate::common::server_binary())
            .args(["--batch-stale-after", bad, "--bind", "127.0.0.1:0"])
            .env("CRONMON_URL", "sqlite::memory:")
            .env("CRON_SECRET", SECRET)
            .output()
            .await
            .expect("server runs");
        assert!(!out.status.success(), "{bad} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--batch-stale-after"), "{bad}: {stderr}");
    }
}
