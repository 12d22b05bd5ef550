//! The WebSocket session actor: one per connection.
//!
//! It turns each text frame into a validated [`Command`] once (the validators live in
//! [`crate::protocol`]), applies the frame-size and rate limits, answers every request (an
//! ack, or an `error` push), and writes what the rest of the node tells it
//! ([`Outbound`]). Its mailbox is its outbound queue: rooms deliver with `try_send`, so
//! when a client cannot keep up the queue fills, the room drops the member, and the
//! session is closed instead of buffering without bound. Its per-connection state is kept small: a
//! few words plus the codes of the rooms it joined.
//!
//! This is the only file that knows about `actix-web-actors` (deprecated upstream in
//! favour of `actix-ws`), so a move stays local.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use actix_http::ws::Item;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytes::{Bytes, BytesMut};
use serde::Serialize;

use crate::budget::{Budget, Verdict};
use crate::error::{ChatError, ErrorCode};
use crate::frame_gate::{FrameGate, Oversize};
use crate::guards;
use crate::hops::{self, Hop};
use crate::hub::Hub;
use crate::ids::{RoomCode, SessionId};
use crate::metric_names;
use crate::outbound::Outbound;
use crate::protocol::push::{self, CreatedRoom, Empty, Sent};
use crate::protocol::{self, ChangeRequest, Command, JoinRoom, Ref, Request, SendChat};
use crate::room::{ChangeMessage, Changer, Join, Leave, SendMessage, Sender, Typing};

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// A fragmented frame being reassembled.
struct Fragments {
    text: bool,
    bytes: BytesMut,
}

/// One WebSocket connection.
pub struct WsSession {
    id: SessionId,
    hub: Arc<Hub>,
    /// The client's address, for the per-address limits.
    address: Option<IpAddr>,
    joined: Vec<RoomCode>,
    limiter: crate::rate_limit::SendLimiter,
    last_seen: Instant,
    fragments: Option<Box<Fragments>>,
    /// Set by the frame gate when it refused a frame as too large.
    oversize: Oversize,
    budget: Budget,
}

/// Upgrades an HTTP request to a chat session. The caller has admitted `address`
/// ([`crate::guards::Guards::admit`]); the session gives the slot back when it stops, or
/// this function does when the upgrade fails.
pub fn start(
    hub: Arc<Hub>,
    address: Option<IpAddr>,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let hard_cap = hub.limits.frame_hard_cap_bytes;
    let guards = Arc::clone(&hub);
    let (payload, oversize) = FrameGate::new(payload, hard_cap);
    let session = WsSession {
        id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
        oversize,
        budget: Budget::new(&hub.limits),
        address,
        hub,
        joined: Vec::new(),
        limiter: Default::default(),
        last_seen: Instant::now(),
        fragments: None,
    };
    ws::WsResponseBuilder::new(session, req, payload)
        .frame_size(hard_cap)
        .start()
        .inspect_err(|_| guards.guards.disconnected(address))
}

impl WsSession {
    /// Answers a request: an ack when it had a ref, an `error` push for a failure without.
    fn respond<T: Serialize>(
        &self,
        ctx: &mut ws::WebsocketContext<Self>,
        reference: Option<&Ref>,
        result: Result<T, ChatError>,
    ) {
        match (reference, result) {
            (Some(reference), Ok(data)) => ctx.text(push::ack_ok(reference, data)),
            (Some(reference), Err(error)) => {
                error.count();
                self.hub.counters.rejected(error.code);
                ctx.text(push::ack_err(reference, &error));
            }
            (None, Ok(_)) => {}
            (None, Err(error)) => {
                error.count();
                self.hub.counters.rejected(error.code);
                ctx.text(push::error(&error));
            }
        }
    }

    /// The answer to a request about a room this session has not joined: `not_in_room`,
    /// whether or not the room exists (PROTOCOL.md, revised rule 5), so no frame tells a
    /// guesser that a code is real, and no such frame costs a store lookup.
    fn not_joined(&self, ctx: &mut ws::WebsocketContext<Self>, reference: Option<Ref>) {
        self.respond::<Empty>(ctx, reference.as_ref(), Err(ChatError::not_in_room()));
    }

    fn handle_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        metrics::counter!(metric_names::FRAMES_IN).increment(1);
        if text.len() > self.hub.limits.frame_max_bytes {
            let error = protocol::frame_too_large(&self.hub.limits);
            return self.respond::<Empty>(ctx, None, Err(error));
        }
        match protocol::decode(text) {
            Ok(request) => self.handle_request(request, ctx),
            Err(fault) => self.respond::<Empty>(ctx, fault.reference.as_ref(), Err(fault.error)),
        }
    }

    fn handle_request(&mut self, request: Request, ctx: &mut ws::WebsocketContext<Self>) {
        let Request { reference, event } = request;
        let command = match event.validate(&self.hub.limits) {
            Ok(command) => command,
            Err(error) => return self.respond::<Empty>(ctx, reference.as_ref(), Err(error)),
        };
        match command {
            Command::CreateRoom => self.create_room(reference, ctx),
            Command::Join(join) => self.join(join, reference, ctx),
            Command::Leave(code) => self.leave(code, reference, ctx),
            Command::Send(send) => self.send(send, reference, ctx),
            Command::Typing { code, typing } => self.typing(code, typing, reference, ctx),
            Command::Change(change) => self.change(change, reference, ctx),
        }
    }

    fn typing(
        &mut self,
        code: RoomCode,
        typing: bool,
        reference: Option<Ref>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if !self.joined.contains(&code) {
            return self.not_joined(ctx, reference);
        }
        if let Some(room) = self.hub.rooms.get(&code) {
            room.addr.do_send(Typing {
                session: self.id,
                typing,
            });
        }
        self.respond(ctx, reference.as_ref(), Ok(Empty {}));
    }

    fn create_room(&mut self, reference: Option<Ref>, ctx: &mut ws::WebsocketContext<Self>) {
        if let Err(error) = self.hub.guards.create_room(self.address) {
            return self.respond::<Empty>(ctx, reference.as_ref(), Err(error));
        }
        let hub = Arc::clone(&self.hub);
        let create = async move { hub.create_room().await };
        ctx.spawn(create.into_actor(self).map(move |result, act, ctx| {
            let room = result
                .as_ref()
                .map(|(room, owner_key)| CreatedRoom { room, owner_key })
                .map_err(Clone::clone);
            act.respond(ctx, reference.as_ref(), room);
        }));
    }

    fn join(
        &mut self,
        join: JoinRoom,
        reference: Option<Ref>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let JoinRoom {
            code,
            nickname,
            since_id,
            since_change,
            author_key,
            owner_key,
        } = join;
        if let Err(error) = self.hub.guards.may_look_up(self.address) {
            return self.respond::<Empty>(ctx, reference.as_ref(), Err(error));
        }
        if !self.budget.join() {
            let error = guards::refused(
                "joins",
                ChatError::new(
                    ErrorCode::RateLimited,
                    "too many joins or renames; wait a moment",
                ),
            );
            return self.respond::<Empty>(ctx, reference.as_ref(), Err(error));
        }
        let rejoin = self.joined.contains(&code);
        if !rejoin && self.joined.len() >= self.hub.limits.rooms_per_session {
            let error = ChatError::too_large(format!(
                "a session may be in at most {} rooms",
                self.hub.limits.rooms_per_session
            ));
            return self.respond::<Empty>(ctx, reference.as_ref(), Err(error));
        }
        // Recorded before the room answers, so that a connection closing meanwhile still
        // leaves the room.
        if !rejoin {
            self.joined.push(code);
        }
        let author_id = author_key.map(|key| self.hub.authors.id_of(&key));
        let (session, addr) = (self.id, ctx.address().recipient());
        let join = self.hub.join_room(code, move || Join {
            session,
            addr: addr.clone(),
            nickname: nickname.clone(),
            since_id,
            since_change,
            author_id: author_id.clone(),
            owner_key: owner_key.clone(),
        });
        // `wait`: no push of this room may overtake the join's ack and its `missed`.
        ctx.wait(join.into_actor(self).map(move |result, act, ctx| {
            if result.is_err() && !rejoin {
                act.joined.retain(|joined| *joined != code);
            }
            let result = act.hub.counted(act.address, code, result);
            act.respond(ctx, reference.as_ref(), result);
        }));
    }

    fn leave(
        &mut self,
        code: RoomCode,
        reference: Option<Ref>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if !self.joined.contains(&code) {
            return self.not_joined(ctx, reference);
        }
        self.joined.retain(|joined| *joined != code);
        if let Some(room) = self.hub.rooms.get(&code) {
            room.addr.do_send(Leave { session: self.id });
        }
        self.respond(ctx, reference.as_ref(), Ok(Empty {}));
    }

    fn send(
        &mut self,
        send: SendChat,
        reference: Option<Ref>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let SendChat {
            code,
            content,
            client_id,
            reply_to,
        } = send;
        let received_at = Instant::now();
        if !self.joined.contains(&code) {
            return self.not_joined(ctx, reference);
        }
        let rate = self.hub.limits.send_rate;
        let acquired = self.limiter.try_acquire(rate, received_at);
        if !acquired && client_id.is_none() {
            let error = ChatError::send_rate_limited();
            return self.respond::<Empty>(ctx, reference.as_ref(), Err(error));
        }
        let session = self.id;
        let send = self.hub.ask_room(code, move || SendMessage {
            from: Sender::Session(session),
            content: content.clone(),
            client_id: client_id.clone(),
            reply_to,
            dedupe_only: !acquired,
            received_at,
        });
        ctx.spawn(send.into_actor(self).map(move |result, act, ctx| {
            if acquired {
                let stored_new = result.as_ref().is_ok_and(|outcome| outcome.created);
                act.limiter.release(rate, stored_new, Instant::now());
            }
            let sent = result.as_ref().map(|outcome| Sent {
                message: &outcome.message,
            });
            act.respond(ctx, reference.as_ref(), sent.map_err(Clone::clone));
            if let Ok(outcome) = &result {
                hops::record(Hop::ToSession, outcome.answered_at);
            }
        }));
    }

    /// An edit, deletion or reaction. It takes a slot of the send budget, kept only when
    /// it changed something.
    fn change(
        &mut self,
        change: ChangeRequest,
        reference: Option<Ref>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let ChangeRequest {
            code,
            message_id,
            kind,
        } = change;
        if !self.joined.contains(&code) {
            return self.not_joined(ctx, reference);
        }
        let rate = self.hub.limits.send_rate;
        if !self.limiter.try_acquire(rate, Instant::now()) {
            let error = ChatError::send_rate_limited();
            return self.respond::<Empty>(ctx, reference.as_ref(), Err(error));
        }
        let session = self.id;
        let change = self.hub.ask_room(code, move || ChangeMessage {
            from: Changer::Session(session),
            message_id,
            kind: kind.clone(),
        });
        ctx.spawn(change.into_actor(self).map(move |result, act, ctx| {
            let changed = result.as_ref().is_ok_and(|outcome| outcome.changed);
            act.limiter.release(rate, changed, Instant::now());
            let answer = result.as_ref().map(|outcome| Sent {
                message: &outcome.message,
            });
            act.respond(ctx, reference.as_ref(), answer.map_err(Clone::clone));
        }));
    }

    fn handle_fragment(&mut self, item: Item, ctx: &mut ws::WebsocketContext<Self>) {
        let (start, text, chunk, last) = match item {
            Item::FirstText(chunk) => (true, true, chunk, false),
            Item::FirstBinary(chunk) => (true, false, chunk, false),
            Item::Continue(chunk) => (false, false, chunk, false),
            Item::Last(chunk) => (false, false, chunk, true),
        };
        if start {
            self.fragments = Some(Box::new(Fragments {
                text,
                bytes: BytesMut::new(),
            }));
        }
        let Some(fragments) = self.fragments.as_mut() else {
            let error = ChatError::bad_request("continuation frame without a first frame");
            return self.respond::<Empty>(ctx, None, Err(error));
        };
        if fragments.bytes.len() + chunk.len() > self.hub.limits.frame_hard_cap_bytes {
            self.fragments = None;
            return self.close(ctx, CloseCode::Size, "message too big");
        }
        fragments.bytes.extend_from_slice(&chunk);
        if last {
            if let Some(done) = self.fragments.take() {
                let bytes: Bytes = done.bytes.freeze();
                match (done.text, std::str::from_utf8(&bytes)) {
                    (true, Ok(text)) => self.handle_text(text, ctx),
                    (true, Err(_)) => self.close(ctx, CloseCode::Invalid, "invalid UTF-8"),
                    (false, _) => self.reject_binary(ctx),
                }
            }
        }
    }

    fn reject_binary(&self, ctx: &mut ws::WebsocketContext<Self>) {
        let error = ChatError::bad_request("binary frames are not supported; send JSON text");
        self.respond::<Empty>(ctx, None, Err(error));
    }

    /// Pings the client, or closes the connection if it has been silent too long.
    fn check_alive(&self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.last_seen.elapsed() > self.hub.limits.client_timeout {
            tracing::debug!(session = self.id, "client timed out");
            self.close(ctx, CloseCode::Away, "heartbeat timeout");
        } else {
            ctx.ping(b"");
        }
    }

    fn close(&self, ctx: &mut ws::WebsocketContext<Self>, code: CloseCode, why: &str) {
        ctx.close(Some(CloseReason {
            code,
            description: Some(why.to_owned()),
        }));
        ctx.stop();
    }
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.hub.limits.outbound_queue);
        self.hub.sessions.insert(self.id, ctx.address().recipient());
        metrics::gauge!(metric_names::SESSIONS).increment(1.0);
    }

    /// Leaving every room happens here, and only here, whatever closed the session.
    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::gauge!(metric_names::SESSIONS).decrement(1.0);
        self.hub.sessions.remove(&self.id);
        self.hub.guards.disconnected(self.address);
        for code in self.joined.drain(..) {
            if let Some(room) = self.hub.rooms.get(&code) {
                room.addr.do_send(Leave { session: self.id });
            }
        }
    }
}

impl StreamHandler<Result<ws::Message, ProtocolError>> for WsSession {
    fn handle(&mut self, item: Result<ws::Message, ProtocolError>, ctx: &mut Self::Context) {
        self.last_seen = Instant::now();
        if let Ok(message) = &item {
            if costs_budget(message) && !self.spend_frame(message, ctx) {
                return;
            }
        }
        match item {
            Ok(ws::Message::Text(text)) => self.handle_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => self.reject_binary(ctx),
            Ok(ws::Message::Continuation(item)) => self.handle_fragment(item, ctx),
            Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Err(ProtocolError::Overflow) => self.close(ctx, CloseCode::Size, "frame too large"),
            // The frame gate refused a header that declares more than the hard cap.
            Err(ProtocolError::Io(_)) if self.oversize.happened() => {
                self.close(ctx, CloseCode::Size, "frame too large")
            }
            Err(error) => {
                tracing::debug!(session = self.id, %error, "websocket protocol error");
                self.close(ctx, CloseCode::Protocol, "protocol error");
            }
        }
    }
}

/// Frames a client can make the node work for; a pong or a close is an answer, not work.
fn costs_budget(message: &ws::Message) -> bool {
    !matches!(
        message,
        ws::Message::Pong(_) | ws::Message::Nop | ws::Message::Close(_)
    )
}

impl WsSession {
    /// Spends one frame of the session's budget; false (and the frame answered with
    /// `rate_limited`, or the connection closed) when over it.
    fn spend_frame(&mut self, message: &ws::Message, ctx: &mut ws::WebsocketContext<Self>) -> bool {
        match self.budget.frame() {
            Verdict::Allow => true,
            Verdict::Refuse => {
                let error = guards::refused(
                    "frames",
                    ChatError::new(ErrorCode::RateLimited, "too many frames; slow down"),
                );
                // A text frame is answered like any request (with an ack when it has a ref);
                // anything else over the budget is dropped.
                if let ws::Message::Text(text) = message {
                    let reference = match protocol::decode(text) {
                        Ok(request) => request.reference,
                        Err(fault) => fault.reference,
                    };
                    self.respond::<Empty>(ctx, reference.as_ref(), Err(error));
                }
                false
            }
            Verdict::Close => {
                self.close(ctx, CloseCode::Policy, "too many frames");
                false
            }
        }
    }
}

impl Handler<Outbound> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: Outbound, ctx: &mut Self::Context) {
        match msg {
            Outbound::Frame(frame) => ctx.text(frame),
            Outbound::Heartbeat => self.check_alive(ctx),
            Outbound::Evict => self.close(ctx, CloseCode::Again, "too slow: outbound queue full"),
            Outbound::Reconnect { reason } => {
                ctx.text(push::reconnect(reason));
                self.close(ctx, CloseCode::Restart, reason);
            }
        }
    }
}
