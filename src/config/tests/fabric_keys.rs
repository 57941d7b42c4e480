//! `[upstreams.NAME.auth]` and the routes' caller keys.

use super::*;

const FABRIC: &str = r#"
[upstreams.apifabric]
url = "https://service.besclouds.com"

[upstreams.apifabric.auth]
kind = "api_fabric"
app_key_env = "CEC_APP_KEY"
app_secret_env = "CEC_APP_SECRET"
"#;

const ROUTE: &str = r#"
[[routes]]
prefix = "/apiaccess/"
upstream = "apifabric"
"#;

#[test]
fn auth_parses_with_defaults() {
    let text = format!("{BASE}{FABRIC}{ROUTE}allowed_callers = [\"10.0.0.0/8\"]\n");
    let c = parse(&text).unwrap();
    let auth = c.upstreams[0].auth.as_ref().expect("auth");
    assert_eq!(c.upstreams[0].name, "apifabric");
    assert_eq!(auth.app_key.key.expose(), b"app-key-0123");
    assert_eq!(auth.app_key.source, SecretSource::Env("CEC_APP_KEY".into()));
    assert_eq!(auth.token_ttl, Duration::from_secs(600));
    assert_eq!(auth.refresh_before, Duration::from_secs(60));
    assert_eq!(auth.token_path, "/apigovernance/api/oauth/tokenByAkSk");
    assert_eq!(auth.max_retry_body, 64 << 10);
    assert_eq!(
        c.routes[1].allowed_callers,
        vec!["10.0.0.0/8".parse().unwrap()]
    );
    assert!(c.routes[1].caller_key.is_none());
    assert!(!format!("{c:?}").contains("app-secret-4567"));
}

#[test]
fn a_route_to_an_upstream_with_auth_needs_a_caller_check() {
    let e = err(&format!("{BASE}{FABRIC}{ROUTE}"));
    assert!(
        e.contains("routes[1]: needs allowed_callers or caller_key_env/caller_key_file"),
        "{e}"
    );
    let ok = format!("{BASE}{FABRIC}{ROUTE}caller_key_env = \"CEC_API_CALLER_KEY\"\n");
    let c = parse(&ok).unwrap();
    assert_eq!(
        c.routes[1].caller_key.as_ref().unwrap().source,
        SecretSource::Env("CEC_API_CALLER_KEY".into())
    );
    let short = format!("{BASE}{FABRIC}{ROUTE}caller_key_env = \"CEC_APP_KEY\"\n");
    assert!(
        err(&short).contains("a caller key needs at least 32"),
        "{}",
        err(&short)
    );
}

#[test]
fn bad_auth_values_are_refused_with_their_key() {
    let with = |extra: &str| format!("{BASE}{FABRIC}{extra}{ROUTE}allowed_callers = [\"::1\"]\n");
    for (extra, want) in [
        (
            "token_ttl = \"2h\"\n",
            "upstreams.apifabric.auth.token_ttl: duration",
        ),
        (
            "token_ttl = \"1500ms\"\n",
            "upstreams.apifabric.auth.token_ttl: duration",
        ),
        (
            "refresh_before = \"3m\"\n",
            "upstreams.apifabric.auth.refresh_before: duration",
        ),
        (
            "token_path = \"x\"\n",
            "upstreams.apifabric.auth.token_path: path",
        ),
        (
            "max_retry_body = \"0\"\n",
            "upstreams.apifabric.auth.max_retry_body: size",
        ),
    ] {
        let e = err(&with(extra));
        assert!(e.contains(want), "{extra}: {e}");
    }
    let e = err(&with("").replace("api_fabric", "oauth2"));
    assert!(
        e.contains("upstreams.apifabric.auth.kind: auth kind: \"oauth2\""),
        "{e}"
    );
    let e = err(&with("").replace("CEC_APP_SECRET", "NOT_SET"));
    assert!(e.contains("environment variable NOT_SET is not set"), "{e}");
    // A short token's refresh_before defaults to a quarter of its life.
    let c = parse(&with("token_ttl = \"8s\"\n")).unwrap();
    let auth = c.upstreams[0].auth.as_ref().unwrap();
    assert_eq!(auth.refresh_before, Duration::from_secs(2));
}
