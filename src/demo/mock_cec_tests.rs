//! The mock CEC's handler, driven directly with constructed requests, plus one round trip over
//! real TLS that trusts the per-run demo CA.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use time::OffsetDateTime;
use time::macros::format_description;

use super::*;
use crate::demo::pki::{DemoCa, LOCAL_NAMES};
use crate::demo::serve::Body;
use crate::secret::SecretKey;
use crate::tls::ALPN_H2_HTTP11;

const CHANNEL: &str = "817854979183314945";
const SECRET: &str = "abcDEF123456";

fn mock() -> MockCec {
    let key = SecretKey::signing(SECRET).expect("test secret is valid");
    MockCec::new(HashMap::from([(CHANNEL.to_owned(), key)]))
}

fn stamp(at: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.format(&format).expect("a UTC time formats")
}

/// A `thirdUserData` body as the gateway would forward it, signed with `secret` at `at`.
fn signed_body(name: &str, secret: &str, at: OffsetDateTime) -> String {
    let fields = verify::SignedFields {
        third_user_name: name,
        third_user_id: "demo-user-0001",
        tenant_space_id: "202007159031",
        channel_config_id: CHANNEL,
    };
    let auth = verify::authorization(
        secret.as_bytes(),
        &stamp(at),
        "POST",
        CLIENT_JS_PATH,
        &fields,
    );
    serde_json::json!({
        "thirdUserName": name,
        "thirdUserId": "demo-user-0001",
        "tenantSpaceId": "202007159031",
        "channelConfigId": CHANNEL,
        "locale": "en",
        "timestamp": 1_724_056_200_000_u64,
        "thirdPartAuthorization": auth,
    })
    .to_string()
}

fn post(path_and_query: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::post(path_and_query)
        .header("host", "127.0.0.1:8443")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(Full::new(body.into()))
        .expect("test request is valid")
}

async fn text(response: Response<Body>) -> (StatusCode, String) {
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("Full never fails")
        .to_bytes();
    (
        status,
        String::from_utf8(bytes.to_vec()).expect("mock answers UTF-8"),
    )
}

const CLIENT_URL: &str =
    "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js?&t=1724056200000";

#[tokio::test]
async fn refuses_a_body_with_secret_key() {
    let mut body: serde_json::Value = serde_json::from_str(&signed_body(
        "Demo Guest",
        SECRET,
        OffsetDateTime::now_utc(),
    ))
    .expect("json");
    body["secretKey"] = "abcDEF123456".into();
    let (status, text) = text(mock().handle(post(CLIENT_URL, body.to_string())).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("secretKey"), "{text}");
}

#[tokio::test]
async fn refuses_bad_missing_and_stale_signatures() {
    let m = mock();
    let now = OffsetDateTime::now_utc();
    let wrong_key = signed_body("Demo Guest", "abcDEF123457", now);
    let stale = signed_body("Demo Guest", SECRET, now - time::Duration::minutes(10));
    let mut tampered: serde_json::Value =
        serde_json::from_str(&signed_body("Demo Guest", SECRET, now)).expect("json");
    tampered["thirdUserName"] = "Someone Else".into();
    let mut missing = tampered.clone();
    missing
        .as_object_mut()
        .expect("object")
        .remove("thirdPartAuthorization");
    for body in [wrong_key, stale, tampered.to_string(), missing.to_string()] {
        let response = m.handle(post(CLIENT_URL, body.clone())).await;
        assert!(response.headers().get(SET_COOKIE).is_none());
        let (status, text) = text(response).await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::UNAUTHORIZED, UNAUTHORIZED_BODY),
            "{body}"
        );
    }
}

#[tokio::test]
async fn refuses_what_is_not_thirduserdata() {
    let m = mock();
    for body in ["", "not json", "[1,2]", r#"{"thirdUserName":1}"#] {
        let (status, _) = text(m.handle(post(CLIENT_URL, body)).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
    }
    let huge = "x".repeat(MAX_CLIENT_BODY + 1);
    let (status, _) = text(m.handle(post(CLIENT_URL, huge)).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn answers_the_widget_and_a_cookie_for_the_addressed_host() {
    let m = mock();
    let body = signed_body("Demo </script> Guest", SECRET, OffsetDateTime::now_utc());
    let response = m.handle(post(CLIENT_URL, body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/javascript;charset=UTF-8"
    );
    let cookie = response.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    let token = cookie
        .strip_prefix("ccmessaging-token=")
        .and_then(|rest| rest.split(';').next())
        .expect("cookie starts with the token");
    assert_eq!(token.len(), 32);
    assert!(
        m.knows_token(token),
        "the cookie carries a token the mock issued"
    );
    assert!(
        cookie.ends_with("; Domain=127.0.0.1; Path=/; Secure; HttpOnly; SameSite=None"),
        "{cookie}"
    );
    let (_, script) = text(response).await;
    assert!(script.contains("cec-chat-bubble") && script.contains("window.CEC_CONTEXT_PATH"));
    assert!(
        script.contains(r#"var userName = "Demo \u003c/script\u003e Guest";"#),
        "name is escaped"
    );
    assert!(!script.contains("__CEC_"), "every placeholder is filled");
    assert_eq!(script, widget_js("Demo </script> Guest"));

    // The echo needs exactly that cookie.
    let echo = |cookie: Option<String>| {
        let mut req = post(ECHO_PATH, "hello, CEC");
        if let Some(c) = cookie {
            req.headers_mut()
                .insert(COOKIE, c.parse().expect("valid header"));
        }
        m.handle(req)
    };
    let (status, reply) =
        text(echo(Some(format!("a=b; ccmessaging-token={token}; c=d"))).await).await;
    assert_eq!(
        (status, reply.as_str()),
        (StatusCode::OK, r#"{"reply":"echo: hello, CEC"}"#)
    );
    let (status, _) = text(echo(None).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = text(
        echo(Some(
            "ccmessaging-token=0123456789abcdef0123456789abcdef".into(),
        ))
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn serves_static_scripts_and_404s_the_rest() {
    let m = mock();
    let get = |path: &str| {
        Request::get(path)
            .body(Full::new(Bytes::new()))
            .expect("valid request")
    };
    for path in [COBROWSE_PATH, COBROWSE_COMMON_PATH, TOKEN_LOADER_PATH] {
        let response = m.handle(get(path)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/javascript;charset=UTF-8"
        );
    }
    let (status, _) = text(m.handle(post(TOKEN_LOADER_PATH, "{}")).await).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        CLIENT_JS_PATH,
        ECHO_PATH,
        "/",
        "/service-cloud/",
        "/service-cloudwebclient/chat_client/js/newThirdPartyClient.js",
    ] {
        assert_eq!(
            m.handle(get(path)).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[test]
fn host_and_cookie_parsing() {
    let headers = |pairs: &[(&str, &str)]| {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    };
    let plain: Uri = "/x".parse().expect("uri");
    let h2: Uri = "https://LocalHost:9/x".parse().expect("uri");
    assert_eq!(
        addressed_host(&h2, &HeaderMap::new()).as_deref(),
        Some("localhost")
    );
    assert_eq!(
        addressed_host(&plain, &headers(&[("host", "127.0.0.1:8443")])).as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        addressed_host(&plain, &headers(&[("host", "[::1]:8443")])).as_deref(),
        Some("::1")
    );
    assert_eq!(addressed_host(&plain, &headers(&[("host", "a;b")])), None);
    assert_eq!(addressed_host(&plain, &HeaderMap::new()), None);
    let h = headers(&[
        ("cookie", "a=1; ccmessaging-token=x"),
        ("cookie", "ccmessaging-token=y"),
    ]);
    assert_eq!(cookie_values(&h, TOKEN_COOKIE), ["x", "y"]);
}

/// The whole mock over real TLS: the per-run CA is all the client trusts.
#[tokio::test]
async fn serves_over_tls_trusted_by_the_demo_ca() {
    use hyper_util::rt::TokioIo;
    use rustls::pki_types::ServerName;

    let ca = DemoCa::generate().expect("CA");
    let tls = ca
        .server_config(LOCAL_NAMES, ALPN_H2_HTTP11)
        .expect("server TLS");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(Arc::new(mock()).serve(listener, tls, stop_rx));

    let client = ca.client_config(&[]).expect("client TLS");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("IP server name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .expect("handshake verifies against the demo CA");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("h1");
    tokio::spawn(conn);

    let body = signed_body("Demo Guest", SECRET, OffsetDateTime::now_utc());
    let req = Request::post(CLIENT_URL)
        .header("host", format!("127.0.0.1:{}", addr.port()))
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = sender.send_request(req).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[SET_COOKIE].to_str().expect("ascii");
    assert!(cookie.contains("; Domain=127.0.0.1;"), "{cookie}");

    stop_tx.send_replace(true);
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("the mock stops when told")
        .expect("the mock task does not panic");
}
