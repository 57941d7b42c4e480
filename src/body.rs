//! Body types of the proxy path, and [`read_limited`]: a request body read whole, under a size
//! cap and a deadline, for the callers that need it in memory (signing, Token mode, `/tokens`).
//! Each caller maps a [`BodyError`] to its own answer.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http::header::{self, HeaderMap};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// What a body on the proxy path can fail with: hyper's errors, `access::Stalled`.
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

/// A wrapping body's `is_end_stream` and `size_hint`: its `inner`'s, so that hyper still knows
/// the length (`Content-Length`) and the end (HTTP/2 `END_STREAM` with the last data).
macro_rules! inner_hints {
    () => {
        fn is_end_stream(&self) -> bool {
            self.inner.is_end_stream()
        }

        fn size_hint(&self) -> http_body::SizeHint {
            self.inner.size_hint()
        }
    };
}
pub(crate) use inner_hints;

/// Why a request body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Over the cap: by its `Content-Length` (nothing read), or while streaming.
    #[error("request body is too large")]
    TooLarge,
    #[error("the request body did not arrive in time")]
    Timeout,
    #[error("the request body could not be read")]
    Read(#[source] BoxError),
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

/// Reads a body (the client's `Incoming`, or one already on the proxy path) of at most `max`
/// bytes within `deadline`. A declared `Content-Length` over `max` is refused before any byte
/// is read.
pub(crate) async fn read_limited<B>(
    mut body: B,
    h: &HeaderMap,
    max: usize,
    deadline: Duration,
) -> Result<Bytes, BodyError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let declared = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let read = async {
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|e| BodyError::Read(e.into()))?.into_data() else {
                continue; // trailers
            };
            if buf.len() + data.len() > max {
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}
