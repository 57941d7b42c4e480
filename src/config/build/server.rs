//! The `[server]` section, and the one check that spans it and `[forwarding]`.

use super::super::defaults::*;
use super::super::fields::Fields;
use super::super::raw;
use super::super::typed::*;
use super::super::{ConfigError, ConfigErrorKind as K};

pub(super) fn server(f: &Fields<'_, '_>, s: &raw::RawServer) -> Result<ServerConfig, ConfigError> {
    let hostnames = match &s.hostnames {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, h)| f.hostname(h, format!("server.hostnames[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
        None => DEFAULT_HOSTNAMES.iter().map(|h| h.to_string()).collect(),
    };
    if hostnames.is_empty() {
        return Err(f.ctx.err_nowhere(
            "server.hostnames",
            K::Missing("at least one hostname is needed"),
        ));
    }
    Ok(ServerConfig {
        listen: f
            .addr(&s.listen, "server.listen")?
            .unwrap_or(DEFAULT_LISTEN),
        http_listen: f.addr(&s.http_listen, "server.http_listen")?,
        http_redirect: s.http_redirect.unwrap_or(DEFAULT_HTTP_REDIRECT),
        admin_listen: f.addr(&s.admin_listen, "server.admin_listen")?,
        hostnames,
        shutdown_grace: f.duration(
            &s.shutdown_grace,
            "server.shutdown_grace",
            DEFAULT_SHUTDOWN_GRACE,
        )?,
        header_read_timeout: f.duration(
            &s.header_read_timeout,
            "server.header_read_timeout",
            DEFAULT_HEADER_READ_TIMEOUT,
        )?,
        tls_handshake_timeout: f.duration(
            &s.tls_handshake_timeout,
            "server.tls_handshake_timeout",
            DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        )?,
        keepalive_timeout: f.duration(
            &s.keepalive_timeout,
            "server.keepalive_timeout",
            DEFAULT_KEEPALIVE_TIMEOUT,
        )?,
        max_connections: f.count(
            &s.max_connections,
            "server.max_connections",
            1..=i64::MAX,
            DEFAULT_MAX_CONNECTIONS,
        )?,
        max_connections_per_ip: f.count(
            &s.max_connections_per_ip,
            "server.max_connections_per_ip",
            1..=i64::MAX,
            DEFAULT_MAX_CONNECTIONS_PER_IP,
        )?,
        workers: f.count(
            &s.workers,
            "server.workers",
            1..=MAX_WORKERS as i64,
            default_workers(),
        )?,
        proxy_protocol: s
            .proxy_protocol
            .as_ref()
            .map_or(DEFAULT_PROXY_PROTOCOL, |v| *v.get_ref()),
        drain_delay: f.duration(&s.drain_delay, "server.drain_delay", DEFAULT_DRAIN_DELAY)?,
        watch_config: s.watch_config.unwrap_or(DEFAULT_WATCH_CONFIG),
        hsts: match &s.hsts {
            Some(v) => Some(f.hsts(v, "server.hsts")?),
            None => DEFAULT_HSTS.map(http::HeaderValue::from_static),
        },
    })
}

/// A PROXY header is believed only from a trusted proxy: with none listed, `proxy_protocol`
/// would refuse every connection.
pub(super) fn proxy_protocol_needs_trusted_proxies(
    f: &Fields<'_, '_>,
    s: &raw::RawServer,
    forwarding: &ForwardingConfig,
) -> Result<(), ConfigError> {
    match &s.proxy_protocol {
        Some(v) if *v.get_ref() && forwarding.trusted_proxies.is_empty() => Err(f.err(
            v,
            "server.proxy_protocol",
            K::Needs(
                "forwarding.trusted_proxies: a PROXY header is accepted only from those peers, \
                 and none is listed",
            ),
        )),
        _ => Ok(()),
    }
}
