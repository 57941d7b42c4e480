//! The gateway's sockets: bound before [`crate::run`], so that callers (tests, `demo`) know the
//! addresses and a bind failure is reported before anything else starts. The HTTPS address is
//! bound once per worker with `SO_REUSEPORT`, so that the kernel spreads connections over them.

use std::net::SocketAddr;

use tokio::net::TcpSocket;

use crate::config::{DEFAULT_LISTEN_BACKLOG, ServerConfig};

/// A socket that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// The gateway's sockets, bound before `run` so that callers (tests, `demo`) know the
/// addresses, and so that a bind failure is reported before anything else starts.
pub struct Listeners {
    /// One `SO_REUSEPORT` socket per worker, all on the same address.
    pub(crate) https: Vec<std::net::TcpListener>,
    pub(crate) http: Option<std::net::TcpListener>,
    pub(crate) admin: Option<std::net::TcpListener>,
}

impl Listeners {
    /// Binds `server.listen` once per worker, and `http_listen` / `admin_listen` when set.
    pub async fn bind(server: &ServerConfig) -> Result<Self, BindError> {
        let first = bind_one(server.listen, true)?;
        let addr = first.local_addr().map_err(|source| BindError {
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

pub(crate) fn local_addr(l: &std::net::TcpListener) -> SocketAddr {
    l.local_addr()
        .expect("a bound TCP listener has a local address")
}

/// A listening socket, non-blocking, with `SO_REUSEPORT` when several workers share it.
fn bind_one(addr: SocketAddr, reuse_port: bool) -> Result<std::net::TcpListener, BindError> {
    let err = |source| BindError { addr, source };
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
    let listener = socket.listen(DEFAULT_LISTEN_BACKLOG).map_err(err)?;
    listener.into_std().map_err(err)
}
