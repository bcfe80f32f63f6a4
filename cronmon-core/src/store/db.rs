//! sqlx's errors turned into cronmon's, classified once, where they happen: whether a retry may
//! succeed and whether the database refused the data itself. Nothing outside the store sees
//! an sqlx type.

use crate::error::{DatabaseError, Error, Result};

/// `?` on an sqlx result inside the store: `query.execute(pool).await.db()?`.
pub(crate) trait Db<T> {
    /// The result with sqlx's error converted by [`database`].
    fn db(self) -> Result<T>;
}

impl<T> Db<T> for std::result::Result<T, sqlx::Error> {
    fn db(self) -> Result<T> {
        self.map_err(database)
    }
}

/// An error of a query: [`Error::Unreachable`] when the connection failed, else
/// [`Error::Database`].
pub(crate) fn database(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => unreachable(e),
        other => Error::Database(classify(other)),
    }
}

/// An error of connecting: always [`Error::Unreachable`].
pub(crate) fn unreachable(e: sqlx::Error) -> Error {
    Error::Unreachable(classify(e))
}

/// An error of the migrator.
pub(crate) fn migrate(e: sqlx::migrate::MigrateError) -> Error {
    let code = match &e {
        sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(db)) => {
            db.code().map(|c| c.into_owned())
        }
        _ => None,
    };
    Error::Migrate(DatabaseError::new(Box::new(e), code, false, false))
}

fn classify(e: sqlx::Error) -> DatabaseError {
    let code = match &e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    };
    let transient = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        // 40001 serialization, 40P01 deadlock, 57P0x shutdown, 57014 statement timeout,
        // 55P03 lock timeout, 53xxx resources, 08xxx connection; SQLite 5/6 busy/locked and
        // their extended codes 517, 261.
        sqlx::Error::Database(_) => code.as_deref().is_some_and(|c| {
            c.starts_with("40")
                || c.starts_with("57P")
                || matches!(c, "57014" | "55P03")
                || c.starts_with("53")
                || c.starts_with("08")
                || matches!(c, "5" | "6" | "517" | "261")
        }),
        _ => false,
    };
    // SQLSTATE class 22, data exception (a value out of range, a NUL byte in text, …): the
    // value sent, not the server, is at fault.
    let invalid_data = code.as_deref().is_some_and(|c| c.starts_with("22"));
    DatabaseError::new(Box::new(e), code, transient, invalid_data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_transient_and_keep_their_message() {
        let e = database(sqlx::Error::PoolTimedOut);
        assert!(matches!(e, Error::Unreachable(_)));
        assert!(e.is_transient());
        assert!(!e.is_invalid_data());
        assert!(
            e.to_string()
                .contains(&sqlx::Error::PoolTimedOut.to_string())
        );
        let e = database(sqlx::Error::RowNotFound);
        assert!(matches!(e, Error::Database(_)));
        assert!(!e.is_transient());
    }
}
