//! `upstreams.NAME.max_connections`: a connector that opens a connection only with one of the
//! worker's slots for that upstream, and a connection type that holds its slot until it
//! closes. A request that needs a new connection while every slot is taken waits up to
//! `connect_timeout` (an idle connection handed back meanwhile serves it first, by the pool),
//! then fails with [`Saturated`]: 503.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor};
use hyper_util::client::legacy::connect::{Connected, Connection};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

use crate::body::BoxError;
use crate::error::Saturated;

/// A connector that opens at most `max` connections at a time.
#[derive(Clone)]
pub(crate) struct Capped<C> {
    inner: C,
    slots: Arc<Semaphore>,
    max: usize,
    wait: Duration,
    open: Gauge,
}

impl<C> Capped<C> {
    /// `open` counts this upstream's connections of this worker.
    pub(crate) fn new(inner: C, max: usize, wait: Duration, open: Gauge) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(max)),
            max,
            wait,
            open,
        }
    }
}

impl<C> Service<Uri> for Capped<C>
where
    C: Service<Uri> + Clone + Send + 'static,
    C::Response: Send,
    C::Future: Send,
    C::Error: Into<BoxError>,
{
    type Response = Slotted<C::Response>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // The clone that was polled ready makes the call (tower's rule); the fresh one stays.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let (slots, max, wait, open) = (
            Arc::clone(&self.slots),
            self.max,
            self.wait,
            self.open.clone(),
        );
        Box::pin(async move {
            let slot = match tokio::time::timeout(wait, slots.acquire_owned()).await {
                Ok(slot) => slot.expect("an upstream's slots are never closed"),
                Err(_) => return Err(Saturated { max, waited: wait }.into()),
            };
            let io = inner.call(uri).await.map_err(Into::into)?;
            open.inc();
            Ok(Slotted {
                io,
                _slot: slot,
                open,
            })
        })
    }
}

/// An upstream connection holding its slot (and its count in the gauge) until dropped.
pub(crate) struct Slotted<T> {
    io: T,
    _slot: OwnedSemaphorePermit,
    open: Gauge,
}

impl<T> Drop for Slotted<T> {
    fn drop(&mut self) {
        self.open.dec();
    }
}

impl<T: Connection> Connection for Slotted<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

impl<T: Read + Unpin> Read for Slotted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

super::forward_write!(Slotted);
