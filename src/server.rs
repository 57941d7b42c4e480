//! Start-up and shutdown: bind the listeners, build the state once, serve until the shutdown
//! future completes, then drain in-flight requests for `server.shutdown_grace`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::admin::AdminState;
use crate::config::{Config, ServerConfig};
use crate::forward::Gateway;
use crate::listen::{Accept, Role, accept_loop, local_addr};
use crate::metrics::Metrics;
use crate::tls::{self, PairOrigin, TlsError};
use crate::upstream::UpstreamError;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
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
        async fn one(addr: SocketAddr) -> Result<TcpListener, RunError> {
            TcpListener::bind(addr)
                .await
                .map_err(|source| RunError::Bind { addr, source })
        }
        let https = one(server.listen).await?;
        let http = match server.http_listen {
            Some(a) => Some(one(a).await?),
            None => None,
        };
        let admin = match server.admin_listen {
            Some(a) => Some(one(a).await?),
            None => None,
        };
        Ok(Self { https, http, admin })
    }

    pub fn https_addr(&self) -> SocketAddr {
        local_addr(&self.https)
    }
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(local_addr)
    }
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(local_addr)
    }
}

/// Serves `config` on `listeners` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish within `server.shutdown_grace`, and returns.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    run_with_metrics(config, listeners, Arc::new(Metrics::new()), shutdown).await
}

/// [`run`] with a metrics registry that outlives this configuration.
pub async fn run_with_metrics(
    config: Config,
    listeners: Listeners,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    if tls::ensure_pair(&config.tls, &config.server.hostnames)? == PairOrigin::Generated {
        tracing::info!(cert = %config.tls.cert.display(), key = %config.tls.key.display(), hostnames = ?config.server.hostnames, "generated a self-signed certificate");
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(&config.tls)?);
    let server = config.server.clone();
    let gateway = Arc::new(Gateway::new(config, metrics.clone())?);
    let https_port = listeners.https_addr().port();

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let slots = Arc::new(Semaphore::new(server.max_connections));
    let accept = |listener, tls, role, listener_name: &'static str, slots: Arc<Semaphore>| Accept {
        listener,
        tls,
        role,
        slots,
        tls_handshake_timeout: server.tls_handshake_timeout,
        header_read_timeout: server.header_read_timeout,
        open: metrics.open_connections(listener_name),
    };
    let graceful = GracefulShutdown::new();
    let admin_state = Arc::new(AdminState {
        gateway: gateway.clone(),
        metrics: metrics.clone(),
        ready: false.into(),
    });

    tracing::info!(https = %listeners.https_addr(), http = ?listeners.http_addr(), admin = ?listeners.admin_addr(), "cec-gateway serving");
    let https = accept_loop(
        accept(
            listeners.https,
            Some(acceptor),
            Role::Public {
                gateway: gateway.clone(),
                scheme: "https",
            },
            "https",
            slots.clone(),
        ),
        &graceful,
        stop_rx.clone(),
    );
    let http = async {
        if let Some(l) = listeners.http {
            let role = if server.http_redirect {
                Role::Redirect {
                    gateway: gateway.clone(),
                    https_port,
                }
            } else {
                Role::Public {
                    gateway: gateway.clone(),
                    scheme: "http",
                }
            };
            accept_loop(
                accept(l, None, role, "http", slots.clone()),
                &graceful,
                stop_rx.clone(),
            )
            .await;
        }
    };
    let admin = async {
        if let Some(l) = listeners.admin {
            // The admin listener has its own small budget so a flood on the public side
            // cannot lock operators out of /metrics.
            accept_loop(
                accept(
                    l,
                    None,
                    Role::Admin(admin_state.clone()),
                    "admin",
                    Arc::new(Semaphore::new(64)),
                ),
                &graceful,
                stop_rx.clone(),
            )
            .await;
        }
    };
    admin_state.ready.store(true, Ordering::Release);
    tokio::join!(https, http, admin);

    admin_state.ready.store(false, Ordering::Release);
    tracing::info!(grace = ?server.shutdown_grace, "shutting down: draining in-flight requests");
    if tokio::time::timeout(server.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?server.shutdown_grace, "grace period over; closing the remaining connections");
    }
    Ok(())
}
