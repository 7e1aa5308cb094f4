"""The pure incident state machine."""

from __future__ import annotations

import itertools

import pytest

from app.incidents import state
from app.incidents.state import InvalidTransition, next_status

ALLOWED = {
    ("triggered", "acknowledge"): "acknowledged",
    ("triggered", "resolve"): "resolved",
    ("acknowledged", "resolve"): "resolved",
    ("resolved", "reopen"): "triggered",
    ("acknowledged", "snooze"): "acknowledged",
    ("acknowledged", "wake"): "triggered",
    ("triggered", "reassign"): "triggered",
    ("acknowledged", "reassign"): "triggered",
    ("resolved", "close"): "closed",
}
# A closed incident is done: closing or resolving it again changes nothing; nothing reopens it.
REPEATS = {
    ("acknowledged", "acknowledge"),
    ("resolved", "resolve"),
    ("closed", "close"),
    ("closed", "resolve"),
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(state.STATUSES, state.ACTIONS)))
def test_every_status_and_action(status: str, action: str) -> None:
    if (status, action) in ALLOWED:
        assert next_status(status, action) == ALLOWED[(status, action)]
    elif (status, action) in REPEATS:
        assert next_status(status, action) is None
    else:
        with pytest.raises(InvalidTransition) as caught:
            next_status(status, action)
        assert caught.value.status_code == 409
        assert status in caught.value.detail and action in caught.value.detail


def test_unknown_status_or_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        next_status("closed-ish", "resolve")
    with pytest.raises(ValueError, match="unknown action"):
        next_status("triggered", "hibernate")
