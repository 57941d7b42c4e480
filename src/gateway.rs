//! The gateway's state: everything one configuration builds, apart from the per-request pipeline
//! that reads it (`crate::pipeline`).
//!
//! Two levels, so that a reload can validate everything before it swaps anything in:
//! - [`Generation`]: built once per configuration, shared by every worker. Every step that can
//!   fail is here (the served certificate and key, each upstream's trust store, the shared
//!   store's client); metrics and Token mode's service are process-wide.
//! - [`Gateway`]: one per worker, built from a `Generation` on the worker's own thread and
//!   unable to fail: the route table, the pooled upstream clients and the shared store's
//!   connection (their connections live on that thread) and the pre-resolved metric series.
//!
//! A worker holds its `Gateway` in a `crate::swap::StateHandle`; a request loads it once and
//! keeps it to its end.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::config::{Config, DEFAULT_H2_MAX_CONCURRENT_STREAMS};
use crate::fabric::TokenCache;
use crate::metrics::{Metrics, RouteMetrics};
use crate::route::RouteTable;
use crate::store::{Store, StoreConn, StoreError};
use crate::tls::{self, PairOrigin, TlsError};
use crate::token::TokenService;
use crate::transport::{HttpBuilder, http_builder};
use crate::upstream::{self, Upstream, UpstreamError};

/// Why a configuration could not be made into a `Generation`.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one configuration builds once, for every worker.
pub(crate) struct Generation {
    pub(crate) config: Arc<Config>,
    /// The public listener's TLS: a renewed certificate reaches the next handshake.
    pub(crate) tls: TlsAcceptor,
    /// By upstream index: the verified TLS client configuration.
    upstream_tls: Vec<rustls::ClientConfig>,
    /// Shared by every worker: one rate limiter and one single-use store per process.
    pub(crate) token: Option<Arc<TokenService>>,
    /// The shared store's client, when `[store]` is set and Token mode or an upstream's `auth`
    /// uses it.
    store: Option<Arc<Store>>,
    /// By upstream index: the API Fabric token of an upstream with `auth`, shared by every
    /// worker, carried over a reload that keeps the upstream's credentials.
    pub(crate) credentials: Vec<Option<Arc<TokenCache>>>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Generation {
    /// Validates and builds everything `config` needs that can fail. With `self_signed`, a
    /// missing certificate pair is generated first. After a reload, Token mode's memory is
    /// carried over from the `previous` generation.
    pub(crate) fn build(
        config: Config,
        metrics: Arc<Metrics>,
        previous: Option<&Generation>,
    ) -> Result<Self, StateError> {
        if tls::ensure_pair(&config.tls, &config.server.hostnames)? == PairOrigin::Generated {
            tracing::info!(cert = %config.tls.cert.display(), key = %config.tls.key.display(), hostnames = ?config.server.hostnames, "generated a self-signed certificate");
        }
        let served = tls::load_pair(&config.tls)?;
        let upstream_tls = config
            .upstreams
            .iter()
            .map(upstream::client_tls)
            .collect::<Result<_, _>>()?;
        let token = config.token.as_ref().map(|t| {
            let mut service = TokenService::new(t);
            if let Some(old) = previous.and_then(|p| p.token.as_deref()) {
                service.carry_over(old);
            }
            Arc::new(service)
        });
        let fabric = config.upstreams.iter().any(|u| u.auth.is_some());
        let store = match &config.store {
            Some(s) if token.is_some() || fabric => Some(Arc::new(Store::new(s, &metrics)?)),
            _ => None,
        };
        served.report_expiry(&config.tls.cert, &metrics);
        let tls = TlsAcceptor::from(served.config);
        Ok(Self {
            credentials: credentials(&config, &metrics, previous),
            config: Arc::new(config),
            tls,
            upstream_tls,
            token,
            store,
            metrics,
        })
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }
}

/// The token caches of `config`'s upstreams with `auth`: the `previous` generation's where the
/// credentials did not change, so that a reload does not cost a token request.
fn credentials(
    config: &Config,
    metrics: &Metrics,
    previous: Option<&Generation>,
) -> Vec<Option<Arc<TokenCache>>> {
    let old = previous.map_or(&[][..], |p| &p.credentials[..]);
    config
        .upstreams
        .iter()
        .map(|u| {
            let auth = u.auth.as_ref()?;
            let kept = old.iter().flatten().find(|c| c.serves(&u.name, auth));
            Some(kept.map(Arc::clone).unwrap_or_else(|| {
                Arc::new(TokenCache::new(
                    &u.name,
                    auth,
                    metrics.token_metrics(&u.name),
                ))
            }))
        })
        .collect()
}

/// One worker's state for one configuration.
pub(crate) struct Gateway {
    pub(crate) generation: Arc<Generation>,
    /// The HTTP/1.1 + HTTP/2 settings for the connections accepted while this state is current.
    pub(crate) http: Arc<HttpBuilder>,
    pub(crate) routes: RouteTable,
    /// By route index (configuration order).
    pub(crate) route_metrics: Vec<RouteMetrics>,
    pub(crate) unmatched_metrics: RouteMetrics,
    /// By upstream index.
    pub(crate) upstreams: Vec<Upstream>,
    /// By channel index (configuration order).
    signatures: Vec<Counter>,
    /// This worker's connection to the shared store.
    store: Option<StoreConn>,
    /// The worker's upgraded (WebSocket) tunnels, which outlive their request: drained at
    /// shutdown like connections.
    pub(crate) tunnels: TaskTracker,
}

impl Gateway {
    /// Builds a worker's state; call it on the worker's thread. `tunnels` is the worker's.
    pub(crate) fn for_worker(generation: Arc<Generation>, tunnels: TaskTracker) -> Self {
        let config = &generation.config;
        let metrics = &generation.metrics;
        let routes = RouteTable::new(&config.routes);
        let route_metrics = config
            .routes
            .iter()
            .map(|r| metrics.route(&r.prefix))
            .collect();
        let upstreams = config
            .upstreams
            .iter()
            .zip(&generation.upstream_tls)
            .map(|(u, tls)| Upstream::new(u, tls.clone(), metrics))
            .collect();
        let signatures = config
            .signing
            .iter()
            .flat_map(|s| &s.channels)
            .map(|c| metrics.signatures(&c.config_id))
            .collect();
        let http = http_builder(DEFAULT_H2_MAX_CONCURRENT_STREAMS);
        Self {
            tunnels,
            store: generation.store.as_ref().map(StoreConn::new),
            http: Arc::new(http),
            unmatched_metrics: metrics.route("none"),
            routes,
            route_metrics,
            upstreams,
            signatures,
            generation,
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.generation.config
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.generation.metrics
    }

    pub(crate) fn token(&self) -> Option<&TokenService> {
        self.generation.token.as_deref()
    }

    pub(crate) fn store(&self) -> Option<&StoreConn> {
        self.store.as_ref()
    }

    /// Counts a signature issued for channel `config_id`.
    pub(crate) fn count_signature(&self, config_id: &str) {
        let channels = self.config().signing.iter().flat_map(|s| &s.channels);
        if let Some(i) = channels.into_iter().position(|c| c.config_id == config_id) {
            self.signatures[i].inc();
        }
    }
}
