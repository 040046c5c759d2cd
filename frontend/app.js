// The chat page: a user's chats, one open at a time, messages sent over its websocket. The page
// opens on a new chat (a choice of agent and model, agents.js) that its first message starts. The
// URL names the open chat (#/s/<id>): reload reopens it, back and forward move between chats.
'use strict';

const { $, api, el } = DC;

let maxChars = 32000;  // the server's default until GET /limits answers; a 413's reason corrects it
let finishedTurns = 0;
let draft = { agent: '', model: '' };  // the new chat's choice until its first message; null when a chat is open
let starting = false;

const view = new DC.SessionView({
  turnsEl: $('turns'),
  statusEl: $('status'),
  titleEl: $('title'),
  errorEl: $('error'),
  connectionEl: $('connection'),
  onRender: () => showControls(),
  onRefused: (text) => { if (!$('text').value) { $('text').value = text; fitComposer(); } },
  onChange: (v) => {
    const finished = v.turns.filter((t) => t.status === 'done').length;
    if (finished !== finishedTurns) {  // a finished turn may have remembered or forgotten something
      finishedTurns = finished;
      loadMemories().catch(() => {});
    }
    showControls();
    Agents.showSession(v);
    Reminders.show(v);
    CheckIns.show(v);
    DoubleTexting.show(v);
    Sessions.noteOpen(v);
    if (!Agents.cards().length) loadAgents();  // none yet (no worker had published them): try again
  },
});

function showControls() {
  const closed = view.status === 'closed';
  $('text').disabled = closed;
  $('text').placeholder = closed ? 'This chat is closed: start a new one.' : 'Message durable-chat';
  $('send').disabled = closed || starting;
  const running = view.running();
  $('interrupt').hidden = !running;
  $('send').hidden = running && !$('text').value.trim();
  $('close').hidden = closed || !view.sessionId;
}

// --- the URL ----------------------------------------------------------------------------------

function sessionInUrl() {
  const match = /^#\/s\/([\w-]+)/.exec(location.hash);
  return match ? match[1] : new URLSearchParams(location.search).get('session');
}

function route() {
  const id = sessionInUrl();
  if (id && id !== view.sessionId) openSession(id, { push: false });
  else if (!id && view.sessionId) newChat({ push: false });
}
window.addEventListener('popstate', route);

// --- chats ------------------------------------------------------------------------------------

function openSession(sessionId, { push = true, replace = false } = {}) {
  draft = null;
  Agents.hidePicker();
  const url = `${location.pathname}#/s/${sessionId}`;
  if (replace) history.replaceState(null, '', url);
  else if (push && location.hash !== `#/s/${sessionId}`) history.pushState(null, '', url);
  $('model-note').textContent = '';
  $('policy-note').textContent = '';
  view.open(sessionId);
  showControls();
  Agents.showSession(view);
  Reminders.show(view);
  CheckIns.show(view);
  Sessions.draw();
  closeDrawer();
}

async function newChat({ push = true } = {}) {
  draft = { agent: '', model: '' };
  if (push && location.hash) history.pushState(null, '', location.pathname);
  view.clear();
  $('title').textContent = 'New chat';
  $('error').textContent = '';
  $('model-note').textContent = '';
  DoubleTexting.resetChoice();
  showControls();
  Agents.showSession(view);
  Reminders.show(view);
  CheckIns.show(view);
  Agents.hidePicker();
  Sessions.draw();
  closeDrawer();
  $('text').focus();
  try {
    await Agents.load();
  } catch (error) {
    if (draft) $('error').textContent = `The agents could not be listed: ${error.message}`;
    return;
  }
  view.agents = Agents.cards();
  if (draft) Agents.showPicker(draft);
}

let loadingAgents = null;
function loadAgents() {
  // The agents name the header's models and the MCP servers of live tool calls; without them the
  // header shows the model as text, and New chat says why it cannot list them.
  loadingAgents ??= Agents.load()
    .then((cards) => { view.agents = cards; Agents.showSession(view); view.render(); })
    .catch(() => {})
    .finally(() => { loadingAgents = null; });
  return loadingAgents;
}

function report(error) { $('error').textContent = DC.explain(error); }

async function startChat(text) {
  // The session id is chosen here, so a retried create would land on the same session.
  const sessionId = DC.randomHex(16);
  const message = { id: DC.randomHex(16), text };
  // The user's time zone: "tomorrow at 9" means 9 here, and reminders are shown in it.
  const body = { session_id: sessionId, message, timezone: Reminders.browserZone(), double_texting: DoubleTexting.choice() };
  if (draft.agent) body.agent = draft.agent;
  if (draft.model) body.model = draft.model;
  try {
    await api('/sessions', { method: 'POST', body: JSON.stringify(body) });
  } catch (error) {
    if (error.status !== 422 || !/is not a time zone/.test(error.message)) throw error;
    delete body.timezone;  // a zone the server's time zone database lacks: UTC rather than no chat
    await api('/sessions', { method: 'POST', body: JSON.stringify(body) });
  }
  openSession(sessionId, { replace: true });  // the new chat became this chat: no history entry between
  view.sent(message.id, text);
  Sessions.refresh();
}

// --- the composer -----------------------------------------------------------------------------

function fitComposer() {
  const text = $('text');
  text.style.height = 'auto';
  text.style.height = `${Math.min(text.scrollHeight + 2, 240)}px`;
  const over = text.value.length - maxChars;
  $('composer-hint').textContent = over > 0
    ? `${text.value.length.toLocaleString()} characters: ${over.toLocaleString()} over the limit of ${maxChars.toLocaleString()}.`
    : 'Enter to send, Shift+Enter for a new line, Esc stops a reply.';
  $('composer-hint').classList.toggle('over', over > 0);
  showControls();
}

function learnLimit(error) {
  const limit = /the limit is (\d+)/.exec(error.message || '');
  if (error.status === 413 && limit) maxChars = Number(limit[1]);
}

$('composer').onsubmit = (event) => {
  event.preventDefault();
  const text = $('text').value;
  if (!text.trim() || starting) return;
  if (text.length > maxChars) {
    $('error').textContent = `Not sent: this message is ${text.length.toLocaleString()} characters long and the limit is `
      + `${maxChars.toLocaleString()}. Shorten it or split it into several messages.`;
    return;
  }
  $('text').value = '';
  $('error').textContent = '';
  fitComposer();
  const restore = (error) => {
    learnLimit(error);
    report(error);
    if (!$('text').value) { $('text').value = text; fitComposer(); }  // not sent: the text stays to send again
  };
  if (!draft) { view.send(text).catch((error) => { if (error.status) restore(error); else report(error); }); return; }
  starting = true;
  showControls();
  startChat(text).catch(restore).finally(() => { starting = false; showControls(); });
};
$('text').onkeydown = (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) { event.preventDefault(); $('composer').requestSubmit(); }
};
$('text').oninput = fitComposer;

function stop() {
  if (view.sessionId && view.running()) view.interrupt().catch(report);
}
$('interrupt').onclick = stop;
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || event.defaultPrevented) return;
  if (document.body.classList.contains('drawer-open')) { closeDrawer(); $('drawer-open').focus(); return; }
  if (view.running()) { event.preventDefault(); stop(); }
});

$('new-session').onclick = () => newChat();
$('session-model').onchange = () => Agents.switchModel(view);
$('session-policy').onchange = () => DoubleTexting.change(view);
$('close').onclick = () => api(`/sessions/${view.sessionId}/close`, { method: 'POST' })
  .then(() => { view.scheduleRefresh(); Sessions.refresh(); }).catch(report);

// --- the drawer (narrow screens) --------------------------------------------------------------

function openDrawer() {
  document.body.classList.add('drawer-open');
  $('backdrop').hidden = false;
  $('drawer-open').setAttribute('aria-expanded', 'true');
  requestAnimationFrame(() => $('new-session').focus());  // once the drawer is visible (focusable)
}
function closeDrawer() {
  if (!document.body.classList.contains('drawer-open')) return;
  document.body.classList.remove('drawer-open');
  $('backdrop').hidden = true;
  $('drawer-open').setAttribute('aria-expanded', 'false');
}
$('drawer-open').onclick = openDrawer;
document.querySelector('.skip-link').onclick = (event) => { event.preventDefault(); $('text').focus(); };  // the URL's hash names chats
$('drawer-close').onclick = () => { closeDrawer(); $('drawer-open').focus(); };
$('backdrop').onclick = closeDrawer;

// --- memories ---------------------------------------------------------------------------------

async function loadMemories() {
  const memories = await api('/memories');
  const list = $('memories');
  list.replaceChildren();
  for (const memory of memories) list.append(memoryItem(memory));
  if (!memories.length) list.append(el('li', 'empty', 'Nothing yet. Say "remember that ...".'));
}

function saidOn(iso) {
  return new Date(iso).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
}

function untilTime(iso) {
  return new Date(iso).toLocaleString(undefined, {
    day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

// "Why do I remember this": the chat (and turn) it was said in, a link the page routes (#/s/<id>).
function provenance(memory) {
  const line = el('small', 'memory-said', `said ${saidOn(memory.updated_at)}`);
  if (memory.session_id) {
    const link = el('a', 'memory-why', 'why do I remember this?');
    link.href = `#/s/${memory.session_id}`;
    link.title = memory.turn ? `turn ${memory.turn} of that chat` : 'the chat it was said in';
    line.append(' · ', link);
  }
  return line;
}

const openHistories = new Set();  // kept open across the panel's refreshes

function memoryItem(memory) {
  const item = el('li');
  item.dataset.memoryId = memory.id;
  const row = el('div', 'memory-row');
  const forget = DC.button('forget', 'forget', `forget: ${memory.text}`,
    () => api(`/memories/${memory.id}`, { method: 'DELETE' }).then(loadMemories).catch(report));
  row.append(el('span', 'memory-text', memory.text), forget);
  const said = provenance(memory);
  // An expiring memory ("remember for a week that ..."): forgotten after this.
  if (memory.expires_at) said.append(el('small', 'memory-expires', ` · until ${untilTime(memory.expires_at)}`));
  item.append(row, said);
  if (memory.version > 1) {
    const versions = el('ul', 'memory-versions');
    versions.hidden = true;
    const toggle = DC.button('memory-history', 'history', `history of: ${memory.text}`, async () => {
      if (versions.hidden) {
        const found = await api(`/memories/${memory.id}`).catch(report);
        if (!found) return;
        versions.replaceChildren(...found.versions.map((v) => {
          const entry = el('li', '', v.text);
          entry.append(' ', provenance(v), el('small', 'memory-until', ` · until ${saidOn(v.valid_until)}`));
          return entry;
        }));
      }
      versions.hidden = !versions.hidden;
      if (versions.hidden) openHistories.delete(memory.id); else openHistories.add(memory.id);
      toggle.setAttribute('aria-expanded', String(!versions.hidden));
    });
    toggle.setAttribute('aria-expanded', 'false');
    const undo = DC.button('memory-undo', 'undo last change', `undo the last change of: ${memory.text}`,
      () => api(`/memories/${memory.id}/undo`, { method: 'POST' }).then(loadMemories).catch(report));
    item.append(el('div', 'memory-actions', ''), versions);
    item.querySelector('.memory-actions').append(toggle, undo);
    if (openHistories.has(memory.id)) toggle.click();
  }
  return item;
}
$('memories-refresh').onclick = () => loadMemories().catch(report);
$('memories-clear').onclick = () => {
  if (!confirm('Forget everything I remember about you, in every chat?')) return;
  api('/memories', { method: 'DELETE' }).then(loadMemories).catch(report);
};

async function start() {
  DC.takeHashParams();
  showControls();
  fitComposer();
  $('text').focus();
  if (!DC.token()) { DC.showSignIn(); return; }
  try {
    const me = await api('/auth/me');
    $('me').textContent = me.username;
    $('operator-link').hidden = me.role !== 'operator';
  } catch (error) { return; }
  api('/limits').then((limits) => { maxChars = limits.max_message_chars || maxChars; fitComposer(); }).catch(() => {});
  Sessions.init({
    open: (id) => openSession(id),
    deleted: (id) => {
      if (id !== view.sessionId) return;
      history.replaceState(null, '', location.pathname);  // back must not lead to the deleted chat
      newChat({ push: false });
    },
    current: () => view,
    renamed: (id, title) => { if (id === view.sessionId) { view.title = title; $('title').textContent = title; } },
    error: (words) => { $('error').textContent = words; },
  });
  loadMemories().catch(report);
  const id = sessionInUrl();
  if (id) openSession(id, { push: false });
  else newChat({ push: false });
}
start();
