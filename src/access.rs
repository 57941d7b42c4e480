//! The access log and request metrics: an [`AccessRecord`] filled in along one request's way,
//! and the [`Metered`] response body that writes the log line and observes the metrics when the
//! response has been fully sent (or abandoned). The line never holds a query, cookie or body.

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::Method;
use http_body::{Body, Frame, SizeHint};

use crate::body::{BoxError, ProxyBody};
use crate::metrics::RouteMetrics;

/// What the access log line says about one request, filled in along the way.
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
pub(crate) struct Metered {
    inner: ProxyBody,
    bytes: u64,
    record: Option<AccessRecord>,
}

impl Metered {
    pub(crate) fn new(inner: ProxyBody, record: AccessRecord) -> Self {
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
