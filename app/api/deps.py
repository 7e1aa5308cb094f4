"""Typed request dependencies: the one place that reads what the app holds in `app.state`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.alerts.writer import IntakeWriter
from app.catalog.holder import CatalogHolder
from app.catalog.loader import Catalog
from app.communications.service import Context
from app.config import Settings
from app.db import Database
from app.errors import Unavailable
from app.instance.keys import Keys
from app.security import check_secret


class Sender(Protocol):
    def submit(self, ids: Iterable[int]) -> None: ...


@dataclass
class Runtime:
    """What a running app holds: settings and catalog from the start, the rest once started."""

    settings: Settings
    catalog: CatalogHolder
    db: Database | None = None
    writer: IntakeWriter[Any] | None = None
    dispatcher: Sender | None = None
    # Where the per-purpose keys come from (BRIDGE_SECRET_KEY, or the generated key in the
    # database); asked once, when first needed, so a replica may start while the database is down.
    key_source: Callable[[], Keys] | None = None
    # The channels this process can send through itself (sign-in links go from the web process
    # whoever sends the pages); None before the app started.
    channels: Callable[[], dict[str, Any]] | None = None
    _keys: Keys | None = field(default=None, repr=False)
    _keys_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def protocol(self) -> Context:
        """The communication protocol as the rules in force now have it."""
        return Context(self.catalog.current, self.settings.public_url)

    def send(self) -> Callable[[Iterable[int]], None] | None:
        """Hands committed notification ids to the dispatcher (None before the app started)."""
        return self.dispatcher.submit if self.dispatcher is not None else None

    @property
    def keys(self) -> Keys:
        if self._keys is None:
            with self._keys_lock:
                if self._keys is None:
                    if self.key_source is None:
                        raise Unavailable("the service is starting")
                    self._keys = self.key_source()
        return self._keys


def runtime(request: Request) -> Runtime:
    held: Runtime = request.app.state.runtime
    return held


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def settings(rt: RuntimeDep) -> Settings:
    return rt.settings


def catalog(rt: RuntimeDep) -> Catalog:
    """The catalog in force for this request (a reload mid-request does not change it)."""
    return rt.catalog.current


def database(rt: RuntimeDep) -> Database:
    if rt.db is None:
        raise Unavailable("the service is starting")
    return rt.db


SettingsDep = Annotated[Settings, Depends(settings)]
CatalogDep = Annotated[Catalog, Depends(catalog)]
DatabaseDep = Annotated[Database, Depends(database)]


def read_session(db: DatabaseDep) -> Iterator[Session]:
    """A read-only unit of work for one request."""
    with db.session() as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]


API_TOKEN = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="`Authorization: Bearer <BRIDGE_API_TOKEN>`, needed when BRIDGE_API_TOKEN is set",
)


def require_api_token(
    request: Request,
    config: SettingsDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(API_TOKEN)],
) -> None:
    """Every /api/ call needs `Authorization: Bearer <BRIDGE_API_TOKEN>` when it is set."""
    check_secret(request, config.api_token, allow_basic=False)


# An operator tool acting on behalf of a person names them here; the answer is then narrowed to
# what that person may see. It never widens anything: the token holder already sees everything.
PERSON_HEADER = "X-Bridge-Person"


@dataclass(frozen=True)
class Viewer:
    """Who is asking: a person (what they may see) or the API token holder (everything)."""

    person: str | None
    everything: bool

    @property
    def narrowed_to(self) -> str | None:
        """The person whose view applies, or None for everything."""
        return None if self.everything else (self.person or "")


def viewer(request: Request) -> Viewer:
    """Every API call is the operator's (BRIDGE_API_TOKEN); `X-Bridge-Person` only narrows it."""
    person = request.headers.get(PERSON_HEADER)
    if person is None:
        return Viewer(person=None, everything=True)
    return Viewer(person=person.strip(), everything=False)


ViewerDep = Annotated[Viewer, Depends(viewer)]
