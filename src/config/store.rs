//! `[store]`: the Redis URL (parsed with the client's own parser, then narrowed to what the
//! gateway supports), its password (from `password_env`/`password_file`, or written in the URL)
//! and the call bound. A password never reaches an error: a URL in an error has it redacted.

use redis::{ConnectionAddr, IntoConnectionInfo};

use super::defaults::*;
use super::fields::{Fields, invalid};
use super::raw::{self, S};
use super::typed::{StoreConfig, StorePassword, StoreUrl};
use super::{ConfigError, ConfigErrorKind as K, EnvLookup, read_secret};
use crate::secret::SecretKey;

const URL_FORM: &str = "redis://[user@]host[:port][/db] or rediss://..., no query or fragment";

pub(super) fn store(
    f: &Fields<'_, '_>,
    s: &S<raw::RawStore>,
    env: EnvLookup<'_>,
) -> Result<StoreConfig, ConfigError> {
    let raw = s.get_ref();
    let (url, inline) = parse_url(raw.redis_url.get_ref()).ok_or_else(|| {
        f.err(
            &raw.redis_url,
            "store.redis_url",
            invalid("Redis URL", &redact_url(raw.redis_url.get_ref()), URL_FORM),
        )
    })?;
    let password = password(f, s, inline, env)?;
    let ca = raw.ca.as_ref().map(|c| f.ctx.resolve(c.get_ref()));
    if let (Some(ca_key), false) = (&raw.ca, url.tls) {
        return Err(f.err(
            ca_key,
            "store.ca",
            K::Needs("a rediss:// redis_url: a CA only verifies a TLS connection"),
        ));
    }
    let timeout = f.duration(&raw.timeout, "store.timeout", DEFAULT_STORE_TIMEOUT)?;
    if let (true, Some(t)) = (timeout.is_zero(), &raw.timeout) {
        return Err(f.err(
            t,
            "store.timeout",
            invalid("duration", t.get_ref(), "more than zero, e.g. 250ms"),
        ));
    }
    Ok(StoreConfig {
        url,
        ca,
        password,
        key_prefix: raw
            .key_prefix
            .as_ref()
            .map_or(DEFAULT_STORE_KEY_PREFIX.to_owned(), |p| p.get_ref().clone()),
        timeout,
    })
}

/// The password: from `password_env`/`password_file` (exactly one, when given), else the one
/// written in the URL, else none. Both a URL password and a key is refused as ambiguous.
fn password(
    f: &Fields<'_, '_>,
    s: &S<raw::RawStore>,
    inline: Option<SecretKey>,
    env: EnvLookup<'_>,
) -> Result<Option<StorePassword>, ConfigError> {
    let raw = s.get_ref();
    let file = raw
        .password_file
        .as_ref()
        .map(|p| f.ctx.resolve(p.get_ref()));
    let env_var = raw.password_env.as_ref().map(|v| v.get_ref().as_str());
    if env_var.is_none() && file.is_none() {
        return Ok(inline.map(|key| StorePassword { key, source: None }));
    }
    if inline.is_some() {
        return Err(f.err(
            &raw.redis_url,
            "store.redis_url",
            invalid(
                "Redis URL",
                &redact_url(raw.redis_url.get_ref()),
                "a password in the URL or password_env/password_file, not both",
            ),
        ));
    }
    let (key, source) = read_secret(
        "[store]",
        env_var,
        file.as_deref(),
        env,
        SecretKey::password,
    )
    .map_err(|k| f.err(s, "store", k))?;
    Ok(Some(StorePassword {
        key,
        source: Some(source),
    }))
}

/// `redis_url` as typed parts and the password written in it, if any; `None` if it is not a
/// `redis://` or `rediss://` URL with a host, an optional database number and nothing else.
fn parse_url(text: &str) -> Option<(StoreUrl, Option<SecretKey>)> {
    let url = redis::parse_redis_url(text.trim())?;
    let tls = match url.scheme() {
        "redis" => false,
        "rediss" => true,
        _ => return None,
    };
    if url.query().is_some() || url.fragment().is_some() {
        return None;
    }
    let path = url.path().trim_start_matches('/');
    if !path.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let info = url.into_connection_info().ok()?;
    let (host, port) = match info.addr() {
        ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
        ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port),
        _ => return None,
    };
    let redis = info.redis_settings();
    let password = match redis.password() {
        Some(p) => Some(SecretKey::password(p).ok()?),
        None => None,
    };
    if port == 0 {
        return None;
    }
    let url = StoreUrl {
        tls,
        host,
        port,
        db: redis.db(),
        username: redis.username().map(str::to_owned),
    };
    Some((url, password))
}

/// `text` with everything between `://` and the last `@` (user and password) replaced, for
/// error messages: a URL that does not parse may still hold a password.
pub(crate) fn redact_url(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_owned();
    };
    match text[start..].rfind('@') {
        Some(at) => format!("{}<redacted>{}", &text[..start], &text[start + at..]),
        None => text.to_owned(),
    }
}
