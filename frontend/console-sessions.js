// The console's list of every session (GET /operator/sessions): status and user filtered by the
// server, the search box by the page. Rows are updated in place, keyed by session id, so a refresh
// neither moves the keyboard focus nor the scroll position. Every text goes in by textContent.
'use strict';

const SessionList = (() => {
  const { $, api, el } = DC;

  class SessionList {
    constructor() {
      this.sessions = [];
      this.nodes = new Map();  // session id -> li
      this.selected = '';
    }

    query() {
      const query = new URLSearchParams();
      // The server filters by its session statuses; 'deleted' (a status it reports) the page filters.
      const status = $('filter-status').value;
      if (status && status !== 'deleted') query.set('status', status);
      const user = $('filter-user').value.trim();
      if (user) query.set('user', user);
      return query;
    }

    async load() {
      try {
        this.sessions = await api(`/operator/sessions?${this.query()}`);
        $('sessions-note').textContent = '';
      } catch (error) {
        $('sessions-note').textContent = `Could not load the sessions: ${error.message}`;
        throw error;
      }
      this.render();
    }

    find(sessionId) { return this.sessions.find((s) => s.session_id === sessionId); }

    shown() {
      const words = $('filter-q').value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      const status = $('filter-status').value;
      const listed = status ? this.sessions.filter((s) => s.status === status) : this.sessions;
      if (!words.length) return listed;
      return listed.filter((s) => {
        const text = [s.user_id, s.title, s.agent, s.model, s.status, s.session_id].join(' ').toLowerCase();
        return words.every((w) => text.includes(w));
      });
    }

    build(sessionId) {
      const row = el('li', 'session-row');
      row.dataset.sessionId = sessionId;
      const open = el('a', 'session-open');
      open.href = ConsoleUtil.sessionHref(sessionId);
      const top = el('span', 'session-line');
      top.append(el('span', 'session-title'), el('time', 'session-when'));
      const bottom = el('span', 'session-line session-sub');
      bottom.append(el('span', 'badge session-status'), el('span', 'session-user'), el('span', 'session-agent'));
      open.append(top, bottom);
      const temporal = el('a', 'temporal-link', 'Temporal');
      temporal.target = '_blank';
      temporal.rel = 'noopener noreferrer';
      row.append(open, temporal);
      this.nodes.set(sessionId, row);
      return row;
    }

    fill(row, s) {
      const title = s.title || '(untitled)';
      const status = s.status || '';
      row.dataset.status = status;
      row.querySelector('.session-title').textContent = title;
      const badge = row.querySelector('.session-status');
      badge.textContent = ConsoleUtil.statusWords(status);
      badge.dataset.status = status;
      row.querySelector('.session-user').textContent = s.user_id;
      row.querySelector('.session-agent').textContent = [s.agent, s.model].filter(Boolean).join(' · ');
      const when = row.querySelector('.session-when');
      const at = s.last_activity || s.started_at || '';
      when.dateTime = at;
      when.textContent = ConsoleUtil.ago(at);
      when.title = at ? new Date(at).toLocaleString() : '';
      const temporal = row.querySelector('.temporal-link');
      temporal.href = s.temporal_ui;
      temporal.setAttribute('aria-label', `Temporal history of ${title} (opens in a new tab)`);
      const open = row.querySelector('.session-open');
      if (s.session_id === this.selected) open.setAttribute('aria-current', 'true');
      else open.removeAttribute('aria-current');
      row.classList.toggle('selected', s.session_id === this.selected);
    }

    render() {
      const list = $('sessions');
      const shown = this.shown();
      const keep = new Set(shown.map((s) => s.session_id));
      for (const [id, row] of this.nodes) {
        if (!keep.has(id)) { row.remove(); this.nodes.delete(id); }
      }
      // Moving a node that holds the focus would drop it: insert only where the order changed.
      let cursor = list.firstChild;
      for (const s of shown) {
        const row = this.nodes.get(s.session_id) || this.build(s.session_id);
        this.fill(row, s);
        if (row === cursor) cursor = cursor.nextSibling;
        else list.insertBefore(row, cursor);
      }
      const total = this.sessions.length;
      $('sessions-count').textContent = shown.length === total ? `(${total})` : `(${shown.length} of ${total})`;
      if (!$('sessions-note').textContent.startsWith('Could not')) {
        $('sessions-note').textContent = shown.length ? '' : total ? 'No session matches the search.' : 'No sessions.';
      }
    }

    select(sessionId) {
      this.selected = sessionId;
      this.render();
    }
  }

  return { SessionList };
})();
