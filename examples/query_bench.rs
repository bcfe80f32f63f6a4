//! Read-path benchmark: fills a fresh PostgreSQL database with `rows` runs of `crons` crons
//! that each run once a minute (so more rows is more history behind the same last day), then
//! times the dashboard's queries one by one and a whole dashboard refresh.
//!
//! Run with:
//! `cargo run --release --features postgres --example query_bench -- postgres://postgres@127.0.0.1/postgres 10000000 1000`
//! (the URL names an admin database; a scratch database `cronmon_bench` is made next to it).

use std::time::{Duration, Instant};

use cronmon::{ExecutionFilter, PageRequest, Status};
use sqlx::Connection;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let admin = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let rows: i64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let crons: i64 = args.next().map_or(Ok(1000), |s| s.parse())?;

    let (base, _) = admin.rsplit_once('/').ok_or("the URL needs a database")?;
    let url = format!("{base}/cronmon_bench");
    // BENCH_REUSE=1 times the queries on the database a previous run filled.
    let reuse = std::env::var_os("BENCH_REUSE").is_some();
    if !reuse {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(&admin).await?;
        c.execute("DROP DATABASE IF EXISTS cronmon_bench WITH (FORCE)")
            .await?;
        c.execute("CREATE DATABASE cronmon_bench").await?;
    }
    let store = cronmon::store::PgStore::connect(&url).await?;
    if !reuse {
        fill(store.pool(), rows, crons).await?;
    }

    let store: &dyn cronmon::Store = &store;
    run_queries(store).await
}

async fn run_queries(store: &dyn cronmon::Store) -> Result<(), Box<dyn std::error::Error>> {
    let by_cron = ExecutionFilter {
        cron_name: Some("cron-7".into()),
        ..Default::default()
    };
    let failed = ExecutionFilter {
        status: Some(Status::Failed),
        ..Default::default()
    };
    let page = PageRequest::default();
    bench("stats(24h)", || async { store.stats(24).await.map(drop) }).await?;
    bench("timeline(7d)", || async {
        store.timeline(7).await.map(drop)
    })
    .await?;
    bench("schedules", || async { store.schedules().await.map(drop) }).await?;
    bench("stuck_runs", || async {
        store.stuck_runs().await.map(drop)
    })
    .await?;
    bench("list page 1", || async {
        store
            .list_executions(&ExecutionFilter::default(), page)
            .await
            .map(drop)
    })
    .await?;
    bench("list by cron", || async {
        store.list_executions(&by_cron, page).await.map(drop)
    })
    .await?;
    bench("list failed", || async {
        store.list_executions(&failed, page).await.map(drop)
    })
    .await?;
    // What the dashboard asks for on each refresh, all at once as the browser does.
    let open = cronmon::health::IncidentFilter {
        open: Some(true),
        ..Default::default()
    };
    let resolved = cronmon::health::IncidentFilter {
        open: Some(false),
        ..Default::default()
    };
    let incidents = PageRequest::new(1, 50)?;
    let all = ExecutionFilter::default();
    bench("dashboard", || async {
        let (stats, schedules, list, open, resolved, channels) = tokio::join!(
            store.stats(24),
            store.schedules(),
            store.list_executions(&all, page),
            store.incidents(&open, incidents),
            store.incidents(&resolved, incidents),
            store.channels(),
        );
        stats.and(schedules.map(drop)).and(list.map(drop))?;
        open.and(resolved.map(drop)).and(channels.map(drop))?;
        Ok(())
    })
    .await?;
    Ok(())
}

async fn fill(
    pool: &sqlx::PgPool,
    rows: i64,
    crons: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    // One connection without cronmon's statement timeout: a million-row statement can take it.
    let mut conn = pool.acquire().await?;
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *conn)
        .await?;
    // Each cron runs once a minute, so the history ends now and reaches back `rows / crons`
    // minutes: the last 24 hours hold the same runs at 10 M as at 30 M, and only the history
    // behind them grows. A cron's runs last about its own typical time (50 ms to 4 min, ±30 %);
    // one run in 50 fails, two crons in a thousand have failed for as long as history goes,
    // and the newest run of one cron in ten is still running. Ids grow with time, as UUIDv7s do.
    // Bulk loaded without the roll-up triggers, a million runs a statement; the roll-ups are
    // then built in one pass each.
    const CHUNK: i64 = 1_000_000;
    let mut from = 0;
    while from < rows {
        let to = (from + CHUNK).min(rows);
        let mut tx = conn.begin().await?;
        sqlx::query("SET LOCAL session_replication_role = replica")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO cron_executions (id, cron_name, status, reason, trigger_type, started_at,
                                          completed_at, duration_ms, exit_code, error_message, host, pid)
             SELECT (lpad(to_hex($3 - i), 12, '0') || '7000800000000000' || lpad(to_hex(i % 65536), 4, '0'))::uuid,
                    'cron-' || c,
                    CASE WHEN running THEN 'running' WHEN failed THEN 'failed' ELSE 'completed' END,
                    CASE WHEN failed AND NOT running THEN 'error' END,
                    'scheduled', started,
                    CASE WHEN NOT running THEN started + ms * interval '1 ms' END,
                    CASE WHEN NOT running THEN ms END,
                    CASE WHEN NOT running THEN failed::int END,
                    CASE WHEN failed AND NOT running THEN 'boom' END,
                    'bench-host', (i % 30000)::int
             FROM (SELECT i, i % $2 AS c,
                          date_trunc('minute', now()) - (i / $2) * interval '1 minute'
                              + (i % $2 % 60) * interval '1 second' AS started,
                          i < $2 AND i % $2 % 10 = 0 AS running,
                          (i / $2 + i % $2) % 50 = 7 OR i % $2 % 500 = 1 AS failed,
                          round(50 * 1.3 ^ (i % $2 % 24) * (0.7 + 0.6 * ((i / $2 * 7919 + i % $2 * 104729) % 1000) / 1000.0))::bigint AS ms
                   FROM generate_series($1, $4 - 1) i) g",
        )
        .bind(from)
        .bind(crons)
        .bind(rows)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        from = to;
    }
    let mut tx = conn.begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO cron_schedules (cron_name, cron_expression, judged_through, next_deadline_at)
         SELECT 'cron-' || c, '* * * * *', date_trunc('minute', now()), date_trunc('minute', now()) + interval '1 minute'
         FROM generate_series(0, $1 - 1) c
         ON CONFLICT DO NOTHING",
    )
    .bind(crons)
    .execute(&mut *tx)
    .await?;
    // Each cron noted as written, as the run triggers note it; the fold below looks the newest
    // runs up (migration 0009).
    sqlx::query("INSERT INTO cron_latest_pending (cron_name) SELECT cron_name FROM cron_schedules")
        .execute(&mut *tx)
        .await?;
    // The roll-ups as the run triggers would leave them (pending, grouped by cron and hour),
    // then folded by the same function the server calls.
    sqlx::query(
        "INSERT INTO cron_rollup_pending (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
         SELECT cron_name, date_trunc('hour', started_at), count(*),
                count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
                coalesce(sum(duration_ms) FILTER (WHERE status <> 'running'), 0),
                count(duration_ms) FILTER (WHERE status <> 'running')
         FROM cron_executions GROUP BY 1, 2",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO cron_durations_pending (cron_name, bucket, le, n)
         SELECT cron_name, date_trunc('hour', started_at), cron_duration_le(duration_ms), count(*)
         FROM cron_executions WHERE status <> 'running' AND duration_ms >= 0 GROUP BY 1, 2, 3",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    while sqlx::query_scalar::<_, i64>("SELECT cron_rollup_fold() + cron_latest_fold()")
        .fetch_one(&mut *conn)
        .await?
        > 0
    {}
    // As autovacuum would leave it: statistics and the visibility map up to date.
    // Folding a bulk load rewrites each roll-up row once per chunk; in service a row is
    // written over for a day, then left alone. Compacted to what service would leave.
    sqlx::query(
        "VACUUM FULL cron_stats_hourly, cron_stats_daily, cron_durations_hourly,
                     cron_stats_window, cron_durations_window",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(&mut *conn).await?;
    // The load's dirty pages written out now rather than during the timings.
    sqlx::query("CHECKPOINT").execute(&mut *conn).await?;
    println!(
        "loaded {rows} runs over {crons} crons in {:.1?}",
        t.elapsed()
    );
    Ok(())
}

async fn bench<F, Fut>(name: &str, f: F) -> Result<(), Box<dyn std::error::Error>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = cronmon::Result<()>>,
{
    f().await?; // warm the cache
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{name:<14} p50 {:>8.1?}  p95 {:>8.1?}",
        times[times.len() / 2],
        times[times.len() * 95 / 100]
    );
    Ok(())
}
