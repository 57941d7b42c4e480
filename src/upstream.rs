//! Upstreams: one pooled hyper-util client per configured upstream per worker, shared by the
//! worker's requests. HTTPS is verified against the webpki roots plus the upstream's optional
//! `ca`; SNI is the upstream's host. HTTP/1.1 to the upstream (like nginx), which also carries
//! WebSocket upgrades.
//!
//! At most `max_connections` connections per worker (`cap`): a request beyond waits for one up
//! to `connect_timeout`, then 503.
//!
//! [`client_tls`] is the part that can fail (reading `ca`): it runs once per configuration,
//! before anything is swapped in. [`Upstream::new`] then cannot fail, and runs on the worker's
//! own thread so that the pool's connections live there. An upstream with `auth` also sends
//! its API Fabric token requests on that client (`token`).

use std::path::PathBuf;
use std::time::Duration;

use crate::body::ProxyBody;
use crate::config::{DEFAULT_UPSTREAM_TCP_KEEPALIVE, Origin, Scheme, UpstreamConfig};
use crate::metrics::{Metrics, UpstreamErrors};
use crate::tls::{TlsError, load_certs};
use cap::Capped;
use http::HeaderValue;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use read_ahead::ReadAhead;

mod cap;
mod read_ahead;
mod token;

/// `hyper::rt::Write` for a wrapper of an I/O type `T` in its field `io`: every call passed on.
macro_rules! forward_write {
    ($wrapper:ident) => {
        impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for $wrapper<T> {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.io.is_write_vectored()
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.io).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
            }
        }
    };
}
use forward_write;

pub(crate) type HttpClient = Client<Capped<HttpsConnector<ReadAhead<HttpConnector>>>, ProxyBody>;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstreams.{name}.ca: {source}")]
    Ca {
        name: String,
        #[source]
        source: TlsError,
    },
    #[error("upstreams.{name}.ca: {path}: {source}")]
    BadCa {
        name: String,
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("upstreams.{name}: TLS set-up failed: {source}")]
    Tls {
        name: String,
        #[source]
        source: rustls::Error,
    },
}

/// One upstream, ready for requests.
pub(crate) struct Upstream {
    pub name: String,
    pub origin: Origin,
    /// `Host:` value for requests with `host = "upstream"`.
    pub authority: HeaderValue,
    pub uri_scheme: http::uri::Scheme,
    pub client: HttpClient,
    pub response_timeout: Duration,
    pub errors: UpstreamErrors,
}

/// The roots an upstream is verified against: the webpki roots plus its `ca`.
pub(crate) fn roots(cfg: &UpstreamConfig) -> Result<rustls::RootCertStore, UpstreamError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &cfg.ca {
        let certs = load_certs(path).map_err(|source| UpstreamError::Ca {
            name: cfg.name.clone(),
            source,
        })?;
        for cert in certs {
            roots.add(cert).map_err(|source| UpstreamError::BadCa {
                name: cfg.name.clone(),
                path: path.clone(),
                source,
            })?;
        }
    }
    Ok(roots)
}

/// The TLS client configuration for `cfg`: the webpki roots plus its `ca`.
pub(crate) fn client_tls(cfg: &UpstreamConfig) -> Result<rustls::ClientConfig, UpstreamError> {
    let roots = roots(cfg)?;
    let tls = rustls::ClientConfig::builder_with_provider(crate::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| UpstreamError::Tls {
            name: cfg.name.clone(),
            source,
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tls)
}

impl Upstream {
    /// The pooled client for `cfg`, with the TLS configuration [`client_tls`] made for it.
    pub(crate) fn new(cfg: &UpstreamConfig, tls: rustls::ClientConfig, metrics: &Metrics) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(cfg.connect_timeout));
        http.set_nodelay(true);
        http.set_keepalive(Some(DEFAULT_UPSTREAM_TCP_KEEPALIVE));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(ReadAhead(http));
        let open = metrics.upstream_connections(&cfg.name);
        let connector = Capped::new(connector, cfg.max_connections, cfg.connect_timeout, open);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(cfg.pool_idle_timeout)
            .pool_max_idle_per_host(cfg.pool_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        let authority = HeaderValue::from_str(&cfg.origin.authority())
            .expect("a parsed origin is a valid Host value");
        Self {
            name: cfg.name.clone(),
            origin: cfg.origin.clone(),
            authority,
            uri_scheme: match cfg.origin.scheme {
                Scheme::Http => http::uri::Scheme::HTTP,
                Scheme::Https => http::uri::Scheme::HTTPS,
            },
            client,
            response_timeout: cfg.response_timeout,
            errors: metrics.upstream_errors(&cfg.name),
        }
    }
}
