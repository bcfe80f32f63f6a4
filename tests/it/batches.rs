//! Batch kinds from sources on real SQLite and PostgreSQL: a SQL query over a table of the
//! application's own (made by the test), checked when registered; a source that fails and one
//! that hangs answer an error for their kind only; the server's `[[batch_source]]`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cronmon::batch::{BatchFigures, BatchSource, SqlBatchSource};
use cronmon::http::{Api, Config};
use cronmon::store::Store;
use reqwest::StatusCode;

use crate::common::http::get;
use crate::common::{SECRET, TestDb};

crate::on_both_test_dbs!(
    a_sql_source_reports_the_applications_table,
    a_missing_column_is_named_at_registration,
    a_failing_or_hanging_source_answers_for_its_kind_only,
);

/// The application's own table, as the seed's indexing table: one row per document.
pub(crate) const FIGURES_SQL: &str = "SELECT
    SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending,
    SUM(CASE WHEN status = 'indexing' THEN 1 ELSE 0 END) AS processing,
    SUM(CASE WHEN status = 'indexed' THEN 1 ELSE 0 END) AS completed_today,
    SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS failed_today
FROM kb_documents";

pub(crate) async fn kb_documents(db: &TestDb) {
    let mut sql =
        String::from("CREATE TABLE kb_documents (id INTEGER PRIMARY KEY, status TEXT NOT NULL);");
    let statuses = [
        ("pending", 245),
        ("indexing", 2),
        ("indexed", 128),
        ("error", 3),
    ];
    let mut id = 0;
    for (status, n) in statuses {
        for _ in 0..n {
            id += 1;
            sql.push_str(&format!(
                "INSERT INTO kb_documents VALUES ({id}, '{status}');"
            ));
        }
    }
    db.execute(&sql).await;
}

fn app(api: Api) -> Router {
    Router::new().nest("/api/admin", cronmon::http::router(api))
}

async fn a_sql_source_reports_the_applications_table(db: &TestDb) {
    kb_documents(db).await;
    let source = SqlBatchSource::new(db.store.clone(), FIGURES_SQL)
        .await
        .expect("the query has every column");
    let app = app(Api::new(db.store.clone(), Config::new(SECRET))
        .batch_source("kbIndexation", source)
        .expect("kind"));
    let (status, body) = get(&app, "/cron-executions/batches").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let kb = &body["batches"]["kbIndexation"];
    assert_eq!(kb["pending"], 245, "{body}");
    assert_eq!(kb["processing"], 2);
    assert_eq!(kb["completedToday"], 128);
    assert_eq!(kb["failedToday"], 3);
    assert_eq!(kb["successRate"], 97.7);

    // The figures follow the table.
    db.execute("UPDATE kb_documents SET status = 'indexed' WHERE status = 'pending'")
        .await;
    let (_, body) = get(&app, "/cron-executions/batches").await;
    assert_eq!(body["batches"]["kbIndexation"]["pending"], 0);
    assert_eq!(body["batches"]["kbIndexation"]["completedToday"], 373);
}

async fn a_missing_column_is_named_at_registration(db: &TestDb) {
    kb_documents(db).await;
    let without =
        "SELECT count(*) AS pending, 0 AS processing, 0 AS completed_today FROM kb_documents";
    let err = SqlBatchSource::new(db.store.clone(), without)
        .await
        .expect_err("no failed_today");
    assert!(err.to_string().contains("failed_today"), "{err}");
    let not_sql = SqlBatchSource::new(db.store.clone(), "SELECT nope FROM nowhere")
        .await
        .expect_err("not a query of this database");
    assert!(!not_sql.to_string().is_empty());
    assert!(
        SqlBatchSource::new(db.store.clone(), "   ").await.is_err(),
        "an empty query"
    );
}

#[derive(Debug)]
struct Hangs;

#[async_trait::async_trait]
impl BatchSource for Hangs {
    async fn figures(&self) -> cronmon::Result<BatchFigures> {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(BatchFigures::default())
    }
}

async fn a_failing_or_hanging_source_answers_for_its_kind_only(db: &TestDb) {
    kb_documents(db).await;
    let store: Arc<dyn Store> = db.store.clone();
    let kb = SqlBatchSource::new(store.clone(), FIGURES_SQL)
        .await
        .expect("source");
    db.execute("CREATE TABLE crawl_pages (status TEXT)").await;
    let crawl = SqlBatchSource::new(
        store.clone(),
        "SELECT count(*) AS pending, 0 AS processing, 0 AS completed_today, 0 AS failed_today FROM crawl_pages",
    )
    .await
    .expect("source");
    // The application drops its table: that source now fails.
    db.execute("DROP TABLE crawl_pages").await;
    let mut config = Config::new(SECRET);
    config.batch_timeout = Duration::from_millis(300);
    let app = app(Api::new(store, config)
        .batch_source("kbIndexation", kb)
        .and_then(|a| a.batch_source("webCrawl", crawl))
        .and_then(|a| a.batch_source("qualityAnalysis", Hangs))
        .expect("kinds"));
    let started = std::time::Instant::now();
    let (status, body) = get(&app, "/cron-executions/batches").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeout"
    );
    assert_eq!(status, StatusCode::OK);
    let batches = &body["batches"];
    assert_eq!(batches["kbIndexation"]["pending"], 245, "{body}");
    assert!(
        batches["webCrawl"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert_eq!(
        batches["qualityAnalysis"]["error"], "no answer within 300 ms",
        "{body}"
    );
}

#[tokio::test]
async fn a_batch_source_the_database_refuses_stops_the_server() {
    let dir = std::env::temp_dir().join(format!("cronmon-batch-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("cronmon.toml");
    std::fs::write(
        &config,
        "[[batch_source]]\nkind = \"kbIndexation\"\nsql = \"SELECT 1 AS pending FROM nowhere\"\n",
    )
    .expect("config");
    let out = tokio::process::Command::new(crate::common::server_binary())
        .arg("--config")
        .arg(&config)
        .args(["--bind", "127.0.0.1:0"])
        .env(
            "CRONMON_URL",
            format!("sqlite://{}", dir.join("c.db").display()),
        )
        .env("CRON_SECRET", SECRET)
        .output()
        .await
        .expect("server runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("batch_source \"kbIndexation\""), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
