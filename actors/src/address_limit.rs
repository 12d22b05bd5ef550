//! Rate limits per client address: REST sends (optional: PROTOCOL.md, precise rule 10),
//! room creation, and failed joins (so that room codes cannot be enumerated by brute
//! force).

use std::net::IpAddr;
use std::time::Instant;

use dashmap::DashMap;

use crate::limits::SendRate;
use crate::rate_limit::SendLimiter;

/// Entries kept before idle ones are swept, so the map cannot grow without bound.
const SWEEP_AT: usize = 10_000;

/// A sliding-window rate per client address.
pub struct AddressLimiter {
    rate: Option<SendRate>,
    clients: DashMap<IpAddr, (SendLimiter, Instant)>,
}

impl AddressLimiter {
    /// A limiter with the given rate; `None` allows everything.
    pub fn new(rate: Option<SendRate>) -> Self {
        AddressLimiter {
            rate,
            clients: DashMap::new(),
        }
    }

    /// Takes a slot for `client`, or answers false when it is over its rate.
    pub fn try_acquire(&self, client: IpAddr) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let now = Instant::now();
        if self.clients.len() >= SWEEP_AT {
            self.clients
                .retain(|_, (_, last)| now.duration_since(*last) < rate.window);
        }
        let mut entry = self
            .clients
            .entry(client)
            .or_insert_with(|| (SendLimiter::default(), now));
        entry.1 = now;
        entry.0.try_acquire(Some(rate), now)
    }

    /// Settles a slot: counted when the send stored a new message.
    pub fn release(&self, client: IpAddr, stored_new: bool) {
        if let Some(mut entry) = self.clients.get_mut(&client) {
            entry.0.release(self.rate, stored_new, Instant::now());
        }
    }

    /// Whether `client` may do one more thing now, without counting it.
    pub fn allows(&self, client: IpAddr) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        match self.clients.get_mut(&client) {
            Some(mut entry) => entry.0.allows(Some(rate), Instant::now()),
            None => true,
        }
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
}
