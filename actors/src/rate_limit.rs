//! The per-session send limit: a sliding window over the sends that stored a new message.

use std::collections::VecDeque;
use std::time::Instant;

use crate::limits::SendRate;

/// Counts a session's new messages over a sliding window.
///
/// A send takes a slot before it is committed ([`SendLimiter::try_acquire`]) so that a
/// burst of frames cannot overtake the count while commits are in flight, and gives it
/// back ([`SendLimiter::release`]) when the send stored nothing new (a duplicate or a
/// failure): precise rule 10 counts only sends that store a new message.
/// The window's timestamps are allocated on the first send, so idle sessions cost nothing.
#[derive(Debug, Default)]
pub struct SendLimiter {
    sent: VecDeque<Instant>,
    in_flight: u32,
}

impl SendLimiter {
    /// Takes a slot if the rate allows one more send now.
    pub fn try_acquire(&mut self, rate: Option<SendRate>, now: Instant) -> bool {
        if !self.allows(rate, now) {
            return false;
        }
        if rate.is_some() {
            self.in_flight += 1;
        }
        true
    }

    /// Whether the rate allows one more send now (nothing is taken).
    pub fn allows(&mut self, rate: Option<SendRate>, now: Instant) -> bool {
        let Some(rate) = rate else {
            return true;
        };
        while let Some(&oldest) = self.sent.front() {
            if now.duration_since(oldest) >= rate.window {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        (self.sent.len() as u64 + u64::from(self.in_flight)) < u64::from(rate.count)
    }

    /// Settles a slot taken by `try_acquire`: counted at `now` if the send stored a new
    /// message, given back otherwise.
    pub fn release(&mut self, rate: Option<SendRate>, stored_new: bool, now: Instant) {
        if rate.is_none() {
            return;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        if stored_new {
            self.sent.push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const RATE: Option<SendRate> = Some(SendRate {
        count: 3,
        window: Duration::from_secs(10),
    });

    #[test]
    fn allows_count_per_window_then_slides() {
        let mut limiter = SendLimiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.try_acquire(RATE, t0));
            limiter.release(RATE, true, t0);
        }
        assert!(!limiter.try_acquire(RATE, t0 + Duration::from_secs(9)));
        assert!(limiter.try_acquire(RATE, t0 + Duration::from_secs(10)));
    }

    #[test]
    fn in_flight_sends_count_and_duplicates_are_given_back() {
        let mut limiter = SendLimiter::default();
        let t0 = Instant::now();
        assert!(limiter.try_acquire(RATE, t0));
        assert!(limiter.try_acquire(RATE, t0));
        assert!(limiter.try_acquire(RATE, t0));
        assert!(
            !limiter.try_acquire(RATE, t0),
            "three in flight fill the window"
        );
        limiter.release(RATE, false, t0);
        assert!(
            limiter.try_acquire(RATE, t0),
            "a duplicate gives its slot back"
        );
    }

    #[test]
    fn no_rate_means_no_limit() {
        let mut limiter = SendLimiter::default();
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert!(limiter.try_acquire(None, t0));
        }
        assert_eq!(
            limiter.sent.capacity(),
            0,
            "nothing allocated without a rate"
        );
    }
}
