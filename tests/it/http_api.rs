//! Every endpoint of the HTTP API, its statuses and error paths, through the router (no
//! server), on real SQLite and real PostgreSQL.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cronmon::store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::SECRET;
use crate::common::http::{app, assert_error, get, post, put, req, send};

async fn start_and_complete_as_shell_clients_do(store: Arc<dyn Store>) {
    let app = app(store);
    let (s, b) = post(
        &app,
        "/cron-executions/start",
        json!({"cronName": "monitor-openai", "triggerType": "scheduled"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["success"], true);
    assert_eq!(b["cronName"], "monitor-openai");
    let id = b["executionId"].as_str().unwrap().to_owned();
    assert!(chrono::DateTime::parse_from_rfc3339(b["startedAt"].as_str().unwrap()).is_ok());

    let (s, b) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": id, "status": "completed", "durationMs": 1398,
               "output": {"budget": {"consumedUsd": 4.22}}, "errorMessage": null, "exitCode": 0}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b,
        json!({"success": true, "executionId": id, "status": "completed"})
    );

    let (s, b) = get(&app, &format!("/cron-executions/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let e = &b["execution"];
    assert_eq!(e["cron_name"], "monitor-openai");
    assert_eq!(e["status"], "completed");
    assert_eq!(e["duration_ms"], 1398);
    assert_eq!(e["exit_code"], 0);
    assert_eq!(e["output"]["budget"]["consumedUsd"], 4.22);

    // A repeat of the completion is a no-op; another outcome is a conflict.
    let again = json!({"executionId": id, "status": "completed", "durationMs": 1398});
    assert_eq!(
        post(&app, "/cron-executions/complete", again).await.0,
        StatusCode::OK
    );
    let (s, b) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": id, "status": "failed", "errorMessage": "late"}),
    )
    .await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
}

async fn start_is_idempotent(store: Arc<dyn Store>) {
    let app = app(store);
    let id = Uuid::now_v7();
    let body = json!({"cronName": "index-kb", "executionId": id,
                      "startedAt": "2026-02-13T21:47:17.884+01:00", "host": "web-1", "pid": 42});
    let (s, first) = post(&app, "/cron-executions/start", body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["startedAt"], "2026-02-13T20:47:17.884Z");
    let (s, second) = post(&app, "/cron-executions/start", body).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(first, second);
    // Even without its startedAt, a repeat answers what was stored.
    let (s, third) = post(
        &app,
        "/cron-executions/start",
        json!({"cronName": "index-kb", "executionId": id}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first, third);
}

async fn complete_errors(store: Arc<dyn Store>) {
    let app = app(store);
    let unknown = Uuid::now_v7();
    let (s, b) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": unknown, "status": "completed"}),
    )
    .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");

    // With cronName + startedAt the run is stored whole, its duration computed.
    let (s, b) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": unknown, "status": "failed", "errorMessage": "boom", "exitCode": 2,
               "cronName": "refresh-mv", "startedAt": "2026-02-13T21:00:00Z",
               "completedAt": "2026-02-13T21:00:02.5Z"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, b) = get(&app, &format!("/cron-executions/{unknown}")).await;
    assert_eq!(b["execution"]["status"], "failed");
    assert_eq!(b["execution"]["reason"], "error");
    assert_eq!(b["execution"]["duration_ms"], 2500);
    assert_eq!(b["execution"]["error_message"], "boom");

    let cases = [
        (
            json!({"status": "completed"}),
            StatusCode::BAD_REQUEST,
            "executionId",
        ),
        (
            json!({"executionId": "nope", "status": "completed"}),
            StatusCode::BAD_REQUEST,
            "executionId",
        ),
        (
            json!({"executionId": unknown, "status": "exploded"}),
            StatusCode::BAD_REQUEST,
            "status",
        ),
        (
            json!({"executionId": unknown, "status": "running"}),
            StatusCode::BAD_REQUEST,
            "status",
        ),
        (
            json!({"executionId": unknown, "status": "completed", "durationMs": "fast"}),
            StatusCode::BAD_REQUEST,
            "durationMs",
        ),
        (
            json!({"executionId": unknown, "status": "completed", "durationMs": -5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "durationMs",
        ),
        (
            json!({"executionId": unknown, "status": "completed", "exitCode": 1e40}),
            StatusCode::BAD_REQUEST,
            "exitCode",
        ),
        (
            json!({"executionId": unknown, "status": "failed", "reason": "bored"}),
            StatusCode::BAD_REQUEST,
            "reason",
        ),
    ];
    for (body, want, field) in cases {
        let (s, b) = post(&app, "/cron-executions/complete", body.clone()).await;
        assert_eq!(s, want, "{body} -> {b}");
        assert_eq!(b["error"]["field"], field, "{body} -> {b}");
    }
}

async fn start_errors(store: Arc<dyn Store>) {
    let app = app(store);
    let cases = [
        (json!({}), StatusCode::BAD_REQUEST, "cronName"),
        (json!({"cronName": 5}), StatusCode::BAD_REQUEST, "cronName"),
        (
            json!({"cronName": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cronName",
        ),
        (
            json!({"cronName": "a\u{0}b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cronName",
        ),
        (
            json!({"cronName": "x".repeat(129)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cronName",
        ),
        (
            json!({"cronName": "x", "triggerType": "cosmic"}),
            StatusCode::BAD_REQUEST,
            "triggerType",
        ),
        (
            json!({"cronName": "x", "pid": 99999999999_i64}),
            StatusCode::BAD_REQUEST,
            "pid",
        ),
        (
            json!({"cronName": "x", "startedAt": "yesterday"}),
            StatusCode::BAD_REQUEST,
            "startedAt",
        ),
        (
            json!({"cronName": "x", "startedAt": "2026-02-13T21:47:17"}),
            StatusCode::BAD_REQUEST,
            "startedAt",
        ),
        (
            json!({"cronName": "x", "startedAt": "+200000-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "startedAt",
        ),
        (
            json!({"cronName": "x", "startedAt": "0001-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "startedAt",
        ),
        (
            json!({"cronName": "x", "host": "a\u{0}"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "host",
        ),
    ];
    for (body, want, field) in cases {
        let (s, b) = post(&app, "/cron-executions/start", body.clone()).await;
        assert_eq!(s, want, "{body} -> {b}");
        assert_eq!(b["error"]["field"], field, "{body} -> {b}");
    }
    for raw in ["{", "nul", "[1,2]", "{\"cronName\": \"x\"} trailing"] {
        let r = Request::post("/api/admin/cron-executions/start")
            .header("x-cron-secret", SECRET)
            .body(Body::from(raw))
            .unwrap();
        let (s, b) = send(&app, r).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{raw} -> {b}");
        assert!(b["error"]["code"].is_string());
    }
    let r = Request::post("/api/admin/cron-executions/start")
        .header("x-cron-secret", SECRET)
        .body(Body::from(vec![b'{', 0xff, 0xfe, b'}']))
        .unwrap();
    let (s, b) = send(&app, r).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_json");
}

async fn secret_is_required(store: Arc<dyn Store>) {
    let app = app(store);
    let paths = [
        ("POST", "/cron-executions/start"),
        ("POST", "/cron-executions/complete"),
        ("GET", "/cron-executions/stats"),
        ("GET", "/cron-executions/list"),
        ("GET", "/cron-executions/batches"),
        ("GET", "/cron-schedules"),
        ("PUT", "/cron-schedules/x"),
        ("GET", "/openapi.json"),
        (
            "GET",
            "/cron-executions/0195f1d2-0000-7000-8000-000000000000",
        ),
        (
            "POST",
            "/cron-executions/0195f1d2-0000-7000-8000-000000000000/heartbeat",
        ),
    ];
    for (method, path) in paths {
        for header in [
            None,
            Some(("x-cron-secret", "wrong")),
            Some(("x-cron-secret", "")),
            Some(("authorization", "Bearer wrong")),
            Some(("authorization", "Basic dGVzdC1zZWNyZXQ=")),
        ] {
            let mut r = Request::builder()
                .method(method)
                .uri(format!("/api/admin{path}"));
            if let Some((k, v)) = header {
                r = r.header(k, v);
            }
            let (s, b) = send(&app, r.body(Body::from("{}")).unwrap()).await;
            assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
        }
    }
    // Bearer works as well as X-Cron-Secret.
    let r = Request::get("/api/admin/cron-schedules")
        .header("authorization", format!("Bearer {SECRET}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, r).await.0, StatusCode::OK);
    // Health needs no secret.
    let r = Request::get("/api/admin/health")
        .body(Body::empty())
        .unwrap();
    let (s, b) = send(&app, r).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["success"], true);
}

async fn heartbeat_and_detail(store: Arc<dyn Store>) {
    let app = app(store);
    let (_, b) = post(
        &app,
        "/cron-executions/start",
        json!({"cronName": "index-kb"}),
    )
    .await;
    let id = b["executionId"].as_str().unwrap().to_owned();
    let (s, b) = post(
        &app,
        &format!("/cron-executions/{id}/heartbeat"),
        json!({"done": 5, "total": 10}),
    )
    .await;
    assert_eq!(
        (s, b),
        (StatusCode::OK, json!({"success": true, "running": true}))
    );
    // An empty body is a plain heartbeat.
    let (s, b) = send(
        &app,
        req("POST", &format!("/cron-executions/{id}/heartbeat"), None),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, b) = get(&app, &format!("/cron-executions/{id}")).await;
    assert_eq!(b["execution"]["progress_done"], 5);
    assert_eq!(b["execution"]["progress_total"], 10);
    assert!(b["execution"]["last_heartbeat_at"].is_string());

    // No durationMs: computed from the stored start.
    let (s, _) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": id, "status": "completed"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, b) = get(&app, &format!("/cron-executions/{id}")).await;
    assert!(
        b["execution"]["duration_ms"]
            .as_i64()
            .is_some_and(|d| d >= 0),
        "{b}"
    );

    let (s, b) = post(&app, &format!("/cron-executions/{id}/heartbeat"), json!({})).await;
    assert_eq!(
        (s, b),
        (StatusCode::OK, json!({"success": true, "running": false}))
    );

    let unknown = Uuid::now_v7();
    let (s, b) = post(
        &app,
        &format!("/cron-executions/{unknown}/heartbeat"),
        json!({}),
    )
    .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = get(&app, &format!("/cron-executions/{unknown}")).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = get(&app, "/cron-executions/not-a-uuid").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_path");
    let (s, b) = post(
        &app,
        &format!("/cron-executions/{id}/heartbeat"),
        json!({"done": -1}),
    )
    .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
}

async fn stats_list_schedules_batches(store: Arc<dyn Store>) {
    let app = app(store);
    for (name, status) in [("a", "completed"), ("a", "failed"), ("b", "completed")] {
        let (_, b) = post(&app, "/cron-executions/start", json!({"cronName": name})).await;
        let id = b["executionId"].clone();
        let (s, _) = post(
            &app,
            "/cron-executions/complete",
            json!({"executionId": id, "status": status, "durationMs": 100}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    post(&app, "/cron-executions/start", json!({"cronName": "b"})).await;

    let (s, b) = get(&app, "/cron-executions/stats?hours=24").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["success"], true);
    let stats = b["stats"].as_array().unwrap();
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[0]["cron_name"], "a");
    assert_eq!(stats[0]["total_executions"], 2);
    assert_eq!(stats[0]["success_rate"], 50.0);
    assert_eq!(stats[0]["avg_duration_ms"], 100);
    assert_eq!(b["stuckCrons"], json!([]));
    let timeline = b["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 7);
    assert_eq!(timeline[6]["total"], 4);
    assert_eq!(timeline[6]["running"], 1);
    for key in ["date", "completed", "failed", "running", "total"] {
        assert!(!timeline[0][key].is_null(), "{key}");
    }
    assert_eq!(get(&app, "/cron-executions/stats").await.0, StatusCode::OK);
    for bad in [
        "hours=0",
        "hours=-1",
        "hours=abc",
        "hours=99999999999999999999",
        "hours=9000",
    ] {
        let (s, b) = get(&app, &format!("/cron-executions/stats?{bad}")).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query");
        assert_eq!(b["error"]["field"], "hours");
    }

    let (s, b) = get(&app, "/cron-executions/list").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["executions"].as_array().unwrap().len(), 4);
    assert_eq!(
        b["pagination"],
        json!({"page": 1, "limit": 50, "total": 4, "totalPages": 1})
    );
    let (_, b) = get(&app, "/cron-executions/list?page=2&limit=3&status=all").await;
    assert_eq!(b["executions"].as_array().unwrap().len(), 1);
    assert_eq!(
        b["pagination"],
        json!({"page": 2, "limit": 3, "total": 4, "totalPages": 2})
    );
    let (_, b) = get(&app, "/cron-executions/list?status=failed&cronName=a").await;
    assert_eq!(b["pagination"]["total"], 1);
    assert_eq!(b["executions"][0]["status"], "failed");
    let (_, b) = get(&app, "/cron-executions/list?limit=200").await;
    assert_eq!(b["pagination"]["limit"], 200);
    let today = chrono::Utc::now().date_naive();
    let (_, b) = get(
        &app,
        &format!("/cron-executions/list?from={today}&to={today}"),
    )
    .await;
    assert_eq!(b["pagination"]["total"], 4, "{b}");
    let (_, b) = get(&app, "/cron-executions/list?to=2000-01-01T00:00:00Z").await;
    assert_eq!(b["pagination"]["total"], 0, "{b}");
    let (_, b) = get(
        &app,
        "/cron-executions/list?cronName=a%27%20OR%201%3D1%20--",
    )
    .await;
    assert_eq!(
        b["pagination"]["total"], 0,
        "SQL in a filter is only a name"
    );
    // A NUL byte PostgreSQL cannot compare: refused as a bad value, never a 500.
    let (s, b) = get(&app, "/cron-executions/list?cronName=a%00b").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query");
    assert_eq!(b["error"]["field"], "cronName");
    for (bad, field) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        // Refused, not cut to the maximum: the document says 200 at most.
        ("limit=201", "limit"),
        ("limit=1000", "limit"),
        ("status=sleeping", "status"),
        ("from=yesterday", "from"),
        ("to=2026-13-45", "to"),
    ] {
        let (s, b) = get(&app, &format!("/cron-executions/list?{bad}")).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_query");
        assert_eq!(b["error"]["field"], field, "{bad}");
    }

    let (s, b) = get(&app, "/cron-schedules").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let schedules = b["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), 2);
    assert_eq!(schedules[1]["cron_name"], "b");
    assert_eq!(schedules[1]["running_count"], 1);
    assert!(schedules[1]["next_run_at"].is_null());
    assert_eq!(schedules[0]["failures_24h"], 1);

    let (s, b) = get(&app, "/cron-executions/batches").await;
    assert_eq!(
        (s, b),
        (StatusCode::OK, json!({"success": true, "batches": {}}))
    );
}

async fn schedule_upsert(store: Arc<dyn Store>) {
    let app = app(store);
    let (s, b) = put(
        &app,
        "/cron-schedules/monitor-openai",
        json!({"displayName": "Monitor OpenAI Budget", "cronExpression": "0 9 * * *",
               "timezone": "Europe/Paris", "timeoutMs": 600000, "graceMs": 60000,
               "heartbeatTimeoutMs": 120000, "failureThreshold": 2, "recoveryThreshold": 1,
               "isEnabled": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let sch = &b["schedule"];
    assert_eq!(sch["display_name"], "Monitor OpenAI Budget");
    assert_eq!(sch["cron_expression"], "0 9 * * *");
    assert_eq!(sch["timezone"], "Europe/Paris");
    assert_eq!(sch["timeout_ms"], 600000);
    assert_eq!(sch["failure_threshold"], 2);
    let next = chrono::DateTime::parse_from_rfc3339(sch["next_run_at"].as_str().unwrap()).unwrap();
    assert!(next > chrono::Utc::now());
    // Absent fields keep what is stored.
    let (_, b) = put(
        &app,
        "/cron-schedules/monitor-openai",
        json!({"isEnabled": false}),
    )
    .await;
    assert_eq!(b["schedule"]["is_enabled"], false);
    assert_eq!(b["schedule"]["cron_expression"], "0 9 * * *");
    let (_, b) = get(&app, "/cron-schedules").await;
    assert!(b["schedules"][0]["next_run_at"].is_string());

    for (body, want, field) in [
        (
            json!({"cronExpression": "61 * * * *"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cronExpression",
        ),
        (
            json!({"cronExpression": "every day"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cronExpression",
        ),
        (
            json!({"timezone": "Mars/Olympus"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "timezone",
        ),
        (
            json!({"timeoutMs": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "timeoutMs",
        ),
        (
            json!({"graceMs": -1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "graceMs",
        ),
        (
            json!({"isEnabled": "yes"}),
            StatusCode::BAD_REQUEST,
            "isEnabled",
        ),
        (
            json!({"failureThreshold": 1e10}),
            StatusCode::BAD_REQUEST,
            "failureThreshold",
        ),
    ] {
        let (s, b) = put(&app, "/cron-schedules/monitor-openai", body.clone()).await;
        assert_eq!(s, want, "{body} -> {b}");
        assert_eq!(b["error"]["field"], field, "{body} -> {b}");
    }
    let (s, b) = put(
        &app,
        &format!("/cron-schedules/{}", "x".repeat(200)),
        json!({}),
    )
    .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
}

async fn limits_and_unknown_paths(store: Arc<dyn Store>) {
    let app = app(store);
    let (_, b) = post(&app, "/cron-executions/start", json!({"cronName": "big"})).await;
    let id = b["executionId"].clone();
    // 200 KiB of output: accepted, stored truncated and marked.
    let big = "y".repeat(200 * 1024);
    let (s, b) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": id, "status": "completed", "output": {"log": big}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, b) = get(&app, &format!("/cron-executions/{}", id.as_str().unwrap())).await;
    assert_eq!(b["execution"]["output_truncated"], true);
    // Over 1 MiB: 413.
    let huge = "z".repeat(1024 * 1024 + 10);
    let (s, b) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": id, "status": "completed", "output": huge}),
    )
    .await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // NUL in output is kept as U+FFFD (PostgreSQL's jsonb refuses NUL).
    let (_, b) = post(&app, "/cron-executions/start", json!({"cronName": "nul"})).await;
    let id = b["executionId"].clone();
    let (s, b) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": id, "status": "failed", "output": {"a\u{0}": "b\u{0}"},
               "errorMessage": "x\u{0}y"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let (s, b) = get(&app, "/nope").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = send(&app, req("DELETE", "/cron-schedules", None)).await;
    assert_error(s, &b, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

async fn openapi_lists_every_endpoint(store: Arc<dyn Store>) {
    let app = app(store);
    let (s, doc) = get(&app, "/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/cron-executions/start",
        "/cron-executions/complete",
        "/cron-executions/stats",
        "/cron-executions/list",
        "/cron-executions/batches",
        "/cron-executions/{id}",
        "/cron-executions/{id}/heartbeat",
        "/cron-schedules",
        "/cron-schedules/{name}",
        "/health",
        "/openapi.json",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "StartRequest",
        "CompleteRequest",
        "ErrorBody",
        "Execution",
        "Schedule",
        "CronStats",
    ] {
        assert!(schemas.contains_key(s), "{s} missing");
    }
}

/// `schema` (resolved through `$ref`, merged over `allOf`) as one object: its properties and
/// the names it requires.
fn object_schema<'a>(
    doc: &'a Value,
    schema: &'a Value,
) -> (serde_json::Map<String, Value>, Vec<String>) {
    let schema = resolve(doc, schema);
    let mut properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut required: Vec<String> = schema["required"]
        .as_array()
        .map(|r| r.iter().map(|n| n.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r) = object_schema(doc, part);
        properties.extend(p);
        required.extend(r);
    }
    (properties, required)
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .expect("a local $ref");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Asserts that `value`, a real answer, is what `schema` describes: every field of an object
/// is a documented property (the serialized names, renames included) and every required
/// property is there, each value of a documented type, each enum value a documented one.
pub(crate) fn assert_matches(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    // `Option<T>` of a named schema: `oneOf: [{type: null}, T]`.
    if let Some(choices) = schema["oneOf"].as_array() {
        if value.is_null() && choices.iter().any(|c| c["type"] == "null") {
            return;
        }
        let non_null: Vec<&Value> = choices.iter().filter(|c| c["type"] != "null").collect();
        assert_eq!(non_null.len(), 1, "{at}: one non-null choice in {schema}");
        return assert_matches(doc, non_null[0], value, at);
    }
    if let Some(allowed) = schema["enum"].as_array() {
        assert!(
            allowed.contains(value),
            "{at}: {value} is not one of {allowed:?}"
        );
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() {
        let ok = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        assert!(ok, "{at}: {value} is not of type {types:?}");
    }
    match value {
        Value::Object(fields) => {
            let (properties, required) = object_schema(doc, schema);
            if properties.is_empty() {
                return; // a free-form object (`batches`, a job's `output`)
            }
            for name in fields.keys() {
                assert!(
                    properties.contains_key(name),
                    "{at}: {name} is not documented"
                );
            }
            for name in properties.keys() {
                // Only an optional field may be left out (`"field"` of an error without one).
                assert!(
                    fields.contains_key(name) || !required.contains(name),
                    "{at}: required {name} missing"
                );
            }
            for (name, v) in fields {
                assert_matches(doc, &properties[name], v, &format!("{at}.{name}"));
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    assert_matches(doc, item, v, &format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
}

/// The document describes the real answers: each answer below is checked against the schema
/// the document gives for its path, method and status.
async fn openapi_describes_the_answers(store: Arc<dyn Store>) {
    let app = app(store);
    let (_, doc) = get(&app, "/openapi.json").await;
    let check = |method: &str, path: &str, status: StatusCode, answer: &Value| {
        let schema = &doc["paths"][path][method]["responses"][status.as_str()]["content"]["application/json"]
            ["schema"];
        assert!(schema.is_object(), "{method} {path} {status}: no schema");
        assert_matches(&doc, schema, answer, &format!("{method} {path} {status}"));
    };

    // Fill every kind of row: a schedule, a failed run with all its fields, a run with
    // progress, a stuck run.
    let (s, b) = put(
        &app,
        "/cron-schedules/doc-check",
        json!({"displayName": "Doc check", "cronExpression": "*/5 * * * *", "timezone": "Europe/Paris",
               "timeoutMs": 1000, "heartbeatTimeoutMs": 60000}),
    )
    .await;
    check("put", "/cron-schedules/{name}", s, &b);
    let (s, b) = post(
        &app,
        "/cron-executions/start",
        json!({"cronName": "doc-check", "host": "h", "pid": 7, "version": "1.0",
               "bootId": "b", "scheduledFor": "2026-02-13T09:00:00Z"}),
    )
    .await;
    check("post", "/cron-executions/start", s, &b);
    let failed = b["executionId"].as_str().unwrap().to_owned();
    let (s, b) = post(
        &app,
        "/cron-executions/start",
        json!({"cronName": "doc-check", "executionId": failed}),
    )
    .await;
    check("post", "/cron-executions/start", s, &b);
    let (s, b) = send(
        &app,
        req(
            "POST",
            &format!("/cron-executions/{failed}/heartbeat"),
            Some(&json!({"done": 1, "total": 2})),
        ),
    )
    .await;
    check("post", "/cron-executions/{id}/heartbeat", s, &b);
    let (s, b) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": failed, "status": "failed", "reason": "timed_out", "exitCode": 3,
               "errorMessage": "boom", "output": {"a": [1, 2]}, "cpuMs": 5, "maxRssKb": 6}),
    )
    .await;
    check("post", "/cron-executions/complete", s, &b);
    let started = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let (s, b) = post(
        &app,
        "/cron-executions/start",
        json!({"cronName": "doc-check", "startedAt": started}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    for path in [
        "/cron-executions/stats",
        "/cron-executions/list",
        "/cron-executions/batches",
        "/cron-schedules",
        "/health",
    ] {
        let (s, b) = get(&app, path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
        check("get", path, s, &b);
    }
    let (_, stats) = get(&app, "/cron-executions/stats").await;
    assert!(
        !stats["stuckCrons"].as_array().unwrap().is_empty(),
        "a stuck run was checked"
    );
    assert!(!stats["timeline"].as_array().unwrap().is_empty());
    let (s, b) = get(&app, &format!("/cron-executions/{failed}")).await;
    check("get", "/cron-executions/{id}", s, &b);
    assert_eq!(b["execution"]["reason"], "timed_out");

    // Errors have the one documented shape.
    let (s, b) = get(&app, &format!("/cron-executions/{}", Uuid::nil())).await;
    check("get", "/cron-executions/{id}", s, &b);
    let (s, b) = post(&app, "/cron-executions/start", json!({"cronName": ""})).await;
    check("post", "/cron-executions/start", s, &b);
}

on_both_databases!(
    start_and_complete_as_shell_clients_do,
    start_is_idempotent,
    complete_errors,
    start_errors,
    secret_is_required,
    heartbeat_and_detail,
    stats_list_schedules_batches,
    schedule_upsert,
    limits_and_unknown_paths,
    openapi_lists_every_endpoint,
    openapi_describes_the_answers,
);
