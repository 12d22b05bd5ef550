-- Rooms and messages (SQLite dialect). Applied once by src/store/migrate.rs, inside a
-- transaction that also records version 1 in schema_migrations.

-- A room row doubles as the per-room commit cursor: last_message_id is what the next
-- message of the room records as its prev_id.
CREATE TABLE rooms (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    code            TEXT    NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL, -- unix milliseconds, UTC
    last_message_id INTEGER
);

-- AUTOINCREMENT: ids are never reused, even if the newest rows were ever deleted, so a
-- message id stays unique for the life of the deployment and grows in commit order.
CREATE TABLE messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id    INTEGER NOT NULL REFERENCES rooms (id),
    sender     TEXT    NOT NULL,
    content    TEXT    NOT NULL,
    client_id  TEXT,
    created_at INTEGER NOT NULL, -- unix milliseconds, UTC
    prev_id    INTEGER
);

-- Idempotent sends: one message per (room, clientId).
CREATE UNIQUE INDEX messages_room_client_id
    ON messages (room_id, client_id) WHERE client_id IS NOT NULL;

-- History pages (id < before, newest first) and catch-up ranges are index range scans.
CREATE INDEX messages_room_id_id ON messages (room_id, id);
