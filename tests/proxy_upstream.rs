//! Upstream failures and streaming through the real server: a closed port is a 502, an
//! untrusted certificate a 502, a slow upstream a 504, every allowed connection busy a 503,
//! each with a JSON body; response and request bodies stream both ways.

use crate::support;

use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use support::*;

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
    let (_, metrics) = admin_get(&gw, "/metrics").await;
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
            let (tx, streamed) = streamed_body(4);
            tokio::spawn(async move {
                assert!(tx.send("first chunk;").await);
                if let Some(r) = release {
                    let _ = r.await;
                }
                assert!(tx.send("second chunk").await);
            });
            Response::new(streamed)
        }
    })
    .await;
    let gw = Gateway::start(&ca, &base_config(&up.url())).await;
    let mut b = open_stream(&client(&ca, false), &gw.url("/service-cloud/stream")).await;
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
    let (tx, streamed) = streamed_body(2);
    tokio::spawn(async move {
        for _ in 0..16 {
            assert!(tx.send(vec![b'x'; 64 * 1024]).await);
        }
    });
    let req = Request::post(gw.url("/service-cloud/upload"))
        .body(streamed)
        .unwrap();
    let got = send(&client(&ca, false), req).await;
    assert_eq!(got.text(), "got 1048576 bytes");
    assert_eq!(up.last().headers["transfer-encoding"], "chunked");
}

#[tokio::test]
async fn beyond_max_connections_a_request_waits_for_one_then_gets_503() {
    let ca = test_ca();
    let up = MockUpstream::start(&ca, |r| async move {
        let wait = if r.uri.ends_with("/slow") { 3_000 } else { 300 };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        Response::new(body("ok"))
    })
    .await;
    // One worker, so that its cap is the whole gateway's.
    let cfg = base_config(&up.url())
        .replace("[tls]", "workers = 1\n\n[tls]")
        .replace(
            "response_timeout = \"2s\"",
            "response_timeout = \"5s\"\nmax_connections = 2",
        );
    let gw = Gateway::start(&ca, &cfg).await;
    // One HTTP/2 client connection carries all of them at once.
    let c = client(&ca, true);
    let url = gw.url("/service-cloud/fast");
    let fast = (0..6).map(|_| get(&c, &url));
    for got in futures_util::future::join_all(fast).await {
        assert_eq!((got.status, got.text()), (StatusCode::OK, "ok"));
    }
    assert_eq!(
        up.accepted.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "six requests waited for two connections"
    );

    // Two slow requests take both; a third waits connect_timeout (1s), then 503.
    let slow = gw.url("/service-cloud/slow");
    let started = tokio::time::Instant::now();
    let (a, b, third) = tokio::join!(get(&c, &slow), get(&c, &slow), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        get(&c, &slow).await
    });
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(third.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        third.json()["error"],
        "the upstream is busy: no free connection in time"
    );
    assert!(started.elapsed() >= Duration::from_millis(1_100));
    assert_eq!(up.accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    let (_, metrics) = admin_get(&gw, "/metrics").await;
    for line in [
        r#"cec_gateway_upstream_errors_total{upstream="cec",kind="saturated"} 1"#,
        r#"cec_gateway_upstream_connections{upstream="cec"} 2"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
}

/// An HTTPS upstream that answers every request head it reads with `answer`, byte for byte;
/// (connections accepted, request heads read).
async fn scripted_upstream(
    ca: &DemoCa,
    answer: &'static [u8],
) -> (String, std::sync::Arc<std::sync::Mutex<(usize, usize)>>) {
    scripted_upstream_closing(ca, answer, usize::MAX).await
}

/// [`scripted_upstream`] that answers `per_connection` requests on a connection and closes it,
/// without a word, on reading the next head (a keep-alive connection it has just timed out).
async fn scripted_upstream_closing(
    ca: &DemoCa,
    answer: &'static [u8],
    per_connection: usize,
) -> (String, std::sync::Arc<std::sync::Mutex<(usize, usize)>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let tls = ca.server_config(LOCAL_NAMES, &[b"http/1.1"]).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let seen = std::sync::Arc::new(std::sync::Mutex::new((0, 0)));
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counts.lock().unwrap().0 += 1;
            let (acceptor, counts) = (acceptor.clone(), counts.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let (mut got, mut answered) = (Vec::new(), 0);
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = tls.read(&mut buf).await {
                    got.extend_from_slice(&buf[..n]);
                    while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        got.drain(..end + 4);
                        counts.lock().unwrap().1 += 1;
                        if answered == per_connection {
                            return;
                        }
                        answered += 1;
                        if tls.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_response_with_both_content_length_and_chunked_is_a_502_and_its_connection_dropped() {
    let ca = test_ca();
    // Content-Length says 5, the chunks carry 11: a parser believing the length would take
    // " world" as the start of the next response.
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
                   b\r\nhello world\r\n0\r\n\r\n";
    let (url, seen) = scripted_upstream(&ca, answer).await;
    let gw = Gateway::start(&ca, &base_config(&url)).await;
    let c = client(&ca, false);
    for _ in 0..2 {
        let got = get(&c, &gw.url("/service-cloud/x")).await;
        assert_eq!(got.status, StatusCode::BAD_GATEWAY);
        assert_eq!(
            got.json()["error"],
            "the upstream's response has both Content-Length and Transfer-Encoding"
        );
        assert!(
            !got.text().contains("hello"),
            "nothing of the body: {}",
            got.text()
        );
    }
    let (connections, requests) = *seen.lock().unwrap();
    assert_eq!(requests, 2);
    assert_eq!(
        connections, 2,
        "the connection of a conflicting answer is never reused"
    );

    // The same upstream answering correctly reuses its connection: the check above can fail.
    let (url, seen) =
        scripted_upstream(&ca, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let gw = Gateway::start(
        &ca,
        &base_config(&url).replace("[tls]", "workers = 1\n\n[tls]"),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(get(&c, &gw.url("/service-cloud/x")).await.text(), "ok");
    }
    assert_eq!(*seen.lock().unwrap(), (1, 2));
}

#[tokio::test]
async fn a_pooled_connection_closed_before_the_answer_is_retried_once_for_a_get_only() {
    let ca = test_ca();
    let (url, seen) =
        scripted_upstream_closing(&ca, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1).await;
    let cfg = base_config(&url).replace("[tls]", "workers = 1\n\n[tls]");
    let gw = Gateway::start(&ca, &cfg).await;
    let c = client(&ca, false);
    for _ in 0..3 {
        assert_eq!(get(&c, &gw.url("/service-cloud/x")).await.text(), "ok");
    }
    // Each second head on a connection was dropped unanswered and sent again on a new one.
    assert_eq!(*seen.lock().unwrap(), (3, 5));

    // A POST with a body is never sent twice: on the third connection's second head the
    // client gets the 502; the next POST goes on a new connection.
    let url = gw.url("/service-cloud/form");
    let got = post(&c, &url, "a=1").await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY, "{}", got.text());
    assert_eq!(*seen.lock().unwrap(), (3, 6));
    assert_eq!(post(&c, &url, "a=2").await.status, StatusCode::OK);
    assert_eq!(*seen.lock().unwrap(), (4, 7));
}
