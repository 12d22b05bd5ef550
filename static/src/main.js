import { createApp } from 'vue'
import App from './App.vue'
import './style.css'

// One build, two pages: the chat at every path, and the operators' page at /admin (issue 17),
// loaded as its own chunk so the chat never downloads it.
if (window.location.pathname.replace(/\/+$/, '') === '/admin') {
  import('./components/admin/AdminPage.vue').then(({ default: AdminPage }) => createApp(AdminPage).mount('#app'))
} else {
  createApp(App).mount('#app')
}
