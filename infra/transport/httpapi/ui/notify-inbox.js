/**
 * <notify-inbox>: a notification bell and inbox panel for the notify service.
 *
 * An ES module with no dependencies. Load it and place the element:
 *
 *   <script type="module" src="https://notify.example.com/ui/notify-inbox.js"></script>
 *   <notify-inbox recipient="alice"></notify-inbox>
 *   <script type="module">
 *     document.querySelector('notify-inbox').getToken = async () =>
 *       (await fetch('/notify-token')).text();   // your backend mints the recipient's JWT
 *   </script>
 *
 * Attributes
 *   server     base URL of the service (default: the origin this script was loaded from)
 *   recipient  the recipient id whose inbox is shown (required)
 *   page-size  notifications per page, 1–100 (default 20)
 * Attributes it sets on itself (read them, style with them)
 *   state      "connecting" | "live" | "offline": the live stream's state
 *   unread     the unread count, as the service's stream reports it
 * Properties
 *   getToken   () => string | null | Promise<string | null>: called before every request
 *              and every stream (re)connect; null or absent: no credentials (development).
 *              Changing it, `server` or `recipient` restarts the element cleanly.
 * Methods
 *   open(), close(), toggle()
 * Events (bubble, composed)
 *   notify-inbox:navigate  {detail: {url, notification}}, cancelable: dispatched when a
 *                          notification with an actionUrl is clicked; unless prevented the
 *                          element calls location.assign(url).
 *
 * Theming: CSS custom properties (set them on the element or any ancestor)
 *   --notify-font              font-family            (system-ui, sans-serif)
 *   --notify-fg                text colour            (#1f2328)
 *   --notify-bg                panel background       (#fff)
 *   --notify-muted             secondary text         (#656d76)
 *   --notify-border            borders                (#d0d7de)
 *   --notify-accent            links, focus, dot      (#2563eb)
 *   --notify-unread-bg         unread item background (#eff6ff)
 *   --notify-badge-bg          badge background       (#dc2626)
 *   --notify-badge-fg          badge text             (#fff)
 *   --notify-radius            panel corner radius    (10px)
 *   --notify-panel-width       panel width            (360px)
 *   --notify-panel-max-height  panel height limit     (480px)
 * and ::part(): bell, badge, panel, header, mark-all, status, list, empty, item, item-title,
 * item-content, item-time, toggle-read, archive, action.
 *
 * Consistency with the live stream: the stream is opened first; its opening `counts` frame
 * carries (as id) the log position N the stream is complete to. The first page is then read
 * with minPosition=N, so it reflects at least everything before the stream; events that
 * arrive meanwhile are buffered and applied in order after the page is shown. Applying an
 * event is idempotent, so a page that already reflects one is not harmed. On reconnect the
 * stream resumes after the last frame id seen (lastEventId), so nothing is missed or doubled.
 */

const SCRIPT_ORIGIN = new URL(import.meta.url).origin;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const BULK_MAX_IDS = 1000; // the bulk route's limit
const STREAM_EVENTS = [
  'notification.sent', 'notification.read', 'notification.unread', 'notification.seen',
  'notification.archived', 'notification.unarchived', 'notification.canceled',
];

const STYLE = `
:host {
  display: inline-block; position: relative;
  font-family: var(--notify-font, system-ui, sans-serif);
  color: var(--notify-fg, #1f2328);
  --_accent: var(--notify-accent, #2563eb);
  --_muted: var(--notify-muted, #656d76);
  --_border: var(--notify-border, #d0d7de);
}
[hidden] { display: none !important; }
button { font: inherit; color: inherit; }
:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
.bell {
  position: relative; display: inline-flex; align-items: center; justify-content: center;
  width: 40px; height: 40px; padding: 0; border: 0; border-radius: 50%;
  background: transparent; cursor: pointer;
}
.bell:hover { background: color-mix(in srgb, currentColor 8%, transparent); }
.bell svg { width: 22px; height: 22px; fill: currentColor; }
.badge {
  position: absolute; top: 2px; right: 0; box-sizing: border-box;
  min-width: 18px; height: 18px; padding: 0 5px; border-radius: 9px;
  background: var(--notify-badge-bg, #dc2626); color: var(--notify-badge-fg, #fff);
  font-size: 11px; font-weight: 700; line-height: 18px; text-align: center;
  animation: pop .2s ease-out;
}
.panel {
  position: absolute; z-index: 1000; right: 0; top: calc(100% + 6px);
  display: flex; flex-direction: column; box-sizing: border-box;
  width: var(--notify-panel-width, 360px); max-width: calc(100vw - 16px);
  max-height: var(--notify-panel-max-height, 480px);
  background: var(--notify-bg, #fff); color: var(--notify-fg, #1f2328);
  border: 1px solid var(--_border); border-radius: var(--notify-radius, 10px);
  box-shadow: 0 8px 24px rgb(0 0 0 / .15); overflow: hidden;
  animation: slide .14s ease-out;
}
.panel:focus { outline: none; }
@keyframes slide { from { opacity: 0; transform: translateY(-4px); } }
@keyframes pop { from { transform: scale(.6); } }
.header { display: flex; align-items: center; justify-content: space-between; gap: 8px; padding: 10px 12px; border-bottom: 1px solid var(--_border); }
.header h2 { margin: 0; font-size: 15px; font-weight: 600; }
.link { padding: 2px 4px; border: 0; border-radius: 4px; background: none; color: var(--_accent); font-size: 13px; cursor: pointer; }
.link:hover { text-decoration: underline; }
.link:disabled { color: var(--_muted); cursor: default; text-decoration: none; }
.status { margin: 0; padding: 6px 12px; font-size: 12px; color: var(--_muted); }
.status:empty { display: none; }
.status.error { color: #b91c1c; }
.scroller { flex: 1; overflow-y: auto; overscroll-behavior: contain; }
.list { margin: 0; padding: 0; list-style: none; }
.item { display: grid; grid-template-columns: 8px 1fr; gap: 4px 10px; padding: 10px 12px; border-bottom: 1px solid var(--_border); }
.item:last-child { border-bottom: 0; }
.item:focus { outline: none; box-shadow: inset 0 0 0 2px var(--_accent); }
.item[data-status="sent"] { background: var(--notify-unread-bg, #eff6ff); }
.dot { width: 8px; height: 8px; margin-top: 6px; border-radius: 50%; background: var(--_accent); visibility: hidden; }
.item[data-status="sent"] .dot { visibility: visible; }
.item[data-status="canceled"] { color: var(--_muted); }
.body { grid-column: 2; display: flex; flex-direction: column; gap: 2px; min-width: 0; color: inherit; text-decoration: none; }
a.body:hover .title, a.body:hover .content { text-decoration: underline; }
.title { font-size: 14px; font-weight: 600; }
.content { font-size: 14px; overflow-wrap: anywhere; }
.item[data-status="canceled"] .content { text-decoration: line-through; }
.meta { display: flex; gap: 8px; font-size: 12px; color: var(--_muted); }
.canceled-label { font-weight: 600; }
.links, .controls { grid-column: 2; display: flex; flex-wrap: wrap; gap: 4px 12px; }
.action { font-size: 13px; color: var(--_accent); }
.controls .link { padding-left: 0; padding-right: 0; }
.empty { margin: 0; padding: 32px 12px; text-align: center; font-size: 14px; color: var(--_muted); }
.sentinel { height: 1px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
@media (prefers-reduced-motion: reduce) { *, *::before, *::after { animation: none !important; transition: none !important; } }
`;

// Static markup only: every piece of data is set later with textContent or attributes.
const TEMPLATE = document.createElement('template');
TEMPLATE.innerHTML = `<style>${STYLE}</style>
<button part="bell" class="bell" type="button" aria-haspopup="dialog" aria-expanded="false"
    aria-controls="panel" aria-label="Notifications">
  <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6v-5a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"/></svg>
  <span part="badge" class="badge" hidden></span>
</button>
<div part="panel" class="panel" id="panel" role="dialog" aria-label="Notifications" tabindex="-1" hidden>
  <div part="header" class="header">
    <h2>Notifications</h2>
    <button part="mark-all" class="link mark-all" type="button">Mark all as read</button>
  </div>
  <p part="status" class="status" aria-live="polite"></p>
  <div class="scroller">
    <ul part="list" class="list" role="list"></ul>
    <p part="empty" class="empty" hidden>You’re all caught up.</p>
    <div class="sentinel" aria-hidden="true"></div>
  </div>
</div>`;

/** An HTTP error answered by the service, usually as application/problem+json. */
class ProblemError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.name = 'ProblemError';
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter; // seconds, or NaN
  }
}

/** A 400 about this query parameter: a position this service's log never gave (a wiped store). */
const unknownPosition = (err, field) =>
  err?.status === 400 && (err.problem?.errors || []).some((e) => e?.field === field);

async function problemOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch { /* not JSON: keep the status alone */ }
  return new ProblemError(res.status, body, Number(res.headers.get('Retry-After')));
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

/** Only absolute http(s) URLs and same-site paths become links (no javascript: or data:). */
function safeUrl(url) {
  if (typeof url !== 'string' || url === '') return null;
  try {
    if (url.startsWith('/')) {
      // A path of the host page's site, resolved as the browser will resolve it (which drops
      // tabs and reads a backslash as a slash): one that lands on another origin is no path.
      const u = new URL(url, location.href);
      return u.origin === location.origin ? u.href : null;
    }
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

const RELATIVE_UNITS = [
  ['year', 365 * 86400], ['month', 30 * 86400], ['week', 7 * 86400],
  ['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1],
];
let relativeFormat = null;
function relativeTime(iso, now = Date.now()) {
  if (!relativeFormat) {
    try {
      relativeFormat = new Intl.RelativeTimeFormat(document.documentElement.lang || undefined, { numeric: 'auto' });
    } catch { // a lang attribute that is no language tag (en_US): the browser's own language
      relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
    }
  }
  const seconds = (Date.parse(iso) - now) / 1000;
  if (Math.abs(seconds) < 45) return relativeFormat.format(0, 'second'); // "now"
  for (const [unit, size] of RELATIVE_UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') return relativeFormat.format(Math.round(seconds / size), unit);
  }
  return '';
}

const byNewest = (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt);

class NotifyInbox extends HTMLElement {
  static get observedAttributes() { return ['server', 'recipient', 'page-size']; }

  #getToken = null;
  #lastToken = null;        // what getToken last gave: for a request that cannot wait for it
  #run = null;              // the state of the current run; a restart replaces it
  #restartQueued = false;
  #open = false;
  #unread = 0;
  #observer = null;         // IntersectionObserver of the paging sentinel
  #clock = 0;               // interval refreshing the relative times
  #dom;                     // shadow DOM references

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.append(TEMPLATE.content.cloneNode(true));
    const $ = (sel) => root.querySelector(sel);
    this.#dom = {
      bell: $('.bell'), badge: $('.badge'), panel: $('.panel'), markAll: $('.mark-all'),
      status: $('.status'), scroller: $('.scroller'), list: $('.list'), empty: $('.empty'),
      sentinel: $('.sentinel'),
    };
    this.#dom.bell.addEventListener('click', () => this.toggle());
    this.#dom.markAll.addEventListener('click', () => this.#markAllRead());
    root.addEventListener('keydown', (e) => this.#onKeydown(e));
  }

  get getToken() { return this.#getToken; }
  set getToken(fn) {
    this.#getToken = typeof fn === 'function' ? fn : null;
    this.#queueRestart();
  }

  connectedCallback() {
    // A page may set getToken before this module defined the element: take that value over.
    if (Object.prototype.hasOwnProperty.call(this, 'getToken')) {
      const fn = this.getToken;
      delete this.getToken;
      this.getToken = fn;
    }
    document.addEventListener('click', this.#onDocumentClick);
    this.#observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.#loadMore();
    }, { root: this.#dom.scroller, rootMargin: '0px 0px 160px 0px' });
    this.#observer.observe(this.#dom.sentinel);
    this.#clock = setInterval(() => this.#open && this.#refreshTimes(), 30000);
    window.addEventListener('online', this.#onOnline);
    this.#queueRestart();
  }

  disconnectedCallback() {
    this.#stop();
    document.removeEventListener('click', this.#onDocumentClick);
    this.#observer?.disconnect();
    this.#observer = null;
    clearInterval(this.#clock);
    window.removeEventListener('online', this.#onOnline);
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue !== newValue) this.#queueRestart();
  }

  open() {
    if (this.#open) return;
    this.#open = true;
    this.#dom.panel.hidden = false;
    this.#dom.bell.setAttribute('aria-expanded', 'true');
    this.#refreshTimes();
    // Focus the roving item, else the panel itself.
    (this.#dom.list.querySelector('.item[tabindex="0"]') || this.#dom.list.querySelector('.item') || this.#dom.panel).focus();
    if (this.#run?.loaded) this.#markSeen(this.#run);
  }

  close({ focusBell = false } = {}) {
    if (!this.#open) return;
    this.#open = false;
    this.#dom.panel.hidden = true;
    this.#dom.bell.setAttribute('aria-expanded', 'false');
    if (focusBell) this.#dom.bell.focus();
  }

  toggle() { this.#open ? this.close() : this.open(); }

  #onDocumentClick = (e) => {
    if (this.#open && !e.composedPath().includes(this)) this.close();
  };

  /** Back online: reconnect now instead of at the end of the backoff. */
  #onOnline = () => {
    const run = this.#run;
    if (!run || run.es || !run.retryTimer) return;
    clearTimeout(run.retryTimer);
    run.retryTimer = 0;
    run.backoff = BACKOFF_MIN_MS;
    this.#connect(run);
  };

  // ---- lifecycle of a run ------------------------------------------------------------

  /** Several attribute or property changes in one task restart once. */
  #queueRestart() {
    if (!this.isConnected || this.#restartQueued) return;
    this.#restartQueued = true;
    queueMicrotask(() => {
      this.#restartQueued = false;
      if (this.isConnected) this.#start();
    });
  }

  #start() {
    this.#stop();
    const server = (this.getAttribute('server') || SCRIPT_ORIGIN).replace(/\/+$/, '');
    const recipient = this.getAttribute('recipient') || '';
    const size = parseInt(this.getAttribute('page-size'), 10);
    const run = {
      server, recipient,
      base: `${server}/v1/recipients/${encodeURIComponent(recipient)}`,
      pageSize: size >= 1 && size <= 100 ? size : 20,
      abort: new AbortController(), // cancels this run's requests
      es: null, opened: false, failed: false,
      retryTimer: 0, pageTimer: 0, seenTimer: 0, backoff: BACKOFF_MIN_MS, pageAttempts: 0,
      lastId: null,                 // the last stream frame id (log position) seen
      loaded: false, loading: false, paging: false, cursor: null,
      buffer: [],                   // stream events that arrived before the first page
      pageBuffer: [],               // stream events that arrived while a later page loads
      items: [],                    // notifications shown, newest first
      nodes: new Map(),             // id -> <li>
      unarchiving: new Map(),       // id -> token of the GET in flight
    };
    this.#run = run;
    this.#dom.list.replaceChildren();
    this.#dom.empty.hidden = true;
    this.#setUnread(0);
    this.#setStatus('');
    if (!recipient) {
      this.#setState('offline');
      this.#setStatus('No recipient: set the recipient attribute.', true);
      return;
    }
    this.#connect(run);
  }

  #stop() {
    const run = this.#run;
    if (!run) return;
    this.#run = null;
    run.abort.abort();
    run.es?.close();
    clearTimeout(run.retryTimer);
    clearTimeout(run.pageTimer);
    clearTimeout(run.seenTimer);
  }

  #alive(run) { return this.#run === run; }

  // ---- live stream ---------------------------------------------------------------------

  async #connect(run) {
    // "connecting" for a fresh start; after a failure it stays "offline" until a stream opens.
    if (!run.failed) this.#setState('connecting');
    let token;
    try {
      token = await this.#token();
    } catch (err) {
      if (!this.#alive(run)) return;
      this.#setStatus(`Could not get a token: ${err?.message || err}`, true);
      this.#reconnectLater(run);
      return;
    }
    if (!this.#alive(run)) return;
    const url = new URL(`${run.base}/stream`);
    // EventSource cannot send headers: the token goes in the query (RFC 6750 §2.3).
    if (token) url.searchParams.set('access_token', token);
    if (run.lastId !== null) url.searchParams.set('lastEventId', String(run.lastId));
    const es = new EventSource(url);
    run.es = es;
    run.opened = false;
    es.onopen = () => {
      if (run.es !== es) return;
      run.opened = true;
      run.failed = false;
      run.backoff = BACKOFF_MIN_MS;
      this.#setState('live');
      if (this.#dom.status.dataset.source === 'stream') this.#setStatus('');
    };
    es.onerror = () => this.#streamFailed(run, es, url);
    const onFrame = (e) => this.#onFrame(run, es, e);
    es.addEventListener('counts', onFrame);
    for (const type of STREAM_EVENTS) es.addEventListener(type, onFrame);
  }

  /** Any EventSource error: close it ourselves (its own retry would reuse an old token). */
  async #streamFailed(run, es, url) {
    if (!this.#alive(run) || run.es !== es) return;
    es.close();
    run.es = null;
    run.failed = true;
    this.#setState('offline');
    let minDelay = 0;
    if (run.opened) {
      this.#setStatus('Connection lost; reconnecting…', true, 'stream');
    } else {
      // EventSource hides why a connection was refused: ask once more with fetch.
      const err = await this.#probe(run, url);
      if (!this.#alive(run)) return;
      if (unknownPosition(err, 'lastEventId')) {
        // The position we resume from is unknown to the service (a wiped or another store).
        this.#start();
        return;
      }
      if (err) this.#setStatus(err.message, true, 'stream');
      // fetch sees a refused CORS check as a network error, as it sees an unreachable host.
      else this.#setStatus('Cannot reach the service (or it does not allow this page\'s origin: --cors-origins); reconnecting…', true, 'stream');
      if (err?.retryAfter > 0) minDelay = err.retryAfter * 1000;
    }
    this.#reconnectLater(run, minDelay);
  }

  /** Requests the stream URL with fetch to learn the status; null when it opened or the network failed. */
  async #probe(run, url) {
    const ctl = new AbortController();
    const stop = () => ctl.abort();
    run.abort.signal.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(stop, 5000);
    try {
      const res = await fetch(url, { headers: { Accept: 'text/event-stream' }, signal: ctl.signal });
      if (res.ok) return null;
      return await problemOf(res);
    } catch {
      return null;
    } finally {
      ctl.abort(); // an answer that did open a stream is left at once
      clearTimeout(timer);
      run.abort.signal.removeEventListener('abort', stop);
    }
  }

  #reconnectLater(run, minDelay = 0) {
    // Exponential backoff, 1 s doubling to 30 s, ±20 % jitter so clients do not return in step.
    const delay = Math.max(minDelay, Math.min(BACKOFF_MAX_MS, run.backoff * (0.8 + Math.random() * 0.4)));
    run.backoff = Math.min(run.backoff * 2, BACKOFF_MAX_MS);
    clearTimeout(run.retryTimer);
    run.retryTimer = setTimeout(() => {
      run.retryTimer = 0;
      this.#connect(run);
    }, delay);
  }

  #onFrame(run, es, e) {
    if (!this.#alive(run) || run.es !== es) return;
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    // A resumed stream's opening counts frame has no id of its own (lastEventId is "").
    const id = e.lastEventId === '' ? null : Number(e.lastEventId);
    if (e.type === 'counts') {
      // (A fresh stream's opening counts always has an id; its position is the fallback.)
      const complete = id ?? (run.lastId === null ? data.position : null);
      if (complete != null && (run.lastId === null || complete > run.lastId)) run.lastId = complete;
      this.#setUnread(data.unread);
      // The first counts frame's id is where the stream is complete: load the page from there.
      if (!run.loaded && !run.loading && !run.pageTimer && run.lastId !== null) this.#loadFirstPage(run, run.lastId);
      return;
    }
    const position = id ?? data.position;
    if (run.lastId !== null && position <= run.lastId) return; // already applied
    run.lastId = position;
    if (run.loaded) this.#apply(run, e.type, data);
    else run.buffer.push([e.type, data]);
    // A later page in flight may hold this notification as it was before: applied again
    // once the page is shown (every event is idempotent).
    if (run.paging) run.pageBuffer.push([e.type, data]);
  }

  /** Applies one stream event to the list; every case is idempotent. */
  #apply(run, type, d) {
    const id = d.notificationId;
    switch (type) {
      case 'notification.sent':
        this.#insert(run, {
          id, recipientId: d.recipientId, content: d.content, category: d.category,
          status: 'sent', readAt: null, canceledAt: null, seenAt: null, createdAt: d.sentAt,
          title: d.title, actionUrl: d.actionUrl, actions: d.actions, tags: d.tags,
        });
        if (this.#open) this.#markSeenSoon(run); // shown in an open panel: seen
        break;
      case 'notification.read':
        this.#patch(run, id, (n) => ({ status: 'read', readAt: d.readAt, seenAt: n.seenAt || d.readAt }));
        break;
      case 'notification.unread':
        this.#patch(run, id, () => ({ status: 'sent', readAt: null }));
        break;
      case 'notification.seen':
        this.#patch(run, id, () => ({ seenAt: d.seenAt }));
        break;
      case 'notification.canceled':
        this.#patch(run, id, () => ({ status: 'canceled', canceledAt: d.canceledAt }));
        break;
      case 'notification.archived':
        run.unarchiving.delete(id); // an unarchive in flight is overtaken
        this.#remove(run, id);
        break;
      case 'notification.unarchived':
        this.#fetchUnarchived(run, id);
        break;
    }
  }

  async #fetchUnarchived(run, id) {
    const token = {};
    run.unarchiving.set(id, token);
    try {
      const n = await this.#request(run, 'GET', `${run.server}/v1/notifications/${encodeURIComponent(id)}`);
      if (!this.#alive(run) || run.unarchiving.get(id) !== token || n.archivedAt) return;
      // Older than everything shown while more pages remain: paging will bring it in place.
      const oldest = run.items[run.items.length - 1];
      if (run.cursor && oldest && byNewest(oldest, n) < 0) return;
      this.#insert(run, n);
    } catch (err) {
      if (this.#alive(run)) this.#setStatus(err.message, true);
    } finally {
      if (run.unarchiving.get(id) === token) run.unarchiving.delete(id);
    }
  }

  // ---- pages ---------------------------------------------------------------------------

  async #loadFirstPage(run, minPosition) {
    run.loading = true;
    run.pageTimer = 0;
    if (!run.items.length) this.#setStatus('Loading…');
    try {
      const page = await this.#fetchPage(run, null, minPosition);
      if (!this.#alive(run)) return;
      this.#addPage(run, page);
      run.loaded = true;
      run.pageAttempts = 0;
      const buffered = run.buffer;
      run.buffer = [];
      for (const [type, data] of buffered) this.#apply(run, type, data);
      if (this.#dom.status.dataset.source !== 'stream') this.#setStatus('');
      if (this.#open) this.#markSeen(run);
    } catch (err) {
      if (!this.#alive(run)) return;
      if (unknownPosition(err, 'minPosition')) {
        this.#start(); // the position is unknown to this service: start over
        return;
      }
      this.#setStatus(err.message, true);
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** run.pageAttempts++);
      run.pageTimer = setTimeout(() => this.#loadFirstPage(run, minPosition), delay);
    } finally {
      run.loading = false;
      if (this.#alive(run)) this.#updateEmpty(run);
    }
  }

  async #loadMore() {
    const run = this.#run;
    if (!run || !run.loaded || !run.cursor || run.paging) return;
    run.paging = true;
    run.pageBuffer = [];
    try {
      // At least as new as the stream so far: the page cannot undo what the list shows.
      const page = await this.#fetchPage(run, run.cursor, run.lastId);
      if (!this.#alive(run)) return;
      this.#addPage(run, page);
      for (const [type, data] of run.pageBuffer) this.#apply(run, type, data);
      if (this.#open) this.#markSeen(run);
    } catch (err) {
      if (this.#alive(run)) this.#setStatus(err.message, true);
      return;
    } finally {
      run.paging = false;
      run.pageBuffer = [];
    }
    // Observing again reports the sentinel's current state: a short page that left it in
    // view loads the next one (IntersectionObserver only reports changes).
    if (this.#observer && run.cursor) {
      this.#observer.unobserve(this.#dom.sentinel);
      this.#observer.observe(this.#dom.sentinel);
    }
  }

  #fetchPage(run, cursor, minPosition) {
    const q = new URLSearchParams({ limit: String(run.pageSize) });
    if (cursor) q.set('cursor', cursor);
    if (minPosition != null) q.set('minPosition', String(minPosition));
    return this.#request(run, 'GET', `${run.base}/notifications?${q}`);
  }

  #addPage(run, page) {
    run.cursor = page.nextCursor || null;
    for (const n of page.notifications || []) {
      if (run.nodes.has(n.id)) continue; // a notification is never shown twice
      run.items.push(n);
      const li = this.#createItem(run, n);
      run.nodes.set(n.id, li);
      this.#dom.list.append(li);
    }
    this.#ensureRovingItem();
    this.#updateEmpty(run);
  }

  // ---- HTTP ----------------------------------------------------------------------------

  async #token() {
    const fn = this.#getToken;
    if (!fn) return null;
    this.#lastToken = (await fn()) || null;
    return this.#lastToken;
  }

  /**
   * One request with the current token. A 401 asks getToken once more and retries once;
   * a GET answered 503 or 429 is retried after Retry-After, at most three times.
   */
  async #request(run, method, url, body, { keepalive = false } = {}) {
    for (let attempt = 0, refreshed = false; ; attempt++) {
      const token = await this.#token();
      const headers = { Accept: 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(url, {
        method, headers, keepalive,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: keepalive ? undefined : run.abort.signal, // a keepalive request may outlive us
      });
      if (res.ok) return res.status === 204 ? null : res.json();
      const err = await problemOf(res);
      if (res.status === 401 && !refreshed && this.#getToken) {
        refreshed = true;
        continue;
      }
      if ((res.status === 503 || res.status === 429) && method === 'GET' && attempt < 3) {
        await sleep((err.retryAfter > 0 ? err.retryAfter : 1) * 1000, run.abort.signal);
        continue;
      }
      throw err;
    }
  }

  /** POST /v1/notifications/{id}/{action}; updates the item at once when it succeeds. */
  async #command(run, n, action, patch, opts) {
    try {
      await this.#request(run, 'POST', `${run.server}/v1/notifications/${encodeURIComponent(n.id)}/${action}`, undefined, opts);
      if (!this.#alive(run)) return;
      if (action === 'archive') this.#remove(run, n.id);
      else this.#patch(run, n.id, () => patch);
      if (this.#dom.status.dataset.source !== 'stream') this.#setStatus(''); // an earlier error is over
    } catch (err) {
      if (this.#alive(run) && err.name !== 'AbortError') this.#setStatus(err.message, true);
    }
  }

  async #markAllRead() {
    const run = this.#run;
    if (!run) return;
    this.#dom.markAll.disabled = true;
    // Only those unread when asked: one arriving meanwhile may be newer than the read-all
    // (its read, if it was one of them, comes over the stream).
    const asked = run.items.filter((n) => n.status === 'sent').map((n) => n.id);
    try {
      const res = await this.#request(run, 'POST', `${run.base}/notifications/read-all`);
      if (!this.#alive(run)) return;
      const now = new Date().toISOString();
      for (const id of asked) {
        this.#patch(run, id, (n) => (n.status === 'sent' ? { status: 'read', readAt: now, seenAt: n.seenAt || now } : {}));
      }
      this.#setStatus(res.read === 1 ? '1 notification marked as read.' : `${res.read} notifications marked as read.`);
    } catch (err) {
      if (this.#alive(run)) this.#setStatus(err.message, true);
    } finally {
      if (this.#alive(run)) this.#updateEmpty(run); // disabled again when nothing is unread
    }
  }

  /** Marks seen what an open panel shows, once per burst of arrivals (one bulk request). */
  #markSeenSoon(run) {
    if (run.seenTimer) return;
    run.seenTimer = setTimeout(() => {
      run.seenTimer = 0;
      if (this.#alive(run) && this.#open) this.#markSeen(run);
    }, 250);
  }

  /** Marks the shown unseen notifications seen, in one bulk request. */
  async #markSeen(run) {
    const unseen = run.items.filter((n) => !n.seenAt && n.status !== 'canceled').slice(0, BULK_MAX_IDS);
    if (!unseen.length) return;
    const now = new Date().toISOString();
    for (const n of unseen) this.#patch(run, n.id, () => ({ seenAt: now })); // not asked twice
    try {
      await this.#request(run, 'POST', `${run.base}/notifications/bulk`, { action: 'seen', ids: unseen.map((n) => n.id) });
    } catch (err) {
      if (!this.#alive(run)) return;
      // Undo only what it set: a seen or read event that came meanwhile stands.
      for (const n of unseen) this.#patch(run, n.id, (cur) => (cur.seenAt === now && cur.status !== 'read' ? { seenAt: null } : {}));
      this.#setStatus(err.message, true);
    }
  }

  // ---- list rendering --------------------------------------------------------------------

  /** Inserts a notification in createdAt order (newest first), unless it is shown already. */
  #insert(run, n) {
    if (run.nodes.has(n.id)) return;
    let i = 0;
    while (i < run.items.length && byNewest(run.items[i], n) <= 0) i++;
    run.items.splice(i, 0, n);
    const li = this.#createItem(run, n);
    run.nodes.set(n.id, li);
    this.#dom.list.insertBefore(li, this.#dom.list.children[i] || null);
    this.#ensureRovingItem();
    this.#updateEmpty(run);
  }

  /** Applies change(n) to a shown notification; notifications not shown are ignored. */
  #patch(run, id, change) {
    const i = run.items.findIndex((n) => n.id === id);
    if (i < 0) return;
    const n = { ...run.items[i], ...change(run.items[i]) };
    run.items[i] = n;
    this.#updateItem(run.nodes.get(id), n);
  }

  #remove(run, id) {
    const li = run.nodes.get(id);
    if (!li) return;
    const hadFocus = li.matches(':focus-within');
    const next = li.nextElementSibling || li.previousElementSibling;
    run.items = run.items.filter((n) => n.id !== id);
    run.nodes.delete(id);
    li.remove();
    this.#ensureRovingItem();
    if (hadFocus) (next || this.#dom.panel).focus();
    this.#updateEmpty(run);
  }

  #createItem(run, n) {
    const el = (tag, cls, part, text) => {
      const e = document.createElement(tag);
      if (cls) e.className = cls;
      if (part) e.setAttribute('part', part);
      if (text != null) e.textContent = text;
      return e;
    };
    const li = el('li', 'item', 'item');
    li.setAttribute('role', 'listitem');
    li.tabIndex = -1;
    li.dataset.id = n.id;
    li.append(el('span', 'dot'));
    li.lastChild.setAttribute('aria-hidden', 'true');

    // The body is a link when there is a safe actionUrl: Enter works, and so does "open in
    // a new tab"; a plain click goes through the cancelable navigate event.
    const href = safeUrl(n.actionUrl);
    const body = el(href ? 'a' : 'div', 'body');
    if (href) {
      body.href = href;
      body.addEventListener('click', (e) => this.#onItemClick(e, n.id, href));
      body.addEventListener('auxclick', (e) => { if (e.button === 1) this.#readOnFollow(n.id); }); // middle click: a new tab
      body.rel = 'noopener noreferrer';
    }
    body.append(el('span', 'sr unread-label', null, 'Unread: '));
    if (n.title) body.append(el('span', 'title', 'item-title', n.title));
    body.append(el('span', 'content', 'item-content', n.content));
    const meta = el('span', 'meta');
    const time = el('time', null, 'item-time');
    time.dateTime = n.createdAt;
    time.title = new Date(n.createdAt).toLocaleString();
    meta.append(time, el('span', 'canceled-label', null, 'Canceled'));
    body.append(meta);
    li.append(body);

    const actions = (Array.isArray(n.actions) ? n.actions : [])
      .map((a) => [a?.label, safeUrl(a?.url)]).filter(([label, url]) => label && url);
    if (actions.length) {
      const links = el('div', 'links');
      for (const [label, url] of actions) {
        const a = el('a', 'action', 'action', label);
        a.href = url;
        a.rel = 'noopener noreferrer';
        a.addEventListener('click', () => this.#readOnFollow(n.id)); // a plain link otherwise
        a.addEventListener('auxclick', (e) => { if (e.button === 1) this.#readOnFollow(n.id); });
        links.append(a);
      }
      li.append(links);
    }

    const controls = el('div', 'controls');
    const toggle = el('button', 'link toggle-read', 'toggle-read');
    toggle.type = 'button';
    toggle.addEventListener('click', () => {
      const cur = run.items.find((x) => x.id === n.id);
      if (!cur || cur.status === 'canceled') return;
      const now = new Date().toISOString();
      if (cur.status === 'sent') this.#command(run, cur, 'read', { status: 'read', readAt: now, seenAt: cur.seenAt || now });
      else this.#command(run, cur, 'unread', { status: 'sent', readAt: null });
    });
    const archive = el('button', 'link archive', 'archive', 'Archive');
    archive.type = 'button';
    archive.setAttribute('aria-label', n.title ? `Archive: ${n.title}` : 'Archive');
    archive.addEventListener('click', () => {
      const cur = run.items.find((x) => x.id === n.id);
      if (cur) this.#command(run, cur, 'archive');
    });
    controls.append(toggle, archive);
    li.append(controls);

    this.#updateItem(li, n);
    return li;
  }

  /** Reflects the parts of a notification that change: status, seen, the time. */
  #updateItem(li, n) {
    if (!li) return;
    li.dataset.status = n.status;
    li.dataset.seen = n.seenAt || n.status === 'read' ? 'true' : 'false';
    li.querySelector('.unread-label').hidden = n.status !== 'sent';
    li.querySelector('.canceled-label').hidden = n.status !== 'canceled';
    const toggle = li.querySelector('.toggle-read');
    toggle.hidden = n.status === 'canceled';
    const label = n.status === 'sent' ? 'Mark as read' : 'Mark as unread';
    toggle.textContent = label;
    toggle.setAttribute('aria-label', label);
    li.querySelector('time').textContent = relativeTime(n.createdAt);
  }

  #refreshTimes() {
    const now = Date.now();
    for (const t of this.#dom.list.querySelectorAll('time')) t.textContent = relativeTime(t.dateTime, now);
  }

  #updateEmpty(run) {
    this.#dom.empty.hidden = !(run.loaded && run.items.length === 0);
    this.#dom.markAll.disabled = !run.items.some((n) => n.status === 'sent') && this.#unread === 0;
  }

  /**
   * Following a notification's link reads it. The request is issued now, in the click's task,
   * with the token getToken last gave and keepalive, so it is sent even when the page
   * navigates away at once (asking getToken first would wait for it, and the page would be
   * gone). If that token is refused and the page is still here, the read is retried the usual
   * way, with a fresh token.
   */
  #readOnFollow(id) {
    const run = this.#run;
    const n = run?.items.find((x) => x.id === id);
    if (!n || n.status !== 'sent') return n;
    const now = new Date().toISOString();
    const patch = { status: 'read', readAt: now, seenAt: n.seenAt || now };
    const headers = { Accept: 'application/json' };
    if (this.#lastToken) headers.Authorization = `Bearer ${this.#lastToken}`;
    fetch(`${run.server}/v1/notifications/${encodeURIComponent(n.id)}/read`, { method: 'POST', headers, keepalive: true })
      .then(async (res) => {
        if (!this.#alive(run)) return;
        if (res.ok) this.#patch(run, n.id, () => patch);
        else if (res.status === 401 && this.#getToken) this.#command(run, n, 'read', patch);
        else this.#setStatus((await problemOf(res)).message, true);
      })
      .catch((err) => { if (this.#alive(run)) this.#setStatus(err.message, true); });
    return n;
  }

  #onItemClick(e, id, href) {
    const n = this.#readOnFollow(id);
    if (!n) return;
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return; // new tab or window: the browser's
    e.preventDefault();
    const event = new CustomEvent('notify-inbox:navigate', {
      detail: { url: n.actionUrl, notification: structuredClone(n) },
      bubbles: true, composed: true, cancelable: true,
    });
    if (this.dispatchEvent(event)) location.assign(href);
  }

  // ---- keyboard ------------------------------------------------------------------------

  #onKeydown(e) {
    if (e.key === 'Escape' && this.#open) {
      e.preventDefault();
      this.close({ focusBell: true });
      return;
    }
    // Up/Down/Home/End move between items (a roving tabindex: one item is in the tab order).
    const items = [...this.#dom.list.children];
    const current = e.composedPath().find((x) => x instanceof HTMLElement && x.classList.contains('item'));
    if (!current || !items.length) return;
    const i = items.indexOf(current);
    const target = { ArrowDown: items[i + 1], ArrowUp: items[i - 1], Home: items[0], End: items[items.length - 1] }[e.key];
    if (e.key in { ArrowDown: 1, ArrowUp: 1, Home: 1, End: 1 }) e.preventDefault();
    if (target) {
      this.#setRoving(target);
      target.focus();
    }
  }

  #setRoving(item) {
    for (const li of this.#dom.list.children) li.tabIndex = li === item ? 0 : -1;
  }

  #ensureRovingItem() {
    const list = this.#dom.list;
    if (list.children.length && !list.querySelector('.item[tabindex="0"]')) this.#setRoving(list.firstElementChild);
  }

  // ---- host state ------------------------------------------------------------------------

  #setState(state) {
    if (this.getAttribute('state') !== state) this.setAttribute('state', state);
  }

  #setUnread(count) {
    const n = Number.isFinite(count) && count > 0 ? Math.floor(count) : 0;
    this.#unread = n;
    this.setAttribute('unread', String(n));
    this.#dom.badge.hidden = n === 0;
    this.#dom.badge.textContent = n > 99 ? '99+' : String(n);
    this.#dom.bell.setAttribute('aria-label', n ? `Notifications, ${n} unread` : 'Notifications, none unread');
    if (this.#run) this.#updateEmpty(this.#run);
  }

  /** The status line; source "stream" marks messages the stream's recovery clears. */
  #setStatus(text, isError = false, source = '') {
    const s = this.#dom.status;
    s.textContent = text;
    s.classList.toggle('error', Boolean(text) && isError);
    s.dataset.source = text ? source : '';
  }
}

if (!customElements.get('notify-inbox')) customElements.define('notify-inbox', NotifyInbox);

export { NotifyInbox };
