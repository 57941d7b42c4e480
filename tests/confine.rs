//! Confinement through the real server: only `server.hostnames` are served (Host, HTTP/2
//! `:authority`, a trusted proxy's X-Forwarded-Host), no dot segment reaches routing, only
//! the usual methods are forwarded (`server.hsts`: tests/hsts.rs). Requests are
//! written by hand where a client library would refuse or fix them; the mock upstream shows
//! that a refused request reached nothing.

use crate::support;

use std::sync::Arc;

use http::{Request, StatusCode, Version};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;

fn with_hostnames(cfg: String, names: &str) -> String {
    cfg.replace(
        r#"hostnames = ["localhost", "127.0.0.1"]"#,
        &format!("hostnames = {names}"),
    )
}

#[tokio::test]
async fn a_host_not_served_gets_421_and_reaches_nothing() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = with_hostnames(
        base_config(&up.url()),
        r#"["localhost", "127.0.0.1", "[::1]"]"#,
    ) + "\n[cors]\nallowed_origins = [\"https://www.example.com\"]\n\
         \n[signing]\nauthorization_endpoint = \"/webchat/authorizationService\"\n";
    let gw = Gateway::start(&ca, &cfg).await;
    let port = gw.https.port();
    let misdirected = [
        "GET /service-cloud/x HTTP/1.1\r\nHost: evil.example".to_owned(),
        format!("GET /service-cloud/x HTTP/1.1\r\nHost: evil.example:{port}"),
        "GET /service-cloud/x HTTP/1.1\r\nHost: localhost.evil.example".to_owned(),
        "GET /service-cloud/x HTTP/1.1\r\nHost: 127.0.0.2".to_owned(),
        // Absolute form: the target's authority counts, and so does the Host beside it.
        "GET https://evil.example/service-cloud/x HTTP/1.1\r\nHost: localhost".to_owned(),
        "GET https://localhost/service-cloud/x HTTP/1.1\r\nHost: evil.example".to_owned(),
        // Nor a local endpoint, nor a CORS preflight.
        "POST /webchat/authorizationService HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0"
            .to_owned(),
        "OPTIONS /service-cloud/x HTTP/1.1\r\nHost: evil.example\r\n\
         Origin: https://www.example.com\r\nAccess-Control-Request-Method: POST"
            .to_owned(),
    ];
    for head in &misdirected {
        let got = raw(&ca, &gw, head).await;
        assert_eq!(got.status, 421, "{head}: {got:?}");
        assert_eq!(
            got.json()["error"],
            "this gateway does not serve that host",
            "{head}"
        );
        assert!(got.json()["request_id"].is_string(), "{head}");
    }
    let bad = [
        "GET /service-cloud/x HTTP/1.1".to_owned(),
        "GET /service-cloud/x HTTP/1.1\r\nHost: localhost\r\nHost: localhost".to_owned(),
        "GET /service-cloud/x HTTP/1.1\r\nHost: localhost\r\nHost: evil.example".to_owned(),
    ];
    for head in &bad {
        let got = raw(&ca, &gw, head).await;
        assert_eq!(got.status, 400, "{head}: {got:?}");
    }
    assert!(up.requests().is_empty(), "{:?}", up.requests());

    // Served names, any case and port, IP literals included.
    let served = [
        format!("Host: LocalHost:{port}"),
        "Host: localhost".to_owned(),
        format!("Host: 127.0.0.1:{port}"),
        format!("Host: [::1]:{port}"),
    ];
    for host in &served {
        let got = raw(
            &ca,
            &gw,
            &format!("GET /service-cloud/x HTTP/1.1\r\n{host}"),
        )
        .await;
        assert_eq!(got.status, 200, "{host}: {got:?}");
    }
    assert_eq!(up.requests().len(), served.len());
}

/// An HTTP/2 connection to the gateway (ALPN h2, verified as `localhost`).
async fn h2_connection(
    ca: &DemoCa,
    gw: &Gateway,
) -> hyper::client::conn::http2::SendRequest<TestBody> {
    let config = ca.client_config(&[b"h2"]).unwrap();
    let tcp = tokio::net::TcpStream::connect(gw.https).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

#[tokio::test]
async fn over_http2_an_authority_not_served_gets_421() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let mut h2 = h2_connection(&ca, &gw).await;
    let ask = |authority: String| {
        Request::get(format!("https://{authority}/service-cloud/x"))
            .body(body(""))
            .unwrap()
    };

    let resp = h2.send_request(ask("evil.example".into())).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::MISDIRECTED_REQUEST);
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(json["error"], "this gateway does not serve that host");
    assert!(up.requests().is_empty());

    // The same connection, a served :authority.
    let port = gw.https.port();
    let resp = h2
        .send_request(ask(format!("localhost:{port}")))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = h2
        .send_request(ask(format!("127.0.0.1:{port}")))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(up.requests().len(), 2);
    assert_eq!(
        up.last().headers["x-forwarded-host"],
        format!("127.0.0.1:{port}").as_str()
    );
}

#[tokio::test]
async fn a_trusted_proxy_forwarded_host_is_kept_only_when_served() {
    let ca = test_ca();
    let up = MockUpstream::redirecting(&ca).await;
    let cfg = with_hostnames(
        base_config(&up.url()),
        r#"["localhost", "127.0.0.1", "chat.example.com"]"#,
    ) + "\n[forwarding]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";
    let gw = Gateway::start(&ca, &cfg).await;
    let c = client(&ca, false);
    let url = gw.url("/service-cloud/x");
    let own = format!("localhost:{}", gw.https.port());
    let own_origin = format!("https://{own}");
    // (X-Forwarded-Host sent, what the upstream sees, where Location points)
    let cases = [
        (
            "chat.example.com",
            "chat.example.com",
            "https://chat.example.com",
        ),
        (
            "Chat.Example.com:8443",
            "Chat.Example.com:8443",
            "https://Chat.Example.com:8443",
        ),
        ("evil.example", own.as_str(), own_origin.as_str()),
        (
            "chat.example.com, evil.example",
            own.as_str(),
            own_origin.as_str(),
        ),
    ];
    for (sent, want_host, want_origin) in cases {
        let got = get_with(
            &c,
            &url,
            &[("x-forwarded-host", sent), ("x-forwarded-proto", "https")],
        )
        .await;
        assert_eq!(up.last().headers["x-forwarded-host"], want_host, "{sent}");
        assert_eq!(
            got.headers["location"],
            format!("{want_origin}/service-cloud/next").as_str(),
            "{sent}"
        );
    }
}

#[tokio::test]
async fn dot_segments_are_refused_before_routing() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let vectors = [
        "/service-cloud/../admin",
        "/service-cloud/./x",
        "/service-cloud/x/..",
        "/service-cloud/%2e%2e/x",
        "/service-cloud/%2E%2E/x",
        "/service-cloud/.%2e/x",
        "/service-cloud/%2e./x",
        "/service-cloud/%2e/x",
        "/service-cloud/..%5cx",
        "/service-cloud/..%5Cx",
        "/service-cloud/..%2fx",
        "/service-cloud/..;/x",
        "/service-cloud/webclient/chat_client/js/%2e%2e/js/newThirdPartyClient.js",
    ];
    for path in vectors {
        let got = raw(&ca, &gw, &format!("GET {path} HTTP/1.1\r\nHost: localhost")).await;
        assert_eq!(got.status, 400, "{path}: {got:?}");
        assert_eq!(got.json()["error"], "the path has a dot segment", "{path}");
    }
    // A raw backslash (no URI character, but let through by the parsers) separates too.
    for path in ["/service-cloud/..\\x", "/service-cloud/x\\..\\y"] {
        let got = raw(&ca, &gw, &format!("GET {path} HTTP/1.1\r\nHost: localhost")).await;
        assert_eq!(got.status, 400, "{path}: {got:?}");
        assert_eq!(got.json()["error"], "the path has a dot segment", "{path}");
    }
    assert!(up.requests().is_empty(), "{:?}", up.requests());
    // Dots inside a name are no segment.
    let got = raw(
        &ca,
        &gw,
        "GET /service-cloud/.well-known/a..b HTTP/1.1\r\nHost: localhost",
    )
    .await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(up.last().uri, "/service-cloud/.well-known/a..b");
}

#[tokio::test]
async fn trace_is_not_allowed_and_connect_not_implemented() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let got = raw(
        &ca,
        &gw,
        "TRACE /service-cloud/x HTTP/1.1\r\nHost: localhost",
    )
    .await;
    assert_eq!(got.status, 405, "{got:?}");
    assert_eq!(
        got.header("allow"),
        Some("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
    );
    assert_eq!(got.json()["error"], "method not allowed");
    for head in [
        "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443",
        "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443",
        "PROPFIND /service-cloud/x HTTP/1.1\r\nHost: localhost",
    ] {
        let got = raw(&ca, &gw, head).await;
        assert_eq!(got.status, 501, "{head}: {got:?}");
        assert_eq!(got.json()["error"], "method not implemented", "{head}");
    }
    assert!(up.requests().is_empty(), "{:?}", up.requests());
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let got = raw(
            &ca,
            &gw,
            &format!("{method} /service-cloud/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0"),
        )
        .await;
        assert_eq!(got.status, 200, "{method}: {got:?}");
        assert_eq!(up.last().method.as_str(), method);
    }
}
