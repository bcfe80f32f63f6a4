//! Real databases for integration tests: a fresh SQLite file, or a fresh PostgreSQL database
//! per test (as `#[sqlx::test]` does), so tests run in parallel without seeing each other.
#![allow(dead_code)]

use std::sync::Arc;

use cronmon::store::Store;

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
