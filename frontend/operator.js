// The operator console: every session via Temporal visibility; open one to watch it live and act.
'use strict';

const { $, api, el } = DC;
const REFRESH_MS = 2000;

const view = new DC.SessionView({
  turnsEl: $('turns'),
  statusEl: $('status'),
  titleEl: $('title'),
  errorEl: $('error'),
  connectionEl: $('connection'),
  onChange: (v) => {
    $('interrupt').disabled = !v.turns.some((t) => t.status === 'running');
    $('cancel').disabled = v.status === 'closed';
    $('session-info').hidden = !v.agent;
    $('session-info').textContent = `agent ${v.agent} · model ${v.model || 'default'}`;
  },
});

function report(error) { $('error').textContent = error.message; }

async function loadSessions() {
  const query = new URLSearchParams();
  if ($('filter-status').value) query.set('status', $('filter-status').value);
  if ($('filter-user').value.trim()) query.set('user', $('filter-user').value.trim());
  const sessions = await api(`/operator/sessions?${query}`);
  const body = $('sessions');
  body.replaceChildren();
  for (const s of sessions) {
    const row = el('tr', s.session_id === view.sessionId ? 'selected' : '');
    row.dataset.sessionId = s.session_id;
    row.dataset.status = s.status;
    const link = el('a', '', 'history');
    link.href = s.temporal_ui;
    link.target = '_blank';
    const linkCell = el('td');
    linkCell.append(link);
    row.append(
      el('td', '', s.user_id), el('td', 'title', s.title || '(untitled)'), el('td', 'agent', s.agent),
      el('td', 'model', s.model), el('td', 'status', s.status), linkCell,
    );
    row.onclick = (event) => { if (event.target !== link) openSession(s.session_id); };
    body.append(row);
  }
}

function openSession(sessionId) {
  $('error').textContent = '';
  view.open(sessionId);
  loadSessions().catch(report);
}

$('filters').onsubmit = (event) => { event.preventDefault(); loadSessions().catch(report); };
$('interrupt').onclick = () => api(`/sessions/${view.sessionId}/interrupt`, { method: 'POST', body: '{}' }).catch(report);
$('cancel').onclick = () => api(`/sessions/${view.sessionId}/close`, { method: 'POST' })
  .then(() => { view.scheduleRefresh(); loadSessions(); }).catch(report);

async function start() {
  DC.takeHashParams();
  if (!DC.token()) { DC.showSignIn(); return; }
  try {
    const me = await api('/auth/me');
    $('me').textContent = `${me.username} (${me.role})`;
    if (me.role !== 'operator') { $('error').textContent = 'This console needs the operator role.'; return; }
  } catch (error) { return; }
  // Names the MCP servers of live tool calls; the console works without it.
  api('/agents').then((agents) => { view.agents = agents; view.render(); }).catch(() => {});
  await loadSessions().catch(report);
  setInterval(() => loadSessions().catch(() => {}), REFRESH_MS);
}
start();
