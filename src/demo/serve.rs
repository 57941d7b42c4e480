//! The accept loop the demo's own servers (mock CEC, sample page) share: a bound listener,
//! optional TLS, HTTP/1.1 and HTTP/2, a handshake deadline, and a graceful stop when the demo's
//! stop signal flips. The gateway itself does not use this; it has its own listener.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// The response body every demo server answers with.
pub type Body = Full<Bytes>;

/// TLS handshake deadline for a demo connection.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/1 request-header deadline for a demo connection.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight demo requests may take to finish once the demo stops.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Resolves once the demo's stop signal is `true` (or its sender is gone, which means the same).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|&stop| stop).await.is_err() {
        // The sender was dropped: nobody can ask us to keep running any more.
    }
}

/// Serves `handler` on `listener` (over TLS when `tls` is given) until `stop` flips, then lets
/// open connections finish for up to [`DRAIN_TIMEOUT`].
pub async fn serve<H, Fut>(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    handler: H,
    mut stop: watch::Receiver<bool>,
) where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(%error, "demo server: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let handler = handler.clone();
        let service = service_fn(move |req| {
            let response = handler(req);
            async move { Ok::<_, Infallible>(response.await) }
        });
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let served = match acceptor {
                None => {
                    let conn = builder
                        .serve_connection(TokioIo::new(tcp), service)
                        .into_owned();
                    watcher.watch(conn).await
                }
                Some(acceptor) => {
                    let tls =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "demo server: TLS handshake failed");
                                return;
                            }
                            Err(_elapsed) => {
                                tracing::debug!(%peer, "demo server: TLS handshake timed out");
                                return;
                            }
                        };
                    let conn = builder
                        .serve_connection(TokioIo::new(tls), service)
                        .into_owned();
                    watcher.watch(conn).await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "demo server: connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("demo server: connections still open after the drain timeout");
    }
}
