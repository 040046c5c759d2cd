// The console's live panel (GET /operator/stats): each metric's current value and its recent series
// as a sparkline, an inline SVG built with DOM calls (createElementNS, no markup strings), whose
// title and aria-label say the numbers for screen readers.
'use strict';

const StatsPanel = (() => {
  const { $, api, el } = DC;
  const SVG = 'http://www.w3.org/2000/svg';
  const WIDTH = 160;
  const HEIGHT = 40;
  const PAD = 3;
  const METRICS = [
    { key: 'active_sessions', name: 'Active sessions' },
    { key: 'turns_per_minute', name: 'Turns per minute' },
    { key: 'first_token_p50_ms', name: 'First token p50', ms: true },
    { key: 'first_token_p95_ms', name: 'First token p95', ms: true },
    { key: 'errors', name: 'Errors', alarm: true },
  ];

  function format(value, metric) {
    if (value === null || value === undefined || Number.isNaN(value)) return '—';
    if (metric.ms) return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
    return Number.isInteger(value) ? `${value}` : value.toFixed(1);
  }

  function spoken(value, metric) {
    const text = format(value, metric);
    return text === '—' ? 'no measurement' : text;
  }

  function windowWords(stats) {
    const seconds = (stats.bucket_seconds || 0) * (stats.buckets || (stats.series?.active_sessions?.length ?? 0));
    if (!seconds) return '';
    return seconds >= 120 ? `last ${Math.round(seconds / 60)} minutes` : `last ${seconds} seconds`;
  }

  function node(tag, attributes) {
    const made = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, String(value));
    return made;
  }

  function runs(values) {
    // Stretches of measured values: a bucket with nothing measured (null) breaks the line.
    const found = [];
    let current = [];
    values.forEach((value, index) => {
      if (value === null || value === undefined) {
        if (current.length) found.push(current);
        current = [];
      } else {
        current.push([index, value]);
      }
    });
    if (current.length) found.push(current);
    return found;
  }

  function draw(svg, values, label) {
    const measured = values.filter((v) => v !== null && v !== undefined);
    const top = Math.max(1, ...measured);
    const step = values.length > 1 ? (WIDTH - 2 * PAD) / (values.length - 1) : 0;
    const x = (index) => PAD + index * step;
    const y = (value) => HEIGHT - PAD - (value / top) * (HEIGHT - 2 * PAD);
    const title = node('title', {});
    title.textContent = label;
    svg.replaceChildren(title, node('line', { class: 'spark-base', x1: 0, x2: WIDTH, y1: HEIGHT - PAD, y2: HEIGHT - PAD }));
    for (const run of runs(values)) {
      // One measured bucket alone is a short dash, so it is still seen.
      const points = run.length > 1 ? run.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`)
        : [`${(x(run[0][0]) - 2).toFixed(1)},${y(run[0][1]).toFixed(1)}`, `${(x(run[0][0]) + 2).toFixed(1)},${y(run[0][1]).toFixed(1)}`];
      svg.append(node('polyline', { class: 'spark-line', points: points.join(' ') }));
    }
    svg.setAttribute('aria-label', label);
  }

  function describe(metric, values, current, span) {
    const measured = values.filter((v) => v !== null && v !== undefined);
    const over = span ? ` over the ${span}` : '';
    if (!measured.length) return `${metric.name}: now ${spoken(current, metric)}; nothing measured${over}.`;
    const low = format(Math.min(...measured), metric);
    const high = format(Math.max(...measured), metric);
    return `${metric.name}: now ${spoken(current, metric)}; lowest ${low}, highest ${high}${over}.`;
  }

  class StatsPanel {
    constructor() { this.tiles = new Map(); }

    build(metric) {
      const tile = el('figure', 'metric');
      tile.dataset.metric = metric.key;
      const svg = node('svg', { class: 'sparkline', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: 'none', role: 'img' });
      tile.append(el('figcaption', 'metric-name', metric.name), el('p', 'metric-value'), svg);
      $('stats').append(tile);
      this.tiles.set(metric.key, tile);
      return tile;
    }

    async load() {
      let stats;
      try {
        stats = await api('/operator/stats');
      } catch (error) {
        $('stats-note').textContent = `Could not load the stats: ${error.message}`;
        throw error;
      }
      $('stats-note').textContent = '';
      this.render(stats);
    }

    render(stats) {
      const span = windowWords(stats);
      $('stats-window').textContent = span ? `(${span})` : '';
      for (const metric of METRICS) {
        const tile = this.tiles.get(metric.key) || this.build(metric);
        const values = stats.series?.[metric.key] ?? [];
        const current = stats.current?.[metric.key] ?? null;
        tile.querySelector('.metric-value').textContent = format(current, metric);
        tile.dataset.value = current === null ? '' : String(current);
        tile.classList.toggle('alarm', Boolean(metric.alarm && current));
        draw(tile.querySelector('svg'), values, describe(metric, values, current, span));
      }
    }
  }

  return { StatsPanel, format };
})();
