//! The PROXY protocol through the real server (`server.proxy_protocol = true`, trusted proxy
//! 127.0.0.1/32): each test opens a raw TCP connection, writes a PROXY header (v1 text, or v2
//! binary built here from the spec, not with the `ppp` crate the gateway parses with), then does
//! TLS and one HTTP/1.1 request. What the header says must reach the upstream as the client;
//! a header from an untrusted peer, a malformed, missing or late one closes the connection
//! before anything is forwarded. 127.0.0.2 (loopback on Linux) plays an untrusted peer.

use crate::support;

use std::io::ErrorKind;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long a closing connection may take to close: well under the default
/// `tls_handshake_timeout` (10 s), so a test sees the gateway's decision, not its deadline.
const CLOSED_WITHIN: Duration = Duration::from_secs(5);

/// `base_config` with the PROXY protocol required from 127.0.0.1, plus `server_extra` lines in
/// `[server]` and `tables` appended.
fn pp_config(up: &MockUpstream, server_extra: &str, tables: &str) -> String {
    let cfg = base_config(&up.url()).replace(
        "[tls]",
        &format!("proxy_protocol = true\n{server_extra}\n\n[tls]"),
    );
    format!("{cfg}\n[forwarding]\ntrusted_proxies = [\"127.0.0.1/32\"]\n{tables}\n")
}

/// A TCP connection to `addr` from the local address `local` (port chosen by the system).
async fn connect_from(local: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(local.parse().unwrap(), 0))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// A v1 header for a TCP4 client `src` calling 192.0.2.1:443.
fn v1(src: &str) -> Vec<u8> {
    format!("PROXY TCP4 {src} 192.0.2.1 51000 443\r\n").into_bytes()
}

/// The v2 signature (spec section 2.2).
const V2_SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// A v2 header: version 2 with `command` (0 LOCAL, 1 PROXY), `family_protocol`, and the
/// address block `addrs` (its length is written big-endian after the family byte).
fn v2(command: u8, family_protocol: u8, addrs: &[u8]) -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.push(0x20 | command);
    h.push(family_protocol);
    h.extend_from_slice(&u16::try_from(addrs.len()).unwrap().to_be_bytes());
    h.extend_from_slice(addrs);
    h
}

/// v2 PROXY, TCP over IPv6 (0x21): `src` port 51000 calling 2001:db8::1 port 443.
fn v2_tcp6(src: Ipv6Addr) -> Vec<u8> {
    let mut addrs = src.octets().to_vec();
    addrs.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    addrs.extend_from_slice(&51000u16.to_be_bytes());
    addrs.extend_from_slice(&443u16.to_be_bytes());
    v2(1, 0x21, &addrs)
}

/// v2 LOCAL (a balancer's own health check), TCP over IPv4 (0x11) with an address block that
/// names 203.0.113.9: the spec says a receiver must ignore it.
fn v2_local() -> Vec<u8> {
    let mut addrs = vec![203, 0, 113, 9, 192, 0, 2, 1];
    addrs.extend_from_slice(&51000u16.to_be_bytes());
    addrs.extend_from_slice(&443u16.to_be_bytes());
    v2(0, 0x11, &addrs)
}

/// Writes `header` on `tcp`, then TLS (trusting `ca`) and one HTTP/1.1 request `req`.
async fn send_after(ca: &DemoCa, mut tcp: TcpStream, header: &[u8], req: Request<TestBody>) -> Got {
    tcp.write_all(header).await.unwrap();
    let tls = tls_connector(ca)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .expect("TLS handshake after the PROXY header");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .expect("response in time")
        .expect("response");
    let (parts, b) = resp.into_parts();
    Got {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: b.collect().await.unwrap().to_bytes(),
    }
}

/// A GET of `path` with the request headers `headers`, as it goes on the wire after TLS.
fn get_req(path: &str, headers: &[(&str, &str)]) -> Request<TestBody> {
    let mut req = Request::get(path).header("host", "localhost");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(body("")).unwrap()
}

/// From 127.0.0.1: `header`, then GET `path`.
async fn get_after(ca: &DemoCa, gw: &Gateway, header: &[u8], path: &str) -> Got {
    let tcp = connect_from("127.0.0.1", gw.https).await;
    send_after(ca, tcp, header, get_req(path, &[])).await
}

/// Whether `e` is the peer closing the connection (FIN or RST), not a TLS refusal or a timeout.
fn is_closed(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
    )
}

/// Writes `header` on `tcp` and attempts TLS: the gateway must close the connection first.
async fn assert_closed_before_tls(ca: &DemoCa, mut tcp: TcpStream, header: &[u8]) {
    // The gateway may already have closed (RST): a failed write is the same outcome.
    if let Err(e) = tcp.write_all(header).await {
        assert!(is_closed(&e), "write failed otherwise: {e:?}");
        return;
    }
    let tls = tls_connector(ca).connect("localhost".try_into().unwrap(), tcp);
    match tokio::time::timeout(CLOSED_WITHIN, tls).await {
        Err(_) => panic!("the connection was still open after {CLOSED_WITHIN:?}"),
        Ok(Ok(_)) => panic!("TLS was served after the header {header:?}"),
        Ok(Err(e)) => assert!(is_closed(&e), "closed, not {e:?}"),
    }
}

#[tokio::test]
async fn v1_source_is_the_client_for_the_forwarding_headers() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &pp_config(&up, "", "")).await;
    let tcp = connect_from("127.0.0.1", gw.https).await;
    // The client's own X-Forwarded-For is a lie: its address (the PROXY source) is not trusted.
    let req = get_req(
        "/service-cloud/v1?x=1",
        &[("x-forwarded-for", "198.51.100.1")],
    );
    let got = send_after(&ca, tcp, &v1("203.0.113.7"), req).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.text(), "ok");
    let r = up.last();
    assert_eq!(r.uri, "/service-cloud/v1?x=1");
    assert_eq!(r.headers["x-forwarded-for"], "203.0.113.7");
    assert_eq!(r.headers["x-real-ip"], "203.0.113.7");
    assert_eq!(r.headers["x-forwarded-proto"], "https");
    // The admin listener never expects a header.
    assert_eq!(admin_get(&gw, "/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn v2_tcp6_source_is_the_client() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &pp_config(&up, "", "")).await;
    let header = v2_tcp6("2001:db8::7".parse().unwrap());
    let got = get_after(&ca, &gw, &header, "/service-cloud/v2").await;
    assert_eq!(got.status, StatusCode::OK);
    let r = up.last();
    assert_eq!(r.uri, "/service-cloud/v2");
    assert_eq!(r.headers["x-real-ip"], "2001:db8::7");
    assert_eq!(r.headers["x-forwarded-for"], "2001:db8::7");
}

#[tokio::test]
async fn v2_local_keeps_the_tcp_peer() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &pp_config(&up, "", "")).await;
    let got = get_after(&ca, &gw, &v2_local(), "/service-cloud/health").await;
    assert_eq!(got.status, StatusCode::OK);
    let r = up.last();
    // The peer 127.0.0.1 is a trusted proxy and sent no X-Forwarded-For: it is the client.
    assert_eq!(r.headers["x-real-ip"], "127.0.0.1");
    assert_eq!(r.headers["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test]
async fn a_header_from_an_untrusted_peer_closes_the_connection() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &pp_config(&up, "", "")).await;
    let header = v1("203.0.113.7");
    assert_closed_before_tls(&ca, connect_from("127.0.0.2", gw.https).await, &header).await;
    assert!(up.requests().is_empty(), "{:?}", up.requests());
    // The same bytes from the trusted proxy are served.
    let got = get_after(&ca, &gw, &header, "/service-cloud/x").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test]
async fn a_malformed_or_missing_header_closes_the_connection() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &pp_config(&up, "", "")).await;
    for header in [
        &b"PROXY TCP4 garbage\r\n"[..],
        b"PROXY TCP4 203.0.113.7 192.0.2.1 51000\r\n",
        b"PROXY TCP9 203.0.113.7 192.0.2.1 51000 443\r\n",
        // v2 with version 1 in the high nibble.
        &[&V2_SIG[..], &[0x11, 0x11, 0, 0]].concat(),
    ] {
        let tcp = connect_from("127.0.0.1", gw.https).await;
        assert_closed_before_tls(&ca, tcp, header).await;
    }
    // No header at all: the TLS ClientHello comes first.
    assert_closed_before_tls(&ca, connect_from("127.0.0.1", gw.https).await, b"").await;
    assert!(up.requests().is_empty(), "{:?}", up.requests());
}

#[tokio::test]
async fn a_header_that_arrives_too_slowly_closes_the_connection() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = pp_config(&up, "tls_handshake_timeout = \"300ms\"", "");
    let gw = Gateway::start(&ca, &cfg).await;
    let mut tcp = connect_from("127.0.0.1", gw.https).await;
    let started = Instant::now();
    let header = v1("203.0.113.7");
    let (half, rest) = header.split_at(header.len() / 2);
    tcp.write_all(half).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(CLOSED_WITHIN, tcp.read(&mut buf))
        .await
        .expect("closed within the handshake deadline");
    match read {
        Ok(n) => assert_eq!(n, 0, "the gateway answered {:?}", &buf[..n]),
        Err(e) => assert!(is_closed(&e), "closed, not {e:?}"),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed after {:?}: before the deadline, so not for being late",
        started.elapsed()
    );
    // The rest of the header, and a request, come too late to be served.
    let late = [
        rest,
        b"GET /service-cloud/late HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ]
    .concat();
    tcp.write_all(&late).await.ok();
    assert!(up.requests().is_empty(), "{:?}", up.requests());
}

const TOKEN_KEY: &str = "token-test-key-0123456789-abcdefghijklmnop";
const VALIDATE: &str = "/rest/cc-messaging/v1/thirdparty/chatThirdPartyValidate";

#[tokio::test]
async fn token_rate_limit_keys_on_the_proxy_source() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let token_table = "[token]\nsecret_env = \"TOKEN_KEY\"\nmint_key_env = \"MINT_KEY\"\nrate_limit = \"1/m\"\nrate_burst = 3";
    let cfg = pp_config(&up, "", token_table);
    let env = [("TOKEN_KEY", TOKEN_KEY), ("MINT_KEY", MINT_KEY)];
    let gw = Gateway::start_with_env(&ca, &cfg, &env).await;
    let mint = r#"{"userId":"u1","userName":"Ann","tenantSpaceId":"t1"}"#;
    let (status, text) = admin_mint(&gw, mint).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let minted: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validation = serde_json::json!({
        "Token": minted["token"], "userName": "Ann", "userId": "u1", "tenantSpaceId": "t1"
    })
    .to_string();
    // Every connection comes from the one trusted proxy, 127.0.0.1; only the header differs.
    let validate = |source: &'static str| {
        let (ca, https, validation) = (&ca, gw.https, validation.clone());
        async move {
            let req = Request::post(VALIDATE)
                .header("host", "localhost")
                .header("content-type", "application/json")
                .body(body(validation))
                .unwrap();
            let tcp = connect_from("127.0.0.1", https).await;
            let got = send_after(ca, tcp, &v1(source), req).await;
            (got.status.as_u16(), got.json()["retCode"].as_i64().unwrap())
        }
    };
    let mut first = Vec::new();
    for _ in 0..5 {
        first.push(validate("203.0.113.7").await);
    }
    assert_eq!(
        first,
        vec![(200, 0), (200, 0), (200, 0), (429, 3), (429, 3)]
    );
    assert_eq!(
        validate("203.0.113.8").await,
        (200, 0),
        "another PROXY source through the same proxy has its own bucket"
    );
    let (_, metrics) = admin_get(&gw, "/metrics").await;
    assert!(
        metrics.contains("cec_gateway_token_rate_limited_total 2"),
        "{metrics}"
    );
    assert!(up.requests().is_empty(), "token mode is answered locally");
}
