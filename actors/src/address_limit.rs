//! Rate limits per client address: REST sends (optional: PROTOCOL.md, precise rule 10),
//! room creation, and failed room lookups (so that room codes cannot be enumerated by brute
//! force).
//!
//! Each address has a constant-size [`WindowCounter`] in a bounded [`AddressTable`], so
//! the memory of a limit is capped by `--address-table-size` however many addresses come,
//! and every check is O(1). (Not `governor`'s keyed limiters, which the per-session
//! budgets use: a REST send's slot is given back when it stored nothing new, and a failed
//! join is checked before it is counted, neither of which a GCRA cell can do.)

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::address_table::AddressTable;
use crate::limits::SendRate;
use crate::metric_names;

/// The key a client address is counted under: an IPv4 address as it is, an IPv6 address by
/// its /64 (the prefix one subscriber is usually given: counting single IPv6 addresses
/// would give every such client 2^64 budgets). IPv4-mapped IPv6 counts as IPv4.
pub fn client_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// A sliding-window count in constant space: the count of the current fixed window plus
/// the previous window's, weighted by how much of it the sliding window still covers.
/// Exact within a window; across a boundary it assumes the previous window's events were
/// spread evenly (the approximation Cloudflare and nginx-style limiters use).
#[derive(Debug, Clone, Copy)]
pub struct WindowCounter {
    started: Instant,
    previous: u32,
    current: u32,
    in_flight: u32,
}

impl WindowCounter {
    /// A counter whose first window starts `now`.
    pub fn new(now: Instant) -> Self {
        WindowCounter {
            started: now,
            previous: 0,
            current: 0,
            in_flight: 0,
        }
    }

    fn roll(&mut self, window: Duration, now: Instant) {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed >= window * 2 {
            (self.previous, self.current, self.started) = (0, 0, now);
        } else if elapsed >= window {
            (self.previous, self.current) = (self.current, 0);
            self.started += window;
        }
    }

    /// Whether one more fits in the rate now (nothing is taken).
    pub fn allows(&mut self, rate: SendRate, now: Instant) -> bool {
        self.roll(rate.window, now);
        let into = now.saturating_duration_since(self.started).as_secs_f64()
            / rate.window.as_secs_f64().max(f64::MIN_POSITIVE);
        let previous = f64::from(self.previous) * (1.0 - into).max(0.0);
        previous + f64::from(self.current) + f64::from(self.in_flight) < f64::from(rate.count)
    }

    /// Takes a slot if one fits.
    pub fn try_acquire(&mut self, rate: SendRate, now: Instant) -> bool {
        let allowed = self.allows(rate, now);
        if allowed {
            self.in_flight += 1;
        }
        allowed
    }

    /// Settles a slot: counted at `now` when `counted`, given back otherwise.
    pub fn release(&mut self, rate: SendRate, counted: bool, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if counted {
            self.roll(rate.window, now);
            self.current = self.current.saturating_add(1);
        }
    }
}

/// A rate per client address, in a bounded table.
pub struct AddressLimiter {
    rate: Option<SendRate>,
    /// Names the limit in `chat_address_table_entries{table}`.
    name: &'static str,
    clients: AddressTable<WindowCounter>,
}

impl AddressLimiter {
    /// A limiter named `name` with the given rate (`None` allows everything), keeping at
    /// most `capacity` addresses.
    pub fn new(name: &'static str, rate: Option<SendRate>, capacity: usize) -> Self {
        AddressLimiter {
            rate,
            name,
            // A table that is never used costs a few empty shards.
            clients: AddressTable::new(if rate.is_some() { capacity } else { 1 }),
        }
    }

    /// The configured rate.
    pub fn rate(&self) -> Option<SendRate> {
        self.rate
    }

    /// Takes a slot for `client`, or answers false when it is over its rate.
    pub fn try_acquire(&self, client: IpAddr) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let now = Instant::now();
        let held = self.clients.len();
        let allowed = self.clients.with(
            client_key(client),
            || WindowCounter::new(now),
            |counter| counter.try_acquire(rate, now),
        );
        if self.clients.len() != held {
            metrics::gauge!(metric_names::ADDRESS_TABLE_ENTRIES, "table" => self.name)
                .set(self.clients.len() as f64);
        }
        allowed
    }

    /// Settles a slot: counted when the send stored a new message.
    pub fn release(&self, client: IpAddr, stored_new: bool) {
        if let Some(rate) = self.rate {
            self.clients.peek(client_key(client), |counter| {
                counter.release(rate, stored_new, Instant::now())
            });
        }
    }

    /// Whether `client` may do one more thing now, without counting it.
    pub fn allows(&self, client: IpAddr) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        self.clients
            .peek(client_key(client), |counter| {
                counter.allows(rate, Instant::now())
            })
            .unwrap_or(true)
    }

    /// Counts one event of `client` (a failed join, say).
    pub fn record(&self, client: IpAddr) {
        if self.try_acquire(client) {
            self.release(client, true);
        }
    }

    /// Whether a limit is configured at all.
    pub fn is_enabled(&self) -> bool {
        self.rate.is_some()
    }

    /// Addresses held now.
    pub fn entries(&self) -> usize {
        self.clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: SendRate = SendRate {
        count: 3,
        window: Duration::from_secs(10),
    };

    #[test]
    fn counts_exactly_within_a_window_and_forgets_after_two() {
        let t0 = Instant::now();
        let mut counter = WindowCounter::new(t0);
        for _ in 0..3 {
            assert!(counter.try_acquire(RATE, t0));
            counter.release(RATE, true, t0);
        }
        assert!(!counter.allows(RATE, t0 + Duration::from_secs(9)));
        assert!(counter.allows(RATE, t0 + Duration::from_secs(20)));
    }

    #[test]
    fn the_previous_window_fades_out_across_the_next() {
        let t0 = Instant::now();
        let mut counter = WindowCounter::new(t0);
        for _ in 0..3 {
            counter.try_acquire(RATE, t0);
            counter.release(RATE, true, t0);
        }
        // 1 s into the next window, 90 % of the previous three still count: 2.7 < 3.
        assert!(counter.allows(RATE, t0 + Duration::from_secs(11)));
        assert!(counter.try_acquire(RATE, t0 + Duration::from_secs(11)));
        counter.release(RATE, true, t0 + Duration::from_secs(11));
        // 2.7 + 1 is over; by 19 s, 0.3 + 1 is not.
        assert!(!counter.allows(RATE, t0 + Duration::from_secs(11)));
        assert!(counter.allows(RATE, t0 + Duration::from_secs(19)));
    }

    #[test]
    fn in_flight_slots_count_and_uncounted_ones_are_given_back() {
        let t0 = Instant::now();
        let mut counter = WindowCounter::new(t0);
        for _ in 0..3 {
            assert!(counter.try_acquire(RATE, t0));
        }
        assert!(!counter.try_acquire(RATE, t0), "three in flight fill it");
        counter.release(RATE, false, t0);
        assert!(
            counter.try_acquire(RATE, t0),
            "a duplicate gives its slot back"
        );
    }

    #[test]
    fn an_address_limiter_keeps_at_most_its_capacity() {
        let limiter = AddressLimiter::new("test", Some(RATE), 256);
        for n in 0..100_000u32 {
            limiter.record(IpAddr::from(n.to_be_bytes()));
        }
        assert!(limiter.entries() <= 256 + 16, "{}", limiter.entries());
        let last = IpAddr::from(99_999u32.to_be_bytes());
        limiter.record(last);
        limiter.record(last);
        assert!(!limiter.allows(last), "the newest address is still limited");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), IpAddr::from([10, 0, 0, 1]));
        let limiter = AddressLimiter::new("test", Some(RATE), 64);
        for _ in 0..3 {
            limiter.record(a);
        }
        assert!(!limiter.allows(b), "the same /64");
        assert!(limiter.allows(other));
    }

    #[test]
    fn no_rate_holds_nothing() {
        let limiter = AddressLimiter::new("test", None, 1000);
        for n in 0..1000u32 {
            assert!(limiter.try_acquire(IpAddr::from(n.to_be_bytes())));
        }
        assert_eq!(limiter.entries(), 0);
    }
}
