//! `cec_gateway::demo::start` without a browser (the browser test needs Chromium and may skip
//! locally): the sample page through the gateway, the page's unsigned `thirdUserData` signed
//! by the gateway and accepted by the mock CEC, the cookie made the gateway's, the echo that
//! needs it, and a clean stop.

use crate::support;

use std::time::Duration;

use cec_gateway::demo::mock_cec::{CLIENT_JS_PATH, ECHO_PATH, widget_js};
use cec_gateway::demo::{self, DemoOptions, gateway_config, site};
use http::{Request, StatusCode};
use support::*;

#[tokio::test]
async fn the_demo_signs_the_page_request_and_the_cookie_reaches_the_echo() {
    let dir = TempDir::new("demo");
    let opts = DemoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: dir.0.clone(),
        page_listen: None,
        cors_origins: Vec::new(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = demo::start(opts, async move {
        drop(stopped.await);
    })
    .await
    .unwrap();
    let cert = handle.state_dir.join(gateway_config::CERT_FILE);
    let c = client_with(trusting_written_cert(&cert).await, true);
    let url = |path: &str| format!("{}{path}", handle.gateway_url);

    // The mock API Fabric, through the gateway that holds its AK/SK.
    let agents = get(&c, &url(cec_gateway::demo::mock_fabric::AGENTS_PATH)).await;
    assert_eq!(agents.status, StatusCode::OK, "{}", agents.text());
    assert_eq!(agents.json()["agents"][0]["workNo"], 1001);

    let page = get(&c, &url("/")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text().contains("newThirdPartyClient.js"),
        "{}",
        page.text()
    );
    assert!(
        !page.text().contains("secretKey\"] ="),
        "the page holds no secret"
    );

    // What the sample page posts: no secretKey, no signature.
    let data = serde_json::json!({
        "thirdUserName": site::THIRD_USER_NAME,
        "thirdUserId": site::THIRD_USER_ID,
        "tenantSpaceId": site::TENANT_SPACE_ID,
        "channelConfigId": site::CHANNEL_CONFIG_ID,
        "locale": "en",
        "timestamp": 1_724_056_200_000u64,
    });
    let got = post(
        &c,
        &url(&format!("{CLIENT_JS_PATH}?&t=1")),
        data.to_string(),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.text(), widget_js(site::THIRD_USER_NAME));
    let cookie = got.headers["set-cookie"].to_str().unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    assert!(pair.starts_with("ccmessaging-token="), "{cookie}");
    assert!(
        !cookie.contains("Domain="),
        "host-only, the gateway's: {cookie}"
    );

    let echo = |cookie: Option<&str>| {
        let mut req = Request::post(url(ECHO_PATH));
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        send(&c, req.body(body("hello")).unwrap())
    };
    let reply = echo(Some(&pair)).await;
    assert_eq!(
        (reply.status, reply.text()),
        (StatusCode::OK, r#"{"reply":"echo: hello"}"#)
    );
    assert_eq!(echo(None).await.status, StatusCode::UNAUTHORIZED);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), handle.wait())
        .await
        .expect("the demo stops in time")
        .expect("the demo ends without an error");
}
