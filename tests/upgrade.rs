//! Protocol upgrades through the real server: only a WebSocket handshake is forwarded as one
//! (h2c and the like are dropped and the request is served as a normal one), and a tunnel opens
//! only on a 101 with `Upgrade: websocket` and the right `Sec-WebSocket-Accept`; any other 101
//! is a 502. (The echo through a working tunnel: tests/listeners.rs, tests/drain.rs.)

use crate::support;

use http::{Method, Request, Response, StatusCode};
use support::*;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// RFC 6455 §1.3: the accept for [`KEY`].
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A request through the gateway with `fields`, over HTTP/1.1.
async fn request(gw: &Gateway, ca: &DemoCa, method: Method, fields: &[(&str, &str)]) -> Got {
    let mut req = Request::builder()
        .method(method)
        .uri(gw.url("/service-cloud/ws"));
    for (name, value) in fields {
        req = req.header(*name, *value);
    }
    send(&client(ca, false), req.body(body("")).unwrap()).await
}

const WEBSOCKET: &[(&str, &str)] = &[
    ("connection", "Upgrade"),
    ("upgrade", "websocket"),
    ("sec-websocket-key", KEY),
    ("sec-websocket-version", "13"),
];

#[tokio::test]
async fn an_h2c_upgrade_is_dropped_and_the_request_served_normally() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    for connection in ["Upgrade, HTTP2-Settings", "upgrade"] {
        let got = request(
            &gw,
            &ca,
            Method::GET,
            &[
                ("connection", connection),
                ("upgrade", "h2c"),
                ("http2-settings", "AAMAAABkAAQAAP__"),
            ],
        )
        .await;
        assert_eq!(
            (got.status, got.text()),
            (StatusCode::OK, "ok"),
            "{connection}"
        );
        let seen = up.last();
        for name in ["upgrade", "http2-settings", "connection"] {
            assert!(
                !seen.headers.contains_key(name),
                "{connection}: {name} went upstream"
            );
        }
    }
}

#[tokio::test]
async fn a_websocket_upgrade_other_than_a_get_is_served_as_a_normal_request() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    // The mock would answer a forwarded handshake with 101: it answers 200 only without one.
    let got = request(&gw, &ca, Method::POST, WEBSOCKET).await;
    assert_eq!((got.status, got.text()), (StatusCode::OK, "ok"));
    let seen = up.last();
    assert_eq!(seen.method, Method::POST);
    assert!(!seen.headers.contains_key("upgrade"), "{:?}", seen.headers);
    assert!(
        !seen.headers.contains_key("connection"),
        "{:?}",
        seen.headers
    );
}

/// An upstream that answers every request 101 with `fields`.
async fn switching_with(
    ca: &DemoCa,
    fields: &'static [(&'static str, &'static str)],
) -> MockUpstream {
    MockUpstream::answering_upgrades(ca, move |_| async move {
        let mut resp = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade");
        for (name, value) in fields {
            resp = resp.header(*name, *value);
        }
        resp.body(body("")).unwrap()
    })
    .await
}

#[tokio::test]
async fn a_101_without_the_websocket_accept_is_a_502_and_no_tunnel() {
    let ca = test_ca();
    let cases: [(&str, &'static [(&str, &str)]); 4] = [
        (
            "wrong accept",
            &[("upgrade", "websocket"), ("sec-websocket-accept", KEY)],
        ),
        ("no accept", &[("upgrade", "websocket")]),
        (
            "h2c",
            &[("upgrade", "h2c"), ("sec-websocket-accept", ACCEPT)],
        ),
        ("no upgrade", &[("sec-websocket-accept", ACCEPT)]),
    ];
    for (what, fields) in cases {
        let up = switching_with(&ca, fields).await;
        let gw = Gateway::start(&ca, &base_config(&up.url())).await;
        let got = request(&gw, &ca, Method::GET, WEBSOCKET).await;
        assert_eq!(
            got.status,
            StatusCode::BAD_GATEWAY,
            "{what}: {}",
            got.text()
        );
        assert!(!got.headers.contains_key("upgrade"), "{what}");
        assert!(!got.headers.contains_key("sec-websocket-accept"), "{what}");
        let seen = up.last();
        assert_eq!(seen.headers["upgrade"], "websocket", "{what}");
        assert_eq!(seen.headers["sec-websocket-key"], KEY, "{what}");
    }
}

#[tokio::test]
async fn a_101_with_the_right_accept_switches() {
    let ca = test_ca();
    let up = switching_with(
        &ca,
        &[("upgrade", "websocket"), ("sec-websocket-accept", ACCEPT)],
    )
    .await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let got = request(&gw, &ca, Method::GET, WEBSOCKET).await;
    assert_eq!(got.status, StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(got.headers["upgrade"], "websocket");
    assert_eq!(got.headers["sec-websocket-accept"], ACCEPT);
}
