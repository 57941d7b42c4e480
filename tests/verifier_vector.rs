//! The auth-v2 verifier the mock CEC uses (`cec_gateway::demo::verify`, written from the spec
//! and sharing no code with `src/sign`): it must accept the published vector and reject every
//! kind of wrong signature, or it could not catch a wrong signer.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use cec_gateway::demo::verify::{
    Channels, Shape, SignedFields, Verifier, VerifyError, authorization,
};
use cec_gateway::secret::SecretKey;
use serde_json::{Value, json};
use time::OffsetDateTime;

const URI: &str = "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";
const CHANNEL: &str = "817854979183314945";
const SECRET: &str = "abcDEF123456";
const VECTOR: &str = "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/0f20c61518fc886c85e8b430e1dae7be079e2761e05979263e82e30772b788fd";
const WINDOW: Duration = Duration::from_secs(300);

/// 2024-08-19T08:30:00.000Z.
fn vector_instant() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_724_056_200_000)
}

fn vector_time() -> OffsetDateTime {
    vector_instant().into()
}

fn channels(secret: &str) -> Channels {
    HashMap::from([(CHANNEL.to_owned(), SecretKey::signing(secret).unwrap())])
}

fn verifier(secret: &str, window: Duration) -> Verifier {
    Verifier::new(channels(secret)).with_window(window)
}

fn tom() -> SignedFields<'static> {
    SignedFields {
        third_user_name: "Tom",
        third_user_id: "10010001",
        tenant_space_id: "202007159031",
        channel_config_id: CHANNEL,
    }
}

fn vector_body() -> Value {
    json!({
        "thirdUserName": "Tom",
        "thirdUserId": "10010001",
        "tenantSpaceId": "202007159031",
        "channelConfigId": CHANNEL,
        "locale": "zh",
        "timestamp": 1_724_056_200_000u64,
        "thirdPartAuthorization": VECTOR,
    })
}

fn with(mut body: Value, key: &str, value: &str) -> Value {
    body[key] = Value::from(value);
    body
}

/// The vector's body as received `at`, by a verifier with `SECRET` and `WINDOW`.
fn check_at(body: &Value, method: &str, uri: &str, at: OffsetDateTime) -> Result<(), VerifyError> {
    verifier(SECRET, WINDOW).verify_body(method, uri, body, at)
}

fn check(body: &Value) -> Result<(), VerifyError> {
    check_at(body, "POST", URI, vector_time())
}

fn check_auth(auth: &str) -> Result<(), VerifyError> {
    check(&with(vector_body(), "thirdPartAuthorization", auth))
}

#[test]
fn accepts_the_published_vector() {
    assert_eq!(check(&vector_body()), Ok(()));
    // Anywhere inside the window, on either side.
    for offset in [Duration::from_secs(240), Duration::from_secs(299), WINDOW] {
        for at in [vector_time() + offset, vector_time() - offset] {
            assert_eq!(check_at(&vector_body(), "POST", URI, at), Ok(()), "{at}");
        }
    }
    // The fields-level entry point agrees.
    assert_eq!(
        verifier(SECRET, WINDOW).verify("POST", URI, &tom(), VECTOR, vector_time()),
        Ok(())
    );
}

#[test]
fn authorization_reproduces_the_vectors() {
    let at = "2024-08-19T08:30:00.000Z";
    assert_eq!(
        authorization(SECRET.as_bytes(), at, "POST", URI, &tom()),
        VECTOR
    );
    // Cross-checked with Python: json.dumps(ensure_ascii=False, separators=(",", ":")),
    // urllib.parse.quote(safe="-._~"), hmac. Quote, backslash, slash, percent, plus, Chinese:
    let tricky = SignedFields {
        third_user_name: r#"Tom "Q" \ O/N 100% a+b"#,
        third_user_id: "张三",
        ..tom()
    };
    assert_eq!(
        authorization(SECRET.as_bytes(), at, "POST", URI, &tricky),
        "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/86da56fc30c6cbdfcaad8ef41b3f30aadd5bb2be9ed073ac7e2b6e85b5906617"
    );
    // Emoji and control characters (\n \t \u0001 DEL):
    let control = SignedFields {
        third_user_name: "😀 emoji",
        third_user_id: "line\nbreak\ttab\u{1}\u{7f}",
        ..tom()
    };
    assert_eq!(
        authorization(b"Zz9", "2000-01-01T00:00:00.001Z", "POST", URI, &control),
        "auth-v2/817854979183314945/2000-01-01T00:00:00.001Z/content-length;content-type/fbe30afd38d2f828b3fb87e622710b56f6bf6bf59532ad61f49fe19648a6db88"
    );
}

#[test]
fn rejects_a_modified_signature() {
    let flipped = format!("{}e", &VECTOR[..VECTOR.len() - 1]);
    assert_eq!(check_auth(&flipped), Err(VerifyError::Signature));
    // The timestamp is inside the signed prefix: moving it breaks the signature.
    let moved = VECTOR.replace("08:30:00.000Z", "08:31:00.000Z");
    assert_eq!(check_auth(&moved), Err(VerifyError::Signature));
    let upper = VECTOR.replace("0f20c6", "0F20C6");
    assert_eq!(
        check_auth(&upper),
        Err(VerifyError::Malformed(Shape::Signature))
    );
    let all_upper = format!(
        "{}{}",
        &VECTOR[..VECTOR.len() - 64],
        &VECTOR[VECTOR.len() - 64..].to_uppercase()
    );
    assert_eq!(
        check_auth(&all_upper),
        Err(VerifyError::Malformed(Shape::Signature))
    );
    let short = &VECTOR[..VECTOR.len() - 2];
    assert_eq!(
        check_auth(short),
        Err(VerifyError::Malformed(Shape::Signature))
    );
    let word = VECTOR.replace(&VECTOR[VECTOR.len() - 64..], "short");
    assert_eq!(
        check_auth(&word),
        Err(VerifyError::Malformed(Shape::Signature))
    );
}

#[test]
fn rejects_a_wrong_secret_or_an_unknown_channel() {
    assert_eq!(
        verifier("abcDEF123457", WINDOW).verify_body("POST", URI, &vector_body(), vector_time()),
        Err(VerifyError::Signature)
    );
    assert_eq!(
        Verifier::new(Channels::new()).verify_body("POST", URI, &vector_body(), vector_time()),
        Err(VerifyError::UnknownChannel(CHANNEL.into()))
    );
}

#[test]
fn rejects_changed_fields_method_or_uri() {
    for (key, value) in [
        ("thirdUserName", "Tim"),
        ("thirdUserId", "10010002"),
        ("tenantSpaceId", "202007159032"),
        ("tenantSpaceId", "1"),
    ] {
        assert_eq!(
            check(&with(vector_body(), key, value)),
            Err(VerifyError::Signature),
            "{key}"
        );
    }
    assert_eq!(
        check_at(&vector_body(), "PUT", URI, vector_time()),
        Err(VerifyError::Signature)
    );
    assert_eq!(
        check_at(
            &vector_body(),
            "POST",
            "/service-cloud/other.js",
            vector_time()
        ),
        Err(VerifyError::Signature)
    );
}

#[test]
fn rejects_a_wrong_channel() {
    // The body names another channel than the authorization.
    for other in ["817854979183314946", "1"] {
        assert_eq!(
            check(&with(vector_body(), "channelConfigId", other)),
            Err(VerifyError::ChannelMismatch {
                signed: CHANNEL.into(),
                body: other.into()
            })
        );
    }
    // Both renamed consistently: the signature no longer matches.
    let other_channel = "817854979183314946";
    let renamed = with(
        with(vector_body(), "channelConfigId", other_channel),
        "thirdPartAuthorization",
        &VECTOR.replace(CHANNEL, other_channel),
    );
    let both = Verifier::new(HashMap::from([
        (CHANNEL.to_owned(), SecretKey::signing(SECRET).unwrap()),
        (
            other_channel.to_owned(),
            SecretKey::signing(SECRET).unwrap(),
        ),
    ]));
    assert_eq!(
        both.verify_body("POST", URI, &renamed, vector_time()),
        Err(VerifyError::Signature)
    );
}

#[test]
fn rejects_a_timestamp_outside_the_window() {
    let just_out = WINDOW + Duration::from_millis(1);
    let six_min = Duration::from_secs(360);
    for (now, skew_ms) in [
        (vector_time() + just_out, 300_001),
        (vector_time() - just_out, -300_001),
        (vector_time() + six_min, 360_000),
        (vector_time() - six_min, -360_000),
    ] {
        assert_eq!(
            check_at(&vector_body(), "POST", URI, now),
            Err(VerifyError::Stale {
                timestamp: "2024-08-19T08:30:00.000Z".into(),
                skew_ms
            })
        );
    }
}

#[test]
fn rejects_malformed_authorizations_and_bodies() {
    for (auth, err) in [
        ("", Shape::Segments(1)),
        ("auth-v2", Shape::Segments(1)),
        (
            "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type",
            Shape::Segments(4),
        ),
        (
            &*VECTOR.replace("content-type/", "content-type/x/"),
            Shape::Segments(6),
        ),
        (
            &*VECTOR.replace("auth-v2", "auth-v1"),
            Shape::Algorithm("auth-v1".into()),
        ),
        (&*VECTOR.replace(CHANNEL, ""), Shape::EmptyChannel),
    ] {
        assert_eq!(check_auth(auth), Err(VerifyError::Malformed(err)), "{auth}");
    }
    for (auth, err) in [
        (
            VECTOR.replace("content-length;content-type", "content-type"),
            VerifyError::SignedHeaders("content-type".into()),
        ),
        (
            VECTOR.replace("08:30:00.000Z", "08:30:00Z"),
            VerifyError::Timestamp("2024-08-19T08:30:00Z".into()),
        ),
        (
            VECTOR.replace("2024-08-19T08:30:00.000Z", "2024-08-19 08:30:00Z"),
            VerifyError::Timestamp("2024-08-19 08:30:00Z".into()),
        ),
        (
            VECTOR.replace("2024-08-19", "2023-02-29"),
            VerifyError::Timestamp("2023-02-29T08:30:00.000Z".into()),
        ),
    ] {
        assert_eq!(check_auth(&auth), Err(err), "{auth}");
    }
    let mut no_auth = vector_body();
    no_auth
        .as_object_mut()
        .unwrap()
        .remove("thirdPartAuthorization");
    assert_eq!(
        check(&no_auth),
        Err(VerifyError::MissingField("thirdPartAuthorization"))
    );
    let mut number_id = vector_body();
    number_id["thirdUserId"] = json!(10010001);
    assert_eq!(
        check(&number_id),
        Err(VerifyError::MissingField("thirdUserId"))
    );
}

#[test]
fn timestamps_are_parsed_as_utc() {
    // A leap day and a time before the epoch, each accepted exactly at its own instant.
    let fields = SignedFields {
        third_user_name: "Tom",
        third_user_id: "1",
        tenant_space_id: "2",
        channel_config_id: "3",
    };
    let exact = Verifier::new(HashMap::from([(
        "3".to_owned(),
        SecretKey::signing(SECRET).unwrap(),
    )]))
    .with_window(Duration::ZERO);
    for (timestamp, millis_from_epoch) in [
        ("2000-02-29T23:59:59.999Z", 951_868_799_999i128),
        ("1969-12-31T23:59:59.999Z", -1),
    ] {
        let body = json!({
            "thirdUserName": "Tom", "thirdUserId": "1", "tenantSpaceId": "2", "channelConfigId": "3",
            "thirdPartAuthorization": authorization(SECRET.as_bytes(), timestamp, "POST", URI, &fields),
        });
        let at = OffsetDateTime::from_unix_timestamp_nanos(millis_from_epoch * 1_000_000).unwrap();
        assert_eq!(
            exact.verify_body("POST", URI, &body, at),
            Ok(()),
            "{timestamp}"
        );
        assert_eq!(
            exact.verify_body("POST", URI, &body, at + Duration::from_millis(1)),
            Err(VerifyError::Stale {
                timestamp: timestamp.into(),
                skew_ms: 1
            })
        );
    }
}

/// The gateway's signer and this verifier agree on bodies that exercise escaping and encoding
/// (the signer's own tables pin the exact bytes; this pins that both read the spec alike).
#[test]
fn accepts_what_the_gateway_signs() {
    use cec_gateway::config::{ChannelConfig, SecretSource, SigningConfig};

    let cfg = SigningConfig {
        path: URI.to_owned(),
        max_body: 64 << 10,
        authorization_endpoint: None,
        channels: vec![ChannelConfig {
            config_id: CHANNEL.to_owned(),
            tenant_space_id: None,
            secret: SecretKey::signing(SECRET).unwrap(),
            secret_source: SecretSource::Env("CEC_SECRET".to_owned()),
        }],
    };
    // JSON string contents as a browser might send them, escapes included.
    for name in [
        "Tom",
        r#"Tom \"Q\" \\ O/N 100% a+b"#,
        "张三 😀",
        r"line\nbreak\u0001\u007f",
        r"T\u006fm \/ \ud83d\ude00",
    ] {
        let body = format!(
            r#"{{"locale":"zh","thirdUserName":"{name}","thirdUserId":"é","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945","secretKey":"x"}}"#
        );
        let signed =
            cec_gateway::sign::sign_body(&cfg, URI, body.as_bytes(), vector_instant()).unwrap();
        let received: Value = serde_json::from_slice(&signed.body).unwrap();
        assert_eq!(received.get("secretKey"), None);
        assert_eq!(check(&received), Ok(()), "{name}");
    }
}
