//! Everything the node tells a session, as one message type.
//!
//! Rooms, the registry and the hub hold an [`Outbox`] (a `Recipient<Outbound>`), never the
//! session actor's type: the session sits on top of the actors it talks to, and nothing
//! below it needs to import it back.

use actix::prelude::*;
use bytestring::ByteString;

/// What a session is told.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Outbound {
    /// A frame for the client, already encoded; shared by every recipient of a push.
    Frame(ByteString),
    /// Time to check the connection: ping it, or close it if the client has been silent
    /// for longer than the timeout. Sent to every session by one timer of the node, so
    /// that an idle session holds no timer of its own.
    Heartbeat,
    /// The session's outbound queue overflowed: close it as a slow consumer.
    Evict,
    /// Tell the client to reconnect (the node drains, or a room restarted), then close
    /// the connection with 1012; the client resumes with `sinceId`.
    Reconnect {
        /// Why, for the client's log.
        reason: &'static str,
    },
}

/// Where a session's outbound messages go. Its mailbox is the session's outbound queue:
/// rooms deliver with `try_send`, so a client that cannot keep up fills it and is evicted
/// instead of buffering without bound.
pub type Outbox = Recipient<Outbound>;
