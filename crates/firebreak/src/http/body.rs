//! Request bodies: read with the configured size limit, then parsed as our own strict JSON.

use super::problem::Problem;
use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads the whole body, failing once it passes `limit` bytes.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

/// Our own API: strict JSON; unknown fields and wrong types are a 400 naming the problem.
pub async fn json_body<T: DeserializeOwned>(body: Body, limit: usize) -> Result<T, Problem> {
    let bytes = match read_limited(body, limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Err(Problem::too_large(limit)),
        Err(BodyError::Unreadable) => {
            return Err(Problem::bad_request("request body could not be read"))
        }
    };
    parse_json(&bytes)
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::bad_request(
            "request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Problem::bad_request(format!("invalid JSON body: {e}")))
}
