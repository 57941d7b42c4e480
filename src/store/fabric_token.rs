//! One API Fabric token for the whole fleet, through the shared store (`[store]`): replicas
//! take the token another one fetched instead of asking `tokenByAkSk` themselves. The request
//! path (`crate::pipeline::credentials`) hands [`obtain_token`] to the upstream's
//! `crate::fabric::TokenCache` as its way to fetch.
//!
//! ```text
//!   <prefix>fabric:<upstream>:token   "<expires at ms> <refresh at ms> Bearer <AccessToken>",
//!                                     expiring with the token (PXAT)
//!   <prefix>fabric:<upstream>:lock    held (SET NX PX) by the one replica that fetches
//! ```
//! A replica that needs a token reads the record; one that is not due yet (and is not the token
//! the API just refused) is used as it is, with the refresh time its fetcher decided. Otherwise
//! the replica takes the lock and fetches, then stores the record; a replica that finds the lock
//! taken looks again every [`POLL`] for at most [`LOCK`], then fetches by itself. When the
//! store does not answer (each call bounded by `store.timeout`), the replica fetches by itself
//! and the cause is counted in `store_errors_total{op="fabric_token"}`: an outage costs a
//! token request per replica, never a failed API call.
//!
//! The record holds the token: it is as secret as the store's password, and is never logged.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use super::StoreConn;
use crate::fabric::{Answer, TokenError, refresh_ahead};

/// How long one replica may hold the fetch lock (a token request is bounded by the upstream's
/// `response_timeout`, well under this in practice), and how long the others wait for it.
const LOCK: Duration = Duration::from_secs(5);
/// How often a replica waiting for another's fetch looks at the record.
const POLL: Duration = Duration::from_millis(50);

/// The fleet's token for `upstream`, or one fetched with `fetch` (and shared), as the module
/// says. `stale`: the token the API just answered 401 to, never taken from the store.
pub(crate) async fn obtain_token<F, Fut>(
    store: &StoreConn,
    upstream: &str,
    refresh_before: Duration,
    stale: Option<&HeaderValue>,
    fetch: F,
) -> Result<Answer, TokenError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Answer, TokenError>>,
{
    match shared(store, upstream, stale).await {
        Ok(Some(answer)) => return Ok(answer),
        Ok(None) => {}
        Err(()) => return fetch().await,
    }
    match store.lock_token(upstream, LOCK).await {
        Ok(true) => {
            let fetched = fetch().await;
            let answer = match fetched {
                Ok(answer) => Ok(share(store, upstream, refresh_before, answer).await),
                Err(e) => Err(e),
            };
            let _ = store.unlock_token(upstream).await;
            answer
        }
        Ok(false) => {
            let waited = tokio::time::timeout(LOCK, wait_for(store, upstream, stale)).await;
            match waited {
                Ok(Some(answer)) => Ok(answer),
                _ => Ok(share(store, upstream, refresh_before, fetch().await?).await),
            }
        }
        Err(_) => fetch().await,
    }
}

/// The stored token when it may be used now. `Err`: the store did not answer.
async fn shared(
    store: &StoreConn,
    upstream: &str,
    stale: Option<&HeaderValue>,
) -> Result<Option<Answer>, ()> {
    let record = store.shared_token(upstream).await.map_err(|e| {
        tracing::debug!(upstream, error = %e, "shared API Fabric token: the store did not answer");
    })?;
    Ok(record.and_then(|r| usable(&r, stale, now_ms())))
}

/// Looks at the record until another replica's fetch has stored a usable token; `None` when
/// the store stops answering.
async fn wait_for(
    store: &StoreConn,
    upstream: &str,
    stale: Option<&HeaderValue>,
) -> Option<Answer> {
    loop {
        tokio::time::sleep(POLL).await;
        if let Some(answer) = shared(store, upstream, stale).await.ok()? {
            return Some(answer);
        }
    }
}

/// Stores `answer` for the other replicas (a failure only costs them a fetch of their own)
/// and returns it with the refresh time written in the record.
async fn share(
    store: &StoreConn,
    upstream: &str,
    refresh_before: Duration,
    answer: Answer,
) -> Answer {
    let refresh_in = answer.lifetime - refresh_ahead(refresh_before, answer.lifetime);
    let now = now_ms();
    let expires_at = now + answer.lifetime.as_millis() as u64;
    let refresh_at = now + refresh_in.as_millis() as u64;
    let record = record(expires_at, refresh_at, &answer.authorization);
    if let Err(e) = store.put_token(upstream, record, expires_at).await {
        tracing::debug!(upstream, error = %e, "shared API Fabric token: not stored");
    }
    Answer {
        refresh_in: Some(refresh_in),
        ..answer
    }
}

fn record(expires_at_ms: u64, refresh_at_ms: u64, authorization: &HeaderValue) -> String {
    let token = String::from_utf8_lossy(authorization.as_bytes());
    format!("{expires_at_ms} {refresh_at_ms} {token}")
}

/// The token in `record` when it is not due for replacement at `now_ms` and is not `stale`.
fn usable(record: &str, stale: Option<&HeaderValue>, now_ms: u64) -> Option<Answer> {
    let mut parts = record.splitn(3, ' ');
    let expires_at: u64 = parts.next()?.parse().ok()?;
    let refresh_at: u64 = parts.next()?.parse().ok()?;
    let mut authorization = HeaderValue::from_str(parts.next()?).ok()?;
    authorization.set_sensitive(true);
    if now_ms >= refresh_at || refresh_at > expires_at || stale == Some(&authorization) {
        return None;
    }
    Some(Answer {
        authorization,
        lifetime: Duration::from_millis(expires_at - now_ms),
        refresh_in: Some(Duration::from_millis(refresh_at - now_ms)),
        shared: true,
    })
}

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
    }

    #[test]
    fn a_record_is_used_until_its_refresh_time_and_never_when_stale() {
        let t = bearer("abc");
        let r = record(10_000, 8_000, &t);
        assert_eq!(r, "10000 8000 Bearer abc");
        let a = usable(&r, None, 5_000).expect("not due");
        assert_eq!(a.authorization, t);
        assert!(a.authorization.is_sensitive());
        assert_eq!(a.lifetime, Duration::from_millis(5_000));
        assert_eq!(a.refresh_in, Some(Duration::from_millis(3_000)));
        assert!(a.shared);
        assert!(usable(&r, None, 8_000).is_none(), "due");
        assert!(usable(&r, Some(&t), 5_000).is_none(), "the refused token");
        assert!(usable(&r, Some(&bearer("other")), 5_000).is_some());
    }

    #[test]
    fn a_broken_record_is_not_used() {
        for r in [
            "",
            "x 1 Bearer a",
            "10 x Bearer a",
            "10 20 Bearer a",
            "10 5",
            "10 5 \u{1}",
        ] {
            assert!(usable(r, None, 1).is_none(), "{r:?}");
        }
    }
}
