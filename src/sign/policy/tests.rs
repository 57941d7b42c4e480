//! Tables for the signing decision and the body rewrite.

use std::time::{Duration, SystemTime};

use http::StatusCode;

use super::*;
use crate::config::{ChannelConfig, SecretSource, SigningConfig};
use crate::secret::SecretKey;

const SECRET: &str = "abcDEF123456";
const PATH: &str = "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";
const VECTOR_AUTH: &str = "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/0f20c61518fc886c85e8b430e1dae7be079e2761e05979263e82e30772b788fd";
const VECTOR_BODY: &str = r#"{"thirdUserName":"Tom","thirdUserId":"10010001","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}"#;

/// 2024-08-19T08:30:00.000Z, the vector's timestamp.
fn vector_now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_724_056_200_000)
}

fn channel(id: &str, tenant: Option<&str>, secret: &str) -> ChannelConfig {
    ChannelConfig {
        config_id: id.to_owned(),
        tenant_space_id: tenant.map(str::to_owned),
        secret: SecretKey::signing(secret).unwrap(),
        secret_source: SecretSource::Env("CEC_SECRET".to_owned()),
    }
}

fn cfg() -> SigningConfig {
    SigningConfig {
        path: PATH.to_owned(),
        max_body: 1024,
        authorization_endpoint: Some("/cec/authorization".to_owned()),
        channels: vec![
            channel("817854979183314945", Some("202007159031"), SECRET),
            channel("42", None, "otherSecret9"),
        ],
    }
}

fn sign_at(body: &str) -> Result<SignedBody, Refusal> {
    sign_body(&cfg(), PATH, body.as_bytes(), vector_now())
}

fn injected(body: &str) -> String {
    String::from_utf8(sign_at(body).unwrap().body).unwrap()
}

#[test]
fn published_vector_through_the_policy() {
    let signed = sign_at(VECTOR_BODY).unwrap();
    assert_eq!(signed.authorization, VECTOR_AUTH);
    assert_eq!(signed.channel, "817854979183314945");
    let expected = format!(
        "{}{}\"}}",
        &VECTOR_BODY[..VECTOR_BODY.len() - 1],
        format_args!(",\"thirdPartAuthorization\":\"{VECTOR_AUTH}")
    );
    assert_eq!(String::from_utf8(signed.body).unwrap(), expected);
    // The compatibility endpoint signs for `cfg.path`, with the same result.
    assert_eq!(
        authorize(&cfg(), VECTOR_BODY.as_bytes(), vector_now())
            .unwrap()
            .authorization,
        VECTOR_AUTH
    );
}

#[test]
fn upstream_path_is_signed() {
    let other = sign_body(
        &cfg(),
        "/other/path.js",
        VECTOR_BODY.as_bytes(),
        vector_now(),
    )
    .unwrap();
    assert_ne!(other.authorization, VECTOR_AUTH);
    let mut moved = cfg();
    moved.path = "/other/path.js".to_owned();
    assert_eq!(
        authorize(&moved, VECTOR_BODY.as_bytes(), vector_now())
            .unwrap()
            .authorization,
        other.authorization
    );
}

#[test]
fn escaped_values_and_names_are_decoded() {
    // `T\u006fm` is "Tom" and `thirdUser\u0049d` is thirdUserId: same signature as the vector.
    let body = r#"{"thirdUserName":"T\u006fm","thirdUser\u0049d":"10010001","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}"#;
    let signed = sign_at(body).unwrap();
    assert_eq!(signed.authorization, VECTOR_AUTH);
    // The value's raw text is forwarded as sent; the name is re-encoded from its decoded form.
    let out = String::from_utf8(signed.body).unwrap();
    assert!(
        out.starts_with(r#"{"thirdUserName":"T\u006fm","thirdUserId":"10010001","#),
        "{out}"
    );
}

#[test]
fn order_and_raw_text_are_kept() {
    let body = "{ \"locale\" : \"zh\",\n  \"timestamp\": 1724056200000, \"price\": 1.50, \"big\": 1e400,\
                \"thirdUserName\":\"Tom\",\"nested\": {\"b\": [1, 2.0, {\"z\": null}], \"a\": \"\\u00e9\\/\"},\
                \"thirdUserId\":\"10010001\",\"list\":[ true ,false ],\"tenantSpaceId\":\"202007159031\",\
                \"channelConfigId\":\"817854979183314945\",\"mapService\":\"google\" }";
    let out = injected(body);
    assert_eq!(
        out,
        format!(
            "{{\"locale\":\"zh\",\"timestamp\":1724056200000,\"price\":1.50,\"big\":1e400,\"thirdUserName\":\"Tom\",\
             \"nested\":{{\"b\": [1, 2.0, {{\"z\": null}}], \"a\": \"\\u00e9\\/\"}},\"thirdUserId\":\"10010001\",\
             \"list\":[ true ,false ],\"tenantSpaceId\":\"202007159031\",\"channelConfigId\":\"817854979183314945\",\
             \"mapService\":\"google\",\"thirdPartAuthorization\":\"{VECTOR_AUTH}\"}}"
        )
    );
    // The output is JSON, and the signature does not depend on the other members.
    // (1e400 does not fit an f64, so read the members as raw text.)
    let members: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(&out).unwrap();
    assert_eq!(
        members["thirdPartAuthorization"].get(),
        format!("\"{VECTOR_AUTH}\"")
    );
    assert_eq!(members["big"].get(), "1e400");
}

#[test]
fn secret_key_is_stripped_and_forged_authorization_replaced() {
    for body in [
        r#"{"secretKey":"abcDEF123456","thirdUserName":"Tom","thirdUserId":"10010001","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}"#,
        r#"{"thirdUserName":"Tom","thirdUserId":"10010001","thirdPartAuthorization":"auth-v2/forged","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945","secretKey":"x"}"#,
        r#"{"thirdUserName":"Tom","secret\u004bey":"abcDEF123456","thirdUserId":"10010001","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945","thirdPart\u0041uthorization":{"forged":1}}"#,
    ] {
        let out = injected(body);
        assert_eq!(
            out,
            format!(
                "{},\"thirdPartAuthorization\":\"{VECTOR_AUTH}\"}}",
                &VECTOR_BODY[..VECTOR_BODY.len() - 1]
            ),
            "{body}"
        );
        assert!(
            !out.contains("abcDEF123456") && !out.contains("forged") && !out.contains("ecret"),
            "{out}"
        );
    }
}

#[test]
fn tenant_check_is_skipped_when_the_channel_has_none() {
    let body = r#"{"thirdUserName":"Tom","thirdUserId":"1","tenantSpaceId":"anything","channelConfigId":"42"}"#;
    let signed = sign_at(body).unwrap();
    assert_eq!(signed.channel, "42");
    assert!(
        signed
            .authorization
            .starts_with("auth-v2/42/2024-08-19T08:30:00.000Z/content-length;content-type/")
    );
}

/// (name, body, refusal, status, reason)
fn refusals() -> Vec<(&'static str, Vec<u8>, Refusal, StatusCode, &'static str)> {
    let mut long = VECTOR_BODY.as_bytes().to_vec();
    long.resize(1025, b' ');
    let fields = |name: &str, id: &str, tenant: &str, channel: &str| {
        format!(r#"{{"thirdUserName":{name},"thirdUserId":{id},"tenantSpaceId":{tenant},"channelConfigId":{channel}}}"#).into_bytes()
    };
    let s = |v: &str| format!("\"{v}\"");
    vec![
        ("too large", long, Refusal::TooLarge, StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        ("not utf-8", b"{\"thirdUserName\":\"\xff\"}".to_vec(), Refusal::Body(BodyError::NotUtf8), StatusCode::BAD_REQUEST, "bad_json"),
        ("not json", b"{\"thirdUserName\":".to_vec(), Refusal::Body(BodyError::NotJson), StatusCode::BAD_REQUEST, "bad_json"),
        ("trailing garbage", [VECTOR_BODY.as_bytes(), b"x"].concat(), Refusal::Body(BodyError::NotJson), StatusCode::BAD_REQUEST, "bad_json"),
        ("empty", Vec::new(), Refusal::Body(BodyError::NotJson), StatusCode::BAD_REQUEST, "bad_json"),
        ("array", b"[1,2]".to_vec(), Refusal::Body(BodyError::NotObject), StatusCode::BAD_REQUEST, "bad_json"),
        ("string", b"\"abcDEF123456\"".to_vec(), Refusal::Body(BodyError::NotObject), StatusCode::BAD_REQUEST, "bad_json"),
        ("null", b"null".to_vec(), Refusal::Body(BodyError::NotObject), StatusCode::BAD_REQUEST, "bad_json"),
        (
            "duplicate signed field",
            br#"{"thirdUserName":"Tom","thirdUserId":"1","thirdUserId":"2","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}"#.to_vec(),
            Refusal::Body(BodyError::DuplicateKey("thirdUserId".into())),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            "duplicate by escape",
            br#"{"locale":"zh","thirdUserName":"Tom","thirdUserId":"1","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945","l\u006fcale":"en"}"#.to_vec(),
            Refusal::Body(BodyError::DuplicateKey("locale".into())),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            "missing thirdUserName",
            br#"{"thirdUserId":"1","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}"#.to_vec(),
            Refusal::Body(BodyError::MissingField("thirdUserName")),
            StatusCode::BAD_REQUEST,
            "missing_field",
        ),
        (
            "missing channelConfigId",
            br#"{"thirdUserName":"Tom","thirdUserId":"1","tenantSpaceId":"202007159031"}"#.to_vec(),
            Refusal::Body(BodyError::MissingField("channelConfigId")),
            StatusCode::BAD_REQUEST,
            "missing_field",
        ),
        ("number id", fields(&s("Tom"), "10010001", &s("202007159031"), &s("817854979183314945")), Refusal::Body(BodyError::NotAString("thirdUserId")), StatusCode::BAD_REQUEST, "missing_field"),
        ("null tenant", fields(&s("Tom"), &s("1"), "null", &s("817854979183314945")), Refusal::Body(BodyError::NotAString("tenantSpaceId")), StatusCode::BAD_REQUEST, "missing_field"),
        ("object name", fields(r#"{"abcDEF123456":1}"#, &s("1"), &s("202007159031"), &s("817854979183314945")), Refusal::Body(BodyError::NotAString("thirdUserName")), StatusCode::BAD_REQUEST, "missing_field"),
        ("number channel", fields(&s("Tom"), &s("1"), &s("202007159031"), "817854979183314945"), Refusal::Body(BodyError::NotAString("channelConfigId")), StatusCode::BAD_REQUEST, "missing_field"),
        ("unknown channel", fields(&s("Tom"), &s("1"), &s("202007159031"), &s("abcDEF123456")), Refusal::UnknownChannel, StatusCode::FORBIDDEN, "unknown_channel"),
        ("tenant mismatch", fields(&s("Tom"), &s("1"), &s("abcDEF123456"), &s("817854979183314945")), Refusal::TenantMismatch, StatusCode::FORBIDDEN, "tenant_mismatch"),
    ]
}

#[test]
fn each_refusal_with_status_and_reason() {
    for (name, body, refusal, status, reason) in refusals() {
        let got = sign_body(&cfg(), PATH, &body, vector_now());
        assert_eq!(got.as_ref().err(), Some(&refusal), "{name}");
        assert_eq!(refusal.status(), status, "{name}");
        assert_eq!(refusal.reason(), reason, "{name}");
        // The compatibility endpoint refuses the same way.
        assert_eq!(
            authorize(&cfg(), &body, vector_now()).err(),
            Some(refusal),
            "{name}"
        );
    }
}

#[test]
fn the_size_cap_is_inclusive() {
    let mut body = VECTOR_BODY.as_bytes().to_vec();
    body.resize(1024, b' ');
    assert!(sign_body(&cfg(), PATH, &body, vector_now()).is_ok());
}

/// The secret appears in several refused bodies (as a value, a channel id, a tenant, a member
/// name); no message and no debug output may carry it, nor any other body value.
#[test]
fn refusals_never_show_the_secret_or_body_values() {
    for (name, body, _, _, _) in refusals() {
        let refusal = sign_body(&cfg(), PATH, &body, vector_now()).unwrap_err();
        for text in [
            refusal.to_string(),
            format!("{refusal:?}"),
            format!("{:?}", Err::<(), _>(&refusal)),
        ] {
            assert!(!text.contains(SECRET), "{name}: {text}");
            assert!(
                !text.contains("202007159031")
                    && !text.contains("817854979183314945")
                    && !text.contains("Tom"),
                "{name}: {text}"
            );
        }
    }
    assert!(!format!("{:?}", cfg()).contains(SECRET));
}

#[test]
fn messages_name_the_field() {
    let cases = [
        (Refusal::TooLarge, "request body is too large to sign"),
        (
            Refusal::Body(BodyError::NotUtf8),
            "request body is not UTF-8",
        ),
        (
            Refusal::Body(BodyError::NotJson),
            "request body is not valid JSON",
        ),
        (
            Refusal::Body(BodyError::NotObject),
            "request body is not a JSON object",
        ),
        (
            Refusal::Body(BodyError::DuplicateKey("thirdUserId".into())),
            "request body has the member \"thirdUserId\" more than once",
        ),
        (
            Refusal::Body(BodyError::MissingField("tenantSpaceId")),
            "request body lacks the field tenantSpaceId",
        ),
        (
            Refusal::Body(BodyError::NotAString("thirdUserName")),
            "field thirdUserName must be a JSON string",
        ),
        (
            Refusal::UnknownChannel,
            "channelConfigId is not a channel this gateway signs for",
        ),
        (
            Refusal::TenantMismatch,
            "tenantSpaceId does not belong to the channel",
        ),
    ];
    for (refusal, message) in cases {
        assert_eq!(refusal.to_string(), message);
    }
}

#[test]
fn a_long_duplicate_name_is_cut() {
    let name = "é".repeat(40); // 80 bytes
    let body = format!(r#"{{"{name}":1,"{name}":2}}"#);
    let Err(Refusal::Body(BodyError::DuplicateKey(shown))) = sign_at(&body) else {
        panic!("expected a duplicate key")
    };
    assert_eq!(shown, "é".repeat(32));
}
