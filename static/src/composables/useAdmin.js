// The admin page's session (lib/adminSession.js), handed down once like the chat session:
// AdminPage.vue calls provideAdmin(admin), its components call useAdmin().
import { provide, inject } from 'vue'

export const ADMIN_KEY = Symbol('admin session')

/** In AdminPage.vue's setup: make `admin` (an AdminSession) available to every descendant. */
export function provideAdmin(admin) {
  provide(ADMIN_KEY, admin)
  return admin
}

/** In a component's setup: the AdminSession AdminPage.vue provided. */
export function useAdmin() {
  const admin = inject(ADMIN_KEY, null)
  if (!admin) throw new Error('useAdmin() found no admin session: AdminPage.vue must call provideAdmin() first')
  return admin
}
