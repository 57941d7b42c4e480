//! The validated configuration and the one function that builds it from the raw file.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::raw::{self, S};
use super::{
    ConfigError, ConfigErrorKind as K, Ctx, EnvLookup, parse_duration, parse_size, read_secret,
};
use crate::secret::SecretKey;

/// The whole gateway configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub tls: TlsConfig,
    /// Upstreams by index; routes refer to them by index.
    pub upstreams: Vec<UpstreamConfig>,
    pub routes: Vec<RouteConfig>,
    pub forwarding: ForwardingConfig,
    pub cookies: CookiesConfig,
    pub cors: CorsConfig,
    pub signing: Option<SigningConfig>,
    pub token: Option<TokenConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub http_listen: Option<SocketAddr>,
    pub http_redirect: bool,
    pub admin_listen: Option<SocketAddr>,
    /// Lower-case DNS names or IP addresses.
    pub hostnames: Vec<String>,
    pub shutdown_grace: Duration,
    pub header_read_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    pub max_connections: usize,
    /// Worker threads, each with its own event loop and upstream pools.
    pub workers: usize,
}

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub self_signed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// `scheme://host[:port]` of an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: Scheme,
    /// Lower-case host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// `host` or `host:port` (port omitted when it is the scheme's default), as for `Host:`.
    pub fn authority(&self) -> String {
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
    pub fn to_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}", self.authority())
    }
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub name: String,
    pub origin: Origin,
    pub ca: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub pool_idle_per_host: usize,
    pub pool_idle_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMode {
    /// `Host:` = the upstream's authority.
    Upstream,
    /// `Host:` = what the client sent (nginx `proxy_set_header Host $host`).
    Client,
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Starts and ends with `/`.
    pub prefix: String,
    /// Index into `Config::upstreams`.
    pub upstream: usize,
    pub strip_prefix: bool,
    pub host: HostMode,
}

#[derive(Debug, Clone, Default)]
pub struct ForwardingConfig {
    pub trusted_proxies: Vec<IpNet>,
}

#[derive(Debug, Clone)]
pub struct CookiesConfig {
    pub rewrite_domain: bool,
}

#[derive(Debug, Clone)]
pub struct CorsConfig {
    /// Normalised origins, `scheme://host[:port]`, lower-case.
    pub allowed_origins: Vec<String>,
    pub max_age: Duration,
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
    pub validate_path: String,
    pub secret: SecretKey,
    pub secret_source: SecretSource,
    pub ttl: Duration,
    pub leeway: Duration,
    pub allowed_callers: Vec<IpNet>,
    /// Sustained validations per second per source address.
    pub rate_per_sec: f64,
    pub rate_burst: u32,
    pub single_use: bool,
    pub max_body: usize,
}

pub const DEFAULT_SIGNING_PATH: &str =
    "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";
pub const DEFAULT_VALIDATE_PATH: &str = "/rest/cc-messaging/v1/thirdparty/chatThirdPartyValidate";

pub(super) fn build(
    raw: raw::RawConfig,
    ctx: &Ctx<'_>,
    env: EnvLookup<'_>,
) -> Result<Config, ConfigError> {
    let s = raw.server;
    let addr = |v: &Option<S<String>>,
                key: &str,
                default: Option<&str>|
     -> Result<Option<SocketAddr>, ConfigError> {
        match v {
            Some(v) => v.get_ref().parse().map(Some).map_err(|_| {
                ctx.err(
                    v.span(),
                    key,
                    invalid("address", v.get_ref(), "ip:port, e.g. 0.0.0.0:8443"),
                )
            }),
            None => Ok(default.map(|d| d.parse().expect("default listen addresses are valid"))),
        }
    };
    let dur =
        |v: &Option<S<String>>, key: &str, default: Duration| -> Result<Duration, ConfigError> {
            match v {
                Some(v) => parse_duration(v.get_ref()).ok_or_else(|| {
                    ctx.err(
                        v.span(),
                        key,
                        invalid("duration", v.get_ref(), "e.g. 500ms, 5s, 2m"),
                    )
                }),
                None => Ok(default),
            }
        };
    let size = |v: &Option<S<String>>, key: &str, default: usize| -> Result<usize, ConfigError> {
        match v {
            Some(v) => parse_size(v.get_ref()).filter(|&n| n > 0).ok_or_else(|| {
                ctx.err(
                    v.span(),
                    key,
                    invalid("size", v.get_ref(), "e.g. 64KiB, 1MiB"),
                )
            }),
            None => Ok(default),
        }
    };
    let mut hostnames = Vec::new();
    for (i, h) in s
        .hostnames
        .clone()
        .unwrap_or_else(|| vec![S::new(0..0, "localhost".into())])
        .iter()
        .enumerate()
    {
        let name = h.get_ref().trim().to_ascii_lowercase();
        let ok = name.parse::<IpAddr>().is_ok() || is_dns_name(&name);
        if !ok {
            return Err(ctx.err(
                h.span(),
                format!("server.hostnames[{i}]"),
                invalid("hostname", h.get_ref(), "a DNS name or an IP address"),
            ));
        }
        hostnames.push(name);
    }
    if hostnames.is_empty() {
        return Err(ctx.err_nowhere(
            "server.hostnames",
            K::Missing("at least one hostname is needed"),
        ));
    }
    let max_connections = match &s.max_connections {
        Some(v) if *v.get_ref() < 1 => {
            return Err(ctx.err(
                v.span(),
                "server.max_connections",
                invalid("count", &v.get_ref().to_string(), "a positive number"),
            ));
        }
        Some(v) => *v.get_ref() as usize,
        None => 10_000,
    };
    let workers = match &s.workers {
        Some(v) if !(1..=1024).contains(v.get_ref()) => {
            return Err(ctx.err(
                v.span(),
                "server.workers",
                invalid("count", &v.get_ref().to_string(), "1 to 1024"),
            ));
        }
        Some(v) => *v.get_ref() as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let server = ServerConfig {
        listen: addr(&s.listen, "server.listen", Some("0.0.0.0:8443"))?
            .expect("listen has a default"),
        http_listen: addr(&s.http_listen, "server.http_listen", None)?,
        http_redirect: s.http_redirect.unwrap_or(true),
        admin_listen: addr(&s.admin_listen, "server.admin_listen", None)?,
        hostnames,
        shutdown_grace: dur(
            &s.shutdown_grace,
            "server.shutdown_grace",
            Duration::from_secs(30),
        )?,
        header_read_timeout: dur(
            &s.header_read_timeout,
            "server.header_read_timeout",
            Duration::from_secs(10),
        )?,
        tls_handshake_timeout: dur(
            &s.tls_handshake_timeout,
            "server.tls_handshake_timeout",
            Duration::from_secs(10),
        )?,
        max_connections,
        workers,
    };

    let tls = match raw.tls {
        Some(t) => TlsConfig {
            cert: ctx.resolve(t.cert.get_ref()),
            key: ctx.resolve(t.key.get_ref()),
            self_signed: t.self_signed,
        },
        None => {
            return Err(ctx.err_nowhere(
                "tls",
                K::Missing("a [tls] table with cert and key is required"),
            ));
        }
    };

    let mut upstreams = Vec::new();
    for (name, u) in &raw.upstreams {
        let key = |k: &str| format!("upstreams.{name}.{k}");
        let u = u.get_ref();
        let origin = parse_origin(u.url.get_ref()).ok_or_else(|| {
            ctx.err(
                u.url.span(),
                key("url"),
                invalid(
                    "url",
                    u.url.get_ref(),
                    "scheme://host[:port] with http or https and no path",
                ),
            )
        })?;
        let pool = match &u.pool_idle_per_host {
            Some(v) if *v.get_ref() < 0 => {
                return Err(ctx.err(
                    v.span(),
                    key("pool_idle_per_host"),
                    invalid("count", &v.get_ref().to_string(), "zero or more"),
                ));
            }
            Some(v) => *v.get_ref() as usize,
            None => 64,
        };
        upstreams.push(UpstreamConfig {
            name: name.clone(),
            origin,
            ca: u.ca.as_ref().map(|c| ctx.resolve(c.get_ref())),
            connect_timeout: dur(
                &u.connect_timeout,
                &key("connect_timeout"),
                Duration::from_secs(5),
            )?,
            response_timeout: dur(
                &u.response_timeout,
                &key("response_timeout"),
                Duration::from_secs(60),
            )?,
            pool_idle_per_host: pool,
            pool_idle_timeout: dur(
                &u.pool_idle_timeout,
                &key("pool_idle_timeout"),
                Duration::from_secs(90),
            )?,
        });
    }

    let mut routes: Vec<RouteConfig> = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let r = r.get_ref();
        let prefix = r.prefix.get_ref();
        if !prefix.starts_with('/') || !prefix.ends_with('/') || prefix.contains(['?', '#', ' ']) {
            return Err(ctx.err(
                r.prefix.span(),
                format!("routes[{i}].prefix"),
                invalid("prefix", prefix, "a path that starts and ends with /"),
            ));
        }
        if routes.iter().any(|x| x.prefix == *prefix) {
            return Err(ctx.err(
                r.prefix.span(),
                format!("routes[{i}].prefix"),
                K::DuplicatePrefix(prefix.clone()),
            ));
        }
        let upstream = upstreams
            .iter()
            .position(|u| u.name == *r.upstream.get_ref())
            .ok_or_else(|| {
                ctx.err(
                    r.upstream.span(),
                    format!("routes[{i}].upstream"),
                    K::UnknownUpstream(r.upstream.get_ref().clone()),
                )
            })?;
        let host = match r.host.as_ref().map(|h| (h.get_ref().as_str(), h.span())) {
            None | Some(("upstream", _)) => HostMode::Upstream,
            Some(("client", _)) => HostMode::Client,
            Some((other, span)) => {
                return Err(ctx.err(
                    span,
                    format!("routes[{i}].host"),
                    invalid("host mode", other, "\"upstream\" or \"client\""),
                ));
            }
        };
        routes.push(RouteConfig {
            prefix: prefix.clone(),
            upstream,
            strip_prefix: r.strip_prefix,
            host,
        });
    }

    let cidrs = |list: &[S<String>], key: &str| -> Result<Vec<IpNet>, ConfigError> {
        list.iter()
            .enumerate()
            .map(|(i, c)| {
                parse_cidr(c.get_ref()).ok_or_else(|| {
                    ctx.err(
                        c.span(),
                        format!("{key}[{i}]"),
                        invalid("CIDR", c.get_ref(), "e.g. 10.0.0.0/8, 127.0.0.1, ::1/128"),
                    )
                })
            })
            .collect()
    };
    let forwarding = ForwardingConfig {
        trusted_proxies: cidrs(
            &raw.forwarding.trusted_proxies,
            "forwarding.trusted_proxies",
        )?,
    };

    let mut allowed_origins = Vec::new();
    for (i, o) in raw.cors.allowed_origins.iter().enumerate() {
        let origin = parse_origin(o.get_ref()).ok_or_else(|| {
            ctx.err(
                o.span(),
                format!("cors.allowed_origins[{i}]"),
                invalid(
                    "origin",
                    o.get_ref(),
                    "scheme://host[:port], no path, e.g. https://www.example.com",
                ),
            )
        })?;
        allowed_origins.push(origin.to_url());
    }
    let cors = CorsConfig {
        allowed_origins,
        max_age: dur(&raw.cors.max_age, "cors.max_age", Duration::from_secs(600))?,
    };

    let signing = match raw.signing {
        None => None,
        Some(sg) => {
            let path = path_key(ctx, &sg.path, "signing.path", DEFAULT_SIGNING_PATH)?;
            let authorization_endpoint = match &sg.authorization_endpoint {
                Some(_) => Some(path_key(
                    ctx,
                    &sg.authorization_endpoint,
                    "signing.authorization_endpoint",
                    "",
                )?),
                None => None,
            };
            let mut channels: Vec<ChannelConfig> = Vec::new();
            for (i, c) in sg.channels.iter().enumerate() {
                let c = c.get_ref();
                let id = c.config_id.get_ref();
                let key = format!("signing.channels[{i}]");
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(ctx.err(
                        c.config_id.span(),
                        format!("{key}.config_id"),
                        invalid(
                            "config_id",
                            id,
                            "the channel's digits, e.g. 817854979183314945",
                        ),
                    ));
                }
                if channels.iter().any(|x| x.config_id == *id) {
                    return Err(ctx.err(
                        c.config_id.span(),
                        format!("{key}.config_id"),
                        K::DuplicateChannel(id.clone()),
                    ));
                }
                let file = c.secret_key_file.as_ref().map(|f| ctx.resolve(f.get_ref()));
                let (secret, secret_source) = read_secret(
                    &format!("channel {id:?}"),
                    c.secret_key_env.as_ref().map(|v| v.get_ref().as_str()),
                    file.as_deref(),
                    env,
                    SecretKey::signing,
                )
                .map_err(|k| ctx.err(c.config_id.span(), key.clone(), k))?;
                channels.push(ChannelConfig {
                    config_id: id.clone(),
                    tenant_space_id: c.tenant_space_id.as_ref().map(|t| t.get_ref().clone()),
                    secret,
                    secret_source,
                });
            }
            Some(SigningConfig {
                path,
                max_body: size(&sg.max_body, "signing.max_body", 64 << 10)?,
                authorization_endpoint,
                channels,
            })
        }
    };

    let token = match raw.token {
        None => None,
        Some(t) => {
            let file = t.secret_file.as_ref().map(|f| ctx.resolve(f.get_ref()));
            let (secret, secret_source) = read_secret(
                "[token]",
                t.secret_env.as_ref().map(|v| v.get_ref().as_str()),
                file.as_deref(),
                env,
                SecretKey::token,
            )
            .map_err(|k| ctx.err_nowhere("token", k))?;
            let rate_per_sec = match &t.rate_limit {
                Some(v) => parse_rate(v.get_ref()).ok_or_else(|| {
                    ctx.err(
                        v.span(),
                        "token.rate_limit",
                        invalid("rate", v.get_ref(), "e.g. 20/s or 600/m"),
                    )
                })?,
                None => 20.0,
            };
            let rate_burst = match &t.rate_burst {
                Some(v) if *v.get_ref() < 1 || *v.get_ref() > 1_000_000 => {
                    return Err(ctx.err(
                        v.span(),
                        "token.rate_burst",
                        invalid("count", &v.get_ref().to_string(), "1 to 1000000"),
                    ));
                }
                Some(v) => *v.get_ref() as u32,
                None => 40,
            };
            Some(TokenConfig {
                validate_path: path_key(
                    ctx,
                    &t.validate_path,
                    "token.validate_path",
                    DEFAULT_VALIDATE_PATH,
                )?,
                secret,
                secret_source,
                ttl: dur(&t.ttl, "token.ttl", Duration::from_secs(600))?,
                leeway: dur(&t.leeway, "token.leeway", Duration::from_secs(30))?,
                allowed_callers: cidrs(&t.allowed_callers, "token.allowed_callers")?,
                rate_per_sec,
                rate_burst,
                single_use: t.single_use,
                max_body: size(&t.max_body, "token.max_body", 8 << 10)?,
            })
        }
    };

    Ok(Config {
        server,
        tls,
        upstreams,
        routes,
        forwarding,
        cookies: CookiesConfig {
            rewrite_domain: raw.cookies.rewrite_domain,
        },
        cors,
        signing,
        token,
    })
}

fn invalid(what: &'static str, value: &str, expected: &'static str) -> K {
    K::Invalid {
        what,
        value: value.to_owned(),
        expected,
    }
}

fn path_key(
    ctx: &Ctx<'_>,
    v: &Option<S<String>>,
    key: &str,
    default: &str,
) -> Result<String, ConfigError> {
    match v {
        Some(v) => {
            let p = v.get_ref();
            if p.starts_with('/') && !p.contains(['?', '#', ' ']) {
                Ok(p.clone())
            } else {
                Err(ctx.err(
                    v.span(),
                    key,
                    invalid("path", p, "an absolute path without query, e.g. /a/b"),
                ))
            }
        }
        None => Ok(default.to_owned()),
    }
}

/// `scheme://host[:port]` with http or https, no path (a single trailing `/` is tolerated).
pub fn parse_origin(s: &str) -> Option<Origin> {
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
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// `20/s`, `600/m`, `3600/h` → per second.
fn parse_rate(s: &str) -> Option<f64> {
    let (n, per) = s.trim().split_once('/')?;
    let n: f64 = n
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)?;
    let secs = match per.trim() {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Some(n / secs)
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
