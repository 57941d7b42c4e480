//! The auth-v2 verifier: checks a `thirdPartAuthorization` the way the CEC would. The mock CEC
//! ([`super::mock_cec`]) answers with it, and the integration tests check the gateway's signer
//! against it (`tests/verifier_vector.rs` pins it to the published test vector).
//!
//! Written from the spec in `shared/design/cec-integration.md` and nothing else, deliberately
//! apart from the gateway's signer (`crate::sign`): its own JSON string escaping, its own
//! percent-encoding, its own HMAC-SHA256 (RFC 2104 over the bare `sha2` hash, where the signer
//! uses the `hmac` crate and serde_json), its own parsing. A signer bug therefore shows up as a
//! refusal instead of being mirrored by shared code.
//!
//! ```text
//! payload          = {"thirdUserName":..,"thirdUserId":..,"tenantSpaceId":..,"channelConfigId":..}
//! authStringPrefix = "auth-v2/" + channelConfigId + "/" + timestamp + "/" + "content-length;content-type"
//! signingKey       = lowercase hex of HMAC-SHA256(secretKey, authStringPrefix)
//! canonicalRequest = METHOD \n URI \n SignedHeaders \n CanonicalHeaders \n normalize(payload)
//! signature        = lowercase hex of HMAC-SHA256(signingKey as hex text, canonicalRequest)
//! ```

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::secret::SecretKey;

/// The only algorithm this verifier knows.
const ALGORITHM: &str = "auth-v2";
/// The signed headers the spec pins, in their canonical order.
pub(crate) const SIGNED_HEADERS: &str = "content-length;content-type";
/// The content type that is signed (not necessarily the one sent).
const SIGNED_CONTENT_TYPE: &str = "application/json;charset=UTF-8";
/// The body field that carries the signature.
const AUTHORIZATION_FIELD: &str = "thirdPartAuthorization";
/// How far the signature's timestamp may be from the verifier's clock, either way, by default.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

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

impl<'a> SignedFields<'a> {
    /// The four fields of a `thirdUserData` JSON body; each must be a string.
    pub(crate) fn from_json(body: &'a Value) -> Result<Self, VerifyError> {
        Ok(Self {
            third_user_name: string_field(body, "thirdUserName")?,
            third_user_id: string_field(body, "thirdUserId")?,
            tenant_space_id: string_field(body, "tenantSpaceId")?,
            channel_config_id: string_field(body, "channelConfigId")?,
        })
    }
}

/// The body's `thirdPartAuthorization`, which must be a string.
pub(crate) fn authorization_field(body: &Value) -> Result<&str, VerifyError> {
    string_field(body, AUTHORIZATION_FIELD)
}

fn string_field<'a>(body: &'a Value, name: &'static str) -> Result<&'a str, VerifyError> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or(VerifyError::MissingField(name))
}

/// What is wrong with the shape of a `thirdPartAuthorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Not five `/`-separated parts (how many there are).
    Segments(usize),
    /// Another algorithm than `auth-v2` (`ALGORITHM`).
    Algorithm(String),
    /// No channel between the slashes.
    EmptyChannel,
    /// The signature is not 64 lower-case hex digits.
    Signature,
}

/// Why a `thirdPartAuthorization` was refused. Never carries a secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("body field {0} is missing or not a string")]
    MissingField(&'static str),
    #[error("not of the form auth-v2/<channel>/<timestamp>/<signed headers>/<signature>: {0:?}")]
    Malformed(Shape),
    #[error("signed headers are {0:?}; expected {SIGNED_HEADERS:?}")]
    SignedHeaders(String),
    #[error("signed for channel {signed:?} but the body names channel {body:?}")]
    ChannelMismatch { signed: String, body: String },
    #[error("timestamp {0:?} is not yyyy-MM-ddTHH:mm:ss.SSSZ")]
    Timestamp(String),
    #[error("timestamp {timestamp:?} is {skew_ms} ms away from now, outside the window")]
    Stale { timestamp: String, skew_ms: i128 },
    #[error("no secret is known for channel {0:?}")]
    UnknownChannel(String),
    #[error("signature does not match")]
    Signature,
}

/// Verifies signatures for the channels it knows, within a clock window.
pub struct Verifier {
    channels: Channels,
    window: Duration,
}

impl Verifier {
    /// A verifier for `channels` (config_id → secret) with the window `MAX_SKEW` (5 minutes).
    pub fn new(channels: Channels) -> Self {
        Self {
            channels,
            window: MAX_SKEW,
        }
    }

    /// The same verifier, accepting timestamps at most `window` from its clock.
    pub fn with_window(self, window: Duration) -> Self {
        Self { window, ..self }
    }

    /// Checks the `thirdPartAuthorization` of `body` (a JSON object as the CEC received it) for
    /// a request `method uri` (the path, no query) at the time `now`.
    pub fn verify_body(
        &self,
        method: &str,
        uri: &str,
        body: &Value,
        now: OffsetDateTime,
    ) -> Result<(), VerifyError> {
        let fields = SignedFields::from_json(body)?;
        self.verify(method, uri, &fields, authorization_field(body)?, now)
    }

    /// Checks `authorization` against the body `fields` of a request `method uri` (the path,
    /// no query) at the time `now`.
    pub fn verify(
        &self,
        method: &str,
        uri: &str,
        fields: &SignedFields<'_>,
        authorization: &str,
        now: OffsetDateTime,
    ) -> Result<(), VerifyError> {
        // auth-v2/{channel}/{timestamp}/{signed headers}/{signature}; no part contains a '/'.
        let parts: Vec<&str> = authorization.split('/').collect();
        let [algorithm, channel, timestamp, signed_headers, signature] = parts[..] else {
            return Err(VerifyError::Malformed(Shape::Segments(parts.len())));
        };
        if algorithm != ALGORITHM {
            return Err(VerifyError::Malformed(Shape::Algorithm(
                algorithm.to_owned(),
            )));
        }
        if channel.is_empty() {
            return Err(VerifyError::Malformed(Shape::EmptyChannel));
        }
        if !is_lower_hex_sha256(signature) {
            return Err(VerifyError::Malformed(Shape::Signature));
        }
        if signed_headers != SIGNED_HEADERS {
            return Err(VerifyError::SignedHeaders(signed_headers.to_owned()));
        }
        if channel != fields.channel_config_id {
            return Err(VerifyError::ChannelMismatch {
                signed: channel.to_owned(),
                body: fields.channel_config_id.to_owned(),
            });
        }
        let at = parse_timestamp(timestamp)
            .ok_or_else(|| VerifyError::Timestamp(timestamp.to_owned()))?;
        let skew = now - at;
        if skew.unsigned_abs() > self.window {
            return Err(VerifyError::Stale {
                timestamp: timestamp.to_owned(),
                skew_ms: skew.whole_milliseconds(),
            });
        }
        let secret = self
            .channels
            .get(channel)
            .ok_or_else(|| VerifyError::UnknownChannel(channel.to_owned()))?;
        let prefix = auth_string_prefix(channel, timestamp);
        let expected = expected_signature(secret.expose(), &prefix, method, uri, fields);
        if constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            Ok(())
        } else {
            Err(VerifyError::Signature)
        }
    }
}

/// The `thirdPartAuthorization` a correct signer gives `fields` with `secret` at `timestamp`
/// (`yyyy-MM-ddTHH:mm:ss.SSSZ`), for a request `method uri`.
pub fn authorization(
    secret: &[u8],
    timestamp: &str,
    method: &str,
    uri: &str,
    fields: &SignedFields<'_>,
) -> String {
    let prefix = auth_string_prefix(fields.channel_config_id, timestamp);
    let signature = expected_signature(secret, &prefix, method, uri, fields);
    format!("{prefix}/{signature}")
}

fn auth_string_prefix(channel: &str, timestamp: &str) -> String {
    format!("{ALGORITHM}/{channel}/{timestamp}/{SIGNED_HEADERS}")
}

/// The signature (lower-case hex) that `secret` gives `fields` under `auth_string_prefix`.
fn expected_signature(
    secret: &[u8],
    auth_string_prefix: &str,
    method: &str,
    uri: &str,
    fields: &SignedFields<'_>,
) -> String {
    let signing_key = lower_hex(&hmac_sha256(secret, auth_string_prefix.as_bytes()));
    let canonical = canonical_request(method, uri, fields);
    lower_hex(&hmac_sha256(signing_key.as_bytes(), canonical.as_bytes()))
}

fn canonical_request(method: &str, uri: &str, fields: &SignedFields<'_>) -> String {
    let payload = payload(fields);
    let mut headers = [
        format!(
            "{}:{}",
            normalize("content-length"),
            normalize(&payload.len().to_string())
        ),
        format!(
            "{}:{}",
            normalize("content-type"),
            normalize(SIGNED_CONTENT_TYPE.trim())
        ),
    ];
    headers.sort();
    format!(
        "{method}\n{uri}\n{SIGNED_HEADERS}\n{}\n{}",
        headers.join("\n"),
        normalize(&payload)
    )
}

/// The compact JSON of the four signed fields, in the spec's order.
pub(crate) fn payload(f: &SignedFields<'_>) -> String {
    format!(
        r#"{{"thirdUserName":{},"thirdUserId":{},"tenantSpaceId":{},"channelConfigId":{}}}"#,
        json_string(f.third_user_name),
        json_string(f.third_user_id),
        json_string(f.tenant_space_id),
        json_string(f.channel_config_id)
    )
}

/// RFC 8259 string literal: `"` `\` and control characters escaped (short forms where JSON has
/// them, else `\u00xx`), everything else, `/` and non-ASCII included, as is.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Percent-encodes every UTF-8 byte except `A-Z a-z 0-9 - . _ ~`, as `%XX` with upper-case hex.
pub(crate) fn normalize(s: &str) -> String {
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
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
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

fn lower_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// `yyyy-MM-ddTHH:mm:ss.SSSZ`, exactly (24 ASCII bytes, real calendar date), as UTC.
fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
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
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
