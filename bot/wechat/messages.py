"""Typed inbound messages and events, as handlers see them.

Why separate from the parser: handlers and routers import these classes for ``isinstance``
checks and tests construct them directly, without caring how XML became fields. They are
frozen (safe to share between tasks and cache) and keep the parsed XML in ``raw`` (excluded
from equality and repr, since it may hold message text) for anything not modelled here.

``kind`` is a low-cardinality label for logs and metrics. ``dedupe_key`` implements the
de-duplication advice for WeChat's 5-second retries: MsgId collisions across users were
reported, so message keys include the sender; events have no MsgId, so their key combines
sender, CreateTime, Event and EventKey (plus MsgID for job-result events, of which two may
finish for the same user within one second).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias

__all__ = [
    "ClickEvent",
    "ImageMessage",
    "Inbound",
    "InboundEvent",
    "InboundMessage",
    "LinkMessage",
    "LocationEvent",
    "LocationMessage",
    "MassSendJobFinishEvent",
    "ScanEvent",
    "SubscribeEvent",
    "SubscribeMsgChangeEvent",
    "SubscribeMsgItem",
    "SubscribeMsgPopupEvent",
    "SubscribeMsgSentEvent",
    "TemplateSendJobFinishEvent",
    "TextMessage",
    "UnknownMessage",
    "UnsubscribeEvent",
    "VideoMessage",
    "ViewEvent",
    "VoiceMessage",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    """Fields every callback carries. ``raw`` keeps the parsed XML for anything not modelled."""

    KIND: ClassVar[str] = "unknown"

    to_user: str  # the account's original id (gh_...)
    from_user: str  # the sender's openid
    create_time: int
    msg_id: int | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False, repr=False)

    @property
    def kind(self) -> str:
        """Low-cardinality label for logs and metrics ("text", "event:click", "unknown")."""
        return self.KIND

    @property
    def dedupe_key(self) -> str:
        """Key under which WeChat's retries of this callback are recognised as duplicates."""
        return self._message_key()

    def _message_key(self) -> str:
        if self.msg_id is not None:
            return f"m:{self.from_user}:{self.msg_id}"
        # Not expected from WeChat (messages carry MsgId); still unique enough per second.
        return f"t:{self.from_user}:{self.create_time}:{self.kind}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TextMessage(Inbound):
    KIND: ClassVar[str] = "text"
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageMessage(Inbound):
    KIND: ClassVar[str] = "image"
    pic_url: str
    media_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceMessage(Inbound):
    """``recognition`` is WeChat's speech-to-text (being retired; often absent or empty)."""

    KIND: ClassVar[str] = "voice"
    media_id: str
    format: str
    recognition: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoMessage(Inbound):
    """``short`` is true for MsgType ``shortvideo``."""

    KIND: ClassVar[str] = "video"
    media_id: str
    thumb_media_id: str
    short: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationMessage(Inbound):
    KIND: ClassVar[str] = "location"
    latitude: float
    longitude: float
    scale: int
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkMessage(Inbound):
    KIND: ClassVar[str] = "link"
    title: str
    description: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMessage(Inbound):
    """Any message or event type this module does not model; read ``raw`` for details."""

    msg_type: str
    event: str | None = None
    event_key: str = ""

    @property
    def dedupe_key(self) -> str:
        if self.event is not None:
            return f"e:{self.from_user}:{self.create_time}:{self.event.lower()}:{self.event_key}"
        return self._message_key()


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundEvent(Inbound):
    """Base of MsgType ``event``. ``event_key`` is EventKey as received ("" if absent)."""

    EVENT: ClassVar[str] = ""
    event_key: str = ""

    @property
    def event(self) -> str:
        """Lower-case event name, e.g. ``click``."""
        return self.EVENT

    @property
    def kind(self) -> str:
        return f"event:{self.EVENT}"

    @property
    def dedupe_key(self) -> str:
        key = f"e:{self.from_user}:{self.create_time}:{self.EVENT}:{self.event_key}"
        return key + self._dedupe_suffix()

    def _dedupe_suffix(self) -> str:
        # Job-result events carry a MsgID; two jobs may finish for one user in one second.
        return "" if self.msg_id is None else f":{self.msg_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeEvent(InboundEvent):
    """Follow. ``scene``/``ticket`` are set when a parametric QR code was scanned."""

    EVENT: ClassVar[str] = "subscribe"
    scene: str | None = None
    ticket: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeEvent(InboundEvent):
    EVENT: ClassVar[str] = "unsubscribe"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanEvent(InboundEvent):
    """A follower scanned a parametric QR code."""

    EVENT: ClassVar[str] = "scan"
    scene: str | None = None
    ticket: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationEvent(InboundEvent):
    EVENT: ClassVar[str] = "location"
    latitude: float
    longitude: float
    precision: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ClickEvent(InboundEvent):
    EVENT: ClassVar[str] = "click"
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewEvent(InboundEvent):
    EVENT: ClassVar[str] = "view"
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateSendJobFinishEvent(InboundEvent):
    """Template message delivery result; ``msg_id`` is the send's MsgID."""

    EVENT: ClassVar[str] = "templatesendjobfinish"
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MassSendJobFinishEvent(InboundEvent):
    """Mass-send result; ``msg_id`` is the send's MsgID."""

    EVENT: ClassVar[str] = "masssendjobfinish"
    status: str
    total_count: int
    filter_count: int
    sent_count: int
    error_count: int


@dataclass(frozen=True, slots=True)
class SubscribeMsgItem:
    """One ``List`` entry of a subscription-notice event, values as WeChat sent them."""

    template_id: str
    status: str | None = None  # SubscribeStatusString: accept / reject
    popup_scene: str | None = None
    msg_id: str | None = None
    error_code: str | None = None
    error_status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgPopupEvent(InboundEvent):
    EVENT: ClassVar[str] = "subscribe_msg_popup_event"
    items: tuple[SubscribeMsgItem, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgChangeEvent(InboundEvent):
    EVENT: ClassVar[str] = "subscribe_msg_change_event"
    items: tuple[SubscribeMsgItem, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMsgSentEvent(InboundEvent):
    EVENT: ClassVar[str] = "subscribe_msg_sent_event"
    items: tuple[SubscribeMsgItem, ...] = ()

    def _dedupe_suffix(self) -> str:
        ids = ",".join(item.msg_id for item in self.items if item.msg_id)
        return f":{ids}" if ids else ""


InboundMessage: TypeAlias = (
    TextMessage
    | ImageMessage
    | VoiceMessage
    | VideoMessage
    | LocationMessage
    | LinkMessage
    | SubscribeEvent
    | UnsubscribeEvent
    | ScanEvent
    | LocationEvent
    | ClickEvent
    | ViewEvent
    | TemplateSendJobFinishEvent
    | MassSendJobFinishEvent
    | SubscribeMsgPopupEvent
    | SubscribeMsgChangeEvent
    | SubscribeMsgSentEvent
    | UnknownMessage
)
