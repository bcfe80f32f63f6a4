//! A read database for the dashboard (`Api::read_store`, the server's `--read-database-url`),
//! on real PostgreSQL: the lists and figures come from the read database, writes and the reads
//! that must see them go to the primary, the read connection never writes, and a read
//! database whose schema is behind (or a SQLite URL) is refused with a clear message.
//!
//! The "replica" is a second database holding other rows, so where each answer comes from
//! shows; its connections are read-only as a hot standby's are.

use axum::Router;
use cronmon::batch::BatchEvent;
use cronmon::http::{Api, Config};
use cronmon::{CronName, Event, Start, Status};
use reqwest::StatusCode;

use crate::common::http::{get, post};
use crate::common::{SECRET, TestDb};

fn app(api: Api) -> Router {
    Router::new().nest("/api/admin", cronmon::http::router(api))
}

async fn start(db: &TestDb, cron: &str) -> uuid::Uuid {
    let s = Start::now(CronName::new(cron).unwrap());
    let id = s.id;
    db.store.record_batch(&[Event::Start(s)]).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_figures_come_from_the_read_database() {
    let primary = TestDb::postgres().await;
    let replica = TestDb::postgres().await;
    start(&primary, "on-primary").await;
    start(&replica, "on-replica").await;
    replica
        .store
        .record_batch(&[Event::Batch(BatchEvent::start("replicaKind", Some(5)))])
        .await
        .unwrap();
    let reads = cronmon::store::connect_read_only(&replica.url)
        .await
        .expect("a migrated database opens read-only");
    let app = app(Api::new(primary.store.clone(), Config::new(SECRET)).read_store(reads.clone()));

    let (status, body) = get(&app, "/cron-executions/list").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["executions"][0]["cron_name"], "on-replica", "{body}");
    assert_eq!(body["executions"].as_array().map(Vec::len), Some(1));
    let (_, body) = get(&app, "/cron-schedules").await;
    assert_eq!(body["schedules"][0]["cron_name"], "on-replica");
    let (_, body) = get(&app, "/cron-executions/stats").await;
    assert_eq!(body["stats"][0]["cron_name"], "on-replica");
    let (_, body) = get(&app, "/cron-executions/batches").await;
    assert!(body["batches"].get("replicaKind").is_some(), "{body}");
    let (status, _, text) = crate::common::http::get_text(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("on-replica") && !text.contains("on-primary"),
        "{text}"
    );

    // Writes go to the primary, and a run just written is found there by id.
    let (status, body) = post(
        &app,
        "/cron-executions/start",
        serde_json::json!({ "cronName": "written" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["executionId"].as_str().unwrap().to_owned();
    let (status, body) = get(&app, &format!("/cron-executions/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["execution"]["status"], Status::Running.as_str());
    assert_eq!(primary.store.schedules().await.unwrap().len(), 2);
    assert_eq!(replica.store.schedules().await.unwrap().len(), 1);

    // The read connection cannot write, as a standby's cannot.
    let refused = reads
        .record_batch(&[Event::Start(Start::now(CronName::new("nope").unwrap()))])
        .await;
    let refused = match refused {
        Err(e) => e.to_string(),
        Ok(results) => format!("{:?}", results[0]),
    };
    assert!(refused.contains("read-only"), "{refused}");
    primary.finish().await;
    replica.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_database_behind_or_not_postgres_is_refused() {
    let db = TestDb::postgres().await;
    db.execute(
        "DELETE FROM cronmon._cronmon_migrations \
         WHERE version = (SELECT max(version) FROM cronmon._cronmon_migrations)",
    )
    .await;
    let behind = cronmon::store::connect_read_only(&db.url)
        .await
        .expect_err("behind");
    assert!(
        behind.to_string().contains("let the replica catch up"),
        "{behind}"
    );
    let sqlite = cronmon::store::connect_read_only("sqlite:///tmp/x.db")
        .await
        .expect_err("sqlite");
    assert!(
        sqlite.to_string().contains("PostgreSQL replica"),
        "{sqlite}"
    );
    let empty = TestDb::postgres().await;
    empty.execute("DROP SCHEMA cronmon CASCADE").await;
    let none = cronmon::store::connect_read_only(&empty.url)
        .await
        .expect_err("no schema");
    assert!(none.to_string().contains("no cronmon schema"), "{none}");
    db.finish().await;
    empty.finish().await;
}

/// `cronmon serve --read-database-url`: the real server reads its lists there; a read URL that
/// is not PostgreSQL stops it with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_takes_a_read_database() {
    let primary = TestDb::postgres().await;
    let replica = TestDb::postgres().await;
    start(&replica, "on-replica").await;
    let port = crate::common::free_port();
    let mut child = std::process::Command::new(crate::common::cli_binary())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--url", &primary.url, "--read-database-url", &replica.url])
        .env("CRON_SECRET", SECRET)
        .env_remove("CRONMON_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/api/admin");
    let client = reqwest::Client::new();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let body: serde_json::Value = loop {
        let answer = client
            .get(format!("{base}/cron-executions/list"))
            .header("x-cron-secret", SECRET)
            .send()
            .await;
        if let Ok(r) = answer
            && r.status().is_success()
        {
            break r.json().await.unwrap();
        }
        assert!(
            std::time::Instant::now() < until,
            "the server never answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(body["executions"][0]["cron_name"], "on-replica", "{body}");
    let _ = child.kill();
    let _ = child.wait();

    let refused = crate::common::output({
        let mut c = std::process::Command::new(crate::common::cli_binary());
        c.args(["serve", "--bind", "127.0.0.1:0", "--url", &primary.url])
            .args(["--read-database-url", "sqlite:///tmp/replica.db"])
            .env("CRON_SECRET", SECRET);
        c
    })
    .await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("PostgreSQL replica"));
    primary.finish().await;
    replica.finish().await;
}
