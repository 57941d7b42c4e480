//! `cec-gateway check`: a one-screen summary of a validated configuration, like `nginx -t`.
//! Secrets are never shown, only where they come from. (`check --probe` adds a connection
//! test of every upstream: see [`crate::probe`].)

use std::fmt::Write;

use crate::config::{Config, HostMode, RouteConfig, SigningConfig, StoreConfig, TokenConfig};

/// The whole summary, one section after another.
pub fn summary(config: &Config, file: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "configuration {file} is valid");
    listeners(&mut out, config);
    tls(&mut out, config);
    upstreams(&mut out, config);
    routes(&mut out, config);
    forwarding_and_cors(&mut out, config);
    match &config.signing {
        Some(sg) => signing(&mut out, sg),
        None => out.push_str("signing: off\n"),
    }
    match &config.token {
        Some(t) => token(&mut out, t),
        None => out.push_str("token mode: off\n"),
    }
    match &config.store {
        Some(s) => store(&mut out, s, config.token.is_some()),
        None if config.token.is_some() => {
            out.push_str("store: none (single use and rate limits are per replica)\n")
        }
        None => {}
    }
    out
}

fn listeners(out: &mut String, config: &Config) {
    let s = &config.server;
    let _ = writeln!(out, "listeners:");
    let _ = writeln!(
        out,
        "  https  {}  (HTTP/1.1 + HTTP/2, max {} connections)",
        s.listen, s.max_connections
    );
    if let Some(a) = s.http_listen {
        let what = if s.http_redirect {
            "308 redirect to https"
        } else {
            "proxy over plain HTTP"
        };
        let _ = writeln!(out, "  http   {a}  ({what})");
    }
    if let Some(a) = s.admin_listen {
        let tokens = if config.token.as_ref().is_some_and(|t| t.mint_key.is_some()) {
            " /tokens"
        } else {
            ""
        };
        let _ = writeln!(out, "  admin  {a}  (/healthz /readyz /metrics{tokens})");
    }
    let _ = writeln!(out, "  hostnames {}", s.hostnames.join(", "));
    if let Some(v) = s.hsts.as_ref().and_then(|v| v.to_str().ok()) {
        let _ = writeln!(out, "  hsts {v}  (on every HTTPS answer)");
    }
    if s.proxy_protocol {
        out.push_str(
            "  PROXY protocol required on the public listeners (from trusted proxies only)\n",
        );
    }
    let watch = if s.watch_config {
        "SIGHUP or a change of the file"
    } else {
        "SIGHUP"
    };
    let _ = writeln!(
        out,
        "  stop: /readyz 503 for {}, then drain for {}; reload on {watch}",
        humantime::format_duration(s.drain_delay),
        humantime::format_duration(s.shutdown_grace)
    );
}

fn tls(out: &mut String, config: &Config) {
    let _ = writeln!(
        out,
        "tls: cert {}  key {}{}",
        config.tls.cert.display(),
        config.tls.key.display(),
        if config.tls.self_signed {
            "  (self-signed when missing)"
        } else {
            ""
        }
    );
}

fn upstreams(out: &mut String, config: &Config) {
    let _ = writeln!(out, "upstreams:");
    for u in &config.upstreams {
        let ca =
            u.ca.as_ref()
                .map(|c| format!("  ca {}", c.display()))
                .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<10} {}{}  (connect {:?}, response {:?}, idle pool {})",
            u.name,
            u.origin.to_url(),
            ca,
            u.connect_timeout,
            u.response_timeout,
            u.pool_idle_per_host
        );
        if let Some(a) = &u.auth {
            let _ = writeln!(
                out,
                "    auth: api_fabric (app key from {})  app secret from {}  token_ttl {}  refresh {} ahead  POST {}  retry body up to {} bytes",
                a.app_key.source,
                a.app_secret.source,
                humantime::format_duration(a.token_ttl),
                humantime::format_duration(a.refresh_before),
                a.token_path,
                a.max_retry_body
            );
        }
    }
}

fn routes(out: &mut String, config: &Config) {
    let _ = writeln!(out, "routes (longest prefix wins):");
    for r in &config.routes {
        let _ = writeln!(
            out,
            "  {:<24} -> {}{}",
            r.prefix,
            config.upstreams[r.upstream].name,
            route_flags(r)
        );
    }
}

/// `  (strip_prefix, host=client, callers 10.0.0.0/8, caller key from env X)`, or nothing
/// for a plain route.
fn route_flags(r: &RouteConfig) -> String {
    let mut flags = Vec::new();
    if r.strip_prefix {
        flags.push("strip_prefix".to_owned());
    }
    if r.host == HostMode::Client {
        flags.push("host=client".to_owned());
    }
    if !r.allowed_callers.is_empty() {
        let nets: Vec<String> = r.allowed_callers.iter().map(ToString::to_string).collect();
        flags.push(format!("callers {}", nets.join(" ")));
    }
    if let Some(k) = &r.caller_key {
        flags.push(format!("caller key from {}", k.source));
    }
    if flags.is_empty() {
        String::new()
    } else {
        format!("  ({})", flags.join(", "))
    }
}

fn forwarding_and_cors(out: &mut String, config: &Config) {
    let trusted: Vec<String> = config
        .forwarding
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    let _ = writeln!(out, "trusted proxies: {}", list_or(&trusted, "none"));
    let _ = writeln!(
        out,
        "cors: {}",
        list_or(&config.cors.allowed_origins, "off")
    );
}

/// The items joined with `, `, or `empty` when there are none.
fn list_or(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items.join(", ")
    }
}

fn signing(out: &mut String, sg: &SigningConfig) {
    let _ = writeln!(
        out,
        "signing: POST {} (max body {} bytes)",
        sg.path, sg.max_body
    );
    if let Some(e) = &sg.authorization_endpoint {
        let _ = writeln!(out, "  compatibility endpoint {e}");
    }
    for c in &sg.channels {
        let tenant = c.tenant_space_id.as_deref().unwrap_or("any tenant");
        let _ = writeln!(
            out,
            "  channel {}  tenant {}  secret from {}",
            c.config_id, tenant, c.secret_source
        );
    }
}

fn token(out: &mut String, t: &TokenConfig) {
    let _ = writeln!(
        out,
        "token mode: POST {}  ttl {:?}  secret from {}{}",
        t.validate_path,
        t.ttl,
        t.secret_source,
        if t.single_use { "  single use" } else { "" }
    );
    match &t.mint_key {
        Some(m) => {
            let _ = writeln!(
                out,
                "  POST /tokens on the admin listener: mint key from {}",
                m.source
            );
        }
        None => out.push_str("  POST /tokens: off (no token.mint_key_env or mint_key_file)\n"),
    }
}

/// The store's URL is printed without its password; only where the password comes from.
fn store(out: &mut String, s: &StoreConfig, token: bool) {
    let password = match &s.password {
        None => "no password".to_owned(),
        Some(p) => match &p.source {
            Some(source) => format!("password from {source}"),
            None => "password in redis_url (redacted)".to_owned(),
        },
    };
    let ca =
        s.ca.as_ref()
            .map(|c| format!("  ca {}", c.display()))
            .unwrap_or_default();
    let _ = writeln!(
        out,
        "store: {}{ca}  {password}  prefix {:?}  timeout {}{}",
        s.url,
        s.key_prefix,
        humantime::format_duration(s.timeout),
        if token {
            "  (single use and rate limits shared by every replica)"
        } else {
            "  (unused: token mode is off)"
        }
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    const CONFIG: &str = "[server]\nhostnames = [\"chat.example.com\"]\n\
                          [tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n";

    fn summary(text: &str) -> String {
        let config =
            Config::parse(text, Path::new("/etc/cec/config.toml"), &|_| None).expect("test config");
        super::summary(&config, "config.toml")
    }

    #[test]
    fn hsts_is_listed_with_the_listeners_when_set() {
        let with = CONFIG.replace("[server]\n", "[server]\nhsts = \"max-age=600; preload\"\n");
        let out = summary(&with);
        assert!(
            out.contains("  hostnames chat.example.com\n  hsts max-age=600; preload  (on every HTTPS answer)\n"),
            "{out}"
        );
        assert!(!summary(CONFIG).contains("hsts"), "{}", summary(CONFIG));
    }

    #[test]
    fn api_fabric_credentials_are_printed_by_source_only() {
        let with = format!(
            "{CONFIG}[upstreams.apifabric]\nurl = \"https://service.besclouds.com\"\n\
             [upstreams.apifabric.auth]\nkind = \"api_fabric\"\napp_key_env = \"CEC_APP_KEY\"\n\
             app_secret_env = \"CEC_APP_SECRET\"\n[[routes]]\nprefix = \"/apiaccess/\"\n\
             upstream = \"apifabric\"\nallowed_callers = [\"10.0.0.0/8\"]\n\
             caller_key_env = \"CALLER\"\n"
        );
        let env = |name: &str| match name {
            "CEC_APP_KEY" => Some("ak-visible-0001".to_owned()),
            "CEC_APP_SECRET" => Some("sk-visible-0002".to_owned()),
            "CALLER" => Some("caller-key-visible-0123456789-abcdef".to_owned()),
            _ => None,
        };
        let config = Config::parse(&with, Path::new("/etc/cec/config.toml"), &env).unwrap();
        let out = super::summary(&config, "config.toml");
        assert!(
            out.contains("    auth: api_fabric (app key from env CEC_APP_KEY)  app secret from env CEC_APP_SECRET  token_ttl 10m  refresh 1m ahead"),
            "{out}"
        );
        assert!(
            out.contains("/apiaccess/ ")
                && out.contains("(callers 10.0.0.0/8, caller key from env CALLER)"),
            "{out}"
        );
        for secret in ["ak-visible", "sk-visible", "caller-key-visible"] {
            assert!(!out.contains(secret), "{out}");
        }
    }

    #[test]
    fn the_store_is_printed_without_its_password() {
        let with =
            format!("{CONFIG}[store]\nredis_url = \"redis://app:hunter2-pw@redis:6380/2\"\n");
        let out = summary(&with);
        assert!(
            out.contains("store: redis://app@redis:6380/2  password in redis_url (redacted)  prefix \"cec-gateway:\"  timeout 250ms  (unused: token mode is off)\n"),
            "{out}"
        );
        assert!(!out.contains("hunter2"), "{out}");
    }
}
