//! The shared store's series: `store_up`, `store_errors_total{op}`, `store_latency_seconds{op}`
//! and `store_rate_limit_fallbacks_total`, registered with the others and resolved once per
//! configuration (`crate::store::Store`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::{Metrics, register};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: &'static str,
}

fn store_histogram() -> Histogram {
    // 50 µs .. ~0.8 s: a Redis nearby answers in well under a millisecond.
    Histogram::new(exponential_buckets(0.00005, 2.0, 15))
}

/// The shared store's operations, the `op` label of its series.
pub(crate) const STORE_OPS: [&str; 4] = ["rate_limit", "single_use", "ping", "fabric_token"];

/// The shared store's series, resolved once; errors and latency by [`STORE_OPS`] index.
#[derive(Clone, Debug)]
pub(crate) struct StoreMetrics {
    pub(crate) up: Gauge,
    pub(crate) errors: [Counter; 4],
    pub(crate) latency: [Histogram; 4],
    /// Rate-limit checks the local limiter answered because the store did not.
    pub(crate) fallbacks: Counter,
}

/// The shared store's families, as registered.
pub(super) struct StoreFamilies {
    up: Gauge,
    errors: Family<OpLabel, Counter>,
    latency: Family<OpLabel, Histogram, fn() -> Histogram>,
    fallbacks: Counter,
}

impl StoreFamilies {
    pub(super) fn register(r: &mut Registry) -> Self {
        Self {
            up: register(
                r,
                "store_up",
                "1 while the shared store (Redis) answers every worker, else 0",
                Gauge::default(),
            ),
            errors: register(
                r,
                "store_errors",
                "Shared-store calls that failed or timed out, by op (rate_limit, single_use, ping, fabric_token)",
                Family::default(),
            ),
            latency: register(
                r,
                "store_latency_seconds",
                "Time of a successful shared-store call, by op",
                Family::new_with_constructor(store_histogram as fn() -> Histogram),
            ),
            fallbacks: register(
                r,
                "store_rate_limit_fallbacks",
                "Token-mode rate-limit checks answered by the local limiter: the store did not answer",
                Counter::default(),
            ),
        }
    }
}

impl Metrics {
    /// The shared store's series (created at 0, so that they show before the first call).
    pub(crate) fn store(&self) -> StoreMetrics {
        let (s, op) = (&self.store, |op| OpLabel { op });
        StoreMetrics {
            up: s.up.clone(),
            errors: STORE_OPS.map(|o| s.errors.get_or_create(&op(o)).clone()),
            latency: STORE_OPS.map(|o| s.latency.get_or_create(&op(o)).clone()),
            fallbacks: s.fallbacks.clone(),
        }
    }
}
