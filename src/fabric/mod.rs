//! CEC API Fabric credentials (`[upstreams.NAME.auth]`, `kind = "api_fabric"`): the gateway
//! holds the app key and secret, exchanges them for an AccessToken (`tokenByAkSk`) and puts
//! `x-app-key` and `Authorization: Bearer <AccessToken>` on every request to the upstream.
//!
//! [`TokenCache`]: one per upstream per process, shared by every worker (and carried over a
//! reload while the credentials stay the same). A token is fetched on first use and replaced
//! ahead of the expiry its answer's `Expires` gives; one request at a time fetches (single
//! flight: a cold gateway under load sends one `tokenByAkSk`), and while a still valid token
//! is being replaced the others go on with it. A failed fetch starts a backoff (1 s, doubling
//! up to 60 s) during which no request asks again: they fail with the last cause. The token
//! request itself is sent by `crate::upstream` (the cache only says when, and keeps the result),
//! or with `[store]` taken from the fleet's (`crate::store::obtain_token`).
//!
//! The app key and secret stay in `SecretKey`s, the token in a sensitive `HeaderValue`: none
//! of them reaches a log line, an error, a metric or `Debug` output.

mod answer;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

pub(crate) use answer::{Answer, parse_answer, token_request};

use crate::body::BoxError;
use crate::config::{
    FABRIC_FORCED_REFRESH_INTERVAL, FABRIC_TOKEN_BACKOFF_MAX, FABRIC_TOKEN_BACKOFF_MIN, FabricAuth,
};

/// The app key header of API Fabric calls.
pub(crate) static X_APP_KEY: HeaderName = HeaderName::from_static("x-app-key");

/// Why a token request failed. Never quotes the answer, which may hold a token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("token request answered {0}")]
    Status(u16),
    #[error("token request failed: {0}")]
    Send(#[source] BoxError),
    #[error("token request timed out")]
    Timeout,
    #[error("token answer unusable: {0}")]
    Answer(&'static str),
}

impl TokenError {
    /// The `result` label of `upstream_token_requests_total`.
    fn result(&self) -> TokenResult {
        match self {
            TokenError::Status(_) => TokenResult::Refused,
            TokenError::Send(_) | TokenError::Timeout => TokenResult::Failed,
            TokenError::Answer(_) => TokenResult::Invalid,
        }
    }
}

/// No token to be had: the last failure, and how long until a request may ask again.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{cause}; next token request in {}s", retry_in.as_secs_f64().ceil())]
pub(crate) struct NoToken {
    #[source]
    pub(crate) cause: Arc<TokenError>,
    pub(crate) retry_in: Duration,
}

/// Outcomes of a token request: the `result` label of `upstream_token_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenResult {
    Ok,
    /// Answered, but not 200 (a wrong key or secret: 401).
    Refused,
    /// No answer: connection, TLS or timeout.
    Failed,
    /// 200 with a body that holds no usable token.
    Invalid,
}

impl TokenResult {
    /// Every result, in declaration order (`result as usize` is its position).
    pub(crate) const ALL: [TokenResult; 4] = [
        TokenResult::Ok,
        TokenResult::Refused,
        TokenResult::Failed,
        TokenResult::Invalid,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TokenResult::Ok => "ok",
            TokenResult::Refused => "refused",
            TokenResult::Failed => "failed",
            TokenResult::Invalid => "invalid",
        }
    }
}

/// One upstream's token series, resolved once (`crate::metrics::Metrics::token_metrics`).
#[derive(Debug, Clone)]
pub(crate) struct TokenMetrics {
    /// By [`TokenResult::ALL`] position.
    pub(crate) requests: [Counter; 4],
    /// The current token's expiry, seconds since the epoch (0: none yet).
    pub(crate) expiry: Gauge,
}

/// A token in use. `serial` tells tokens apart without comparing their text.
#[derive(Debug)]
pub(crate) struct Token {
    authorization: HeaderValue,
    expires_at: Instant,
    refresh_at: Instant,
    serial: u64,
}

impl Token {
    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }

    /// `Bearer <AccessToken>`, sensitive.
    pub(crate) fn authorization(&self) -> &HeaderValue {
        &self.authorization
    }
}

#[derive(Debug, Default)]
struct State {
    token: Option<Arc<Token>>,
    failure: Option<Failure>,
    serial: u64,
    /// The last replacement after a 401, to do that at most once per interval.
    forced: Option<Instant>,
}

#[derive(Debug)]
struct Failure {
    until: Instant,
    delay: Duration,
    cause: Arc<TokenError>,
}

/// What a request does about the token, as the state says now.
enum Next {
    Use(Arc<Token>),
    /// Still valid but due: replace it if no one else is, else use it.
    Refresh(Arc<Token>),
    Fail(NoToken),
    Fetch,
}

/// The token of one upstream with `auth`, for every worker of the process.
#[derive(Debug)]
pub(crate) struct TokenCache {
    upstream: String,
    auth: FabricAuth,
    /// `x-app-key`, sensitive.
    app_key: HeaderValue,
    state: Mutex<State>,
    /// Held by the one request that fetches.
    flight: tokio::sync::Mutex<()>,
    metrics: TokenMetrics,
}

impl TokenCache {
    pub(crate) fn new(upstream: &str, auth: &FabricAuth, metrics: TokenMetrics) -> Self {
        let mut app_key = HeaderValue::from_bytes(auth.app_key.key.expose())
            .expect("an app key is visible ASCII (config::SecretKey::app_credential)");
        app_key.set_sensitive(true);
        Self {
            upstream: upstream.to_owned(),
            auth: auth.clone(),
            app_key,
            state: Mutex::default(),
            flight: tokio::sync::Mutex::new(()),
            metrics,
        }
    }

    /// Whether a reload may keep this cache (and its token) for `upstream` with `auth`.
    pub(crate) fn serves(&self, upstream: &str, auth: &FabricAuth) -> bool {
        self.upstream == upstream
            && self.auth.app_key.key == auth.app_key.key
            && self.auth.app_secret.key == auth.app_secret.key
            && self.auth.token_path == auth.token_path
    }

    pub(crate) fn max_retry_body(&self) -> usize {
        self.auth.max_retry_body
    }

    /// The credentials, for the token request (`crate::upstream::Upstream::fetch_token`).
    pub(crate) fn auth(&self) -> &FabricAuth {
        &self.auth
    }

    /// Sets `x-app-key` and `Authorization` on a request to the upstream, replacing whatever
    /// the caller sent in them.
    pub(crate) fn inject(&self, h: &mut HeaderMap, token: &Token) {
        h.insert(&X_APP_KEY, self.app_key.clone());
        h.insert(header::AUTHORIZATION, token.authorization.clone());
    }

    /// A token to use now: the cached one, or one from `fetch` (one caller at a time). With
    /// `stale` (the token the API just answered 401 to), that token is replaced unless it
    /// already was, or was replaced after a 401 less than a few seconds ago: then the same
    /// token comes back, and the caller passes the 401 on.
    pub(crate) async fn token<F, Fut>(
        &self,
        stale: Option<&Token>,
        fetch: F,
    ) -> Result<Arc<Token>, NoToken>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, TokenError>>,
    {
        let stale = stale.map(Token::serial);
        match self.next(Instant::now(), stale) {
            Next::Use(t) => return Ok(t),
            Next::Fail(e) => return Err(e),
            Next::Refresh(valid) => {
                let Ok(_flight) = self.flight.try_lock() else {
                    return Ok(valid);
                };
                let fetched = fetch().await;
                return Ok(self.keep(fetched, stale).unwrap_or(valid));
            }
            Next::Fetch => {}
        }
        let _flight = self.flight.lock().await;
        // Whoever held the flight before may have fetched what this request waited for.
        match self.next(Instant::now(), stale) {
            Next::Use(t) | Next::Refresh(t) => return Ok(t),
            Next::Fail(e) => return Err(e),
            Next::Fetch => {}
        }
        let fetched = fetch().await;
        self.keep(fetched, stale).map_err(|failure| NoToken {
            cause: failure,
            retry_in: self.retry_in(Instant::now()),
        })
    }

    fn next(&self, now: Instant, stale: Option<u64>) -> Next {
        let st = self
            .state
            .lock()
            .expect("the token state lock is never poisoned");
        let failing = st.failure.as_ref().filter(|f| now < f.until);
        if let Some(t) = st.token.as_ref().filter(|t| now < t.expires_at) {
            if stale == Some(t.serial) {
                let recently = st
                    .forced
                    .is_some_and(|at| now.duration_since(at) < FABRIC_FORCED_REFRESH_INTERVAL);
                return match (recently, failing) {
                    (false, None) => Next::Fetch,
                    _ => Next::Use(Arc::clone(t)),
                };
            }
            return match (now < t.refresh_at, failing) {
                (true, _) | (false, Some(_)) => Next::Use(Arc::clone(t)),
                (false, None) => Next::Refresh(Arc::clone(t)),
            };
        }
        match failing {
            Some(f) => Next::Fail(NoToken {
                cause: Arc::clone(&f.cause),
                retry_in: f.until - now,
            }),
            None => Next::Fetch,
        }
    }

    /// Keeps a fetched token (counted, logged without its value), or the failure and the
    /// backoff it starts.
    fn keep(
        &self,
        fetched: Result<Answer, TokenError>,
        stale: Option<u64>,
    ) -> Result<Arc<Token>, Arc<TokenError>> {
        let now = Instant::now();
        let mut st = self
            .state
            .lock()
            .expect("the token state lock is never poisoned");
        if stale.is_some() {
            st.forced = Some(now);
        }
        match fetched {
            Ok(answer) => {
                if !answer.shared {
                    self.metrics.requests[TokenResult::Ok as usize].inc();
                }
                let refresh_in = answer.refresh_in.unwrap_or_else(|| {
                    answer.lifetime - refresh_ahead(self.auth.refresh_before, answer.lifetime)
                });
                st.serial += 1;
                let token = Arc::new(Token {
                    authorization: answer.authorization,
                    expires_at: now + answer.lifetime,
                    refresh_at: now + refresh_in,
                    serial: st.serial,
                });
                let expiry = SystemTime::now() + answer.lifetime;
                let epoch = expiry.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                self.metrics.expiry.set(epoch as i64);
                let message = match answer.shared {
                    true => "API Fabric token taken from the shared store",
                    false => "API Fabric token fetched",
                };
                tracing::info!(upstream = %self.upstream, lifetime_secs = answer.lifetime.as_secs(), refresh_in_ms = refresh_in.as_millis() as u64, "{message}");
                st.failure = None;
                st.token = Some(Arc::clone(&token));
                Ok(token)
            }
            Err(e) => {
                self.metrics.requests[e.result() as usize].inc();
                let delay = st.failure.as_ref().map_or(FABRIC_TOKEN_BACKOFF_MIN, |f| {
                    (f.delay * 2).min(FABRIC_TOKEN_BACKOFF_MAX)
                });
                tracing::warn!(upstream = %self.upstream, error = %e, backoff_ms = delay.as_millis() as u64, "API Fabric token request failed");
                let cause = Arc::new(e);
                st.failure = Some(Failure {
                    until: now + delay,
                    delay,
                    cause: Arc::clone(&cause),
                });
                Err(cause)
            }
        }
    }

    fn retry_in(&self, now: Instant) -> Duration {
        let st = self
            .state
            .lock()
            .expect("the token state lock is never poisoned");
        st.failure
            .as_ref()
            .map_or(Duration::ZERO, |f| f.until.saturating_duration_since(now))
    }
}

/// How long before its expiry a token of `lifetime` is replaced: `refresh_before`, at most a
/// quarter of the life.
pub(crate) fn refresh_ahead(refresh_before: Duration, lifetime: Duration) -> Duration {
    refresh_before.min(lifetime / 4)
}
