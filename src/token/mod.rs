//! Token mode: minting the enterprise's user tokens and answering the CEC's validation calls.
//!
//! The enterprise's page gets a token for its signed-in user (`POST /tokens` on the admin
//! listener, or `cec-gateway token ...`) and hands it to the chat client; the CEC then posts
//! `{"Token","userName","userId","tenantSpaceId"}` to `token.validate_path` and expects
//! `{"retCode":0,...}` only for a genuine, unexpired token for exactly that user.
//!
//! ```text
//!   TokenService  built once from TokenConfig, shared by every connection
//!     validate_request(peer, body, now):
//!       allowed_callers (403) → rate limit (429) → size (413) → JSON (400) → JWT → single use
//!   jwt      HS256 mint / verify, Invalid causes      limit    per-source token buckets
//!   replay   bounded set of used jti (single_use)      verdict  Outcome → status + JSON body
//!   wire     request/response JSON shapes, MintError
//! ```
//! Pure and synchronous: the HTTP layer reads the body (at most `max_body + 1` bytes), passes
//! the TCP peer address (or the client address resolved through trusted proxies) and the clock,
//! and writes back the `Verdict`. It calls `TokenService::allow_caller` and `local_limit` before
//! reading the body and `TokenService::validate_body` after (the unit tests call them through
//! `validate_request`). With a shared store (`crate::store`) the HTTP layer asks the store for
//! the rate limit instead (falling back to `local_limit`) and, after `verify_body`, for the
//! single use (failing closed: `Invalid::StoreUnavailable`).
//! Log `Outcome::label` and `Outcome::reason`; never the request body.
//!
//! `POST /tokens` shares `token.max_body` as its body cap. The rate limiter and the single-use
//! store live in the service; a reload builds a new service and `TokenService::carry_over`s
//! them from the old one, so that a reload neither forgets a used token nor refills a bucket.

mod jwt;
mod limit;
mod replay;
mod verdict;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;

use crate::config::TokenConfig;

pub use jwt::Minted;
pub(crate) use jwt::{Codec, Identity, Invalid};
pub(crate) use limit::{RateLimiter, source_key};
pub(crate) use replay::{Refused, ReplayStore};
pub(crate) use verdict::{CONTENT_TYPE, Outcome, Verdict};
pub(crate) use wire::{JsonReply, MintError};

/// Cap on tracked source addresses of the rate limiter.
const RATE_LIMIT_SOURCES: usize = limit::DEFAULT_CAPACITY;
/// Cap on remembered tokens in single-use mode.
const REPLAY_CAPACITY: usize = replay::DEFAULT_CAPACITY;

/// A verified token's first use, still to be recorded: its `jti`, remembered until
/// `dead_after` (unix seconds, inclusive: `exp + leeway`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FirstUse {
    pub(crate) jti: String,
    pub(crate) dead_after: u64,
}

/// Token mode's state: keys, limits and the single-use store. Built once per configuration.
pub struct TokenService {
    codec: Codec,
    ttl: Duration,
    allowed_callers: Vec<IpNet>,
    limiter: Arc<RateLimiter>,
    /// The limiter's rate (per second) and burst, to tell whether a reload changed them.
    limit: (f64, u32),
    /// `Some` when `single_use`.
    replay: Option<Arc<ReplayStore>>,
    max_body: usize,
    validate_path: String,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("validate_path", &self.validate_path)
            .field("codec", &self.codec)
            .field("ttl", &self.ttl)
            .field("allowed_callers", &self.allowed_callers)
            .field("rate_limited_sources", &self.limiter.tracked())
            .field("single_use", &self.replay.is_some())
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl TokenService {
    pub fn new(cfg: &TokenConfig) -> Self {
        Self::with_capacities(cfg, RATE_LIMIT_SOURCES, REPLAY_CAPACITY)
    }

    /// As [`TokenService::new`], with explicit memory caps (tests use small ones).
    fn with_capacities(cfg: &TokenConfig, rate_sources: usize, replay_entries: usize) -> Self {
        Self {
            codec: Codec::new(&cfg.secret, cfg.leeway),
            ttl: cfg.ttl,
            allowed_callers: cfg.allowed_callers.clone(),
            limiter: Arc::new(RateLimiter::new(
                cfg.rate_per_sec,
                cfg.rate_burst,
                rate_sources,
            )),
            limit: (cfg.rate_per_sec, cfg.rate_burst),
            replay: cfg
                .single_use
                .then(|| Arc::new(ReplayStore::new(replay_entries))),
            max_body: cfg.max_body,
            validate_path: cfg.validate_path.clone(),
        }
    }

    /// Takes over `previous`'s memory, for a reload: the single-use store (when both are
    /// single use) and the rate limiter's buckets (when the rate and burst are unchanged).
    pub(crate) fn carry_over(&mut self, previous: &TokenService) {
        if let (Some(replay), Some(old)) = (&mut self.replay, &previous.replay) {
            *replay = Arc::clone(old);
        }
        if self.limit == previous.limit {
            self.limiter = Arc::clone(&previous.limiter);
        }
    }

    /// The public path the validation endpoint is served on.
    pub(crate) fn validate_path(&self) -> &str {
        &self.validate_path
    }

    /// Largest accepted request body, in bytes.
    pub(crate) fn max_body(&self) -> usize {
        self.max_body
    }

    /// Answer one validation request. Checks in order: allowed callers, rate limit, body size,
    /// JSON, then the token (see [`Codec::verify`]) and, with `single_use`, its first use. The
    /// HTTP layer (`local`) makes the same two calls with the body read in between.
    #[cfg(test)]
    fn validate_request(&self, peer: IpAddr, body: &[u8], now: SystemTime) -> Verdict {
        match self.admit(peer, now) {
            Ok(()) => self.validate_body(body, now),
            Err(refused) => refused,
        }
    }

    /// The checks that need no body: the caller allow-list (403), then the caller's rate limit
    /// (429). Spends one unit of `peer`'s allowance when it passes the allow-list.
    #[cfg(test)]
    pub(crate) fn admit(&self, peer: IpAddr, now: SystemTime) -> Result<(), Verdict> {
        self.allow_caller(peer)?;
        self.local_limit(peer, now)
    }

    /// The caller allow-list (403).
    pub(crate) fn allow_caller(&self, peer: IpAddr) -> Result<(), Verdict> {
        let peer = peer.to_canonical();
        if !self.allowed_callers.is_empty()
            && !self.allowed_callers.iter().any(|n| n.contains(&peer))
        {
            return Err(Verdict::of(Outcome::Forbidden));
        }
        Ok(())
    }

    /// This process's rate limiter (429): spends one unit of `peer`'s allowance.
    pub(crate) fn local_limit(&self, peer: IpAddr, now: SystemTime) -> Result<(), Verdict> {
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        if !self.limiter.check(peer.to_canonical(), since_epoch) {
            return Err(Verdict::of(Outcome::RateLimited));
        }
        Ok(())
    }

    /// The rate limit's sustained rate (per second) and burst, per source.
    pub(crate) fn rate_limit(&self) -> (f64, u32) {
        self.limit
    }

    /// The checks on the body of an admitted request: size (413), JSON (400), token (200 with
    /// retCode 0 or 1), and with `single_use` the first use, in this process's memory.
    pub(crate) fn validate_body(&self, body: &[u8], now: SystemTime) -> Verdict {
        match self.verify_body(body, now) {
            Err(refused) => refused,
            Ok(None) => Verdict::of(Outcome::Valid),
            Ok(Some(first)) => Verdict::of(self.first_use_here(&first, unix_seconds(now))),
        }
    }

    /// [`TokenService::validate_body`] up to the single-use record: `Ok(None)` for a valid
    /// token, `Ok(Some(_))` for a valid token whose first use is still to be recorded (here, or
    /// in the shared store), `Err` with the answer otherwise.
    pub(crate) fn verify_body(
        &self,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Option<FirstUse>, Verdict> {
        if body.len() > self.max_body {
            return Err(Verdict::too_large());
        }
        let Ok(request) = serde_json::from_slice::<wire::ValidateRequest>(body) else {
            return Err(Verdict::of(Outcome::BadRequest));
        };
        let claims = self
            .codec
            .verify(&request.token, request.identity(), unix_seconds(now))
            .map_err(|why| Verdict::of(Outcome::Invalid(why)))?;
        Ok(self.replay.is_some().then(|| FirstUse {
            dead_after: claims.exp.saturating_add(self.codec.leeway()),
            jti: claims.jti,
        }))
    }

    /// Records `first` in this process's single-use memory.
    fn first_use_here(&self, first: &FirstUse, now_unix: u64) -> Outcome {
        let Some(replay) = &self.replay else {
            return Outcome::Valid;
        };
        match replay.first_use(&first.jti, first.dead_after, now_unix) {
            Ok(()) => Outcome::Valid,
            Err(Refused::Replayed) => Outcome::Invalid(Invalid::Replayed),
            Err(Refused::Full) => Outcome::Invalid(Invalid::ReplayStoreFull),
        }
    }

    /// `POST /tokens`: `{"userId","userName","tenantSpaceId"}` → 200 `{"token","expiresAt"}`.
    /// On error, answer [`MintError::reply`].
    pub(crate) fn mint_request(
        &self,
        body: &[u8],
        now: SystemTime,
    ) -> Result<JsonReply, MintError> {
        if body.len() > self.max_body {
            return Err(MintError::TooLarge {
                limit: self.max_body,
            });
        }
        let request: wire::MintRequest =
            serde_json::from_slice(body).map_err(MintError::BadJson)?;
        let minted = self
            .codec
            .mint(request.identity()?, self.ttl, unix_seconds(now));
        let body = wire::json_body(&wire::MintResponse {
            token: &minted.token,
            expires_at: minted.expires_at,
        });
        Ok(JsonReply {
            status: http::StatusCode::OK,
            body,
        })
    }

    /// A token for the CLI (`cec-gateway token ...`), valid for `ttl` from `now`.
    pub fn mint(
        &self,
        user_id: &str,
        user_name: &str,
        tenant_space_id: &str,
        now: SystemTime,
    ) -> Minted {
        self.codec.mint(
            Identity {
                user_id,
                user_name,
                tenant_space_id,
            },
            self.ttl,
            unix_seconds(now),
        )
    }
}

/// Whole seconds since the Unix epoch; 0 for a clock set before it.
fn unix_seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
