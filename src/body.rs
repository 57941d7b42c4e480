//! Body types of the proxy path, and the metered response body that writes the access log line
//! and the request metrics when the response has been fully sent (or abandoned).

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::Method;
use http::header::{self, HeaderMap};
use hyper::body::Incoming;

use crate::error::ProxyError;
use crate::sign::Refusal;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};

use crate::metrics::RouteMetrics;

/// Every body on the proxy path: streamed (hyper `Incoming`) or in memory.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// What the access log line says about one request, filled in along the way.
#[derive(Debug)]
pub struct AccessRecord {
    pub request_id: String,
    pub peer: IpAddr,
    pub method: Method,
    pub route: String,
    /// Path without query (the query may carry user data).
    pub path: String,
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub started: Instant,
    pub metrics: RouteMetrics,
}

impl AccessRecord {
    fn finish(self, bytes: u64, complete: bool) {
        let elapsed = self.started.elapsed();
        self.metrics.observe(self.status, elapsed.as_secs_f64());
        tracing::info!(
            target: crate::logging::ACCESS,
            request_id = self.request_id.as_str(),
            peer = %self.peer,
            method = self.method.as_str(),
            route = self.route.as_str(),
            path = self.path.as_str(),
            status = self.status,
            bytes,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            upstream_status = self.upstream_status.map(i64::from).unwrap_or(-1),
            complete,
        );
    }
}

/// A response body that counts the bytes it sends and logs the request when it ends.
pub struct Metered {
    inner: ProxyBody,
    bytes: u64,
    record: Option<AccessRecord>,
}

impl Metered {
    pub fn new(inner: ProxyBody, record: AccessRecord) -> Self {
        Self {
            inner,
            bytes: 0,
            record: Some(record),
        }
    }

    fn finish(&mut self, complete: bool) {
        if let Some(record) = self.record.take() {
            record.finish(self.bytes, complete);
        }
    }
}

impl Body for Metered {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        // A body with nothing to send is never polled; a client that went away drops it early.
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

/// Reads a body of at most `max` bytes within `deadline`.
pub async fn read_limited(
    body: Incoming,
    h: &HeaderMap,
    max: usize,
    deadline: std::time::Duration,
) -> Result<Bytes, ProxyError> {
    let declared = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(ProxyError::Signing(Refusal::TooLarge));
    }
    match tokio::time::timeout(deadline, Limited::new(body, max).collect()).await {
        Err(_) => Err(ProxyError::ClientBodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) => match e.downcast::<hyper::Error>() {
            Ok(e) => Err(ProxyError::ClientBody(*e)),
            Err(_) => Err(ProxyError::Signing(Refusal::TooLarge)),
        },
    }
}
