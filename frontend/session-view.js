// DC.SessionView: one session from the workflow's snapshot (the truth) plus the live stream events,
// over its websocket; transcript.js draws it. Used by the chat page and, read-only, by the console.
// Live text rules: a turn's text is kept per (step, attempt, message) so ATTEMPT_STARTED for a step
// drops what an abandoned attempt streamed; RUN_FINISHED carries the final reply and replaces it;
// TURN_INTERRUPTED carries the text that had streamed, which stays, and nothing more of the turn is
// shown. MODEL_ERROR (a failed model request) shows under the turn until it streams text or ends.
// Tool calls are cards (tools.js): live from the TOOL_CALL_* frames, from the snapshot once finished.
// Options: turnsEl, statusEl, titleEl, errorEl, connectionEl, onChange(view), readOnly (no edit or
// regenerate; approvals still answerable), onRefused(text) (a message the server refused, to retype),
// onRender(view) (after each drawing: a running turn's controls).
'use strict';

DC.SessionView = class SessionView {
  constructor({ turnsEl, statusEl, titleEl, errorEl, connectionEl, onChange, readOnly = false, onRefused, onRender }) {
    Object.assign(this, { turnsEl, statusEl, titleEl, errorEl, connectionEl, onChange, readOnly, onRefused, onRender });
    this.sessionId = null;
    this.socket = null;
    this.agents = [];            // GET /agents, when the page has it: names the MCP server of a live tool call
    this.connection = '';        // connected | connecting | reconnecting | offline | refused
    this.reset();
    Transcript.attach(this);
    window.addEventListener('online', () => this.reconnectNow());
    window.addEventListener('offline', () => this.showConnection());
  }

  reset() {
    this.lastEventId = null;
    this.turns = [];
    this.status = '';
    Object.assign(this, { title: '', agent: '', model: '', session: null });  // session: the last snapshot
    this.live = new Map();       // turn number -> {parts, tools, retries, status, reply, note, modelError}
    this.openTools = new Set();  // tool call ids whose card is open (renders must not close it)
    this.pending = new Map();    // message id -> {text, replaces}, until a snapshot holds it
    this.acked = new Set();      // pending ids the server acknowledged (durable from then on)
    this.approvals = new Map();  // approval id -> approval
    this.reasons = new Map();    // approval id -> reason being typed (renders must not lose it)
    this.editing = null;         // the turn number whose message is being edited
    this.retryMs = 250;
    clearTimeout(this.retryTimer);
    this.refreshTimer = null;
    Transcript.reset(this);
  }

  open(sessionId) {
    this.close();
    this.reset();
    this.sessionId = sessionId;
    if (this.errorEl) this.errorEl.textContent = '';
    this.render();
    this.connect();
  }

  close() {
    if (this.socket) { const old = this.socket; this.socket = null; old.close(); }
  }

  clear() {
    // No session shown (a new chat not started yet).
    this.close();
    this.reset();
    this.sessionId = null;
    this.render();
  }

  sent(id, text) {
    // A message the server already holds (it started the session): shown until the snapshot has it.
    this.pending.set(id, { text, replaces: 0 });
    this.acked.add(id);
    this.render();
  }

  showConnection() {
    if (!this.connectionEl) return;
    const state = !navigator.onLine && this.connection !== 'refused' ? 'offline'
      : this.sessionId ? this.connection || 'connecting' : 'connected';
    const words = { connected: 'connected', connecting: 'connecting…', reconnecting: 'reconnecting…', offline: 'offline', refused: 'not connected' };
    this.connectionEl.textContent = words[state];
    this.connectionEl.dataset.state = state;
  }

  reconnectNow() {
    // Back online: no need to wait out the backoff.
    if (this.sessionId && this.connection === 'reconnecting') { clearTimeout(this.retryTimer); this.retryMs = 250; this.connect(); }
    this.showConnection();
  }

  connect() {
    const sessionId = this.sessionId;
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = new URLSearchParams({ token: DC.token() || '' });
    if (this.lastEventId) query.set('after', this.lastEventId);
    const socket = new WebSocket(`${proto}://${location.host}/ws/sessions/${sessionId}?${query}`);
    this.socket = socket;
    socket.onopen = () => {
      this.connection = 'connected';
      this.retryMs = 250;
      this.showConnection();
      // Messages a dropped connection never acknowledged: send again (same id, so never twice).
      for (const [id, message] of this.pending) if (!this.acked.has(id)) socket.send(this.frame(id, message));
    };
    socket.onmessage = (message) => {
      if (this.socket !== socket) return;
      this.onFrame(JSON.parse(message.data));
      this.render();
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === 4404) { this.refused('This chat does not exist (or is not yours).'); return; }
      if (event.code === 4401) { this.refused('Not signed in.'); DC.showSignIn('Please sign in.'); return; }
      if (event.code === 4429) {
        // Over the per-user connection cap: retrying would only hit it again; a reload retries.
        const reason = event.reason || 'too many open connections';
        this.refused(`Not connected: ${reason}. Close this chat in another tab or window, then reload this page.`);
        return;
      }
      this.connection = 'reconnecting';
      this.showConnection();
      this.retryTimer = setTimeout(() => { if (this.sessionId === sessionId && !this.socket) this.connect(); }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 5000);
    };
  }

  refused(words) {
    this.connection = 'refused';
    this.showConnection();
    if (this.errorEl) this.errorEl.textContent = words;
  }

  frame(id, { text, replaces }) {
    return JSON.stringify(replaces ? { type: 'message', id, text, replaces } : { type: 'message', id, text });
  }

  onFrame(frame) {
    if (frame.type === 'SNAPSHOT') {
      this.live.clear();
      this.applySnapshot(frame.session);
    } else if (frame.type === 'ERROR') {
      const message = frame.id ? this.pending.get(frame.id) : null;
      if (frame.id) this.pending.delete(frame.id);
      const error = new DC.ApiError(frame.reason, frame.status || 0, frame.retry_after || 0);
      if (this.errorEl) this.errorEl.textContent = message ? `Not sent. ${DC.explain(error)}` : DC.explain(error);
      if (message && this.onRefused) this.onRefused(message.text);
    } else if (frame.type === 'ACK') {
      this.acked.add(frame.id);
      this.scheduleRefresh();
    } else if (frame.event_id) {
      this.lastEventId = frame.event_id;
      this.applyEvent(frame);
    }
  }

  applySnapshot(session) {
    this.turns = session.turns;
    this.status = session.status;
    this.title = session.title || '';
    Object.assign(this, { agent: session.agent || '', model: session.model || '', session });
    this.approvals = new Map(session.approvals.map((a) => [a.id, a]));
    if (this.titleEl) this.titleEl.textContent = session.title || 'New chat';
    for (const turn of session.turns) {
      this.pending.delete(turn.message_id);
      if (Transcript.FINISHED.has(turn.status)) this.live.delete(turn.number);
    }
    if (this.onChange) this.onChange(this);
  }

  scheduleRefresh() {
    // Something the stream does not carry (a new turn's user text, a status): ask for the snapshot.
    if (this.refreshTimer || !this.sessionId) return;
    const sessionId = this.sessionId;
    this.refreshTimer = setTimeout(async () => {
      this.refreshTimer = null;
      try {
        const session = await DC.api(`/sessions/${sessionId}`);
        if (this.sessionId === sessionId) { this.applySnapshot(session); this.render(); }
      } catch (e) { /* the next event retries */ }
    }, 50);
  }

  liveTurn(number) {
    if (!this.live.has(number)) {
      this.live.set(number, {
        parts: new Map(), tools: new Map(), retries: new Map(), status: 'running', reply: null, note: '', modelError: null,
      });
    }
    return this.live.get(number);
  }

  applyEvent(frame) {
    const turn = this.liveTurn(frame.turn);
    if (frame.parentToolCallId) {
      // A delegated sub-agent's event: it belongs inside its delegate call's card, not the reply.
      if (turn.status === 'running') ToolCalls.apply(turn.tools, frame);
      return;
    }
    switch (frame.type) {
      case 'ATTEMPT_STARTED':
        for (const [key, part] of turn.parts) if (part.step === frame.step) turn.parts.delete(key);
        if (frame.attempt > 1) turn.retries.set(frame.step, (turn.retries.get(frame.step) || 0) + 1);
        ToolCalls.apply(turn.tools, frame);
        break;
      case 'TOOL_CALL_START':
      case 'TOOL_CALL_ARGS':
      case 'TOOL_CALL_RESULT':
        if (turn.status === 'running') ToolCalls.apply(turn.tools, frame);
        break;
      case 'TEXT_MESSAGE_CONTENT': {
        if (turn.status !== 'running') break;
        const key = `${frame.step}/${frame.attempt}/${frame.messageId}`;
        if (!turn.parts.has(key)) turn.parts.set(key, { step: frame.step, text: '' });
        turn.parts.get(key).text += frame.delta;
        turn.modelError = null;  // the model answers again
        break;
      }
      case 'MODEL_ERROR': if (turn.status === 'running') turn.modelError = frame; break;
      case 'RUN_FINISHED': this.endTurn(turn, 'done', frame.result ?? null, frame.note); break;
      case 'RUN_ERROR': this.endTurn(turn, 'failed', frame.message || 'The reply failed.'); break;
      case 'TURN_INTERRUPTED':
        // The frame says what had streamed; an older worker's frame does not: keep what is shown.
        this.endTurn(turn, 'interrupted', frame.reply ?? this.streamedText(turn), frame.note);
        break;
      case 'APPROVAL_REQUESTED':
      case 'APPROVAL_ANSWERED':
        this.approvals.set(frame.id, { ...frame });
        break;
      default: break;
    }
    if (!this.turns.some((t) => t.number === frame.turn) || turn.status !== 'running' || frame.type.startsWith('APPROVAL')
        || frame.type === 'SESSION_CLOSED') {
      this.scheduleRefresh();
    }
  }

  endTurn(turn, status, reply, note) {
    Object.assign(turn, { status, reply, note: note || '', modelError: null });
  }

  streamedText(live) { return [...live.parts.values()].map((p) => p.text).join(''); }

  turnText(turn) {
    if (Transcript.FINISHED.has(turn.status)) return turn.reply;
    const live = this.live.get(turn.number);
    if (!live) return '';
    return live.reply ?? this.streamedText(live);
  }

  turnStatus(turn) {
    return Transcript.FINISHED.has(turn.status) ? turn.status : (this.live.get(turn.number)?.status ?? turn.status);
  }

  running() {
    // A turn still answering: the snapshot says running and no frame has ended it since.
    return this.turns.some((t) => t.status === 'running' && (this.live.get(t.number)?.status ?? 'running') === 'running');
  }

  async send(text, { replaces = 0 } = {}) {
    const id = DC.randomHex(16);
    const message = { text, replaces };
    this.pending.set(id, message);
    this.editing = null;
    Transcript.followNow(this);
    this.render();
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(this.frame(id, message));
      return;
    }
    // Same id over REST: if the socket had delivered it after all, the workflow ignores the second.
    const body = replaces ? { id, text, replaces } : { id, text };
    try {
      await DC.api(`/sessions/${this.sessionId}/messages`, { method: 'POST', body: JSON.stringify(body) });
      this.acked.add(id);
      this.scheduleRefresh();  // the socket is down: the snapshot shows the new turn meanwhile
    } catch (error) {
      if (error.status) { this.pending.delete(id); this.render(); }  // refused: not sent (else resent on reconnect)
      throw error;
    }
  }

  async interrupt() {
    await DC.api(`/sessions/${this.sessionId}/interrupt`, { method: 'POST', body: '{}' });
  }

  async answer(approvalId, approve, reason) {
    const body = JSON.stringify({ approve, reason: reason || '' });
    await DC.api(`/sessions/${this.sessionId}/approvals/${encodeURIComponent(approvalId)}`, { method: 'POST', body });
    this.scheduleRefresh();
  }

  render() {
    Transcript.render(this);
    const busy = this.turns.some((t) => t.status === 'running' || t.status === 'queued') || this.running();
    const words = this.status === 'awaiting_approval' ? 'awaiting approval' : this.status === 'closed' ? 'closed'
      : busy ? 'thinking…' : '';
    if (this.statusEl) {
      if (this.statusEl.textContent !== words) this.statusEl.textContent = words;
      this.statusEl.dataset.status = this.status;
    }
    this.showConnection();
    if (this.onRender) this.onRender(this);
  }
};
