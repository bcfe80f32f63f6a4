//! The dashboard in a real browser: serves the real router (API + dashboard) on a free port over
//! a SQLite file, records runs through the real HTTP API, judges schedule health with the real
//! [`Sweeper`] on a clock set ahead (so slots pass without waiting), then runs
//! `node tests/browser/dashboard.mjs <api-base> <secret>` in Debian's headless Chromium and
//! asserts it passed.
//!
//! Set `CRONMON_SCREENSHOTS=<dir>` to also save screenshots of the page there.
//!
//! Needs `/usr/bin/chromium` and `tests/browser/node_modules`: `bash scripts/ensure-chromium.sh`
//! installs both (`scripts/test.sh` runs it).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::Router;
use chrono::{SecondsFormat, TimeDelta, Utc};
use cronmon::health::{SweepConfig, Sweeper};
use cronmon::http::{Api, Config};
use serde_json::{Value, json};

use crate::common::SECRET;

/// A cron name that is an HTML tag with an event handler: it must show as text.
const XSS_NAME: &str = r#"<img src=x onerror="window.__xssName=1">"#;
/// A host name that is an HTML tag with an event handler, on a running batch run.
const XSS_HOST: &str = r#"<img src=x onerror="window.__xssHost=1">"#;
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

/// Batch runs recorded as a `BatchRun` reports them (a start, then reports carrying the whole
/// state), through the store's group commit:
/// - "qualityAnalysis" (no source: its figures come from its runs): two runs completed and one
///   failed a minute ago, one running with 120 done and 6 failed of 200 (on a host whose name
///   is an HTML payload), one running with no total (37 done);
/// - "kbIndexation" (its source gives the figures): one running run that last reported 2 h ago
///   at 400 of 1,000, so it looks stale.
async fn record_batch_runs(store: &dyn cronmon::Store) {
    use cronmon::batch::BatchEvent;
    use cronmon::{Event, Status};
    let now = Utc::now();
    let run = |kind: &str, started_min: i64, total: Option<i64>| {
        let mut e = BatchEvent::start(kind, total);
        e.started_at = now - TimeDelta::minutes(started_min);
        e.at = e.started_at;
        e.host = Some("worker-1".into());
        e
    };
    let report = |start: &BatchEvent, at: TimeDelta, status: Status, done: i64, failed: i64| {
        let mut e = start.clone();
        e.at = now - at;
        e.status = status;
        e.done = done;
        e.failed = failed;
        if status == Status::Failed {
            e.error_message = Some("LLM API rate limited (429)".into());
        }
        Event::Batch(e)
    };
    let mut events = Vec::new();
    for (status, done, failed) in [
        (Status::Completed, 48, 2),
        (Status::Completed, 50, 0),
        (Status::Failed, 10, 0),
    ] {
        let start = run("qualityAnalysis", 3, Some(50));
        events.push(Event::Batch(start.clone()));
        events.push(report(&start, TimeDelta::seconds(60), status, done, failed));
    }
    let mut partial = run("qualityAnalysis", 5, Some(200));
    partial.host = Some(XSS_HOST.into());
    events.push(Event::Batch(partial.clone()));
    events.push(report(
        &partial,
        TimeDelta::seconds(10),
        Status::Running,
        120,
        6,
    ));
    let open_ended = run("qualityAnalysis", 2, None);
    events.push(Event::Batch(open_ended.clone()));
    events.push(report(
        &open_ended,
        TimeDelta::seconds(5),
        Status::Running,
        37,
        0,
    ));
    let quiet = run("kbIndexation", 180, Some(1000));
    events.push(Event::Batch(quiet.clone()));
    events.push(report(
        &quiet,
        TimeDelta::minutes(120),
        Status::Running,
        400,
        0,
    ));
    for r in store.record_batch(&events).await.expect("batch runs") {
        r.expect("batch run recorded");
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
    // A second cronmon beside it, for an outage an hour long (its own database: its 61 missed
    // rows would bury the first one's runs).
    let outage_url = format!("sqlite://{}", dir.join("outage.db").display());
    let outage_store = cronmon::store::connect(&outage_url)
        .await
        .expect("sqlite store");
    // The application's own tables, which two batch sources read; one is dropped after its
    // source was registered, so that source fails.
    {
        let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
        sqlx::raw_sql(
            "CREATE TABLE kb_documents (status TEXT NOT NULL);
             INSERT INTO kb_documents VALUES ('pending'), ('pending'), ('indexing'), ('indexed'),
                 ('indexed'), ('indexed'), ('error');
             CREATE TABLE crawl_pages (status TEXT NOT NULL);",
        )
        .execute(&pool)
        .await
        .expect("application tables");
        pool.close().await;
    }
    let count = |table: &str| {
        format!(
            "SELECT SUM(status = 'pending') AS pending, SUM(status = 'indexing') AS processing,
                    SUM(status = 'indexed') AS completed_today, SUM(status = 'error') AS failed_today
             FROM {table}"
        )
    };
    let kb = cronmon::batch::SqlBatchSource::new(store.clone(), count("kb_documents"))
        .await
        .expect("kb source");
    let crawl = cronmon::batch::SqlBatchSource::new(store.clone(), count("crawl_pages"))
        .await
        .expect("crawl source");
    {
        let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
        sqlx::raw_sql("DROP TABLE crawl_pages")
            .execute(&pool)
            .await
            .expect("drop");
        pool.close().await;
    }
    let api = Api::new(store.clone(), Config::new(SECRET))
        .batch_source("kbIndexation", kb)
        .and_then(|a| a.batch_source("webCrawl", crawl))
        .expect("batch kinds");
    record_batch_runs(store.as_ref()).await;
    let app: Router = Router::new()
        .nest("/api/admin", cronmon::http::router(api))
        .nest(
            "/outage",
            cronmon::http::router(Api::new(outage_store.clone(), Config::new(SECRET))),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}/api/admin");
    let outage_base = format!("http://{addr}/outage");

    // Data, over the HTTP API (documented at the top of dashboard.mjs).
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        base: base.clone(),
    };
    // A channel nobody listens on (a closed port), told of every failed run: the failures
    // below make it fail three times in a row, and the dashboard shows it.
    let closed = crate::common::free_port();
    client
        .send(
            reqwest::Method::PUT,
            "/channels/ops-pager",
            json!({"kind": "webhook", "url": format!("http://127.0.0.1:{closed}/hook"),
                   "secret": "a-secret-for-the-dashboard", "on": ["failed_run"]}),
        )
        .await;
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

    // Schedule health, judged by the real sweeper. "minutely-ping" is due every minute with no
    // grace and opens an incident at the first miss; "nightly-report" (no schedule) opens one
    // at its first failure and resolves it at its first success; "quick-check" has a 5 s floor
    // that its 1.1 s run falls under.
    for (name, body) in [
        (
            "nightly-report",
            json!({"displayName": "Nightly report", "failureThreshold": 1,
                   "recoveryThreshold": 1}),
        ),
        ("quick-check", json!({"minDurationMs": 5000})),
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
        .run(
            "nightly-report",
            1800,
            Some("failed"),
            Value::Null,
            Some("report store full: /var/reports has 0 bytes left\ncaused by: ENOSPC"),
            Some(1),
        )
        .await;
    client
        .run(
            "quick-check",
            100,
            Some("completed"),
            json!({"checked": 3}),
            None,
            Some(0),
        )
        .await;
    // A sweep every hour as far as the heartbeat knows, so the second round, 3 min later, is
    // no outage of cronmon's own (whose slots would wait for a settling delay).
    let mut sweeper = Sweeper::new(
        store.clone(),
        SweepConfig {
            every: Duration::from_secs(3600),
            settle: Duration::ZERO,
            ..SweepConfig::default()
        },
    )
    .with_instance("dashboard-test");
    let now = Utc::now();
    let first = sweeper.sweep(now).await.expect("first sweep");
    // nightly-report (threshold 1) and flaky-sync (3 failures, the default threshold).
    assert_eq!(first.opened, 2, "{first:?}");
    assert_eq!(first.anomalies, 1, "quick-check's fast run: {first:?}");
    // Declared after the first round: its slots are judged from here to the second round's
    // clock, 3 min after the first one's: 2 or 3 minute boundaries, wherever in its minute the
    // test runs.
    client
        .send(
            reqwest::Method::PUT,
            "/cron-schedules/minutely-ping",
            json!({"displayName": "Minutely ping", "cronExpression": "* * * * *",
                   "graceMs": 0, "failureThreshold": 1}),
        )
        .await;
    client
        .run(
            "nightly-report",
            600,
            Some("completed"),
            json!({"pages": 12}),
            None,
            Some(0),
        )
        .await;
    let later = now + TimeDelta::minutes(3);
    let second = sweeper.sweep(later).await.expect("second sweep");
    assert!((2..=3).contains(&second.missed), "{second:?}");
    assert_eq!(
        second.opened, 1,
        "minutely-ping's missed-run incident: {second:?}"
    );
    assert_eq!(second.resolved, 1, "nightly-report's success: {second:?}");
    // Two crons with a schedule (for the next-run card); one of them stuck past its 1 min limit.
    // Declared after the sweeps, so their slots are not judged at the sweeps' clock.
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

    // The outage: a cron every minute, judged 65 min on. The first 60 missed slots are a row
    // each, the rest one row that counts them; one incident.
    let outage = Client {
        http: client.http.clone(),
        base: outage_base.clone(),
    };
    outage
        .send(
            reqwest::Method::PUT,
            "/cron-schedules/every-minute",
            json!({"cronExpression": "* * * * *", "graceMs": 0, "failureThreshold": 1}),
        )
        .await;
    let report = Sweeper::new(outage_store, SweepConfig::default())
        .sweep(Utc::now() + TimeDelta::minutes(65))
        .await
        .expect("outage sweep");
    assert_eq!((report.missed, report.opened), (61, 1), "{report:?}");

    // The notifier tries the failed runs' notifications on the closed port.
    let notifier = cronmon::notify::Notifier::new(
        store.clone(),
        cronmon::notify::NotifierConfig {
            timeout: Duration::from_secs(2),
            lease: Duration::from_secs(10),
            ..cronmon::notify::NotifierConfig::default()
        },
    )
    .expect("notifier");
    notifier.round(Utc::now()).await.expect("notifier round");
    let pager = store.channel("ops-pager").await.unwrap().expect("channel");
    assert!(pager.health.is_failing(), "{:?}", pager.health);

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
        let mut node = Command::new("node");
        node.arg(script)
            .arg(&base)
            .arg(SECRET)
            .arg(&outage_base)
            .current_dir(root.join("tests/browser"));
        // A relative folder is meant from where the test was started, not from tests/browser.
        if let Some(dir) = std::env::var_os("CRONMON_SCREENSHOTS") {
            node.env("CRONMON_SCREENSHOTS", std::path::absolute(dir)?);
        }
        node.output()
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
