//! How the demo's own servers (mock CEC, sample page) serve: the gateway's accept loop and
//! connection steps (`crate::accept`, `crate::connection`) with the demo's deadlines, optional
//! TLS, HTTP/1.1 and HTTP/2, and a graceful stop when the demo's stop signal flips.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accept::accept_loop;
pub(crate) use crate::accept::stopped;
use crate::lifecycle::Deadlines;
use crate::transport::{handshake, http_builder, serve_http};

/// The response body every demo server answers with.
pub(crate) type Body = Full<Bytes>;

/// TLS handshake deadline for a demo connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A demo connection's deadlines: request head, idle keep-alive, no progress.
const DEADLINES: Deadlines = Deadlines {
    header_read: Duration::from_secs(10),
    keepalive: Duration::from_secs(60),
    stall: Duration::from_secs(30),
};
/// How long in-flight demo requests may take to finish once the demo stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections one demo server serves at once.
const MAX_CONNECTIONS: usize = 256;
/// HTTP/2 streams per demo connection.
const MAX_STREAMS: u32 = 64;

/// Serves `handler` on `listener` (over TLS when `tls` is given) until `stop` flips, then lets
/// open connections finish for up to [`DRAIN_TIMEOUT`].
pub(crate) async fn serve<H, Fut>(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    handler: H,
    stop: watch::Receiver<bool>,
) where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let acceptor = tls.map(TlsAcceptor::from);
    let (connections, drain) = (TaskTracker::new(), CancellationToken::new());
    let http = Arc::new(http_builder(MAX_STREAMS));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    accept_loop(&listener, &slots, stop, |tcp, peer, permit| {
        let (handler, http, acceptor) = (handler.clone(), Arc::clone(&http), acceptor.clone());
        let drain = drain.clone();
        connections.spawn(async move {
            let _permit = permit;
            let served = match acceptor {
                None => serve_http(&http, tcp, handler, DEADLINES, drain).await,
                Some(acceptor) => match handshake(&acceptor, tcp, peer, HANDSHAKE_TIMEOUT).await {
                    Some(tls) => serve_http(&http, tls, handler, DEADLINES, drain).await,
                    None => return,
                },
            };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "demo server: connection ended with an error");
            }
        });
    })
    .await;
    drop(listener);
    connections.close();
    drain.cancel();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::debug!("demo server: connections still open after the drain timeout");
    }
}
