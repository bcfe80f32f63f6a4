//! Errors of the storage layer and the recorder.

use std::fmt;

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
    /// The run (of a cron or a batch kind) already ended with another outcome.
    #[error("run {id} already ended as {existing}, not {requested}")]
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
    Unreachable(#[source] DatabaseError),
    /// The schema could not be migrated.
    #[error("migration failed: {0}")]
    Migrate(#[source] DatabaseError),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] DatabaseError),
}

impl Error {
    /// Whether retrying the same call later may succeed (the database was down or busy).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable(_) => true,
            Error::Database(e) => e.is_transient(),
            _ => false,
        }
    }

    /// Whether the database refused a value as invalid (out of range, not storable): the
    /// value sent is at fault, not the database, and sending it again fails again.
    pub fn is_invalid_data(&self) -> bool {
        matches!(self, Error::Database(e) if e.is_invalid_data())
    }
}

/// A failure reported by the database or its driver, classified when it happened.
///
/// The driver's own error is kept behind a trait object ([`DatabaseError::get_ref`]), so
/// cronmon's API does not depend on the driver's version. It displays as the driver's message.
#[derive(Debug)]
pub struct DatabaseError {
    source: Box<dyn std::error::Error + Send + Sync>,
    code: Option<String>,
    transient: bool,
    invalid_data: bool,
}

impl DatabaseError {
    /// Wraps a driver error with what the store found out about it: the database's error code
    /// (SQLSTATE on PostgreSQL, the result code on SQLite), whether a retry may succeed, and
    /// whether the database refused the data itself.
    pub(crate) fn new(
        source: Box<dyn std::error::Error + Send + Sync>,
        code: Option<String>,
        transient: bool,
        invalid_data: bool,
    ) -> Self {
        Self {
            source,
            code,
            transient,
            invalid_data,
        }
    }

    /// The database's error code: the SQLSTATE on PostgreSQL (`23505`), the extended result
    /// code on SQLite (`2067`); none for failures of the connection or the driver.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Whether retrying later may succeed: the connection failed, or the database was busy,
    /// shutting down, out of resources, or ended the transaction on a conflict.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// Whether the database refused a value as invalid (PostgreSQL's SQLSTATE class 22, data
    /// exception: a number out of range, a NUL byte in text, …).
    pub fn is_invalid_data(&self) -> bool {
        self.invalid_data
    }

    /// The driver's error, for a caller that wants to downcast it.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

// Transparent: the driver error's message is this one's, so the chain goes on with its cause.
impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// Result with cronmon's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
