//! A small HTTP/1 JSON client for the CLI's client commands (and the tests): `FIREBREAK_URL` +
//! `FIREBREAK_TOKEN`, answers decoded as JSON, problems turned into one clear line.

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

/// An answer: status and body (JSON when it parses, else the text as a JSON string).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Value,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            bail!("FIREBREAK_URL '{base}' must start with http:// (put a TLS proxy in front of firebreak for https)");
        }
        Ok(Client {
            base,
            token,
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Sends a request; any status is returned (no error for 4xx/5xx).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        self.send_raw(method, path, body.map(|b| b.to_string().into_bytes()))
            .await
    }

    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        self.send_with(method, path, &[], body).await
    }

    /// Like `send_raw`, with extra request headers (e.g. a cookie or a form content type).
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{}", self.base, path);
        let mut req = Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .with_context(|| format!("bad request URL {url}"))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| anyhow!("cannot reach firebreak at {}: {e}", self.base))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow!("reading the answer failed: {e}"))?
            .to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Like `send`, but a non-2xx answer becomes an error carrying the problem's `detail`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let a = self.send(method, path, body).await?;
        if a.status.is_success() {
            return Ok(a.body);
        }
        let detail = a
            .body
            .get("detail")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| a.body.get("errors").map(|e| e.to_string()))
            .unwrap_or_else(|| a.body.to_string());
        bail!(
            "{} {}: {detail}",
            a.status.as_u16(),
            a.status.canonical_reason().unwrap_or("")
        )
    }
}
