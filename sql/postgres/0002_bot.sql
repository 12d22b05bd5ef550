-- Messages posted through the REST API by integrations are marked (PROTOCOL.md v2,
-- "Who may do what"); every message stored before this migration was a member's. A
-- constant default is stored in the catalogue, so the ALTER does not rewrite the table.
ALTER TABLE messages ADD COLUMN bot BOOLEAN NOT NULL DEFAULT FALSE;
