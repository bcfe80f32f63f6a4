//! The SQL surface for operators (`get_cron_monitoring_stats`, `detect_stuck_crons`,
//! `cleanup_old_cron_executions` and the two views) is usable from psql on a migrated
//! PostgreSQL database, and SQLite carries the same views.

use std::process::Command;

use chrono::Utc;
use cronmon::{CronName, Finish, Start, Status};

use crate::common;

async fn record_three_runs(store: &dyn cronmon::Store) {
    for (i, status) in [Status::Completed, Status::Failed, Status::Running]
        .into_iter()
        .enumerate()
    {
        let mut s = Start::now(CronName::new("monitor-openai").unwrap());
        s.started_at = Utc::now() - chrono::Duration::hours(2 - i as i64);
        store.record_start(&s).await.unwrap();
        if status != Status::Running {
            let mut f = Finish::now(s.id, status);
            f.duration_ms = Some(1398);
            store.record_finish(&f).await.unwrap();
        }
    }
    let mut old = Start::now(CronName::new("monitor-openai").unwrap());
    old.started_at = Utc::now() - chrono::Duration::days(9);
    store.record_start(&old).await.unwrap();
    store
        .record_finish(&Finish::now(old.id, Status::Completed))
        .await
        .unwrap();
}

fn migration_files(backend: &str) -> i64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    std::fs::read_dir(dir).expect("migrations folder").count() as i64
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql is installed");
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn psql_runs_the_operator_functions_and_views() {
    let db = common::TestDb::postgres().await;
    record_three_runs(&*db.store).await;

    let stats = psql(
        &db.url,
        "SELECT cron_name, total_executions, completed_count, failed_count, running_count, success_rate
         FROM cronmon.get_cron_monitoring_stats(24)",
    );
    assert_eq!(stats, "monitor-openai|3|1|1|1|50.00");
    assert_eq!(
        psql(&db.url, "SELECT count(*) FROM cronmon.detect_stuck_crons()"),
        "0"
    );
    let dash = psql(
        &db.url,
        "SELECT cron_name, running_count, failures_24h, consecutive_failures, last_status
         FROM cronmon.vw_cron_monitoring_dashboard",
    );
    assert_eq!(dash, "monitor-openai|1|1|1|running");
    assert_eq!(
        psql(
            &db.url,
            "SELECT count(*) FROM cronmon.vw_batch_executions_unified"
        ),
        "0"
    );
    assert_eq!(
        psql(&db.url, "SELECT cronmon.cleanup_old_cron_executions()"),
        "1"
    );
    assert_eq!(
        psql(&db.url, "SELECT count(*) FROM cronmon.cron_executions"),
        "3"
    );

    // cronmon keeps to its schema and its own migrations table.
    assert_eq!(
        psql(&db.url, "SELECT count(*) FROM cronmon._cronmon_migrations"),
        migration_files("postgres").to_string()
    );
    assert_eq!(
        psql(
            &db.url,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0"
    );
    db.finish().await;
}

#[tokio::test]
async fn sqlite_has_the_views() {
    let db = common::TestDb::sqlite().await;
    record_three_runs(&*db.store).await;
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let row: (String, i64, i64, i64, String) = sqlx::query_as(
        "SELECT cron_name, running_count, failures_24h, consecutive_failures, last_status
         FROM vw_cron_monitoring_dashboard",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row, ("monitor-openai".into(), 1, 1, 1, "running".into()));
    let batches: i64 = sqlx::query_scalar("SELECT count(*) FROM vw_batch_executions_unified")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(batches, 0);
    let migrations: i64 = sqlx::query_scalar("SELECT count(*) FROM _cronmon_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(migrations, migration_files("sqlite"));
    pool.close().await;
    db.finish().await;
}
