-- A batch of new messages commits in one round trip: this function does, inside the
-- server, what a commit otherwise does in two pipelined round trips with the node deciding
-- in between (src/store/postgres.rs): lock the batch's rooms in id order, answer each
-- clientId already stored with its original, refuse a reply whose target is not in the
-- message's room, draw ids after the lock, chain each new message onto its room
-- (prev_id, seq), insert them all with one statement and advance the rooms.
--
-- Called as one statement outside any explicit transaction, it is its own transaction:
-- all of it commits or none of it does. The node uses it only for batches made only of
-- sends with no clientId given twice; batches with message changes, or a clientId repeated
-- within the batch, still take the two round trips (the rules for those stay in one place,
-- the node).
--
-- Answers one row per send, in any order: `ord` (its 1-based place in the batch) and
-- `outcome`: 0 new (id, seq and prev_id are set), 1 a duplicate (the other columns are the
-- stored original, as message_query! in src/store/mod.rs reads them), 2 a reply to a
-- message that is not in its room (nothing else is set). A room that is missing or
-- tombstoned fails the whole call with SQLSTATE P0002 and the room's id as the detail.
CREATE FUNCTION commit_sends(
    p_rooms       BIGINT[],
    p_senders     TEXT[],
    p_contents    TEXT[],
    p_client_ids  TEXT[],
    p_bots        BOOLEAN[],
    p_authors     TEXT[],
    p_replies     BIGINT[],
    p_now         TIMESTAMPTZ
) RETURNS TABLE (
    id BIGINT, room_id BIGINT, code TEXT, sender TEXT, content TEXT, client_id TEXT,
    created_at TIMESTAMPTZ, bot BOOLEAN, author_id TEXT, reply_to BIGINT,
    edited_at TIMESTAMPTZ, deleted BOOLEAN, reactions TEXT, seq BIGINT,
    ord INT, outcome SMALLINT, prev_id BIGINT
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    wanted      BIGINT[];
    locked      BIGINT[];
    last_ids    BIGINT[];
    last_seqs   BIGINT[];
    target_ids  BIGINT[];
    target_rooms BIGINT[];
    missing     BIGINT;
    original    RECORD;
    replying    BOOLEAN;
    -- The sends answered with a stored original.
    stored  INT[] := '{}';
    slot        INT;
    new_id      BIGINT;
    -- The new messages, column by column, and the answer for each of them.
    n_ord   INT[] := '{}';
    n_ids   BIGINT[] := '{}';
    n_prevs BIGINT[] := '{}';
    n_seqs  BIGINT[] := '{}';
    n_rooms BIGINT[] := '{}';
    -- Refused replies.
    r_ord   INT[] := '{}';
    advanced INT;
    expected INT;
BEGIN
    SELECT array_agg(DISTINCT w ORDER BY w) INTO wanted FROM unnest(p_rooms) AS w;
    -- Lock the rooms in id order (two batches never deadlock) and read their cursors.
    SELECT coalesce(array_agg(l.id ORDER BY l.id), '{}'),
           coalesce(array_agg(l.last_message_id ORDER BY l.id), '{}'),
           coalesce(array_agg(l.last_seq ORDER BY l.id), '{}')
      INTO locked, last_ids, last_seqs
      FROM (SELECT r.id, r.last_message_id, r.last_seq FROM rooms r
            WHERE r.id = ANY (wanted) AND r.deleted_at IS NULL
            ORDER BY r.id FOR UPDATE) AS l;
    IF cardinality(locked) <> cardinality(wanted) THEN
        SELECT min(w) INTO missing FROM unnest(wanted) AS w WHERE w <> ALL (locked);
        RAISE EXCEPTION 'no such room' USING ERRCODE = 'P0002', DETAIL = missing::text;
    END IF;
    -- The stored messages replies point to, with their rooms.
    replying := EXISTS (SELECT 1 FROM unnest(p_replies) AS t WHERE t IS NOT NULL);
    SELECT coalesce(array_agg(m.id), '{}'), coalesce(array_agg(m.room_id), '{}')
      INTO target_ids, target_rooms
      FROM messages m WHERE m.id = ANY (p_replies);

    -- Retried clientIds, answered with their originals: one index probe of
    -- (room_id, client_id) each, in one statement, whose plan is the same at any table
    -- size (see FIND_ORIGINALS in src/store/postgres.rs).
    FOR original IN
        SELECT m.*, k.ord::INT AS ord
          FROM unnest(p_rooms, p_client_ids) WITH ORDINALITY AS k (room, cid, ord)
         CROSS JOIN LATERAL (
               SELECT m.id, m.room_id, r.code, m.sender, m.content, m.client_id,
                      m.created_at, m.bot, m.author_id, m.reply_to, m.edited_at,
                      m.deleted, m.reactions, m.seq
                 FROM messages m JOIN rooms r ON r.id = m.room_id
                WHERE m.room_id = k.room AND m.client_id = k.cid
                  AND m.client_id IS NOT NULL
                LIMIT 1) AS m
         WHERE k.cid IS NOT NULL
    LOOP
        stored := stored || original.ord;
        RETURN QUERY SELECT original.id, original.room_id, original.code, original.sender,
            original.content, original.client_id, original.created_at, original.bot,
            original.author_id, original.reply_to, original.edited_at, original.deleted,
            original.reactions, original.seq, original.ord, 1::SMALLINT, NULL::BIGINT;
    END LOOP;

    FOR i IN 1 .. coalesce(cardinality(p_rooms), 0) LOOP
        IF i = ANY (stored) THEN
            CONTINUE;
        END IF;
        IF p_replies[i] IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM unnest(target_ids, target_rooms) AS t (id, room)
             WHERE t.id = p_replies[i] AND t.room = p_rooms[i]) THEN
            r_ord := r_ord || i;
            CONTINUE;
        END IF;
        new_id := nextval('messages_id_seq');
        slot := array_position(locked, p_rooms[i]);
        n_ord := n_ord || i;
        n_ids := n_ids || new_id;
        n_rooms := n_rooms || p_rooms[i];
        n_prevs := n_prevs || last_ids[slot];
        last_ids[slot] := new_id;
        last_seqs[slot] := last_seqs[slot] + 1;
        n_seqs := n_seqs || last_seqs[slot];
        IF replying THEN
            -- A later message of the batch may reply to this one.
            target_ids := target_ids || new_id;
            target_rooms := target_rooms || p_rooms[i];
        END IF;
    END LOOP;

    IF cardinality(n_ids) > 0 THEN
        INSERT INTO messages (id, room_id, sender, content, client_id, created_at, prev_id,
                              bot, author_id, reply_to, seq)
        SELECT n.id, n.room, p_senders[n.ord], p_contents[n.ord], p_client_ids[n.ord],
               p_now, n.prev, p_bots[n.ord], p_authors[n.ord], p_replies[n.ord], n.seq
          FROM unnest(n_ids, n_rooms, n_ord, n_prevs, n_seqs) AS n (id, room, ord, prev, seq);
        UPDATE rooms SET last_message_id = c.last_id,
                         last_seq = GREATEST(rooms.last_seq, c.last_seq),
                         last_active_at = GREATEST(rooms.last_active_at, p_now)
          FROM unnest(locked, last_ids, last_seqs) AS c (id, last_id, last_seq)
         WHERE rooms.id = c.id AND c.id = ANY (n_rooms);
        GET DIAGNOSTICS advanced = ROW_COUNT;
        expected := (SELECT count(DISTINCT x) FROM unnest(n_rooms) AS x);
        IF advanced <> expected THEN
            RAISE EXCEPTION 'advanced % rooms, expected %', advanced, expected;
        END IF;
    END IF;

    RETURN QUERY
        SELECT n.id, NULL::BIGINT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT,
               NULL::TIMESTAMPTZ, NULL::BOOLEAN, NULL::TEXT, NULL::BIGINT,
               NULL::TIMESTAMPTZ, NULL::BOOLEAN, NULL::TEXT, n.seq, n.ord, 0::SMALLINT, n.prev
          FROM unnest(n_ids, n_seqs, n_ord, n_prevs) AS n (id, seq, ord, prev);
    RETURN QUERY
        SELECT NULL::BIGINT, NULL::BIGINT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT,
               NULL::TIMESTAMPTZ, NULL::BOOLEAN, NULL::TEXT, NULL::BIGINT,
               NULL::TIMESTAMPTZ, NULL::BOOLEAN, NULL::TEXT, NULL::BIGINT, r, 2::SMALLINT,
               NULL::BIGINT
          FROM unnest(r_ord) AS r;
END;
$$;
