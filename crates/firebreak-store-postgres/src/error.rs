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

/// Maps a PostgreSQL failure onto the port's error, with a short message of our own that never
/// carries SQL text (the server's context and detail fields, which hold statement text and the
/// PL/pgSQL call stack, are left out; so is anything after the first line of its message).
///
/// * Bad data from the client (SQLSTATE class 22: a NUL byte, a string too long, a number or time
///   out of range; and 54000, a value too large for an index) → `Invalid`: the client sees it.
/// * A lost or refused connection, a server shutting down, out of resources, a cancelled
///   statement or a read-only server → `Unavailable`.
/// * Deadlocks and serialization failures still failing after the retries → `Busy`.
/// * A unique violation → `Conflict`; anything else → `Internal`.
pub(crate) fn pg_err(e: &tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        return client_err(e);
    };
    let state = db.code();
    let code = state.code();
    if code.starts_with("22") || *state == SqlState::PROGRAM_LIMIT_EXCEEDED {
        return StoreError::Invalid(invalid_message(state, db.message()));
    }
    if *state == SqlState::UNIQUE_VIOLATION {
        return StoreError::Conflict(first_line(db.message()));
    }
    if code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || *state == SqlState::QUERY_CANCELED
        || *state == SqlState::READ_ONLY_SQL_TRANSACTION
    {
        return StoreError::Unavailable(format!(
            "PostgreSQL: {} ({code})",
            first_line(db.message())
        ));
    }
    if *state == SqlState::T_R_DEADLOCK_DETECTED || *state == SqlState::T_R_SERIALIZATION_FAILURE {
        return StoreError::Busy;
    }
    StoreError::Internal(format!("PostgreSQL: {} ({code})", first_line(db.message())))
}

/// The client-facing message for bad data: fixed text for the usual codes, else the first line
/// of the server's message (which names the problem, and at most a value, never the statement).
fn invalid_message(state: &SqlState, server: &str) -> String {
    let what = if *state == SqlState::CHARACTER_NOT_IN_REPERTOIRE {
        "text contains a NUL byte (\\u0000) or a byte sequence that is not UTF-8"
    } else if *state == SqlState::UNTRANSLATABLE_CHARACTER {
        "JSON contains \\u0000 or a character the database cannot store"
    } else if *state == SqlState::STRING_DATA_RIGHT_TRUNCATION {
        "a value is too long"
    } else if *state == SqlState::NUMERIC_VALUE_OUT_OF_RANGE {
        "a number is out of range"
    } else if *state == SqlState::DATETIME_VALUE_OUT_OF_RANGE {
        "a time or duration is out of range"
    } else if *state == SqlState::PROGRAM_LIMIT_EXCEEDED {
        "a value is too large to store"
    } else {
        return format!("invalid data: {} ({})", first_line(server), state.code());
    };
    format!("invalid data: {what} ({})", state.code())
}

/// Failures on our side of the wire (no server error): the connection went away or never came
/// up → `Unavailable`; a parameter the driver cannot encode → `Invalid`; an answer we cannot
/// decode → `Internal`. `tokio_postgres::Error` shows only its kind, so the text is safe to keep.
fn client_err(e: &tokio_postgres::Error) -> StoreError {
    let kind = e.to_string();
    if kind.starts_with("error serializing parameter") {
        return StoreError::Invalid("invalid data: a value cannot be sent to PostgreSQL".into());
    }
    if kind.starts_with("error deserializing column")
        || kind.starts_with("invalid column")
        || kind.starts_with("query returned an unexpected number")
        || kind.starts_with("expected ")
    {
        return StoreError::Internal(format!("PostgreSQL: {kind}"));
    }
    // Closed, I/O, connect, timeout, TLS, authentication, protocol errors.
    match std::error::Error::source(e) {
        Some(cause) => StoreError::Unavailable(format!(
            "PostgreSQL: {kind}: {}",
            first_line(&cause.to_string())
        )),
        None => StoreError::Unavailable(format!("PostgreSQL: {kind}")),
    }
}

/// The first line of `text`, at most 200 characters.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
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
