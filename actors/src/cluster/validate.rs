//! Events read from Redis are checked like client input before a room uses them.
//!
//! Another node validated what it published, so a well-behaved cluster never trips these
//! checks; they stand between the rooms and whatever else can write to the channels: a
//! client of Redis that is not a node, a node of another version, a corrupted payload. A
//! refused event is dropped and counted (`chat_broker_rejected_total{reason}`), never pushed.
//! What they cannot catch is a well-formed lie from someone holding Redis credentials:
//! that is what Redis AUTH, TLS and the network policy are for (docs/operations.md).

use crate::changes::REACTIONS_MAX;
use crate::ids::{ClientId, Content, Emoji, Nickname, RoomCode};
use crate::limits::Limits;
use crate::model::Message;

use super::broker::{self, Event};

/// Why an event was refused, as the metric's label.
pub type Refused = &'static str;

/// The limits a relayed value must keep.
#[derive(Debug, Clone, Copy)]
pub struct EventRules {
    nickname_max: usize,
    content_max: usize,
}

impl EventRules {
    /// The rules of this node's own clients.
    pub fn of(limits: &Limits) -> EventRules {
        EventRules {
            nickname_max: limits.nickname_max_chars,
            content_max: limits.content_max_chars,
        }
    }

    /// Checks an event that arrived on the channel of `code`.
    pub fn check(&self, code: RoomCode, event: &Event) -> Result<(), Refused> {
        match event {
            Event::Message { message, prev_id } => self.message(code, message, *prev_id),
            // A change always has a position: only new messages of older nodes lack one.
            Event::Update { message } if message.seq <= 0 => Err("seq"),
            Event::Update { message } => self.message(code, message, None),
            Event::Join {
                member,
                nickname,
                old,
            } => {
                presence_field(member)?;
                self.nickname(nickname)?;
                old.as_ref().map_or(Ok(()), |old| self.nickname(old))
            }
            Event::Leave { member, nickname } => {
                presence_field(member)?;
                self.nickname(nickname)
            }
            Event::Typing { nickname, .. } => self.nickname(nickname),
            Event::Barrier { .. } => Ok(()),
        }
    }

    fn nickname(&self, nickname: &Nickname) -> Result<(), Refused> {
        self.sender(nickname.as_str())
    }

    /// A nickname as a node stores it: valid, and already trimmed.
    fn sender(&self, name: &str) -> Result<(), Refused> {
        match Nickname::check(name, self.nickname_max) {
            Ok(checked) if checked == name => Ok(()),
            _ => Err("nickname"),
        }
    }

    fn message(
        &self,
        code: RoomCode,
        message: &Message,
        prev_id: Option<i64>,
    ) -> Result<(), Refused> {
        if message.room_code != code {
            return Err("wrong_room");
        }
        if message.id <= 0 || prev_id.is_some_and(|prev| prev <= 0 || prev >= message.id) {
            return Err("message_id");
        }
        if message.seq < 0 {
            return Err("seq");
        }
        if message.deleted {
            // A deleted message keeps nothing of what was said.
            if !message.content.is_empty() || !message.reactions.is_empty() {
                return Err("content");
            }
        } else {
            match Content::check(&message.content, self.content_max) {
                Ok(content) if content == message.content => {}
                _ => return Err("content"),
            }
        }
        let reactions_valid = message.reactions.len() <= REACTIONS_MAX
            && message
                .reactions
                .iter()
                .all(|r| r.count > 0 && Emoji::parse(&r.emoji).is_ok());
        if !reactions_valid {
            return Err("reactions");
        }
        self.sender(&message.sender)?;
        if let Some(client_id) = &message.client_id {
            ClientId::parse(client_id).map_err(|_| "client_id")?;
        }
        Ok(())
    }
}

/// A presence field is `{node}/{session}`.
fn presence_field(field: &str) -> Result<(), Refused> {
    let node = broker::node_of(field);
    if broker::session_of(field).is_none() || node.is_empty() || node.chars().any(char::is_control)
    {
        return Err("member");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn rules() -> EventRules {
        EventRules::of(&Limits::default())
    }

    fn code() -> RoomCode {
        RoomCode::parse("ABCDEF").expect("a valid code")
    }

    fn message(content: &str, sender: &str) -> Event {
        Event::Message {
            message: Message {
                id: 7,
                room_id: 1,
                room_code: code(),
                sender: sender.to_owned(),
                content: content.to_owned(),
                created_at: Utc::now(),
                client_id: None,
                bot: false,
                author_id: None,
                reply_to: None,
                edited_at: None,
                deleted: false,
                reactions: Vec::new(),
                seq: 4,
            },
            prev_id: Some(6),
        }
    }

    /// The message of [`message`] as a change made it.
    fn update(change: impl FnOnce(&mut Message)) -> Event {
        let Event::Message { mut message, .. } = message("hi", "ada") else {
            unreachable!()
        };
        change(&mut message);
        Event::Update { message }
    }

    #[test]
    fn what_a_node_publishes_passes() {
        assert_eq!(rules().check(code(), &message("hi\nthere", "ada")), Ok(()));
        let join = Event::Join {
            member: "node-a/12".into(),
            nickname: Nickname::trusted("ada"),
            old: Some(Nickname::trusted("ad")),
        };
        assert_eq!(rules().check(code(), &join), Ok(()));
    }

    #[test]
    fn values_no_client_could_send_are_refused() {
        let cases = [
            (message("nul\u{0}", "ada"), "content"),
            (message("  padded  ", "ada"), "content"),
            (message(&"x".repeat(2001), "ada"), "content"),
            (message("hi", "\u{202e}ada"), "nickname"),
            (
                Event::Typing {
                    nickname: Nickname::trusted("ev\u{200b}e"),
                    typing: true,
                },
                "nickname",
            ),
            (
                Event::Leave {
                    member: "no-session".into(),
                    nickname: Nickname::trusted("ada"),
                },
                "member",
            ),
        ];
        for (event, reason) in cases {
            assert_eq!(rules().check(code(), &event), Err(reason), "{event:?}");
        }
    }

    #[test]
    fn a_message_for_another_room_or_out_of_chain_is_refused() {
        let other = RoomCode::parse("GHJKMN").expect("a valid code");
        assert_eq!(
            rules().check(other, &message("hi", "ada")),
            Err("wrong_room")
        );
        let Event::Message { message, .. } = message("hi", "ada") else {
            unreachable!()
        };
        let looped = Event::Message {
            message,
            prev_id: Some(7),
        };
        assert_eq!(rules().check(code(), &looped), Err("message_id"));
    }

    #[test]
    fn changes_keep_the_rules_of_what_they_change() {
        let reaction = |emoji: &str, count| crate::model::Reaction {
            emoji: emoji.into(),
            count,
        };
        let fine = [
            update(|m| m.content = "edited".into()),
            update(|m| m.reactions = vec![reaction("👍", 2)]),
            update(|m| {
                m.deleted = true;
                m.content.clear();
            }),
        ];
        for event in fine {
            assert_eq!(rules().check(code(), &event), Ok(()), "{event:?}");
        }
        let refused = [
            (update(|m| m.seq = 0), "seq"),
            (update(|m| m.deleted = true), "content"),
            (
                update(|m| {
                    m.deleted = true;
                    m.content.clear();
                    m.reactions = vec![reaction("👍", 1)];
                }),
                "content",
            ),
            (
                update(|m| m.reactions = vec![reaction("text", 1)]),
                "reactions",
            ),
            (
                update(|m| m.reactions = vec![reaction("👍", 0)]),
                "reactions",
            ),
            (
                update(|m| m.reactions = (0..21).map(|_| reaction("👍", 1)).collect()),
                "reactions",
            ),
        ];
        for (event, reason) in refused {
            assert_eq!(rules().check(code(), &event), Err(reason), "{event:?}");
        }
    }
}
