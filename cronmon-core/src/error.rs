//! Errors of the storage layer and the recorder.

use uuid::Uuid;

use crate::model::Status;

/// Everything that can go wrong when cronmon records or reads runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A cron name was empty, too long or held control characters.
    #[error("invalid cron name: {0}")]
    InvalidName(String),
    /// A field held a value cronmon does not accept.
    #[error("invalid {field}: {message}")]
    InvalidField {
        /// The field, as the API names it.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No execution has this id.
    #[error("unknown execution {0}")]
    UnknownExecution(Uuid),
    /// The execution already finished with another outcome.
    #[error("execution {id} already finished as {existing}, not {requested}")]
    ConflictingOutcome {
        /// The execution.
        id: Uuid,
        /// The outcome stored.
        existing: Status,
        /// The outcome asked for.
        requested: Status,
    },
    /// The URL names no backend cronmon knows, or one not compiled in.
    #[error(
        "unsupported database URL `{0}`: expected postgres://… or sqlite://… (with the matching cargo feature)"
    )]
    UnsupportedUrl(String),
    /// The database could not be reached or refused the connection.
    #[error("database unreachable: {0}")]
    Unreachable(#[source] sqlx::Error),
    /// The schema could not be migrated.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl Error {
    /// Whether retrying the same call later may succeed (the database was down or busy).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable(_) => true,
            Error::Database(e) => is_transient_sqlx(e),
            _ => false,
        }
    }
}

fn is_transient_sqlx(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            // 40001 serialization, 40P01 deadlock, 57P0x shutdown, 53xxx resources, 08xxx
            // connection; SQLite 5/6 busy/locked.
            db.code().is_some_and(|c| {
                c.starts_with("40")
                    || c.starts_with("57P")
                    || c.starts_with("53")
                    || c.starts_with("08")
                    || c == "5"
                    || c == "6"
                    || c == "517"
                    || c == "261"
            })
        }
        _ => false,
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => {
                Error::Unreachable(e)
            }
            other => Error::Database(other),
        }
    }
}

/// Result with cronmon's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
