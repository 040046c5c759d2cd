// Markdown to DOM, safely: marked parses, raw HTML in the text is shown as text (never markup),
// DOMPurify sanitizes what marked built, links open in a new tab without a referrer or opener and
// `javascript:` (any non-http(s)/mailto) URLs are dropped, images become links (the page's CSP
// allows no outside images), and code blocks get highlight.js colours and a Copy button.
// `stableEnd` tells a streaming reply how much of its text is finished blocks (rendered once, kept).
// Without the vendored libraries (not loaded), text is shown as it is.
'use strict';

const Markdown = (() => {
  const SAFE_URL = /^(https?:|mailto:|#|\/(?!\/))/i;
  let parser = null;

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }

  function ready() {
    if (parser) return true;
    if (typeof marked === 'undefined' || typeof DOMPurify === 'undefined') return false;
    parser = new marked.Marked({ gfm: true, breaks: true, async: false });
    parser.use({
      renderer: {
        html({ text }) { return escapeHtml(text); },
        image({ href, text }) {
          const label = escapeHtml(text || href || 'image');
          return SAFE_URL.test(href || '') ? `<a href="${escapeHtml(href)}">${label}</a>` : label;
        },
      },
    });
    DOMPurify.addHook('uponSanitizeAttribute', (node, data) => {
      // Only a code block's language class survives (marked's `language-x`, for highlight.js).
      if (data.attrName === 'class') data.keepAttr = node.tagName === 'CODE' && /^language-[\w+#.-]+$/.test(data.attrValue);
    });
    DOMPurify.addHook('afterSanitizeAttributes', (node) => {
      if (node.tagName !== 'A') return;
      const href = node.getAttribute('href');
      if (href !== null && !SAFE_URL.test(href.trim())) node.removeAttribute('href');
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    });
    return true;
  }

  const PURIFY = {
    RETURN_DOM_FRAGMENT: true,
    FORBID_TAGS: ['style', 'img', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'svg', 'math'],
    FORBID_ATTR: ['style', 'id'],
  };

  // The finished part of a streaming text ends after its last blank line outside a code fence: the
  // blocks before it cannot change as more text comes (the open tail is rendered again per token).
  function stableEnd(text) {
    let fence = null;
    let position = 0;
    let end = 0;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length - 1; i += 1) {  // the last line is still being written
      const line = lines[i];
      const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (marker && !fence) fence = marker[1];
      else if (marker && marker[1][0] === fence[0] && marker[1].length >= fence.length && /^ {0,3}[`~]+\s*$/.test(line)) fence = null;
      else if (!fence && !line.trim()) end = position + line.length + 1;
      position += line.length + 1;
    }
    return end;
  }

  function codeBlock(pre) {
    const code = pre.querySelector('code');
    const language = /language-([\w+#.-]+)/.exec(code?.className || '')?.[1] || '';
    if (code && typeof hljs !== 'undefined') {
      if (language && !hljs.getLanguage(language)) code.className = 'language-plaintext';
      if (language || code.textContent.length > 20) hljs.highlightElement(code);
    }
    const box = DC.el('div', 'code-block');
    const bar = DC.el('div', 'code-bar');
    bar.append(DC.el('span', 'code-language', language || 'code'),
      DC.copyButton('copy-code', `Copy ${language || ''} code`.replace('  ', ' '), () => (code || pre).textContent));
    pre.replaceWith(box);
    box.append(bar, pre);
  }

  // A DocumentFragment of the markdown text, safe to insert.
  function render(text) {
    const fragment = document.createDocumentFragment();
    if (!text) return fragment;
    if (!ready()) { fragment.append(DC.el('p', 'plain', text)); return fragment; }
    const html = parser.parse(text);
    const clean = DOMPurify.sanitize(html, PURIFY);
    for (const pre of clean.querySelectorAll('pre')) codeBlock(pre);
    // highlight.js sets classes on spans; DOMPurify ran before, so no class came from the text.
    return clean;
  }

  return { render, stableEnd, escapeHtml };
})();
