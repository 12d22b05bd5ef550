//! What one session may spend: a token bucket over all its frames (requests, pings,
//! fragments), and one over its joins and renames, each a `governor` limiter (GCRA: one
//! word of state, O(1) per frame).
//!
//! The send limit (`rate_limit.rs`) counts stored messages, as precise rule 10 says; these
//! bound everything else a client can make the node do: a typing or rename flood fans out to
//! every member, a rejoin with `sinceId` 0 reads up to 500 messages, a ping costs a pong.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::limits::{Limits, SendRate};

/// Refused frames in a row after which the session is closed (1008): a client that keeps
/// sending while every frame is refused is not a client that reads its answers.
pub const REFUSED_BEFORE_CLOSE: u32 = 1000;

/// What to do with one frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the budget.
    Allow,
    /// Over it: answer `rate_limited`, do nothing else.
    Refuse,
    /// Over it for too long: close the connection.
    Close,
}

/// A session's budgets.
pub struct Budget {
    frames: Option<DefaultDirectRateLimiter>,
    joins: Option<DefaultDirectRateLimiter>,
    refused_in_a_row: u32,
}

/// A GCRA limiter that allows `rate.count` at once and `rate.count` per `rate.window` on
/// average.
fn limiter(rate: Option<SendRate>) -> Option<DefaultDirectRateLimiter> {
    let rate = rate?;
    let burst = NonZeroU32::new(rate.count)?;
    let quota = Quota::with_period(rate.window / rate.count)?.allow_burst(burst);
    Some(RateLimiter::direct(quota))
}

impl Budget {
    /// The budgets of a new session under `limits`.
    pub fn new(limits: &Limits) -> Budget {
        Budget {
            frames: limiter(limits.frame_rate),
            joins: limiter(limits.join_rate),
            refused_in_a_row: 0,
        }
    }

    /// Spends one frame.
    pub fn frame(&mut self) -> Verdict {
        let allowed = self.frames.as_ref().is_none_or(|l| l.check().is_ok());
        if allowed {
            self.refused_in_a_row = 0;
            return Verdict::Allow;
        }
        self.refused_in_a_row += 1;
        if self.refused_in_a_row >= REFUSED_BEFORE_CLOSE {
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }

    /// Spends one join (or rejoin, or rename); false when over the budget.
    pub fn join(&self) -> bool {
        self.joins.as_ref().is_none_or(|l| l.check().is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_refused_then_closed() {
        let limits = Limits {
            frame_rate: Some(SendRate {
                count: 10,
                window: Duration::from_secs(3600),
            }),
            join_rate: Some(SendRate {
                count: 2,
                window: Duration::from_secs(3600),
            }),
            ..Limits::default()
        };
        let mut budget = Budget::new(&limits);
        assert!((0..10).all(|_| budget.frame() == Verdict::Allow));
        assert_eq!(budget.frame(), Verdict::Refuse);
        let verdicts: Vec<Verdict> = (1..REFUSED_BEFORE_CLOSE).map(|_| budget.frame()).collect();
        assert_eq!(verdicts.last(), Some(&Verdict::Close));
        assert!(budget.join() && budget.join() && !budget.join());
    }

    #[test]
    fn no_rate_means_no_limit() {
        let limits = Limits {
            frame_rate: None,
            join_rate: None,
            ..Limits::default()
        };
        let mut budget = Budget::new(&limits);
        assert!((0..100_000).all(|_| budget.frame() == Verdict::Allow));
        assert!((0..1000).all(|_| budget.join()));
    }
}
