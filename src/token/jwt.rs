//! The token itself: a standard HS256 JWT, minted and verified with `jsonwebtoken`.
//!
//! Claims: `sub` = userId, `name` = userName, `tid` = tenantSpaceId, `iat`, `exp` (unix seconds)
//! and `jti` (128 random bits, lower-case hex). An optional `nbf` from another minter is honoured.
//!
//! Time is always passed in (`now_unix`). `jsonwebtoken` 9 reads the wall clock for `exp`/`nbf`,
//! so its time checks are switched off and done here, after the signature verifies:
//! expired when `now > exp + leeway`, not yet valid when `iat > now + leeway` or
//! `nbf > now + leeway`.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::secret::SecretKey;

/// The claims of a Token mode JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// userId.
    pub(crate) sub: String,
    /// userName.
    pub(crate) name: String,
    /// tenantSpaceId.
    pub(crate) tid: String,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    pub(crate) jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nbf: Option<u64>,
}

/// Who a token is for: the three fields the CEC sends next to the token, compared exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) user_name: &'a str,
    pub(crate) tenant_space_id: &'a str,
}

/// A freshly minted token. `Debug` leaves the token out: it is a bearer credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Minted {
    pub token: String,
    /// `exp`, unix seconds.
    pub(crate) expires_at: u64,
    pub(crate) jti: String,
}

impl fmt::Debug for Minted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minted")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("jti", &self.jti)
            .finish()
    }
}

/// Why a token was refused. For logs and metrics only: every cause gets the same response body.
///
/// A unit enum on purpose: `jsonwebtoken`'s and `serde_json`'s errors can quote decoded token
/// content, so they are classified here and dropped, and nothing of the token survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub(crate) enum Invalid {
    #[error("signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    /// `alg` is not HS256, including names `jsonwebtoken` does not know such as `none` (a header
    /// that is JSON but not a valid JWT header counts here too).
    #[error("algorithm is not HS256")]
    WrongAlg,
    /// Not three base64url parts, bad JSON, a missing or mistyped claim, or an `aud` claim
    /// (the gateway never issues one).
    #[error("token is malformed")]
    Malformed,
    #[error("sub does not match userId")]
    SubMismatch,
    #[error("name does not match userName")]
    NameMismatch,
    #[error("tid does not match tenantSpaceId")]
    TenantMismatch,
    #[error("token already used")]
    Replayed,
    /// Single-use mode and the replay store is full of unexpired entries: refused (fail closed).
    #[error("replay store full")]
    ReplayStoreFull,
    /// Single-use mode with a shared store that did not answer within `store.timeout`: refused
    /// (fail closed), since the token's first use could not be recorded.
    #[error("shared store unavailable")]
    StoreUnavailable,
}

impl Invalid {
    /// A stable snake_case label for metrics and logs.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Invalid::BadSignature => "bad_signature",
            Invalid::Expired => "expired",
            Invalid::NotYetValid => "not_yet_valid",
            Invalid::WrongAlg => "wrong_alg",
            Invalid::Malformed => "malformed",
            Invalid::SubMismatch => "sub_mismatch",
            Invalid::NameMismatch => "name_mismatch",
            Invalid::TenantMismatch => "tenant_mismatch",
            Invalid::Replayed => "replayed",
            Invalid::ReplayStoreFull => "replay_store_full",
            Invalid::StoreUnavailable => "store_unavailable",
        }
    }
}

/// The HS256 keys and verification rules, built once. `Debug` prints no key material.
pub(crate) struct Codec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    leeway: u64,
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("alg", &"HS256")
            .field("key", &"<redacted>")
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl Codec {
    pub(crate) fn new(secret: &SecretKey, leeway: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Time is checked in `verify` against the caller's clock; see the module doc.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret.expose()),
            decoding: DecodingKey::from_secret(secret.expose()),
            validation,
            leeway: leeway.as_secs(),
        }
    }

    /// A token for `who`, valid from `now_unix` for `ttl` (whole seconds).
    pub(crate) fn mint(&self, who: Identity<'_>, ttl: Duration, now_unix: u64) -> Minted {
        let claims = Claims {
            sub: who.user_id.to_owned(),
            name: who.user_name.to_owned(),
            tid: who.tenant_space_id.to_owned(),
            iat: now_unix,
            exp: now_unix.saturating_add(ttl.as_secs()),
            jti: format!("{:032x}", rand::random::<u128>()),
            nbf: None,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 over claims of strings and integers cannot fail to encode");
        Minted {
            token,
            expires_at: claims.exp,
            jti: claims.jti,
        }
    }

    /// The token's claims if it is a valid HS256 token for `who` at `now_unix`.
    ///
    /// Checks, in order: header (HS256 only), signature, claims shape (`sub`, `name`, `tid`,
    /// `iat`, `exp`, `jti` required), time (with leeway), then `sub`/`name`/`tid` equality.
    /// Single use is the caller's job (see `replay`).
    pub(crate) fn verify(
        &self,
        token: &str,
        who: Identity<'_>,
        now_unix: u64,
    ) -> Result<Claims, Invalid> {
        match jsonwebtoken::decode_header(token) {
            Ok(header) if header.alg == Algorithm::HS256 => {}
            Ok(_) => return Err(Invalid::WrongAlg),
            Err(e) => return Err(classify_header(e.kind())),
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| classify_decode(e.kind()))?
            .claims;
        if now_unix > claims.exp.saturating_add(self.leeway) {
            return Err(Invalid::Expired);
        }
        let latest_start = now_unix.saturating_add(self.leeway);
        if claims.iat > latest_start || claims.nbf.is_some_and(|nbf| nbf > latest_start) {
            return Err(Invalid::NotYetValid);
        }
        if claims.sub != who.user_id {
            return Err(Invalid::SubMismatch);
        }
        if claims.name != who.user_name {
            return Err(Invalid::NameMismatch);
        }
        if claims.tid != who.tenant_space_id {
            return Err(Invalid::TenantMismatch);
        }
        Ok(claims)
    }

    /// The leeway in seconds.
    pub(crate) fn leeway(&self) -> u64 {
        self.leeway
    }
}

// Both classifiers drop the error: it may quote token content.

/// Why `decode_header` failed.
fn classify_header(kind: &ErrorKind) -> Invalid {
    match kind {
        // JSON, but not a JWT header: an `alg` jsonwebtoken does not know, such as "none".
        ErrorKind::Json(e) if e.classify() == serde_json::error::Category::Data => {
            Invalid::WrongAlg
        }
        ErrorKind::InvalidAlgorithmName | ErrorKind::MissingAlgorithm => Invalid::WrongAlg,
        _ => Invalid::Malformed,
    }
}

/// Why `decode` failed, once the header is known to say HS256.
fn classify_decode(kind: &ErrorKind) -> Invalid {
    match kind {
        ErrorKind::InvalidSignature => Invalid::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => Invalid::WrongAlg,
        // Switched off in `Codec::new` (checked in `verify`); labelled here in case that changes.
        ErrorKind::ExpiredSignature => Invalid::Expired,
        ErrorKind::ImmatureSignature => Invalid::NotYetValid,
        // Base64 or JSON of the payload, a missing or mistyped claim, an `aud` claim.
        _ => Invalid::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHO: Identity<'static> = Identity {
        user_id: "10010001",
        user_name: "Tom",
        tenant_space_id: "202007159031",
    };

    fn codec() -> Codec {
        let key = SecretKey::token("jwt-unit-test-key-0123456789abcdef").expect("32+ bytes");
        Codec::new(&key, Duration::from_secs(30))
    }

    #[test]
    fn mint_then_verify() {
        let codec = codec();
        let minted = codec.mint(WHO, Duration::from_secs(600), 1_000);
        assert_eq!(minted.expires_at, 1_600);
        let claims = codec
            .verify(&minted.token, WHO, 1_000)
            .expect("fresh token verifies");
        let want = Claims {
            sub: WHO.user_id.into(),
            name: WHO.user_name.into(),
            tid: WHO.tenant_space_id.into(),
            iat: 1_000,
            exp: 1_600,
            jti: minted.jti.clone(),
            nbf: None,
        };
        assert_eq!(claims, want);
        assert_eq!(
            codec.verify(&minted.token, WHO, 1_631),
            Err(Invalid::Expired)
        );
        assert_eq!(
            codec.verify(&minted.token, WHO, 969),
            Err(Invalid::NotYetValid)
        );
    }

    #[test]
    fn debug_shows_neither_key_nor_token() {
        let codec = codec();
        let minted = codec.mint(WHO, Duration::from_secs(600), 1_000);
        for text in [format!("{codec:?}"), format!("{minted:?}")] {
            assert!(!text.contains("jwt-unit-test-key"), "{text}");
            assert!(!text.contains(&minted.token), "{text}");
        }
    }
}
