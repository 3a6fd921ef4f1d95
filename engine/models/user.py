"""Users and the role catalogue (the organisation tree arrives with issue #3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from engine.db import Base
from engine.db import str_100
from engine.db import str_255


class Role(Base):
    """A role code from the catalogue; BPMN lane names must be one of these."""

    __tablename__ = "roles"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str_100]
    description: Mapped[str | None] = mapped_column(String(255))


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
