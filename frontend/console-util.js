// Small helpers of the operator console's panels (loaded after common.js, before the panels).
'use strict';

const ConsoleUtil = (() => {
  const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'short' });
  const UNITS = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];

  function ago(iso, now = Date.now()) {
    // "5 min. ago" from an ISO 8601 time; '' when there is none.
    if (!iso) return '';
    const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
    if (Number.isNaN(seconds)) return '';
    if (Math.abs(seconds) < 10) return 'just now';
    for (const [unit, size] of UNITS) {
      if (Math.abs(seconds) >= size) return relative.format(Math.trunc(seconds / size), unit);
    }
    return 'just now';
  }

  function poll(task, everyMs) {
    // Runs task now and again everyMs after each run ends (never two at once); returns "run now".
    let timer = null;
    let running = null;
    const run = async () => {
      clearTimeout(timer);
      if (!running) {
        running = Promise.resolve().then(task).catch(() => {}).finally(() => { running = null; });
      }
      await running;
      clearTimeout(timer);
      timer = setTimeout(run, everyMs);
    };
    run();
    return run;
  }

  function hashSession() {
    return new URLSearchParams(location.hash.slice(1)).get('session') || '';
  }

  function sessionHref(sessionId) {
    return `#${new URLSearchParams({ session: sessionId })}`;
  }

  let ids = 0;
  function uid(prefix) { ids += 1; return `${prefix}-${ids}`; }

  function statusWords(status) { return (status || '').replace(/_/g, ' '); }

  return { ago, poll, hashSession, sessionHref, uid, statusWords };
})();
