//! `[upstreams.NAME.auth]` (API Fabric credentials) and the keys of a route that say who may
//! call it (`allowed_callers`, `caller_key_env`/`caller_key_file`). A route to an upstream
//! with credentials must have at least one of them: such a route hands out whatever the
//! credentials can read (agent data holds SIP passwords).

use ipnet::IpNet;

use super::super::defaults::*;
use super::super::fields::{Fields, invalid};
use super::super::raw::{self, S};
use super::super::typed::*;
use super::super::{ConfigError, ConfigErrorKind as K, EnvLookup, read_secret};
use crate::secret::SecretKey;

/// `auth` of upstream `name`.
pub(super) fn fabric_auth(
    f: &Fields<'_, '_>,
    name: &str,
    a: &S<raw::RawAuth>,
    env: EnvLookup<'_>,
) -> Result<FabricAuth, ConfigError> {
    let key = |k: &str| format!("upstreams.{name}.auth.{k}");
    let raw = a.get_ref();
    if raw.kind.get_ref() != "api_fabric" {
        return Err(f.err(
            &raw.kind,
            key("kind"),
            invalid("auth kind", raw.kind.get_ref(), "\"api_fabric\""),
        ));
    }
    let owner = format!("upstreams.{name}.auth");
    let secret = |what: &str, var: &Option<S<String>>, file: &Option<S<String>>| {
        let file = file.as_ref().map(|p| f.ctx.resolve(p.get_ref()));
        let var = var.as_ref().map(|v| v.get_ref().as_str());
        read_secret(
            &format!("{owner} {what}"),
            var,
            file.as_deref(),
            env,
            SecretKey::app_credential,
        )
        .map(|(key, source)| SourcedSecret { key, source })
        .map_err(|k| f.err(a, owner.clone(), k))
    };
    let app_key = secret("app key", &raw.app_key_env, &raw.app_key_file)?;
    let app_secret = secret("app secret", &raw.app_secret_env, &raw.app_secret_file)?;
    let token_ttl = f.duration(&raw.token_ttl, &key("token_ttl"), DEFAULT_FABRIC_TOKEN_TTL)?;
    if let Some(v) = &raw.token_ttl
        && (token_ttl.subsec_nanos() != 0
            || !(1..=MAX_FABRIC_TOKEN_TTL_SECS).contains(&token_ttl.as_secs()))
    {
        let expected = "whole seconds from 1s to 1h (sent as X-Token-Expire)";
        return Err(f.err(
            v,
            key("token_ttl"),
            invalid("duration", v.get_ref(), expected),
        ));
    }
    let refresh_before = f.duration(
        &raw.refresh_before,
        &key("refresh_before"),
        DEFAULT_FABRIC_REFRESH_BEFORE.min(token_ttl / 4),
    )?;
    if let Some(v) = &raw.refresh_before
        && refresh_before > token_ttl / 4
    {
        let expected = format!(
            "at most a quarter of token_ttl ({})",
            humantime::format_duration(token_ttl / 4)
        );
        return Err(f.err(
            v,
            key("refresh_before"),
            invalid("duration", v.get_ref(), expected),
        ));
    }
    Ok(FabricAuth {
        app_key,
        app_secret,
        token_ttl,
        token_path: f.path(
            &raw.token_path,
            &key("token_path"),
            DEFAULT_FABRIC_TOKEN_PATH,
        )?,
        refresh_before,
        max_retry_body: f.size(
            &raw.max_retry_body,
            &key("max_retry_body"),
            DEFAULT_FABRIC_MAX_RETRY_BODY,
        )?,
    })
}

/// Who may call route `i`: its `allowed_callers` and its caller key. A route to an upstream
/// with `auth` needs one of them.
pub(super) fn callers(
    f: &Fields<'_, '_>,
    i: usize,
    r: &S<raw::RawRoute>,
    upstream: &UpstreamConfig,
    env: EnvLookup<'_>,
) -> Result<(Vec<IpNet>, Option<SourcedSecret>), ConfigError> {
    let route = format!("routes[{i}]");
    let raw = r.get_ref();
    let allowed = f.cidrs(&raw.allowed_callers, &format!("{route}.allowed_callers"))?;
    let key = match (&raw.caller_key_env, &raw.caller_key_file) {
        (None, None) => None,
        (var, file) => {
            let file = file.as_ref().map(|p| f.ctx.resolve(p.get_ref()));
            let var = var.as_ref().map(|v| v.get_ref().as_str());
            let owner = format!("{route} caller key");
            let (key, source) = read_secret(&owner, var, file.as_deref(), env, SecretKey::caller)
                .map_err(|k| f.err(r, route.clone(), k))?;
            Some(SourcedSecret { key, source })
        }
    };
    if upstream.auth.is_some() && allowed.is_empty() && key.is_none() {
        return Err(f.err(
            r,
            route,
            K::Needs(
                "allowed_callers or caller_key_env/caller_key_file: its upstream has auth, \
                 and the route would hand the upstream's credentials to anyone",
            ),
        ));
    }
    Ok((allowed, key))
}
