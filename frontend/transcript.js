// Draws a SessionView's transcript without rebuilding it: one <li> per turn (keyed by its number)
// and per message not yet in a turn, each made of slots redrawn only when what they show changed.
// A reminder's or check-in's turn (the session spoke first) has a "Reminder" or "Check-in" label where
// the user's message goes.
// A streaming reply keeps its finished markdown blocks (rendered once, the same DOM nodes while
// tokens arrive) and redraws only its open tail. The view follows the stream unless the user has
// scrolled up; then a "Jump to latest" button brings it back.
'use strict';

const Transcript = (() => {
  const { el, button } = DC;
  const FINISHED = new Set(['done', 'failed', 'interrupted', 'dropped']);
  const SPOKE_FIRST = new Set(['reminder', 'check_in']);  // turns of the session's own, with no user message
  const SLOTS = ['user', 'mark', 'tools', 'reply', 'after', 'approvals'];
  const NEAR_BOTTOM_PX = 48;

  function attach(view) {
    const list = view.turnsEl;
    view.following = true;
    view.jumpButton = button('jump-latest', 'Jump to latest ↓', 'jump to the latest message', () => followNow(view, true));
    view.jumpButton.hidden = true;
    list.after(view.jumpButton);
    list.addEventListener('scroll', () => {
      view.following = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
      if (view.following) view.jumpButton.hidden = true;
    });
  }

  function reset(view) {
    view.nodes = new Map();  // key -> <li>
    if (view.turnsEl) view.turnsEl.replaceChildren();
    view.following = true;
  }

  function followNow(view, focus) {
    view.following = true;
    view.turnsEl.scrollTop = view.turnsEl.scrollHeight;
    view.jumpButton.hidden = true;
    if (focus) view.turnsEl.focus();
  }

  function node(view, key, build) {
    let li = view.nodes.get(key);
    if (!li) {
      li = el('li');
      li.slots = {};
      for (const name of SLOTS) { li.slots[name] = el('div', `slot slot-${name}`); li.append(li.slots[name]); }
      build(li);
      view.nodes.set(key, li);
    }
    return li;
  }

  // Redraws a slot only when its key (what it shows, as text) changed.
  function update(slot, key, build) {
    if (slot.key === key) return;
    slot.key = key;
    slot.replaceChildren(...build().filter(Boolean));
  }

  function actions(label, ...buttons) {
    const box = el('div', 'msg-actions');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', label);
    box.append(...buttons.filter(Boolean));
    return box;
  }

  function editor(view, turn) {
    const box = el('form', 'editor');
    const area = el('textarea', 'edit-text');
    area.value = turn.user_text;
    area.rows = Math.min(8, turn.user_text.split('\n').length + 1);
    area.setAttribute('aria-label', 'edit your message');
    const cancel = () => { view.editing = null; view.render(); };
    box.onsubmit = (event) => {
      event.preventDefault();
      if (!area.value.trim()) return;
      view.send(area.value, { replaces: turn.number }).catch((error) => { view.errorEl.textContent = DC.explain(error); });
    };
    area.onkeydown = (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) { event.preventDefault(); box.requestSubmit(); }
      if (event.key === 'Escape') { event.stopPropagation(); cancel(); }
    };
    const send = el('button', 'edit-send', 'Send');
    send.type = 'submit';
    box.append(area, actions('edit', send, button('edit-cancel', 'Cancel', 'cancel editing', cancel)));
    setTimeout(() => { area.focus(); area.setSelectionRange(area.value.length, area.value.length); });
    return box;
  }

  function drawUser(view, li, turn, mayRedo) {
    if (SPOKE_FIRST.has(turn.kind)) {  // the session spoke first: no message of the user's
      const label = turn.kind === 'check_in' ? 'Check-in' : 'Reminder';
      update(li.slots.user, turn.kind, () => [el('div', 'reminder-label', label)]);
      return;
    }
    const editing = view.editing === turn.number;
    update(li.slots.user, JSON.stringify([turn.user_text, mayRedo, editing]), () => {
      if (editing) return [editor(view, turn)];
      const edit = mayRedo && button('edit', 'Edit', 'edit and resend your message', () => { view.editing = turn.number; view.render(); });
      return [el('div', 'user', turn.user_text),
        actions('your message', DC.copyButton('copy', 'copy your message', () => turn.user_text), edit)];
    });
  }

  function drawReply(view, li, turn, status, text) {
    const slot = li.slots.reply;
    if (!text && status === 'queued') { slot.replaceChildren(); slot.state = null; return; }
    let reply = slot.firstChild;
    if (!reply) { reply = el('div'); slot.append(reply); }
    const placeholder = text ? '' : { interrupted: '(interrupted)', dropped: '(dropped)' }[status] || '…';
    const className = `assistant ${status}${placeholder ? ' placeholder' : ''}`;
    if (reply.className !== className) reply.className = className;
    if (reply.dataset.status !== status) reply.dataset.status = status;
    reply.setAttribute('aria-busy', String(status === 'running'));
    const mode = placeholder ? 'placeholder' : status === 'failed' ? 'plain' : 'markdown';
    const state = slot.state;
    if (state && state.mode === mode && state.text === text) return;
    if (mode !== 'markdown') {
      reply.replaceChildren(text || placeholder);
      slot.state = { mode, text };
      return;
    }
    if (!state || state.mode !== 'markdown' || !text.startsWith(state.stable)) {
      const tail = el('div', 'md-tail');
      reply.replaceChildren(tail);
      slot.state = { mode, text: null, stable: '', tail, tailText: null };
    }
    const s = slot.state;
    const end = Markdown.stableEnd(text);
    if (end > s.stable.length) {
      // Blocks that became finished: rendered once, before the tail, and never touched again.
      const chunk = el('div', 'md-chunk');
      chunk.append(Markdown.render(text.slice(s.stable.length, end)));
      s.tail.before(chunk);
      s.stable = text.slice(0, end);
    }
    const tailText = text.slice(s.stable.length);
    if (tailText !== s.tailText) { s.tail.replaceChildren(Markdown.render(tailText)); s.tailText = tailText; }
    s.text = text;
  }

  function drawAfter(view, li, turn, status, text, { byModel, mayRedo }) {
    const note = (FINISHED.has(turn.status) ? turn.note : view.live.get(turn.number)?.note) || '';
    const modelStatus = modelWords(view, turn);
    const copyable = FINISHED.has(status) && Boolean(text);
    const undone = turn.undone || [];
    const key = JSON.stringify([status, Boolean(text), byModel && turn.model, note, modelStatus, copyable, mayRedo, undone]);
    update(li.slots.after, key, () => [
      status === 'interrupted' && text && el('div', 'interrupted-mark', '— stopped'),
      (copyable || mayRedo) && actions('reply',
        copyable && DC.copyButton('copy', 'copy the reply', () => view.turnText(view.turns.find((t) => t.number === turn.number) || turn)),
        mayRedo && button('regenerate', status === 'done' ? 'Regenerate' : 'Try again', 'regenerate the reply',
          () => view.send(turn.user_text, { replaces: turn.number }).catch((error) => { view.errorEl.textContent = DC.explain(error); }))),
      byModel && turn.model && el('div', 'turn-model', `answered by ${turn.model}`),
      note && el('div', 'turn-note', note),
      undone.length > 0 && undoneList(undone),
      modelStatus && el('div', 'model-status', modelStatus),
    ]);
  }

  function undoneList(undone) {
    // What the turn's tools did and the session undid because the turn did not finish, latest first.
    const list = el('ul', 'turn-undone');
    list.setAttribute('aria-label', 'Undone because the reply did not finish');
    for (const undo of undone) {
      const item = el('li', `undo undo-${undo.status}`, undo.status === 'undone' ? `Undone: ${undo.text}` : `Not undone: ${undo.text}`);
      list.append(item);
    }
    return list;
  }

  function modelWords(view, turn) {
    // While a failed model request is retried, in words: "The model server can't be reached — ...".
    const error = !FINISHED.has(turn.status) && view.live.get(turn.number)?.modelError;
    if (!error) return '';
    const words = error.reason || 'the model failed';
    const reason = words.charAt(0).toUpperCase() + words.slice(1);
    if (!error.retrying) return `${reason} — giving up.`;
    const of = error.max_attempts ? ` of ${error.max_attempts}` : '';
    return `${reason} — trying again (attempt ${error.attempt + 1}${of})…`;
  }

  function serverOf(view, toolName) {
    // Live frames do not name a tool's MCP server: its tools are named `<server>_<tool>`.
    const servers = view.agents.find((a) => a.name === view.agent)?.mcp_servers ?? [];
    return servers.filter((s) => toolName.startsWith(`${s}_`)).sort((a, b) => b.length - a.length)[0] || '';
  }

  function drawTools(view, li, turn) {
    const live = view.live.get(turn.number);
    const calls = FINISHED.has(turn.status) ? turn.tool_calls || [] : [...(live?.tools.values() ?? [])];
    const shown = calls.map((call) => {
      const approval = view.approvals.get(call.id);
      const running = !FINISHED.has(turn.status) && live?.status === 'running' && call.result == null;
      const state = approval?.status === 'pending' ? 'awaiting approval' : running ? 'running…' : '';
      const retried = call.step ? live?.retries.get(call.step) || 0 : 0;
      return { call, state, retried, server: call.server ?? serverOf(view, call.name) };
    });
    const key = JSON.stringify(shown.map(({ call, state, retried, server }) => [call.id, call.name, call.args, call.result, state, retried, server, ToolCalls.version(call)]));
    update(li.slots.tools, key, () => shown.map(({ call, state, retried, server }) => ToolCalls.card(call, {
      server, state, retried, open: view.openTools.has(call.id),
      onToggle: (open) => { if (open) view.openTools.add(call.id); else view.openTools.delete(call.id); },
    })));
  }

  function drawApprovals(view, li, turn) {
    const approvals = [...view.approvals.values()].filter((a) => a.turn === turn.number);
    update(li.slots.approvals, JSON.stringify(approvals), () => approvals.map((approval) => ToolCalls.approvalCard(approval, {
      reasons: view.reasons,
      answer: (yes, reason) => view.answer(approval.id, yes, reason).catch((e) => { view.errorEl.textContent = DC.explain(e); }),
    })));
  }

  function render(view) {
    const wanted = [];
    const replacedBy = new Map(view.turns.filter((t) => t.replaces).map((t) => [t.replaces, t]));
    const byNumber = new Map(view.turns.map((t) => [t.number, t]));
    // Which model answered is worth a line only once the session has used more than one.
    const byModel = new Set(view.turns.map((t) => t.model).filter(Boolean)).size > 1;
    const last = view.turns[view.turns.length - 1];
    const open = !view.readOnly && view.status !== 'closed' && view.pending.size === 0;
    for (const turn of view.turns) {
      const li = node(view, `t${turn.number}`, () => {});
      li.dataset.turn = turn.number;
      const status = view.turnStatus(turn);
      const text = view.turnText(turn);
      const mayRedo = open && turn === last && !SPOKE_FIRST.has(turn.kind) && FINISHED.has(turn.status) && FINISHED.has(status);
      const replaced = replacedBy.has(turn.number);
      li.className = `turn${replaced ? ' replaced' : ''}`;
      const original = byNumber.get(turn.replaces);
      const mark = replaced ? 'replaced by a newer answer below'
        : turn.replaces ? (original && original.user_text === turn.user_text ? 'regenerated' : 'edited') : '';
      update(li.slots.mark, mark, () => [mark && el('div', `turn-mark ${replaced ? 'is-replaced' : turn.replaces ? 'is-redo' : ''}`, mark)]);
      drawUser(view, li, turn, mayRedo);
      drawTools(view, li, turn);
      drawReply(view, li, turn, status, text);
      drawAfter(view, li, turn, status, text, { byModel, mayRedo });
      drawApprovals(view, li, turn);
      wanted.push(li);
    }
    for (const [id, message] of view.pending) {
      const li = node(view, `m${id}`, (item) => { item.className = 'pending'; item.dataset.messageId = id; });
      update(li.slots.user, message.text, () => [el('div', 'user', message.text)]);
      wanted.push(li);
    }
    place(view, wanted);
    if (view.following) view.turnsEl.scrollTop = view.turnsEl.scrollHeight;
    else if (view.turnsEl.scrollHeight > view.turnsEl.clientHeight) view.jumpButton.hidden = false;
  }

  // Puts the wanted items in order, moving only those out of place, and drops the rest.
  function place(view, wanted) {
    const list = view.turnsEl;
    wanted.forEach((li, i) => { if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null); });
    while (list.children.length > wanted.length) list.lastElementChild.remove();
    const kept = new Set(wanted);
    for (const [key, li] of view.nodes) if (!kept.has(li)) view.nodes.delete(key);
  }

  return { FINISHED, attach, reset, render, followNow };
})();
