//! The deadlines of one served connection, whatever its protocol: what it is doing now (waiting
//! for its first request, idle between requests, reading a request head, busy with responses) and
//! when that must end. hyper's own HTTP/1 header timer starts when the connection goes idle and
//! hyper-util's version sniffing has none, so neither can tell an idle keep-alive connection from
//! a slow request head; [`Activity`] can, because it sees the bytes ([`observed`]) and the
//! requests and their responses' ends ([`InFlight`]).
//!
//! ```text
//! no request yet              first request head (h1) / HEADERS (h2) within header_read_timeout
//! idle, nothing read          keepalive_timeout since the last response ended (h2: no open stream)
//! idle, a head begun (h1)     the head complete within header_read_timeout of its first byte
//! busy                        progress (a response frame; on h1 a byte either way) within `stall`
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use http::Version;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::io::{InspectReader, InspectWriter};

#[cfg(test)]
mod tests;

/// The deadlines a served connection lives by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// A request head once its first byte arrived, and the first request from the start.
    pub(crate) header_read: Duration,
    /// An idle connection: h1 between requests, h2 with no open stream.
    pub(crate) keepalive: Duration,
    /// A connection with requests in flight that makes no progress: a client that reads
    /// nothing, a response that never comes (set above the upstreams' `response_timeout`, which
    /// answers 504 first).
    pub(crate) stall: Duration,
}

/// Why a connection's deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Expiry {
    /// No complete first request within `header_read`.
    FirstRequest,
    /// A request head begun but not complete within `header_read`.
    Header,
    /// Idle for `keepalive`: closed gracefully (h2: GOAWAY).
    Idle,
    /// Requests in flight but no progress for `stall`.
    Stalled,
}

impl Expiry {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Expiry::FirstRequest => "no first request in time",
            Expiry::Header => "request head not complete in time",
            Expiry::Idle => "idle",
            Expiry::Stalled => "no progress",
        }
    }
}

/// "Not set" in a millisecond field.
const UNSET: u64 = u64::MAX;

/// What one connection is doing, shared by its I/O, its requests and its supervisor. Times are
/// milliseconds since [`Activity::new`].
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    in_flight: AtomicU32,
    served: AtomicU64,
    h2: AtomicBool,
    progress: AtomicU64,
    idle_since: AtomicU64,
    head_started: AtomicU64,
    /// Woken when a deadline may have moved earlier (a head begun).
    changed: Notify,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            in_flight: AtomicU32::new(0),
            served: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            progress: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(UNSET),
            changed: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(UNSET - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    /// A request began (its head is complete): the returned guard ends it with its response.
    pub(crate) fn begin(self: &Arc<Self>, version: Version) -> InFlight {
        if version == Version::HTTP_2 {
            self.h2.store(true, Relaxed);
        }
        self.head_started.store(UNSET, Relaxed);
        self.progress.store(self.now(), Relaxed);
        self.served.fetch_add(1, Relaxed);
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(Arc::clone(self))
    }

    fn bytes_read(&self) {
        if self.h2.load(Relaxed) {
            return;
        }
        if self.in_flight.load(Relaxed) > 0 {
            self.progress.store(self.now(), Relaxed);
        } else if self.head_started.load(Relaxed) == UNSET {
            self.head_started.store(self.now(), Relaxed);
            self.changed.notify_one();
        }
    }

    fn bytes_written(&self) {
        if !self.h2.load(Relaxed) {
            self.progress.store(self.now(), Relaxed);
        }
    }

    fn frame_sent(&self) {
        self.progress.store(self.now(), Relaxed);
    }

    /// The connection's next deadline and what passing it means.
    pub(crate) fn next(&self, d: &Deadlines) -> (Instant, Expiry) {
        if self.in_flight.load(Relaxed) > 0 {
            return (
                self.at(self.progress.load(Relaxed)) + d.stall,
                Expiry::Stalled,
            );
        }
        if self.served.load(Relaxed) == 0 {
            return (self.start + d.header_read, Expiry::FirstRequest);
        }
        let idle = (
            self.at(self.idle_since.load(Relaxed)) + d.keepalive,
            Expiry::Idle,
        );
        match self.head_started.load(Relaxed) {
            UNSET => idle,
            t => idle.min((self.at(t) + d.header_read, Expiry::Header)),
        }
    }

    /// Completes when a deadline may have moved earlier than the last [`Activity::next`].
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// One request in flight, from its complete head to the end (or drop) of its response body.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        let now = a.now();
        a.progress.store(now, Relaxed);
        // Before the count falls, so that whoever sees it idle sees when it went idle.
        a.idle_since.fetch_max(now, Relaxed);
        a.in_flight.fetch_sub(1, Relaxed);
    }
}

/// `body`, keeping its request in flight until it is dropped (hyper drops it at its end),
/// each frame counted as progress. Its length and end are the body's own (`Content-Length`).
pub(crate) fn guarded<B: Body + Unpin>(inner: B, guard: InFlight) -> Guarded<B> {
    Guarded { inner, guard }
}

pub(crate) struct Guarded<B> {
    inner: B,
    guard: InFlight,
}

impl<B: Body + Unpin> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            self.guard.0.frame_sent();
        }
        polled
    }

    crate::body::inner_hints!();
}

/// What an [`observed`] stream reports its bytes to.
pub(crate) trait Observer {
    fn read(&self);
    fn wrote(&self);
}

impl Observer for Activity {
    fn read(&self) {
        self.bytes_read();
    }
    fn wrote(&self) {
        self.bytes_written();
    }
}

/// `io` with its reads and writes (of at least one byte) reported to `observer`.
pub(crate) fn observed<I, O>(io: I, observer: Arc<O>) -> impl AsyncRead + AsyncWrite + Unpin
where
    I: AsyncRead + AsyncWrite + Unpin,
    O: Observer,
{
    let reads = Arc::clone(&observer);
    let io = InspectReader::new(io, move |bytes: &[u8]| {
        if !bytes.is_empty() {
            reads.read();
        }
    });
    InspectWriter::new(io, move |_: &[u8]| observer.wrote())
}

/// When a stream last moved a byte either way: the idle clock of an upgraded tunnel.
#[derive(Debug)]
pub(crate) struct LastActive {
    start: Instant,
    at: AtomicU64,
}

impl LastActive {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            at: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(UNSET);
        self.at.store(ms, Relaxed);
    }

    /// Completes once no byte has moved for `idle`.
    pub(crate) async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.start + Duration::from_millis(self.at.load(Relaxed)) + idle;
            if deadline <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

impl Observer for LastActive {
    fn read(&self) {
        self.touch();
    }
    fn wrote(&self) {
        self.touch();
    }
}
