//! The token exchange as data: the `tokenByAkSk` request the gateway sends, and what it takes
//! from the answer. Pure; the request is sent by `crate::upstream`.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Uri};

use super::TokenError;
use crate::body::{ProxyBody, full};
use crate::config::FabricAuth;

/// What a usable token answer gives: the `Authorization` value and how long it lives.
#[derive(Debug)]
pub(crate) struct Answer {
    /// `Bearer <AccessToken>`, marked sensitive (its `Debug` is `Sensitive`).
    pub(crate) authorization: HeaderValue,
    /// The answer's `Expires`, in seconds from when it arrived.
    pub(crate) lifetime: Duration,
    /// When to replace it, from now: set for a token another replica fetched (its fetcher
    /// decided); else `refresh_before` ahead of the expiry, at most a quarter of the life.
    pub(crate) refresh_in: Option<Duration>,
    /// Taken from the shared store, not from a `tokenByAkSk` of this process.
    pub(crate) shared: bool,
}

/// `POST <token_path>` on the upstream at `scheme://authority`, with the app key and secret as
/// the JSON body and `token_ttl` as `X-Token-Expire`.
pub(crate) fn token_request(
    auth: &FabricAuth,
    scheme: &http::uri::Scheme,
    authority: &HeaderValue,
) -> Request<ProxyBody> {
    let body = serde_json::json!({
        "app_key": String::from_utf8_lossy(auth.app_key.key.expose()),
        "app_secret": String::from_utf8_lossy(auth.app_secret.key.expose()),
    })
    .to_string();
    let uri = Uri::builder()
        .scheme(scheme.clone())
        .authority(authority.as_bytes())
        .path_and_query(auth.token_path.as_str())
        .build()
        .expect("a parsed origin and an absolute path make a URI");
    let mut req = Request::new(full(Bytes::from(body)));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    h.insert(header::HOST, authority.clone());
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "x-token-expire",
        HeaderValue::from(auth.token_ttl.as_secs()),
    );
    req
}

/// The token from a 200 answer's body: `AccessToken` (a non-empty header-safe string),
/// `Expires` (seconds, as a string or a number, at least 1) and `ApplyType`, which when given
/// must be `Bearer`. The error never quotes the body, which may hold a token.
pub(crate) fn parse_answer(body: &[u8]) -> Result<Answer, TokenError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| TokenError::Answer("not JSON"))?;
    let token = v
        .get("AccessToken")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Answer("no AccessToken"))?;
    let expires = match v.get("Expires") {
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(n) => n.as_u64(),
        None => None,
    };
    let lifetime = expires
        .filter(|&s| s >= 1)
        .map(Duration::from_secs)
        .ok_or(TokenError::Answer("no Expires of at least 1 second"))?;
    match v.get("ApplyType").and_then(|a| a.as_str()) {
        Some(kind) if !kind.eq_ignore_ascii_case("bearer") => {
            return Err(TokenError::Answer("ApplyType is not Bearer"));
        }
        _ => {}
    }
    let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| TokenError::Answer("AccessToken is not a valid header value"))?;
    authorization.set_sensitive(true);
    Ok(Answer {
        authorization,
        lifetime,
        refresh_in: None,
        shared: false,
    })
}
