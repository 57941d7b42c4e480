//! Listeners through the real server: HTTP/2, WebSocket upgrades, the admin and plain-HTTP
//! listeners, connection limits and deadlines, self-signed certificates, graceful shutdown.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use http::{Response, StatusCode, Version};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn http2_clients_are_served_and_the_upstream_gets_http11() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let c = client(&ca, true);
    let got = get_with(&c, &gw.url("/service-cloud/h2?x=1"), &[("cookie", "a=1")]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.version, Version::HTTP_2);
    let r = up.last();
    assert_eq!(r.version, Version::HTTP_11);
    assert_eq!(r.uri, "/service-cloud/h2?x=1");
    assert_eq!(
        r.headers["host"],
        format!("localhost:{}", up.addr.port()).as_str()
    );
    assert_eq!(
        r.headers["x-forwarded-host"],
        format!("localhost:{}", gw.https.port()).as_str()
    );
    assert_eq!(r.headers["cookie"], "a=1");
    // Several requests multiplexed on one connection.
    let urls: Vec<String> = (0..8)
        .map(|i| gw.url(&format!("/service-cloud/m{i}")))
        .collect();
    let results = futures_util::future::join_all(urls.iter().map(|u| get(&c, u))).await;
    assert!(
        results
            .iter()
            .all(|g| g.status == StatusCode::OK && g.version == Version::HTTP_2)
    );
}

#[tokio::test]
async fn websocket_echo_through_the_gateway() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let (mut ws, resp) = websocket(&ca, gw.https, "/service-cloud/ws").await;
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "second message", "日本語"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echoed, Message::text(text));
    }
    ws.close(None).await.unwrap();
    let r = up.last();
    assert_eq!(r.uri, "/service-cloud/ws");
    assert_eq!(r.headers["upgrade"], "websocket");
    assert_eq!(r.headers["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test]
async fn admin_endpoints_live_only_on_the_admin_listener() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    assert_eq!(
        admin_get(&gw, "/healthz").await,
        (StatusCode::OK, "ok\n".into())
    );
    assert_eq!(
        admin_get(&gw, "/readyz").await,
        (StatusCode::OK, "ready\n".into())
    );
    let c = client(&ca, false);
    get(&c, &gw.url("/service-cloud/x")).await;
    let (status, metrics) = admin_get(&gw, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        r#"cec_gateway_requests_total{route="/service-cloud/",status="2xx"} 1"#,
        r#"cec_gateway_request_duration_seconds_count{route="/service-cloud/"} 1"#,
        r#"cec_gateway_open_connections{listener="https"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    assert_eq!(
        get(&c, &gw.url("/metrics")).await.status,
        StatusCode::NOT_FOUND,
        "not on the public listener"
    );
    assert_eq!(admin_get(&gw, "/nope").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn plain_http_redirects_to_https_except_healthz() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = base_config(&up.url()).replace(
        "[tls]",
        "http_listen = \"127.0.0.1:0\"\nhttp_redirect = true\n\n[tls]",
    );
    let gw = Gateway::start(&ca, &cfg).await;
    let plain = gw.http.unwrap();
    let ask = |host: &'static str, path: &'static str| async move {
        let mut tcp = tokio::net::TcpStream::connect(plain).await.unwrap();
        tcp.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        out
    };
    let resp = ask("127.0.0.1:8080", "/service-cloud/x?a=1").await;
    assert!(resp.starts_with("HTTP/1.1 308"), "{resp}");
    assert!(
        resp.contains(&format!(
            "location: https://127.0.0.1:{}/service-cloud/x?a=1",
            gw.https.port()
        )),
        "{resp}"
    );
    // A Host that is not one of server.hostnames is not echoed into the redirect.
    let resp = ask("evil.example", "/x").await;
    assert!(
        resp.contains(&format!(
            "location: https://localhost:{}/x",
            gw.https.port()
        )),
        "{resp}"
    );
    let resp = ask("localhost", "/healthz").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = base_config(&up.url()).replace(
        "header_read_timeout = \"2s\"",
        "header_read_timeout = \"300ms\"",
    );
    let gw = Gateway::start(&ca, &cfg).await;
    let tcp = tokio::net::TcpStream::connect(gw.https).await.unwrap();
    let connector = tls_connector(&ca);
    let mut tls = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /service-cloud/x HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the gateway closed the connection within the header deadline"
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn a_tls_handshake_that_never_starts_is_cut_off() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = base_config(&up.url()).replace("[tls]", "tls_handshake_timeout = \"300ms\"\n\n[tls]");
    let gw = Gateway::start(&ca, &cfg).await;
    let mut tcp = tokio::net::TcpStream::connect(gw.https).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("closed within the handshake deadline");
    assert!(matches!(n, Ok(0) | Err(_)));
}

#[tokio::test]
async fn max_connections_holds_new_connections_until_one_closes() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = base_config(&up.url()).replace("[tls]", "max_connections = 1\n\n[tls]");
    let gw = Gateway::start(&ca, &cfg).await;
    let connector = tls_connector(&ca);
    let first = connector
        .connect(
            "localhost".try_into().unwrap(),
            tokio::net::TcpStream::connect(gw.https).await.unwrap(),
        )
        .await
        .unwrap();
    let second = connector.connect(
        "localhost".try_into().unwrap(),
        tokio::net::TcpStream::connect(gw.https).await.unwrap(),
    );
    tokio::pin!(second);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut second)
            .await
            .is_err(),
        "a second connection was served beyond max_connections"
    );
    drop(first);
    let second = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("served once the first closed");
    assert!(second.is_ok());
}

#[tokio::test]
async fn self_signed_pair_is_generated_for_the_hostnames() {
    let ca = test_ca();
    let up = MockUpstream::ok(&ca).await;
    let cfg = base_config(&up.url()).replace(
        "cert = \"@DIR@/gw.crt\"\nkey = \"@DIR@/gw.key\"",
        "cert = \"@DIR@/new/self.crt\"\nkey = \"@DIR@/new/self.key\"\nself_signed = true",
    );
    let gw = Gateway::start(&ca, &cfg).await;
    // run() generates the pair before serving; wait for the port to answer a handshake.
    let cfg = trusting_written_cert(&gw.dir.0.join("new/self.crt")).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(gw.dir.0.join("new/self.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    for name in ["localhost", "127.0.0.1"] {
        let tcp = tokio::net::TcpStream::connect(gw.https).await.unwrap();
        let server_name = rustls_pki_types::ServerName::try_from(name)
            .unwrap()
            .to_owned();
        connector
            .connect(server_name, tcp)
            .await
            .unwrap_or_else(|e| panic!("certificate valid for {name}: {e}"));
    }
}

#[tokio::test]
async fn graceful_shutdown_lets_a_request_in_flight_finish() {
    let ca = test_ca();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let entered = Arc::new(std::sync::Mutex::new(Some(entered_tx)));
    let up = MockUpstream::start(&ca, move |_| {
        let entered = entered.lock().unwrap().take();
        async move {
            if let Some(tx) = entered {
                let _ = tx.send(());
            }
            tokio::time::sleep(Duration::from_millis(600)).await;
            Response::new(body("finished"))
        }
    })
    .await;
    let mut gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let c = client(&ca, false);
    let url = gw.url("/service-cloud/slow");
    let in_flight = tokio::spawn(async move { get(&c, &url).await });
    entered_rx.await.unwrap();
    let run = gw.shutdown();
    let got = in_flight.await.unwrap();
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.text(), "finished");
    let result = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("run() returned after draining")
        .unwrap();
    assert!(result.is_ok());
    // No longer accepting.
    assert!(tokio::net::TcpStream::connect(gw.https).await.is_err());
}
