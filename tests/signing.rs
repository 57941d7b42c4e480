//! Server-side signing through the real server, in front of the demo's mock CEC
//! (`cec_gateway::demo::mock_cec`, behind a recording upstream): it verifies
//! `thirdPartAuthorization` with `cec_gateway::demo::verify`, written from the spec and sharing
//! no code with `src/sign`, answers 400 to a body that carries `secretKey`, 401 to a bad
//! signature, else the widget and `ccmessaging-token` with `Domain=` its own host.

use crate::support;

use std::sync::Arc;

use cec_gateway::demo::assets::TOKEN_LOADER_JS;
use cec_gateway::demo::mock_cec::{self, MockCec, widget_js};
use http::{Method, Request, StatusCode};
use support::*;
use time::OffsetDateTime;

const SECRET: &str = "Gw7secretKEY0123456789abcdefXYZ";
const CHANNEL: &str = "817854979183314945";
const TENANT: &str = "202007159031";
const SIGN_PATH: &str = "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";

/// The mock CEC knowing this channel's secret, and the upstream that records what it received.
async fn mock_cec(ca: &DemoCa) -> (MockUpstream, Arc<MockCec>) {
    cec_upstream(ca, CHANNEL, SECRET).await
}

fn config(up: &MockUpstream, extra: &str) -> String {
    base_config(&up.url())
        + &format!(
            r#"
[signing]
path = "{SIGN_PATH}"
max_body = "1KiB"
authorization_endpoint = "/webchat/authorizationService"

[[signing.channels]]
config_id = "{CHANNEL}"
tenant_space_id = "{TENANT}"
secret_key_env = "TEST_CEC_SECRET"
{extra}"#
        )
}

async fn start(ca: &DemoCa, up: &MockUpstream, extra: &str) -> Gateway {
    Gateway::start_with_env(ca, &config(up, extra), &[("TEST_CEC_SECRET", SECRET)]).await
}

fn page_body() -> String {
    // What the vendor sample page sends (its secretKey included) plus a forged signature.
    format!(
        r#"{{"thirdUserName":"Zoë \"the\" Guest 🙂 / 100%+","thirdUserId":"u-0001","tenantSpaceId":"{TENANT}","channelConfigId":"{CHANNEL}","locale":"en","timestamp":1724056200000,"mapService":"tencent","secretKey":"LEAKEDfromBROWSER","thirdPartAuthorization":"auth-v2/{CHANNEL}/2020-01-01T00:00:00.000Z/content-length;content-type/0000","extra":{{"nested":[1,2.50,"x"]}}}}"#
    )
}

fn form_post(url: String, b: impl Into<bytes::Bytes>) -> Request<TestBody> {
    Request::post(url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(body(b))
        .unwrap()
}

#[tokio::test]
async fn the_gateway_signs_strips_the_secret_and_keeps_everything_else() {
    let ca = test_ca();
    let (up, cec) = mock_cec(&ca).await;
    let gw = start(&ca, &up, "").await;
    let got = send(
        &client(&ca, false),
        form_post(
            gw.url(&format!("{SIGN_PATH}?&t=1724056200000")),
            page_body(),
        ),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.text(), widget_js("Zoë \"the\" Guest 🙂 / 100%+"));
    // The mock set the cookie for the host it was addressed as, the upstream's; the gateway
    // made it host-only.
    let r = up.last();
    let uri: http::Uri = r.uri.parse().unwrap();
    assert_eq!(
        mock_cec::addressed_host(&uri, &r.headers).as_deref(),
        Some("localhost")
    );
    let cookie = got.headers["set-cookie"].to_str().unwrap();
    let (token, attributes) = cookie
        .strip_prefix("ccmessaging-token=")
        .and_then(|rest| rest.split_once(';'))
        .unwrap_or_else(|| panic!("{cookie}"));
    assert_eq!(
        attributes, " Path=/; Secure; HttpOnly; SameSite=None",
        "{cookie}"
    );
    assert!(cec.knows_token(token), "{cookie}");

    assert_eq!(
        r.uri,
        format!("{SIGN_PATH}?&t=1724056200000"),
        "the query is kept"
    );
    assert_eq!(
        r.headers["content-type"], "application/x-www-form-urlencoded; charset=UTF-8",
        "the client's content type is kept"
    );
    assert_eq!(
        r.headers["content-length"],
        r.body.len().to_string().as_str()
    );
    let sent = std::str::from_utf8(&r.body).unwrap();
    assert!(
        !sent.contains("secretKey") && !sent.contains("LEAKED"),
        "{sent}"
    );
    assert!(
        !sent.contains("2020-01-01"),
        "the forged signature was replaced: {sent}"
    );
    let json: serde_json::Value = serde_json::from_str(sent).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "thirdUserName",
            "thirdUserId",
            "tenantSpaceId",
            "channelConfigId",
            "locale",
            "timestamp",
            "mapService",
            "extra",
            "thirdPartAuthorization"
        ]
    );
    assert!(
        sent.contains(r#""extra":{"nested":[1,2.50,"x"]}"#),
        "other values byte for byte: {sent}"
    );
    assert_eq!(json["thirdUserName"], "Zoë \"the\" Guest 🙂 / 100%+");
}

#[tokio::test]
async fn every_refusal_has_its_status_and_reaches_no_upstream() {
    let ca = test_ca();
    let (up, _cec) = mock_cec(&ca).await;
    let gw = start(&ca, &up, "").await;
    let c = client(&ca, false);
    let valid = page_body();
    let cases: Vec<(String, StatusCode, &str, &str)> = vec![
        (
            "x".repeat(1025),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
            "too_large",
        ),
        (
            "not json".into(),
            StatusCode::BAD_REQUEST,
            "JSON",
            "bad_json",
        ),
        (
            "[1,2]".into(),
            StatusCode::BAD_REQUEST,
            "object",
            "bad_json",
        ),
        (
            valid.replace(r#""thirdUserId":"u-0001","#, ""),
            StatusCode::BAD_REQUEST,
            "thirdUserId",
            "missing_field",
        ),
        (
            valid.replace(r#""u-0001""#, "42"),
            StatusCode::BAD_REQUEST,
            "thirdUserId",
            "missing_field",
        ),
        (
            valid.replace(CHANNEL, "999"),
            StatusCode::FORBIDDEN,
            "channelConfigId",
            "unknown_channel",
        ),
        (
            valid.replace(TENANT, "111111"),
            StatusCode::FORBIDDEN,
            "tenantSpaceId",
            "tenant_mismatch",
        ),
        (
            format!("{{\"a\":1,\"a\":2,{}", &valid[1..]),
            StatusCode::BAD_REQUEST,
            "a",
            "bad_json",
        ),
    ];
    for (b, status, mentions, _) in &cases {
        let got = send(&c, form_post(gw.url(SIGN_PATH), b.clone())).await;
        assert_eq!(got.status, *status, "{b:.60}: {}", got.text());
        let j = got.json();
        assert!(j["error"].as_str().unwrap().contains(mentions), "{j}");
        assert_eq!(
            j["request_id"],
            got.headers["x-request-id"].to_str().unwrap()
        );
        assert!(!got.text().contains(SECRET));
    }
    assert!(
        up.requests().is_empty(),
        "the upstream saw a refused request"
    );
    let (_, metrics) = admin_get(&gw, "/metrics").await;
    for reason in [
        "too_large",
        "bad_json",
        "missing_field",
        "unknown_channel",
        "tenant_mismatch",
    ] {
        let n = cases.iter().filter(|c| c.3 == reason).count();
        let line = format!("cec_gateway_signing_refused_total{{reason=\"{reason}\"}} {n}");
        assert!(metrics.contains(&line), "missing {line}\n{metrics}");
    }
    assert!(!metrics.contains(SECRET));
}

#[tokio::test]
async fn a_body_too_large_without_content_length_is_refused_while_streaming() {
    let ca = test_ca();
    let (up, _cec) = mock_cec(&ca).await;
    let gw = start(&ca, &up, "").await;
    let (tx, streamed) = streamed_body(4);
    tokio::spawn(async move {
        for _ in 0..4 {
            if !tx.send(vec![b' '; 512]).await {
                break;
            }
        }
    });
    let got = send(
        &client(&ca, false),
        Request::post(gw.url(SIGN_PATH)).body(streamed).unwrap(),
    )
    .await;
    assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn the_signature_covers_the_upstream_path_after_strip_prefix() {
    let ca = test_ca();
    let (up, _cec) = mock_cec(&ca).await;
    let extra = "\n[[routes]]\nprefix = \"/chat/\"\nupstream = \"cec\"\nstrip_prefix = true\n";
    let gw = start(&ca, &up, extra).await;
    // /chat/service-cloud/... reaches the upstream as /service-cloud/...: that is what is signed.
    let got = send(
        &client(&ca, false),
        form_post(gw.url(&format!("/chat{SIGN_PATH}?&t=5")), page_body()),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(up.last().uri, format!("{SIGN_PATH}?&t=5"));
}

#[tokio::test]
async fn http2_clients_are_signed_too() {
    let ca = test_ca();
    let (up, _cec) = mock_cec(&ca).await;
    let gw = start(&ca, &up, "").await;
    let got = send(
        &client(&ca, true),
        form_post(gw.url(SIGN_PATH), page_body()),
    )
    .await;
    assert_eq!(got.version, http::Version::HTTP_2);
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    let (_, metrics) = admin_get(&gw, "/metrics").await;
    assert!(
        metrics.contains(&format!(
            "cec_gateway_signatures_issued_total{{channel=\"{CHANNEL}\"}} 1"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn other_methods_and_paths_pass_untouched() {
    let ca = test_ca();
    let (up, _cec) = mock_cec(&ca).await;
    let gw = start(&ca, &up, "").await;
    let c = client(&ca, false);
    // The mock CEC's own answers, not the gateway's: a GET is not signed.
    let got = get(&c, &gw.url(SIGN_PATH)).await;
    assert_eq!(
        (got.status, got.text()),
        (StatusCode::NOT_FOUND, "not found")
    );
    assert_eq!(up.last().method, Method::GET);
    assert!(up.last().body.is_empty());
    let other = mock_cec::TOKEN_LOADER_PATH;
    let got = send(&c, form_post(gw.url(other), "{\"secretKey\":\"x\"}")).await;
    assert_eq!((got.status, got.text()), (StatusCode::OK, TOKEN_LOADER_JS));
    assert_eq!(
        up.last().body,
        "{\"secretKey\":\"x\"}",
        "not the signing path: forwarded as sent"
    );
}

#[tokio::test]
async fn the_compatibility_endpoint_answers_the_signature_as_text() {
    let ca = test_ca();
    let (up, cec) = mock_cec(&ca).await;
    let gw = start(&ca, &up, "").await;
    let c = client(&ca, false);
    let b = format!(
        r#"{{"thirdUserName":"Tom","thirdUserId":"10010001","tenantSpaceId":"{TENANT}","channelConfigId":"{CHANNEL}","locale":"en","secretKey":"x"}}"#
    );
    let got = post(&c, &gw.url("/webchat/authorizationService"), b.clone()).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.headers["content-type"], "text/plain; charset=utf-8");
    let auth = got.text().to_owned();
    assert!(auth.starts_with(&format!("auth-v2/{CHANNEL}/")));
    let mut json: serde_json::Value = serde_json::from_str(&b).unwrap();
    json["thirdPartAuthorization"] = auth.clone().into();
    cec.verifier()
        .verify_body("POST", SIGN_PATH, &json, OffsetDateTime::now_utc())
        .expect("the CEC would accept it");
    assert!(up.requests().is_empty(), "answered by the gateway");

    let got = post(
        &c,
        &gw.url("/webchat/authorizationService"),
        b.replace(TENANT, "1"),
    )
    .await;
    assert_eq!(got.status, StatusCode::FORBIDDEN);
    let got = get(&c, &gw.url("/webchat/authorizationService")).await;
    assert_eq!(got.status, StatusCode::METHOD_NOT_ALLOWED);
}
