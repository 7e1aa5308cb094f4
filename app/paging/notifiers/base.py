"""The notifier contract: every channel sends one message to one typed contact, or says why not."""

from __future__ import annotations

from typing import Protocol, TypeVar

from app.paging.message import Message

ContactT_contra = TypeVar("ContactT_contra", contravariant=True)


class DeliveryError(Exception):
    """A failed send; `retryable` says whether trying again may succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol[ContactT_contra]):
    """One channel. `send` returns once the message is delivered, or raises DeliveryError."""

    @property
    def channel(self) -> str:
        """The channel name: the `type` of the contacts this notifier takes."""
        ...

    def send(self, contact: ContactT_contra, message: Message) -> None: ...
