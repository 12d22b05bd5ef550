-- Rooms and messages (PostgreSQL dialect). Applied once by src/store/migrate.rs, inside a
-- transaction that also records version 1 in schema_migrations.

-- A room row doubles as the per-room commit lock and cursor: a batch locks the rows of its
-- rooms (FOR UPDATE, in id order) before it takes message ids, so the ids of one room are
-- committed in increasing order even when several nodes write to it; last_message_id is
-- what the room's next message records as its prev_id.
CREATE TABLE rooms (
    id              BIGSERIAL   PRIMARY KEY,
    code            TEXT        NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL,
    last_message_id BIGINT
);

-- BIGSERIAL creates messages_id_seq, from which a batch takes its ids in one statement.
CREATE TABLE messages (
    id         BIGSERIAL   PRIMARY KEY,
    room_id    BIGINT      NOT NULL REFERENCES rooms (id),
    sender     TEXT        NOT NULL,
    content    TEXT        NOT NULL,
    client_id  TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    prev_id    BIGINT
);

-- Idempotent sends: one message per (room, clientId).
CREATE UNIQUE INDEX messages_room_client_id
    ON messages (room_id, client_id) WHERE client_id IS NOT NULL;

-- History pages (id < before, newest first) and catch-up ranges are index range scans.
CREATE INDEX messages_room_id_id ON messages (room_id, id);
