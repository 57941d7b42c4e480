//! The token answer's parsing and the cache's rules: single flight, backoff, one replacement
//! after a 401.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::config::{SecretSource, SourcedSecret};
use crate::secret::SecretKey;

fn auth() -> FabricAuth {
    let secret = |s: &str| SourcedSecret {
        key: SecretKey::app_credential(s).unwrap(),
        source: SecretSource::Env("X".into()),
    };
    FabricAuth {
        app_key: secret("AK-0123"),
        app_secret: secret("SK-secret-4567"),
        token_ttl: Duration::from_secs(600),
        token_path: "/apigovernance/api/oauth/tokenByAkSk".into(),
        refresh_before: Duration::from_secs(60),
        max_retry_body: 1024,
    }
}

fn cache() -> TokenCache {
    let metrics = TokenMetrics {
        requests: Default::default(),
        expiry: Gauge::default(),
    };
    TokenCache::new("apifabric", &auth(), metrics)
}

fn answer(token: &str, secs: u64) -> Result<Answer, TokenError> {
    parse_answer(format!(r#"{{"AccessToken":"{token}","Expires":"{secs}"}}"#).as_bytes())
}

#[test]
fn answers_parse_or_say_why_not() {
    let ok = parse_answer(
        br#"{"AccessToken":"tok-1","ApplyType":"Bearer","CreateTime":"1545650171","Expires":"600","Scope":"x"}"#,
    )
    .unwrap();
    assert_eq!(ok.authorization.as_bytes(), b"Bearer tok-1");
    assert!(ok.authorization.is_sensitive());
    assert_eq!(ok.lifetime, Duration::from_secs(600));
    assert!(!format!("{ok:?}").contains("tok-1"), "{ok:?}");
    let n = parse_answer(br#"{"AccessToken":"t","Expires":30}"#).unwrap();
    assert_eq!(n.lifetime, Duration::from_secs(30));
    for (body, why) in [
        (&b"nope"[..], "not JSON"),
        (br#"{"Expires":"600"}"#, "no AccessToken"),
        (br#"{"AccessToken":"","Expires":"600"}"#, "no AccessToken"),
        (br#"{"AccessToken":"t"}"#, "no Expires of at least 1 second"),
        (
            br#"{"AccessToken":"t","Expires":"0"}"#,
            "no Expires of at least 1 second",
        ),
        (
            br#"{"AccessToken":"t","Expires":"x"}"#,
            "no Expires of at least 1 second",
        ),
        (
            br#"{"AccessToken":"t","Expires":"9","ApplyType":"MAC"}"#,
            "ApplyType is not Bearer",
        ),
        (
            br#"{"AccessToken":"a\nb","Expires":"9"}"#,
            "AccessToken is not a valid header value",
        ),
    ] {
        match parse_answer(body) {
            Err(TokenError::Answer(got)) => {
                assert_eq!(got, why, "{}", String::from_utf8_lossy(body))
            }
            other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
        }
    }
}

#[test]
fn the_token_request_carries_the_credentials_and_the_ttl() {
    let authority = HeaderValue::from_static("service.example:8443");
    let req = token_request(&auth(), &http::uri::Scheme::HTTPS, &authority);
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(
        req.uri().to_string(),
        "https://service.example:8443/apigovernance/api/oauth/tokenByAkSk"
    );
    assert_eq!(req.headers()["x-token-expire"], "600");
    assert_eq!(req.headers()["content-type"], "application/json");
    assert_eq!(req.headers()["host"], "service.example:8443");
}

#[tokio::test]
async fn concurrent_cold_requests_fetch_once() {
    let cache = Arc::new(cache());
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
            tokio::spawn(async move {
                let fetch = || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    answer("tok-1", 600)
                };
                cache.token(None, fetch).await.unwrap().serial()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failure_backs_off_and_a_401_replaces_the_token_once() {
    let cache = cache();
    let calls = AtomicUsize::new(0);
    let failing = || async {
        calls.fetch_add(1, Ordering::SeqCst);
        Err(TokenError::Status(401))
    };
    let e = cache.token(None, failing).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "token request answered 401; next token request in 1s"
    );
    let e = cache.token(None, failing).await.unwrap_err();
    assert!(matches!(*e.cause, TokenError::Status(401)), "{e}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no second request during the backoff"
    );

    let cache = self::cache();
    let first = cache
        .token(None, || async { answer("a", 600) })
        .await
        .unwrap();
    let second = cache
        .token(Some(&first), || async { answer("b", 600) })
        .await
        .unwrap();
    assert_eq!(second.serial(), 2);
    // The new token is refused too: it is not replaced again right away.
    let third = cache
        .token(Some(&second), || async { answer("c", 600) })
        .await
        .unwrap();
    assert_eq!(third.serial(), 2);
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer mine"),
    );
    cache.inject(&mut h, &third);
    assert_eq!(h["authorization"], "Bearer b");
    assert_eq!(h["x-app-key"], "AK-0123");
    assert_eq!(h.get_all(header::AUTHORIZATION).iter().count(), 1);
}
