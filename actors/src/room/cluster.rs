//! What the room hears from the rest of the cluster: messages and changes committed elsewhere,
//! other nodes' presence and typing, and the bridge's roster after a (re)subscription.

use actix::prelude::*;

use crate::cluster::{broker, Event};
use crate::protocol::push;

use super::messages::{Relay, Remote, Synced};
use super::order::Push;
use super::RoomActor;

impl Handler<Relay> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Relay, ctx: &mut Self::Context) {
        self.on_committed(msg.push, ctx);
    }
}

impl Handler<Remote> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Remote, ctx: &mut Self::Context) {
        if self.closed {
            return;
        }
        match msg.event {
            Event::Message { message, .. } => self.on_committed(Push::Message(message), ctx),
            Event::Update { message } => self.on_committed(Push::Update(message), ctx),
            Event::Join {
                member,
                nickname,
                old,
            } => {
                let previous = self.remote.insert(member, nickname.clone());
                if previous.as_ref() != Some(&nickname) {
                    let left = old.or(previous);
                    let frame = self.presence_frame(Some(&nickname), left.as_ref());
                    self.broadcast(&frame, None);
                }
            }
            Event::Leave { member, nickname } => {
                if self.remote.remove(&member).is_some() {
                    let frame = self.presence_frame(None, Some(&nickname));
                    self.broadcast(&frame, None);
                }
            }
            Event::Typing { nickname, typing } => {
                let frame = push::typing(self.room.code, &nickname, typing);
                self.broadcast(&frame, None);
            }
            // The bridge keeps markers to itself.
            Event::Barrier { .. } => {}
        }
    }
}

impl Handler<Synced> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Synced, ctx: &mut Self::Context) {
        let roster = self.deps.cluster.split(msg.roster);
        if roster.remote != self.remote {
            self.remote = roster.remote;
            let frame = self.presence_frame(None, None);
            self.broadcast(&frame, None);
        }
        let code = self.room.code;
        // Entries of ours that are no longer members (a removal that was lost while Redis
        // was unreachable) go, with their `leave`.
        for (field, nickname) in roster.own {
            let still_here =
                broker::session_of(&field).is_some_and(|id| self.members.contains_key(&id));
            if !still_here {
                self.deps.cluster.forget(code, field, nickname);
            }
        }
        // Redis may have lost our entries (a restart, or our heartbeat expired while it
        // was unreachable): write them again, and tell the others.
        for (session, member) in &self.members {
            self.deps
                .cluster
                .announce(code, *session, Some(&member.nickname), None);
        }
        self.catch_up(ctx);
    }
}
