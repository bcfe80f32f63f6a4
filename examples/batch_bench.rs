//! Batch kinds' speed: what `BatchRun::advance` costs the job next to `CronRun::start` (each
//! only enqueues), then `GET /cron-executions/batches` over a loopback server with 20 kinds
//! and a million batch runs of history, plus a few running runs per kind.
//!
//! ```sh
//! cargo run --release --example batch_bench                                   # SQLite file in a temp dir
//! cargo run --release --example batch_bench -- --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//! A PostgreSQL URL names an admin database: a scratch database `cronmon_batch_bench` is made
//! next to it, and dropped at the end.
//!
//! The history goes straight into `batch_runs` with one `INSERT … SELECT` (PostgreSQL:
//! `generate_series`, SQLite: a recursive CTE). On PostgreSQL the row trigger is off for that
//! statement and the roll-ups (`batch_stats_daily`, `batch_stats_minutely`) are written from the
//! history in one `GROUP BY` each, as the trigger would have left them; on SQLite the triggers
//! fill them row by row. The running runs are recorded through the store, as a job's reports are.

#[path = "support/scratch.rs"]
mod scratch;

use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser;
use cronmon::batch::{BatchEvent, BatchRun};
use cronmon::{CronRun, Event, Monitor};
use scratch::Scratch;

/// Times `BatchRun::advance` and the batches endpoint.
#[derive(Debug, Parser)]
struct Args {
    /// Database of the endpoint's measure: a PostgreSQL admin URL (a scratch database is made
    /// next to it); by default a SQLite file in a temp dir.
    #[arg(long)]
    database_url: Option<String>,
    /// Batch runs of history.
    #[arg(long, default_value_t = 1_000_000)]
    runs: i64,
    /// Batch kinds.
    #[arg(long, default_value_t = 20)]
    kinds: i64,
    /// Running batch runs per kind.
    #[arg(long, default_value_t = 3)]
    running: i64,
    /// Days the history spreads over, up to now.
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Requests to the endpoint, one after another on one connection.
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// Only the job's side (advance, start): no database filled.
    #[arg(long, conflicts_with = "endpoint_only")]
    job_only: bool,
    /// Only the endpoint.
    #[arg(long)]
    endpoint_only: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if !args.endpoint_only {
        tokio::task::spawn_blocking(job_side).await??;
    }
    if args.job_only {
        return Ok(());
    }
    let scratch = Scratch::new(args.database_url.as_deref(), "cronmon_batch_bench").await?;
    let result = endpoint(&args, &scratch.url).await;
    scratch.drop_it().await?;
    result
}

/// Per-call cost on the job's thread, median of 20 batches of 2,000 calls, each batch below the
/// queue's capacity so every call that sends is a plain enqueue (flushed between batches).
fn job_side() -> Result<(), cronmon::Error> {
    let spool = std::env::temp_dir().join(format!("cronmon-batch-bench-{}", std::process::id()));
    let monitor = Monitor::builder("sqlite::memory:")
        .spool_dir(&spool)
        .build()?;
    // Warm up: the recorder thread, the host facts, the allocator.
    CronRun::start(&monitor, "warm-up").complete();
    BatchRun::start(&monitor, "warm-up").complete();
    monitor.flush_blocking(Duration::from_secs(30));
    let batch = 2_000u32;

    let measure = |name: &str, setup: &dyn Fn() -> Box<dyn FnMut()>| {
        let mut samples = Vec::new();
        for _ in 0..20 {
            let mut call = setup();
            let began = Instant::now();
            for _ in 0..batch {
                call();
            }
            samples.push(began.elapsed() / batch);
            drop(call);
            monitor.flush_blocking(Duration::from_secs(30));
        }
        samples.sort();
        let median = samples[samples.len() / 2];
        println!(
            "{name}: median {median:?}, best {:?}, worst {:?} per call (20 batches of {batch})",
            samples[0],
            samples[samples.len() - 1]
        );
        median
    };
    let start = measure("CronRun::start", &|| {
        let monitor = monitor.clone();
        let mut runs = Vec::with_capacity(batch as usize);
        // Abandoned when the batch ends: one more event each, off the clock.
        Box::new(move || runs.push(CronRun::start(&monitor, "bench")))
    });
    // A run a billion items long: advancing counts, and sends at most once a second.
    let throttled = measure("BatchRun::advance (throttled)", &|| {
        let run = BatchRun::builder(&monitor, "bench")
            .total(1_000_000_000)
            .start();
        Box::new(move || run.advance(1, 0))
    });
    // A run already at its total: every advance sends its whole state (one event queued).
    let sending = measure("BatchRun::advance (sends each time)", &|| {
        let run = BatchRun::builder(&monitor, "bench").total(1).start();
        run.advance(1, 0);
        Box::new(move || run.advance(1, 0))
    });
    println!(
        "advance / CronRun::start: throttled {:.2}, sending each time {:.2}",
        throttled.as_secs_f64() / start.as_secs_f64(),
        sending.as_secs_f64() / start.as_secs_f64()
    );
    println!("{:?}", monitor.stats());
    let _ = std::fs::remove_dir_all(&spool);
    Ok(())
}

async fn endpoint(args: &Args, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = cronmon::store::connect(url).await?;
    let t = Instant::now();
    if url.starts_with("postgres") {
        fill_postgres(url, args).await?;
    } else {
        fill_sqlite(url, args).await?;
    }
    // The running runs, as a job reports them: a start, then its progress.
    let now = Utc::now();
    let mut events = Vec::new();
    for k in 0..args.kinds {
        for r in 0..args.running {
            let mut start = BatchEvent::start(format!("kind-{k}"), Some(1_000 + r * 500));
            start.started_at = now - chrono::TimeDelta::minutes(5 + r * 7);
            start.at = start.started_at;
            start.host = Some(format!("worker-{r}"));
            let mut progress = start.clone();
            progress.at = now - chrono::TimeDelta::seconds(2);
            progress.done = 300 + r * 100;
            progress.failed = r;
            events.push(Event::Batch(start));
            events.push(Event::Batch(progress));
        }
    }
    for r in store.record_batch(&events).await? {
        r?;
    }
    let backend = if url.starts_with("postgres") {
        "postgresql"
    } else {
        "sqlite"
    };
    println!(
        "{backend}: loaded {} batch runs over {} kinds ({} days) and {} running in {:.1?}",
        args.runs,
        args.kinds,
        args.days,
        args.kinds * args.running,
        t.elapsed()
    );

    let secret = "batch-bench";
    let app = axum::Router::new().nest(
        "/api/admin",
        cronmon_http::router(cronmon_http::Api::new(
            store.clone(),
            cronmon_http::Config::new(secret),
        )),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let endpoint = format!("http://{addr}/api/admin/cron-executions/batches");
    let get = || async {
        let res = client
            .get(&endpoint)
            .header("X-Cron-Secret", secret)
            .send()
            .await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await?;
        if !status.is_success() {
            return Err(format!("{status}: {body}").into());
        }
        Ok::<_, Box<dyn std::error::Error>>(body)
    };
    // Check the answer once: every kind, each with its running runs.
    let body = get().await?;
    let kinds = body["batches"].as_object().ok_or("no batches")?;
    let running: i64 = kinds
        .values()
        .map(|k| k["runningCount"].as_i64().unwrap_or(0))
        .sum();
    if kinds.len() as i64 != args.kinds || running != args.kinds * args.running {
        return Err(format!("{} kinds, {running} running: {body}", kinds.len()).into());
    }
    for _ in 0..20 {
        get().await?;
    }
    let mut times = Vec::with_capacity(args.requests);
    let began = Instant::now();
    for _ in 0..args.requests {
        let t = Instant::now();
        get().await?;
        times.push(t.elapsed());
    }
    let total = began.elapsed();
    times.sort();
    let at = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)];
    println!(
        "{backend}: GET /cron-executions/batches ({} kinds, {} requests): p50 {:.1?}, p95 {:.1?}, p99 {:.1?}, {:.0} requests/s",
        kinds.len(),
        times.len(),
        at(50),
        at(95),
        at(99),
        times.len() as f64 / total.as_secs_f64()
    );
    server.abort();
    drop(store);
    Ok(())
}

/// The history on PostgreSQL, trigger off, then the roll-ups from it in one pass each.
async fn fill_postgres(url: &str, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let pool = sqlx::PgPool::connect(url).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    // Run i started i × (days / runs) ago, ran 1 to 10 minutes; one in 29 failed part way.
    sqlx::query(
        "INSERT INTO cronmon.batch_runs (id, kind, status, total_items, done_items, failed_items,
             started_at, completed_at, error_message, host, last_progress_at)
         SELECT gen_random_uuid(), 'kind-' || (i % $2),
                CASE WHEN i % 29 = 0 THEN 'failed' ELSE 'completed' END,
                100 + i % 900,
                CASE WHEN i % 29 = 0 THEN (100 + i % 900) / 3 ELSE 100 + i % 900 - i % 7 END,
                CASE WHEN i % 29 = 0 THEN 1 ELSE i % 7 END,
                s, s + (60 + i % 540) * interval '1 s',
                CASE WHEN i % 29 = 0 THEN 'boom' END,
                'worker-' || (i % 5),
                s + (60 + i % 540) * interval '1 s'
         FROM generate_series(1, $1) i,
              LATERAL (SELECT now() - interval '11 minutes'
                              - (i * ($3 * 86400000.0 / $1)) * interval '1 ms' AS s) t",
    )
    .bind(args.runs)
    .bind(args.kinds)
    .bind(args.days as f64)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO cronmon.batch_stats_daily
             (kind, day, items_done, items_failed, runs_completed, runs_failed)
         SELECT kind, floor(extract(epoch FROM last_progress_at) / 86400)::bigint,
                sum(done_items), sum(failed_items),
                count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed')
         FROM cronmon.batch_runs GROUP BY 1, 2",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO cronmon.batch_stats_minutely (kind, minute, items_done, items_failed)
         SELECT kind, floor(extract(epoch FROM last_progress_at) / 60)::bigint,
                sum(done_items), sum(failed_items)
         FROM cronmon.batch_runs GROUP BY 1, 2",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // As autovacuum would leave it: statistics and the visibility map up to date.
    sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
    pool.close().await;
    Ok(())
}

/// The history on SQLite, through its roll-up triggers.
async fn fill_sqlite(url: &str, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    use sqlx::ConnectOptions;
    let mut conn = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()?
        .connect()
        .await?;
    let ms = args.days as f64 * 86_400_000.0 / args.runs as f64;
    sqlx::query(
        "WITH RECURSIVE series(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM series WHERE i < $1),
         runs AS (SELECT i, julianday('now') - (11.0 / 1440) - i * $3 / 86400000.0 AS s,
                         (60 + i % 540) / 86400.0 AS d FROM series)
         INSERT INTO batch_runs (id, kind, status, total_items, done_items, failed_items,
             started_at, completed_at, error_message, host, last_progress_at)
         SELECT randomblob(16), 'kind-' || (i % $2),
                CASE WHEN i % 29 = 0 THEN 'failed' ELSE 'completed' END,
                100 + i % 900,
                CASE WHEN i % 29 = 0 THEN (100 + i % 900) / 3 ELSE 100 + i % 900 - i % 7 END,
                CASE WHEN i % 29 = 0 THEN 1 ELSE i % 7 END,
                strftime('%Y-%m-%dT%H:%M:%fZ', s), strftime('%Y-%m-%dT%H:%M:%fZ', s + d),
                CASE WHEN i % 29 = 0 THEN 'boom' END,
                'worker-' || (i % 5),
                strftime('%Y-%m-%dT%H:%M:%fZ', s + d)
         FROM runs",
    )
    .bind(args.runs)
    .bind(args.kinds)
    .bind(ms)
    .execute(&mut conn)
    .await?;
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    Ok(())
}
