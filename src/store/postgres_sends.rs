//! How a PostgreSQL commit stores a batch made only of new messages in one round trip.
//!
//! The general commit (`commit_on` in `postgres.rs`) takes two pipelined round trips,
//! because the node decides each write's fate between them. For the batches the closed
//! loop and the fan-out send all day — sends, each clientId at most once — the decisions
//! are simple enough for the server to make: the `commit_sends` function (migration 0007)
//! locks the rooms, answers retried clientIds with their originals, refuses replies
//! outside their room, draws ids, chains and inserts the messages and advances the rooms,
//! as one statement and so one transaction. That saves a round trip, a wake-up of the
//! database's backend and of this node's connection task, and the `BEGIN` and `COMMIT`
//! statements, per batch (BENCHMARKS.md, "One round trip per batch").
//!
//! Batches with message changes, or with a clientId given twice (its second copy must
//! answer with the first's new message), keep the general path: their rules stay in one
//! place.

use std::collections::HashSet;

use chat_actors::ids::{MessageId, RoomId};
use chat_actors::model::{now_millis, Committed};
use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row, Statement};

use super::postgres::{corrupt, message_from, unavailable};
use super::{NewMessage, Outcome, StoreError, Write};

/// The call of the `commit_sends` function, prepared on every connection.
pub(super) const COMMIT_SENDS: &str = "SELECT * FROM commit_sends($1::bigint[], $2::text[], \
     $3::text[], $4::text[], $5::boolean[], $6::text[], $7::bigint[], $8::timestamptz)";

/// What the function answers for a send, in its `outcome` column.
const NEW: i16 = 0;
/// The send's clientId was stored before: the row is the original.
const STORED: i16 = 1;
/// The send replies to a message that is not in its room.
const NO_REPLY_TARGET: i16 = 2;

/// Column of the answer's rows holding the send's 1-based place in the batch; the
/// columns before it are those of `message_query!`.
const ORD: usize = 14;
/// Column holding what became of the send.
const OUTCOME: usize = 15;
/// Column holding a new message's `prev_id`.
const PREV_ID: usize = 16;
/// Column of `message_query!` holding the id.
const ID: usize = 0;
/// Column of `message_query!` holding the position in the room's change stream.
const SEQ: usize = 13;

/// The sends of `batch` when it can take the one round trip: every write is a send, and
/// no (room, clientId) is given twice.
pub(super) fn single_trip(batch: &[Write]) -> Option<Vec<&NewMessage>> {
    let mut keys = HashSet::with_capacity(batch.len());
    batch
        .iter()
        .map(|write| match write {
            Write::Send(message) => {
                let repeated = message
                    .client_id
                    .as_ref()
                    .is_some_and(|id| !keys.insert((message.room_id, id.as_str())));
                (!repeated).then_some(message)
            }
            Write::Change(_) => None,
        })
        .collect()
}

/// The sends column by column, as the function takes them.
struct Columns<'a> {
    rooms: Vec<RoomId>,
    senders: Vec<&'a str>,
    contents: Vec<&'a str>,
    client_ids: Vec<Option<&'a str>>,
    bots: Vec<bool>,
    authors: Vec<Option<&'a str>>,
    replies: Vec<Option<MessageId>>,
}

impl<'a> Columns<'a> {
    /// The columns of `sends`.
    fn of(sends: &[&'a NewMessage]) -> Columns<'a> {
        Columns {
            rooms: sends.iter().map(|m| m.room_id).collect(),
            senders: sends.iter().map(|m| m.sender.as_str()).collect(),
            contents: sends.iter().map(|m| m.content.as_str()).collect(),
            client_ids: sends
                .iter()
                .map(|m| m.client_id.as_ref().map(|id| id.as_str()))
                .collect(),
            bots: sends.iter().map(|m| m.bot).collect(),
            authors: sends.iter().map(|m| m.author_id.as_deref()).collect(),
            replies: sends.iter().map(|m| m.reply_to).collect(),
        }
    }
}

/// Commits `sends` (a batch [`single_trip`] accepted) with one call of the function, on a
/// connection outside any transaction. One outcome per send, in batch order.
pub(super) async fn commit(
    client: &Client,
    statement: &Statement,
    sends: &[&NewMessage],
) -> Result<Vec<Outcome>, StoreError> {
    let columns = Columns::of(sends);
    let now: DateTime<Utc> = now_millis();
    let rows = client
        .query(
            statement,
            &[
                &columns.rooms,
                &columns.senders,
                &columns.contents,
                &columns.client_ids,
                &columns.bots,
                &columns.authors,
                &columns.replies,
                &now,
            ],
        )
        .await
        .map_err(no_such_room_or_unavailable)?;
    let mut outcomes: Vec<Option<Outcome>> = vec![None; sends.len()];
    for row in &rows {
        let ord: i32 = row.try_get(ORD).map_err(unavailable)?;
        let index = usize::try_from(ord)
            .ok()
            .and_then(|ord| ord.checked_sub(1))
            .filter(|&index| index < sends.len())
            .ok_or_else(|| corrupt(format!("an answer for send {ord}")))?;
        let outcome = outcome_of(row, sends[index], now)?;
        if outcomes[index].replace(outcome).is_some() {
            return Err(corrupt(format!("two answers for send {ord}")));
        }
    }
    outcomes
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| {
            outcome.ok_or_else(|| corrupt(format!("no answer for send {}", index + 1)))
        })
        .collect()
}

/// What became of `send`, from its row of the function's answer.
fn outcome_of(row: &Row, send: &NewMessage, now: DateTime<Utc>) -> Result<Outcome, StoreError> {
    match row.try_get::<_, i16>(OUTCOME).map_err(unavailable)? {
        NEW => {
            let mut message = send.stored_as(row.try_get(ID).map_err(unavailable)?, now);
            message.seq = row.try_get(SEQ).map_err(unavailable)?;
            Ok(Outcome::Created(Committed {
                message,
                prev_id: row.try_get(PREV_ID).map_err(unavailable)?,
            }))
        }
        STORED => Ok(Outcome::Duplicate(message_from(row)?)),
        NO_REPLY_TARGET => Ok(Outcome::ReplyTargetMissing),
        other => Err(corrupt(format!("outcome {other}"))),
    }
}

/// The function's "no such room" (SQLSTATE P0002, the room's id as the detail) as
/// [`StoreError::NoSuchRoom`]; any other error as the store maps it.
fn no_such_room_or_unavailable(error: tokio_postgres::Error) -> StoreError {
    let missing = error
        .as_db_error()
        .filter(|db| db.code() == &SqlState::NO_DATA_FOUND)
        .and_then(|db| db.detail())
        .and_then(|detail| detail.parse::<RoomId>().ok());
    match missing {
        Some(room_id) => StoreError::NoSuchRoom(room_id),
        None => unavailable(error),
    }
}
