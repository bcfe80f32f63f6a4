//! Real databases for integration tests: a fresh SQLite file, or a fresh PostgreSQL database
//! per test (as `#[sqlx::test]` does), so tests run in parallel without seeing each other.

use std::sync::Arc;

use cronmon::store::Store;

pub mod http;
pub mod receiver;
pub mod server;

/// The build folder of this test binary: `target/<profile>/deps/it-<hash>` → `target/<profile>`.
fn profile_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target folder")
        .to_path_buf()
}

/// The path of job program `name` of the `cronmon-test-jobs` crate, next to this test binary
/// (`cargo test --workspace` builds them); built with cargo first if missing, e.g. when only
/// this crate's tests were asked for.
pub fn job_program(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let dir = profile_dir();
    let path = dir.join(name);
    if !path.exists() {
        BUILT.call_once(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = std::process::Command::new(cargo);
            build.args(["build", "-p", "cronmon-test-jobs", "--bins"]);
            if dir.ends_with("release") {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build");
            assert!(status.success(), "cargo build -p cronmon-test-jobs failed");
        });
    }
    assert!(path.exists(), "job program {} is missing", path.display());
    path
}

/// The `server` example next to this test binary (`cargo test` builds the examples); built
/// with cargo first if missing, e.g. when only this crate's tests were asked for.
pub fn server_binary() -> std::path::PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let bin = profile_dir().join("examples").join("server");
    if !bin.exists() {
        BUILT.call_once(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "--example", "server"])
                .status()
                .expect("run cargo build");
            assert!(status.success(), "cargo build --example server failed");
        });
    }
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

/// The `cronmon` command (the `cronmon-cli` crate), built with cargo once per test run so it is
/// never older than the code under test.
pub fn cli_binary() -> std::path::PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let dir = profile_dir();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "-p", "cronmon-cli", "--bin", "cronmon"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p cronmon-cli failed");
    });
    let bin = dir.join("cronmon");
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

/// Runs the command to its end off the async runtime, and returns what it wrote.
pub async fn output(mut c: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || c.output().expect("run the program"))
        .await
        .expect("the program's thread")
}

/// A TCP port free on loopback right now (for a server process started on it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh, empty spool folder of this test's own.
pub fn spool_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cronmon-spool-test-{}", unique()));
    std::fs::create_dir_all(&dir).expect("create spool dir");
    dir
}

/// The files left in a spool folder.
pub fn spool_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// PostgreSQL server the tests create their databases on. Tests fail, never skip, without it.
pub fn pg_admin_url() -> String {
    std::env::var("CRONMON_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A store on a database of its own, dropped by [`TestDb::finish`].
pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    PgDatabase(String),
}

fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!("cronmon-test-{}.db", unique()));
        let url = format!("sqlite://{}", path.display());
        let store = cronmon::store::connect(&url).await.expect("open sqlite");
        Self {
            store,
            url,
            cleanup: Cleanup::File(path),
        }
    }

    pub async fn postgres() -> Self {
        let admin = pg_admin_url();
        let name = format!("cronmon_test_{}", unique());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL must run for these tests ({admin}): {e}"));
        sqlx::Executor::execute(
            &mut conn,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await
        .expect("create test database");
        let (base, _) = admin.rsplit_once('/').expect("admin url has a database");
        let url = format!("{base}/{name}");
        let store = cronmon::store::connect(&url).await.expect("open postgres");
        Self {
            store,
            url,
            cleanup: Cleanup::PgDatabase(name),
        }
    }

    /// Runs `sql` (one statement or several) on this database over a connection of its own:
    /// the host application's tables and rows, made as the application would.
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.url.starts_with("sqlite") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.expect("sqlite");
            sqlx::raw_sql(sql).execute(&pool).await.expect("sql");
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.expect("postgres");
            sqlx::raw_sql(sql).execute(&pool).await.expect("sql");
            pool.close().await;
        }
    }

    /// Closes the store and drops its database. A failed test skips this and leaves the
    /// database for a look.
    pub async fn finish(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::PgDatabase(name) => {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg_admin_url())
                    .await
                    .expect("reconnect");
                sqlx::Executor::execute(
                    &mut conn,
                    sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                )
                .await
                .expect("drop test database");
            }
        }
    }
}

/// Runs each listed `async fn(Arc<dyn Store>)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::common::TestDb::postgres().await;
                    super::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
    };
}

/// Runs each listed `async fn(&TestDb)` once on SQLite and once on PostgreSQL, for tests that
/// also reach the database themselves (its URL, their own SQL). The modules are `sqlite` and
/// `postgres` unless named first: `on_both_test_dbs!(mods raw_sqlite, raw_postgres; a, b)`.
#[macro_export]
macro_rules! on_both_test_dbs {
    (mods $sqlite:ident, $postgres:ident; $($name:ident),* $(,)?) => {
        mod $sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod $postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::TestDb::postgres().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_test_dbs!(mods sqlite, postgres; $($name),*);
    };
}

/// Runs each listed `async fn(&Setup)` once per destination (SQLite, PostgreSQL, a server over
/// HTTP), each with a fresh `Setup::new(Kind)` of the calling module, finished after the test.
#[macro_export]
macro_rules! on_all_destinations {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let s = Setup::new(Kind::Sqlite).await;
                    super::$name(&s).await;
                    s.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let s = Setup::new(Kind::Postgres).await;
                    super::$name(&s).await;
                    s.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn http() {
                    let s = Setup::new(Kind::Http).await;
                    super::$name(&s).await;
                    s.finish().await;
                }
            }
        )*
    };
}

/// Runs each listed `async fn(Kind)` once per destination kind (SQLite, PostgreSQL, a server
/// over HTTP); the function makes its own set-up.
#[macro_export]
macro_rules! on_each_kind {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Kind::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(Kind::Postgres).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn http() {
                    super::$name(Kind::Http).await;
                }
            }
        )*
    };
}

/// Which destination a recorder test reports to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    Http,
}

/// The secret of the test servers.
pub const SECRET: &str = "test-secret";

/// A destination that is up, of each kind: a database to check, and the URL that reports to
/// it (the database itself, or the real server in front of a SQLite file).
pub struct LiveDest {
    pub db: TestDb,
    pub url: String,
    pub kind: Kind,
    server: Option<server::TestServer>,
}

impl LiveDest {
    pub async fn new(kind: Kind) -> Self {
        let db = match kind {
            Kind::Postgres => TestDb::postgres().await,
            Kind::Sqlite | Kind::Http => TestDb::sqlite().await,
        };
        let (url, server) = match kind {
            Kind::Http => {
                let s = server::TestServer::start(db.store.clone(), SECRET, None).await;
                (s.url(), Some(s))
            }
            _ => (db.url.clone(), None),
        };
        Self {
            db,
            url,
            kind,
            server,
        }
    }

    pub async fn finish(self) {
        drop(self.server);
        self.db.finish().await;
    }
}

/// A destination that is up and a monitor of its own that reports to it (directly, or through
/// the server), with a spool folder of its own: what `on_all_destinations!` tests get.
pub struct Recording {
    pub dest: LiveDest,
    pub monitor: cronmon::Monitor,
    pub spool: std::path::PathBuf,
}

impl Recording {
    /// Longest a test waits for the monitor's flush.
    pub const FLUSH: std::time::Duration = std::time::Duration::from_secs(15);

    pub async fn new(kind: Kind) -> Self {
        let dest = LiveDest::new(kind).await;
        let spool = spool_dir();
        let monitor = cronmon::Monitor::builder(&dest.url)
            .secret(SECRET)
            .spool_dir(&spool)
            .own_recorder()
            .build()
            .expect("monitor");
        Self {
            dest,
            monitor,
            spool,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.dest.db.store
    }

    /// Flushes the monitor, failing the test if it does not finish in [`Recording::FLUSH`].
    pub async fn flush(&self) {
        assert!(self.monitor.flush(Self::FLUSH).await, "flush timed out");
    }

    pub async fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.spool);
        self.dest.finish().await;
    }
}

/// A destination that is down until [`DownDest::bring_up`]: a SQLite file in a folder that
/// does not exist yet, a PostgreSQL database not created yet, or a server not listening yet.
pub struct DownDest {
    pub kind: Kind,
    pub url: String,
    dir: std::path::PathBuf,
    pg_name: String,
    port: std::net::SocketAddr,
    backing: Option<TestDb>,
    server: Option<server::TestServer>,
    store: Option<Arc<dyn Store>>,
}

impl DownDest {
    pub async fn new(kind: Kind) -> Self {
        let pg_name = format!("cronmon_test_down_{}", unique());
        let dir = std::env::temp_dir().join(format!("cronmon-missing-{pg_name}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let url = match kind {
            Kind::Sqlite => format!("sqlite://{}/db.sqlite", dir.display()),
            Kind::Postgres => format!(
                "{}/{pg_name}",
                pg_admin_url().rsplit_once('/').expect("admin url").0
            ),
            Kind::Http => format!("http://{port}/api/admin"),
        };
        let backing = match kind {
            Kind::Http => Some(TestDb::sqlite().await),
            _ => None,
        };
        Self {
            kind,
            url,
            dir,
            pg_name,
            port,
            backing,
            server: None,
            store: None,
        }
    }

    /// Makes the destination reachable at the same URL; returns the store behind it.
    pub async fn bring_up(&mut self) -> Arc<dyn Store> {
        let store = match self.kind {
            Kind::Sqlite => {
                std::fs::create_dir_all(&self.dir).expect("create dir");
                cronmon::store::connect(&self.url).await.expect("sqlite up")
            }
            Kind::Postgres => {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg_admin_url())
                    .await
                    .expect("admin");
                sqlx::Executor::execute(
                    &mut conn,
                    sqlx::AssertSqlSafe(format!("CREATE DATABASE {}", self.pg_name)),
                )
                .await
                .expect("create database");
                cronmon::store::connect(&self.url)
                    .await
                    .expect("postgres up")
            }
            Kind::Http => {
                let store = self.backing.as_ref().expect("backing store").store.clone();
                self.server =
                    Some(server::TestServer::start(store.clone(), SECRET, Some(self.port)).await);
                store
            }
        };
        self.store = Some(store.clone());
        store
    }

    pub async fn finish(self) {
        drop(self.server);
        if let Some(store) = self.store {
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.kind == Kind::Postgres
            && let Ok(mut conn) =
                <sqlx::PgConnection as sqlx::Connection>::connect(&pg_admin_url()).await
        {
            let _ = sqlx::Executor::execute(
                &mut conn,
                sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.pg_name
                )),
            )
            .await;
        }
        if let Some(db) = self.backing {
            db.finish().await;
        }
    }
}
