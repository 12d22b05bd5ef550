//! Authors and room owners (PROTOCOL.md, "Version 2: authors and room owners"): messages
//! carry the public id of their author's key, the same in every room; a room's owner key is
//! shown once, at creation, and makes the session that joins with it the owner.

use serde_json::{json, Value};

use crate::support::*;

const ADA_KEY: &str = "ada-author-key-000001";

async fn join_with(client: &mut Client, code: &str, nickname: &str, extra: Value) -> Value {
    let mut data = json!({"code": code, "nickname": nickname});
    if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
        data.extend(extra.clone());
    }
    client.request("room:join", data).await
}

fn author_of(ack: &Value) -> Value {
    ack["data"]["message"]["authorId"].clone()
}

on_both_stores! {
    async fn messages_carry_their_authors_public_id(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let (first, second) = (api.create_room().await, api.create_room().await);

        let mut ada = api.connect().await;
        let ack = join_with(&mut ada, &first, "ada", json!({"authorKey": ADA_KEY})).await;
        assert_eq!((ack["ok"].clone(), ack["data"]["owner"].clone()), (json!(true), json!(false)));
        let id = author_of(&ada.say(&first, "hello").await);
        let id_text = id.as_str().expect("an author id");
        assert!(id_text.len() == 24 && id_text.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert!(!id_text.contains(ADA_KEY));
        // The same key, in another room and another session, is the same author.
        let mut again = api.connect().await;
        join_with(&mut again, &second, "ada again", json!({"authorKey": ADA_KEY})).await;
        assert_eq!(author_of(&again.say(&second, "me again").await), id);
        // Another key is another author; no key, no id; an integration has none.
        let mut bob = api.connect().await;
        join_with(&mut bob, &first, "ada", json!({"authorKey": "not-ada-but-named-ada"})).await;
        let bobs = author_of(&bob.say(&first, "I am ada too").await);
        assert!(bobs.is_string() && bobs != id, "{bobs}");
        let anonymous = api.joined(&first, "anon").await;
        let mut anonymous = anonymous;
        assert_eq!(author_of(&anonymous.say(&first, "who am I").await), Value::Null);
        let (_, posted) = api.post_message(&first, "hook", "from a bot").await;
        assert_eq!(posted["message"]["authorId"], Value::Null);
        // History keeps them.
        let history = api.history(&first, "").await;
        let authors: Vec<Value> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["authorId"].clone())
            .collect();
        assert_eq!(authors, [Value::Null, Value::Null, bobs, id]);
        // Keys out of bounds are refused, and the session joins nothing.
        for bad in ["too-short", &"k".repeat(129)] {
            let mut eve = api.connect().await;
            let ack = join_with(&mut eve, &first, "eve", json!({"authorKey": bad})).await;
            assert_eq!(ack["error"]["code"], "bad_request", "{ack}");
            assert_eq!(eve.say(&first, "in?").await["error"]["code"], "not_in_room");
        }
    }

    async fn the_owner_key_is_shown_once_and_makes_its_holder_the_owner(backend) {
        let node = NodeSpec::new(&backend).start();
        let api = node.api();
        let mut creator = api.connect().await;
        let created = creator.request("room:create", json!({})).await;
        let code = created["data"]["room"]["code"].as_str().unwrap().to_owned();
        let owner_key = created["data"]["ownerKey"].as_str().unwrap().to_owned();
        assert_eq!(owner_key.len(), 32, "{created}");
        let (status, by_rest) = api.post("/api/rooms", json!({})).await;
        assert_eq!(status, 201);
        let rest_key = by_rest["ownerKey"].as_str().unwrap();
        assert!(rest_key.len() == 32 && rest_key != owner_key, "{by_rest}");
        // Never shown again: not in the room's details, its history, or a join's ack.
        let (_, details) = api.get(&format!("/api/rooms/{code}")).await;
        let mut member = api.connect().await;
        let joined = join_with(&mut member, &code, "member", json!({})).await;
        for answer in [&details, &joined, &api.history(&code, "").await] {
            assert!(!answer.to_string().contains(&owner_key), "{answer}");
        }
        assert_eq!(joined["data"]["owner"], false);
        // Its holder owns the room; a wrong key is refused and joins nothing.
        let mut owner = api.connect().await;
        let ack = join_with(&mut owner, &code, "owner", json!({"ownerKey": owner_key})).await;
        assert_eq!(ack["data"]["owner"], true, "{ack}");
        let mut mallory = api.connect().await;
        let ack = join_with(&mut mallory, &code, "mallory", json!({"ownerKey": rest_key})).await;
        assert_eq!(ack["error"]["code"], "forbidden", "{ack}");
        assert_eq!(mallory.say(&code, "in?").await["error"]["code"], "not_in_room");
        let (_, members) = api.get(&format!("/api/rooms/{code}")).await;
        let names: Vec<&str> = members["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["nickname"].as_str())
            .collect();
        assert!(!names.contains(&"mallory"), "{members}");
    }
}
