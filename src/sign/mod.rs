//! Authorization mode: the auth-v2 signer and the body injection around it. Pure, no I/O.
//!
//! The algorithm is the one pinned in `cec-integration.md` (seed 004, section 2.5.1):
//!
//! ```text
//! payload          = {"thirdUserName":..,"thirdUserId":..,"tenantSpaceId":..,"channelConfigId":..}
//! authStringPrefix = "auth-v2/" + channelConfigId + "/" + timestamp + "/content-length;content-type"
//! signingKey       = hex(HMAC-SHA256(secretKey, authStringPrefix))
//! canonicalRequest = METHOD \n URI \n SignedHeaders \n CanonicalHeaders \n normalize(payload)
//! signature        = hex(HMAC-SHA256(signingKey as hex text, canonicalRequest))
//! authorization    = authStringPrefix + "/" + signature
//! ```
//!
//! - `mod.rs` (here): [`sign`], `normalize`, [`timestamp`] — the algorithm itself;
//! - `body.rs`: `ClientBody`, the client's JSON body, parsed keeping every member's raw text,
//!   and the rewrite that drops `secretKey` and appends `thirdPartAuthorization`;
//! - `policy.rs`: the decision the proxy and the compatibility endpoint share ([`sign_body`],
//!   `authorize`) and its [`Refusal`]s;
//! - `explain.rs`: [`explain()`], the human-readable trace for `cec-gateway sign --explain`.
//!
//! The secret enters only as a [`SecretKey`] and leaves only as a MAC; neither it nor the derived
//! signingKey is stored in [`Signed`] or printed anywhere.

mod body;
mod explain;
mod policy;

pub use body::BodyError;
#[cfg(feature = "bench")]
pub(crate) use body::ClientBody;
pub use explain::explain;
pub(crate) use policy::authorize;
pub use policy::{Refusal, SignedBody, sign_body};

use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::secret::SecretKey;

/// `SignedHeaders`: the signed header names, lower-case, sorted, `;`-joined.
pub(crate) const SIGNED_HEADERS: &str = "content-length;content-type";
/// The signed `content-type` value.
pub(crate) const CONTENT_TYPE: &str = "application/json;charset=UTF-8";
/// The auth version, the first segment of the authorization.
const AUTH_VERSION: &str = "auth-v2";

/// The four body fields the signature covers. Serialized in declaration order, this struct *is*
/// the payload: compact JSON with serde_json's string escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fields<'a> {
    pub third_user_name: &'a str,
    pub third_user_id: &'a str,
    pub tenant_space_id: &'a str,
    pub channel_config_id: &'a str,
}

/// The result of [`sign`], with the intermediate texts an operator needs to compare against the
/// vendor's sample. None of them is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `thirdPartAuthorization`: `authStringPrefix + "/" + signature`.
    pub authorization: String,
    /// The compact JSON of the four fields (its byte length is the signed content-length).
    pub(crate) payload: String,
    pub(crate) auth_string_prefix: String,
    /// The exact text whose HMAC is the signature (lines separated by `\n`, no trailing `\n`).
    pub(crate) canonical_request: String,
}

/// Signs `fields` for a request `method uri_path` at `timestamp` (see [`timestamp`]).
///
/// `uri_path` is the upstream path without query. As the vendor requires, an empty path signs as
/// `/` and a path without a leading `/` gets one.
pub fn sign(
    method: &str,
    uri_path: &str,
    fields: &Fields<'_>,
    secret: &SecretKey,
    timestamp: &str,
) -> Signed {
    let payload = payload(fields);
    let auth_string_prefix = format!(
        "{AUTH_VERSION}/{}/{timestamp}/{SIGNED_HEADERS}",
        fields.channel_config_id
    );
    let signing_key = hex_lower(&hmac_sha256(secret.expose(), auth_string_prefix.as_bytes()));

    let uri = match uri_path {
        "" => "/",
        p => p,
    };
    // METHOD \n URI \n SignedHeaders \n CanonicalHeaders \n normalize(payload), where the
    // canonical headers are already sorted by name (content-length < content-type).
    let mut canonical_request = String::with_capacity(256 + uri.len() + 3 * payload.len());
    for part in [method, "\n"] {
        canonical_request.push_str(part);
    }
    if !uri.starts_with('/') {
        canonical_request.push('/');
    }
    canonical_request.push_str(uri);
    canonical_request.push('\n');
    canonical_request.push_str(SIGNED_HEADERS);
    let content_length = payload.len().to_string();
    for (name, value) in [
        ("content-length", content_length.as_str()),
        ("content-type", CONTENT_TYPE),
    ] {
        canonical_request.push('\n');
        normalize_into(&mut canonical_request, name);
        canonical_request.push(':');
        normalize_into(&mut canonical_request, value.trim());
    }
    canonical_request.push('\n');
    normalize_into(&mut canonical_request, &payload);

    let signature = hex_lower(&hmac_sha256(
        signing_key.as_bytes(),
        canonical_request.as_bytes(),
    ));
    Signed {
        authorization: format!("{auth_string_prefix}/{signature}"),
        payload,
        auth_string_prefix,
        canonical_request,
    }
}

/// Lower-case hex of a SHA-256 MAC.
fn hex_lower(mac: &[u8; 32]) -> String {
    let mut buf = [0u8; 64];
    hex::encode_to_slice(mac, &mut buf).expect("64 hex digits fit 64 bytes");
    String::from_utf8(buf.to_vec()).expect("hex digits are ASCII")
}

/// The compact JSON payload of the four signed fields, in order.
fn payload(fields: &Fields<'_>) -> String {
    serde_json::to_string(fields)
        .expect("a struct of four &str fields always serializes to a String")
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes every UTF-8 byte of `s` except the unreserved `A-Z a-z 0-9 - . _ ~`, as `%XX`
/// with upper-case hex (the vendor's `PathUtils.normalize`).
#[cfg(test)]
pub(crate) fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    normalize_into(&mut out, s);
    out
}

/// `normalize`, appending to `out`.
fn normalize_into(out: &mut String, s: &str) {
    // Built as bytes (the result is ASCII), unreserved bytes copied in runs.
    let bytes = s.as_bytes();
    let mut buf = Vec::with_capacity(bytes.len() * 3);
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            continue;
        }
        buf.extend_from_slice(&bytes[run..i]);
        buf.extend_from_slice(&[
            b'%',
            HEX_UPPER[usize::from(b >> 4)],
            HEX_UPPER[usize::from(b & 0x0F)],
        ]);
        run = i + 1;
    }
    buf.extend_from_slice(&bytes[run..]);
    out.push_str(std::str::from_utf8(&buf).expect("percent-encoded text is ASCII"));
}

/// `t` in UTC as `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'` (milliseconds truncated). A time outside the
/// years 1 to 9999 is clamped to that range's ends; a real clock is never there.
pub fn timestamp(t: SystemTime) -> String {
    let dt = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => OffsetDateTime::UNIX_EPOCH.checked_add(to_time(after)),
        Err(e) => OffsetDateTime::UNIX_EPOCH.checked_sub(to_time(e.duration())),
    };
    let dt = match dt {
        Some(d) => PrimitiveDateTime::new(d.date(), d.time()).clamp(YEAR_1, YEAR_9999_END),
        None if t > SystemTime::UNIX_EPOCH => YEAR_9999_END,
        None => YEAR_1,
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

const YEAR_1: PrimitiveDateTime = time::macros::datetime!(0001-01-01 00:00:00.000);
const YEAR_9999_END: PrimitiveDateTime = time::macros::datetime!(9999-12-31 23:59:59.999);

/// A std duration as a time duration, saturating (beyond ~292 billion years nothing is in range).
fn to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

#[cfg(test)]
mod tests;
