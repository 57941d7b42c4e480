//! API Fabric token series: `upstream_token_requests_total{upstream,result}` and
//! `upstream_token_expiry_timestamp_seconds{upstream}`, resolved once per upstream with `auth`
//! (`crate::fabric::TokenCache`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{UpstreamLabel, family};
use crate::fabric::{TokenMetrics, TokenResult};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamResultLabels {
    upstream: String,
    result: &'static str,
}

/// The token families, as registered.
pub(super) struct TokenFamilies {
    requests: Family<UpstreamResultLabels, Counter>,
    expiry: Family<UpstreamLabel, Gauge>,
}

impl TokenFamilies {
    pub(super) fn register(r: &mut Registry) -> Self {
        Self {
            requests: family(
                r,
                "upstream_token_requests",
                "API Fabric token requests (tokenByAkSk), by upstream and result (ok, refused, failed, invalid)",
            ),
            expiry: family(
                r,
                "upstream_token_expiry_timestamp_seconds",
                "Expiry of the upstream's current API Fabric token, from its answer's Expires",
            ),
        }
    }

    /// `upstream`'s series, every result present from the start (at 0).
    pub(super) fn resolve(&self, upstream: &str) -> TokenMetrics {
        let requests = TokenResult::ALL.map(|result| {
            self.requests
                .get_or_create(&UpstreamResultLabels {
                    upstream: upstream.to_owned(),
                    result: result.as_str(),
                })
                .clone()
        });
        let label = UpstreamLabel {
            upstream: upstream.to_owned(),
        };
        let expiry = self.expiry.get_or_create(&label).clone();
        TokenMetrics { requests, expiry }
    }
}
