//! The independent auth-v2 verifier the mock CEC uses: it must accept the published vector and
//! reject every kind of wrong signature, or it could not catch a wrong signer.

#[path = "support/verifier.rs"]
mod verifier;

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use verifier::{Claims, VerifyError, compute, verify};

const URI: &str = "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";
const SECRET: &str = "abcDEF123456";
const VECTOR: &str = "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/0f20c61518fc886c85e8b430e1dae7be079e2761e05979263e82e30772b788fd";
const WINDOW: Duration = Duration::from_secs(300);

/// 2024-08-19T08:30:00.000Z.
fn vector_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_724_056_200_000)
}

fn vector_body() -> Value {
    json!({
        "thirdUserName": "Tom",
        "thirdUserId": "10010001",
        "tenantSpaceId": "202007159031",
        "channelConfigId": "817854979183314945",
        "locale": "zh",
        "timestamp": 1_724_056_200_000u64,
        "thirdPartAuthorization": VECTOR,
    })
}

fn with(mut body: Value, key: &str, value: &str) -> Value {
    body[key] = Value::from(value);
    body
}

fn check(body: &Value) -> Result<(), VerifyError> {
    verify("POST", URI, body, SECRET, vector_time(), WINDOW)
}

#[test]
fn accepts_the_published_vector() {
    assert_eq!(check(&vector_body()), Ok(()));
    // Anywhere inside the window, on either side.
    for offset in [Duration::from_secs(299), WINDOW] {
        assert_eq!(
            verify(
                "POST",
                URI,
                &vector_body(),
                SECRET,
                vector_time() + offset,
                WINDOW
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                "POST",
                URI,
                &vector_body(),
                SECRET,
                vector_time() - offset,
                WINDOW
            ),
            Ok(())
        );
    }
}

#[test]
fn compute_reproduces_the_vectors() {
    let claims = Claims {
        third_user_name: "Tom",
        third_user_id: "10010001",
        tenant_space_id: "202007159031",
        channel_config_id: "817854979183314945",
    };
    assert_eq!(
        compute("POST", URI, &claims, SECRET, "2024-08-19T08:30:00.000Z"),
        VECTOR
    );
    // Cross-checked with Python: json.dumps(ensure_ascii=False, separators=(",", ":")),
    // urllib.parse.quote(safe="-._~"), hmac. Quote, backslash, slash, percent, plus, Chinese:
    let tricky = Claims {
        third_user_name: r#"Tom "Q" \ O/N 100% a+b"#,
        third_user_id: "张三",
        ..claims
    };
    assert_eq!(
        compute("POST", URI, &tricky, SECRET, "2024-08-19T08:30:00.000Z"),
        "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/86da56fc30c6cbdfcaad8ef41b3f30aadd5bb2be9ed073ac7e2b6e85b5906617"
    );
    // Emoji and control characters (\n \t \u0001 DEL):
    let control = Claims {
        third_user_name: "😀 emoji",
        third_user_id: "line\nbreak\ttab\u{1}\u{7f}",
        ..claims
    };
    assert_eq!(
        compute("POST", URI, &control, "Zz9", "2000-01-01T00:00:00.001Z"),
        "auth-v2/817854979183314945/2000-01-01T00:00:00.001Z/content-length;content-type/fbe30afd38d2f828b3fb87e622710b56f6bf6bf59532ad61f49fe19648a6db88"
    );
}

#[test]
fn rejects_a_modified_signature() {
    let flipped = format!("{}e", &VECTOR[..VECTOR.len() - 1]);
    assert_eq!(
        check(&with(vector_body(), "thirdPartAuthorization", &flipped)),
        Err(VerifyError::BadSignature)
    );
    let upper = VECTOR.replace("0f20c6", "0F20C6");
    assert_eq!(
        check(&with(vector_body(), "thirdPartAuthorization", &upper)),
        Err(VerifyError::Malformed("signature".into()))
    );
    let short = &VECTOR[..VECTOR.len() - 2];
    assert_eq!(
        check(&with(vector_body(), "thirdPartAuthorization", short)),
        Err(VerifyError::Malformed("signature".into()))
    );
}

#[test]
fn rejects_a_wrong_secret() {
    assert_eq!(
        verify(
            "POST",
            URI,
            &vector_body(),
            "abcDEF123457",
            vector_time(),
            WINDOW
        ),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn rejects_changed_fields_method_or_uri() {
    for (key, value) in [
        ("thirdUserName", "Tim"),
        ("thirdUserId", "10010002"),
        ("tenantSpaceId", "202007159032"),
    ] {
        assert_eq!(
            check(&with(vector_body(), key, value)),
            Err(VerifyError::BadSignature),
            "{key}"
        );
    }
    assert_eq!(
        verify("PUT", URI, &vector_body(), SECRET, vector_time(), WINDOW),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        verify(
            "POST",
            "/service-cloud/other.js",
            &vector_body(),
            SECRET,
            vector_time(),
            WINDOW
        ),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn rejects_a_wrong_channel() {
    // The body names another channel than the authorization.
    assert_eq!(
        check(&with(
            vector_body(),
            "channelConfigId",
            "817854979183314946"
        )),
        Err(VerifyError::ChannelMismatch {
            auth: "817854979183314945".into(),
            body: "817854979183314946".into()
        })
    );
    // Both renamed consistently: the signature no longer matches.
    let renamed = with(
        with(vector_body(), "channelConfigId", "817854979183314946"),
        "thirdPartAuthorization",
        &VECTOR.replace("817854979183314945", "817854979183314946"),
    );
    assert_eq!(check(&renamed), Err(VerifyError::BadSignature));
}

#[test]
fn rejects_a_timestamp_outside_the_window() {
    let just_out = WINDOW + Duration::from_millis(1);
    for now in [vector_time() + just_out, vector_time() - just_out] {
        assert_eq!(
            verify("POST", URI, &vector_body(), SECRET, now, WINDOW),
            Err(VerifyError::OutsideWindow(
                "2024-08-19T08:30:00.000Z".into()
            ))
        );
    }
}

#[test]
fn rejects_malformed_authorizations_and_bodies() {
    for (auth, err) in [
        (
            "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type",
            VerifyError::Malformed("4 segments".into()),
        ),
        (
            &*VECTOR.replace("auth-v2", "auth-v1"),
            VerifyError::Malformed("version \"auth-v1\"".into()),
        ),
        (
            &*VECTOR.replace("content-length;content-type", "content-type"),
            VerifyError::SignedHeaders("content-type".into()),
        ),
        (
            &*VECTOR.replace("08:30:00.000Z", "08:30:00Z"),
            VerifyError::BadTimestamp("2024-08-19T08:30:00Z".into()),
        ),
        (
            &*VECTOR.replace("2024-08-19", "2023-02-29"),
            VerifyError::BadTimestamp("2023-02-29T08:30:00.000Z".into()),
        ),
    ] {
        assert_eq!(
            check(&with(vector_body(), "thirdPartAuthorization", auth)),
            Err(err),
            "{auth}"
        );
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
    let claims = Claims {
        third_user_name: "Tom",
        third_user_id: "1",
        tenant_space_id: "2",
        channel_config_id: "3",
    };
    for (timestamp, millis_from_epoch) in [
        ("2000-02-29T23:59:59.999Z", 951_868_799_999i64),
        ("1969-12-31T23:59:59.999Z", -1),
    ] {
        let body = json!({
            "thirdUserName": "Tom", "thirdUserId": "1", "tenantSpaceId": "2", "channelConfigId": "3",
            "thirdPartAuthorization": compute("POST", URI, &claims, SECRET, timestamp),
        });
        let at = if millis_from_epoch >= 0 {
            SystemTime::UNIX_EPOCH + Duration::from_millis(millis_from_epoch as u64)
        } else {
            SystemTime::UNIX_EPOCH - Duration::from_millis(millis_from_epoch.unsigned_abs())
        };
        assert_eq!(
            verify("POST", URI, &body, SECRET, at, Duration::ZERO),
            Ok(()),
            "{timestamp}"
        );
        assert_eq!(
            verify(
                "POST",
                URI,
                &body,
                SECRET,
                at + Duration::from_millis(1),
                Duration::ZERO
            ),
            Err(VerifyError::OutsideWindow(timestamp.into()))
        );
    }
}

/// The gateway's signer and this verifier agree on bodies that exercise escaping and encoding
/// (the signer's own tables pin the exact bytes; this pins that both read the spec alike).
#[test]
fn accepts_what_the_gateway_signs() {
    use cec_gateway::config::{ChannelConfig, SecretSource, SigningConfig};
    use cec_gateway::secret::SecretKey;

    let cfg = SigningConfig {
        path: URI.to_owned(),
        max_body: 64 << 10,
        authorization_endpoint: None,
        channels: vec![ChannelConfig {
            config_id: "817854979183314945".to_owned(),
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
            cec_gateway::sign::sign_body(&cfg, URI, body.as_bytes(), vector_time()).unwrap();
        let received: Value = serde_json::from_slice(&signed.body).unwrap();
        assert_eq!(received.get("secretKey"), None);
        assert_eq!(
            verify("POST", URI, &received, SECRET, vector_time(), WINDOW),
            Ok(()),
            "{name}"
        );
    }
}
