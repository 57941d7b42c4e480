//! Prometheus metrics (text exposition through `prometheus-client`). One [`Metrics`] lives for
//! the whole process, so counters survive a configuration swap. Per-route, per-upstream and
//! per-channel series are created once when a `crate::gateway::Gateway` is built; the request
//! path then only increments pre-resolved atomics (no label allocation, no lock).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::UpstreamErrorKind;
use crate::fabric::TokenMetrics;

mod fabric;
mod store;

use fabric::TokenFamilies;
use store::StoreFamilies;
pub(crate) use store::StoreMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    upstream: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct UpstreamLabel {
    pub(super) upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn duration_histogram() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The process's metrics registry.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabel, Histogram, fn() -> Histogram>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    open_connections: Family<ListenerLabel, Gauge>,
    upstream_connections: Family<UpstreamLabel, Gauge>,
    tokens: TokenFamilies,
    signatures: Family<ChannelLabel, Counter>,
    signing_refused: Family<ReasonLabel, Counter>,
    token_validations: Family<ResultLabel, Counter>,
    pub token_rate_limited: Counter,
    pub tokens_minted: Counter,
    config_reloads: Family<ResultLabel, Counter>,
    /// Seconds since the epoch of the last successful (re)load, as Prometheus itself reports.
    config_last_reload_success: Gauge<f64, AtomicU64>,
    /// The served certificate's notAfter, seconds since the epoch.
    pub tls_cert_not_after: Gauge,
    store: StoreFamilies,
}

/// A route's series, resolved once.
#[derive(Clone, Debug)]
pub(crate) struct RouteMetrics {
    by_class: [Counter; 5],
    duration: Histogram,
}

impl RouteMetrics {
    pub(crate) fn observe(&self, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].inc();
        self.duration.observe(seconds);
    }
}

/// An upstream's error counters, one per [`UpstreamErrorKind`], resolved once.
#[derive(Clone, Debug)]
pub(crate) struct UpstreamErrors([Counter; UpstreamErrorKind::ALL.len()]);

impl UpstreamErrors {
    pub(crate) fn count(&self, kind: UpstreamErrorKind) {
        // Built from `ALL`, which lists the kinds in declaration order.
        self.0[kind as usize].inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Reload counters, with both results present from the start (at 0).
fn reload_results() -> Family<ResultLabel, Counter> {
    let family = Family::<ResultLabel, Counter>::default();
    for result in ["ok", "refused"] {
        drop(family.get_or_create(&ResultLabel { result }));
    }
    family
}

/// Registers `metric` under `name` and returns it (the registry keeps a clone).
fn register<M>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    registry.register(name, help, metric.clone());
    metric
}

/// A labelled metric family, registered.
fn family<L, M>(registry: &mut Registry, name: &str, help: &str) -> Family<L, M>
where
    Family<L, M>: prometheus_client::registry::Metric + Clone + Default,
{
    register(registry, name, help, Family::default())
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut r = Registry::with_prefix("cec_gateway");
        Self {
            requests: family(
                &mut r,
                "requests",
                "Requests answered, by route prefix and status class",
            ),
            duration: register(
                &mut r,
                "request_duration_seconds",
                "Time from request to the end of the response body",
                Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            ),
            upstream_errors: family(
                &mut r,
                "upstream_errors",
                "Upstream failures by upstream and kind (connect, tls, timeout, protocol, saturated)",
            ),
            open_connections: family(
                &mut r,
                "open_connections",
                "Client connections open now, by listener",
            ),
            upstream_connections: family(
                &mut r,
                "upstream_connections",
                "Upstream connections open now (in use and idle), by upstream, all workers",
            ),
            signatures: family(
                &mut r,
                "signatures_issued",
                "auth-v2 signatures issued, by channel config id",
            ),
            signing_refused: family(
                &mut r,
                "signing_refused",
                "Signing requests refused, by reason",
            ),
            token_validations: family(
                &mut r,
                "token_validations",
                "Token-mode validations, by result",
            ),
            token_rate_limited: register(
                &mut r,
                "token_rate_limited",
                "Token-mode validation calls refused by the rate limit",
                Counter::default(),
            ),
            tokens_minted: register(
                &mut r,
                "tokens_minted",
                "Tokens minted through /tokens or the CLI",
                Counter::default(),
            ),
            config_reloads: register(
                &mut r,
                "config_reloads",
                "Configuration reloads, by result (ok, refused)",
                reload_results(),
            ),
            config_last_reload_success: register(
                &mut r,
                "config_last_reload_success_timestamp_seconds",
                "When the configuration in service was loaded (start or last successful reload)",
                Gauge::<f64, AtomicU64>::default(),
            ),
            tls_cert_not_after: register(
                &mut r,
                "tls_cert_not_after_timestamp_seconds",
                "Expiry (notAfter) of the served TLS certificate",
                Gauge::default(),
            ),
            store: StoreFamilies::register(&mut r),
            tokens: TokenFamilies::register(&mut r),
            registry: r,
        }
    }

    /// The series of one route (label = its prefix, or `none` for unmatched requests).
    pub(crate) fn route(&self, route: &str) -> RouteMetrics {
        let by_class = STATUS_CLASSES.map(|status| {
            self.requests
                .get_or_create(&RequestLabels {
                    route: route.to_owned(),
                    status,
                })
                .clone()
        });
        let duration = self
            .duration
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .clone();
        RouteMetrics { by_class, duration }
    }

    /// The error counters of one upstream.
    pub(crate) fn upstream_errors(&self, upstream: &str) -> UpstreamErrors {
        UpstreamErrors(UpstreamErrorKind::ALL.map(|kind| {
            self.upstream_errors
                .get_or_create(&UpstreamErrorLabels {
                    upstream: upstream.to_owned(),
                    kind: kind.as_str(),
                })
                .clone()
        }))
    }

    pub(crate) fn upstream_connections(&self, upstream: &str) -> Gauge {
        let upstream = upstream.to_owned();
        self.upstream_connections
            .get_or_create(&UpstreamLabel { upstream })
            .clone()
    }

    /// The token series of an upstream with `auth`, every result present from the start.
    pub(crate) fn token_metrics(&self, upstream: &str) -> TokenMetrics {
        self.tokens.resolve(upstream)
    }

    pub(crate) fn open_connections(&self, listener: &'static str) -> Gauge {
        self.open_connections
            .get_or_create(&ListenerLabel { listener })
            .clone()
    }

    pub(crate) fn signatures(&self, channel: &str) -> Counter {
        self.signatures
            .get_or_create(&ChannelLabel {
                channel: channel.to_owned(),
            })
            .clone()
    }

    pub(crate) fn signing_refused(&self, reason: &'static str) {
        self.signing_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub(crate) fn token_validation(&self, result: &'static str) {
        self.token_validations
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// Marks the configuration in service as loaded now (at start, and after a reload).
    pub(crate) fn config_loaded(&self) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH);
        self.config_last_reload_success
            .set(now.map_or(0.0, |d| d.as_secs_f64()));
    }

    /// Counts a reload: applied (`ok`, and marked loaded) or refused.
    pub(crate) fn config_reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.config_reloads
            .get_or_create(&ResultLabel { result })
            .inc();
        if ok {
            self.config_loaded();
        }
    }

    /// The Prometheus text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_series() {
        let m = Metrics::new();
        let r = m.route("/service-cloud/");
        r.observe(200, 0.01);
        r.observe(502, 0.02);
        m.upstream_errors("cec").count(UpstreamErrorKind::Connect);
        m.upstream_errors("cec").count(UpstreamErrorKind::Timeout);
        m.open_connections("https").inc();
        m.signatures("817854979183314945").inc();
        m.signing_refused("tenant_mismatch");
        let text = m.encode();
        for line in [
            r#"cec_gateway_requests_total{route="/service-cloud/",status="2xx"} 1"#,
            r#"cec_gateway_requests_total{route="/service-cloud/",status="5xx"} 1"#,
            r#"cec_gateway_requests_total{route="/service-cloud/",status="4xx"} 0"#,
            r#"cec_gateway_request_duration_seconds_count{route="/service-cloud/"} 2"#,
            r#"cec_gateway_upstream_errors_total{upstream="cec",kind="connect"} 1"#,
            r#"cec_gateway_upstream_errors_total{upstream="cec",kind="timeout"} 1"#,
            r#"cec_gateway_upstream_errors_total{upstream="cec",kind="tls"} 0"#,
            r#"cec_gateway_open_connections{listener="https"} 1"#,
            r#"cec_gateway_signatures_issued_total{channel="817854979183314945"} 1"#,
            r#"cec_gateway_signing_refused_total{reason="tenant_mismatch"} 1"#,
            "# TYPE cec_gateway_request_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
