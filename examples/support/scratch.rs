//! A database of a benchmark's own, dropped at the end: a SQLite file in a temp dir, or a
//! PostgreSQL database made next to the admin one a URL names. Shared by the benchmark
//! examples (`#[path = "support/scratch.rs"] mod scratch;`).

/// The scratch database.
pub struct Scratch {
    /// Its URL.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Postgres { admin: String, name: String },
}

impl Scratch {
    /// A SQLite file in a temp dir when `url` is none; else a PostgreSQL database `name`
    /// (dropped first if a previous run left it) next to the admin database `url` names.
    pub async fn new(url: Option<&str>, name: &str) -> Result<Self, Box<dyn std::error::Error>> {
        match url {
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "{}-{}",
                    name.replace('_', "-"),
                    std::process::id()
                ));
                std::fs::create_dir_all(&dir)?;
                Ok(Self {
                    url: format!("sqlite://{}", dir.join("cronmon.db").display()),
                    cleanup: Cleanup::Dir(dir),
                })
            }
            Some(admin) if admin.starts_with("postgres") => {
                let (base, _) = admin
                    .rsplit_once('/')
                    .ok_or("the PostgreSQL URL needs a database (the admin one)")?;
                pg_execute(
                    admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                )
                .await?;
                pg_execute(admin, &format!("CREATE DATABASE {name}")).await?;
                Ok(Self {
                    url: format!("{base}/{name}"),
                    cleanup: Cleanup::Postgres {
                        admin: admin.to_owned(),
                        name: name.to_owned(),
                    },
                })
            }
            Some(other) => Err(format!(
                "--database-url is a postgres:// admin URL (the default is a SQLite file), not {}",
                cronmon::store::redact(other)
            )
            .into()),
        }
    }

    /// Drops the database (or deletes the file's directory).
    pub async fn drop_it(self) -> Result<(), Box<dyn std::error::Error>> {
        match self.cleanup {
            Cleanup::Dir(dir) => std::fs::remove_dir_all(dir)?,
            Cleanup::Postgres { admin, name } => {
                pg_execute(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                )
                .await?
            }
        }
        Ok(())
    }
}

async fn pg_execute(url: &str, sql: &str) -> Result<(), Box<dyn std::error::Error>> {
    use sqlx::{Connection, Executor};
    let mut c = sqlx::PgConnection::connect(url).await?;
    c.execute(sqlx::AssertSqlSafe(sql.to_owned())).await?;
    c.close().await?;
    Ok(())
}
