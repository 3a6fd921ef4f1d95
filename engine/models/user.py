"""Users and the role catalogue (the organisation tree arrives with issue #3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.db import str_100
from engine.db import str_255


class Role(Base):
    """A role code from the catalogue; BPMN lane names must be one of these."""

    __tablename__ = "roles"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str_100]
    description: Mapped[str | None] = mapped_column(String(255))
    #: whose staff act in this role on a case: ``agency`` (the verification agency owning the
    #: case), ``entrusting`` (the entrusting unit), ``sharing`` (a sharing unit) or ``none``
    #: (oversight and administration, never a task lane)
    party: Mapped[str] = mapped_column(String(20), default="agency")


class User(Base):
    """A person who signs in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str_100]
    password_hash: Mapped[str_255]
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class ApiToken(Base):
    """A bearer token for the API; only its sha256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
