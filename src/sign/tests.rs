//! Tables for the signer: the published vector, escaping and encoding cases, sensitivity to every
//! input, and timestamp formatting.
//!
//! Expected values come from the spec in `cec-integration.md`, worked by hand for the simple case
//! and cross-checked with an independent implementation (Python's `json.dumps(ensure_ascii=False,
//! separators=(",", ":"))`, `urllib.parse.quote(safe="-._~")` and `hmac`) for the others.

use std::time::{Duration, SystemTime};

use super::*;

const URI: &str = "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";
const TS: &str = "2024-08-19T08:30:00.000Z";

fn key(s: &str) -> SecretKey {
    SecretKey::signing(s).unwrap()
}

fn fields<'a>(name: &'a str, id: &'a str, tenant: &'a str, channel: &'a str) -> Fields<'a> {
    Fields {
        third_user_name: name,
        third_user_id: id,
        tenant_space_id: tenant,
        channel_config_id: channel,
    }
}

fn vector_fields() -> Fields<'static> {
    fields("Tom", "10010001", "202007159031", "817854979183314945")
}

/// The part after the last `/`.
fn signature(authorization: &str) -> &str {
    authorization.rsplit('/').next().unwrap()
}

#[test]
fn published_vector() {
    let signed = sign("POST", URI, &vector_fields(), &key("abcDEF123456"), TS);
    assert_eq!(
        signed.authorization,
        "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/0f20c61518fc886c85e8b430e1dae7be079e2761e05979263e82e30772b788fd"
    );
    assert_eq!(
        signed.payload,
        r#"{"thirdUserName":"Tom","thirdUserId":"10010001","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}"#
    );
    assert_eq!(signed.payload.len(), 118);
    assert_eq!(
        signed.auth_string_prefix,
        "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type"
    );
    assert_eq!(
        signed.canonical_request,
        "POST\n\
         /service-cloud/webclient/chat_client/js/newThirdPartyClient.js\n\
         content-length;content-type\n\
         content-length:118\n\
         content-type:application%2Fjson%3Bcharset%3DUTF-8\n\
         %7B%22thirdUserName%22%3A%22Tom%22%2C%22thirdUserId%22%3A%2210010001%22%2C%22tenantSpaceId%22%3A%22202007159031%22%2C%22channelConfigId%22%3A%22817854979183314945%22%7D"
    );
}

/// Worked by hand: space → `%20`, `é` (C3 A9) → `%C3%A9`, `/` kept in JSON but `%2F` once normalized.
#[test]
fn space_accent_slash_by_hand() {
    let signed = sign(
        "POST",
        URI,
        &fields("a b", "é", "1/2", "7"),
        &key("abcDEF123456"),
        TS,
    );
    let payload =
        r#"{"thirdUserName":"a b","thirdUserId":"é","tenantSpaceId":"1/2","channelConfigId":"7"}"#;
    assert_eq!(signed.payload, payload);
    assert_eq!(payload.len(), 86); // 85 characters, é is two bytes
    assert_eq!(
        signed.canonical_request,
        "POST\n\
         /service-cloud/webclient/chat_client/js/newThirdPartyClient.js\n\
         content-length;content-type\n\
         content-length:86\n\
         content-type:application%2Fjson%3Bcharset%3DUTF-8\n\
         %7B%22thirdUserName%22%3A%22a%20b%22%2C%22thirdUserId%22%3A%22%C3%A9%22%2C%22tenantSpaceId%22%3A%221%2F2%22%2C%22channelConfigId%22%3A%227%22%7D"
    );
    assert_eq!(
        signed.authorization,
        "auth-v2/7/2024-08-19T08:30:00.000Z/content-length;content-type/681420a24bd21109f01f102919abb3e90dd90ba3588841720cd195f86c08969f"
    );
}

struct Case {
    name: &'static str,
    fields: Fields<'static>,
    secret: &'static str,
    timestamp: &'static str,
    payload: &'static str,
    content_length: usize,
    normalized_payload: &'static str,
    authorization: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "quote, backslash, slash, percent, plus, space, Chinese",
        fields: Fields {
            third_user_name: r#"Tom "Q" \ O/N 100% a+b"#,
            third_user_id: "张三",
            tenant_space_id: "202007159031",
            channel_config_id: "817854979183314945",
        },
        secret: "abcDEF123456",
        timestamp: TS,
        payload: r#"{"thirdUserName":"Tom \"Q\" \\ O/N 100% a+b","thirdUserId":"张三","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}"#,
        content_length: 138,
        normalized_payload: "%7B%22thirdUserName%22%3A%22Tom%20%5C%22Q%5C%22%20%5C%5C%20O%2FN%20100%25%20a%2Bb%22%2C%22thirdUserId%22%3A%22%E5%BC%A0%E4%B8%89%22%2C%22tenantSpaceId%22%3A%22202007159031%22%2C%22channelConfigId%22%3A%22817854979183314945%22%7D",
        authorization: "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/86da56fc30c6cbdfcaad8ef41b3f30aadd5bb2be9ed073ac7e2b6e85b5906617",
    },
    Case {
        name: "emoji, control characters, DEL",
        fields: Fields {
            third_user_name: "😀 emoji",
            third_user_id: "line\nbreak\ttab\u{1}\u{7f}",
            tenant_space_id: "202007159031",
            channel_config_id: "817854979183314945",
        },
        secret: "Zz9",
        timestamp: "2000-01-01T00:00:00.001Z",
        payload: "{\"thirdUserName\":\"😀 emoji\",\"thirdUserId\":\"line\\nbreak\\ttab\\u0001\u{7f}\",\"tenantSpaceId\":\"202007159031\",\"channelConfigId\":\"817854979183314945\"}",
        content_length: 140,
        normalized_payload: "%7B%22thirdUserName%22%3A%22%F0%9F%98%80%20emoji%22%2C%22thirdUserId%22%3A%22line%5Cnbreak%5Cttab%5Cu0001%7F%22%2C%22tenantSpaceId%22%3A%22202007159031%22%2C%22channelConfigId%22%3A%22817854979183314945%22%7D",
        authorization: "auth-v2/817854979183314945/2000-01-01T00:00:00.001Z/content-length;content-type/fbe30afd38d2f828b3fb87e622710b56f6bf6bf59532ad61f49fe19648a6db88",
    },
];

#[test]
fn escaping_and_encoding_cases() {
    for c in CASES {
        let signed = sign("POST", URI, &c.fields, &key(c.secret), c.timestamp);
        assert_eq!(signed.payload, c.payload, "{}", c.name);
        assert_eq!(signed.payload.len(), c.content_length, "{}", c.name);
        let expected_request = format!(
            "POST\n{URI}\ncontent-length;content-type\ncontent-length:{}\ncontent-type:application%2Fjson%3Bcharset%3DUTF-8\n{}",
            c.content_length, c.normalized_payload
        );
        assert_eq!(signed.canonical_request, expected_request, "{}", c.name);
        assert_eq!(signed.authorization, c.authorization, "{}", c.name);
    }
}

#[test]
fn normalize_table() {
    for (input, expected) in [
        ("", ""),
        ("AZaz09-._~", "AZaz09-._~"),
        ("a b", "a%20b"),
        ("é", "%C3%A9"),
        ("张", "%E5%BC%A0"),
        ("😀", "%F0%9F%98%80"),
        (
            "/?#[]@!$&'()*+,;=%",
            "%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25",
        ),
        ("\"\\:{}", "%22%5C%3A%7B%7D"),
        ("\n\r\t\0\u{7f}", "%0A%0D%09%00%7F"),
    ] {
        assert_eq!(normalize(input), expected, "{input:?}");
    }
}

#[test]
fn uri_gets_a_leading_slash() {
    let secret = key("abcDEF123456");
    let f = vector_fields();
    let with = sign("POST", URI, &f, &secret, TS);
    assert_eq!(sign("POST", &URI[1..], &f, &secret, TS), with);
    assert!(
        sign("POST", "", &f, &secret, TS)
            .canonical_request
            .starts_with("POST\n/\n")
    );
}

#[test]
fn every_input_changes_the_signature() {
    let secret = key("abcDEF123456");
    let base = sign("POST", URI, &vector_fields(), &secret, TS);
    let mut variants = vec![
        ("method", sign("PUT", URI, &vector_fields(), &secret, TS)),
        (
            "uri",
            sign(
                "POST",
                "/service-cloud/webclient/chat_client/js/thirdPartyClient.js",
                &vector_fields(),
                &secret,
                TS,
            ),
        ),
        (
            "secret",
            sign("POST", URI, &vector_fields(), &key("abcDEF123457"), TS),
        ),
        (
            "timestamp",
            sign(
                "POST",
                URI,
                &vector_fields(),
                &secret,
                "2024-08-19T08:30:00.001Z",
            ),
        ),
    ];
    let f = vector_fields();
    for (name, changed) in [
        (
            "thirdUserName",
            Fields {
                third_user_name: "Tim",
                ..f
            },
        ),
        (
            "thirdUserId",
            Fields {
                third_user_id: "10010002",
                ..f
            },
        ),
        (
            "tenantSpaceId",
            Fields {
                tenant_space_id: "202007159032",
                ..f
            },
        ),
        (
            "channelConfigId",
            Fields {
                channel_config_id: "817854979183314946",
                ..f
            },
        ),
    ] {
        variants.push((name, sign("POST", URI, &changed, &secret, TS)));
    }
    for (name, v) in &variants {
        assert_ne!(
            signature(&v.authorization),
            signature(&base.authorization),
            "changing {name} kept the signature"
        );
    }
}

#[test]
fn signed_never_holds_the_secret() {
    let signed = sign("POST", URI, &vector_fields(), &key("abcDEF123456"), TS);
    assert!(!format!("{signed:?}").contains("abcDEF123456"));
}

#[test]
fn timestamp_formats() {
    let at = |ms: u64| timestamp(SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
    assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(at(1), "1970-01-01T00:00:00.001Z");
    assert_eq!(at(10), "1970-01-01T00:00:00.010Z");
    assert_eq!(at(999), "1970-01-01T00:00:00.999Z");
    assert_eq!(at(1_724_056_200_000), TS);
    assert_eq!(at(1_724_056_200_042), "2024-08-19T08:30:00.042Z");
    assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z"); // leap day
    // Sub-millisecond precision is truncated, not rounded.
    assert_eq!(
        timestamp(SystemTime::UNIX_EPOCH + Duration::from_nanos(1_999_999)),
        "1970-01-01T00:00:00.001Z"
    );
    // Before the epoch.
    assert_eq!(
        timestamp(SystemTime::UNIX_EPOCH - Duration::from_millis(1)),
        "1969-12-31T23:59:59.999Z"
    );
    // Far outside the calendar: clamped, no panic.
    let far = Duration::from_secs(400 * 365 * 86_400 * 100);
    assert_eq!(
        timestamp(SystemTime::UNIX_EPOCH + far),
        "9999-12-31T23:59:59.999Z"
    );
    assert_eq!(
        timestamp(SystemTime::UNIX_EPOCH - far),
        "0001-01-01T00:00:00.000Z"
    );
}
