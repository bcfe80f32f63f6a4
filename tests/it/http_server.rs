//! End to end: the standalone server over real sockets, driven by an HTTP client, by the
//! bash client (`scripts/cron-logger.sh` in real bash and curl), as a real process
//! (the `server` example), and as two instances sharing one PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cronmon::store::Store;
use cronmon::{CronName, ScheduleUpdate, Start, Status};
use cronmon_http::server::{ServerConfig, sweep_once};
use serde_json::{Value, json};

use crate::common::TestDb;
use crate::common::http::{client, get_url as get, post_url as post};
use crate::common::server::Running;
use crate::common::{self, SECRET};

async fn drive_a_run(base: &str) {
    let (s, b) = post(
        base,
        "/cron-executions/start",
        json!({"cronName": "monitor-openai", "triggerType": "manual"}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let id = b["executionId"].clone();
    let (s, b) = post(
        base,
        "/cron-executions/complete",
        json!({"executionId": id, "status": "completed", "durationMs": 1398, "output": {}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = get(base, "/cron-executions/list?cronName=monitor-openai").await;
    assert_eq!(s, 200);
    assert_eq!(b["executions"][0]["status"], "completed");
    assert_eq!(b["executions"][0]["trigger_type"], "manual");
    // Without the secret: 401 over the wire too; health is open.
    let r = client()
        .get(format!("{base}/cron-schedules"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn server_over_http_on_sqlite() {
    let db = TestDb::sqlite().await;
    let server = Running::start(&db.url, |_| {}).await;
    drive_a_run(&server.base).await;
    // `/` leads to the dashboard.
    let root = server.base.trim_end_matches("/api/admin");
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{root}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 307);
    assert_eq!(r.headers()["location"], "/api/admin/dashboard");
    server.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn server_over_http_on_postgres() {
    let db = TestDb::postgres().await;
    let server = Running::start(&db.url, |_| {}).await;
    drive_a_run(&server.base).await;
    server.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn many_concurrent_writes_are_group_committed() {
    concurrent_writes(None).await;
}

/// Four writers: lone events on the first, the events of many-event requests sharded by cron
/// name over all four, on the same crons at once: every write lands, none deadlocks.
#[tokio::test]
async fn many_concurrent_writes_on_four_writers() {
    concurrent_writes(Some(4)).await;
}

async fn concurrent_writes(writers: Option<usize>) {
    let db = TestDb::postgres().await;
    let server = Running::start(&db.url, |c| c.writers = writers).await;
    let base = server.base.clone();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let (s, b) = post(
                &base,
                "/cron-executions/start",
                json!({"cronName": format!("job-{}", i % 7)}),
            )
            .await;
            assert_eq!(s, 201, "{b}");
            let (s, b) = post(
                &base,
                "/cron-executions/complete",
                json!({"executionId": b["executionId"], "status": if i % 5 == 0 { "failed" } else { "completed" }}),
            )
            .await;
            assert_eq!(s, 200, "{b}");
        }));
    }
    // Beside them, 20 requests of 10 runs each (a start and its end), on the same crons.
    for r in 0..20 {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut events = Vec::new();
            for k in 0..10 {
                let id = uuid::Uuid::now_v7();
                events.push(json!({"kind": "start", "cronName": format!("job-{}", (r + k) % 7), "executionId": id}));
                events.push(json!({"kind": "complete", "executionId": id, "status": if k % 2 == 0 { "failed" } else { "completed" }}));
            }
            let (s, b) = post(&base, "/cron-executions/events", json!(events)).await;
            assert_eq!(s, 200, "{b}");
            let results = b["results"].as_array().expect("results");
            assert_eq!(results.len(), 20, "{b}");
            assert!(results.iter().all(|r| r["status"] == 201 || r["status"] == 200), "{b}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, b) = get(&base, "/cron-executions/list?limit=1").await;
    assert_eq!(b["pagination"]["total"], 400);
    let (_, b) = get(&base, "/cron-executions/list?status=failed&limit=1").await;
    assert_eq!(b["pagination"]["total"], 140);
    let (_, b) = get(&base, "/cron-executions/list?status=running&limit=1").await;
    assert_eq!(b["pagination"]["total"], 0);
    server.stop().await;
    db.finish().await;
}

/// The bash client: `source cron-logger.sh`, then start → complete
/// (and fail, and wrap) with curl, from real bash.
#[tokio::test]
async fn the_bash_client_reports_runs() {
    let db = TestDb::sqlite().await;
    let server = Running::start(&db.url, |_| {}).await;
    let root = server.base.trim_end_matches("/api/admin").to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cron-logger.sh");
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            r#"set -euo pipefail
source '{script}'
cron_start "monitor-openai" "scheduled"
[ -n "$CRON_EXECUTION_ID" ]
echo "id=$CRON_EXECUTION_ID"
cron_complete '{{"openai": {{"status": "accessible"}}, "budget": {{"consumedUsd": 4.22}}}}'
cron_start "check-alerts"
cron_fail 'Script error: "quoted" and
new line' 3
cron_wrap "index-kb" "echo indexing; echo 'disk full' >&2; exit 4" || echo "wrap-exit=$?"
cron_wrap "refresh-mv" true
CRON_API_BASE=http://127.0.0.1:9 cron_start "down"
cron_complete
cron_start "badjson"
cron_complete '{{not json'
echo done"#
        ))
        .env("CRON_API_BASE", &root)
        .env("CRON_SECRET", SECRET)
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("wrap-exit=4"), "{stdout}");
    assert!(stdout.trim_end().ends_with("done"), "{stdout}");
    assert!(stderr.contains("[CRON START] monitor-openai"), "{stderr}");
    assert!(
        stderr.contains("[CRON WARN] monitor unreachable"),
        "{stderr}"
    );

    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("id="))
        .expect("id printed");
    let (s, b) = get(&server.base, &format!("/cron-executions/{id}")).await;
    assert_eq!(s, 200, "{b}");
    let e = &b["execution"];
    assert_eq!(e["status"], "completed");
    assert_eq!(e["output"]["budget"]["consumedUsd"], 4.22);
    assert!(e["duration_ms"].as_i64().unwrap() >= 0);
    assert!(e["pid"].as_i64().is_some());

    let (_, b) = get(&server.base, "/cron-executions/list?cronName=check-alerts").await;
    let e = &b["executions"][0];
    assert_eq!(e["status"], "failed");
    assert_eq!(e["exit_code"], 3);
    assert_eq!(e["error_message"], "Script error: \"quoted\" and\nnew line");

    let (_, b) = get(&server.base, "/cron-executions/list?cronName=index-kb").await;
    assert_eq!(b["executions"][0]["status"], "failed");
    assert_eq!(b["executions"][0]["exit_code"], 4);
    assert!(
        b["executions"][0]["error_message"]
            .as_str()
            .unwrap()
            .contains("disk full")
    );
    let (_, b) = get(&server.base, "/cron-executions/list?cronName=refresh-mv").await;
    assert_eq!(b["executions"][0]["status"], "completed");
    // The start of "down" never arrived; its completion carried name and start: stored whole.
    let (_, b) = get(&server.base, "/cron-executions/list?cronName=down").await;
    assert_eq!(b["executions"][0]["status"], "completed");
    // An output the server cannot read is kept as text, and the completion still counts.
    let (_, b) = get(&server.base, "/cron-executions/list?cronName=badjson").await;
    assert_eq!(b["executions"][0]["status"], "completed");
    assert_eq!(b["executions"][0]["output"], "{not json");
    server.stop().await;
    db.finish().await;
}

/// The bash client where shell scripts trip it: `set -e` scripts, error output cut in the middle
/// of a UTF-8 character or not UTF-8 at all, a start time later than the end (a clock stepped
/// back), an exit code that is not a number, and the secret, which must never be on curl's
/// command line. Every run is recorded, against the real server.
#[tokio::test]
async fn the_bash_client_survives_what_shell_scripts_do() {
    let db = TestDb::sqlite().await;
    let server = Running::start(&db.url, |_| {}).await;
    let root = server.base.trim_end_matches("/api/admin").to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cron-logger.sh");
    // A `curl` first on the PATH that writes down its arguments, then runs the real one.
    let dir = crate::common::spool_dir();
    let argv_log = dir.join("curl-argv");
    let real_curl = std::process::Command::new("bash")
        .args(["-c", "command -v curl"])
        .output()
        .expect("bash");
    let real_curl = String::from_utf8_lossy(&real_curl.stdout).trim().to_owned();
    assert!(!real_curl.is_empty(), "curl is needed");
    let wrapper = dir.join("curl");
    std::fs::write(
        &wrapper,
        format!(
            "#!/usr/bin/env bash\nprintf '%s\\n' \"$*\" >>'{}'\nexec '{real_curl}' \"$@\"\n",
            argv_log.display()
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod wrapper");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            r#"source '{script}'
# set -e: the wrapped command fails, its failure is recorded, then the script stops there.
rc=0
bash -c "set -e; source '{script}'; cron_wrap set-e-job false; echo not-reached" || rc=$?
echo "set-e-exit=$rc"
# 2,000 bytes of error output that start in the middle of a character.
cron_wrap utf8-job bash -c 'for i in $(seq 1500); do printf "é"; done >&2; echo >&2; exit 3' || true
# Error output that is not UTF-8 at all.
cron_wrap bytes-job bash -c 'printf "ÿþ broken pipe
" >&2; exit 5' || true
# A start later than the end.
cron_start clock-job
CRON_START_MS=$(( CRON_START_MS + 60000 ))
cron_complete
# An exit code that is not a number.
cron_start code-job
cron_fail "bad code" 1-2
echo done"#
        ))
        .env("CRON_API_BASE", &root)
        .env("CRON_SECRET", SECRET)
        .env("PATH", &path)
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("set-e-exit=1"), "{stdout}");
    assert!(!stdout.contains("not-reached"), "{stdout}");
    assert!(stdout.trim_end().ends_with("done"), "{stdout}");

    let run = |cron: &'static str| {
        let base = server.base.clone();
        async move {
            let (s, b) = get(&base, &format!("/cron-executions/list?cronName={cron}")).await;
            assert_eq!(s, 200, "{b}");
            assert_eq!(b["pagination"]["total"], 1, "{cron}: {b}");
            b["executions"][0].clone()
        }
    };
    let e = run("set-e-job").await;
    assert_eq!(
        (e["status"].as_str(), e["exit_code"].as_i64()),
        (Some("failed"), Some(1))
    );
    let e = run("utf8-job").await;
    assert_eq!(
        (e["status"].as_str(), e["exit_code"].as_i64()),
        (Some("failed"), Some(3))
    );
    assert!(e["error_message"].as_str().unwrap().contains("éééé"), "{e}");
    let e = run("bytes-job").await;
    assert_eq!(
        (e["status"].as_str(), e["exit_code"].as_i64()),
        (Some("failed"), Some(5))
    );
    assert!(
        e["error_message"].as_str().unwrap().contains("broken pipe"),
        "{e}"
    );
    let e = run("clock-job").await;
    assert_eq!(
        (e["status"].as_str(), e["duration_ms"].as_i64()),
        (Some("completed"), Some(0))
    );
    let e = run("code-job").await;
    assert_eq!(
        (e["status"].as_str(), e["exit_code"].as_i64()),
        (Some("failed"), Some(1))
    );
    assert_eq!(e["error_message"], "bad code");

    // curl ran for every report, and never with the secret among its arguments.
    let argv = std::fs::read_to_string(&argv_log).expect("curl ran");
    assert!(argv.lines().count() >= 10, "{argv}");
    assert!(!argv.contains(SECRET), "{argv}");
    let _ = std::fs::remove_dir_all(&dir);
    server.stop().await;
    db.finish().await;
}

async fn orphan(store: &dyn Store, cron: &str, ago: chrono::Duration) -> uuid::Uuid {
    let mut s = Start::now(CronName::new(cron).unwrap());
    s.started_at = Utc::now() - ago;
    store.record_start(&s).await.unwrap();
    s.id
}

/// Two server instances on one PostgreSQL: both sweep, every orphan is closed exactly once,
/// and what one instance records the other serves.
#[tokio::test]
async fn two_instances_share_one_postgres_and_sweep_once() {
    let db = TestDb::postgres().await;
    let name = CronName::new("hangs").unwrap();
    db.store
        .upsert_schedule(
            &name,
            &ScheduleUpdate {
                timeout_ms: Some(60_000),
                ..ScheduleUpdate::default()
            },
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..60 {
        ids.push(orphan(db.store.as_ref(), "hangs", chrono::Duration::hours(2)).await);
    }
    // Two stores = two pools, as two processes have.
    let a = cronmon::store::connect(&db.url).await.unwrap();
    let b = cronmon::store::connect(&db.url).await.unwrap();
    let mut closed = 0;
    for _ in 0..5 {
        let (ra, rb) = tokio::join!(
            sweep_once(a.as_ref(), Duration::from_secs(60)),
            sweep_once(b.as_ref(), Duration::from_secs(60)),
        );
        closed += ra.unwrap().orphans_closed + rb.unwrap().orphans_closed;
    }
    assert_eq!(closed, 60, "each orphan closed exactly once");
    for id in &ids {
        let e = db.store.execution(*id).await.unwrap().unwrap();
        assert_eq!(e.status, Status::Failed);
        assert_eq!(e.reason, Some(cronmon::Reason::TimedOut));
    }
    a.close().await;
    b.close().await;

    // Two real servers with fast sweeps on the same database.
    let late = orphan(db.store.as_ref(), "hangs", chrono::Duration::hours(3)).await;
    let fast = |c: &mut ServerConfig| {
        c.sweep_every = Duration::from_millis(100);
        c.orphan_after = Duration::from_secs(60);
    };
    let one = Running::start(&db.url, fast).await;
    let two = Running::start(&db.url, fast).await;
    let (s, started) = post(
        &one.base,
        "/cron-executions/start",
        json!({"cronName": "shared"}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = post(
        &two.base,
        "/cron-executions/complete",
        json!({"executionId": started["executionId"], "status": "completed"}),
    )
    .await;
    assert_eq!(s, 200);
    let (_, b) = get(
        &one.base,
        &format!(
            "/cron-executions/{}",
            started["executionId"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(b["execution"]["status"], "completed");
    let mut closed = false;
    for _ in 0..50 {
        if db.store.execution(late).await.unwrap().unwrap().status == Status::Failed {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the sweeps closed the orphan");
    one.stop().await;
    two.stop().await;
    db.finish().await;
}

/// A database outage is 503 `unavailable`, never 500.
#[tokio::test]
async fn database_outage_is_503() {
    for db in [TestDb::sqlite().await, TestDb::postgres().await] {
        let store: Arc<dyn Store> = db.store.clone();
        let app = axum::Router::new().nest(
            "/api/admin",
            cronmon_http::router(cronmon_http::Api::new(
                store.clone(),
                cronmon_http::Config::new(SECRET),
            )),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api/admin", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        store.close().await; // the database goes away
        for (s, b) in [
            post(&base, "/cron-executions/start", json!({"cronName": "x"})).await,
            get(&base, "/cron-executions/stats").await,
            get(&base, "/cron-executions/list").await,
            get(&base, "/cron-schedules").await,
        ] {
            assert_eq!(s, 503, "{b}");
            assert_eq!(b["error"]["code"], "unavailable");
        }
        let r = client().get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 503);
        task.abort();
        db.finish().await;
    }
}

/// The real `server` example as a process: zero set-up on SQLite, a generated secret printed
/// once, the API answering, and a clean exit on SIGTERM.
#[tokio::test]
async fn the_server_example_runs_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("cronmon-e2e-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = common::free_port();
    let mut child = tokio::process::Command::new(common::server_binary())
        .arg("--demo")
        .current_dir(&dir)
        .env_remove("CRON_SECRET")
        .env_remove("CRONMON_URL")
        .env_remove("DATABASE_URL")
        .env("CRONMON_BIND", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let secret = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(s) = line.split("generated for this run: ").nth(1) {
                return s.trim().to_owned();
            }
        }
        panic!("no secret printed")
    })
    .await
    .expect("the server starts");
    assert_eq!(secret.len(), 64);
    let base = format!("http://127.0.0.1:{port}/api/admin");
    let mut up = false;
    for _ in 0..100 {
        if let Ok(r) = client().get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "health answers");
    let r = client()
        .get(format!("{base}/cron-schedules"))
        .header("Authorization", format!("Bearer {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        b["schedules"].as_array().unwrap().len(),
        6,
        "--demo made the demo crons"
    );
    let r = client()
        .get(format!("{base}/cron-executions/stats"))
        .header("X-Cron-Secret", &secret)
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    assert!(
        !b["stuckCrons"].as_array().unwrap().is_empty(),
        "one stuck run"
    );
    // The seed's three batch kinds, one run going on each, part way.
    let r = client()
        .get(format!("{base}/cron-executions/batches"))
        .header("X-Cron-Secret", &secret)
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    let kinds = b["batches"].as_object().expect("batches");
    assert_eq!(
        kinds.keys().collect::<Vec<_>>(),
        ["kbIndexation", "qualityAnalysis", "webCrawls"],
        "{b}"
    );
    for (kind, k) in kinds {
        assert_eq!(k["runningCount"], 1, "{kind}: {k}");
        let run = &k["running"][0];
        let (done, total) = (
            run["done"].as_i64().unwrap(),
            run["total"].as_i64().unwrap(),
        );
        assert!(0 < done && done < total, "{kind} part way: {run}");
    }
    // A week of their history, some of it failed.
    {
        let pool =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("cronmon.db").display()))
                .await
                .unwrap();
        let by_status: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, status, count(*) FROM batch_runs GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        for kind in ["kbIndexation", "qualityAnalysis", "webCrawls"] {
            let count = |status: &str| {
                by_status
                    .iter()
                    .find(|(k, s, _)| k == kind && s == status)
                    .map_or(0, |r| r.2)
            };
            assert!(count("completed") >= 60, "{kind}: {by_status:?}");
            assert!(count("failed") >= 1, "{kind}: {by_status:?}");
        }
    }
    assert!(
        dir.join("cronmon.db").exists(),
        "sqlite://cronmon.db by default"
    );

    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops on SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn raw_exchange(addr: &str, head: &[u8], rest: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(head).await;
    let _ = s.write_all(rest).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A 10 MB header, invalid UTF-8 in headers and paths: refused cleanly, never a 500, and the
/// server keeps serving.
#[tokio::test]
async fn hostile_requests_over_the_wire() {
    let db = TestDb::sqlite().await;
    let server = Running::start(&db.url, |_| {}).await;
    let addr = server
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/api/admin")
        .to_owned();

    let mut big = b"GET /api/admin/health HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    let answer = raw_exchange(&addr, &big, b"\r\n\r\n").await;
    assert!(
        !answer.contains(" 500 "),
        "{}",
        &answer[..answer.len().min(200)]
    );
    if !answer.is_empty() {
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "{}",
            &answer[..answer.len().min(200)]
        );
    }

    let bad_secret = b"GET /api/admin/cron-schedules HTTP/1.1\r\nHost: x\r\nX-Cron-Secret: \xff\xfe\r\nConnection: close\r\n\r\n";
    let answer = raw_exchange(&addr, bad_secret, b"").await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"unauthorized\""), "{answer}");

    let bad_path = format!(
        "PUT /api/admin/cron-schedules/%FF%FE HTTP/1.1\r\nHost: x\r\nX-Cron-Secret: {SECRET}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    let answer = raw_exchange(&addr, bad_path.as_bytes(), b"").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"invalid_path\""), "{answer}");

    let (s, _) = get(&server.base, "/cron-schedules").await;
    assert_eq!(s, 200, "still serving");
    server.stop().await;
    db.finish().await;
}

/// Shutdown lets a request in flight finish: its body arrives after the signal and it is
/// still recorded and answered.
#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TestDb::sqlite().await;
    let server = Running::start(&db.url, |_| {}).await;
    let addr = server
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/api/admin")
        .to_owned();
    let body = br#"{"cronName": "in-flight"}"#;
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/admin/cron-executions/start HTTP/1.1\r\nHost: x\r\nX-Cron-Secret: {SECRET}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.write_all(&body[5..]).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered")
        .unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("stops once the request is done")
        .unwrap();
    let store = cronmon::store::connect(&db.url).await.unwrap();
    let page = store
        .list_executions(
            &cronmon::ExecutionFilter::default(),
            cronmon::PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    store.close().await;
    db.finish().await;
}

/// The server's background sweeps on SQLite: retention deletes old finished runs, orphans
/// past their limit are closed, recent runs stay.
#[tokio::test]
async fn sweeps_apply_retention_and_close_orphans() {
    let db = TestDb::sqlite().await;
    let old = orphan(db.store.as_ref(), "old", chrono::Duration::days(10)).await;
    db.store
        .record_finish(&cronmon::Finish::now(old, Status::Completed))
        .await
        .unwrap();
    let hung = orphan(db.store.as_ref(), "hung", chrono::Duration::hours(3)).await;
    let fresh = orphan(db.store.as_ref(), "fresh", chrono::Duration::minutes(1)).await;
    let server = Running::start(&db.url, |c| {
        c.sweep_every = Duration::from_millis(100);
        c.cleanup_every = Duration::from_secs(1);
        c.orphan_after = Duration::from_secs(2 * 3600);
        c.retention = Duration::from_secs(7 * 24 * 3600);
    })
    .await;
    let mut done = false;
    for _ in 0..50 {
        let gone = db.store.execution(old).await.unwrap().is_none();
        let closed = db.store.execution(hung).await.unwrap().unwrap().status == Status::Failed;
        if gone && closed {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "retention and orphan sweeps ran");
    let fresh = db.store.execution(fresh).await.unwrap().unwrap();
    assert_eq!(fresh.status, Status::Running);
    server.stop().await;
    db.finish().await;
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Two real server processes on one PostgreSQL, both sweeping every second: the orphans they
/// report closing add up to exactly the orphans there were.
#[tokio::test]
async fn two_server_processes_close_each_orphan_once() {
    use tokio::io::AsyncBufReadExt;
    let db = TestDb::postgres().await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(orphan(db.store.as_ref(), "hangs", chrono::Duration::hours(2)).await);
    }
    let mut children = Vec::new();
    let logs = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    for _ in 0..2 {
        let mut child = tokio::process::Command::new(common::server_binary())
            .args(["--sweep-secs", "1", "--orphan-after-mins", "1"])
            .env("CRONMON_URL", &db.url)
            .env("CRONMON_BIND", format!("127.0.0.1:{}", common::free_port()))
            .env("CRON_SECRET", SECRET)
            .env("CRONMON_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let logs = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                logs.lock().unwrap().push(strip_ansi(&line));
            }
        });
        children.push(child);
    }
    let mut closed_all = false;
    for _ in 0..100 {
        let mut open = 0;
        for id in &ids {
            if db.store.execution(*id).await.unwrap().unwrap().status == Status::Running {
                open += 1;
            }
        }
        if open == 0 {
            closed_all = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(closed_all, "the sweeps closed every orphan");
    tokio::time::sleep(Duration::from_millis(1500)).await; // a few more sweeps on both
    for child in &mut children {
        let pid = child.id().unwrap();
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("stops on SIGTERM")
            .unwrap();
        assert!(exit.success());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = logs.lock().unwrap().clone();
    let listening = logs
        .iter()
        .filter(|l| l.contains("cronmon listening"))
        .count();
    assert_eq!(listening, 2, "{logs:#?}");
    let closed: u64 = logs
        .iter()
        .filter(|l| l.contains("closed orphaned runs"))
        .filter_map(|l| l.split("closed=").nth(1))
        .filter_map(|n| n.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(
        closed, 40,
        "each orphan closed once across both processes: {logs:#?}"
    );
    db.finish().await;
}
