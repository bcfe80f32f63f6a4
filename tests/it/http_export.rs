//! `GET /metrics` (Prometheus) and `GET /cron-executions/export.csv` through the router, on
//! real SQLite and real PostgreSQL.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use cronmon::store::Store;
use serde_json::{Value, json};

use crate::common::http::{app, call, get_json, get_text};

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

    let (s, headers, text) = get_text(&app, "/metrics").await;
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
    let (s, _, text) = get_text(&app, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    let samples = parse_exposition(&text);
    assert_eq!(samples.len(), 4, "{text}");
    assert_eq!(value(&samples, "cronmon_stuck_runs", &[]), Some(0.0));
    assert_eq!(
        value(&samples, "cronmon_notifications_pending", &[]),
        Some(0.0)
    );
    assert_eq!(value(&samples, "cronmon_incidents_open", &[]), Some(0.0));
    assert_eq!(value(&samples, "cronmon_sweeper_up", &[]), Some(0.0));
}

// ---------------------------------------------------------------------------------------------
// /cron-executions/export.csv

/// Parses RFC 4180 CSV (CRLF records, quoted fields may hold anything).
pub(crate) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else {
            match c {
                '"' => {
                    assert!(field.is_empty(), "quote inside an unquoted field");
                    quoted = true;
                }
                ',' => row.push(std::mem::take(&mut field)),
                '\r' => {
                    assert_eq!(chars.next(), Some('\n'), "CR without LF");
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                '\n' => panic!("bare LF outside quotes"),
                c => field.push(c),
            }
        }
    }
    assert!(
        !quoted && field.is_empty() && row.is_empty(),
        "unterminated record"
    );
    rows
}

async fn csv(app: &Router, query: &str) -> (HeaderMap, Vec<Vec<String>>) {
    let (s, headers, body) = get_text(app, &format!("/cron-executions/export.csv{query}")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"cron-executions.csv\""
    );
    let rows = parse_csv(&body);
    assert_eq!(
        rows[0],
        [
            "id",
            "cron_name",
            "status",
            "reason",
            "trigger_type",
            "started_at",
            "completed_at",
            "duration_ms",
            "exit_code",
            "host",
            "pid",
            "version",
            "error_message",
            "output"
        ]
    );
    assert!(rows.iter().all(|r| r.len() == 14));
    (headers, rows)
}

async fn export_csv_rows_filters_and_quoting(store: Arc<dyn Store>) {
    let app = app(store);
    let nasty = "boom, \"quoted\"\nsecond line\r\nthird";
    let failed = run(
        &app,
        "backup",
        "failed",
        30,
        json!({"durationMs": 1234, "exitCode": -1, "errorMessage": nasty,
               "output": {"a": [1, "x,y"]}}),
    )
    .await;
    let ok = run(&app, "backup", "completed", 20, json!({"durationMs": 10})).await;
    let formula = run(
        &app,
        "=HYPERLINK(\"http://evil\")",
        "failed",
        10,
        json!({"errorMessage": "@SUM(A1)", "output": -5}),
    )
    .await;
    let running = run(&app, "report", "running", 5, json!({})).await;

    let (headers, rows) = csv(&app, "").await;
    assert!(headers.get("x-cronmon-truncated").is_none());
    assert_eq!(rows.len(), 1 + 4);
    // Newest first.
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, [&running, &formula, &ok, &failed]);

    let f = &rows[4];
    assert_eq!(f[1], "backup");
    assert_eq!(f[2], "failed");
    assert_eq!(f[3], "error");
    assert_eq!(f[4], "scheduled");
    assert!(chrono::DateTime::parse_from_rfc3339(&f[5]).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(&f[6]).is_ok());
    assert_eq!(f[7], "1234");
    assert_eq!(f[8], "-1"); // a number the server writes keeps its sign
    assert_eq!(f[9], "web-1");
    assert_eq!(f[10], "7");
    assert_eq!(f[11], "");
    assert_eq!(f[12], nasty);
    assert_eq!(
        serde_json::from_str::<Value>(&f[13]).unwrap(),
        json!({"a": [1, "x,y"]})
    );

    // Job strings that look like formulas are defused.
    let g = &rows[2];
    assert_eq!(g[1], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(g[12], "'@SUM(A1)");
    assert_eq!(g[13], "'-5");
    // A running run: empty end, duration and exit code.
    assert_eq!(&rows[1][6..9], ["", "", ""]);

    // Filters, as on /list.
    assert_eq!(csv(&app, "?status=failed").await.1.len(), 1 + 2);
    assert_eq!(csv(&app, "?cronName=backup").await.1.len(), 1 + 2);
    assert_eq!(
        csv(&app, "?cronName=backup&status=completed").await.1.len(),
        1 + 1
    );
    assert_eq!(csv(&app, "?status=all&cronName=").await.1.len(), 1 + 4);
    assert_eq!(csv(&app, "?cronName=nobody").await.1.len(), 1);
    let from = (chrono::Utc::now() - chrono::Duration::minutes(15)).to_rfc3339();
    let q = format!("?from={}", from.replace('+', "%2B"));
    assert_eq!(csv(&app, &q).await.1.len(), 1 + 2);
    assert_eq!(csv(&app, "?to=2000-01-01").await.1.len(), 1);

    // Errors: JSON, like the rest of the API.
    for (q, field) in [
        ("?status=weird", "status"),
        ("?from=yesterday", "from"),
        ("?to=2026-13-40", "to"),
    ] {
        let (s, _, body) = get_text(&app, &format!("/cron-executions/export.csv{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "invalid_query", "{body}");
        assert_eq!(v["error"]["field"], field, "{body}");
    }
    let (s, _, _) = call(&app, "GET", "/cron-executions/export.csv", None, false).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

async fn export_csv_pages_through_many_runs(store: Arc<dyn Store>) {
    let app = app(store);
    // 450 runs: three store pages of 200.
    let events: Vec<Value> = (0..450)
        .map(|i| {
            json!({"cronName": format!("bulk-{}", i % 3),
                   "startedAt": chrono::Utc::now() - chrono::Duration::seconds(i)})
        })
        .collect();
    let mut ids = Vec::new();
    for e in events {
        let (s, _, b) = call(&app, "POST", "/cron-executions/start", Some(e), true).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        ids.push(
            serde_json::from_str::<Value>(&b).unwrap()["executionId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (_, rows) = csv(&app, "").await;
    assert_eq!(rows.len(), 1 + 450);
    let got: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(got, ids, "every run once, newest first");
    assert_eq!(csv(&app, "?cronName=bulk-1").await.1.len(), 1 + 150);
}

async fn openapi_lists_the_extras(store: Arc<dyn Store>) {
    let app = app(store);
    let doc = get_json(&app, "/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/metrics"));
    let export = &paths["/cron-executions/export.csv"]["get"];
    let params: Vec<&str> = export["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["status", "cronName", "from", "to"]);
    assert!(export["responses"]["200"]["content"]["text/csv; charset=utf-8"].is_object());
}

on_both_databases!(
    metrics_match_the_json_api,
    metrics_of_an_empty_store,
    export_csv_rows_filters_and_quoting,
    export_csv_pages_through_many_runs,
    openapi_lists_the_extras,
);
