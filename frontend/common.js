// Shared by the chat page and the operator console: sign-in, REST calls and small DOM helpers.
// A page showing a session (DC.SessionView) loads, in this order: vendor/marked.min.js,
// vendor/purify.min.js, vendor/highlight.min.js, common.js, markdown.js, tools.js, transcript.js,
// session-view.js. Nothing from the server (model output, titles, tool results, memories) is ever
// inserted as HTML: text goes in as textContent, markdown only through markdown.js's sanitizer.
'use strict';

const DC = (() => {
  const TOKEN_KEY = 'durable-chat-token';
  const $ = (id) => document.getElementById(id);

  function takeHashParams() {
    // A token arrives once in the URL fragment (never sent to the server), then lives in
    // localStorage; it is removed from the URL at once so no link, bookmark or history entry keeps it.
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get('token')) {
      localStorage.setItem(TOKEN_KEY, params.get('token'));
      params.delete('token');
      const rest = params.toString();
      history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
    }
    return params;
  }

  function token() { return localStorage.getItem(TOKEN_KEY); }

  function showSignIn(message) {
    $('signin').hidden = false;
    $('signin-message').textContent = message || '';
    $('signin-form').onsubmit = (event) => {
      event.preventDefault();
      localStorage.setItem(TOKEN_KEY, $('signin-token').value.trim());
      location.reload();
    };
  }

  class ApiError extends Error {
    constructor(message, status, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;  // seconds, from a 429's Retry-After
    }
  }

  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, {
        ...options,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token()}`, ...(options.headers || {}) },
      });
    } catch (error) {
      throw new ApiError(navigator.onLine ? 'The server cannot be reached.' : 'You are offline.', 0);
    }
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) showSignIn('Your sign-in expired or is invalid.');
    if (!response.ok) {
      const detail = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail || response.statusText);
      const retryAfter = Number(response.headers.get('retry-after')) || 0;
      throw new ApiError(detail, response.status, retryAfter);
    }
    return body;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(className, text, label, onClick) {
    const node = el('button', className, text);
    node.type = 'button';
    if (label) node.setAttribute('aria-label', label);
    if (onClick) node.onclick = onClick;
    return node;
  }

  function randomHex(bytes) {
    // Not crypto.randomUUID: that needs a secure context, and the page may be served over plain http.
    return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); return; }
    const area = el('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }

  // A button that copies, then says so for a moment (its label too, for screen readers).
  function copyButton(className, label, getText) {
    const node = button(className, 'Copy', label);
    node.onclick = () => copyText(getText()).then(() => {
      node.textContent = 'Copied';
      node.dataset.copied = 'true';
      setTimeout(() => { node.textContent = 'Copy'; delete node.dataset.copied; }, 1500);
    }).catch(() => { node.textContent = 'Copy failed'; });
    return node;
  }

  function relativeTime(iso, now = Date.now()) {
    if (!iso) return '';
    const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
    if (Number.isNaN(seconds)) return '';
    if (seconds < 45) return 'just now';
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `${minutes} min ago`;
    const hours = Math.round(minutes / 60);
    if (hours < 24) return `${hours} h ago`;
    const days = Math.round(hours / 24);
    if (days < 7) return `${days} d ago`;
    return new Date(iso).toLocaleDateString();
  }

  // Errors in words, with what to do about them.
  function explain(error) {
    if (error.status === 429) {
      const wait = error.retryAfter ? ` Wait ${error.retryAfter} s, then try again.` : ' Wait a moment, then try again.';
      return `Slow down, ${error.message}.${/try again/.test(error.message) ? '' : wait}`;
    }
    if (error.status === 413) return `Too long: ${error.message}. Shorten it or split it in two.`;
    if (error.status === 503) return `${error.message}. The service is busy or restarting: try again shortly.`;
    return error.message;
  }

  return {
    $, api, ApiError, el, button, token, takeHashParams, showSignIn, randomHex, copyText, copyButton, relativeTime, explain,
  };
})();
