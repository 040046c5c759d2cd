// One queue of the pending approvals of every session (GET /operator/approvals), answered here
// (POST /sessions/{id}/approvals/{approval_id}). Items are kept by key across refreshes, so a reason
// being typed and the focus survive; an answered one leaves at once and never comes back.
// Tool arguments, titles and usernames are text (textContent), never HTML.
'use strict';

const ApprovalQueue = (() => {
  const { $, api, el } = DC;
  const ARGS_CHARS = 2000;

  const keyOf = (item) => `${item.session_id}/${item.approval.id}`;

  function argsText(args) {
    const text = typeof args === 'string' ? args : JSON.stringify(args ?? {}, null, 2);
    return text.length > ARGS_CHARS ? `${text.slice(0, ARGS_CHARS)}… (${text.length - ARGS_CHARS} more characters)` : text;
  }

  class ApprovalQueue {
    constructor({ onCount }) {
      this.onCount = onCount;
      this.nodes = new Map();    // key -> li
      this.answered = new Set(); // keys answered from this page: a refresh already under way keeps them out
      this.failed = false;
    }

    async load() {
      let items;
      try {
        items = await api('/operator/approvals');
      } catch (error) {
        this.failed = true;
        this.say(`Could not load the approvals: ${error.message}`);
        throw error;
      }
      if (this.failed) { this.failed = false; this.say(''); }
      this.render(items.filter((item) => !this.answered.has(keyOf(item))));
    }

    say(text) { $('approvals-note').textContent = text; }

    render(items) {
      const list = $('approvals');
      const keep = new Set(items.map(keyOf));
      for (const [key, node] of this.nodes) {
        if (!keep.has(key)) { node.remove(); this.nodes.delete(key); }
      }
      let cursor = list.firstChild;
      for (const item of items) {
        const node = this.nodes.get(keyOf(item)) || this.build(item);
        if (node === cursor) cursor = cursor.nextSibling;
        else list.insertBefore(node, cursor);
      }
      this.counted();
    }

    counted() {
      $('approvals-empty').hidden = this.nodes.size > 0 || this.failed;
      if (this.onCount) this.onCount(this.nodes.size);
    }

    build(item) {
      const { approval } = item;
      const node = el('li', 'queue-item');
      node.dataset.sessionId = item.session_id;
      node.dataset.approvalId = approval.id;
      const headId = ConsoleUtil.uid('approval');
      const head = el('p', 'queue-head');
      head.id = headId;
      head.append(
        el('span', 'queue-user', item.user_id), el('span', 'queue-sep', ' · '),
        el('span', 'queue-title', item.title || '(untitled)'), el('span', 'queue-turn', ` · turn ${approval.turn}`),
      );
      const tool = el('p', 'queue-tool');
      tool.append('wants to run ', el('code', 'queue-tool-name', approval.tool_name));
      const args = el('pre', 'queue-args', argsText(approval.args));
      args.setAttribute('aria-label', `Arguments of ${approval.tool_name}`);

      const reasonId = ConsoleUtil.uid('reason');
      const label = el('label', 'visually-hidden', `Reason for the answer to ${approval.tool_name} (optional)`);
      label.htmlFor = reasonId;
      const reason = el('input', 'queue-reason');
      reason.id = reasonId;
      reason.placeholder = 'Reason (optional)';
      reason.autocomplete = 'off';
      reason.maxLength = 500;

      const approve = el('button', 'approve', 'Approve');
      const deny = el('button', 'deny', 'Deny');
      for (const button of [approve, deny]) {
        button.type = 'button';
        button.setAttribute('aria-describedby', headId);
      }
      approve.onclick = () => this.answer(item, node, true);
      deny.onclick = () => this.answer(item, node, false);
      // Enter in the reason box denies nothing by accident: it does nothing but keep the text.
      reason.onkeydown = (event) => { if (event.key === 'Enter') event.preventDefault(); };
      const watch = el('a', 'queue-watch', 'Watch session');
      watch.href = ConsoleUtil.sessionHref(item.session_id);
      watch.setAttribute('aria-describedby', headId);
      const actions = el('div', 'queue-actions');
      actions.append(approve, deny, watch);
      node.append(head, tool, args, label, reason, actions);
      this.nodes.set(keyOf(item), node);
      return node;
    }

    async answer(item, node, approve) {
      const key = keyOf(item);
      const reason = node.querySelector('.queue-reason').value.trim();
      const buttons = node.querySelectorAll('button');
      buttons.forEach((b) => { b.disabled = true; });
      const path = `/sessions/${encodeURIComponent(item.session_id)}/approvals/${encodeURIComponent(item.approval.id)}`;
      try {
        await api(path, { method: 'POST', body: JSON.stringify({ approve, reason }) });
      } catch (error) {
        buttons.forEach((b) => { b.disabled = false; });
        this.say(`Could not answer ${item.approval.tool_name} for ${item.user_id}: ${error.message}`);
        this.load().catch(() => {});  // answered meanwhile (by its user): the refresh drops it
        return;
      }
      this.answered.add(key);
      // The focus goes to the next item's first button (or the queue) rather than to nowhere.
      const next = node.nextElementSibling || node.previousElementSibling;
      const hadFocus = node.contains(document.activeElement);
      node.remove();
      this.nodes.delete(key);
      this.say(`${approve ? 'Approved' : 'Denied'} ${item.approval.tool_name} for ${item.user_id}${reason ? `: ${reason}` : ''}.`);
      if (hadFocus) (next?.querySelector('button') || $('approvals')).focus();
      this.counted();
    }
  }

  return { ApprovalQueue };
})();
