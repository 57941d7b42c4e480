//! The proxy path through the real server: routing, the path forwarded byte for byte,
//! forwarded headers and request ids, hop-by-hop removal. Mock upstreams record what they
//! received. Rewrites and CORS: `proxy_rewrite.rs`; upstream failures and streaming:
//! `proxy_upstream.rs`.

use crate::support;

use http::{Response, StatusCode};
use support::*;

#[tokio::test]
async fn path_is_byte_exact_and_forwarded_headers_come_from_the_peer() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let c = client(&ca, false);
    let path =
        "/service-cloud/webclient/chat_client/js/thirdPartyClient.js?&t=1%2F2&q=%E4%B8%AD//x";
    let got = get_with(
        &c,
        &gw.url(path),
        &[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "evil.example"),
        ],
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
    assert!(
        rid.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{rid}: lower-case hex"
    );
    assert_eq!(
        got.headers["x-request-id"], rid,
        "the client gets the same request id"
    );
}

#[tokio::test]
async fn a_trusted_proxy_chain_is_appended_and_the_client_request_id_kept() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = behind_trusted_proxy(&up.url());
    let gw = Gateway::start(&ca, &cfg).await;
    let got = get_with(
        &client(&ca, false),
        &gw.url("/service-cloud/x"),
        &[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.9"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "chat.example.com"),
            ("x-request-id", "lb-abc-123"),
        ],
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
    let got = get_with(
        &client(&ca, false),
        &gw.url("/service-cloud/x"),
        &[
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "secret"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("x-end-to-end", "kept"),
        ],
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
        + &upstream_table("site", &site.url())
        + r#"
[[routes]]
prefix = "/demo/"
upstream = "cec"
strip_prefix = true
host = "client"

[[routes]]
prefix = "/"
upstream = "site"
"#;
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
