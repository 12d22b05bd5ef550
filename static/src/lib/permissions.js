// Who may change a message, as the server decides it (docs/protocol.md, Version 2): an edit
// only its author (the message's authorId is ours), a deletion its author or the room's
// owner; reactions any member. Messages without an authorId (bots, keyless members) can be
// deleted only by the owner and edited by nobody. A deleted message takes no more changes,
// and a message not confirmed yet (no id) none at all. The client only hides what the
// server would refuse; the server still checks.

/** A message the server holds, not deleted. */
function changeable(message) {
  return !!message && message.id != null && message.status === 'sent' && !message.deleted
}

/** Whether `authorId` (ours, learnt from our own sends) wrote `message`. */
export function isAuthor(message, authorId) {
  return !!authorId && !!message && message.authorId != null && message.authorId === authorId
}

/** May we edit it? `me` = {authorId, owner}. */
export function canEdit(message, me = {}) {
  return changeable(message) && isAuthor(message, me.authorId)
}

/** May we delete it: ours, or any message of a room we own. */
export function canDelete(message, me = {}) {
  return changeable(message) && (me.owner === true || isAuthor(message, me.authorId))
}

/** May we add or remove a reaction on it. */
export function canReact(message) {
  return changeable(message)
}
