// What a message sent while a reply is being written does (the chat's double-texting policy):
// waits its turn (enqueue), stops the reply (interrupt) or is refused (reject). Chosen on New chat,
// shown and changed in the open chat's header (PATCH). A refused message comes back to the box with
// the reason (the page's ordinary handling of a refused message).
'use strict';

const DoubleTexting = (() => {
  const { $, api } = DC;
  const WORDS = { enqueue: 'wait their turn', interrupt: 'stop the reply', reject: 'are refused' };

  // The New chat choice, back to the default for each new chat.
  function resetChoice() { $('new-policy').value = 'enqueue'; }
  function choice() { return $('new-policy').value; }

  // The open chat's policy in the header (not while the user is choosing one).
  function show(view) {
    const select = $('session-policy');
    select.disabled = view.status === 'closed';
    if (document.activeElement !== select && view.session) select.value = view.session.double_texting || 'enqueue';
  }

  async function change(view) {
    const select = $('session-policy');
    const policy = select.value;
    const note = $('policy-note');
    try {
      const patched = await api(`/sessions/${view.sessionId}`, { method: 'PATCH', body: JSON.stringify({ double_texting: policy }) });
      if (view.session) view.session.double_texting = patched.double_texting;
      note.className = 'model-note';
      note.textContent = `New messages while a reply is written now ${WORDS[patched.double_texting]}.`;
    } catch (error) {
      note.className = 'model-note refused';
      note.textContent = `Not changed: ${DC.explain(error)}`;
    }
    select.value = view.session?.double_texting || 'enqueue';  // the chat's policy, changed or not
    view.scheduleRefresh();
  }

  return { resetChoice, choice, show, change };
})();
