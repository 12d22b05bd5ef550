// The operators' REST API (issue 17): everything the /admin page does, a script could do with
// the same key. Every call carries `Authorization: Bearer <key>`; `key()` is asked at each call,
// so a key entered later (or forgotten) applies to the next request. `fetchImpl` is injectable.
import { createCaller } from './api.js'

export function createAdminApi({ base = '', fetchImpl, key } = {}) {
  const call = createCaller({
    base,
    fetchImpl,
    headers: () => {
      const k = key ? key() : null
      return k ? { authorization: `Bearer ${k}` } : {}
    },
  })
  const seg = (s) => encodeURIComponent(String(s))
  return {
    /** -> {node, interval, nodes: NodeStats[] (by id), rooms: busiest first} */
    overview() {
      return call('GET', '/api/admin/overview')
    },
    /** -> {node, state: 'draining'}: the node sends its clients elsewhere and refuses new ones. */
    drain(node) {
      return call('POST', `/api/admin/nodes/${seg(node)}/drain`)
    },
    /** -> {node, state: 'ready'} */
    resume(node) {
      return call('POST', `/api/admin/nodes/${seg(node)}/resume`)
    },
    /** -> {code}: members are disconnected and the room is gone. */
    closeRoom(code) {
      return call('DELETE', `/api/admin/rooms/${seg(code)}`)
    },
    /** -> {message}: members see it turn into the deleted placeholder. */
    deleteMessage(code, id) {
      return call('DELETE', `/api/rooms/${seg(code)}/messages/${seg(id)}`)
    },
  }
}
