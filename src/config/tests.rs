//! Configuration errors name the file, line and key path; values come out typed.

use std::path::Path;
use std::time::Duration;

use super::*;

mod design_example;
mod fabric_keys;
mod server_keys;
mod store_keys;

const BASE: &str = r#"
[server]
listen = "127.0.0.1:8443"
hostnames = ["localhost", "127.0.0.1"]

[tls]
cert = "certs/gw.crt"
key = "certs/gw.key"
self_signed = true

[upstreams.cec]
url = "https://servicestage.besclouds.com"

[[routes]]
prefix = "/service-cloud/"
upstream = "cec"
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "CEC_SECRET_KEY" => Some("abcDEF123456".into()),
        "BAD_SECRET" => Some("not-alnum!".into()),
        "LONG_SECRET" => Some("a".repeat(44)),
        "TOKEN_KEY" | "CEC_TOKEN_KEY" => Some("k".repeat(32)),
        "MINT_KEY" | "CEC_MINT_KEY" => Some("m".repeat(32)),
        "CEC_REDIS_PASSWORD" => Some("redis-pass-0123".into()),
        "CEC_APP_KEY" => Some("app-key-0123".into()),
        "CEC_APP_SECRET" => Some("app-secret-4567".into()),
        "CEC_API_CALLER_KEY" => Some("c".repeat(32)),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/cec/config.toml"), &env)
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_base_config_parses_with_defaults() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:8443".parse().unwrap());
    assert_eq!(c.server.shutdown_grace, Duration::from_secs(30));
    assert_eq!(c.server.max_connections, 10_000);
    assert_eq!(
        c.tls.cert,
        Path::new("/etc/cec/certs/gw.crt"),
        "relative to the config file"
    );
    assert_eq!(
        c.upstreams[0].origin.authority(),
        "servicestage.besclouds.com"
    );
    assert_eq!(c.upstreams[0].connect_timeout, Duration::from_secs(5));
    assert_eq!(c.upstreams[0].pool_idle_per_host, 64);
    assert!(c.cookies.rewrite_domain);
    assert!(c.signing.is_none() && c.token.is_none());
}

#[test]
fn errors_name_the_file_line_and_key() {
    let unknown_upstream = BASE.replace("upstream = \"cec\"", "upstream = \"cecc\"");
    let e = err(&unknown_upstream);
    assert_eq!(
        e,
        "/etc/cec/config.toml:16: routes[0].upstream: no upstream named \"cecc\""
    );

    let cases: &[(&str, &str, &str)] = &[
        // (replace, with, expected message part)
        (
            "listen = \"127.0.0.1:8443\"",
            "listen = \"localhost\"",
            ":3: server.listen: address: \"localhost\"",
        ),
        (
            "[server]",
            "[server]\nshutdown_grace = \"soon\"",
            ":3: server.shutdown_grace: duration: \"soon\"",
        ),
        (
            "[server]",
            "[server]\nlistn = \"x\"",
            ":3: server.listn: unknown field `listn`",
        ),
        (
            "[server]",
            "[server]\nmax_connections = \"many\"",
            ":3: server.max_connections:",
        ),
        (
            "[server]",
            "[server]\nmax_connections = 0",
            ":3: server.max_connections: count: \"0\"",
        ),
        (
            "hostnames = [\"localhost\", \"127.0.0.1\"]",
            "hostnames = [\"local host\"]",
            ":4: server.hostnames[0]: hostname",
        ),
        (
            "url = \"https://servicestage.besclouds.com\"",
            "url = \"https://servicestage.besclouds.com/service-cloud\"",
            ":12: upstreams.cec.url: url",
        ),
        (
            "url = \"https://servicestage.besclouds.com\"",
            "url = \"ftp://x\"",
            ":12: upstreams.cec.url: url",
        ),
        (
            "prefix = \"/service-cloud/\"",
            "prefix = \"/service-cloud\"",
            ":15: routes[0].prefix: prefix: \"/service-cloud\"",
        ),
        (
            "prefix = \"/service-cloud/\"",
            "prefix = \"service-cloud/\"",
            ":15: routes[0].prefix",
        ),
        (
            "upstream = \"cec\"",
            "upstream = \"cec\"\nhost = \"origin\"",
            ":17: routes[0].host: host mode",
        ),
        (
            "[tls]",
            "[forwarding]\ntrusted_proxies = [\"10.0.0.0/33\"]\n\n[tls]",
            ":7: forwarding.trusted_proxies[0]: CIDR: \"10.0.0.0/33\"",
        ),
        (
            "[tls]",
            "[cors]\nallowed_origins = [\"https://a.example/path\"]\n\n[tls]",
            ":7: cors.allowed_origins[0]: origin",
        ),
        (
            "[tls]",
            "[cors]\nallowd_origins = []\n\n[tls]",
            ":7: cors.allowd_origins: unknown field",
        ),
    ];
    for (from, to, want) in cases {
        let text = BASE.replacen(from, to, 1);
        let e = err(&text);
        assert!(e.starts_with("/etc/cec/config.toml:"), "{e}");
        assert!(e.contains(want), "{from} -> {to}: got {e:?}, want {want:?}");
    }
}

#[test]
fn two_routes_to_one_prefix_are_refused() {
    let text = format!("{BASE}\n[[routes]]\nprefix = \"/service-cloud/\"\nupstream = \"cec\"\n");
    assert!(err(&text).contains("routes[1].prefix: prefix \"/service-cloud/\" is listed twice"));
}

#[test]
fn signing_channels_and_their_secrets() {
    let signing = |channel: &str| {
        format!(
            "{BASE}\n[signing]\nmax_body = \"8KiB\"\n\n[[signing.channels]]\nconfig_id = \"817854979183314945\"\n{channel}\n"
        )
    };
    let c = parse(&signing("secret_key_env = \"CEC_SECRET_KEY\"")).unwrap();
    let s = c.signing.unwrap();
    assert_eq!(
        s.path,
        "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js"
    );
    assert_eq!(s.max_body, 8192);
    assert_eq!(s.channels[0].secret.expose(), b"abcDEF123456");
    assert_eq!(
        s.channels[0].secret_source,
        SecretSource::Env("CEC_SECRET_KEY".into())
    );
    assert_eq!(
        format!("{:?}", s.channels[0]).matches("abcDEF").count(),
        0,
        "Debug never shows the secret"
    );

    let cases = [
        (
            "secret_key_env = \"MISSING_VAR\"",
            "signing.channels[0]: channel \"817854979183314945\": environment variable MISSING_VAR is not set",
        ),
        (
            "secret_key_env = \"BAD_SECRET\"",
            "channel \"817854979183314945\": the secret may hold only ASCII letters and digits",
        ),
        (
            "secret_key_env = \"LONG_SECRET\"",
            "the secret is 44 characters long; the CEC allows at most 43",
        ),
        (
            "secret_key_file = \"/nonexistent/secret\"",
            "cannot read secret file /nonexistent/secret",
        ),
        ("", "set exactly one of the _env and _file keys"),
        (
            "secret_key_env = \"CEC_SECRET_KEY\"\nsecret_key_file = \"x\"",
            "set exactly one",
        ),
        ("secret_key = \"abc\"", "unknown field `secret_key`"),
    ];
    for (channel, want) in cases {
        let e = err(&signing(channel));
        assert!(e.contains(want), "{channel}: {e}");
        for secret in ["abcDEF123456", "not-alnum!", &"a".repeat(44)] {
            assert!(!e.contains(secret), "the secret leaked into {e}");
        }
    }
}

#[test]
fn secret_files_resolve_against_the_config_dir() {
    let dir = std::env::temp_dir().join(format!("cec-gw-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), "FileSecret42\n").unwrap();
    let text = format!(
        "{BASE}\n[signing]\n[[signing.channels]]\nconfig_id = \"1\"\nsecret_key_file = \"secret\"\n"
    );
    let c = Config::parse(&text, &dir.join("config.toml"), &env).unwrap();
    assert_eq!(
        c.signing.unwrap().channels[0].secret.expose(),
        b"FileSecret42"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn token_section() {
    let c = parse(&format!("{BASE}\n[token]\nsecret_env = \"TOKEN_KEY\"\nallowed_callers = [\"10.0.0.0/8\"]\nrate_limit = \"600/m\"\n")).unwrap();
    let t = c.token.unwrap();
    assert_eq!(
        t.validate_path,
        "/rest/cc-messaging/v1/thirdparty/chatThirdPartyValidate"
    );
    assert_eq!(t.ttl, Duration::from_secs(600));
    assert_eq!(t.leeway, Duration::from_secs(30));
    assert_eq!(t.rate_per_sec, 10.0);
    assert_eq!(t.rate_burst, 40);
    assert!(!t.single_use);
    let e = err(&format!(
        "{BASE}\n[token]\nsecret_env = \"CEC_SECRET_KEY\"\n"
    ));
    assert!(
        e.contains("token: [token]: the secret is 12 bytes long; HS256 needs at least 32"),
        "{e}"
    );
    let e = err(&format!(
        "{BASE}\n[token]\nsecret_env = \"TOKEN_KEY\"\nrate_limit = \"fast\"\n"
    ));
    assert!(e.contains("token.rate_limit: rate: \"fast\""), "{e}");
}

#[test]
fn the_mint_key_is_one_source_or_none_at_least_32_bytes_and_never_shown() {
    let token = |lines: &str| format!("{BASE}\n[token]\nsecret_env = \"TOKEN_KEY\"\n{lines}\n");
    assert!(parse(&token("")).unwrap().token.unwrap().mint_key.is_none());
    let c = parse(&token("mint_key_env = \"MINT_KEY\"")).unwrap();
    let m = c.token.as_ref().unwrap().mint_key.as_ref().unwrap();
    assert_eq!(m.source, SecretSource::Env("MINT_KEY".into()));
    assert!(m.key.matches("m".repeat(32).as_bytes()));
    let summary = crate::check::summary(&c, "c.toml");
    assert!(summary.contains("mint key from env MINT_KEY"), "{summary}");
    assert!(!summary.contains(&"m".repeat(32)), "{summary}");
    assert!(!format!("{c:?}").contains(&"m".repeat(32)));
    let off = crate::check::summary(&parse(&token("")).unwrap(), "c.toml");
    assert!(
        off.contains("POST /tokens: off") && !off.contains("/tokens)"),
        "{off}"
    );

    let e = err(&token(
        "mint_key_env = \"TOKEN_KEY\"\nmint_key_file = \"m.key\"",
    ));
    assert!(e.contains("[token] mint key: set exactly one of"), "{e}");
    let e = err(&token("mint_key_env = \"CEC_SECRET_KEY\""));
    assert!(
        e.contains("[token] mint key: the secret is 12 bytes long; a mint key needs at least 32"),
        "{e}"
    );
    let e = err(&token("mint_key_env = \"UNSET\""));
    assert!(e.contains("environment variable UNSET is not set"), "{e}");
}

#[test]
fn syntax_errors_have_a_line() {
    let e = err("[server]\nlisten = \n");
    assert!(e.starts_with("/etc/cec/config.toml:2:"), "{e}");
    let e = err("[tls]\ncert = \"a\"\nkey = \"b\"\n");
    assert!(e.contains("missing field `server`"), "{e}");
}

#[test]
fn absent_keys_take_the_named_defaults() {
    let minimal = "[server]\n[tls]\ncert = \"c\"\nkey = \"k\"\n[upstreams.cec]\nurl = \"https://cec.example\"\n[[routes]]\nprefix = \"/\"\nupstream = \"cec\"\n[signing]\n[token]\nsecret_env = \"TOKEN_KEY\"\n";
    let c = parse(minimal).unwrap();
    let s = &c.server;
    assert_eq!(s.listen, DEFAULT_LISTEN);
    assert_eq!(s.listen, "0.0.0.0:8443".parse().unwrap());
    assert_eq!(s.http_listen, None);
    assert_eq!(s.http_redirect, DEFAULT_HTTP_REDIRECT);
    assert_eq!(s.admin_listen, None);
    assert_eq!(s.hostnames, DEFAULT_HOSTNAMES);
    assert_eq!(s.shutdown_grace, DEFAULT_SHUTDOWN_GRACE);
    assert_eq!(s.header_read_timeout, DEFAULT_HEADER_READ_TIMEOUT);
    assert_eq!(s.tls_handshake_timeout, DEFAULT_TLS_HANDSHAKE_TIMEOUT);
    assert_eq!(s.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(s.workers, default_workers());
    let u = &c.upstreams[0];
    assert_eq!(u.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(u.response_timeout, DEFAULT_RESPONSE_TIMEOUT);
    assert_eq!(u.pool_idle_per_host, DEFAULT_POOL_IDLE_PER_HOST);
    assert_eq!(u.pool_idle_timeout, DEFAULT_POOL_IDLE_TIMEOUT);
    assert_eq!(c.routes[0].host, DEFAULT_HOST_MODE);
    assert_eq!(c.cookies.rewrite_domain, DEFAULT_REWRITE_DOMAIN);
    assert_eq!(c.cors.max_age, DEFAULT_CORS_MAX_AGE);
    let sg = c.signing.unwrap();
    assert_eq!(sg.path, DEFAULT_SIGNING_PATH);
    assert_eq!(sg.max_body, DEFAULT_SIGNING_MAX_BODY);
    assert_eq!(sg.authorization_endpoint, None);
    let t = c.token.unwrap();
    assert_eq!(t.validate_path, DEFAULT_VALIDATE_PATH);
    assert_eq!(t.ttl, DEFAULT_TOKEN_TTL);
    assert_eq!(t.leeway, DEFAULT_TOKEN_LEEWAY);
    assert_eq!(t.rate_per_sec, DEFAULT_TOKEN_RATE_PER_SEC);
    assert_eq!(t.rate_burst as usize, DEFAULT_TOKEN_RATE_BURST);
    assert_eq!(t.max_body, DEFAULT_TOKEN_MAX_BODY);
}

#[test]
fn count_limits_are_spelled_out_in_errors() {
    let cases = [
        (
            "[server]\nworkers = 0",
            "server.workers: count: \"0\" (1 to 1024)",
        ),
        (
            "[server]\nworkers = 1025",
            "server.workers: count: \"1025\" (1 to 1024)",
        ),
        (
            "[server]\nmax_connections = -1",
            "server.max_connections: count: \"-1\" (a positive number)",
        ),
        (
            "[upstreams.cec]\npool_idle_per_host = -1",
            "upstreams.cec.pool_idle_per_host: count: \"-1\" (zero or more)",
        ),
    ];
    for (from_to, want) in cases {
        let (from, to) = from_to.split_once('\n').unwrap();
        let text = BASE.replacen(from, &format!("{from}\n{to}"), 1);
        let e = err(&text);
        assert!(e.contains(want), "{from_to}: got {e:?}, want {want:?}");
    }
    let text = format!("{BASE}\n[token]\nsecret_env = \"TOKEN_KEY\"\nrate_burst = 1000001\n");
    assert!(
        err(&text).contains("token.rate_burst: count: \"1000001\" (1 to 1000000)"),
        "{}",
        err(&text)
    );
}
