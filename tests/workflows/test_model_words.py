"""What a failed model request is called on the page, for the errors real model servers give."""

from __future__ import annotations

import pytest

from durable_chat.workflows.model_errors import describe


@pytest.mark.parametrize(
    ('kind', 'message', 'status', 'words'),
    [
        # llama.cpp's 400 for a message past its context (pydantic-ai: a rejected request)
        (
            '_HTTPModelRequestRejectedError',
            'request (11270 tokens) exceeds the available context size (4096 tokens)',
            None,
            "the conversation does not fit the model's context window",
        ),
        (
            'ModelContextWindowExceededError',
            '',
            None,
            "the conversation does not fit the model's context window",
        ),
        (
            'ModelAuthenticationError',
            'Incorrect API key',
            None,
            'the model server refused the credentials (check the API key)',
        ),
        ('ModelNotFoundError', 'no such model', None, 'the model server does not know this model'),
        (
            '_HTTPModelRequestRejectedError',
            'bad request',
            None,
            'the model server refused the request (bad request)',
        ),
        # openai's client error, as it reaches the page while retried and as the workflow sees it at the end
        ('APIConnectionError', 'Connection error.', None, "the model server can't be reached"),
        ('ModelAPIError', 'Connection error.', None, "the model server can't be reached"),
        ('ModelHTTPError', '', 503, 'the model server is unavailable (HTTP 503)'),
        ('ModelHTTPError', '', 429, 'the model is rate-limited'),
    ],
)
def test_model_failures_are_named_in_words(kind: str, message: str, status: int | None, words: str) -> None:
    assert describe(kind, message, status) == words
