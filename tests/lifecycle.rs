//! Connection lifecycle through the real server (issue 10, item 1): no silent, idle or stuck
//! connection keeps its slot. A new connection must deliver its first request within
//! `header_read_timeout`; an idle one closes at `keepalive_timeout` (h1 between requests, h2
//! with no stream: GOAWAY), while a request head begun after idling has `header_read_timeout`;
//! an upstream that stalls mid-body and a client that reads nothing end the exchange; one
//! address gets at most `max_connections_per_ip`; a WebSocket tunnel holds its slot and the
//! gauge until it closes, and closes when idle.

use crate::support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use support::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// The source address of the connections that `max_connections_per_ip` counts (127.0.0.1,
/// the host itself, is not counted).
const CLIENT: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));
const HEADER: Duration = Duration::from_millis(400);
const KEEPALIVE: Duration = Duration::from_millis(1500);
/// The upstream's `response_timeout`.
const RESPONSE: Duration = Duration::from_millis(600);

/// [`base_config`] with short deadlines, a plain public listener and `per_ip` connections
/// per client.
fn config(upstream: &str, per_ip: usize) -> String {
    base_config(upstream)
        .replace(
            "header_read_timeout = \"2s\"",
            &format!(
                "header_read_timeout = \"400ms\"\nkeepalive_timeout = \"1500ms\"\n\
                 max_connections_per_ip = {per_ip}\nhttp_listen = \"127.0.0.1:0\"\n\
                 http_redirect = false"
            ),
        )
        .replace("response_timeout = \"2s\"", "response_timeout = \"600ms\"")
}

/// Reads (and drops) what comes until the peer closes; how long that took. Panics when the
/// connection is still open after `limit`.
async fn closed_within(s: &mut (impl AsyncRead + Unpin), limit: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = vec![0u8; 64 << 10];
    let read_all = async { while let Ok(1..) = s.read(&mut buf).await {} };
    tokio::time::timeout(limit, read_all)
        .await
        .unwrap_or_else(|_| panic!("still open after {limit:?}"));
    start.elapsed()
}

/// One keep-alive GET on `s` whose answer (the mock's `ok`, 2 bytes) is read by its
/// Content-Length.
async fn get_ok(s: &mut (impl AsyncRead + tokio::io::AsyncWrite + Unpin)) {
    s.write_all(b"GET /service-cloud/x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"\r\n\r\nok") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed before the answer: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn silent_connections_are_closed_at_the_first_request_deadline() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &config(&up.url(), 256)).await;
    let limit = HEADER * 5;

    let mut tls = tls_to(&ca, gw.https).await;
    let took = closed_within(&mut tls, limit).await;
    assert!(
        took >= HEADER - Duration::from_millis(100),
        "TLS, silent: {took:?}"
    );

    let mut plain = TcpStream::connect(gw.http.unwrap()).await.unwrap();
    let took = closed_within(&mut plain, limit).await;
    assert!(
        took >= HEADER - Duration::from_millis(100),
        "plain, silent: {took:?}"
    );

    let mut admin = TcpStream::connect(gw.admin.unwrap()).await.unwrap();
    closed_within(&mut admin, limit).await;

    // HTTP/2: the preface and SETTINGS, then nothing (hyper-util's version sniffing alone has
    // no timer).
    let h2 =
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(ca.client_config(&[b"h2"]).unwrap()));
    let tcp = TcpStream::connect(gw.https).await.unwrap();
    let mut h2 = h2
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    closed_within(&mut h2, limit).await;

    // A slow first head, one byte at a time, is cut too.
    let mut slow = tls_to(&ca, gw.https).await;
    let start = Instant::now();
    for b in b"GET /service-cloud/x HTTP/1.1\r\nHost: localhost\r\n" {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    closed_within(&mut slow, limit).await;
    assert!(start.elapsed() < limit, "a 50-byte head at 20 B/s");
    assert!(up.requests().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn an_idle_h1_connection_lives_until_keepalive_but_a_new_head_has_the_header_deadline() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &config(&up.url(), 256)).await;

    let mut tls = tls_to(&ca, gw.https).await;
    get_ok(&mut tls).await;
    // Idle for twice the header deadline: still served, it is keep-alive time.
    tokio::time::sleep(HEADER * 2).await;
    get_ok(&mut tls).await;
    let took = closed_within(&mut tls, KEEPALIVE * 3).await;
    assert!(
        took >= KEEPALIVE - Duration::from_millis(200),
        "closed after {took:?} idle, before keepalive_timeout"
    );
    assert_eq!(up.requests().len(), 2);

    // After a request, a head begun and never finished: cut at the header deadline, long
    // before keepalive_timeout.
    let mut tls = tls_to(&ca, gw.https).await;
    get_ok(&mut tls).await;
    tls.write_all(b"GET /service-cloud/y HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    let took = closed_within(&mut tls, KEEPALIVE).await;
    assert!(
        took < KEEPALIVE - Duration::from_millis(300),
        "head cut after {took:?}"
    );
    assert_eq!(up.requests().len(), 3, "the half head reached nothing");
}

#[tokio::test]
async fn an_idle_h2_connection_gets_goaway_at_keepalive() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &config(&up.url(), 256)).await;
    let connector =
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(ca.client_config(&[b"h2"]).unwrap()));
    let tcp = TcpStream::connect(gw.https).await.unwrap();
    let tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (tls, seen) = support::recording::recording(tls);
    let (mut h2, conn) = h2::client::handshake(tls).await.unwrap();
    let conn = tokio::spawn(conn);
    // Two requests a little apart: a stream resets the idle clock.
    for _ in 0..2 {
        let req = Request::get(gw.url("/service-cloud/x")).body(()).unwrap();
        let (resp, _) = h2.send_request(req, true).unwrap();
        let resp = resp.await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        while body.data().await.transpose().unwrap().is_some() {}
        tokio::time::sleep(KEEPALIVE / 2).await;
    }
    let idle = Instant::now() - KEEPALIVE / 2;
    // The client's own end may see the close as an I/O error (it writes after the server
    // closed); what counts is what the server sent.
    tokio::time::timeout(KEEPALIVE * 3, conn)
        .await
        .expect("the gateway closes an idle h2 connection")
        .unwrap()
        .ok();
    let took = idle.elapsed();
    assert!(took >= KEEPALIVE - Duration::from_millis(200), "{took:?}");
    let frames = support::recording::h2_frames(&seen.lock().unwrap());
    let goaway = frames.iter().find(|(kind, _)| *kind == 7);
    let (_, payload) = goaway.unwrap_or_else(|| panic!("no GOAWAY in {frames:?}"));
    assert_eq!(&payload[4..8], &[0, 0, 0, 0], "GOAWAY with NO_ERROR");
}

#[tokio::test]
async fn one_address_gets_at_most_max_connections_per_ip() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &config(&up.url(), 2)).await;
    let mut held = vec![
        tls_from(&ca, CLIENT, gw.https).await,
        tls_from(&ca, CLIENT, gw.https).await,
    ];
    for s in &mut held {
        get_ok(s).await;
    }
    let mut third = tcp_from(CLIENT, gw.https).await;
    let took = closed_within(&mut third, HEADER).await;
    assert!(
        took < HEADER,
        "refused at once, not by a deadline: {took:?}"
    );

    // Another address is its own count.
    let mut other = tls_from(&ca, "127.0.0.2".parse().unwrap(), gw.https).await;
    get_ok(&mut other).await;
    // The host itself (127.0.0.1: a sidecar, a local balancer) is not counted.
    let mut local = Vec::new();
    for _ in 0..3 {
        local.push(tls_to(&ca, gw.https).await);
        get_ok(local.last_mut().unwrap()).await;
    }

    // A closed connection gives its slot back.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let tcp = tcp_from(CLIENT, gw.https).await;
        let tls = tls_connector(&ca).connect("localhost".try_into().unwrap(), tcp);
        if let Ok(mut tls) = tls.await {
            get_ok(&mut tls).await;
            break;
        }
        assert!(Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(up.requests().len(), 7);
}

#[tokio::test]
async fn an_upstream_that_stalls_mid_body_ends_the_exchange() {
    let ca = test_ca();
    let (tx, rx) = tokio::sync::mpsc::channel::<ChunkSender>(1);
    let up = MockUpstream::start(&ca, move |_| {
        let tx = tx.clone();
        async move {
            let (chunks, b) = streamed_body(4);
            chunks.send("partial").await;
            // The sender is kept (by the test), so the body neither ends nor fails.
            tx.send(chunks).await.ok();
            Response::new(b)
        }
    })
    .await;
    let gw = Gateway::start(&ca, &config(&up.url(), 256)).await;
    let _keep = rx;
    let start = Instant::now();
    let mut body = open_stream(&client(&ca, false), &gw.url("/service-cloud/s")).await;
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"partial");
    let end = tokio::time::timeout(RESPONSE * 5, body.frame())
        .await
        .expect("the stalled body ends");
    assert!(
        !matches!(end, Some(Ok(_))),
        "no more data, an error or an end: {end:?}"
    );
    assert!(start.elapsed() >= RESPONSE - Duration::from_millis(100));
}

#[tokio::test]
async fn a_client_that_reads_nothing_is_cut_and_the_upstream_released() {
    let ca = test_ca();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<usize>(1);
    let up = MockUpstream::start(&ca, move |_| {
        let done = done_tx.clone();
        async move {
            let (chunks, b) = streamed_body(1);
            tokio::spawn(async move {
                // Up to 256 MiB, far more than every buffer on the way can hold.
                let mut sent = 0;
                while sent < 4096 && chunks.send(vec![b'x'; 64 << 10]).await {
                    sent += 1;
                }
                done.send(sent).await.ok();
            });
            Response::new(b)
        }
    })
    .await;
    let gw = Gateway::start(&ca, &config(&up.url(), 256)).await;
    let mut tls = tls_to(&ca, gw.https).await;
    tls.write_all(b"GET /service-cloud/big HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // The client reads nothing; the gateway gives up after response_timeout + its margin and
    // drops the upstream exchange, which stops the upstream's sender.
    let sent = tokio::time::timeout(Duration::from_secs(10), done_rx.recv())
        .await
        .expect("the upstream body is abandoned, not kept waiting")
        .unwrap();
    assert!(
        sent < 4096,
        "the upstream streamed all of it into a client that reads nothing"
    );
    closed_within(&mut tls, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_websocket_tunnel_holds_its_slot_and_closes_when_idle() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &config(&up.url(), 1)).await;
    let url = format!("wss://localhost:{}/service-cloud/ws", gw.https.port());
    let tls = tls_from(&ca, CLIENT, gw.https).await;
    let (mut ws, resp) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));

    let open = r#"cec_gateway_open_connections{listener="https"} 1"#;
    let (_, metrics) = admin_get(&gw, "/metrics").await;
    assert!(metrics.contains(open), "the tunnel is counted:\n{metrics}");
    // Its slot of max_connections_per_ip (1) is still taken.
    let mut second = tcp_from(CLIENT, gw.https).await;
    closed_within(&mut second, HEADER).await;

    // Traffic keeps it open past keepalive_timeout; silence closes it.
    let start = Instant::now();
    while start.elapsed() < KEEPALIVE + KEEPALIVE / 2 {
        tokio::time::sleep(KEEPALIVE / 3).await;
        ws.send(Message::text("ping")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("ping"));
    }
    let quiet = Instant::now();
    let ended = tokio::time::timeout(KEEPALIVE * 3, ws.next()).await;
    assert!(
        matches!(ended, Ok(None | Some(Err(_)))),
        "an idle tunnel is closed: {ended:?}"
    );
    assert!(quiet.elapsed() >= KEEPALIVE - Duration::from_millis(200));
    let gone = r#"cec_gateway_open_connections{listener="https"} 0"#;
    let deadline = Instant::now() + Duration::from_secs(2);
    while !admin_get(&gw, "/metrics").await.1.contains(gone) {
        assert!(
            Instant::now() < deadline,
            "the gauge still counts the closed tunnel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
