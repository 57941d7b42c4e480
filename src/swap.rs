//! The swap seam: how a new configuration reaches every worker without touching what is in
//! flight.
//!
//! Each worker reads its [`Gateway`] through one [`StateHandle`] (an `ArcSwap`): a connection
//! takes the TLS acceptor from it when it is accepted, and each request loads the gateway once
//! and keeps that `Arc` until its response body ends. [`Swapper::swap`] hands a new
//! [`Generation`] to every worker; each builds its `Gateway` on its own thread (so that the new
//! upstream pools live there), stores it, and acknowledges. Requests already running, and
//! WebSocket tunnels, finish on what they started with; the old state is dropped when the last
//! of them ends.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};

use crate::gateway::{Gateway, Generation};

/// One worker's current state, and the process's readiness flag.
pub(crate) struct StateHandle {
    current: ArcSwap<Gateway>,
    /// True once the listeners are serving; false again when draining (`/readyz`).
    ready: Arc<AtomicBool>,
}

impl StateHandle {
    pub(crate) fn new(gateway: Gateway, ready: Arc<AtomicBool>) -> Self {
        Self {
            current: ArcSwap::from_pointee(gateway),
            ready,
        }
    }

    /// The state for one request (or one connection's TLS handshake).
    pub(crate) fn load(&self) -> Arc<Gateway> {
        self.current.load_full()
    }

    pub(crate) fn ready(&self) -> &AtomicBool {
        &self.ready
    }

    fn store(&self, gateway: Gateway) {
        self.current.store(Arc::new(gateway));
    }
}

/// A new generation for one worker, and where to say it is in place.
struct Swap {
    generation: Arc<Generation>,
    done: oneshot::Sender<()>,
}

/// The server's side: one channel to each worker.
pub(crate) struct Swapper {
    workers: Vec<mpsc::UnboundedSender<Swap>>,
}

/// A worker's side: applies the swaps sent to it, on its own thread.
pub(crate) struct SwapReceiver(mpsc::UnboundedReceiver<Swap>);

impl Swapper {
    /// A swapper for `workers` workers and the receiver each of them runs.
    pub(crate) fn new(workers: usize) -> (Self, Vec<SwapReceiver>) {
        let (senders, receivers) = (0..workers)
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                (tx, SwapReceiver(rx))
            })
            .unzip();
        (Self { workers: senders }, receivers)
    }

    /// Hands `generation` to every worker; returns once each has it in place, so that the next
    /// connection and the next request anywhere use it. A worker that has stopped is skipped.
    pub(crate) async fn swap(&self, generation: &Arc<Generation>) {
        let mut acks = Vec::with_capacity(self.workers.len());
        for worker in &self.workers {
            let (done, ack) = oneshot::channel();
            let swap = Swap {
                generation: Arc::clone(generation),
                done,
            };
            if worker.send(swap).is_ok() {
                acks.push(ack);
            }
        }
        for ack in acks {
            // An error means the worker stopped meanwhile: nothing left to wait for.
            ack.await.ok();
        }
    }
}

impl SwapReceiver {
    /// Applies swaps to `handle` until the server drops its [`Swapper`].
    pub(crate) async fn apply(mut self, handle: &StateHandle) {
        while let Some(swap) = self.0.recv().await {
            let tunnels = handle.load().tunnels.clone();
            handle.store(Gateway::for_worker(swap.generation, tunnels));
            // The server may have stopped waiting; the swap is in place all the same.
            swap.done.send(()).ok();
        }
    }
}
