-- Version 2 (PROTOCOL.md, "Replies, edits, deletions, reactions"): messages can be edited,
-- deleted and reacted to, and every change takes the next number of its room's change
-- stream (`seq`), which orders pushes across nodes and is the resume cursor of a join.
--
-- messages.seq is the position of the message's current state: the seq it was created with,
-- raised by each change. Messages stored before have 0 and never need reading again. The
-- reactions column holds the counts as JSON ([{"emoji": "👍", "count": 2}], most counted
-- first), so that history and pushes never aggregate; the reactions table says who counted,
-- so that one author counts once per emoji. Constant defaults: no table rewrite.
ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_at TIMESTAMPTZ;
ALTER TABLE messages ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE messages ADD COLUMN reactions TEXT;

-- The room's newest seq; locked with the room row by every commit, like last_message_id.
ALTER TABLE rooms ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;

-- Gap reads and resumes read "everything of a room after seq N".
CREATE INDEX messages_room_seq ON messages (room_id, seq);

CREATE TABLE reactions (
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji      TEXT   NOT NULL,
    reactor    TEXT   NOT NULL,
    PRIMARY KEY (message_id, emoji, reactor)
);
