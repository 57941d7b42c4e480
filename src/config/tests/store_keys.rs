//! `[store]`: the Redis URL narrowed to what the gateway supports, the password's sources, the
//! defaults, and errors that never show a password.

use std::path::Path;
use std::time::Duration;

use super::{BASE, err, parse};
use crate::config::{DEFAULT_STORE_KEY_PREFIX, DEFAULT_STORE_TIMEOUT, SecretSource};

fn with_store(lines: &str) -> String {
    format!("{BASE}\n[store]\n{lines}\n")
}

#[test]
fn absent_the_store_is_off_and_set_it_comes_out_typed() {
    assert!(parse(BASE).unwrap().store.is_none());
    let s = parse(&with_store(
        "redis_url = \"redis://redis:6379/0\"\npassword_env = \"CEC_REDIS_PASSWORD\"",
    ))
    .unwrap()
    .store
    .unwrap();
    assert_eq!(s.url.to_string(), "redis://redis:6379/0");
    assert!(!s.url.tls);
    assert_eq!(
        (s.key_prefix.as_str(), s.timeout),
        (DEFAULT_STORE_KEY_PREFIX, DEFAULT_STORE_TIMEOUT)
    );
    let password = s.password.unwrap();
    assert_eq!(password.key.expose_text(), "redis-pass-0123");
    assert_eq!(
        password.source,
        Some(SecretSource::Env("CEC_REDIS_PASSWORD".into()))
    );

    let s = parse(&with_store(
        "redis_url = \"rediss://app@[2001:db8::7]:6380/3\"\nca = \"redis-ca.pem\"\nkey_prefix = \"gw1:\"\ntimeout = \"100ms\"",
    ))
    .unwrap()
    .store
    .unwrap();
    assert_eq!(s.url.to_string(), "rediss://app@[2001:db8::7]:6380/3");
    assert_eq!((s.url.host.as_str(), s.url.db), ("2001:db8::7", 3));
    assert_eq!(s.ca.as_deref(), Some(Path::new("/etc/cec/redis-ca.pem")));
    assert_eq!(
        (s.key_prefix.as_str(), s.timeout),
        ("gw1:", Duration::from_millis(100))
    );
    assert!(s.password.is_none());
}

#[test]
fn a_password_in_the_url_is_taken_and_never_printed() {
    let s = parse(&with_store("redis_url = \"redis://:s3cr%40t-pw@redis\""))
        .unwrap()
        .store
        .unwrap();
    assert_eq!(s.url.to_string(), "redis://redis:6379/0");
    let password = s.password.unwrap();
    assert_eq!(
        (password.key.expose_text(), password.source),
        ("s3cr@t-pw", None)
    );
    assert!(
        !format!(
            "{:?}",
            parse(&with_store("redis_url = \"redis://:s3cr%40t-pw@redis\"")).unwrap()
        )
        .contains("s3cr")
    );

    let both = err(&with_store(
        "redis_url = \"redis://:s3cr3t-pw@redis\"\npassword_env = \"CEC_REDIS_PASSWORD\"",
    ));
    assert!(
        both.contains("store.redis_url: Redis URL: \"redis://<redacted>@redis\""),
        "{both}"
    );
    assert!(
        both.contains("not both") && !both.contains("s3cr3t"),
        "{both}"
    );
}

#[test]
fn every_way_to_get_it_wrong_is_named_without_a_password() {
    for (lines, key, part) in [
        (
            "redis_url = \"http://redis:6379\"",
            "store.redis_url",
            "Redis URL: \"http://redis:6379\"",
        ),
        (
            "redis_url = \"redis://redis/0?protocol=resp3\"",
            "store.redis_url",
            "no query or fragment",
        ),
        (
            "redis_url = \"rediss://redis#insecure\"",
            "store.redis_url",
            "no query or fragment",
        ),
        (
            "redis_url = \"redis://redis/x\"",
            "store.redis_url",
            "[/db]",
        ),
        (
            "redis_url = \"unix:///run/redis.sock\"",
            "store.redis_url",
            "Redis URL",
        ),
        (
            "redis_url = \"redis://redis\"\nca = \"ca.pem\"",
            "store.ca",
            "needs a rediss://",
        ),
        (
            "redis_url = \"redis://redis\"\ntimeout = \"0s\"",
            "store.timeout",
            "more than zero",
        ),
        (
            "redis_url = \"redis://redis\"\ntimeout = \"soon\"",
            "store.timeout",
            "duration",
        ),
        (
            "redis_url = \"redis://redis\"\npassword_env = \"NOPE\"",
            "store",
            "NOPE is not set",
        ),
        (
            "redis_url = \"redis://redis\"\npassword_env = \"CEC_REDIS_PASSWORD\"\npassword_file = \"p\"",
            "store",
            "exactly one",
        ),
        (
            "redis_url = \"redis://redis\"\nttl = \"1s\"",
            "store.ttl",
            "unknown field `ttl`",
        ),
    ] {
        let e = err(&with_store(lines));
        assert!(
            e.contains(&format!("{key}:")) && e.contains(part),
            "{lines}: {e}"
        );
    }
    let bad = err(&with_store(
        "redis_url = \"redis://user:hunter2@redis:port\"",
    ));
    assert!(
        bad.contains("\"redis://<redacted>@redis:port\"") && !bad.contains("hunter2"),
        "{bad}"
    );
}
