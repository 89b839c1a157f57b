"""Inbound callback XML: safe parsing and typed messages/events.

Why: the callback body is attacker-reachable input. ``parse_xml`` refuses DTDs, entities and
external references outright (XXE, billion laughs) and turns every parser failure into
``MalformedMessageError``, so the HTTP layer has exactly one exception type to map to 400. It
drives the C expat parser directly, as defusedxml does, with handlers that raise on a DOCTYPE
(where any entity would have to be declared), on entity declarations and on external
references, and builds the field dict as the elements close: no element tree and no
pure-Python parser on the callback path (about three times faster than defusedxml's).

``parse_message`` then turns the field dict into the frozen dataclasses of
``bot.wechat.messages`` (re-exported here). It never raises on a message or event type it does
not know (WeChat adds new ones without notice): those become ``UnknownMessage``. Event names
are matched case-insensitively because WeChat mixes ``subscribe`` and ``CLICK``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NoReturn, TypeAlias, TypedDict
from xml.parsers import expat

from bot.wechat.errors import MalformedMessageError
from bot.wechat.messages import (
    ClickEvent,
    ImageMessage,
    InboundMessage,
    LinkMessage,
    LocationEvent,
    LocationMessage,
    MassSendJobFinishEvent,
    ScanEvent,
    SubscribeEvent,
    SubscribeMsgChangeEvent,
    SubscribeMsgItem,
    SubscribeMsgPopupEvent,
    SubscribeMsgSentEvent,
    TemplateSendJobFinishEvent,
    TextMessage,
    UnknownMessage,
    UnsubscribeEvent,
    VideoMessage,
    ViewEvent,
    VoiceMessage,
)

__all__ = ["parse_message", "parse_xml"]

# Tags WeChat repeats; they always come out as lists so one entry and several look alike.
_ALWAYS_LIST = frozenset({"List", "item"})
# WeChat nests at most ~4 levels (SendPicsInfo/PicList/item/PicMd5Sum); deeper is hostile.
# Elements with children may nest this deep, the root counting as 1; leaves one level more.
_MAX_DEPTH = 8
_QR_SCENE_PREFIX = "qrscene_"


class _Forbidden(ValueError):
    """Raised inside expat's handlers to stop at anything beyond plain elements and text."""


def _refuse_dtd(*_args: object) -> NoReturn:
    raise _Forbidden("DTD")


def _refuse_entity(*_args: object) -> NoReturn:
    raise _Forbidden("entity declaration")


def _refuse_external(*_args: object) -> NoReturn:
    raise _Forbidden("external reference")


class _Fields:
    """Expat handlers that build ``{tag: text | dict | list}`` as elements close."""

    __slots__ = ("open", "root", "text")

    def __init__(self) -> None:
        self.open: list[tuple[str, dict[str, Any]]] = []  # open elements and their children
        self.text: list[str] = []  # character data of the innermost open element
        self.root: dict[str, Any] | None = None

    def start(self, tag: str, _attributes: object) -> None:
        if not self.open and tag != "xml":
            raise MalformedMessageError("root element is not <xml>")
        if len(self.open) > _MAX_DEPTH:
            raise MalformedMessageError("XML nested too deeply")
        self.open.append((tag, {}))
        self.text.clear()

    def end(self, tag: str) -> None:
        children = self.open.pop()[1]
        if not self.open:
            self.root = children
            return
        value: Any = children if children else "".join(self.text)
        self.text.clear()
        siblings = self.open[-1][1]
        if tag in _ALWAYS_LIST:
            siblings.setdefault(tag, []).append(value)
        elif tag not in siblings:
            siblings[tag] = value
        elif isinstance(siblings[tag], list):  # leaves are never lists: already repeated
            siblings[tag].append(value)
        else:
            siblings[tag] = [siblings[tag], value]


def parse_xml(body: bytes) -> dict[str, Any]:
    """Parse a callback body into ``{child tag: text | dict | list}`` of the ``<xml>`` root.

    Leaf elements map to their text ("" when empty); elements with children map to dicts
    (their own text is ignored); repeated tags, and ``List``/``item`` always, map to lists.
    """
    if not body:
        raise MalformedMessageError("empty body")
    fields = _Fields()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = fields.start
    parser.EndElementHandler = fields.end
    parser.CharacterDataHandler = fields.text.append
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
    # _Forbidden and UnicodeError are ValueErrors; LookupError = unknown encoding.
    except (expat.ExpatError, ValueError, LookupError, TypeError) as exc:
        raise MalformedMessageError(f"unparseable XML ({type(exc).__name__})") from exc
    if fields.root is None:  # expat reports a missing root element itself; to be sure
        raise MalformedMessageError("no root element")
    return fields.root


# --------------------------------------------------------------------------- parsing


class _Common(TypedDict):
    to_user: str
    from_user: str
    create_time: int
    msg_id: int | None
    raw: Mapping[str, Any]


def _text(fields: Mapping[str, Any], key: str) -> str:
    value = fields.get(key, "")
    if not isinstance(value, str):
        raise MalformedMessageError(f"{key} must be a text element")
    return value


def _required(fields: Mapping[str, Any], key: str) -> str:
    value = _text(fields, key).strip()
    if not value:
        raise MalformedMessageError(f"missing {key}")
    return value


def _optional(fields: Mapping[str, Any], key: str) -> str | None:
    value = _text(fields, key).strip()
    return value or None


def _lenient(fields: Mapping[str, Any], key: str) -> str:
    value = fields.get(key, "")
    return value if isinstance(value, str) else ""


def _int(fields: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = _text(fields, key).strip()
    if not value:
        if default is None:
            raise MalformedMessageError(f"missing {key}")
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise MalformedMessageError(f"{key} is not an integer") from exc


def _float(fields: Mapping[str, Any], key: str) -> float:
    try:
        number = float(_text(fields, key))
    except ValueError as exc:
        raise MalformedMessageError(f"{key} is not a number") from exc
    if not math.isfinite(number):
        raise MalformedMessageError(f"{key} is not a finite number")
    return number


def _msg_id(fields: Mapping[str, Any]) -> int | None:
    key = "MsgId" if "MsgId" in fields else "MsgID"  # job-result events spell it MsgID
    return _int(fields, key) if _text(fields, key).strip() else None


def _scene(event_key: str) -> str | None:
    scene = event_key.strip().removeprefix(_QR_SCENE_PREFIX)
    return scene or None


def _items(fields: Mapping[str, Any], container: str) -> tuple[SubscribeMsgItem, ...]:
    box = fields.get(container, "")
    if isinstance(box, str) and not box.strip():
        return ()
    if not isinstance(box, Mapping):
        raise MalformedMessageError(f"{container} must contain List elements")
    entries = box.get("List", [])
    if isinstance(entries, Mapping):  # e.g. a dict produced by another XML converter
        entries = [entries]
    if isinstance(entries, str) or not isinstance(entries, Sequence):
        raise MalformedMessageError(f"{container}/List is malformed")
    items: list[SubscribeMsgItem] = []
    for entry in entries:
        if isinstance(entry, str) and not entry.strip():
            continue
        if not isinstance(entry, Mapping):
            raise MalformedMessageError(f"{container}/List is malformed")
        items.append(
            SubscribeMsgItem(
                template_id=_text(entry, "TemplateId").strip(),
                status=_optional(entry, "SubscribeStatusString"),
                popup_scene=_optional(entry, "PopupScene"),
                msg_id=_optional(entry, "MsgID") or _optional(entry, "MsgId"),
                error_code=_optional(entry, "ErrorCode"),
                error_status=_optional(entry, "ErrorStatus"),
            )
        )
    return tuple(items)


_Builder: TypeAlias = Callable[[_Common, Mapping[str, Any]], InboundMessage]

_MESSAGES: Mapping[str, _Builder] = {
    "text": lambda c, f: TextMessage(**c, content=_text(f, "Content")),
    "image": lambda c, f: ImageMessage(
        **c, pic_url=_text(f, "PicUrl"), media_id=_text(f, "MediaId")
    ),
    "voice": lambda c, f: VoiceMessage(
        **c,
        media_id=_text(f, "MediaId"),
        format=_text(f, "Format").strip(),
        recognition=_text(f, "Recognition") if _text(f, "Recognition").strip() else None,
    ),
    "video": lambda c, f: VideoMessage(
        **c, media_id=_text(f, "MediaId"), thumb_media_id=_text(f, "ThumbMediaId")
    ),
    "shortvideo": lambda c, f: VideoMessage(
        **c, media_id=_text(f, "MediaId"), thumb_media_id=_text(f, "ThumbMediaId"), short=True
    ),
    "location": lambda c, f: LocationMessage(
        **c,
        latitude=_float(f, "Location_X"),
        longitude=_float(f, "Location_Y"),
        scale=_int(f, "Scale", default=0),
        label=_text(f, "Label"),
    ),
    "link": lambda c, f: LinkMessage(
        **c, title=_text(f, "Title"), description=_text(f, "Description"), url=_text(f, "Url")
    ),
}

_EVENTS: Mapping[str, Callable[[_Common, str, Mapping[str, Any]], InboundMessage]] = {
    "subscribe": lambda c, k, f: SubscribeEvent(
        **c, event_key=k, scene=_scene(k), ticket=_optional(f, "Ticket")
    ),
    "unsubscribe": lambda c, k, f: UnsubscribeEvent(**c, event_key=k),
    "scan": lambda c, k, f: ScanEvent(
        **c, event_key=k, scene=_scene(k), ticket=_optional(f, "Ticket")
    ),
    "location": lambda c, k, f: LocationEvent(
        **c,
        event_key=k,
        latitude=_float(f, "Latitude"),
        longitude=_float(f, "Longitude"),
        precision=_float(f, "Precision"),
    ),
    "click": lambda c, k, f: ClickEvent(**c, event_key=k, key=k),
    "view": lambda c, k, f: ViewEvent(**c, event_key=k, url=k),
    "templatesendjobfinish": lambda c, k, f: TemplateSendJobFinishEvent(
        **c, event_key=k, status=_text(f, "Status").strip()
    ),
    "masssendjobfinish": lambda c, k, f: MassSendJobFinishEvent(
        **c,
        event_key=k,
        status=_text(f, "Status").strip(),
        total_count=_int(f, "TotalCount", default=0),
        filter_count=_int(f, "FilterCount", default=0),
        sent_count=_int(f, "SentCount", default=0),
        error_count=_int(f, "ErrorCount", default=0),
    ),
    "subscribe_msg_popup_event": lambda c, k, f: SubscribeMsgPopupEvent(
        **c, event_key=k, items=_items(f, "SubscribeMsgPopupEvent")
    ),
    "subscribe_msg_change_event": lambda c, k, f: SubscribeMsgChangeEvent(
        **c, event_key=k, items=_items(f, "SubscribeMsgChangeEvent")
    ),
    "subscribe_msg_sent_event": lambda c, k, f: SubscribeMsgSentEvent(
        **c, event_key=k, items=_items(f, "SubscribeMsgSentEvent")
    ),
}


def parse_message(fields: Mapping[str, Any]) -> InboundMessage:
    """Build the typed message for a ``parse_xml`` result (of the decrypted XML, if encrypted).

    Raises ``MalformedMessageError`` when ToUserName, FromUserName, CreateTime or MsgType is
    missing, CreateTime or MsgId is not an integer, or a known type has unusable fields.
    Unknown message and event types yield ``UnknownMessage``.
    """
    common: _Common = {
        "to_user": _required(fields, "ToUserName"),
        "from_user": _required(fields, "FromUserName"),
        "create_time": _int(fields, "CreateTime"),
        "msg_id": _msg_id(fields),
        "raw": MappingProxyType(dict(fields)),
    }
    msg_type = _required(fields, "MsgType")
    if msg_type.lower() == "event":
        event = _lenient(fields, "Event").strip()
        event_key = _lenient(fields, "EventKey")
        build_event = _EVENTS.get(event.lower())
        if build_event is not None:
            return build_event(common, event_key, fields)
        return UnknownMessage(**common, msg_type=msg_type, event=event or None, event_key=event_key)
    build = _MESSAGES.get(msg_type.lower())
    if build is not None:
        return build(common, fields)
    return UnknownMessage(**common, msg_type=msg_type)
