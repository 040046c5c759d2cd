"""Who may do what: every endpoint and the websocket × (no token, owner, another user, operator)."""

from __future__ import annotations

import json

import httpx
import pytest

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from tests.conftest import token_for

pytestmark = pytest.mark.integration

SECRET_TEXT = 'alice-private-words-4711'
UNKNOWN_MEMORY = '00000000-0000-4000-8000-000000000000'
CALLERS = {
    'nobody': None,
    'alice': token_for('alice'),
    'bob': token_for('bob'),
    'operator': token_for('olga', 'operator'),
}


@pytest.fixture(scope='module')
async def alice_session(api_url: str, workers) -> str:
    workers.ensure_one()
    async with httpx.AsyncClient(
        base_url=api_url, headers={'Authorization': f'Bearer {CALLERS["alice"]}'}
    ) as http:
        response = await http.post('/sessions', json={'message': {'id': 'secret', 'text': SECRET_TEXT}})
        session_id = response.json()['session_id']
        client = await ChatClient(api_url, session_id, CALLERS['alice']).connect()
        await client.wait_for(lambda: client.finished(1))
        await client.disconnect()
    return session_id


def client_for(api_url: str, caller: str) -> httpx.AsyncClient:
    token = CALLERS[caller]
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    return httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30)


# (method, path, body) -> expected status per caller. `{sid}` is alice's session.
MATRIX = [
    ('GET', '/auth/me', None, {'nobody': 401, 'alice': 200, 'bob': 200, 'operator': 200}),
    ('GET', '/sessions', None, {'nobody': 401, 'alice': 200, 'bob': 200, 'operator': 200}),
    ('POST', '/sessions', {}, {'nobody': 401, 'alice': 201, 'bob': 201, 'operator': 201}),
    ('GET', '/sessions/{sid}', None, {'nobody': 401, 'alice': 200, 'bob': 404, 'operator': 200}),
    (
        'POST',
        '/sessions/{sid}/messages',
        {'id': 'x', 'text': 'hi'},
        {'nobody': 401, 'alice': 202, 'bob': 404, 'operator': 403},
    ),
    (
        'POST',
        '/sessions',
        {'session_id': '{sid}'},
        {'nobody': 401, 'alice': 201, 'bob': 409, 'operator': 409},
    ),
    ('GET', '/operator/sessions', None, {'nobody': 401, 'alice': 403, 'bob': 403, 'operator': 200}),
    ('GET', '/sessions/{sid}/history', None, {'nobody': 401, 'alice': 200, 'bob': 404, 'operator': 200}),
    (
        'POST',
        '/sessions/{sid}/approvals/none',
        {'approve': True},
        {'nobody': 401, 'alice': 409, 'bob': 404, 'operator': 409},
    ),
    ('GET', '/memories', None, {'nobody': 401, 'alice': 200, 'bob': 200, 'operator': 200}),
    ('GET', '/memories?user_id=alice', None, {'nobody': 401, 'alice': 200, 'bob': 403, 'operator': 200}),
    (
        'DELETE',
        f'/memories/{UNKNOWN_MEMORY}',
        None,
        {'nobody': 401, 'alice': 404, 'bob': 404, 'operator': 404},
    ),
    ('GET', '/healthz', None, {'nobody': 200, 'alice': 200, 'bob': 200, 'operator': 200}),
]


@pytest.mark.parametrize(
    ('method', 'path', 'body', 'expected'), MATRIX, ids=[f'{m} {p}' for m, p, _, _ in MATRIX]
)
@pytest.mark.parametrize('caller', list(CALLERS))
async def test_rest_matrix(
    api_url: str, alice_session: str, caller: str, method: str, path: str, body: dict | None, expected: dict
) -> None:
    payload = json.loads(json.dumps(body).replace('{sid}', alice_session)) if body is not None else None
    async with client_for(api_url, caller) as http:
        response = await http.request(method, path.format(sid=alice_session), json=payload)
    assert response.status_code == expected[caller], response.text
    if caller in ('nobody', 'bob'):
        # Only the id the caller sent comes back (in "no session <id>"), nothing of the session.
        assert SECRET_TEXT not in response.text
        assert alice_session not in response.text.replace(f'no session {alice_session}', '')


@pytest.mark.parametrize('caller', list(CALLERS))
async def test_control_matrix(api_url: str, alice_session: str, caller: str) -> None:
    """Interrupt with no running turn is refused (409) for those allowed; close is tested last, on its own session."""
    async with client_for(api_url, caller) as http:
        response = await http.post(f'/sessions/{alice_session}/interrupt', json={})
    expected = {'nobody': 401, 'alice': 409, 'bob': 404, 'operator': 409}[caller]
    assert response.status_code == expected, response.text
    if expected == 409:
        assert response.json()['detail'] == 'no turn is running'


@pytest.mark.parametrize('caller', list(CALLERS))
async def test_websocket_matrix(api_url: str, alice_session: str, caller: str) -> None:
    client = await ChatClient(api_url, alice_session, CALLERS[caller]).connect()
    if caller in ('nobody', 'bob'):
        await client.wait_for(lambda: client.close_code is not None)
        assert client.close_code == {'nobody': 4401, 'bob': 4404}[caller]
        assert [f['type'] for f in client.frames] == ['ERROR']
        assert SECRET_TEXT not in json.dumps(client.frames)
        return
    await client.wait_for(lambda: client.of_type('SNAPSHOT'))
    assert client.of_type('SNAPSHOT')[0]['session']['turns'][0]['user_text'] == SECRET_TEXT
    await client.send(f'ws-{caller}', 'over the socket')
    await client.wait_for(lambda: client.of_type('ACK') or client.of_type('ERROR'))
    if caller == 'operator':
        assert client.of_type('ERROR')[0]['status'] == 403  # operators watch and act; users speak
    else:
        assert client.of_type('ACK')
    await client.disconnect()


async def test_forged_and_expired_tokens_are_refused(api_url: str) -> None:
    from durable_chat.api.auth import issue_token

    forged = issue_token('some-other-key', 'alice', 'operator')
    expired = token_for('alice')[:-1] + 'x'
    for token in (
        forged,
        expired,
        'garbage',
        issue_token('test-secret-key-not-for-production', 'alice', ttl_seconds=-1),
    ):
        async with httpx.AsyncClient(base_url=api_url, headers={'Authorization': f'Bearer {token}'}) as http:
            response = await http.get('/sessions')
        assert response.status_code == 401


@pytest.mark.parametrize('caller', ['nobody', 'bob', 'operator', 'alice'])
async def test_close_matrix(api_url: str, caller: str, worker: Process) -> None:
    async with client_for(api_url, 'alice') as alice:
        session_id = (await alice.post('/sessions', json={})).json()['session_id']
    async with client_for(api_url, caller) as http:
        response = await http.post(f'/sessions/{session_id}/close')
        assert response.status_code == {'nobody': 401, 'bob': 404, 'operator': 200, 'alice': 200}[caller]
        if response.status_code == 200:
            again = await http.post(f'/sessions/{session_id}/close')
            assert (again.status_code, again.json()['detail']) == (409, f'session {session_id} is closed')


async def test_tokens_never_reach_the_api_log(api_process: Process, alice_session: str) -> None:
    output = '\n'.join(api_process.output)
    for token in CALLERS.values():
        if token:
            assert token not in output and token.split('.')[2] not in output
