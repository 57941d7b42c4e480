//! One worker's connection to the store: the calls the validation endpoint makes, each bounded
//! by `store.timeout`, timed and counted, and the health check that keeps `store_up` true.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use redis::aio::ConnectionManager;

use super::{DOWN, Failure, Store, UNKNOWN, UP, script};

/// How often each worker PINGs the store, to notice an outage and the recovery without traffic.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// Indexes into `STORE_OPS`.
const RATE_LIMIT: usize = 0;
const SINGLE_USE: usize = 1;
const PING: usize = 2;
const FABRIC_TOKEN: usize = 3;

/// One worker's link: built with its `Gateway`, on its thread. Dropping it stops the health
/// check; the connection closes when the last call that holds it ends.
pub(crate) struct StoreConn {
    link: Arc<Link>,
    health: tokio::task::AbortHandle,
}

/// What the calls and the health check share.
struct Link {
    store: Arc<Store>,
    /// Replaced by the health check after a failure that the manager does not retry by itself
    /// (a refused `AUTH`, say), so that a fixed Redis is found again without a reload.
    manager: ArcSwap<ConnectionManager>,
    /// UNKNOWN before the first call, then whether the last call on this worker answered.
    state: AtomicU8,
}

impl StoreConn {
    /// Call it on the worker's runtime: the connection and the health check run there.
    pub(crate) fn new(store: &Arc<Store>) -> Self {
        let link = Arc::new(Link {
            manager: ArcSwap::from_pointee(store.manager()),
            store: Arc::clone(store),
            state: AtomicU8::new(UNKNOWN),
        });
        let health = tokio::spawn(health(Arc::clone(&link))).abort_handle();
        Self { link, health }
    }

    /// Whether the last call on this worker got an answer (so that the rate limit does not wait
    /// on a store known to be down; the health check finds it again).
    pub(crate) fn is_up(&self) -> bool {
        self.link.state.load(Ordering::Relaxed) != DOWN
    }

    /// Counts a rate-limit check that the local limiter answered because the store did not.
    pub(crate) fn count_fallback(&self) {
        self.link.store.metrics.fallbacks.inc();
    }

    /// Spends one request of `peer`'s shared bucket (`rate` per second, `burst` at once):
    /// `Ok(false)` when over the limit.
    pub(crate) async fn rate_limit(
        &self,
        peer: IpAddr,
        rate: f64,
        burst: u32,
    ) -> Result<bool, Failure> {
        let store = &self.link.store;
        let mut conn = self.link.connection();
        let mut call = store.script.key(script::rate_key(&store.prefix, peer));
        call.arg(script::interval_us(rate)).arg(burst);
        let allowed = self
            .link
            .timed(RATE_LIMIT, async move {
                call.invoke_async::<i64>(&mut conn).await
            })
            .await?;
        Ok(allowed == 1)
    }

    /// Records the first use of `jti`, remembered until `dead_after` (unix seconds, inclusive):
    /// `Ok(true)` the first time anywhere, `Ok(false)` when a replica recorded it before.
    pub(crate) async fn first_use(&self, jti: &str, dead_after: u64) -> Result<bool, Failure> {
        let mut conn = self.link.connection();
        let mut cmd = redis::cmd("SET");
        cmd.arg(script::jti_key(&self.link.store.prefix, jti))
            .arg(1)
            .arg("NX")
            .arg("PXAT")
            .arg(script::expire_at_ms(dead_after));
        let set = self
            .link
            .timed(SINGLE_USE, async move {
                cmd.query_async::<Option<String>>(&mut conn).await
            })
            .await?;
        Ok(set.is_some())
    }

    /// `upstream`'s shared API Fabric token record (what [`StoreConn::put_token`] stored).
    pub(crate) async fn shared_token(&self, upstream: &str) -> Result<Option<String>, Failure> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.fabric_key(upstream, "token"));
        self.fabric(cmd).await
    }

    /// Stores `upstream`'s token `record` until `expires_at_ms` (unix milliseconds).
    pub(crate) async fn put_token(
        &self,
        upstream: &str,
        record: String,
        expires_at_ms: u64,
    ) -> Result<(), Failure> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.fabric_key(upstream, "token"))
            .arg(record)
            .arg("PXAT")
            .arg(expires_at_ms);
        self.fabric::<()>(cmd).await
    }

    /// Takes the fleet's lock on fetching `upstream`'s token, for at most `ttl`: `Ok(true)`
    /// when this replica has it.
    pub(crate) async fn lock_token(&self, upstream: &str, ttl: Duration) -> Result<bool, Failure> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.fabric_key(upstream, "lock"))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        Ok(self.fabric::<Option<String>>(cmd).await?.is_some())
    }

    /// Releases the lock [`StoreConn::lock_token`] took.
    pub(crate) async fn unlock_token(&self, upstream: &str) -> Result<(), Failure> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.fabric_key(upstream, "lock"));
        self.fabric::<i64>(cmd).await.map(drop)
    }

    fn fabric_key(&self, upstream: &str, what: &str) -> String {
        script::fabric_key(&self.link.store.prefix, upstream, what)
    }

    async fn fabric<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, Failure> {
        let mut conn = self.link.connection();
        let call = async move { cmd.query_async::<T>(&mut conn).await };
        self.link.timed(FABRIC_TOKEN, call).await
    }
}

impl Drop for StoreConn {
    fn drop(&mut self) {
        self.health.abort();
    }
}

impl Link {
    fn connection(&self) -> ConnectionManager {
        ConnectionManager::clone(&self.manager.load())
    }

    /// Runs one call within the store's timeout, and counts it: latency when it answered, an
    /// error of `op` when not, and the up/down state either way.
    async fn timed<T>(
        &self,
        op: usize,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Failure> {
        let store = &self.store;
        let started = Instant::now();
        let result = match tokio::time::timeout(store.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Failure::Redis(e)),
            Err(_) => Err(Failure::Timeout(store.timeout)),
        };
        match &result {
            Ok(_) => store.metrics.latency[op].observe(started.elapsed().as_secs_f64()),
            Err(_) => {
                store.metrics.errors[op].inc();
            }
        }
        let now = if result.is_ok() { UP } else { DOWN };
        let was = self.state.swap(now, Ordering::Relaxed);
        store.observe(was, now, result.as_ref().err());
        result
    }
}

/// PINGs the store every [`HEALTH_INTERVAL`], from the worker's start (so that a wrong password
/// or an unreachable store shows in the log and in `store_up` before the first validation).
async fn health(link: Arc<Link>) {
    loop {
        let mut conn = link.connection();
        let ping = async move { redis::cmd("PING").query_async::<String>(&mut conn).await };
        if let Err(Failure::Redis(e)) = link.timed(PING, ping).await
            && !e.is_io_error()
        {
            link.manager.store(Arc::new(link.store.manager()));
        }
        tokio::time::sleep(HEALTH_INTERVAL).await;
    }
}
