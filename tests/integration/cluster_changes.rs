//! Message changes across nodes: concurrent changes of one message from three nodes apply
//! in one order everywhere (the room's change stream) and end with the same state on every
//! node and in history; no
//! member sees a change before its message; a member that was away gets every change on
//! resume, through a SIGKILL of the node that accepted them.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::changes::{change, counts, join_as, owned_room};
use crate::cluster::Cluster;
use crate::support::*;

const EMOJI: [&str; 4] = ["👍", "🎉", "👀", "🔥"];

/// Reads `client`'s frames in order until the `chat:update` of `id` at position `seq`,
/// and answers the room's `chat:message` and `chat:update` pushes of `id`, in arrival order,
/// as (event, seq).
async fn pushes_of(client: &mut Client, id: &Value, seq: i64) -> Vec<(String, i64)> {
    let mut seen = Vec::new();
    loop {
        let frame = client.next_json().await;
        let event = frame["event"].as_str().unwrap_or_default().to_owned();
        if (event == "chat:message" || event == "chat:update") && frame["data"]["id"] == *id {
            let at = frame["data"]["seq"].as_i64().unwrap();
            seen.push((event, at));
            if at >= seq {
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_from_three_nodes_end_the_same_everywhere() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let apis: Vec<Api> = (0..3).map(|i| cluster.api(i)).collect();
    let (code, _) = owned_room(&apis[0]).await;
    let mut members = Vec::new();
    for (i, api) in apis.iter().enumerate() {
        let key = format!("member-{i}-author-key-0123");
        members.push(
            join_as(api, &code, &format!("m{i}"), json!({"authorKey": key}))
                .await
                .0,
        );
    }
    // Everyone hears of everyone before the message goes out.
    for member in &mut members {
        member.pump(std::time::Duration::from_millis(500)).await;
    }
    let target = members[0].say(&code, "the message").await["data"]["message"].clone();
    let id = target["id"].clone();

    // Each member, on its own node, fires its changes without waiting: reactions (each
    // emoji twice: the second is a no-op), one taken back, and the author's edits.
    let mut refs = Vec::new();
    for (i, member) in members.iter_mut().enumerate() {
        let mut mine = Vec::new();
        for emoji in EMOJI {
            for _ in 0..2 {
                let data = json!({"roomCode": code, "id": id, "emoji": emoji});
                mine.push(member.emit("reaction:add", data).await);
            }
        }
        let data = json!({"roomCode": code, "id": id, "emoji": EMOJI[i]});
        mine.push(member.emit("reaction:remove", data).await);
        if i == 0 {
            for n in 0..3 {
                let data = json!({"roomCode": code, "id": id, "content": format!("edit {n}")});
                mine.push(member.emit("chat:edit", data).await);
            }
        }
        refs.push(mine);
    }
    let mut stored = Vec::new();
    for (member, mine) in members.iter_mut().zip(&refs) {
        for reference in mine {
            let ack = member.ack(*reference).await;
            assert_eq!(ack["ok"], true, "{ack}");
            stored.push(ack["data"]["message"]["seq"].as_i64().unwrap());
        }
    }
    let last = *stored.iter().max().unwrap();
    let distinct: HashSet<i64> = stored.iter().copied().collect();
    // 3 members × 4 reactions + 3 removals + 3 edits changed something; the no-ops
    // answered positions already taken.
    assert_eq!(last - target["seq"].as_i64().unwrap(), 18, "{stored:?}");
    assert_eq!(distinct.len(), 18, "{stored:?}");

    for member in &mut members {
        let seen = pushes_of(member, &id, last).await;
        let first = ("chat:message".to_owned(), target["seq"].as_i64().unwrap());
        assert_eq!(
            seen[0], first,
            "the message before any change of it: {seen:?}"
        );
        assert!(seen[1..].iter().all(|(event, _)| event == "chat:update"));
        // One order for everyone: a member sees positions of the one stream, ascending.
        // (A node that caught up from the store pushes the message as it is then, so a
        // member may skip states that a later change overtook; it never goes back.)
        let seqs: Vec<i64> = seen[1..].iter().map(|(_, seq)| *seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "never back: {seqs:?}");
        assert!(
            seqs.iter().all(|seq| distinct.contains(seq)),
            "{seqs:?} vs {stored:?}"
        );
    }
    // Three reactors per emoji; member i took back EMOJI[i]. Most counted first, then by
    // emoji.
    let mut expected: Vec<(String, u64)> = EMOJI
        .iter()
        .enumerate()
        .map(|(i, e)| (e.to_string(), if i < 3 { 2 } else { 3 }))
        .collect();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for api in &apis {
        let history = api.history(&code, "").await;
        let message = &history["messages"][0];
        assert_eq!(counts(message), expected, "{message}");
        assert_eq!(
            (message["content"].clone(), message["seq"].as_i64()),
            (json!("edit 2"), Some(last))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_while_away_survive_a_sigkill_of_the_node_that_took_them() {
    let Some(mut cluster) = Cluster::start(3).await else {
        return;
    };
    let (a, b, c) = (cluster.api(0), cluster.api(1), cluster.api(2));
    let (code, owner_key) = owned_room(&a).await;
    let (mut ada, _) = join_as(
        &a,
        &code,
        "ada",
        json!({"authorKey": "ada-key-for-the-crash-0"}),
    )
    .await;
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        ids.push(ada.say(&code, text).await["data"]["message"]["id"].clone());
    }
    let (bob, joined) = join_as(
        &b,
        &code,
        "bob",
        json!({"sinceId": 0, "ownerKey": owner_key}),
    )
    .await;
    let cursor = joined["data"]["seq"].as_i64().unwrap();
    assert_eq!(joined["data"]["missed"].as_array().unwrap().len(), 3);
    drop(bob);

    let mut acked = Vec::new();
    for (event, id, extra) in [
        ("chat:edit", &ids[0], json!({"content": "one, edited"})),
        ("reaction:add", &ids[1], json!({"emoji": "🔥"})),
        ("chat:delete", &ids[2], json!({})),
    ] {
        let ack = change(&mut ada, event, &code, id, extra).await;
        assert_eq!(ack["ok"], true, "{ack}");
        acked.push(ack["data"]["message"].clone());
    }
    let four = ada.say(&code, "four").await["data"]["message"].clone();
    cluster.kill(0);

    let (_, back) = join_as(
        &c,
        &code,
        "bob",
        json!({"sinceId": ids[2], "sinceChange": cursor}),
    )
    .await;
    let data = &back["data"];
    assert_eq!(
        data["changes"].as_array().unwrap(),
        &acked,
        "every acked change, as it is now"
    );
    assert_eq!(data["missed"].as_array().unwrap(), &vec![four]);
    assert_eq!(data["changesHasMore"], false);
}
