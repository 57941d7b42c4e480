//! The accept loop: it only accepts. Each connection gets a slot of the listener's budget and is
//! handed, with its slot, to a task of its own; everything after that is the connection's
//! (`crate::connection::serve_connection`).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::config::DEFAULT_ACCEPT_ERROR_BACKOFF;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Accepts on `listener` until `stop` turns true, giving each connection to `spawn` with its
/// slot of `slots`. A connection is accepted first and then waits for a slot: it waits in this
/// worker, not in a socket backlog that only this worker drains, so a slot freed by any worker
/// serves it (at most one connection per listener waits here).
pub(crate) async fn accept_loop<F>(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    mut spawn: F,
) where
    F: FnMut(TcpStream, SocketAddr, OwnedSemaphorePermit),
{
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(DEFAULT_ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let permit = tokio::select! {
            p = Arc::clone(slots).acquire_owned() => p.expect("a connection budget is never closed"),
            () = stopped(&mut stop) => break,
        };
        spawn(tcp, peer, permit);
    }
}

/// Completes when `stop` turns true (or its sender is gone, which means the same).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, before any other await.
    // An error means the sender is gone: nobody can ask us to keep running.
    stop.wait_for(|s| *s).await.map(|_| ()).ok();
}
