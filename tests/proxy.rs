//! The proxy path through the real server: routing, forwarded headers, hop-by-hop removal,
//! rewrites, CORS, upstream failures and streaming. Mock upstreams record what they received.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use support::*;

#[tokio::test]
async fn path_is_byte_exact_and_forwarded_headers_come_from_the_peer() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let c = client(&ca, false);
    let path =
        "/service-cloud/webclient/chat_client/js/thirdPartyClient.js?&t=1%2F2&q=%E4%B8%AD//x";
    let got = send(
        &c,
        Request::get(gw.url(path))
            .header("x-forwarded-for", "6.6.6.6")
            .header("x-real-ip", "6.6.6.6")
            .header("x-forwarded-proto", "http")
            .header("x-forwarded-host", "evil.example")
            .body(body(""))
            .unwrap(),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    let r = up.last();
    assert_eq!(r.uri, path, "path and query forwarded byte for byte");
    // The browser's own X-Forwarded-* are not believed: the peer is not a trusted proxy.
    assert_eq!(r.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(r.headers["x-real-ip"], "127.0.0.1");
    assert_eq!(r.headers["x-forwarded-proto"], "https");
    assert_eq!(
        r.headers["x-forwarded-host"],
        format!("localhost:{}", gw.https.port()).as_str()
    );
    assert_eq!(
        r.headers["host"],
        format!("localhost:{}", up.addr.port()).as_str()
    );
    let rid = r.headers["x-request-id"].to_str().unwrap();
    assert_eq!(rid.len(), 32);
    assert_eq!(
        got.headers["x-request-id"], rid,
        "the client gets the same request id"
    );
}

#[tokio::test]
async fn a_trusted_proxy_chain_is_appended_and_the_client_request_id_kept() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = base_config(&up.url()) + "\n[forwarding]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";
    let gw = Gateway::start(&ca, &cfg).await;
    let got = send(
        &client(&ca, false),
        Request::get(gw.url("/service-cloud/x"))
            .header("x-forwarded-for", "6.6.6.6, 198.51.100.9")
            .header("x-forwarded-proto", "http")
            .header("x-forwarded-host", "chat.example.com")
            .header("x-request-id", "lb-abc-123")
            .body(body(""))
            .unwrap(),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    let r = up.last();
    assert_eq!(
        r.headers["x-forwarded-for"],
        "6.6.6.6, 198.51.100.9, 127.0.0.1"
    );
    assert_eq!(r.headers["x-real-ip"], "198.51.100.9");
    assert_eq!(r.headers["x-forwarded-proto"], "http");
    assert_eq!(r.headers["x-forwarded-host"], "chat.example.com");
    assert_eq!(r.headers["x-request-id"], "lb-abc-123");
    assert_eq!(got.headers["x-request-id"], "lb-abc-123");
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_both_ways() {
    let ca = test_ca();
    let up = MockUpstream::start(&ca, |_| async {
        Response::builder()
            .header("connection", "x-resp-hop")
            .header("x-resp-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("x-kept", "yes")
            .body(body("ok"))
            .unwrap()
    })
    .await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let got = send(
        &client(&ca, false),
        Request::get(gw.url("/service-cloud/x"))
            .header("connection", "keep-alive, x-hop")
            .header("x-hop", "secret")
            .header("keep-alive", "timeout=5")
            .header("proxy-authorization", "Basic Zm9vOmJhcg==")
            .header("x-end-to-end", "kept")
            .body(body(""))
            .unwrap(),
    )
    .await;
    let r = up.last();
    for gone in ["x-hop", "keep-alive", "proxy-authorization"] {
        assert!(!r.headers.contains_key(gone), "{gone} reached the upstream");
    }
    assert_eq!(r.headers["x-end-to-end"], "kept");
    assert!(
        !got.headers.contains_key("x-resp-hop"),
        "a header named in the upstream's Connection reached the client"
    );
    assert!(!got.headers.contains_key("keep-alive"));
    assert_eq!(got.headers["x-kept"], "yes");
}

#[tokio::test]
async fn unmatched_path_is_a_json_404() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let got = get(&client(&ca, false), &gw.url("/elsewhere")).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    assert_eq!(got.headers["content-type"], "application/json");
    let j = got.json();
    assert_eq!(j["error"], "no route for this path");
    assert_eq!(
        j["request_id"],
        got.headers["x-request-id"].to_str().unwrap()
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn longest_prefix_strip_prefix_and_client_host() {
    let ca = test_ca();
    let cec = MockUpstream::ok(&ca).await;
    let site = MockUpstream::start(&ca, |_| async { Response::new(body("site")) }).await;
    let cfg = base_config(&cec.url())
        + &format!(
            r#"
[upstreams.site]
url = "{}"
ca = "@DIR@/ca.pem"

[[routes]]
prefix = "/demo/"
upstream = "cec"
strip_prefix = true
host = "client"

[[routes]]
prefix = "/"
upstream = "site"
"#,
            site.url()
        );
    let gw = Gateway::start(&ca, &cfg).await;
    let c = client(&ca, false);
    let got = get(&c, &gw.url("/demo/webclient/x?y=1")).await;
    assert_eq!(got.text(), "ok");
    let r = cec.last();
    assert_eq!(r.uri, "/webclient/x?y=1");
    assert_eq!(
        r.headers["host"],
        format!("localhost:{}", gw.https.port()).as_str(),
        "host = \"client\""
    );
    assert_eq!(get(&c, &gw.url("/index.html")).await.text(), "site");
    assert_eq!(site.last().uri, "/index.html");
    assert_eq!(get(&c, &gw.url("/service-cloud/a")).await.text(), "ok");
    assert_eq!(cec.last().uri, "/service-cloud/a");
}

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

    let allowed = send(
        &c,
        Request::get(gw.url("/service-cloud/x"))
            .header("origin", "https://www.example.com")
            .body(body(""))
            .unwrap(),
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

    let other = send(
        &c,
        Request::get(gw.url("/service-cloud/x"))
            .header("origin", "https://evil.example")
            .body(body(""))
            .unwrap(),
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
    let got = send(
        &client(&ca, false),
        Request::get(gw.url("/service-cloud/x"))
            .header("origin", "https://www.example.com")
            .body(body(""))
            .unwrap(),
    )
    .await;
    assert!(!got.headers.contains_key("access-control-allow-origin"));
    assert!(!got.headers.contains_key("vary"));
}

#[tokio::test]
async fn upstream_down_is_a_502_with_a_json_body_and_a_metric() {
    let ca = test_ca();
    let closed = closed_port().await;
    let gw = Gateway::start(
        &ca,
        &base_config(&format!("https://localhost:{}", closed.port())),
    )
    .await;
    let c = client(&ca, false);
    let got = get(&c, &gw.url("/service-cloud/x")).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    let j = got.json();
    assert_eq!(j["error"], "could not connect to the upstream");
    assert_eq!(
        j["request_id"],
        got.headers["x-request-id"].to_str().unwrap()
    );
    let metrics = reqwest_admin(&gw, "/metrics").await;
    assert!(
        metrics.contains(r#"cec_gateway_upstream_errors_total{upstream="cec",kind="connect"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"cec_gateway_requests_total{route="/service-cloud/",status="5xx"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn upstream_with_an_untrusted_certificate_is_a_502() {
    let ca = test_ca();
    let other_ca = test_ca();
    let up = MockUpstream::ok(&other_ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let got = get(&client(&ca, false), &gw.url("/service-cloud/x")).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(got.json()["error"], "TLS with the upstream failed");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn slow_upstream_is_a_504() {
    let ca = test_ca();
    let up = MockUpstream::start(&ca, |_| async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        Response::new(body("late"))
    })
    .await;
    let cfg =
        base_config(&up.url()).replace("response_timeout = \"2s\"", "response_timeout = \"300ms\"");
    let gw = Gateway::start(&ca, &cfg).await;
    let got = get(&client(&ca, false), &gw.url("/service-cloud/slow")).await;
    assert_eq!(got.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(got.json()["error"], "the upstream did not answer in time");
}

#[tokio::test]
async fn a_slow_chunked_response_arrives_chunk_by_chunk() {
    let ca = test_ca();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let release = std::sync::Arc::new(std::sync::Mutex::new(Some(release_rx)));
    let up = MockUpstream::start(&ca, move |_| {
        let release = release.lock().unwrap().take();
        async move {
            let (tx, rx) = tokio::sync::mpsc::channel::<
                Result<http_body::Frame<Bytes>, std::convert::Infallible>,
            >(4);
            tokio::spawn(async move {
                tx.send(Ok(http_body::Frame::data(Bytes::from_static(
                    b"first chunk;",
                ))))
                .await
                .unwrap();
                if let Some(r) = release {
                    let _ = r.await;
                }
                tx.send(Ok(http_body::Frame::data(Bytes::from_static(
                    b"second chunk",
                ))))
                .await
                .unwrap();
            });
            Response::new(http_body_util::StreamBody::new(tokio_stream_from(rx)).boxed())
        }
    })
    .await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let c = client(&ca, false);
    let resp = c
        .request(
            Request::get(gw.url("/service-cloud/stream"))
                .body(body(""))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut b = resp.into_body();
    // The first chunk reaches the client while the upstream is still holding the second.
    let first = tokio::time::timeout(Duration::from_secs(5), b.frame())
        .await
        .expect("first chunk before the upstream finished")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "first chunk;");
    release_tx.send(()).unwrap();
    let rest = b.collect().await.unwrap().to_bytes();
    assert_eq!(rest, "second chunk");
}

#[tokio::test]
async fn request_bodies_stream_to_the_upstream() {
    let ca = test_ca();
    let up = MockUpstream::start(&ca, |r| async move {
        Response::new(body(format!("got {} bytes", r.body.len())))
    })
    .await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    // 1 MiB in 64 KiB chunks without a Content-Length: forwarded as a stream.
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, std::convert::Infallible>>(2);
    tokio::spawn(async move {
        for _ in 0..16 {
            tx.send(Ok(http_body::Frame::data(Bytes::from(vec![
                b'x';
                64 * 1024
            ]))))
            .await
            .unwrap();
        }
    });
    let req = Request::post(gw.url("/service-cloud/upload"))
        .body(http_body_util::StreamBody::new(tokio_stream_from(rx)).boxed())
        .unwrap();
    let got = send(&client(&ca, false), req).await;
    assert_eq!(got.text(), "got 1048576 bytes");
    assert_eq!(up.last().headers["transfer-encoding"], "chunked");
}

/// An mpsc receiver as a `Stream`.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + Sync {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn reqwest_admin(gw: &Gateway, path: &str) -> String {
    admin_get(gw, path).await.1
}

#[tokio::test]
async fn behind_a_trusted_proxy_location_uses_the_forwarded_origin() {
    let ca = test_ca();
    let up = MockUpstream::start(&ca, |r| async move {
        let host = r.headers["host"].to_str().unwrap().to_owned();
        Response::builder()
            .status(StatusCode::FOUND)
            .header("location", format!("https://{host}/service-cloud/next"))
            .body(body(""))
            .unwrap()
    })
    .await;
    let cfg = base_config(&up.url()) + "\n[forwarding]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";
    let gw = Gateway::start(&ca, &cfg).await;
    let c = client(&ca, false);
    let via_lb = send(
        &c,
        Request::get(gw.url("/service-cloud/x"))
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "chat.example.com")
            .body(body(""))
            .unwrap(),
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
