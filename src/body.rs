//! Body types of the proxy path, and [`read_limited`]: a request body read whole, under a size
//! cap and a deadline, for the callers that need it in memory (signing, Token mode, `/tokens`).
//! Each caller maps a [`BodyError`] to its own answer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// What a body on the proxy path can fail with: hyper's errors, [`Stalled`].
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every body on the proxy path: streamed (hyper `Incoming`) or in memory.
pub(crate) type ProxyBody = BoxBody<Bytes, BoxError>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub(crate) fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// `body` as it streams, failing with [`Stalled`] when no frame comes for `idle`: an upstream
/// that stops after its response head ends the exchange (HTTP/1.1: the client connection
/// closes; HTTP/2: the stream is reset), instead of holding it open.
pub(crate) fn idle_limited(body: Incoming, idle: Duration) -> ProxyBody {
    IdleLimited {
        inner: body,
        idle,
        sleep: Box::pin(tokio::time::sleep(idle)),
    }
    .boxed()
}

/// The response body stopped: no frame for the upstream's `response_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the upstream sent nothing for {0:?} in the middle of its response body")]
pub(crate) struct Stalled(Duration);

struct IdleLimited {
    inner: Incoming,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl Body for IdleLimited {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + this.idle;
                this.sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Stalled(this.idle).into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why a request body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Over the cap: by its `Content-Length` (nothing read), or while streaming.
    #[error("request body is too large")]
    TooLarge,
    #[error("the request body did not arrive in time")]
    Timeout,
    #[error("the request body could not be read")]
    Read(#[source] hyper::Error),
}

impl BodyError {
    /// The status for a caller that has no more specific answer: 413, 408 or 400.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads a body of at most `max` bytes within `deadline`. A declared `Content-Length` over
/// `max` is refused before any byte is read.
pub(crate) async fn read_limited(
    body: Incoming,
    h: &HeaderMap,
    max: usize,
    deadline: Duration,
) -> Result<Bytes, BodyError> {
    let declared = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    match tokio::time::timeout(deadline, Limited::new(body, max).collect()).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) => match e.downcast::<hyper::Error>() {
            Ok(e) => Err(BodyError::Read(*e)),
            // `Limited`'s only other error is its length limit.
            Err(_) => Err(BodyError::TooLarge),
        },
    }
}
