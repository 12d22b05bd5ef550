//! Edits, deletions and reactions (PROTOCOL.md, "Version 2: replies, edits, deletions,
//! reactions"): who may do what, bad input, the `chat:update` push, the rate limit, the
//! resume cursor, and moderation over REST. The cluster half is in `cluster_changes.rs`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

/// Author keys: each is a person, whatever nickname they use.
pub const ADA_KEY: &str = "ada-author-key-for-changes";
/// Bob's.
pub const BOB_KEY: &str = "bob-author-key-for-changes";

/// A room and its owner key.
pub async fn owned_room(api: &Api) -> (String, String) {
    let (status, body) = api.post("/api/rooms", json!({})).await;
    assert_eq!(status, 201, "{body}");
    (
        body["room"]["code"].as_str().unwrap().to_owned(),
        body["ownerKey"].as_str().unwrap().to_owned(),
    )
}

/// A session joined to `code` with the keys in `keys` (`authorKey`, `ownerKey`, ...).
pub async fn join_as(api: &Api, code: &str, nickname: &str, keys: Value) -> (Client, Value) {
    let mut client = api.connect().await;
    let mut data = json!({"code": code, "nickname": nickname});
    if let (Some(data), Some(keys)) = (data.as_object_mut(), keys.as_object()) {
        data.extend(keys.clone());
    }
    let ack = client.request("room:join", data).await;
    assert_eq!(ack["ok"], true, "{ack}");
    (client, ack)
}

/// Sends a change event and returns its ack.
pub async fn change(
    client: &mut Client,
    event: &str,
    code: &str,
    id: &Value,
    extra: Value,
) -> Value {
    let mut data = json!({"roomCode": code, "id": id});
    if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
        data.extend(extra.clone());
    }
    client.request(event, data).await
}

/// The next `chat:update` of message `id`.
pub async fn update_of(client: &mut Client, id: &Value) -> Value {
    loop {
        let push = client.next_event("chat:update").await;
        if push["data"]["id"] == *id {
            return push["data"].clone();
        }
    }
}

/// `(emoji, count)` of a message.
pub fn counts(message: &Value) -> Vec<(String, u64)> {
    message["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["emoji"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn code_of(ack: &Value) -> &str {
    ack["error"]["code"].as_str().unwrap_or("(ok)")
}

on_both_stores! {
    async fn only_the_author_edits_and_the_author_or_owner_deletes(backend) {
        let node = NodeSpec::new(&backend).flag("send-rate", "0").start();
        let api = node.api();
        let (code, owner_key) = owned_room(&api).await;
        let (mut ada, _) = join_as(&api, &code, "ada", json!({"authorKey": ADA_KEY})).await;
        let (mut bob, _) = join_as(&api, &code, "bob", json!({"authorKey": BOB_KEY})).await;
        let (mut owner, joined) = join_as(&api, &code, "mod", json!({"ownerKey": owner_key})).await;
        assert_eq!(joined["data"]["owner"], true);
        let (mut anon, _) = join_as(&api, &code, "anon", json!({})).await;

        let original = ada.say(&code, "hello").await["data"]["message"].clone();
        let id = original["id"].clone();
        assert_eq!((original["editedAt"].clone(), original["deleted"].clone()), (Value::Null, json!(false)));
        let bobs = bob.say(&code, "bob's").await["data"]["message"].clone();
        let anons = anon.say(&code, "anon's").await["data"]["message"].clone();

        // Nobody but the author edits: not another author, not the owner, not a keyless session.
        for client in [&mut bob, &mut owner, &mut anon] {
            let ack = change(client, "chat:edit", &code, &id, json!({"content": "not yours"})).await;
            assert_eq!(code_of(&ack), "forbidden", "{ack}");
        }
        let ack = change(&mut anon, "chat:edit", &code, &anons["id"], json!({"content": "mine?"})).await;
        assert_eq!(code_of(&ack), "forbidden", "a keyless message has no author to edit it: {ack}");

        let ack = change(&mut ada, "chat:edit", &code, &id, json!({"content": "  hello, edited  "})).await;
        let edited = ack["data"]["message"].clone();
        assert_eq!(edited["content"], "hello, edited", "{ack}");
        assert!(edited["editedAt"].is_string(), "{edited}");
        assert!(edited["seq"].as_i64() > original["seq"].as_i64());
        for client in [&mut ada, &mut bob, &mut owner] {
            assert_eq!(update_of(client, &id).await, edited, "pushed to every member, the author too");
        }

        // Deleting: not someone else's (unless owner); the author's own; the owner's any.
        let ack = change(&mut bob, "chat:delete", &code, &id, json!({})).await;
        assert_eq!(code_of(&ack), "forbidden", "{ack}");
        let ack = change(&mut anon, "chat:delete", &code, &bobs["id"], json!({})).await;
        assert_eq!(code_of(&ack), "forbidden", "{ack}");
        let ack = change(&mut owner, "chat:delete", &code, &bobs["id"], json!({})).await;
        let gone = ack["data"]["message"].clone();
        assert_eq!((gone["deleted"].clone(), gone["content"].clone()), (json!(true), json!("")), "{ack}");
        assert_eq!(update_of(&mut bob, &bobs["id"]).await, gone);
        let ack = change(&mut owner, "chat:delete", &code, &anons["id"], json!({})).await;
        assert_eq!(ack["data"]["message"]["deleted"], true, "the owner deletes a keyless message: {ack}");
        let ack = change(&mut ada, "chat:delete", &code, &id, json!({})).await;
        assert_eq!(ack["data"]["message"]["deleted"], true, "{ack}");
        // Twice is the same answer, and pushes nothing new.
        let again = change(&mut ada, "chat:delete", &code, &id, json!({})).await;
        assert_eq!(again["data"]["message"], ack["data"]["message"]);
        // A deleted message takes no edit and no reaction.
        let ack = change(&mut ada, "chat:edit", &code, &id, json!({"content": "back"})).await;
        assert_eq!(code_of(&ack), "not_found", "{ack}");
        let ack = change(&mut bob, "reaction:add", &code, &id, json!({"emoji": "👍"})).await;
        assert_eq!(code_of(&ack), "not_found", "{ack}");

        let history = api.history(&code, "").await;
        let stored: Vec<(Value, Value)> = history["messages"].as_array().unwrap().iter()
            .map(|m| (m["content"].clone(), m["deleted"].clone())).collect();
        assert_eq!(stored, [(json!(""), json!(true)), (json!(""), json!(true)), (json!(""), json!(true))]);
    }

    async fn reactions_count_each_author_once_and_refuse_what_is_not_an_emoji(backend) {
        let node = NodeSpec::new(&backend).flag("send-rate", "0").start();
        let api = node.api();
        let (code, _) = owned_room(&api).await;
        let (other, _) = owned_room(&api).await;
        let (mut ada, _) = join_as(&api, &code, "ada", json!({"authorKey": ADA_KEY})).await;
        let (mut bob, _) = join_as(&api, &code, "bob", json!({"authorKey": BOB_KEY})).await;
        // The same author on a second connection counts as the same reactor.
        let (mut ada_again, _) = join_as(&api, &code, "ada on the phone", json!({"authorKey": ADA_KEY})).await;
        let (mut cy, _) = join_as(&api, &other, "cy", json!({})).await;
        let id = ada.say(&code, "react to this").await["data"]["message"]["id"].clone();
        let foreign = cy.say(&other, "elsewhere").await["data"]["message"]["id"].clone();

        let first = change(&mut bob, "reaction:add", &code, &id, json!({"emoji": "👍"})).await;
        assert_eq!(counts(&first["data"]["message"]), [("👍".to_owned(), 1)]);
        change(&mut ada, "reaction:add", &code, &id, json!({"emoji": "👍"})).await;
        let same = change(&mut ada_again, "reaction:add", &code, &id, json!({"emoji": "👍"})).await;
        assert_eq!(counts(&same["data"]["message"]), [("👍".to_owned(), 2)], "{same}");
        change(&mut bob, "reaction:add", &code, &id, json!({"emoji": "🎉"})).await;
        let absent = change(&mut ada, "reaction:remove", &code, &id, json!({"emoji": "🎉"})).await;
        assert_eq!(counts(&absent["data"]["message"]), [("👍".to_owned(), 2), ("🎉".to_owned(), 1)]);
        let fewer = change(&mut bob, "reaction:remove", &code, &id, json!({"emoji": "👍"})).await;
        let fewer = fewer["data"]["message"].clone();
        assert_eq!(counts(&fewer), [("🎉".to_owned(), 1), ("👍".to_owned(), 1)]);
        // Members saw each stored change in order, and nothing for the no-ops.
        let mut seen = Vec::new();
        while seen.len() < 4 {
            seen.push(update_of(&mut ada, &id).await["seq"].as_i64().unwrap());
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(seen.last().copied(), fewer["seq"].as_i64());
        ada.expect_no_event("chat:update", Duration::from_millis(300)).await;

        for (data, expected) in [
            (json!({"emoji": "lol"}), "bad_request"),
            (json!({"emoji": "👍👍"}), "bad_request"),
            (json!({"emoji": ""}), "bad_request"),
            (json!({"emoji": "<img src=x>"}), "bad_request"),
            (json!({}), "bad_request"),
        ] {
            let ack = change(&mut bob, "reaction:add", &code, &id, data.clone()).await;
            assert_eq!(code_of(&ack), expected, "{data}: {ack}");
        }
        for (target, expected) in [(foreign.clone(), "not_found"), (json!(999_999_999), "not_found"), (json!(0), "bad_request"), (json!("1"), "bad_request")] {
            let ack = change(&mut bob, "reaction:add", &code, &target, json!({"emoji": "👍"})).await;
            assert_eq!(code_of(&ack), expected, "id {target}: {ack}");
        }
        // Not a member of the message's room: not_in_room, whatever the room.
        let ack = change(&mut cy, "reaction:add", &code, &id, json!({"emoji": "👍"})).await;
        assert_eq!(code_of(&ack), "not_in_room", "{ack}");
        // Twenty different emoji, and no twenty-first.
        let emoji = ["😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂", "🙂", "🙃", "😉", "😊", "😇", "🥰", "😍", "🤩", "😘", "😗"];
        for e in emoji {
            let ack = change(&mut bob, "reaction:add", &code, &id, json!({"emoji": e})).await;
            assert_eq!(ack["ok"], true, "{ack}");
        }
        let ack = change(&mut bob, "reaction:add", &code, &id, json!({"emoji": "🐙"})).await;
        assert_eq!(code_of(&ack), "too_large", "{ack}");
        let history = api.history(&code, "").await;
        assert_eq!(history["messages"][0]["reactions"].as_array().unwrap().len(), 20);
        // All at one: by emoji, 🎉 (U+1F389) first.
        assert_eq!(history["messages"][0]["reactions"][0], json!({"emoji": "🎉", "count": 1}));
    }

    async fn a_member_that_was_away_gets_every_change_on_resume(backend) {
        let node = NodeSpec::new(&backend).flag("send-rate", "0").start();
        let api = node.api();
        let (code, owner_key) = owned_room(&api).await;
        let (mut ada, _) = join_as(&api, &code, "ada", json!({"authorKey": ADA_KEY, "ownerKey": owner_key})).await;
        let mut ids = Vec::new();
        for text in ["one", "two", "three", "four"] {
            ids.push(ada.say(&code, text).await["data"]["message"]["id"].clone());
        }
        // Bob holds all four, and the position his pushes reached.
        let (mut bob, joined) = join_as(&api, &code, "bob", json!({"authorKey": BOB_KEY, "sinceId": 0})).await;
        let cursor = joined["data"]["seq"].as_i64().unwrap();
        assert_eq!(joined["data"]["missed"].as_array().unwrap().len(), 4);
        assert_eq!((joined["data"]["changes"].clone(), joined["data"]["changesHasMore"].clone()), (json!([]), json!(false)));
        let last_seen = ids[3].as_i64().unwrap();
        drop(bob);

        // While he is away: an edit, a reaction, a deletion of old messages, and a new one
        // that is then edited too.
        change(&mut ada, "chat:edit", &code, &ids[0], json!({"content": "one, edited"})).await;
        change(&mut ada, "reaction:add", &code, &ids[1], json!({"emoji": "👀"})).await;
        change(&mut ada, "chat:delete", &code, &ids[2], json!({})).await;
        let five = ada.say(&code, "five").await["data"]["message"]["id"].clone();
        let five_edited = change(&mut ada, "chat:edit", &code, &five, json!({"content": "five, edited"})).await;
        let room_seq = five_edited["data"]["message"]["seq"].as_i64().unwrap();

        let (back, ack) = join_as(&api, &code, "bob", json!({"authorKey": BOB_KEY, "sinceId": last_seen, "sinceChange": cursor})).await;
        bob = back;
        let data = &ack["data"];
        let missed: Vec<(Value, Value)> = data["missed"].as_array().unwrap().iter().map(|m| (m["id"].clone(), m["content"].clone())).collect();
        assert_eq!(missed, [(five.clone(), json!("five, edited"))], "a new message comes as it is now");
        let changes: Vec<Value> = data["changes"].as_array().unwrap().clone();
        let changed_ids: Vec<Value> = changes.iter().map(|m| m["id"].clone()).collect();
        assert_eq!(changed_ids, [ids[0].clone(), ids[1].clone(), ids[2].clone()], "ascending by seq: {changes:?}");
        assert_eq!(changes[0]["content"], "one, edited");
        assert_eq!(counts(&changes[1]), [("👀".to_owned(), 1)]);
        assert_eq!((changes[2]["deleted"].clone(), changes[2]["content"].clone()), (json!(true), json!("")));
        assert_eq!(data["changesHasMore"], false);
        assert_eq!(data["seq"].as_i64(), Some(room_seq));
        // Up to date: nothing again; and a change now is a push.
        let (_, fresh) = join_as(&api, &code, "bob", json!({"sinceId": five.as_i64(), "sinceChange": room_seq})).await;
        assert_eq!((fresh["data"]["missed"].clone(), fresh["data"]["changes"].clone()), (json!([]), json!([])));
        change(&mut ada, "reaction:add", &code, &ids[3], json!({"emoji": "👍"})).await;
        assert_eq!(update_of(&mut bob, &ids[3]).await["seq"].as_i64(), Some(room_seq + 1));
        // sinceChange without sinceId asks for nothing.
        let (_, alone) = join_as(&api, &code, "cy", json!({"sinceChange": 0})).await;
        assert_eq!(alone["data"]["changes"], json!([]));
        let (_, bad) = {
            let mut c = api.connect().await;
            let ack = c.request("room:join", json!({"code": code, "nickname": "x", "sinceId": 1, "sinceChange": -1})).await;
            (c, ack)
        };
        assert_eq!(code_of(&bad), "bad_request", "{bad}");
    }

    async fn changes_take_the_send_budget_and_no_ops_give_it_back(backend) {
        let node = NodeSpec::new(&backend).flag("send-rate", "3/10s").start();
        let api = node.api();
        let (code, _) = owned_room(&api).await;
        let (mut ada, _) = join_as(&api, &code, "ada", json!({"authorKey": ADA_KEY})).await;
        let id = ada.say(&code, "one").await["data"]["message"]["id"].clone();
        assert_eq!(change(&mut ada, "reaction:add", &code, &id, json!({"emoji": "👍"})).await["ok"], true);
        for _ in 0..5 {
            let noop = change(&mut ada, "reaction:add", &code, &id, json!({"emoji": "👍"})).await;
            assert_eq!(noop["ok"], true, "a no-op keeps no slot: {noop}");
        }
        assert_eq!(change(&mut ada, "chat:edit", &code, &id, json!({"content": "two"})).await["ok"], true);
        let over = change(&mut ada, "chat:edit", &code, &id, json!({"content": "three"})).await;
        assert_eq!(code_of(&over), "rate_limited", "{over}");
        assert_eq!(code_of(&ada.say(&code, "four").await), "rate_limited");
    }

    async fn rest_moderators_delete_with_an_api_key_and_integrations_reply(backend) {
        const KEY: &str = "moderation-key-0123456789";
        let node = NodeSpec::new(&backend).flag("api-keys", KEY).start();
        let api = node.api();
        let moderator = api.with_key(KEY);
        let (code, _) = owned_room(&api).await;
        let (mut ada, _) = join_as(&api, &code, "ada", json!({"authorKey": ADA_KEY})).await;
        let id = ada.say(&code, "spam").await["data"]["message"]["id"].as_i64().unwrap();

        let (status, reply) = moderator
            .post("/api/messages", json!({"roomCode": code, "sender": "bot", "content": "re", "replyTo": id}))
            .await;
        assert_eq!((status, reply["message"]["replyTo"].as_i64()), (201, Some(id)), "{reply}");
        let (status, body) = moderator
            .post("/api/messages", json!({"roomCode": code, "sender": "bot", "content": "re", "replyTo": id + 100_000}))
            .await;
        assert_eq!((status, body["error"]["code"].clone()), (404, json!("not_found")), "{body}");

        let path = format!("/api/rooms/{code}/messages/{id}");
        let delete = |api: &Api, path: &str| {
            let request = api.request(reqwest::Method::DELETE, path);
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap())
            }
        };
        let (status, body) = delete(&api, &path).await;
        assert_eq!((status, body["error"]["code"].clone()), (401, json!("unauthorized")), "{body}");
        let (status, _) = delete(&api.with_key("not-the-key-0123456789"), &path).await;
        assert_eq!(status, 401);
        let (status, body) = delete(&moderator, &path).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["message"]["deleted"].clone(), body["message"]["content"].clone()), (json!(true), json!("")));
        assert_eq!(update_of(&mut ada, &json!(id)).await["deleted"], true);
        let (status, again) = delete(&moderator, &path).await;
        assert_eq!((status, again["message"].clone()), (200, body["message"].clone()));
        for (path, expected) in [
            (format!("/api/rooms/{code}/messages/{}", id + 100_000), 404),
            (format!("/api/rooms/{code}/messages/abc"), 400),
            (format!("/api/rooms/{code}/messages/0"), 400),
            (format!("/api/rooms/ZZZZZZ/messages/{id}"), 404),
        ] {
            assert_eq!(delete(&moderator, &path).await.0, expected, "{path}");
        }

        // A node without keys has no moderator: every delete is refused.
        let open = NodeSpec::new(&backend).start();
        let open_api = open.api();
        let (code, _) = owned_room(&open_api).await;
        let (mut cy, _) = join_as(&open_api, &code, "cy", json!({})).await;
        let id = cy.say(&code, "stays").await["data"]["message"]["id"].as_i64().unwrap();
        let (status, body) = delete(&open_api.with_key(KEY), &format!("/api/rooms/{code}/messages/{id}")).await;
        assert_eq!((status, body["error"]["code"].clone()), (401, json!("unauthorized")), "{body}");
        assert_eq!(open_api.history(&code, "").await["messages"][0]["content"], "stays");
    }
}
