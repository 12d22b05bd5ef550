-- Room retention (PROTOCOL.md v2, "Data life cycle"): a room unused (no member on any node,
-- no message committed) for the configured retention is deleted with its messages.
--
-- last_active_at: when the room was last used. A commit of messages sets it (in the
-- statement that advances last_message_id), and nodes set it periodically for rooms with
-- members. Backfilled once here from the room's newest message (its last_message_id),
-- else from when the room was created. No index: every commit updates it, and an index
-- would cost each of those updates (no HOT update) to spare the sweep, which runs every
-- few minutes at most, one scan of the rooms.
ALTER TABLE rooms ADD COLUMN last_active_at TIMESTAMPTZ;
UPDATE rooms SET last_active_at = COALESCE(
    (SELECT m.created_at FROM messages m WHERE m.id = rooms.last_message_id),
    rooms.created_at);
ALTER TABLE rooms ALTER COLUMN last_active_at SET NOT NULL;

-- deleted_at: the tombstone. A sweep sets it first (one short transaction), then deletes
-- the room's messages in small batches and finally the row; meanwhile the room is gone
-- for everyone (lookups and commits skip tombstoned rooms), and a sweep that stopped half
-- way is finished by the next one, which finds the tombstones through this index.
ALTER TABLE rooms ADD COLUMN deleted_at TIMESTAMPTZ;
CREATE INDEX rooms_tombstoned ON rooms (id) WHERE deleted_at IS NOT NULL;
