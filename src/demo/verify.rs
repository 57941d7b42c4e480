//! The mock CEC's auth-v2 verifier: checks a `thirdPartAuthorization` the way the CEC would.
//!
//! Written from the spec in `shared/design/cec-integration.md`, deliberately apart from the
//! gateway's signer: its own percent-encoding, its own HMAC-SHA256 (RFC 2104 over `sha2`), its
//! own parsing. A signer bug therefore shows up as a 401 from the mock instead of being
//! mirrored by shared code. The published test vector anchors both sides.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::secret::SecretKey;

/// The only algorithm this verifier knows.
pub const ALGORITHM: &str = "auth-v2";
/// The signed headers the spec pins, in their canonical order.
pub const SIGNED_HEADERS: &str = "content-length;content-type";
/// The content type that is signed (not necessarily the one sent).
pub const SIGNED_CONTENT_TYPE: &str = "application/json;charset=UTF-8";
/// How far the signature's timestamp may be from the verifier's clock, either way.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Channel secrets by `channelConfigId`.
pub type Channels = HashMap<String, SecretKey>;

/// The four body fields the signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedFields<'a> {
    pub third_user_name: &'a str,
    pub third_user_id: &'a str,
    pub tenant_space_id: &'a str,
    pub channel_config_id: &'a str,
}

/// Why a `thirdPartAuthorization` was refused. Never carries a secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not of the form auth-v2/<channel>/<timestamp>/<signed headers>/<signature>")]
    Malformed,
    #[error("signed for channel {signed:?} but the body names channel {body:?}")]
    ChannelMismatch { signed: String, body: String },
    #[error("no secret is known for channel {0:?}")]
    UnknownChannel(String),
    #[error("signed headers are {0:?}; expected {SIGNED_HEADERS:?}")]
    SignedHeaders(String),
    #[error("timestamp {0:?} is not yyyy-MM-ddTHH:mm:ss.SSSZ")]
    Timestamp(String),
    #[error("timestamp is {skew_secs} s away from now; at most {} s allowed", MAX_SKEW.as_secs())]
    Stale { skew_secs: i64 },
    #[error("signature does not match")]
    Signature,
}

/// Checks `authorization` against the body `fields`, the request path `uri` (no query), the
/// known `channels` and the clock `now`.
pub fn verify(
    authorization: &str,
    fields: &SignedFields<'_>,
    uri: &str,
    channels: &Channels,
    now: OffsetDateTime,
) -> Result<(), VerifyError> {
    // auth-v2/{channel}/{timestamp}/{signed headers}/{signature}; no part contains a '/'.
    let parts: Vec<&str> = authorization.split('/').collect();
    let [algorithm, channel, timestamp, signed_headers, signature] = parts[..] else {
        return Err(VerifyError::Malformed);
    };
    if algorithm != ALGORITHM || channel.is_empty() || !is_lower_hex_sha256(signature) {
        return Err(VerifyError::Malformed);
    }
    if channel != fields.channel_config_id {
        return Err(VerifyError::ChannelMismatch {
            signed: channel.to_owned(),
            body: fields.channel_config_id.to_owned(),
        });
    }
    if signed_headers != SIGNED_HEADERS {
        return Err(VerifyError::SignedHeaders(signed_headers.to_owned()));
    }
    let at =
        parse_timestamp(timestamp).ok_or_else(|| VerifyError::Timestamp(timestamp.to_owned()))?;
    let skew = (now - at).whole_seconds();
    if skew.unsigned_abs() > MAX_SKEW.as_secs() {
        return Err(VerifyError::Stale { skew_secs: skew });
    }
    let secret = channels
        .get(channel)
        .ok_or_else(|| VerifyError::UnknownChannel(channel.to_owned()))?;
    let prefix = format!("{ALGORITHM}/{channel}/{timestamp}/{signed_headers}");
    let expected = expected_signature(secret.expose(), &prefix, fields, uri);
    if constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        Ok(())
    } else {
        Err(VerifyError::Signature)
    }
}

/// The signature (lower-case hex) that `secret` gives `fields` under `auth_string_prefix`.
pub fn expected_signature(
    secret: &[u8],
    auth_string_prefix: &str,
    fields: &SignedFields<'_>,
    uri: &str,
) -> String {
    let payload = payload(fields);
    let signing_key = hex::encode(hmac_sha256(secret, auth_string_prefix.as_bytes()));
    let mut headers = [
        format!(
            "{}:{}",
            normalize("content-length"),
            normalize(&payload.len().to_string())
        ),
        format!(
            "{}:{}",
            normalize("content-type"),
            normalize(SIGNED_CONTENT_TYPE)
        ),
    ];
    headers.sort();
    let canonical_request = format!(
        "POST\n{uri}\n{SIGNED_HEADERS}\n{}\n{}",
        headers.join("\n"),
        normalize(&payload)
    );
    hex::encode(hmac_sha256(
        signing_key.as_bytes(),
        canonical_request.as_bytes(),
    ))
}

/// The compact JSON of the four signed fields, in the spec's order.
pub fn payload(f: &SignedFields<'_>) -> String {
    let s = |v: &str| serde_json::Value::from(v).to_string();
    format!(
        r#"{{"thirdUserName":{},"thirdUserId":{},"tenantSpaceId":{},"channelConfigId":{}}}"#,
        s(f.third_user_name),
        s(f.third_user_id),
        s(f.tenant_space_id),
        s(f.channel_config_id)
    )
}

/// Percent-encodes every UTF-8 byte except `A-Z a-z 0-9 - . _ ~`, as `%XX` with upper-case hex.
pub fn normalize(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// HMAC-SHA256 (RFC 2104) over the bare hash, independent of the `hmac` crate the signer uses.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// `yyyy-MM-ddTHH:mm:ss.SSSZ`, exactly, as UTC.
pub fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z';
    if !shape_ok {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        let digits = s.get(from..to)?;
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(5, 7)?).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(num(8, 10)?).ok()?).ok()?;
    let time = Time::from_hms_milli(
        u8::try_from(num(11, 13)?).ok()?,
        u8::try_from(num(14, 16)?).ok()?,
        u8::try_from(num(17, 19)?).ok()?,
        u16::try_from(num(20, 23)?).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

fn is_lower_hex_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
