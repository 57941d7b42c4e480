//! What the gateway keeps in Redis, and how: the key names and the rate limit's Lua script.
//!
//! - `<prefix>jti:<jti>`: a used token, `SET ... NX PXAT` to the end of its last valid second
//!   (`exp + leeway`), so the first replica to record it wins and Redis forgets it when the
//!   token is dead anyway.
//! - `<prefix>rate:<source>`: one source's bucket (IPv4 address or IPv6 /64, as the local
//!   limiter counts), a GCRA "theoretical arrival time" in microseconds of Redis's own clock
//!   (one clock for every replica), expiring when the bucket is full again.

use std::net::IpAddr;

use crate::token::source_key;

/// GCRA (the generic cell rate algorithm, a token bucket kept as one number): a request is
/// allowed when the theoretical arrival time is at most `(burst - 1) * interval` ahead of now,
/// and then moves it one interval on. A refused request changes nothing. Atomic because Redis
/// runs a script alone. Returns 1 (allowed) or 0 (refused).
pub(super) const RATE_LIMIT_LUA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > (burst - 1) * interval then return 0 end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return 1
";

/// The key of a token's first use.
pub(super) fn jti_key(prefix: &str, jti: &str) -> String {
    format!("{prefix}jti:{jti}")
}

/// The key of `upstream`'s shared API Fabric token, or of its fetch lock (`what`: `token`,
/// `lock`).
pub(super) fn fabric_key(prefix: &str, upstream: &str, what: &str) -> String {
    format!("{prefix}fabric:{upstream}:{what}")
}

/// The key of a source's rate-limit bucket.
pub(super) fn rate_key(prefix: &str, peer: IpAddr) -> String {
    format!("{prefix}rate:{}", source_key(peer))
}

/// `PXAT` for a token dead after `dead_after` (unix seconds, inclusive): the end of that second.
pub(super) fn expire_at_ms(dead_after: u64) -> u64 {
    dead_after.saturating_add(1).saturating_mul(1000)
}

/// Longest interval the script is given: a day, so that its key's expiry stays a sane number.
const MAX_INTERVAL_US: f64 = 86_400e6;

/// Microseconds between two requests at `rate` per second (the script's `interval`), at least
/// one; a rate that is not positive refills once a day.
pub(super) fn interval_us(rate: f64) -> f64 {
    let interval = 1e6 / rate;
    if interval.is_finite() && interval > 0.0 {
        interval.clamp(1.0, MAX_INTERVAL_US)
    } else {
        MAX_INTERVAL_US
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_times() {
        let v6: IpAddr = "2001:db8:1:2::7".parse().unwrap();
        assert_eq!(rate_key("gw:", v6), "gw:rate:2001:db8:1:2::/64");
        let v4: IpAddr = "::ffff:192.0.2.9".parse().unwrap();
        assert_eq!(rate_key("", v4), "rate:192.0.2.9");
        assert_eq!(jti_key("gw:", "ab12"), "gw:jti:ab12");
        assert_eq!(expire_at_ms(1_700_000_000), 1_700_000_001_000);
        assert_eq!(interval_us(20.0), 50_000.0);
        assert!((interval_us(1.0 / 60.0) - 60e6).abs() < 1.0);
        assert_eq!(interval_us(0.0), MAX_INTERVAL_US);
        assert_eq!(interval_us(-1.0), MAX_INTERVAL_US);
        assert_eq!(interval_us(1e9), 1.0);
    }
}
