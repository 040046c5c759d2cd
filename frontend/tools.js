// Tool calls as cards in the transcript. A running turn's calls are built from the agent's AG-UI
// frames, each remembering the step that streamed it, so a retried step (ATTEMPT_STARTED) drops the
// cards it started and the results it returned; a finished turn's calls come from the snapshot.
// A `delegate` call is a card of its own ("Delegated to <agent>"): the frames of the sub-agent it
// runs carry `parentToolCallId` and go inside it (its streamed text, its own tool calls), never into
// the reply; their steps are the sub-agent's own, so ATTEMPT_STARTED drops only what they streamed.
// Loaded after common.js (it uses DC.el).
'use strict';

const ToolCalls = (() => {
  const PREVIEW_CHARS = 80;
  const DELEGATE = 'delegate';

  function call(calls, id, step) {
    // Arguments or a result whose start this page did not see: a card all the same.
    if (!calls.has(id)) calls.set(id, { id, name: '', args: '', result: null, step, resultStep: null });
    return calls.get(id);
  }

  // calls: Map tool call id -> {id, name, args (JSON text as streamed), result, step, resultStep,
  // inner (a delegate call's sub-agent: {parts, tools, open (its cards' ids), version})}
  function apply(calls, frame) {
    if (frame.parentToolCallId) { applyInner(call(calls, frame.parentToolCallId, frame.step), frame); return; }
    switch (frame.type) {
      case 'ATTEMPT_STARTED':
        for (const [id, c] of calls) {
          if (c.step === frame.step) calls.delete(id);
          else if (c.resultStep === frame.step) Object.assign(c, { result: null, resultStep: null });
        }
        break;
      case 'TOOL_CALL_START':
        calls.set(frame.toolCallId, {
          id: frame.toolCallId, name: frame.toolCallName, args: '', result: null, step: frame.step, resultStep: null,
        });
        break;
      case 'TOOL_CALL_ARGS': call(calls, frame.toolCallId, frame.step).args += frame.delta ?? ''; break;
      case 'TOOL_CALL_RESULT':
        Object.assign(call(calls, frame.toolCallId, frame.step), { result: frame.content ?? '', resultStep: frame.step });
        break;
      default: break;
    }
  }

  function applyInner(parent, frame) {
    // The sub-agent's text per (step, attempt, message), as the reply's is kept; its tool calls as cards.
    const inner = parent.inner || (parent.inner = { parts: new Map(), tools: new Map(), open: new Set(), version: 0 });
    inner.version += 1;
    const own = { ...frame, parentToolCallId: undefined };
    if (frame.type === 'ATTEMPT_STARTED') {
      for (const [key, part] of inner.parts) if (part.step === frame.step) inner.parts.delete(key);
      apply(inner.tools, own);
    } else if (frame.type === 'TEXT_MESSAGE_CONTENT') {
      const key = `${frame.step}/${frame.attempt}/${frame.messageId}`;
      if (!inner.parts.has(key)) inner.parts.set(key, { step: frame.step, text: '' });
      inner.parts.get(key).text += frame.delta ?? '';
    } else if (frame.type.startsWith('TOOL_CALL_')) {
      apply(inner.tools, own);
    }
  }

  // What a card's drawing depends on beyond the call's own fields (a delegate call's progress).
  function version(c) { return c.inner ? c.inner.version : 0; }

  function parsed(args) {
    // Live arguments are JSON text (partial while they stream); the snapshot's are an object.
    if (typeof args !== 'string') return args ?? {};
    try { return JSON.parse(args || '{}'); } catch (e) { return args; }
  }

  function section(className, title, text) {
    const box = DC.el('div', className);
    box.append(DC.el('div', 'tool-label', title), DC.el('pre', '', text));
    return box;
  }

  function card(c, options) {
    const { server, state, open, onToggle, retried } = options;
    const args = parsed(c.args);
    if (c.name === DELEGATE) return delegateCard(c, args, options);
    const box = DC.el('details', 'tool-call');
    box.dataset.toolCallId = c.id;
    box.dataset.state = state || 'done';
    box.open = open;
    box.ontoggle = () => onToggle(box.open);
    const summary = DC.el('summary');
    const compact = typeof args === 'string' ? args : JSON.stringify(args);
    const preview = compact.length > PREVIEW_CHARS ? `${compact.slice(0, PREVIEW_CHARS)}…` : compact;
    summary.append(DC.el('span', 'tool-name', c.name || 'tool'), DC.el('span', 'tool-preview', preview));
    if (server) summary.append(DC.el('span', 'tool-server', `MCP server: ${server}`));
    if (retried) summary.append(DC.el('span', 'tool-retried', `retried ${retried}×`));
    if (state) summary.append(DC.el('span', 'tool-state', state));
    box.append(summary, section('tool-args', 'Arguments', typeof args === 'string' ? args : JSON.stringify(args, null, 2)));
    if (c.result != null && c.result !== '') box.append(section('tool-result', 'Result', c.result));
    return box;
  }

  function delegateCard(c, args, { state, open, onToggle, retried }) {
    // Collapsible like any tool card; open, it shows the task, what the sub-agent streamed and the
    // tools it called (live), then its answer (the call's result, also after a reload).
    const agent = typeof args === 'object' && args.agent ? args.agent : 'another agent';
    const box = DC.el('details', 'tool-call delegate-call');
    box.dataset.toolCallId = c.id;
    box.dataset.state = state || 'done';
    box.open = open;
    box.ontoggle = () => onToggle(box.open);
    const summary = DC.el('summary');
    summary.append(DC.el('span', 'tool-name', `Delegated to ${agent}`));
    if (retried) summary.append(DC.el('span', 'tool-retried', `retried ${retried}×`));
    if (state) summary.append(DC.el('span', 'tool-state', state));
    box.append(summary);
    const task = typeof args === 'object' ? args.task : args;
    if (task) box.append(section('tool-args', 'Task', task));
    const inner = c.inner;
    if (inner) {
      const nested = [...inner.tools.values()];
      if (nested.length) {
        const tools = DC.el('div', 'delegate-tools');
        tools.setAttribute('role', 'group');
        tools.setAttribute('aria-label', `tools ${agent} called`);
        tools.append(...nested.map((n) => card(n, {
          state: n.result == null && state ? 'running…' : '',
          open: inner.open.has(n.id),
          onToggle: (isOpen) => { if (isOpen) inner.open.add(n.id); else inner.open.delete(n.id); },
        })));
        box.append(tools);
      }
      const text = [...inner.parts.values()].map((p) => p.text).join('');
      if (text && (c.result == null || c.result === '')) box.append(section('delegate-progress', `${agent} is writing`, text));
    }
    if (c.result != null && c.result !== '') box.append(section('tool-result', `${agent} answered`, c.result));
    return box;
  }

  // A request for a person's yes or no; `answer(approve, reason)` sends it. The reason typed so far
  // lives in `reasons` (approval id -> text) so a rebuilt card keeps it.
  function approvalCard(approval, { reasons, answer }) {
    const box = DC.el('div', `approval ${approval.status}`);
    box.dataset.approvalId = approval.id;
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', `approval for ${approval.tool_name}`);
    box.append(DC.el('div', 'approval-what', `The assistant wants to run ${approval.tool_name}(${JSON.stringify(approval.args)})`));
    if (approval.status !== 'pending') {
      const by = approval.answered_by ? ` by ${approval.answered_by}` : '';
      box.append(DC.el('div', 'approval-status', `${approval.status}${by}${approval.reason ? `: ${approval.reason}` : ''}`));
      return box;
    }
    const reason = DC.el('input', 'approval-reason');
    reason.placeholder = 'reason (optional)';
    reason.setAttribute('aria-label', `reason for approving or denying ${approval.tool_name} (optional)`);
    reason.value = reasons.get(approval.id) || '';
    reason.oninput = () => reasons.set(approval.id, reason.value);
    const act = (yes) => answer(yes, reasons.get(approval.id) || '');
    box.append(reason, DC.button('approve', 'Approve', '', () => act(true)), DC.button('deny', 'Deny', '', () => act(false)));
    return box;
  }

  return { apply, card, version, approvalCard };
})();
