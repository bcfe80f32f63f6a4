//! Read-path benchmark: fills a fresh PostgreSQL database with `--rows` executions over
//! `--crons` crons spread across 7 days, then times the dashboard's queries.
//!
//! Run with:
//! `cargo run --release --features postgres --example query_bench -- postgres://postgres@127.0.0.1/postgres 10000000 1000`
//! (the URL names an admin database; a scratch database `cronmon_bench` is made next to it).

use std::time::{Duration, Instant};

use cronmon::{ExecutionFilter, PageRequest, Status};

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
    Ok(())
}

async fn fill(
    pool: &sqlx::PgPool,
    rows: i64,
    crons: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    // Bulk load without the roll-up triggers, then build the roll-ups in one pass each.
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO cron_executions (id, cron_name, status, reason, trigger_type, started_at,
                                      completed_at, duration_ms, exit_code, error_message, host, pid)
         SELECT gen_random_uuid(), 'cron-' || (i % $2),
                CASE WHEN i % 997 = 0 THEN 'running' WHEN i % 23 = 0 THEN 'failed' ELSE 'completed' END,
                CASE WHEN i % 23 = 0 AND i % 997 <> 0 THEN 'error' END,
                'scheduled',
                now() - (i * (604800000.0 / $1)) * interval '1 ms',
                CASE WHEN i % 997 <> 0 THEN now() - (i * (604800000.0 / $1)) * interval '1 ms' + (i % 5000) * interval '1 ms' END,
                CASE WHEN i % 997 <> 0 THEN i % 5000 END,
                CASE WHEN i % 997 <> 0 THEN (i % 23 = 0)::int END,
                CASE WHEN i % 23 = 0 AND i % 997 <> 0 THEN 'boom' END,
                'bench-host', (i % 30000)::int
         FROM generate_series(1, $1) i",
    )
    .bind(rows)
    .bind(crons)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO cron_schedules (cron_name) SELECT DISTINCT cron_name FROM cron_executions
         ON CONFLICT DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO cron_stats_hourly (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
         SELECT cron_name, date_trunc('hour', started_at), count(*),
                count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
                coalesce(sum(duration_ms) FILTER (WHERE status <> 'running'), 0),
                count(duration_ms) FILTER (WHERE status <> 'running')
         FROM cron_executions GROUP BY 1, 2",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO cron_stats_daily (cron_name, day, started, completed, failed, duration_sum_ms, duration_count)
         SELECT cron_name, (bucket AT TIME ZONE 'UTC')::date, sum(started), sum(completed), sum(failed),
                sum(duration_sum_ms), sum(duration_count)
         FROM cron_stats_hourly GROUP BY 1, 2",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO cron_durations_hourly (cron_name, bucket, le, n)
         SELECT cron_name, date_trunc('hour', started_at), floor(4 * log(2, duration_ms + 1))::smallint, count(*)
         FROM cron_executions WHERE status <> 'running' AND duration_ms >= 0 GROUP BY 1, 2, 3",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // As autovacuum would leave it: statistics and the visibility map up to date.
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
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
