//! # cec-gateway
//!
//! An edge gateway that puts Huawei Cloud CEC web chat on an enterprise's own domain: a
//! TLS-terminating HTTP/1.1 + HTTP/2 reverse proxy that replaces the vendor's Nginx setup, signs
//! the `newThirdPartyClient.js` POST server-side (auth-v2), and serves Token mode's validation
//! endpoint.
//!
//! ## Architecture
//! ```text
//!   main ── config::Config::load ── Listeners::bind ── run(config, listeners, shutdown)
//!                                                          │
//!   listen (TLS accept, h1/h2, limits, graceful drain) ────┤
//!     └─ forward::Gateway::handle   one request:            │
//!          cors (preflight) → route (longest prefix) → headers (hop-by-hop, X-Forwarded-*)
//!          → sign (buffer + inject thirdPartAuthorization) → upstream (pooled client, timeouts)
//!          → rewrite (Set-Cookie Domain, Location) → error (the only ProxyError → status map)
//!   admin  /healthz /readyz /metrics (metrics: Prometheus text)   token: Token mode
//!   demo   mock CEC + sample page, for trying it without a CEC account
//! ```
//! State is built once per configuration ([`forward::Gateway`] behind an `Arc`) and shared
//! immutably by every connection; there are no globals, so a reload can build a new one and
//! swap it. Shutdown is a future passed in; only `main` touches signals.

pub mod config;
pub mod cors;
pub mod demo;
pub mod headers;
pub mod rewrite;
pub mod route;
pub mod secret;
pub mod sign;
pub mod token;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::{Config, ServerConfig};

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The gateway's sockets, bound before `run` so that callers (tests, `demo`) know the
/// addresses, and so that a bind failure is reported before anything else starts.
pub struct Listeners {
    pub https: TcpListener,
    pub http: Option<TcpListener>,
    pub admin: Option<TcpListener>,
}

impl Listeners {
    /// Binds `server.listen`, and `http_listen` / `admin_listen` when set.
    pub async fn bind(server: &ServerConfig) -> Result<Self, RunError> {
        let _ = server;
        todo!("bind listeners")
    }

    pub fn https_addr(&self) -> SocketAddr {
        todo!()
    }
    pub fn http_addr(&self) -> Option<SocketAddr> {
        todo!()
    }
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        todo!()
    }
}

/// Serves `config` on `listeners` until `shutdown` completes, then drains in-flight requests
/// for `server.shutdown_grace` and returns.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let _ = (config, listeners, shutdown);
    todo!("serve")
}
