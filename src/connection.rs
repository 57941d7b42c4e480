//! One client connection, from accept to close, in one function: [`serve_connection`].
//!
//! ```text
//! accepted TCP (its slot already taken by the accept loop)
//!   → open-connections gauge up, for the connection's whole life
//!   → PROXY header (`server.proxy_protocol`, public listeners: only from a trusted proxy; its
//!     source becomes the client) and TLS handshake (HTTPS listener; the current state's
//!     certificate), both within `tls_handshake_timeout` of the accept
//!   → hyper (HTTP/1.1 with upgrades, HTTP/2) under the drain watcher, header-read deadline
//!       each request: role → the worker's current Gateway (pipeline), the redirect, or admin
//!   → slot and gauge released when the connection ends
//! ```
//! [`handshake`] and [`serve_http`] are the two I/O steps, also used by the demo's servers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::body::ProxyBody;
use crate::gateway::Gateway;
use crate::pipeline::ConnInfo;
use crate::swap::StateHandle;

/// The HTTP/1.1 + HTTP/2 server settings of one listener.
pub(crate) type HttpBuilder = auto::Builder<TokioExecutor>;

/// What a listener does with the requests it accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    /// The proxy: on the HTTPS listener (`tls`), or on a plain listener without `http_redirect`.
    Public { tls: bool },
    /// Plain HTTP that answers 308 to https (and `/healthz`).
    Redirect { https_port: u16 },
    /// `/healthz`, `/readyz`, `/metrics`, `/tokens`.
    Admin,
}

/// One listener: what its connections do, and their gauge.
pub(crate) struct Listener {
    pub(crate) role: Role,
    pub(crate) open: Gauge,
}

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

/// Serves one accepted connection to its end. `permit` is its slot of the listener's budget.
pub(crate) async fn serve_connection(
    mut tcp: TcpStream,
    peer: SocketAddr,
    listener: Arc<Listener>,
    state: Arc<StateHandle>,
    permit: OwnedSemaphorePermit,
    watcher: Watcher,
) {
    let _held = Held::new(permit, listener.open.clone());
    // Best effort: Nagle only delays small responses.
    tcp.set_nodelay(true).ok();
    let role = listener.role;
    // The connection's settings come from the state current when it is accepted; each of
    // its requests then loads the state current at that request.
    let gw = state.load();
    let deadline = Instant::now() + gw.config().server.tls_handshake_timeout;
    let tls = matches!(role, Role::Public { tls: true }).then(|| gw.generation.tls.clone());
    let http = Arc::clone(&gw.http);
    let Some(client) = proxied_client(&mut tcp, peer, role, &gw, deadline).await else {
        return;
    };
    drop(gw);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let conn = ConnInfo {
        peer: client,
        scheme,
    };
    let service = move |req| dispatch(role, Arc::clone(&state), req, conn);
    let result = match tls {
        Some(acceptor) => {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(tls) = handshake(&acceptor, tcp, client, left).await else {
                return;
            };
            serve_http(&http, tls, service, watcher).await
        }
        None => serve_http(&http, tcp, service, watcher).await,
    };
    if let Err(e) = result {
        tracing::debug!(peer = %client, error = %e, "connection ended with an error");
    }
}

/// The client's address: the peer, or with `server.proxy_protocol` on a public listener the
/// source of the PROXY header that a trusted proxy sent before `deadline`. `None`: the header is
/// missing, malformed or late, or the peer may not send one; the connection is closed unserved.
async fn proxied_client(
    tcp: &mut TcpStream,
    peer: SocketAddr,
    role: Role,
    gw: &Gateway,
    deadline: Instant,
) -> Option<SocketAddr> {
    let config = gw.config();
    if !config.server.proxy_protocol || matches!(role, Role::Admin) {
        return Some(peer);
    }
    if !crate::headers::is_trusted(peer.ip(), &config.forwarding.trusted_proxies) {
        tracing::debug!(%peer, "PROXY protocol: the peer is not a trusted proxy; closing");
        return None;
    }
    let left = deadline.saturating_duration_since(Instant::now());
    match crate::proxy_protocol::read_header(tcp, left).await {
        Ok(addrs) => Some(addrs.client_or(peer)),
        Err(e) => {
            tracing::debug!(%peer, error = %crate::error::ErrorChain(&e), "PROXY protocol: no usable header; closing");
            None
        }
    }
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

/// One request, by the listener's role, on the worker's current state.
async fn dispatch(
    role: Role,
    state: Arc<StateHandle>,
    req: Request<Incoming>,
    conn: ConnInfo,
) -> Response<ProxyBody> {
    match role {
        Role::Public { .. } => state.load().handle(req, conn).await.map(BodyExt::boxed),
        Role::Redirect { https_port } => {
            crate::redirect::redirect(state.load().config(), &req, https_port)
        }
        Role::Admin => crate::admin::handle(&state, req).await,
    }
}

/// What a connection holds for its whole life: its slot, and its count in the gauge.
struct Held {
    _permit: OwnedSemaphorePermit,
    open: Gauge,
}

impl Held {
    fn new(permit: OwnedSemaphorePermit, open: Gauge) -> Self {
        open.inc();
        Self {
            _permit: permit,
            open,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.open.dec();
    }
}
