"""Tables owned by the callback layer: receipts (retry de-duplication), nonces, access token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime


class CallbackReceipt(Base):
    """One row per inbound message: claimed by the first delivery, replayed to WeChat's retries.

    ``reply_xml`` holds the plaintext passive reply (or ``success``) so that every retry gets the
    same reply, re-encrypted for safe mode, across all server processes sharing the database.
    ``sender`` is the openid of a message flood control counts (None for other events).
    """

    __tablename__ = "callback_receipt"

    dedupe_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    sender: Mapped[str | None] = mapped_column(String(64), default=None)  # flood control counts
    status: Mapped[str] = mapped_column(String(16))  # processing | replied | late | sent_late
    reply_xml: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_callback_receipt_created_at", "created_at"),
        Index("ix_callback_receipt_sender_created_at", "sender", "created_at"),
    )


class CallbackNonce(Base):
    """Nonces of authenticated callbacks seen recently (replay protection)."""

    __tablename__ = "callback_nonce"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_digest: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[float] = mapped_column(Float, index=True)


class AccessToken(Base):
    """The account's current access token, shared by every process (one refresher at a time)."""

    __tablename__ = "wechat_access_token"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(1024))
    expires_at: Mapped[float] = mapped_column(Float)
