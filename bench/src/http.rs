//! The HTTP side of the harness: one-shot requests (setup, probes, counts) and the load
//! generator (N keep-alive HTTP/1.1 connections, one task each, sequential requests,
//! per-request latency).

use crate::workload::Generator;
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Longest a single request may take before the harness calls it an error.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);
/// Hard cap on requests per connection per run (the time limit normally ends the loop first).
const MAX_REQUESTS_PER_CONN: u64 = 50_000_000;
/// Pause before re-sending a request that was answered 503.
const BACKOFF: Duration = Duration::from_millis(2);

async fn connect(addr: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request on a fresh connection; any status is returned.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Result<(StatusCode, Bytes)> {
    let fut = async {
        let mut sender = connect(addr).await?;
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, addr.to_string());
        if let Some(t) = token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.clone().unwrap_or_default())))?;
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok::<_, anyhow::Error>((status, bytes))
    };
    tokio::time::timeout(REQUEST_LIMIT, fut)
        .await
        .map_err(|_| anyhow!("{method} {path} timed out"))?
        .with_context(|| format!("{method} http://{addr}{path}"))
}

/// One request on a fresh connection with the given extra headers (no default content type
/// or token); returns the status, the answer's headers and its body.
pub async fn request_with_headers(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Result<(StatusCode, HeaderMap, Bytes)> {
    let fut = async {
        let mut sender = connect(addr).await?;
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.clone().unwrap_or_default())))?;
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let answer_headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok::<_, anyhow::Error>((status, answer_headers, bytes))
    };
    tokio::time::timeout(REQUEST_LIMIT, fut)
        .await
        .map_err(|_| anyhow!("{method} {path} timed out"))?
        .with_context(|| format!("{method} http://{addr}{path}"))
}

/// What [`sequential_gets`] measured for one path.
pub struct Sequential {
    /// Latencies of the measured requests (send → full answer read), microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// The body of the last answer (for a sanity check of what was measured).
    pub last_body: Bytes,
}

impl Sequential {
    /// Latency quantile in milliseconds (nearest rank).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        self.latencies_us.get(rank).copied().unwrap_or_default() as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies_us.last().copied().unwrap_or_default() as f64 / 1000.0
    }
}

/// `GET path` on one keep-alive connection, one request at a time: `warmup` unmeasured
/// requests, then `count` measured ones, each timed on its own (send → full answer read).
/// Every answer must be 200.
pub async fn sequential_gets(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    warmup: usize,
    count: usize,
) -> Result<Sequential> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let host = addr.to_string();
    let mut latencies_us = Vec::with_capacity(count);
    let mut last_body = Bytes::new();
    for i in 0..warmup + count {
        let mut req = Request::get(path).header(HOST, &host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Empty::new())?;
        let t0 = Instant::now();
        let exchange = async {
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(REQUEST_LIMIT, exchange)
            .await
            .map_err(|_| anyhow!("GET {path}: no answer within {REQUEST_LIMIT:?}"))?
            .with_context(|| format!("GET {path}"))?;
        let us = t0.elapsed().as_micros();
        if status != StatusCode::OK {
            bail!(
                "GET {path}: expected 200, got {status}: {}",
                snippet(&bytes)
            );
        }
        if i >= warmup {
            latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
        last_body = bytes;
    }
    latencies_us.sort_unstable();
    Ok(Sequential {
        latencies_us,
        last_body,
    })
}

/// A request that must answer `want`; returns the body as JSON.
pub async fn request_json(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<String>,
    want: StatusCode,
) -> Result<serde_json::Value> {
    let (status, bytes) =
        request(addr, method.clone(), path, Some(crate::procs::TOKEN), body).await?;
    if status != want {
        bail!(
            "{method} {path}: expected {want}, got {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    serde_json::from_slice(&bytes).with_context(|| format!("{method} {path}: body is not JSON"))
}

/// True when `GET path` answers 200 (fresh connection, short timeout).
pub async fn probe(addr: SocketAddr, path: &str) -> bool {
    let fut = async {
        let stream = TcpStream::connect(addr).await.ok()?;
        let (mut sender, conn) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::get(path)
            .header(HOST, addr.to_string())
            .body(Empty::new())
            .ok()?;
        let resp = sender.send_request(req).await.ok()?;
        Some(resp.status() == StatusCode::OK)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), fut).await,
        Ok(Some(true))
    )
}

/// What to send and for how long.
pub struct Load {
    pub addr: SocketAddr,
    pub path: String,
    pub connections: usize,
    /// Responses completed before `warmup` has passed are not measured.
    pub warmup: Duration,
    /// The measured window after the warm-up.
    pub duration: Duration,
    /// The success status (202 for PagerDuty, 200 for Alertmanager).
    pub expect: StatusCode,
    /// PID of the server, to report its CPU use over the window.
    pub server_pid: u32,
}

/// What a load run measured (over the window after the warm-up).
#[derive(Default)]
pub struct LoadResult {
    pub window: Duration,
    /// Successful requests completed inside the window.
    pub requests: u64,
    /// Successful requests in the whole run (warm-up and tail included).
    pub total_requests: u64,
    /// 503 answers (back-pressure) in the whole run; each was retried.
    pub backpressure: u64,
    /// Latencies of successful requests in the window, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub server_cpu: Duration,
    pub client_cpu: Duration,
    /// The body of the first 503 answer, shortened.
    pub first_503: Option<String>,
}

impl LoadResult {
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Latency quantile in milliseconds (nearest rank).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        self.latencies_us.get(rank).copied().unwrap_or_default() as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies_us.last().copied().unwrap_or_default() as f64 / 1000.0
    }
}

#[derive(Default)]
struct ConnResult {
    requests: u64,
    total_requests: u64,
    backpressure: u64,
    latencies_us: Vec<u32>,
    first_503: Option<String>,
}

/// Runs the load: `connections` tasks, each with its own keep-alive connection and generator,
/// until the window ends or every generator is exhausted.
pub async fn run(load: &Load, generators: Vec<Generator>) -> Result<LoadResult> {
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    let shared = Arc::new((load.addr, load.path.clone(), load.expect));
    let mut tasks = Vec::with_capacity(generators.len());
    for gen in generators {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let (addr, path, expect) = &*shared;
            connection(*addr, path, *expect, gen, measure_from, end).await
        }));
    }
    // CPU use of both sides over the measured window (only when the window runs to its end).
    let server_stat = format!("/proc/{}/stat", load.server_pid);
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let s0 = crate::procs::cpu_time(&server_stat).ok();
        let c0 = crate::procs::cpu_time("/proc/self/stat").ok();
        tokio::time::sleep_until(end.into()).await;
        let s1 = crate::procs::cpu_time(&server_stat).ok();
        let c1 = crate::procs::cpu_time("/proc/self/stat").ok();
        (s0.zip(s1), c0.zip(c1))
    });
    let mut result = LoadResult::default();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(c)) => {
                result.requests += c.requests;
                result.total_requests += c.total_requests;
                result.backpressure += c.backpressure;
                result.latencies_us.extend_from_slice(&c.latencies_us);
                if result.first_503.is_none() {
                    result.first_503 = c.first_503;
                }
            }
            Ok(Err(e)) => errors.push(format!("{e:#}")),
            Err(e) => errors.push(format!("connection task failed: {e}")),
        }
    }
    if Instant::now() >= end {
        if let Ok((server, client)) = sampler.await {
            if let Some((a, b)) = server {
                result.server_cpu = b.saturating_sub(a);
            }
            if let Some((a, b)) = client {
                result.client_cpu = b.saturating_sub(a);
            }
        }
    } else {
        sampler.abort();
    }
    if let Some(first) = errors.first() {
        bail!(
            "{} of {} connections failed; first error: {first}",
            errors.len(),
            load.connections
        );
    }
    let finished = Instant::now().min(end);
    result.window = finished.saturating_duration_since(measure_from);
    result.latencies_us.sort_unstable();
    Ok(result)
}

async fn connection(
    addr: SocketAddr,
    path: &str,
    expect: StatusCode,
    mut gen: Generator,
    measure_from: Instant,
    end: Instant,
) -> Result<ConnResult> {
    let mut sender = connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let host = addr.to_string();
    let mut out = ConnResult::default();
    let mut pending: Option<Bytes> = None;
    for _ in 0..MAX_REQUESTS_PER_CONN {
        if Instant::now() >= end {
            break;
        }
        let body = match pending.take() {
            Some(b) => b,
            None => match gen.next_body() {
                Some(b) => b,
                None => break,
            },
        };
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, &host)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))?;
        let t0 = Instant::now();
        let exchange = async {
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(REQUEST_LIMIT, exchange)
            .await
            .map_err(|_| anyhow!("POST {path}: no answer within {REQUEST_LIMIT:?}"))?
            .with_context(|| format!("POST {path}"))?;
        let t1 = Instant::now();
        if status == expect {
            out.total_requests += 1;
            if t1 >= measure_from && t1 <= end {
                out.requests += 1;
                let us = t1.duration_since(t0).as_micros();
                out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
            }
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            out.backpressure += 1;
            if out.first_503.is_none() {
                out.first_503 = Some(snippet(&bytes));
            }
            pending = Some(body);
            tokio::time::sleep(BACKOFF).await;
        } else {
            bail!(
                "POST {path}: unexpected {status} (want {expect} or 503): {}",
                snippet(&bytes)
            );
        }
    }
    Ok(out)
}

fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(300).collect()
}
