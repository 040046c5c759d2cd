// The list of the user's chats: newest activity first, live titles and status badges (thinking,
// awaiting approval: also for chats not open), last activity; rename inline, delete after a
// confirmation, search by title. Read again every few seconds and whenever the open chat changes.
// A chat with activity the user has not seen (a reminder came, a reply finished meanwhile) is marked
// "new" until opened: what was seen is kept per chat in localStorage, so it holds across reloads.
'use strict';

const Sessions = (() => {
  const { $, api, el, button } = DC;
  const REFRESH_MS = 4000;
  const SEARCH_DELAY_MS = 250;
  const BADGES = { thinking: 'thinking…', awaiting_approval: 'awaiting approval', closed: 'closed' };
  let items = [];
  let query = '';
  let renaming = null;  // session id whose title is being edited
  let reading = null;
  let hooks = { open: () => {}, deleted: () => {}, current: () => null, error: () => {} };
  const SEEN_KEY = 'durable-chat-seen';
  let seen = {};  // session id -> the last activity the user has seen of it

  const activity = (s) => s.last_activity || s.started_at || '';

  function loadSeen() {
    try { seen = JSON.parse(localStorage.getItem(SEEN_KEY) || '{}') || {}; } catch (error) { seen = {}; }
  }

  // Chats met for the first time count as seen (nothing to tell yet); the open one is always seen.
  function markSeen(current) {
    const kept = query.trim() ? { ...seen } : {};  // a search lists some chats: keep the others' too
    for (const s of items) {
      const open = current?.sessionId === s.session_id;
      kept[s.session_id] = open || !(s.session_id in seen) ? activity(s) : seen[s.session_id];
    }
    seen = kept;
    try { localStorage.setItem(SEEN_KEY, JSON.stringify(seen)); } catch (error) { /* private mode: kept in memory */ }
  }

  const unread = (s, current) => current?.sessionId !== s.session_id && activity(s) > (seen[s.session_id] || '');

  async function refresh() {
    const q = query.trim().slice(0, 100);
    const asked = q;
    const list = await api(q ? `/sessions?q=${encodeURIComponent(q)}` : '/sessions');
    if (asked !== query.trim().slice(0, 100)) return;  // a newer search is on its way
    // The server filters and sorts; so does this, for a server that does not (yet).
    const needle = q.toLowerCase();
    items = list.filter((s) => !needle || (s.title || '').toLowerCase().includes(needle))
      .sort((a, b) => activity(b).localeCompare(activity(a)));
    draw();
  }

  let again = false;
  function refreshSoon() {
    if (reading) { again = true; return reading; }  // read once more when this one is done
    reading = refresh().catch(() => {}).finally(() => {
      reading = null;
      if (again) { again = false; refreshSoon(); }
    });
    return reading;
  }

  function title(s, current) {
    return s.title || (current && current.sessionId === s.session_id && current.title) || 'New chat';
  }

  function entry(s, current) {
    const li = el('li', s.session_id === current?.sessionId ? 'active' : '');
    li.dataset.sessionId = s.session_id;
    li.dataset.status = s.status;
    const name = title(s, current);
    if (renaming === s.session_id) {
      li.append(renameBox(s, name));
      return li;
    }
    const open = button('session-open', undefined, undefined, () => hooks.open(s.session_id));
    if (li.className) open.setAttribute('aria-current', 'page');
    open.append(el('span', 'session-title', name));
    const meta = el('span', 'session-meta');
    if (unread(s, current)) { li.classList.add('unread'); meta.append(el('span', 'badge badge-unread', 'new')); }
    if (BADGES[s.status]) meta.append(el('span', `badge badge-${s.status}`, BADGES[s.status]));
    meta.append(el('span', 'session-time', DC.relativeTime(activity(s))));
    open.append(meta);
    open.title = [s.agent, s.model].filter(Boolean).join(' · ');
    li.append(open,
      button('session-rename icon', '✎', `rename chat: ${name}`, () => { renaming = s.session_id; draw(); }),
      button('session-delete icon', '✕', `delete chat: ${name}`, () => remove(s, name)));
    return li;
  }

  function renameBox(s, name) {
    const form = el('form', 'rename');
    const input = el('input', 'rename-input');
    input.value = name;
    input.maxLength = 100;
    input.setAttribute('aria-label', 'new title of the chat');
    const done = () => { renaming = null; draw(); focusEntry(s.session_id, 'session-open'); };
    form.onsubmit = async (event) => {
      event.preventDefault();
      const wanted = input.value.trim();
      if (!wanted || wanted === name) { done(); return; }
      try {
        const renamed = await api(`/sessions/${s.session_id}`, { method: 'PATCH', body: JSON.stringify({ title: wanted }) });
        s.title = renamed.title || wanted;
        hooks.renamed?.(s.session_id, s.title);
      } catch (error) { hooks.error(`The chat was not renamed: ${DC.explain(error)}`); }
      done();
      refreshSoon();
    };
    input.onkeydown = (event) => { if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); done(); } };
    input.onblur = () => { if (renaming === s.session_id) form.requestSubmit(); };
    form.append(input);
    setTimeout(() => { input.focus(); input.select(); });
    return form;
  }

  async function remove(s, name) {
    if (!confirm(`Delete the chat "${name}"? It is closed and leaves your list.`)) return;
    try {
      await api(`/sessions/${s.session_id}`, { method: 'DELETE' });
    } catch (error) { hooks.error(`The chat was not deleted: ${DC.explain(error)}`); return; }
    items = items.filter((i) => i.session_id !== s.session_id);
    draw();
    hooks.deleted(s.session_id);
    refreshSoon();
  }

  function focusEntry(sessionId, className) {
    $('sessions').querySelector(`li[data-session-id="${CSS.escape(sessionId)}"] .${className}`)?.focus();
  }

  function draw() {
    if (renaming && document.activeElement?.classList.contains('rename-input')) return;  // never under the user's typing
    const focused = document.activeElement?.closest?.('#sessions li');
    const focus = focused && [focused.dataset.sessionId, document.activeElement.classList[0]];
    const current = hooks.current();
    markSeen(current);
    $('sessions').replaceChildren(...items.map((s) => entry(s, current)));
    const empty = $('sessions-empty');
    empty.hidden = items.length > 0;
    empty.textContent = query.trim() ? `No chat has "${query.trim()}" in its title.` : 'No chats yet.';
    if (focus) focusEntry(...focus);
  }

  // The open chat changed (title, status): the list shows it now rather than at the next read.
  function noteOpen(view) {
    const item = items.find((s) => s.session_id === view.sessionId);
    if (!item) { if (view.sessionId) refreshSoon(); else draw(); return; }
    if ((view.title && item.title !== view.title) || (view.status && item.status !== view.status)) {
      Object.assign(item, { title: view.title || item.title, status: view.status || item.status });
      draw();
      refreshSoon();
    }
  }

  function init(given) {
    hooks = { ...hooks, ...given };
    loadSeen();
    let timer = null;
    $('search').oninput = () => {
      query = $('search').value;
      clearTimeout(timer);
      timer = setTimeout(refreshSoon, SEARCH_DELAY_MS);
    };
    setInterval(() => { if (document.visibilityState === 'visible') refreshSoon(); }, REFRESH_MS);
    return refreshSoon();
  }

  return { init, refresh: refreshSoon, draw, noteOpen, items: () => items };
})();
