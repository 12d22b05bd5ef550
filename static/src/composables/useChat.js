// The chat session, handed down once: App.vue calls provideChat(session) and every
// component that needs the session calls useChat(), instead of a `session` prop on each.
import { provide, inject } from 'vue'

export const CHAT_KEY = Symbol('chat session')

/** In App.vue's setup: make `session` (a ChatSession) available to every descendant. */
export function provideChat(session) {
  provide(CHAT_KEY, session)
  return session
}

/** In a component's setup: the ChatSession App.vue provided. */
export function useChat() {
  const session = inject(CHAT_KEY, null)
  if (!session) throw new Error('useChat() found no chat session: App.vue must call provideChat() first')
  return session
}
