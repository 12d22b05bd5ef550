//! A bounded table keyed by client address, for the per-address limits.
//!
//! An attacker chooses the addresses (every IPv6 host has billions), so a table that keeps
//! one entry per address ever seen grows without bound, and sweeping it is O(entries) on
//! the request that finds it full. This one holds at most `capacity` entries in shards of
//! least-recently-used caches (`lru`): every lookup and insert is O(1), and a new address
//! arriving at a full shard evicts the one that shard heard from longest ago.
//!
//! What eviction gives up: an address evicted while it was over its limit starts afresh.
//! Evicting one takes a flood of new addresses, and each of those has its own full budget
//! anyway, so eviction hands a flooder nothing it did not already have; a client that
//! keeps coming back stays recent and keeps its count.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use lru::LruCache;

/// Shards, so that concurrent requests rarely wait on one lock.
const SHARDS: usize = 16;

/// At most `capacity` values, one per address.
pub struct AddressTable<V> {
    shards: Vec<Mutex<LruCache<IpAddr, V>>>,
    /// Picks the shard; randomly keyed, so an attacker cannot aim at one shard.
    hasher: RandomState,
    entries: AtomicUsize,
    capacity: usize,
}

impl<V> AddressTable<V> {
    /// A table of at most `capacity` entries (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        let per_shard = NonZeroUsize::new(capacity.div_ceil(SHARDS)).unwrap_or(NonZeroUsize::MIN);
        AddressTable {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(LruCache::new(per_shard)))
                .collect(),
            hasher: RandomState::new(),
            entries: AtomicUsize::new(0),
            capacity: SHARDS * per_shard.get(),
        }
    }

    /// Runs `f` on the address's value, made by `make` (evicting the shard's least
    /// recently used entry when full) if the address has none; the address becomes the
    /// most recently used.
    pub fn with<T>(
        &self,
        address: IpAddr,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> T,
    ) -> T {
        let mut shard = self.shard(address);
        let before = shard.len();
        let value = shard.get_or_insert_mut(address, make);
        let answer = f(value);
        if shard.len() > before {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }

    /// Runs `f` on the address's value if it has one, without making it more recent.
    pub fn peek<T>(&self, address: IpAddr, f: impl FnOnce(&mut V) -> T) -> Option<T> {
        self.shard(address).peek_mut(&address).map(f)
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Whether the table holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries the table holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn shard(&self, address: IpAddr) -> std::sync::MutexGuard<'_, LruCache<IpAddr, V>> {
        let index = (self.hasher.hash_one(address) as usize) % self.shards.len();
        // A panic while a shard was held cannot leave a cache half-updated in a way that
        // matters here (the worst is one stale counter), so a poisoned lock is used anyway.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn a_hundred_thousand_addresses_never_hold_more_than_the_capacity() {
        let table = AddressTable::new(1000);
        for n in 0..100_000 {
            table.with(v4(n), || 0u32, |count| *count += 1);
            assert!(table.len() <= table.capacity());
        }
        assert!(table.capacity() >= 1000 && table.capacity() < 1000 + SHARDS);
        assert!(
            table.len() > table.capacity() * 9 / 10,
            "the shards fill evenly: {} of {}",
            table.len(),
            table.capacity()
        );
    }

    #[test]
    fn a_recent_address_survives_a_flood_of_new_ones_in_other_shards_and_the_oldest_goes() {
        let table = AddressTable::new(SHARDS * 4);
        let regular = v4(7);
        table.with(regular, || 0u32, |count| *count = 99);
        for n in 1_000..100_000 {
            // The regular client comes back between every few newcomers.
            if n % 2 == 0 {
                table.with(regular, || 0, |_| ());
            }
            table.with(v4(n), || 0, |_| ());
        }
        assert_eq!(table.peek(regular, |count| *count), Some(99));
        assert_eq!(table.peek(v4(1_000), |count| *count), None, "evicted");
    }
}
