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
    pub(crate) server: RawServer,
    #[serde(default)]
    pub(crate) tls: Option<RawTls>,
    #[serde(default)]
    pub(crate) upstreams: BTreeMap<String, Spanned<RawUpstream>>,
    #[serde(default)]
    pub(crate) routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub(crate) forwarding: RawForwarding,
    #[serde(default)]
    pub(crate) cookies: RawCookies,
    #[serde(default)]
    pub(crate) cors: RawCors,
    #[serde(default)]
    pub(crate) signing: Option<RawSigning>,
    #[serde(default)]
    pub(crate) token: Option<RawToken>,
    #[serde(default)]
    pub(crate) store: Option<S<RawStore>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    #[serde(default)]
    pub(crate) listen: Option<S<String>>,
    #[serde(default)]
    pub(crate) http_listen: Option<S<String>>,
    #[serde(default)]
    pub(crate) http_redirect: Option<bool>,
    #[serde(default)]
    pub(crate) admin_listen: Option<S<String>>,
    #[serde(default)]
    pub(crate) hostnames: Option<Vec<S<String>>>,
    #[serde(default)]
    pub(crate) shutdown_grace: Option<S<String>>,
    #[serde(default)]
    pub(crate) header_read_timeout: Option<S<String>>,
    #[serde(default)]
    pub(crate) tls_handshake_timeout: Option<S<String>>,
    #[serde(default)]
    pub(crate) keepalive_timeout: Option<S<String>>,
    #[serde(default)]
    pub(crate) max_connections: Option<S<i64>>,
    #[serde(default)]
    pub(crate) max_connections_per_ip: Option<S<i64>>,
    #[serde(default)]
    pub(crate) workers: Option<S<i64>>,
    #[serde(default)]
    pub(crate) proxy_protocol: Option<S<bool>>,
    #[serde(default)]
    pub(crate) drain_delay: Option<S<String>>,
    #[serde(default)]
    pub(crate) watch_config: Option<bool>,
    #[serde(default)]
    pub(crate) hsts: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(crate) cert: S<String>,
    pub(crate) key: S<String>,
    #[serde(default)]
    pub(crate) self_signed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstream {
    pub(crate) url: S<String>,
    #[serde(default)]
    pub(crate) ca: Option<S<String>>,
    #[serde(default)]
    pub(crate) connect_timeout: Option<S<String>>,
    #[serde(default)]
    pub(crate) response_timeout: Option<S<String>>,
    #[serde(default)]
    pub(crate) pool_idle_per_host: Option<S<i64>>,
    #[serde(default)]
    pub(crate) pool_idle_timeout: Option<S<String>>,
    #[serde(default)]
    pub(crate) max_connections: Option<S<i64>>,
    #[serde(default)]
    pub(crate) auth: Option<S<RawAuth>>,
}

/// `[upstreams.NAME.auth]`: credentials the gateway injects into every request to it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub(crate) kind: S<String>,
    #[serde(default)]
    pub(crate) app_key_env: Option<S<String>>,
    #[serde(default)]
    pub(crate) app_key_file: Option<S<String>>,
    #[serde(default)]
    pub(crate) app_secret_env: Option<S<String>>,
    #[serde(default)]
    pub(crate) app_secret_file: Option<S<String>>,
    #[serde(default)]
    pub(crate) token_ttl: Option<S<String>>,
    #[serde(default)]
    pub(crate) token_path: Option<S<String>>,
    #[serde(default)]
    pub(crate) refresh_before: Option<S<String>>,
    #[serde(default)]
    pub(crate) max_retry_body: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(crate) prefix: S<String>,
    pub(crate) upstream: S<String>,
    #[serde(default)]
    pub(crate) strip_prefix: bool,
    #[serde(default)]
    pub(crate) host: Option<S<String>>,
    #[serde(default)]
    pub(crate) allowed_callers: Vec<S<String>>,
    #[serde(default)]
    pub(crate) caller_key_env: Option<S<String>>,
    #[serde(default)]
    pub(crate) caller_key_file: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForwarding {
    #[serde(default)]
    pub(crate) trusted_proxies: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCookies {
    #[serde(default = "default_rewrite_domain")]
    pub(crate) rewrite_domain: bool,
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
    pub(crate) allowed_origins: Vec<S<String>>,
    #[serde(default)]
    pub(crate) max_age: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigning {
    #[serde(default)]
    pub(crate) path: Option<S<String>>,
    #[serde(default)]
    pub(crate) max_body: Option<S<String>>,
    #[serde(default)]
    pub(crate) authorization_endpoint: Option<S<String>>,
    #[serde(default)]
    pub(crate) channels: Vec<S<RawChannel>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChannel {
    pub(crate) config_id: S<String>,
    #[serde(default)]
    pub(crate) tenant_space_id: Option<S<String>>,
    #[serde(default)]
    pub(crate) secret_key_env: Option<S<String>>,
    #[serde(default)]
    pub(crate) secret_key_file: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    #[serde(default)]
    pub(crate) validate_path: Option<S<String>>,
    #[serde(default)]
    pub(crate) secret_env: Option<S<String>>,
    #[serde(default)]
    pub(crate) secret_file: Option<S<String>>,
    #[serde(default)]
    pub(crate) mint_key_env: Option<S<String>>,
    #[serde(default)]
    pub(crate) mint_key_file: Option<S<String>>,
    #[serde(default)]
    pub(crate) ttl: Option<S<String>>,
    #[serde(default)]
    pub(crate) leeway: Option<S<String>>,
    #[serde(default)]
    pub(crate) allowed_callers: Vec<S<String>>,
    #[serde(default)]
    pub(crate) rate_limit: Option<S<String>>,
    #[serde(default)]
    pub(crate) rate_burst: Option<S<i64>>,
    #[serde(default)]
    pub(crate) single_use: bool,
    #[serde(default)]
    pub(crate) max_body: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(crate) redis_url: S<String>,
    #[serde(default)]
    pub(crate) ca: Option<S<String>>,
    #[serde(default)]
    pub(crate) password_env: Option<S<String>>,
    #[serde(default)]
    pub(crate) password_file: Option<S<String>>,
    #[serde(default)]
    pub(crate) key_prefix: Option<S<String>>,
    #[serde(default)]
    pub(crate) timeout: Option<S<String>>,
}
