// The chat page. The workflow's snapshot is the truth; stream events fill in the turn being answered.
// Rules for live text: a turn's text is kept per (step, message) so that ATTEMPT_STARTED for a step
// drops what an abandoned attempt streamed; RUN_FINISHED carries the final reply and replaces it.
'use strict';

const $ = (id) => document.getElementById(id);

const state = {
  sessionId: null,
  socket: null,
  lastEventId: null,
  turns: [],          // from the latest snapshot: {number, message_id, user_text, status, reply}
  live: new Map(),    // turn number -> {parts: Map(key -> {step, text}), status, reply}
  pending: new Map(), // message id -> text, until a snapshot holds it
  status: '',
  retryMs: 250,
  refreshTimer: null,
};

function uuid() {
  return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
}

// Sign-in: a token arrives once in the URL fragment (never sent to the server in a URL path or
// logged), then lives in localStorage.
function takeHashParams() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get('token')) localStorage.setItem('durable-chat-token', params.get('token'));
  params.delete('token');
  history.replaceState(null, '', params.toString() ? `#${params}` : location.pathname);
  return params;
}

function token() { return localStorage.getItem('durable-chat-token'); }

function showSignIn(message) {
  $('signin').hidden = false;
  $('signin-message').textContent = message || '';
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token()}`, ...(options.headers || {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) showSignIn('Your sign-in expired or is invalid.');
  if (!response.ok) throw new Error(typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail || response.statusText));
  return body;
}

async function loadSessions() {
  const sessions = await api('/sessions');
  const list = $('sessions');
  list.replaceChildren();
  for (const s of sessions) {
    const item = document.createElement('li');
    item.textContent = s.title || '(new chat)';
    item.dataset.sessionId = s.session_id;
    item.title = s.status;
    if (s.session_id === state.sessionId) item.classList.add('active');
    item.onclick = () => openSession(s.session_id);
    list.append(item);
  }
}

function liveTurn(number) {
  if (!state.live.has(number)) state.live.set(number, { parts: new Map(), status: 'running', reply: null });
  return state.live.get(number);
}

function applySnapshot(session) {
  state.turns = session.turns;
  state.status = session.status;
  $('title').textContent = session.title || 'New chat';
  for (const turn of session.turns) {
    state.pending.delete(turn.message_id);
    if (turn.status === 'done' || turn.status === 'failed') state.live.delete(turn.number);
  }
}

function scheduleRefresh() {
  // A turn we have no user text for: fetch the snapshot (REST) to learn it.
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(async () => {
    state.refreshTimer = null;
    try { applySnapshot(await api(`/sessions/${state.sessionId}`)); render(); } catch (e) { /* next event retries */ }
  }, 50);
}

function applyEvent(frame) {
  const turn = liveTurn(frame.turn);
  switch (frame.type) {
    case 'ATTEMPT_STARTED':
      for (const [key, part] of turn.parts) if (part.step === frame.step) turn.parts.delete(key);
      break;
    case 'TEXT_MESSAGE_CONTENT': {
      const key = `${frame.step}/${frame.attempt}/${frame.messageId}`;
      if (!turn.parts.has(key)) turn.parts.set(key, { step: frame.step, text: '' });
      turn.parts.get(key).text += frame.delta;
      break;
    }
    case 'RUN_FINISHED':
      turn.status = 'done'; turn.reply = frame.result ?? null; break;
    case 'RUN_ERROR':
      turn.status = 'failed'; turn.reply = frame.message ?? 'error'; break;
    default:
      break;
  }
  if (!state.turns.some((t) => t.number === frame.turn) || turn.status !== 'running') scheduleRefresh();
}

function turnText(number, fallback) {
  const live = state.live.get(number);
  if (!live) return fallback;
  if (live.reply !== null) return live.reply;
  return [...live.parts.values()].map((p) => p.text).join('');
}

function bubble(cls, text) {
  const el = document.createElement('div');
  el.className = cls;
  el.textContent = text;
  return el;
}

function render() {
  const list = $('turns');
  list.replaceChildren();
  for (const turn of state.turns) {
    const item = document.createElement('li');
    item.dataset.turn = turn.number;
    item.append(bubble('user', turn.user_text));
    const done = turn.status === 'done' || turn.status === 'failed';
    const text = done ? turn.reply : turnText(turn.number, '');
    const status = done ? turn.status : (state.live.get(turn.number)?.status ?? turn.status);
    if (text || status !== 'queued') {
      const reply = bubble(`assistant ${status}`, text || '…');
      reply.dataset.status = status;
      item.append(reply);
    }
    list.append(item);
  }
  for (const [id, text] of state.pending) {
    const item = document.createElement('li');
    item.className = 'pending';
    item.dataset.messageId = id;
    item.append(bubble('user', text));
    list.append(item);
  }
  const running = state.turns.some((t) => t.status === 'running' || t.status === 'queued');
  $('status').textContent = running ? 'thinking…' : state.status;
  list.scrollTop = list.scrollHeight;
}

function connect() {
  if (!state.sessionId) return;
  const sessionId = state.sessionId;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = new URLSearchParams({ token: token() || '' });
  if (state.lastEventId) query.set('after', state.lastEventId);
  const socket = new WebSocket(`${proto}://${location.host}/ws/sessions/${sessionId}?${query}`);
  state.socket = socket;
  socket.onopen = () => { $('connection').textContent = ''; state.retryMs = 250; };
  socket.onmessage = (message) => {
    if (state.sessionId !== sessionId) return;
    const frame = JSON.parse(message.data);
    if (frame.type === 'SNAPSHOT') {
      state.live.clear();
      applySnapshot(frame.session);
    } else if (frame.type === 'ERROR') {
      $('error').textContent = frame.reason;
      if (frame.id) state.pending.delete(frame.id);
    } else if (frame.type === 'ACK') {
      scheduleRefresh();
    } else if (frame.event_id) {
      state.lastEventId = frame.event_id;
      applyEvent(frame);
    }
    render();
  };
  socket.onclose = (event) => {
    if (state.socket !== socket) return;
    if (event.code === 4404) { $('error').textContent = 'This session does not exist.'; return; }
    if (event.code === 4401) { showSignIn('Please sign in.'); return; }
    $('connection').textContent = 'reconnecting…';
    setTimeout(connect, state.retryMs);
    state.retryMs = Math.min(state.retryMs * 2, 5000);
  };
}

function openSession(sessionId) {
  if (state.socket) { const old = state.socket; state.socket = null; old.close(); }
  Object.assign(state, { sessionId, lastEventId: null, turns: [], status: '' });
  state.live.clear();
  state.pending.clear();
  history.replaceState(null, '', `#session=${sessionId}`);
  $('text').disabled = false;
  $('send').disabled = false;
  $('error').textContent = '';
  render();
  connect();
  loadSessions().catch(() => {});
}

async function send(text) {
  const id = uuid();
  state.pending.set(id, text);
  render();
  const frame = JSON.stringify({ type: 'message', id, text });
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(frame);
  } else {
    // Same id over REST: if the socket had delivered it after all, the workflow ignores the second.
    await api(`/sessions/${state.sessionId}/messages`, { method: 'POST', body: JSON.stringify({ id, text }) });
  }
}

$('composer').onsubmit = (event) => {
  event.preventDefault();
  const text = $('text').value;
  if (!text.trim()) return;
  $('text').value = '';
  $('error').textContent = '';
  send(text).catch((error) => { $('error').textContent = error.message; });
};
$('text').onkeydown = (event) => {
  if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); $('composer').requestSubmit(); }
};
$('new-session').onclick = async () => {
  try {
    const { session_id: sessionId } = await api('/sessions', { method: 'POST', body: '{}' });
    openSession(sessionId);
  } catch (error) { $('error').textContent = error.message; }
};

$('signin-form').onsubmit = (event) => {
  event.preventDefault();
  localStorage.setItem('durable-chat-token', $('signin-token').value.trim());
  location.reload();
};

async function start() {
  const params = takeHashParams();
  if (!token()) { showSignIn(); return; }
  try {
    const me = await api('/auth/me');
    $('me').textContent = me.username;
    $('operator-link').hidden = me.role !== 'operator';
  } catch (error) { return; }
  loadSessions().catch((error) => { $('error').textContent = error.message; });
  if (params.get('session')) openSession(params.get('session'));
}
start();
