import { describe, it, expect } from 'vitest'
import { createApp, defineComponent, h } from 'vue'
import { CHAT_KEY, useChat } from '../../src/composables/useChat.js'

describe('useChat', () => {
  it('returns the session provided under CHAT_KEY', () => {
    const session = { state: {} }
    const app = createApp(defineComponent({ render: () => h('div') }))
    app.provide(CHAT_KEY, session)
    expect(app.runWithContext(() => useChat())).toBe(session)
  })

  it('throws when nothing provided a session', () => {
    const app = createApp(defineComponent({ render: () => h('div') }))
    expect(() => app.runWithContext(() => useChat())).toThrow(/provideChat/)
  })
})
