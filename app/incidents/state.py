"""The incident state machine, pure: which actions move an incident from which status."""

from __future__ import annotations

from app.errors import Conflict
from app.vocabulary import (
    ACKNOWLEDGE,
    ACKNOWLEDGED,
    ACTIONS,
    CLOSE,
    CLOSED,
    REASSIGN,
    REOPEN,
    RESOLVE,
    RESOLVED,
    SNOOZE,
    TRIGGERED,
    WAKE,
)
from app.vocabulary import INCIDENT_STATUSES as STATUSES

_TRANSITIONS: dict[tuple[str, str], str] = {
    (TRIGGERED, ACKNOWLEDGE): ACKNOWLEDGED,
    (TRIGGERED, RESOLVE): RESOLVED,
    (ACKNOWLEDGED, RESOLVE): RESOLVED,
    (RESOLVED, REOPEN): TRIGGERED,
    (ACKNOWLEDGED, SNOOZE): ACKNOWLEDGED,
    (ACKNOWLEDGED, WAKE): TRIGGERED,
    (TRIGGERED, REASSIGN): TRIGGERED,
    (ACKNOWLEDGED, REASSIGN): TRIGGERED,
    (RESOLVED, CLOSE): CLOSED,
}
# Repeating an action that already happened changes nothing: a replayed ack link, a double
# click, an Alertmanager retry are all harmless.
_NO_OPS = {(ACKNOWLEDGED, ACKNOWLEDGE), (RESOLVED, RESOLVE), (CLOSED, CLOSE), (CLOSED, RESOLVE)}


class InvalidTransition(Conflict):
    code = "invalid_transition"


def next_status(status: str, action: str) -> str | None:
    """The status after `action`, None when the action is a harmless repeat.

    Raises InvalidTransition when the action makes no sense in this status.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if (status, action) in _NO_OPS:
        return None
    try:
        return _TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(f"cannot {action} an incident that is {status}") from None
