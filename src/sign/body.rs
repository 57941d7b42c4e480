//! The client's JSON body of `newThirdPartyClient.js`: parsed just enough to read the four signed
//! fields, and rewritten with every other member's raw text kept byte-for-byte.
//!
//! The rewrite drops any client `secretKey` (the vendor's sample page sends it from the browser;
//! it must never travel on) and any client `thirdPartAuthorization` (forged or stale), then
//! appends `"thirdPartAuthorization":"<auth>"` as the last member. Member names are compared
//! after JSON decoding, so `"secret\u004bey"` is `secretKey` too, and a name that appears twice is
//! refused: with two `thirdUserId`s the CEC might read the one that was not signed.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::Fields;

/// The member that carries the signature.
const AUTHORIZATION: &str = "thirdPartAuthorization";
/// The member the vendor's sample page sends from the browser; never forwarded.
const SECRET_KEY: &str = "secretKey";

const THIRD_USER_NAME: &str = "thirdUserName";
const THIRD_USER_ID: &str = "thirdUserId";
const TENANT_SPACE_ID: &str = "tenantSpaceId";
const CHANNEL_CONFIG_ID: &str = "channelConfigId";

/// Longest member name a [`BodyError::DuplicateKey`] keeps (it is shown to the client).
const MAX_KEY_SHOWN: usize = 64;

/// Why a client body cannot be signed. Messages name fields, never echo values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body is not UTF-8")]
    NotUtf8,
    #[error("request body is not valid JSON")]
    NotJson,
    #[error("request body is not a JSON object")]
    NotObject,
    /// The member name, cut to 64 bytes.
    #[error("request body has the member {0:?} more than once")]
    DuplicateKey(String),
    #[error("request body lacks the field {0}")]
    MissingField(&'static str),
    #[error("field {0} must be a JSON string")]
    NotAString(&'static str),
}

/// A parsed client body: its members in order (decoded name, raw value text) and the decoded
/// signed fields. Its `Debug` shows member names and the signed fields, never other values (a
/// client `secretKey` among them).
pub(crate) struct ClientBody<'a> {
    members: Vec<(String, &'a RawValue)>,
    /// Byte length of the parsed text, to size the output.
    source_len: usize,
    third_user_name: String,
    third_user_id: String,
    tenant_space_id: String,
    channel_config_id: String,
}

impl<'a> ClientBody<'a> {
    /// Parses `bytes`: UTF-8, one JSON object, no repeated member name, the four signed fields
    /// present as JSON strings.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, BodyError> {
        let text = std::str::from_utf8(bytes).map_err(|_| BodyError::NotUtf8)?;
        let Members(members) = match serde_json::from_str::<Members<'a>>(text) {
            Ok(m) => m,
            // Valid JSON that is not an object, or not JSON at all?
            Err(_) => {
                return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                    Ok(_) => BodyError::NotObject,
                    Err(_) => BodyError::NotJson,
                });
            }
        };
        if let Some(dup) = first_duplicate(&members) {
            return Err(BodyError::DuplicateKey(shorten(dup)));
        }
        let field = |name: &'static str| -> Result<String, BodyError> {
            let (_, raw) = members
                .iter()
                .find(|(n, _)| n == name)
                .ok_or(BodyError::MissingField(name))?;
            serde_json::from_str::<String>(raw.get()).map_err(|_| BodyError::NotAString(name))
        };
        Ok(Self {
            third_user_name: field(THIRD_USER_NAME)?,
            third_user_id: field(THIRD_USER_ID)?,
            tenant_space_id: field(TENANT_SPACE_ID)?,
            channel_config_id: field(CHANNEL_CONFIG_ID)?,
            members,
            source_len: text.len(),
        })
    }

    /// The four signed fields, decoded.
    pub(crate) fn fields(&self) -> Fields<'_> {
        Fields {
            third_user_name: &self.third_user_name,
            third_user_id: &self.third_user_id,
            tenant_space_id: &self.tenant_space_id,
            channel_config_id: &self.channel_config_id,
        }
    }

    /// The body to forward: every member except `secretKey` and `thirdPartAuthorization`, in
    /// order with its raw value text, then `"thirdPartAuthorization":authorization`.
    pub(crate) fn inject(&self, authorization: &str) -> Vec<u8> {
        let kept = self
            .members
            .iter()
            .filter(|(name, _)| name != SECRET_KEY && name != AUTHORIZATION);
        let mut out = String::with_capacity(self.source_len + authorization.len() + 32);
        out.push('{');
        for (name, value) in kept {
            push_json_string(&mut out, name);
            out.push(':');
            out.push_str(value.get());
            out.push(',');
        }
        push_json_string(&mut out, AUTHORIZATION);
        out.push(':');
        push_json_string(&mut out, authorization);
        out.push('}');
        out.into_bytes()
    }
}

impl fmt::Debug for ClientBody<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBody")
            .field(
                "members",
                &self
                    .members
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("fields", &self.fields())
            .finish()
    }
}

/// Appends `s` as a JSON string literal, with serde_json's escaping.
fn push_json_string(out: &mut String, s: &str) {
    // serde_json's escaping; a plain string (the common case) needs no intermediate value.
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b.is_ascii())
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("a str always serializes"));
    }
}

/// `name` cut to at most [`MAX_KEY_SHOWN`] bytes on a character boundary.
/// The first member name that occurs twice. A handful of members (the usual body) are compared
/// pairwise; many use a set, so a large body cannot make this quadratic.
fn first_duplicate<'m>(members: &'m [(String, &RawValue)]) -> Option<&'m str> {
    if members.len() <= 16 {
        return members
            .iter()
            .enumerate()
            .find(|(i, (name, _))| members[..*i].iter().any(|(other, _)| other == name))
            .map(|(_, (name, _))| name.as_str());
    }
    let mut seen = HashSet::with_capacity(members.len());
    members
        .iter()
        .map(|(name, _)| name.as_str())
        .find(|name| !seen.insert(*name))
}

fn shorten(name: &str) -> String {
    let mut end = name.len().min(MAX_KEY_SHOWN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

/// A JSON object's members in document order, duplicates included, values as raw text.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_not_values() {
        let body = br#"{"secretKey":"abcDEF123456","thirdUserName":"Tom","thirdUserId":"1","tenantSpaceId":"2","channelConfigId":"3"}"#;
        let parsed = ClientBody::parse(body).unwrap();
        let debug = format!("{parsed:?}");
        assert!(
            debug.contains("\"secretKey\"") && debug.contains("Tom"),
            "{debug}"
        );
        assert!(!debug.contains("abcDEF123456"), "{debug}");
    }

    #[test]
    fn whitespace_around_values_is_not_kept_but_inside_is() {
        let body = b" {\"a\" :\t[ 1 ] ,\"thirdUserName\":\"Tom\",\"thirdUserId\":\"1\",\"tenantSpaceId\":\"2\",\"channelConfigId\":\"3\"}\n";
        let out = ClientBody::parse(body).unwrap().inject("X");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":[ 1 ],"thirdUserName":"Tom","thirdUserId":"1","tenantSpaceId":"2","channelConfigId":"3","thirdPartAuthorization":"X"}"#
        );
    }
}
