//! Single use: remembers the `jti` of every accepted token until that token expires.
//!
//! Only tokens whose signature and claims already verified reach this store, so an outsider
//! cannot fill it. Entries are keyed by SHA-256 of the `jti` (fixed size whatever its length)
//! and kept in expiry order, so expired entries are dropped cheaply before each insert.
//!
//! Memory is bounded by `capacity`. When the store is full of entries that have not expired,
//! a new token is **refused** ([`Refused::Full`]): fail closed, since accepting it unrecorded would let
//! it be replayed. Size the cap above the number of tokens issued per `ttl + leeway`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Default cap on remembered tokens.
pub(super) const DEFAULT_CAPACITY: usize = 100_000;

type Key = [u8; 32];

/// The bounded set of used `jti`s.
#[derive(Debug)]
pub(crate) struct ReplayStore {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// jti digest → the unix second after which the token is dead anyway.
    by_key: HashMap<Key, u64>,
    /// The same entries ordered by expiry, oldest first.
    by_expiry: BTreeSet<(u64, Key)>,
}

/// Why [`ReplayStore::first_use`] refused a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("token already used")]
    Replayed,
    #[error("replay store full")]
    Full,
}

impl ReplayStore {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
        }
    }

    /// Record `jti` as used until `dead_after` (unix seconds, inclusive). `Ok` the first time;
    /// `Replayed` while a previous use is remembered; `Full` when there is no room.
    pub(crate) fn first_use(
        &self,
        jti: &str,
        dead_after: u64,
        now_unix: u64,
    ) -> Result<(), Refused> {
        let key: Key = Sha256::digest(jti.as_bytes()).into();
        // Nothing below panics between the paired map updates, so a poisoned lock still guards
        // consistent maps: keep going, neither failing open nor panicking.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.evict_expired(now_unix);
        if state.by_key.contains_key(&key) {
            return Err(Refused::Replayed);
        }
        if state.by_key.len() >= self.capacity {
            return Err(Refused::Full);
        }
        state.by_key.insert(key, dead_after);
        state.by_expiry.insert((dead_after, key));
        Ok(())
    }

    /// How many tokens are remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_key
            .len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    fn evict_expired(&mut self, now_unix: u64) {
        while let Some(&(dead_after, key)) = self.by_expiry.first() {
            if dead_after >= now_unix {
                break;
            }
            self.by_expiry.pop_first();
            self.by_key.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_use_refused_until_expiry() {
        let store = ReplayStore::new(8);
        assert_eq!(store.first_use("a", 100, 50), Ok(()));
        assert_eq!(store.first_use("a", 100, 60), Err(Refused::Replayed));
        assert_eq!(store.first_use("b", 100, 60), Ok(()));
        // Still remembered at the last valid second, forgotten after it.
        assert_eq!(store.first_use("a", 100, 100), Err(Refused::Replayed));
        assert_eq!(store.first_use("a", 200, 101), Ok(()));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn full_of_live_entries_fails_closed_then_recovers() {
        let store = ReplayStore::new(3);
        for (i, dead) in [(0, 10), (1, 20), (2, 30)] {
            assert_eq!(store.first_use(&format!("j{i}"), dead, 5), Ok(()));
        }
        assert_eq!(store.first_use("new", 40, 5), Err(Refused::Full));
        assert_eq!(store.len(), 3);
        // Once the oldest expires there is room again, and only it was evicted.
        assert_eq!(store.first_use("new", 40, 11), Ok(()));
        assert_eq!(store.first_use("j1", 20, 11), Err(Refused::Replayed));
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn long_jti_costs_a_fixed_size_key() {
        let store = ReplayStore::new(2);
        let long = "x".repeat(64 << 10);
        assert_eq!(store.first_use(&long, 10, 0), Ok(()));
        assert_eq!(store.first_use(&long, 10, 0), Err(Refused::Replayed));
        assert!(!store.is_empty());
    }
}
