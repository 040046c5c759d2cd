"""When a `remind` call's reminder is due: in seconds from now, or a local time in the user's zone
(daylight saving included); a call that can't be honoured gets its reason in words."""

from __future__ import annotations

from datetime import UTC, datetime

from durable_chat.workflows.reminders import due_time, in_words

NOW = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)


def test_in_seconds_counts_from_now() -> None:
    assert due_time({'text': 'stretch', 'in_seconds': 600}, NOW, 'Europe/Lisbon') == datetime(
        2026, 11, 24, 21, 10, tzinfo=UTC
    )


def test_a_local_time_means_the_users_zone() -> None:
    # Lisbon is UTC+0 in November, UTC+1 in July; New York UTC-5 in November.
    assert due_time({'text': 'x', 'at': '2026-11-25T09:00'}, NOW, 'Europe/Lisbon') == datetime(
        2026, 11, 25, 9, 0, tzinfo=UTC
    )
    assert due_time({'text': 'x', 'at': '2027-07-01T09:00'}, NOW, 'Europe/Lisbon') == datetime(
        2027, 7, 1, 8, 0, tzinfo=UTC
    )
    assert due_time({'text': 'x', 'at': '2026-11-25T09:00'}, NOW, 'America/New_York') == datetime(
        2026, 11, 25, 14, 0, tzinfo=UTC
    )
    # An explicit offset wins; no zone (or an unknown one) is UTC.
    assert due_time({'text': 'x', 'at': '2026-11-25T09:00+02:00'}, NOW, 'Europe/Lisbon') == datetime(
        2026, 11, 25, 7, 0, tzinfo=UTC
    )
    assert due_time({'text': 'x', 'at': '2026-11-25T09:00'}, NOW, 'Mars/Olympus') == datetime(
        2026, 11, 25, 9, 0, tzinfo=UTC
    )


def test_calls_that_cannot_be_honoured_say_why() -> None:
    assert due_time({'text': ' '}, NOW, '') == 'Give the reminder a text.'
    assert due_time({'text': 'x'}, NOW, '') == 'Give exactly one of `in_seconds` or `at`.'
    assert due_time({'text': 'x', 'in_seconds': 5, 'at': '2026-11-25T09:00'}, NOW, '') == (
        'Give exactly one of `in_seconds` or `at`.'
    )
    assert (
        due_time({'text': 'x', 'in_seconds': 0}, NOW, '')
        == '`in_seconds` must be a positive number of seconds.'
    )
    assert (
        due_time({'text': 'x', 'at': 'tomorrow'}, NOW, '')
        == "`at` is not an ISO 8601 date and time: 'tomorrow'."
    )
    assert due_time({'text': 'x', 'at': '2026-11-24T08:00'}, NOW, 'UTC') == (
        '2026-11-24 08:00:00 UTC has passed already; choose a later time.'
    )
    assert (
        due_time({'text': 'x', 'in_seconds': 400 * 86400}, NOW, '')
        == 'A reminder may be at most a year ahead.'
    )


def test_due_times_read_in_the_users_zone() -> None:
    assert (
        in_words(datetime(2026, 11, 25, 14, 0, tzinfo=UTC), 'America/New_York') == '2026-11-25 09:00:00 EST'
    )
