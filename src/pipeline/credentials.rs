//! Who may call, and what the upstream is shown: the route's caller checks
//! ([`Gateway::admit_caller`], before anything is forwarded), and for an upstream with `auth`
//! the API Fabric headers ([`send`]): a token from the upstream's `crate::fabric::TokenCache`
//! (fetched with the upstream's own pooled client, `Upstream::fetch_token`, or with `[store]`
//! the fleet's), `x-app-key` and `Authorization` set,
//! and when the API answers 401, one new token and one more attempt with the same body. The
//! body is kept for that when it is empty or declares a `Content-Length` up to
//! `auth.max_retry_body`; any other body streams, and a 401 to it is passed on.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use http_body::Body;
use hyper::body::Incoming;

use super::send;
use crate::body::{BodyError, ProxyBody, empty, full, read_limited};
use crate::connection::ConnInfo;
use crate::error::ProxyError;
use crate::fabric::{NoToken, TokenCache};
use crate::gateway::Gateway;
use crate::headers;
use crate::route::Route;
use crate::store::{self, StoreConn};
use crate::upstream::Upstream;

impl Gateway {
    /// The route's `allowed_callers` (against the client address, the PROXY header's or the
    /// trusted proxies' when there is one) and caller key; the key is taken off the request.
    pub(super) fn admit_caller(
        &self,
        route: &Route,
        conn: ConnInfo,
        h: &mut HeaderMap,
    ) -> Result<(), ProxyError> {
        if !route.restricts_callers() {
            return Ok(());
        }
        let trusted = &self.config().forwarding.trusted_proxies;
        let client = headers::client_address(conn.peer.ip(), trusted, h).real_ip;
        route.admit(client, h).map_err(ProxyError::Caller)
    }
}

/// Sends the request to an upstream with `auth`, as the module says. `deadline` bounds the
/// reading of a body that is kept for a retry.
pub(super) async fn send(
    upstream: &Upstream,
    cache: &TokenCache,
    store: Option<&StoreConn>,
    mut parts: Parts,
    body: ProxyBody,
    deadline: Duration,
) -> Result<Response<Incoming>, ProxyError> {
    let no_token = |source: NoToken| ProxyError::Credential {
        upstream: upstream.name.clone(),
        source,
    };
    let auth = cache.auth();
    // With `[store]`, the fleet's token (fetched here only when no replica has one).
    let fetch = |stale: Option<HeaderValue>| async move {
        let own = || upstream.fetch_token(auth);
        match store {
            Some(s) => {
                let (name, ahead) = (&upstream.name, auth.refresh_before);
                store::obtain_token(s, name, ahead, stale.as_ref(), own).await
            }
            None => own().await,
        }
    };
    let token = cache.token(None, || fetch(None)).await.map_err(no_token)?;
    let (body, replay) = keep_for_retry(&parts.headers, body, cache.max_retry_body(), deadline)
        .await
        .map_err(ProxyError::ClientBody)?;
    let again = replay.map(|bytes| (send::copy(&parts), bytes));
    cache.inject(&mut parts.headers, &token);
    let resp = send::send(upstream, parts, body).await?;
    let Some((mut parts, bytes)) = again.filter(|_| resp.status() == StatusCode::UNAUTHORIZED)
    else {
        return Ok(resp);
    };
    let stale = Some(token.authorization().clone());
    let fresh = cache.token(Some(&token), || fetch(stale)).await;
    let fresh = fresh.map_err(no_token)?;
    if fresh.serial() == token.serial() {
        return Ok(resp);
    }
    drop(resp);
    tracing::info!(upstream = %upstream.name, "the API answered 401: once more with a new token");
    cache.inject(&mut parts.headers, &fresh);
    let body = if bytes.is_empty() {
        empty()
    } else {
        full(bytes)
    };
    send::send(upstream, parts, body).await
}

/// The body to send, and a copy to send again when it may be retried: an empty body, or one
/// whose declared length is at most `max` (read whole here).
async fn keep_for_retry(
    h: &HeaderMap,
    body: ProxyBody,
    max: usize,
    deadline: Duration,
) -> Result<(ProxyBody, Option<Bytes>), BodyError> {
    if body.is_end_stream() {
        return Ok((body, Some(Bytes::new())));
    }
    let declared = body.size_hint().exact();
    if declared.is_none_or(|n| n > max as u64) {
        return Ok((body, None));
    }
    let bytes = read_limited(body, h, max, deadline).await?;
    Ok((full(bytes.clone()), Some(bytes)))
}
