//! Token mode, end to end through [`TokenService`]: tables of tokens and requests, no sockets.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::*;
use crate::config::SecretSource;
use crate::secret::SecretKey;

mod guards;
mod mint;

const KEY: &str = "token-mode-test-key-0123456789-abcdefghij";
const OTHER_KEY: &str = "another-test-key-0123456789-abcdefghijklm";
/// 2024-08-19T08:30:00Z, the mint time of most tokens here.
const T0: u64 = 1_724_056_200;
const TTL: u64 = 600;
const LEEWAY: u64 = 30;
const USER: (&str, &str, &str) = ("10010001", "Tom", "202007159031");

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

fn peer(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn config() -> TokenConfig {
    TokenConfig {
        validate_path: "/rest/cc-messaging/v1/thirdparty/chatThirdPartyValidate".into(),
        secret: SecretKey::token(KEY).expect("test key is long enough"),
        secret_source: SecretSource::Env("CEC_TOKEN_SECRET".into()),
        mint_key: None,
        ttl: Duration::from_secs(TTL),
        leeway: Duration::from_secs(LEEWAY),
        allowed_callers: Vec::new(),
        rate_per_sec: 1_000.0,
        rate_burst: 1_000,
        single_use: false,
        max_body: 8 << 10,
    }
}

fn service_with(edit: impl FnOnce(&mut TokenConfig)) -> TokenService {
    let mut cfg = config();
    edit(&mut cfg);
    TokenService::new(&cfg)
}

fn service() -> TokenService {
    service_with(|_| {})
}

fn request(token: &str, (user_id, user_name, tenant): (&str, &str, &str)) -> Vec<u8> {
    json!({"Token": token, "userName": user_name, "userId": user_id, "tenantSpaceId": tenant})
        .to_string()
        .into_bytes()
}

fn mint_at(svc: &TokenService, unix: u64) -> String {
    svc.mint(USER.0, USER.1, USER.2, at(unix)).token
}

/// base64url without padding, to build the hostile tokens by hand.
fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// `claims` signed with `key` using `alg` by jsonwebtoken, for shapes `Codec::mint` never makes.
fn sign_raw(claims: &Value, key: &str, alg: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("test claims encode")
}

fn standard_claims() -> Value {
    json!({"sub": USER.0, "name": USER.1, "tid": USER.2, "iat": T0, "exp": T0 + TTL, "jti": "j-1"})
}

fn without(mut claims: Value, field: &str) -> Value {
    claims
        .as_object_mut()
        .expect("claims are an object")
        .remove(field);
    claims
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims
        .as_object_mut()
        .expect("claims are an object")
        .insert(field.into(), value);
    claims
}

#[test]
fn b64url_matches_the_jwt_header_everyone_knows() {
    assert_eq!(
        b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    );
    assert_eq!(b64url(b"ab"), "YWI");
    assert_eq!(b64url(b"a"), "YQ");
}

struct Case {
    name: &'static str,
    token: String,
    who: (&'static str, &'static str, &'static str),
    now: u64,
    want: Option<Invalid>,
}

/// Every way a token can be refused, each with its cause; plus the edges that must pass.
#[test]
fn token_table() {
    let svc = service();
    let good = mint_at(&svc, T0);
    let [header, payload, signature]: [&str; 3] = good
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .expect("a JWS compact token has three parts");
    let foreign = mint_at(
        &service_with(|c| c.secret = SecretKey::token(OTHER_KEY).expect("long")),
        T0,
    );
    let alg_none = format!("{}.{payload}.", b64url(br#"{"alg":"none","typ":"JWT"}"#));
    let alg_none_signed = format!(
        "{}.{payload}.{signature}",
        b64url(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let alg_rs256 = format!(
        "{}.{payload}.{signature}",
        b64url(br#"{"alg":"RS256","typ":"JWT"}"#)
    );
    let no_alg = format!("{}.{payload}.{signature}", b64url(br#"{"typ":"JWT"}"#));
    let hs512 = sign_raw(&standard_claims(), KEY, Algorithm::HS512);
    let tampered = format!(
        "{header}.{}.{signature}",
        b64url(standard_claims().to_string().as_bytes())
    );
    let late = T0 + TTL + LEEWAY;
    let early = T0 - LEEWAY;

    let v = |name, token: &str, who, now, want| Case {
        name,
        token: token.to_owned(),
        who,
        now,
        want,
    };
    #[rustfmt::skip]
    let mut cases = vec![
        v("good", &good, USER, T0 + 1, None),
        v("good at its iat", &good, USER, T0, None),
        v("expired within leeway", &good, USER, late, None),
        v("expired beyond leeway", &good, USER, late + 1, Some(Invalid::Expired)),
        v("iat ahead within leeway", &good, USER, early, None),
        v("not yet valid", &good, USER, early - 1, Some(Invalid::NotYetValid)),
        v("wrong key", &foreign, USER, T0, Some(Invalid::BadSignature)),
        v("payload swapped under the signature", &tampered, USER, T0, Some(Invalid::BadSignature)),
        v("truncated signature", &good[..good.len() - 4], USER, T0, Some(Invalid::BadSignature)),
        v("no signature part", &format!("{header}.{payload}"), USER, T0, Some(Invalid::Malformed)),
        v("header only", header, USER, T0, Some(Invalid::Malformed)),
        v("garbage", "not a token at all", USER, T0, Some(Invalid::Malformed)),
        v("empty", "", USER, T0, Some(Invalid::Malformed)),
        v("four parts", &format!("{good}.x"), USER, T0, Some(Invalid::Malformed)),
        v("header not base64", &format!("@@.{payload}.{signature}"), USER, T0, Some(Invalid::Malformed)),
        v("alg none, empty signature", &alg_none, USER, T0, Some(Invalid::WrongAlg)),
        v("alg none, HS256 signature", &alg_none_signed, USER, T0, Some(Invalid::WrongAlg)),
        v("alg RS256", &alg_rs256, USER, T0, Some(Invalid::WrongAlg)),
        v("no alg", &no_alg, USER, T0, Some(Invalid::WrongAlg)),
        v("HS512 with the right key", &hs512, USER, T0, Some(Invalid::WrongAlg)),
        v("sub mismatch", &good, ("10010002", USER.1, USER.2), T0, Some(Invalid::SubMismatch)),
        v("sub differs by a space", &good, ("10010001 ", USER.1, USER.2), T0, Some(Invalid::SubMismatch)),
        v("name mismatch", &good, (USER.0, "tom", USER.2), T0, Some(Invalid::NameMismatch)),
        v("tid mismatch", &good, (USER.0, USER.1, "202007159032"), T0, Some(Invalid::TenantMismatch)),
        v("all mismatch: sub reported first", &good, ("x", "y", "z"), T0, Some(Invalid::SubMismatch)),
    ];
    // Claim shapes `Codec::mint` never produces, signed by jsonwebtoken with the right key.
    let c = standard_claims;
    #[rustfmt::skip]
    let shapes = [
        ("foreign minter, standard claims", c(), None),
        ("no jti", without(c(), "jti"), Some(Invalid::Malformed)),
        ("no iat", without(c(), "iat"), Some(Invalid::Malformed)),
        ("no exp", without(c(), "exp"), Some(Invalid::Malformed)),
        ("no sub", without(c(), "sub"), Some(Invalid::Malformed)),
        ("no tid", without(c(), "tid"), Some(Invalid::Malformed)),
        ("sub a number", with(c(), "sub", json!(10010001)), Some(Invalid::Malformed)),
        ("exp a string", with(c(), "exp", json!("4102444800")), Some(Invalid::Malformed)),
        ("exp negative", with(c(), "exp", json!(-1)), Some(Invalid::Malformed)),
        ("an audience", with(c(), "aud", json!("someone")), Some(Invalid::Malformed)),
        ("nbf ahead", with(c(), "nbf", json!(T0 + 3_600)), Some(Invalid::NotYetValid)),
        ("nbf passed", with(c(), "nbf", json!(T0 - 1)), None),
        ("extra claims ignored", with(c(), "role", json!("admin")), None),
    ];
    for (name, claims, want) in shapes {
        cases.push(v(
            name,
            &sign_raw(&claims, KEY, Algorithm::HS256),
            USER,
            T0,
            want,
        ));
    }

    let mut failures = Vec::new();
    for Case {
        name,
        token,
        who,
        now,
        want,
    } in cases
    {
        let got = svc.validate_request(peer("192.0.2.1"), &request(&token, who), at(now));
        let want = want.map_or(Outcome::Valid, Outcome::Invalid);
        if got.outcome != want || got.status != http::StatusCode::OK {
            failures.push(format!(
                "{name}: got {} {:?}, want {want:?}",
                got.status, got.outcome
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_invalid_cause_gets_the_same_bytes() {
    let svc = service_with(|c| c.single_use = true);
    let good = mint_at(&svc, T0);
    let foreign = mint_at(
        &service_with(|c| c.secret = SecretKey::token(OTHER_KEY).expect("long")),
        T0,
    );
    let used = mint_at(&svc, T0);
    assert!(
        svc.validate_request(peer("192.0.2.1"), &request(&used, USER), at(T0))
            .is_valid()
    );
    let cases = [
        (good.as_str(), USER, T0 + TTL + LEEWAY + 1),
        (&good, USER, T0 - LEEWAY - 1),
        (&foreign, USER, T0),
        ("garbage", USER, T0),
        (&good, ("x", USER.1, USER.2), T0),
        (&good, (USER.0, "x", USER.2), T0),
        (&good, (USER.0, USER.1, "x"), T0),
        (&used, USER, T0),
    ];
    let valid = svc.validate_request(
        peer("192.0.2.1"),
        &request(&mint_at(&svc, T0), USER),
        at(T0),
    );
    let mut reasons = Vec::new();
    for (token, who, now) in cases {
        let verdict = svc.validate_request(peer("192.0.2.1"), &request(token, who), at(now));
        assert_eq!(verdict.status, http::StatusCode::OK);
        assert_eq!(
            verdict.body,
            Verdict::of(Outcome::Invalid(Invalid::Malformed)).body
        );
        assert_ne!(verdict.body, valid.body);
        reasons.push(
            verdict
                .outcome
                .reason()
                .expect("an invalid outcome has a reason"),
        );
    }
    let body: Value = serde_json::from_slice(&valid.body).expect("JSON");
    assert_eq!(body, json!({"retCode": 0, "message": "validate success"}));
    let failed = Verdict::of(Outcome::Invalid(Invalid::Replayed));
    let body: Value = serde_json::from_slice(&failed.body).expect("JSON");
    assert_eq!(body, json!({"retCode": 1, "message": "validate failed"}));
    // ... while the causes stay apart for the logs.
    #[rustfmt::skip]
    let want = ["expired", "not_yet_valid", "bad_signature", "malformed", "sub_mismatch", "name_mismatch", "tenant_mismatch", "replayed"];
    assert_eq!(reasons, want);
}

#[test]
fn bad_requests_get_ret_code_2() {
    let svc = service();
    let token = mint_at(&svc, T0);
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"[]".to_vec(),
        b"{\"Token\":".to_vec(),
        vec![0xff, 0xfe, b'{'],
        json!({"Token": 5, "userName": USER.1, "userId": USER.0, "tenantSpaceId": USER.2}).to_string().into(),
        json!({"Token": token, "userName": USER.1, "tenantSpaceId": USER.2}).to_string().into(),
        json!({"token": token, "userName": USER.1, "userId": USER.0, "tenantSpaceId": USER.2}).to_string().into(),
        json!({"Token": token, "userName": null, "userId": USER.0, "tenantSpaceId": USER.2}).to_string().into(),
        format!(r#"{{"Token":"{token}","Token":"{token}","userName":"Tom","userId":"10010001","tenantSpaceId":"202007159031"}}"#).into(),
    ];
    for body in bodies {
        let verdict = svc.validate_request(peer("192.0.2.1"), &body, at(T0));
        assert_eq!(
            verdict.outcome,
            Outcome::BadRequest,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(verdict.status, http::StatusCode::BAD_REQUEST);
        let json: Value = serde_json::from_slice(&verdict.body).expect("JSON");
        assert_eq!(json["retCode"], 2);
    }
    // Unknown extra fields are the vendor's business: ignored.
    let mut extra: Value = serde_json::from_slice(&request(&token, USER)).expect("JSON");
    extra["channelConfigId"] = json!("817854979183314945");
    let verdict = svc.validate_request(peer("192.0.2.1"), extra.to_string().as_bytes(), at(T0));
    assert_eq!(verdict.outcome, Outcome::Valid);
}

/// A token minted by PyJWT (tests/fixtures/mint_pyjwt.py) validates here.
#[test]
fn token_from_pyjwt_validates() {
    let fixture: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/pyjwt_token.json"))
            .expect("fixture is JSON");
    let field = |k: &str| {
        fixture[k]
            .as_str()
            .expect("fixture field is a string")
            .to_owned()
    };
    let iat = fixture["iat"].as_u64().expect("fixture iat");
    let exp = fixture["exp"].as_u64().expect("fixture exp");
    let svc = service_with(|c| {
        c.secret = SecretKey::token(&field("secret")).expect("fixture key ≥ 32 bytes")
    });
    let (token, user_id, user_name, tenant) = (
        field("token"),
        field("userId"),
        field("userName"),
        field("tenantSpaceId"),
    );
    let who = (user_id.as_str(), user_name.as_str(), tenant.as_str());
    let a = peer("192.0.2.1");
    for now in [iat, iat + 86_400, exp] {
        let verdict = svc.validate_request(a, &request(&token, who), at(now));
        assert_eq!(verdict.outcome, Outcome::Valid, "at {now}");
    }
    let cases = [
        (who, iat - LEEWAY - 1, Invalid::NotYetValid),
        (who, exp + LEEWAY + 1, Invalid::Expired),
        (
            (user_id.as_str(), "Tom", tenant.as_str()),
            iat,
            Invalid::NameMismatch,
        ),
    ];
    for (who, now, want) in cases {
        assert_eq!(
            svc.validate_request(a, &request(&token, who), at(now))
                .outcome,
            Outcome::Invalid(want)
        );
    }
    // The same token under the wrong key.
    let verdict = service().validate_request(a, &request(&token, who), at(iat));
    assert_eq!(verdict.outcome, Outcome::Invalid(Invalid::BadSignature));
}
