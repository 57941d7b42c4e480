//! The validated configuration: typed values that nothing past `config` needs to re-check.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderValue;
use ipnet::IpNet;

use crate::secret::SecretKey;

/// The whole gateway configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub(crate) tls: TlsConfig,
    /// Upstreams by index; routes refer to them by index.
    pub(crate) upstreams: Vec<UpstreamConfig>,
    pub(crate) routes: Vec<RouteConfig>,
    pub(crate) forwarding: ForwardingConfig,
    pub(crate) cookies: CookiesConfig,
    pub(crate) cors: CorsConfig,
    pub signing: Option<SigningConfig>,
    pub token: Option<TokenConfig>,
    /// Shared state for replicas; `None`: Token mode's memory stays in this process.
    pub(crate) store: Option<StoreConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub(crate) http_listen: Option<SocketAddr>,
    pub(crate) http_redirect: bool,
    pub admin_listen: Option<SocketAddr>,
    /// Lower-case DNS names or IP addresses.
    pub(crate) hostnames: Vec<String>,
    pub shutdown_grace: Duration,
    pub(crate) header_read_timeout: Duration,
    pub(crate) tls_handshake_timeout: Duration,
    /// An idle connection closes: h1 between requests, h2 with no open stream, a WebSocket
    /// tunnel that moved no byte either way.
    pub(crate) keepalive_timeout: Duration,
    pub(crate) max_connections: usize,
    /// Connections from one client address (IPv6: one /64) at most; trusted proxies are not
    /// counted (their clients are, by the PROXY header).
    pub(crate) max_connections_per_ip: usize,
    /// Worker threads, each with its own event loop and upstream pools.
    pub(crate) workers: usize,
    /// A PROXY protocol header (v1 or v2) is required on the public listeners before anything
    /// else; accepted only from peers in `forwarding.trusted_proxies` (never empty when true).
    pub(crate) proxy_protocol: bool,
    /// On SIGTERM, `/readyz` answers 503 for this long before the listeners close and
    /// `shutdown_grace` starts, so that load balancers stop sending new connections first.
    pub(crate) drain_delay: Duration,
    /// Reload when the configuration file changes.
    pub watch_config: bool,
    /// `Strict-Transport-Security` added to every answer on the HTTPS listener.
    pub(crate) hsts: Option<HeaderValue>,
}

#[derive(Debug, Clone)]
pub(crate) struct TlsConfig {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) self_signed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

/// `scheme://host[:port]` of an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) scheme: Scheme,
    /// Lower-case host name or IP literal (IPv6 without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Origin {
    /// `host` or `host:port` (port omitted when it is the scheme's default), as for `Host:`.
    pub(crate) fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = match self.scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `https://host[:port]`.
    pub(crate) fn to_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}", self.authority())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct UpstreamConfig {
    pub(crate) name: String,
    pub(crate) origin: Origin,
    pub(crate) ca: Option<PathBuf>,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) pool_idle_per_host: usize,
    pub(crate) pool_idle_timeout: Duration,
    /// Open connections to it per worker at most (in use and idle); beyond, a request waits
    /// up to `connect_timeout` for one, then gets 503.
    pub(crate) max_connections: usize,
    /// Credentials injected into every request to it (`[upstreams.NAME.auth]`).
    pub(crate) auth: Option<FabricAuth>,
}

/// `[upstreams.NAME.auth]` with `kind = "api_fabric"`: the CEC API Fabric app key and secret,
/// exchanged for an AccessToken at `token_path` (`crate::fabric`).
#[derive(Debug, Clone)]
pub(crate) struct FabricAuth {
    pub(crate) app_key: SourcedSecret,
    pub(crate) app_secret: SourcedSecret,
    /// Asked for as `X-Token-Expire` (whole seconds, 1 s to 1 h); the answer's `Expires` counts.
    pub(crate) token_ttl: Duration,
    pub(crate) token_path: String,
    /// A token is replaced this long before it expires (at most a quarter of its life).
    pub(crate) refresh_before: Duration,
    /// A request body up to this size is kept, to be sent again after a 401.
    pub(crate) max_retry_body: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostMode {
    /// `Host:` = the upstream's authority.
    Upstream,
    /// `Host:` = what the client sent (nginx `proxy_set_header Host $host`).
    Client,
}

#[derive(Debug, Clone)]
pub(crate) struct RouteConfig {
    /// Starts and ends with `/`.
    pub(crate) prefix: String,
    /// Index into `Config::upstreams`.
    pub(crate) upstream: usize,
    pub(crate) strip_prefix: bool,
    pub(crate) host: HostMode,
    /// Client addresses that may use the route; empty: any.
    pub(crate) allowed_callers: Vec<IpNet>,
    /// The key a caller must present as `Authorization: Bearer`; `None`: none needed.
    pub(crate) caller_key: Option<SourcedSecret>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ForwardingConfig {
    pub(crate) trusted_proxies: Vec<IpNet>,
}

#[derive(Debug, Clone)]
pub(crate) struct CookiesConfig {
    pub(crate) rewrite_domain: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CorsConfig {
    /// Normalised origins, `scheme://host[:port]`, lower-case.
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) max_age: Duration,
}

/// Where a secret came from, for `check`'s summary (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(v) => write!(f, "env {v}"),
            SecretSource::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub config_id: String,
    pub tenant_space_id: Option<String>,
    pub secret: SecretKey,
    pub secret_source: SecretSource,
}

#[derive(Debug, Clone)]
pub struct SigningConfig {
    /// Upstream path whose POSTs are signed.
    pub path: String,
    pub max_body: usize,
    /// Public path of the vendor-compatible signature endpoint, if enabled.
    pub authorization_endpoint: Option<String>,
    pub channels: Vec<ChannelConfig>,
}

impl SigningConfig {
    pub fn channel(&self, config_id: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.config_id == config_id)
    }
}

#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub(crate) validate_path: String,
    pub(crate) secret: SecretKey,
    pub(crate) secret_source: SecretSource,
    /// The credential `POST /tokens` needs (`Authorization: Bearer`); `None`: `/tokens` is off.
    pub(crate) mint_key: Option<MintKey>,
    pub(crate) ttl: Duration,
    pub(crate) leeway: Duration,
    pub(crate) allowed_callers: Vec<IpNet>,
    /// Sustained validations per second per source address.
    pub(crate) rate_per_sec: f64,
    pub(crate) rate_burst: u32,
    pub(crate) single_use: bool,
    pub(crate) max_body: usize,
}

/// A secret and where it came from (for `check`).
#[derive(Debug, Clone)]
pub(crate) struct SourcedSecret {
    pub(crate) key: SecretKey,
    pub(crate) source: SecretSource,
}

/// The admin listener's minting credential.
pub(crate) type MintKey = SourcedSecret;

/// `[store]`: the Redis that replicas share Token mode's single use and rate limits through.
#[derive(Debug, Clone)]
pub(crate) struct StoreConfig {
    pub(crate) url: StoreUrl,
    /// Extra trust for `rediss://`: with it, the server's certificate must chain to this CA.
    pub(crate) ca: Option<PathBuf>,
    pub(crate) password: Option<StorePassword>,
    pub(crate) key_prefix: String,
    /// Bound on every Redis call.
    pub(crate) timeout: Duration,
}

/// `redis_url` without its password. `Display` gives the URL as `check` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreUrl {
    /// `rediss://`: TLS, verified.
    pub(crate) tls: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) db: i64,
    /// An ACL user (`redis://user@host`).
    pub(crate) username: Option<String>,
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        write!(f, "{scheme}://")?;
        if let Some(user) = &self.username {
            write!(f, "{user}@")?;
        }
        match self.host.contains(':') {
            true => write!(f, "[{}]", self.host)?,
            false => f.write_str(&self.host)?,
        }
        write!(f, ":{}/{}", self.port, self.db)
    }
}

/// The store's password; `source` is `None` when it was written in `redis_url`.
#[derive(Debug, Clone)]
pub(crate) struct StorePassword {
    pub(crate) key: SecretKey,
    pub(crate) source: Option<SecretSource>,
}

/// `scheme://host[:port]` with http or https, no path (a single trailing `/` is tolerated).
pub(crate) fn parse_origin(s: &str) -> Option<Origin> {
    let uri: http::Uri = s.trim().parse().ok()?;
    let scheme = match uri.scheme_str()? {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return None;
    }
    let auth = uri.authority()?;
    if auth.as_str().contains('@') {
        return None;
    }
    let host = auth
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let port = auth.port_u16().unwrap_or(match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    });
    Some(Origin { scheme, host, port })
}

/// A CIDR, or a bare address meaning just that address.
pub(crate) fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}
