//! API Fabric credentials through the real gateway, against the mock API Fabric over HTTPS,
//! which checks the app key and its own live tokens: what the API received (the app key and a
//! live token, not the caller's key), one token request for a cold burst, replacement ahead of
//! the answer's `Expires`, one refresh and one retry after a 401, 502 and a backoff for a wrong
//! secret, and callers refused before anything reaches the API.

use std::time::{Duration, Instant};

use cec_gateway::demo::mock_fabric::{AGENTS_PATH, MockFabric, TOKEN_PATH};
use http::{Request, StatusCode};

use crate::support::{self, *};

const ALLOW_LOCAL: &str =
    "allowed_callers = [\"127.0.0.0/8\"]\ncaller_key_env = \"CEC_API_CALLER_KEY\"";

async fn start(ca: &DemoCa, config: &str, app_secret: &str) -> Gateway {
    let env = fabric_env(app_secret);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Gateway::start_with_env(ca, config, &env).await
}

fn caller() -> String {
    format!("Bearer {CALLER_KEY}")
}

/// The token the API call presented.
fn bearer(r: &Recorded) -> String {
    let v = r.headers["authorization"].to_str().unwrap();
    v.strip_prefix("Bearer ")
        .expect("a Bearer token")
        .to_owned()
}

fn api_calls(up: &MockUpstream) -> Vec<Recorded> {
    up.requests()
        .into_iter()
        .filter(|r| r.uri != TOKEN_PATH)
        .collect()
}

#[tokio::test]
async fn the_api_sees_the_app_key_and_a_live_token_not_the_callers_headers() {
    let ca = test_ca();
    let (up, fabric) = fabric_upstream(&ca, MockFabric::new(APP_KEY, APP_SECRET)).await;
    let gw = start(&ca, &fabric_config(&up.url(), "", ALLOW_LOCAL), APP_SECRET).await;
    let c = client(&ca, false);
    let auth = caller();
    let headers = [
        ("authorization", auth.as_str()),
        ("x-app-key", "forged-by-caller"),
    ];
    let got = get_with(&c, &gw.url(AGENTS_PATH), &headers).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.json()["agents"][0]["workNo"], 1001);

    let all = up.requests();
    assert_eq!(all.len(), 2, "one token request, one API call");
    let token_req = &all[0];
    assert_eq!(token_req.uri, TOKEN_PATH);
    assert_eq!(token_req.method, http::Method::POST);
    assert_eq!(token_req.headers["x-token-expire"], "600");
    let creds: serde_json::Value = serde_json::from_slice(&token_req.body).unwrap();
    assert_eq!(creds["app_key"], APP_KEY);
    assert_eq!(creds["app_secret"], APP_SECRET);
    let call = &all[1];
    assert_eq!(call.uri, AGENTS_PATH);
    let app_keys: Vec<_> = call.headers.get_all("x-app-key").iter().collect();
    assert_eq!(app_keys, [APP_KEY]);
    assert_eq!(call.headers.get_all("authorization").iter().count(), 1);
    let token = bearer(call);
    assert!(
        fabric.is_live(&token),
        "the API got a token the mock issued"
    );
    assert_ne!(token, CALLER_KEY);
    let seen = format!("{:?}", call.headers);
    assert!(
        !seen.contains(CALLER_KEY),
        "the caller key reached the API: {seen}"
    );
}

#[tokio::test]
async fn a_cold_burst_makes_one_token_request() {
    let ca = test_ca();
    let (up, fabric) = fabric_upstream(&ca, MockFabric::new(APP_KEY, APP_SECRET)).await;
    let gw = start(&ca, &fabric_config(&up.url(), "", ALLOW_LOCAL), APP_SECRET).await;
    let c = client(&ca, false);
    let url = gw.url(AGENTS_PATH);
    let burst: Vec<_> = (0..100)
        .map(|_| {
            let (c, url, auth) = (c.clone(), url.clone(), caller());
            tokio::spawn(
                async move { get_with(&c, &url, &[("authorization", &auth)]).await.status },
            )
        })
        .collect();
    for task in burst {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    for _ in 0..20 {
        let got = get_with(&c, &url, &[("authorization", &caller())]).await;
        assert_eq!(got.status, StatusCode::OK);
    }
    assert_eq!(fabric.token_requests(), 1);
    assert_eq!(api_calls(&up).len(), 120);
    let tokens: std::collections::HashSet<_> = api_calls(&up).iter().map(bearer).collect();
    assert_eq!(tokens.len(), 1, "every call used the one token");
}

#[tokio::test]
async fn a_token_is_replaced_ahead_of_the_expiry_its_answer_gives() {
    let ca = test_ca();
    // The mock's tokens live 2 s whatever is asked (10 minutes): replaced at 1.5 s (a quarter
    // of the life ahead, below refresh_before).
    let mock = MockFabric::new(APP_KEY, APP_SECRET).with_lifetime(Duration::from_secs(2));
    let (up, fabric) = fabric_upstream(&ca, mock).await;
    let config = fabric_config(&up.url(), "refresh_before = \"1s\"", ALLOW_LOCAL);
    let gw = start(&ca, &config, APP_SECRET).await;
    let c = client(&ca, false);
    let url = gw.url(AGENTS_PATH);
    let started = Instant::now();
    assert_eq!(
        get_with(&c, &url, &[("authorization", &caller())])
            .await
            .status,
        StatusCode::OK
    );
    let first = bearer(&api_calls(&up)[0]);
    assert_eq!(
        get_with(&c, &url, &[("authorization", &caller())])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(fabric.token_requests(), 1, "not a token request per call");
    tokio::time::sleep(Duration::from_millis(1650).saturating_sub(started.elapsed())).await;
    assert!(
        fabric.is_live(&first),
        "the first token has not expired yet"
    );
    assert_eq!(
        get_with(&c, &url, &[("authorization", &caller())])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(fabric.token_requests(), 2);
    let calls = api_calls(&up);
    assert_ne!(
        bearer(&calls[2]),
        first,
        "the call after 1.5 s went with a new token"
    );
    assert_eq!(calls.len(), 3, "no call was refused and retried");
}

#[tokio::test]
async fn tokens_of_3_s_serve_10_calls_a_second_for_8_s_with_a_handful_of_token_requests() {
    let ca = test_ca();
    // Whatever is asked (10 minutes), the mock's tokens live 3 s: each is replaced a quarter
    // of its life (0.75 s) before it dies, so about 8 / 2.25 token requests in all.
    let mock = MockFabric::new(APP_KEY, APP_SECRET).with_lifetime(Duration::from_secs(3));
    let (up, fabric) = fabric_upstream(&ca, mock).await;
    let gw = start(&ca, &fabric_config(&up.url(), "", ALLOW_LOCAL), APP_SECRET).await;
    let c = client(&ca, false);
    let url = gw.url(AGENTS_PATH);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for i in 0..80 {
        tick.tick().await;
        let got = get_with(&c, &url, &[("authorization", &caller())]).await;
        assert_eq!(got.status, StatusCode::OK, "call {i}: {}", got.text());
    }
    let asked = fabric.token_requests();
    assert!(
        (3..=6).contains(&asked),
        "{asked} token requests for 80 calls over 8 s"
    );
    assert_eq!(api_calls(&up).len(), 80, "no call was refused and retried");
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once_and_the_body_sent_again() {
    let ca = test_ca();
    let (up, fabric) = fabric_upstream(&ca, MockFabric::new(APP_KEY, APP_SECRET)).await;
    let config = fabric_config(&up.url(), "max_retry_body = \"1KiB\"", ALLOW_LOCAL);
    let gw = start(&ca, &config, APP_SECRET).await;
    let c = client(&ca, false);
    let url = gw.url("/apiaccess/rest/v1/update");
    let post = |b: Vec<u8>| {
        Request::post(&url)
            .header("authorization", caller())
            .header("content-type", "application/json")
            .body(support::body(b))
            .unwrap()
    };
    let small = br#"{"workNo":1001,"note":"whole, once"}"#.to_vec();
    assert_eq!(send(&c, post(small.clone())).await.status, StatusCode::OK);
    fabric.revoke_all();
    let got = send(&c, post(small.clone())).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.json()["received"], small.len());
    assert_eq!(fabric.token_requests(), 2, "exactly one refresh");
    let calls = api_calls(&up);
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[1].body, small, "the refused attempt had the body");
    assert_eq!(calls[2].body, small, "the retry had the same body");
    assert_ne!(bearer(&calls[1]), bearer(&calls[2]));

    // Over max_retry_body: streamed once, the 401 passed on, no refresh.
    fabric.revoke_all();
    let big = vec![b'x'; 4096];
    let got = send(&c, post(big.clone())).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    let calls = api_calls(&up);
    assert_eq!(calls.len(), 4, "not retried");
    assert_eq!(calls[3].body, big);
    assert_eq!(fabric.token_requests(), 2);
}

#[tokio::test]
async fn a_wrong_secret_answers_502_naming_the_cause_and_backs_off() {
    let ca = test_ca();
    let (up, fabric) = fabric_upstream(&ca, MockFabric::new(APP_KEY, APP_SECRET)).await;
    let wrong = "wrong-secret-never-shown-0003";
    let gw = start(&ca, &fabric_config(&up.url(), "", ALLOW_LOCAL), wrong).await;
    let c = client(&ca, false);
    for _ in 0..5 {
        let got = get_with(&c, &gw.url(AGENTS_PATH), &[("authorization", &caller())]).await;
        assert_eq!(got.status, StatusCode::BAD_GATEWAY);
        let error = got.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains("\"apifabric\""), "{error}");
        assert!(error.contains("token request answered 401"), "{error}");
        for secret in [wrong, APP_KEY, CALLER_KEY] {
            assert!(!got.text().contains(secret), "{}", got.text());
        }
    }
    assert_eq!(
        fabric.token_requests(),
        1,
        "no token request during the backoff"
    );
    assert!(api_calls(&up).is_empty());
    let (_, metrics) = admin_get(&gw, "/metrics").await;
    let line =
        r#"cec_gateway_upstream_token_requests_total{upstream="apifabric",result="refused"} 1"#;
    assert!(metrics.contains(line), "{metrics}");
    for secret in [wrong, APP_KEY, CALLER_KEY] {
        assert!(!metrics.contains(secret));
    }
}

#[tokio::test]
async fn callers_outside_the_route_rules_reach_nothing() {
    let ca = test_ca();
    let (up, fabric) = fabric_upstream(&ca, MockFabric::new(APP_KEY, APP_SECRET)).await;
    let only_ten = "allowed_callers = [\"10.0.0.0/8\"]";
    let gw = start(&ca, &fabric_config(&up.url(), "", only_ten), APP_SECRET).await;
    let c = client(&ca, false);
    let got = get_with(&c, &gw.url(AGENTS_PATH), &[("authorization", &caller())]).await;
    assert_eq!(got.status, StatusCode::FORBIDDEN, "{}", got.text());

    let keyed = "caller_key_env = \"CEC_API_CALLER_KEY\"";
    let gw = start(&ca, &fabric_config(&up.url(), "", keyed), APP_SECRET).await;
    for auth in [None, Some("Bearer wrong-key"), Some(APP_KEY)] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
        let got = get_with(&c, &gw.url(AGENTS_PATH), &headers).await;
        assert_eq!(got.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(got.headers["www-authenticate"], "Bearer");
    }
    assert!(
        up.requests().is_empty(),
        "nothing forwarded, no token fetched"
    );
    assert_eq!(fabric.token_requests(), 0);
    let got = get_with(&c, &gw.url(AGENTS_PATH), &[("authorization", &caller())]).await;
    assert_eq!(got.status, StatusCode::OK, "the right key gets through");
}

#[tokio::test]
async fn the_probe_fetches_a_token_and_reports_its_lifetime_only() {
    let ca = test_ca();
    let mock = MockFabric::new(APP_KEY, APP_SECRET).with_lifetime(Duration::from_secs(120));
    let (up, fabric) = fabric_upstream(&ca, mock).await;
    let dir = TempDir::new("fabric-probe");
    write_tls_files(&ca, &dir);
    let text = fabric_config(&up.url(), "", ALLOW_LOCAL).replace("@DIR@", dir.0.to_str().unwrap());
    let path = dir.0.join("gateway.toml");
    for (secret, want, failed) in [
        (
            APP_SECRET,
            "ok       POST /apigovernance/api/oauth/tokenByAkSk  token lifetime 120s (asked 600s)",
            0,
        ),
        (
            "wrong-secret-0004",
            "FAILED   POST /apigovernance/api/oauth/tokenByAkSk  token request answered 401",
            1,
        ),
    ] {
        let env = fabric_env(secret);
        let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        let config = cec_gateway::config::Config::parse(&text, &path, &lookup).unwrap();
        let (lines, n) = cec_gateway::probe::token_lines(&config).await;
        assert!(lines.contains(&format!("apifabric auth {want}")), "{lines}");
        assert_eq!(n, failed);
        for s in [APP_KEY, secret] {
            assert!(!lines.contains(s), "{lines}");
        }
    }
    assert_eq!(fabric.token_requests(), 2);
}

#[tokio::test]
async fn no_secret_and_no_token_reaches_a_log_line_at_debug() {
    let ca = test_ca();
    let (up, fabric) = fabric_upstream(&ca, MockFabric::new(APP_KEY, APP_SECRET)).await;
    let dir = TempDir::new("fabric-logs");
    write_tls_files(&ca, &dir);
    let text = fabric_config(&up.url(), "", ALLOW_LOCAL).replace("@DIR@", dir.0.to_str().unwrap());
    let path = write(&dir.0, "gateway.toml", &text);
    let c = client(&ca, false);
    let mut logged = String::new();
    for secret in [APP_SECRET, "wrong-secret-logged-never-0005"] {
        let mut env = fabric_env(secret);
        env.push(("RUST_LOG", "debug".to_owned()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut p = Process::start_with_env(&path, &env);
        let auth = caller();
        let url = p.url(AGENTS_PATH);
        get_with(&c, &url, &[("authorization", &auth)]).await;
        fabric.revoke_all();
        get_with(&c, &url, &[("authorization", &auth)]).await;
        get_with(&c, &url, &[("authorization", "Bearer wrong-caller-key")]).await;
        p.drain(Duration::from_millis(300));
        logged.push_str(
            &p.seen
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        );
        assert!(
            logged.contains("API Fabric token"),
            "the token path logged: {logged}"
        );
    }
    let tokens: Vec<String> = api_calls(&up).iter().map(bearer).collect();
    assert_eq!(
        tokens.len(),
        3,
        "two calls, one of them retried after the revocation"
    );
    for leak in [APP_KEY, APP_SECRET, CALLER_KEY, "wrong-secret-logged-never"]
        .into_iter()
        .chain(tokens.iter().map(String::as_str))
    {
        assert!(!logged.contains(leak), "{leak} in the logs:\n{logged}");
    }
    assert!(fabric.token_requests() >= 3);
}
