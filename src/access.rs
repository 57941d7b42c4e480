//! The access log and request metrics: an [`AccessRecord`] filled in along one request's way,
//! and the [`Metered`] response body that writes the log line and observes the metrics when the
//! response has been fully sent (or abandoned). The line never holds a query, cookie or body.
//! A proxied body also has its idle deadline here: an upstream that stops sending after its
//! response head for `response_timeout` ends the exchange ([`Stalled`]; HTTP/1.1: the client
//! connection closes, HTTP/2: the stream is reset) instead of holding it open.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http_body::{Body, Frame};
use tokio::time::Sleep;

use crate::body::{BoxError, ProxyBody};
use crate::metrics::RouteMetrics;

/// What the access log line says about one request, filled in along the way.
#[derive(Debug)]
pub(crate) struct AccessRecord {
    pub(crate) request_id: String,
    pub(crate) peer: IpAddr,
    pub(crate) method: Method,
    pub(crate) route: String,
    /// Path without query (the query may carry user data).
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) upstream_status: Option<u16>,
    pub(crate) started: Instant,
    pub(crate) metrics: RouteMetrics,
    /// A proxied body: the upstream's `response_timeout`, the most time between two frames.
    pub(crate) body_idle: Option<Duration>,
}

impl AccessRecord {
    fn finish(self, bytes: u64, complete: bool) {
        let elapsed = self.started.elapsed();
        self.metrics.observe(self.status, elapsed.as_secs_f64());
        let peer = crate::logging::IpText::new(self.peer);
        tracing::info!(
            target: crate::logging::ACCESS,
            request_id = self.request_id.as_str(),
            peer = peer.as_str(),
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

/// The proxied body stopped: no frame from the upstream for its `response_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the upstream sent nothing for {0:?} in the middle of its response body")]
pub(crate) struct Stalled(Duration);

/// A response body that counts the bytes it sends and logs the request when it ends.
pub(crate) struct Metered {
    inner: ProxyBody,
    bytes: u64,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    record: Option<AccessRecord>,
}

impl Metered {
    pub(crate) fn new(inner: ProxyBody, record: AccessRecord) -> Self {
        let idle = record
            .body_idle
            .map(|d| (d, Box::pin(tokio::time::sleep(d))));
        Self {
            inner,
            bytes: 0,
            idle,
            record: Some(record),
        }
    }

    /// Pending from the body: whether its idle deadline has passed.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Option<Duration> {
        let (d, sleep) = self.idle.as_mut()?;
        sleep.as_mut().poll(cx).is_ready().then_some(*d)
    }

    fn finish(&mut self, complete: bool) {
        if let Some(record) = self.record.take() {
            record.finish(self.bytes, complete);
        }
    }
}

impl Body for Metered {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                if let Some((d, sleep)) = &mut this.idle {
                    sleep.as_mut().reset(tokio::time::Instant::now() + *d);
                }
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {
                if let Some(d) = this.stalled(cx) {
                    this.finish(false);
                    return Poll::Ready(Some(Err(Stalled(d).into())));
                }
            }
        }
        polled
    }

    crate::body::inner_hints!();
}

impl Drop for Metered {
    fn drop(&mut self) {
        // A body with nothing to send is never polled; a client that went away drops it early.
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}
