"""The push tables (migration 0005; the subscription change counts are newer): topics and
subscribers, enterprises and their contacts, staff accounts and the audit log, notices, and the
outbox of deliveries.

Core tables, because push works in batches (an audience is materialised with one
``INSERT … SELECT`` per chunk, deliveries are claimed and acknowledged a batch at a time).
Every openid held here is listed in ``push.subscriptions.forget`` so that it can be deleted.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.db import Base, UTCDateTime

metadata = Base.metadata

OPENID = 64  # WeChat openids are 28 characters; room for other platforms' ids


class Role(StrEnum):
    EDITOR = "editor"  # writes notices (撰稿)
    REVIEWER = "reviewer"  # approves or rejects them (审核), never their own
    ADMIN = "admin"  # everything, including staff accounts
    AUDITOR = "auditor"  # reads the audit log


class NoticeState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class Channel(StrEnum):
    TEMPLATE = "template"  # 模板消息: the default for notices
    SUBSCRIBE = "subscribe"  # 订阅通知 (bizsend): needs the recipient's consent
    CUSTOM = "custom"  # 客服消息: only inside the 48-hour window
    MASS = "mass"  # 群发: whole-account broadcasts, WeChat fans out


class DeliveryState(StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    HELD = "held"  # quiet hours or the daily cap: due when they end (next_attempt_at)
    SENDING = "sending"  # claimed by a worker until lease_until
    SENT = "sent"
    FAILED = "failed"  # final: WeChat refused for good (unfollowed, refused, bad openid…)
    UNKNOWN = "unknown"  # the request went out, no answer came, and it cannot be safely resent
    CANCELLED = "cancelled"  # the notice was cancelled, or the recipient unsubscribed


OPEN_DELIVERY = (DeliveryState.PENDING, DeliveryState.HELD, DeliveryState.SENDING)

TOPICS = Table(
    "push_topic",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("aliases", JSON, nullable=False, default=list),  # other ways people name it
    Column("position", Integer, nullable=False, default=0),
    Column("active", Boolean, nullable=False, default=True),
)

SUBSCRIBERS = Table(
    "push_subscriber",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("openid", String(OPENID), nullable=False, unique=True),
    Column("town", String(64)),
    Column("tags", JSON, nullable=False, default=list),
    Column("active", Boolean, nullable=False, default=True),  # False once WeChat says 43004
    Column("source", String(16), nullable=False),  # chat | import | binding
    # Own quiet hours as "HH:MM-HH:MM" (None: the account's default, GONGKAI_PUSH__QUIET_HOURS).
    Column("quiet_hours", String(16)),
    Column("created_at", UTCDateTime(), nullable=False),
)

SUBSCRIPTIONS = Table(
    "push_subscription",
    metadata,
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("push_subscriber.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "topic",
        String(32),
        ForeignKey("push_topic.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("consented_at", UTCDateTime(), nullable=False),  # when they said yes (PIPL Art. 14)
    Index("ix_push_subscription_topic_subscriber", "topic", "subscriber_id"),
)

SUBSCRIPTION_CHANGES = Table(
    "push_subscription_change",
    metadata,
    # One row per topic subscribed (+1) or given up (-1), for the report's new and cancelled
    # subscriptions (push.figures): counts only, no openid, so nothing here to forget.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("topic", String(32), nullable=False),
    Column("delta", Integer, nullable=False),  # +1 subscribed, -1 unsubscribed or unfollowed
)

ENTERPRISES = Table(
    "enterprise",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uscc", String(18), nullable=False, unique=True),  # 统一社会信用代码
    Column("name", Text, nullable=False),
    Column("industry", String(64)),
    Column("employees", Integer),
    Column("town", String(64)),
    Column("founded", Date),
    Column("qualifications", JSON, nullable=False, default=list),
    Column("tags", JSON, nullable=False, default=list),
    Column("updated_at", UTCDateTime(), nullable=False),
)

CONTACTS = Table(
    "enterprise_contact",
    metadata,
    Column(
        "enterprise_id", Integer, ForeignKey("enterprise.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("openid", String(OPENID), primary_key=True),
    Column("via", String(16), nullable=False),  # import | binding
    Column("bound_at", UTCDateTime(), nullable=False),
    Index("ix_enterprise_contact_openid", "openid"),
)

BINDING_CODES = Table(
    "enterprise_binding_code",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "enterprise_id", Integer, ForeignKey("enterprise.id", ondelete="CASCADE"), nullable=False
    ),
    Column("code_hash", String(64), nullable=False, unique=True),  # never the code itself
    Column("issued_by", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
)

STAFF = Table(
    "staff_user",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text),  # argon2id; None: command line only
    Column("openid", String(OPENID)),  # where test sends go
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
)

AUDIT = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("detail", JSON, nullable=False, default=dict),
    Column("prev_hash", String(64), nullable=False),  # each row chains the one before it
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_object", "object_type", "object_id"),
)

NOTICES = Table(
    "notice",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("url", Text),
    Column("channel", String(16), nullable=False),
    # The audience: topics / towns / tags (all that are set must hold), or a policy's eligible
    # enterprises, or the whole account (mass send), or the recipients of the notice corrected.
    Column("topics", JSON, nullable=False, default=list),
    Column("towns", JSON, nullable=False, default=list),
    Column("tags", JSON, nullable=False, default=list),
    Column("policy_id", String(64)),
    Column("eligible", Boolean, nullable=False, default=False),
    Column("to_all", Boolean, nullable=False, default=False),
    Column("corrects_id", Integer, ForeignKey("notice.id", ondelete="SET NULL")),
    Column("state", String(16), nullable=False),
    Column("author", String(64), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("approved_hash", String(64)),  # the content the approval covers; an edit voids it
    Column("approved_by", String(64)),
    Column("approved_at", UTCDateTime()),
    Column("review_comment", Text),
    Column("scheduled_at", UTCDateTime()),
    Column("started_at", UTCDateTime()),
    Column("finished_at", UTCDateTime()),
    Column("materialised_upto", BigInteger, nullable=False, default=0),  # audience cursor
    Column("materialised", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_notice_state_scheduled_at", "state", "scheduled_at"),
)

DELIVERIES = Table(
    "push_delivery",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("notice_id", Integer, ForeignKey("notice.id", ondelete="CASCADE"), nullable=False),
    Column("openid", String(OPENID), nullable=False),
    Column("enterprise_id", Integer),  # eligibility notices: the enterprise it is for
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_until", UTCDateTime()),
    Column("leased_by", String(64)),
    Column("errcode", Integer),
    Column("reason", String(32)),
    Column("msgid", String(64)),
    Column("detail", JSON),  # eligibility: why this enterprise qualifies
    Column("first_sent_at", UTCDateTime()),  # first request that may have reached WeChat
    Column("finished_at", UTCDateTime()),
    UniqueConstraint("notice_id", "openid", name="uq_push_delivery_notice_openid"),
    Index("ix_push_delivery_due", "status", "next_attempt_at"),
    Index("ix_push_delivery_openid", "openid"),
    Index("ix_push_delivery_msgid", "msgid"),
)

MAYBE = Table(
    "notice_maybe",
    metadata,
    Column("notice_id", Integer, ForeignKey("notice.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "enterprise_id", Integer, ForeignKey("enterprise.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("unknown", JSON, nullable=False),  # the conditions the profile cannot settle
)

POLICY_LEDGER = Table(
    "policy_push_ledger",
    metadata,
    Column("policy_id", String(64), primary_key=True),
    Column(
        "enterprise_id", Integer, ForeignKey("enterprise.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("notice_id", Integer, ForeignKey("notice.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)

CHANNEL_STATE = Table(
    "push_channel_state",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("paused_until", UTCDateTime()),
    Column("reason", String(32)),
    Column("errcode", Integer),
)

CONSENT_ACCEPTED = "accept"
CONSENTS = Table(
    "subscribe_msg_consent",
    metadata,
    Column("openid", String(OPENID), primary_key=True),
    Column("template_id", String(128), primary_key=True),
    Column("status", String(16), nullable=False),  # accept | reject
    Column("updated_at", UTCDateTime(), nullable=False),
)

BIND_FAILURES = Table(
    "enterprise_bind_failure",
    metadata,
    # Wrong binding codes typed by one person, counted in a window (push.enterprises): enough
    # of them and binding is refused until the window ends. Deleted by forget(openid).
    Column("openid", String(OPENID), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_at", UTCDateTime(), nullable=False),
)
