"""Schemathesis against the real API process: every operation, valid and invalid input, as a user and
as an operator. No 5xx, and every response matches the OpenAPI it came from (status, content type, body).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from schemathesis import Case

from durable_chat.testing.stack import Workers
from tests.conftest import token_for

pytestmark = pytest.mark.integration

FUZZ_USER = 'fuzz-api'
FUZZ_OPERATOR = 'fuzz-operator'
MAX_EXAMPLES = 15  # per operation and generation mode: bounded for CI's two busy cores
SEED = 20240817

CASES: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()
SECONDS: Counter[str] = Counter()


def _own_session(api_url: str, token: str) -> str:
    """A session of the fuzzing user, so routes taking a session id reach a real one, not only 404."""
    response = httpx.post(
        f'{api_url}/sessions',
        json={'message': {'id': 'seed', 'text': 'hello fuzz'}},
        headers={'Authorization': f'Bearer {token}'},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()['session_id']


def _schema(api_url: str, token: str, parameters: dict[str, str]) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            'seed': SEED,
            'base-url': api_url,
            'headers': {'Authorization': f'Bearer {token}'},
            'parameters': parameters,
            'generation': {'mode': 'all', 'max-examples': MAX_EXAMPLES, 'database': 'none'},
            'phases': {'stateful': {'enabled': False}},
            # Every default check: no 5xx, status/content type/body/headers as documented, Allow on 405,
            # schema-valid input accepted, invalid input refused, no answer without a token.
            'checks': {},
            'operations': [
                {
                    # The agents and models offered are the worker's catalogue, not the schema's: a
                    # schema-valid name nobody serves is refused with 422 and says what is offered.
                    # A title's rule (trimmed length, no control characters) is checked with a reason.
                    # AG-UI's RunAgentInput is the protocol's own schema: what a run needs beyond it (a
                    # UUID thread id, a user message or an answer to send) is refused with a reason.
                    'include-name': [
                        'POST /sessions',
                        'POST /sessions/{session_id}/model',
                        'PATCH /sessions/{session_id}',
                        'POST /ag-ui/sessions',
                        'POST /ag-ui/sessions/{session_id}',
                    ],
                    'checks': {
                        'positive_data_acceptance': {
                            'expected-statuses': ['2xx', '401', '403', '404', '409', '422', '429', '5xx']
                        }
                    },
                }
            ],
            'request-timeout': 30,
        }
    )
    return schemathesis.openapi.from_url(f'{api_url}/openapi.json', config=config)


@pytest.fixture(scope='module')
def fuzz_session(api_url: str, workers: Workers) -> str:
    workers.ensure_one()
    return _own_session(api_url, token_for(FUZZ_USER))


@pytest.fixture(scope='module')
def user_schema(api_url: str, fuzz_session: str) -> schemathesis.BaseSchema:
    return _schema(api_url, token_for(FUZZ_USER), {'session_id': fuzz_session})


@pytest.fixture(scope='module')
def operator_schema(api_url: str, workers: Workers) -> schemathesis.BaseSchema:
    workers.ensure_one()
    session_id = _own_session(api_url, token_for(FUZZ_USER))
    # Pinned to the fuzzing user: an operator's DELETE /memories?user_id=<random> must not wipe other tests'.
    return _schema(
        api_url, token_for(FUZZ_OPERATOR, 'operator'), {'session_id': session_id, 'user_id': FUZZ_USER}
    )


@pytest.fixture(scope='module', autouse=True)
def cases_report() -> Iterator[None]:
    yield
    print(
        f'\nschemathesis: {sum(CASES.values())} cases in {len(CASES)} operations, statuses {dict(STATUSES)}'
    )
    print({k: round(v, 1) for k, v in SECONDS.most_common()})


as_user = schemathesis.pytest.from_fixture('user_schema')
as_operator = schemathesis.pytest.from_fixture('operator_schema')


def _call_and_validate(case: Case, role: str) -> None:
    CASES[f'{role} {case.operation.label}'] += 1
    started = time.monotonic()
    STATUSES[case.call_and_validate().status_code] += 1
    SECONDS[case.operation.label] += time.monotonic() - started


@as_user.parametrize()
def test_api_as_a_user(case: Case) -> None:
    _call_and_validate(case, 'user')


@as_operator.parametrize()
def test_api_as_an_operator(case: Case) -> None:
    _call_and_validate(case, 'operator')


# Schemathesis sends valid Unicode only; JSON's escapes also reach lone surrogates, which UTF-8 cannot carry.
@pytest.mark.parametrize(
    ('path', 'body'),
    [
        ('/sessions', {'message': {'id': 'a', 'text': 'hi \ud800'}}),
        ('/sessions', {'session_id': '\udfff'}),
        ('/sessions', {'message': {'id': '\ud800', 'text': 'hi'}}),
        ('/sessions/{session_id}/messages', {'id': 'a', 'text': '\udc00'}),
        ('/sessions/{session_id}/approvals/x', {'approve': False, 'reason': '\ud800'}),
    ],
)
def test_lone_surrogates_in_bodies_are_refused(
    api_url: str, fuzz_session: str, path: str, body: dict
) -> None:
    response = httpx.post(
        api_url + path.format(session_id=fuzz_session),
        content=json.dumps(body),  # ASCII, the surrogates as \u escapes
        headers={'Authorization': f'Bearer {token_for(FUZZ_USER)}', 'Content-Type': 'application/json'},
        timeout=30,
    )
    assert response.status_code == 422, response.text
    assert response.json()['detail'][0]['loc'][-1] in body.get('message', body)
