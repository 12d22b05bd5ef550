//! How often one member's typing reaches the others: on a change, a repeated start at most
//! every [`REFRESH`], a new start at most [`RESTART_GAP`] after the last relay. A start that
//! comes too soon is not lost but delivered when the gap is over (unless a stop came first),
//! so a member who stops and starts again is still shown typing; a flood of toggles costs
//! the room about two pushes per second.

use std::time::{Duration, Instant};

/// A start is relayed at least this long after the last relay.
pub const RESTART_GAP: Duration = Duration::from_secs(1);
/// A repeated start is relayed again after this long (clients refresh every 3 s and expire
/// others' typing after 6 s without one).
pub const REFRESH: Duration = Duration::from_secs(2);

/// What to do with one `typing` request.
#[derive(Debug, PartialEq, Eq)]
pub enum Relay {
    /// Tell the others now.
    Now,
    /// A start that came too soon: tell them after this long, if it still stands
    /// ([`TypingRelay::due`]).
    After(Duration),
    /// Nothing new for the others.
    Skip,
}

/// What the others were last told about one member's typing.
#[derive(Debug, Default)]
pub struct TypingRelay {
    shown: bool,
    last: Option<Instant>,
    deferred_start: bool,
}

impl TypingRelay {
    /// Decides about a `typing` request at `now`.
    pub fn decide(&mut self, typing: bool, now: Instant) -> Relay {
        let since = self.last.map(|last| now.duration_since(last));
        match (typing, self.shown) {
            (false, shown) => {
                self.deferred_start = false;
                if shown {
                    self.relayed(false, now);
                    Relay::Now
                } else {
                    Relay::Skip
                }
            }
            (true, false) => match since {
                Some(since) if since < RESTART_GAP => {
                    if self.deferred_start {
                        return Relay::Skip;
                    }
                    self.deferred_start = true;
                    Relay::After(RESTART_GAP - since)
                }
                _ => {
                    self.relayed(true, now);
                    Relay::Now
                }
            },
            (true, true) if since.is_none_or(|since| since >= REFRESH) => {
                self.relayed(true, now);
                Relay::Now
            }
            (true, true) => Relay::Skip,
        }
    }

    /// The gap after a deferred start is over: whether to relay the start now.
    pub fn due(&mut self, now: Instant) -> bool {
        let relay = std::mem::take(&mut self.deferred_start) && !self.shown;
        if relay {
            self.relayed(true, now);
        }
        relay
    }

    fn relayed(&mut self, typing: bool, now: Instant) {
        self.shown = typing;
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_go_out_repeats_wait_and_early_starts_are_deferred() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut relay = TypingRelay::default();
        assert_eq!(relay.decide(true, at(0)), Relay::Now);
        assert_eq!(relay.decide(true, at(500)), Relay::Skip, "a repeat");
        assert_eq!(
            relay.decide(false, at(600)),
            Relay::Now,
            "a stop always goes out"
        );
        assert_eq!(relay.decide(false, at(700)), Relay::Skip, "a second stop");
        // Starting again right away is deferred, not lost.
        assert_eq!(
            relay.decide(true, at(900)),
            Relay::After(Duration::from_millis(700))
        );
        assert_eq!(
            relay.decide(true, at(1000)),
            Relay::Skip,
            "already deferred"
        );
        assert!(relay.due(at(1600)));
        assert_eq!(
            relay.decide(true, at(3700)),
            Relay::Now,
            "a refresh after 2 s"
        );
    }

    #[test]
    fn a_stop_cancels_a_deferred_start() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut relay = TypingRelay::default();
        relay.decide(true, at(0));
        relay.decide(false, at(10));
        assert!(matches!(relay.decide(true, at(20)), Relay::After(_)));
        assert_eq!(relay.decide(false, at(30)), Relay::Skip);
        assert!(
            !relay.due(at(1000)),
            "the member stopped before the start was due"
        );
    }

    #[test]
    fn a_flood_costs_about_two_relays_per_second() {
        let start = Instant::now();
        let mut relay = TypingRelay::default();
        let mut relays = 0;
        for i in 0..1000u64 {
            let now = start + Duration::from_millis(i);
            if relay.decide(i % 2 == 0, now) == Relay::Now {
                relays += 1;
            }
        }
        assert!(relays <= 2, "{relays} relays in one second");
    }
}
