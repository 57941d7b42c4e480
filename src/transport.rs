//! The two I/O steps of serving a stream, shared by the gateway's connections
//! (`crate::connection`) and the demo's servers: the TLS handshake under a deadline, and
//! hyper's HTTP/1.1 (with upgrades) + HTTP/2 server under the drain watcher.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The HTTP/1.1 + HTTP/2 server settings of one listener.
pub(crate) type HttpBuilder = auto::Builder<TokioExecutor>;

/// An HTTP server builder with the header-read deadline and the HTTP/2 stream cap.
pub(crate) fn http_builder(header_read_timeout: Duration, max_streams: u32) -> HttpBuilder {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(max_streams);
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

/// Serves HTTP/1.1 (with upgrades) or HTTP/2 on `io` under the drain `watcher`.
pub(crate) async fn serve_http<I, F, Fut, B>(
    builder: &HttpBuilder,
    io: I,
    handler: F,
    watcher: Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = service_fn(move |req| {
        let answer = handler(req);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    watcher.watch(conn).await
}
