// The chat page: a user's sessions, one open at a time, messages sent over its websocket. A new
// chat is a choice of agent and model (agents.js) until its first message starts the session.
'use strict';

const { $, api, el } = DC;

let finishedTurns = 0;
let draft = null;  // the new chat's {agent, model} until its first message; null when a session is open
let starting = false;

const view = new DC.SessionView({
  turnsEl: $('turns'),
  statusEl: $('status'),
  titleEl: $('title'),
  errorEl: $('error'),
  connectionEl: $('connection'),
  onChange: (v) => {
    const finished = v.turns.filter((t) => t.status === 'done').length;
    if (finished !== finishedTurns) {  // a finished turn may have remembered or forgotten something
      finishedTurns = finished;
      loadMemories().catch(() => {});
    }
    const open = v.status !== 'closed';
    $('text').disabled = !open;
    $('send').disabled = !open || starting;
    $('interrupt').hidden = !v.turns.some((t) => t.status === 'running');
    $('close').hidden = !open || !v.sessionId;
    Agents.showSession(v);
    if (!Agents.cards().length) loadAgents();  // none yet (no worker had published them): try again
  },
});

async function loadSessions() {
  const sessions = await api('/sessions');
  const list = $('sessions');
  list.replaceChildren();
  for (const s of sessions) {
    const item = el('li', s.session_id === view.sessionId ? 'active' : '', s.title || '(new chat)');
    item.dataset.sessionId = s.session_id;
    item.title = [s.status, s.agent, s.model].filter(Boolean).join(' · ');
    item.onclick = () => openSession(s.session_id);
    list.append(item);
  }
}

async function loadMemories() {
  const memories = await api('/memories');
  const list = $('memories');
  list.replaceChildren();
  for (const memory of memories) {
    const item = el('li');
    item.dataset.memoryId = memory.id;
    const forget = el('button', 'forget', 'forget');
    forget.onclick = () => api(`/memories/${memory.id}`, { method: 'DELETE' }).then(loadMemories).catch(report);
    item.append(el('span', '', memory.text), forget);
    list.append(item);
  }
  if (!memories.length) list.append(el('li', 'empty', 'Nothing yet. Say "remember that ...".'));
}

function openSession(sessionId) {
  draft = null;
  Agents.hidePicker();
  history.replaceState(null, '', `#session=${sessionId}`);
  $('text').disabled = false;
  $('send').disabled = false;
  $('error').textContent = '';
  $('model-note').textContent = '';
  view.open(sessionId);
  Agents.showSession(view);
  loadSessions().catch(() => {});
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

function report(error) { $('error').textContent = error.message; }

async function newChat() {
  draft = { agent: '', model: '' };
  history.replaceState(null, '', location.pathname);
  view.clear();
  $('title').textContent = 'New chat';
  $('text').disabled = false;
  $('send').disabled = false;
  $('interrupt').hidden = true;
  $('close').hidden = true;
  $('error').textContent = '';
  $('model-note').textContent = '';
  Agents.showSession(view);
  Agents.hidePicker();
  loadSessions().catch(() => {});
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

async function startChat(text) {
  // The session id is chosen here, so a retried create would land on the same session.
  const sessionId = DC.randomHex(16);
  const message = { id: DC.randomHex(16), text };
  const body = { session_id: sessionId, message };
  if (draft.agent) body.agent = draft.agent;
  if (draft.model) body.model = draft.model;
  await api('/sessions', { method: 'POST', body: JSON.stringify(body) });
  openSession(sessionId);
  view.sent(message.id, text);
}

$('composer').onsubmit = (event) => {
  event.preventDefault();
  const text = $('text').value;
  if (!text.trim() || starting) return;
  $('text').value = '';
  $('error').textContent = '';
  if (!draft) { view.send(text).catch(report); return; }
  starting = true;
  $('send').disabled = true;
  startChat(text).catch((error) => {
    report(error);
    if (!$('text').value) $('text').value = text;  // not started: the text stays to send again
  }).finally(() => { starting = false; $('send').disabled = $('text').disabled; });
};
$('text').onkeydown = (event) => {
  if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); $('composer').requestSubmit(); }
};
$('new-session').onclick = () => newChat();
$('session-model').onchange = () => Agents.switchModel(view);
$('memories-refresh').onclick = () => loadMemories().catch(report);
$('memories-clear').onclick = () => {
  if (!confirm('Forget everything I remember about you, in every chat?')) return;
  api('/memories', { method: 'DELETE' }).then(loadMemories).catch(report);
};
$('interrupt').onclick = () => api(`/sessions/${view.sessionId}/interrupt`, { method: 'POST', body: '{}' }).catch(report);
$('close').onclick = () => api(`/sessions/${view.sessionId}/close`, { method: 'POST' })
  .then(() => { view.scheduleRefresh(); loadSessions(); }).catch(report);

async function start() {
  const params = DC.takeHashParams();
  if (!DC.token()) { DC.showSignIn(); return; }
  try {
    const me = await api('/auth/me');
    $('me').textContent = me.username;
    $('operator-link').hidden = me.role !== 'operator';
  } catch (error) { return; }
  loadSessions().catch(report);
  loadMemories().catch(report);
  loadAgents();
  if (params.get('session')) openSession(params.get('session'));
}
start();
