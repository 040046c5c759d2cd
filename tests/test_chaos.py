"""The chaos runner, short: users chat while one process of each kind is SIGKILLed; every invariant holds.

The long run is manual: `python -m bench.chaos` (see README). Here the runner gets its own whole stack
(it kills the Temporal server, so it cannot share the suite's).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chaos.checker import INVARIANTS, Verdict, check_session
from bench.chaos.history import Answer, Delegation, SessionHistory
from bench.chaos.stack import KINDS
from bench.chaos.users import User
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.workflows.contract import UserMessage
from durable_chat.workflows.delegation import DELEGATE_TOOL

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
"""Where `python -m bench.chaos` runs from: bench is a folder of the repository, not installed."""
RUNNER_TIMEOUT = 230
"""Under pytest-timeout's 300 s, so a hung run still stops its stack and says why."""


def test_users_keep_every_promise_while_each_kind_of_process_is_killed(tmp_path: Path) -> None:
    command = [sys.executable, '-m', 'bench.chaos', '--users', '4', '--turns', '30', '--faults', '5']
    command += ['--seed', '3', '--settle', '90', '--output', str(tmp_path)]
    runner = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = runner.communicate(timeout=RUNNER_TIMEOUT)
    except subprocess.TimeoutExpired:
        runner.send_signal(signal.SIGINT)  # the runner stops its whole stack on the way out
        output, _ = runner.communicate(timeout=60)
    assert (tmp_path / 'chaos.json').exists(), output
    result = json.loads((tmp_path / 'chaos.json').read_text())

    assert {row['kind']: row['injected'] for row in result['faults_by_kind']} == dict.fromkeys(KINDS, 1)
    assert result['figures']['turns'] >= 30
    assert all(result['invariants'][name]['checked'] > 0 for name in INVARIANTS), result['invariants']
    assert result['violations'] == [], output
    assert result['ok'] and runner.returncode == 0


def _frame(kind: str, turn: int, event: int, step: int = 1, **data: object) -> dict[str, object]:
    return {
        'type': kind,
        'turn': turn,
        'step': step,
        'attempt': 1,
        'seq': event,
        'event_id': f'{event}-0',
        **data,
    }


def test_the_checker_catches_a_doubled_answer_doubled_text_and_doubled_events() -> None:
    """Without this the chaos test could pass by checking nothing."""
    user = User(0, ['http://127.0.0.1:1'], 'token', random.Random(0), session_id='s')
    user.client = ChatClient('http://127.0.0.1:1', 's')
    reply = expected_reply('hello')
    deltas = [
        _frame('TEXT_MESSAGE_CONTENT', 1, i, messageId='m', delta=w) for i, w in enumerate(reply.split(' '))
    ]
    spaced = [{**f, 'delta': f['delta'] + ' '} for f in deltas[:-1]] + deltas[-1:]
    # The same tokens twice in one attempt (a replayed stream not reset), then RUN_FINISHED twice.
    finished = [_frame('RUN_FINISHED', 1, event, step=0, result=reply) for event in (99, 100)]
    user.client.frames = [*spaced, *spaced, *finished]
    history = SessionHistory('s', messages=[UserMessage('m-1', 'hello')])
    history.answers = [Answer('hello', reply), Answer('hello', reply)]

    verdict = Verdict()
    check_session(user, history, verdict)
    assert verdict.violated['once'] == 1
    assert verdict.violated['no_double'] == 1
    assert verdict.violated['delivered_once'] == 1
    (doubled,) = [d for d in verdict.details if d.startswith('delivered_once')]
    assert (
        'RUN_FINISHED (1, 0, ' in doubled and 'turn 1 ended by RUN_FINISHED, then by RUN_FINISHED' in doubled
    )
    assert 'TEXT_MESSAGE_CONTENT (1, 1, 1, ' in doubled
    assert verdict.violated['rendered'] == 0  # RUN_FINISHED's reply hides the doubled stream on the page


def test_the_checker_matches_turns_by_message_and_catches_a_delegation_run_twice() -> None:
    """A reminder turn (no message) comes first, so the message is turn 2; its delegated task ran in
    two child workflows, one answering it twice: the checker says so."""
    user = User(1, ['http://127.0.0.1:1'], 'token', random.Random(0), session_id='s')
    user.client = ChatClient('http://127.0.0.1:1', 's')
    task = 'slow 3 u1t1r'
    text = f'call {DELEGATE_TOOL} {json.dumps({"agent": "researcher", "task": task})}'
    reply = f'{DELEGATE_TOOL} said: {expected_reply(task)}'
    user.client.frames = [
        _frame(
            'TEXT_MESSAGE_CONTENT',
            2,
            0,
            step=1001,
            messageId='r',
            delta='from the researcher ',
            parentToolCallId='c',
        ),
        _frame('TEXT_MESSAGE_CONTENT', 2, 1, step=2, messageId='m', delta=reply),
        _frame('RUN_FINISHED', 2, 2, step=0, result=reply),
    ]
    history = SessionHistory('s', messages=[UserMessage('m-1', text)], turn_of={'m-1': 2})
    history.answers = [Answer(text, reply)]
    history.delegations = [
        Delegation(
            's--a', 'COMPLETED', [Answer(task, expected_reply(task)), Answer(task, expected_reply(task))]
        ),
        Delegation('s--b', 'TERMINATED', [Answer(task, expected_reply(task))]),
    ]

    verdict = Verdict()
    check_session(user, history, verdict)
    assert (
        verdict.violated['rendered'] == 0 and verdict.violated['no_double'] == 0
    )  # turn 2, card text left out
    assert verdict.violated['scripted'] == 0 and verdict.violated['once'] == 0
    assert verdict.violated['delegated_once'] == 1
    history.delegations = history.delegations[:1]
    history.delegations[0].answers = history.delegations[0].answers[:1]
    verdict = Verdict()
    check_session(user, history, verdict)
    assert verdict.ok and verdict.checked['delegated_once'] == 1
