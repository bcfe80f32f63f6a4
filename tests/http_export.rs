//! `GET /metrics` (Prometheus) through the router, on
//! real SQLite and real PostgreSQL.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use cronmon::http::{Api, Config};
use cronmon::store::Store;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "test-secret";

fn app(store: Arc<dyn Store>) -> Router {
    Router::new().nest(
        "/api/admin",
        cronmon::http::router(Api::new(store, Config::new(SECRET))),
    )
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    secret: bool,
) -> (StatusCode, HeaderMap, String) {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("/api/admin{path}"))
        .header("content-type", "application/json");
    if secret {
        b = b.header("authorization", format!("Bearer {SECRET}"));
    }
    let req = b
        .body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
        .unwrap();
    let res = app.clone().oneshot(req).await.expect("infallible");
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        String::from_utf8(bytes.to_vec()).expect("UTF-8"),
    )
}

async fn get(app: &Router, path: &str) -> (StatusCode, HeaderMap, String) {
    call(app, "GET", path, None, true).await
}

async fn get_json(app: &Router, path: &str) -> Value {
    let (s, _, body) = get(app, path).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Records a finished run (or a running one when `status` is `running`); returns its id.
async fn run(app: &Router, cron: &str, status: &str, ago_min: i64, extra: Value) -> String {
    let started = chrono::Utc::now() - chrono::Duration::minutes(ago_min);
    let (s, _, b) = call(
        app,
        "POST",
        "/cron-executions/start",
        Some(json!({"cronName": cron, "startedAt": started, "host": "web-1", "pid": 7})),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = serde_json::from_str::<Value>(&b).unwrap()["executionId"]
        .as_str()
        .unwrap()
        .to_owned();
    if status != "running" {
        let mut body = json!({"executionId": id, "status": status,
                              "completedAt": started + chrono::Duration::seconds(30)});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, _, b) = call(app, "POST", "/cron-executions/complete", Some(body), true).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    id
}

// ---------------------------------------------------------------------------------------------
// /metrics

/// One sample line: name, labels, value. Panics on anything that is not valid exposition.
fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or_else(|| panic!("no value: {line:?}"));
    let name = &line[..name_end];
    assert!(
        !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()),
        "bad name: {line:?}"
    );
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest
                .find("=\"")
                .unwrap_or_else(|| panic!("bad label: {line:?}"));
            let label = &rest[..eq];
            assert!(
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad label name: {line:?}"
            );
            let mut value = String::new();
            let mut chars = rest[eq + 2..].char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => panic!("bad escape {other:?}: {line:?}"),
                    },
                    Some((_, '\n')) | None => panic!("unterminated label value: {line:?}"),
                    Some((_, c)) => value.push(c),
                }
            };
            labels.insert(label.to_owned(), value);
            rest = &rest[eq + 2 + end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before the value: {line:?}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value: {line:?}")),
    };
    (name.to_owned(), labels, value)
}

type Samples = Vec<(String, BTreeMap<String, String>, f64)>;

/// Parses a whole exposition: every line a HELP, a TYPE (gauge) before its samples, or a sample.
fn parse_exposition(text: &str) -> Samples {
    assert!(text.ends_with('\n'));
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(r) = line.strip_prefix("# HELP ") {
            assert!(
                r.split_once(' ')
                    .is_some_and(|(n, h)| n.starts_with("cronmon_") && !h.is_empty())
            );
        } else if let Some(r) = line.strip_prefix("# TYPE ") {
            let (name, kind) = r.split_once(' ').expect("TYPE name kind");
            assert_eq!(kind, "gauge", "{line}");
            assert!(typed.insert(name.to_owned()), "TYPE twice: {line}");
        } else {
            let s = parse_sample(line);
            assert!(typed.contains(&s.0), "sample before its TYPE: {line}");
            samples.push(s);
        }
    }
    samples
}

fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let found: Vec<f64> = samples
        .iter()
        .filter(|s| s.0 == name && s.1 == want)
        .map(|s| s.2)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} twice");
    found.first().copied()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * a.abs().max(1.0)
}

async fn metrics_match_the_json_api(store: Arc<dyn Store>) {
    let app = app(store);
    let odd = r#"say "hi" \ now"#;
    run(&app, "backup", "completed", 50, json!({"durationMs": 1000})).await;
    run(&app, "backup", "completed", 40, json!({"durationMs": 3000})).await;
    run(
        &app,
        "backup",
        "failed",
        30,
        json!({"durationMs": 500, "errorMessage": "disk"}),
    )
    .await;
    run(&app, "backup", "running", 20, json!({})).await;
    run(&app, odd, "failed", 10, json!({"durationMs": 2500})).await;

    let (s, headers, text) = get(&app, "/metrics").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(
        headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let samples = parse_exposition(&text);
    assert!(text.contains(r#"cron="say \"hi\" \\ now""#), "{text}");

    let stats = get_json(&app, "/cron-executions/stats").await;
    let schedules = get_json(&app, "/cron-schedules").await;
    let stats = stats["stats"].as_array().unwrap();
    assert_eq!(stats.len(), 2);
    for st in stats {
        let cron = st["cron_name"].as_str().unwrap();
        for (status, key) in [
            ("completed", "completed_count"),
            ("failed", "failed_count"),
            ("running", "running_count"),
        ] {
            assert_eq!(
                value(
                    &samples,
                    "cronmon_runs_24h",
                    &[("cron", cron), ("status", status)]
                ),
                st[key].as_f64(),
                "{cron} {status}"
            );
        }
        for (metric, key) in [
            ("cronmon_duration_p95_seconds", "p95_duration_ms"),
            ("cronmon_duration_avg_seconds", "avg_duration_ms"),
        ] {
            let got = value(&samples, metric, &[("cron", cron)]).expect(metric);
            assert!(
                close(got, st[key].as_f64().unwrap() / 1000.0),
                "{metric} {cron}"
            );
        }
    }
    for sc in schedules["schedules"].as_array().unwrap() {
        let cron = sc["cron_name"].as_str().unwrap();
        let one = |m: &str| value(&samples, m, &[("cron", cron)]);
        assert_eq!(one("cronmon_running"), sc["running_count"].as_f64());
        assert_eq!(
            one("cronmon_consecutive_failures"),
            sc["consecutive_failures"].as_f64()
        );
        let rate = one("cronmon_success_rate_7d").expect("rate");
        assert!(close(rate, sc["success_rate_7d"].as_f64().unwrap() / 100.0));
        let last = chrono::DateTime::parse_from_rfc3339(sc["last_execution_at"].as_str().unwrap())
            .unwrap();
        let got = one("cronmon_last_run_timestamp_seconds").expect("last run");
        assert!((got - last.timestamp_millis() as f64 / 1000.0).abs() < 0.001);
    }
    // The figures themselves, for the record.
    assert_eq!(
        value(&samples, "cronmon_running", &[("cron", "backup")]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "cronmon_consecutive_failures", &[("cron", odd)]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "cronmon_success_rate_7d", &[("cron", odd)]),
        Some(0.0)
    );
    let rate = value(&samples, "cronmon_success_rate_7d", &[("cron", "backup")]).unwrap();
    assert!((rate - 2.0 / 3.0).abs() < 1e-3, "{rate}"); // the store rounds to 0.01 %
    assert!(text.contains(&format!(
        "cronmon_success_rate_7d{{cron=\"backup\"}} {rate}\n"
    )));
    assert!(rate.to_string().len() <= 8, "no float noise: {rate}");
    assert_eq!(
        value(&samples, "cronmon_duration_avg_seconds", &[("cron", odd)]),
        Some(2.5)
    );
    assert_eq!(value(&samples, "cronmon_stuck_runs", &[]), Some(0.0));

    // Without the secret: 401.
    let (s, _, _) = call(&app, "GET", "/metrics", None, false).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

async fn metrics_of_an_empty_store(store: Arc<dyn Store>) {
    let app = app(store);
    let (s, _, text) = get(&app, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    let samples = parse_exposition(&text);
    assert_eq!(samples.len(), 1, "{text}");
    assert_eq!(value(&samples, "cronmon_stuck_runs", &[]), Some(0.0));
}

async fn openapi_lists_the_extras(store: Arc<dyn Store>) {
    let app = app(store);
    let doc = get_json(&app, "/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/metrics"));
}

on_both_databases!(
    metrics_match_the_json_api,
    metrics_of_an_empty_store,
    openapi_lists_the_extras,
);
