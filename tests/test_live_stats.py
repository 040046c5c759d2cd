"""The operator console's live figures: 10-second buckets over 10 minutes, read with a clock the
test moves, and the mapping of a websocket's messages to the turns that answer them."""

from __future__ import annotations

from durable_chat.api.live_stats import BUCKETS, FirstTokens, LiveStats, RecentKeys


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_new_process_shows_nulls_before_it_started_and_zeros_since() -> None:
    view = LiveStats(Clock()).view()
    assert (view['bucket_seconds'], view['buckets']) == (10, BUCKETS)
    series = view['series']
    lengths = {len(series['active_sessions']), len(series['turns_per_minute']), len(series['errors'])}
    assert lengths | {len(series['first_token_p50_ms']), len(series['first_token_p95_ms'])} == {BUCKETS}
    assert view['series']['turns_per_minute'] == [None] * (BUCKETS - 1) + [0]
    assert view['series']['first_token_p50_ms'] == [None] * BUCKETS
    assert view['current'] == {
        'active_sessions': 0,
        'turns_per_minute': 0,
        'first_token_p50_ms': None,
        'first_token_p95_ms': None,
        'errors': 0,
    }


def test_turns_and_errors_count_over_the_minute_ending_with_each_bucket() -> None:
    clock = Clock()
    stats = LiveStats(clock)
    for _ in range(3):
        stats.turn_accepted()
    stats.error()
    clock.now += 30
    stats.turn_accepted()
    view = stats.view()
    # Buckets: three turns and an error, two quiet ones, then one turn: each minute holds them all.
    assert view['series']['turns_per_minute'][-4:] == [3, 3, 3, 4]
    assert view['series']['errors'][-4:] == [1, 1, 1, 1]
    assert (view['current']['turns_per_minute'], view['current']['errors']) == (4, 1)

    clock.now += 30  # the first bucket is now six buckets back: out of the current minute
    view = stats.view()
    assert view['series']['turns_per_minute'][-7:] == [3, 3, 3, 4, 4, 4, 1]
    assert view['series']['errors'][-7:] == [1, 1, 1, 1, 1, 1, 0]
    assert (view['current']['turns_per_minute'], view['current']['errors']) == (1, 0)


def test_first_token_percentiles_are_measured_values_and_ordered() -> None:
    clock = Clock()
    stats = LiveStats(clock)
    for seconds in (0.1, 0.2, 0.3, 0.4, 2.0):
        stats.first_token(seconds)
    current = stats.view()['current']
    assert (current['first_token_p50_ms'], current['first_token_p95_ms']) == (300, 2000)

    clock.now += 60  # a minute without measurements: nothing to say, rather than a zero
    view = stats.view()
    assert view['current']['first_token_p50_ms'] is None
    assert view['series']['first_token_p95_ms'][-7:] == [2000] * 6 + [None]


def test_active_sessions_count_each_session_once_in_every_bucket_its_socket_is_open() -> None:
    clock = Clock()
    stats = LiveStats(clock)
    stats.socket_opened('a')
    stats.socket_opened('a')  # the user's page and an operator's console on one session
    stats.socket_opened('b')
    clock.now += 10
    stats.socket_closed('b')
    assert stats.active_sessions == 1
    clock.now += 40  # no event for four buckets: 'a' stayed open through them
    stats.socket_closed('a')
    assert stats.active_sessions == 1
    stats.socket_closed('a')
    view = stats.view()
    assert view['series']['active_sessions'][-6:] == [2, 2, 1, 1, 1, 1]
    assert view['current']['active_sessions'] == 0
    clock.now += 10
    assert stats.view()['series']['active_sessions'][-1] == 0


def test_ten_minutes_later_everything_has_left_the_window() -> None:
    clock = Clock()
    stats = LiveStats(clock)
    stats.turn_accepted()
    stats.first_token(0.5)
    stats.error()
    clock.now += 10 * BUCKETS + 3600  # an hour of silence costs no more than the window
    view = stats.view()
    assert view['series']['turns_per_minute'] == [0] * BUCKETS
    assert view['series']['errors'] == [0] * BUCKETS
    assert view['series']['first_token_p50_ms'] == [None] * BUCKETS


def test_a_message_is_timed_to_the_first_text_of_the_next_new_turn() -> None:
    clock = Clock()
    tokens = FirstTokens(clock)
    tokens.knows_turns_up_to(2)  # the snapshot held turns 1 and 2
    assert tokens.relayed('TEXT_MESSAGE_CONTENT', 2) is None  # turn 2's tail: no message of ours
    tokens.accepted()
    clock.now += 0.25
    assert tokens.relayed('RUN_STARTED', 3) is None
    clock.now += 0.5
    assert tokens.relayed('TEXT_MESSAGE_CONTENT', 3) == 0.75
    assert tokens.relayed('TEXT_MESSAGE_CONTENT', 3) is None  # only the first token counts


def test_queued_messages_are_matched_to_turns_in_order() -> None:
    clock = Clock()
    tokens = FirstTokens(clock)
    tokens.relayed('TEXT_MESSAGE_CONTENT', 1)  # turn 1 streams; two messages queue behind it
    tokens.accepted()
    clock.now += 1
    tokens.accepted()
    clock.now += 1
    assert tokens.relayed('TEXT_MESSAGE_CONTENT', 1) is None
    assert tokens.relayed('TEXT_MESSAGE_CONTENT', 2) == 2
    clock.now += 1
    assert tokens.relayed('TEXT_MESSAGE_CONTENT', 3) == 2


def test_a_turn_that_fails_or_waits_for_approval_before_text_measures_nothing() -> None:
    clock = Clock()
    tokens = FirstTokens(clock)
    tokens.accepted()
    tokens.accepted()
    assert tokens.relayed('RUN_ERROR', 1) is None
    assert tokens.relayed('TOOL_CALL_START', 2) is None
    assert tokens.relayed('APPROVAL_REQUESTED', 2) is None
    clock.now += 30  # the person answers; the reply's text is not the model's first token
    assert tokens.relayed('TEXT_MESSAGE_CONTENT', 2) is None
    assert tokens.relayed('TEXT_MESSAGE_CONTENT', 3) is None  # no message of ours is left


def test_a_message_whose_signal_failed_waits_for_no_turn() -> None:
    clock = Clock()
    tokens = FirstTokens(clock)
    tokens.withdraw(tokens.accepted())
    assert tokens.relayed('TEXT_MESSAGE_CONTENT', 1) is None


def test_a_run_error_is_counted_once_per_session_and_turn() -> None:
    seen = RecentKeys(capacity=2)
    assert seen.first_time(('s', 1))
    assert not seen.first_time(('s', 1))
    assert seen.first_time(('s', 2))
    assert seen.first_time(('t', 1))  # the oldest key makes room
    assert seen.first_time(('s', 1))
