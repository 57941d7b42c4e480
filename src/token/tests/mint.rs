//! Minting (`POST /tokens`, the CLI) and what `Debug` may show.

use super::*;

#[test]
fn mint_request_answers_token_and_expiry() {
    let svc = service();
    let reply = svc
        .mint_request(
            br#"{"userId":"10010001","userName":"Tom","tenantSpaceId":"202007159031"}"#,
            at(T0),
        )
        .expect("valid mint request");
    assert_eq!(reply.status, http::StatusCode::OK);
    let json: Value = serde_json::from_slice(&reply.body).expect("JSON");
    assert_eq!(json["expiresAt"], json!(T0 + TTL));
    let token = json["token"].as_str().expect("token is a string");
    let header = jsonwebtoken::decode_header(token).expect("standard JWT header");
    assert_eq!(
        (header.alg, header.typ.as_deref()),
        (Algorithm::HS256, Some("JWT"))
    );
    assert!(
        svc.validate_request(peer("192.0.2.1"), &request(token, USER), at(T0 + 1))
            .is_valid()
    );

    let minted = svc.mint(USER.0, USER.1, USER.2, at(T0));
    assert_eq!(minted.expires_at, T0 + TTL);
    assert_eq!(minted.jti.len(), 32);
    assert!(minted.jti.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(minted.jti, svc.mint(USER.0, USER.1, USER.2, at(T0)).jti);
}

#[test]
fn mint_request_errors() {
    let svc = service_with(|c| c.max_body = 256);
    let cases: [(&[u8], http::StatusCode, &str); 6] = [
        (b"nope", http::StatusCode::BAD_REQUEST, "is not"),
        (
            br#"{"userId":"1","userName":"Tom"}"#,
            http::StatusCode::BAD_REQUEST,
            "missing field `tenantSpaceId`",
        ),
        (
            br#"{"userId":"1","userName":"Tom","tenantSpaceId":"2","x":1}"#,
            http::StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            br#"{"userId":1,"userName":"Tom","tenantSpaceId":"2"}"#,
            http::StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            br#"{"userId":"","userName":"Tom","tenantSpaceId":"2"}"#,
            http::StatusCode::BAD_REQUEST,
            "userId is empty",
        ),
        (
            &[b' '; 257],
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 256 bytes",
        ),
    ];
    for (body, status, needle) in cases {
        let err = svc.mint_request(body, at(T0)).expect_err("refused");
        let reply = err.reply();
        assert_eq!((err.status(), reply.status), (status, status));
        let json: Value = serde_json::from_slice(&reply.body).expect("JSON");
        let message = json["error"].as_str().expect("error is a string");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

#[test]
fn debug_output_never_shows_token_or_key() {
    let svc = service_with(|c| c.single_use = true);
    let minted = svc.mint(USER.0, USER.1, USER.2, at(T0));
    let token = minted.token.clone();
    let signature = token.rsplit('.').next().expect("three parts").to_owned();
    let verdicts = [
        svc.validate_request(peer("192.0.2.1"), &request(&token, USER), at(T0)),
        svc.validate_request(peer("192.0.2.1"), &request(&token, USER), at(T0)),
        svc.validate_request(peer("192.0.2.1"), &request(&token, ("x", "y", "z")), at(T0)),
    ];
    let err = svc
        .mint_request(format!(r#"{{"Token":"{token}"}}"#).as_bytes(), at(T0))
        .expect_err("bad");
    let mut printed = vec![
        format!("{svc:?}"),
        format!("{minted:?}"),
        format!("{:?}", Codec::new(&config().secret, Duration::ZERO)),
        format!("{err:?}"),
        err.to_string(),
    ];
    for v in &verdicts {
        printed.push(format!("{v:?}"));
        printed.push(format!("{:?}", v.outcome));
        printed.push(String::from_utf8_lossy(&v.body).into_owned());
        if let Outcome::Invalid(why) = v.outcome {
            printed.push(format!("{why:?} {why}"));
        }
    }
    for text in printed {
        for secret in [KEY, &token, &signature] {
            assert!(!text.contains(secret), "{text:?} shows a secret");
        }
    }
}
