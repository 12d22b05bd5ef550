// A component's timers: a Timers group (lib/timers.js) cleared when the component unmounts.
import { onBeforeUnmount } from 'vue'
import { Timers } from '../lib/timers.js'

export function useTimers(clock) {
  const timers = new Timers(clock)
  onBeforeUnmount(() => timers.clearAll())
  return timers
}
