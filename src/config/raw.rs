//! The configuration file as written: serde structs with `deny_unknown_fields`, every value
//! still text where it needs checking. `config::Config::parse` turns this into typed values;
//! nothing outside `config` sees these structs. Values whose errors need a line number are
//! `Spanned`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::defaults::DEFAULT_REWRITE_DOMAIN;

pub(super) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub server: RawServer,
    #[serde(default)]
    pub tls: Option<RawTls>,
    #[serde(default)]
    pub upstreams: BTreeMap<String, Spanned<RawUpstream>>,
    #[serde(default)]
    pub routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub forwarding: RawForwarding,
    #[serde(default)]
    pub cookies: RawCookies,
    #[serde(default)]
    pub cors: RawCors,
    #[serde(default)]
    pub signing: Option<RawSigning>,
    #[serde(default)]
    pub token: Option<RawToken>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    #[serde(default)]
    pub listen: Option<S<String>>,
    #[serde(default)]
    pub http_listen: Option<S<String>>,
    #[serde(default)]
    pub http_redirect: Option<bool>,
    #[serde(default)]
    pub admin_listen: Option<S<String>>,
    #[serde(default)]
    pub hostnames: Option<Vec<S<String>>>,
    #[serde(default)]
    pub shutdown_grace: Option<S<String>>,
    #[serde(default)]
    pub header_read_timeout: Option<S<String>>,
    #[serde(default)]
    pub tls_handshake_timeout: Option<S<String>>,
    #[serde(default)]
    pub max_connections: Option<S<i64>>,
    #[serde(default)]
    pub workers: Option<S<i64>>,
    #[serde(default)]
    pub proxy_protocol: Option<S<bool>>,
    #[serde(default)]
    pub drain_delay: Option<S<String>>,
    #[serde(default)]
    pub watch_config: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub cert: S<String>,
    pub key: S<String>,
    #[serde(default)]
    pub self_signed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstream {
    pub url: S<String>,
    #[serde(default)]
    pub ca: Option<S<String>>,
    #[serde(default)]
    pub connect_timeout: Option<S<String>>,
    #[serde(default)]
    pub response_timeout: Option<S<String>>,
    #[serde(default)]
    pub pool_idle_per_host: Option<S<i64>>,
    #[serde(default)]
    pub pool_idle_timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub prefix: S<String>,
    pub upstream: S<String>,
    #[serde(default)]
    pub strip_prefix: bool,
    #[serde(default)]
    pub host: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForwarding {
    #[serde(default)]
    pub trusted_proxies: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCookies {
    #[serde(default = "default_rewrite_domain")]
    pub rewrite_domain: bool,
}

impl Default for RawCookies {
    fn default() -> Self {
        Self {
            rewrite_domain: DEFAULT_REWRITE_DOMAIN,
        }
    }
}

fn default_rewrite_domain() -> bool {
    DEFAULT_REWRITE_DOMAIN
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCors {
    #[serde(default)]
    pub allowed_origins: Vec<S<String>>,
    #[serde(default)]
    pub max_age: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigning {
    #[serde(default)]
    pub path: Option<S<String>>,
    #[serde(default)]
    pub max_body: Option<S<String>>,
    #[serde(default)]
    pub authorization_endpoint: Option<S<String>>,
    #[serde(default)]
    pub channels: Vec<S<RawChannel>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChannel {
    pub config_id: S<String>,
    #[serde(default)]
    pub tenant_space_id: Option<S<String>>,
    #[serde(default)]
    pub secret_key_env: Option<S<String>>,
    #[serde(default)]
    pub secret_key_file: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    #[serde(default)]
    pub validate_path: Option<S<String>>,
    #[serde(default)]
    pub secret_env: Option<S<String>>,
    #[serde(default)]
    pub secret_file: Option<S<String>>,
    #[serde(default)]
    pub ttl: Option<S<String>>,
    #[serde(default)]
    pub leeway: Option<S<String>>,
    #[serde(default)]
    pub allowed_callers: Vec<S<String>>,
    #[serde(default)]
    pub rate_limit: Option<S<String>>,
    #[serde(default)]
    pub rate_burst: Option<S<i64>>,
    #[serde(default)]
    pub single_use: bool,
    #[serde(default)]
    pub max_body: Option<S<String>>,
}
