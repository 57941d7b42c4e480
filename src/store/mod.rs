//! The shared store: a Redis through which replicas share Token mode's single use and rate
//! limits, and each API Fabric upstream's token (`[store]`). Absent, all of them stay in this
//! process (`crate::token`, `crate::fabric`).
//!
//! ```text
//!   Store      per configuration (Generation): the client, key prefix, timeout, metrics, and
//!              the process-wide up/down state that `store_up` and the log follow
//!   StoreConn  per worker (Gateway): one multiplexed connection (redis' ConnectionManager,
//!              which reconnects by itself), a PING every second, calls bounded by `timeout`
//!     rate_limit(peer)     GCRA in Lua (script), EVALSHA with EVAL as fallback
//!     first_use(jti, ..)   SET <prefix>jti:<jti> 1 NX PXAT ...
//!     shared_token, put_token, lock_token, unlock_token
//!                          GET/SET <prefix>fabric:<upstream>:token, SET NX PX/DEL ...:lock
//! ```
//! Failure policy lives with the caller (`crate::local`): single use fails closed, the rate
//! limit falls back to the local limiter. While a worker's connection is down the rate limit
//! does not wait for it; single use always asks, since only Redis can say yes. `/readyz` does
//! not look at the store: an outage must not take every replica out of the balancer.
//!
//! A reload builds a new `Store` and each worker a new connection (every `[store]` setting is
//! reloadable, the password file is read again); the old connection closes when the last
//! request of the old configuration ends. Nothing is lost: the state is in Redis.

mod conn;
mod fabric_token;
mod probe_line;
mod script;

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, TlsCertificates};

pub(crate) use conn::StoreConn;
pub(crate) use fabric_token::obtain_token;
pub use probe_line::store_line;

use crate::config::StoreConfig;
use crate::metrics::{Metrics, StoreMetrics};
use crate::tls::{TlsError, load_certs};

/// Retries within one connection attempt: none, so that a call on a store that refuses
/// connections fails at once instead of waiting out backoffs until `store.timeout`. The next
/// call (or the health check's PING, every second) starts the next attempt.
const RECONNECT_RETRIES: usize = 0;

/// Why the `[store]` table could not be made into a client. Never holds the password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store.ca: {0}")]
    Ca(#[source] TlsError),
    #[error("store.ca: {path}: {source}")]
    ReadCa {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Client(#[source] redis::RedisError),
}

/// Why one store call gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("{0}")]
    Redis(#[source] redis::RedisError),
}

/// The state of the store and of each worker's link: no call yet, the last call answered, not.
const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// One configuration's store client, shared by every worker.
pub(crate) struct Store {
    client: redis::Client,
    /// `redis_url` without its password, for the log.
    url: String,
    prefix: String,
    timeout: Duration,
    script: redis::Script,
    metrics: StoreMetrics,
    /// UNKNOWN until the first call, then UP while no worker's last call failed, else DOWN.
    state: AtomicU8,
    /// How many workers' last call failed.
    down_links: AtomicUsize,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The client for `cfg` (it connects later, from each worker). Fails only on the `ca`.
    pub(crate) fn new(cfg: &StoreConfig, metrics: &Metrics) -> Result<Self, StoreError> {
        let info = connection_info(cfg);
        let client = match &cfg.ca {
            None => redis::Client::open(info),
            Some(path) => {
                load_certs(path).map_err(StoreError::Ca)?;
                let pem = std::fs::read(path).map_err(|source| StoreError::ReadCa {
                    path: path.clone(),
                    source,
                })?;
                let certs = TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(info, certs)
            }
        }
        .map_err(StoreError::Client)?;
        Ok(Self {
            client,
            url: cfg.url.to_string(),
            prefix: cfg.key_prefix.clone(),
            timeout: cfg.timeout,
            script: redis::Script::new(script::RATE_LIMIT_LUA),
            metrics: metrics.store(),
            state: AtomicU8::new(UNKNOWN),
            down_links: AtomicUsize::new(0),
        })
    }

    /// A connection that connects on first use and reconnects by itself; call it on the
    /// worker's runtime, which then drives it.
    fn manager(&self) -> ConnectionManager {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(RECONNECT_RETRIES);
        ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .expect("a manager without push sender or resubscription is always valid")
    }

    /// Follows one worker link's call: its state goes from `was` to `now` (`UP` or `DOWN`).
    /// `store_up` is 1 while no worker's last call failed; its changes are logged, a failure
    /// with `failure` as the reason.
    fn observe(&self, was: u8, now: u8, failure: Option<&Failure>) {
        let down = match (was, now) {
            (DOWN, UP) => self.down_links.fetch_sub(1, Ordering::Relaxed) - 1,
            (UNKNOWN | UP, DOWN) => self.down_links.fetch_add(1, Ordering::Relaxed) + 1,
            _ => self.down_links.load(Ordering::Relaxed),
        };
        let state = if down == 0 { UP } else { DOWN };
        self.metrics.up.set(i64::from(state == UP));
        if self.state.swap(state, Ordering::Relaxed) == state {
            return;
        }
        match failure {
            None => tracing::info!(store = %self.url, "store reachable"),
            Some(error) => tracing::error!(
                store = %self.url,
                %error,
                "store unavailable: single-use validations fail closed, rate limits fall back to this replica's own"
            ),
        }
    }
}

/// `check --probe`: connects (TCP, TLS, `AUTH`) and PINGs once, each within `store.timeout`,
/// as a worker would. The round trip of the PING, or why there was none.
pub(crate) async fn ping_once(cfg: &StoreConfig) -> Result<Duration, ProbeError> {
    let store = Store::new(cfg, &Metrics::new()).map_err(ProbeError::Setup)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(cfg.timeout))
        .set_response_timeout(Some(cfg.timeout));
    let connect = store
        .client
        .get_multiplexed_async_connection_with_config(&config);
    let mut conn = tokio::time::timeout(cfg.timeout, connect)
        .await
        .map_err(|_| ProbeError::Call(Failure::Timeout(cfg.timeout)))?
        .map_err(|e| ProbeError::Call(Failure::Redis(e)))?;
    let started = std::time::Instant::now();
    let cmd = redis::cmd("PING");
    let ping = cmd.query_async::<String>(&mut conn);
    tokio::time::timeout(cfg.timeout, ping)
        .await
        .map_err(|_| ProbeError::Call(Failure::Timeout(cfg.timeout)))?
        .map_err(|e| ProbeError::Call(Failure::Redis(e)))?;
    Ok(started.elapsed())
}

/// Why `check --probe` could not PING the store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error(transparent)]
    Setup(StoreError),
    #[error(transparent)]
    Call(Failure),
}

/// Where and how to connect: host, port, TLS, database, user and password.
fn connection_info(cfg: &StoreConfig) -> redis::ConnectionInfo {
    let (host, port) = (cfg.url.host.clone(), cfg.url.port);
    let addr = match cfg.url.tls {
        true => ConnectionAddr::TcpTls {
            host,
            port,
            insecure: false,
            tls_params: None,
        },
        false => ConnectionAddr::Tcp(host, port),
    };
    let mut redis = RedisConnectionInfo::default()
        .set_db(cfg.url.db)
        .set_skip_set_lib_name();
    if let Some(user) = &cfg.url.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &cfg.password {
        redis = redis.set_password(password.key.expose_text());
    }
    addr.into_connection_info()
        .expect("an address converts to connection info without failing")
        .set_redis_settings(redis)
}
