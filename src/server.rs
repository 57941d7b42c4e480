//! Start-up and shutdown. [`Server::start`] builds the first [`Generation`] (everything that can
//! fail), starts `server.workers` [`Worker`] threads on the bound [`Listeners`], and returns once
//! they are running; [`Server::run_until`] serves until the shutdown future completes, then
//! stops accepting and lets every worker drain for `server.shutdown_grace`. [`run`] is both.
//! Metrics, Token mode's service and the public connection budget are shared by the workers.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Semaphore, oneshot, watch};

use crate::config::Config;
use crate::gateway::{Generation, StateError};
use crate::listeners::{BindError, Listeners};
use crate::metrics::Metrics;
use crate::per_ip::PerIp;
use crate::reload::Reloader;
use crate::swap::Swapper;
use crate::worker::Worker;

/// Why the gateway could not start, or how it failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot start worker {index}: {source}")]
    Worker {
        index: usize,
        #[source]
        source: std::io::Error,
    },
}

/// Serves `config` on `listeners` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish within `server.shutdown_grace`, and returns.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    Server::start(config, listeners)?.run_until(shutdown).await
}

/// A running gateway.
pub struct Server {
    reloader: Reloader,
    ready: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    workers: Vec<oneshot::Receiver<std::io::Result<()>>>,
    grace: std::time::Duration,
}

impl Server {
    /// Builds the state for `config` and starts the workers on `listeners`.
    pub fn start(config: Config, listeners: Listeners) -> Result<Self, RunError> {
        let metrics = Arc::new(Metrics::new());
        let generation = Arc::new(Generation::build(config, Arc::clone(&metrics), None)?);
        metrics.config_loaded();
        let server = generation.config().server.clone();
        let addrs = (
            listeners.https_addr(),
            listeners.http_addr(),
            listeners.admin_addr(),
        );
        let Listeners { https, http, admin } = listeners;
        let (swapper, receivers) = Swapper::new(https.len());
        let (stop, stop_rx) = watch::channel(false);
        let ready = Arc::new(AtomicBool::new(false));
        let slots = Arc::new(Semaphore::new(server.max_connections));
        let per_ip = PerIp::new();
        let (mut http, mut admin) = (http, admin);
        let mut workers = Vec::new();
        for (index, (https, swaps)) in https.into_iter().zip(receivers).enumerate() {
            let worker = Worker {
                index,
                server: server.clone(),
                generation: Arc::clone(&generation),
                swaps,
                ready: Arc::clone(&ready),
                https,
                http: http.take(),
                admin: admin.take(),
                slots: Arc::clone(&slots),
                per_ip: Arc::clone(&per_ip),
                metrics: Arc::clone(&metrics),
                stop: stop_rx.clone(),
            };
            workers.push(spawn(worker)?);
        }
        ready.store(true, Ordering::Release);
        tracing::info!(https = %addrs.0, http = ?addrs.1, admin = ?addrs.2, workers = workers.len(), "cec-gateway serving");
        Ok(Self {
            reloader: Reloader::new(generation, swapper),
            ready,
            stop,
            workers,
            grace: server.shutdown_grace,
        })
    }

    /// What hands the running workers a new configuration.
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Serves until `shutdown` completes, then: `/readyz` answers 503 at once; after
    /// `server.drain_delay` (time for a balancer to notice) the listeners close; connections and
    /// tunnels then have `server.shutdown_grace` to finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
        shutdown.await;
        self.ready.store(false, Ordering::Release);
        let delay = self.reloader.current().await.config().server.drain_delay;
        if !delay.is_zero() {
            tracing::info!(
                ?delay,
                "shutting down: /readyz answers 503; still serving for drain_delay"
            );
            tokio::time::sleep(delay).await;
        }
        tracing::info!(grace = ?self.grace, "shutting down: listeners closed, draining in-flight requests");
        self.stop.send_replace(true);
        let mut result = Ok(());
        for (index, done) in self.workers.into_iter().enumerate() {
            match done.await {
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
}

/// Starts `worker` on a thread of its own; the receiver gets its outcome.
fn spawn(worker: Worker) -> Result<oneshot::Receiver<std::io::Result<()>>, RunError> {
    let index = worker.index;
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("cec-gw-worker-{index}"))
        .spawn(move || {
            // The server may have stopped listening (a panic elsewhere): nothing to tell then.
            tx.send(worker.run()).ok();
        })
        .map_err(|source| RunError::Worker { index, source })?;
    Ok(rx)
}
