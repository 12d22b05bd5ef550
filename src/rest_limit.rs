//! The optional per-client-address limit on REST sends (PROTOCOL.md, precise rule 10:
//! REST is for trusted integrations and unlimited by default).

use std::net::IpAddr;
use std::time::Instant;

use chat_actors::rate_limit::SendLimiter;
use chat_actors::SendRate;
use dashmap::DashMap;

/// Entries kept before idle ones are swept, so the map cannot grow without bound.
const SWEEP_AT: usize = 10_000;

/// Send limits per client address.
pub struct RestLimiter {
    rate: Option<SendRate>,
    clients: DashMap<IpAddr, (SendLimiter, Instant)>,
}

impl RestLimiter {
    /// A limiter with the given rate; `None` allows everything.
    pub fn new(rate: Option<SendRate>) -> Self {
        RestLimiter {
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

    /// Whether a limit is configured at all.
    pub fn is_enabled(&self) -> bool {
        self.rate.is_some()
    }
}
