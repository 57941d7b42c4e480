//! The two I/O steps of serving a stream, shared by the gateway's connections
//! (`crate::connection`) and the demo's servers: the TLS handshake under a deadline, and
//! hyper's HTTP/1.1 (with upgrades) + HTTP/2 server under the connection's deadlines
//! (`crate::lifecycle`) and the drain.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::config::{
    DEFAULT_H1_MAX_BUF_SIZE, DEFAULT_H2_MAX_HEADER_LIST_SIZE, DEFAULT_H2_MAX_LOCAL_ERROR_RESETS,
    DEFAULT_H2_MAX_PENDING_RESETS, DEFAULT_H2_MAX_SEND_BUF_SIZE, DEFAULT_H2_PING_INTERVAL,
    DEFAULT_H2_PING_TIMEOUT,
};
use crate::lifecycle::{Activity, Deadlines, Expiry, guarded, observed};

/// The HTTP/1.1 + HTTP/2 server settings of one listener.
pub(crate) type HttpBuilder = auto::Builder<TokioExecutor>;

/// An HTTP server builder with the HTTP/2 stream cap and keep-alive pings. Request-head and
/// idle deadlines are [`serve_http`]'s (`crate::lifecycle`), not hyper's: hyper's HTTP/1 header
/// timer cannot tell an idle keep-alive connection from a slow head, so it is off.
pub(crate) fn http_builder(max_streams: u32) -> HttpBuilder {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(DEFAULT_H1_MAX_BUF_SIZE);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(max_streams)
        .keep_alive_interval(DEFAULT_H2_PING_INTERVAL)
        .keep_alive_timeout(DEFAULT_H2_PING_TIMEOUT)
        .max_pending_accept_reset_streams(DEFAULT_H2_MAX_PENDING_RESETS)
        .max_local_error_reset_streams(DEFAULT_H2_MAX_LOCAL_ERROR_RESETS)
        .max_header_list_size(DEFAULT_H2_MAX_HEADER_LIST_SIZE)
        .max_send_buf_size(DEFAULT_H2_MAX_SEND_BUF_SIZE);
    builder
}

/// The TLS handshake under `deadline`; `None` (logged) when it fails or times out.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    deadline: Duration,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(deadline, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// Serves HTTP/1.1 (with upgrades) or HTTP/2 on `io` by its [`Deadlines`] until it ends, or
/// gracefully once `drain` is cancelled.
pub(crate) async fn serve_http<I, F, Fut, B>(
    builder: &HttpBuilder,
    io: I,
    handler: F,
    deadlines: Deadlines,
    drain: CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let activity = Activity::new();
    let io = observed(io, Arc::clone(&activity));
    let seen = Arc::clone(&activity);
    let service = service_fn(move |req: Request<Incoming>| {
        let in_flight = seen.begin(req.version());
        // Boxed: the handler's future nests the whole pipeline (kilobytes), which hyper would
        // otherwise copy on every move into its connection state.
        let answer = Box::pin(handler(req));
        async move { Ok::<_, Infallible>(answer.await.map(|b| guarded(b, in_flight))) }
    });
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    tokio::pin!(conn);
    // Once closing gracefully (drain, or idle), the connection has `header_read` to finish
    // closing (the drain: what is in flight, within the worker's grace) before it is dropped.
    let mut closing: Option<Instant> = None;
    loop {
        let (deadline, expiry) = match closing {
            Some(at) if !drain.is_cancelled() => (at, Expiry::Idle),
            Some(_) => (Instant::now() + Duration::from_secs(86_400), Expiry::Idle),
            None => activity.next(&deadlines),
        };
        tokio::select! {
            ended = conn.as_mut() => return ended,
            () = drain.cancelled(), if closing.is_none() => {
                closing = Some(Instant::now());
                conn.as_mut().graceful_shutdown();
            }
            () = activity.changed() => {}
            () = tokio::time::sleep_until(deadline) => {
                if closing.is_some() {
                    return Ok(());
                }
                if activity.next(&deadlines).0 > Instant::now() {
                    continue; // it moved on meanwhile
                }
                tracing::debug!(reason = expiry.as_str(), "closing the connection");
                if expiry != Expiry::Idle {
                    return Ok(());
                }
                // h1: closes now; h2: GOAWAY, then ends once no stream is open.
                closing = Some(Instant::now() + deadlines.header_read);
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
