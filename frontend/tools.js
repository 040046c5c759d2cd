// Tool calls as cards in the transcript. A running turn's calls are built from the agent's AG-UI
// frames, each remembering the step that streamed it, so a retried step (ATTEMPT_STARTED) drops the
// cards it started and the results it returned; a finished turn's calls come from the snapshot.
// Loaded after common.js (it uses DC.el).
'use strict';

const ToolCalls = (() => {
  const PREVIEW_CHARS = 80;

  function call(calls, id, step) {
    // Arguments or a result whose start this page did not see: a card all the same.
    if (!calls.has(id)) calls.set(id, { id, name: '', args: '', result: null, step, resultStep: null });
    return calls.get(id);
  }

  // calls: Map tool call id -> {id, name, args (JSON text as streamed), result, step, resultStep}
  function apply(calls, frame) {
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

  function card(c, { server, state, open, onToggle }) {
    const args = parsed(c.args);
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
    if (state) summary.append(DC.el('span', 'tool-state', state));
    box.append(summary, section('tool-args', 'Arguments', typeof args === 'string' ? args : JSON.stringify(args, null, 2)));
    if (c.result != null && c.result !== '') box.append(section('tool-result', 'Result', c.result));
    return box;
  }

  return { apply, card };
})();
