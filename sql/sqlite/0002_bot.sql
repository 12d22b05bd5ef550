-- Messages posted through the REST API by integrations are marked (PROTOCOL.md v2,
-- "Who may do what"); every message stored before this migration was a member's.
ALTER TABLE messages ADD COLUMN bot INTEGER NOT NULL DEFAULT 0;
