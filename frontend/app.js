// The chat page: a user's sessions, one open at a time, messages sent over its websocket.
'use strict';

const { $, api, el } = DC;

let finishedTurns = 0;

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
    $('send').disabled = !open;
    $('interrupt').hidden = !v.turns.some((t) => t.status === 'running');
    $('close').hidden = !open;
  },
});

async function loadSessions() {
  const sessions = await api('/sessions');
  const list = $('sessions');
  list.replaceChildren();
  for (const s of sessions) {
    const item = el('li', s.session_id === view.sessionId ? 'active' : '', s.title || '(new chat)');
    item.dataset.sessionId = s.session_id;
    item.title = s.status;
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
  history.replaceState(null, '', `#session=${sessionId}`);
  $('text').disabled = false;
  $('send').disabled = false;
  $('error').textContent = '';
  view.open(sessionId);
  loadSessions().catch(() => {});
}

function report(error) { $('error').textContent = error.message; }

$('composer').onsubmit = (event) => {
  event.preventDefault();
  const text = $('text').value;
  if (!text.trim()) return;
  $('text').value = '';
  $('error').textContent = '';
  view.send(text).catch(report);
};
$('text').onkeydown = (event) => {
  if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); $('composer').requestSubmit(); }
};
$('new-session').onclick = async () => {
  try {
    const { session_id: sessionId } = await api('/sessions', { method: 'POST', body: '{}' });
    openSession(sessionId);
  } catch (error) { report(error); }
};
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
  if (params.get('session')) openSession(params.get('session'));
}
start();
