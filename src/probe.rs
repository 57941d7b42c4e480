//! `cec-gateway check --probe`: reach every upstream the way the gateway would, once, and say
//! what happened. For each upstream: resolve its host, connect within `connect_timeout`, and
//! for HTTPS complete the TLS handshake with the trust that `crate::upstream` builds (webpki
//! roots plus the upstream's optional `ca`, SNI = the upstream's host, ALPN `http/1.1`). The
//! outcome is a typed [`Probe`]; `line` and [`report`] turn probes into text without I/O, so
//! the format and the failure classification are table-tested (`probe/tests.rs`).
//!
//! A failure is one of: DNS, refused, timeout, another connect error, a certificate problem
//! (unknown issuer, expired, name mismatch, ...), another TLS error, or an unreadable `ca`. A
//! certificate that expires within `EXPIRY_WARNING` (14 days) is a warning, not a failure.
//! An upstream with `auth` also gets one token request ([`token_lines`]), whose lifetime is
//! reported.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::CertificateError;
use rustls_pki_types::ServerName;
use time::OffsetDateTime;
use tokio::net::TcpStream;

use crate::config::{Config, Scheme, UpstreamConfig};
use crate::tls::EXPIRY_WARNING;
use crate::upstream::UpstreamError;

mod classify;
mod format;
#[cfg(test)]
mod tests;
mod token;
mod trust;

pub use crate::store::store_line;
use classify::{classify_connect, classify_handshake};
pub use format::report;
use format::{join, leaf_text};
pub use token::token_lines;
use trust::{Recorder, client_config};

/// What probing one upstream found.
#[derive(Debug)]
pub struct Probe {
    upstream: String,
    /// `scheme://host[:port]`.
    url: String,
    /// What the host resolved to, in resolver order (empty when resolution failed).
    addresses: Vec<IpAddr>,
    outcome: Result<Reached, Failure>,
}

/// A successful probe.
#[derive(Debug)]
struct Reached {
    /// The address the connection was made to.
    peer: SocketAddr,
    /// TCP connect time.
    connect: Duration,
    /// `None` for a plain `http://` upstream.
    tls: Option<TlsSession>,
}

#[derive(Debug)]
struct TlsSession {
    /// `TLSv1.2` or `TLSv1.3`.
    version: &'static str,
    /// The server's leaf certificate (`None` if it could not be parsed).
    leaf: Option<Leaf>,
    /// TLS handshake time (after the TCP connect).
    handshake: Duration,
}

/// The parts of the server's leaf certificate worth printing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Leaf {
    subject: String,
    issuer: String,
    not_after: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Dns,
    Tcp,
    Tls,
}

/// Why an upstream could not be reached.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("DNS: cannot resolve {host}: {source}")]
    Dns {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("DNS: {host} has no address")]
    NoAddress { host: String },
    #[error("refused: connection refused by {}", join(.addrs))]
    Refused { addrs: Vec<SocketAddr> },
    #[error("timeout: {} within {}", match .stage {
        Stage::Dns => "no DNS answer",
        Stage::Tcp => "no TCP connection",
        Stage::Tls => "TLS handshake not finished",
    }, humantime::format_duration(*.after))]
    Timeout { stage: Stage, after: Duration },
    #[error("connect: {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("certificate: {problem} ({addr}){}", leaf_text(.leaf.as_ref()))]
    Certificate {
        addr: SocketAddr,
        problem: CertProblem,
        leaf: Option<Leaf>,
    },
    #[error("TLS: {source} ({addr})")]
    Tls {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Ca(#[source] UpstreamError),
}

/// What was wrong with the server's certificate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum CertProblem {
    #[error("unknown issuer")]
    UnknownIssuer,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
    #[error("name mismatch: {expected} is not among {}", if .presented.is_empty() {
        "the certificate's names".to_owned()
    } else {
        format!("its names {}", .presented.join(", "))
    })]
    NameMismatch {
        expected: String,
        presented: Vec<String>,
    },
    #[error("{0}")]
    Other(CertificateError),
}

/// How a probe counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    /// Reached, but the certificate expires in fewer than `EXPIRY_WARNING`; whole days left.
    ExpiresSoon {
        days: i64,
    },
    Failed,
}

impl Probe {
    fn verdict(&self, now: OffsetDateTime) -> Verdict {
        let leaf = match &self.outcome {
            Err(_) => return Verdict::Failed,
            Ok(r) => r.tls.as_ref().and_then(|t| t.leaf.as_ref()),
        };
        match leaf {
            Some(l) if l.not_after - now < EXPIRY_WARNING => Verdict::ExpiresSoon {
                days: (l.not_after - now).whole_days(),
            },
            _ => Verdict::Ok,
        }
    }
}

/// Probes every configured upstream, all at once; results in configuration order.
pub async fn probe_all(config: &Config) -> Vec<Probe> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, u) in config.upstreams.iter().enumerate() {
        let u = u.clone();
        tasks.spawn(async move { (i, probe(&u).await) });
    }
    let mut probes: Vec<(usize, Probe)> = tasks.join_all().await;
    probes.sort_by_key(|(i, _)| *i);
    probes.into_iter().map(|(_, p)| p).collect()
}

/// Probes one upstream: resolve, connect, and for HTTPS the TLS handshake, all within the
/// upstream's `connect_timeout`.
async fn probe(u: &UpstreamConfig) -> Probe {
    let mut probe = Probe {
        upstream: u.name.clone(),
        url: u.origin.to_url(),
        addresses: Vec::new(),
        outcome: Err(Failure::NoAddress {
            host: u.origin.host.clone(),
        }),
    };
    let tls = match u.origin.scheme {
        Scheme::Https => match client_config(u) {
            Ok(c) => Some(c),
            Err(e) => {
                probe.outcome = Err(Failure::Ca(e));
                return probe;
            }
        },
        Scheme::Http => None,
    };
    let deadline = tokio::time::Instant::now() + u.connect_timeout;
    let resolved = tokio::time::timeout_at(deadline, resolve(&u.origin.host, u.origin.port)).await;
    let addrs: Vec<SocketAddr> = match resolved {
        Err(_) | Ok(Err(ResolveGone)) => {
            probe.outcome = Err(Failure::Timeout {
                stage: Stage::Dns,
                after: u.connect_timeout,
            });
            return probe;
        }
        Ok(Ok(Err(source))) => {
            probe.outcome = Err(Failure::Dns {
                host: u.origin.host.clone(),
                source,
            });
            return probe;
        }
        Ok(Ok(Ok(it))) => dedup(it),
    };
    probe.addresses = addrs.iter().map(SocketAddr::ip).collect();
    if addrs.is_empty() {
        return probe;
    }
    probe.outcome = reach(u, &addrs, tls, deadline).await;
    probe
}

async fn reach(
    u: &UpstreamConfig,
    addrs: &[SocketAddr],
    tls: Option<(Arc<rustls::ClientConfig>, Arc<Recorder>)>,
    deadline: tokio::time::Instant,
) -> Result<Reached, Failure> {
    let started = Instant::now();
    let tcp = tokio::time::timeout_at(deadline, connect_any(addrs))
        .await
        .map_err(|_| Failure::Timeout {
            stage: Stage::Tcp,
            after: u.connect_timeout,
        })??;
    let peer = tcp.peer_addr().map_err(|source| Failure::Connect {
        addr: addrs[0],
        source,
    })?;
    let connect = started.elapsed();
    let Some((config, recorder)) = tls else {
        return Ok(Reached {
            peer,
            connect,
            tls: None,
        });
    };
    let name = ServerName::try_from(u.origin.host.clone())
        .expect("a parsed origin's host is a DNS name or an IP address");
    let started = Instant::now();
    let handshake = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
    let stream = tokio::time::timeout_at(deadline, handshake)
        .await
        .map_err(|_| Failure::Timeout {
            stage: Stage::Tls,
            after: u.connect_timeout,
        })?
        .map_err(|e| classify_handshake(peer, &u.origin.host, e, recorder.leaf()))?;
    let handshake = started.elapsed();
    let version = match stream.get_ref().1.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLS (unknown version)",
    };
    Ok(Reached {
        peer,
        connect,
        tls: Some(TlsSession {
            version,
            leaf: recorder.leaf(),
            handshake,
        }),
    })
}

/// Tries the addresses in order, like the gateway's connector; the first that accepts wins.
async fn connect_any(addrs: &[SocketAddr]) -> Result<TcpStream, Failure> {
    let mut errors = Vec::new();
    for &addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => errors.push((addr, e)),
        }
    }
    Err(classify_connect(errors))
}

/// The resolver thread ended without an answer.
struct ResolveGone;

/// getaddrinfo on a thread of its own rather than tokio's blocking pool: a resolver that hangs
/// past the deadline must not hold the process (the runtime waits for its blocking tasks when it
/// shuts down; a detached thread ends with the process).
async fn resolve(
    host: &str,
    port: u16,
) -> Result<io::Result<std::vec::IntoIter<SocketAddr>>, ResolveGone> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let host = host.to_owned();
    let spawned = std::thread::Builder::new()
        .name("probe-dns".into())
        .spawn(move || {
            use std::net::ToSocketAddrs;
            // The receiver is gone only after the deadline passed: nobody wants the answer.
            let _ = tx.send((host.as_str(), port).to_socket_addrs());
        });
    match spawned {
        Ok(_) => rx.await.map_err(|_| ResolveGone),
        Err(e) => Ok(Err(e)),
    }
}

fn dedup(it: impl Iterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in it {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}
