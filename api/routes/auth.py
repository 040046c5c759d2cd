"""Who the bearer of a token is: the page asks once to show the user and the operator link."""

from __future__ import annotations

from fastapi import APIRouter

from durable_chat.api.deps import CurrentUser
from durable_chat.api.schemas import WhoAmI, error_responses

router = APIRouter(prefix='/auth', tags=['auth'], responses=error_responses(401))


@router.get('/me')
async def me(user: CurrentUser) -> WhoAmI:
    return WhoAmI(username=user.username, role=user.role)
