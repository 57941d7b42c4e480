//! Token mode: minting the enterprise's user tokens and answering the CEC's validation calls.
//!
//! Under construction: the pieces arrive one per commit.

mod limit;

pub use limit::RateLimiter;

/// Cap on tracked source addresses of the rate limiter.
pub const RATE_LIMIT_SOURCES: usize = limit::DEFAULT_CAPACITY;
