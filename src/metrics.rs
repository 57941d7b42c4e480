//! Prometheus metrics (text exposition through `prometheus-client`). One [`Metrics`] lives for
//! the whole process, so counters survive a configuration swap. Per-route, per-upstream and
//! per-channel series are created once when a [`crate::gateway::Gateway`] is built; the request
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
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabel, Histogram, fn() -> Histogram>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    open_connections: Family<ListenerLabel, Gauge>,
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
}

/// A route's series, resolved once.
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    by_class: [Counter; 5],
    duration: Histogram,
}

impl RouteMetrics {
    pub fn observe(&self, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].inc();
        self.duration.observe(seconds);
    }
}

/// An upstream's error counters, one per [`UpstreamErrorKind`], resolved once.
#[derive(Clone, Debug)]
pub struct UpstreamErrors([Counter; 4]);

impl UpstreamErrors {
    pub fn count(&self, kind: UpstreamErrorKind) {
        // Built from `ALL`, which lists the kinds in declaration order.
        self.0[kind as usize].inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cec_gateway");
        let requests = Family::default();
        registry.register(
            "requests",
            "Requests answered, by route prefix and status class",
            requests.clone(),
        );
        let duration = Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register(
            "request_duration_seconds",
            "Time from request to the end of the response body",
            duration.clone(),
        );
        let upstream_errors = Family::default();
        registry.register(
            "upstream_errors",
            "Upstream failures by upstream and kind (connect, tls, timeout, protocol)",
            upstream_errors.clone(),
        );
        let open_connections = Family::default();
        registry.register(
            "open_connections",
            "Client connections open now, by listener",
            open_connections.clone(),
        );
        let signatures = Family::default();
        registry.register(
            "signatures_issued",
            "auth-v2 signatures issued, by channel config id",
            signatures.clone(),
        );
        let signing_refused = Family::default();
        registry.register(
            "signing_refused",
            "Signing requests refused, by reason",
            signing_refused.clone(),
        );
        let token_validations = Family::default();
        registry.register(
            "token_validations",
            "Token-mode validations, by result",
            token_validations.clone(),
        );
        let token_rate_limited = Counter::default();
        registry.register(
            "token_rate_limited",
            "Token-mode validation calls refused by the rate limit",
            token_rate_limited.clone(),
        );
        let tokens_minted = Counter::default();
        registry.register(
            "tokens_minted",
            "Tokens minted through /tokens or the CLI",
            tokens_minted.clone(),
        );
        let config_reloads = Family::<ResultLabel, Counter>::default();
        for result in ["ok", "refused"] {
            drop(config_reloads.get_or_create(&ResultLabel { result }));
        }
        registry.register(
            "config_reloads",
            "Configuration reloads, by result (ok, refused)",
            config_reloads.clone(),
        );
        let config_last_reload_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "When the configuration in service was loaded (start or last successful reload)",
            config_last_reload_success.clone(),
        );
        let tls_cert_not_after = Gauge::default();
        registry.register(
            "tls_cert_not_after_timestamp_seconds",
            "Expiry (notAfter) of the served TLS certificate",
            tls_cert_not_after.clone(),
        );
        Self {
            config_reloads,
            config_last_reload_success,
            tls_cert_not_after,
            registry,
            requests,
            duration,
            upstream_errors,
            open_connections,
            signatures,
            signing_refused,
            token_validations,
            token_rate_limited,
            tokens_minted,
        }
    }

    /// The series of one route (label = its prefix, or `none` for unmatched requests).
    pub fn route(&self, route: &str) -> RouteMetrics {
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
    pub fn upstream_errors(&self, upstream: &str) -> UpstreamErrors {
        UpstreamErrors(UpstreamErrorKind::ALL.map(|kind| {
            self.upstream_errors
                .get_or_create(&UpstreamErrorLabels {
                    upstream: upstream.to_owned(),
                    kind: kind.as_str(),
                })
                .clone()
        }))
    }

    pub fn open_connections(&self, listener: &'static str) -> Gauge {
        self.open_connections
            .get_or_create(&ListenerLabel { listener })
            .clone()
    }

    pub fn signatures(&self, channel: &str) -> Counter {
        self.signatures
            .get_or_create(&ChannelLabel {
                channel: channel.to_owned(),
            })
            .clone()
    }

    pub fn signing_refused(&self, reason: &'static str) {
        self.signing_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn token_validation(&self, result: &'static str) {
        self.token_validations
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// Marks the configuration in service as loaded now (at start, and after a reload).
    pub fn config_loaded(&self) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH);
        self.config_last_reload_success
            .set(now.map_or(0.0, |d| d.as_secs_f64()));
    }

    /// Counts a reload: applied (`ok`, and marked loaded) or refused.
    pub fn config_reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.config_reloads
            .get_or_create(&ResultLabel { result })
            .inc();
        if ok {
            self.config_loaded();
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
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
