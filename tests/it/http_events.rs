//! `POST /cron-executions/events`: many events in one request, each answered on its own, as
//! idempotent as the single endpoints, on real SQLite and real PostgreSQL.

use std::sync::Arc;

use axum::http::StatusCode;
use cronmon::store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::http::{app, assert_error, get, post};

fn statuses(body: &Value) -> Vec<u64> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {body}"))
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

async fn each_event_is_answered_on_its_own(store: Arc<dyn Store>) {
    let app = app(store);
    let (a, b, done_earlier) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (s, _) = post(
        &app,
        "/cron-executions/start",
        json!({"cronName": "nightly", "executionId": done_earlier}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = post(
        &app,
        "/cron-executions/complete",
        json!({"executionId": done_earlier, "status": "completed", "durationMs": 5}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let batch = json!([
        {"kind": "start", "cronName": "nightly", "executionId": a},
        {"kind": "complete", "executionId": a, "status": "failed", "errorMessage": "boom",
         "durationMs": 12, "exitCode": 3},
        {"kind": "start", "cronName": "hourly", "executionId": b, "host": "web-1"},
        {"kind": "heartbeat", "executionId": b, "done": 3, "total": 10},
        {"kind": "teleport", "executionId": b},
        {"kind": "start", "cronName": "bad\u{7}name"},
        {"kind": "complete", "executionId": Uuid::now_v7(), "status": "completed"},
        {"kind": "complete", "executionId": done_earlier, "status": "failed"},
    ]);
    let (s, body) = post(&app, "/cron-executions/events", batch.clone()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(
        statuses(&body),
        [201, 200, 201, 200, 400, 422, 404, 409],
        "{body}"
    );
    let results = &body["results"];
    assert_eq!(results[0]["executionId"], json!(a));
    assert_eq!(results[0]["outcome"], "recorded");
    assert_eq!(
        results[4]["executionId"],
        json!(b),
        "named even when malformed"
    );
    assert_eq!(results[4]["error"]["code"], "invalid_field");
    assert_eq!(results[5]["error"]["field"], "cronName");
    assert_eq!(results[7]["error"]["code"], "conflict");

    let (_, run) = get(&app, &format!("/cron-executions/{a}")).await;
    let run = &run["execution"];
    assert_eq!(
        (&run["status"], &run["error_message"], &run["exit_code"]),
        (&json!("failed"), &json!("boom"), &json!(3))
    );
    let (_, run) = get(&app, &format!("/cron-executions/{b}")).await;
    assert_eq!(run["execution"]["status"], "running");
    assert_eq!(run["execution"]["progress_done"], 3, "{run}");

    // The same batch again (a client retrying after a lost answer) stores nothing twice.
    let (s, body) = post(&app, "/cron-executions/events", batch).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        statuses(&body),
        [200, 200, 200, 200, 400, 422, 404, 409],
        "{body}"
    );
    assert_eq!(body["results"][0]["outcome"], "already_recorded");
    let (_, list) = get(&app, "/cron-executions/list?limit=50").await;
    assert_eq!(list["pagination"]["total"], 3, "{list}");
}

async fn a_completion_carrying_its_start_is_stored_whole(store: Arc<dyn Store>) {
    let app = app(store);
    let id = Uuid::now_v7();
    let (s, body) = post(
        &app,
        "/cron-executions/events",
        json!([{"kind": "complete", "executionId": id, "status": "completed", "durationMs": 40,
                "cronName": "backup", "startedAt": "2026-01-01T00:00:00Z", "pid": 42}]),
    )
    .await;
    assert_eq!((s, statuses(&body)), (StatusCode::OK, vec![200]), "{body}");
    let (_, run) = get(&app, &format!("/cron-executions/{id}")).await;
    assert_eq!(run["execution"]["cron_name"], "backup");
    assert_eq!(run["execution"]["pid"], 42);
}

async fn the_request_as_a_whole_is_checked(store: Arc<dyn Store>) {
    let app = app(store);
    let (s, body) = post(&app, "/cron-executions/events", json!([])).await;
    assert_error(s, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    let (s, body) = post(&app, "/cron-executions/events", json!({"kind": "start"})).await;
    assert_error(s, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"kind": "start", "cronName": "x"}))
        .collect();
    let (s, body) = post(&app, "/cron-executions/events", Value::Array(many)).await;
    assert_error(s, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert!(body["error"]["message"].as_str().unwrap().contains("1000"));
    let (_, list) = get(&app, "/cron-executions/list").await;
    assert_eq!(list["pagination"]["total"], 0, "nothing stored: {list}");
}

on_both_databases!(
    each_event_is_answered_on_its_own,
    a_completion_carrying_its_start_is_stored_whole,
    the_request_as_a_whole_is_checked,
);
