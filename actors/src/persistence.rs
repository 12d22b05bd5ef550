//! The persistence actor: group commit of chat messages and of their changes.
//!
//! Room actors hand it writes (new messages, edits, deletions, reactions) one by one; it gathers them for at most `batch_delay` or
//! until `batch_max` are waiting, and commits them in one store transaction. Only after the
//! commit does any sender hear back, so an ack always means "durable". One batch is in
//! flight per actor at a time: messages of one room always go to the same shard, so their
//! commits happen in the order the room sent them. While a batch commits, the next one
//! fills up, which is what makes batching pay off under load without delaying a lone
//! message by more than `batch_delay`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::error::ChatError;
use crate::hops::{self, Hop};
use crate::ids::RoomId;
use crate::metric_names;
use crate::spawn::start_on;
use crate::stats::NodeCounters;
use crate::store::{Outcome, Store, StoreError, Write};

/// Asks for one write to be committed. Answers once its batch committed (or failed).
#[derive(Message)]
#[rtype(result = "Result<Stored, ChatError>")]
pub struct Persist {
    /// The message or change to store.
    pub write: Write,
    /// When it was handed on, for the latency budget ([`hops`](crate::hops)).
    pub sent_at: Instant,
}

impl Persist {
    /// A write handed on now.
    pub fn new(write: Write) -> Persist {
        Persist {
            write,
            sent_at: Instant::now(),
        }
    }
}

/// What a committed write came to, and when the store answered (the start of the next
/// hop of the latency budget).
#[derive(Debug, Clone)]
pub struct Stored {
    /// The store's outcome for this write.
    pub outcome: Outcome,
    /// When the batch's commit returned.
    pub committed_at: Instant,
}

/// Commits everything waiting now, and answers when it is done; for shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

type Waiter = oneshot::Sender<Result<Stored, ChatError>>;

/// A write waiting for its batch, with when it was queued.
struct Waiting {
    write: Write,
    waiter: Waiter,
    queued_at: Instant,
}

/// Messages waiting for one shard before senders are made to wait.
const MAILBOX: usize = 16 * 1024;

/// One persistence shard.
pub struct Persistence {
    store: Arc<dyn Store>,
    counters: Arc<NodeCounters>,
    batch_max: usize,
    batch_delay: Duration,
    waiting: Vec<Waiting>,
    committing: bool,
    timer: Option<SpawnHandle>,
    flushed: Vec<oneshot::Sender<()>>,
}

impl Persistence {
    /// A shard that commits to `store` in batches of at most `batch_max`, counting its
    /// commits in `counters`.
    pub fn new(
        store: Arc<dyn Store>,
        counters: Arc<NodeCounters>,
        batch_max: usize,
        batch_delay: Duration,
    ) -> Self {
        Persistence {
            store,
            counters,
            batch_max: batch_max.max(1),
            batch_delay,
            waiting: Vec::new(),
            committing: false,
            timer: None,
            flushed: Vec::new(),
        }
    }

    /// Starts the next batch if none is in flight and messages wait.
    fn commit_next(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        if self.committing {
            return;
        }
        if self.waiting.is_empty() {
            for done in self.flushed.drain(..) {
                let _ = done.send(());
            }
            return;
        }
        let take = self.waiting.len().min(self.batch_max);
        let started = Instant::now();
        let (messages, waiters): (Vec<Write>, Vec<Waiter>) = self
            .waiting
            .drain(..take)
            .map(|w| {
                hops::record_between(Hop::BatchWait, w.queued_at, started);
                (w.write, w.waiter)
            })
            .unzip();
        self.committing = true;
        let store = Arc::clone(&self.store);
        let commit = async move {
            let result = store.commit_batch(&messages).await;
            match result {
                Err(StoreError::Rejected(_) | StoreError::NoSuchRoom(_)) if messages.len() > 1 => {
                    one_by_one(store.as_ref(), &messages).await
                }
                other => vec![other],
            }
        };
        ctx.spawn(commit.into_actor(self).map(move |results, act, ctx| {
            let committed_at = Instant::now();
            metrics::histogram!(metric_names::PERSIST_BATCH_SIZE).record(waiters.len() as f64);
            metrics::histogram!(metric_names::PERSIST_COMMIT_SECONDS).record(
                committed_at
                    .saturating_duration_since(started)
                    .as_secs_f64(),
            );
            for _ in &waiters {
                hops::record_between(Hop::Commit, started, committed_at);
            }
            let writes = waiters.len();
            let created = answer_all(waiters, results, committed_at);
            act.counters.committed(
                committed_at.saturating_duration_since(started),
                writes,
                created,
            );
            act.committing = false;
            act.commit_next(ctx);
        }));
    }
}

/// A batch the store refused for some message's data, or for a room it no longer has
/// (retention deleted it), committed again one message at a time and in order, so that
/// only the culprits fail (each result is a batch of one).
async fn one_by_one(
    store: &dyn Store,
    messages: &[Write],
) -> Vec<Result<Vec<Outcome>, StoreError>> {
    tracing::warn!(
        size = messages.len(),
        "the store refused a batch (data, or a deleted room); committing its messages one by one"
    );
    let mut results = Vec::with_capacity(messages.len());
    for message in messages {
        results.push(store.commit_batch(std::slice::from_ref(message)).await);
    }
    results
}

/// Answers the senders of a batch: from one result for the whole batch, or from one result
/// per message after a retry one by one. Answers how many new messages were committed.
fn answer_all(
    waiters: Vec<Waiter>,
    results: Vec<Result<Vec<Outcome>, StoreError>>,
    committed_at: Instant,
) -> usize {
    if results.len() == 1 {
        return results
            .into_iter()
            .next()
            .map_or(0, |result| answer(waiters, result, committed_at));
    }
    waiters
        .into_iter()
        .zip(results)
        .map(|(waiter, result)| answer(vec![waiter], result, committed_at))
        .sum()
}

/// Hands each sender its outcome, or the batch's failure; answers how many new messages
/// it committed.
fn answer(
    waiters: Vec<Waiter>,
    result: Result<Vec<Outcome>, StoreError>,
    committed_at: Instant,
) -> usize {
    match result {
        Ok(outcomes) if outcomes.len() == waiters.len() => {
            let created = outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Created(_)))
                .count();
            let changed = outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Changed(_)))
                .count();
            metrics::counter!(metric_names::MESSAGES_COMMITTED).increment(created as u64);
            metrics::counter!(metric_names::CHANGES_COMMITTED).increment(changed as u64);
            for (waiter, outcome) in waiters.into_iter().zip(outcomes) {
                let _ = waiter.send(Ok(Stored {
                    outcome,
                    committed_at,
                }));
            }
            created
        }
        Ok(outcomes) => {
            tracing::error!(
                expected = waiters.len(),
                got = outcomes.len(),
                "store answered a batch with the wrong number of outcomes"
            );
            for waiter in waiters {
                let _ = waiter.send(Err(ChatError::internal("the store lost track of a batch")));
            }
            0
        }
        Err(error) => {
            tracing::warn!(%error, size = waiters.len(), "batch commit failed");
            let reply = match error {
                StoreError::Unavailable(_) => ChatError::unavailable(),
                StoreError::Rejected(_) => ChatError::unstorable(),
                StoreError::NoSuchRoom(_) => ChatError::room_not_found(),
                other => ChatError::internal(other.to_string()),
            };
            for waiter in waiters {
                let _ = waiter.send(Err(reply.clone()));
            }
            0
        }
    }
}

impl Actor for Persistence {
    type Context = Context<Self>;
}

impl Handler<Persist> for Persistence {
    type Result = ResponseFuture<Result<Stored, ChatError>>;

    fn handle(&mut self, msg: Persist, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.waiting.push(Waiting {
            write: msg.write,
            waiter: tx,
            queued_at: hops::record(Hop::ToShard, msg.sent_at),
        });
        if self.waiting.len() >= self.batch_max || self.batch_delay.is_zero() {
            self.commit_next(ctx);
        } else if self.timer.is_none() && !self.committing {
            self.timer = Some(ctx.run_later(self.batch_delay, |act, ctx| {
                act.timer = None;
                act.commit_next(ctx);
            }));
        }
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(ChatError::internal("persistence stopped")))
        })
    }
}

impl Handler<Flush> for Persistence {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Flush, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.flushed.push(tx);
        self.commit_next(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

/// The persistence shards; a room always maps to the same one, which keeps its order.
#[derive(Clone)]
pub struct PersistencePool {
    shards: Arc<[Addr<Persistence>]>,
}

impl PersistencePool {
    /// Starts `shards` persistence actors on `arbiter`, counting their commits in
    /// `counters`.
    pub fn start(
        store: Arc<dyn Store>,
        counters: Arc<NodeCounters>,
        shards: usize,
        batch_max: usize,
        batch_delay: Duration,
        arbiter: &ArbiterHandle,
    ) -> Self {
        let shards: Vec<_> = (0..shards.max(1))
            .map(|_| {
                let store = Arc::clone(&store);
                let counters = Arc::clone(&counters);
                // Room actors wait (rather than fail) when this mailbox is full:
                // backpressure.
                start_on(arbiter, MAILBOX, move || {
                    Persistence::new(store, counters, batch_max, batch_delay)
                })
            })
            .collect();
        PersistencePool {
            shards: shards.into(),
        }
    }

    /// The shard that owns a room.
    pub fn shard(&self, room: RoomId) -> &Addr<Persistence> {
        let index = room.unsigned_abs() as usize % self.shards.len();
        &self.shards[index]
    }

    /// Commits everything waiting in every shard.
    pub async fn flush(&self) {
        for shard in self.shards.iter() {
            let _ = shard.send(Flush).await;
        }
    }
}
