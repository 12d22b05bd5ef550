//! The ordering rule of a room, as plain data: which committed messages and changes may
//! be pushed now, and what must be read from the store to close a gap.
//!
//! Every new message and every change of a room takes the room's next position in its
//! change stream (`seq`: 1, 2, 3, ... per room, assigned under the room's lock in the
//! store). The room pushes in that order: a commit at position `n` goes out only once
//! `n - 1` has; a later one waits while the room reads what it missed from the store. A
//! read returns the messages in their current state, so it covers every position up to the
//! newest it saw (a change overtaken by a later change of the same message is in that
//! message's current state). Commits at or below the last position pushed are duplicates
//! and are dropped, so the same commit may arrive from several paths (local persistence,
//! another node, a catch-up read) harmlessly; and since a message's changes come after it
//! in the stream, nobody sees a change before the message. The room actor does the
//! reading; this type only decides, so it is tested without actors or a store.

use std::collections::BTreeMap;

use crate::ids::MessageId;
use crate::model::{Message, Seq};

/// Commits that may wait for a predecessor before the room gives up on its order.
pub const WAITING_MAX: usize = 10_000;
/// Reads in a row that may fail or make no progress before the room gives up on its
/// in-memory order and restarts (its members resume through `sinceId`).
pub const FRUITLESS_READS_MAX: u32 = 10;

/// A committed write of the room, as it is pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// A new message (`chat:message`).
    Message(Message),
    /// A message's new state after a change (`chat:update`).
    Update(Message),
}

impl Push {
    /// The message, in the state pushed.
    pub fn message(&self) -> &Message {
        match self {
            Push::Message(message) | Push::Update(message) => message,
        }
    }
}

/// What to do with a commit.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Push these, in this order (empty for a duplicate).
    Push(Vec<Push>),
    /// It waits for its predecessor: read the gap from the store.
    Wait,
    /// It carries no position (an event from a node that predates them): read what was
    /// committed from the store.
    Unplaced,
    /// Too many commits wait: the room's order can no longer be trusted.
    Overflow,
}

/// What to read from the store: every message with `id > after_id` or `seq > after_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// The newest message pushed (0 before the first).
    pub after_id: MessageId,
    /// The last position pushed.
    pub after_seq: Seq,
}

/// What to do once a read has been applied.
#[derive(Debug, PartialEq, Eq)]
pub enum NextRead {
    /// Nothing waits.
    Idle,
    /// The read made progress but commits still wait: read this now.
    Now(Read),
    /// The store does not (yet) show what the waiting commits follow: try again later.
    Later,
    /// That happened too often in a row: give up on this order.
    GiveUp,
}

/// The ordering state of one room.
#[derive(Debug, Default)]
pub struct Order {
    last_id: Option<MessageId>,
    last_seq: Seq,
    waiting: BTreeMap<Seq, Push>,
    reading: bool,
    fruitless_reads: u32,
}

impl Order {
    /// Pushing starts after message `last_id` and position `last_seq` (the room's newest
    /// when it started).
    pub fn new(last_id: Option<MessageId>, last_seq: Seq) -> Order {
        Order {
            last_id,
            last_seq,
            ..Order::default()
        }
    }

    /// The id of the newest message pushed.
    pub fn last_pushed(&self) -> Option<MessageId> {
        self.last_id
    }

    /// The last position of the change stream pushed.
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// Whether commits wait for a predecessor.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Applies the rule to a commit.
    pub fn accept(&mut self, push: Push) -> Accepted {
        let seq = push.message().seq;
        if seq <= 0 {
            return Accepted::Unplaced;
        }
        if seq <= self.last_seq {
            return Accepted::Push(Vec::new());
        }
        if seq == self.last_seq + 1 {
            let mut pushes = vec![self.pushed(push)];
            self.release_waiting(&mut pushes);
            return Accepted::Push(pushes);
        }
        self.waiting.insert(seq, push);
        if self.waiting.len() > WAITING_MAX {
            Accepted::Overflow
        } else {
            Accepted::Wait
        }
    }

    /// The read that closes the gap before the waiting commits, unless a read is in
    /// flight or nothing waits. Everything up to the newest waiting one has committed:
    /// positions of a room commit in increasing order.
    pub fn begin_gap_read(&mut self) -> Option<Read> {
        if self.reading || self.waiting.is_empty() {
            return None;
        }
        self.reading = true;
        Some(self.read())
    }

    /// The read of everything committed after the last push (events the broker lost, the
    /// time it was down), unless a read is in flight.
    pub fn begin_catch_up(&mut self) -> Option<Read> {
        if self.reading {
            return None;
        }
        self.reading = true;
        Some(self.read())
    }

    /// Applies what a read found (`None`: it failed): messages in their current state,
    /// ascending by id. Answers what to push, in order, and what to read next.
    pub fn finish_read(&mut self, found: Option<Vec<Message>>) -> (Vec<Push>, NextRead) {
        self.reading = false;
        let before = (self.last_id, self.last_seq);
        let mut pushes = Vec::new();
        if let Some(messages) = found {
            let newest_seq = messages.iter().map(|m| m.seq).fold(self.last_seq, Seq::max);
            pushes = self.read_pushes(messages);
            self.last_seq = newest_seq;
            self.release_waiting(&mut pushes);
        }
        let progress = (self.last_id, self.last_seq) != before;
        let next = if self.waiting.is_empty() || progress {
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

    /// The pushes of what a read found (messages as they are now, ascending by id): new
    /// messages in id order, as every member expects them, and changed ones in position
    /// order, merged so that whatever prefix of them reaches a member is complete up to
    /// its greatest position for the messages it holds. A new message goes at the greatest
    /// position among itself and the new messages before it, a change at its own: so a
    /// change is pushed only after every state of a lower position, and a new message
    /// created before a later change of an older one may come after that change, with a
    /// lower position (which resumes still cover: it is a message the member did not hold).
    fn read_pushes(&mut self, messages: Vec<Message>) -> Vec<Push> {
        let mut keyed: Vec<(Seq, Push)> = Vec::with_capacity(messages.len());
        let mut newest_new = 0;
        for message in messages {
            if self.last_id.is_none_or(|last| message.id > last) {
                self.last_id = Some(message.id);
                newest_new = newest_new.max(message.seq);
                keyed.push((newest_new, Push::Message(message)));
            } else if message.seq > self.last_seq {
                keyed.push((message.seq, Push::Update(message)));
            }
        }
        // Stable: new messages with equal keys keep their id order.
        keyed.sort_by_key(|(key, _)| *key);
        keyed.into_iter().map(|(_, push)| push).collect()
    }

    fn read(&self) -> Read {
        Read {
            after_id: self.last_id.unwrap_or(0),
            after_seq: self.last_seq,
        }
    }

    fn pushed(&mut self, push: Push) -> Push {
        let message = push.message();
        self.last_seq = message.seq;
        if matches!(push, Push::Message(_)) {
            self.last_id = self.last_id.max(Some(message.id));
        }
        push
    }

    /// Moves waiting commits that follow the last push to `pushes`, and drops the ones a
    /// read already covered.
    fn release_waiting(&mut self, pushes: &mut Vec<Push>) {
        while let Some(entry) = self.waiting.first_entry() {
            let seq = *entry.key();
            if seq <= self.last_seq {
                entry.remove();
            } else if seq == self.last_seq + 1 {
                let push = entry.remove();
                pushes.push(self.pushed(push));
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

    fn message(id: MessageId, seq: Seq) -> Message {
        Message {
            id,
            room_id: 1,
            room_code: RoomCode::parse("K7QX2M").unwrap(),
            sender: "ada".into(),
            content: format!("m{id}@{seq}"),
            created_at: DateTime::from_timestamp_millis(0).unwrap(),
            client_id: None,
            bot: false,
            author_id: None,
            reply_to: None,
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            seq,
        }
    }

    fn new(id: MessageId, seq: Seq) -> Push {
        Push::Message(message(id, seq))
    }

    fn update(id: MessageId, seq: Seq) -> Push {
        Push::Update(message(id, seq))
    }

    /// Pushes as (kind, id, seq): 'm' a new message, 'u' an update.
    fn shown(pushes: &[Push]) -> Vec<(char, MessageId, Seq)> {
        pushes
            .iter()
            .map(|push| {
                let kind = if matches!(push, Push::Message(_)) {
                    'm'
                } else {
                    'u'
                };
                (kind, push.message().id, push.message().seq)
            })
            .collect()
    }

    fn pushed(accepted: Accepted) -> Vec<(char, MessageId, Seq)> {
        match accepted {
            Accepted::Push(pushes) => shown(&pushes),
            other => panic!("expected pushes, got {other:?}"),
        }
    }

    #[test]
    fn successors_are_pushed_at_once_and_duplicates_dropped() {
        let mut order = Order::new(None, 0);
        assert_eq!(pushed(order.accept(new(3, 1))), [('m', 3, 1)]);
        assert_eq!(pushed(order.accept(update(3, 2))), [('u', 3, 2)]);
        assert_eq!(pushed(order.accept(new(7, 3))), [('m', 7, 3)]);
        assert_eq!(pushed(order.accept(new(7, 3))), []);
        assert_eq!(pushed(order.accept(update(3, 2))), []);
        assert_eq!((order.last_pushed(), order.last_seq()), (Some(7), 3));
        assert_eq!(order.begin_gap_read(), None);
    }

    #[test]
    fn a_change_waits_for_the_message_it_changes() {
        let mut order = Order::new(Some(1), 1);
        // The edit of message 5 (position 3) arrives before message 5 itself (position 2).
        assert_eq!(order.accept(update(5, 3)), Accepted::Wait);
        assert_eq!(order.accept(new(6, 4)), Accepted::Wait);
        assert!(order.has_waiting());
        assert_eq!(
            pushed(order.accept(new(5, 2))),
            [('m', 5, 2), ('u', 5, 3), ('m', 6, 4)]
        );
        assert!(!order.has_waiting());
    }

    #[test]
    fn a_gap_is_read_once_and_closed_from_the_store() {
        let mut order = Order::new(Some(1), 1);
        assert_eq!(order.accept(new(9, 5)), Accepted::Wait);
        let read = order.begin_gap_read().unwrap();
        assert_eq!(
            read,
            Read {
                after_id: 1,
                after_seq: 1
            }
        );
        // One read at a time, whatever else arrives meanwhile.
        assert_eq!(order.accept(update(9, 6)), Accepted::Wait);
        assert_eq!(order.begin_gap_read(), None);
        assert_eq!(order.begin_catch_up(), None);
        // The store: message 1 was edited (3), 2 is new (2) then deleted (4), 9 new (5).
        let found = vec![message(1, 3), message(2, 4), message(9, 5)];
        let (pushes, next) = order.finish_read(Some(found));
        assert_eq!(
            shown(&pushes),
            [('u', 1, 3), ('m', 2, 4), ('m', 9, 5), ('u', 9, 6)]
        );
        assert_eq!(next, NextRead::Idle);
        assert_eq!((order.last_pushed(), order.last_seq()), (Some(9), 6));
    }

    #[test]
    fn a_read_covers_changes_overtaken_by_later_ones() {
        let mut order = Order::new(Some(4), 10);
        assert_eq!(order.accept(update(4, 13)), Accepted::Wait);
        order.begin_gap_read().unwrap();
        // Positions 11 and 12 were edits of message 3, whose state is now at 12; 13 is
        // the waiting one, which the read also saw.
        let (pushes, next) = order.finish_read(Some(vec![message(3, 12), message(4, 13)]));
        assert_eq!(shown(&pushes), [('u', 3, 12), ('u', 4, 13)]);
        assert_eq!(next, NextRead::Idle);
        assert!(
            !order.has_waiting(),
            "the waiting change was covered by the read"
        );
        assert_eq!(
            pushed(order.accept(update(3, 11))),
            [],
            "an overtaken change is dropped"
        );
    }

    #[test]
    fn a_read_pushes_new_messages_in_id_order_and_changes_in_position_order() {
        let mut order = Order::new(Some(10), 20);
        order.begin_catch_up().unwrap();
        // Found, by id: 5 changed at 24, 8 changed at 22, 11 new and edited at 25, 12 new
        // at 23, 13 new at 26.
        let found = vec![
            message(5, 24),
            message(8, 22),
            message(11, 25),
            message(12, 23),
            message(13, 26),
        ];
        let (pushes, _) = order.finish_read(Some(found));
        assert_eq!(
            shown(&pushes),
            [
                ('u', 8, 22),
                ('u', 5, 24),
                ('m', 11, 25),
                ('m', 12, 23),
                ('m', 13, 26)
            ]
        );
        // Whatever prefix a member got, the messages it holds are complete up to the
        // greatest position it saw: a change is never behind a higher position.
        for end in 1..=pushes.len() {
            let prefix = &pushes[..end];
            let greatest = prefix.iter().map(|p| p.message().seq).max().unwrap();
            for push in prefix {
                if matches!(push, Push::Update(_)) {
                    let before = prefix.iter().take_while(|p| *p != push);
                    assert!(before
                        .map(|p| p.message().seq)
                        .all(|s| s < push.message().seq));
                }
            }
            for (id, seq) in [(8, 22), (5, 24)] {
                let got = prefix.iter().any(|p| p.message().id == id);
                assert!(
                    got || seq > greatest,
                    "prefix {end}: change of {id} at {seq} missing"
                );
            }
        }
        assert_eq!((order.last_pushed(), order.last_seq()), (Some(13), 26));
    }

    #[test]
    fn progress_with_more_waiting_reads_again_at_once() {
        let mut order = Order::new(Some(1), 1);
        order.accept(new(5, 4));
        order.begin_gap_read().unwrap();
        order.accept(new(9, 8));
        let (pushes, next) = order.finish_read(Some(vec![message(3, 2), message(4, 3)]));
        assert_eq!(shown(&pushes), [('m', 3, 2), ('m', 4, 3), ('m', 5, 4)]);
        assert_eq!(
            next,
            NextRead::Now(Read {
                after_id: 5,
                after_seq: 4
            })
        );
    }

    #[test]
    fn fruitless_reads_retry_then_give_up() {
        let mut order = Order::new(Some(1), 1);
        order.accept(new(5, 3));
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
        let mut order = Order::new(Some(4), 4);
        let read = order.begin_catch_up().unwrap();
        assert_eq!(
            read,
            Read {
                after_id: 4,
                after_seq: 4
            }
        );
        let found = vec![message(3, 3), message(4, 4), message(6, 5), message(7, 6)];
        let (pushes, next) = order.finish_read(Some(found));
        assert_eq!(shown(&pushes), [('m', 6, 5), ('m', 7, 6)]);
        assert_eq!(next, NextRead::Idle);
    }

    #[test]
    fn a_commit_without_a_position_asks_for_a_read() {
        let mut order = Order::new(Some(4), 4);
        assert_eq!(order.accept(new(8, 0)), Accepted::Unplaced);
        order.begin_catch_up().unwrap();
        // Written by a node that predates positions: seq 0, found by its id.
        let (pushes, _) = order.finish_read(Some(vec![message(8, 0)]));
        assert_eq!(shown(&pushes), [('m', 8, 0)]);
        assert_eq!((order.last_pushed(), order.last_seq()), (Some(8), 4));
    }

    #[test]
    fn too_many_waiting_overflows() {
        let mut order = Order::new(Some(0), 0);
        for seq in 0..WAITING_MAX as i64 {
            assert_eq!(order.accept(new(seq + 10, seq + 10)), Accepted::Wait);
        }
        assert_eq!(order.accept(new(1_000_000, 1_000_000)), Accepted::Overflow);
    }
}
