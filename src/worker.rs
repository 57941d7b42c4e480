//! One worker: a thread with its own single-threaded event loop (like an nginx worker process).
//! It accepts on its own `SO_REUSEPORT` socket of the HTTPS address, builds its [`Gateway`]
//! (and so its upstream pools) on its own thread, applies the swaps the server sends it, and at
//! shutdown stops accepting and drains its connections and WebSocket tunnels within
//! `shutdown_grace`. Worker 0 also serves the plain-HTTP and admin listeners.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accept::accept_loop;
use crate::config::{DEFAULT_ADMIN_MAX_CONNECTIONS, ServerConfig};
use crate::connection::{Listener, Role, serve_connection};
use crate::gateway::{Gateway, Generation};
use crate::listeners::local_addr;
use crate::metrics::Metrics;
use crate::per_ip::PerIp;
use crate::swap::{StateHandle, SwapReceiver};

/// One worker thread's share of the listeners and state.
pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) server: ServerConfig,
    pub(crate) generation: Arc<Generation>,
    pub(crate) swaps: SwapReceiver,
    pub(crate) ready: Arc<AtomicBool>,
    pub(crate) https: std::net::TcpListener,
    pub(crate) http: Option<std::net::TcpListener>,
    pub(crate) admin: Option<std::net::TcpListener>,
    /// The public listeners' budget, shared by every worker.
    pub(crate) slots: Arc<Semaphore>,
    /// The public listeners' connections by client, shared by every worker.
    pub(crate) per_ip: Arc<PerIp>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) stop: watch::Receiver<bool>,
}

impl Worker {
    /// Runs the worker's event loop until the stop signal and the drain are done.
    pub(crate) fn run(self) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(self.serve())
    }

    async fn serve(self) -> std::io::Result<()> {
        let Worker {
            index,
            server,
            generation,
            swaps,
            ready,
            https,
            http,
            admin,
            slots,
            per_ip,
            metrics,
            stop,
        } = self;
        let tunnels = TaskTracker::new();
        let gateway = Gateway::for_worker(generation, tunnels.clone());
        let state = Arc::new(StateHandle::new(gateway, ready));
        let (connections, drain) = (TaskTracker::new(), CancellationToken::new());
        let https_port = local_addr(&https).port();
        let https = TcpListener::from_std(https)?;
        let http = http.map(TcpListener::from_std).transpose()?;
        let admin = admin.map(TcpListener::from_std).transpose()?;
        let admin_slots = Arc::new(Semaphore::new(DEFAULT_ADMIN_MAX_CONNECTIONS));
        let http_role = match server.http_redirect {
            true => Role::Redirect { https_port },
            false => Role::Public { tls: false },
        };
        let serve = |listener: Option<TcpListener>, role, name, slots| {
            let listener = listener.map(|l| {
                let open = metrics.open_connections(name);
                let per_ip = (!matches!(role, Role::Admin)).then(|| Arc::clone(&per_ip));
                (l, Arc::new(Listener { role, open, per_ip }))
            });
            let (state, connections, drain, stop) = (&state, &connections, &drain, stop.clone());
            async move {
                let Some((tcp_listener, listener)) = listener else {
                    return;
                };
                accept_loop(&tcp_listener, slots, stop, |tcp, peer, permit| {
                    let conn = serve_connection(
                        tcp,
                        peer,
                        Arc::clone(&listener),
                        Arc::clone(state),
                        permit,
                        drain.clone(),
                    );
                    connections.spawn(conn);
                })
                .await;
            }
        };
        tokio::select! {
            () = async {
                tokio::join!(
                    serve(Some(https), Role::Public { tls: true }, "https", &slots),
                    serve(http, http_role, "http", &slots),
                    serve(admin, Role::Admin, "admin", &admin_slots),
                );
            } => {}
            // Never ends first: the server keeps its swapper until the workers are done.
            () = swaps.apply(&state) => {}
        }
        let grace = server.shutdown_grace;
        connections.close();
        tunnels.close();
        drain.cancel();
        let drained = async { tokio::join!(connections.wait(), tunnels.wait()) };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!(
                worker = index,
                ?grace,
                "grace period over; closing the remaining connections"
            );
        }
        Ok(())
    }
}
