// The demo page's script (the page's CSP forbids inline scripts). It configures the
// <notify-inbox> element from the Connect form and sends test notifications.
import './notify-inbox.js';

const $ = (id) => document.getElementById(id);
const inbox = $('inbox');
const server = $('server');
server.value = location.origin;

// Connect (re)configures the element: changing its attributes or getToken restarts it.
function connect() {
  const base = server.value.trim().replace(/\/+$/, '');
  const token = $('token').value.trim();
  inbox.setAttribute('server', base);
  inbox.setAttribute('recipient', $('recipient').value.trim());
  // A real page would fetch a fresh token from its own backend here.
  inbox.getToken = () => token || null;
}

$('connect-form').addEventListener('submit', (e) => {
  e.preventDefault();
  connect();
});

$('send-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const out = $('send-result');
  out.className = '';
  out.textContent = 'Sending…';
  const body = {
    recipientId: $('recipient').value.trim(),
    category: 'demo',
    content: $('content').value,
  };
  const title = $('title').value.trim();
  const actionUrl = $('action-url').value.trim();
  if (title) body.title = title;
  if (actionUrl) body.actionUrl = actionUrl;
  const headers = { 'Content-Type': 'application/json' };
  const key = $('api-key').value.trim();
  if (key) headers['X-Api-Key'] = key;
  try {
    const res = await fetch(`${server.value.trim().replace(/\/+$/, '')}/v1/notifications`, {
      method: 'POST', headers, body: JSON.stringify(body),
    });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(answer.detail || answer.title || `HTTP ${res.status}`);
    out.textContent = `Sent: ${answer.id} (log position ${answer.position})`;
  } catch (err) {
    out.className = 'error';
    // A browser keeps another origin's answer from the page unless CORS allows it, and it
    // never allows X-Api-Key: say so rather than "Failed to fetch".
    const elsewhere = new URL(server.value.trim(), location.href).origin !== location.origin;
    out.textContent = err instanceof TypeError && elsewhere
      ? `Not sent: ${err.message} (the service is another origin: sends with an API key work from this page only when it is served by that service itself)`
      : `Not sent: ${err.message}`;
  }
});

inbox.addEventListener('notify-inbox:navigate', (e) => {
  if (!$('intercept').checked) return;
  e.preventDefault();
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}: ${e.detail.url}`;
  $('log').prepend(li);
});

// Shows the element's state and unread attributes as text next to the bell.
new MutationObserver(() => {
  const state = inbox.getAttribute('state') || 'not connected';
  $('conn').textContent = `Stream: ${state} · ${inbox.getAttribute('unread') || 0} unread`;
}).observe(inbox, { attributes: true, attributeFilter: ['state', 'unread'] });

connect();
