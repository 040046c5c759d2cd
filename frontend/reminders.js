// The open chat's pending reminders, from its snapshot: what, when (in the chat's time zone, else
// the browser's) and how soon, each with a Cancel button (DELETE). The reminder's own message, once
// due, is a turn of the transcript (transcript.js).
'use strict';

const Reminders = (() => {
  const { $, api, el, button } = DC;
  const TICK_MS = 15000;
  let view = null;
  let drawn = '';  // what the list shows (ids, due times, zone): redrawn only when it changes

  const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

  function format(date, options) {
    try {
      return new Intl.DateTimeFormat(undefined, options).format(date);
    } catch (error) {  // a zone this browser does not know: the browser's own
      return new Intl.DateTimeFormat(undefined, { ...options, timeZone: undefined }).format(date);
    }
  }

  // "14:05:09 GMT+1", with the date in front when it is not today (in that zone).
  function when(iso, timeZone) {
    const date = new Date(iso);
    const time = format(date, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone, timeZoneName: 'short' });
    const day = (d) => format(d, { year: 'numeric', month: 'short', day: 'numeric', timeZone });
    return day(date) === day(new Date()) ? time : `${day(date)}, ${time}`;
  }

  function soon(iso, now = Date.now()) {
    const seconds = Math.round((Date.parse(iso) - now) / 1000);
    if (seconds <= 0) return 'due now';
    if (seconds < 60) return `in ${seconds} s`;
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `in ${minutes} min`;
    const hours = Math.round(minutes / 60);
    return hours < 48 ? `in ${hours} h` : `in ${Math.round(hours / 24)} d`;
  }

  function pending() {
    return (view?.session?.reminders || []).filter((r) => r.status === 'pending');
  }

  // Cancels one of the open chat's reminders or check-ins: DELETE `path`, then says how it went under
  // the list (`note`) and, its button being gone, focuses the next one in `list` or the message box.
  // `current()` is the view now, `redraw` draws its list again.
  async function cancelItem(thing, { path, current, redraw, panel, list, note }) {
    const sessionId = current().sessionId;
    let words;
    try {
      await api(path, { method: 'DELETE' });
      words = `Cancelled: ${thing.text}`;
      thing.status = 'cancelled';
    } catch (error) {
      words = `Not cancelled: ${DC.explain(error)}`;
    }
    const now = current();
    if (now.sessionId !== sessionId) return;
    redraw(now);
    $(note).textContent = words;  // after the redraw, which clears it
    $(panel).hidden = false;
    now.scheduleRefresh();
    if (!document.activeElement || document.activeElement === document.body) ($(list).querySelector('button') || $('text')).focus();
  }

  function cancel(reminder) {
    return cancelItem(reminder, {
      path: `/sessions/${view.sessionId}/reminders/${encodeURIComponent(reminder.id)}`,
      current: () => view, redraw: show, panel: 'reminders', list: 'reminder-list', note: 'reminders-note',
    });
  }

  function item(reminder, timeZone) {
    const li = el('li', 'reminder');
    li.dataset.reminderId = reminder.id;
    const time = el('time', 'reminder-when', when(reminder.due, timeZone));
    time.dateTime = reminder.due;
    li.append(el('span', 'reminder-text', reminder.text), time, el('span', 'reminder-soon', soon(reminder.due)),
      button('reminder-cancel', 'Cancel', `cancel the reminder: ${reminder.text}`, () => cancel(reminder)));
    return li;
  }

  // Draws the open chat's reminders (the view's last snapshot); none open, or none pending: hidden.
  function show(v) {
    view = v;
    const list = pending();
    const timeZone = view?.session?.timezone || browserZone();
    const key = JSON.stringify([view?.sessionId, timeZone, list.map((r) => [r.id, r.due, r.text])]);
    if (key !== drawn) {
      const focused = document.activeElement?.closest?.('#reminder-list li')?.dataset.reminderId;
      $('reminders-note').textContent = '';  // it was about the list as it was
      drawn = key;
      $('reminders-count').textContent = !list.length ? 'No reminders' : list.length === 1 ? '1 reminder' : `${list.length} reminders`;
      $('reminder-list').replaceChildren(...list.map((r) => item(r, timeZone)));
      if (focused) $('reminder-list').querySelector(`li[data-reminder-id="${CSS.escape(focused)}"] button`)?.focus();
    }
    // Kept while it says what became of a cancel, also of the last one.
    $('reminders').hidden = !view?.sessionId || (!list.length && !$('reminders-note').textContent);
  }

  // How soon: moves on with the clock.
  setInterval(() => {
    for (const li of $('reminder-list').children) {
      const reminder = pending().find((r) => r.id === li.dataset.reminderId);
      if (reminder) li.querySelector('.reminder-soon').textContent = soon(reminder.due);
    }
  }, TICK_MS);

  return { show, browserZone, when, cancelItem };
})();
