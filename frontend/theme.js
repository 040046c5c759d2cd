// Light or dark: the system's choice unless the user picked one (kept in localStorage). The theme
// button cycles system -> light -> dark. highlight.js's two stylesheets follow the same choice.
'use strict';

const Theme = (() => {
  const KEY = 'durable-chat-theme';
  const MODES = ['system', 'light', 'dark'];

  function apply(mode) {
    const root = document.documentElement;
    if (mode === 'system') delete root.dataset.theme; else root.dataset.theme = mode;
    const light = document.getElementById('hljs-light');
    const dark = document.getElementById('hljs-dark');
    if (light && dark) {
      light.media = mode === 'system' ? '(prefers-color-scheme: light)' : mode === 'light' ? 'all' : 'not all';
      dark.media = mode === 'system' ? '(prefers-color-scheme: dark)' : mode === 'dark' ? 'all' : 'not all';
    }
    const toggle = document.getElementById('theme');
    if (toggle) toggle.textContent = `Theme: ${mode}`;
  }

  function current() {
    const stored = localStorage.getItem(KEY);
    return MODES.includes(stored) ? stored : 'system';
  }

  function set(mode) {
    if (mode === 'system') localStorage.removeItem(KEY); else localStorage.setItem(KEY, mode);
    apply(mode);
  }

  function init() {
    apply(current());
    const toggle = document.getElementById('theme');
    if (toggle) toggle.onclick = () => set(MODES[(MODES.indexOf(current()) + 1) % MODES.length]);
  }

  init();
  return { set, current };
})();
