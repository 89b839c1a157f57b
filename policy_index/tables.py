"""Tables owned by the policy library. Lists are JSON; every write bumps ``library_state``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime


class PolicyRow(Base):
    __tablename__ = "policy"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    doc_number: Mapped[str | None] = mapped_column(String(200), index=True)
    issuer: Mapped[str | None] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str | None] = mapped_column(String(100))
    date: Mapped[dt.date | None] = mapped_column(Date)
    effective_date: Mapped[dt.date | None] = mapped_column(Date)
    expiry_date: Mapped[dt.date | None] = mapped_column(Date)
    # "year" or "month" when the catalogue gave only that much of the date above (NULL: a day)
    date_precision: Mapped[str | None] = mapped_column(String(8))
    effective_date_precision: Mapped[str | None] = mapped_column(String(8))
    expiry_date_precision: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8))
    replaced_by: Mapped[str | None] = mapped_column(String(64))
    audience: Mapped[list[str]] = mapped_column(JSON, default=list)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    exempt_application: Mapped[bool] = mapped_column(Boolean, default=False)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    guide: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    conditions: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # policy_index.conditions
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class InterpretationRow(Base):
    __tablename__ = "policy_interpretation"

    policy_id: Mapped[str] = mapped_column(
        ForeignKey("policy.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str | None] = mapped_column(Text)


class QAPairRow(Base):
    __tablename__ = "qa_pair"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    similar: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    policy_id: Mapped[str | None] = mapped_column(
        ForeignKey("policy.id", ondelete="SET NULL"), index=True
    )
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AliasRow(Base):
    __tablename__ = "policy_alias"

    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    canonical: Mapped[str] = mapped_column(String(200))


class LibraryState(Base):
    """One row: a revision number bumped by every change, so every process can rebuild."""

    __tablename__ = "library_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
