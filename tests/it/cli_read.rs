//! `cronmon status`, `runs`, `run`, `migrate`, `replay` and `completions`, the real binary
//! against a real cronmon server and the database behind it: the same output from both, the
//! exit codes scripts rely on.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common;
use crate::common::output;
use crate::common::{Kind, LiveDest, SECRET};

fn cronmon(url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(common::cli_binary());
    c.args(args)
        .env("CRONMON_URL", url)
        .env("CRON_SECRET", SECRET)
        .env("CRONMON_SPOOL_DIR", common::spool_dir())
        .env_remove("DATABASE_URL")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn env(mut c: Command, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Command {
    c.env(key, value);
    c
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Status, runs and run read the same from the server (`http://…`) and from its database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_database_give_the_same_answers_and_exit_codes() {
    let dest = LiveDest::new(Kind::Http).await;
    let (server, db) = (dest.url.clone(), dest.db.url.clone());

    let empty = output(cronmon(&server, &["status"])).await;
    assert_eq!(empty.status.code(), Some(0));
    assert_eq!(stdout(&empty), "no cron recorded yet\n");

    let ok = output(cronmon(
        &server,
        &["exec", "report", "--schedule", "0 3 * * *", "--", "true"],
    ))
    .await;
    assert_eq!(ok.status.code(), Some(0));
    let status = output(cronmon(&server, &["status"])).await;
    assert_eq!(status.status.code(), Some(0), "{status:?}");
    let table = stdout(&status);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("report") && table.contains(" up "),
        "{table}"
    );
    assert!(!table.contains('\x1b'), "no colour off a terminal: {table}");

    let failed = output(cronmon(
        &db,
        &["exec", "sync", "--", "sh", "-c", "echo broken >&2; exit 5"],
    ))
    .await;
    assert_eq!(failed.status.code(), Some(5));
    for url in [&server, &db] {
        let o = output(cronmon(url, &["status"])).await;
        assert_eq!(o.status.code(), Some(1), "{url}: a failing cron: {o:?}");
    }
    let json = |o: &Output| -> Value { serde_json::from_slice(&o.stdout).expect("json") };
    let from_server = json(&output(cronmon(&server, &["status", "--json"])).await);
    let from_db = json(&output(cronmon(&db, &["status", "--json"])).await);
    assert_eq!(from_server, from_db);
    assert_eq!(from_server["healthy"], false);
    assert_eq!(from_server["crons"].as_array().map(Vec::len), Some(2));

    let runs = |url: &str, args: &[&str]| {
        let mut all = vec!["runs", "--json"];
        all.extend_from_slice(args);
        cronmon(url, &all)
    };
    let s = output(runs(&server, &["--status", "failed"])).await;
    let d = output(runs(&db, &["--status", "failed"])).await;
    assert_eq!(stdout(&s), stdout(&d));
    let lines: Vec<Value> = stdout(&s)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["cron_name"], "sync");
    let id = lines[0]["id"].as_str().expect("id").to_owned();
    let table = stdout(&output(cronmon(&server, &["runs", "--since", "1h"])).await);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("failed/error"));

    let one = output(cronmon(&server, &["run", &id])).await;
    let shown = stdout(&one);
    assert!(
        shown.contains("exit code  5") && shown.contains("broken"),
        "{shown}"
    );
    let missing = output(cronmon(
        &db,
        &["run", "00000000-0000-0000-0000-000000000000"],
    ))
    .await;
    assert_eq!(missing.status.code(), Some(1));

    let wrong_secret = output(env(
        cronmon(&server, &["status"]),
        "CRON_SECRET",
        "not-the-secret",
    ))
    .await;
    assert_eq!(wrong_secret.status.code(), Some(2));
    dest.finish().await;

    let gone = output(cronmon(&server, &["status"])).await;
    assert_eq!(gone.status.code(), Some(2), "the server is gone: {gone:?}");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("cannot read the monitor"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_replay_and_completions() {
    let dir = std::env::temp_dir().join(format!("cronmon-cli-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/fresh.db", dir.display());
    let o = output(cronmon(&url, &["migrate"])).await;
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let store = cronmon::store::connect(&url).await.unwrap();
    assert!(store.schedules().await.unwrap().is_empty());
    store.close().await;
    let o = output(cronmon("http://127.0.0.1:9/api/admin", &["migrate"])).await;
    assert_eq!(o.status.code(), Some(2));

    // Runs spooled while the monitor was down; `cronmon replay` delivers them.
    let spool = common::spool_dir();
    let mut down = common::DownDest::new(Kind::Http).await;
    for code in ["0", "7"] {
        let o = output(env(
            cronmon(
                &down.url,
                &["exec", "offline", "--", "sh", "-c", &format!("exit {code}")],
            ),
            "CRONMON_SPOOL_DIR",
            &spool,
        ))
        .await;
        assert_eq!(o.status.code(), Some(code.parse().unwrap()));
    }
    assert!(!common::spool_files(&spool).is_empty());
    let store = down.bring_up().await;
    let o = output(env(
        cronmon(&down.url, &["replay"]),
        "CRONMON_SPOOL_DIR",
        &spool,
    ))
    .await;
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        stdout(&o).starts_with("replayed 4 events to http://"),
        "{}",
        stdout(&o)
    );
    assert!(common::spool_files(&spool).is_empty());
    let runs = store
        .list_executions(
            &Default::default(),
            cronmon::PageRequest::new(1, 10).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 2);
    down.finish().await;

    for shell in ["bash", "zsh", "fish"] {
        let o = output(cronmon(&url, &["completions", shell])).await;
        assert_eq!(o.status.code(), Some(0));
        assert!(
            stdout(&o).contains("exec") && stdout(&o).contains("status"),
            "{shell}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&spool);
}

/// `cronmon serve` is the server: it answers, writes its log without colour codes into a
/// file, as JSON lines with `--log-format json`, and refuses a bad config file before it
/// listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_is_the_server_and_logs_plainly() {
    let db = crate::common::TestDb::sqlite().await;
    for format in ["text", "json"] {
        let port = common::free_port();
        let mut child = cronmon(
            &db.url,
            &[
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                format,
            ],
        )
        .spawn()
        .unwrap();
        let health = format!("http://127.0.0.1:{port}/api/admin/health");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(
                std::time::Instant::now() < until,
                "cronmon serve never answered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let schedules = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/api/admin/cron-schedules"))
            .header("x-cron-secret", SECRET)
            .send()
            .await
            .unwrap();
        assert!(schedules.status().is_success());
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let out = tokio::task::spawn_blocking(move || {
            let _ = child.wait();
            let mut s = String::new();
            if let Some(mut o) = child.stdout.take() {
                use std::io::Read;
                let _ = o.read_to_string(&mut s);
            }
            s
        })
        .await
        .unwrap();
        assert!(out.contains("cronmon listening"), "{out}");
        assert!(
            !out.contains('\x1b'),
            "no colour codes off a terminal: {out}"
        );
        if format == "json" {
            for line in out.lines() {
                let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
                assert!(v.get("level").is_some());
            }
        }
    }
    let bad = output(cronmon(
        &db.url,
        &["serve", "--config", "/no/such/cronmon.toml"],
    ))
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/no/such/cronmon.toml"));
    db.finish().await;
}
