"""Warnings about runbooks that still load but may mislead: not reviewed lately, nobody owns them,
written for a model the registry does not know. `check-rules` prints them; they fail nothing."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, timedelta

from app.runbooks.library import Runbook


def _days(period: timedelta) -> str:
    return f"{period.days} days" if period.days != 1 else "1 day"


def _review_warning(book: Runbook, max_age: timedelta, today: date) -> str:
    if book.last_reviewed is None:
        return f"{book.path}: warning: no last_reviewed date; review it and record the date"
    age = today - book.last_reviewed
    return (
        f"{book.path}: warning: last reviewed {book.last_reviewed.isoformat()}, {_days(age)} ago"
        f" (more than {_days(max_age)})"
    )


def warnings(
    runbooks: Iterable[Runbook],
    max_age: timedelta,
    today: date,
    known_models: Collection[str] | None = None,
) -> list[str]:
    """One line per problem, each naming the runbook's file, in file order."""
    found: list[str] = []
    for book in sorted(runbooks, key=lambda b: str(b.path)):
        if book.review_due(max_age, today):
            found.append(_review_warning(book, max_age, today))
        if book.owner is None:
            found.append(f"{book.path}: warning: no owner; name the team or person who keeps it true")
        if known_models is not None:
            for model in book.models:
                if model not in known_models:
                    found.append(f"{book.path}: warning: model {model!r} is not in the on-call file's models")
    return found
