//! What the gateway changes in responses for the browser, through the real server:
//! `Set-Cookie` domains and `Location` pointing at the gateway (or at a trusted proxy's
//! forwarded origin), and CORS decided at the edge.

use crate::support;

use http::{Request, Response, StatusCode};
use support::*;

#[tokio::test]
async fn set_cookie_and_location_point_at_the_gateway() {
    let ca = test_ca();
    let up = MockUpstream::start(&ca, |r| async move {
        let host = r.headers["host"].to_str().unwrap().to_owned();
        Response::builder()
            .status(StatusCode::FOUND)
            .header(
                "set-cookie",
                "ccmessaging-token=abc; Domain=localhost; Path=/; Secure; HttpOnly; SameSite=None",
            )
            .header("set-cookie", "other=1; Domain=example.com; Path=/")
            .header("location", format!("https://{host}/service-cloud/next?a=1"))
            .header("content-location", "https://elsewhere.example/x")
            .body(body(""))
            .unwrap()
    })
    .await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let got = get(&client(&ca, false), &gw.url("/service-cloud/start")).await;
    assert_eq!(got.status, StatusCode::FOUND);
    let cookies: Vec<&str> = got
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        cookies,
        vec![
            "ccmessaging-token=abc; Path=/; Secure; HttpOnly; SameSite=None",
            "other=1; Domain=example.com; Path=/"
        ]
    );
    assert_eq!(
        got.headers["location"],
        format!(
            "https://localhost:{}/service-cloud/next?a=1",
            gw.https.port()
        )
        .as_str()
    );
    assert_eq!(
        got.headers["content-location"],
        "https://elsewhere.example/x"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_location_uses_the_forwarded_origin() {
    let ca = test_ca();
    let up = MockUpstream::redirecting(&ca).await;
    let cfg = behind_trusted_proxy(&up.url());
    let gw = Gateway::start(&ca, &cfg).await;
    let c = client(&ca, false);
    let via_lb = get_with(
        &c,
        &gw.url("/service-cloud/x"),
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "chat.example.com"),
        ],
    )
    .await;
    assert_eq!(
        via_lb.headers["location"],
        "https://chat.example.com/service-cloud/next"
    );
    let direct = get(&c, &gw.url("/service-cloud/x")).await;
    assert_eq!(
        direct.headers["location"],
        format!("https://localhost:{}/service-cloud/next", gw.https.port()).as_str()
    );
}

#[tokio::test]
async fn cors_preflight_at_the_edge_and_only_allowed_origins_get_headers() {
    let ca = test_ca();
    let up = MockUpstream::start(&ca, |_| async {
        Response::builder()
            .header("access-control-allow-origin", "*")
            .body(body("ok"))
            .unwrap()
    })
    .await;
    let cfg =
        base_config(&up.url()) + "\n[cors]\nallowed_origins = [\"https://www.example.com\"]\n";
    let gw = Gateway::start(&ca, &cfg).await;
    let c = client(&ca, false);
    let preflight = send(
        &c,
        Request::options(gw.url("/service-cloud/webclient/chat_client/js/newThirdPartyClient.js"))
            .header("origin", "https://www.example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(body(""))
            .unwrap(),
    )
    .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.headers["access-control-allow-origin"],
        "https://www.example.com"
    );
    assert_eq!(
        preflight.headers["access-control-allow-credentials"],
        "true"
    );
    assert_eq!(preflight.headers["access-control-allow-methods"], "POST");
    assert_eq!(
        preflight.headers["access-control-allow-headers"],
        "content-type"
    );
    assert!(
        up.requests().is_empty(),
        "the preflight is answered at the edge"
    );

    let allowed = get_with(
        &c,
        &gw.url("/service-cloud/x"),
        &[("origin", "https://www.example.com")],
    )
    .await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://www.example.com"
    );
    assert_eq!(allowed.headers["access-control-allow-credentials"], "true");
    assert!(
        allowed
            .headers
            .get_all("vary")
            .iter()
            .any(|v| v == "Origin")
    );

    let other = get_with(
        &c,
        &gw.url("/service-cloud/x"),
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(
        !other.headers.contains_key("access-control-allow-origin"),
        "the upstream's * is not passed on"
    );
    assert!(
        !other
            .headers
            .contains_key("access-control-allow-credentials")
    );
}

#[tokio::test]
async fn without_allowed_origins_there_is_no_cors_handling() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let got = get_with(
        &client(&ca, false),
        &gw.url("/service-cloud/x"),
        &[("origin", "https://www.example.com")],
    )
    .await;
    assert!(!got.headers.contains_key("access-control-allow-origin"));
    assert!(!got.headers.contains_key("vary"));
}
