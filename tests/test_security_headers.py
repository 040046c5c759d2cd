"""Every response carries the Content-Security-Policy, the referrer policy and nosniff (pages, static
and vendored files, the API, errors), and Chromium enforces the policy on the pages: script, event
handlers, `javascript:` links and style attributes put into the page's DOM do nothing, while the
page's own scripts and the vendored libraries run."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from durable_chat.api import security
from durable_chat.testing.processes import Process
from tests.browser import axe_violations, browser, page, watch_for_problems
from tests.conftest import token_for

__all__ = ['browser', 'page']  # the page fixtures of tests/browser.py

# Each page as its user opens it (signed in, so it reads the API as it would).
PAGES = {
    'chat page': f'/#token={token_for("sec-page")}',
    'console': f'/operator.html#token={token_for("sec-olga", "operator")}',
}


def assert_security_headers(response: httpx.Response) -> None:
    csp = response.headers.get('content-security-policy', '')
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(';') if d.strip()}
    assert directives['script-src'] == ["'self'"], csp
    assert directives['style-src'] == ["'self'"], csp
    assert directives['img-src'] == ["'self'", 'data:'], csp
    assert directives['connect-src'] == ["'self'", 'ws:', 'wss:'], csp
    assert directives['object-src'] == ["'none'"], csp
    assert directives['base-uri'] == ["'none'"], csp
    assert directives['frame-ancestors'] == ["'none'"], csp
    assert response.headers.get('referrer-policy') == 'no-referrer'
    assert response.headers.get('x-content-type-options') == 'nosniff'


@pytest.mark.integration
async def test_every_kind_of_response_carries_the_security_headers(api_url: str, worker: Process) -> None:
    headers = {'Authorization': f'Bearer {token_for("sec-alice")}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        answers = {
            'chat page': await http.get('/'),
            'console': await http.get('/operator.html'),
            'script': await http.get('/common.js'),
            'vendored library': await http.get('/vendor/marked.min.js'),
            'vendored css': await http.get('/vendor/hljs-dark.css'),
            'API JSON': await http.get('/sessions', headers=headers),
            'health': await http.get('/healthz'),
            'missing file': await http.get('/no-such-file.js'),
            'missing session': await http.get(f'/sessions/{"0" * 32}', headers=headers),
            'no token': await http.get('/sessions'),
            'wrong method': await http.put('/sessions', headers=headers),
            'invalid body': await http.post('/sessions', headers=headers, json={'message': 7}),
        }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        'chat page': 200,
        'console': 200,
        'script': 200,
        'vendored library': 200,
        'vendored css': 200,
        'API JSON': 200,
        'health': 200,
        'missing file': 404,
        'missing session': 404,
        'no token': 401,
        'wrong method': 405,
        'invalid body': 422,
    }
    for answer in answers.values():
        assert_security_headers(answer)
    assert answers['API JSON'].headers['content-type'] == 'application/json'


@pytest.mark.integration
async def test_the_api_docs_get_a_policy_that_lets_them_load(api_url: str) -> None:
    # Swagger UI is inline script plus a CDN's files: under the pages' policy it would be blank.
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        docs = await http.get('/docs')
    csp = docs.headers['content-security-policy']
    script_src = next(d.split()[1:] for d in csp.split(';') if d.split()[0] == 'script-src')
    assert "'unsafe-inline'" in script_src
    assert 'https://cdn.jsdelivr.net' in script_src
    assert 'swagger-ui' in docs.text
    assert docs.headers.get('referrer-policy') == 'no-referrer'


async def test_an_unhandled_error_still_carries_the_security_headers() -> None:
    # The 500 of Starlette's outermost middleware, which middleware added the usual way never sees.
    async def broken(request: Request) -> Response:
        raise RuntimeError('boom')

    app = Starlette(routes=[Route('/broken', broken)])
    security.install(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url='http://test') as http:
        answer = await http.get('/broken')
    assert answer.status_code == 500
    assert_security_headers(answer)


# Collects the policy's violations from before the page's first script runs.
WATCH_VIOLATIONS = """
window.__violations = [];
window.__ran = [];
window.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push({directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample});
}, true);
"""

# Script, an event handler, a javascript: link and a style attribute, put into the DOM the ways an
# unsanitised insertion would; each would push to window.__ran (or colour the div) if it ran.
INJECT = """() => {
  const script = document.createElement('script');
  script.textContent = "window.__ran.push('script')";
  document.body.append(script);
  document.body.insertAdjacentHTML('beforeend',
    '<img id="x-img" alt="" src="data:," onerror="window.__ran.push(\\'onerror\\')">' +
    '<a id="x-link" href="javascript:window.__ran.push(\\'link\\')">x</a>' +
    '<div id="x-style" style="color: rgb(255, 0, 0)">x</div>');
  document.getElementById('x-link').click();
}"""


@pytest.mark.integration
@pytest.mark.parametrize('name', PAGES)
async def test_the_page_runs_its_own_scripts_and_nothing_put_into_its_dom(
    page: Page, api_url: str, name: str
) -> None:
    await page.add_init_script(WATCH_VIOLATIONS)
    await page.goto(f'{api_url}{PAGES[name]}')
    await page.wait_for_load_state('load')
    # The page's own scripts ran (common.js defines DC on both pages), breaking none of the policy.
    assert await page.evaluate("typeof DC === 'object'")
    assert await page.evaluate('window.__violations') == []

    await page.evaluate(INJECT)
    await page.wait_for_function('window.__violations.length >= 4')
    violations = await page.evaluate('window.__violations')
    assert {v['directive'] for v in violations} >= {'script-src-elem', 'script-src-attr', 'style-src-attr'}
    assert await page.evaluate('window.__ran') == []
    color = await page.evaluate("getComputedStyle(document.getElementById('x-style')).color")
    assert color != 'rgb(255, 0, 0)'


@pytest.mark.integration
async def test_the_vendored_libraries_load_and_work_under_the_policy(page: Page, api_url: str) -> None:
    problems = watch_for_problems(page)
    await page.add_init_script(WATCH_VIOLATIONS)
    await page.goto(f'{api_url}{PAGES["chat page"]}')
    for name in ('marked.min.js', 'purify.min.js', 'highlight.min.js'):
        await page.add_script_tag(url=f'/vendor/{name}')
    for name in ('hljs-light.css', 'hljs-dark.css'):
        await page.add_style_tag(url=f'/vendor/{name}')

    assert await page.evaluate("marked.parse('**bold** and `code`')") == (
        '<p><strong>bold</strong> and <code>code</code></p>\n'
    )
    highlighted = await page.evaluate(
        "hljs.highlight('def f(x):\\n    return 1', {language: 'python'}).value"
    )
    assert '<span class="hljs-keyword">def</span>' in highlighted
    assert await page.evaluate(
        "['python', 'javascript', 'bash', 'json', 'sql'].every((l) => hljs.getLanguage(l))"
    )
    assert await page.evaluate('window.__violations') == []
    assert [problem for problem in problems if '/vendor/' in problem] == []

    # Last: Chromium reports the handler DOMPurify's inert parse meets as a violation (nothing runs).
    clean = await page.evaluate(
        'DOMPurify.sanitize(\'<img src=x onerror="alert(1)"><a href="javascript:alert(1)">a</a>\')'
    )
    assert clean == '<img src="x"><a>a</a>'


@pytest.mark.integration
async def test_axe_runs_on_the_chat_page_under_the_policy(page: Page, api_url: str) -> None:
    # axe is evaluated through the DevTools protocol, which the policy does not restrict; the page
    # tests assert what it finds.
    await page.goto(f'{api_url}{PAGES["chat page"]}')
    await page.wait_for_load_state('load')
    violations = await axe_violations(page)
    assert isinstance(violations, list)
    assert await page.evaluate('typeof axe.version') == 'string'
