"""State of the web pages: sign-in links already used (each works once)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class UsedSignInLink(Base):
    """A sign-in link that started a session; its id is unique, so a second use fails."""

    __tablename__ = "used_sign_in_link"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)
