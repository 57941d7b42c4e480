//! Token mode through the real server: the vendor's response format on the public listener,
//! `/tokens` only on the admin listener and only with the mint key, the per-source rate limit and `allowed_callers`
//! (a second loopback address, 127.0.0.2, plays another caller), and a token minted by PyJWT.

use crate::support;

use http::{Method, StatusCode};
use support::*;

const KEY: &str = "token-test-key-0123456789-abcdefghijklmnop";

fn config(up: &MockUpstream, token: &str) -> String {
    format!(
        "{}\n[token]\nsecret_env = \"TOKEN_KEY\"\nmint_key_env = \"MINT_KEY\"\n{token}\n",
        base_config(&up.url())
    )
}

/// A gateway whose `[token]` table has `secret_env = "TOKEN_KEY"` (set to `key`),
/// `mint_key_env = "MINT_KEY"` (set to [`MINT_KEY`]) and the lines `token`, in front of an
/// upstream that answers ok.
async fn start(ca: &DemoCa, key: &str, token: &str) -> (MockUpstream, Gateway) {
    let up = MockUpstream::ok(ca).await;
    let env = [("TOKEN_KEY", key), ("MINT_KEY", MINT_KEY)];
    let gw = Gateway::start_with_env(ca, &config(&up, token), &env).await;
    (up, gw)
}

#[tokio::test]
async fn minted_tokens_validate_in_the_vendor_format_and_nothing_else_does() {
    let ca = test_ca();
    let (up, gw) = start(&ca, KEY, "").await;
    let c = client(&ca, false);
    let token = mint(&gw, "10010001", "Tom", "202007159031").await;

    let ok = validate(&c, &gw, &token, "10010001", "Tom", "202007159031").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.text(), r#"{"retCode":0,"message":"validate success"}"#);
    assert_eq!(ok.headers["content-type"], "application/json");

    let failed = r#"{"retCode":1,"message":"validate failed"}"#;
    for (t, id, name, tenant) in [
        (token.as_str(), "10010002", "Tom", "202007159031"),
        (token.as_str(), "10010001", "Tom ", "202007159031"),
        (token.as_str(), "10010001", "Tom", "1"),
        ("not.a.token", "10010001", "Tom", "202007159031"),
        (&token[..token.len() - 3], "10010001", "Tom", "202007159031"),
    ] {
        let got = validate(&c, &gw, t, id, name, tenant).await;
        assert_eq!(
            (got.status, got.text()),
            (StatusCode::OK, failed),
            "{id} {name} {tenant}"
        );
    }
    let bad = post(&c, &gw.url(VALIDATE), "{not json").await;
    assert_eq!(bad.json()["retCode"], 2);
    assert_eq!(
        get(&c, &gw.url(VALIDATE)).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );

    // Minting lives on the admin listener only.
    let public = post(
        &c,
        &gw.url("/tokens"),
        r#"{"userId":"1","userName":"x","tenantSpaceId":"2"}"#,
    )
    .await;
    assert_eq!(public.status, StatusCode::NOT_FOUND);
    assert!(public.json().get("token").is_none());
    assert!(
        up.requests().is_empty(),
        "nothing of token mode reaches the upstream"
    );

    let (_, metrics) = admin_get(&gw, "/metrics").await;
    for line in [
        r#"cec_gateway_token_validations_total{result="valid"} 1"#,
        r#"cec_gateway_token_validations_total{result="invalid"} 5"#,
        r#"cec_gateway_token_validations_total{result="bad_request"} 1"#,
        "cec_gateway_tokens_minted_total 1",
    ] {
        assert!(metrics.contains(line), "missing {line}\n{metrics}");
    }
    assert!(!metrics.contains(&token) && !metrics.contains(KEY));
}

const MINT_BODY: &str = r#"{"userId":"u1","userName":"Ann","tenantSpaceId":"t1"}"#;

/// `POST /tokens` with `authorization` (or none): (status, WWW-Authenticate, body).
async fn mint_as(gw: &Gateway, authorization: Option<&str>) -> (StatusCode, String, String) {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    let (status, h, text) =
        admin_request_with(gw, Method::POST, "/tokens", &headers, MINT_BODY).await;
    let challenge = h
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge, text)
}

#[tokio::test]
async fn minting_needs_the_mint_key_as_bearer_credential() {
    let ca = test_ca();
    let (_up, gw) = start(&ca, KEY, "").await;
    let wrong = format!("Bearer {}x", MINT_KEY);
    let token_key = format!("Bearer {KEY}");
    let basic = format!("Basic {MINT_KEY}");
    for auth in [
        None,
        Some(wrong.as_str()),
        Some(&token_key),
        Some(&basic),
        Some("Bearer "),
    ] {
        let (status, challenge, text) = mint_as(&gw, auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}: {text}");
        assert_eq!(challenge, "Bearer", "{auth:?}");
        let j: serde_json::Value = serde_json::from_str(&text).expect("a JSON error body");
        assert!(j["error"].as_str().unwrap().contains("Bearer"), "{text}");
        assert!(j.get("token").is_none(), "{text}");
        assert!(!text.contains(MINT_KEY), "{text}");
    }
    let (_, metrics) = admin_get(&gw, "/metrics").await;
    assert!(
        metrics.contains("cec_gateway_tokens_minted_total 0"),
        "{metrics}"
    );

    let right = format!("Bearer {MINT_KEY}");
    let (status, challenge, text) = mint_as(&gw, Some(&right)).await;
    assert_eq!((status, challenge.as_str()), (StatusCode::OK, ""), "{text}");
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["token"].as_str().unwrap().split('.').count(), 3, "{text}");
    let (_, metrics) = admin_get(&gw, "/metrics").await;
    assert!(
        metrics.contains("cec_gateway_tokens_minted_total 1"),
        "{metrics}"
    );
    assert!(!metrics.contains(MINT_KEY));
}

#[tokio::test]
async fn without_a_mint_key_minting_is_off() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = format!(
        "{}\n[token]\nsecret_env = \"TOKEN_KEY\"\n",
        base_config(&up.url())
    );
    let gw = Gateway::start_with_env(&ca, &cfg, &[("TOKEN_KEY", KEY)]).await;
    let right = format!("Bearer {MINT_KEY}");
    for auth in [None, Some(right.as_str())] {
        let (status, challenge, text) = mint_as(&gw, auth).await;
        assert_eq!(
            (status, challenge.as_str()),
            (StatusCode::NOT_FOUND, ""),
            "{text}"
        );
        assert!(!text.contains("token\""), "{text}");
    }
    // Token mode itself still validates on the public listener.
    let c = client(&ca, false);
    let got = validate(&c, &gw, "not.a.token", "u1", "Ann", "t1").await;
    assert_eq!(got.text(), r#"{"retCode":1,"message":"validate failed"}"#);
}

#[tokio::test]
async fn a_burst_beyond_the_rate_limit_is_refused_while_another_source_is_served() {
    let ca = test_ca();
    let (_up, gw) = start(&ca, KEY, "rate_limit = \"1/m\"\nrate_burst = 3").await;
    let token = mint(&gw, "u1", "Ann", "t1").await;
    let first = client_from(&ca, "127.0.0.1");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let got = validate(&first, &gw, &token, "u1", "Ann", "t1").await;
        statuses.push((got.status.as_u16(), got.json()["retCode"].as_i64().unwrap()));
    }
    assert_eq!(
        statuses,
        vec![(200, 0), (200, 0), (200, 0), (429, 3), (429, 3)]
    );
    let second = client_from(&ca, "127.0.0.2");
    let got = validate(&second, &gw, &token, "u1", "Ann", "t1").await;
    assert_eq!(
        (got.status, got.json()["retCode"].as_i64()),
        (StatusCode::OK, Some(0)),
        "another source address is still served"
    );
    let (_, metrics) = admin_get(&gw, "/metrics").await;
    assert!(
        metrics.contains("cec_gateway_token_rate_limited_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn only_allowed_callers_reach_validation() {
    let ca = test_ca();
    let (_up, gw) = start(&ca, KEY, "allowed_callers = [\"127.0.0.2/32\"]").await;
    let token = mint(&gw, "u1", "Ann", "t1").await;
    let [outsider, cec] = ["127.0.0.1", "127.0.0.2"].map(|ip| client_from(&ca, ip));
    let outsider = validate(&outsider, &gw, &token, "u1", "Ann", "t1").await;
    assert_eq!(outsider.status, StatusCode::FORBIDDEN);
    assert_ne!(outsider.json()["retCode"], 0);
    let cec = validate(&cec, &gw, &token, "u1", "Ann", "t1").await;
    assert_eq!(cec.text(), r#"{"retCode":0,"message":"validate success"}"#);
}

#[tokio::test]
async fn single_use_tokens_validate_once() {
    let ca = test_ca();
    let (_up, gw) = start(&ca, KEY, "single_use = true").await;
    let c = client(&ca, false);
    let token = mint(&gw, "u1", "Ann", "t1").await;
    assert_eq!(
        validate(&c, &gw, &token, "u1", "Ann", "t1").await.json()["retCode"],
        0
    );
    assert_eq!(
        validate(&c, &gw, &token, "u1", "Ann", "t1").await.json()["retCode"],
        1
    );
}

#[tokio::test]
async fn a_token_minted_by_pyjwt_validates_through_the_server() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pyjwt_token.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let s = |k: &str| fixture[k].as_str().unwrap().to_owned();
    let ca = test_ca();
    let (_up, gw) = start(&ca, &s("secret"), "").await;
    let c = client(&ca, true);
    let got = validate(
        &c,
        &gw,
        &s("token"),
        &s("userId"),
        &s("userName"),
        &s("tenantSpaceId"),
    )
    .await;
    assert_eq!(got.text(), r#"{"retCode":0,"message":"validate success"}"#);
    let wrong = validate(
        &c,
        &gw,
        &s("token"),
        &s("userId"),
        "Tom",
        &s("tenantSpaceId"),
    )
    .await;
    assert_eq!(wrong.json()["retCode"], 1);
}
