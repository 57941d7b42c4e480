//! Reloading a running gateway: a new configuration is validated whole, built into a new
//! [`Generation`] (certificate, keys, trust stores, secrets) and only then handed to every worker
//! through the swap seam ([`crate::swap`]). An invalid one is refused and the old one keeps
//! serving. One reload runs at a time; what cannot change without a restart (the listener
//! addresses, the worker count, the connection budget, the plain listener's role and the drain
//! grace) is kept as it was, with a warning.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::config::{Config, ConfigError, ServerConfig};
use crate::gateway::{Generation, StateError};
use crate::swap::Swapper;

/// Why a reload was refused. The old configuration keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(Box<ConfigError>),
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<ConfigError> for ReloadError {
    fn from(e: ConfigError) -> Self {
        ReloadError::Config(Box::new(e))
    }
}

/// Hands the running workers a new configuration. Cheap to clone.
#[derive(Clone)]
pub struct Reloader(Arc<Inner>);

struct Inner {
    swapper: Swapper,
    /// The generation in service; the lock also keeps reloads one at a time.
    current: Mutex<Arc<Generation>>,
}

impl Reloader {
    pub(crate) fn new(current: Arc<Generation>, swapper: Swapper) -> Self {
        Self(Arc::new(Inner {
            swapper,
            current: Mutex::new(current),
        }))
    }

    /// Validates `config`, builds it, and swaps it in on every worker. When this returns
    /// `Ok`, the next connection and the next request on every worker use it.
    pub async fn reload(&self, mut config: Config) -> Result<(), ReloadError> {
        let mut current = self.0.current.lock().await;
        keep_fixed(&current.config().server, &mut config.server);
        let metrics = Arc::clone(&current.metrics);
        let generation = Arc::new(Generation::build(config, metrics)?);
        self.0.swapper.swap(&generation).await;
        *current = generation;
        Ok(())
    }
}

/// Keeps the settings a reload cannot change (sockets and threads exist already), warning for
/// each that the new configuration tried to change.
fn keep_fixed(old: &ServerConfig, new: &mut ServerConfig) {
    let mut kept = Vec::new();
    if new.listen != old.listen {
        kept.push("server.listen");
        new.listen = old.listen;
    }
    if new.http_listen != old.http_listen {
        kept.push("server.http_listen");
        new.http_listen = old.http_listen;
    }
    if new.admin_listen != old.admin_listen {
        kept.push("server.admin_listen");
        new.admin_listen = old.admin_listen;
    }
    if new.workers != old.workers {
        kept.push("server.workers");
        new.workers = old.workers;
    }
    if new.http_redirect != old.http_redirect {
        kept.push("server.http_redirect");
        new.http_redirect = old.http_redirect;
    }
    if new.shutdown_grace != old.shutdown_grace {
        kept.push("server.shutdown_grace");
        new.shutdown_grace = old.shutdown_grace;
    }
    if new.max_connections != old.max_connections {
        kept.push("server.max_connections");
        new.max_connections = old.max_connections;
    }
    if !kept.is_empty() {
        tracing::warn!(keys = ?kept, "these settings need a restart to change; keeping the running ones");
    }
}
