//! Helpers shared by the store and persistence tests (not every test binary uses each).

use chat_actors::ids::{ClientId, RoomCode};
use chat_actors::store::{NewMessage, Outcome, Store, StoreError, Write};

/// Commits batches of new messages only, for the tests of sends.
#[allow(dead_code)]
#[async_trait::async_trait]
pub trait CommitSends {
    /// [`Store::commit_batch`] of `batch`, every message a [`Write::Send`].
    async fn commit_sends(&self, batch: &[NewMessage]) -> Result<Vec<Outcome>, StoreError>;
}

#[async_trait::async_trait]
impl<S: Store + ?Sized> CommitSends for S {
    async fn commit_sends(&self, batch: &[NewMessage]) -> Result<Vec<Outcome>, StoreError> {
        let writes: Vec<Write> = batch.iter().cloned().map(Write::Send).collect();
        self.commit_batch(&writes).await
    }
}

/// Message `i` of a room, with client id `c{i}`.
#[allow(dead_code)]
pub fn message(room_id: i64, code: RoomCode, i: usize) -> NewMessage {
    NewMessage {
        room_id,
        room_code: code,
        sender: "ada".into(),
        content: format!("m{i}"),
        client_id: Some(ClientId::parse(&format!("c{i}")).unwrap()),
        bot: false,
        author_id: None,
        reply_to: None,
    }
}

/// The PostgreSQL URL of `TEST_DATABASE_URL`; `None` (the caller skips) when it is not set,
/// unless `CHAT_REQUIRE_POSTGRES=1`, which makes a missing PostgreSQL a failure.
#[allow(dead_code)]
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let required = std::env::var("CHAT_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "CHAT_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set"
            );
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            None
        }
    }
}
