//! The signing body rewrite: the fuzzer's bytes are the client's body of the signing POST.
//!
//! Checked: a signed body is one JSON object with every member of the client's body but
//! `secretKey` and `thirdPartAuthorization`, in order and byte for byte, then exactly one
//! `thirdPartAuthorization`, the signature of the four fields it carries (what the CEC checks);
//! signing it again gives it back unchanged; no channel secret appears that the client did not
//! send. A body that is such an object with a known channel is never refused, and a refusal is
//! a 4xx whose message holds no secret.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::config::{ChannelConfig, SecretSource, SigningConfig};
use crate::secret::SecretKey;
use crate::sign::{self, Fields, Refusal};

/// The signing path of the design's test vector.
const PATH: &str = "/service-cloud/webclient/chat_client/js/newThirdPartyClient.js";
/// The test vector's channel (any tenant) and its key.
const CHANNEL: (&str, &str) = ("817854979183314945", "abcDEF123456");
/// A second channel bound to a tenant.
const TENANT_CHANNEL: (&str, &str, &str) = ("42", "202007159031", "Zq9Wx8Ec7Rv6Tb5Yn4Um3Ik2Ol1Pa0");
/// 2024-08-19T08:30:00.000Z, the test vector's timestamp.
const NOW_SECS: u64 = 1_724_056_200;

fn config() -> SigningConfig {
    let channel = |id: &str, tenant: Option<&str>, secret: &str| ChannelConfig {
        config_id: id.to_owned(),
        tenant_space_id: tenant.map(str::to_owned),
        secret: SecretKey::signing(secret).expect("the fuzz channel keys are valid"),
        secret_source: SecretSource::Env("FUZZ".to_owned()),
    };
    SigningConfig {
        path: PATH.to_owned(),
        max_body: 64 * 1024,
        authorization_endpoint: None,
        channels: vec![
            channel(CHANNEL.0, None, CHANNEL.1),
            channel(TENANT_CHANNEL.0, Some(TENANT_CHANNEL.1), TENANT_CHANNEL.2),
        ],
    }
}

/// Signs `data` as a client body and checks the result (see the module's doc).
pub fn sign_body(data: &[u8]) {
    let cfg = config();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    let client = Entries::of(data);
    match sign::sign_body(&cfg, PATH, data, now) {
        Ok(signed) => check_signed(&cfg, data, client, &signed.body, &signed.authorization, now),
        Err(refusal) => check_refusal(&cfg, data, client, &refusal),
    }
}

fn check_signed(
    cfg: &SigningConfig,
    data: &[u8],
    client: Option<Vec<(String, Box<RawValue>)>>,
    body: &[u8],
    authorization: &str,
    now: SystemTime,
) {
    let client = client.expect("a signed body was a JSON object");
    let out = Entries::of(body).expect("the signed body is one JSON object");
    let (last, kept) = out.split_last().expect("the signed body has members");
    assert_eq!(
        last.0, "thirdPartAuthorization",
        "the signature is the last member"
    );
    assert_eq!(
        serde_json::from_str::<String>(last.1.get()).ok().as_deref(),
        Some(authorization)
    );
    assert!(
        kept.iter()
            .all(|(n, _)| n != "secretKey" && n != "thirdPartAuthorization"),
        "no secretKey and one thirdPartAuthorization in {:?}",
        String::from_utf8_lossy(body)
    );
    let wanted = client
        .iter()
        .filter(|(n, _)| n != "secretKey" && n != "thirdPartAuthorization");
    assert!(
        wanted
            .map(|(n, v)| (n, v.get()))
            .eq(kept.iter().map(|(n, v)| (n, v.get()))),
        "every other member kept in order, byte for byte"
    );
    // What the CEC does: read the four fields of the forwarded body and check the signature.
    let field = |name: &str| {
        kept.iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| serde_json::from_str::<String>(v.get()).ok())
            .expect("the four signed fields are forwarded as strings")
    };
    let (name, id, tenant, channel) = (
        field("thirdUserName"),
        field("thirdUserId"),
        field("tenantSpaceId"),
        field("channelConfigId"),
    );
    let fields = Fields {
        third_user_name: &name,
        third_user_id: &id,
        tenant_space_id: &tenant,
        channel_config_id: &channel,
    };
    let secret = &cfg
        .channel(&channel)
        .expect("signed for a known channel")
        .secret;
    let expected = sign::sign("POST", PATH, &fields, secret, &sign::timestamp(now));
    assert_eq!(
        expected.authorization, authorization,
        "the CEC would accept it"
    );
    let again = sign::sign_body(cfg, PATH, body, now).expect("a signed body signs again");
    assert_eq!(again.body, body, "signing is idempotent");
    for c in &cfg.channels {
        let key = c.secret.expose();
        assert!(
            contains(data, key) || !contains(body, key),
            "a channel secret appeared in the body"
        );
    }
}

fn check_refusal(
    cfg: &SigningConfig,
    data: &[u8],
    client: Option<Vec<(String, Box<RawValue>)>>,
    refusal: &Refusal,
) {
    assert!(refusal.status().is_client_error(), "{refusal:?}");
    refusal.reason();
    let message = format!("{refusal} {refusal:?}");
    for c in &cfg.channels {
        assert!(
            !contains(message.as_bytes(), c.secret.expose()),
            "{message}"
        );
    }
    let Some(members) = client else { return };
    let mut names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return;
    }
    let field = |name: &str| {
        members
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| serde_json::from_str::<String>(v.get()).ok())
    };
    let fields = [
        "thirdUserName",
        "thirdUserId",
        "tenantSpaceId",
        "channelConfigId",
    ]
    .map(field);
    if let [Some(_), Some(_), Some(tenant), Some(id)] = &fields
        && let Some(channel) = cfg.channel(id)
        && channel.tenant_space_id.as_ref().is_none_or(|t| t == tenant)
        && data.len() <= cfg.max_body
    {
        panic!("a signable body was refused: {refusal:?}");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A JSON object's members in order, duplicates kept, values as their raw text: parsed here
/// with serde_json alone, not with the signer's own parser.
struct Entries(Vec<(String, Box<RawValue>)>);

impl Entries {
    fn of(data: &[u8]) -> Option<Vec<(String, Box<RawValue>)>> {
        serde_json::from_slice::<Entries>(data).ok().map(|e| e.0)
    }
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    out.push((key, map.next_value::<Box<RawValue>>()?));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}
