"""Passive replies: the XML the callback endpoint returns within WeChat's 5-second window.

Why hand-written XML instead of a serializer: WeChat expects a fixed shape with CDATA
sections, and popular SDKs get the escaping wrong (``]]>`` in a reply breaks out of CDATA and
yields malformed XML; control characters make the whole reply invalid). Here every text value
goes through ``cdata()``, which removes characters XML 1.0 forbids and splits ``]]>`` safely,
so whatever a policy document or a user's echo contains, the reply stays well-formed.

WeChat's limits are enforced here too, because WeChat drops what exceeds them silently:
text is cut to ~2 KB (UTF-8) on a character boundary, and news replies carry one article when
answering a user's message (up to 8 for replies to events).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_NEWS_ARTICLES",
    "SUCCESS",
    "TEXT_LIMIT_BYTES",
    "Article",
    "NewsReply",
    "Reply",
    "TextReply",
    "cdata",
    "fit_text",
    "render_reply",
    "strip_illegal_xml_chars",
]

SUCCESS = "success"
"""Body telling WeChat "received, no passive reply" (it then neither retries nor complains)."""

TEXT_LIMIT_BYTES = 2048
"""Safe ceiling for a passive text reply in UTF-8 bytes (no official number exists)."""

MAX_NEWS_ARTICLES = 8
"""WeChat shows at most 8 articles, and only 1 when the reply answers a user's message."""

# XML 1.0 Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
# Everything else (C0 controls, lone surrogates, U+FFFE/U+FFFF) is removed.
_ILLEGAL_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_LINE_BREAK_WINDOW = 0.2


@dataclass(frozen=True, slots=True)
class TextReply:
    """A plain text answer."""

    content: str


@dataclass(frozen=True, slots=True)
class Article:
    """One 图文 card: title, summary, target page and optional cover image."""

    title: str
    description: str
    url: str
    pic_url: str = ""


@dataclass(frozen=True, slots=True)
class NewsReply:
    """A 图文 (news) answer of one or more article cards."""

    articles: tuple[Article, ...]

    def __post_init__(self) -> None:
        # Accept a list from callers that ignore the annotation; store it as a tuple.
        object.__setattr__(self, "articles", tuple(self.articles))
        if not self.articles:
            raise ValueError("a news reply needs at least one article")


Reply = TextReply | NewsReply


def strip_illegal_xml_chars(value: str) -> str:
    """Remove characters that may not appear in an XML 1.0 document at all."""
    return _ILLEGAL_XML_CHARS.sub("", value)


def cdata(value: str) -> str:
    """Wrap ``value`` in CDATA so that any text survives a round trip through an XML parser.

    ``]]>`` would end the section early; it is split across two sections as
    ``]]]]><![CDATA[>``. Characters illegal in XML 1.0 are dropped. As with any XML, a parser
    normalises ``\\r\\n`` and lone ``\\r`` to ``\\n``.
    """
    text = strip_illegal_xml_chars(value).replace("]]>", "]]]]><![CDATA[>")
    return f"<![CDATA[{text}]]>"


def fit_text(content: str, limit_bytes: int = TEXT_LIMIT_BYTES, ellipsis: str = "…") -> str:
    """Return ``content`` cut so that its UTF-8 encoding is at most ``limit_bytes`` long.

    Text that fits is returned unchanged. Otherwise it is cut on a character boundary and
    ``ellipsis`` appended; if a line break lies within the last ~20 % of the kept text, the
    cut happens just after it so the reply does not end mid-line.
    """
    data = content.encode("utf-8", "surrogatepass")
    if len(data) <= limit_bytes:
        return content
    tail = ellipsis.encode("utf-8", "surrogatepass")
    budget = limit_bytes - len(tail)
    if budget < 0:
        raise ValueError(f"limit_bytes={limit_bytes} is smaller than the ellipsis")
    cut = budget
    while cut > 0 and data[cut] & 0xC0 == 0x80:  # step back off UTF-8 continuation bytes
        cut -= 1
    kept = data[:cut].decode("utf-8", "surrogatepass")
    newline = kept.rfind("\n")
    if newline >= 0 and newline + 1 >= len(kept) * (1 - _LINE_BREAK_WINDOW):
        kept = kept[: newline + 1]
    return kept + ellipsis


def _header(to_user: str, from_user: str, create_time: int, msg_type: str) -> str:
    return (
        f"<ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
        f"<MsgType>{cdata(msg_type)}</MsgType>"
    )


def _article_item(article: Article) -> str:
    return (
        "<item>"
        f"<Title>{cdata(article.title)}</Title>"
        f"<Description>{cdata(article.description)}</Description>"
        f"<PicUrl>{cdata(article.pic_url)}</PicUrl>"
        f"<Url>{cdata(article.url)}</Url>"
        "</item>"
    )


def render_reply(
    reply: Reply, *, to_user: str, from_user: str, create_time: int, max_articles: int = 1
) -> str:
    """Render ``reply`` as passive-reply XML.

    ``to_user`` is the user's openid (the inbound ``FromUserName``), ``from_user`` the
    account's id (the inbound ``ToUserName``). ``max_articles`` must be 1 when answering a
    user's message and may be up to 8 when answering an event; extra articles are dropped.
    """
    if not 1 <= max_articles <= MAX_NEWS_ARTICLES:
        raise ValueError(f"max_articles must be between 1 and {MAX_NEWS_ARTICLES}")
    if isinstance(reply, TextReply):
        content = fit_text(strip_illegal_xml_chars(reply.content))
        body = f"<Content>{cdata(content)}</Content>"
        msg_type = "text"
    elif isinstance(reply, NewsReply):
        articles = reply.articles[:max_articles]
        items = "".join(_article_item(article) for article in articles)
        body = f"<ArticleCount>{len(articles)}</ArticleCount><Articles>{items}</Articles>"
        msg_type = "news"
    else:
        raise TypeError(f"unsupported reply type: {type(reply).__name__}")
    return f"<xml>{_header(to_user, from_user, create_time, msg_type)}{body}</xml>"
