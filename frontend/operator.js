// The operator console: every session (console-sessions.js), one watched live and read-only as its
// user sees it (DC.SessionView) with Interrupt and Cancel, the approvals of all sessions in one queue
// (console-approvals.js) and the API's live stats (console-stats.js). The watched session is in the
// URL (#session=ID), so reload and back/forward keep it.
'use strict';

const { $, api } = DC;
const SESSIONS_MS = 3000;
const APPROVALS_MS = 2000;
const STATS_MS = 5000;
const NARROW = window.matchMedia('(max-width: 900px)');

const sessions = new SessionList.SessionList();
const queue = new ApprovalQueue.ApprovalQueue({
  onCount: (count) => {
    $('approvals-count').hidden = !count;
    $('approvals-count').textContent = `${count}`;
    $('approvals-count').setAttribute('aria-label', `${count} pending`);
  },
});
const stats = new StatsPanel.StatsPanel();
let refreshSessions = () => {};
let watching = '';

const view = new DC.SessionView({
  turnsEl: $('turns'),
  statusEl: $('status'),
  titleEl: $('title'),
  errorEl: $('error'),
  connectionEl: $('connection'),
  readOnly: true,
  onChange: () => showActions(),
});

function showActions() {
  const row = sessions.find(watching);
  $('interrupt').disabled = !watching || !view.turns.some((t) => t.status === 'running' || t.status === 'queued');
  $('cancel').disabled = !watching || view.status === 'closed' || row?.status === 'deleted';
  $('unwatch').hidden = !watching;
  $('connection').hidden = !watching;
  $('watch-empty').hidden = Boolean(watching);
  const info = [row?.user_id, view.agent && `agent ${view.agent}`, view.agent && `model ${view.model || 'default'}`];
  $('session-info').textContent = info.filter(Boolean).join(' · ');
  $('session-info').hidden = !watching || !$('session-info').textContent;
}

function say(text) { $('watch-note').textContent = text; }
function report(error) { $('error').textContent = error.message; }

function watch(sessionId, { scroll = false } = {}) {
  if (sessionId === watching) return;
  watching = sessionId;
  $('error').textContent = '';
  say('');
  sessions.select(sessionId);
  if (sessionId) {
    view.open(sessionId);
    if (scroll && NARROW.matches) $('watch-panel').scrollIntoView({ block: 'start' });
  } else {
    view.clear();
    $('title').textContent = 'Pick a session';
    $('status').textContent = '';
    $('status').dataset.status = '';
  }
  showActions();
}

function fromHash() {
  // Only #session=... (or nothing) names what to watch; the section links do not.
  const hash = location.hash.slice(1);
  if (hash && !new URLSearchParams(hash).has('session')) return;
  watch(ConsoleUtil.hashSession(), { scroll: true });
}

$('unwatch').onclick = () => {
  history.pushState(null, '', location.pathname);
  watch('');
  $('sessions-panel').focus();
};

$('interrupt').onclick = async () => {
  const sessionId = watching;
  try {
    await api(`/sessions/${encodeURIComponent(sessionId)}/interrupt`, { method: 'POST', body: '{}' });
    say('Interrupted: the running reply stops where it is.');
    view.scheduleRefresh();
  } catch (error) { report(error); }
};

let cancelling = '';
$('cancel').onclick = () => {
  cancelling = watching;
  const row = sessions.find(watching);
  const what = row ? `“${row.title || '(untitled)'}” of ${row.user_id}` : 'This session';
  $('confirm-cancel-text').textContent = `${what} closes for good: a running reply stops and it takes no more messages.`;
  $('confirm-cancel').returnValue = '';
  $('confirm-cancel').showModal();
};
$('confirm-cancel').onclose = async () => {
  if ($('confirm-cancel').returnValue !== 'cancel' || !cancelling) { $('cancel').focus(); return; }
  const sessionId = cancelling;
  cancelling = '';
  try {
    await api(`/sessions/${encodeURIComponent(sessionId)}/close`, { method: 'POST' });
    say('Session cancelled.');
    if (sessionId === watching) view.scheduleRefresh();
    refreshSessions();
  } catch (error) { report(error); }
  $('interrupt').focus();
};

let userTimer = null;
$('filters').onsubmit = (event) => { event.preventDefault(); refreshSessions(); };
$('filter-status').onchange = () => refreshSessions();
$('filter-user').oninput = () => { clearTimeout(userTimer); userTimer = setTimeout(() => refreshSessions(), 300); };
$('filter-q').oninput = () => sessions.render();

// The section links move the focus too (a phone user lands in the panel, a screen reader reads it).
for (const link of document.querySelectorAll('a[data-jump]')) {
  link.onclick = (event) => {
    event.preventDefault();
    const target = $(link.getAttribute('href').slice(1));
    target.scrollIntoView({ block: 'start' });
    target.focus({ preventScroll: true });
  };
}

async function start() {
  DC.takeHashParams();
  if (!DC.token()) { DC.showSignIn(); return; }
  let me;
  try { me = await api('/auth/me'); } catch (error) { return; }
  $('me').textContent = `${me.username} (${me.role})`;
  if (me.role !== 'operator') {
    $('sessions-note').textContent = 'This console needs the operator role.';
    return;
  }
  // Names the MCP servers of live tool calls; the console works without it.
  api('/agents').then((agents) => { view.agents = agents; view.render(); }).catch(() => {});
  refreshSessions = ConsoleUtil.poll(() => sessions.load().then(showActions), SESSIONS_MS);
  ConsoleUtil.poll(() => queue.load(), APPROVALS_MS);
  ConsoleUtil.poll(() => stats.load(), STATS_MS);
  window.addEventListener('hashchange', fromHash);
  watch(ConsoleUtil.hashSession());
}
start();
