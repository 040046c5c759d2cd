"""Headless Chromium for the page tests: the fixtures, and what several page tests need (signing in
and sending, problems a page reports, screenshots at both widths and themes, an axe-core audit,
reading a session)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from tests.conftest import token_for

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
]
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=375, height=740)
Theme = Literal['light', 'dark']


@pytest.fixture(scope='session')
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    page = await context.new_page()
    yield page
    await context.close()


@asynccontextmanager
async def page_of_its_own(browser: Browser) -> AsyncGenerator[Page]:
    """A page in a browser of its own: Chromium remembers a site's missing icon across contexts."""
    own = await browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield await own.new_page()
    finally:
        await own.close()


def watch_for_problems(page: Page) -> list[str]:
    """Every failed request, HTTP error, console error and uncaught exception of the page."""
    problems: list[str] = []
    page.on('response', lambda r: problems.append(f'{r.status} {r.url}') if r.status >= 400 else None)
    page.on('requestfailed', lambda r: problems.append(f'{r.url} failed: {r.failure}'))
    page.on('pageerror', lambda error: problems.append(f'uncaught {error}'))
    page.on(
        'console',
        lambda m: (
            problems.append(f'console: {m.text} ({m.location.get("url")})') if m.type == 'error' else None
        ),
    )
    return problems


def screenshots_dir() -> Path:
    """Where page tests leave their screenshots: `DURABLE_CHAT_SCREENSHOTS`, or a folder under the
    system's temporary directory (kept after the run, for a person to look at)."""
    folder = Path(
        os.environ.get('DURABLE_CHAT_SCREENSHOTS')
        or Path(os.environ.get('TMPDIR', '/tmp')) / 'durable-chat-screenshots'
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def shoot(page: Page, name: str, size: ViewportSize, theme: Theme) -> Path:
    """A screenshot of the page as it is now, at `size` in `theme`."""
    await page.set_viewport_size(size)
    await page.emulate_media(color_scheme=theme)
    path = screenshots_dir() / f'{name}-{size["width"]}-{theme}.png'
    await page.screenshot(path=str(path))
    return path


async def axe_violations(
    page: Page, impacts: frozenset[str] = frozenset({'serious', 'critical'})
) -> list[dict[str, Any]]:
    """axe-core's violations of the page as it is now, of the given impacts. axe is evaluated through
    the DevTools protocol: the page's Content-Security-Policy forbids it as an inline script."""
    from durable_chat.testing.mcp_servers import install_npm_servers

    source = (install_npm_servers() / 'node_modules' / 'axe-core' / 'axe.min.js').read_text()
    await page.evaluate(f'{source}\n;true')
    results = await page.evaluate('async () => (await axe.run(document)).violations')
    return [
        {'id': v['id'], 'impact': v['impact'], 'help': v['help'], 'nodes': [n['target'] for n in v['nodes']]}
        for v in results
        if v['impact'] in impacts
    ]


async def sign_in(page: Page, api_url: str, user: str) -> None:
    await page.goto(f'{api_url}/#token={token_for(user)}')
    await expect(page.locator('#me')).to_have_text(user)


async def say(page: Page, text: str) -> None:
    await page.fill('#text', text)
    await page.press('#text', 'Enter')


async def read_session(api_url: str, user: str, session_id: str) -> dict[str, Any]:
    headers = {'Authorization': f'Bearer {token_for(user)}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers) as client:
        response = await client.get(f'/sessions/{session_id}')
        response.raise_for_status()
        return response.json()


async def read_agents(api_url: str, user: str) -> list[dict[str, Any]]:
    headers = {'Authorization': f'Bearer {token_for(user)}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers) as client:
        response = await client.get('/agents')
        response.raise_for_status()
        return response.json()
