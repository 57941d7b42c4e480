//! Listeners: the accept loops, the per-connection limits (max connections, TLS handshake
//! deadline, header read deadline), HTTP/1.1 + HTTP/2 serving with upgrades, and the graceful
//! watcher that lets in-flight requests finish at shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::admin::{self, AdminState};
use crate::body::ProxyBody;
use crate::forward::{ConnInfo, Gateway};

/// What a listener does with the requests it accepts.
#[derive(Clone)]
pub enum Role {
    /// The proxy, on the HTTPS listener or on a plain listener without `http_redirect`.
    Public {
        gateway: Arc<Gateway>,
        scheme: &'static str,
    },
    /// Plain HTTP that answers 308 to https (and `/healthz`).
    Redirect {
        gateway: Arc<Gateway>,
        https_port: u16,
    },
    /// `/healthz`, `/readyz`, `/metrics`, `/tokens`.
    Admin(Arc<AdminState>),
}

/// How connections are accepted on one listener.
pub struct Accept {
    pub listener: TcpListener,
    /// `Some` on the HTTPS listener.
    pub tls: Option<TlsAcceptor>,
    pub role: Role,
    /// Shared by the public listeners: at most `max_connections` at once.
    pub slots: Arc<Semaphore>,
    pub tls_handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub open: Gauge,
}

/// Accepts until `stop` turns true. Each connection is served on its own task and watched by
/// `graceful`, so that shutdown can wait for it.
pub async fn accept_loop(a: Accept, graceful: &GracefulShutdown, mut stop: watch::Receiver<bool>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(a.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    let builder = Arc::new(builder);
    loop {
        let (tcp, peer) = tokio::select! {
            r = a.listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        // Accept first, then wait for a slot: a connection waits in this worker, not in a socket
        // backlog that only this worker drains, so a slot freed by any worker serves it
        // (at most one connection per worker waits here).
        let permit = tokio::select! {
            p = a.slots.clone().acquire_owned() => p.expect("the connection semaphore is never closed"),
            _ = stopped(&mut stop) => break,
        };
        let _ = tcp.set_nodelay(true);
        let watcher = graceful.watcher();
        let (tls, role, builder, open) = (
            a.tls.clone(),
            a.role.clone(),
            builder.clone(),
            a.open.clone(),
        );
        let handshake_timeout = a.tls_handshake_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            open.inc();
            let _open = GaugeGuard(open);
            let scheme = if tls.is_some() { "https" } else { "http" };
            let service = service_fn(move |req: Request<Incoming>| {
                dispatch(role.clone(), req, ConnInfo { peer, scheme })
            });
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            watcher
                                .watch(
                                    builder
                                        .serve_connection_with_upgrades(
                                            TokioIo::new(stream),
                                            service,
                                        )
                                        .into_owned(),
                                )
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => {
                    watcher
                        .watch(
                            builder
                                .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                                .into_owned(),
                        )
                        .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

async fn dispatch(
    role: Role,
    req: Request<Incoming>,
    conn: ConnInfo,
) -> Result<Response<ProxyBody>, Infallible> {
    Ok(match role {
        Role::Public { gateway, scheme } => gateway
            .handle(req, ConnInfo { scheme, ..conn })
            .await
            .map(BodyExt::boxed),
        Role::Redirect {
            gateway,
            https_port,
        } => admin::redirect(&gateway, &req, https_port),
        Role::Admin(state) => admin::handle(&state, req).await,
    })
}

/// Completes when `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, before any other await.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

struct GaugeGuard(Gauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The address a listener is bound to.
pub fn local_addr(l: &TcpListener) -> SocketAddr {
    l.local_addr()
        .expect("a bound TCP listener has a local address")
}
