//! `server.max_connections_per_ip`: open connections counted by client address (an IPv4
//! address or an IPv6 /64, since one host usually holds a whole /64), shared by every worker,
//! so that one client cannot take every slot of `max_connections`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The counted unit: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IpKey {
    V4(u32),
    V6Prefix(u64),
}

impl IpKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => IpKey::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

/// `192.0.2.1`, or `2001:db8:1:2::/64`.
impl std::fmt::Display for IpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            IpKey::V4(a) => write!(f, "{}", std::net::Ipv4Addr::from(a)),
            IpKey::V6Prefix(p) => write!(f, "{}/64", std::net::Ipv6Addr::from(u128::from(p) << 64)),
        }
    }
}

/// Open connections by client, process-wide (across workers and reloads).
#[derive(Debug, Default)]
pub(crate) struct PerIp {
    open: Mutex<HashMap<IpKey, usize>>,
}

impl PerIp {
    pub(crate) fn new() -> Arc<Self> {
        Arc::default()
    }

    /// One more connection for `ip` when it has fewer than `max`; released on drop.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let key = IpKey::of(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(key).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: Arc::clone(self),
            key,
        })
    }

    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&IpKey::of(ip)).copied().unwrap_or(0)
    }
}

/// One client's connection counted in [`PerIp`] until dropped.
#[derive(Debug)]
pub(crate) struct IpSlot {
    table: Arc<PerIp>,
    key: IpKey,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_address_and_ipv6_by_64_and_releases_on_drop() {
        let t = PerIp::new();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let (s1, s2) = (t.take(a, 2).unwrap(), t.take(a, 2).unwrap());
        assert!(t.take(a, 2).is_none(), "a third over the cap of 2");
        assert!(t.take("192.0.2.2".parse().unwrap(), 2).is_some());
        drop(s1);
        assert_eq!(t.count(a), 1);
        let again = t.take(a, 2);
        assert!(again.is_some(), "a released slot is free again");
        drop((s2, again));
        assert_eq!(t.count(a), 0);
        assert!(t.open.lock().unwrap().is_empty(), "no entry left behind");

        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let _x = t.take(v6("2001:db8:1:2::1"), 1).unwrap();
        assert!(t.take(v6("2001:db8:1:2:ffff::9"), 1).is_none(), "same /64");
        assert!(t.take(v6("2001:db8:1:3::1"), 1).is_some(), "another /64");
        // An IPv4-mapped IPv6 peer is the IPv4 client.
        let _y = t.take(v6("::ffff:198.51.100.7"), 1).unwrap();
        assert!(t.take("198.51.100.7".parse().unwrap(), 1).is_none());
    }
}
