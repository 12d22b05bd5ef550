// Reactions: the emoji the picker offers, which ones this browser added to which message
// (the server counts reactions but does not say whose they are, so this is a per-browser
// view, kept in local storage per room and message id and updated from our own acks), and
// the chips a message shows.

/** The picker's emoji. */
export const QUICK_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '👀', '🙏']

/** Messages per room whose own reactions are remembered (the newest ids are kept). */
export const REMEMBERED_MAX = 500

const identity = (x) => x

/** Which emoji this browser added, for the room being viewed. */
export class ReactionMemory {
  constructor({ prefs, reactive = identity } = {}) {
    this.prefs = prefs
    this.code = null
    this.state = reactive({ byId: {} }) // message id -> [emoji]
  }

  /** Switch to a room (null: none) and read what is remembered for it. */
  load(code) {
    this.code = code || null
    this.state.byId = code ? this.prefs.myReactions(code) : {}
  }

  /** The emoji we added to message `id`. */
  mine(id) {
    return this.state.byId[id] || []
  }

  has(id, emoji) {
    return this.mine(id).includes(emoji)
  }

  /** Our reaction `emoji` on message `id` is now there (`on`) or not. */
  set(id, emoji, on) {
    const now = this.mine(id).filter((e) => e !== emoji)
    if (on) now.push(emoji)
    const next = { ...this.state.byId }
    if (now.length) next[id] = now
    else delete next[id]
    this._save(next)
  }

  /** Forget message `id` (deleted: its reactions are gone). */
  forget(id) {
    if (!(id in this.state.byId)) return
    const next = { ...this.state.byId }
    delete next[id]
    this._save(next)
  }

  _save(byId) {
    const ids = Object.keys(byId).map(Number).sort((a, b) => b - a)
    if (ids.length > REMEMBERED_MAX) for (const id of ids.slice(REMEMBERED_MAX)) delete byId[id]
    this.state.byId = byId
    if (this.code) this.prefs.saveMyReactions(this.code, byId)
  }
}

/**
 * A message's reactions as chips, in the server's order (most counted first): `mine` when
 * this browser added that emoji. An emoji the message no longer has (count 0) is not ours
 * any more, whatever was remembered.
 */
export function reactionChips(reactions, mine = []) {
  const own = new Set(mine)
  return (reactions || []).map((r) => ({ emoji: r.emoji, count: r.count, mine: own.has(r.emoji) }))
}

/** Whether a click on `emoji` removes our reaction (else it adds one). */
export function removesReaction(reactions, mine, emoji) {
  return (mine || []).includes(emoji) && (reactions || []).some((r) => r.emoji === emoji)
}
