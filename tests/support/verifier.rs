//! An independent auth-v2 verifier, written from the spec in `cec-integration.md` and nothing
//! else: it shares no code with `src/sign` (its own JSON string escaping, percent-encoding,
//! timestamp parsing and hex check), so the mock CEC can catch a wrong signer.
//!
//! ```text
//! payload          = {"thirdUserName":..,"thirdUserId":..,"tenantSpaceId":..,"channelConfigId":..}
//! authStringPrefix = "auth-v2/" + channelConfigId + "/" + timestamp + "/" + "content-length;content-type"
//! signingKey       = lowercase hex of HMAC-SHA256(secretKey, authStringPrefix)
//! canonicalRequest = METHOD \n URI \n SignedHeaders \n CanonicalHeaders \n normalize(payload)
//! signature        = lowercase hex of HMAC-SHA256(signingKey as hex text, canonicalRequest)
//! ```

use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const SIGNED_HEADERS: &str = "content-length;content-type";
const CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// Why a body's `thirdPartAuthorization` was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("body field {0} is missing or not a string")]
    MissingField(&'static str),
    #[error(
        "authorization is not auth-v2/{{channel}}/{{timestamp}}/{{signedHeaders}}/{{64 lower-case hex}}: {0}"
    )]
    Malformed(String),
    #[error("signed headers {0:?} are not {SIGNED_HEADERS:?}")]
    SignedHeaders(String),
    #[error("authorization is for channel {auth:?}, body says {body:?}")]
    ChannelMismatch { auth: String, body: String },
    #[error("timestamp {0:?} is not yyyy-MM-ddTHH:mm:ss.SSSZ")]
    BadTimestamp(String),
    #[error("timestamp {0:?} is outside the window")]
    OutsideWindow(String),
    #[error("signature does not match")]
    BadSignature,
}

/// The four signed body fields.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    pub third_user_name: &'a str,
    pub third_user_id: &'a str,
    pub tenant_space_id: &'a str,
    pub channel_config_id: &'a str,
}

/// Checks the `thirdPartAuthorization` of `body` (a JSON object as the CEC received it) for a
/// request `method uri_path`, signed with `secret`, made within `window` of `now`.
pub fn verify(
    method: &str,
    uri_path: &str,
    body: &Value,
    secret: &str,
    now: SystemTime,
    window: Duration,
) -> Result<(), VerifyError> {
    let field = |name: &'static str| {
        body.get(name)
            .and_then(Value::as_str)
            .ok_or(VerifyError::MissingField(name))
    };
    let claims = Claims {
        third_user_name: field("thirdUserName")?,
        third_user_id: field("thirdUserId")?,
        tenant_space_id: field("tenantSpaceId")?,
        channel_config_id: field("channelConfigId")?,
    };
    let authorization = field("thirdPartAuthorization")?;

    let parts: Vec<&str> = authorization.split('/').collect();
    let [version, channel, timestamp, signed_headers, signature] = parts[..] else {
        return Err(VerifyError::Malformed(format!("{} segments", parts.len())));
    };
    if version != "auth-v2" {
        return Err(VerifyError::Malformed(format!("version {version:?}")));
    }
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(VerifyError::Malformed("signature".to_owned()));
    }
    if signed_headers != SIGNED_HEADERS {
        return Err(VerifyError::SignedHeaders(signed_headers.to_owned()));
    }
    if channel != claims.channel_config_id {
        return Err(VerifyError::ChannelMismatch {
            auth: channel.to_owned(),
            body: claims.channel_config_id.to_owned(),
        });
    }
    let at = parse_timestamp(timestamp)
        .ok_or_else(|| VerifyError::BadTimestamp(timestamp.to_owned()))?;
    let skew = match now.duration_since(at) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > window {
        return Err(VerifyError::OutsideWindow(timestamp.to_owned()));
    }

    let canonical = canonical_request(method, uri_path, &claims);
    let prefix = format!(
        "auth-v2/{}/{timestamp}/{SIGNED_HEADERS}",
        claims.channel_config_id
    );
    let signing_key = lower_hex(&mac(secret.as_bytes(), prefix.as_bytes()));
    let expected =
        hex::decode(signature).map_err(|_| VerifyError::Malformed("signature".to_owned()))?;
    let mut check =
        HmacSha256::new_from_slice(signing_key.as_bytes()).expect("HMAC takes any key length");
    check.update(canonical.as_bytes());
    // Constant-time comparison.
    check
        .verify_slice(&expected)
        .map_err(|_| VerifyError::BadSignature)
}

/// The `thirdPartAuthorization` a correct signer produces.
pub fn compute(
    method: &str,
    uri_path: &str,
    claims: &Claims<'_>,
    secret: &str,
    timestamp: &str,
) -> String {
    let prefix = format!(
        "auth-v2/{}/{timestamp}/{SIGNED_HEADERS}",
        claims.channel_config_id
    );
    let signing_key = lower_hex(&mac(secret.as_bytes(), prefix.as_bytes()));
    let signature = lower_hex(&mac(
        signing_key.as_bytes(),
        canonical_request(method, uri_path, claims).as_bytes(),
    ));
    format!("{prefix}/{signature}")
}

fn canonical_request(method: &str, uri_path: &str, claims: &Claims<'_>) -> String {
    let payload = payload(claims);
    let mut headers = [
        format!(
            "{}:{}",
            percent("content-length"),
            percent(&payload.len().to_string())
        ),
        format!(
            "{}:{}",
            percent("content-type"),
            percent(CONTENT_TYPE.trim())
        ),
    ];
    headers.sort();
    format!(
        "{method}\n{uri_path}\n{SIGNED_HEADERS}\n{}\n{}",
        headers.join("\n"),
        percent(&payload)
    )
}

fn payload(c: &Claims<'_>) -> String {
    format!(
        "{{\"thirdUserName\":{},\"thirdUserId\":{},\"tenantSpaceId\":{},\"channelConfigId\":{}}}",
        json_string(c.third_user_name),
        json_string(c.third_user_id),
        json_string(c.tenant_space_id),
        json_string(c.channel_config_id)
    )
}

/// RFC 8259 string literal: `"` `\` and control characters escaped (short forms where JSON has
/// them, else `\u00xx`), everything else, `/` and non-ASCII included, as is.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Percent-encodes every UTF-8 byte except `A-Z a-z 0-9 - . _ ~`, upper-case hex.
fn percent(s: &str) -> String {
    const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    s.bytes()
        .map(|b| {
            if UNRESERVED.contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn mac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(message);
    m.finalize().into_bytes().to_vec()
}

fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `yyyy-MM-ddTHH:mm:ss.SSSZ` (exactly 24 bytes, UTC) as a time.
fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = s.get(from..to)?;
        if !digits.bytes().all(|d| d.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second, milli) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let millis = ((days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60_000
        + second * 1000
        + milli;
    let offset = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(offset)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(offset)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
