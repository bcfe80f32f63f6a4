//! Schedule health over HTTP, through the router, on real SQLite and real PostgreSQL: pauses,
//! a missed slot judged by the sweeper (run against the same store with a clock of the test's
//! own) showing up as a run, an incident, an incident event, a state and metrics; maintenance
//! windows; the sweeper in `/health` and `/metrics`; the server's `--settle` flag.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use cronmon::health::{SweepConfig, Sweeper};
use cronmon::store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::http::{app, assert_error, get, get_json, get_text, post, put, req, send};

/// A sweep at `now` against `store`, as the server's loop runs it.
async fn sweep(store: &Arc<dyn Store>, now: DateTime<Utc>) -> cronmon::health::SweepReport {
    Sweeper::new(store.clone(), SweepConfig::default())
        .with_instance("test")
        .sweep(now)
        .await
        .expect("sweep")
}

/// The row of `cron` in `GET /cron-schedules`.
async fn schedule(app: &Router, cron: &str) -> Value {
    let all = get_json(app, "/cron-schedules").await;
    all["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["cron_name"] == cron)
        .unwrap_or_else(|| panic!("{cron} in {all}"))
        .clone()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// The value of the sample `name{labels}` (labels as written, `""` for none), if present.
fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    let key = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    let found: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&key))
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(found.len() <= 1, "{name}{{{labels}}} twice in\n{text}");
    found.first().copied()
}

async fn pause_and_resume(store: Arc<dyn Store>) {
    let app = app(store);
    let (s, b) = put(
        &app,
        "/cron-schedules/nightly",
        json!({"cronExpression": "0 3 * * *"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["schedule"]["state"], "new");
    assert!(b["schedule"]["paused_at"].is_null());

    // No body: paused until resumed.
    let (s, b) = send(&app, req("POST", "/cron-schedules/nightly/pause", None)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["success"], true);
    assert_eq!(b["schedule"]["cron_name"], "nightly");
    assert_eq!(b["schedule"]["state"], "paused");
    assert!(b["schedule"]["paused_at"].is_string(), "{b}");
    assert!(b["schedule"]["paused_until"].is_null(), "{b}");
    assert_eq!(schedule(&app, "nightly").await["state"], "paused");

    // With an end: the pause is replaced.
    let until = (Utc::now() + TimeDelta::hours(2))
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap();
    let (s, b) = post(
        &app,
        "/cron-schedules/nightly/pause",
        json!({"until": until.to_rfc3339()}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(time(&b["schedule"]["paused_until"]), until);
    assert_eq!(b["schedule"]["state"], "paused");

    // An end in the past or more than 366 days ahead: 422 naming `until`; not a time: 400.
    for bad in [
        Utc::now() - TimeDelta::hours(1),
        Utc::now() + TimeDelta::days(400),
    ] {
        let (s, b) = post(
            &app,
            "/cron-schedules/nightly/pause",
            json!({"until": bad.to_rfc3339()}),
        )
        .await;
        assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(b["error"]["field"], "until", "{b}");
    }
    let (s, b) = post(
        &app,
        "/cron-schedules/nightly/pause",
        json!({"until": "tomorrow"}),
    )
    .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(b["error"]["field"], "until", "{b}");
    // The refused pauses changed nothing.
    assert_eq!(
        time(&schedule(&app, "nightly").await["paused_until"]),
        until
    );

    // Unknown crons: 404; a name that is not one: 422.
    for path in [
        "/cron-schedules/unknown/pause",
        "/cron-schedules/unknown/resume",
    ] {
        let (s, b) = send(&app, req("POST", path, None)).await;
        assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    }
    let (s, b) = send(&app, req("POST", "/cron-schedules/%20x/pause", None)).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(b["error"]["field"], "name");

    let (s, b) = send(&app, req("POST", "/cron-schedules/nightly/resume", None)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["schedule"]["state"], "new");
    assert!(b["schedule"]["paused_at"].is_null(), "{b}");
    assert!(b["schedule"]["paused_until"].is_null(), "{b}");
    // Resuming a cron that is not paused changes nothing.
    let (s, again) = send(&app, req("POST", "/cron-schedules/nightly/resume", None)).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["schedule"]["state"], "new");
    assert_eq!(
        again["schedule"]["next_deadline_at"],
        b["schedule"]["next_deadline_at"]
    );
}

/// A cron due every minute with no grace, judged three and a half minutes on: its slots are
/// `missed` runs, an incident opens (threshold 1), the event is there to notify from, the
/// cron is `late`, and `/metrics` says so; a success then resolves the incident.
async fn missed_slots_open_an_incident(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let (s, b) = put(
        &app,
        "/cron-schedules/every-minute",
        json!({"cronExpression": "* * * * *", "graceMs": 0, "failureThreshold": 1}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    put(&app, "/cron-schedules/other", json!({})).await;
    // Half a minute off the slots, so no start or sweep falls on one.
    let at =
        Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap() + TimeDelta::seconds(3 * 60 + 30);
    let report = sweep(&store, at).await;
    assert!(report.missed >= 3, "{report:?}");
    assert_eq!(report.opened, 1, "{report:?}");

    // The missed slots are runs.
    let list = get_json(&app, "/cron-executions/list?cronName=every-minute").await;
    let runs = list["executions"].as_array().unwrap();
    assert_eq!(runs.len(), report.missed, "{list}");
    for r in runs {
        assert_eq!(r["status"], "failed", "{r}");
        assert_eq!(r["reason"], "missed", "{r}");
        assert_eq!(r["scheduled_for"], r["started_at"], "{r}");
        assert!(time(&r["scheduled_for"]) <= at);
    }
    assert_eq!(time(&runs[0]["scheduled_for"]), at - TimeDelta::seconds(30));
    // Up to the end of the last day a bound can name (a five-digit year on SQLite, once).
    let all = get_json(
        &app,
        "/cron-executions/list?cronName=every-minute&to=9999-12-31",
    )
    .await;
    assert_eq!(all["executions"], list["executions"]);

    // An open incident, with every filter.
    let incidents = get_json(&app, "/incidents").await;
    assert_eq!(incidents["success"], true);
    assert_eq!(incidents["pagination"]["total"], 1, "{incidents}");
    let incident = incidents["incidents"][0].clone();
    assert_eq!(incident["cron_name"], "every-minute");
    assert_eq!(incident["kind"], "missed");
    assert!(incident["resolved_at"].is_null());
    let id = incident["id"].as_str().unwrap().to_owned();
    for (query, n) in [
        ("?state=open", 1),
        ("?state=resolved", 0),
        ("?state=all", 1),
        ("?cronName=every-minute", 1),
        ("?cronName=other", 0),
        ("?cronName=every-minute&state=open&limit=1&page=1", 1),
        ("?from=2000-01-01&to=9999-12-31", 1),
        ("?to=2000-01-01", 0),
    ] {
        let found = get_json(&app, &format!("/incidents{query}")).await;
        assert_eq!(
            found["incidents"].as_array().unwrap().len(),
            n,
            "{query}: {found}"
        );
    }
    for (query, field) in [
        ("?state=closed", "state"),
        ("?from=yesterday", "from"),
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?page=0", "page"),
        ("?cronName=a%00b", "cronName"),
    ] {
        let (s, b) = get(&app, &format!("/incidents{query}")).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query");
        assert_eq!(b["error"]["field"], field, "{query}");
    }
    let one = get_json(&app, &format!("/incidents/{id}")).await;
    assert_eq!(one["incident"], incident);
    let (s, b) = get(&app, &format!("/incidents/{}", Uuid::now_v7())).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = get(&app, "/incidents/nope").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_path");

    // The opening, to notify from; nothing after it yet.
    let events = get_json(&app, "/incident-events").await;
    let events = events["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "opened");
    assert_eq!(events[0]["incident_id"], id.as_str());
    assert_eq!(events[0]["cron_name"], "every-minute");
    let last = events[0]["id"].as_i64().unwrap();
    let after = get_json(&app, &format!("/incident-events?after={last}&limit=1000")).await;
    assert_eq!(after["events"], json!([]));
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?after=-1", "after"),
        ("?after=x", "after"),
    ] {
        let (s, b) = get(&app, &format!("/incident-events{query}")).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query");
        assert_eq!(b["error"]["field"], field, "{query}");
    }

    // The cron's state and its open incident.
    let row = schedule(&app, "every-minute").await;
    assert_eq!(row["state"], "late", "{row}");
    assert_eq!(row["open_incident"]["id"], id.as_str(), "{row}");
    assert_eq!(row["open_incident"]["kind"], "missed");
    assert_eq!(schedule(&app, "other").await["state"], "new");

    // The same in /metrics.
    let (s, _, text) = get_text(&app, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    for state in cronmon::health::CronState::ALL {
        let want = if state.as_str() == "late" { 1.0 } else { 0.0 };
        let labels = format!("cron=\"every-minute\",state=\"{state}\"");
        assert_eq!(
            metric(&text, "cronmon_cron_state", &labels),
            Some(want),
            "{labels}\n{text}"
        );
    }
    assert_eq!(
        metric(&text, "cronmon_cron_state", "cron=\"other\",state=\"new\""),
        Some(1.0)
    );
    let since = metric(
        &text,
        "cronmon_cron_state_since_seconds",
        "cron=\"every-minute\"",
    )
    .expect("state since");
    assert_eq!(
        since,
        time(&row["state_since"]).timestamp_millis() as f64 / 1000.0
    );
    assert_eq!(metric(&text, "cronmon_incidents_open", ""), Some(1.0));
    assert_eq!(
        metric(&text, "cronmon_sweeper_last_beat_timestamp_seconds", ""),
        Some(at.timestamp() as f64)
    );
    assert_eq!(metric(&text, "cronmon_sweeper_up", ""), Some(1.0));

    // A run that completes after the missed slots resolves it (recovery threshold 1).
    let started = at - TimeDelta::seconds(10);
    let (s, b) = post(
        &app,
        "/cron-executions/start",
        json!({"cronName": "every-minute", "startedAt": started}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": b["executionId"], "status": "completed",
               "completedAt": started + TimeDelta::seconds(1), "durationMs": 1000}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let report = sweep(&store, at).await;
    assert_eq!(report.resolved, 1, "{report:?}");
    let resolved = get_json(&app, "/incidents?state=resolved").await;
    assert_eq!(resolved["incidents"][0]["id"], id.as_str(), "{resolved}");
    assert!(resolved["incidents"][0]["resolved_at"].is_string());
    assert_eq!(
        get_json(&app, "/incidents?state=open").await["pagination"]["total"],
        0
    );
    let events = get_json(&app, &format!("/incident-events?after={last}")).await;
    assert_eq!(events["events"][0]["kind"], "resolved", "{events}");
    assert_eq!(events["events"][0]["incident_id"], id.as_str());
    let (_, _, text) = get_text(&app, "/metrics").await;
    assert_eq!(metric(&text, "cronmon_incidents_open", ""), Some(0.0));
}

/// A paused cron's slots are not judged: no `missed` row, no incident, never `late`.
async fn a_paused_cron_is_not_judged(store: Arc<dyn Store>) {
    let app = app(store.clone());
    put(
        &app,
        "/cron-schedules/every-minute",
        json!({"cronExpression": "* * * * *", "graceMs": 0, "failureThreshold": 1}),
    )
    .await;
    let (s, b) = send(
        &app,
        req("POST", "/cron-schedules/every-minute/pause", None),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let at = Utc::now() + TimeDelta::minutes(3);
    let report = sweep(&store, at).await;
    assert_eq!((report.missed, report.opened), (0, 0), "{report:?}");
    let list = get_json(&app, "/cron-executions/list?cronName=every-minute").await;
    assert_eq!(list["executions"], json!([]));
    assert_eq!(schedule(&app, "every-minute").await["state"], "paused");
    assert_eq!(get_json(&app, "/incidents").await["pagination"]["total"], 0);
}

async fn maintenance_windows_crud(store: Arc<dyn Store>) {
    let app = app(store);
    assert_eq!(
        get_json(&app, "/maintenance-windows").await,
        json!({"success": true, "windows": []})
    );
    let id = Uuid::now_v7();
    let path = format!("/maintenance-windows/{id}");
    let body = json!({"cronExpression": " 0 2 * * 0 ", "timezone": "Europe/Paris",
                      "durationMs": 7_200_000, "description": "Sunday backups"});
    let (s, b) = put(&app, &path, body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(
        b,
        json!({"success": true, "window": {
            "id": id, "cron_name": null, "cron_expression": "0 2 * * 0",
            "timezone": "Europe/Paris", "duration_ms": 7_200_000,
            "description": "Sunday backups"}})
    );
    // The same id again replaces it: 200. The time zone defaults to UTC.
    let (s, b) = put(
        &app,
        &path,
        json!({"cronName": "nightly", "cronExpression": "@daily", "durationMs": 60_000}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["window"]["cron_name"], "nightly");
    assert_eq!(b["window"]["timezone"], "UTC");
    assert!(b["window"]["description"].is_null());
    let listed = get_json(&app, "/maintenance-windows").await;
    assert_eq!(listed["windows"], json!([b["window"]]));

    let other = format!("/maintenance-windows/{}", Uuid::now_v7());
    let valid = json!({"cronExpression": "0 2 * * *", "durationMs": 1000});
    let with = |field: &str, v: Value| {
        let mut b = valid.clone();
        b[field] = v;
        b
    };
    for (body, field) in [
        (
            with("cronExpression", json!("61 * * * *")),
            "cronExpression",
        ),
        (
            with("cronExpression", json!("0 0 31 2 *")),
            "cronExpression",
        ),
        (with("timezone", json!("Mars/Base")), "timezone"),
        (with("durationMs", json!(0)), "durationMs"),
        (with("durationMs", json!(31 * 86_400_000_i64)), "durationMs"),
        (with("cronName", json!(" padded")), "cronName"),
        (with("cronName", json!("")), "cronName"),
        (with("description", json!("x".repeat(1025))), "description"),
        (with("description", json!("a\u{0}b")), "description"),
    ] {
        let (s, b) = put(&app, &other, body.clone()).await;
        assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(b["error"]["field"], field, "{body}: {b}");
    }
    for (body, field) in [
        (json!({"durationMs": 1000}), "cronExpression"),
        (with("durationMs", json!("an hour")), "durationMs"),
    ] {
        let (s, b) = put(&app, &other, body).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(b["error"]["field"], field, "{b}");
    }
    let (s, b) = put(&app, "/maintenance-windows/nope", valid.clone()).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_path");
    // Nothing refused was stored.
    assert_eq!(
        get_json(&app, "/maintenance-windows").await["windows"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let (s, b) = send(&app, req("DELETE", &path, None)).await;
    assert_eq!((s, b), (StatusCode::NO_CONTENT, Value::Null));
    let (s, b) = send(&app, req("DELETE", &path, None)).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = send(&app, req("DELETE", "/maintenance-windows/nope", None)).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_path");
    assert_eq!(
        get_json(&app, "/maintenance-windows").await["windows"],
        json!([])
    );
}

/// `/health` says whether the sweeper beats: `not_started` before any sweep, `stalled` (and
/// `degraded`, still a 200) when its last beat is old, `ok` after a recent one; `/metrics`
/// agrees. Each check uses a router of its own, since `/health` caches its answer.
async fn health_reports_the_sweeper(store: Arc<dyn Store>) {
    let health = |app: Router| async move {
        let r = axum::http::Request::get("/api/admin/health")
            .body(axum::body::Body::empty())
            .unwrap();
        let (s, b) = send(&app, r).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["success"], true);
        b
    };
    let b = health(app(store.clone())).await;
    assert_eq!(b["status"], "ok", "{b}");
    assert_eq!(
        b["sweeper"],
        json!({"status": "not_started", "lastBeatAt": null})
    );
    let (_, _, text) = get_text(&app(store.clone()), "/metrics").await;
    assert_eq!(metric(&text, "cronmon_sweeper_up", ""), Some(0.0));
    assert_eq!(
        metric(&text, "cronmon_sweeper_last_beat_timestamp_seconds", ""),
        None
    );

    let long_ago = (Utc::now() - TimeDelta::minutes(10))
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap();
    sweep(&store, long_ago).await;
    let b = health(app(store.clone())).await;
    assert_eq!(b["status"], "degraded", "{b}");
    assert_eq!(b["sweeper"]["status"], "stalled");
    assert_eq!(time(&b["sweeper"]["lastBeatAt"]), long_ago);
    let (_, _, text) = get_text(&app(store.clone()), "/metrics").await;
    assert_eq!(metric(&text, "cronmon_sweeper_up", ""), Some(0.0));
    assert_eq!(
        metric(&text, "cronmon_sweeper_last_beat_timestamp_seconds", ""),
        Some(long_ago.timestamp() as f64)
    );

    let now = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap();
    sweep(&store, now).await;
    let b = health(app(store.clone())).await;
    assert_eq!(b["status"], "ok", "{b}");
    assert_eq!(b["sweeper"]["status"], "ok");
    assert_eq!(time(&b["sweeper"]["lastBeatAt"]), now);
    let (_, _, text) = get_text(&app(store.clone()), "/metrics").await;
    assert_eq!(metric(&text, "cronmon_sweeper_up", ""), Some(1.0));
}

/// The new answers match the document's schemas (the check `http_api` applies to the others).
async fn openapi_describes_the_health_answers(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let doc = get_json(&app, "/openapi.json").await;
    put(
        &app,
        "/cron-schedules/every-minute",
        json!({"cronExpression": "* * * * *", "graceMs": 0, "failureThreshold": 1,
               "anomalyFactor": 2.5, "minDurationMs": 10, "anomalyIncidents": true}),
    )
    .await;
    sweep(&store, Utc::now() + TimeDelta::minutes(3)).await;
    let window = Uuid::now_v7();
    let until = (Utc::now() + TimeDelta::hours(1)).to_rfc3339();
    let answers = [
        (
            "post",
            "/cron-schedules/{name}/pause",
            post(
                &app,
                "/cron-schedules/every-minute/pause",
                json!({"until": until}),
            )
            .await,
        ),
        (
            "post",
            "/cron-schedules/{name}/resume",
            send(
                &app,
                req("POST", "/cron-schedules/every-minute/resume", None),
            )
            .await,
        ),
        (
            "post",
            "/cron-schedules/{name}/pause",
            send(&app, req("POST", "/cron-schedules/nope/pause", None)).await,
        ),
        ("get", "/incidents", get(&app, "/incidents").await),
        (
            "get",
            "/incident-events",
            get(&app, "/incident-events").await,
        ),
        (
            "put",
            "/maintenance-windows/{id}",
            put(
                &app,
                &format!("/maintenance-windows/{window}"),
                json!({"cronExpression": "@daily", "durationMs": 1000, "description": "d"}),
            )
            .await,
        ),
        (
            "get",
            "/maintenance-windows",
            get(&app, "/maintenance-windows").await,
        ),
        ("get", "/cron-schedules", get(&app, "/cron-schedules").await),
        ("get", "/health", get(&app, "/health").await),
    ];
    let incident = answers[3].2.1["incidents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = get(&app, &format!("/incidents/{incident}")).await;
    let schedules = &answers[7].2.1;
    assert_eq!(schedules["schedules"][0]["anomaly_factor"], 2.5);
    assert_eq!(schedules["schedules"][0]["min_duration_ms"], 10);
    assert_eq!(schedules["schedules"][0]["anomaly_incidents"], true);
    for (method, path, (status, body)) in
        answers
            .iter()
            .map(|(m, p, a)| (*m, *p, a))
            .chain([("get", "/incidents/{id}", &one)])
    {
        let schema = &doc["paths"][path][method]["responses"][status.as_str()]["content"]["application/json"]
            ["schema"];
        assert!(schema.is_object(), "{method} {path} {status}: no schema");
        crate::http_api::assert_matches(&doc, schema, body, &format!("{method} {path} {status}"));
    }
}

/// The standalone server judges schedules in its sweeps: an orphan it closes as timed out
/// opens an incident (threshold 1) in the same round, and its heartbeat makes `/health` say
/// the sweeper is `ok`. Polled (the sweeps run every 100 ms), never timed.
async fn the_server_sweeps_judge_schedules(db: crate::common::TestDb) {
    use crate::common::http::{client, get_url};
    let name = cronmon::CronName::new("hangs").unwrap();
    let update = cronmon::ScheduleUpdate {
        timeout_ms: Some(60_000),
        failure_threshold: Some(1),
        ..Default::default()
    };
    db.store.upsert_schedule(&name, &update).await.unwrap();
    let mut start = cronmon::Start::now(name);
    start.started_at = Utc::now() - TimeDelta::hours(3);
    db.store.record_start(&start).await.unwrap();
    let server = crate::common::server::Running::start(&db.url, |c| {
        c.sweep_every = std::time::Duration::from_millis(100);
        c.orphan_after = std::time::Duration::from_secs(3600);
    })
    .await;
    let mut incident = Value::Null;
    let mut health = Value::Null;
    for _ in 0..300 {
        let (s, b) = get_url(&server.base, "/incidents?cronName=hangs").await;
        assert_eq!(s, 200, "{b}");
        incident = b["incidents"][0].clone();
        let r = client()
            .get(format!("{}/health", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        health = r.json().await.unwrap();
        if incident.is_object() && health["sweeper"]["status"] == "ok" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(incident["kind"], "timed_out", "{incident}");
    assert_eq!(incident["opening_execution_id"], json!(start.id));
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["sweeper"]["status"], "ok", "{health}");
    server.stop().await;
    db.finish().await;
}

mod server_sweeps {
    #[tokio::test]
    async fn sqlite() {
        super::the_server_sweeps_judge_schedules(crate::common::TestDb::sqlite().await).await;
    }

    #[tokio::test]
    async fn postgres() {
        super::the_server_sweeps_judge_schedules(crate::common::TestDb::postgres().await).await;
    }
}

/// `--settle` is a duration of 0 to 1 day; anything else stops the server at start, naming
/// the flag.
#[tokio::test]
async fn the_server_refuses_a_bad_settle() {
    for bad in ["2d", "25h", "forever", "-5m", ""] {
        let run = tokio::process::Command::new(crate::common::server_binary())
            .arg(format!("--settle={bad}"))
            .env("CRONMON_URL", "sqlite::memory:")
            .env("CRONMON_BIND", "127.0.0.1:0")
            .kill_on_drop(true)
            .output();
        // Only a server that wrongly started would still run: it is stopped, and the test fails.
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), run)
            .await
            .unwrap_or_else(|_| panic!("--settle={bad} was accepted"))
            .unwrap();
        assert!(!out.status.success(), "--settle {bad} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--settle"), "{bad}: {stderr}");
    }
}

on_both_databases!(
    pause_and_resume,
    missed_slots_open_an_incident,
    a_paused_cron_is_not_judged,
    maintenance_windows_crud,
    health_reports_the_sweeper,
    openapi_describes_the_health_answers,
);

/// The server's command line declares a cron's schedule and limits, checked by the store's
/// rules, on either database; a refusal names the flag and stores nothing.
async fn the_command_line_declares_a_schedule(db: &crate::common::TestDb) {
    let declare = |args: &[&str]| {
        std::process::Command::new(crate::common::server_binary())
            .arg("--database-url")
            .arg(&db.url)
            .arg("schedule")
            .args(args)
            .output()
            .unwrap()
    };
    let out = declare(&[
        "nightly",
        "--cron",
        "0 3 * * *",
        "--timezone",
        "Europe/Paris",
        "--grace",
        "10m",
        "--timeout",
        "2h",
        "--heartbeat-timeout",
        "5m",
        "--failure-threshold",
        "2",
        "--recovery-threshold",
        "3",
        "--min-duration",
        "2s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["cron_expression"], "0 3 * * *");
    let stored = db
        .store
        .schedule(&cronmon::CronName::new("nightly").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.timezone, "Europe/Paris");
    assert_eq!(stored.grace_ms, 600_000);
    assert_eq!(stored.timeout_ms, 7_200_000);
    assert_eq!(stored.heartbeat_timeout_ms, Some(300_000));
    assert_eq!(
        (stored.failure_threshold, stored.recovery_threshold),
        (2, 3)
    );
    assert_eq!(stored.min_duration_ms, Some(2000));
    for (args, flag) in [
        (&["nightly", "--grace", "31d"][..], "--grace"),
        (
            &["nightly", "--failure-threshold", "0"][..],
            "--failure-threshold",
        ),
        (&["nightly", "--cron", "61 * * * *"][..], "--cron"),
        (&["nightly", "--timeout", "soon"][..], "--timeout"),
        (&["nightly", "--timezone", "Mars/Base"][..], "--timezone"),
    ] {
        let out = declare(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
    let kept = db
        .store
        .schedule(&cronmon::CronName::new("nightly").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept,
        cronmon::Schedule {
            state_since: kept.state_since,
            ..stored
        }
    );
}

mod command_line {
    #[tokio::test]
    async fn sqlite() {
        let db = crate::common::TestDb::sqlite().await;
        super::the_command_line_declares_a_schedule(&db).await;
        db.finish().await;
    }

    #[tokio::test]
    async fn postgres() {
        let db = crate::common::TestDb::postgres().await;
        super::the_command_line_declares_a_schedule(&db).await;
        db.finish().await;
    }
}
