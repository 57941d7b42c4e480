//! The per-source-address rate limit of the validation endpoint: one token bucket per address.
//!
//! Each address may spend `burst` requests at once and `rate` per second sustained. Time is
//! passed in as a [`Duration`] since any fixed epoch, so tests move the clock instead of sleeping;
//! a clock that goes backwards refills nothing.
//!
//! Memory is bounded. IPv4-mapped IPv6 addresses count as IPv4, and an IPv6 source is keyed by
//! its /64 (one host usually holds a whole /64, so per-address keys would let it rotate freely).
//! At most `capacity` sources are tracked. When a new source arrives at the cap, buckets that
//! have refilled to full are dropped (forgetting a full bucket loses nothing); that scan runs at
//! most once per [`PRUNE_INTERVAL`]. If the map is still full, the new source is **not** given a
//! fresh bucket: it shares a single overflow bucket with every other untracked source. So a flood
//! of distinct addresses can neither grow memory nor earn more than one source's allowance, at the
//! price that, during such a flood, new legitimate sources compete for that one allowance.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::per_ip::IpKey;

/// Default cap on tracked source addresses.
pub(super) const DEFAULT_CAPACITY: usize = 65_536;
/// Least time between two full scans for refilled buckets.
const PRUNE_INTERVAL: Duration = Duration::from_secs(1);

/// A token bucket per source address, behind one mutex (the critical section is a map lookup).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    buckets: HashMap<IpKey, Bucket>,
    /// Shared by every source that found the map full.
    overflow: Bucket,
    last_prune: Option<Duration>,
}

/// The unit a source address is limited by, as text: its IPv4 address, or its IPv6 /64. The
/// shared store keys its buckets by it, so every replica counts the same source the same way.
pub(crate) fn source_key(ip: IpAddr) -> String {
    IpKey::of(ip).to_string()
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Duration,
}

impl Bucket {
    fn full(burst: f64, now: Duration) -> Self {
        Self {
            tokens: burst,
            last: now,
        }
    }

    /// Tokens available at `now`, without spending any.
    fn level(&self, rate: f64, burst: f64, now: Duration) -> f64 {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        (self.tokens + elapsed * rate).min(burst)
    }

    fn take(&mut self, rate: f64, burst: f64, now: Duration) -> bool {
        let level = self.level(rate, burst, now);
        self.last = self.last.max(now);
        if level >= 1.0 {
            self.tokens = level - 1.0;
            true
        } else {
            self.tokens = level;
            false
        }
    }
}

impl RateLimiter {
    /// `rate` requests per second sustained, `burst` at once, per source; at most `capacity`
    /// sources tracked. A non-finite or negative `rate` counts as 0, `burst` as at least 1.
    pub(crate) fn new(rate: f64, burst: u32, capacity: usize) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            0.0
        };
        let burst = f64::from(burst.max(1));
        Self {
            rate,
            burst,
            capacity: capacity.max(1),
            state: Mutex::new(State {
                buckets: HashMap::new(),
                overflow: Bucket::full(burst, Duration::ZERO),
                last_prune: None,
            }),
        }
    }

    /// Spend one request for `ip` at `now`; `false` when over the limit.
    pub(crate) fn check(&self, ip: IpAddr, now: Duration) -> bool {
        let (rate, burst) = (self.rate, self.burst);
        // A poisoned lock only means another request panicked mid-update; the map is still
        // a valid map of buckets, so keep limiting rather than failing open or panicking.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let key = IpKey::of(ip);
        if let Some(bucket) = state.buckets.get_mut(&key) {
            return bucket.take(rate, burst, now);
        }
        if state.buckets.len() >= self.capacity {
            state.prune(rate, burst, now);
        }
        if state.buckets.len() >= self.capacity {
            return state.overflow.take(rate, burst, now);
        }
        let mut bucket = Bucket::full(burst, now);
        let allowed = bucket.take(rate, burst, now);
        state.buckets.insert(key, bucket);
        allowed
    }

    /// How many sources are tracked now (for tests and a gauge).
    pub(crate) fn tracked(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .buckets
            .len()
    }
}

impl State {
    /// Drop buckets that are full again, at most once per [`PRUNE_INTERVAL`].
    fn prune(&mut self, rate: f64, burst: f64, now: Duration) {
        if self
            .last_prune
            .is_some_and(|t| now.saturating_sub(t) < PRUNE_INTERVAL)
        {
            return;
        }
        self.last_prune = Some(now);
        self.buckets
            .retain(|_, b| b.level(rate, burst, now) < burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    const T0: Duration = Duration::from_secs(1_000);

    #[test]
    fn burst_then_refill() {
        let limit = RateLimiter::new(2.0, 3, 16);
        let a = ip("192.0.2.1");
        assert!((0..3).all(|_| limit.check(a, T0)));
        assert!(!limit.check(a, T0));
        // Another source has its own bucket.
        assert!(limit.check(ip("192.0.2.2"), T0));
        // 2/s: half a second buys exactly one more request.
        assert!(!limit.check(a, T0 + Duration::from_millis(400)));
        assert!(limit.check(a, T0 + Duration::from_millis(500)));
        assert!(!limit.check(a, T0 + Duration::from_millis(500)));
        // A long pause refills to the burst, not beyond.
        let later = T0 + Duration::from_secs(3_600);
        assert!((0..3).all(|_| limit.check(a, later)));
        assert!(!limit.check(a, later));
    }

    #[test]
    fn clock_going_backwards_refills_nothing() {
        let limit = RateLimiter::new(1.0, 1, 16);
        let a = ip("192.0.2.1");
        assert!(limit.check(a, T0));
        assert!(!limit.check(a, T0 - Duration::from_secs(10)));
        assert!(!limit.check(a, T0 + Duration::from_millis(999)));
        assert!(limit.check(a, T0 + Duration::from_secs(1)));
    }

    #[test]
    fn ipv6_by_64_and_mapped_ipv4_as_ipv4() {
        let limit = RateLimiter::new(1.0, 1, 16);
        assert!(limit.check(ip("2001:db8:1:2::1"), T0));
        assert!(!limit.check(ip("2001:db8:1:2:ffff::9"), T0));
        assert!(limit.check(ip("2001:db8:1:3::1"), T0));
        assert!(limit.check(ip("198.51.100.7"), T0));
        assert!(!limit.check(ip("::ffff:198.51.100.7"), T0));
        assert_eq!(limit.tracked(), 3);
    }

    #[test]
    fn source_keys_are_the_tracked_units() {
        assert_eq!(source_key(ip("192.0.2.1")), "192.0.2.1");
        assert_eq!(source_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(source_key(ip("2001:db8:1:2:ffff::9")), "2001:db8:1:2::/64");
        assert_eq!(source_key(ip("::1")), "::/64");
    }

    #[test]
    fn capacity_is_respected_and_full_buckets_are_pruned() {
        let limit = RateLimiter::new(1.0, 2, 4);
        for i in 1..=4 {
            assert!(limit.check(ip(&format!("192.0.2.{i}")), T0));
        }
        assert_eq!(limit.tracked(), 4);
        // At the cap and nobody refilled yet: newcomers share one overflow bucket of 2.
        assert!(limit.check(ip("198.51.100.1"), T0));
        assert!(limit.check(ip("198.51.100.2"), T0));
        assert!(!limit.check(ip("198.51.100.3"), T0));
        assert_eq!(limit.tracked(), 4);
        // Tracked sources keep their own buckets meanwhile.
        assert!(limit.check(ip("192.0.2.1"), T0));
        // One second later 192.0.2.2..4 are full again and are forgotten to make room;
        // 192.0.2.1 (spent twice) is not full and stays.
        let t1 = T0 + Duration::from_secs(1);
        assert!(limit.check(ip("198.51.100.3"), t1));
        assert_eq!(limit.tracked(), 2);
        // The newcomer got a bucket of its own (one of two tokens spent).
        assert!(limit.check(ip("198.51.100.3"), t1));
        assert!(!limit.check(ip("198.51.100.3"), t1));
    }

    #[test]
    fn zero_or_bad_rate_never_refills() {
        let limit = RateLimiter::new(f64::NAN, 1, 4);
        let a = ip("192.0.2.1");
        assert!(limit.check(a, T0));
        assert!(!limit.check(a, T0 + Duration::from_secs(86_400)));
    }
}
