//! What a join waits for when the node is one of several, so that presence reads its own
//! writes across nodes (docs/protocol.md, "Presence across nodes"):
//!
//! - [`WriteMarks`]: the node where a member joins answers the join only once its presence
//!   entry and `join` event are written to Redis, so nothing acked is still on its way.
//! - [`Barriers`]: a node about to add a member to a room whose roster it follows through
//!   events first makes sure that every event published on the room's channel before now
//!   has reached the room. It publishes a marker on the channel and waits to read it back:
//!   Redis hands a subscriber a channel's messages in the order it ran the `PUBLISH`es, so
//!   everything published before the marker arrives before it. A room whose subscription
//!   is still being made waits instead for its roster, which is read after subscribing.
//!
//! Both answer at once when there is nothing to wait for (no connection, no subscription),
//! and their callers give up after the broker's timeout: the guarantee holds while Redis
//! answers, and a join is never held hostage by a Redis that does not.

use std::collections::{HashMap, HashSet};

use tokio::sync::oneshot;

use crate::ids::RoomCode;

/// Barriers published and not yet read back past which the closed ones (their join gave
/// up waiting) are dropped, so a lost marker cannot make the table grow.
const PUBLISHED_SWEEP_AT: usize = 4096;

/// Who is waiting.
pub type Waiter = oneshot::Sender<()>;

/// Counts the writes queued for Redis and those written, and wakes whoever waits for a
/// count: a waiter asks for everything queued when it arrived.
#[derive(Default)]
pub struct WriteMarks {
    queued: u64,
    written: u64,
    waiting: Vec<(u64, Waiter)>,
}

impl WriteMarks {
    /// One more write was queued.
    pub fn queued(&mut self) {
        self.queued += 1;
    }

    /// The mark a batch that takes everything queued now covers.
    pub fn mark(&self) -> u64 {
        self.queued
    }

    /// Wakes `waiter` once everything queued now is written (or failed): at once if it is.
    pub fn wait(&mut self, waiter: Waiter) {
        if self.written >= self.queued {
            let _ = waiter.send(());
        } else {
            self.waiting.push((self.queued, waiter));
        }
    }

    /// Everything up to `mark` is written (or its write failed: nobody waits for Redis
    /// longer than one attempt).
    pub fn written_up_to(&mut self, mark: u64) {
        self.written = self.written.max(mark);
        let written = self.written;
        for (_, waiter) in self
            .waiting
            .extract_if(.., |(wanted, _)| *wanted <= written)
        {
            let _ = waiter.send(());
        }
    }
}

/// What a barrier asked of the bridge needs.
#[derive(Debug, PartialEq, Eq)]
pub enum Ask {
    /// Nothing to wait for: it was answered.
    Answered,
    /// It waits for the room's roster.
    AfterSync,
    /// Publish a marker with this token on the room's channel.
    Publish(u64),
}

/// The barriers of the rooms this node is subscribed to.
#[derive(Default)]
pub struct Barriers {
    /// Rooms subscribed, with their roster handed to the room since.
    synced: HashSet<RoomCode>,
    /// Barriers of rooms whose subscription is being made.
    awaiting_sync: HashMap<RoomCode, Vec<Waiter>>,
    /// Markers published, by token, until read back.
    published: HashMap<u64, Waiter>,
    next_token: u64,
}

impl Barriers {
    /// A barrier for `code`: `subscribed` says whether the node wants the room's channel,
    /// `connected` whether it has a pub/sub connection.
    pub fn ask(
        &mut self,
        code: RoomCode,
        subscribed: bool,
        connected: bool,
        waiter: Waiter,
    ) -> Ask {
        if !connected || !subscribed {
            let _ = waiter.send(());
            return Ask::Answered;
        }
        if !self.synced.contains(&code) {
            self.awaiting_sync.entry(code).or_default().push(waiter);
            return Ask::AfterSync;
        }
        if self.published.len() >= PUBLISHED_SWEEP_AT {
            self.published.retain(|_, waiter| !waiter.is_closed());
        }
        self.next_token += 1;
        self.published.insert(self.next_token, waiter);
        Ask::Publish(self.next_token)
    }

    /// The room's roster was handed to it after (re)subscribing.
    pub fn synced(&mut self, code: RoomCode) {
        self.synced.insert(code);
        self.wake_awaiting(code);
    }

    /// The node no longer wants the room's channel.
    pub fn unsubscribed(&mut self, code: RoomCode) {
        self.synced.remove(&code);
        self.wake_awaiting(code);
    }

    /// A marker of ours came back.
    pub fn read_back(&mut self, token: u64) {
        if let Some(waiter) = self.published.remove(&token) {
            let _ = waiter.send(());
        }
    }

    /// Markers whose write failed will never come back.
    pub fn write_failed(&mut self) {
        for (_, waiter) in self.published.drain() {
            let _ = waiter.send(());
        }
    }

    /// The pub/sub connection is gone: every room is subscribed (and synced) again on the
    /// next one, and nobody waits for this one.
    pub fn connection_lost(&mut self) {
        self.synced.clear();
        self.write_failed();
        for (_, waiters) in self.awaiting_sync.drain() {
            for waiter in waiters {
                let _ = waiter.send(());
            }
        }
    }

    fn wake_awaiting(&mut self, code: RoomCode) {
        for waiter in self.awaiting_sync.remove(&code).unwrap_or_default() {
            let _ = waiter.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter() -> (Waiter, oneshot::Receiver<()>) {
        oneshot::channel()
    }

    fn woken(rx: &mut oneshot::Receiver<()>) -> bool {
        rx.try_recv().is_ok()
    }

    fn code() -> RoomCode {
        RoomCode::parse("ABCDEF").expect("a valid code")
    }

    #[test]
    fn a_write_waiter_wakes_when_its_batch_is_written_not_before() {
        let mut marks = WriteMarks::default();
        let (tx, mut idle) = waiter();
        marks.wait(tx);
        assert!(woken(&mut idle), "nothing queued: answered at once");

        marks.queued();
        let first_batch = marks.mark();
        let (tx, mut first) = waiter();
        marks.wait(tx);
        marks.queued();
        let (tx, mut second) = waiter();
        marks.wait(tx);
        marks.written_up_to(first_batch);
        assert!(woken(&mut first));
        assert!(!woken(&mut second), "its write is in the next batch");
        marks.written_up_to(marks.mark());
        assert!(woken(&mut second));
    }

    #[test]
    fn a_barrier_publishes_only_on_a_synced_subscription() {
        let mut barriers = Barriers::default();
        let (tx, mut rx) = waiter();
        assert_eq!(barriers.ask(code(), false, true, tx), Ask::Answered);
        assert!(woken(&mut rx));
        let (tx, mut rx) = waiter();
        assert_eq!(barriers.ask(code(), true, false, tx), Ask::Answered);
        assert!(woken(&mut rx));

        let (tx, mut pending) = waiter();
        assert_eq!(barriers.ask(code(), true, true, tx), Ask::AfterSync);
        assert!(!woken(&mut pending));
        barriers.synced(code());
        assert!(woken(&mut pending), "the roster came after it asked");

        let (tx, mut rx) = waiter();
        let Ask::Publish(token) = barriers.ask(code(), true, true, tx) else {
            panic!("a synced room publishes a marker");
        };
        barriers.read_back(token + 1);
        assert!(!woken(&mut rx), "another marker");
        barriers.read_back(token);
        assert!(woken(&mut rx));
    }

    #[test]
    fn a_lost_connection_wakes_everyone_and_forgets_the_syncs() {
        let mut barriers = Barriers::default();
        barriers.synced(code());
        let (tx, mut published) = waiter();
        assert!(matches!(
            barriers.ask(code(), true, true, tx),
            Ask::Publish(_)
        ));
        let other = RoomCode::parse("GHJKMN").expect("a valid code");
        let (tx, mut syncing) = waiter();
        assert_eq!(barriers.ask(other, true, true, tx), Ask::AfterSync);
        barriers.connection_lost();
        assert!(woken(&mut published) && woken(&mut syncing));
        let (tx, _rx) = waiter();
        assert_eq!(
            barriers.ask(code(), true, true, tx),
            Ask::AfterSync,
            "subscribed again on the next connection, synced again after"
        );
    }

    #[test]
    fn markers_given_up_on_do_not_pile_up() {
        let mut barriers = Barriers::default();
        barriers.synced(code());
        for _ in 0..3 * PUBLISHED_SWEEP_AT {
            let (tx, rx) = waiter();
            barriers.ask(code(), true, true, tx);
            drop(rx);
        }
        assert!(barriers.published.len() <= PUBLISHED_SWEEP_AT);
    }
}
