//! One request to the upstream: the pooled client under the upstream's response deadline,
//! a response whose framing contradicts itself refused (and its connection poisoned), and one
//! retry for a request that is safe to send twice when the pooled connection it went on
//! closed before any answer: the upstream closed an idle keep-alive connection just as the
//! request went out, which every pool meets sooner or later.

use http::header::{self, HeaderMap};
use http::request::Parts;
use http::{Method, Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::capture_connection;

use crate::body::{ProxyBody, empty};
use crate::error::ProxyError;
use crate::upstream::Upstream;

/// Sends the request on the upstream's pooled client, under its response deadline (both
/// attempts together).
pub(super) async fn send(
    upstream: &Upstream,
    parts: Parts,
    body: ProxyBody,
) -> Result<Response<Incoming>, ProxyError> {
    let again = (is_idempotent(&parts.method) && body.is_end_stream()).then(|| copy(&parts));
    let attempts = async {
        match once(upstream, Request::from_parts(parts, body)).await {
            Err(e) if closed_before_answer(&e) => match again {
                Some(parts) => {
                    tracing::debug!(upstream = %upstream.name, "pooled connection closed before the answer; retrying once");
                    once(upstream, Request::from_parts(parts, empty())).await
                }
                None => Err(e),
            },
            answered => answered,
        }
    };
    tokio::time::timeout(upstream.response_timeout, attempts)
        .await
        .unwrap_or(Err(ProxyError::UpstreamTimeout))
}

async fn once(
    upstream: &Upstream,
    mut req: Request<ProxyBody>,
) -> Result<Response<Incoming>, ProxyError> {
    let connection = capture_connection(&mut req);
    match upstream.client.request(req).await {
        Err(e) => Err(ProxyError::from_client(e)),
        Ok(resp) if framing_conflict(resp.headers()) => {
            // Whatever it sends next on that connection cannot be trusted either.
            if let Some(c) = connection.connection_metadata().as_ref() {
                c.poison();
            }
            Err(ProxyError::UpstreamFraming)
        }
        Ok(resp) => Ok(resp),
    }
}

/// RFC 9110 §9.2.2, without TRACE (never forwarded).
fn is_idempotent(m: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(m)
}

/// The request head again, for a second attempt (here, or after a 401 in `credentials`; extensions are the client connection's and
/// stay with the first).
pub(super) fn copy(parts: &Parts) -> Parts {
    let (mut p, ()) = Request::new(()).into_parts();
    p.method = parts.method.clone();
    p.uri = parts.uri.clone();
    p.version = parts.version;
    p.headers = parts.headers.clone();
    p
}

/// The upstream closed (or reset) an established connection before a complete response head:
/// like nginx's `proxy_next_upstream error`, which also retries only then. (TLS without
/// `close_notify` is an I/O error, not hyper's clean "incomplete message".)
fn closed_before_answer(e: &ProxyError) -> bool {
    use std::io::ErrorKind as K;
    let ProxyError::UpstreamProtocol(e) = e else {
        return false;
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let closed = [
                K::UnexpectedEof,
                K::ConnectionReset,
                K::ConnectionAborted,
                K::BrokenPipe,
            ];
            return closed.contains(&io.kind());
        }
        source = s.source();
    }
    false
}

/// A response that says both how long it is and that it is chunked: which one the client's
/// parser believes decides where the next response starts (RFC 9112 §6.3 item 3).
fn framing_conflict(h: &HeaderMap) -> bool {
    h.contains_key(header::TRANSFER_ENCODING) && h.contains_key(header::CONTENT_LENGTH)
}
