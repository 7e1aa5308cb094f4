"""Keys this installation generates for itself, and the readiness write probe."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.orm import Session

from app.db import Database, utcnow
from app.instance import repository
from app.instance.keys import Keys, derive

GENERATED_KEY_BYTES = 48
MASTER_KEY = "master"  # the purpose under which a generated master key is stored


def generated_key(session: Session, purpose: str, now: datetime) -> str:
    """The key stored for `purpose`, generated (randomly, once for all replicas) if there is none."""
    found = repository.key(session, purpose)
    if found is not None:
        return found
    repository.add_key_unless_present(session, purpose, secrets.token_urlsafe(GENERATED_KEY_BYTES), now)
    stored = repository.key(session, purpose)
    assert stored is not None
    return stored


def probe_write(session: Session, replica: str, now: datetime) -> None:
    """Write one row: proof that the database takes writes right now."""
    repository.record_probe(session, replica, now)


def master_keys(secret_key: str | None, db: Database) -> Keys:
    """The per-purpose keys of BRIDGE_SECRET_KEY, or of the key generated for this installation."""
    if secret_key is not None:
        return derive(secret_key)
    with db.session(write=True) as session:
        return derive(generated_key(session, MASTER_KEY, utcnow()))
