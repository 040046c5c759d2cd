"""The session's settings a client changes by update: its model, title, double-texting policy, and
its deletion. Each validator refuses with a reason (the API's 409 or 422 says it)."""

from __future__ import annotations

from temporalio import workflow

from durable_chat.workflows.agents.registry import installed
from durable_chat.workflows.contract import (
    DELETED,
    DOUBLE_TEXTING_POLICIES,
    SA_AGENT,
    SA_LAST_ACTIVITY,
    SA_MODEL,
    SA_STATUS,
    SA_TITLE,
    UPDATE_DELETE,
    UPDATE_RENAME,
    UPDATE_SET_DOUBLE_TEXTING,
    UPDATE_SET_MODEL,
    DeleteRequest,
    Rename,
    SetDoubleTexting,
    SetModel,
    title_problem,
)
from durable_chat.workflows.shared import SessionState


class SessionUpdates:
    """The updates of `ChatSession` that change what the session is, not what it is doing."""

    state: SessionState
    _closing: bool

    @workflow.update(name=UPDATE_SET_DOUBLE_TEXTING)
    def set_double_texting(self, request: SetDoubleTexting) -> str:
        self.state.double_texting = request.policy
        return request.policy

    @set_double_texting.validator
    def _validate_double_texting(self, request: SetDoubleTexting) -> None:
        self._refuse_if_closing()
        if request.policy not in DOUBLE_TEXTING_POLICIES:
            raise ValueError(f'{request.policy!r} is not a policy: {", ".join(DOUBLE_TEXTING_POLICIES)}')

    @workflow.update(name=UPDATE_SET_MODEL)
    def set_model(self, request: SetModel) -> str:
        """The model of the session's next turns (a running turn keeps its own)."""
        self.state.model = request.model
        workflow.upsert_search_attributes(
            [SA_AGENT.value_set(self.state.agent), SA_MODEL.value_set(request.model)]
        )
        return request.model

    @set_model.validator
    def _validate_model(self, request: SetModel) -> None:
        entry = installed().get(self.state.agent)
        if entry is None:
            raise ValueError(f'the agent {self.state.agent!r} of this session is no longer available')
        if request.model not in entry.models:
            offered = ', '.join(entry.models)
            raise ValueError(
                f'{request.model!r} is not a model of the agent {entry.name!r} (it offers: {offered})'
            )

    @workflow.update(name=UPDATE_RENAME)
    def rename(self, request: Rename) -> str:
        """A title the user chose: the automatic one (from the first message) is only ever set on an
        untitled session, so it never overwrites this."""
        self.state.title = request.title.strip()
        workflow.upsert_search_attributes(
            [SA_TITLE.value_set(self.state.title), SA_LAST_ACTIVITY.value_set(workflow.now())]
        )
        return self.state.title

    @rename.validator
    def _validate_rename(self, request: Rename) -> None:
        self._refuse_if_closing()
        if (problem := title_problem(request.title)) is not None:
            raise ValueError(problem)

    @workflow.update(name=UPDATE_DELETE)
    def delete(self, request: DeleteRequest) -> None:
        """Marks the session deleted (hidden from its user's list); the client then closes it."""
        self.state.deleted = True
        workflow.upsert_search_attributes(
            [SA_STATUS.value_set(DELETED), SA_LAST_ACTIVITY.value_set(workflow.now())]
        )

    def _refuse_if_closing(self) -> None:
        if self._closing:
            raise ValueError('the session is closed')
        if self.state.deleted:
            raise ValueError('the session was deleted')
