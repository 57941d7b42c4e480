//! Shutdown through the real server: with `server.drain_delay`, `/readyz` answers 503 at once
//! while the public listener still serves new connections; after the delay the listeners
//! close and `run()` ends. A WebSocket tunnel open at shutdown keeps working during
//! `shutdown_grace`, and the drain waits for it.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;
use support::*;

/// How long a state change the tests wait for may take, at most.
const WITHIN: Duration = Duration::from_secs(5);
/// How often a test looks again for a state change (a listener closing).
const POLL: Duration = Duration::from_millis(20);

/// Waits (up to [`WITHIN`]) until connecting to `addr` is refused; returns when that was seen.
async fn until_refused(addr: SocketAddr) -> Instant {
    let deadline = Instant::now() + WITHIN;
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Instant::now(),
            // A SYN queued on a socket that was closing just then.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connecting to {addr}: {e:?}"),
            // Still listening: this connection closes at once (the gateway's handshake sees EOF).
            Ok(tcp) => drop(tcp),
        }
        assert!(
            Instant::now() < deadline,
            "{addr} still accepted after {WITHIN:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn readyz_fails_first_and_the_listeners_close_after_drain_delay() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = base_config(&up.url()).replace("[tls]", "drain_delay = \"1s\"\n\n[tls]");
    let mut gw = Gateway::start(&ca, &cfg).await;
    assert_eq!(
        admin_get(&gw, "/readyz").await,
        (StatusCode::OK, "ready\n".into())
    );

    let asked = Instant::now();
    let run = gw.shutdown();
    // The run() task sees the signal when it is next polled: look until it has (a few tries).
    let mut readyz = admin_get(&gw, "/readyz").await;
    for _ in 0..20 {
        if readyz.0 != StatusCode::OK {
            break;
        }
        tokio::task::yield_now().await;
        readyz = admin_get(&gw, "/readyz").await;
    }
    assert_eq!(
        readyz,
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".into())
    );
    assert_eq!(
        admin_get(&gw, "/healthz").await.0,
        StatusCode::OK,
        "alive, only not ready"
    );

    // A new connection (a fresh client, no pooled one) is still accepted and served during
    // the delay; after it, it would be refused.
    let got = get(&client(&ca, false), &gw.url("/service-cloud/draining")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.text(), "ok");
    assert_eq!(up.last().uri, "/service-cloud/draining");

    let refused = until_refused(gw.https).await;
    assert!(
        refused.duration_since(asked) >= Duration::from_secs(1),
        "the public listener closed before drain_delay: {:?}",
        refused.duration_since(asked)
    );
    until_refused(gw.admin.unwrap()).await;
    let result = tokio::time::timeout(WITHIN, run)
        .await
        .expect("run() ended after the drain")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test]
async fn a_websocket_open_at_shutdown_keeps_working_during_the_grace() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    // No drain_delay: the listeners close at once, then shutdown_grace (5 s) runs.
    let mut gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let (mut ws, resp) = websocket(&ca, gw.https, "/service-cloud/ws").await;
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    let mut echo = async |text: &str| {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(WITHIN, ws.next())
            .await
            .expect("echo in time")
            .expect("the tunnel is open")
            .expect("a message");
        assert_eq!(echoed, Message::text(text));
    };
    echo("before").await;

    let asked = Instant::now();
    let run = gw.shutdown();
    // In the grace: no longer accepting, and the tunnel still carries messages both ways.
    until_refused(gw.https).await;
    echo("during the grace").await;
    echo("still").await;
    assert!(!run.is_finished(), "the drain waits for the open tunnel");

    ws.close(None).await.unwrap();
    let result = tokio::time::timeout(WITHIN, run)
        .await
        .expect("run() ended once the tunnel closed")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "run() ended with the tunnel, not at the end of the grace: {:?}",
        asked.elapsed()
    );
    assert_eq!(up.last().headers["upgrade"], "websocket");
}
