//! Reloading a running gateway: a new configuration is validated whole, built into a new
//! [`Generation`] (certificate, keys, trust stores, secrets) and only then handed to every worker
//! through the swap seam (`crate::swap`). An invalid one is refused and the old one keeps
//! serving. One reload runs at a time; what cannot change without a restart (the listener
//! addresses, the worker count, the connection budget, the plain listener's role and the drain
//! grace) is kept as it was, with a warning. `[store]` is reloadable: the new generation's
//! `crate::store::Store` gets a new connection on every worker, and Redis keeps what it holds.

// Configuration errors happen once per reload; their size does not matter.
#![allow(clippy::result_large_err)]

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

    /// Loads a configuration with `load` (for SIGHUP: the file again, with its secrets), then
    /// validates, builds and swaps it in on every worker. When this returns `Ok`, the next
    /// connection and the next request on every worker use it. Either way the outcome is
    /// counted; a refusal leaves the running configuration in service (the caller logs why).
    pub async fn reload_with(
        &self,
        load: impl FnOnce() -> Result<Config, ConfigError>,
    ) -> Result<(), ReloadError> {
        let mut current = self.0.current.lock().await;
        let metrics = Arc::clone(&current.metrics);
        let built = load().map_err(ReloadError::from).and_then(|mut config| {
            keep_fixed(&current.config().server, &mut config.server);
            Ok(Generation::build(
                config,
                Arc::clone(&metrics),
                Some(&current),
            )?)
        });
        metrics.config_reloaded(built.is_ok());
        let generation = Arc::new(built?);
        self.0.swapper.swap(&generation).await;
        *current = generation;
        tracing::info!("configuration reloaded");
        Ok(())
    }

    /// The generation in service (waits for a reload under way).
    pub(crate) async fn current(&self) -> Arc<Generation> {
        Arc::clone(&*self.0.current.lock().await)
    }

    /// [`Reloader::reload_with`] for a configuration already loaded.
    pub async fn reload(&self, config: Config) -> Result<(), ReloadError> {
        self.reload_with(|| Ok(config)).await
    }
}

/// Keeps the settings a reload cannot change (sockets and threads exist already), warning for
/// each that the new configuration tried to change.
fn keep_fixed(old: &ServerConfig, new: &mut ServerConfig) {
    let mut kept = Vec::new();
    macro_rules! keep {
        ($($field:ident),*) => {$(
            if new.$field != old.$field {
                kept.push(concat!("server.", stringify!($field)));
                new.$field = old.$field;
            }
        )*};
    }
    keep!(
        listen,
        http_listen,
        admin_listen,
        workers,
        http_redirect,
        shutdown_grace,
        max_connections
    );
    if !kept.is_empty() {
        tracing::warn!(keys = ?kept, "these settings need a restart to change; keeping the running ones");
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::keep_fixed;
    use crate::config::Config;

    fn server(extra: &str) -> crate::config::ServerConfig {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:8443\"\n{extra}\n[tls]\ncert = \"c\"\nkey = \"k\"\n[upstreams.cec]\nurl = \"https://cec.example\"\n[[routes]]\nprefix = \"/\"\nupstream = \"cec\"\n"
        );
        Config::parse(&text, Path::new("/etc/cec/config.toml"), &|_| None)
            .expect("test config")
            .server
    }

    #[test]
    fn what_needs_a_restart_is_kept_and_the_rest_changes() {
        let old = server("workers = 2\nshutdown_grace = \"30s\"");
        let mut new = server(
            "workers = 4\nshutdown_grace = \"5s\"\nmax_connections = 5\nheader_read_timeout = \"3s\"\ndrain_delay = \"2s\"",
        );
        new.listen = "127.0.0.1:9443".parse().expect("addr");
        keep_fixed(&old, &mut new);
        assert_eq!(new.listen, old.listen);
        assert_eq!(new.workers, 2);
        assert_eq!(new.shutdown_grace, Duration::from_secs(30));
        assert_eq!(new.max_connections, old.max_connections);
        assert_eq!(
            new.header_read_timeout,
            Duration::from_secs(3),
            "reloadable"
        );
        assert_eq!(new.drain_delay, Duration::from_secs(2), "reloadable");
    }
}
