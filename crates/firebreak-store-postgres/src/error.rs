//! Mapping PostgreSQL and pool failures onto `StoreError`, and which failures are worth retrying.

use firebreak_core::store::StoreError;
use tokio_postgres::error::SqlState;

/// A failure inside one attempt at a store operation.
#[derive(Debug)]
pub(crate) enum Fail {
    Pg(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match e {
            PoolError::Backend(e) => Fail::Pg(e),
            PoolError::Timeout(_) => Fail::Store(StoreError::Unavailable(
                "timed out waiting for a PostgreSQL connection".into(),
            )),
            other => Fail::Store(StoreError::Unavailable(format!("PostgreSQL pool: {other}"))),
        }
    }
}

pub(crate) type Attempt<T> = Result<T, Fail>;

impl Fail {
    /// Deadlocks and serialization failures abort a transaction that will succeed when re-run.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            Fail::Pg(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
            ),
            Fail::Store(_) => false,
        }
    }

    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Fail::Store(e) => e,
            Fail::Pg(e) => pg_err(&e),
        }
    }
}

/// Bad data (class 22, e.g. a NUL byte in text) is the caller's fault; a lost connection or a
/// server shutting down is unavailability; everything else is internal.
pub(crate) fn pg_err(e: &tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        if code.starts_with("22") {
            return StoreError::Invalid(db.message().to_string());
        }
        if *db.code() == SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(db.message().to_string());
        }
        if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") {
            return StoreError::Unavailable(db.message().to_string());
        }
        return StoreError::Internal(format!("{} ({code})", db.message()));
    }
    StoreError::Unavailable(format!("PostgreSQL: {e}"))
}

/// Runs `$attempt` (an expression producing a fresh future each time) until it succeeds, fails
/// for good, or has been retried a few times; yields `StoreResult<T>`.
macro_rules! retry {
    ($attempt:expr) => {{
        let mut tries: u32 = 0;
        loop {
            match $attempt.await {
                Err(e) if e.retryable() && tries < $crate::error::MAX_RETRIES => {
                    tries += 1;
                    tracing::debug!(error = ?e, tries, "retrying a PostgreSQL transaction");
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(tries) * 3)).await;
                }
                other => break other.map_err($crate::error::Fail::into_store),
            }
        }
    }};
}
pub(crate) use retry;

pub(crate) const MAX_RETRIES: u32 = 8;
