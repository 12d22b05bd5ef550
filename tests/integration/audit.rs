//! The reckoning every network fault test ends with: the store against the acks, and
//! every member's view of the room against the store.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::roamer::{Roamer, Trouble};
use crate::support::Api;

/// The final reckoning of one test.
pub struct Audit {
    /// Messages acked (the closing REST one included).
    pub acked: usize,
    /// Messages in the store.
    pub stored: usize,
    /// Acked messages not in the store, or stored differently.
    pub lost: usize,
    /// Stored messages whose clientId was stored before.
    pub duplicated: usize,
    /// What the clients went through.
    pub trouble: Trouble,
}

/// Checks the store against what was acked: every acked message is stored, once, as it
/// was acked, and nothing else is (every client resent until acked). Then every client,
/// as a member of the room, must have received exactly the store's sequence: one more
/// message is sent through `api` first, so that each has had its chance to fill any gap.
pub async fn audit(api: &Api, code: &str, clients: &mut [Roamer]) -> Audit {
    let mut acked: HashMap<String, Value> = HashMap::new();
    let mut trouble = Trouble::default();
    for client in clients.iter() {
        trouble.add(&client.trouble);
        for (client_id, (message, _)) in &client.acked {
            acked.insert(client_id.clone(), message.clone());
        }
    }
    let (status, last) = api
        .post(
            "/api/messages",
            json!({"roomCode": code, "sender": "auditor", "content": "the end", "clientId": "last"}),
        )
        .await;
    assert_eq!(status, 201, "{last}");
    acked.insert("last".into(), last["message"].clone());

    let stored = api.all_messages(code).await;
    let mut seen = HashSet::new();
    let duplicated = stored
        .iter()
        .filter(|m| !seen.insert(m["clientId"].as_str().unwrap().to_owned()))
        .count();
    let lost = acked
        .iter()
        .filter(|(id, message)| {
            !stored
                .iter()
                .any(|m| m["clientId"] == **id && m == *message)
        })
        .count();
    let audit = Audit {
        acked: acked.len(),
        stored: stored.len(),
        lost,
        duplicated,
        trouble,
    };
    assert_eq!(audit.lost, 0, "acked messages lost");
    assert_eq!(audit.duplicated, 0, "messages stored twice");
    assert_eq!(
        audit.stored, audit.acked,
        "stored messages nobody was acked for"
    );

    let ids: Vec<i64> = stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    let last_id = *ids.last().unwrap();
    for member in clients.iter_mut() {
        member.catch_up_to(last_id, Duration::from_secs(20)).await;
        let received = member.received_ids();
        if received != ids {
            let missing: Vec<i64> = ids
                .iter()
                .filter(|id| !received.contains(id))
                .copied()
                .collect();
            let extra: Vec<i64> = received
                .iter()
                .filter(|id| !ids.contains(id))
                .copied()
                .collect();
            let first = received.iter().zip(&ids).position(|(a, b)| a != b);
            panic!(
                "{}: messages differ from the store's: missing {missing:?}, extra {extra:?}, \
                 first difference at {first:?} of {} received / {} stored; moves {}; \
                 its first events: {:?}; the store's first ids: {:?}",
                member.nickname(),
                received.len(),
                ids.len(),
                member.trouble.moves,
                member.log,
                &ids[..ids.len().min(12)]
            );
        }
    }
    audit
}

/// Prints one line of figures for docs/reliability.md.
pub fn report(test: &str, faults: &str, audit: &Audit, started: Instant) {
    let t = &audit.trouble;
    eprintln!(
        "network figures: {test}: faults: {faults}; WebSocket sends {} (with resends), \
         acked {} (with the closing REST one), refused {:?}, unanswered {}, moves {}, stored {}, lost {}, duplicated {}, {:.1} s",
        t.sends,
        audit.acked,
        t.refused,
        t.unanswered,
        t.moves,
        audit.stored,
        audit.lost,
        audit.duplicated,
        started.elapsed().as_secs_f64()
    );
}
