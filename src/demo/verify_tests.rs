//! The verifier against the spec's published test vector, tampering, and clocks.

use super::*;

const URI: &str = "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";
const VECTOR: &str = "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/0f20c61518fc886c85e8b430e1dae7be079e2761e05979263e82e30772b788fd";

fn tom() -> SignedFields<'static> {
    SignedFields {
        third_user_name: "Tom",
        third_user_id: "10010001",
        tenant_space_id: "202007159031",
        channel_config_id: "817854979183314945",
    }
}

fn channels() -> Channels {
    let key = SecretKey::signing("abcDEF123456").expect("test secret is valid");
    HashMap::from([("817854979183314945".to_owned(), key)])
}

fn vector_time() -> OffsetDateTime {
    parse_timestamp("2024-08-19T08:30:00.000Z").expect("vector timestamp parses")
}

#[test]
fn hmac_matches_rfc4231_case_2() {
    assert_eq!(
        hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // A key longer than the block is hashed first (RFC 4231 case 6).
    assert_eq!(
        hex::encode(hmac_sha256(
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
fn accepts_the_published_test_vector() {
    assert_eq!(
        verify(VECTOR, &tom(), URI, &channels(), vector_time()),
        Ok(())
    );
    // Within the window on both sides.
    let four_min = time::Duration::minutes(4);
    assert_eq!(
        verify(VECTOR, &tom(), URI, &channels(), vector_time() + four_min),
        Ok(())
    );
    assert_eq!(
        verify(VECTOR, &tom(), URI, &channels(), vector_time() - four_min),
        Ok(())
    );
}

#[test]
fn rejects_stale_and_future_timestamps() {
    let six_min = time::Duration::minutes(6);
    assert_eq!(
        verify(VECTOR, &tom(), URI, &channels(), vector_time() + six_min),
        Err(VerifyError::Stale { skew_secs: 360 })
    );
    assert_eq!(
        verify(VECTOR, &tom(), URI, &channels(), vector_time() - six_min),
        Err(VerifyError::Stale { skew_secs: -360 })
    );
}

#[test]
fn rejects_tampering() {
    let now = vector_time();
    let ch = channels();
    let renamed = SignedFields {
        third_user_name: "Tim",
        ..tom()
    };
    assert_eq!(
        verify(VECTOR, &renamed, URI, &ch, now),
        Err(VerifyError::Signature)
    );
    let other_user = SignedFields {
        third_user_id: "10010002",
        ..tom()
    };
    assert_eq!(
        verify(VECTOR, &other_user, URI, &ch, now),
        Err(VerifyError::Signature)
    );
    let other_tenant = SignedFields {
        tenant_space_id: "1",
        ..tom()
    };
    assert_eq!(
        verify(VECTOR, &other_tenant, URI, &ch, now),
        Err(VerifyError::Signature)
    );
    let other_channel = SignedFields {
        channel_config_id: "1",
        ..tom()
    };
    assert_eq!(
        verify(VECTOR, &other_channel, URI, &ch, now),
        Err(VerifyError::ChannelMismatch {
            signed: "817854979183314945".into(),
            body: "1".into()
        })
    );
    assert_eq!(
        verify(VECTOR, &tom(), "/service-cloud/other.js", &ch, now),
        Err(VerifyError::Signature)
    );
    // The timestamp is inside the signed prefix: moving it breaks the signature.
    let moved = VECTOR.replace("08:30:00.000Z", "08:31:00.000Z");
    assert_eq!(
        verify(&moved, &tom(), URI, &ch, now),
        Err(VerifyError::Signature)
    );
    let flipped = format!("{}e", &VECTOR[..VECTOR.len() - 1]);
    assert_eq!(
        verify(&flipped, &tom(), URI, &ch, now),
        Err(VerifyError::Signature)
    );
    let wrong_key = HashMap::from([(
        "817854979183314945".to_owned(),
        SecretKey::signing("abcDEF123457").expect("valid"),
    )]);
    assert_eq!(
        verify(VECTOR, &tom(), URI, &wrong_key, now),
        Err(VerifyError::Signature)
    );
}

#[test]
fn rejects_malformed_authorizations() {
    let now = vector_time();
    let ch = channels();
    for bad in [
        "",
        "auth-v2",
        "auth-v1/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/0f20c61518fc886c85e8b430e1dae7be079e2761e05979263e82e30772b788fd",
        "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/0F20C61518FC886C85E8B430E1DAE7BE079E2761E05979263E82E30772B788FD",
        "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/short",
        "auth-v2/817854979183314945/2024-08-19T08:30:00.000Z/content-length;content-type/x/0f20c61518fc886c85e8b430e1dae7be079e2761e05979263e82e30772b788fd",
    ] {
        assert_eq!(
            verify(bad, &tom(), URI, &ch, now),
            Err(VerifyError::Malformed),
            "{bad:?}"
        );
    }
    let headers = VECTOR.replace("content-length;content-type", "content-type");
    assert_eq!(
        verify(&headers, &tom(), URI, &ch, now),
        Err(VerifyError::SignedHeaders("content-type".into()))
    );
    let stamp = VECTOR.replace("2024-08-19T08:30:00.000Z", "2024-08-19 08:30:00Z");
    assert_eq!(
        verify(&stamp, &tom(), URI, &ch, now),
        Err(VerifyError::Timestamp("2024-08-19 08:30:00Z".into()))
    );
    assert_eq!(
        verify(VECTOR, &tom(), URI, &Channels::new(), now),
        Err(VerifyError::UnknownChannel("817854979183314945".into()))
    );
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
        "2024-08-19T24:30:00.000Z",
        "2024-08-19T08:30:00.00aZ",
        "+024-08-19T08:30:00.000Z",
        "２０２4-08-19T08:30:00.000Z",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad:?}");
    }
}
