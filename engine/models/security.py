"""Sign-in attempts, kept so the login throttle works across web processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from engine.db import Base


class LoginAttempt(Base):
    """One sign-in attempt (browser form or API token request), successful or not.

    Rows are only read inside the throttle window; older ones may be purged.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_attempted_at", "username", "attempted_at"),
        Index("ix_login_attempts_ip_attempted_at", "ip", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the username as typed (it may not exist)
    username: Mapped[str] = mapped_column(String(64))
    #: the client address as the web process saw it (IPv6 text is at most 45 characters)
    ip: Mapped[str] = mapped_column(String(45))
    succeeded: Mapped[bool]
    attempted_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<LoginAttempt {self.username} {self.ip} {'ok' if self.succeeded else 'failed'}>"
