//! Starting an actor on another thread with its mailbox bound in force from the first
//! message.
//!
//! `Actor::start_in_arbiter` hands back the address before the actor has run `started`,
//! so a bound set there does not apply to the messages sent meanwhile; and a sender that
//! meets a full mailbox is parked, which can reorder its messages. Creating the channel
//! here, with its capacity, closes that window.

use actix::dev::channel;
use actix::prelude::*;

/// Starts the actor made by `make` on `arbiter`, with a mailbox of `capacity` messages.
pub fn start_on<A>(
    arbiter: &ArbiterHandle,
    capacity: usize,
    make: impl FnOnce() -> A + Send + 'static,
) -> Addr<A>
where
    A: Actor<Context = Context<A>>,
{
    let (tx, rx) = channel::channel(capacity);
    let addr = Addr::new(tx);
    arbiter.spawn_fn(move || {
        Context::with_receiver(rx).run(make());
    });
    addr
}
