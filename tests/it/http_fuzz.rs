//! Random bodies, queries, paths and headers to every endpoint (proptest, bounded cases), on
//! real SQLite and real PostgreSQL: no answer is a 500, every error has the JSON shape. Then
//! schemathesis, driven by `/openapi.json`, against the real server over loopback: no 5xx,
//! and the document and the server agree on what is valid.

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use cronmon_http::server::Server;
use cronmon_http::{Api, Config};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{SECRET, TestDb};

#[derive(Debug, Clone)]
struct Fuzz {
    method: &'static str,
    path: String,
    query: String,
    body: Vec<u8>,
    auth: Option<(&'static str, String)>,
}

fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0195f1d2-0000-7000-8000-000000000000".to_owned()),
        Just(uuid::Uuid::nil().to_string()),
        Just("list".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("x".repeat(300)),
        Just("1%27%20OR%201%3D1%20--".to_owned()),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(|b| encode(&b)),
        "[a-z0-9-]{1,40}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/cron-executions/start".to_owned()),
        Just("/cron-executions/complete".to_owned()),
        Just("/cron-executions/stats".to_owned()),
        Just("/cron-executions/list".to_owned()),
        Just("/cron-executions/batches".to_owned()),
        Just("/cron-schedules".to_owned()),
        Just("/openapi.json".to_owned()),
        Just("/health".to_owned()),
        Just("/channels".to_owned()),
        Just("/notifications".to_owned()),
        Just("/batch-runs".to_owned()),
        Just("/batch-runs/start".to_owned()),
        Just("/batch-runs/export.csv".to_owned()),
        segment().prop_map(|s| format!("/batch-runs/{s}")),
        segment().prop_map(|s| format!("/batch-runs/{s}/advance")),
        segment().prop_map(|s| format!("/batch-runs/{s}/complete")),
        segment().prop_map(|s| format!("/channels/{s}")),
        segment().prop_map(|s| format!("/notifications/{s}")),
        segment().prop_map(|s| format!("/cron-executions/{s}")),
        segment().prop_map(|s| format!("/cron-executions/{s}/heartbeat")),
        segment().prop_map(|s| format!("/cron-schedules/{s}")),
        segment().prop_map(|s| format!("/{s}")),
    ]
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("99999999999999999999999".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("all".to_owned()),
        Just("failed".to_owned()),
        Just("2026-02-13".to_owned()),
        Just("2026-02-13T21:47:17Z".to_owned()),
        Just("99999999999.999999999.0195f1d2000070008000000000000000".to_owned()),
        Just("kbIndexation".to_owned()),
        Just("%FF%00".to_owned()),
        Just("'%3B DROP TABLE cron_executions; --".to_owned()),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(|b| encode(&b)),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("page"),
        Just("limit"),
        Just("status"),
        Just("cronName"),
        Just("from"),
        Just("to"),
        Just("hours"),
        Just("kind"),
        Just("before"),
        Just("junk"),
    ];
    proptest::collection::vec((key, query_value()), 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(|f| json!(f)),
        "\\PC{0,24}".prop_map(Value::from),
        Just(json!("completed")),
        Just(json!("failed")),
        Just(json!("running")),
        Just(json!("manual")),
        Just(json!("2026-02-13T21:47:17.884Z")),
        Just(json!("+262142-01-01T00:00:00Z")),
        Just(json!("0195f1d2-0000-7000-8000-000000000000")),
        Just(json!("Europe/Paris")),
        Just(json!("*/5 * * * *")),
        Just(json!("a\u{0}b")),
        Just(json!("webhook")),
        Just(json!("email")),
        Just(json!("https://hooks.example.com/x")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("\\PC{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: &[&str] = &[
    "cronName",
    "executionId",
    "status",
    "triggerType",
    "startedAt",
    "completedAt",
    "durationMs",
    "output",
    "errorMessage",
    "exitCode",
    "reason",
    "host",
    "pid",
    "bootId",
    "version",
    "scheduledFor",
    "cpuMs",
    "maxRssKb",
    "done",
    "total",
    "displayName",
    "cronExpression",
    "timezone",
    "isEnabled",
    "timeoutMs",
    "graceMs",
    "heartbeatTimeoutMs",
    "failureThreshold",
    "recoveryThreshold",
    "kind",
    "url",
    "secret",
    "on",
    "crons",
    "repeatEveryMs",
    "mutedUntil",
    "from",
    "to",
    "batchKind",
    "batchRunId",
    "failed",
];

fn body() -> impl Strategy<Value = Vec<u8>> {
    let fields = proptest::collection::vec((proptest::sample::select(FIELDS), json_value()), 0..8)
        .prop_map(|pairs| {
            let map: serde_json::Map<String, Value> =
                pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            Value::Object(map).to_string().into_bytes()
        });
    prop_oneof![
        4 => fields,
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => Just(br#"{"cronName": "x", "durationMs": 1e999999}"#.to_vec()),
        1 => Just(br#"{"executionId": "0195f1d2-0000-7000-8000-000000000000", "status": "completed", "durationMs": 18446744073709551616}"#.to_vec()),
        1 => Just(vec![b'['; 5000]),
    ]
}

fn auth() -> impl Strategy<Value = Option<(&'static str, String)>> {
    prop_oneof![
        6 => Just(Some(("x-cron-secret", SECRET.to_owned()))),
        2 => Just(Some(("authorization", format!("Bearer {SECRET}")))),
        1 => Just(None),
        1 => "\\PC{0,12}".prop_map(|s| Some(("x-cron-secret", s))),
    ]
}

fn fuzz() -> impl Strategy<Value = Fuzz> {
    (
        prop_oneof![
            Just("GET"),
            Just("POST"),
            Just("PUT"),
            Just("DELETE"),
            Just("PATCH")
        ],
        path(),
        query(),
        body(),
        auth(),
    )
        .prop_map(|(method, path, query, body, auth)| Fuzz {
            method,
            path,
            query,
            body,
            auth,
        })
}

async fn answer(app: &Router, f: &Fuzz) -> Result<(u16, Vec<u8>), String> {
    let uri = if f.query.is_empty() {
        format!("/api/admin{}", f.path)
    } else {
        format!("/api/admin{}?{}", f.path, f.query)
    };
    let mut r = Request::builder().method(f.method).uri(&uri);
    if let Some((k, v)) = &f.auth
        && let Ok(v) = axum::http::HeaderValue::from_str(v)
    {
        r = r.header(*k, v);
    }
    let req = r
        .body(Body::from(f.body.clone()))
        .map_err(|e| format!("bad request built from {f:?}: {e}"))?;
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Ok((status, bytes))
}

#[test]
fn no_input_yields_a_500() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (dbs, apps) = rt.block_on(async {
        let dbs = vec![TestDb::sqlite().await, TestDb::postgres().await];
        let apps: Vec<Router> = dbs
            .iter()
            .map(|db| Server::app(Api::new(db.store.clone(), Config::new(SECRET))))
            .collect();
        // A known run, so some paths find data.
        for app in &apps {
            let f = Fuzz {
                method: "POST",
                path: "/cron-executions/start".into(),
                query: String::new(),
                body:
                    br#"{"cronName": "x", "executionId": "0195f1d2-0000-7000-8000-000000000000"}"#
                        .to_vec(),
                auth: Some(("x-cron-secret", SECRET.into())),
            };
            let (s, _) = answer(app, &f).await.unwrap();
            assert!(s == 201 || s == 200);
        }
        (dbs, apps)
    });
    let cases = std::env::var("CRONMON_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1000);
    let mut runner = TestRunner::new(PropConfig {
        cases,
        failure_persistence: None,
        ..PropConfig::default()
    });
    let result = runner.run(&fuzz(), |f| {
        for app in &apps {
            let Ok((status, body)) = rt.block_on(answer(app, &f)) else {
                continue; // not a valid HTTP request at all
            };
            prop_assert!(
                status < 500,
                "{status} for {f:?}: {}",
                String::from_utf8_lossy(&body)
            );
            if status >= 400 {
                let v: Value = serde_json::from_slice(&body).map_err(|_| {
                    TestCaseError::fail(format!("error body not JSON for {f:?}: {body:?}"))
                })?;
                prop_assert!(v["error"]["code"].is_string(), "{v} for {f:?}");
                prop_assert!(v["error"]["message"].is_string(), "{v} for {f:?}");
            }
        }
        Ok(())
    });
    drop(apps);
    rt.block_on(async {
        for db in dbs {
            db.finish().await;
        }
    });
    result.unwrap();
}

/// Where `scripts/test.sh` installs schemathesis when `CRONMON_SCHEMATHESIS` is not set.
fn schemathesis() -> std::path::PathBuf {
    if let Some(st) = std::env::var_os("CRONMON_SCHEMATHESIS").filter(|s| !s.is_empty()) {
        return st.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
        .unwrap_or_default();
    let known = cache.join(format!(
        "cronmon/schemathesis-{SCHEMATHESIS_VERSION}/bin/st"
    ));
    assert!(
        known.exists(),
        "schemathesis is not installed: run `bash scripts/test.sh` (it installs it into {}), \
         or set CRONMON_SCHEMATHESIS to an `st` executable",
        known.display()
    );
    known
}

/// The version `scripts/test.sh` pins.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Runs schemathesis with every check and every phase (examples, coverage, fuzzing, stateful)
/// against a real server on `store`; fails with schemathesis's report on any failure. The
/// seed is fixed so a failure reproduces; `CRONMON_SCHEMATHESIS_EXAMPLES` raises the number
/// of examples an operation for a deeper run.
async fn schemathesis_finds_no_disagreement(store: std::sync::Arc<dyn cronmon::store::Store>) {
    let st = schemathesis();
    let server = crate::common::server::TestServer::start(store, SECRET, None).await;
    let examples = std::env::var("CRONMON_SCHEMATHESIS_EXAMPLES")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(SCHEMATHESIS_EXAMPLES);
    let work = std::env::temp_dir().join(format!(
        "cronmon-schemathesis-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&work).unwrap();
    let out = tokio::process::Command::new(&st)
        .current_dir(&work)
        .args([
            "--config-file",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/schemathesis.toml"),
        ])
        .arg("run")
        .arg(format!("{}/openapi.json", server.url()))
        .args(["--url", &server.url()])
        .args(["--header", &format!("X-Cron-Secret: {SECRET}")])
        // Every check: schemathesis's default (`--checks all` would also override the one
        // per-operation exception in schemathesis.toml).
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--mode", "all"])
        .args(["--seed", "20260213"])
        .args(["--max-examples", &examples.to_string()])
        .args(["--generation-database", "none"])
        .args(["--request-timeout", "30"])
        // One worker: Python 3.11's parser can fail spuriously under threads ("AST constructor
        // recursion depth mismatch", CPython gh-106905), and schemathesis parses in each.
        .args(["--workers", "1"])
        .args(["--no-color", "--output-truncate", "false"])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env(
            "SCHEMATHESIS_HOOKS",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/it/schemathesis_hooks.py"
            ),
        )
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {}: {e}", st.display()));
    let _ = std::fs::remove_dir_all(&work);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}"
    );
    // A run that tested nothing would pass too: every operation must have been exercised.
    assert!(
        !report.contains("No operations") && report.contains("passed"),
        "schemathesis tested nothing:\n{report}"
    );
}

/// Examples an operation in the suite's run: enough to reach every bound of every operation,
/// few enough for two runs (one a database) on two cores.
const SCHEMATHESIS_EXAMPLES: u32 = 30;

mod schemathesis {
    on_both_databases!(schemathesis_finds_no_disagreement);

    use super::schemathesis_finds_no_disagreement;
}
