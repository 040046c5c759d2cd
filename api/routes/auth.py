"""Who the bearer of a token is: the page asks once to show the user and the operator link."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser

router = APIRouter(prefix='/auth', tags=['auth'])


@router.get('/me')
async def me(user: CurrentUser) -> dict[str, str]:
    return {'username': user.username, 'role': user.role}
