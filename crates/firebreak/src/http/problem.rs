//! API errors as RFC 9457 `application/problem+json`, with a `detail` a person can act on.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use firebreak_core::StoreError;
use serde_json::json;

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
    pub retry_after_secs: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            status,
            detail: detail.into(),
            retry_after_secs: None,
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {limit} bytes (max_body_bytes)"),
        )
    }
    pub fn busy() -> Self {
        Problem {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: "firebreak is at capacity and did not store this request; retry after the Retry-After delay".into(),
            retry_after_secs: Some(1),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Problem::not_found(what),
            StoreError::Conflict(d) => Problem::new(StatusCode::CONFLICT, d),
            StoreError::Invalid(d) => Problem::bad_request(d),
            StoreError::Busy => Problem::busy(),
            StoreError::Unavailable(d) => {
                tracing::warn!(error = %d, "store unavailable");
                Problem {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    detail: "the store is unavailable; nothing was stored, retry later".into(),
                    retry_after_secs: Some(5),
                }
            }
            StoreError::Internal(d) => {
                tracing::error!(error = %d, "store error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal store error; see the server log",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = json!({
            "type": "about:blank",
            "title": title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
