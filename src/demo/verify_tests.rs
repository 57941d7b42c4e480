//! The verifier's building blocks against their own references: HMAC-SHA256 against RFC 4231,
//! percent-encoding and JSON escaping against the spec, strict timestamps. The verifier as a
//! whole is pinned to the published test vector in `tests/verifier_vector.rs`.

use super::*;

fn tom() -> SignedFields<'static> {
    SignedFields {
        third_user_name: "Tom",
        third_user_id: "10010001",
        tenant_space_id: "202007159031",
        channel_config_id: "817854979183314945",
    }
}

#[test]
fn hmac_matches_rfc4231_case_2() {
    assert_eq!(
        lower_hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // A key longer than the block is hashed first (RFC 4231 case 6).
    assert_eq!(
        lower_hex(&hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn normalize_encodes_all_but_unreserved() {
    assert_eq!(normalize("aZ09-._~"), "aZ09-._~");
    assert_eq!(
        normalize("application/json;charset=UTF-8"),
        "application%2Fjson%3Bcharset%3DUTF-8"
    );
    assert_eq!(normalize("{\"a\":1} é"), "%7B%22a%22%3A1%7D%20%C3%A9");
}

#[test]
fn payload_is_the_specs_compact_json() {
    let p = payload(&tom());
    assert_eq!(
        p,
        r#"{"thirdUserName":"Tom","thirdUserId":"10010001","tenantSpaceId":"202007159031","channelConfigId":"817854979183314945"}"#
    );
    assert_eq!(p.len(), 118);
}

#[test]
fn json_strings_escape_quotes_backslashes_and_controls_only() {
    assert_eq!(json_string(r#"a"b\c/d"#), r#""a\"b\\c/d""#);
    assert_eq!(
        json_string("\n\r\t\u{8}\u{c}\u{1}\u{1f}"),
        r#""\n\r\t\b\f\u0001\u001f""#
    );
    assert_eq!(json_string("张三 😀 \u{7f}"), "\"张三 😀 \u{7f}\"");
}

#[test]
fn timestamps_parse_strictly() {
    assert_eq!(
        parse_timestamp("2024-08-19T08:30:00.123Z").map(|t| t.unix_timestamp_nanos() / 1_000_000),
        Some(1_724_056_200_123)
    );
    for bad in [
        "2024-08-19T08:30:00.000",
        "2024-13-19T08:30:00.000Z",
        "2024-02-30T08:30:00.000Z",
        "2023-02-29T08:30:00.000Z",
        "2024-08-19T24:30:00.000Z",
        "2024-08-19T08:30:00.00aZ",
        "+024-08-19T08:30:00.000Z",
        "２０２4-08-19T08:30:00.000Z",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad:?}");
    }
}
