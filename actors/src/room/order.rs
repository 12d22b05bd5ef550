//! The ordering rule of a room, as plain data: which committed messages may be pushed
//! now, and which range of the store must be read to close a gap.
//!
//! A committed message is pushed only when its predecessor in the room (`prev_id`,
//! recorded by the store) is the last message pushed; otherwise it waits while the room
//! reads the gap from the store. Messages at or below the last pushed id are duplicates
//! and are dropped, so the same commit may arrive from several paths (local persistence,
//! another node, a catch-up read) harmlessly. The room actor does the reading; this type
//! only decides, so it is tested without actors or a store.

use std::collections::BTreeMap;

use crate::ids::MessageId;
use crate::model::{Committed, Message};

/// Messages that may wait for a predecessor before the room gives up on its order.
pub const WAITING_MAX: usize = 10_000;
/// Reads in a row that may fail or make no progress before the room gives up on its
/// in-memory order and restarts (its members resume through `sinceId`).
pub const FRUITLESS_READS_MAX: u32 = 10;

/// What to do with a committed message.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Push these, in this order (empty for a duplicate).
    Push(Vec<Message>),
    /// It waits for its predecessor: read the gap from the store.
    Wait,
    /// Too many messages wait: the room's order can no longer be trusted.
    Overflow,
}

/// A range of the room's messages to read from the store: `after < id <= up_to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// The last message pushed (0 before the first).
    pub after: MessageId,
    /// The newest id wanted.
    pub up_to: MessageId,
}

/// What to do once a read has been applied.
#[derive(Debug, PartialEq, Eq)]
pub enum NextRead {
    /// Nothing waits.
    Idle,
    /// The read made progress but messages still wait: read this now.
    Now(Read),
    /// The store does not (yet) show what the waiting messages follow: try again later.
    Later,
    /// That happened too often in a row: give up on this order.
    GiveUp,
}

/// The ordering state of one room.
#[derive(Debug, Default)]
pub struct Order {
    last_pushed: Option<MessageId>,
    waiting: BTreeMap<MessageId, Committed>,
    reading: bool,
    fruitless_reads: u32,
}

impl Order {
    /// Pushing starts after `last_pushed` (the room's newest message when it started).
    pub fn new(last_pushed: Option<MessageId>) -> Order {
        Order {
            last_pushed,
            ..Order::default()
        }
    }

    /// The id of the last message pushed.
    pub fn last_pushed(&self) -> Option<MessageId> {
        self.last_pushed
    }

    /// Whether messages wait for a predecessor.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Applies the rule to a message that has committed.
    pub fn accept(&mut self, committed: Committed) -> Accepted {
        let id = committed.message.id;
        if self.last_pushed.is_some_and(|last| id <= last) {
            return Accepted::Push(Vec::new());
        }
        if committed.prev_id == self.last_pushed {
            let mut pushes = vec![self.pushed(committed.message)];
            self.release_waiting(&mut pushes);
            return Accepted::Push(pushes);
        }
        self.waiting.insert(id, committed);
        if self.waiting.len() > WAITING_MAX {
            Accepted::Overflow
        } else {
            Accepted::Wait
        }
    }

    /// The read that closes the gap before the newest waiting message, unless a read is
    /// in flight or nothing waits. All of that range has committed: ids of a room commit
    /// in increasing order, and the newest waiting one has committed.
    pub fn begin_gap_read(&mut self) -> Option<Read> {
        if self.reading {
            return None;
        }
        let up_to = *self.waiting.keys().next_back()?;
        self.reading = true;
        Some(self.read_up_to(up_to))
    }

    /// The read of everything committed after the last pushed message (events the broker
    /// lost, the time it was down), unless a read is in flight.
    pub fn begin_catch_up(&mut self) -> Option<Read> {
        if self.reading {
            return None;
        }
        self.reading = true;
        Some(self.read_up_to(MessageId::MAX))
    }

    /// Applies what a read found (`None`: it failed), ascending by id. Answers what to
    /// push, in order, and what to read next.
    pub fn finish_read(&mut self, found: Option<Vec<Message>>) -> (Vec<Message>, NextRead) {
        self.reading = false;
        let before = self.last_pushed;
        let mut pushes = Vec::new();
        if let Some(messages) = found {
            for message in messages {
                if self.last_pushed.is_none_or(|last| message.id > last) {
                    pushes.push(self.pushed(message));
                }
            }
            self.release_waiting(&mut pushes);
        }
        let next = if self.waiting.is_empty() || self.last_pushed != before {
            self.fruitless_reads = 0;
            self.begin_gap_read().map_or(NextRead::Idle, NextRead::Now)
        } else {
            self.fruitless_reads += 1;
            if self.fruitless_reads >= FRUITLESS_READS_MAX {
                NextRead::GiveUp
            } else {
                NextRead::Later
            }
        };
        (pushes, next)
    }

    fn read_up_to(&self, up_to: MessageId) -> Read {
        Read {
            after: self.last_pushed.unwrap_or(0),
            up_to,
        }
    }

    fn pushed(&mut self, message: Message) -> Message {
        self.last_pushed = Some(message.id);
        message
    }

    /// Moves waiting messages whose predecessor has now been pushed to `pushes`, and drops
    /// the ones a read already covered.
    fn release_waiting(&mut self, pushes: &mut Vec<Message>) {
        while let Some(entry) = self.waiting.first_entry() {
            let committed = entry.get();
            if self
                .last_pushed
                .is_some_and(|last| committed.message.id <= last)
            {
                entry.remove();
            } else if committed.prev_id == self.last_pushed {
                let committed = entry.remove();
                pushes.push(self.pushed(committed.message));
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RoomCode;
    use chrono::DateTime;

    fn message(id: MessageId) -> Message {
        Message {
            id,
            room_id: 1,
            room_code: RoomCode::parse("K7QX2M").unwrap(),
            sender: "ada".into(),
            content: format!("m{id}"),
            created_at: DateTime::from_timestamp_millis(0).unwrap(),
            client_id: None,
            bot: false,
            author_id: None,
            reply_to: None,
        }
    }

    fn committed(id: MessageId, prev_id: Option<MessageId>) -> Committed {
        Committed {
            message: message(id),
            prev_id,
        }
    }

    fn ids(pushes: &[Message]) -> Vec<MessageId> {
        pushes.iter().map(|m| m.id).collect()
    }

    fn pushed(accepted: Accepted) -> Vec<MessageId> {
        match accepted {
            Accepted::Push(pushes) => ids(&pushes),
            other => panic!("expected pushes, got {other:?}"),
        }
    }

    #[test]
    fn successors_are_pushed_at_once_and_duplicates_dropped() {
        let mut order = Order::new(None);
        assert_eq!(pushed(order.accept(committed(3, None))), [3]);
        assert_eq!(pushed(order.accept(committed(7, Some(3)))), [7]);
        assert_eq!(
            pushed(order.accept(committed(7, Some(3)))),
            Vec::<i64>::new()
        );
        assert_eq!(pushed(order.accept(committed(3, None))), Vec::<i64>::new());
        assert_eq!(order.last_pushed(), Some(7));
        assert_eq!(order.begin_gap_read(), None);
    }

    #[test]
    fn a_message_waits_for_its_predecessor_and_follows_it() {
        let mut order = Order::new(Some(1));
        assert_eq!(order.accept(committed(5, Some(4))), Accepted::Wait);
        assert_eq!(order.accept(committed(4, Some(2))), Accepted::Wait);
        assert!(order.has_waiting());
        assert_eq!(pushed(order.accept(committed(2, Some(1)))), [2, 4, 5]);
        assert!(!order.has_waiting());
    }

    #[test]
    fn a_gap_is_read_once_and_closed_from_the_store() {
        let mut order = Order::new(Some(1));
        assert_eq!(order.accept(committed(9, Some(8))), Accepted::Wait);
        let read = order.begin_gap_read().unwrap();
        assert_eq!(read, Read { after: 1, up_to: 9 });
        // One read at a time, whatever else arrives meanwhile.
        assert_eq!(order.accept(committed(10, Some(9))), Accepted::Wait);
        assert_eq!(order.begin_gap_read(), None);
        assert_eq!(order.begin_catch_up(), None);
        let found = [2, 5, 8, 9].map(message).to_vec();
        let (pushes, next) = order.finish_read(Some(found));
        assert_eq!(ids(&pushes), [2, 5, 8, 9, 10]);
        assert_eq!(next, NextRead::Idle);
    }

    #[test]
    fn progress_with_more_waiting_reads_again_at_once() {
        let mut order = Order::new(Some(1));
        order.accept(committed(5, Some(4)));
        order.begin_gap_read().unwrap();
        order.accept(committed(9, Some(8)));
        let (pushes, next) = order.finish_read(Some([3, 4].map(message).to_vec()));
        assert_eq!(ids(&pushes), [3, 4, 5]);
        assert_eq!(next, NextRead::Now(Read { after: 5, up_to: 9 }));
    }

    #[test]
    fn fruitless_reads_retry_then_give_up() {
        let mut order = Order::new(Some(1));
        order.accept(committed(5, Some(4)));
        for attempt in 1..FRUITLESS_READS_MAX {
            order.begin_gap_read().unwrap();
            let found = if attempt % 2 == 0 {
                None
            } else {
                Some(Vec::new())
            };
            assert_eq!(order.finish_read(found), (Vec::new(), NextRead::Later));
        }
        order.begin_gap_read().unwrap();
        assert_eq!(order.finish_read(None), (Vec::new(), NextRead::GiveUp));
    }

    #[test]
    fn a_catch_up_pushes_what_was_missed_and_skips_what_was_seen() {
        let mut order = Order::new(Some(4));
        let read = order.begin_catch_up().unwrap();
        assert_eq!(
            read,
            Read {
                after: 4,
                up_to: MessageId::MAX
            }
        );
        let (pushes, next) = order.finish_read(Some([3, 4, 6, 7].map(message).to_vec()));
        assert_eq!(ids(&pushes), [6, 7]);
        assert_eq!(next, NextRead::Idle);
    }

    #[test]
    fn too_many_waiting_overflows() {
        let mut order = Order::new(Some(0));
        for id in 0..WAITING_MAX as i64 {
            assert_eq!(
                order.accept(committed(id + 10, Some(id + 9))),
                Accepted::Wait
            );
        }
        assert_eq!(
            order.accept(committed(1_000_000, Some(999_999))),
            Accepted::Overflow
        );
    }
}
