"""A Python agent whose tools book things, and whose bookings are undone when a turn does not finish.

    PYTHONPATH=. DURABLE_CHAT_AGENTS_MODULE=examples.trip durable-chat up

`book_flight` and `book_hotel` act on the world (here a JSON file standing in for a booking system).
Each names its compensation in `Compensations`: stop the reply after the agent booked, or let it
fail, and the session cancels what this turn booked, latest first, and says so under the reply.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic_ai import Agent, RunContext
from temporalio.exceptions import ApplicationError

from durable_chat.workflows.agents import ChatDeps, Compensations, DurableChat, ToolRun, idempotency_key
from durable_chat.workflows.agents.tools import side_effect
from durable_chat.workflows.compensation import Compensation

BOOKINGS_ENV = 'TRIP_BOOKINGS'


def bookings_file() -> Path:
    return Path(os.environ.get(BOOKINGS_ENV, '.data/bookings.json'))


def bookings() -> dict[str, dict[str, object]]:
    """Every booking by its idempotency key: what it is and whether it stands or was cancelled."""
    path = bookings_file()
    return json.loads(path.read_text()) if path.exists() else {}


def _save(booked: dict[str, dict[str, object]]) -> None:
    path = bookings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(booked, indent=2))


def _book(key: str, booking: dict[str, object]) -> str:
    # The key is the same on every attempt of one call: a retried attempt finds its booking here.
    booked = bookings()
    if key not in booked:
        booked[key] = {**booking, 'status': 'booked', 'number': len(booked) + 1}
        _save(booked)
    return f'{booking["kind"]} booking #{booked[key]["number"]}'


async def cancel_booking(run: ToolRun) -> str:
    # Cancelling twice is cancelling once: the booking system, not the caller, keeps this true.
    booked = bookings()
    booking = booked.get(run.key)
    if booking is None:
        return f'Nothing to cancel for {run.tool_name}: it booked nothing.'
    if booking.get('refundable') is False:
        # Not retried: another attempt cannot refund it. The transcript says it still stands.
        raise ApplicationError(f'{run.result} is non-refundable', non_retryable=True)
    if booking['status'] != 'cancelled':
        booking['status'] = 'cancelled'
        booking['cancelled_order'] = sum(b['status'] == 'cancelled' for b in booked.values())
        _save(booked)
    return f'Cancelled {run.result}.'


@side_effect
async def book_flight(ctx: RunContext[ChatDeps], to: str, date: str, refundable: bool = True) -> str:
    """Book a flight to `to` on `date` (YYYY-MM-DD); a non-refundable fare cannot be cancelled."""
    flight = {'kind': 'flight', 'to': to, 'date': date, 'refundable': refundable, 'user': ctx.deps.user_id}
    return _book(idempotency_key(ctx), flight)


@side_effect
async def book_hotel(ctx: RunContext[ChatDeps], city: str, nights: int = 1) -> str:
    """Book a hotel in `city` for `nights` nights."""
    return _book(
        idempotency_key(ctx), {'kind': 'hotel', 'city': city, 'nights': nights, 'user': ctx.deps.user_id}
    )


def trip_agent(model: str, cancel: Compensation = cancel_booking) -> Agent[ChatDeps, str]:
    return Agent(
        model,
        name='trip',  # persisted: it prefixes this agent's activity names
        description='Books flights and hotels; a stopped or failed request cancels what it booked.',
        deps_type=ChatDeps,
        instructions='You plan trips: book the flight with `book_flight`, then the hotel with `book_hotel`.',
        model_settings={'max_tokens': 512},
        tools=[book_flight, book_hotel],
        capabilities=[
            DurableChat(models=[model], memory=False, reminders=False),
            # Each tool that acts names what undoes it.
            Compensations({'book_flight': cancel, 'book_hotel': cancel}),
        ],
    )


trip = trip_agent(os.environ.get('DURABLE_CHAT_MODEL', 'offline'))
