//! Reload through the real server: the configuration file is rewritten and reloaded the way
//! SIGHUP does it (`Reloader::reload_with` re-reading the file and its secrets). New requests
//! and connections see the new state; what is in flight finishes on the old one; a broken file
//! is refused and the old state keeps serving.

use crate::support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use support::*;
use tokio_tungstenite::tungstenite::Message;

/// An upstream that answers `name` to everything, so a test sees which one served.
async fn named(ca: &DemoCa, name: &'static str) -> MockUpstream {
    MockUpstream::start(ca, move |_| async move { Response::new(body(name)) }).await
}

fn with_other_route(cec: &MockUpstream, other: &MockUpstream) -> String {
    base_config(&cec.url())
        + &upstream_table("other", &other.url())
        + "\n[[routes]]\nprefix = \"/other/\"\nupstream = \"other\"\n"
}

async fn metrics(gw: &Gateway) -> String {
    let (status, text) = admin_get(gw, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    text
}

#[tokio::test]
async fn a_route_added_is_served_on_the_next_request_and_a_route_removed_is_a_404() {
    let ca = test_ca();
    let (cec, other) = (named(&ca, "cec").await, named(&ca, "other").await);
    let gw = Gateway::start(&ca, &base_config(&cec.url())).await;
    // One client, so the next request may well go on the same keep-alive connection.
    let c = client(&ca, false);
    assert_eq!(
        get(&c, &gw.url("/other/x")).await.status,
        StatusCode::NOT_FOUND
    );

    gw.reload(&with_other_route(&cec, &other)).await.unwrap();
    let got = get(&c, &gw.url("/other/x")).await;
    assert_eq!((got.status, got.text()), (StatusCode::OK, "other"));
    assert_eq!(other.last().uri, "/other/x");
    assert_eq!(get(&c, &gw.url("/service-cloud/a")).await.text(), "cec");

    gw.reload(&base_config(&cec.url())).await.unwrap();
    let got = get(&c, &gw.url("/other/y")).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND, "{}", got.text());
    assert_eq!(
        other.requests().len(),
        1,
        "the removed route reached its upstream"
    );
    assert!(
        metrics(&gw)
            .await
            .contains("cec_gateway_config_reloads_total{result=\"ok\"} 2")
    );
}

#[tokio::test]
async fn a_broken_configuration_is_refused_and_the_old_one_keeps_serving() {
    let ca = test_ca();
    let (cec, other) = (named(&ca, "cec").await, named(&ca, "other").await);
    let gw = Gateway::start(&ca, &with_other_route(&cec, &other)).await;
    let c = client(&ca, false);
    let before = metrics(&gw).await;
    let loaded_at = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("cec_gateway_config_last_reload_success_timestamp_seconds "))
            .map(str::to_owned)
            .expect("the last-success gauge")
    };

    let syntax = with_other_route(&cec, &other).replace("[upstreams.other]", "[upstreams.other");
    let e = gw
        .reload(&syntax)
        .await
        .expect_err("a TOML syntax error")
        .to_string();
    assert!(
        e.contains("gateway.toml:") && e.contains("upstreams"),
        "{e}"
    );

    let missing =
        with_other_route(&cec, &other).replace("upstream = \"other\"", "upstream = \"gone\"");
    let e = gw
        .reload(&missing)
        .await
        .expect_err("a route to a missing upstream")
        .to_string();
    assert!(
        e.contains("routes[1].upstream") && e.contains("\"gone\""),
        "{e}"
    );

    for (path, answer) in [("/other/x", "other"), ("/service-cloud/x", "cec")] {
        let got = get(&c, &gw.url(path)).await;
        assert_eq!((got.status, got.text()), (StatusCode::OK, answer), "{path}");
    }
    let after = metrics(&gw).await;
    assert!(
        after.contains("cec_gateway_config_reloads_total{result=\"refused\"} 2"),
        "{after}"
    );
    assert!(
        after.contains("cec_gateway_config_reloads_total{result=\"ok\"} 0"),
        "{after}"
    );
    assert_eq!(
        loaded_at(&before),
        loaded_at(&after),
        "a refusal is no success"
    );
}

const CHANNEL: &str = "817854979183314945";
const SIGN_PATH: &str = "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";

fn signing_config(cec: &MockUpstream) -> String {
    base_config(&cec.url())
        + &format!(
            r#"
[signing]
path = "{SIGN_PATH}"

[[signing.channels]]
config_id = "{CHANNEL}"
secret_key_file = "@DIR@/channel.secret"
"#
        )
}

#[tokio::test]
async fn a_rotated_channel_secret_signs_the_next_request() {
    let ca = test_ca();
    let (old_secret, new_secret) = ("OldSecret0123456789abc", "NewSecret9876543210xyz");
    // The CEC already knows the new secret: the rotation on its side happened first.
    let (cec, _) = cec_upstream(&ca, CHANNEL, new_secret).await;
    let dir = TempDir::new("rotate");
    let secret_file = write(&dir.0, "channel.secret", old_secret);
    let config =
        signing_config(&cec).replace("@DIR@/channel.secret", secret_file.to_str().unwrap());
    let gw = Gateway::start(&ca, &config).await;
    let c = client(&ca, false);
    let page = format!(
        r#"{{"thirdUserName":"Tom","thirdUserId":"u1","tenantSpaceId":"t1","channelConfigId":"{CHANNEL}"}}"#
    );
    let got = post(&c, &gw.url(SIGN_PATH), page.clone()).await;
    assert_eq!(
        got.status,
        StatusCode::UNAUTHORIZED,
        "signed with the old secret"
    );

    std::fs::write(&secret_file, new_secret).unwrap();
    gw.reload(&config).await.unwrap();
    let got = post(&c, &gw.url(SIGN_PATH), page).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(cec.requests().len(), 2);
}

/// The leaf certificate a fresh TLS connection to `gw` is served.
async fn served_cert(ca: &DemoCa, gw: &Gateway) -> Vec<u8> {
    let tls = tls_to(ca, gw.https).await;
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn a_renewed_certificate_reaches_the_next_handshake_while_an_old_connection_keeps_working() {
    let ca = test_ca();
    let cec = named(&ca, "cec").await;
    let gw = Gateway::start(&ca, &base_config(&cec.url())).await;
    let old_cert = served_cert(&ca, &gw).await;

    // An HTTP/1.1 connection opened before the renewal, kept open across it.
    let tls = tls_to(&ca, gw.https).await;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = |path: &str| {
        Request::get(path)
            .header("host", "localhost")
            .body(body(""))
            .unwrap()
    };
    let first = sender
        .send_request(request("/service-cloud/1"))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    first.into_body().collect().await.unwrap();

    write_tls_files(&ca, &gw.dir);
    gw.reload(&base_config(&cec.url())).await.unwrap();
    let new_cert = served_cert(&ca, &gw).await;
    assert_ne!(
        old_cert, new_cert,
        "the next handshake gets the renewed certificate"
    );
    let text = metrics(&gw).await;
    let not_after: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("cec_gateway_tls_cert_not_after_timestamp_seconds "))
        .expect("the certificate expiry gauge")
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!(not_after > now.as_secs_f64(), "{not_after}");

    let again = sender
        .send_request(request("/service-cloud/2"))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let text = again.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "cec");
}

#[tokio::test]
async fn a_websocket_session_and_a_slow_stream_survive_twenty_reloads() {
    let ca = test_ca();
    let (release_tx, release_rx) = tokio::sync::watch::channel(0u32);
    let up = MockUpstream::start(&ca, move |_| {
        let mut release = release_rx.clone();
        async move {
            // One chunk now, then one each time the test says so, 21 in all.
            let (tx, streamed) = streamed_body(4);
            tokio::spawn(async move {
                assert!(tx.send("chunk 0;").await);
                for i in 1..=20 {
                    release.wait_for(|n| *n >= i).await.unwrap();
                    assert!(tx.send(format!("chunk {i};")).await);
                }
            });
            Response::new(streamed)
        }
    })
    .await;
    let config = base_config(&up.url());
    let gw = Gateway::start(&ca, &config).await;

    let (mut ws, _) = websocket(&ca, gw.https, "/service-cloud/ws").await;
    let mut stream = open_stream(&client(&ca, false), &gw.url("/service-cloud/stream")).await;
    let mut received = String::new();
    let mut next_chunk = async || {
        let frame = tokio::time::timeout(Duration::from_secs(5), stream.frame())
            .await
            .expect("a chunk in time")
            .expect("the stream goes on")
            .expect("no error");
        String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
    };
    received.push_str(&next_chunk().await);

    for i in 1..=20u32 {
        gw.reload(&config).await.unwrap();
        let text = format!("message {i}");
        ws.send(Message::text(text.clone())).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an echo in time")
            .expect("the tunnel is open")
            .expect("no error");
        assert_eq!(echoed, Message::text(text));
        release_tx.send_replace(i);
        received.push_str(&next_chunk().await);
    }
    let want: String = (0..=20).map(|i| format!("chunk {i};")).collect();
    assert_eq!(received, want);
    ws.close(None).await.unwrap();
    assert!(
        metrics(&gw)
            .await
            .contains("cec_gateway_config_reloads_total{result=\"ok\"} 20")
    );
}
