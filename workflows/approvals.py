"""Approvals: a tool call that needs a person's yes or no waits, durably, for the `answer_approval` update."""

from __future__ import annotations

from dataclasses import asdict

from pydantic_ai import DeferredToolRequests, DeferredToolResults, ToolDenied
from temporalio import workflow

from durable_chat.workflows.contract import (
    APPROVAL_ANSWERED,
    APPROVAL_REQUESTED,
    UPDATE_ANSWER_APPROVAL,
    Approval,
    ApprovalAnswer,
    SessionStatus,
    Turn,
)
from durable_chat.workflows.shared import SessionState, TurnEvent


class Approvals:
    """`ChatSession`'s approvals: the pending ones in its state, the wait, and the answer."""

    state: SessionState

    def _set_status(self, status: SessionStatus, touch: bool = False) -> None:
        raise NotImplementedError

    async def _publish(self, event: TurnEvent) -> None:
        raise NotImplementedError

    @workflow.update(name=UPDATE_ANSWER_APPROVAL)
    def answer_approval(self, answer: ApprovalAnswer) -> Approval:
        approval = self._approval(answer.approval_id)
        assert approval is not None
        approval.status = 'approved' if answer.approve else 'denied'
        approval.reason = answer.reason
        approval.answered_by = answer.by
        return approval

    @answer_approval.validator
    def _validate_answer(self, answer: ApprovalAnswer) -> None:
        approval = self._approval(answer.approval_id)
        if approval is None:
            raise ValueError(f'no approval request {answer.approval_id}')
        if approval.status != 'pending':
            raise ValueError(f'approval {answer.approval_id} was already answered ({approval.status})')

    def _approval(self, approval_id: str) -> Approval | None:
        return next((a for a in self.state.approvals if a.id == approval_id), None)

    async def _await_approvals(self, turn: Turn, requests: DeferredToolRequests) -> DeferredToolResults:
        """Waits, durably, for a person to answer each tool call that needs approval."""
        pending = [
            Approval(
                id=call.tool_call_id, turn=turn.number, tool_name=call.tool_name, args=call.args_as_dict()
            )
            for call in requests.approvals
        ]
        self.state.approvals.extend(pending)
        self._set_status('awaiting_approval')
        for approval in pending:
            await self._publish(
                TurnEvent(self.state.session_id, turn.number, APPROVAL_REQUESTED, asdict(approval))
            )
        await workflow.wait_condition(lambda: all(a.status != 'pending' for a in pending))
        for approval in pending:
            await self._publish(
                TurnEvent(self.state.session_id, turn.number, APPROVAL_ANSWERED, asdict(approval))
            )
        denied = 'The user denied this tool call.'
        return DeferredToolResults(
            approvals={
                a.id: True if a.status == 'approved' else ToolDenied(f'{denied} {a.reason}'.strip())
                for a in pending
            },
        )
