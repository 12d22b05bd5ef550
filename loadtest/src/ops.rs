//! What one member of the mixed workload does next, and what an ack of it means. Pure state
//! (no socket, no clock of its own), so the choice of operations and their targets can be
//! unit-tested and repeated from a seed.
//!
//! Each operation draws its kind from the [`Mix`] with the member's seeded [`Rng`], then a
//! target among what the member has seen:
//! - `send`: a new message.
//! - `reply`: a message replying to one of the last [`RECENT`] messages of the room the
//!   member received (anyone's, its own included).
//! - `edit`: new content for one of the member's last [`RECENT`] acked messages.
//! - `react`: an emoji of [`EMOJIS`] on one of the last [`RECENT`] received messages that
//!   are not the member's own, one it has not put there yet (so the add changes a count).
//! - `unreact`: removes one of the member's current (acked) reactions.
//!
//! When a kind has no target yet (at the start nothing has been received), it falls back:
//! `unreact` to `react`, and `reply`, `edit`, `react` to `send`. The kind actually sent is
//! what is counted. A reaction with an add or remove still unanswered is not touched again
//! until its ack, so every operation changes something: none is a no-op the node would
//! answer without a new `seq`.

use std::collections::{HashMap, VecDeque};

use crate::client::{self, MessageInfo};
use crate::mix::{Mix, OpKind};
use crate::rng::Rng;

/// Emojis the load test reacts with: single code points (one grapheme, 4 bytes each), fewer
/// than the 20 distinct emoji one message may hold.
pub const EMOJIS: [&str; 8] = ["👍", "🎉", "😀", "🚀", "👀", "🔥", "💯", "🙏"];

/// How many recent messages (received, or own acked) targets are picked from.
pub const RECENT: usize = 32;

/// An operation written to the socket and not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    kind: OpKind,
    sent_nanos: u64,
    target: Option<i64>,
    emoji: Option<u8>,
    content: Option<Box<str>>,
}

/// One acked operation, as the change audit and the history check need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// What was done.
    pub kind: OpKind,
    /// The message: the new one for send/reply, the changed one for the other kinds.
    pub id: i64,
    /// The `seq` the ack's message carries: the change-stream position of this operation.
    pub seq: u64,
    /// When the frame was written, Unix nanoseconds.
    pub sent_nanos: u64,
    /// When its ack was read, Unix nanoseconds.
    pub acked_nanos: u64,
    /// The emoji index into [`EMOJIS`] (react, unreact).
    pub emoji: Option<u8>,
    /// The new content (edit).
    pub content: Option<Box<str>>,
}

/// The next frame to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The kind actually chosen (after fallbacks).
    pub kind: OpKind,
    /// The frame's text.
    pub frame: String,
}

/// What an ack meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acked {
    /// Ok, with the message the operation produced or changed. `mismatch` is true when the
    /// ack contradicts the operation (another message, a reply to another message, no `seq`).
    Done {
        /// The operation.
        record: OpRecord,
        /// The ack does not fit the operation.
        mismatch: bool,
    },
    /// Refused with an error code; nothing is known to have changed.
    Refused {
        /// The kind refused.
        kind: OpKind,
        /// The error code.
        code: String,
        /// The message it targeted, if any (its final state is then not checked).
        target: Option<i64>,
    },
    /// Ok but without a message, which the protocol never answers to these events.
    NoMessage {
        /// The kind answered.
        kind: OpKind,
    },
    /// No operation with that ref is outstanding.
    Unknown,
}

/// One member's mixed-workload state.
#[derive(Debug)]
pub struct Planner {
    mix: Mix,
    rng: Rng,
    room_code: String,
    /// `<room>-<member>`, the prefix of client ids and edit tags.
    label: String,
    pad: usize,
    recent: VecDeque<i64>,
    mine: VecDeque<i64>,
    reactions: Vec<(i64, u8)>,
    busy: Vec<(i64, u8)>,
    pending: HashMap<u64, Pending>,
}

impl Planner {
    /// A planner for member `member` of room `room` (code `room_code`) drawing from `rng`;
    /// `pad` filler characters per message and edit, as for plain sends.
    pub fn new(
        mix: Mix,
        rng: Rng,
        room_code: &str,
        room: usize,
        member: usize,
        pad: usize,
    ) -> Planner {
        Planner {
            mix,
            rng,
            room_code: room_code.to_string(),
            label: format!("{room}-{member}"),
            pad,
            recent: VecDeque::with_capacity(RECENT),
            mine: VecDeque::with_capacity(RECENT),
            reactions: Vec::new(),
            busy: Vec::new(),
            pending: HashMap::new(),
        }
    }

    /// Notes a `chat:message` of the room: a target for replies and (if not own) reactions.
    pub fn on_message(&mut self, id: i64) {
        push_bounded(&mut self.recent, id);
    }

    /// Chooses the next operation and builds its frame with ref `reference`, written at
    /// `now_nanos`.
    pub fn next(&mut self, reference: u64, now_nanos: u64) -> Planned {
        let drawn = self.mix.draw(&mut self.rng);
        let (kind, target, emoji) = self.choose(drawn);
        let client_id = format!("{}-{reference}", self.label);
        let code = self.room_code.as_str();
        let mut content = None;
        let frame = match (kind, target, emoji) {
            (OpKind::Reply, Some(id), _) => {
                client::reply_frame(reference, code, &client_id, self.pad, id)
            }
            (OpKind::Edit, Some(id), _) => {
                let tag = format!("e{client_id}");
                let (frame, text) = client::edit_frame(reference, code, id, &tag, self.pad);
                content = Some(text.into_boxed_str());
                frame
            }
            (OpKind::React | OpKind::Unreact, Some(id), Some(e)) => {
                self.busy.push((id, e));
                let emoji = EMOJIS[usize::from(e)];
                client::reaction_frame(reference, code, id, emoji, kind == OpKind::React)
            }
            _ => client::send_frame(reference, code, &client_id, self.pad),
        };
        self.pending.insert(
            reference,
            Pending {
                kind,
                sent_nanos: now_nanos,
                target,
                emoji,
                content,
            },
        );
        Planned { kind, frame }
    }

    /// The kind actually performed for a `drawn` one, with its target and emoji, after the
    /// fallbacks (`unreact` → `react`; `reply`, `edit`, `react` → `send`).
    fn choose(&mut self, drawn: OpKind) -> (OpKind, Option<i64>, Option<u8>) {
        if drawn == OpKind::Unreact {
            if let Some((id, e)) = self.pick_own_reaction() {
                return (OpKind::Unreact, Some(id), Some(e));
            }
        }
        if matches!(drawn, OpKind::React | OpKind::Unreact) {
            if let Some((id, e)) = self.pick_new_reaction() {
                return (OpKind::React, Some(id), Some(e));
            }
        }
        if drawn == OpKind::Edit {
            if let Some(id) = pick(&self.mine, &mut self.rng) {
                return (OpKind::Edit, Some(id), None);
            }
        }
        if drawn == OpKind::Reply {
            if let Some(id) = pick(&self.recent, &mut self.rng) {
                return (OpKind::Reply, Some(id), None);
            }
        }
        (OpKind::Send, None, None)
    }

    /// Accounts the ack of `reference`, read at `now_nanos`.
    pub fn on_ack(
        &mut self,
        reference: u64,
        result: Result<Option<MessageInfo>, String>,
        now_nanos: u64,
    ) -> Acked {
        let Some(op) = self.pending.remove(&reference) else {
            return Acked::Unknown;
        };
        if let (Some(id), Some(e)) = (op.target, op.emoji) {
            self.busy.retain(|&r| r != (id, e));
        }
        let info = match result {
            Ok(Some(info)) => info,
            Ok(None) => return Acked::NoMessage { kind: op.kind },
            Err(code) => {
                return Acked::Refused {
                    kind: op.kind,
                    code,
                    target: op.target,
                }
            }
        };
        let mismatch = info.seq.is_none()
            || match op.kind {
                OpKind::Send => info.reply_to.is_some(),
                OpKind::Reply => info.reply_to != op.target,
                _ => Some(info.id) != op.target,
            };
        match (op.kind, op.target, op.emoji) {
            (OpKind::Send | OpKind::Reply, _, _) => push_bounded(&mut self.mine, info.id),
            (OpKind::React, Some(id), Some(e)) if !mismatch => self.reactions.push((id, e)),
            (OpKind::Unreact, Some(id), Some(e)) if !mismatch => {
                self.reactions.retain(|&r| r != (id, e))
            }
            _ => {}
        }
        Acked::Done {
            record: OpRecord {
                kind: op.kind,
                id: info.id,
                seq: info.seq.unwrap_or(0),
                sent_nanos: op.sent_nanos,
                acked_nanos: now_nanos,
                emoji: op.emoji,
                content: op.content,
            },
            mismatch,
        }
    }

    /// The messages targeted by operations still unanswered (their final state is unknown).
    pub fn unresolved_targets(&self) -> Vec<i64> {
        self.pending.values().filter_map(|p| p.target).collect()
    }

    /// Operations still unanswered.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    fn pick_own_reaction(&mut self) -> Option<(i64, u8)> {
        let free: Vec<(i64, u8)> = self
            .reactions
            .iter()
            .copied()
            .filter(|r| !self.busy.contains(r))
            .collect();
        if free.is_empty() {
            return None;
        }
        Some(free[self.rng.below(free.len() as u64) as usize])
    }

    fn pick_new_reaction(&mut self) -> Option<(i64, u8)> {
        let others: VecDeque<i64> = self
            .recent
            .iter()
            .copied()
            .filter(|id| !self.mine.contains(id))
            .collect();
        let id = pick(&others, &mut self.rng)?;
        let start = self.rng.below(EMOJIS.len() as u64) as usize;
        (0..EMOJIS.len())
            .map(|i| ((start + i) % EMOJIS.len()) as u8)
            .find(|&e| !self.reactions.contains(&(id, e)) && !self.busy.contains(&(id, e)))
            .map(|e| (id, e))
    }
}

/// Appends `id`, dropping the oldest beyond [`RECENT`].
fn push_bounded(list: &mut VecDeque<i64>, id: i64) {
    if list.len() == RECENT {
        list.pop_front();
    }
    list.push_back(id);
}

/// A uniformly chosen element, or `None` when empty.
fn pick(list: &VecDeque<i64>, rng: &mut Rng) -> Option<i64> {
    if list.is_empty() {
        return None;
    }
    list.get(rng.below(list.len() as u64) as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planner(mix: &str) -> Planner {
        Planner::new(mix.parse().unwrap(), Rng::new(3), "ABCDEF", 0, 1, 4)
    }

    fn frame(p: &Planned) -> serde_json::Value {
        serde_json::from_str(&p.frame).unwrap()
    }

    fn info(id: i64, seq: u64, reply_to: Option<i64>) -> Option<MessageInfo> {
        Some(MessageInfo {
            id,
            sent_at_nanos: None,
            seq: Some(seq),
            reply_to,
        })
    }

    #[test]
    fn falls_back_to_send_while_there_is_no_target() {
        for mix in ["reply=1", "edit=1", "react=1", "unreact=1"] {
            let mut p = planner(mix);
            let next = p.next(2, 100);
            assert_eq!(next.kind, OpKind::Send, "{mix}");
            assert_eq!(frame(&next)["event"], "chat:send");
            assert!(frame(&next)["data"].get("replyTo").is_none());
        }
    }

    #[test]
    fn each_kind_targets_what_it_may() {
        // Edits go to own acked messages.
        let mut p = planner("send=1");
        p.next(2, 0);
        assert!(matches!(
            p.on_ack(2, Ok(info(10, 1, None)), 5),
            Acked::Done {
                mismatch: false,
                ..
            }
        ));
        p.mix = "edit=1".parse().unwrap();
        let edit = p.next(3, 0);
        assert_eq!(edit.kind, OpKind::Edit);
        assert_eq!(frame(&edit)["data"]["id"], 10);

        // Reactions go to others' messages only: 10 is own, 11 is someone else's.
        p.on_message(10);
        p.mix = "react=1".parse().unwrap();
        let fallback = p.next(4, 0);
        assert_eq!(
            fallback.kind,
            OpKind::Send,
            "only own messages: nothing to react to"
        );
        p.on_message(11);
        let react = p.next(5, 0);
        assert_eq!(react.kind, OpKind::React);
        assert_eq!(frame(&react)["event"], "reaction:add");
        assert_eq!(frame(&react)["data"]["id"], 11);

        // Replies may go to any received message.
        p.mix = "reply=1".parse().unwrap();
        let reply = p.next(6, 0);
        assert_eq!(reply.kind, OpKind::Reply);
        let to = frame(&reply)["data"]["replyTo"].as_i64().unwrap();
        assert!(to == 10 || to == 11);
    }

    #[test]
    fn reactions_are_never_repeated_and_removed_only_once_acked() {
        let mut p = planner("react=1");
        p.on_message(20);
        let mut emojis = Vec::new();
        // Eight adds in flight on the one message: all different emoji, then send.
        for r in 2..10 {
            let next = p.next(r, 0);
            assert_eq!(next.kind, OpKind::React);
            emojis.push(frame(&next)["data"]["emoji"].as_str().unwrap().to_string());
        }
        emojis.sort();
        emojis.dedup();
        assert_eq!(emojis.len(), EMOJIS.len());
        assert_eq!(p.next(10, 0).kind, OpKind::Send);

        // unreact has nothing acked yet: it falls back to react, which has no free emoji.
        p.mix = "unreact=1".parse().unwrap();
        assert_eq!(p.next(11, 0).kind, OpKind::Send);

        // Once the add of ref 2 is acked, that reaction can be removed, once.
        let Acked::Done { record, mismatch } = p.on_ack(2, Ok(info(20, 7, None)), 9) else {
            panic!("not done")
        };
        assert!(!mismatch);
        assert_eq!((record.kind, record.id, record.seq), (OpKind::React, 20, 7));
        assert_eq!(record.acked_nanos - record.sent_nanos, 9);
        let remove = p.next(12, 0);
        assert_eq!(remove.kind, OpKind::Unreact);
        assert_eq!(frame(&remove)["event"], "reaction:remove");
        assert_eq!(
            frame(&remove)["data"]["emoji"],
            EMOJIS[usize::from(record.emoji.unwrap())]
        );
        assert_eq!(p.next(13, 0).kind, OpKind::Send, "the remove is in flight");
        assert!(matches!(
            p.on_ack(12, Ok(info(20, 8, None)), 0),
            Acked::Done { .. }
        ));
        // Removed: the emoji is free for an add again.
        p.mix = "react=1".parse().unwrap();
        let again = p.next(14, 0);
        assert_eq!(again.kind, OpKind::React);
        assert_eq!(
            frame(&again)["data"]["emoji"],
            frame(&remove)["data"]["emoji"]
        );
    }

    #[test]
    fn acks_that_contradict_the_operation_are_mismatches() {
        let mut p = planner("send=1");
        p.on_message(30);
        p.next(2, 0);
        // A send acked as a reply, and an ack without seq.
        assert!(matches!(
            p.on_ack(2, Ok(info(31, 1, Some(30))), 0),
            Acked::Done { mismatch: true, .. }
        ));
        p.mix = "reply=1".parse().unwrap();
        p.next(3, 0);
        let no_seq = Some(MessageInfo {
            id: 32,
            sent_at_nanos: None,
            seq: None,
            reply_to: Some(30),
        });
        assert!(matches!(
            p.on_ack(3, Ok(no_seq), 0),
            Acked::Done { mismatch: true, .. }
        ));
        // An edit acked with another message.
        p.mix = "edit=1".parse().unwrap();
        let edit = p.next(4, 0);
        let target = frame(&edit)["data"]["id"].as_i64().unwrap();
        assert!(matches!(
            p.on_ack(4, Ok(info(target + 100, 5, None)), 0),
            Acked::Done { mismatch: true, .. }
        ));
        // Refusals name the target; unknown refs are reported as such.
        let refused = frame(&p.next(5, 0))["data"]["id"].as_i64();
        assert_eq!(
            p.on_ack(5, Err("forbidden".into()), 0),
            Acked::Refused {
                kind: OpKind::Edit,
                code: "forbidden".into(),
                target: refused
            }
        );
        assert_eq!(p.on_ack(5, Ok(None), 0), Acked::Unknown);
        let open = frame(&p.next(6, 0))["data"]["id"].as_i64().unwrap();
        assert_eq!(p.outstanding(), 1);
        assert_eq!(p.unresolved_targets(), vec![open]);
        assert_eq!(
            p.on_ack(6, Ok(None), 0),
            Acked::NoMessage { kind: OpKind::Edit }
        );
        assert_eq!(p.outstanding(), 0);
    }

    #[test]
    fn the_same_seed_and_events_give_the_same_frames() {
        let run = |seed| {
            let mix = "send=4,reply=2,edit=2,react=1,unreact=1".parse().unwrap();
            let mut p = Planner::new(mix, Rng::new(seed), "ABCDEF", 2, 0, 0);
            let mut out = Vec::new();
            for r in 2..200u64 {
                let next = p.next(r, 0);
                let mut v = frame(&next);
                v["data"]["content"] = serde_json::Value::Null; // holds the clock
                out.push(v);
                // Everyone's message arrives, then the ack (ids are the refs, seq = ref).
                let id = r as i64 + 1000;
                match next.kind {
                    OpKind::Send | OpKind::Reply => {
                        p.on_message(id);
                        p.on_message(id + 5000); // someone else's
                        let to = out[out.len() - 1]["data"]["replyTo"].as_i64();
                        p.on_ack(r, Ok(info(id, r, to)), 0);
                    }
                    _ => {
                        let target = out[out.len() - 1]["data"]["id"].as_i64().unwrap();
                        p.on_ack(r, Ok(info(target, r, None)), 0);
                    }
                }
            }
            out
        };
        let a = run(11);
        assert_eq!(a, run(11));
        assert_ne!(a, run(12));
        let events: Vec<&str> = a.iter().map(|v| v["event"].as_str().unwrap()).collect();
        for e in ["chat:send", "chat:edit", "reaction:add", "reaction:remove"] {
            assert!(events.contains(&e), "{e} never chosen");
        }
        assert!(a.iter().any(|v| v["data"].get("replyTo").is_some()));
    }
}
