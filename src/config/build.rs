//! Builds the typed [`Config`] from the raw file, one section at a time: every value parsed
//! once, every error with its key path and line.

use std::collections::BTreeMap;

use super::defaults::*;
use super::fields::{Fields, invalid, parse_rate};
use super::raw::{self, S};
use super::typed::*;
use super::{ConfigError, ConfigErrorKind as K, Ctx, EnvLookup, read_secret};
use crate::secret::SecretKey;

mod auth;
mod server;
use server::{proxy_protocol_needs_trusted_proxies, server};

pub(super) fn build(
    raw: raw::RawConfig,
    ctx: &Ctx<'_>,
    env: EnvLookup<'_>,
) -> Result<Config, ConfigError> {
    let f = Fields { ctx };
    let upstreams = upstreams(&f, &raw.upstreams, env)?;
    let server = server(&f, &raw.server)?;
    let forwarding = ForwardingConfig {
        trusted_proxies: f.cidrs(
            &raw.forwarding.trusted_proxies,
            "forwarding.trusted_proxies",
        )?,
    };
    proxy_protocol_needs_trusted_proxies(&f, &raw.server, &forwarding)?;
    Ok(Config {
        server,
        tls: match raw.tls {
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
        },
        routes: routes(&f, &raw.routes, &upstreams, env)?,
        upstreams,
        forwarding,
        cookies: CookiesConfig {
            rewrite_domain: raw.cookies.rewrite_domain,
        },
        cors: cors(&f, &raw.cors)?,
        signing: raw
            .signing
            .as_ref()
            .map(|s| signing(&f, s, env))
            .transpose()?,
        token: raw.token.as_ref().map(|t| token(&f, t, env)).transpose()?,
        store: raw
            .store
            .as_ref()
            .map(|s| super::store::store(&f, s, env))
            .transpose()?,
    })
}

fn upstreams(
    f: &Fields<'_, '_>,
    raw: &BTreeMap<String, S<raw::RawUpstream>>,
    env: EnvLookup<'_>,
) -> Result<Vec<UpstreamConfig>, ConfigError> {
    raw.iter()
        .map(|(name, u)| {
            let key = |k: &str| format!("upstreams.{name}.{k}");
            let u = u.get_ref();
            let origin = parse_origin(u.url.get_ref()).ok_or_else(|| {
                f.err(
                    &u.url,
                    key("url"),
                    invalid(
                        "url",
                        u.url.get_ref(),
                        "scheme://host[:port] with http or https and no path",
                    ),
                )
            })?;
            Ok(UpstreamConfig {
                name: name.clone(),
                origin,
                ca: u.ca.as_ref().map(|c| f.ctx.resolve(c.get_ref())),
                connect_timeout: f.duration(
                    &u.connect_timeout,
                    &key("connect_timeout"),
                    DEFAULT_CONNECT_TIMEOUT,
                )?,
                response_timeout: f.duration(
                    &u.response_timeout,
                    &key("response_timeout"),
                    DEFAULT_RESPONSE_TIMEOUT,
                )?,
                pool_idle_per_host: f.count(
                    &u.pool_idle_per_host,
                    &key("pool_idle_per_host"),
                    0..=i64::MAX,
                    DEFAULT_POOL_IDLE_PER_HOST,
                )?,
                pool_idle_timeout: f.duration(
                    &u.pool_idle_timeout,
                    &key("pool_idle_timeout"),
                    DEFAULT_POOL_IDLE_TIMEOUT,
                )?,
                max_connections: f.count(
                    &u.max_connections,
                    &key("max_connections"),
                    1..=i64::from(u32::MAX),
                    DEFAULT_UPSTREAM_MAX_CONNECTIONS,
                )?,
                auth: u
                    .auth
                    .as_ref()
                    .map(|a| auth::fabric_auth(f, name, a, env))
                    .transpose()?,
            })
        })
        .collect()
}

fn routes(
    f: &Fields<'_, '_>,
    raw: &[S<raw::RawRoute>],
    upstreams: &[UpstreamConfig],
    env: EnvLookup<'_>,
) -> Result<Vec<RouteConfig>, ConfigError> {
    let mut routes: Vec<RouteConfig> = Vec::new();
    for (i, spanned) in raw.iter().enumerate() {
        let r = spanned.get_ref();
        let prefix = r.prefix.get_ref();
        if !prefix.starts_with('/') || !prefix.ends_with('/') || prefix.contains(['?', '#', ' ']) {
            return Err(f.err(
                &r.prefix,
                format!("routes[{i}].prefix"),
                invalid("prefix", prefix, "a path that starts and ends with /"),
            ));
        }
        if routes.iter().any(|x| x.prefix == *prefix) {
            return Err(f.err(
                &r.prefix,
                format!("routes[{i}].prefix"),
                K::DuplicatePrefix(prefix.clone()),
            ));
        }
        let upstream = upstreams
            .iter()
            .position(|u| u.name == *r.upstream.get_ref())
            .ok_or_else(|| {
                f.err(
                    &r.upstream,
                    format!("routes[{i}].upstream"),
                    K::UnknownUpstream(r.upstream.get_ref().clone()),
                )
            })?;
        let host = match &r.host {
            None => DEFAULT_HOST_MODE,
            Some(h) => match h.get_ref().as_str() {
                "upstream" => HostMode::Upstream,
                "client" => HostMode::Client,
                other => {
                    return Err(f.err(
                        h,
                        format!("routes[{i}].host"),
                        invalid("host mode", other, "\"upstream\" or \"client\""),
                    ));
                }
            },
        };
        let (allowed_callers, caller_key) =
            auth::callers(f, i, spanned, &upstreams[upstream], env)?;
        routes.push(RouteConfig {
            prefix: prefix.clone(),
            upstream,
            strip_prefix: r.strip_prefix,
            host,
            allowed_callers,
            caller_key,
        });
    }
    Ok(routes)
}

fn cors(f: &Fields<'_, '_>, raw: &raw::RawCors) -> Result<CorsConfig, ConfigError> {
    let allowed_origins = raw
        .allowed_origins
        .iter()
        .enumerate()
        .map(|(i, o)| {
            parse_origin(o.get_ref())
                .map(|o| o.to_url())
                .ok_or_else(|| {
                    f.err(
                        o,
                        format!("cors.allowed_origins[{i}]"),
                        invalid(
                            "origin",
                            o.get_ref(),
                            "scheme://host[:port], no path, e.g. https://www.example.com",
                        ),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(CorsConfig {
        allowed_origins,
        max_age: f.duration(&raw.max_age, "cors.max_age", DEFAULT_CORS_MAX_AGE)?,
    })
}

fn signing(
    f: &Fields<'_, '_>,
    raw: &raw::RawSigning,
    env: EnvLookup<'_>,
) -> Result<SigningConfig, ConfigError> {
    let mut channels: Vec<ChannelConfig> = Vec::new();
    for (i, c) in raw.channels.iter().enumerate() {
        let c = c.get_ref();
        let id = c.config_id.get_ref();
        let key = format!("signing.channels[{i}]");
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(f.err(
                &c.config_id,
                format!("{key}.config_id"),
                invalid(
                    "config_id",
                    id,
                    "the channel's digits, e.g. 817854979183314945",
                ),
            ));
        }
        if channels.iter().any(|x| x.config_id == *id) {
            return Err(f.err(
                &c.config_id,
                format!("{key}.config_id"),
                K::DuplicateChannel(id.clone()),
            ));
        }
        let file = c
            .secret_key_file
            .as_ref()
            .map(|p| f.ctx.resolve(p.get_ref()));
        let env_var = c.secret_key_env.as_ref().map(|v| v.get_ref().as_str());
        let (secret, secret_source) = read_secret(
            &format!("channel {id:?}"),
            env_var,
            file.as_deref(),
            env,
            SecretKey::signing,
        )
        .map_err(|k| f.err(&c.config_id, key.clone(), k))?;
        channels.push(ChannelConfig {
            config_id: id.clone(),
            tenant_space_id: c.tenant_space_id.as_ref().map(|t| t.get_ref().clone()),
            secret,
            secret_source,
        });
    }
    Ok(SigningConfig {
        path: f.path(&raw.path, "signing.path", DEFAULT_SIGNING_PATH)?,
        max_body: f.size(&raw.max_body, "signing.max_body", DEFAULT_SIGNING_MAX_BODY)?,
        authorization_endpoint: match &raw.authorization_endpoint {
            Some(_) => Some(f.path(
                &raw.authorization_endpoint,
                "signing.authorization_endpoint",
                "",
            )?),
            None => None,
        },
        channels,
    })
}

fn token(
    f: &Fields<'_, '_>,
    t: &raw::RawToken,
    env: EnvLookup<'_>,
) -> Result<TokenConfig, ConfigError> {
    let file = t.secret_file.as_ref().map(|p| f.ctx.resolve(p.get_ref()));
    let env_var = t.secret_env.as_ref().map(|v| v.get_ref().as_str());
    let (secret, secret_source) =
        read_secret("[token]", env_var, file.as_deref(), env, SecretKey::token)
            .map_err(|k| f.ctx.err_nowhere("token", k))?;
    let mint_file = t.mint_key_file.as_ref().map(|p| f.ctx.resolve(p.get_ref()));
    let mint_env = t.mint_key_env.as_ref().map(|v| v.get_ref().as_str());
    let mint_key = match (mint_env, mint_file.as_deref()) {
        (None, None) => None,
        (env_var, file) => {
            let (key, source) =
                read_secret("[token] mint key", env_var, file, env, SecretKey::mint)
                    .map_err(|k| f.ctx.err_nowhere("token", k))?;
            Some(MintKey { key, source })
        }
    };
    let rate_per_sec = match &t.rate_limit {
        Some(v) => parse_rate(v.get_ref()).ok_or_else(|| {
            f.err(
                v,
                "token.rate_limit",
                invalid("rate", v.get_ref(), "e.g. 20/s or 600/m"),
            )
        })?,
        None => DEFAULT_TOKEN_RATE_PER_SEC,
    };
    Ok(TokenConfig {
        validate_path: f.path(
            &t.validate_path,
            "token.validate_path",
            DEFAULT_VALIDATE_PATH,
        )?,
        secret,
        secret_source,
        mint_key,
        ttl: f.duration(&t.ttl, "token.ttl", DEFAULT_TOKEN_TTL)?,
        leeway: f.duration(&t.leeway, "token.leeway", DEFAULT_TOKEN_LEEWAY)?,
        allowed_callers: f.cidrs(&t.allowed_callers, "token.allowed_callers")?,
        rate_per_sec,
        rate_burst: f.count(
            &t.rate_burst,
            "token.rate_burst",
            1..=MAX_TOKEN_RATE_BURST as i64,
            DEFAULT_TOKEN_RATE_BURST,
        )? as u32,
        single_use: t.single_use,
        max_body: f.size(&t.max_body, "token.max_body", DEFAULT_TOKEN_MAX_BODY)?,
    })
}
