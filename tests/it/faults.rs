//! Faults, on real parts: two servers and a job's recorder writing one PostgreSQL at once, a
//! table locked for 30 s, a SQLite file held by another writer, a client that trickles its
//! headers, a server killed with SIGKILL mid-load, a PostgreSQL cluster of the test's own
//! stopped and started mid-load. Each load test fails if a run is lost or stored twice: it
//! compares the runs stored (by id, with their outcome, and the roll-ups' counts) with the runs
//! the clients made.
//!
//! Clients retry as real ones do (on 503, on a refused or broken connection); waits are on
//! conditions with deadlines of minutes, never on a fixed sleep, and no assertion is on time.

use std::collections::HashMap;
use std::ops::Not as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cronmon::{Monitor, Status};
use serde_json::json;
use uuid::Uuid;

use crate::common::server::Running;
use crate::common::{self, SECRET, TestDb};

/// Deadline of every wait in this module.
const PATIENCE: Duration = Duration::from_secs(240);

const CRONS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

/// What the clients of a load saw.
#[derive(Default)]
struct Seen {
    /// Every run made, with the outcome its finish asked for.
    runs: Mutex<HashMap<Uuid, Status>>,
    /// Starts and finishes the server acknowledged (2xx), in order.
    acked: Mutex<Vec<(Uuid, Option<Status>)>>,
    /// Answers that were neither 2xx nor 503 (a 500 is a bug; anything else too).
    wrong: Mutex<Vec<String>>,
    unavailable: std::sync::atomic::AtomicU64,
}

impl Seen {
    fn acked_runs(&self) -> usize {
        self.acked
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.is_some())
            .count()
    }
}

/// POSTs until the server acknowledges: a 503 or a connection that fails (the server or the
/// database is down) is retried, anything else but 2xx is recorded as wrong.
async fn post_until_acked(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: &serde_json::Value,
    seen: &Seen,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(Instant::now() < deadline, "{path} never acknowledged");
        match client
            .post(format!("{base}{path}"))
            .header("X-Cron-Secret", SECRET)
            .json(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if r.status().as_u16() == 503 => {
                seen.unavailable
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                assert!(
                    r.headers().contains_key("retry-after"),
                    "503 without Retry-After"
                );
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                seen.wrong
                    .lock()
                    .unwrap()
                    .push(format!("{path}: {status} {text}"));
                return;
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `runs` runs over HTTP, one after the other: start, then complete (every third one
/// failed), each retried until acknowledged.
async fn http_runs(base: String, worker: usize, runs: usize, seen: Arc<Seen>) {
    let client = client();
    for j in 0..runs {
        let id = Uuid::now_v7();
        let cron = CRONS[(worker + j) % CRONS.len()];
        let status = if j % 3 == 0 {
            Status::Failed
        } else {
            Status::Completed
        };
        seen.runs.lock().unwrap().insert(id, status);
        post_until_acked(
            &client,
            &base,
            "/cron-executions/start",
            &json!({"cronName": cron, "executionId": id}),
            &seen,
        )
        .await;
        seen.acked.lock().unwrap().push((id, None));
        post_until_acked(
            &client,
            &base,
            "/cron-executions/complete",
            &json!({"executionId": id, "status": status.as_str(), "durationMs": 10 + j, "output": {"j": j}}),
            &seen,
        )
        .await;
        seen.acked.lock().unwrap().push((id, Some(status)));
    }
}

/// `runs` runs through a job's recorder (`monitor`), from a thread of their own, as a job
/// makes them (every fourth one failed).
fn recorder_runs(
    monitor: Monitor,
    worker: usize,
    runs: usize,
    pause: Duration,
    seen: Arc<Seen>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for j in 0..runs {
            let run = monitor.start(CRONS[(worker + j) % CRONS.len()]);
            let failed = j % 4 == 0;
            seen.runs.lock().unwrap().insert(
                run.id(),
                if failed {
                    Status::Failed
                } else {
                    Status::Completed
                },
            );
            if failed {
                run.fail("boom", Some(1));
            } else {
                run.complete();
            }
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        }
    })
}

fn recorder(url: &str, spool: &std::path::Path) -> Monitor {
    Monitor::builder(url)
        .secret(SECRET)
        .spool_dir(spool)
        .own_recorder()
        .build()
        .expect("monitor")
}

/// Where a test reads what was stored, over connections of its own, on either database.
enum Stored {
    Pg(sqlx::PgPool),
    Lite(sqlx::SqlitePool),
}

impl Stored {
    async fn open(url: &str) -> Self {
        if url.starts_with("sqlite") {
            Stored::Lite(sqlx::SqlitePool::connect(url).await.unwrap())
        } else {
            Stored::Pg(pg_pool(url).await)
        }
    }

    /// Runs started, completed and failed, as the hourly roll-ups count them.
    async fn rollup_totals(&self) -> (i64, i64, i64) {
        match self {
            Stored::Pg(pool) => sqlx::query_as(
                "SELECT sum(started)::int8, sum(completed)::int8, sum(failed)::int8
                 FROM cronmon.cron_stats_hourly_live",
            )
            .fetch_one(pool)
            .await
            .unwrap(),
            Stored::Lite(pool) => sqlx::query_as(
                "SELECT sum(started), sum(completed), sum(failed) FROM cron_stats_hourly",
            )
            .fetch_one(pool)
            .await
            .unwrap(),
        }
    }

    async fn close(&self) {
        match self {
            Stored::Pg(pool) => pool.close().await,
            Stored::Lite(pool) => pool.close().await,
        }
    }
}

/// Every run stored, by id, with its outcome, and as many as there were: none lost, none
/// twice (the roll-ups count each once too).
async fn stored_runs(db: &Stored) -> HashMap<Uuid, String> {
    let rows = match db {
        Stored::Pg(pool) => {
            sqlx::query_as::<_, (Uuid, String)>("SELECT id, status FROM cronmon.cron_executions")
                .fetch_all(pool)
                .await
        }
        Stored::Lite(pool) => {
            sqlx::query_as::<_, (Uuid, String)>("SELECT id, status FROM cron_executions")
                .fetch_all(pool)
                .await
        }
    };
    rows.unwrap().into_iter().collect()
}

/// Waits (replaying the monitors' spools) until every run of `seen` is stored, then checks
/// they are stored exactly once with their outcome.
async fn assert_every_run_once(db: &Stored, seen: &Seen, monitors: &[&Monitor]) {
    let expected: HashMap<Uuid, String> = seen
        .runs
        .lock()
        .unwrap()
        .iter()
        .map(|(id, s)| (*id, s.as_str().to_owned()))
        .collect();
    let deadline = Instant::now() + PATIENCE;
    let mut stored = stored_runs(db).await;
    while stored != expected && Instant::now() < deadline {
        for m in monitors {
            m.replay_spool();
            m.flush(Duration::from_secs(30)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stored = stored_runs(db).await;
    }
    let missing = expected
        .keys()
        .filter(|id| !stored.contains_key(id))
        .count();
    let unknown = stored
        .keys()
        .filter(|id| !expected.contains_key(id))
        .count();
    let other = expected
        .iter()
        .filter(|(id, s)| stored.get(id).is_some_and(|t| t != *s))
        .count();
    assert_eq!(
        (missing, unknown, other),
        (0, 0, 0),
        "runs missing, stored but never made, stored with another outcome (of {})",
        expected.len()
    );
    let (started, completed, failed) = db.rollup_totals().await;
    let want_failed = expected.values().filter(|s| *s == "failed").count() as i64;
    assert_eq!(
        (started, completed, failed),
        (
            expected.len() as i64,
            expected.len() as i64 - want_failed,
            want_failed
        ),
        "the roll-ups count each run once"
    );
    let wrong = seen.wrong.lock().unwrap();
    assert!(wrong.is_empty(), "answers neither 2xx nor 503: {wrong:#?}");
}

async fn pg_pool(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap()
}

/// Ends every session on the test's database (their statistics are written as they exit),
/// then reads one of its counters in `pg_stat_database`. Done from the admin database, so
/// that these queries count in no counter of the test's database.
async fn database_counter(url: &str, counter: &str) -> i64 {
    let (_, name) = url.rsplit_once('/').expect("url names its database");
    let pg = pg_pool(&common::pg_admin_url()).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let others: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(name)
        .fetch_one(&pg)
        .await
        .unwrap();
        if others == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "sessions would not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {counter} FROM pg_stat_database WHERE datname = $1"
    )))
    .bind(name)
    .fetch_one(&pg)
    .await
    .unwrap();
    pg.close().await;
    n
}

/// How many deadlocks PostgreSQL detected in the test's database.
async fn deadlocks_detected(url: &str) -> i64 {
    database_counter(url, "deadlocks").await
}

/// Two servers and a job's recorder, all on one PostgreSQL database, all writing starts and
/// finishes of the same four crons at once: PostgreSQL detects no deadlock, no request is
/// answered 503 (or anything but 2xx), and every run is stored once with its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_and_a_recorder_on_one_database_never_deadlock() {
    let db = TestDb::postgres().await;
    // One writer on the first server: its batches mix every cron, as a direct recorder's do.
    let a = Running::start(&db.url, |c| c.writers = Some(1)).await;
    let b = Running::start(&db.url, |_| {}).await;
    let spool = common::spool_dir();
    let monitor = recorder(&db.url, &spool);
    let seen = Arc::new(Seen::default());
    let mut tasks = Vec::new();
    for worker in 0..24 {
        let base = if worker % 2 == 0 { &a.base } else { &b.base };
        tasks.push(tokio::spawn(http_runs(
            base.clone(),
            worker,
            40,
            seen.clone(),
        )));
    }
    let threads: Vec<_> = (0..2)
        .map(|w| recorder_runs(monitor.clone(), w, 500, Duration::ZERO, seen.clone()))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(monitor.flush(PATIENCE).await, "the recorder delivered");
    let reader = Stored::open(&db.url).await;
    assert_every_run_once(&reader, &seen, &[&monitor]).await;
    reader.close().await;
    assert_eq!(
        seen.unavailable.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no request answered 503"
    );
    let stats = monitor.stats();
    assert_eq!((stats.spooled, stats.dropped), (0, 0), "{stats:?}");
    drop(monitor);
    a.stop().await;
    b.stop().await;
    assert_eq!(deadlocks_detected(&db.url).await, 0, "deadlocks detected");
    let _ = std::fs::remove_dir_all(&spool);
    db.finish().await;
}

/// One POST, once: its status and whether it said when to retry.
async fn post_once(base: &str, path: &str, body: serde_json::Value) -> (u16, bool) {
    let r = client()
        .post(format!("{base}{path}"))
        .header("X-Cron-Secret", SECRET)
        .json(&body)
        .send()
        .await
        .expect("the server answers");
    (r.status().as_u16(), r.headers().contains_key("retry-after"))
}

/// `/health`'s status: it answers whatever the database does.
async fn health(base: &str) -> u16 {
    client()
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health answers")
        .status()
        .as_u16()
}

/// `cron_executions` locked by another session for 30 s while clients and a job's recorder
/// keep writing: a write answers 503 with Retry-After (not a hang, not a 500), `/health`
/// answers, and once the lock is gone every run is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_that_stops_answering_for_30s_loses_nothing() {
    use sqlx::Connection as _;
    let db = TestDb::postgres().await;
    let server = Running::start(&db.url, |_| {}).await;
    let spool = common::spool_dir();
    let monitor = recorder(&server.base, &spool);
    let seen = Arc::new(Seen::default());
    let thread = recorder_runs(
        monitor.clone(),
        0,
        200,
        Duration::from_millis(100),
        seen.clone(),
    );
    let tasks: Vec<_> = (0..4)
        .map(|w| tokio::spawn(http_runs(server.base.clone(), w, 30, seen.clone())))
        .collect();

    let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut tx = holder.begin().await.unwrap();
    sqlx::query("LOCK TABLE cronmon.cron_executions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let locked = Instant::now();
    let probe = json!({"cronName": "probe", "executionId": Uuid::now_v7()});
    let (status, retry_after) = post_once(&server.base, "/cron-executions/start", probe).await;
    assert_eq!(status, 503, "a write behind the lock");
    assert!(retry_after, "a 503 says when to retry");
    assert!(
        matches!(health(&server.base).await, 200 | 503),
        "health answers"
    );
    // The fault itself, not a wait for a result: the database keeps not answering for 30 s.
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(locked.elapsed())).await;
    tx.commit().await.unwrap();
    holder.close().await.unwrap();

    for t in tasks {
        t.await.unwrap();
    }
    thread.join().unwrap();
    assert!(monitor.flush(PATIENCE).await, "the recorder delivered");
    let reader = Stored::open(&db.url).await;
    assert_every_run_once(&reader, &seen, &[&monitor]).await;
    reader.close().await;
    assert_eq!(health(&server.base).await, 200);
    drop(monitor);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&spool);
    db.finish().await;
}

/// A SQLite file whose write lock another connection holds: a write answers 503 with
/// Retry-After once the busy timeout is out, `/health` answers, and once the lock is gone the
/// client's retries store every run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_held_by_another_writer_answers_503_then_stores_everything() {
    use sqlx::Connection as _;
    let db = TestDb::sqlite().await;
    let server = Running::start(&db.url, |_| {}).await;
    let mut holder = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let seen = Arc::new(Seen::default());
    let tasks: Vec<_> = (0..3)
        .map(|w| tokio::spawn(http_runs(server.base.clone(), w, 10, seen.clone())))
        .collect();
    let probe = json!({"cronName": "probe", "executionId": Uuid::now_v7()});
    let (status, retry_after) = post_once(&server.base, "/cron-executions/start", probe).await;
    assert_eq!(status, 503, "a write behind another writer's lock");
    assert!(retry_after, "a 503 says when to retry");
    assert!(
        matches!(health(&server.base).await, 200 | 503),
        "health answers"
    );
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let wrong = seen.wrong.lock().unwrap().clone();
    assert!(wrong.is_empty(), "answers neither 2xx nor 503: {wrong:#?}");
    let runs = seen.runs.lock().unwrap().clone();
    for (id, status) in runs {
        let run = db.store.execution(id).await.unwrap().expect("run stored");
        assert_eq!(run.status, status);
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM cron_executions")
        .fetch_one(&*sqlx_sqlite_pool(&db.url).await)
        .await
        .unwrap();
    assert_eq!(
        total as usize,
        seen.runs.lock().unwrap().len(),
        "each run once"
    );
    server.stop().await;
    db.finish().await;
}

async fn sqlx_sqlite_pool(url: &str) -> Arc<sqlx::SqlitePool> {
    Arc::new(sqlx::SqlitePool::connect(url).await.unwrap())
}

/// A client that sends its request head a byte at a time and never finishes it has its
/// connection closed (408 at most, never a 2xx), and the server keeps serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TestDb::sqlite().await;
    let server = Running::start(&db.url, |c| c.header_read_timeout = Duration::from_secs(1)).await;
    let addr = server
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/api/admin")
        .to_owned();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // Endless: a request line, then one header that never ends, 10 bytes a second.
    let trickle = tokio::spawn(async move {
        let head = b"GET /api/admin/health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, reader.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the connection was never closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    trickle.abort();
    assert_eq!(health(&server.base).await, 200, "the server keeps serving");
    server.stop().await;
    db.finish().await;
}

/// Transactions committed in the test's database so far.
async fn commits(url: &str) -> i64 {
    database_counter(url, "xact_commit").await
}

/// `/health` needs no secret, so anyone can call it at any rate: the database is asked at
/// most once every two seconds whatever the rate (300 calls here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_asks_the_database_at_most_once_per_interval() {
    let db = TestDb::postgres().await;
    db.store.close().await;
    let before = commits(&db.url).await;
    let began = Instant::now();
    let server = Running::start(&db.url, |_| {}).await;
    let client = client();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{}/health", server.base));
            tokio::spawn(async move {
                for _ in 0..30 {
                    let r = client.get(&url).send().await.unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    server.stop().await;
    let elapsed = began.elapsed().as_secs() as i64;
    let used = commits(&db.url).await - before;
    // Opening the store and one round of sweeps and retention (its fold included) take 55 to
    // 71 (seen in CI), depending on which background rounds start before the server stops;
    // the checks, one per two seconds. Without the cache, the calls alone would take 300.
    assert!(
        used <= 100 + elapsed / 2,
        "{used} transactions with 300 health calls in {elapsed} s"
    );
    db.finish().await;
}

/// The `server` example as a process on `port`, once `/health` answers.
async fn server_process(url: &str, port: u16) -> tokio::process::Child {
    let child = tokio::process::Command::new(common::server_binary())
        .env("CRONMON_URL", url)
        .env("CRONMON_BIND", format!("127.0.0.1:{port}"))
        .env("CRON_SECRET", SECRET)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/api/admin");
    let deadline = Instant::now() + PATIENCE;
    while client()
        .get(format!("{base}/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
        .not()
    {
        assert!(Instant::now() < deadline, "the server never came up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child
}

/// Waits until the clients have had `n` runs acknowledged whole.
async fn until_acked(seen: &Seen, n: usize) {
    let deadline = Instant::now() + PATIENCE;
    while seen.acked_runs() < n {
        assert!(Instant::now() < deadline, "the load never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The server process killed with SIGKILL in the middle of a load of clients and job
/// recorders, then started again on the same port: every run acknowledged before the kill is
/// stored as acknowledged, the clients' retries and the recorders (with their spool) deliver
/// the rest, and no run is stored twice. On PostgreSQL and on a SQLite file, whose batches
/// are transactions begun by hand (`sqlite/multi_row.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_server_mid_load_loses_and_doubles_nothing() {
    sigkill_mid_load(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_server_mid_load_loses_and_doubles_nothing_on_sqlite() {
    sigkill_mid_load(TestDb::sqlite().await).await;
}

async fn sigkill_mid_load(db: TestDb) {
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}/api/admin");
    let mut child = server_process(&db.url, port).await;
    let spool = common::spool_dir();
    let monitor = recorder(&base, &spool);
    let seen = Arc::new(Seen::default());
    let threads: Vec<_> = (0..2)
        .map(|w| {
            recorder_runs(
                monitor.clone(),
                w,
                150,
                Duration::from_millis(20),
                seen.clone(),
            )
        })
        .collect();
    let tasks: Vec<_> = (0..8)
        .map(|w| tokio::spawn(http_runs(base.clone(), w, 60, seen.clone())))
        .collect();

    until_acked(&seen, 100).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let acked_before_kill = seen.acked.lock().unwrap().clone();
    let mut child = server_process(&db.url, port).await;

    for t in tasks {
        t.await.unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    let reader = Stored::open(&db.url).await;
    assert_every_run_once(&reader, &seen, &[&monitor]).await;
    let stored = stored_runs(&reader).await;
    for (id, status) in &acked_before_kill {
        let stored = stored
            .get(id)
            .expect("a run acknowledged before the kill is stored");
        if let Some(status) = status {
            assert_eq!(stored, status.as_str());
        }
    }
    reader.close().await;
    drop(monitor);
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&spool);
    db.finish().await;
}

/// A PostgreSQL 15 cluster of the test's own (the shared one serves the other tests): made
/// with `initdb` in a temporary folder, on a free port, as the `postgres` user when the tests
/// run as root (which `initdb` refuses).
struct PrivatePg {
    dir: std::path::PathBuf,
    port: u16,
}

impl PrivatePg {
    const BIN: &str = "/usr/lib/postgresql/15/bin";

    fn command(program: &str) -> std::process::Command {
        let path = format!("{}/{program}", Self::BIN);
        if running_as_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--", &path]);
            c
        } else {
            std::process::Command::new(path)
        }
    }

    fn run(mut c: std::process::Command, what: &str) {
        let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            out.status.success(),
            "{what}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn init() -> Self {
        let dir = std::env::temp_dir().join(format!("cronmon-pg-{}", Uuid::now_v7().simple()));
        let mut c = Self::command("initdb");
        c.arg("-D")
            .arg(&dir)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        Self::run(c, "initdb");
        let pg = Self {
            dir,
            port: common::free_port(),
        };
        pg.start();
        pg
    }

    fn start(&self) {
        let mut c = Self::command("pg_ctl");
        c.arg("-D")
            .arg(&self.dir)
            .arg("-l")
            .arg(self.dir.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                self.port,
                self.dir.display()
            ))
            .args(["-w", "-t", "120", "start"]);
        Self::run(c, "pg_ctl start");
    }

    /// Fast mode: sessions are ended, transactions in flight rolled back.
    fn stop(&self) {
        let mut c = Self::command("pg_ctl");
        c.arg("-D")
            .arg(&self.dir)
            .args(["-m", "fast", "-w", "-t", "120", "stop"]);
        Self::run(c, "pg_ctl stop");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let mut c = Self::command("pg_ctl");
        c.arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = c.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// PostgreSQL stopped (fast) and started again in the middle of a load of HTTP clients and a
/// job's recorder writing to it directly: every run is stored once, with its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_load_loses_and_doubles_nothing() {
    let cluster = tokio::task::spawn_blocking(PrivatePg::init).await.unwrap();
    let url = cluster.url();
    let server = Running::start(&url, |_| {}).await;
    let spool = common::spool_dir();
    let monitor = recorder(&url, &spool);
    let seen = Arc::new(Seen::default());
    let thread = recorder_runs(
        monitor.clone(),
        0,
        300,
        Duration::from_millis(10),
        seen.clone(),
    );
    let tasks: Vec<_> = (0..8)
        .map(|w| tokio::spawn(http_runs(server.base.clone(), w, 50, seen.clone())))
        .collect();

    until_acked(&seen, 100).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster.start();
        cluster
    })
    .await
    .unwrap();

    for t in tasks {
        t.await.unwrap();
    }
    thread.join().unwrap();
    let reader = Stored::open(&url).await;
    assert_every_run_once(&reader, &seen, &[&monitor]).await;
    reader.close().await;
    drop(monitor);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&spool);
    drop(cluster);
}

/// cronmon's PostgreSQL connections carry a statement and a lock timeout, and a URL that sets
/// its own keeps it.
#[tokio::test]
async fn postgres_connections_have_statement_and_lock_timeouts() {
    let db = TestDb::postgres().await;
    for (url, statement, lock) in [
        (db.url.clone(), "30s", "10s"),
        (
            format!(
                "{}?options[statement_timeout]=60s&options[lock_timeout]=2s",
                db.url
            ),
            "1min",
            "2s",
        ),
    ] {
        let store = cronmon::store::PgStore::connect(&url).await.unwrap();
        let shown: (String, String) = sqlx::query_as(
            "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(shown, (statement.to_owned(), lock.to_owned()), "{url}");
        store.pool().close().await;
    }
    db.finish().await;
}
