//! Secrets: the channel `secretKey` of Authorization mode, the HS256 key of Token mode, the
//! shared store's Redis password, an API Fabric upstream's app key and secret (`crate::fabric`)
//! and the caller keys of routes.
//!
//! A secret lives in a [`SecretKey`] from the moment it is read until it is dropped. Its `Debug`
//! and `Display` print `<redacted>`, it has no `Serialize`, and the only way to the bytes is
//! `SecretKey::expose`, which the signer and the token module call and nothing else does.
//! A credential that a client presents (the admin listener's mint key) is checked with
//! [`SecretKey::matches`], in constant time, and never exposed.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Longest `secretKey` the CEC accepts (seed 004: "length 43, A-Z a-z 0-9 only").
pub(crate) const MAX_SIGNING_SECRET_LEN: usize = 43;
/// Shortest HS256 key Token mode accepts (RFC 7518 §3.2: a key of the hash's size or larger).
const MIN_TOKEN_SECRET_LEN: usize = 32;
/// Shortest mint key (`token.mint_key_*`) the admin listener accepts: as strong as the token key.
const MIN_MINT_KEY_LEN: usize = 32;

/// A secret value. Never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

/// Why a secret was refused. Carries lengths and rules, never the secret's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("is empty")]
    Empty,
    #[error("is {len} characters long; the CEC allows at most {MAX_SIGNING_SECRET_LEN}")]
    TooLong { len: usize },
    #[error("may hold only ASCII letters and digits (A-Z a-z 0-9)")]
    NotAlphanumeric,
    #[error("is {len} bytes long; HS256 needs at least {MIN_TOKEN_SECRET_LEN}")]
    TooShort { len: usize },
    #[error("is {len} bytes long; a mint key needs at least {MIN_MINT_KEY_LEN}")]
    MintKeyTooShort { len: usize },
    #[error("is {len} bytes long; a caller key needs at least {MIN_MINT_KEY_LEN}")]
    CallerKeyTooShort { len: usize },
    #[error("may hold only visible ASCII characters (no spaces or control characters)")]
    NotVisibleAscii,
}

impl SecretKey {
    /// A channel `secretKey` for auth-v2: 1 to 43 ASCII letters and digits.
    pub fn signing(text: &str) -> Result<Self, SecretError> {
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        if text.len() > MAX_SIGNING_SECRET_LEN {
            return Err(SecretError::TooLong { len: text.len() });
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SecretError::NotAlphanumeric);
        }
        Ok(Self(text.to_owned()))
    }

    /// An HS256 key for Token mode: at least 32 bytes, any content.
    pub(crate) fn token(text: &str) -> Result<Self, SecretError> {
        let text = text.trim_end_matches(['\r', '\n']);
        if text.len() < MIN_TOKEN_SECRET_LEN {
            return Err(SecretError::TooShort { len: text.len() });
        }
        Ok(Self(text.to_owned()))
    }

    /// The admin listener's mint key: at least 32 bytes, any content.
    pub(crate) fn mint(text: &str) -> Result<Self, SecretError> {
        let text = text.trim_end_matches(['\r', '\n']);
        if text.len() < MIN_MINT_KEY_LEN {
            return Err(SecretError::MintKeyTooShort { len: text.len() });
        }
        Ok(Self(text.to_owned()))
    }

    /// A route's caller key (`Authorization: Bearer`): at least 32 bytes, like the mint key.
    pub(crate) fn caller(text: &str) -> Result<Self, SecretError> {
        Self::mint(text).map_err(|e| match e {
            SecretError::MintKeyTooShort { len } => SecretError::CallerKeyTooShort { len },
            e => e,
        })
    }

    /// An API Fabric app key or app secret: not empty, visible ASCII only (the key goes into
    /// the `x-app-key` header, both into the token request's JSON).
    pub(crate) fn app_credential(text: &str) -> Result<Self, SecretError> {
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SecretError::NotVisibleAscii);
        }
        Ok(Self(text.to_owned()))
    }

    /// The shared store's Redis password: not empty, any content.
    pub(crate) fn password(text: &str) -> Result<Self, SecretError> {
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(text.to_owned()))
    }

    /// Whether `presented` is this secret, in constant time: the SHA-256 digests of both are
    /// compared byte for byte without an early exit, so neither the position of the first
    /// difference nor the secret's length shows in the time taken.
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
        let ours = Sha256::digest(self.0.as_bytes());
        let theirs = Sha256::digest(presented);
        ours.ct_eq(&theirs).into()
    }

    /// The secret's bytes, for a MAC key. Callers must not log, format or copy them elsewhere.
    pub(crate) fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The secret as text, for the Redis `AUTH` of the store's client; the same rules as
    /// [`SecretKey::expose`].
    pub(crate) fn expose_text(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_secret_rules() {
        assert!(SecretKey::signing("abcDEF123456").is_ok());
        assert!(SecretKey::signing(&"a".repeat(43)).is_ok());
        assert_eq!(SecretKey::signing(""), Err(SecretError::Empty));
        assert_eq!(
            SecretKey::signing(&"a".repeat(44)),
            Err(SecretError::TooLong { len: 44 })
        );
        assert_eq!(
            SecretKey::signing("abc-def"),
            Err(SecretError::NotAlphanumeric)
        );
        assert_eq!(SecretKey::signing("é"), Err(SecretError::NotAlphanumeric));
        // A file written by `echo` ends with a newline: that is not part of the key.
        assert_eq!(SecretKey::signing("abc\n").unwrap().expose(), b"abc");
    }

    #[test]
    fn token_secret_needs_32_bytes() {
        assert_eq!(
            SecretKey::token("short"),
            Err(SecretError::TooShort { len: 5 })
        );
        assert!(SecretKey::token(&"k".repeat(32)).is_ok());
    }

    #[test]
    fn mint_key_needs_32_bytes_and_matches_only_itself() {
        let err = SecretKey::mint(&"m".repeat(31)).unwrap_err();
        assert_eq!(err, SecretError::MintKeyTooShort { len: 31 });
        assert!(err.to_string().contains("at least 32"), "{err}");
        let key = SecretKey::mint(&format!("{}\n", "m".repeat(32))).unwrap();
        assert!(key.matches("m".repeat(32).as_bytes()));
        for wrong in ["", "m", &"m".repeat(31), &"m".repeat(33), &"n".repeat(32)] {
            assert!(!key.matches(wrong.as_bytes()), "{wrong:?}");
        }
    }

    #[test]
    fn caller_keys_and_app_credentials() {
        assert_eq!(
            SecretKey::caller("short"),
            Err(SecretError::CallerKeyTooShort { len: 5 })
        );
        assert!(SecretKey::caller(&"c".repeat(32)).is_ok());
        assert_eq!(SecretKey::app_credential("\n"), Err(SecretError::Empty));
        assert_eq!(
            SecretKey::app_credential("ab cd"),
            Err(SecretError::NotVisibleAscii)
        );
        assert_eq!(
            SecretKey::app_credential("AK-1/x\n").unwrap().expose(),
            b"AK-1/x"
        );
    }

    #[test]
    fn never_printed() {
        let key = SecretKey::signing("abcDEF123456").unwrap();
        assert_eq!(format!("{key:?}"), "<redacted>");
        assert_eq!(format!("{key}"), "<redacted>");
        assert!(!format!("{:?}", Some(&key)).contains("abcDEF"));
    }
}
