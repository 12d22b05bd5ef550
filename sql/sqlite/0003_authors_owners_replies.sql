-- Version 2 (PROTOCOL.md, "Authors and room owners", "Replies"): the public id of a
-- message's author (a keyed hash of the key the client keeps; never the key), the message
-- it replies to, and the hash of a room's owner key. Messages and rooms stored before have
-- none of them.
ALTER TABLE messages ADD COLUMN author_id TEXT;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
ALTER TABLE rooms ADD COLUMN owner_key_hash TEXT;

-- Secrets the nodes share through the store, made once: `author_id` keys the hash that
-- turns an author key into its public id, so the same key gives the same id on every node.
CREATE TABLE node_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO node_secrets (name, value) VALUES ('author_id', lower(hex(randomblob(32))));
