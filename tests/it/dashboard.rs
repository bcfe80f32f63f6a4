//! The dashboard in a real browser: serves the real router (API + dashboard) on a free port over
//! a SQLite file, records runs through the real HTTP API, then runs
//! `node tests/browser/dashboard.mjs <api-base> <secret>` in Debian's headless Chromium and
//! asserts it passed.
//!
//! Needs `/usr/bin/chromium` and `tests/browser/node_modules`: `bash scripts/ensure-chromium.sh`
//! installs both (`scripts/test.sh` runs it).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::Router;
use chrono::{SecondsFormat, Utc};
use cronmon::http::{Api, Config};
use serde_json::{Value, json};

use crate::common::SECRET;

/// A cron name that is an HTML tag with an event handler: it must show as text.
const XSS_NAME: &str = r#"<img src=x onerror="window.__xssName=1">"#;
/// An error message carrying both kinds of payload.
const XSS_ERROR: &str =
    r#"boom: <script>window.__xssScript=1</script><img src=x onerror="window.__xss=1"> & "quotes""#;

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, body).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let res = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-Cron-Secret", SECRET)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = res.status();
        let value: Value = res.json().await.expect("JSON answer");
        assert!(
            status.is_success(),
            "{method} {path} {body}: {status} {value}"
        );
        value
    }

    /// One run of `cron`, started `ago_s` seconds ago, finished with `status` unless `None`.
    async fn run(
        &self,
        cron: &str,
        ago_s: i64,
        status: Option<&str>,
        output: Value,
        error: Option<&str>,
        exit_code: Option<i32>,
    ) -> String {
        let started = (Utc::now() - chrono::Duration::seconds(ago_s))
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        let b = self
            .post(
                "/cron-executions/start",
                json!({"cronName": cron, "triggerType": "scheduled", "startedAt": started}),
            )
            .await;
        let id = b["executionId"].as_str().expect("executionId").to_owned();
        if let Some(status) = status {
            let mut body = json!({
                "executionId": id, "status": status, "durationMs": 1000 + ago_s,
                "output": output, "exitCode": exit_code,
            });
            if let Some(e) = error {
                body["errorMessage"] = json!(e);
            }
            self.post("/cron-executions/complete", body).await;
        }
        id
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("CRONMON_SKIP_BROWSER").is_some() {
        eprintln!("CRONMON_SKIP_BROWSER is set: browser test skipped");
        return;
    }
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && root
                .join("tests/browser/node_modules/playwright-core")
                .exists(),
        "the browser test needs Debian's chromium and tests/browser/node_modules: \
         run `bash scripts/ensure-chromium.sh` (or set CRONMON_SKIP_BROWSER=1)"
    );

    // The real server: the router nested at /api/admin, as the standalone server mounts it.
    let dir = std::env::temp_dir().join(format!("cronmon-dashboard-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("cronmon.db").display());
    let store = cronmon::store::connect(&url).await.expect("sqlite store");
    let app: Router = Router::new().nest(
        "/api/admin",
        cronmon::http::router(Api::new(store, Config::new(SECRET))),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}/api/admin");

    // Data, over the HTTP API (documented at the top of dashboard.mjs).
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        base: base.clone(),
    };
    for i in 0..55_i64 {
        let output = json!({
            "rows": i,
            "source": format!("s3://imports/file-{i}.csv"),
            "checks": {"ok": true, "warnings": ["late file", "<b>not bold</b>"]},
        });
        client
            .run(
                "batch-import",
                600 + i * 120,
                Some("completed"),
                output,
                None,
                Some(0),
            )
            .await;
    }
    client
        .run(
            "flaky-sync",
            500,
            Some("completed"),
            json!({"synced": 10}),
            None,
            Some(0),
        )
        .await;
    for ago in [400, 300, 200] {
        client
            .run(
                "flaky-sync",
                ago,
                Some("failed"),
                Value::Null,
                Some(XSS_ERROR),
                Some(2),
            )
            .await;
    }
    client
        .run(
            XSS_NAME,
            150,
            Some("failed"),
            Value::Null,
            Some("<script>window.__xssScript=1</script>"),
            Some(1),
        )
        .await;
    client
        .run("long-task", 60, None, Value::Null, None, None)
        .await;
    // Two crons with a schedule (for the next-run card); one of them stuck past its 1 min limit.
    for (name, body) in [
        (
            "stuck-job",
            json!({"displayName": "Stuck job", "cronExpression": "*/10 * * * *",
                   "timezone": "Europe/Paris", "timeoutMs": 60_000}),
        ),
        (
            "batch-import",
            json!({"displayName": "Batch import", "cronExpression": "0 3 * * *"}),
        ),
    ] {
        client
            .send(
                reqwest::Method::PUT,
                &format!("/cron-schedules/{name}"),
                body,
            )
            .await;
    }
    client
        .run("stuck-job", 7200, None, Value::Null, None, None)
        .await;

    // The page itself answers without the secret, and with its base taken from the mount point.
    let page = client
        .http
        .get(format!("{base}/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<meta name="cronmon-api-base" content="/api/admin">"#));

    let script = root.join("tests/browser/dashboard.mjs");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(&base)
            .arg(SECRET)
            .current_dir(root.join("tests/browser"))
            .output()
    })
    .await
    .unwrap()
    .expect("node runs (install it with scripts/ensure-chromium.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "browser test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
