//! Start-up and shutdown: bind the listeners, build the state once, serve until the shutdown
//! future completes, then drain in-flight requests for `server.shutdown_grace`.
//!
//! The proxy runs on `server.workers` threads, each with its own single-threaded event loop
//! (like nginx's worker processes): every worker accepts on its own `SO_REUSEPORT` socket of
//! the HTTPS address and owns its upstream connection pools, so a request, its upstream
//! connection and its response never change threads. Worker 0 also serves the plain-HTTP and
//! admin listeners. Metrics, Token mode's limiter and the connection budget are shared.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use crate::admin::AdminState;
use crate::config::{Config, ServerConfig};
use crate::forward::Gateway;
use crate::listen::{Accept, Role, accept_loop};
use crate::metrics::Metrics;
use crate::tls::{self, PairOrigin, TlsError};
use crate::token::TokenService;
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
    #[error("cannot start worker {index}: {source}")]
    Worker {
        index: usize,
        #[source]
        source: std::io::Error,
    },
}

/// The gateway's sockets, bound before `run` so that callers (tests, `demo`) know the
/// addresses, and so that a bind failure is reported before anything else starts.
pub struct Listeners {
    /// One `SO_REUSEPORT` socket per worker, all on the same address.
    https: Vec<std::net::TcpListener>,
    http: Option<std::net::TcpListener>,
    admin: Option<std::net::TcpListener>,
}

impl Listeners {
    /// Binds `server.listen` once per worker, and `http_listen` / `admin_listen` when set.
    pub async fn bind(server: &ServerConfig) -> Result<Self, RunError> {
        let first = bind_one(server.listen, true)?;
        let addr = first.local_addr().map_err(|source| RunError::Bind {
            addr: server.listen,
            source,
        })?;
        let mut https = vec![first];
        for _ in 1..server.workers {
            https.push(bind_one(addr, true)?);
        }
        let http = server.http_listen.map(|a| bind_one(a, false)).transpose()?;
        let admin = server
            .admin_listen
            .map(|a| bind_one(a, false))
            .transpose()?;
        Ok(Self { https, http, admin })
    }

    pub fn https_addr(&self) -> SocketAddr {
        local_addr(&self.https[0])
    }
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(local_addr)
    }
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(local_addr)
    }
}

fn local_addr(l: &std::net::TcpListener) -> SocketAddr {
    l.local_addr()
        .expect("a bound TCP listener has a local address")
}

/// A listening socket, non-blocking, with `SO_REUSEPORT` when several workers share it.
fn bind_one(addr: SocketAddr, reuse_port: bool) -> Result<std::net::TcpListener, RunError> {
    let err = |source| RunError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuseport(true).map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket.bind(addr).map_err(err)?;
    let listener = socket.listen(4096).map_err(err)?;
    listener.into_std().map_err(err)
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
    let acceptor = TlsAcceptor::from(tls::server_config(&config.tls)?);
    let token = config
        .token
        .as_ref()
        .map(|t| Arc::new(TokenService::new(t)));
    let server = config.server.clone();
    let https_addr = listeners.https_addr();
    let (http_addr, admin_addr) = (listeners.http_addr(), listeners.admin_addr());
    let gateways = listeners
        .https
        .iter()
        .map(|_| Gateway::new(config.clone(), metrics.clone(), token.clone()).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    drop(config);

    let (stop_tx, stop_rx) = watch::channel(false);
    let admin_state = Arc::new(AdminState {
        gateway: gateways[0].clone(),
        ready: false.into(),
    });
    let slots = Arc::new(Semaphore::new(server.max_connections));
    let (mut http, mut admin) = (listeners.http, listeners.admin);
    let mut done = Vec::new();
    for (index, (https, gateway)) in listeners.https.into_iter().zip(gateways).enumerate() {
        let worker = Worker {
            index,
            server: server.clone(),
            gateway,
            acceptor: acceptor.clone(),
            https,
            http: if index == 0 { http.take() } else { None },
            admin: if index == 0 {
                admin.take().map(|l| (l, admin_state.clone()))
            } else {
                None
            },
            slots: slots.clone(),
            metrics: metrics.clone(),
            stop: stop_rx.clone(),
        };
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("cec-gw-worker-{index}"))
            .spawn(move || {
                let _ = tx.send(worker.run());
            })
            .map_err(|source| RunError::Worker { index, source })?;
        done.push(rx);
    }
    admin_state.ready.store(true, Ordering::Release);
    tracing::info!(https = %https_addr, http = ?http_addr, admin = ?admin_addr, workers = done.len(), "cec-gateway serving");

    shutdown.await;
    admin_state.ready.store(false, Ordering::Release);
    tracing::info!(grace = ?server.shutdown_grace, "shutting down: draining in-flight requests");
    let _ = stop_tx.send(true);
    let mut result = Ok(());
    for (index, rx) in done.into_iter().enumerate() {
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => result = Err(RunError::Worker { index, source }),
            Err(_) => tracing::error!(
                worker = index,
                "worker thread ended without reporting (panic)"
            ),
        }
    }
    result
}

/// One worker thread's share of the listeners and state.
struct Worker {
    index: usize,
    server: ServerConfig,
    gateway: Arc<Gateway>,
    acceptor: TlsAcceptor,
    https: std::net::TcpListener,
    http: Option<std::net::TcpListener>,
    admin: Option<(std::net::TcpListener, Arc<AdminState>)>,
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
}

impl Worker {
    /// Runs the worker's event loop until the stop signal and the drain are done.
    fn run(self) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(self.serve())
    }

    async fn serve(self) -> std::io::Result<()> {
        let Worker {
            index,
            server,
            gateway,
            acceptor,
            https,
            http,
            admin,
            slots,
            metrics,
            stop,
        } = self;
        let graceful = GracefulShutdown::new();
        let accept = |listener, tls, role, name: &'static str, slots: Arc<Semaphore>| Accept {
            listener,
            tls,
            role,
            slots,
            tls_handshake_timeout: server.tls_handshake_timeout,
            header_read_timeout: server.header_read_timeout,
            open: metrics.open_connections(name),
        };
        let https_port = local_addr(&https).port();
        let https = TcpListener::from_std(https)?;
        let http = http.map(TcpListener::from_std).transpose()?;
        let admin = admin
            .map(|(l, state)| TcpListener::from_std(l).map(|l| (l, state)))
            .transpose()?;
        let serve_https = accept_loop(
            accept(
                https,
                Some(acceptor),
                Role::Public {
                    gateway: gateway.clone(),
                    scheme: "https",
                },
                "https",
                slots.clone(),
            ),
            &graceful,
            stop.clone(),
        );
        let serve_http = async {
            if let Some(l) = http {
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
                    stop.clone(),
                )
                .await;
            }
        };
        let serve_admin = async {
            if let Some((l, state)) = admin {
                // The admin listener has its own small budget so a flood on the public side
                // cannot lock operators out of /metrics.
                accept_loop(
                    accept(
                        l,
                        None,
                        Role::Admin(state),
                        "admin",
                        Arc::new(Semaphore::new(64)),
                    ),
                    &graceful,
                    stop.clone(),
                )
                .await;
            }
        };
        tokio::join!(serve_https, serve_http, serve_admin);
        if tokio::time::timeout(server.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(worker = index, grace = ?server.shutdown_grace, "grace period over; closing the remaining connections");
        }
        Ok(())
    }
}
