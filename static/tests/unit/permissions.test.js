import { describe, it, expect } from 'vitest'
import { canEdit, canDelete, canReact, isAuthor } from '../../src/lib/permissions.js'

const me = 'a1b2c3d4e5f6a7b8c9d0e1f2'
const item = (extra = {}) => ({ id: 5, status: 'sent', deleted: false, authorId: me, ...extra })

describe('permissions', () => {
  it('edit: only our own messages (authorId), confirmed and not deleted', () => {
    expect(canEdit(item(), { authorId: me })).toBe(true)
    expect(canEdit(item(), { authorId: me, owner: true })).toBe(true)
    expect(canEdit(item({ authorId: 'someone else' }), { authorId: me, owner: true })).toBe(false)
    expect(canEdit(item({ authorId: null }), { authorId: me, owner: true })).toBe(false) // bots, keyless
    expect(canEdit(item(), { authorId: null })).toBe(false) // our id not known yet
    expect(canEdit(item({ deleted: true }), { authorId: me })).toBe(false)
    expect(canEdit(item({ id: null, status: 'pending' }), { authorId: me })).toBe(false)
    expect(canEdit(item({ status: 'failed' }), { authorId: me })).toBe(false)
  })

  it('delete: our own messages, or any as the room owner', () => {
    expect(canDelete(item(), { authorId: me })).toBe(true)
    expect(canDelete(item({ authorId: 'other' }), { authorId: me })).toBe(false)
    expect(canDelete(item({ authorId: 'other' }), { authorId: me, owner: true })).toBe(true)
    expect(canDelete(item({ authorId: null }), { authorId: null, owner: true })).toBe(true)
    expect(canDelete(item({ authorId: null }), { authorId: null })).toBe(false)
    expect(canDelete(item({ deleted: true }), { authorId: me, owner: true })).toBe(false)
    expect(canDelete(item({ id: null }), { owner: true })).toBe(false)
  })

  it('react: any confirmed message that is not deleted', () => {
    expect(canReact(item({ authorId: 'other' }))).toBe(true)
    expect(canReact(item({ deleted: true }))).toBe(false)
    expect(canReact(item({ id: null, status: 'pending' }))).toBe(false)
  })

  it('an unknown author is nobody', () => {
    expect(isAuthor(item({ authorId: null }), null)).toBe(false)
    expect(isAuthor(item(), me)).toBe(true)
  })
})
