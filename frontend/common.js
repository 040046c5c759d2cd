// Shared by the chat page and the operator console: sign-in, REST calls, and SessionView, which
// renders one session from the workflow's snapshot (the truth) plus the live stream events.
// Live text rules: a turn's text is kept per (step, attempt, message) so ATTEMPT_STARTED for a step
// drops what an abandoned attempt streamed; RUN_FINISHED carries the final reply and replaces it;
// TURN_INTERRUPTED carries the text that had streamed, which stays, and nothing more of the turn is
// shown. MODEL_ERROR (a failed model request) shows under the turn until it streams text or ends.
// Tool calls are cards (tools.js): live from the TOOL_CALL_* frames, from the snapshot once finished.
'use strict';

const DC = (() => {
  const TOKEN_KEY = 'durable-chat-token';
  const $ = (id) => document.getElementById(id);

  function takeHashParams() {
    // A token arrives once in the URL fragment (never sent to the server), then lives in localStorage.
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get('token')) localStorage.setItem(TOKEN_KEY, params.get('token'));
    params.delete('token');
    history.replaceState(null, '', params.toString() ? `#${params}` : location.pathname);
    return params;
  }

  function token() { return localStorage.getItem(TOKEN_KEY); }

  function showSignIn(message) {
    $('signin').hidden = false;
    $('signin-message').textContent = message || '';
    $('signin-form').onsubmit = (event) => {
      event.preventDefault();
      localStorage.setItem(TOKEN_KEY, $('signin-token').value.trim());
      location.reload();
    };
  }

  async function api(path, options = {}) {
    const response = await fetch(path, {
      ...options,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token()}`, ...(options.headers || {}) },
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) showSignIn('Your sign-in expired or is invalid.');
    if (!response.ok) {
      throw new Error(typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail || response.statusText));
    }
    return body;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const FINISHED = new Set(['done', 'failed', 'interrupted', 'dropped']);

  function randomHex(bytes) {
    // Not crypto.randomUUID: that needs a secure context, and the page may be served over plain http.
    return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
  }

  class SessionView {
    constructor({ turnsEl, statusEl, titleEl, errorEl, connectionEl, onChange }) {
      Object.assign(this, { turnsEl, statusEl, titleEl, errorEl, connectionEl, onChange });
      this.sessionId = null;
      this.socket = null;
      this.agents = [];            // GET /agents, when the page has it: names the MCP server of a live tool call
      this.reset();
    }

    reset() {
      this.lastEventId = null;
      this.turns = [];
      this.status = '';
      this.agent = '';
      this.model = '';
      this.live = new Map();       // turn number -> {parts, tools, status, reply, note, modelError}
      this.openTools = new Set();  // tool call ids whose card is open (renders must not close it)
      this.pending = new Map();    // message id -> text, until a snapshot holds it
      this.acked = new Set();      // pending ids the server acknowledged (durable from then on)
      this.approvals = new Map();  // approval id -> approval
      this.reasons = new Map();    // approval id -> reason being typed (renders must not lose it)
      this.retryMs = 250;
      this.refreshTimer = null;
    }

    open(sessionId) {
      this.close();
      this.reset();
      this.sessionId = sessionId;
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
      this.pending.set(id, text);
      this.acked.add(id);
      this.render();
    }

    connect() {
      const sessionId = this.sessionId;
      const proto = location.protocol === 'https:' ? 'wss' : 'ws';
      const query = new URLSearchParams({ token: token() || '' });
      if (this.lastEventId) query.set('after', this.lastEventId);
      const socket = new WebSocket(`${proto}://${location.host}/ws/sessions/${sessionId}?${query}`);
      this.socket = socket;
      socket.onopen = () => {
        this.connectionEl.textContent = '';
        this.retryMs = 250;
        // Messages a dropped connection never acknowledged: send again (same id, so never twice).
        for (const [id, text] of this.pending) {
          if (!this.acked.has(id)) socket.send(JSON.stringify({ type: 'message', id, text }));
        }
      };
      socket.onmessage = (message) => {
        if (this.socket !== socket) return;
        this.onFrame(JSON.parse(message.data));
        this.render();
      };
      socket.onclose = (event) => {
        if (this.socket !== socket) return;
        if (event.code === 4404) { this.errorEl.textContent = 'This session does not exist.'; return; }
        if (event.code === 4401) { showSignIn('Please sign in.'); return; }
        if (event.code === 4429) {
          // Over the per-user connection cap: retrying would only hit it again; a reload retries.
          this.connectionEl.textContent = '';
          this.errorEl.textContent = `${event.reason || 'Too many open connections'}. Close another tab, then reload.`;
          return;
        }
        this.connectionEl.textContent = 'reconnecting…';
        setTimeout(() => { if (this.socket === socket) this.connect(); }, this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 5000);
      };
    }

    onFrame(frame) {
      if (frame.type === 'SNAPSHOT') {
        this.live.clear();
        this.applySnapshot(frame.session);
      } else if (frame.type === 'ERROR') {
        this.errorEl.textContent = frame.reason;
        if (frame.id) this.pending.delete(frame.id);
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
      this.agent = session.agent || '';
      this.model = session.model || '';
      this.approvals = new Map(session.approvals.map((a) => [a.id, a]));
      if (this.titleEl) this.titleEl.textContent = session.title || 'New chat';
      for (const turn of session.turns) {
        this.pending.delete(turn.message_id);
        if (FINISHED.has(turn.status)) this.live.delete(turn.number);
      }
      if (this.onChange) this.onChange(this);
    }

    scheduleRefresh() {
      // Something the stream does not carry (a new turn's user text, a status): ask for the snapshot.
      if (this.refreshTimer) return;
      this.refreshTimer = setTimeout(async () => {
        this.refreshTimer = null;
        try { this.applySnapshot(await api(`/sessions/${this.sessionId}`)); this.render(); } catch (e) { /* next event retries */ }
      }, 50);
    }

    liveTurn(number) {
      if (!this.live.has(number)) {
        this.live.set(number, { parts: new Map(), tools: new Map(), status: 'running', reply: null, note: '', modelError: null });
      }
      return this.live.get(number);
    }

    applyEvent(frame) {
      const turn = this.liveTurn(frame.turn);
      switch (frame.type) {
        case 'ATTEMPT_STARTED':
          for (const [key, part] of turn.parts) if (part.step === frame.step) turn.parts.delete(key);
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
      if (FINISHED.has(turn.status)) return turn.reply;
      const live = this.live.get(turn.number);
      if (!live) return '';
      return live.reply ?? this.streamedText(live);
    }

    running() {
      // A turn still answering: the snapshot says running and no frame has ended it since.
      return this.turns.some((t) => t.status === 'running' && (this.live.get(t.number)?.status ?? 'running') === 'running');
    }

    toolCalls(turn) {
      if (FINISHED.has(turn.status)) return turn.tool_calls || [];
      return [...(this.live.get(turn.number)?.tools.values() ?? [])];
    }

    serverOf(toolName) {
      // Live frames do not name a tool's MCP server: its tools are named `<server>_<tool>`.
      const servers = this.agents.find((a) => a.name === this.agent)?.mcp_servers ?? [];
      return servers.filter((s) => toolName.startsWith(`${s}_`)).sort((a, b) => b.length - a.length)[0] || '';
    }

    toolCard(call, turn) {
      const approval = this.approvals.get(call.id);
      const running = !FINISHED.has(turn.status) && this.live.get(turn.number)?.status === 'running' && call.result == null;
      const state = approval?.status === 'pending' ? 'awaiting approval' : running ? 'running…' : '';
      const open = this.openTools.has(call.id);
      const server = call.server ?? this.serverOf(call.name);
      return ToolCalls.card(call, { server, state, open, onToggle: (isOpen) => {
        if (isOpen) this.openTools.add(call.id); else this.openTools.delete(call.id);
      } });
    }

    turnNote(turn) {
      return (FINISHED.has(turn.status) ? turn.note : this.live.get(turn.number)?.note) || '';
    }

    modelStatus(turn) {
      // While a failed model request is retried, in words: "The model server can't be reached — ...".
      const error = !FINISHED.has(turn.status) && this.live.get(turn.number)?.modelError;
      if (!error) return '';
      const words = error.reason || 'the model failed';
      const reason = words.charAt(0).toUpperCase() + words.slice(1);
      if (!error.retrying) return `${reason} — giving up.`;
      const of = error.max_attempts ? ` of ${error.max_attempts}` : '';
      return `${reason} — trying again (attempt ${error.attempt + 1}${of})…`;
    }

    async send(text) {
      const id = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
      this.pending.set(id, text);
      this.render();
      const frame = JSON.stringify({ type: 'message', id, text });
      if (this.socket && this.socket.readyState === WebSocket.OPEN) {
        this.socket.send(frame);
      } else {
        // Same id over REST: if the socket had delivered it after all, the workflow ignores the second.
        await api(`/sessions/${this.sessionId}/messages`, { method: 'POST', body: JSON.stringify({ id, text }) });
      }
    }

    async answer(approvalId, approve, reason) {
      const body = JSON.stringify({ approve, reason: reason || '' });
      await api(`/sessions/${this.sessionId}/approvals/${encodeURIComponent(approvalId)}`, { method: 'POST', body });
      this.scheduleRefresh();
    }

    approvalBox(approval) {
      const box = el('div', `approval ${approval.status}`);
      box.dataset.approvalId = approval.id;
      box.append(el('div', 'approval-what', `The assistant wants to run ${approval.tool_name}(${JSON.stringify(approval.args)})`));
      if (approval.status !== 'pending') {
        const by = approval.answered_by ? ` by ${approval.answered_by}` : '';
        box.append(el('div', 'approval-status', `${approval.status}${by}${approval.reason ? `: ${approval.reason}` : ''}`));
        return box;
      }
      const reason = el('input', 'approval-reason');
      reason.placeholder = 'reason (optional)';
      reason.value = this.reasons.get(approval.id) || '';
      reason.oninput = () => this.reasons.set(approval.id, reason.value);
      const approve = el('button', 'approve', 'Approve');
      const deny = el('button', 'deny', 'Deny');
      const act = (yes) => this.answer(approval.id, yes, this.reasons.get(approval.id) || '').catch((e) => { this.errorEl.textContent = e.message; });
      approve.onclick = () => act(true);
      deny.onclick = () => act(false);
      box.append(reason, approve, deny);
      return box;
    }

    render() {
      const list = this.turnsEl;
      const typing = document.activeElement?.closest?.('.approval')?.dataset.approvalId;
      // Which model answered is worth a line only once the session has used more than one.
      const byModel = new Set(this.turns.map((t) => t.model).filter(Boolean)).size > 1;
      list.replaceChildren();
      for (const turn of this.turns) {
        const item = el('li');
        item.dataset.turn = turn.number;
        item.append(el('div', 'user', turn.user_text));
        for (const call of this.toolCalls(turn)) item.append(this.toolCard(call, turn));
        const status = FINISHED.has(turn.status) ? turn.status : (this.live.get(turn.number)?.status ?? turn.status);
        const text = this.turnText(turn);
        if (text || status !== 'queued') {
          const placeholder = text ? '' : { interrupted: '(interrupted)', dropped: '(dropped)' }[status] || '…';
          const reply = el('div', `assistant ${status}${placeholder ? ' placeholder' : ''}`, text || placeholder);
          reply.dataset.status = status;
          item.append(reply);
          // A stopped reply keeps the text the user saw, marked as cut short.
          if (status === 'interrupted' && text) item.append(el('div', 'interrupted-mark', '— stopped'));
        }
        if (byModel && turn.model) item.append(el('div', 'turn-model', `answered by ${turn.model}`));
        const note = this.turnNote(turn);
        if (note) item.append(el('div', 'turn-note', note));
        const modelStatus = this.modelStatus(turn);
        if (modelStatus) item.append(el('div', 'model-status', modelStatus));
        for (const approval of this.approvals.values()) if (approval.turn === turn.number) item.append(this.approvalBox(approval));
        list.append(item);
      }
      for (const [id, text] of this.pending) {
        const item = el('li', 'pending');
        item.dataset.messageId = id;
        item.append(el('div', 'user', text));
        list.append(item);
      }
      const busy = this.turns.some((t) => t.status === 'running' || t.status === 'queued');
      this.statusEl.textContent = this.status === 'awaiting_approval' || this.status === 'closed' ? this.status.replace('_', ' ')
        : busy ? 'thinking…' : this.status;
      this.statusEl.dataset.status = this.status;
      if (typing) list.querySelector(`.approval[data-approval-id="${CSS.escape(typing)}"] .approval-reason`)?.focus();
      else list.scrollTop = list.scrollHeight;
    }
  }

  return { $, api, el, token, takeHashParams, showSignIn, randomHex, SessionView };
})();
