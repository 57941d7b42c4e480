//! Token mode: minting the enterprise's user tokens and answering the CEC's validation calls.
//!
//! Under construction: the pieces arrive one per commit.

mod jwt;
mod limit;
mod replay;

pub use jwt::{Claims, Codec, Identity, Invalid, Minted};
pub use limit::RateLimiter;
pub use replay::{Refused, ReplayStore};

/// Cap on tracked source addresses of the rate limiter.
pub const RATE_LIMIT_SOURCES: usize = limit::DEFAULT_CAPACITY;
/// Cap on remembered tokens in single-use mode.
pub const REPLAY_CAPACITY: usize = replay::DEFAULT_CAPACITY;
