//! Edits, deletions and reactions of the room's messages. Who asks is resolved here (its
//! author id, whether it owns the room); what it may do is decided inside the store's
//! commit by [`crate::changes`], on the message as stored; the new state is then published
//! and pushed like a new message, in the room's change-stream order.

use actix::prelude::*;

use crate::changes::{ChangedBy, NewChange};
use crate::cluster::Event;
use crate::error::ChatError;
use crate::persistence::Persist;
use crate::store::{Outcome, Write};

use super::messages::{ChangeMessage, ChangeOutcome, Changer, RoomError};
use super::order::Push;
use super::RoomActor;

/// The reactor a moderator's reactions would count as (REST changes only delete today).
const MODERATOR: &str = "~moderator";

impl RoomActor {
    /// Who a change comes from, as the store's rules see it.
    fn changed_by(&self, from: Changer) -> Result<ChangedBy, RoomError> {
        if self.closed {
            return Err(RoomError::Gone);
        }
        match from {
            Changer::Session(id) => self
                .members
                .get(&id)
                .map(|member| ChangedBy {
                    author_id: member.author_id.clone(),
                    reactor: member.reactor.clone(),
                    owner: member.owner,
                })
                .ok_or(RoomError::Chat(ChatError::not_in_room())),
            Changer::Moderator => Ok(ChangedBy {
                author_id: None,
                reactor: MODERATOR.to_owned(),
                owner: true,
            }),
        }
    }

    /// What a change's commit means for the asker, once it is published and pushed.
    fn on_changed(
        &mut self,
        outcome: Outcome,
        ctx: &mut Context<Self>,
    ) -> Result<ChangeOutcome, RoomError> {
        match outcome {
            Outcome::Changed(message) => {
                self.deps.cluster.publish(
                    self.room.code,
                    Event::Update {
                        message: message.clone(),
                    },
                );
                self.on_committed(Push::Update(message.clone()), ctx);
                Ok(ChangeOutcome {
                    message,
                    changed: true,
                })
            }
            Outcome::Unchanged(message) => Ok(ChangeOutcome {
                message,
                changed: false,
            }),
            Outcome::Refused(refusal) => Err(RoomError::Chat(refusal.into())),
            Outcome::Created(_) | Outcome::Duplicate(_) | Outcome::ReplyTargetMissing => Err(
                RoomError::Chat(ChatError::internal("the store answered a change as a send")),
            ),
        }
    }
}

impl Handler<ChangeMessage> for RoomActor {
    type Result = ResponseActFuture<Self, Result<ChangeOutcome, RoomError>>;

    /// Committed through the room's persistence shard like a send, so a change is durable
    /// before its ack and takes its place in the room's order.
    fn handle(&mut self, msg: ChangeMessage, _: &mut Self::Context) -> Self::Result {
        let by = match self.changed_by(msg.from) {
            Ok(by) => by,
            Err(error) => return Box::pin(fut::ready(Err(error))),
        };
        let change = NewChange {
            room_id: self.room.id,
            message_id: msg.message_id,
            by,
            kind: msg.kind,
        };
        self.sends_in_flight += 1;
        let shard = self.deps.persistence.shard(self.room.id);
        let persist = shard.send(Persist::new(Write::Change(change)));
        Box::pin(persist.into_actor(self).map(|result, act, ctx| {
            act.sends_in_flight -= 1;
            match result {
                Ok(Ok(stored)) => act.on_changed(stored.outcome, ctx),
                Ok(Err(error)) => Err(RoomError::Chat(error)),
                Err(_) => Err(RoomError::Chat(ChatError::internal(
                    "persistence is not running",
                ))),
            }
        }))
    }
}
