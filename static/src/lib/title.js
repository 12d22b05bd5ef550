// The one owner of document.title: nothing else in the client writes it.
// "Huddle" in the lobby, "K7QX2M · Huddle" in a room, "(3) K7QX2M · Huddle" with unread messages,
// "Admin · Huddle" on the operators' page.

export const APP_TITLE = 'Huddle'

export function titleText({ code = null, unread = 0, page = null } = {}) {
  if (page) return `${page} · ${APP_TITLE}`
  if (!code) return APP_TITLE
  return (unread ? `(${unread}) ` : '') + `${code} · ${APP_TITLE}`
}

/** Set the tab title for a room (or the lobby when `code` is empty), with an unread count; or for a `page` ('Admin'). */
export function setTitle({ code = null, unread = 0, page = null } = {}, doc = globalThis.document) {
  if (doc) doc.title = titleText({ code, unread, page })
}

/**
 * The unread count once `messages` (new ones: pushes, or `missed` after a reconnect) have
 * arrived: while the tab is hidden, each message from someone else counts; our own do not,
 * and neither do changes to messages (they are not new). Visible, nothing counts.
 */
export function unreadAfter(count, messages, { hidden, isOwn = () => false } = {}) {
  if (!hidden) return count
  return count + messages.filter((m) => !isOwn(m)).length
}

/** Whether the page is hidden (another tab, minimised): the unread count runs. */
export function pageHidden(doc = globalThis.document) {
  return !!doc && doc.visibilityState === 'hidden'
}
