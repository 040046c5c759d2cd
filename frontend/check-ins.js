// The open chat's active check-ins, from its snapshot: what about, when in words (in the chat's time
// zone), the next time (read from GET /sessions/{id}/check-ins, which asks the check-in's Temporal
// Schedule) and a Cancel button (DELETE). Each check-in, when it comes, is a turn of the transcript.
'use strict';

const CheckIns = (() => {
  const { $, api, el, button } = DC;
  let view = null;
  let drawn = '';  // what the list shows: redrawn only when it changes
  let asked = '';  // the check-ins (and their last turns) the next times were read for
  let nextRuns = {};

  function active() {
    return (view?.session?.check_ins || []).filter((c) => c.status === 'active');
  }

  // The next times move each time a check-in comes: read again when one came, or the list changed.
  async function readNextRuns(sessionId, key) {
    asked = key;
    try {
      const listed = await api(`/sessions/${sessionId}/check-ins`);
      if (view?.sessionId !== sessionId || asked !== key) return;
      nextRuns = Object.fromEntries(listed.filter((c) => c.next_run).map((c) => [c.id, c.next_run]));
      show(view);
    } catch (error) {
      // Shown without next times; the next change asks again.
    }
  }

  function cancel(checkIn) {
    return Reminders.cancelItem(checkIn, {
      path: `/sessions/${view.sessionId}/check-ins/${encodeURIComponent(checkIn.id)}`,
      current: () => view, redraw: show, panel: 'check-ins', list: 'check-in-list', note: 'check-ins-note',
    });
  }

  function item(checkIn, timeZone) {
    const li = el('li', 'reminder check-in');
    li.dataset.checkInId = checkIn.id;
    li.append(el('span', 'reminder-text', checkIn.text), el('span', 'check-in-schedule', checkIn.schedule));
    const next = nextRuns[checkIn.id];
    if (next) {
      const time = el('time', 'reminder-when check-in-next', `next ${Reminders.when(next, timeZone)}`);
      time.dateTime = next;
      li.append(time);
    }
    li.append(button('reminder-cancel', 'Cancel', `cancel the check-in: ${checkIn.text}`, () => cancel(checkIn)));
    return li;
  }

  // Draws the open chat's check-ins (the view's last snapshot); none open, or none active: hidden.
  function show(v) {
    if (view?.sessionId !== v?.sessionId) nextRuns = {};
    view = v;
    const list = active();
    const timeZone = view?.session?.timezone || Reminders.browserZone();
    const wanted = JSON.stringify([view?.sessionId, list.map((c) => [c.id, c.last_fired_turn])]);
    if (view?.sessionId && list.length && wanted !== asked) readNextRuns(view.sessionId, wanted);
    const key = JSON.stringify([view?.sessionId, timeZone, list.map((c) => [c.id, c.text, c.schedule, nextRuns[c.id]])]);
    if (key !== drawn) {
      const focused = document.activeElement?.closest?.('#check-in-list li')?.dataset.checkInId;
      $('check-ins-note').textContent = '';
      drawn = key;
      $('check-ins-count').textContent = !list.length ? 'No check-ins' : list.length === 1 ? '1 check-in' : `${list.length} check-ins`;
      $('check-in-list').replaceChildren(...list.map((c) => item(c, timeZone)));
      if (focused) $('check-in-list').querySelector(`li[data-check-in-id="${CSS.escape(focused)}"] button`)?.focus();
    }
    $('check-ins').hidden = !view?.sessionId || (!list.length && !$('check-ins-note').textContent);
  }

  return { show };
})();
