//! One client connection, from accept to close, in one function: [`serve_connection`].
//!
//! ```text
//! accepted TCP (its slot already taken by the accept loop)
//!   → open-connections gauge up, for the connection's whole life
//!   → PROXY header (`server.proxy_protocol`, public listeners: only from a trusted proxy; its
//!     source becomes the client) and TLS handshake (HTTPS listener; the current state's
//!     certificate), both within `tls_handshake_timeout` of the accept
//!   → public listeners: the client's share of `max_connections_per_ip`, or closed
//!   → hyper (HTTP/1.1 with upgrades, HTTP/2) under the connection's deadlines and the drain
//!       each request: role → the worker's current Gateway (pipeline), the redirect, or admin
//!   → slot, gauge and per-client count released when the connection ends, or when the
//!     WebSocket tunnel it became ends (the request carries them: [`ConnHold`])
//! ```
//! The I/O steps themselves (TLS handshake, hyper, deadlines) are `crate::transport`'s.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::body::ProxyBody;
use crate::config::{Config, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_STALL_MARGIN};
use crate::lifecycle::Deadlines;
use crate::per_ip::{IpSlot, PerIp};
use crate::swap::StateHandle;
use crate::transport::{handshake, serve_http};

/// What the listener knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnInfo {
    /// The client: the TCP peer, or the source a trusted PROXY protocol header named.
    pub peer: SocketAddr,
    /// `https` or `http`.
    pub scheme: &'static str,
}

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

/// One listener: what its connections do, their gauge, and (public listeners) the
/// per-client count.
pub(crate) struct Listener {
    pub(crate) role: Role,
    pub(crate) open: Gauge,
    pub(crate) per_ip: Option<Arc<PerIp>>,
}

/// Serves one accepted connection to its end. `permit` is its slot of the listener's budget;
/// `drain` cancelled means: finish what is in flight and close.
pub(crate) async fn serve_connection(
    mut tcp: TcpStream,
    peer: SocketAddr,
    listener: Arc<Listener>,
    state: Arc<StateHandle>,
    permit: OwnedSemaphorePermit,
    drain: CancellationToken,
) {
    let mut held = Held::new(permit, listener.open.clone());
    // Best effort: Nagle only delays small responses.
    tcp.set_nodelay(true).ok();
    let role = listener.role;
    // The connection's settings come from the state current when it is accepted; each of
    // its requests then loads the state current at that request.
    let gw = state.load();
    let config = gw.config();
    let deadline = Instant::now() + config.server.tls_handshake_timeout;
    let tls = matches!(role, Role::Public { tls: true }).then(|| gw.generation.tls.clone());
    let http = Arc::clone(&gw.http);
    let deadlines = deadlines(config);
    let Some(client) = proxied_client(&mut tcp, peer, role, config, deadline).await else {
        return;
    };
    if let Some(per_ip) = &listener.per_ip {
        match client_slot(per_ip, client, config) {
            Ok(slot) => held.ip = slot,
            Err(()) => return,
        }
    }
    drop(gw);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let conn = ConnInfo {
        peer: client,
        scheme,
    };
    let hold = ConnHold {
        _held: Arc::new(held),
    };
    let service = move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(hold.clone());
        dispatch(role, Arc::clone(&state), req, conn)
    };
    let result = match tls {
        Some(acceptor) => {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(tls) = handshake(&acceptor, tcp, client, left).await else {
                return;
            };
            serve_http(&http, tls, service, deadlines, drain).await
        }
        None => serve_http(&http, tcp, service, deadlines, drain).await,
    };
    if let Err(e) = result {
        tracing::debug!(peer = %client, error = %e, "connection ended with an error");
    }
}

/// A connection's deadlines by the configuration current at its accept.
fn deadlines(config: &Config) -> Deadlines {
    let slowest = config.upstreams.iter().map(|u| u.response_timeout).max();
    Deadlines {
        header_read: config.server.header_read_timeout,
        keepalive: config.server.keepalive_timeout,
        stall: slowest.unwrap_or(DEFAULT_RESPONSE_TIMEOUT) + DEFAULT_STALL_MARGIN,
    }
}

/// The client's share of `max_connections_per_ip`: `Ok(None)` for a trusted proxy or the
/// host's own loopback address (127.0.0.1, ::1: a sidecar, a local balancer without the PROXY
/// protocol), which speak for many clients and are not counted; `Err` (logged) when the client
/// has its share.
fn client_slot(
    per_ip: &Arc<PerIp>,
    client: SocketAddr,
    config: &Config,
) -> Result<Option<IpSlot>, ()> {
    if is_host_itself(client.ip())
        || crate::headers::is_trusted(client.ip(), &config.forwarding.trusted_proxies)
    {
        return Ok(None);
    }
    match per_ip.take(client.ip(), config.server.max_connections_per_ip) {
        Some(slot) => Ok(Some(slot)),
        None => {
            tracing::debug!(peer = %client, "max_connections_per_ip reached; closing");
            Err(())
        }
    }
}

/// 127.0.0.1 or ::1 (an IPv4-mapped 127.0.0.1 too): where the host's own processes connect from.
fn is_host_itself(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4 == std::net::Ipv4Addr::LOCALHOST,
        std::net::IpAddr::V6(v6) => {
            v6 == std::net::Ipv6Addr::LOCALHOST
                || v6.to_ipv4_mapped() == Some(std::net::Ipv4Addr::LOCALHOST)
        }
    }
}

/// The client's address: the peer, or with `server.proxy_protocol` on a public listener the
/// source of the PROXY header that a trusted proxy sent before `deadline`. `None`: the header is
/// missing, malformed or late, or the peer may not send one; the connection is closed unserved.
async fn proxied_client(
    tcp: &mut TcpStream,
    peer: SocketAddr,
    role: Role,
    config: &Config,
    deadline: Instant,
) -> Option<SocketAddr> {
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

/// What a connection holds for its whole life: its slot, its count in the gauge, its client's
/// count. Every request carries it (an extension), so that a WebSocket tunnel, which outlives
/// the connection's HTTP part, holds them until it closes.
#[derive(Clone)]
pub(crate) struct ConnHold {
    _held: Arc<Held>,
}

struct Held {
    _permit: OwnedSemaphorePermit,
    open: Gauge,
    ip: Option<IpSlot>,
}

impl Held {
    fn new(permit: OwnedSemaphorePermit, open: Gauge) -> Self {
        open.inc();
        Self {
            _permit: permit,
            open,
            ip: None,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.open.dec();
    }
}
