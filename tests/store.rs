//! The shared store through real servers: two gateways (two replicas) on one real
//! `redis-server` share Token mode's single use and rate limit; a stopped Redis fails single use
//! closed within the timeout while proxying goes on, and a restarted one is found again without
//! restarting the gateways; a wrong password is said clearly, never shown, and fails closed.
//! Redis itself is asked what the gateways wrote.

use crate::support;

use std::time::{Duration, Instant};

use base64::Engine;
use http::StatusCode;
use support::*;

const KEY: &str = "store-test-token-key-0123456789-abcdefghij";
/// `store.timeout` in these tests.
const TIMEOUT: Duration = Duration::from_millis(250);
/// What a refusal may take beyond `store.timeout` (a TLS request on a loaded test machine).
const A_LITTLE: Duration = Duration::from_millis(750);
/// How long a state change the tests wait for (the store found again) may take, at most.
const WITHIN: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
const FAILED: &str = r#"{"retCode":1,"message":"validate failed"}"#;
const VALID: &str = r#"{"retCode":0,"message":"validate success"}"#;

/// Token mode with single use and `rate` (`rate_limit`, `rate_burst`), and `[store]` on `redis`.
fn config(up: &MockUpstream, redis: &Redis, rate: (&str, u32)) -> String {
    format!(
        "{}\n[token]\nsecret_env = \"TOKEN_KEY\"\nmint_key_env = \"MINT_KEY\"\nsingle_use = true\n\
         rate_limit = \"{}\"\nrate_burst = {}\n\n[store]\nredis_url = \"{}\"\n\
         password_env = \"REDIS_PASSWORD\"\ntimeout = \"{}ms\"\n",
        base_config(&up.url()),
        rate.0,
        rate.1,
        redis.url(),
        TIMEOUT.as_millis()
    )
}

/// A gateway of `cfg`, with `password` for Redis.
async fn replica(ca: &DemoCa, cfg: &str, password: &str) -> Gateway {
    let env = [
        ("TOKEN_KEY", KEY),
        ("MINT_KEY", MINT_KEY),
        ("REDIS_PASSWORD", password),
    ];
    Gateway::start_with_env(ca, cfg, &env).await
}

/// Two replicas of the same configuration.
async fn replicas(ca: &DemoCa, cfg: &str, password: &str) -> (Gateway, Gateway) {
    (
        replica(ca, cfg, password).await,
        replica(ca, cfg, password).await,
    )
}

/// The value of the metric line starting with `series ` (exactly that name and labels).
async fn metric(gw: &impl Target, series: &str) -> f64 {
    let (_, text) = admin_get(gw, "/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

/// Waits (up to [`WITHIN`]) until `store_up` of `gw` is `want`.
async fn until_store_up(gw: &Gateway, want: f64) {
    let deadline = Instant::now() + WITHIN;
    while metric(gw, "cec_gateway_store_up").await != want {
        assert!(
            Instant::now() < deadline,
            "store_up not {want} after {WITHIN:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A test's own connection to `redis`, to see what the gateways stored.
async fn inspect(redis: &Redis) -> ::redis::aio::MultiplexedConnection {
    let url = format!("redis://:{}@127.0.0.1:{}/0", redis.password, redis.port);
    let client = ::redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// [`inspect`] for a TLS `redis`, trusting `ca`.
async fn inspect_tls(redis: &Redis, ca: &DemoCa) -> ::redis::aio::MultiplexedConnection {
    let url = format!("rediss://:{}@localhost:{}/0", redis.password, redis.port);
    let certs = ::redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca.cert_pem().as_bytes().to_vec()),
    };
    let client = ::redis::Client::build_with_tls(url, certs).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// The `jti` and `exp` claims of a token (its payload, unverified).
fn claims(token: &str) -> (String, u64) {
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    (
        v["jti"].as_str().unwrap().to_owned(),
        v["exp"].as_u64().unwrap(),
    )
}

async fn validate_as(c: &HttpsClient, gw: &Gateway, token: &str) -> Got {
    validate(c, gw, token, "u1", "Ann", "t1").await
}

#[tokio::test]
async fn two_replicas_share_single_use_and_one_bucket_per_source() {
    let ca = test_ca();
    let redis = Redis::start();
    let up = MockUpstream::ok(&ca).await;
    let (a, b) = replicas(&ca, &config(&up, &redis, ("1/m", 3)), &redis.password).await;
    let c = client_from(&ca, "127.0.0.1");

    let token = mint(&a, "u1", "Ann", "t1").await;
    assert_eq!(validate_as(&c, &a, &token).await.text(), VALID);
    assert_eq!(
        validate_as(&c, &b, &token).await.text(),
        FAILED,
        "used on A, refused on B"
    );
    assert_eq!(validate_as(&c, &a, &token).await.text(), FAILED);

    // What Redis holds: the jti, until the end of the token's last valid second (exp + 30 s
    // leeway), and the source's bucket.
    let mut r = inspect(&redis).await;
    let (jti, exp) = claims(&token);
    let key = format!("cec-gateway:jti:{jti}");
    let expires: i64 = ::redis::cmd("PEXPIRETIME")
        .arg(&key)
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(expires, ((exp + 30 + 1) * 1000) as i64, "{key}");
    let bucket: bool = ::redis::cmd("EXISTS")
        .arg("cec-gateway:rate:127.0.0.1")
        .query_async(&mut r)
        .await
        .unwrap();
    assert!(bucket, "the rate-limit bucket of 127.0.0.1 is in Redis");

    // A burst from another address, spread over both replicas: one bucket of 3.
    let other = client_from(&ca, "127.0.0.2");
    let mut statuses = Vec::new();
    for gw in [&a, &b, &a, &b, &a, &b] {
        statuses.push(validate_as(&other, gw, &token).await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    for gw in [&a, &b] {
        assert_eq!(metric(gw, "cec_gateway_store_up").await, 1.0);
        assert_eq!(
            metric(gw, "cec_gateway_store_rate_limit_fallbacks_total").await,
            0.0
        );
        let calls = r#"cec_gateway_store_latency_seconds_count{op="single_use"}"#;
        assert!(metric(gw, calls).await >= 1.0);
    }
    let limited = "cec_gateway_token_rate_limited_total";
    assert_eq!(
        (metric(&a, limited).await, metric(&b, limited).await),
        (1.0, 2.0)
    );

    // A reload reconnects; what was used stays used.
    a.reload(&config(&up, &redis, ("1/m", 3))).await.unwrap();
    let fresh = mint(&a, "u1", "Ann", "t1").await;
    let third = client_from(&ca, "127.0.0.3");
    assert_eq!(validate_as(&third, &a, &token).await.text(), FAILED);
    assert_eq!(validate_as(&third, &a, &fresh).await.text(), VALID);
    assert_eq!(validate_as(&third, &b, &fresh).await.text(), FAILED);
}

#[tokio::test]
async fn a_stopped_store_fails_single_use_closed_in_time_and_a_restarted_one_is_found_again() {
    let ca = test_ca();
    let mut redis = Redis::start();
    let up = MockUpstream::ok(&ca).await;
    let (a, b) = replicas(&ca, &config(&up, &redis, ("100/s", 100)), &redis.password).await;
    let c = client(&ca, false);
    until_store_up(&a, 1.0).await;
    let before = mint(&a, "u1", "Ann", "t1").await;
    assert_eq!(validate_as(&c, &a, &before).await.text(), VALID);

    redis.stop();
    let token = mint(&a, "u1", "Ann", "t1").await;
    for gw in [&a, &b, &a] {
        let asked = Instant::now();
        let got = validate_as(&c, gw, &token).await;
        let took = asked.elapsed();
        assert_eq!((got.status, got.text()), (StatusCode::OK, FAILED));
        assert!(
            took < TIMEOUT + A_LITTLE,
            "refused after {took:?}: store.timeout bounds the wait"
        );
    }
    // Proxying does not need the store.
    let proxied = get(&c, &a.url("/service-cloud/x")).await;
    assert_eq!(proxied.status, StatusCode::OK);
    assert_eq!(up.requests().len(), 1);
    assert_eq!(admin_get(&a, "/readyz").await.0, StatusCode::OK);
    until_store_up(&a, 0.0).await;
    assert!(metric(&a, r#"cec_gateway_store_errors_total{op="rate_limit"}"#).await >= 1.0);
    assert!(metric(&a, "cec_gateway_store_rate_limit_fallbacks_total").await >= 1.0);

    // Back on the same port (empty: no persistence), found again by both replicas.
    redis.restart();
    until_store_up(&a, 1.0).await;
    until_store_up(&b, 1.0).await;
    assert_eq!(validate_as(&c, &a, &token).await.text(), VALID);
    assert_eq!(
        validate_as(&c, &b, &token).await.text(),
        FAILED,
        "recorded in the restarted Redis, refused on the other replica"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_logged_without_it_and_single_use_fails_closed() {
    let ca = test_ca();
    let redis = Redis::start();
    let up = MockUpstream::ok(&ca).await;
    let dir = TempDir::new("store-wrong-password");
    write_tls_files(&ca, &dir);
    let text = config(&up, &redis, ("100/s", 100)).replace("@DIR@", dir.0.to_str().unwrap());
    let path = write(&dir.0, "gateway.toml", &text);
    let wrong = "wrong-redis-password-4c0ffee";
    let env = [
        ("TOKEN_KEY", KEY),
        ("MINT_KEY", MINT_KEY),
        ("REDIS_PASSWORD", wrong),
    ];
    let mut gw = Process::start_with_env(&path, &env);
    let unavailable = gw.logged(
        "store unavailable: single-use validations fail closed, rate limits fall back to this replica's own",
    );
    let error = unavailable["error"].as_str().unwrap();
    assert!(
        error.to_ascii_lowercase().contains("auth") || error.contains("WRONGPASS"),
        "says the password was refused: {error}"
    );
    assert_eq!(unavailable["store"], redis.url());
    assert_eq!(metric(&gw, "cec_gateway_store_up").await, 0.0);

    let c = client(&ca, false);
    let token = mint(&gw, "u1", "Ann", "t1").await;
    assert_eq!(
        validate(&c, &gw, &token, "u1", "Ann", "t1").await.text(),
        FAILED
    );
    let logged = gw.wait_for("token validation");
    assert_eq!(logged["cause"], "store_unavailable");

    // `check --probe` says the same, and neither shows a password.
    let probe = std::process::Command::new(env!("CARGO_BIN_EXE_cec-gateway"))
        .args(["check", "--probe", "--config"])
        .arg(&path)
        .envs(env)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&probe.stdout).into_owned()
        + &String::from_utf8_lossy(&probe.stderr);
    assert_eq!(probe.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("store: {}", redis.url())), "{out}");
    assert!(out.contains("  store      FAILED   "), "{out}");
    let seen = serde_json::to_string(&gw.seen).unwrap();
    assert_eq!(gw.stop().await, Some(0));
    for secret in [wrong, redis.password.as_str()] {
        assert!(!out.contains(secret), "{out}");
        assert!(!seen.contains(secret), "{seen}");
    }
}

#[tokio::test]
async fn rediss_is_verified_against_the_configured_ca_and_nothing_else() {
    let ca = test_ca();
    let redis = Redis::start_tls(&ca);
    let up = MockUpstream::ok(&ca).await;
    let cfg = config(&up, &redis, ("100/s", 100));
    let with_ca = cfg.replace("password_env", "ca = \"@DIR@/ca.pem\"\npassword_env");
    let a = replica(&ca, &with_ca, &redis.password).await;
    let untrusting = replica(&ca, &cfg, &redis.password).await;
    until_store_up(&a, 1.0).await;
    let c = client(&ca, false);
    let token = mint(&a, "u1", "Ann", "t1").await;
    assert_eq!(validate_as(&c, &a, &token).await.text(), VALID);
    assert_eq!(validate_as(&c, &a, &token).await.text(), FAILED);

    // Without `ca` the test CA is unknown (webpki roots only): no connection, fail closed.
    let other = mint(&untrusting, "u1", "Ann", "t1").await;
    assert_eq!(validate_as(&c, &untrusting, &other).await.text(), FAILED);
    assert_eq!(metric(&untrusting, "cec_gateway_store_up").await, 0.0);
    let mut r = inspect_tls(&redis, &ca).await;
    let (jti, _) = claims(&token);
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg("cec-gateway:jti:*")
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(
        keys,
        [format!("cec-gateway:jti:{jti}")],
        "only A's token reached Redis"
    );
}
