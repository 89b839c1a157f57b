"""Passive reply rendering: well-formed XML whatever the content, WeChat's limits enforced."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import defusedxml.ElementTree as ET
import pytest

from bot.wechat import (
    SUCCESS,
    TEXT_LIMIT_BYTES,
    Article,
    NewsReply,
    TextReply,
    fit_text,
    render_reply,
)

OPENID = "oUser_0123456789abcdefghijk"
ACCOUNT = "gh_10f6c3c3ac5a"


def render(reply: TextReply | NewsReply, **kwargs: int) -> Element:
    xml = render_reply(reply, to_user=OPENID, from_user=ACCOUNT, create_time=1700000000, **kwargs)
    root: Element = ET.fromstring(xml)
    return root


def articles(count: int) -> tuple[Article, ...]:
    return tuple(
        Article(f"标题{i}", f"摘要{i}", f"https://example.gov.cn/{i}", f"https://img/{i}.jpg")
        for i in range(count)
    )


def test_constants() -> None:
    assert SUCCESS == "success"
    assert TEXT_LIMIT_BYTES == 2048


def test_text_reply_xml() -> None:
    xml = render_reply(TextReply("你好"), to_user=OPENID, from_user=ACCOUNT, create_time=1700000000)
    assert xml == (
        f"<xml><ToUserName><![CDATA[{OPENID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{ACCOUNT}]]></FromUserName>"
        "<CreateTime>1700000000</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[你好]]></Content></xml>"
    )


@pytest.mark.parametrize(
    "content",
    [
        "a]]>b",
        "]]>",
        "]]>]]>",
        "x]]]>y]]",
        "<![CDATA[inner]]>",
        "& < > \" ' &amp;",
        "line1\nline2\tTab",
        "emoji 😀 and 政务公开",
    ],
)
def test_text_content_round_trips_exactly(content: str) -> None:
    root = render(TextReply(content))
    assert root.findtext("Content") == content
    assert root.findtext("MsgType") == "text"
    assert root.findtext("ToUserName") == OPENID
    assert root.findtext("FromUserName") == ACCOUNT
    assert root.findtext("CreateTime") == "1700000000"


def test_cdata_breakout_cannot_inject_elements() -> None:
    attack = "]]></Content><MsgType>news</MsgType><Content><![CDATA["
    root = render(TextReply(attack))
    assert root.findtext("Content") == attack
    assert [child.tag for child in root].count("MsgType") == 1
    assert root.findtext("MsgType") == "text"


def test_illegal_xml_characters_are_removed() -> None:
    content = "a\x00b\x07c\x1fd\x0be\x0cf\ufffeg\uffffh\ud800i\te\nf😀"
    root = render(TextReply(content))
    assert root.findtext("Content") == "abcdefghi\te\nf😀"


def test_identifiers_are_escaped_too() -> None:
    xml = render_reply(TextReply("x"), to_user="o]]>pen\x01id", from_user="gh]]>", create_time=5)
    root = ET.fromstring(xml)
    assert root.findtext("ToUserName") == "o]]>penid"
    assert root.findtext("FromUserName") == "gh]]>"


def test_long_text_reply_is_cut_to_the_limit() -> None:
    root = render(TextReply("政" * 3000))
    content = root.findtext("Content") or ""
    assert len(content.encode()) <= TEXT_LIMIT_BYTES
    assert content.endswith("…")
    assert content.startswith("政" * 600)


# ----------------------------------------------------------------------- fit_text


@pytest.mark.parametrize("text", ["", "short", "政" * 682, "a" * 2048])
def test_fit_text_leaves_fitting_text_alone(text: str) -> None:
    assert len(text.encode()) <= 2048
    assert fit_text(text) == text


def test_fit_text_cuts_multibyte_text_on_a_character_boundary() -> None:
    text = "政务公开" * 200  # 2400 bytes
    result = fit_text(text)
    encoded = result.encode()
    assert len(encoded) <= 2048
    assert result.endswith("…")
    assert text.startswith(result[:-1])
    # As much as possible was kept: one more character would not fit.
    assert len(encoded) + 3 > 2048


@pytest.mark.parametrize("limit", range(4, 24))
def test_fit_text_never_splits_a_four_byte_character(limit: int) -> None:
    text = "😀" * 10  # 40 bytes
    result = fit_text(text, limit_bytes=limit, ellipsis="")
    assert len(result.encode()) <= limit
    assert result == "😀" * (limit // 4)


def test_fit_text_with_mixed_widths() -> None:
    text = "a政😀" * 100
    for limit in range(5, 60):
        result = fit_text(text, limit_bytes=limit, ellipsis="...")
        assert len(result.encode()) <= limit
        assert result.endswith("...")
        assert text.startswith(result[:-3])


def test_fit_text_prefers_a_late_line_break() -> None:
    text = "a" * 1900 + "\n" + "b" * 500
    assert fit_text(text) == "a" * 1900 + "\n" + "…"


def test_fit_text_ignores_an_early_line_break() -> None:
    text = "a" * 100 + "\n" + "b" * 3000
    result = fit_text(text)
    assert result.startswith("a" * 100 + "\nbbb")
    assert len(result.encode()) == 2048


def test_fit_text_limit_smaller_than_ellipsis() -> None:
    with pytest.raises(ValueError, match="ellipsis"):
        fit_text("政务公开", limit_bytes=2, ellipsis="…")


# ----------------------------------------------------------------------- news


def test_news_reply_xml() -> None:
    article = Article(
        "通知]]>", "摘要 & 说明", "https://example.gov.cn/a?x=1&y=2", "https://img/a.jpg"
    )
    root = render(NewsReply((article,)))
    assert root.findtext("MsgType") == "news"
    assert root.findtext("ArticleCount") == "1"
    items = root.findall("Articles/item")
    assert len(items) == 1
    assert [child.tag for child in items[0]] == ["Title", "Description", "PicUrl", "Url"]
    assert items[0].findtext("Title") == "通知]]>"
    assert items[0].findtext("Description") == "摘要 & 说明"
    assert items[0].findtext("PicUrl") == "https://img/a.jpg"
    assert items[0].findtext("Url") == "https://example.gov.cn/a?x=1&y=2"


def test_news_defaults_to_one_article_for_message_replies() -> None:
    root = render(NewsReply(articles(3)))
    assert root.findtext("ArticleCount") == "1"
    assert [item.findtext("Title") for item in root.findall("Articles/item")] == ["标题0"]


@pytest.mark.parametrize(("count", "cap", "shown"), [(3, 8, 3), (10, 8, 8), (5, 2, 2)])
def test_news_article_cap(count: int, cap: int, shown: int) -> None:
    root = render(NewsReply(articles(count)), max_articles=cap)
    assert root.findtext("ArticleCount") == str(shown)
    assert len(root.findall("Articles/item")) == shown


def test_article_without_picture_has_empty_pic_url() -> None:
    root = render(NewsReply((Article("t", "d", "https://u"),)))
    assert root.findtext("Articles/item/PicUrl") == ""


@pytest.mark.parametrize("cap", [0, 9, -1])
def test_news_cap_out_of_range(cap: int) -> None:
    with pytest.raises(ValueError, match="max_articles"):
        render(NewsReply(articles(1)), max_articles=cap)


def test_news_reply_needs_an_article_and_is_a_tuple() -> None:
    with pytest.raises(ValueError, match="at least one"):
        NewsReply(())
    reply = NewsReply(list(articles(2)))  # type: ignore[arg-type]
    assert isinstance(reply.articles, tuple)
    assert hash(reply) == hash(NewsReply(articles(2)))


def test_unsupported_reply_type() -> None:
    with pytest.raises(TypeError):
        render_reply("text", to_user="a", from_user="b", create_time=1)  # type: ignore[arg-type]


def test_the_chat_client_shows_a_link_as_its_text_and_address() -> None:
    from bot.chat import links_as_text

    text = "原文：<a href=\"https://example.gov.cn/a.html\">查看政策原文</a>；<a href='https://x.cn'>解读</a>"
    assert (
        links_as_text(text)
        == "原文：查看政策原文 [https://example.gov.cn/a.html]；解读 [https://x.cn]"
    )
